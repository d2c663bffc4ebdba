/*
 * test_hist.c: lib/hist.c, the histogram behind the request durations, the
 * timer lateness and the loop lag: which bucket a sample goes to (bounds
 * inclusive, +Inf past the last), the sum, the count, and merging.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hist.h"

/* Three bounds: buckets le 10, le 100, le 1000, +Inf. */
static const struct hist_bounds three = { 3, { 10, 100, 1000 } };

/* The bucket a single sample lands in. */
static int
bucket_of(const struct hist_bounds *b, uint64_t us)
{
	struct hist h;
	int found = -1;

	memset(&h, 0, sizeof h);
	hist_record(&h, b, us);
	for (int i = 0; i < HIST_BUCKETS_MAX; i++) {
		if (h.h_bucket[i] == 0)
			continue;
		ck_assert_int_eq(found, -1);
		ck_assert_uint_eq(h.h_bucket[i], 1);
		found = i;
	}
	ck_assert_uint_eq(h.h_sum_us, us);
	ck_assert_uint_eq(hist_count(&h), 1);
	return found;
}

/* A bound belongs to its own bucket; one more goes to the next. */
START_TEST(test_edges)
{
	ck_assert_int_eq(bucket_of(&three, 0), 0);
	ck_assert_int_eq(bucket_of(&three, 10), 0);
	ck_assert_int_eq(bucket_of(&three, 11), 1);
	ck_assert_int_eq(bucket_of(&three, 100), 1);
	ck_assert_int_eq(bucket_of(&three, 101), 2);
	ck_assert_int_eq(bucket_of(&three, 1000), 2);
	ck_assert_int_eq(bucket_of(&three, 1001), 3);
	ck_assert_int_eq(bucket_of(&three, UINT64_MAX), 3);
}
END_TEST

/* With no finite bound everything is +Inf; a full table uses every slot. */
START_TEST(test_sizes)
{
	static const struct hist_bounds none = { 0, { 0 } };
	struct hist_bounds full;

	ck_assert_int_eq(bucket_of(&none, 0), 0);
	ck_assert_int_eq(bucket_of(&none, UINT64_MAX), 0);
	full.hb_n = HIST_BUCKETS_MAX - 1;
	for (unsigned i = 0; i < full.hb_n; i++)
		full.hb_us[i] = (uint64_t)(i + 1) * 100;
	for (unsigned i = 0; i < full.hb_n; i++) {
		ck_assert_int_eq(bucket_of(&full, full.hb_us[i]), (int)i);
		ck_assert_int_eq(bucket_of(&full, full.hb_us[i] + 1),
		    (int)i + 1);
	}
	ck_assert_int_eq(bucket_of(&full, UINT64_MAX), HIST_BUCKETS_MAX - 1);
}
END_TEST

/* Counts and sums add up; merging is the sum of the parts. */
START_TEST(test_sum_and_merge)
{
	static const uint64_t a_samples[] = { 0, 5, 10, 50, 999, 5000 };
	static const uint64_t b_samples[] = { 10, 11, 100000 };
	struct hist a, b, both;
	uint64_t sum = 0;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	memset(&both, 0, sizeof both);
	for (size_t i = 0; i < sizeof a_samples / sizeof a_samples[0]; i++) {
		hist_record(&a, &three, a_samples[i]);
		hist_record(&both, &three, a_samples[i]);
		sum += a_samples[i];
	}
	for (size_t i = 0; i < sizeof b_samples / sizeof b_samples[0]; i++) {
		hist_record(&b, &three, b_samples[i]);
		hist_record(&both, &three, b_samples[i]);
		sum += b_samples[i];
	}
	ck_assert_uint_eq(a.h_bucket[0], 3);
	ck_assert_uint_eq(a.h_bucket[1], 1);
	ck_assert_uint_eq(a.h_bucket[2], 1);
	ck_assert_uint_eq(a.h_bucket[3], 1);
	ck_assert_uint_eq(hist_count(&a), 6);
	ck_assert_uint_eq(hist_count(&b), 3);
	hist_add(&a, &b);
	ck_assert_mem_eq(&a, &both, sizeof a);
	ck_assert_uint_eq(hist_count(&a), 9);
	ck_assert_uint_eq(a.h_sum_us, sum);
	hist_add(&a, &(struct hist){ { 0 }, 0 });
	ck_assert_mem_eq(&a, &both, sizeof a);
}
END_TEST

/* The suite. */
static Suite *
hist_suite(void)
{
	Suite *s = suite_create("hist");
	TCase *tc = tcase_create("hist");

	tcase_add_test(tc, test_edges);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_sum_and_merge);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the verdict. */
int
main(void)
{
	SRunner *sr = srunner_create(hist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
