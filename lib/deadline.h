/*
 * deadline.h: nested deadline scopes for one task, kept with one timer.
 *
 * A task (a request, a client connection) owns a set of open scopes, at
 * most one of each enum scope.  A fixed scope expires at an instant set when
 * it is opened; an idle scope expires at its last progress plus its length.
 * The deadline in force is the earliest open one, so an inner scope can
 * never extend an outer one.  When it passes, the task is cancelled once,
 * with the scope whose own deadline is earliest as the cause; on a tie the
 * outer scope (the lower enum value) wins.
 *
 * Time.  Instants are int64_t microseconds of CLOCK_MONOTONIC.  Each thread
 * keeps a cached "now", refreshed by deadline_now_refresh(): one
 * clock_gettime(), which the vDSO answers without a syscall.  The proxy calls
 * it at the top of every I/O callback, and deadline_touch() stamps that
 * cached value, so touching costs one load and one store.  Everything that
 * decides when a timer fires (opening a scope, the timer callback,
 * deadline_left_ms()) reads the clock afresh and refreshes the cache too, so
 * fixed deadlines are exact to the microsecond.  An idle stamp is as old as
 * the last refresh: at most the work done so far in the current callback.
 * That can only shorten an idle window by those microseconds, never lengthen
 * it, and a scope never fires before the deadline it recorded.
 *
 * libevent's cached time is not used as a clock: event_base_gettimeofday_
 * cached() is wall-clock time (monotonic plus an offset resynced every few
 * seconds, so it steps with the wall clock), and it is the instant epoll
 * returned, stale by every callback run since in that loop turn.
 *
 * Timer.  Each task has one libevent timer, embedded in the task (no
 * allocation), armed at or before the earliest open deadline.  Opening a
 * scope re-arms it only when the new deadline is earlier than the armed
 * instant.  Closing a scope and touching an idle scope never re-arm: when
 * the timer fires, the engine reads the clock, and if nothing is due yet it
 * re-arms for the true earliest deadline instead of cancelling (libev's
 * "be smart about timeouts").  Closing the last open scope deletes the
 * timer.  Because of that check a deadline never fires early, even when
 * libevent wakes early.  libevent adds a relative timeout to its cached time
 * of the loop turn, which lags the real now by the callbacks run so far, so
 * before each event_add() the engine refreshes that cache
 * (event_base_update_cache_time()): the timer is then due no earlier than
 * the deadline, and no second wake-up is needed.
 *
 * Create the base with EVENT_BASE_FLAG_PRECISE_TIMER: libevent then keeps
 * time with CLOCK_MONOTONIC, as the engine does, and sleeps on a timerfd
 * (microseconds).  Without it libevent uses a coarse clock and millisecond
 * sleeps; wakes that come early are re-armed, costing extra wake-ups and
 * lateness but never an early cancel.
 *
 * Cancel callback contract.
 * - It is called at most once per deadline_task_init(): exactly once if the
 *   task is cancelled (by its timer or by deadline_cancel()) before
 *   deadline_task_clear(), never after it.
 * - It is called from the event loop (the task's timer) or from inside
 *   deadline_cancel(), never from deadline_open*(), deadline_close() or
 *   deadline_touch(); a scope opened already past its deadline fires from
 *   the loop.
 * - Several scopes due in the same loop turn, or a deadline_cancel() in the
 *   turn the timer became due, still give one call, with one cause.
 * - Before the call the engine has deleted the timer, closed every scope and
 *   marked the task cancelled.  It never touches the task after the call, so
 *   the callback may free the memory that holds the task, directly, with or
 *   without deadline_task_clear() first.
 * - It is never re-entered for the same task: deadline_cancel() on it from
 *   inside the callback (or later) is ignored, and deadline_open*(),
 *   deadline_close() and deadline_touch() on a cancelled task are harmless
 *   no-ops.  To reuse the task, clear it and initialise it again.
 *   It may cancel other tasks, whose callbacks then run nested.
 *
 * A task belongs to the thread that runs its event base; nothing here
 * locks.  The statistics (timer lateness, loop lag) are per thread too.
 */
#ifndef HG_DEADLINE_H
#define HG_DEADLINE_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "scope.h"

/* The instant that never comes: a scope with it is open but never fires. */
#define DEADLINE_NEVER		INT64_MAX

struct deadline_task;

/* Called once when the task is cancelled; see the contract above. */
typedef void (*deadline_cancel_cb)(struct deadline_task *, enum scope, void *);

/*
 * A task's deadlines, embedded in the request or connection that owns it.
 * The layout is public only so that it can be embedded; the members are
 * private to deadline.c.  A zeroed task is a valid, unused task.
 */
struct deadline_task {
	struct event		 dt_timer;	/* the task's one timer */
	struct event_base	*dt_base;
	deadline_cancel_cb	 dt_cb;
	void			*dt_arg;
	int64_t			 dt_armed;	/* timer instant, or NEVER */
	int64_t			 dt_when[SCOPE_COUNT];	/* fixed: deadline;
							   idle: length */
	int64_t			 dt_progress[SCOPE_COUNT]; /* idle: touched */
	uint16_t		 dt_open;	/* bit per open scope */
	uint16_t		 dt_idle;	/* bit per open idle scope */
	uint8_t			 dt_state;	/* unused, live, cancelled */
	uint8_t			 dt_cause;	/* once cancelled */
};

