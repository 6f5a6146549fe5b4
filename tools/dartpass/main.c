// SPDX-License-Identifier: (GPL-2.0 OR MIT)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dartpass.h"

static const struct dp_cmd *const commands[] = {
	&dp_cmd_run,
	&dp_cmd_status,
	&dp_cmd_doctor,
	&dp_cmd_list_devices,
	&dp_cmd_image,
	&dp_cmd_gen,
	&dp_cmd_sim,
#ifdef __linux__
	&dp_cmd_provider,	/* macOS's provider is the DriverKit driver */
#endif
};

#define NCMDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: dartpass COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->help);
	fprintf(f, "\n'dartpass COMMAND --help' describes a command's options.\n");
}

int dp_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	switch (*end) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (errno || *end || (shift && v > (~0ull >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

void dp_cmd_usage(const struct dp_cmd *cmd, int to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;
	const struct dp_opt *o;

	fprintf(f, "usage: dartpass %s [OPTIONS] %s\n%s\n\noptions:\n", cmd->name, cmd->args,
		cmd->help);
	for (o = cmd->opts; o->name; o++) {
		char left[40];

		snprintf(left, sizeof(left), "--%s%s", o->name,
			 o->type == DP_OPT_BOOL ? "" : o->type == DP_OPT_U64 ? "=N" :
			 o->type == DP_OPT_LIST ? "=TEXT..." : "=TEXT");
		fprintf(f, "  %-26s %s", left, o->help);
		if (o->type == DP_OPT_U64)
			fprintf(f, " (default %llu)", (unsigned long long)*(uint64_t *)o->value);
		else if (o->type == DP_OPT_STR && *(const char **)o->value)
			fprintf(f, " (default %s)", *(const char **)o->value);
		fputc('\n', f);
	}
	fprintf(f, "  %-26s %s\n", "--help", "this text");
}

int dp_opts_parse(const struct dp_cmd *cmd, int *argc, char **argv)
{
	int i, npos = 0;

	for (i = 0; i < *argc; i++) {
		const struct dp_opt *o;
		char *arg = argv[i], *val;
		size_t len;

		if (strncmp(arg, "--", 2) || !arg[2]) {
			argv[npos++] = arg;
			continue;
		}
		arg += 2;
		if (!strcmp(arg, "help")) {
			dp_cmd_usage(cmd, 0);
			exit(0);
		}
		val = strchr(arg, '=');
		len = val ? (size_t)(val - arg) : strlen(arg);
		for (o = cmd->opts; o->name; o++)
			if (strlen(o->name) == len && !strncmp(o->name, arg, len))
				break;
		if (!o->name) {
			fprintf(stderr, "dartpass %s: unknown option --%.*s\n", cmd->name, (int)len, arg);
			return -1;
		}
		if (o->type == DP_OPT_BOOL) {
			if (val) {
				fprintf(stderr, "dartpass %s: --%s takes no value\n", cmd->name, o->name);
				return -1;
			}
			*(bool *)o->value = true;
			continue;
		}
		if (val) {
			val++;
		} else if (i + 1 < *argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "dartpass %s: --%s needs a value\n", cmd->name, o->name);
			return -1;
		}
		if (o->type == DP_OPT_STR) {
			*(const char **)o->value = val;
		} else if (o->type == DP_OPT_LIST) {
			struct dp_opt_list *l = o->value;

			if (l->n == l->max) {
				fprintf(stderr, "dartpass %s: --%s: at most %u\n", cmd->name, o->name,
					l->max);
				return -1;
			}
			l->v[l->n++] = val;
		} else if (dp_parse_size(val, o->value)) {
			fprintf(stderr, "dartpass %s: --%s: '%s' is not a number\n", cmd->name,
				o->name, val);
			return -1;
		}
	}
	*argc = npos;
	return 0;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (i = 0; i < NCMDS; i++) {
		if (!strcmp(argv[1], commands[i]->name)) {
			int n = argc - 2;

			if (dp_opts_parse(commands[i], &n, argv + 2)) {
				dp_cmd_usage(commands[i], 1);
				return 2;
			}
			return commands[i]->run(n, argv + 2);
		}
	}
	fprintf(stderr, "dartpass: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
