/* test_slab.c: the fixed-size object allocator behind client connections. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define CHUNKS(s, n)	((void)(s), (void)(n))	/* plain calloc() then */
#else
#define CHUNKS(s, n)	ck_assert_uint_eq(slab_chunks(s), (n))
#endif

START_TEST(test_bad_sizes)
{
	errno = 0;
	ck_assert_ptr_null(slab_new(0, 1, true));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(slab_new(4097, 1, true));
	slab_free(slab_new(4096, 1, true));	/* the largest is fine */
}
END_TEST

/* Objects are zeroed, aligned, distinct and whole, even when recycled. */
START_TEST(test_zeroed_aligned_distinct)
{
	struct slab *s = slab_new(100, 1, true);
	unsigned char *o[300];
	size_t i, j;

	for (int round = 0; round < 2; round++) {
		for (i = 0; i < 300; i++) {
			o[i] = slab_get(s);
			ck_assert_ptr_nonnull(o[i]);
			ck_assert_uint_eq((uintptr_t)o[i] % 16, 0);
			for (j = 0; j < 100; j++)
				ck_assert_uint_eq(o[i][j], 0);
			memset(o[i], 0xa5, 100);
		}
		ck_assert_uint_eq(slab_used(s), 300);
		for (i = 0; i < 300; i++)
			for (j = i + 1; j < 300; j++)
				ck_assert(o[i] + 100 <= o[j] || o[j] + 100 <= o[i]);
		for (i = 0; i < 300; i++)
			slab_put(s, o[i]);
		ck_assert_uint_eq(slab_used(s), 0);
	}
	slab_put(s, NULL);
	slab_free(s);
}
END_TEST

/* A burst that closes gives its chunks back, but for one spare. */
START_TEST(test_burst_returns_chunks)
{
	enum { N = 5000 };
	struct slab *s = slab_new(432, 1, true);
	void **o = calloc(N, sizeof *o);
	size_t i;

	for (i = 0; i < N; i++)
		ck_assert_ptr_nonnull(o[i] = slab_get(s));
	/* 64 KiB chunks of 432-byte objects: 151 a chunk. */
	CHUNKS(s, (N + 150) / 151);
	for (i = 0; i < N; i += 2)	/* every other one first */
		slab_put(s, o[i]);
	CHUNKS(s, (N + 150) / 151);
	for (i = 1; i < N; i += 2)
		slab_put(s, o[i]);
	CHUNKS(s, 1);
	ck_assert_uint_eq(slab_used(s), 0);
	/* The spare serves the next connection without a new mapping. */
	ck_assert_ptr_nonnull(o[0] = slab_get(s));
	CHUNKS(s, 1);
	slab_put(s, o[0]);
	free(o);
	slab_free(s);
}
END_TEST

/* Random gets and puts never hand out an object twice or corrupt one. */
START_TEST(test_random_churn)
{
	enum { N = 2000, OPS = 50000, SZ = 72 };
	struct slab *s = slab_new(SZ, 1, true);
	unsigned char *o[N] = { NULL };
	unsigned seed = 12345;
	size_t live = 0;

	for (int op = 0; op < OPS; op++) {
		size_t i = (size_t)rand_r(&seed) % N;

		if (o[i] == NULL) {
			ck_assert_ptr_nonnull(o[i] = slab_get(s));
			ck_assert_uint_eq(o[i][0], 0);
			ck_assert_uint_eq(o[i][SZ - 1], 0);
			memset(o[i], (int)(i & 0xff), SZ);
			live++;
		} else {
			unsigned char want[SZ];

			memset(want, (int)(i & 0xff), SZ);
			ck_assert(memcmp(o[i], want, SZ) == 0);
			slab_put(s, o[i]);
			o[i] = NULL;
			live--;
		}
		if (slab_used(s) != live)
			ck_abort_msg("used %zu, live %zu", slab_used(s), live);
	}
	for (size_t i = 0; i < N; i++)
		slab_put(s, o[i]);
	CHUNKS(s, 1);
	slab_free(s);
}
END_TEST

/* Spares are kept up to their number, and trim unmaps them. */
START_TEST(test_spares_and_trim)
{
	enum { SZ = 2048, PER = (64 * 1024 - 32) / SZ };	/* 31 a chunk */
	struct slab *s = slab_new(SZ, 2, false);
	void *o[4 * PER];
	size_t i;

	for (i = 0; i < 4 * PER; i++)
		ck_assert_ptr_nonnull(o[i] = slab_get(s));
	CHUNKS(s, 4);
	for (i = 0; i < 4 * PER; i++)
		slab_put(s, o[i]);
	CHUNKS(s, 2);		/* two spares kept */
	ck_assert_ptr_nonnull(o[0] = slab_get(s));
	CHUNKS(s, 2);		/* served from a spare */
	slab_put(s, o[0]);
	slab_trim(s);
	CHUNKS(s, 0);
	ck_assert_ptr_nonnull(o[0] = slab_get(s));
	CHUNKS(s, 1);
	slab_put(s, o[0]);
	slab_free(s);
}
END_TEST

/*
 * One object taken and given back over and over keeps its chunk (as a
 * spare, not mapped anew); trim unmaps it; with no spares it goes at once.
 */
START_TEST(test_one_object_churn)
{
	struct slab *s = slab_new(1024, 1, false), *s0 = slab_new(1024, 0, false);
	void *a, *b;

	ck_assert_ptr_nonnull(a = slab_get(s));
	for (int i = 0; i < 3; i++) {
		slab_put(s, a);
		CHUNKS(s, 1);
		ck_assert_ptr_nonnull(b = slab_get(s));
#if !defined(__SANITIZE_ADDRESS__)
		ck_assert_ptr_eq(a, b);
#endif
		a = b;
	}
	slab_put(s, a);
	slab_trim(s);
	CHUNKS(s, 0);
	ck_assert_ptr_nonnull(a = slab_get(s));
	CHUNKS(s, 1);
	slab_put(s, a);
	slab_free(s);

	ck_assert_ptr_nonnull(a = slab_get(s0));
	slab_put(s0, a);
	CHUNKS(s0, 0);
	slab_free(s0);
}
END_TEST

/* Without zeroing, a recycled object keeps what was in it. */
START_TEST(test_no_zero_keeps_bytes)
{
	struct slab *s = slab_new(64, 1, false);
	unsigned char *a = slab_get(s), *b;

	ck_assert_ptr_nonnull(a);
	memset(a + 8, 0x5a, 56);	/* the first word is the free link */
	slab_put(s, a);
	b = slab_get(s);
#if !defined(__SANITIZE_ADDRESS__)
	ck_assert_ptr_eq(a, b);
	ck_assert_uint_eq(b[63], 0x5a);
#endif
	slab_put(s, b);
	slab_free(s);
}
END_TEST

static Suite *
slab_suite(void)
{
	Suite	*s = suite_create("slab");
	TCase	*tc = tcase_create("slab");

	tcase_add_test(tc, test_bad_sizes);
	tcase_add_test(tc, test_zeroed_aligned_distinct);
	tcase_add_test(tc, test_burst_returns_chunks);
	tcase_add_test(tc, test_random_churn);
	tcase_add_test(tc, test_spares_and_trim);
	tcase_add_test(tc, test_one_object_churn);
	tcase_add_test(tc, test_no_zero_keeps_bytes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(slab_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
