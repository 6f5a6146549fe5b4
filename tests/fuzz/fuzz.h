/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * fz: what every libFuzzer harness here shares. A harness reads its input as a stream
 * of small decisions (fz_u8 .. fz_u64), which read zeros once the input is spent, so
 * every prefix of an input is a valid, shorter run and libFuzzer's mutations stay
 * meaningful. FZ_CHECK states an invariant: when it fails the harness aborts, which
 * libFuzzer reports as a crash and keeps the input (docs/fuzzing.md).
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fz {
	const uint8_t *p;
	size_t n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where FZ_CHECK reports when not stderr: a harness that silences stderr sets it. */
static FILE *fz_report;

#define FZ_CHECK(cond, ...)							\
	do {									\
		if (!(cond)) {							\
			FILE *out_ = fz_report ? fz_report : stderr;		\
			fprintf(out_, "fuzz invariant failed: %s (%s:%d): ",	\
				#cond, __FILE__, __LINE__);			\
			fprintf(out_, __VA_ARGS__);				\
			fprintf(out_, "\n");					\
			abort();						\
		}								\
	} while (0)

static inline int fz_more(const struct fz *f)
{
	return f->n != 0;
}

static inline uint8_t fz_u8(struct fz *f)
{
	uint8_t v = 0;

	if (f->n) {
		v = *f->p++;
		f->n--;
	}
	return v;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t v = fz_u8(f);

	return v | (uint16_t)fz_u8(f) << 8;
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t v = fz_u16(f);

	return v | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
	uint64_t v = fz_u32(f);

	return v | (uint64_t)fz_u32(f) << 32;
}

/* n bytes into dst, zeros past the input's end. */
static inline void fz_bytes(struct fz *f, void *dst, size_t n)
{
	uint8_t *d = dst;

	while (n--)
		*d++ = fz_u8(f);
}

#endif /* FUZZ_H */
