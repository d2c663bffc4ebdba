/*
 * deadline.h: nested deadline scopes for one task, and light one-shot
 * timers, kept in one heap per event base.
 *
 * A task (a request, a client connection) owns a set of open scopes, at
 * most one of each enum scope.  A fixed scope expires at an instant set when
 * it is opened; an idle scope expires at its last progress plus its length.
 * The deadline in force is the earliest open one, so an inner scope can
 * never extend an outer one.  When it passes, the task is cancelled once,
 * with the scope whose own deadline is earliest as the cause; on a tie the
 * outer scope (the lower enum value) wins.
 *
 * A timer (struct deadline_timer) is the light kind: one instant, one
 * callback, no scopes, for waits such as a keep-alive or a lingering close.
 *
 * Time.  Instants are int64_t microseconds of CLOCK_MONOTONIC.  Each thread
 * keeps a cached "now", refreshed by deadline_now_refresh(): one
 * clock_gettime(), which the vDSO answers without a syscall.  The rule:
 *
 *	Refresh the cache at the top of every callback that opens a scope or
 *	sets a timer relative to now: every I/O callback, every libevent timer
 *	of your own.  The engine refreshes it before each task or timer
 *	callback it runs.
 *
 * The proxy follows it, and deadline_open(), deadline_open_us() and
 * deadline_touch() then read the cache instead of the clock: opening a
 * scope costs no clock read, touching costs one load and one store.
 *
 * Why that never fires early.  The cache is never ahead of the real clock;
 * it lags it by the work done so far in the current callback, so a scope
 * opened from it ends that much earlier than one opened from a fresh
 * reading.  What users see is measured from the event that started the
 * wait: "time from the client's request to our 504 is never less than the
 * timeout".  The client's bytes were in the socket before epoll returned,
 * hence before the refresh at the top of the callback that reads them; a
 * deadline of cache + N is therefore at least N after the request, and the
 * timer never fires before its deadline (below), so the 504 comes at least
 * N after the request.  The same holds for a connect's completion, an
 * upstream's bytes, and the end of a previous scope's callback.  It only
 * fails for a callback that skips the refresh: the cache may then date from
 * before the loop slept, and its deadlines would be early by the sleep.
 * That is why the rule above is a rule.  A scope opened in a callback that
 * runs long (the engine's own burst of cancels) is cut by at most that
 * callback's run so far; the engine refreshes between callbacks, so that is
 * one callback's work, not the burst's.
 *
 * Fixed deadlines opened with deadline_open_at() take their instant as
 * given.  deadline_left_ms() reads the clock (and refreshes the cache).
 *
 * libevent's cached time is not used as a clock: event_base_gettimeofday_
 * cached() is wall-clock time (monotonic plus an offset resynced every few
 * seconds, so it steps with the wall clock), and it is the instant epoll
 * returned, stale by every callback run since in that loop turn.
 *
 * Heap.  Every armed task and every set timer of an event base sits in one
 * binary min-heap per base (per thread in practice), keyed by its armed
 * instant, and ONE timer (a timerfd) is armed at the heap's minimum.  A task
 * stores its slot in the heap, not a libevent event.  Opening a scope moves
 * the task up the heap only when the new deadline is earlier than its
 * armed instant; closing a scope and touching an idle scope never move it:
 * when its instant comes, the engine re-checks the task and, if nothing is
 * due yet, moves it down to its true earliest deadline instead of
 * cancelling (libev's "be smart about timeouts").  Closing the last open
 * scope takes the task out of the heap.  The timer is re-armed only
 * when the minimum moves earlier; when the minimum moves later (or
 * leaves), the timer fires at the old instant, finds nothing due and
 * re-arms (counted in ds_rearms).  When a heap empties, its timer is
 * deleted.
 *
 * On a fire the engine reads the clock, then takes the due items off the
 * top of the heap one at a time, in deadline order, refreshing the cached
 * clock before each callback.  It looks at the heap afresh after every
 * callback, so a callback may free its own task or timer, clear, stop, set
 * or open others (even ones due in the same turn), or cancel tasks.  One
 * fire handles at most as many items as the heap held when it started; an
 * item set again for an instant already past (by a callback) runs on the
 * next loop turn, after I/O, so a timer that keeps re-setting itself
 * cannot starve the loop.
 *
 * The timer.  Each heap sleeps on its own timerfd, armed with an absolute
 * instant on CLOCK_MONOTONIC, the engine's clock: no reading, no rounding,
 * and one timerfd_settime() only when the minimum moves earlier or a fire
 * ends.  Waking a sleeping thread takes the kernel some microseconds, so
 * the timerfd is set that much before the minimum: each heap learns the
 * latency of its wake-ups (a moving average of samples capped at 100 us;
 * deadline_lead() reports it), and a fire waits out on the clock what is
 * left of the lead before it runs anything.
 * The timerfd is watched by the base while the heap has items, which
 * costs an epoll_ctl() when a heap fills or empties.  The base needs no
 * EVENT_BASE_FLAG_PRECISE_TIMER (which would make libevent set its own
 * timerfd on every loop turn).  Should timerfd_create() fail (no
 * descriptor to spare), the heap falls back to a libevent timer, with no
 * lead: it is then only as exact as the base, to the millisecond without
 * that flag.
 *
 * Never early.  An item is run only when the engine's fresh clock reading
 * is at or past its instant, even when a wake comes early (by the lead, or
 * for a minimum that has moved later).  libevent, the fallback, adds a
 * relative timeout to its cached time of the loop turn, which lags the
 * real now by the callbacks run so far, so before each event_add() the
 * engine refreshes that cache (event_base_update_cache_time()): the timer
 * is then due no earlier than the deadline.
 *
 * Lifetime.  A heap is made when the first item of a base is armed and
 * given back when its last one leaves; each thread keeps one empty heap
 * for reuse, freed when the thread exits.  So no teardown call exists, but
 * as with libevent's own events: before event_base_free(), clear or cancel
 * every task of that base that is still armed, and stop every timer
 * (deadline_pending() says how many are left).  An item must not be freed
 * or re-initialised while armed, except that a callback may free the task
 * or timer it was called for.
 *
 * Cancel callback contract.
 * - It is called at most once per deadline_task_init(): exactly once if the
 *   task is cancelled (by its deadline or by deadline_cancel()) before
 *   deadline_task_clear(), never after it.
 * - It is called from the event loop (the engine's timer) or from inside
 *   deadline_cancel(), never from deadline_open*(), deadline_close() or
 *   deadline_touch(); a scope opened already past its deadline fires from
 *   the loop.
 * - Several scopes due in the same loop turn, or a deadline_cancel() in the
 *   turn the deadline came due, still give one call, with one cause.
 * - Before the call the engine has taken the task out of the heap, closed
 *   every scope and marked the task cancelled.  It never touches the task
 *   after the call, so the callback may free the memory that holds the
 *   task, directly, with or without deadline_task_clear() first.
 * - It is never re-entered for the same task: deadline_cancel() on it from
 *   inside the callback (or later) is ignored, and deadline_open*(),
 *   deadline_close() and deadline_touch() on a cancelled task are harmless
 *   no-ops.  To reuse the task, clear it and initialise it again.
 *   It may cancel other tasks, whose callbacks then run nested.
 *
 * A task or timer belongs to the thread that runs its event base; nothing
 * here locks.  The statistics (deadline_stats.h) are per thread too.
 */
