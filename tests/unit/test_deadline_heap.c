/*
 * test_deadline_heap.c: the deadline engine's heap and its light timers.
 * Sizes; struct deadline_timer; tasks and timers armed, moved, disarmed
 * and fired at random against a model; several bases on one thread;
 * callbacks that clear, free, stop, move, cancel and arm other items due
 * in the same turn.  Every fire is checked never early, to the microsecond,
 * against the engine's clock and the test's own.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "deadline.h"
#include "deadline_stats.h"

#define MS		1000LL		/* microseconds */

/*
 * An assertion for hot loops: check's own ones write to a pipe each time
 * they pass (in fork mode), which the random test would spend its time on.
 */
#define REQUIRE(cond, ...) do {						\
	if (!(cond))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)
#define LATE_MAX	(40 * MS)	/* lateness tolerated for one item */

_Static_assert(sizeof(struct deadline_task) <= 152,
    "struct deadline_task must stay within 152 bytes (11 scopes, 4 idle)");
_Static_assert(sizeof(struct deadline_timer) <= 40,
    "struct deadline_timer must stay within 40 bytes");

static struct event_base *base;

/* The test's own reading of CLOCK_MONOTONIC, in microseconds. */
static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A base with the precise (timerfd) timer. */
static struct event_base *
base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *b;

	ck_assert_ptr_nonnull(cfg);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	ck_assert_ptr_nonnull(b);
	return b;
}

/* A fresh base, zeroed statistics, and the cached clock refreshed. */
static void
setup(void)
{
	base = base_new();
	deadline_stats_reset();
	deadline_now_refresh();
}

/* Nothing may be left armed on the base; free it. */
static void
teardown(void)
{
	ck_assert_int_eq(deadline_verify(base), 0);
	ck_assert_uint_eq(deadline_pending(base), 0);
	event_base_free(base);
	base = NULL;
}

static __thread int guard_fired;	/* per thread: test_threads */

/* The run's time limit has passed. */
static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	guard_fired = 1;
	event_base_loopbreak(arg);
}

/* Run b until *counter reaches want (NULL: never), for limit_ms at most. */
static void
run_base(struct event_base *b, const int *counter, int want, int limit_ms)
{
	struct timeval tv = { limit_ms / 1000, (limit_ms % 1000) * 1000 };
	struct event *guard = evtimer_new(b, guard_cb, b);

	ck_assert_ptr_nonnull(guard);
	guard_fired = 0;
	evtimer_add(guard, &tv);
	while ((counter == NULL || *counter < want) && !guard_fired) {
		if (event_base_loop(b, EVLOOP_ONCE) != 0)
			break;
	}
	event_free(guard);
}

/* Hold up the loop, so that later items come due together. */
static void
blocker_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	usleep((useconds_t)(intptr_t)arg);
}

/* A small deterministic generator, so that a failure can be replayed. */
static uint32_t
rnd(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 8;
}

/* Assert that an item due at due, run now, is not early. */
static void
check_not_early(int64_t due, const char *what, int i)
{
	int64_t own = mono_us();

	REQUIRE(deadline_now_cached() >= due,
	    "%s %d: %lld us early by the engine's clock", what, i,
	    (long long)(due - deadline_now_cached()));
	REQUIRE(own >= due, "%s %d: %lld us early by the test's clock",
	    what, i, (long long)(due - own));
}

/* The sizes the memory budget counts on, and the idle scopes' slots. */
START_TEST(test_sizes)
{
	int seen[SCOPE_IDLE_COUNT] = { 0 }, n = 0;

	printf("sizeof(struct deadline_task) = %zu, "
	    "sizeof(struct deadline_timer) = %zu\n",
	    sizeof(struct deadline_task), sizeof(struct deadline_timer));
	ck_assert_uint_le(sizeof(struct deadline_task), 152);
	ck_assert_uint_le(sizeof(struct deadline_timer), 40);
	for (int s = 0; s < SCOPE_COUNT; s++) {
		int i = scope_idle_index((enum scope)s);

		ck_assert_int_eq(i >= 0, scope_is_idle((enum scope)s) != 0);
		if (i < 0)
			continue;
		ck_assert_int_lt(i, SCOPE_IDLE_COUNT);
		ck_assert_int_eq(seen[i]++, 0);
		n++;
	}
	ck_assert_int_eq(n, SCOPE_IDLE_COUNT);
	ck_assert_int_eq(scope_idle_index(SCOPE_COUNT), -1);
	ck_assert_int_eq(scope_idle_index((enum scope)-1), -1);
}
END_TEST

