/*
 * bench_deadline.c: the cost of the deadline engine's operations, and how
 * late its timers fire.
 *
 * Part 1: 100,000 tasks, each with 3 or 4 open scopes (request, try,
 * connect or upstream_header, and upstream_idle for three in four), touched
 * many times, then closed.  Reports ns per open, touch and close, and per
 * operation of a whole request's life.  Then 100,000 light timers
 * (struct deadline_timer): ns per first set, per move (set again, later or
 * earlier) and per stop, and per set-and-stop of a keep-alive wait on a
 * busy heap.  The work runs inside a loop callback, as it does in the
 * proxy, which refreshes the cached clock at its top.
 *
 * Part 2: 10,000 tasks whose deadlines are spread evenly over 1 s on an
 * otherwise idle loop.  Reports the lateness (fired instant minus
 * deadline) p50, p99 and max from the exact samples, and the early count;
 * then the same for 10,000 light timers.  Part 3 sleeps on the same
 * deadlines with a bare timerfd: the floor that the kernel and the machine
 * set, for comparison.
 *
 * Usage: bench_deadline [rounds]   (part 1 is repeated, the median kept)
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/timerfd.h>

#include <event2/event.h>

#include "deadline.h"
#include "deadline_stats.h"
#include "lagprobe.h"

#define NTASKS		100000
#define NTOUCH		50		/* touches per task and round */
#define NLATE		10000
#define SPREAD_US	1000000		/* part 2: over one second */
#define LEAD_US		200000		/* part 2: first deadline after */

struct round {
	double		 open_ns;
	double		 touch_ns;
	double		 close_ns;
	double		 life_ns;
	double		 tset_ns;	/* light timers: first set */
	double		 tmove_ns;	/* set again */
	double		 tstop_ns;	/* stop */
	double		 tka_ns;	/* set and stop among many set */
};

static struct deadline_task *tasks;
static struct deadline_timer *timers;
static struct round *rounds;
static int nrounds;

/* Nanoseconds of CLOCK_MONOTONIC. */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A base with the precise (timerfd) timer, or exit. */
static struct event_base *
base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		abort();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL) {
		fprintf(stderr, "bench_deadline: event_base_new failed\n");
		exit(1);
	}
	return base;
}

/* Part 1 never lets a deadline expire. */
static void
never_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	(void)t;
	(void)arg;
	fprintf(stderr, "bench_deadline: unexpected cancel (%s)\n",
	    scope_name(cause));
	exit(1);
}

/* The third scope of task i: connect for half, upstream_header for half. */
static enum scope
third(int i)
{
	return (i & 1) ? SCOPE_CONNECT : SCOPE_UPSTREAM_HEADER;
}

/* Whether task i has an upstream_idle scope (three in four). */
static int
has_idle(int i)
{
	return (i & 3) != 3;
}

