/* deadline.c: the nested deadline scopes of a task, with one timer. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "deadline.h"

enum deadline_state {
	DEADLINE_UNUSED,	/* zeroed or cleared: every call is a no-op */
	DEADLINE_LIVE,		/* scopes may open, close and fire */
	DEADLINE_CANCELLED,	/* the callback ran or is running */
};

/*
 * The longest interval handed to libevent at once (one day).  A later
 * deadline is reached in steps: the timer wakes, finds nothing due and
 * re-arms.  It keeps far deadlines clear of any overflow in libevent's and
 * the kernel's time arithmetic.
 */
#define DEADLINE_ARM_MAX	(86400LL * 1000000)

__thread int64_t deadline_clock_cache;

/* Read CLOCK_MONOTONIC in microseconds and store it in the thread's cache. */
int64_t
deadline_now_refresh(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	deadline_clock_cache = (int64_t)ts.tv_sec * 1000000 +
	    ts.tv_nsec / 1000;
	return deadline_clock_cache;
}

/* Add a non-negative length to an instant, saturating at DEADLINE_NEVER. */
static inline int64_t
deadline_add(int64_t at, int64_t len)
{
	if (at > DEADLINE_NEVER - len)
		return DEADLINE_NEVER;
	return at + len;
}

/* The deadline of open scope s: fixed, or last progress plus length. */
static inline int64_t
deadline_due(const struct deadline_task *t, int s)
{
	if (t->dt_idle & (1u << s))
		return deadline_add(t->dt_progress[s], t->dt_when[s]);
	return t->dt_when[s];
}

/*
 * The earliest open deadline and its scope.  Scopes are scanned outer
 * first and only a strictly earlier deadline replaces the best, so the
 * outer scope wins a tie.
 */
static int64_t
deadline_earliest(const struct deadline_task *t, enum scope *cause)
{
	int64_t best = DEADLINE_NEVER, due;
	unsigned m;
	int s, which = -1;

	for (m = t->dt_open; m != 0; m &= m - 1) {
		s = __builtin_ctz(m);
		due = deadline_due(t, s);
		if (which == -1 || due < best) {
			best = due;
			which = s;
		}
	}
	if (cause != NULL)
		*cause = (enum scope)which;
	return best;
}

/*
 * Arm the timer to fire at when (not before), now being a clock reading
 * taken before the call.  libevent adds the relative interval to its own
 * cached time of the loop turn, which may be older than now and would make
 * the timer fire early; refreshing that cache first makes libevent's base
 * instant no earlier than now, so the timer is due no earlier than when.
 */
static int
deadline_arm(struct deadline_task *t, int64_t when, int64_t now)
{
	struct timeval tv;
	int64_t rel;

	rel = when > now ? when - now : 0;
	if (rel > DEADLINE_ARM_MAX) {
		rel = DEADLINE_ARM_MAX;
		when = now + rel;
	}
	tv.tv_sec = rel / 1000000;
	tv.tv_usec = rel % 1000000;
	event_base_update_cache_time(t->dt_base);
	if (event_add(&t->dt_timer, &tv) == -1) {
		deadline_stats_local()->ds_arm_errors++;
		return -1;
	}
	t->dt_armed = when;
	return 0;
}

/* Stop the timer if it is armed (pending, or due and not yet run). */
static void
deadline_disarm(struct deadline_task *t)
{
	if (t->dt_armed != DEADLINE_NEVER) {
		event_del(&t->dt_timer);
		t->dt_armed = DEADLINE_NEVER;
	}
}

/*
 * Cancel the task and call its callback.  Everything is settled before the
 * call and nothing is touched after it, so the callback may free the task.
 */
static void
deadline_finish(struct deadline_task *t, enum scope cause)
{
	deadline_disarm(t);
	t->dt_open = 0;
	t->dt_idle = 0;
	t->dt_state = DEADLINE_CANCELLED;
	t->dt_cause = (uint8_t)cause;
	t->dt_cb(t, cause, t->dt_arg);
}

/*
 * The task's timer: cancel with the scope that is due, or, when nothing is
 * due yet (a scope closed, an idle scope was touched, a wake was early),
 * re-arm for the earliest deadline.  Lateness is recorded only for a fire
 * that cancels.
 */
static void
deadline_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deadline_task *t = arg;
	struct deadline_stats *st = deadline_stats_local();
	enum scope cause;
	int64_t now, due;

	(void)fd;
	(void)what;
	if (t->dt_state != DEADLINE_LIVE)
		return;
	now = deadline_now_refresh();
	t->dt_armed = DEADLINE_NEVER;
	st->ds_fires++;
	due = deadline_earliest(t, &cause);
	if (due > now) {
		st->ds_rearms++;
		if (due == DEADLINE_NEVER || deadline_arm(t, due, now) == 0)
			return;
		/*
		 * With no timer the task would never end: cancel it now, and
		 * count it as early, which the stats show as a fault.
		 */
		st->ds_early++;
	} else
		deadline_stats_record(&st->ds_late, now - due);
	st->ds_expired++;
	deadline_finish(t, cause);
}

/* Set up an unused task on base, with no scope open. */
int
deadline_task_init(struct deadline_task *t, struct event_base *base,
    deadline_cancel_cb cb, void *arg)
{
	memset(t, 0, sizeof *t);
	if (base == NULL || cb == NULL || event_assign(&t->dt_timer, base, -1,
	    0, deadline_timer_cb, t) == -1) {
		errno = EINVAL;
		return -1;
	}
	t->dt_base = base;
	t->dt_cb = cb;
	t->dt_arg = arg;
	t->dt_armed = DEADLINE_NEVER;
	t->dt_state = DEADLINE_LIVE;
	return 0;
}