/* A timer with a record of its calls. */
struct tmrec {
	struct deadline_timer	 tm;
	int			 calls;
	int64_t			 when;		/* what the test set */
	int64_t			 fired;		/* engine's clock at the call */
	int64_t			 when_in_cb;	/* deadline_timer_when() then */
	int			 again;		/* set again this many times */
	int64_t			 step;		/* ... this far from now */
	int			 depth;		/* callbacks running */
	int			 free_self;	/* heap-allocated: free it */
	int			*counter;	/* also count here */
};

/* The callback of a struct tmrec: record, check, and do what it asks. */
static void
tmrec_cb(struct deadline_timer *tm, void *arg)
{
	struct tmrec *r = arg;

	ck_assert_ptr_eq(tm, &r->tm);
	ck_assert_int_eq(r->depth, 0);
	r->depth++;
	check_not_early(r->when, "timer", r->calls);
	r->fired = deadline_now_cached();
	r->when_in_cb = deadline_timer_when(tm);
	r->calls++;
	if (r->counter != NULL)
		(*r->counter)++;
	if (r->again > 0) {
		r->again--;
		r->when = deadline_now_cached() + r->step;
		ck_assert_int_eq(deadline_timer_set(tm, r->when), 0);
	}
	r->depth--;
	if (r->free_self)
		free(r);
}

/* Set up a struct tmrec on b. */
static void
tmrec_init(struct tmrec *r, struct event_base *b)
{
	memset(r, 0, sizeof *r);
	deadline_timer_init(&r->tm, b, tmrec_cb, r);
	ck_assert_int_eq(deadline_timer_when(&r->tm), DEADLINE_NEVER);
}

/* Set a struct tmrec's timer for when. */
static void
tmrec_set(struct tmrec *r, int64_t when)
{
	r->when = when;
	ck_assert_int_eq(deadline_timer_set(&r->tm, when), 0);
	ck_assert_int_eq(deadline_timer_when(&r->tm), when);
}

/* Set, move later and earlier, fire once; stop; zeroed and past timers. */
START_TEST(test_timer)
{
	struct deadline_timer zero;
	struct deadline_stats st;
	struct tmrec a, b, c;
	int64_t now = deadline_now_refresh();

	memset(&zero, 0, sizeof zero);
	deadline_timer_stop(&zero);
	ck_assert_int_eq(deadline_timer_when(&zero), DEADLINE_NEVER);
	errno = 0;
	ck_assert_int_eq(deadline_timer_set(&zero, now + 10 * MS), -1);
	ck_assert_int_eq(errno, EINVAL);

	tmrec_init(&a, base);
	tmrec_set(&a, now + 30 * MS);
	ck_assert_uint_eq(deadline_pending(base), 1);
	tmrec_set(&a, now + 60 * MS);		/* later */
	tmrec_set(&a, now + 40 * MS);		/* earlier */
	ck_assert_uint_eq(deadline_pending(base), 1);

	/* Stopped and stopped again: never fires. */
	tmrec_init(&b, base);
	tmrec_set(&b, now + 20 * MS);
	deadline_timer_stop(&b.tm);
	deadline_timer_stop(&b.tm);
	ck_assert_int_eq(deadline_timer_when(&b.tm), DEADLINE_NEVER);

	/* DEADLINE_NEVER stops it too. */
	tmrec_init(&c, base);
	tmrec_set(&c, now + 25 * MS);
	ck_assert_int_eq(deadline_timer_set(&c.tm, DEADLINE_NEVER), 0);
	ck_assert_int_eq(deadline_timer_when(&c.tm), DEADLINE_NEVER);

	run_base(base, &a.calls, 1, 1000);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_le(a.fired - a.when, LATE_MAX);
	ck_assert_int_eq(a.when_in_cb, DEADLINE_NEVER);
	ck_assert_int_eq(deadline_timer_when(&a.tm), DEADLINE_NEVER);
	run_base(base, NULL, 0, 60);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(b.calls, 0);
	ck_assert_int_eq(c.calls, 0);
	ck_assert_uint_eq(deadline_pending(base), 0);

	/* An instant already past fires from the loop, not from the set. */
	tmrec_set(&a, deadline_now_refresh() - 5 * MS);
	ck_assert_int_eq(a.calls, 1);
	run_base(base, &a.calls, 2, 1000);
	ck_assert_int_eq(a.calls, 2);

	deadline_stats_get(&st);
	ck_assert_uint_eq(hist_count(&st.ds_late), 2);
	ck_assert_uint_eq(st.ds_expired, 0);
}
END_TEST

