/*
 * test_deadline.c: the deadline engine on a real event base, with short
 * real durations.  Every fire is checked against the deadline to the
 * microsecond (never early) and against a lateness tolerance that a busy
 * shared machine can meet.
 */
#include <sys/resource.h>

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "deadline.h"
#include "deadline_stats.h"
#include "lagprobe.h"

#define MS		1000LL		/* microseconds */
#define LATE_MAX	(40 * MS)	/* lateness tolerated in these tests */

static struct event_base *base;

/* A task with a record of its callbacks. */
struct rec {
	struct deadline_task	 task;
	int			 calls;
	enum scope		 cause;
	int64_t			 fired;		/* engine's clock at the call */
	int64_t			 fired_own;	/* test's clock at the call */
	int			 recancel;	/* cancel from the callback */
	int			 reopen;	/* open from the callback */
};

/* The test's own reading of CLOCK_MONOTONIC, in microseconds. */
static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A fresh base with the precise (timerfd) timer, and zeroed statistics. */
static void
setup(void)
{
	struct event_config *cfg = event_config_new();

	ck_assert_ptr_nonnull(cfg);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	ck_assert_ptr_nonnull(base);
	deadline_stats_reset();
}

/* Free the base. */
static void
teardown(void)
{
	event_base_free(base);
	base = NULL;
}

/* The callback of a struct rec: record, and try what the test asks. */
static void
rec_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	struct rec *r = arg;

	ck_assert_ptr_eq(t, &r->task);
	r->fired = deadline_now_cached();
	r->fired_own = mono_us();
	r->calls++;
	r->cause = cause;
	if (r->recancel)
		r->recancel = 10 + deadline_cancel(t, SCOPE_DRAIN);
	if (r->reopen) {
		r->reopen = 10 + deadline_open(t, SCOPE_REQUEST, 5);
		deadline_touch(t, SCOPE_UPSTREAM_IDLE);
		deadline_close(t, SCOPE_CONNECT);
	}
}

/* Set up a struct rec on the test base. */
static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof *r);
	ck_assert_int_eq(deadline_task_init(&r->task, base, rec_cb, r), 0);
}

static int guard_fired;

/* The run's time limit has passed. */
static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	guard_fired = 1;
	event_base_loopbreak(base);
}

/* Run the loop until *counter reaches want, or for limit_ms at most. */
static void
run_until(const int *counter, int want, int limit_ms)
{
	struct timeval tv = { limit_ms / 1000, (limit_ms % 1000) * 1000 };
	struct event *guard = evtimer_new(base, guard_cb, NULL);

	ck_assert_ptr_nonnull(guard);
	guard_fired = 0;
	evtimer_add(guard, &tv);
	while ((counter == NULL || *counter < want) && !guard_fired) {
		if (event_base_loop(base, EVLOOP_ONCE) != 0)
			break;
	}
	event_free(guard);
}

/* Run the loop for ms milliseconds. */
static void
run_for(int ms)
{
	run_until(NULL, 0, ms);
}

/* Assert one call with the cause, at or after due, within the tolerance. */
static void
check_fire(const struct rec *r, enum scope cause, int64_t due)
{
	ck_assert_int_eq(r->calls, 1);
	ck_assert_msg(r->cause == cause, "cause %s, want %s",
	    scope_name(r->cause), scope_name(cause));
	ck_assert_msg(r->fired >= due, "fired %lld us early",
	    (long long)(due - r->fired));
	ck_assert_int_ge(r->fired_own, due);
	ck_assert_msg(r->fired - due <= LATE_MAX, "fired %lld us late",
	    (long long)(r->fired - due));
}

/*
 * Open fixed scope s for ms, refreshing the cached clock first as a
 * callback does at its top, and check the deadline: ms from that refresh,
 * which was no later than the clock when the open ran.
 */
static int64_t
open_fixed(struct rec *r, enum scope s, uint64_t ms)
{
	int64_t before, after, due;

	before = deadline_now_refresh();
	ck_assert_int_eq(deadline_open(&r->task, s, ms), 0);
	after = mono_us();
	due = deadline_scope_at(&r->task, s);
	ck_assert_int_eq(due, before + (int64_t)ms * MS);
	ck_assert_int_le(due, after + (int64_t)ms * MS);
	return due;
}

/* An inner scope longer than the outer: the outer fires, at its time. */
START_TEST(test_inner_longer)
{
	struct rec r;
	int64_t due;

	rec_init(&r);
	due = open_fixed(&r, SCOPE_REQUEST, 100);
	open_fixed(&r, SCOPE_CONNECT, 300);
	ck_assert_int_eq(deadline_next(&r.task), due);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_REQUEST, due);
	run_for(50);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(deadline_cause(&r.task), SCOPE_REQUEST);
}
END_TEST

/* An inner scope shorter than the outer fires first, as itself. */
START_TEST(test_inner_shorter)
{
	struct rec r;
	int64_t due;

	rec_init(&r);
	open_fixed(&r, SCOPE_REQUEST, 300);
	due = open_fixed(&r, SCOPE_CONNECT, 100);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_CONNECT, due);
	run_for(50);
	ck_assert_int_eq(r.calls, 1);
}
END_TEST