/* One round of part 1, timed phase by phase. */
static void
ops_round(struct round *r)
{
	int64_t t0, t1;
	long nopen = 0, nclose = 0, nlife = 0;
	int i, k;

	/* Open, from the cached clock refreshed at the top of the callback. */
	deadline_now_refresh();
	t0 = now_ns();
	for (i = 0; i < NTASKS; i++) {
		deadline_open(&tasks[i], SCOPE_REQUEST, 60000);
		deadline_open(&tasks[i], SCOPE_TRY, 45000);
		deadline_open(&tasks[i], third(i), 2000 + (i & 1) * 28000);
		nopen += 3;
		if (has_idle(i)) {
			deadline_open(&tasks[i], SCOPE_UPSTREAM_IDLE, 30000);
			nopen++;
		}
	}
	t1 = now_ns();
	r->open_ns = (double)(t1 - t0) / nopen;

	/* Touch: each pass stands for a loop turn, refreshing the clock. */
	t0 = now_ns();
	for (k = 0; k < NTOUCH; k++) {
		deadline_now_refresh();
		for (i = 0; i < NTASKS; i++)
			deadline_touch(&tasks[i], SCOPE_UPSTREAM_IDLE);
		__asm__ volatile("" ::: "memory");
	}
	t1 = now_ns();
	r->touch_ns = (double)(t1 - t0) / ((double)NTOUCH * NTASKS);

	/* Close, innermost first; the last close deletes the timer. */
	t0 = now_ns();
	for (i = 0; i < NTASKS; i++) {
		if (has_idle(i)) {
			deadline_close(&tasks[i], SCOPE_UPSTREAM_IDLE);
			nclose++;
		}
		deadline_close(&tasks[i], third(i));
		deadline_close(&tasks[i], SCOPE_TRY);
		deadline_close(&tasks[i], SCOPE_REQUEST);
		nclose += 3;
	}
	t1 = now_ns();
	r->close_ns = (double)(t1 - t0) / nclose;

	/*
	 * A request's life: request, try, connect; connected; upstream_header
	 * and upstream_idle; the head arrives; the body streams with touches;
	 * done.  Twenty operations per request.
	 */
	t0 = now_ns();
	for (i = 0; i < NTASKS; i++) {
		struct deadline_task *t = &tasks[i];

		deadline_open(t, SCOPE_REQUEST, 60000);
		deadline_open(t, SCOPE_TRY, 45000);
		deadline_open(t, SCOPE_CONNECT, 2000);
		deadline_close(t, SCOPE_CONNECT);
		deadline_open(t, SCOPE_UPSTREAM_HEADER, 30000);
		deadline_open(t, SCOPE_UPSTREAM_IDLE, 30000);
		deadline_close(t, SCOPE_UPSTREAM_HEADER);
		deadline_close(t, SCOPE_TRY);
		for (k = 0; k < 10; k++)
			deadline_touch(t, SCOPE_UPSTREAM_IDLE);
		nlife += 18;
	}
	for (i = 0; i < NTASKS; i++) {
		deadline_close(&tasks[i], SCOPE_UPSTREAM_IDLE);
		deadline_close(&tasks[i], SCOPE_REQUEST);
		nlife += 2;
	}
	t1 = now_ns();
	r->life_ns = (double)(t1 - t0) / nlife;
}

/* Part 1 never lets a timer fire. */
static void
never_timer_cb(struct deadline_timer *tm, void *arg)
{
	(void)tm;
	(void)arg;
	fprintf(stderr, "bench_deadline: unexpected timer fire\n");
	exit(1);
}

/*
 * One round of the light timers: set each (spread over a minute, as
 * keep-alive waits are), move each (the odd ones later, the even ones
 * earlier), stop each; then, with half of them set, set and stop the other
 * half one at a time, as a connection going idle and waking does.
 */
static void
timers_round(struct round *r)
{
	int64_t t0, t1, now = deadline_now_refresh();
	int i;

	t0 = now_ns();
	for (i = 0; i < NTASKS; i++)
		deadline_timer_set(&timers[i], now + 60000000 +
		    (int64_t)(i * 7919 % NTASKS) * 10);
	t1 = now_ns();
	r->tset_ns = (double)(t1 - t0) / NTASKS;

	t0 = now_ns();
	for (i = 0; i < NTASKS; i++)
		deadline_timer_set(&timers[i], now + 60000000 +
		    (int64_t)(i * 7919 % NTASKS) * 10 +
		    ((i & 1) ? 5000000 : -5000000));
	t1 = now_ns();
	r->tmove_ns = (double)(t1 - t0) / NTASKS;

	t0 = now_ns();
	for (i = 0; i < NTASKS; i++)
		deadline_timer_stop(&timers[i]);
	t1 = now_ns();
	r->tstop_ns = (double)(t1 - t0) / NTASKS;

	for (i = 0; i < NTASKS; i += 2)
		deadline_timer_set(&timers[i], now + 60000000 + i);
	t0 = now_ns();
	for (i = 1; i < NTASKS; i += 2) {
		deadline_timer_set(&timers[i], now + 60000000 + i);
		deadline_timer_stop(&timers[i]);
	}
	t1 = now_ns();
	r->tka_ns = (double)(t1 - t0) / (NTASKS / 2);
	for (i = 0; i < NTASKS; i += 2)
		deadline_timer_stop(&timers[i]);
}

/* Run the rounds of part 1 from inside the loop, as the proxy would. */
static void
ops_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (int i = 0; i < nrounds; i++) {
		ops_round(&rounds[i]);
		timers_round(&rounds[i]);
	}
}

/* Compare two doubles for qsort. */
static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of field off over the rounds. */
static double
median(size_t off)
{
	double v[nrounds];

	for (int i = 0; i < nrounds; i++)
		memcpy(&v[i], (char *)&rounds[i] + off, sizeof v[i]);
	qsort(v, nrounds, sizeof v[0], cmp_double);
	return v[nrounds / 2];
}

