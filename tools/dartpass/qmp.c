// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * A small QMP client for dartpass run and status: QEMU's JSON monitor over a Unix
 * stream socket, one object a line. It understands just enough JSON for what dartpass
 * asks: integer returns, a string return (human-monitor-command) and two events.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "dartpass.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Copies the string value of "key" in line into out; -1 when absent. */
static int json_str(const char *line, const char *key, char *out, size_t size)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return -1;
	while (*p && *p != '"' && n + 1 < size) {
		if (*p == '\\' && p[1]) {
			p++;
			out[n++] = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p == 'r' ? '\r' : *p;
			p++;
			continue;
		}
		out[n++] = *p++;
	}
	out[n] = 0;
	return 0;
}

static void note_event(struct dp_qmp *q, const char *line)
{
	if (strstr(line, "\"event\": \"SHUTDOWN\"") || strstr(line, "\"event\":\"SHUTDOWN\"")) {
		if (json_str(line, "reason", q->shutdown_reason, sizeof(q->shutdown_reason)))
			snprintf(q->shutdown_reason, sizeof(q->shutdown_reason), "unknown");
	} else if (strstr(line, "\"GUEST_PANICKED\"")) {
		q->panicked = true;
	}
}

/* Reads one line (without its newline) into line, waiting until the deadline.
 * 1 for a line, 0 on timeout, -1 on EOF or error. */
static int read_line(struct dp_qmp *q, char *line, size_t size, long long deadline)
{
	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		long long left;
		ssize_t n;

		if (nl) {
			size_t l = nl - q->buf;

			snprintf(line, size, "%.*s", (int)l, q->buf);
			memmove(q->buf, nl + 1, q->len - l - 1);
			q->len -= l + 1;
			return 1;
		}
		if (q->len == sizeof(q->buf))
			q->len = 0;	/* a line longer than the buffer: dropped */
		left = deadline - now_ms();
		if (left < 0)
			left = 0;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			return 0;
		if (n <= 0)
			return n < 0 ? -1 : 0;
		n = read(q->fd, q->buf + q->len, sizeof(q->buf) - q->len);
		if (n <= 0)
			return -1;
		q->len += n;
	}
}

int dp_qmp_connect(struct dp_qmp *q, const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char line[65536];
	long long deadline = now_ms() + timeout_ms;

	memset(q, 0, sizeof(*q));
	q->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	q->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (q->fd < 0)
		return -1;
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int e = errno;

		dp_qmp_close(q);
		errno = e;
		return -1;
	}
	/* The greeting: {"QMP": {...}} */
	if (read_line(q, line, sizeof(line), deadline) != 1 || !strstr(line, "\"QMP\"") ||
	    dp_qmp_cmd(q, "{\"execute\":\"qmp_capabilities\"}", NULL, 0,
		       (int)(deadline - now_ms())) != 0) {
		dp_qmp_close(q);
		errno = EPROTO;
		return -1;
	}
	return 0;
}

void dp_qmp_close(struct dp_qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
}

int dp_qmp_cmd(struct dp_qmp *q, const char *json, char *reply, size_t size, int timeout_ms)
{
	static char line[65536];
	long long deadline = now_ms() + timeout_ms;
	size_t len = strlen(json);

	if (q->fd < 0 || write(q->fd, json, len) != (ssize_t)len || write(q->fd, "\n", 1) != 1)
		return -1;
	for (;;) {
		if (read_line(q, line, sizeof(line), deadline) != 1)
			return -1;
		if (strstr(line, "\"event\"")) {
			note_event(q, line);
			continue;
		}
		if (reply)
			snprintf(reply, size, "%s", line);
		if (strstr(line, "\"return\""))
			return 0;
		if (strstr(line, "\"error\""))
			return 1;
	}
}

int dp_qmp_poll_events(struct dp_qmp *q, int timeout_ms)
{
	static char line[65536];
	long long deadline = now_ms() + timeout_ms;
	int r;

	while ((r = read_line(q, line, sizeof(line), deadline)) == 1) {
		note_event(q, line);
		deadline = now_ms();	/* take what is there, wait no more */
	}
	return r < 0 ? -1 : 0;
}

int dp_qmp_qom_u64(struct dp_qmp *q, const char *path, const char *prop, uint64_t *v)
{
	char cmd[512], reply[512], *p, *end;
	int r;

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"%s\",\"property\":\"%s\"}}",
		 path, prop);
	r = dp_qmp_cmd(q, cmd, reply, sizeof(reply), 5000);
	if (r)
		return r;
	p = strstr(reply, "\"return\":");
	if (!p)
		return 1;
	p += strlen("\"return\":");
	*v = strtoull(p, &end, 10);
	return end == p ? 1 : 0;
}

int dp_qmp_hmp(struct dp_qmp *q, const char *cmdline, char *out, size_t size)
{
	static char reply[65536];
	char cmd[512];
	int r;

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"%s\"}}",
		 cmdline);
	r = dp_qmp_cmd(q, cmd, reply, sizeof(reply), 5000);
	if (r)
		return r;
	return json_str(reply, "return", out, size) ? 1 : 0;
}