/* Equal deadlines: the outer scope is the cause, whatever the order. */
START_TEST(test_tie)
{
	static const struct {
		enum scope outer, inner;
		int inner_first;
	} cases[] = {
		{ SCOPE_REQUEST, SCOPE_CONNECT, 0 },
		{ SCOPE_REQUEST, SCOPE_CONNECT, 1 },
		{ SCOPE_DRAIN, SCOPE_REQUEST, 1 },
		{ SCOPE_TRY, SCOPE_UPSTREAM_HEADER, 1 },
		{ SCOPE_REQUEST, SCOPE_UPSTREAM_IDLE, 1 },
		{ SCOPE_CLIENT_HEADER, SCOPE_CLIENT_IDLE, 0 },
		{ SCOPE_KEEPALIVE, SCOPE_CLIENT_IDLE, 1 },
	};
	enum { N = sizeof cases / sizeof cases[0] };
	struct rec r[N];
	int64_t due[N], now;
	int i, fired = 0;

	now = deadline_now_refresh();
	for (i = 0; i < N; i++) {
		enum scope first, second;

		rec_init(&r[i]);
		due[i] = now + 60 * MS + i * 10 * MS;
		first = cases[i].inner_first ? cases[i].inner : cases[i].outer;
		second = cases[i].inner_first ? cases[i].outer : cases[i].inner;
		if (scope_is_idle(first) && scope_is_idle(second)) {
			/* Same length, stamped at the same cached instant. */
			int64_t len = due[i] - deadline_now_refresh();

			deadline_open_us(&r[i].task, first, len);
			deadline_open_us(&r[i].task, second, len);
			deadline_touch(&r[i].task, first);
			deadline_touch(&r[i].task, second);
			due[i] = deadline_now_cached() + len;
		} else if (scope_is_idle(first) || scope_is_idle(second)) {
			/* The idle deadline is stamp + length; match it. */
			enum scope idle = scope_is_idle(first) ? first : second;
			enum scope fixed = idle == first ? second : first;

			deadline_open_us(&r[i].task, idle,
			    due[i] - deadline_now_refresh());
			due[i] = deadline_scope_at(&r[i].task, idle);
			deadline_open_at(&r[i].task, fixed, due[i]);
		} else {
			deadline_open_at(&r[i].task, first, due[i]);
			deadline_open_at(&r[i].task, second, due[i]);
		}
		ck_assert_int_eq(deadline_scope_at(&r[i].task, cases[i].outer),
		    due[i]);
		ck_assert_int_eq(deadline_scope_at(&r[i].task, cases[i].inner),
		    due[i]);
	}
	for (int round = 0; round < 50 && fired < N; round++) {
		run_for(20);
		for (fired = 0, i = 0; i < N; i++)
			fired += r[i].calls;
	}
	for (i = 0; i < N; i++) {
		ck_assert_msg(r[i].calls == 1, "case %d: %d calls", i,
		    r[i].calls);
		check_fire(&r[i], cases[i].outer, due[i]);
	}
}
END_TEST

static int64_t idle_last;
static int idle_touches;

/* Make progress on the idle scope, as a read callback would. */
static void
toucher_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;

	(void)fd;
	(void)what;
	ck_assert_int_eq(r->calls, 0);
	idle_last = deadline_now_refresh();
	deadline_touch(&r->task, SCOPE_UPSTREAM_IDLE);
	idle_touches++;
}

/* A touched idle scope stays alive, then fires at last touch + idle. */
START_TEST(test_idle_touched)
{
	struct timeval every = { 0, 20 * 1000 };
	struct deadline_stats st;
	struct event *toucher;
	struct rec r;
	int64_t open_at;

	rec_init(&r);
	open_fixed(&r, SCOPE_REQUEST, 2000);
	deadline_open(&r.task, SCOPE_UPSTREAM_IDLE, 60);
	open_at = deadline_now_cached();
	ck_assert_int_eq(deadline_scope_at(&r.task, SCOPE_UPSTREAM_IDLE),
	    open_at + 60 * MS);
	idle_last = open_at;
	idle_touches = 0;
	toucher = event_new(base, -1, EV_PERSIST, toucher_cb, &r);
	event_add(toucher, &every);
	run_until(&idle_touches, 10, 2000);
	event_free(toucher);
	ck_assert_int_eq(idle_touches, 10);

	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_gt(idle_last, open_at + 150 * MS);
	ck_assert_int_eq(deadline_scope_at(&r.task, SCOPE_UPSTREAM_IDLE),
	    idle_last + 60 * MS);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_UPSTREAM_IDLE, idle_last + 60 * MS);
	deadline_stats_get(&st);
	ck_assert_uint_ge(st.ds_rearms, 1);
	ck_assert_uint_eq(st.ds_expired, 1);
	ck_assert_uint_eq(hist_count(&st.ds_late), 1);
}
END_TEST

/* An idle scope that is never touched fires at open + idle. */
START_TEST(test_idle_untouched)
{
	struct rec r;
	int64_t due;

	rec_init(&r);
	open_fixed(&r, SCOPE_REQUEST, 1000);
	deadline_open(&r.task, SCOPE_CLIENT_IDLE, 50);
	due = deadline_now_cached() + 50 * MS;
	ck_assert_int_eq(deadline_scope_at(&r.task, SCOPE_CLIENT_IDLE), due);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_CLIENT_IDLE, due);
}
END_TEST

