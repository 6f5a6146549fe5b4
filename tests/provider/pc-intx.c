// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 *   intx SOCKET    the INTx-only function (QEMU's e1000, 82540EM): its interrupt cause
 *                  set register (ICS) raises the level on demand. INTx routed to an
 *                  eventfd fires once, stays masked until UNMASK, does not fire again
 *                  once the cause is read away (ICR), MASK holds a raised level and
 *                  UNMASK delivers it, DISABLE silences it. Then the same level with
 *                  macOS's model: ENABLE, NOTIFY's pipe gets one byte, IRQ_PENDING
 *                  shows INTx's bit and clears it, and after UNMASK it fires again.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>
#include "pc.h"

/* 8254x registers (Intel's PCI/PCI-X Family of Gigabit Ethernet Controllers manual). */
#define E1000_STATUS	0x0008
#define E1000_ICR	0x00c0		/* read: the causes, and clears them */
#define E1000_ICS	0x00c8		/* write: sets causes */
#define E1000_IMS	0x00d0		/* write: unmasks causes */
#define E1000_IMC	0x00d8		/* write: masks causes */
#define E1000_TXDW	0x00000001	/* a cause nothing else raises here: no transmits */
#define CMD_MEM		0x0002
#define FIRE_MS		5000
#define QUIET_MS	500

static uint32_t rd32(const struct pc_fn *f, uint32_t off)
{
	return pc_bar_rd32(f, off);
}

static void wr32(const struct pc_fn *f, uint32_t off, uint32_t v)
{
	pc_bar_wr32(f, off, v);
}

static void unmask(struct pc_conn *c, const struct pc_fn *f, const char *when)
{
	pc_expect(pc_irq_set(c, f->fn, PROV_IRQ_INTX, PROV_IRQ_UNMASK, 0, 1, NULL, 0), PROV_S_OK,
		  "IRQ_SET INTx UNMASK %s", when);
}

static void rounds(struct pc_conn *c, const struct pc_fn *f, int efd)
{
	uint32_t icr;

	pc_check(!pc_event_wait(efd, QUIET_MS), "no interrupt before a cause is set");
	wr32(f, E1000_IMS, E1000_TXDW);
	wr32(f, E1000_ICS, E1000_TXDW);
	if (!pc_check(pc_event_wait(efd, FIRE_MS) == 1, "ICS raises INTx: the eventfd fires once"))
		return;
	pc_check(!pc_event_wait(efd, QUIET_MS),
		 "masked after firing: no second signal while the level stays");
	icr = rd32(f, E1000_ICR);
	pc_check(icr & E1000_TXDW, "ICR shows the cause (0x%x), reading it drops the level", icr);
	unmask(c, f, "once handled");
	pc_check(!pc_event_wait(efd, QUIET_MS), "after UNMASK: no spurious interrupt");

	wr32(f, E1000_ICS, E1000_TXDW);
	pc_check(pc_event_wait(efd, FIRE_MS) == 1, "after UNMASK: the next cause fires again");
	rd32(f, E1000_ICR);
	unmask(c, f, "after the second");

	pc_expect(pc_irq_set(c, f->fn, PROV_IRQ_INTX, PROV_IRQ_MASK, 0, 1, NULL, 0), PROV_S_OK,
		  "IRQ_SET INTx MASK");
	wr32(f, E1000_ICS, E1000_TXDW);
	pc_check(!pc_event_wait(efd, QUIET_MS), "MASK: a raised level does not signal");
	unmask(c, f, "with the level raised");
	pc_check(pc_event_wait(efd, FIRE_MS) == 1, "UNMASK delivers the held level");
	rd32(f, E1000_ICR);
	unmask(c, f, "after the held level");
	pc_check(!pc_event_wait(efd, QUIET_MS), "then quiet");

	pc_expect(pc_irq_set(c, f->fn, PROV_IRQ_INTX, PROV_IRQ_DISABLE, 0, 0, NULL, 0), PROV_S_OK,
		  "IRQ_SET INTx DISABLE");
	wr32(f, E1000_ICS, E1000_TXDW);
	pc_check(!pc_event_wait(efd, QUIET_MS), "after DISABLE: a raised cause does not signal");
	rd32(f, E1000_ICR);
	wr32(f, E1000_IMC, ~0u);
}