/* A minimum that moves later is not re-armed: the wake finds nothing. */
START_TEST(test_timer_lazy)
{
	struct deadline_stats st;
	struct tmrec a;
	int64_t now = deadline_now_refresh();

	tmrec_init(&a, base);
	tmrec_set(&a, now + 20 * MS);
	tmrec_set(&a, now + 60 * MS);
	ck_assert_int_eq(deadline_timer_when(&a.tm), now + 60 * MS);
	ck_assert_int_eq(deadline_verify(base), 0);
	run_base(base, &a.calls, 1, 1000);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_ge(a.fired, now + 60 * MS);	/* not at the old key */
	deadline_stats_get(&st);
	ck_assert_uint_eq(st.ds_fires, 2);
	ck_assert_uint_eq(st.ds_rearms, 1);
	ck_assert_uint_eq(hist_count(&st.ds_late), 1);
}
END_TEST

/* The callback may set its timer again, even in the past, or free it. */
START_TEST(test_timer_callback)
{
	struct tmrec periodic, past, *owned;
	int freed = 0;

	tmrec_init(&periodic, base);
	periodic.again = 4;
	periodic.step = 10 * MS;
	tmrec_set(&periodic, deadline_now_refresh() + 10 * MS);

	/* Set again in the past 200 times: it runs, without recursion. */
	tmrec_init(&past, base);
	past.again = 199;
	past.step = -1 * MS;
	tmrec_set(&past, deadline_now_cached() + 5 * MS);

	owned = malloc(sizeof *owned);
	ck_assert_ptr_nonnull(owned);
	tmrec_init(owned, base);
	owned->free_self = 1;
	owned->counter = &freed;
	tmrec_set(owned, deadline_now_cached() + 15 * MS);

	run_base(base, &periodic.calls, 5, 2000);
	run_base(base, &past.calls, 200, 2000);
	ck_assert_int_eq(periodic.calls, 5);
	ck_assert_int_eq(past.calls, 200);
	ck_assert_int_eq(freed, 1);
	run_base(base, NULL, 0, 30);
	ck_assert_int_eq(periodic.calls, 5);
	ck_assert_int_eq(past.calls, 200);
}
END_TEST

/* A task that must not be cancelled. */
static void
never_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	(void)t;
	(void)arg;
	ck_abort_msg("unexpected cancel: %s", scope_name(cause));
}

/* Opening a scope counts from the cached now, not from the clock. */
START_TEST(test_open_cached)
{
	struct deadline_task t;
	int64_t cached;

	ck_assert_int_eq(deadline_task_init(&t, base, never_cb, NULL), 0);
	cached = deadline_now_refresh();
	while (mono_us() < cached + 3 * MS)
		;
	deadline_open(&t, SCOPE_REQUEST, 50);
	deadline_open_us(&t, SCOPE_UPSTREAM_IDLE, 70 * MS);
	ck_assert_int_eq(deadline_scope_at(&t, SCOPE_REQUEST),
	    cached + 50 * MS);
	ck_assert_int_eq(deadline_scope_at(&t, SCOPE_UPSTREAM_IDLE),
	    cached + 70 * MS);
	ck_assert_int_eq(deadline_now_cached(), cached);
	ck_assert_int_eq(deadline_armed(&t), cached + 50 * MS);
	deadline_task_clear(&t);
	ck_assert_int_eq(deadline_armed(&t), DEADLINE_NEVER);
}
END_TEST

/* An item of the same-turn test: a task or a timer, and what it does. */
struct turn {
	struct deadline_task	 task;
	struct deadline_timer	 tm;
	int64_t			 due;
	int			 calls;
	enum scope		 cause;
	void			(*action)(struct turn *);
};

static struct turn *turn_items;
static int turn_calls;

/* A task of the same-turn test was cancelled. */
static void
turn_task_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	struct turn *x = arg;

	ck_assert_ptr_eq(t, &x->task);
	if (cause != SCOPE_DRAIN)
		check_not_early(x->due, "task", (int)(x - turn_items));
	x->calls++;
	x->cause = cause;
	turn_calls++;
	if (x->action != NULL)
		x->action(x);
}

