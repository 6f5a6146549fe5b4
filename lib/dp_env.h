/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The environment lib/ code may assume: fixed-width integers, bool, size_t, NULL,
 * allocators and an assertion. The same sources build in the guest kernel module, in
 * the macOS DriverKit driver and in user space (QEMU, the providers, the simulator,
 * unit tests); only this header differs.
 */
#ifndef DP_ENV_H
#define DP_ENV_H

#if defined(__KERNEL__)
#include <linux/types.h>
#include <linux/slab.h>
#include <linux/bug.h>
#include <linux/limits.h>
#include <linux/stddef.h>
#ifndef UINT64_MAX
#define UINT64_MAX U64_MAX
#endif
/* lib/ code may run in atomic context in the guest (softirq DMA maps)... */
#define dp_zalloc(sz)	kzalloc((sz), GFP_ATOMIC)
/* ... except set-up (dp_mapper_init), which may sleep and allocates more. */
#define dp_zalloc_setup(sz)	kzalloc((sz), GFP_KERNEL)
#define dp_free(p)	kfree(p)
#define DP_ASSERT(c)	WARN_ON_ONCE(!(c))
/* The mapper's hit path runs on several CPUs at once (dp_mapper_map_hit()). */
#define DP_READ_ONCE(x)	READ_ONCE(x)
#define dp_cmpxchg(p, old, new)	cmpxchg((p), (old), (new))
#elif defined(DP_DRIVERKIT)
/* The macOS driver (provider/macos/): DriverKit's libc, and a fault in the log. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <os/log.h>
#define dp_zalloc(sz)	calloc(1, (sz))
#define dp_zalloc_setup(sz)	calloc(1, (sz))
#define dp_free(p)	free(p)
#define DP_ASSERT(c) \
	do { \
		if (!(c)) \
			os_log_fault(OS_LOG_DEFAULT, "dartpass: assertion failed: %s", #c); \
	} while (0)
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <assert.h>
#define dp_zalloc(sz)	calloc(1, (sz))
#define dp_zalloc_setup(sz)	calloc(1, (sz))
#define dp_free(p)	free(p)
#define DP_ASSERT(c)	assert(c)
#endif

#if !defined(__KERNEL__)
/* As the kernel's READ_ONCE() and cmpxchg(): the value found at p, stored if old. */
#define DP_READ_ONCE(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define dp_cmpxchg(p, old, new) \
	({ \
		__typeof__(*(p)) dp_old_ = (old); \
		__atomic_compare_exchange_n((p), &dp_old_, (new), false, __ATOMIC_SEQ_CST, \
					    __ATOMIC_SEQ_CST); \
		dp_old_; \
	})
#endif

#define dp_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define DP_ALIGN_DOWN(x, a)	((x) & ~((uint64_t)(a) - 1))
#define DP_ALIGN_UP(x, a)	DP_ALIGN_DOWN((x) + (a) - 1, (a))

#endif /* DP_ENV_H */