static int64_t seen_armed, seen_next;

/* Look at the task between the closed scope's instant and the next. */
static void
peek_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;

	(void)fd;
	(void)what;
	seen_armed = deadline_armed(&r->task);
	seen_next = deadline_next(&r->task);
}

/* Closing a scope leads to the timer being armed at the next deadline. */
START_TEST(test_close_rearms)
{
	struct timeval at100 = { 0, 100 * 1000 };
	struct deadline_stats st;
	struct rec r;
	int64_t req, conn;

	rec_init(&r);
	req = open_fixed(&r, SCOPE_REQUEST, 200);
	conn = open_fixed(&r, SCOPE_CONNECT, 50);
	ck_assert_int_eq(deadline_armed(&r.task), conn);
	deadline_close(&r.task, SCOPE_CONNECT);
	ck_assert(!deadline_scope_open(&r.task, SCOPE_CONNECT));
	ck_assert_int_eq(deadline_next(&r.task), req);
	ck_assert_int_le(deadline_armed(&r.task), req);
	seen_armed = seen_next = 0;
	event_base_once(base, -1, EV_TIMEOUT, peek_cb, &r, &at100);
	run_until(&r.calls, 1, 1000);
	ck_assert_int_eq(seen_armed, req);
	ck_assert_int_eq(seen_next, req);
	check_fire(&r, SCOPE_REQUEST, req);
	deadline_stats_get(&st);
	ck_assert_uint_eq(st.ds_fires, 2);
	ck_assert_uint_eq(st.ds_rearms, 1);
}
END_TEST

/* Closing the last scope deletes the timer: nothing fires. */
START_TEST(test_close_all)
{
	struct deadline_stats st;
	struct rec r;

	rec_init(&r);
	deadline_open(&r.task, SCOPE_REQUEST, 30);
	deadline_open(&r.task, SCOPE_UPSTREAM_IDLE, 20);
	deadline_close(&r.task, SCOPE_UPSTREAM_IDLE);
	deadline_close(&r.task, SCOPE_REQUEST);
	deadline_close(&r.task, SCOPE_REQUEST);
	ck_assert_int_eq(deadline_armed(&r.task), DEADLINE_NEVER);
	ck_assert_int_eq(deadline_next(&r.task), DEADLINE_NEVER);
	run_for(100);
	ck_assert_int_eq(r.calls, 0);
	deadline_stats_get(&st);
	ck_assert_uint_eq(st.ds_fires, 0);
}
END_TEST

/* Re-opening a scope replaces its deadline, later or earlier. */
START_TEST(test_reopen)
{
	struct rec a, b;
	int64_t due_a, due_b;

	rec_init(&a);
	rec_init(&b);
	open_fixed(&a, SCOPE_REQUEST, 1000);
	open_fixed(&a, SCOPE_CONNECT, 40);
	due_a = open_fixed(&a, SCOPE_CONNECT, 120);
	open_fixed(&b, SCOPE_REQUEST, 1000);
	open_fixed(&b, SCOPE_CONNECT, 300);
	due_b = open_fixed(&b, SCOPE_CONNECT, 60);
	ck_assert_int_eq(deadline_armed(&b.task), due_b);
	run_until(&b.calls, 1, 1000);
	check_fire(&b, SCOPE_CONNECT, due_b);
	run_until(&a.calls, 1, 1000);
	check_fire(&a, SCOPE_CONNECT, due_a);
}
END_TEST

/* Cancelling or using the task from inside its callback does nothing. */
START_TEST(test_cancel_in_callback)
{
	struct rec r;
	int64_t due;

	rec_init(&r);
	r.recancel = 1;
	r.reopen = 1;
	open_fixed(&r, SCOPE_REQUEST, 200);
	due = open_fixed(&r, SCOPE_CONNECT, 40);
	deadline_open(&r.task, SCOPE_UPSTREAM_IDLE, 100);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_CONNECT, due);
	ck_assert_int_eq(r.recancel, 10);	/* deadline_cancel() said 0 */
	ck_assert_int_eq(r.reopen, 10);		/* deadline_open() said 0 */
	ck_assert(!deadline_scope_open(&r.task, SCOPE_REQUEST));
	ck_assert_int_eq(deadline_armed(&r.task), DEADLINE_NEVER);
	ck_assert_int_eq(deadline_left_ms(&r.task), -1);
	run_for(250);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(deadline_cause(&r.task), SCOPE_CONNECT);
}
END_TEST

/* A heap object that holds a task and frees itself when cancelled. */
struct owner {
	char			 before[24];
	struct deadline_task	 task;
	int			*calls;
	int			 clear_first;
	char			 after[24];
};

/* Free the owner from inside its own callback. */
static void
owner_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	struct owner *o = arg;

	ck_assert_ptr_eq(t, &o->task);
	ck_assert_int_eq(cause, SCOPE_REQUEST);
	(*o->calls)++;
	if (o->clear_first)
		deadline_task_clear(t);
	free(o);
}

/* Make an owner with a request scope of ms (0: none). */
static struct owner *
owner_new(int *calls, int clear_first, uint64_t ms)
{
	struct owner *o = calloc(1, sizeof *o);

	ck_assert_ptr_nonnull(o);
	o->calls = calls;
	o->clear_first = clear_first;
	ck_assert_int_eq(deadline_task_init(&o->task, base, owner_cb, o), 0);
	deadline_open(&o->task, SCOPE_REQUEST, ms);
	deadline_open(&o->task, SCOPE_UPSTREAM_IDLE, ms + 50);
	return o;
}