/* A timer of the same-turn test fired. */
static void
turn_timer_cb(struct deadline_timer *tm, void *arg)
{
	struct turn *x = arg;

	ck_assert_ptr_eq(tm, &x->tm);
	check_not_early(x->due, "timer", (int)(x - turn_items));
	x->calls++;
	turn_calls++;
	if (x->action != NULL)
		x->action(x);
}

enum {
	T_A,		/* task: does everything below */
	T_B,		/* task, cleared by A */
	T_C,		/* task in heap memory, cleared and freed by A */
	T_TM2,		/* timer, stopped by A */
	T_TM3,		/* timer, moved 30 ms later by A */
	T_E,		/* task, cancelled by A: its callback runs nested */
	T_F,		/* task, its due scope reopened 40 ms later by A */
	T_N,		/* timer, first set by A, in the past */
	T_G,		/* task, first opened by A, in the past */
	T_TM4,		/* timer in heap memory, frees itself */
	T_H,		/* task due after A's burst, armed by A for now */
	T_COUNT
};

static struct turn *turn_c, *turn_tm4;
static int64_t turn_f_due, turn_tm3_due;

/* Free the memory of a heap-allocated timer from its own callback. */
static void
turn_free_self(struct turn *x)
{
	ck_assert_ptr_eq(x, turn_tm4);
	free(x);
	turn_tm4 = NULL;
}

/* A's callback: change every other item, most of them due this turn. */
static void
turn_a(struct turn *a)
{
	struct turn *it = turn_items;
	int64_t now = deadline_now_cached();

	(void)a;
	deadline_task_clear(&it[T_B].task);
	deadline_task_clear(&turn_c->task);
	free(turn_c);
	turn_c = NULL;
	deadline_timer_stop(&it[T_TM2].tm);
	turn_tm3_due = it[T_TM3].due = now + 30 * MS;
	ck_assert_int_eq(deadline_timer_set(&it[T_TM3].tm, it[T_TM3].due), 0);
	ck_assert_int_eq(deadline_cancel(&it[T_E].task, SCOPE_DRAIN), 1);
	ck_assert_int_eq(it[T_E].calls, 1);
	turn_f_due = it[T_F].due = now + 40 * MS;
	ck_assert_int_eq(deadline_open_at(&it[T_F].task, SCOPE_UPSTREAM_HEADER,
	    it[T_F].due), 0);
	it[T_N].due = now - 1;
	ck_assert_int_eq(deadline_timer_set(&it[T_N].tm, it[T_N].due), 0);
	ck_assert_int_eq(deadline_task_init(&it[T_G].task, base, turn_task_cb,
	    &it[T_G]), 0);
	it[T_G].due = now - 2;
	ck_assert_int_eq(deadline_open_at(&it[T_G].task, SCOPE_TRY,
	    it[T_G].due), 0);
	it[T_H].due = now;
	ck_assert_int_eq(deadline_open_at(&it[T_H].task, SCOPE_CONNECT,
	    it[T_H].due), 0);
}

/*
 * Items due 1 us apart, all due in one fire (the loop is held up), whose
 * first callback clears, frees, stops, moves, cancels and arms the rest.
 */
