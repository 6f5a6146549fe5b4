/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dartpass: the command-line tool. Each subcommand is one file (cmd-*.c) with an entry
 * in the command table (main.c) and an option table that drives both its parsing and
 * its help text. Commands return 0 on success, 1 on failure, 2 on a usage error, and
 * print errors to stderr prefixed with "dartpass <command>:".
 */
#ifndef DARTPASS_H
#define DARTPASS_H

#include <stdbool.h>
#include <stdint.h>

enum dp_opt_type {
	DP_OPT_BOOL,	/* --name */
	DP_OPT_U64,	/* --name=N, with an optional K, M or G suffix (powers of 1024) */
	DP_OPT_STR,	/* --name=TEXT */
	DP_OPT_LIST,	/* --name=TEXT, repeatable */
};

/* A repeatable option's values, in command-line order. */
struct dp_opt_list {
	unsigned int n, max;
	const char **v;		/* room for max */
};

struct dp_opt {
	const char *name;
	enum dp_opt_type type;
	void *value;		/* bool *, uint64_t *, const char ** or struct dp_opt_list * */
	const char *help;
};

struct dp_cmd {
	const char *name;
	const char *args;	/* positional arguments, for the usage line */
	const char *help;
	const struct dp_opt *opts;	/* terminated by an entry with name NULL */
	int (*run)(int argc, char **argv);	/* argv: positional arguments only */
};

/* Parses options in place; leaves the positional arguments in argv. -1 on error. */
int dp_opts_parse(const struct dp_cmd *cmd, int *argc, char **argv);
void dp_cmd_usage(const struct dp_cmd *cmd, int to_stderr);
int dp_parse_size(const char *s, uint64_t *out);

extern const struct dp_cmd dp_cmd_sim, dp_cmd_gen, dp_cmd_provider;
extern const struct dp_cmd dp_cmd_run, dp_cmd_status, dp_cmd_doctor, dp_cmd_list_devices;
extern const struct dp_cmd dp_cmd_image;

/*
 * The default image for arch (x86_64/aarch64 or amd64/arm64): its path once built
 * (build: building it first if it is not cached, progress on stderr) or where it would
 * be (!build). 0, or -1 when the build failed or could not start (said on stderr).
 */
int dp_image_default(const char *arch, bool build, char *path, size_t size);

/*
 * QMP client (qmp.c), for run and status: a Unix stream socket, one JSON object a
 * line. Events read while waiting for a reply are noted in the connection (the last
 * SHUTDOWN's reason, GUEST_PANICKED).
 */
struct dp_qmp {
	int fd;
	size_t len;			/* bytes buffered in buf */
	char buf[65536];
	char shutdown_reason[32];	/* "" until a SHUTDOWN event */
	bool panicked;			/* a GUEST_PANICKED event came */
};

/* Connects, reads the greeting, negotiates capabilities. 0, or -1 with errno set. */
int dp_qmp_connect(struct dp_qmp *q, const char *path, int timeout_ms);
void dp_qmp_close(struct dp_qmp *q);
/* Sends one command (a JSON object) and reads lines until its reply, which is copied
 * into reply (may be NULL). 0 on "return", 1 on "error", -1 when the connection
 * failed or timed out. */
int dp_qmp_cmd(struct dp_qmp *q, const char *json, char *reply, size_t size,
	       int timeout_ms);
/* Reads the events that arrived, waiting up to timeout_ms for the first. -1 on EOF. */
int dp_qmp_poll_events(struct dp_qmp *q, int timeout_ms);
/* qom-get of an integer property. 0, 1 when QEMU refused (no such object/property). */
int dp_qmp_qom_u64(struct dp_qmp *q, const char *path, const char *prop, uint64_t *v);
/* human-monitor-command; the output, unescaped, in out. */
int dp_qmp_hmp(struct dp_qmp *q, const char *cmdline, char *out, size_t size);

/*
 * Host probes shared by run and doctor. Paths under the root prefix: $DARTPASS_ROOT
 * (tests point it at a fake /sys, /dev, /proc), or "" for the real host.
 */
const char *dp_root(void);
/* The accelerator for a guest of arch ("x86_64", "aarch64"): "kvm", "hvf" or "tcg",
 * with the reason in why. */
const char *dp_accel_probe(const char *arch, char *why, size_t size);
/* The host's architecture in QEMU's spelling. */
const char *dp_host_arch(void);
/*
 * The QEMU run and doctor use: given (--qemu), or build/qemu/qemu-system-ARCH beside
 * the running dartpass binary.
 */
void dp_qemu_path(const char *given, const char *arch, char *buf, size_t size);

#endif