/* The callback may free the task's memory, from the timer or a cancel. */
START_TEST(test_free_in_callback)
{
	struct owner *o;
	int calls = 0;

	owner_new(&calls, 0, 30);
	owner_new(&calls, 1, 30);
	owner_new(&calls, 0, 40);
	o = owner_new(&calls, 0, 60);
	ck_assert_int_eq(deadline_cancel(&o->task, SCOPE_REQUEST), 1);
	ck_assert_int_eq(calls, 1);
	o = owner_new(&calls, 1, 60);
	ck_assert_int_eq(deadline_cancel(&o->task, SCOPE_REQUEST), 1);
	ck_assert_int_eq(calls, 2);
	run_until(&calls, 5, 1000);
	ck_assert_int_eq(calls, 5);
	run_for(150);
	ck_assert_int_eq(calls, 5);
}
END_TEST

/* Hold up the loop, so that later timers come due together. */
static void
blocker_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	usleep((useconds_t)(intptr_t)arg);
}

/* Two scopes due in one loop turn: one call, the earliest deadline's. */
START_TEST(test_two_in_one_turn)
{
	struct timeval at10 = { 0, 10 * 1000 };
	struct deadline_stats st;
	struct rec r;
	int64_t due;

	rec_init(&r);
	open_fixed(&r, SCOPE_REQUEST, 60);
	due = open_fixed(&r, SCOPE_CONNECT, 40);
	deadline_open(&r.task, SCOPE_UPSTREAM_IDLE, 50);
	event_base_once(base, -1, EV_TIMEOUT, blocker_cb,
	    (void *)(intptr_t)120000, &at10);
	run_until(&r.calls, 1, 1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.cause, SCOPE_CONNECT);
	ck_assert_int_ge(r.fired, due + 60 * MS);	/* all three were due */
	run_for(50);
	ck_assert_int_eq(r.calls, 1);
	deadline_stats_get(&st);
	ck_assert_uint_eq(hist_count(&st.ds_late), 1);
	ck_assert_uint_eq(st.ds_expired, 1);
}
END_TEST

static int outside_ret;

/* Cancel the task from another callback of the same loop turn. */
static void
canceller_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;

	(void)fd;
	(void)what;
	outside_ret = deadline_cancel(&r->task, SCOPE_DRAIN);
}

/*
 * A cancel in the turn the timer came due still gives one call.  Which
 * runs first, libevent's timer or the engine's timerfd, is libevent's
 * order of a turn's events: either way one call, with the cause of the
 * one that came first.
 */
START_TEST(test_cancel_same_turn)
{
	struct timeval at10 = { 0, 10 * 1000 }, at20 = { 0, 20 * 1000 };
	struct deadline_stats st;
	struct rec r;

	rec_init(&r);
	open_fixed(&r, SCOPE_CONNECT, 40);
	event_base_once(base, -1, EV_TIMEOUT, blocker_cb,
	    (void *)(intptr_t)100000, &at10);
	outside_ret = -2;
	event_base_once(base, -1, EV_TIMEOUT, canceller_cb, &r, &at20);
	run_until(&r.calls, 1, 1000);
	run_for(100);
	ck_assert_int_eq(r.calls, 1);
	deadline_stats_get(&st);
	if (outside_ret == 1) {
		ck_assert_int_eq(r.cause, SCOPE_DRAIN);
		ck_assert_uint_eq(st.ds_cancelled, 1);
		ck_assert_uint_eq(st.ds_expired, 0);
		ck_assert_uint_eq(st.ds_fires, 0);
	} else {
		ck_assert_int_eq(outside_ret, 0);
		ck_assert_int_eq(r.cause, SCOPE_CONNECT);
		ck_assert_uint_eq(st.ds_cancelled, 0);
		ck_assert_uint_eq(st.ds_expired, 1);
	}
}
END_TEST

/* deadline_cancel() from outside: one call, that cause, then inert. */
START_TEST(test_cancel_outside)
{
	struct deadline_stats st;
	struct rec r;

	rec_init(&r);
	deadline_open(&r.task, SCOPE_REQUEST, 100);
	deadline_open(&r.task, SCOPE_UPSTREAM_IDLE, 50);
	ck_assert_int_eq(deadline_cause(&r.task), -1);
	ck_assert_int_eq(deadline_cancel(&r.task, SCOPE_COUNT), -1);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(deadline_cancel(&r.task, SCOPE_DRAIN), 1);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.cause, SCOPE_DRAIN);
	ck_assert_int_eq(deadline_cause(&r.task), SCOPE_DRAIN);
	ck_assert_int_eq(deadline_armed(&r.task), DEADLINE_NEVER);
	ck_assert_int_eq(deadline_cancel(&r.task, SCOPE_REQUEST), 0);

	/* Touch, open and close after the cancel are harmless no-ops. */
	deadline_now_refresh();
	deadline_touch(&r.task, SCOPE_UPSTREAM_IDLE);
	deadline_touch(&r.task, SCOPE_REQUEST);
	ck_assert_int_eq(deadline_open(&r.task, SCOPE_CONNECT, 10), 0);
	ck_assert_int_eq(deadline_open_at(&r.task, SCOPE_TRY, 0), 0);
	deadline_close(&r.task, SCOPE_REQUEST);
	ck_assert(!deadline_scope_open(&r.task, SCOPE_CONNECT));
	ck_assert_int_eq(deadline_next(&r.task), DEADLINE_NEVER);
	ck_assert_int_eq(deadline_armed(&r.task), DEADLINE_NEVER);
	run_for(150);
	ck_assert_int_eq(r.calls, 1);
	deadline_stats_get(&st);
	ck_assert_uint_eq(st.ds_cancelled, 1);
	ck_assert_uint_eq(st.ds_fires, 0);
	deadline_task_clear(&r.task);
	deadline_task_clear(&r.task);
}
END_TEST

