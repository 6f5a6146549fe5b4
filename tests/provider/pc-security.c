// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The Linux provider's guards around what it lends (docs/specs/provider.rst, "Security
 * model"), seen from clients: a BAR mapping dies with the claim wherever it went, no
 * connection gets a function another process can still reach through its BAR files,
 * DMA memory is plain memory, decode stays on and the function in D0.
 *
 *   revoke SOCKET    the NVMe's BAR0, mapped from REGION_MAP's descriptor, reads CAP;
 *                    once the function is released (RELEASE, then a closed connection)
 *                    the client's mapping and the one a forked child inherited fault
 *                    (SIGBUS); the revoked mapping, while it stays, keeps CLAIM BUSY.
 *                    Not run where CLAIM lends no BAR (no MMAP, REGION_MAP DENIED)
 *   holder SOCKET    CLAIM is BUSY while another process holds BAR0: the descriptor in
 *                    a forked child; the mapping it made of it after the release, the
 *                    descriptor closed; a thread's unshared descriptor table; a mapping
 *                    in a process whose first thread has exited. OK once it is gone.
 *                    Says "DP-INFO holder: pid N: descriptor|mapping|thread|zombie" for
 *                    each: the script checks that the provider's log names the pid.
 *                    Not run where CLAIM lends no BAR
 *   dma-fs SOCKET    DMA_MEMORY with the NVMe's sysfs BAR0 file: BAD_FD; a memfd: OK
 *   decode SOCKET    decode on right after CLAIM and after RESET, each time turned off
 *                    through sysfs just before (the reset's restore of config space
 *                    would otherwise bring it back itself); CONFIG_WRITE turning decode
 *                    off or entering D3hot: DENIED, and nothing changed
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "pc.h"

#define NVME_CAP	0x00		/* controller capabilities, low half */
#define CFG_COMMAND	0x04
#define CMD_IO		0x0001u		/* command register: I/O space */
#define CMD_MEM		0x0002u		/* memory space */
#define CAP_ID_PM	0x01
#define PM_CSR		0x04		/* in the PM capability: control/status */
#define PM_STATE	0x0003u		/* its power state field */
#define PM_D3HOT	0x0003u
#define ZOMBIE_MS	2000

/* The sysfs name (0000:00:04.0) of a function HELLO listed. */
static void fn_bdf(const struct pc_conn *c, int fn, char *bdf, size_t len)
{
	uint32_t rid = c->fns[fn].rid;

	snprintf(bdf, len, "%04x:%02x:%02x.%x", rid >> 16, rid >> 8 & 0xff, rid >> 3 & 0x1f,
		 rid & 7);
}

static int nvme_fn(struct pc_conn *c)
{
	int fn = pc_find_class(c, PC_CLASS_NVME);

	pc_check(fn >= 0, "HELLO lists an NVMe function (class %06x)", PC_CLASS_NVME);
	return fn;
}

/*
 * Claims the NVMe for a check that needs its BAR0 lent; where this kernel lends no
 * BAR, says the check is not run and gives the NVMe back. The handle, or -1.
 */
