// SPDX-License-Identifier: (GPL-2.0 OR MIT)
#include "dp_trace.h"
#include "pvdma_proto.h"
#if defined(__KERNEL__)
#include <linux/kernel.h>
#else
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif

static const char *const dir_names[] = { "-", "r", "w", "rw" };

int dp_trace_format(char *buf, size_t size, const struct dp_trace_rec *r)
{
	return snprintf(buf, size, "%llu %c 0x%llx %llu %s %04x\n",
			(unsigned long long)r->t_ns, r->op, (unsigned long long)r->pa,
			(unsigned long long)r->len, dir_names[r->perm & 3], r->dev);
}

#if !defined(__KERNEL__)
/* Only user space reads traces. */
int dp_trace_parse(const char *line, struct dp_trace_rec *r)
{
	unsigned long long t, pa, len;
	char op, dir[4];
	unsigned int dev, i;
	int n;

	while (*line == ' ' || *line == '\t')
		line++;
	if (!*line || *line == '#' || *line == '\n')
		return 0;
	if (sscanf(line, "%llu %c %llx %llu %3s %x%n", &t, &op, &pa, &len, dir, &dev, &n) != 6 ||
	    (op != 'M' && op != 'U') || !len || (line[n] != '\n' && line[n] != '\0'))
		return -1;
	for (i = 1; i < 4; i++)
		if (!strcmp(dir, dir_names[i]))
			break;
	if (i == 4)
		return -1;
	*r = (struct dp_trace_rec){ .t_ns = t, .pa = pa, .len = len, .dev = dev, .op = op,
				    .perm = i };
	return 1;
}
#endif