/* Clearing is idempotent, never calls back, and allows a fresh init. */
START_TEST(test_clear)
{
	struct deadline_task zero;
	struct rec r;
	int64_t due;

	memset(&zero, 0, sizeof zero);
	deadline_task_clear(&zero);
	ck_assert_int_eq(deadline_open(&zero, SCOPE_REQUEST, 10), 0);
	ck_assert_int_eq(deadline_cancel(&zero, SCOPE_REQUEST), 0);
	ck_assert_int_eq(deadline_next(&zero), DEADLINE_NEVER);

	rec_init(&r);
	deadline_open(&r.task, SCOPE_REQUEST, 30);
	deadline_task_clear(&r.task);
	deadline_task_clear(&r.task);
	ck_assert_int_eq(deadline_cancel(&r.task, SCOPE_DRAIN), 0);
	run_for(80);
	ck_assert_int_eq(r.calls, 0);

	ck_assert_int_eq(deadline_task_init(&r.task, base, rec_cb, &r), 0);
	due = open_fixed(&r, SCOPE_REQUEST, 30);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_REQUEST, due);
}
END_TEST

/* Duration 0 is off: the scope is not open and sets no timer. */
START_TEST(test_off)
{
	struct rec r;
	int64_t due;

	rec_init(&r);
	ck_assert_int_eq(deadline_open(&r.task, SCOPE_TRY, 0), 0);
	ck_assert_int_eq(deadline_open_us(&r.task, SCOPE_CLIENT_IDLE, 0), 0);
	ck_assert(!deadline_scope_open(&r.task, SCOPE_TRY));
	ck_assert(!deadline_scope_open(&r.task, SCOPE_CLIENT_IDLE));
	ck_assert_int_eq(deadline_armed(&r.task), DEADLINE_NEVER);
	ck_assert_int_eq(deadline_left_ms(&r.task), -1);
	run_for(60);
	ck_assert_int_eq(r.calls, 0);

	/* Turning a scope off closes it: the outer one fires. */
	due = open_fixed(&r, SCOPE_REQUEST, 80);
	open_fixed(&r, SCOPE_TRY, 30);
	deadline_open(&r.task, SCOPE_TRY, 0);
	ck_assert(!deadline_scope_open(&r.task, SCOPE_TRY));
	ck_assert(deadline_scope_open(&r.task, SCOPE_REQUEST));
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_REQUEST, due);
}
END_TEST

/* Huge durations saturate instead of overflowing. */
START_TEST(test_huge)
{
	struct rec r, never;
	int64_t before, after, at, due;

	rec_init(&r);
	before = deadline_now_refresh();
	ck_assert_int_eq(deadline_open(&r.task, SCOPE_REQUEST, UINT32_MAX), 0);
	after = mono_us();
	at = deadline_scope_at(&r.task, SCOPE_REQUEST);
	ck_assert_int_eq(at, before + (int64_t)UINT32_MAX * MS);
	ck_assert_int_le(at, after + (int64_t)UINT32_MAX * MS);
	ck_assert_int_gt(deadline_armed(&r.task), after);
	ck_assert_int_le(deadline_armed(&r.task), at);
	ck_assert_int_ge(deadline_left_ms(&r.task), (int64_t)UINT32_MAX - 1000);
	ck_assert_int_le(deadline_left_ms(&r.task), (int64_t)UINT32_MAX);

	ck_assert_int_eq(deadline_open_us(&r.task, SCOPE_DRAIN, INT64_MAX), 0);
	ck_assert_int_eq(deadline_scope_at(&r.task, SCOPE_DRAIN),
	    DEADLINE_NEVER);
	ck_assert_int_eq(deadline_open(&r.task, SCOPE_TRY, UINT64_MAX), 0);
	ck_assert_int_eq(deadline_scope_at(&r.task, SCOPE_TRY),
	    DEADLINE_NEVER);
	ck_assert_int_eq(deadline_open_us(&r.task, SCOPE_UPSTREAM_IDLE,
	    INT64_MAX), 0);
	deadline_now_refresh();
	deadline_touch(&r.task, SCOPE_UPSTREAM_IDLE);
	ck_assert_int_eq(deadline_scope_at(&r.task, SCOPE_UPSTREAM_IDLE),
	    DEADLINE_NEVER);
	ck_assert_int_eq(deadline_open_at(&r.task, SCOPE_UPSTREAM_HEADER,
	    DEADLINE_NEVER), 0);
	ck_assert_int_eq(deadline_next(&r.task), at);
	ck_assert_int_eq(deadline_open_us(&r.task, SCOPE_CONNECT, -1), -1);
	ck_assert_int_eq(deadline_open_at(&r.task, SCOPE_CLIENT_IDLE, 0), -1);

	/* Only never-ending scopes: no deadline in force, no timer. */
	rec_init(&never);
	deadline_open_us(&never.task, SCOPE_REQUEST, INT64_MAX);
	deadline_open(&never.task, SCOPE_KEEPALIVE, UINT64_MAX);
	ck_assert(deadline_scope_open(&never.task, SCOPE_REQUEST));
	ck_assert_int_eq(deadline_left_ms(&never.task), -1);
	ck_assert_int_eq(deadline_armed(&never.task), DEADLINE_NEVER);

	/* A short inner scope still fires, as itself. */
	due = open_fixed(&r, SCOPE_CONNECT, 50);
	run_until(&r.calls, 1, 1000);
	check_fire(&r, SCOPE_CONNECT, due);
	ck_assert_int_eq(never.calls, 0);
	deadline_task_clear(&never.task);
}
END_TEST