START_TEST(test_same_turn)
{
	struct timeval at5 = { 0, 5 * 1000 };
	struct turn it[T_COUNT];
	struct deadline_stats st;
	int64_t t0;

	memset(it, 0, sizeof it);
	turn_items = it;
	turn_calls = 0;
	turn_c = calloc(1, sizeof *turn_c);
	turn_tm4 = calloc(1, sizeof *turn_tm4);
	ck_assert_ptr_nonnull(turn_c);
	ck_assert_ptr_nonnull(turn_tm4);
	t0 = deadline_now_refresh() + 10 * MS;
	for (int i = 0; i < T_COUNT; i++) {
		struct turn *x = i == T_C ? turn_c : i == T_TM4 ? turn_tm4 :
		    &it[i];

		x->due = t0 + i;
		if (i == T_TM2 || i == T_TM3 || i == T_N || i == T_TM4) {
			deadline_timer_init(&x->tm, base, turn_timer_cb, x);
			if (i != T_N)
				ck_assert_int_eq(deadline_timer_set(&x->tm,
				    x->due), 0);
		} else if (i != T_G) {
			ck_assert_int_eq(deadline_task_init(&x->task, base,
			    turn_task_cb, x), 0);
			if (i != T_H) {
				deadline_open(&x->task, SCOPE_REQUEST, 1000);
				deadline_open_at(&x->task,
				    SCOPE_UPSTREAM_HEADER, x->due);
			} else
				deadline_open(&x->task, SCOPE_REQUEST, 1000);
		}
	}
	it[T_A].action = turn_a;
	turn_tm4->action = turn_free_self;
	ck_assert_uint_eq(deadline_pending(base), T_COUNT - 2);
	event_base_once(base, -1, EV_TIMEOUT, blocker_cb,
	    (void *)(intptr_t)40000, &at5);
	run_base(base, &turn_calls, 8, 2000);
	run_base(base, NULL, 0, 50);

	ck_assert_int_eq(it[T_A].calls, 1);
	ck_assert_int_eq(it[T_A].cause, SCOPE_UPSTREAM_HEADER);
	ck_assert_int_eq(it[T_B].calls, 0);
	ck_assert_int_eq(it[T_TM2].calls, 0);
	ck_assert_int_eq(it[T_TM3].calls, 1);
	ck_assert_int_eq(it[T_E].calls, 1);
	ck_assert_int_eq(it[T_E].cause, SCOPE_DRAIN);
	ck_assert_int_eq(it[T_F].calls, 1);
	ck_assert_int_eq(it[T_F].cause, SCOPE_UPSTREAM_HEADER);
	ck_assert_int_eq(it[T_N].calls, 1);
	ck_assert_int_eq(it[T_G].calls, 1);
	ck_assert_int_eq(it[T_G].cause, SCOPE_TRY);
	ck_assert_int_eq(it[T_H].calls, 1);
	ck_assert_int_eq(it[T_H].cause, SCOPE_CONNECT);
	ck_assert_ptr_null(turn_tm4);
	ck_assert_int_eq(turn_calls, 8);
	ck_assert_int_eq(it[T_F].due, turn_f_due);
	ck_assert_int_eq(it[T_TM3].due, turn_tm3_due);
	deadline_stats_get(&st);
	ck_assert_uint_eq(st.ds_cancelled, 1);
	ck_assert_uint_eq(st.ds_expired, 4);	/* A, F, G, H, and not E */
	ck_assert_uint_eq(deadline_pending(base), 0);
}
END_TEST

static int bases_calls;

/* Count a call of the several-bases test, and check it was due. */
static void
bases_timer_cb(struct deadline_timer *tm, void *arg)
{
	struct tmrec *r = arg;

	ck_assert_ptr_eq(tm, &r->tm);
	check_not_early(r->when, "timer", 0);
	r->calls++;
	bases_calls++;
}

/* Cancel callback of the several-bases test. */
static void
bases_task_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	int *calls = arg;

	(void)t;
	ck_assert_int_eq(cause, SCOPE_REQUEST);
	(*calls)++;
	bases_calls++;
}

/*
 * Three bases on one thread: each base's loop runs only its own items;
 * a base freed after its items are done leaves nothing behind for a new
 * base (which may get the same address).
 */
START_TEST(test_bases)
{
	struct event_base *b[3];
	struct deadline_task t[3];
	struct tmrec tm[3];
	int calls[3] = { 0, 0, 0 };
	int64_t now;

	for (int i = 0; i < 3; i++)
		b[i] = base_new();
	now = deadline_now_refresh();
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(deadline_task_init(&t[i], b[i], bases_task_cb,
		    &calls[i]), 0);
		deadline_open(&t[i], SCOPE_REQUEST, 20 + 10 * (unsigned)i);
		memset(&tm[i], 0, sizeof tm[i]);
		deadline_timer_init(&tm[i].tm, b[i], bases_timer_cb, &tm[i]);
		tm[i].when = now + (15 + 10 * i) * MS;
		ck_assert_int_eq(deadline_timer_set(&tm[i].tm, tm[i].when), 0);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(deadline_pending(b[i]), 2);
		ck_assert_int_eq(deadline_armed(&t[i]), deadline_next(&t[i]));
		ck_assert_int_eq(deadline_timer_when(&tm[i].tm), tm[i].when);
	}
	ck_assert_uint_eq(deadline_pending(base), 0);

	/* Only the base that runs fires, even long past the others' dues. */
	bases_calls = 0;
	run_base(b[2], &calls[2], 1, 1000);
	ck_assert_int_eq(tm[2].calls, 1);
	ck_assert_int_eq(calls[2], 1);
	ck_assert_int_eq(bases_calls, 2);
	ck_assert_uint_eq(deadline_pending(b[0]), 2);
	ck_assert_uint_eq(deadline_pending(b[1]), 2);
	ck_assert_uint_eq(deadline_pending(b[2]), 0);
	run_base(b[0], &calls[0], 1, 1000);
	ck_assert_int_eq(tm[0].calls, 1);
	ck_assert_uint_eq(deadline_pending(b[1]), 2);

	/* Free b[0]; a new base gets a timer of its own. */
	event_base_free(b[0]);
	b[0] = base_new();
	deadline_timer_init(&tm[0].tm, b[0], bases_timer_cb, &tm[0]);
	tm[0].when = deadline_now_refresh() + 10 * MS;
	ck_assert_int_eq(deadline_timer_set(&tm[0].tm, tm[0].when), 0);
	ck_assert_uint_eq(deadline_pending(b[0]), 1);
	run_base(b[0], &tm[0].calls, 2, 1000);
	ck_assert_int_eq(tm[0].calls, 2);

	/* b[1]'s items waited, and fire when it runs. */
	run_base(b[1], &calls[1], 1, 1000);
	run_base(b[1], &tm[1].calls, 1, 1000);
	ck_assert_int_eq(calls[1], 1);
	ck_assert_int_eq(tm[1].calls, 1);
	for (int i = 0; i < 3; i++) {
		ck_assert_uint_eq(deadline_pending(b[i]), 0);
		event_base_free(b[i]);
	}
}
END_TEST

