/*
 * test_budget.c: lib/budget.c and lib/latwin.c, the arithmetic behind the
 * retry budget and hedge = pNN: how many retries a window allows (the
 * percentage, the floor per second, the ten-second slide), and the
 * percentiles of a latency window (bucket bounds within 1/8, the
 * generations that age out).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "latwin.h"

#define SEC	1000000LL
#define T0	(1000 * SEC)	/* a monotonic clock well past boot */

/* Retries taken out of tries attempts at now. */
static int
take(struct budget *b, int64_t now, int tries, unsigned pct, unsigned min)
{
	int n = 0;

	for (int i = 0; i < tries; i++)
		n += budget_take(b, now, pct, min);
	return n;
}

/* 20% of 1,000 requests: 200 retries, not one more. */
START_TEST(test_percent)
{
	struct budget b;

	memset(&b, 0, sizeof b);
	for (int i = 0; i < 1000; i++)
		budget_request(&b, T0 + i * 1000);
	ck_assert_int_eq(take(&b, T0 + SEC / 2, 500, 20, 0), 200);
	ck_assert_int_eq(take(&b, T0 + SEC / 2, 1, 20, 0), 0);
}
END_TEST

/* With few requests the floor applies: min a second, ten seconds. */
START_TEST(test_floor)
{
	struct budget b;

	memset(&b, 0, sizeof b);
	budget_request(&b, T0);
	ck_assert_int_eq(take(&b, T0, 100, 20, 3), 30);
	memset(&b, 0, sizeof b);
	ck_assert_int_eq(take(&b, T0, 10, 0, 0), 0);	/* no budget at all */
}
END_TEST

/* The window slides: after 10 s, the old slots count no more. */
START_TEST(test_slide)
{
	struct budget b;

	memset(&b, 0, sizeof b);
	for (int i = 0; i < 100; i++)
		budget_request(&b, T0);
	ck_assert_int_eq(take(&b, T0, 50, 10, 0), 10);
	/* 9 s later the requests and retries still count. */
	ck_assert_int_eq(take(&b, T0 + 9 * SEC, 5, 10, 0), 0);
	/* 10 s later they are gone: no requests, no budget. */
	ck_assert_int_eq(take(&b, T0 + 10 * SEC, 5, 10, 0), 0);
	for (int i = 0; i < 50; i++)
		budget_request(&b, T0 + 10 * SEC);
	ck_assert_int_eq(take(&b, T0 + 10 * SEC, 50, 10, 0), 5);
}
END_TEST

/* Percentiles: 90 samples of 1 ms and 10 of 200 ms. */
START_TEST(test_percentile)
{
	struct latwin w;

	memset(&w, 0, sizeof w);
	ck_assert_uint_eq(latwin_percentile(&w, T0, 50), 0);
	for (int i = 0; i < 90; i++)
		latwin_record(&w, T0, 1000);
	for (int i = 0; i < 10; i++)
		latwin_record(&w, T0, 200000);
	ck_assert_uint_eq(latwin_samples(&w, T0), 100);
	/* p90 is the 90th sample: 1 ms, within an eighth above. */
	ck_assert_uint_ge(latwin_percentile(&w, T0, 90), 1000);
	ck_assert_uint_le(latwin_percentile(&w, T0, 90), 1000 + 1000 / 8);
	/* p91 is a slow one. */
	ck_assert_uint_ge(latwin_percentile(&w, T0, 91), 200000);
	ck_assert_uint_le(latwin_percentile(&w, T0, 91), 200000 + 200000 / 8);
	/* Small values are exact. */
	memset(&w, 0, sizeof w);
	latwin_record(&w, T0, 7);
	ck_assert_uint_eq(latwin_percentile(&w, T0, 99), 7);
}
END_TEST

/* Every value falls into a bucket whose bound is at or above it, by at
 * most an eighth. */
START_TEST(test_bounds)
{
	struct latwin w;

	for (uint64_t v = 1; v < 400 * SEC; v = v * 9 / 8 + 1) {
		memset(&w, 0, sizeof w);
		latwin_record(&w, T0, v);
		ck_assert_uint_ge(latwin_percentile(&w, T0, 50), v);
		ck_assert_uint_le(latwin_percentile(&w, T0, 50), v + v / 8);
	}
}
END_TEST

/* Two generations of 10 s: samples count for 10 to 20 s. */
START_TEST(test_age)
{
	struct latwin w;

	memset(&w, 0, sizeof w);
	for (int i = 0; i < 100; i++)
		latwin_record(&w, T0, 1000);
	ck_assert_uint_eq(latwin_samples(&w, T0 + 9 * SEC), 100);
	latwin_record(&w, T0 + 11 * SEC, 5000);
	ck_assert_uint_eq(latwin_samples(&w, T0 + 11 * SEC), 101);
	ck_assert_uint_eq(latwin_samples(&w, T0 + 21 * SEC), 1);
	ck_assert_uint_eq(latwin_samples(&w, T0 + 45 * SEC), 0);
}
END_TEST

static Suite *
budget_suite(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("budget");

	tcase_add_test(tc, test_percent);
	tcase_add_test(tc, test_floor);
	tcase_add_test(tc, test_slide);
	tcase_add_test(tc, test_percentile);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_age);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the verdict. */
int
main(void)
{
	SRunner *sr = srunner_create(budget_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
