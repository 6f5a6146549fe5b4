// SPDX-License-Identifier: GPL-2.0
/* The stand-in nvidia.ko's module information (stubs.S holds its exports). */
#include <linux/module.h>

MODULE_LICENSE("Dual MIT/GPL");
MODULE_DESCRIPTION("stand-in for nvidia.ko: nvidia-uvm's imports as stubs that fail (tests/guest/nvidia/uvm-real.sh)");