static int claim_lent_nvme(struct pc_conn *c, struct pc_fn *f, const char *why)
{
	int fn = nvme_fn(c);

	if (fn < 0 || pc_claim(c, fn, f))
		return -1;
	if (pc_bar_mappable(c, f, PROV_REGION_BAR0))
		return fn;
	pc_not_run_unmappable(why);
	pc_expect(pc_call(c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	return -1;
}

/* ---- Faults ---- */

static sigjmp_buf fault_jb;

static void on_fault(int sig)
{
	siglongjmp(fault_jb, sig);
}

/* Reads 4 bytes at p into *v: 0, or the signal the read raised (SIGBUS, SIGSEGV). */
static int touch(volatile const uint8_t *p, uint32_t *v)
{
	struct sigaction sa = { .sa_handler = on_fault }, old_bus, old_segv;
	int sig;

	*v = 0;
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(fault_jb, 1);
	if (!sig)
		*v = *(volatile const uint32_t *)p;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

/*
 * A child forked with the client's mappings: when told, it reads p, and dies of the
 * fault the read raises (default dispositions) or exits 0 when the read worked.
 */
struct prober {
	pid_t pid;
	int sock;
};

static int prober_start(struct prober *pr, struct pc_conn *c, volatile const uint8_t *p)
{
	int sv[2];
	char ch;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	pr->pid = fork();
	if (!pr->pid) {
		close(sv[0]);
		close(c->fd);	/* the connection is the client's alone: it must see its close */
		if (write(sv[1], "r", 1) != 1 || read(sv[1], &ch, 1) != 1)
			_exit(3);
		(void)*(volatile const uint32_t *)p;
		_exit(0);
	}
	close(sv[1]);
	pr->sock = sv[0];
	if (pr->pid < 0 || read(pr->sock, &ch, 1) != 1) {
		if (pr->pid > 0) {
			kill(pr->pid, SIGKILL);
			waitpid(pr->pid, NULL, 0);
		}
		close(pr->sock);
		return -1;
	}
	return 0;
}

/* Has the prober read; its wait status. */
static int prober_result(struct prober *pr)
{
	int ws = 0;

	if (write(pr->sock, "g", 1) != 1)
		kill(pr->pid, SIGKILL);
	close(pr->sock);
	if (waitpid(pr->pid, &ws, 0) != pr->pid)
		ws = -1;
	return ws;
}

static const char *ws_text(int ws, char *buf, size_t len)
{
	if (ws != -1 && WIFSIGNALED(ws))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(ws));
	else if (ws != -1 && WIFEXITED(ws))
		snprintf(buf, len, "exit %d", WEXITSTATUS(ws));
	else
		snprintf(buf, len, "no status");
	return buf;
}

/* ---- revoke ---- */

/*
 * f claimed and BAR0 mapped: a child inherits the mapping, then the release (RELEASE,
 * or the connection closed) must cut off both.
 */
static void revoke_at(struct pc_conn *c, const char *sock, struct pc_fn *f, bool by_close)
{
	const char *how = by_close ? "closing the connection" : "RELEASE";
	struct prober pr = { .pid = -1, .sock = -1 };
	char buf[48];
	uint32_t cap;
	int sig, ws;

	sig = touch(f->bar + NVME_CAP, &cap);
	if (!pc_check(!sig && cap && cap != ~0u, "before %s: BAR0's mapping reads CAP (0x%x, "
		      "signal %d)", how, cap, sig))
		return;
	if (!pc_check(!prober_start(&pr, c, f->bar), "a child forked with the mapping"))
		return;
	if (by_close) {
		pc_close(c);
		pc_check(pc_wait_free(sock, f->fn), "after closing the connection: the NVMe is "
			 "free within %d s", PC_FREE_SECS);
	} else {
		pc_expect(pc_call(c, PROV_OP_RELEASE, f->fn, NULL, 0, NULL, 0), PROV_S_OK,
			  "RELEASE");
	}
	sig = touch(f->bar + NVME_CAP, &cap);
	pc_check(sig == SIGBUS, "after %s: the client's BAR0 mapping faults with SIGBUS "
		 "(signal %d, read 0x%x)", how, sig, cap);
	ws = prober_result(&pr);
	pc_check(ws != -1 && WIFSIGNALED(ws) && WTERMSIG(ws) == SIGBUS,
		 "after %s: the mapping a forked child inherited faults with SIGBUS (%s)", how,
		 ws_text(ws, buf, sizeof(buf)));
}

int pc_cmd_revoke(int argc, char **argv)
{
	struct prov_claim_rep rep;
	struct pc_fn f = { 0 };
	struct pc_conn c;
	int fn;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	fn = claim_lent_nvme(&c, &f, "revoke: no BAR mapping to revoke");
	if (fn < 0)
		goto out;
	if (pc_map_bar(&c, &f, PROV_REGION_BAR0))
		goto out;
	revoke_at(&c, argv[0], &f, false);
	/* A revoked mapping is still a mapping of the BAR file, and this process not the provider. */
	pc_expect(pc_call(&c, PROV_OP_CLAIM, fn, NULL, 0, &rep, sizeof(rep)), PROV_S_BUSY,
		  "CLAIM while this process keeps its revoked mapping");
	pc_unmap_bar(&f);
	if (pc_claim(&c, fn, &f) || pc_map_bar(&c, &f, PROV_REGION_BAR0))
		goto out;
	revoke_at(&c, argv[0], &f, true);
out:
	pc_unmap_bar(&f);
	pc_close(&c);
	return pc_exit();
}

/* ---- holder ---- */

/* A child that keeps BAR0's descriptor and does as it is told with it. */
struct agent {
	pid_t pid;
	int sock;		/* one command byte in, one answer byte out */
	int fd;			/* the descriptor's number, in the child */
};

static int agent_fd = -1;
static uint64_t agent_size;
static int agent_unshared;	/* the unsharing thread: 1 done, -1 failed */

static void *agent_thread(void *unshare_files)
{
	if (unshare_files)
		__atomic_store_n(&agent_unshared, unshare(CLONE_FILES) ? -1 : 1, __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

static void agent_loop(int s)
{
	pthread_t t;
	void *m;
	char ch, r;

	while (read(s, &ch, 1) == 1) {
		r = 'f';
		switch (ch) {
		case 'm':	/* map the descriptor */
			m = mmap(NULL, agent_size, PROT_READ | PROT_WRITE, MAP_SHARED, agent_fd, 0);
			r = m == MAP_FAILED ? 'f' : 'k';
			break;
		case 'c':	/* close it; a mapping stays */
			r = close(agent_fd) ? 'f' : 'k';
			break;
		case 'u':	/* a thread with its own table keeps it; this one closes it */
			if (pthread_create(&t, NULL, agent_thread, &agent_unshared))
				break;
			while (!__atomic_load_n(&agent_unshared, __ATOMIC_SEQ_CST))
				usleep(1000);
			r = agent_unshared > 0 && !close(agent_fd) ? 'k' : 'f';
			break;
		case 'z':	/* map, close, then only a second thread lives */
			m = mmap(NULL, agent_size, PROT_READ, MAP_SHARED, agent_fd, 0);
			if (m == MAP_FAILED || close(agent_fd) ||
			    pthread_create(&t, NULL, agent_thread, NULL))
				break;
			if (write(s, "k", 1) != 1)
				_exit(1);
			syscall(SYS_exit, 0);	/* this thread only */
			break;
		}
		if (write(s, &r, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

/* Forks the agent with fd (closed here either way). */
static int agent_start(struct agent *ag, struct pc_conn *c, int fd, uint64_t size)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		close(fd);
		return -1;
	}
	ag->pid = fork();
	if (!ag->pid) {
		close(sv[0]);
		close(c->fd);	/* the connection is the client's alone */
		agent_fd = fd;
		agent_size = size;
		agent_loop(sv[1]);
	}
	close(sv[1]);
	close(fd);		/* only the child has it now */
	ag->sock = sv[0];
	ag->fd = fd;
	if (ag->pid < 0) {
		close(ag->sock);
		return -1;
	}
	return 0;
}

/* The child's answer to a command: 'k' done, 'f' failed, 'x' no answer. */
static char agent_do(struct agent *ag, char cmd)
{
	char r = 'x';

	if (write(ag->sock, &cmd, 1) != 1 || read(ag->sock, &r, 1) != 1)
		return 'x';
	return r;
}

static void agent_stop(struct agent *ag)
{
	kill(ag->pid, SIGKILL);
	waitpid(ag->pid, NULL, 0);
	close(ag->sock);
}

/* fn claimed: BAR0's descriptor lent to a new child, then RELEASE. */
static int lend(struct pc_conn *c, int fn, struct agent *ag, const char *cs)
{
	struct prov_region_map_req req = { .region = PROV_REGION_BAR0 };
	struct prov_region_map_rep rep;
	int fd = -1, st;

	st = pc_call_fds(c, PROV_OP_REGION_MAP, fn, &req, sizeof(req), NULL, 0, &rep,
			 sizeof(rep), &fd);
	if (!pc_expect(st, PROV_S_OK, "%s: REGION_MAP BAR0", cs))
		return -1;
	if (!pc_check(fd >= 0 && !agent_start(ag, c, fd, rep.size),
		      "%s: a child forked with BAR0's descriptor", cs))
		return -1;
	if (!pc_expect(pc_call(c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0), PROV_S_OK,
		       "%s: RELEASE, the descriptor in the child", cs)) {
		agent_stop(ag);
		return -1;
	}
	return 0;
}

/* CLAIM refused while the child holds BAR0 (how: the log's pid for the script). */
static void busy_while(struct pc_conn *c, int fn, const struct agent *ag, const char *how,
		       const char *what)
{
	struct prov_claim_rep rep;

	pc_info("pid %d: %s", (int)ag->pid, how);
	pc_expect(pc_call(c, PROV_OP_CLAIM, fn, NULL, 0, &rep, sizeof(rep)), PROV_S_BUSY,
		  "CLAIM while %s", what);
}

/* The child killed; CLAIM then succeeds (fn is claimed again). */
static bool ok_once_gone(struct pc_conn *c, int fn, struct agent *ag, const char *cs)
{
	struct prov_claim_rep rep;

	agent_stop(ag);
	return pc_expect(pc_call(c, PROV_OP_CLAIM, fn, NULL, 0, &rep, sizeof(rep)), PROV_S_OK,
			 "%s: CLAIM once the child is gone", cs);
}

/* Whether pid's first thread is a zombie (its process alive in another thread). */
static bool leader_zombie(pid_t pid)
{
	char path[32], line[128];
	bool z = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "State:", 6))
			z = strchr(line, 'Z') != NULL;
	if (f)
		fclose(f);
	return z;
}

int pc_cmd_holder(int argc, char **argv)
{
	struct agent ag;
	struct pc_conn c;
	struct pc_fn f;
	char path[64], target[256];
	unsigned int ms;
	int fn;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	fn = claim_lent_nvme(&c, &f, "holder: no BAR descriptor for another process to hold");
	if (fn < 0)
		goto out;

	/* A descriptor kept, then a mapping made of it after the release. */
	if (lend(&c, fn, &ag, "kept descriptor"))
		goto out;
	busy_while(&c, fn, &ag, "descriptor", "a forked child keeps BAR0's descriptor");
	pc_check(agent_do(&ag, 'm') == 'k', "the child maps the descriptor after the release");
	pc_check(agent_do(&ag, 'c') == 'k', "the child closes the descriptor, keeps the mapping");
	busy_while(&c, fn, &ag, "mapping", "a forked child maps BAR0, its descriptor closed");
	if (!ok_once_gone(&c, fn, &ag, "kept descriptor"))
		goto out;

	/* Only a thread's own descriptor table holds it. */
	if (lend(&c, fn, &ag, "unshared thread"))
		goto out;
	pc_check(agent_do(&ag, 'u') == 'k', "a thread of the child unshares its descriptor "
		 "table, the first thread closes BAR0's descriptor");
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)ag.pid, ag.fd);
	pc_check(readlink(path, target, sizeof(target)) < 0 && errno == ENOENT,
		 "the process's descriptor table has no BAR0 (%s)", path);
	busy_while(&c, fn, &ag, "thread", "only a thread's unshared descriptor table holds BAR0");
	if (!ok_once_gone(&c, fn, &ag, "unshared thread"))
		goto out;

	/* A mapping in a process whose first thread has exited: /proc/PID/maps is empty. */
	if (lend(&c, fn, &ag, "exited first thread"))
		goto out;
	pc_check(agent_do(&ag, 'z') == 'k', "the child maps BAR0, closes the descriptor, and "
		 "its first thread exits");
	for (ms = 0; !leader_zombie(ag.pid) && ms < ZOMBIE_MS; ms += 10)
		usleep(10000);
	pc_check(leader_zombie(ag.pid), "the child's first thread is a zombie, a second lives");
	busy_while(&c, fn, &ag, "zombie", "a process whose first thread has exited maps BAR0");
	if (!ok_once_gone(&c, fn, &ag, "exited first thread"))
		goto out;
	pc_expect(pc_call(&c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
out:
	pc_close(&c);
	return pc_exit();
}

/* ---- dma-fs ---- */

int pc_cmd_dma_fs(int argc, char **argv)
{
	struct pc_mem m = { .fd = -1 };
	char bdf[16], path[80];
	struct pc_conn c;
	uint64_t g;
	int fn;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	g = 1ull << c.limits.granule_shift;
	fn = nvme_fn(&c);
	if (fn >= 0) {
		/* A regular file of the BAR's size, read/write: only its file system is wrong. */
		fn_bdf(&c, fn, bdf, sizeof(bdf));
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", bdf);
		m.fd = open(path, O_RDWR | O_CLOEXEC);
		m.size = g;
		if (pc_check(m.fd >= 0, "the NVMe's BAR0 file opens read/write (%s)", path))
			pc_expect(pc_dma_memory(&c, &m), PROV_S_BAD_FD,
				  "DMA_MEMORY with the NVMe's sysfs BAR0 file");
		if (m.fd >= 0)
			close(m.fd);
	}
	if (pc_check(!pc_mem_create(&m, g), "a memfd of a granule"))
		pc_expect(pc_dma_memory(&c, &m), PROV_S_OK, "DMA_MEMORY with a memfd");
	pc_mem_destroy(&m);
	pc_close(&c);
	return pc_exit();
}

/* ---- decode ---- */

/*
 * Clears bits of the command register through sysfs, behind the provider's back;
 * returns the register as sysfs then reads it, or -1 (said why).
 */
static int sysfs_command_clear(const struct pc_conn *c, int fn, uint16_t bits)
{
	char bdf[16], path[80];
	uint16_t cmd;		/* little-endian, as the rig's hosts */
	int fd, rc = -1;

	fn_bdf(c, fn, bdf, sizeof(bdf));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && pread(fd, &cmd, 2, CFG_COMMAND) == 2) {
		cmd &= ~bits;
		if (pwrite(fd, &cmd, 2, CFG_COMMAND) == 2 && pread(fd, &cmd, 2, CFG_COMMAND) == 2)
			rc = cmd;
	}
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

static uint32_t command(struct pc_conn *c, int fn)
{
	uint32_t cmd = 0;

	if (pc_config_read(c, fn, CFG_COMMAND, 2, &cmd))
		return 0;
	return cmd;
}

static void decode_nvme(struct pc_conn *c, int fn)
{
	struct prov_reset_rep rr;
	uint32_t cmd, pm, csr = 0;
	struct pc_fn f;

	cmd = sysfs_command_clear(c, fn, CMD_MEM);
	pc_check(cmd != ~0u && !(cmd & CMD_MEM), "NVMe: memory decode turned off through sysfs "
		 "before CLAIM (command 0x%x)", cmd);
	if (pc_claim(c, fn, &f))
		return;
	cmd = command(c, fn);
	pc_check(cmd & CMD_MEM, "NVMe: memory decode on right after CLAIM (command 0x%x)", cmd);
	pc_expect(pc_config_write(c, fn, CFG_COMMAND, 2, cmd & ~CMD_MEM), PROV_S_DENIED,
		  "NVMe: CONFIG_WRITE of the command register, memory decode off");
	cmd = command(c, fn);
	pc_check(cmd & CMD_MEM, "NVMe: memory decode still on (command 0x%x)", cmd);
	pm = pc_find_cap(c, fn, CAP_ID_PM);
	if (pc_check(pm, "NVMe: a PM capability (at 0x%x)", pm)) {
		pc_config_read(c, fn, pm + PM_CSR, 2, &csr);
		pc_expect(pc_config_write(c, fn, pm + PM_CSR, 2, (csr & ~PM_STATE) | PM_D3HOT),
			  PROV_S_DENIED, "NVMe: CONFIG_WRITE of PMCSR entering D3hot");
		csr = 0xffff;
		pc_config_read(c, fn, pm + PM_CSR, 2, &csr);
		pc_check(!(csr & PM_STATE), "NVMe: still in D0 (PMCSR 0x%x)", csr);
	}
	/* Off behind its back: the reset restores config space as it was just before. */
	sysfs_command_clear(c, fn, CMD_MEM);
	cmd = command(c, fn);
	pc_check(!(cmd & CMD_MEM), "NVMe: memory decode turned off through sysfs before "
		 "RESET, as CONFIG_READ shows (command 0x%x)", cmd);
	if (pc_expect(pc_call(c, PROV_OP_RESET, fn, NULL, 0, &rr, sizeof(rr)), PROV_S_OK,
		      "NVMe: RESET")) {
		cmd = command(c, fn);
		pc_check(cmd & CMD_MEM, "NVMe: memory decode on after RESET (command 0x%x)", cmd);
	}
	pc_expect(pc_call(c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0), PROV_S_OK,
		  "NVMe: RELEASE");
}

/* The e1000 has an I/O BAR: I/O decode is kept on too. */
static void decode_io(struct pc_conn *c, int fn)
{
	bool io = false;
	struct pc_fn f;
	unsigned int i;
	uint32_t cmd;

	cmd = sysfs_command_clear(c, fn, CMD_MEM | CMD_IO);
	pc_check(cmd != ~0u && !(cmd & (CMD_MEM | CMD_IO)), "e1000: I/O and memory decode "
		 "turned off through sysfs before CLAIM (command 0x%x)", cmd);
	if (pc_claim(c, fn, &f))
		return;
	for (i = 0; i < PROV_REGION_ROM; i++)
		io |= f.claim.regions[i].size && (f.claim.regions[i].flags & PROV_REGION_IO);
	pc_check(io, "e1000: CLAIM lists an I/O BAR");
	cmd = command(c, fn);
	pc_check((cmd & (CMD_IO | CMD_MEM)) == (CMD_IO | CMD_MEM),
		 "e1000: I/O and memory decode on right after CLAIM (command 0x%x)", cmd);
	pc_expect(pc_config_write(c, fn, CFG_COMMAND, 2, cmd & ~CMD_IO), PROV_S_DENIED,
		  "e1000: CONFIG_WRITE of the command register, I/O decode off");
	cmd = command(c, fn);
	pc_check(cmd & CMD_IO, "e1000: I/O decode still on (command 0x%x)", cmd);
	pc_expect(pc_call(c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0), PROV_S_OK,
		  "e1000: RELEASE");
}

int pc_cmd_decode(int argc, char **argv)
{
	struct pc_conn c;
	int fn;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	fn = nvme_fn(&c);
	if (fn >= 0)
		decode_nvme(&c, fn);
	fn = pc_find_ids(&c, PC_E1000);
	if (pc_check(fn >= 0, "HELLO lists the e1000"))
		decode_io(&c, fn);
	pc_close(&c);
	return pc_exit();
}
