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

#endif