/* This thread's cached monotonic now; read it with deadline_now_cached(). */
extern __thread int64_t	 deadline_clock_cache;

/* Read CLOCK_MONOTONIC in microseconds and store it in the thread's cache. */
int64_t	 deadline_now_refresh(void);

/* The thread's cached now: the last refresh, by the caller or the engine. */
static inline int64_t
deadline_now_cached(void)
{
	return deadline_clock_cache;
}

/*
 * Set up an unused (zeroed or cleared) task on base; no scope is open.
 * Returns 0, or -1 if base or cb is NULL or libevent refuses the timer.
 */
int	 deadline_task_init(struct deadline_task *, struct event_base *,
	     deadline_cancel_cb, void *);

/*
 * Delete the timer and close every scope, without calling the callback.
 * Idempotent; safe on a zeroed task and from inside the callback.  The
 * task may then be freed or initialised again.
 */
void	 deadline_task_clear(struct deadline_task *);

/*
 * Open scope s for ms milliseconds from now, or replace it if it is
 * already open (an idle scope then counts its progress from now).  0 means
 * off: the scope is closed and stays closed.  Durations too long to
 * represent saturate to DEADLINE_NEVER: the scope is open but never fires.
 * Returns 0, or -1 if s is invalid or the timer could not be armed (the
 * scope is then open but nothing will fire it: cancel the task).
 * A cancelled or unused task ignores it and returns 0.
 */
int	 deadline_open(struct deadline_task *, enum scope, uint64_t ms);

/* As deadline_open(), with the length in microseconds (negative: -1). */
int	 deadline_open_us(struct deadline_task *, enum scope, int64_t us);

/*
 * Open fixed scope s with an absolute deadline (e.g. the drain instant
 * shared by every task).  An idle scope has no absolute deadline: -1.
 */
int	 deadline_open_at(struct deadline_task *, enum scope, int64_t when);

/* Close scope s if it is open; the timer re-arms lazily when it fires. */
void	 deadline_close(struct deadline_task *, enum scope);

/*
 * Record progress on idle scope s at the thread's cached now.  A single
 * store: no clock read, no timer work.  Harmless on a scope that is not
 * open or not idle, and on a cancelled task.
 */
static inline void
deadline_touch(struct deadline_task *t, enum scope s)
{
	t->dt_progress[s] = deadline_clock_cache;
}

/*
 * Cancel a live task with the given cause: the callback runs before this
 * returns.  Returns 1 if it did, 0 if the task was not live (already
 * cancelled, in its callback, cleared or unused), -1 if cause is invalid.
 */
int	 deadline_cancel(struct deadline_task *, enum scope cause);

/*
 * Milliseconds left until the deadline in force (the earliest open one,
 * which is also the innermost open scope's), floored, and at least 1; -1
 * when none is in force (no open scope, only never-ending ones, or a task
 * that is not live).  Reads the clock.
 */
int64_t	 deadline_left_ms(struct deadline_task *);

/* The earliest open deadline, or DEADLINE_NEVER. */
int64_t	 deadline_next(const struct deadline_task *);

/* Scope s's own deadline if it is open, else DEADLINE_NEVER. */
int64_t	 deadline_scope_at(const struct deadline_task *, enum scope);

/* Whether scope s is open on a live task. */
int	 deadline_scope_open(const struct deadline_task *, enum scope);

/* The instant the timer is armed for, or DEADLINE_NEVER if it is not. */
int64_t	 deadline_armed(const struct deadline_task *);

/* The cause once the task was cancelled, else -1. */
int	 deadline_cause(const struct deadline_task *);

/*
 * Statistics, per thread, without locks.  A histogram has fixed log-scale
 * buckets of microseconds; the counts are per bucket, not cumulative, and
 * the last bucket is +Inf.  A struct deadline_stats can be summed with
 * deadline_stats_add() to merge threads.
 */
#define DEADLINE_BUCKETS	15

struct deadline_hist {
	uint64_t	 dh_bucket[DEADLINE_BUCKETS];
	uint64_t	 dh_count;
	uint64_t	 dh_sum_us;
	uint64_t	 dh_max_us;
};

struct deadline_stats {
	struct deadline_hist ds_late;	/* fired instant minus deadline */
	struct deadline_hist ds_lag;	/* loop lag seen by the probe */
	uint64_t	 ds_lag_last_us;	/* the probe's last sample */
	uint64_t	 ds_early;	/* cancels before the deadline: 0 */
	uint64_t	 ds_fires;	/* timer callbacks */
	uint64_t	 ds_rearms;	/* fires with nothing due yet */
	uint64_t	 ds_expired;	/* tasks cancelled by their timer */
	uint64_t	 ds_cancelled;	/* tasks cancelled by a call */
	uint64_t	 ds_arm_errors;	/* event_add() failures */
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

/*
 * The loop-lag probe: a timer on base every interval_ms that records how
 * late it fired into the running thread's ds_lag.  Returns NULL on failure.
 * Stop it before freeing the base.
 */
struct deadline_probe;
struct deadline_probe *deadline_probe_start(struct event_base *,
	     unsigned interval_ms);
void	 deadline_probe_stop(struct deadline_probe *);

#endif
