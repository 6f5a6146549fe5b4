// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The trace parser on arbitrary text: each line (newline kept, as fgets gives it) goes
 * to dp_trace_parse from an exactly sized heap copy, so a read past its end is an ASan
 * report. What parses must format into one line that fits DP_TRACE_LINE_MAX, and that
 * line must parse back to the same event, field by field.
 */
#include <string.h>
#include "dp_trace.h"
#include "pvdma_proto.h"
#include "fuzz.h"

static void ft_same(const struct dp_trace_rec *a, const struct dp_trace_rec *b,
		    const char *line)
{
	FZ_CHECK(a->t_ns == b->t_ns && a->pa == b->pa && a->len == b->len &&
		 a->dev == b->dev && a->op == b->op && a->perm == b->perm,
		 "re-serialized event differs: %s", line);
}

static void ft_line(const uint8_t *s, size_t n)
{
	char *line = malloc(n + 1), out[DP_TRACE_LINE_MAX];
	struct dp_trace_rec r, again;
	int ret, len;

	memcpy(line, s, n);
	line[n] = '\0';
	ret = dp_trace_parse(line, &r);
	FZ_CHECK(ret >= -1 && ret <= 1, "parse returned %d", ret);
	if (ret == 1) {
		/* What the parser accepts is what the format can say. */
		FZ_CHECK((r.op == 'M' || r.op == 'U') && r.len &&
			 r.perm >= PVDMA_MAP_READ && r.perm <= (PVDMA_MAP_READ | PVDMA_MAP_WRITE),
			 "parsed an event the format cannot carry: %s", line);
		len = dp_trace_format(out, sizeof(out), &r);
		FZ_CHECK(len > 0 && (size_t)len < sizeof(out) && out[len - 1] == '\n',
			 "formatted line of %d bytes", len);
		FZ_CHECK(dp_trace_parse(out, &again) == 1, "its own line does not parse: %s", out);
		ft_same(&r, &again, line);
	}
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t start = 0, i;

	for (i = 0; i < size; i++) {
		if (data[i] == '\n') {
			ft_line(data + start, i + 1 - start);
			start = i + 1;
		}
	}
	if (start < size)
		ft_line(data + start, size - start);
	return 0;
}
