/* deadline_stats.c: timer lateness and loop lag per thread. */
#include <string.h>

#include "deadline_stats.h"

/* Upper bounds of the buckets, in microseconds; the last one is +Inf. */
static const int64_t deadline_bounds[DEADLINE_BUCKETS - 1] = {
	10, 25, 50, 100, 250, 500,
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
};

static __thread struct deadline_stats deadline_stats_tls;

/* The calling thread's statistics. */
struct deadline_stats *
deadline_stats_local(void)
{
	return &deadline_stats_tls;
}

/* Copy the calling thread's statistics. */
void
deadline_stats_get(struct deadline_stats *out)
{
	*out = deadline_stats_tls;
}

/* Zero the calling thread's statistics. */
void
deadline_stats_reset(void)
{
	memset(&deadline_stats_tls, 0, sizeof deadline_stats_tls);
}

/* Add histogram src into dst. */
static void
deadline_hist_add(struct deadline_hist *dst, const struct deadline_hist *src)
{
	for (int i = 0; i < DEADLINE_BUCKETS; i++)
		dst->dh_bucket[i] += src->dh_bucket[i];
	dst->dh_count += src->dh_count;
	dst->dh_sum_us += src->dh_sum_us;
	if (src->dh_max_us > dst->dh_max_us)
		dst->dh_max_us = src->dh_max_us;
}

/* Add the statistics of another thread into dst. */
void
deadline_stats_add(struct deadline_stats *dst, const struct deadline_stats *src)
{
	deadline_hist_add(&dst->ds_late, &src->ds_late);
	deadline_hist_add(&dst->ds_lag, &src->ds_lag);
	if (src->ds_lag_last_us > dst->ds_lag_last_us)
		dst->ds_lag_last_us = src->ds_lag_last_us;
	dst->ds_fires += src->ds_fires;
	dst->ds_rearms += src->ds_rearms;
	dst->ds_expired += src->ds_expired;
	dst->ds_cancelled += src->ds_cancelled;
	dst->ds_arm_errors += src->ds_arm_errors;
}

/* Count one sample into its bucket; the first bound not below it. */
void
deadline_stats_record(struct deadline_hist *h, int64_t us)
{
	int i;

	if (us < 0)
		us = 0;
	for (i = 0; i < DEADLINE_BUCKETS - 1; i++) {
		if (us <= deadline_bounds[i])
			break;
	}
	h->dh_bucket[i]++;
	h->dh_count++;
	h->dh_sum_us += (uint64_t)us;
	if ((uint64_t)us > h->dh_max_us)
		h->dh_max_us = (uint64_t)us;
}

/* Upper bound of bucket i in microseconds; INT64_MAX for +Inf. */
int64_t
deadline_stats_bound(int i)
{
	if (i < 0 || i >= DEADLINE_BUCKETS - 1)
		return INT64_MAX;
	return deadline_bounds[i];
}