/* A thread with a base of its own: one timer fires, then all is freed. */
static void *
thread_main(void *arg)
{
	struct event_base *b = base_new();
	struct tmrec r;

	(void)arg;
	tmrec_init(&r, b);
	tmrec_set(&r, deadline_now_refresh() + 5 * MS);
	run_base(b, &r.calls, 1, 1000);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_uint_eq(deadline_pending(b), 0);
	event_base_free(b);
	return NULL;
}

/*
 * Threads that used the engine and exit leave nothing behind: their spare
 * heaps are freed as they exit (the leak checker of a sanitizer build
 * would tell), and each thread has heaps of its own.
 */
START_TEST(test_threads)
{
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_main,
		    NULL), 0);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_uint_eq(deadline_pending(base), 0);
}
END_TEST

#define RT_TASKS	1500
#define RT_TIMERS	1500
#define RT_ROUNDS	120
#define RT_OPS		600
#define RT_SPAN		(40 * MS)	/* deadlines up to this far ahead */

/* A task of the random test and the model of its scopes. */
struct rtask {
	struct deadline_task	 task;
	int			 live;
	unsigned		 open;
	int64_t			 when[SCOPE_COUNT];	/* fixed: deadline;
							   idle: length */
	int64_t			 prog[SCOPE_COUNT];
	int			 calls;
	int			 cancelling;	/* deadline_cancel() running */
	enum scope		 want;		/* cause asked for */
};

/* A timer of the random test and its model. */
struct rtimer {
	struct deadline_timer	 tm;
	int64_t			 want;		/* NEVER: not set */
	int			 calls;
};

static struct rtask *rt_tasks;
static struct rtimer *rt_timers;
static uint32_t rt_seed;
static int rt_round;
static uint64_t rt_fired, rt_armed;

/* The model's deadline of open scope s of x. */
static int64_t
rt_due(const struct rtask *x, int s)
{
	if (scope_is_idle((enum scope)s))
		return x->prog[s] + x->when[s];
	return x->when[s];
}

/* The model's earliest deadline of x and its scope, outer on a tie. */
static int64_t
rt_earliest(const struct rtask *x, enum scope *cause)
{
	int64_t best = DEADLINE_NEVER;

	*cause = SCOPE_COUNT;
	for (int s = 0; s < SCOPE_COUNT; s++) {
		if ((x->open & (1u << s)) && rt_due(x, s) < best) {
			best = rt_due(x, s);
			*cause = (enum scope)s;
		}
	}
	return best;
}

/* A random task was cancelled: by its deadline, or by the driver. */
static void
rt_task_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	struct rtask *x = arg;
	enum scope want;
	int64_t due;
	int i = (int)(x - rt_tasks);

	REQUIRE(t == &x->task, "task %d: wrong pointer", i);
	REQUIRE(x->live, "task %d: call while not live", i);
	REQUIRE(x->calls == 0, "task %d: second call", i);
	x->calls++;
	x->live = 0;
	if (x->cancelling) {
		REQUIRE(cause == x->want, "task %d: cancel cause", i);
		return;
	}
	due = rt_earliest(x, &want);
	REQUIRE(due != DEADLINE_NEVER, "task %d: fired with nothing open",
	    i);
	REQUIRE(cause == want, "task %d: cause %s, want %s (round %d)",
	    i, scope_name(cause), scope_name(want), rt_round);
	check_not_early(due, "task", i);
	rt_fired++;
}

