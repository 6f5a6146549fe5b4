// SPDX-License-Identifier: GPL-2.0
/*
 * The memory-model prctls for x86 emulators (docs/quirks.md), answered when the host
 * offers PVDMA_F_HOST_TSO: every vCPU then orders memory as x86 does, so an emulator
 * such as FEX may drop the barriers it otherwise puts around guest loads and stores.
 *
 * FEX (Source/Tools/FEXInterpreter/FEXInterpreter.cpp, SetupTSOEmulation) asks
 * prctl(PR_GET_MEM_MODEL, 0, 0, 0, 0); on -1 it keeps emulating TSO; on
 * PR_SET_MEM_MODEL_DEFAULT it calls prctl(PR_SET_MEM_MODEL, PR_SET_MEM_MODEL_TSO, 0, 0, 0)
 * and on 0 switches its emulation off. The prctls are Asahi Linux's (not in mainline:
 * a stock kernel answers -EINVAL). On a CPU that is always TSO, Asahi's kernel
 * (arm64: "Implement PR_{GET,SET}_MEM_MODEL for always-TSO CPUs") answers GET with
 * DEFAULT and SET with 0 for DEFAULT and TSO, -EINVAL for anything else, with
 * kernel/sys.c's argument checks (GET: arg2..arg5 zero; SET: arg3..arg5 zero). A vCPU
 * with HOST_TSO is such a CPU, so this answers exactly that way.
 *
 * How: a kretprobe on the prctl system call's entry (the arch's syscall wrapper, whose
 * one argument is the user's pt_regs). Its entry handler keeps only these two options
 * (every other prctl goes on untouched and unrecorded); its return handler replaces
 * the answer only when the kernel's own was -EINVAL, so a kernel that implements the
 * prctls itself (Asahi's) keeps its own answer. Registered when a HOST_TSO device
 * binds and tso=1; unregistered when it goes: without HOST_TSO the call is the stock
 * kernel's.
 *
 * arm64 only. x86 CPUs are TSO natively and FEX emulates x86 only on Arm hosts, so on
 * x86 guests the prctls stay as the stock kernel answers them (-EINVAL), HOST_TSO or not.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include "pvdma.h"

/* Asahi Linux's include/uapi/linux/prctl.h. */
#define PVDMA_PR_SET_MEM_MODEL		0x4d4d444c	/* "MMDL" */
#define PVDMA_PR_GET_MEM_MODEL		0x6d4d444c	/* "mMDL" */
#define PVDMA_PR_SET_MEM_MODEL_DEFAULT	0
#define PVDMA_PR_SET_MEM_MODEL_TSO	1

static bool tso = true;
module_param(tso, bool, 0444);
MODULE_PARM_DESC(tso, "arm64: answer PR_{GET,SET}_MEM_MODEL as an always-TSO CPU when the host offers HOST_TSO (default on)");

#ifdef CONFIG_ARM64
#define PVDMA_PRCTL_SYMBOL "__arm64_sys_prctl"

struct pvdma_prctl_call {
	int option;
	unsigned long arg[4];	/* arg2..arg5 */
};

static int pvdma_prctl_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	/* The wrapper's argument: the task's user registers, x0..x4 the prctl's. */
	const struct pt_regs *user = (const struct pt_regs *)regs_get_kernel_argument(regs, 0);
	struct pvdma_prctl_call *call = (void *)ri->data;
	int option = (int)user->regs[0];

	if (option != PVDMA_PR_GET_MEM_MODEL && option != PVDMA_PR_SET_MEM_MODEL)
		return 1;	/* not ours: no return handler */
	call->option = option;
	call->arg[0] = user->regs[1];
	call->arg[1] = user->regs[2];
	call->arg[2] = user->regs[3];
	call->arg[3] = user->regs[4];
	return 0;
}

static int pvdma_prctl_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct pvdma_prctl_call *call = (void *)ri->data;
	unsigned long *a = call->arg;

	if (regs_return_value(regs) != -EINVAL)
		return 0;	/* the kernel knows these prctls itself */
	if (call->option == PVDMA_PR_GET_MEM_MODEL) {
		if (!a[0] && !a[1] && !a[2] && !a[3])
			regs_set_return_value(regs, PVDMA_PR_SET_MEM_MODEL_DEFAULT);
	} else if (!a[1] && !a[2] && !a[3] && (a[0] == PVDMA_PR_SET_MEM_MODEL_DEFAULT ||
						 a[0] == PVDMA_PR_SET_MEM_MODEL_TSO)) {
		regs_set_return_value(regs, 0);
	}
	return 0;
}

static struct kretprobe pvdma_prctl_probe = {
	.kp.symbol_name = PVDMA_PRCTL_SYMBOL,
	.entry_handler = pvdma_prctl_entry,
	.handler = pvdma_prctl_return,
	.data_size = sizeof(struct pvdma_prctl_call),
};
static bool pvdma_tso_armed;

void pvdma_tso_enable(struct pvdma *pv)
{
	struct device *dev = &pv->pdev->dev;
	int ret;

	if (!(pv->features & PVDMA_F_HOST_TSO))
		return;
	if (!tso) {
		dev_info(dev, "host TSO offered; memory-model prctls left stock (tso=0)\n");
		return;
	}
	/*
	 * Every prctl holds an instance while it runs, ours or not; one missing makes
	 * a call miss the probe (the stock -EINVAL: FEX keeps its barriers, nothing
	 * breaks). Plenty for all CPUs.
	 */
	pvdma_prctl_probe.maxactive = max_t(int, 64, 4 * num_possible_cpus());
	ret = register_kretprobe(&pvdma_prctl_probe);
	if (ret) {
		dev_err(dev, "host TSO offered, but no kretprobe on %s (%d): memory-model prctls left stock\n",
			PVDMA_PRCTL_SYMBOL, ret);
		return;
	}
	pvdma_tso_armed = true;
	dev_info(dev, "host TSO: PR_GET_MEM_MODEL/PR_SET_MEM_MODEL answer as an always-TSO CPU (%s)\n",
		 PVDMA_PRCTL_SYMBOL);
}

void pvdma_tso_disable(struct pvdma *pv)
{
	if (!pvdma_tso_armed)
		return;
	unregister_kretprobe(&pvdma_prctl_probe);
	pvdma_tso_armed = false;
	if (pvdma_prctl_probe.nmissed)
		dev_warn(&pv->pdev->dev, "host TSO: %d prctl calls missed the probe (stock answer)\n",
			 pvdma_prctl_probe.nmissed);
	dev_info(&pv->pdev->dev, "host TSO: memory-model prctls back to stock\n");
}
#else
void pvdma_tso_enable(struct pvdma *pv)
{
	if (pv->features & PVDMA_F_HOST_TSO)
		dev_info(&pv->pdev->dev, "host TSO offered; x86 is TSO natively: memory-model prctls left stock\n");
}

void pvdma_tso_disable(struct pvdma *pv)
{
}
#endif