#ifndef HG_DEADLINE_H
#define HG_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "scope.h"

/* The instant that never comes: a scope with it is open but never fires. */
#define DEADLINE_NEVER		INT64_MAX

struct deadline_task;

/* Called once when the task is cancelled; see the contract above. */
typedef void (*deadline_cancel_cb)(struct deadline_task *, enum scope, void *);

/*
 * A task's deadlines, embedded in the request or connection that owns it.
 * The layout is public only so that it can be embedded; the members are
 * private to deadline.c.  A zeroed task is a valid, unused task.  The heap
 * slot comes first: the heap writes it through a pointer to the task.
 */
struct deadline_task {
	uint32_t		 dt_slot;	/* heap slot, 0: not armed */
	uint16_t		 dt_open;	/* bit per open scope */
	uint8_t			 dt_state;	/* unused, live, cancelled */
	uint8_t			 dt_cause;	/* once cancelled */
	struct event_base	*dt_base;
	deadline_cancel_cb	 dt_cb;
	void			*dt_arg;
	int64_t			 dt_when[SCOPE_COUNT];	/* fixed: deadline;
							   idle: length */
	int64_t			 dt_progress[SCOPE_IDLE_COUNT]; /* idle scopes:
							   touched */
};

_Static_assert(SCOPE_COUNT <= 16, "dt_open holds a bit per scope");

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
 * The wall clock (CLOCK_REALTIME, microseconds) at the cached now: the
 * cache plus the offset between the two clocks, read again when the cache
 * has moved on a second or more since.  For log lines; never for timing.
 */