/* left_ms counts down, is held by the outer scope, and floors at 1. */
START_TEST(test_left_ms)
{
	struct rec r;
	int64_t l1, l2;

	rec_init(&r);
	ck_assert_int_eq(deadline_left_ms(&r.task), -1);
	deadline_now_refresh();
	deadline_open(&r.task, SCOPE_REQUEST, 300);
	deadline_open(&r.task, SCOPE_CONNECT, 5000);
	l1 = deadline_left_ms(&r.task);
	ck_assert_int_le(l1, 299);
	ck_assert_int_ge(l1, 200);
	usleep(50 * 1000);
	l2 = deadline_left_ms(&r.task);
	ck_assert_int_le(l2, l1 - 50);
	ck_assert_int_ge(l2, 1);

	deadline_open(&r.task, SCOPE_UPSTREAM_HEADER, 100);
	ck_assert_int_le(deadline_left_ms(&r.task), 99);
	ck_assert_int_ge(deadline_left_ms(&r.task), 50);
	deadline_close(&r.task, SCOPE_UPSTREAM_HEADER);
	ck_assert_int_le(deadline_left_ms(&r.task), l2);

	deadline_open_us(&r.task, SCOPE_TRY, 500);
	usleep(2000);
	ck_assert_int_eq(deadline_left_ms(&r.task), 1);
	deadline_task_clear(&r.task);
	ck_assert_int_eq(deadline_left_ms(&r.task), -1);
}
END_TEST

/* A deadline already past fires from the loop, not from the open. */
START_TEST(test_past)
{
	struct rec r;
	int64_t due;

	rec_init(&r);
	due = deadline_now_refresh() - 5 * MS;
	ck_assert_int_eq(deadline_open_at(&r.task, SCOPE_REQUEST, due), 0);
	ck_assert_int_eq(r.calls, 0);
	run_until(&r.calls, 1, 1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.cause, SCOPE_REQUEST);
	ck_assert_int_ge(r.fired, due);
}
END_TEST

/* A small deterministic generator, so that a failure can be replayed. */
static uint32_t
rnd(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

#define MANY	10000

/* One of many tasks: what it expects and what it got. */
struct many {
	struct deadline_task	 task;
	int64_t			 due;
	enum scope		 want;
	int			 calls;
	enum scope		 cause;
	int64_t			 fired;
};

static int many_calls;

/* Record a fire of one of the many tasks. */
static void
many_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	struct many *m = arg;

	(void)t;
	m->calls++;
	m->cause = cause;
	m->fired = deadline_now_cached();
	many_calls++;
}

/* 10,000 tasks with random scopes and ties: each fires once, right. */
START_TEST(test_many)
{
	static const enum scope pick[] = {
		SCOPE_DRAIN, SCOPE_CLIENT_HEADER, SCOPE_REQUEST, SCOPE_TRY,
		SCOPE_CONNECT, SCOPE_UPSTREAM_HEADER, SCOPE_UPSTREAM_IDLE,
		SCOPE_CLIENT_IDLE,
	};
	struct deadline_stats st;
	struct many *m;
	uint32_t seed = 12345;
	uint64_t total = 0;
	int64_t start, worst = 0;

	m = calloc(MANY, sizeof *m);
	ck_assert_ptr_nonnull(m);
	many_calls = 0;
	start = deadline_now_refresh() + 100 * MS;
	for (int i = 0; i < MANY; i++) {
		int k = 2 + (int)(rnd(&seed) % 3);

		ck_assert_int_eq(deadline_task_init(&m[i].task, base, many_cb,
		    &m[i]), 0);
		m[i].due = DEADLINE_NEVER;
		for (int j = 0; j < k; j++) {
			enum scope s = pick[rnd(&seed) % 8];
			/* Four instants per task, 10 ms apart: many ties. */
			int64_t when = start + (i % 100) * MS +
			    (int64_t)(rnd(&seed) % 4) * 10 * MS;

			if (scope_is_idle(s)) {
				deadline_open_us(&m[i].task, s,
				    when - deadline_now_refresh());
				when = deadline_scope_at(&m[i].task, s);
			} else
				deadline_open_at(&m[i].task, s, when);
		}
		/* The expected cause: earliest deadline, outer on a tie. */
		for (int s = 0; s < SCOPE_COUNT; s++) {
			int64_t at = deadline_scope_at(&m[i].task, s);

			if (at < m[i].due) {
				m[i].due = at;
				m[i].want = (enum scope)s;
			}
		}
	}
	run_until(&many_calls, MANY, 5000);
	run_for(20);
	for (int i = 0; i < MANY; i++) {
		ck_assert_msg(m[i].calls == 1, "task %d: %d calls", i,
		    m[i].calls);
		ck_assert_msg(m[i].cause == m[i].want, "task %d: %s, want %s",
		    i, scope_name(m[i].cause), scope_name(m[i].want));
		ck_assert_msg(m[i].fired >= m[i].due, "task %d early", i);
		if (m[i].fired - m[i].due > worst)
			worst = m[i].fired - m[i].due;
	}
	/* 10,000 callbacks in one burst: a looser bound than one task's. */
	ck_assert_msg(worst <= 100 * MS, "worst lateness %lld us",
	    (long long)worst);
	deadline_stats_get(&st);
	ck_assert_uint_eq(hist_count(&st.ds_late), MANY);
	ck_assert_uint_eq(st.ds_expired, MANY);
	for (int i = 0; i < HIST_BUCKETS_MAX; i++)
		total += st.ds_late.h_bucket[i];
	ck_assert_uint_eq(total, MANY);
	ck_assert_uint_ge(st.ds_late_max_us, (uint64_t)worst);
	free(m);
}
END_TEST