/* Part 1: the cost of open, touch and close. */
static void
bench_ops(void)
{
	struct event_base *base = base_new();
	struct timeval zero = { 0, 0 };

	tasks = calloc(NTASKS, sizeof *tasks);
	timers = calloc(NTASKS, sizeof *timers);
	rounds = calloc(nrounds, sizeof *rounds);
	if (tasks == NULL || timers == NULL || rounds == NULL)
		abort();
	for (int i = 0; i < NTASKS; i++) {
		if (deadline_task_init(&tasks[i], base, never_cb, NULL) == -1)
			abort();
		deadline_timer_init(&timers[i], base, never_timer_cb, NULL);
	}
	event_base_once(base, -1, EV_TIMEOUT, ops_cb, NULL, &zero);
	event_base_dispatch(base);
	for (int i = 0; i < NTASKS; i++)
		deadline_task_clear(&tasks[i]);
	printf("struct deadline_task %zu bytes, struct deadline_timer %zu"
	    " bytes\n", sizeof(struct deadline_task),
	    sizeof(struct deadline_timer));
	printf("tasks %d, scopes 3.75 each, touches %d each; median of %d"
	    " rounds\n", NTASKS, NTOUCH, nrounds);
	printf("  %-10s %7.1f ns\n", "open",
	    median(offsetof(struct round, open_ns)));
	printf("  %-10s %7.1f ns\n", "touch",
	    median(offsetof(struct round, touch_ns)));
	printf("  %-10s %7.1f ns\n", "close",
	    median(offsetof(struct round, close_ns)));
	printf("  %-10s %7.1f ns per operation, %.0f ns per request"
	    " (10 opens and closes, 10 touches)\n", "lifecycle",
	    median(offsetof(struct round, life_ns)),
	    20 * median(offsetof(struct round, life_ns)));
	printf("light timers %d, median of %d rounds\n", NTASKS, nrounds);
	printf("  %-10s %7.1f ns\n", "set",
	    median(offsetof(struct round, tset_ns)));
	printf("  %-10s %7.1f ns\n", "move",
	    median(offsetof(struct round, tmove_ns)));
	printf("  %-10s %7.1f ns\n", "stop",
	    median(offsetof(struct round, tstop_ns)));
	printf("  %-10s %7.1f ns per set and stop, %d others set\n",
	    "keep-alive", median(offsetof(struct round, tka_ns)), NTASKS / 2);
	free(rounds);
	free(timers);
	free(tasks);
	event_base_free(base);
}

/* A task or a light timer of part 2, and its deadline. */
struct late_task {
	struct deadline_task	 task;
	struct deadline_timer	 timer;
	int64_t			 due;
};

static int64_t *late;
static int nlate;
static int late_timers;		/* part 2 with light timers, not tasks */
static struct lagprobe *probe;
static struct event_base *late_base;

/* Record how late an item fired, by the engine's clock at the fire. */
static void
late_record(const struct late_task *lt)
{
	late[nlate++] = deadline_now_cached() - lt->due;
	if (nlate == NLATE) {
		lagprobe_stop(probe);
		event_base_loopbreak(late_base);
	}
}

/* A task of part 2 was cancelled. */
static void
late_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	(void)t;
	(void)cause;
	late_record(arg);
}

/* A light timer of part 2 fired. */
static void
late_timer_cb(struct deadline_timer *tm, void *arg)
{
	(void)tm;
	late_record(arg);
}

/* Compare two int64_t for qsort. */
static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The nearest-rank percentile p of n sorted samples. */
static int64_t
pct(const int64_t *v, int n, int p)
{
	int rank = (p * n + 99) / 100;

	return v[rank < 1 ? 0 : rank - 1];
}

/*
 * Open the tasks of part 2 from inside a loop callback, as the proxy does:
 * libevent's cached time then goes stale while the callback runs (a few
 * ms for 10,000 tasks), which is what deadline_heap_arm() corrects for.
 */
