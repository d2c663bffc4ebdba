/*
 * deadline_stats.h: how the deadline engine did, per thread, without locks:
 * how late deadlines and timers fired, how late the event loop ran (the
 * samples of the lag probe, lagprobe.h), and counts of the engine's work.
 *
 * The engine (deadline.c) and the lag probe record into the calling
 * thread's statistics; this module only keeps them and calls nothing.  A
 * struct deadline_stats is plain data: a thread reads its own, and the
 * metrics sum the workers' with deadline_stats_add().
 */
#ifndef HG_DEADLINE_STATS_H
#define HG_DEADLINE_STATS_H

#include <stdint.h>

#include "hist.h"

/* The buckets of both histograms: 10 us to 250 ms, log scale, then +Inf. */
extern const struct hist_bounds deadline_stats_bounds;

struct deadline_stats {
	struct hist	 ds_late;	/* fired instant minus deadline, per
					   cancel by deadline and timer fire */
	uint64_t	 ds_late_max_us;	/* the largest of them */
	struct hist	 ds_lag;	/* loop lag seen by the probe */
	uint64_t	 ds_lag_max_us;	/* the largest of them */
	uint64_t	 ds_lag_last_us;	/* the probe's last sample */
	uint64_t	 ds_fires;	/* items whose instant came, and wakes
					   of the engine's timer with none */
	uint64_t	 ds_rearms;	/* those fires with nothing due yet */
	uint64_t	 ds_expired;	/* tasks cancelled by their deadline */
	uint64_t	 ds_cancelled;	/* tasks cancelled by a call */
	uint64_t	 ds_arm_errors;	/* event_add() or heap failures */
};

/* The calling thread's statistics, live. */
struct deadline_stats *deadline_stats_local(void);

/* Copy the calling thread's statistics. */
void	 deadline_stats_get(struct deadline_stats *);

/* Zero the calling thread's statistics. */
void	 deadline_stats_reset(void);

/* Add src into dst; the maxima and the last lag sample take the larger. */
void	 deadline_stats_add(struct deadline_stats *dst,
	     const struct deadline_stats *src);

/* Count one lateness sample of us microseconds (negative counts as 0). */
void	 deadline_stats_late(struct deadline_stats *, int64_t us);

/* Count one loop-lag sample (negative counts as 0); it is the last one. */
void	 deadline_stats_lag(struct deadline_stats *, int64_t us);

#endif