/* INTx ENABLEd: each cause writes a byte to NOTIFY's pipe and sets the INTx bit. */
static void pending_rounds(struct pc_conn *c, const struct pc_fn *f)
{
	static const char *const when[] = { "", " after UNMASK" };
	uint64_t bits;
	unsigned int i;
	int nfd = -1;

	if (!pc_expect(pc_notify(c, &nfd), PROV_S_OK, "NOTIFY: a pipe to read") ||
	    !pc_expect(pc_irq_set(c, f->fn, PROV_IRQ_INTX, PROV_IRQ_ENABLE, 0, 1, NULL, 0),
		       PROV_S_OK, "IRQ_SET INTx ENABLE"))
		return;
	wr32(f, E1000_IMS, E1000_TXDW);
	for (i = 0; i < 2; i++) {
		wr32(f, E1000_ICS, E1000_TXDW);
		if (!pc_check(pc_notify_wait(nfd, FIRE_MS) == 1,
			      "ENABLEd: ICS raises INTx%s: NOTIFY's pipe gets one byte", when[i]))
			break;
		pc_expect(pc_irq_pending(c, f->fn, PROV_IRQ_INTX, 0, 1, &bits), PROV_S_OK,
			  "IRQ_PENDING INTx%s", when[i]);
		pc_check(bits == 1, "IRQ_PENDING%s: INTx's bit (0x%llx)", when[i],
			 (unsigned long long)bits);
		pc_irq_pending(c, f->fn, PROV_IRQ_INTX, 0, 1, &bits);
		pc_check(!bits, "IRQ_PENDING again%s: cleared (0x%llx)", when[i],
			 (unsigned long long)bits);
		rd32(f, E1000_ICR);
		unmask(c, f, i ? "after the second pending bit" : "after the pending bit");
	}
	pc_expect(pc_irq_set(c, f->fn, PROV_IRQ_INTX, PROV_IRQ_DISABLE, 0, 0, NULL, 0), PROV_S_OK,
		  "IRQ_SET INTx DISABLE of ENABLE's");
	wr32(f, E1000_IMC, ~0u);
	rd32(f, E1000_ICR);
	if (nfd >= 0)
		close(nfd);
}

int pc_cmd_intx(int argc, char **argv)
{
	const struct prov_irq_info *irqs;
	struct pc_conn c;
	struct pc_fn f;
	uint32_t status;
	int fn, efd;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	fn = pc_find_ids(&c, PC_E1000);
	if (!pc_check(fn >= 0, "HELLO lists the e1000 (8086:100e)") || pc_claim(&c, fn, &f))
		return pc_exit();
	irqs = f.claim.irqs;
	pc_check(irqs[PROV_IRQ_INTX].count == 1 && !irqs[PROV_IRQ_MSI].count &&
		 !irqs[PROV_IRQ_MSIX].count, "CLAIM: INTx only (INTx %u, MSI %u, MSI-X %u)",
		 irqs[PROV_IRQ_INTX].count, irqs[PROV_IRQ_MSI].count, irqs[PROV_IRQ_MSIX].count);
	if (!pc_expect(pc_command_set(&c, fn, CMD_MEM), PROV_S_OK,
		       "CONFIG_WRITE command: memory space") ||
	    pc_bar_open(&c, &f, PROV_REGION_BAR0))
		return pc_exit();
	status = rd32(&f, E1000_STATUS);
	if (!pc_check(status != 0xffffffff, "BAR0 answers (STATUS 0x%x)", status))
		return pc_exit();
	/* Every cause masked and cleared before INTx is routed. */
	wr32(&f, E1000_IMC, ~0u);
	rd32(&f, E1000_ICR);
	efd = pc_eventfd();
	if (efd >= 0 && pc_expect(pc_irq_set(&c, fn, PROV_IRQ_INTX, PROV_IRQ_EVENTFD, 0, 1,
					     &efd, 1), PROV_S_OK, "IRQ_SET INTx -> eventfd"))
		rounds(&c, &f, efd);
	pending_rounds(&c, &f);
	pc_unmap_bar(&f);
	pc_expect(pc_call(&c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	pc_close(&c);
	return pc_exit();
}
