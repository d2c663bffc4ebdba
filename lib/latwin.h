/*
 * latwin.h: a latency window: the recent samples of one latency (a route's
 * upstream header time), for a percentile of the last 10 to 20 seconds.
 *
 * Samples go into log-linear buckets (eight per power of two, so a
 * percentile is within 1/8 of the truth), in two generations of 10 s: the
 * current one and the one before it.  A percentile reads both.  Fixed
 * size, no allocation, no lock: a window belongs to one worker.
 */
#ifndef HG_LATWIN_H
#define HG_LATWIN_H

#include <stdint.h>

#define LATWIN_BUCKETS	224		/* 1 us to about 9 minutes */
#define LATWIN_GEN_US	10000000	/* a generation lasts 10 s */

struct latwin {
	int64_t		 lw_since;		/* the current generation's start */
	uint32_t	 lw_n[2];		/* samples per generation */
	uint32_t	 lw_count[2][LATWIN_BUCKETS];	/* [0]: current */
};

/* Count a sample of us microseconds taken at now (monotonic us). */
void	 latwin_record(struct latwin *, int64_t now, uint64_t us);

/* The samples of the window at now. */
uint32_t latwin_samples(struct latwin *, int64_t now);

/* The pct-th percentile (1-99) at now, in microseconds, rounded up to its
 * bucket's bound; 0 when the window is empty. */
uint64_t latwin_percentile(struct latwin *, int64_t now, unsigned pct);

#endif