int64_t	 deadline_wall_cached(void);

/*
 * Set up an unused (zeroed, cleared or cancelled) task on base; no scope
 * is open.  Returns 0, or -1 if base or cb is NULL.
 */
int	 deadline_task_init(struct deadline_task *, struct event_base *,
	     deadline_cancel_cb, void *);

/*
 * Take the task out of the heap and close every scope, without calling the
 * callback.  Idempotent; safe on a zeroed task and from inside the
 * callback.  The task may then be freed or initialised again.
 */
void	 deadline_task_clear(struct deadline_task *);

/*
 * Open scope s for ms milliseconds from the thread's cached now (see the
 * rule above), or replace it if it is already open (an idle scope then
 * counts its progress from the cached now).  0 means off: the scope is
 * closed and stays closed.  Durations too long to represent saturate to
 * DEADLINE_NEVER: the scope is open but never fires.
 * Returns 0, or -1 if s is invalid or the task could not be armed (out of
 * memory for the heap, or libevent refused the timer: the scope is then
 * open but may never fire, so cancel the task).
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

/*
 * Close scope s if it is open; the task's place in the heap is corrected
 * lazily, when its instant comes.  Closing the last scope disarms it.
 */
void	 deadline_close(struct deadline_task *, enum scope);

/*
 * Record progress on idle scope s at the thread's cached now.  A single
 * store: no clock read, no heap work.  Harmless on a scope that is not
 * open or not idle, and on a cancelled task.
 */
static inline void
deadline_touch(struct deadline_task *t, enum scope s)
{
	int i = scope_idle_index(s);

	if (i >= 0)
		t->dt_progress[i] = deadline_clock_cache;
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

/*
 * The instant the task is armed for (its key in the heap, at or before its
 * earliest deadline), or DEADLINE_NEVER if it is not armed.
 */
int64_t	 deadline_armed(const struct deadline_task *);

/* The cause once the task was cancelled, else -1. */
int	 deadline_cause(const struct deadline_task *);

/*
 * A light one-shot timer in the same heap as the tasks.  Embed it; a
 * zeroed timer is stopped (and deadline_timer_stop() and _when() accept
 * it), but set it up with deadline_timer_init() before the first set.
 * Like a task, it must be stopped before its memory is freed, except from
 * its own callback.
 */
struct deadline_timer;
typedef void (*deadline_timer_cb)(struct deadline_timer *, void *);

struct deadline_timer {
	uint32_t		 tm_slot;	/* heap slot, 0: stopped */
	uint32_t		 tm_quiet;	/* fires count in no statistic
						   (the loop-lag probe) */
	int64_t			 tm_when;	/* its instant; the heap key
						   may be earlier */
	struct event_base	*tm_base;
	deadline_timer_cb	 tm_cb;
	void			*tm_arg;
};

/* Set up a stopped timer on base; not on a timer that is set. */
void	 deadline_timer_init(struct deadline_timer *, struct event_base *,
	     deadline_timer_cb, void *);

/*
 * Fire once at or after when (absolute CLOCK_MONOTONIC microseconds; an
 * instant already past fires from the loop, never from here), replacing
 * the instant if the timer is set already.  DEADLINE_NEVER stops it.
 * Before the callback the timer is stopped and the cached clock refreshed;
 * the callback may free the timer or set it again.  Its lateness counts in
 * ds_late.  Returns 0, or -1 if the timer has no base or callback (EINVAL)
 * or could not be armed (out of memory for the heap, or libevent refused
 * the timer: it may then never fire, so stop it and give up the wait).
 */
int	 deadline_timer_set(struct deadline_timer *, int64_t when);

/* Stop the timer if it is set.  Idempotent; safe from any callback. */
void	 deadline_timer_stop(struct deadline_timer *);

/* The instant the timer is set for, or DEADLINE_NEVER when stopped. */
int64_t	 deadline_timer_when(const struct deadline_timer *);

/* How many tasks and timers of base are armed now (0 before freeing it). */
size_t	 deadline_pending(struct event_base *);

/*
 * How many microseconds before an instant base's timerfd is set: the
 * wake-up latency it has learnt (0 to 100; 0 without a heap or a
 * timerfd).  The rest is waited out on the clock, so nothing fires early.
 */
int64_t	 deadline_lead(struct event_base *);

/*
 * Check the heap of base, in O(n): heap order, every item's slot, every
 * task live with a scope open and armed no later than its earliest
 * deadline.  0 if sound, else -1.  For tests and debugging.
 */
int	 deadline_verify(struct event_base *);

#endif