/* A random timer fired. */
static void
rt_timer_cb(struct deadline_timer *tm, void *arg)
{
	struct rtimer *x = arg;
	int i = (int)(x - rt_timers);

	REQUIRE(tm == &x->tm, "timer %d: wrong pointer", i);
	REQUIRE(x->want != DEADLINE_NEVER, "timer %d: fired unset", i);
	check_not_early(x->want, "timer", i);
	REQUIRE(deadline_timer_when(tm) == DEADLINE_NEVER,
	    "timer %d: set in its callback", i);
	x->want = DEADLINE_NEVER;
	x->calls++;
	rt_fired++;
}

/* One random operation on a random task. */
static void
rt_task_op(struct rtask *x, int64_t now)
{
	uint32_t r = rnd(&rt_seed);
	int s = (int)((r >> 4) % SCOPE_COUNT);
	int64_t len = (int64_t)(rnd(&rt_seed) % (uint32_t)RT_SPAN) - 2 * MS;

	if (!x->live) {
		if ((r & 3) != 0)
			return;
		REQUIRE(deadline_task_init(&x->task, base, rt_task_cb, x) == 0,
		    "init");
		x->live = 1;
		x->open = 0;
		x->calls = 0;
		x->cancelling = 0;
		return;
	}
	switch (r % 16) {
	case 0: case 1: case 2: case 3: case 4: case 5:	/* open */
		if (len < 1)
			len = 1;
		if (scope_is_idle((enum scope)s)) {
			REQUIRE(deadline_open_us(&x->task, s, len) == 0,
			    "open");
			x->prog[s] = now;
			x->when[s] = len;
		} else if (r & 16) {
			REQUIRE(deadline_open_at(&x->task, s, now + len - MS) ==
			    0, "open_at");
			x->when[s] = now + len - MS;	/* maybe past */
		} else {
			REQUIRE(deadline_open_us(&x->task, s, len) == 0,
			    "open");
			x->when[s] = now + len;
		}
		if ((x->open & (1u << s)) == 0)
			rt_armed++;
		x->open |= 1u << s;
		break;
	case 6: case 7: case 8: case 9:			/* close */
		deadline_close(&x->task, s);
		x->open &= ~(1u << s);
		break;
	case 10: case 11: case 12:			/* touch */
		deadline_touch(&x->task, s);
		if (scope_is_idle((enum scope)s))
			x->prog[s] = now;
		break;
	case 13:					/* cancel */
		x->cancelling = 1;
		x->want = (enum scope)s;
		REQUIRE(deadline_cancel(&x->task, s) == 1, "cancel");
		REQUIRE(x->calls == 1, "cancel: no call");
		x->cancelling = 0;
		break;
	case 14:					/* clear */
		deadline_task_clear(&x->task);
		x->live = 0;
		break;
	default:					/* nothing */
		break;
	}
}

/* One random operation on a random timer. */
static void
rt_timer_op(struct rtimer *x, int64_t now)
{
	uint32_t r = rnd(&rt_seed);
	int64_t when = now + (int64_t)(rnd(&rt_seed) % (uint32_t)RT_SPAN) -
	    2 * MS;

	if (r % 4 == 0) {
		deadline_timer_stop(&x->tm);
		x->want = DEADLINE_NEVER;
		return;
	}
	REQUIRE(deadline_timer_set(&x->tm, when) == 0, "timer_set");
	x->want = when;
	rt_armed++;
}

/* Check the engine against the model for every item. */
static void
rt_check(void)
{
	for (int i = 0; i < RT_TASKS; i++) {
		struct rtask *x = &rt_tasks[i];
		enum scope cause;
		int64_t next, armed;

		if (!x->live)
			continue;
		next = deadline_next(&x->task);
		armed = deadline_armed(&x->task);
		REQUIRE(next == rt_earliest(x, &cause), "task %d: next %lld",
		    i, (long long)next);
		REQUIRE(armed <= next, "task %d: armed after its next", i);
		REQUIRE((armed == DEADLINE_NEVER) == (next == DEADLINE_NEVER),
		    "task %d: armed %lld, next %lld", i, (long long)armed,
		    (long long)next);
		for (int s = 0; s < SCOPE_COUNT; s++)
			REQUIRE(deadline_scope_at(&x->task, s) ==
			    ((x->open & (1u << s)) ? rt_due(x, s) :
			    DEADLINE_NEVER), "task %d: scope %s", i,
			    scope_name(s));
	}
	for (int i = 0; i < RT_TIMERS; i++)
		REQUIRE(deadline_timer_when(&rt_timers[i].tm) ==
		    rt_timers[i].want, "timer %d: when", i);
}

