/*
 * hist.h: a histogram of microsecond samples over fixed bucket bounds, the
 * kind the metrics export (request durations, timer lateness, loop lag).
 *
 * The bounds are a table of rising, inclusive upper bounds; a sample goes
 * into the first bucket whose bound is not below it, or into the last
 * bucket, +Inf, past them all.  The histogram keeps one count per bucket
 * (not cumulative) and the sum of the samples; its count is the sum of
 * the buckets.  It is plain data: summed with hist_add(), copied from one
 * thread to another by value.  Recording is inline, with no lock: a
 * histogram belongs to one thread (a worker, or the one that merges).
 */
#ifndef HG_HIST_H
#define HG_HIST_H

#include <stdint.h>

/* The most buckets a histogram has, +Inf included. */
#define HIST_BUCKETS_MAX	20

/* A histogram's buckets: hb_n finite ones, then +Inf. */
struct hist_bounds {
	unsigned	 hb_n;			/* < HIST_BUCKETS_MAX */
	uint64_t	 hb_us[HIST_BUCKETS_MAX - 1];	/* upper bounds */
};

struct hist {
	uint64_t	 h_bucket[HIST_BUCKETS_MAX];	/* bucket hb_n: +Inf */
	uint64_t	 h_sum_us;
};

/* Count one sample of us microseconds into h, whose bounds are b. */
static inline void
hist_record(struct hist *h, const struct hist_bounds *b, uint64_t us)
{
	unsigned i;

	for (i = 0; i < b->hb_n; i++) {
		if (us <= b->hb_us[i])
			break;
	}
	h->h_bucket[i]++;
	h->h_sum_us += us;
}

/* Add src into dst (of the same bounds). */
void		 hist_add(struct hist *dst, const struct hist *src);

/* The number of samples: the sum of the buckets. */
uint64_t	 hist_count(const struct hist *);

#endif