/* Delete the timer and close every scope, without calling back. */
void
deadline_task_clear(struct deadline_task *t)
{
	if (t->dt_state == DEADLINE_UNUSED)
		return;
	deadline_disarm(t);
	t->dt_open = 0;
	t->dt_idle = 0;
	t->dt_state = DEADLINE_UNUSED;
}

/*
 * Record scope s as open with the given deadline (fixed) or length (idle),
 * at clock reading now, and arm the timer if this deadline is the earliest.
 */
static int
deadline_set(struct deadline_task *t, enum scope s, int64_t when_or_len,
    int64_t now)
{
	unsigned bit = 1u << s;
	int64_t due;

	if (scope_is_idle(s)) {
		t->dt_idle |= bit;
		t->dt_progress[s] = now;
		due = deadline_add(now, when_or_len);
	} else {
		t->dt_idle &= ~bit;
		due = when_or_len;
	}
	t->dt_when[s] = when_or_len;
	t->dt_open |= bit;
	if (due < t->dt_armed)
		return deadline_arm(t, due, now);
	return 0;
}

/* Open or replace scope s for us microseconds; 0 closes it. */
int
deadline_open_us(struct deadline_task *t, enum scope s, int64_t us)
{
	int64_t now;

	if ((unsigned)s >= SCOPE_COUNT || us < 0) {
		errno = EINVAL;
		return -1;
	}
	if (t->dt_state != DEADLINE_LIVE)
		return 0;
	if (us == 0) {
		deadline_close(t, s);
		return 0;
	}
	now = deadline_now_refresh();
	if (scope_is_idle(s))
		return deadline_set(t, s, us, now);
	return deadline_set(t, s, deadline_add(now, us), now);
}

/* Open or replace scope s for ms milliseconds; 0 closes it. */
int
deadline_open(struct deadline_task *t, enum scope s, uint64_t ms)
{
	if (ms > (uint64_t)DEADLINE_NEVER / 1000)
		return deadline_open_us(t, s, DEADLINE_NEVER);
	return deadline_open_us(t, s, (int64_t)ms * 1000);
}

/* Open or replace fixed scope s with an absolute deadline. */
int
deadline_open_at(struct deadline_task *t, enum scope s, int64_t when)
{
	if ((unsigned)s >= SCOPE_COUNT || scope_is_idle(s)) {
		errno = EINVAL;
		return -1;
	}
	if (t->dt_state != DEADLINE_LIVE)
		return 0;
	return deadline_set(t, s, when, deadline_now_refresh());
}

/*
 * Close scope s.  The timer stays armed at what may now be an early
 * instant; it then finds nothing due and re-arms, which is cheaper than
 * re-arming on every close for the many tasks that end first.  With no
 * scope left the timer is deleted.
 */
void
deadline_close(struct deadline_task *t, enum scope s)
{
	if ((unsigned)s >= SCOPE_COUNT || t->dt_state != DEADLINE_LIVE)
		return;
	t->dt_open &= ~(1u << s);
	t->dt_idle &= ~(1u << s);
	if (t->dt_open == 0)
		deadline_disarm(t);
}

/* Cancel a live task with the given cause, calling its callback. */
int
deadline_cancel(struct deadline_task *t, enum scope cause)
{
	if ((unsigned)cause >= SCOPE_COUNT) {
		errno = EINVAL;
		return -1;
	}
	if (t->dt_state != DEADLINE_LIVE)
		return 0;
	deadline_stats_local()->ds_cancelled++;
	deadline_finish(t, cause);
	return 1;
}

/* Milliseconds left until the deadline in force, at least 1; -1 if none. */
int64_t
deadline_left_ms(struct deadline_task *t)
{
	int64_t due, now;

	if (t->dt_state != DEADLINE_LIVE)
		return -1;
	due = deadline_earliest(t, NULL);
	if (due == DEADLINE_NEVER)
		return -1;
	now = deadline_now_refresh();
	if (due - now < 1000)
		return 1;
	return (due - now) / 1000;
}

/* The earliest open deadline, or DEADLINE_NEVER. */
int64_t
deadline_next(const struct deadline_task *t)
{
	if (t->dt_state != DEADLINE_LIVE)
		return DEADLINE_NEVER;
	return deadline_earliest(t, NULL);
}

/* Scope s's own deadline if it is open, else DEADLINE_NEVER. */
int64_t
deadline_scope_at(const struct deadline_task *t, enum scope s)
{
	if (!deadline_scope_open(t, s))
		return DEADLINE_NEVER;
	return deadline_due(t, s);
}

/* Whether scope s is open on a live task. */
int
deadline_scope_open(const struct deadline_task *t, enum scope s)
{
	if ((unsigned)s >= SCOPE_COUNT || t->dt_state != DEADLINE_LIVE)
		return 0;
	return (t->dt_open & (1u << s)) != 0;
}

/* The instant the timer is armed for, or DEADLINE_NEVER. */
int64_t
deadline_armed(const struct deadline_task *t)
{
	return t->dt_armed;
}

/* The cause of a cancelled task, else -1. */
int
deadline_cause(const struct deadline_task *t)
{
	if (t->dt_state != DEADLINE_CANCELLED)
		return -1;
	return t->dt_cause;
}