/* The probe sees a blocked loop as lag. */
START_TEST(test_probe)
{
	struct timeval at30 = { 0, 30 * 1000 };
	struct lagprobe *p;
	struct deadline_stats st;

	ck_assert_ptr_null(lagprobe_start(base, 0));
	p = lagprobe_start(base, 20);
	ck_assert_ptr_nonnull(p);
	event_base_once(base, -1, EV_TIMEOUT, blocker_cb,
	    (void *)(intptr_t)80000, &at30);
	run_for(250);
	lagprobe_stop(p);
	deadline_stats_get(&st);
	ck_assert_uint_ge(hist_count(&st.ds_lag), 4);
	ck_assert_uint_ge(st.ds_lag_max_us, 30 * MS);
	ck_assert_uint_lt(st.ds_lag_max_us, 1000 * MS);
	ck_assert_uint_le(st.ds_lag_last_us, st.ds_lag_max_us);
	/* The probe is quiet: not a deadline fire, no lateness sample. */
	ck_assert_uint_eq(st.ds_fires, 0);
	ck_assert_uint_eq(hist_count(&st.ds_late), 0);
}
END_TEST

/* A thread whose first deadline finds no descriptor for a timerfd. */
struct fallback {
	struct event_base	*base;
	struct deadline_task	 task;
	int			 calls, cause, limited;
	int64_t			 due, fired;
	uint64_t		 arm_errors;
};

static void
fallback_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	struct fallback *f = arg;

	(void)t;
	f->calls++;
	f->cause = cause;
	f->fired = mono_us();
}

static void *
fallback_thread(void *arg)
{
	struct fallback *f = arg;
	struct rlimit old, low;
	int fd;

	/* The lowest free descriptor becomes the limit: none is left. */
	if ((fd = dup(0)) == -1 || getrlimit(RLIMIT_NOFILE, &old) != 0)
		return NULL;
	close(fd);
	low = old;
	low.rlim_cur = (rlim_t)fd;
	if (setrlimit(RLIMIT_NOFILE, &low) != 0)
		return NULL;
	f->limited = dup(0) == -1 && errno == EMFILE;
	deadline_task_init(&f->task, f->base, fallback_cb, f);
	deadline_now_refresh();
	deadline_open(&f->task, SCOPE_CONNECT, 30);
	f->due = deadline_scope_at(&f->task, SCOPE_CONNECT);
	(void)setrlimit(RLIMIT_NOFILE, &old);
	event_base_dispatch(f->base);	/* ends when the heap empties */
	f->arm_errors = deadline_stats_local()->ds_arm_errors;
	return NULL;
}

/* Without a timerfd the heap falls back to libevent's timer: still fires. */
START_TEST(test_no_timerfd)
{
	struct fallback f;
	pthread_t th;

	memset(&f, 0, sizeof f);
	f.base = base;
	ck_assert_int_eq(pthread_create(&th, NULL, fallback_thread, &f), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.limited, 1);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.cause, SCOPE_CONNECT);
	ck_assert_int_ge(f.fired, f.due);		/* never early */
	ck_assert_int_lt(f.fired, f.due + 1000 * MS);
	ck_assert_uint_eq(f.arm_errors, 0);
}
END_TEST

/*
 * The timerfd is set early by the wake-up latency it learns, and the rest
 * is waited out: a chain of tasks and timers, each set from the last one's
 * callback, never fires early, and the lead stays within its bound.
 */
#define CHAIN	200

struct chain {
	struct deadline_timer	 tm;
	struct deadline_task	 task;
	int			 n, early;
	int64_t			 due, worst, lead_max;
};

static void	chain_next(struct chain *);

