/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Each import of nvidia-uvm.ko from nvidia.ko (imports.h), as a function that returns
 * 0x56 (an NV_STATUS error, NV_ERR_NOT_SUPPORTED in nvstatuscodes.h) and does nothing
 * else. In assembly, so they carry no modversions CRC (genksyms has no prototype for
 * them): the kernel then accepts them for any CRC the importer asks for.
 */
#include <linux/export.h>
#include <linux/linkage.h>

#if defined(CONFIG_X86_64)
#define DP_STUB(name) SYM_FUNC_START(name) ASM_NL mov $0x56, %eax ASM_NL RET ASM_NL \
	SYM_FUNC_END(name) ASM_NL EXPORT_SYMBOL(name)
#elif defined(CONFIG_ARM64)
#define DP_STUB(name) SYM_FUNC_START(name) ASM_NL mov w0, #0x56 ASM_NL ret ASM_NL \
	SYM_FUNC_END(name) ASM_NL EXPORT_SYMBOL(name)
#endif

	.text
#include "imports.h"