static void
late_open_cb(evutil_socket_t fd, short what, void *arg)
{
	struct late_task *lt = arg;
	int64_t start;

	(void)fd;
	(void)what;
	start = deadline_now_refresh() + LEAD_US;
	for (int i = 0; i < NLATE; i++) {
		struct deadline_task *t = &lt[i].task;
		int64_t due = start + (int64_t)i * SPREAD_US / NLATE;

		if (late_timers) {
			deadline_timer_init(&lt[i].timer, late_base,
			    late_timer_cb, &lt[i]);
			if (deadline_timer_set(&lt[i].timer, due) == -1)
				abort();
			lt[i].due = due;
			continue;
		}
		if (deadline_task_init(t, late_base, late_cb, &lt[i]) == -1)
			abort();
		/* Outer scopes that do not fire, and the one that does. */
		deadline_open(t, SCOPE_DRAIN, 30000);
		deadline_open(t, SCOPE_REQUEST, 60000);
		if (i & 1) {
			deadline_open_at(t, SCOPE_TRY, due);
			lt[i].due = due;
		} else {
			deadline_open_us(t, SCOPE_UPSTREAM_IDLE,
			    due - deadline_now_refresh());
			lt[i].due = deadline_scope_at(t, SCOPE_UPSTREAM_IDLE);
		}
	}
	if ((probe = lagprobe_start(late_base, 100)) == NULL)
		abort();
}

/* Print the percentiles of n lateness samples (sorted in place). */
static void
late_print(const char *what, int64_t *v, int n)
{
	int early = 0;

	for (int i = 0; i < n; i++)
		early += v[i] < 0;
	qsort(v, n, sizeof v[0], cmp_i64);
	printf("  %-7s p50 %5lld us, p99 %5lld us, max %5lld us, min %lld us,"
	    " early %d\n", what, (long long)pct(v, n, 50),
	    (long long)pct(v, n, 99), (long long)v[n - 1], (long long)v[0],
	    early);
}

/* Part 2: lateness of 10,000 deadlines spread evenly over a second. */
static void
bench_late(int timers_too)
{
	struct timeval zero = { 0, 0 };
	struct deadline_stats st;
	struct late_task *lt;

	late_base = base_new();
	late_timers = timers_too;
	nlate = 0;
	lt = calloc(NLATE, sizeof *lt);
	if (late == NULL)
		late = malloc(NLATE * sizeof *late);
	if (lt == NULL || late == NULL)
		abort();
	memset(late, 0, NLATE * sizeof *late);
	deadline_stats_reset();
	event_base_once(late_base, -1, EV_TIMEOUT, late_open_cb, lt, &zero);
	event_base_dispatch(late_base);
	deadline_stats_get(&st);
	printf("lateness, %d %s over %d ms on an idle loop:\n",
	    nlate, late_timers ? "light timers" : "task deadlines",
	    SPREAD_US / 1000);
	late_print(late_timers ? "timers" : "engine", late, nlate);
	printf("  stats:  expired %llu, rearms %llu,"
	    " histogram max %llu us; loop lag max %llu us (%llu probes)\n",
	    (unsigned long long)st.ds_expired,
	    (unsigned long long)st.ds_rearms,
	    (unsigned long long)st.ds_late_max_us,
	    (unsigned long long)st.ds_lag_max_us,
	    (unsigned long long)hist_count(&st.ds_lag));
	for (int i = 0; i < NLATE; i++)
		deadline_task_clear(&lt[i].task);
	free(lt);
	event_base_free(late_base);
}

/*
 * Part 3, for scale: the same deadlines slept on with a bare timerfd, no
 * libevent and no engine.  This is what the kernel and the machine give;
 * the engine's figures can only add to it.
 */
static void
bench_floor(void)
{
	struct itimerspec its;
	uint64_t ticks;
	int64_t start, due;
	int fd;

	if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) == -1) {
		perror("timerfd_create");
		return;
	}
	memset(late, 0, NLATE * sizeof *late);
	start = deadline_now_refresh() + LEAD_US;
	for (int i = 0; i < NLATE; i++) {
		due = start + (int64_t)i * SPREAD_US / NLATE;
		memset(&its, 0, sizeof its);
		its.it_value.tv_sec = due / 1000000;
		its.it_value.tv_nsec = (due % 1000000) * 1000;
		if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) == -1 ||
		    read(fd, &ticks, sizeof ticks) == -1) {
			perror("timerfd");
			break;
		}
		late[i] = deadline_now_refresh() - due;
	}
	close(fd);
	late_print("timerfd", late, NLATE);
}

/* Run both parts. */
int
main(int argc, char **argv)
{
	nrounds = argc > 1 ? atoi(argv[1]) : 5;
	if (nrounds < 1 || nrounds > 100) {
		fprintf(stderr, "usage: bench_deadline [rounds]\n");
		return 2;
	}
	bench_ops();
	bench_late(0);
	bench_late(1);
	bench_floor();
	free(late);
	return 0;
}
