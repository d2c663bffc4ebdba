/* deadline_stats.c: timer lateness and loop lag per thread. */
#include <string.h>

#include "deadline_stats.h"

const struct hist_bounds deadline_stats_bounds = {
	14, {
		10, 25, 50, 100, 250, 500,
		1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
	},
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

/* The larger of two. */
static uint64_t
deadline_stats_max(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Add the statistics of another thread into dst. */
void
deadline_stats_add(struct deadline_stats *dst, const struct deadline_stats *src)
{
	hist_add(&dst->ds_late, &src->ds_late);
	hist_add(&dst->ds_lag, &src->ds_lag);
	dst->ds_late_max_us = deadline_stats_max(dst->ds_late_max_us,
	    src->ds_late_max_us);
	dst->ds_lag_max_us = deadline_stats_max(dst->ds_lag_max_us,
	    src->ds_lag_max_us);
	dst->ds_lag_last_us = deadline_stats_max(dst->ds_lag_last_us,
	    src->ds_lag_last_us);
	dst->ds_fires += src->ds_fires;
	dst->ds_rearms += src->ds_rearms;
	dst->ds_expired += src->ds_expired;
	dst->ds_cancelled += src->ds_cancelled;
	dst->ds_arm_errors += src->ds_arm_errors;
}

/* Count one lateness sample. */
void
deadline_stats_late(struct deadline_stats *st, int64_t us)
{
	uint64_t v = us > 0 ? (uint64_t)us : 0;

	hist_record(&st->ds_late, &deadline_stats_bounds, v);
	st->ds_late_max_us = deadline_stats_max(st->ds_late_max_us, v);
}

/* Count one loop-lag sample, the last one now. */
void
deadline_stats_lag(struct deadline_stats *st, int64_t us)
{
	uint64_t v = us > 0 ? (uint64_t)us : 0;

	hist_record(&st->ds_lag, &deadline_stats_bounds, v);
	st->ds_lag_max_us = deadline_stats_max(st->ds_lag_max_us, v);
	st->ds_lag_last_us = v;
}
