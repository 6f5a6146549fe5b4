/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_test: the smallest TAP producer. DP_CHECK records one named check and keeps going;
 * dp_test_done() prints the plan and returns the exit status. Each check prints a line,
 * so a check that never ran cannot be counted as passed.
 */
#ifndef DP_TEST_H
#define DP_TEST_H

#include <stdio.h>

static int dp_test_n, dp_test_failed;

#define DP_CHECK(cond, ...)							\
	do {									\
		int ok_ = !!(cond);						\
		dp_test_n++;							\
		if (!ok_)							\
			dp_test_failed++;					\
		printf("%s %d - ", ok_ ? "ok" : "not ok", dp_test_n);		\
		printf(__VA_ARGS__);						\
		printf("\n");							\
		if (!ok_)							\
			printf("#   failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
	} while (0)

static inline int dp_test_done(void)
{
	printf("1..%d\n", dp_test_n);
	return dp_test_failed ? 1 : 0;
}

/* Deterministic xorshift, so a failing randomized test replays exactly. */
static inline unsigned long long dp_test_rand(unsigned long long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#endif