static void
chain_fired(struct chain *c)
{
	int64_t now = mono_us(), lead;

	if (now < c->due)
		c->early++;
	if (now - c->due > c->worst)
		c->worst = now - c->due;
	if ((lead = deadline_lead(base)) > c->lead_max)
		c->lead_max = lead;
	if (++c->n < CHAIN)
		chain_next(c);
}

static void
chain_timer_cb(struct deadline_timer *tm, void *arg)
{
	(void)tm;
	chain_fired(arg);
}

static void
chain_task_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	(void)t;
	ck_assert_int_eq(cause, SCOPE_CONNECT);
	chain_fired(arg);
}

/* Even links are task deadlines, odd ones timers, 300 µs apart. */
static void
chain_next(struct chain *c)
{
	deadline_now_refresh();
	if (c->n % 2 == 0) {
		deadline_task_init(&c->task, base, chain_task_cb, c);
		deadline_open_us(&c->task, SCOPE_CONNECT, 300);
		c->due = deadline_scope_at(&c->task, SCOPE_CONNECT);
	} else {
		c->due = deadline_now_cached() + 300;
		deadline_timer_set(&c->tm, c->due);
	}
}

START_TEST(test_lead)
{
	struct chain c;

	memset(&c, 0, sizeof c);
	deadline_timer_init(&c.tm, base, chain_timer_cb, &c);
	chain_next(&c);
	event_base_dispatch(base);
	ck_assert_int_eq(c.n, CHAIN);
	ck_assert_int_eq(c.early, 0);
	ck_assert_int_ge(c.lead_max, 0);
	ck_assert_int_le(c.lead_max, 100);
	ck_assert_int_le(c.worst, LATE_MAX);
	ck_assert_uint_eq(deadline_pending(base), 0);
}
END_TEST

/* Histogram buckets and merging of two threads' statistics. */
START_TEST(test_stats)
{
	static const int64_t samples[] = { -5, 0, 10, 11, 1000, 1001, 250000,
	    250001, INT64_MAX / 2 };
	struct deadline_stats a, b;

	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
		deadline_stats_late(&a, samples[i]);
	ck_assert_uint_eq(a.ds_late.h_bucket[0], 3);	/* <= 10 */
	ck_assert_uint_eq(a.ds_late.h_bucket[1], 1);	/* <= 25 */
	ck_assert_uint_eq(a.ds_late.h_bucket[6], 1);	/* <= 1 ms */
	ck_assert_uint_eq(a.ds_late.h_bucket[7], 1);	/* <= 2.5 ms */
	ck_assert_uint_eq(a.ds_late.h_bucket[13], 1);	/* <= 250 ms */
	ck_assert_uint_eq(a.ds_late.h_bucket[14], 2);	/* +Inf */
	ck_assert_uint_eq(hist_count(&a.ds_late), 9);
	ck_assert_uint_eq(a.ds_late_max_us, INT64_MAX / 2);
	ck_assert_uint_eq(deadline_stats_bounds.hb_n, 14);
	ck_assert_uint_eq(deadline_stats_bounds.hb_us[0], 10);
	ck_assert_uint_eq(deadline_stats_bounds.hb_us[13], 250000);
	for (unsigned i = 1; i < deadline_stats_bounds.hb_n; i++)
		ck_assert_uint_gt(deadline_stats_bounds.hb_us[i],
		    deadline_stats_bounds.hb_us[i - 1]);

	deadline_stats_late(&b, 7);
	deadline_stats_lag(&b, 300);
	ck_assert_uint_eq(b.ds_lag_last_us, 300);
	ck_assert_uint_eq(b.ds_lag_max_us, 300);
	b.ds_expired = 2;
	deadline_stats_add(&b, &a);
	ck_assert_uint_eq(hist_count(&b.ds_late), 10);
	ck_assert_uint_eq(b.ds_late.h_bucket[0], 4);
	ck_assert_uint_eq(b.ds_late_max_us, INT64_MAX / 2);
	ck_assert_uint_eq(hist_count(&b.ds_lag), 1);
	ck_assert_uint_eq(b.ds_lag_last_us, 300);
	ck_assert_uint_eq(b.ds_expired, 2);
	ck_assert_ptr_eq(deadline_stats_local(), deadline_stats_local());
}
END_TEST

/* The suite: fixtures give each test its own base. */
static Suite *
deadline_suite(void)
{
	Suite *s = suite_create("deadline");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_inner_longer);
	tcase_add_test(tc, test_inner_shorter);
	tcase_add_test(tc, test_tie);
	tcase_add_test(tc, test_idle_touched);
	tcase_add_test(tc, test_idle_untouched);
	tcase_add_test(tc, test_close_rearms);
	tcase_add_test(tc, test_close_all);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_cancel_in_callback);
	tcase_add_test(tc, test_free_in_callback);
	tcase_add_test(tc, test_two_in_one_turn);
	tcase_add_test(tc, test_cancel_same_turn);
	tcase_add_test(tc, test_cancel_outside);
	tcase_add_test(tc, test_clear);
	tcase_add_test(tc, test_off);
	tcase_add_test(tc, test_huge);
	tcase_add_test(tc, test_left_ms);
	tcase_add_test(tc, test_past);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_probe);
	tcase_add_test(tc, test_no_timerfd);
	tcase_add_test(tc, test_lead);
	tcase_add_test(tc, test_stats);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the verdict. */
int
main(void)
{
	SRunner *sr = srunner_create(deadline_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
