/*
 * iokit-shim: the part of Apple's IOKit and libdispatch user-space API that
 * dartpass-iokit.c calls, with Apple's names, signatures and types, for hosts other
 * than macOS. It lets the IOKit transport run, unchanged, against a Linux dartpass
 * provider, with the shim playing what macOS's kernel does between a client and a
 * DriverKit driver:
 *
 *   IOServiceNameMatching, IOServiceGetMatchingService
 *       the registry: a name iokit_shim_register_service() gave a provider socket
 *   IOServiceOpen, IOServiceClose
 *       the user client: one connection to that socket
 *   IOConnectCallStructMethod
 *       one external method: the request goes out, the reply comes back, with the
 *       translations below (the Linux provider speaks descriptors, this API none)
 *   IOConnectMapMemory64, IOConnectUnmapMemory64
 *       the memory types REGION_MAP's replies name: each stands for the descriptor
 *       the Linux provider passed, mmapped here
 *   IONotificationPort*, IOConnectCallAsyncStructMethod, dispatch_*
 *       NOTIFY: the pipe the provider lends with its reply; a thread standing for
 *       the dispatch queue drains it and runs the callback each time bytes come
 *
 * Translations (docs/passthrough.md): HELLO asks the Linux provider for descriptors
 * (REGION_FD, DMA_FD) besides what the client asked and shows the client only what
 * it asked; DMA_MEMORY's client virtual address becomes the memfd that backs it
 * (/proc/self/maps, /proc/self/map_files: as macOS wires the client's pages; the
 * mapping must start at file offset 0, and opening map_files needs CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE); REGION_MAP's descriptor becomes a memory type.
 *
 * Nothing else of IOKit is here, and what is here is only as faithful as the
 * transport needs: one thread per notification port, no Mach ports.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVDMA_IOKIT_SHIM_H
#define HW_PVDMA_IOKIT_SHIM_H

#ifdef __APPLE__
#error "macOS has IOKit: include <IOKit/IOKitLib.h>"
#endif

typedef int kern_return_t;
typedef kern_return_t IOReturn;
typedef unsigned int mach_port_t;
typedef mach_port_t task_port_t;
typedef mach_port_t io_object_t;
typedef io_object_t io_service_t;
typedef io_object_t io_connect_t;
typedef uint64_t mach_vm_address_t;
typedef uint64_t mach_vm_size_t;
typedef uint32_t IOOptionBits;
typedef struct __CFDictionary *CFMutableDictionaryRef;
typedef const struct __CFDictionary *CFDictionaryRef;
typedef struct IONotificationPort *IONotificationPortRef;
typedef struct dispatch_queue_s *dispatch_queue_t;
typedef struct dispatch_queue_attr_s *dispatch_queue_attr_t;
typedef void (*dispatch_function_t)(void *context);
typedef void (*IOAsyncCallback)(void *refcon, IOReturn result, void **args,
                                uint32_t numArgs);

#define kIOMainPortDefault          ((mach_port_t)0)
#define DISPATCH_QUEUE_SERIAL       ((dispatch_queue_attr_t)NULL)

/* IOReturn.h: sys_iokit | sub_iokit_common | code */
#define kIOReturnSuccess            0
#define kIOReturnError              ((IOReturn)0xe00002bc)
#define kIOReturnNoMemory           ((IOReturn)0xe00002bd)
#define kIOReturnNoDevice           ((IOReturn)0xe00002c0)
#define kIOReturnBadArgument        ((IOReturn)0xe00002c2)
#define kIOReturnUnsupported        ((IOReturn)0xe00002c7)
#define kIOReturnNotOpen            ((IOReturn)0xe00002cd)
#define kIOReturnTimeout            ((IOReturn)0xe00002d6)
#define kIOReturnNotResponding      ((IOReturn)0xe00002ed)

/* IOTypes.h */
#define kIOMapAnywhere              0x00000001
#define kIOMapDefaultCache          0x00000000
#define kIOMapWriteCombineCache     0x00000400

/* OSMessageNotification.h */
enum {
    kOSAsyncRef64Count = 8,
    kIOAsyncCalloutFuncIndex = 1,
    kIOAsyncCalloutRefconIndex = 2,
    kIOAsyncCalloutCount = 3,
};

/* Not Apple's: what installing the driver does on macOS. 0, or -errno. */
int iokit_shim_register_service(const char *name, const char *socket_path);

mach_port_t mach_task_self(void);
CFMutableDictionaryRef IOServiceNameMatching(const char *name);
io_service_t IOServiceGetMatchingService(mach_port_t mainPort,
                                         CFDictionaryRef matching);
kern_return_t IOObjectRelease(io_object_t object);
kern_return_t IOServiceOpen(io_service_t service, task_port_t owningTask,
                            uint32_t type, io_connect_t *connect);
kern_return_t IOServiceClose(io_connect_t connect);
kern_return_t IOConnectCallStructMethod(mach_port_t connection, uint32_t selector,
                                        const void *inputStruct,
                                        size_t inputStructCnt, void *outputStruct,
                                        size_t *outputStructCnt);
kern_return_t IOConnectCallAsyncStructMethod(mach_port_t connection,
                                             uint32_t selector, mach_port_t wake_port,
                                             uint64_t *reference,
                                             uint32_t referenceCnt,
                                             const void *inputStruct,
                                             size_t inputStructCnt,
                                             void *outputStruct,
                                             size_t *outputStructCnt);
kern_return_t IOConnectMapMemory64(io_connect_t connect, uint32_t memoryType,
                                   task_port_t intoTask, mach_vm_address_t *atAddress,
                                   mach_vm_size_t *ofSize, IOOptionBits options);
kern_return_t IOConnectUnmapMemory64(io_connect_t connect, uint32_t memoryType,
                                     task_port_t fromTask,
                                     mach_vm_address_t atAddress);
IONotificationPortRef IONotificationPortCreate(mach_port_t mainPort);
void IONotificationPortDestroy(IONotificationPortRef notify);
void IONotificationPortSetDispatchQueue(IONotificationPortRef notify,
                                        dispatch_queue_t queue);
mach_port_t IONotificationPortGetMachPort(IONotificationPortRef notify);
dispatch_queue_t dispatch_queue_create(const char *label, dispatch_queue_attr_t attr);
void dispatch_sync_f(dispatch_queue_t queue, void *context, dispatch_function_t work);
void dispatch_release(dispatch_queue_t queue);

#endif
