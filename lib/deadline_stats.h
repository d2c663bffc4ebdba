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

/*
 * A histogram has fixed log-scale buckets of microseconds; the counts are
 * per bucket, not cumulative, and the last bucket is +Inf.
 */
#define DEADLINE_BUCKETS	15

struct deadline_hist {
	uint64_t	 dh_bucket[DEADLINE_BUCKETS];
	uint64_t	 dh_count;
	uint64_t	 dh_sum_us;
	uint64_t	 dh_max_us;
};

struct deadline_stats {
	struct deadline_hist ds_late;	/* fired instant minus deadline, per
					   cancel by deadline and timer fire */
	struct deadline_hist ds_lag;	/* loop lag seen by the probe */
	uint64_t	 ds_lag_last_us;	/* the probe's last sample */
	uint64_t	 ds_fires;	/* items whose instant came, and wakes
					   of the engine's timer with none */
	uint64_t	 ds_rearms;	/* those fires with nothing due yet */
	uint64_t	 ds_expired;	/* tasks cancelled by their deadline */
	uint64_t	 ds_cancelled;	/* tasks cancelled by a call */
	uint64_t	 ds_arm_errors;	/* event_add() or heap failures */
};

/* The calling thread's statistics, live (for per-thread registration). */
struct deadline_stats *deadline_stats_local(void);

/* Copy the calling thread's statistics. */
void	 deadline_stats_get(struct deadline_stats *);

/* Zero the calling thread's statistics. */
void	 deadline_stats_reset(void);

/* Add src into dst; the maxima (and the last lag sample) take the larger. */
void	 deadline_stats_add(struct deadline_stats *dst,
	     const struct deadline_stats *src);

/* Count one sample of us microseconds (negative counts as 0). */
void	 deadline_stats_record(struct deadline_hist *, int64_t us);

/* Upper bound in microseconds of bucket i; INT64_MAX for the last. */
int64_t	 deadline_stats_bound(int i);

#endif