/* The driver: a loop turn's worth of random operations, then a check. */
static void
rt_driver_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = deadline_now_refresh();

	(void)fd;
	(void)what;
	(void)arg;
	for (int k = 0; k < RT_OPS; k++) {
		uint32_t i = rnd(&rt_seed);

		if (i & 1)
			rt_task_op(&rt_tasks[(i >> 1) % RT_TASKS], now);
		else
			rt_timer_op(&rt_timers[(i >> 1) % RT_TIMERS], now);
	}
	rt_check();
	REQUIRE(deadline_verify(base) == 0, "heap unsound after round %d",
	    rt_round);
	rt_round++;
}

/*
 * Thousands of tasks and timers armed, moved, closed, touched, stopped,
 * cancelled and cleared at random for about a second while the loop fires
 * them; every fire is checked against the model (never early, right cause,
 * once), and at the end nothing is left armed.
 */
START_TEST(test_random)
{
	struct timeval every = { 0, 3 * 1000 };
	struct deadline_stats st;
	struct event *driver;

	rt_seed = 20240521u + (uint32_t)_i;
	rt_round = 0;
	rt_fired = rt_armed = 0;
	rt_tasks = calloc(RT_TASKS, sizeof *rt_tasks);
	rt_timers = calloc(RT_TIMERS, sizeof *rt_timers);
	ck_assert_ptr_nonnull(rt_tasks);
	ck_assert_ptr_nonnull(rt_timers);
	for (int i = 0; i < RT_TIMERS; i++) {
		deadline_timer_init(&rt_timers[i].tm, base, rt_timer_cb,
		    &rt_timers[i]);
		rt_timers[i].want = DEADLINE_NEVER;
	}
	driver = event_new(base, -1, EV_PERSIST, rt_driver_cb, NULL);
	event_add(driver, &every);
	run_base(base, &rt_round, RT_ROUNDS, 20000);
	event_free(driver);
	ck_assert_int_eq(rt_round, RT_ROUNDS);

	/* Everything left comes due within the span: let it fire. */
	for (int k = 0; k < 250 && deadline_pending(base) > 0; k++)
		run_base(base, NULL, 0, 20);
	rt_check();
	for (int i = 0; i < RT_TIMERS; i++)
		ck_assert_int_eq(rt_timers[i].want, DEADLINE_NEVER);
	for (int i = 0; i < RT_TASKS; i++) {
		enum scope cause;

		if (rt_tasks[i].live)
			ck_assert_int_eq(rt_earliest(&rt_tasks[i], &cause),
			    DEADLINE_NEVER);
	}
	ck_assert_uint_eq(deadline_pending(base), 0);
	deadline_stats_get(&st);
	ck_assert_uint_eq(st.ds_arm_errors, 0);
	ck_assert_uint_eq(hist_count(&st.ds_late), rt_fired);
	ck_assert_uint_gt(rt_fired, 1000);
	printf("random seed %u: %llu armings, %llu fires, %llu rearms\n",
	    20240521u + (unsigned)_i, (unsigned long long)rt_armed,
	    (unsigned long long)rt_fired, (unsigned long long)st.ds_rearms);
	for (int i = 0; i < RT_TASKS; i++)
		deadline_task_clear(&rt_tasks[i].task);
	free(rt_tasks);
	free(rt_timers);
}
END_TEST

/* The suite: fixtures give each test its own base. */
static Suite *
heap_suite(void)
{
	Suite *s = suite_create("deadline_heap");
	TCase *tc = tcase_create("heap");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_timer);
	tcase_add_test(tc, test_timer_lazy);
	tcase_add_test(tc, test_timer_callback);
	tcase_add_test(tc, test_open_cached);
	tcase_add_test(tc, test_same_turn);
	tcase_add_test(tc, test_bases);
	tcase_add_test(tc, test_threads);
	tcase_add_loop_test(tc, test_random, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the verdict. */
int
main(void)
{
	SRunner *sr = srunner_create(heap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
