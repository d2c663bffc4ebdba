/*
 * deadline.c: the nested deadline scopes of tasks, and light timers, in
 * one binary min-heap per event base with one timerfd each.
 */
#include <sys/timerfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "deadline.h"
#include "deadline_stats.h"

enum deadline_state {
	DEADLINE_UNUSED,	/* zeroed or cleared: every call is a no-op */
	DEADLINE_LIVE,		/* scopes may open, close and fire */
	DEADLINE_CANCELLED,	/* the callback ran or is running */
};

/*
 * The longest interval handed to libevent at once (one day).  A later
 * minimum is reached in steps: the timer wakes, finds nothing due and
 * re-arms.  It keeps far deadlines clear of any overflow in libevent's and
 * the kernel's time arithmetic.
 */
#define DEADLINE_ARM_MAX	(86400LL * 1000000)

/*
 * A timerfd is set this much before the instant at most (µs).  Waking an
 * idle thread takes tens of microseconds, more on a virtual machine; the
 * heap learns that latency and sets its timerfd that much early, then
 * waits out the rest on the clock, so that deadlines fire on time and
 * never before.  The bound caps what one fire can spend waiting.
 */
#define DEADLINE_LEAD_MAX	100

/* The first capacity of a heap, and the smallest it shrinks back to. */
#define DEADLINE_HEAP_MIN	16

/*
 * One entry of a heap: the item's instant, and the item, a task or (low
 * bit set) a timer.  Both begin with their uint32_t slot, so the heap
 * writes a slot through the untagged pointer without asking which it is.
 * The instant is kept here rather than in the item so that sifting
 * compares within the array.
 */
struct deadline_entry {
	int64_t			 de_when;
	uintptr_t		 de_item;
};

#define DEADLINE_TIMER_BIT	((uintptr_t)1)

_Static_assert(offsetof(struct deadline_task, dt_slot) == 0,
    "the heap writes a task's slot through a pointer to the task");
_Static_assert(offsetof(struct deadline_timer, tm_slot) == 0,
    "the heap writes a timer's slot through a pointer to the timer");
_Static_assert(_Alignof(struct deadline_timer) > 1,
    "the low bit of a timer's address tags it in the heap");

/*
 * The heap of one event base, on the thread that runs it.  Slots count
 * from 1 (hp_e[0] is unused) so that a zeroed item's slot 0 means "not in
 * the heap", and slot i's children are 2i and 2i + 1.
 */
struct deadline_heap {
	struct event		 hp_ev;		/* reads hp_tfd, or a timer */
	int			 hp_tfd;	/* a timerfd, or -1: hp_ev times */
	struct event_base	*hp_base;	/* NULL: the thread's spare */
	struct deadline_entry	*hp_e;		/* hp_cap + 1 entries */
	uint32_t		 hp_n;		/* items, in slots 1 to hp_n */
	uint32_t		 hp_cap;
	int64_t			 hp_armed;	/* the instant armed for, or NEVER */
	int64_t			 hp_tfd_at;	/* the timerfd's own instant */
	int64_t			 hp_lead;	/* how early it is set, µs */
	int			 hp_firing;	/* in deadline_heap_cb() */
	struct deadline_heap	*hp_next;
};

__thread int64_t deadline_clock_cache;

/*
 * The thread's heaps in use, most recently used first, and one empty
 * spare without a base, kept so that a base whose heap empties and fills
 * again, as a quiet one does at every request, allocates nothing.  The key
 * only exists to free them when the thread exits.
 */
static __thread struct deadline_heap *deadline_heaps;
static __thread struct deadline_heap *deadline_spare;
static __thread int deadline_keyed;
static pthread_key_t deadline_heaps_key;
static pthread_once_t deadline_heaps_once = PTHREAD_ONCE_INIT;

static void	deadline_heap_cb(evutil_socket_t, short, void *);

/* Read CLOCK_MONOTONIC in microseconds. */
static inline int64_t
deadline_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Read CLOCK_MONOTONIC in microseconds and store it in the thread's cache. */
int64_t
deadline_now_refresh(void)
{
	return deadline_clock_cache = deadline_clock();
}

/* The wall clock at the cached now; see deadline.h. */
int64_t
deadline_wall_cached(void)
{
	static __thread int64_t off, at;
	struct timespec ts;
	int64_t now = deadline_clock_cache;

	if (now == 0)
		now = deadline_now_refresh();
	if (at == 0 || now - at >= 1000000 || now < at) {
		clock_gettime(CLOCK_REALTIME, &ts);
		off = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 -
		    deadline_clock();
		at = now != 0 ? now : 1;
	}
	return now + off;
}

/* Add a non-negative length to an instant, saturating at DEADLINE_NEVER. */
static inline int64_t
deadline_add(int64_t at, int64_t len)
{
	if (at > DEADLINE_NEVER - len)
		return DEADLINE_NEVER;
	return at + len;
}

/* Record entry e's new slot i in its item. */
static inline void
deadline_slot_set(struct deadline_entry *e, uint32_t i)
{
	*(uint32_t *)(e->de_item & ~DEADLINE_TIMER_BIT) = i;
}

/* Move the entry in slot i up to its place; return that slot. */
static uint32_t
deadline_heap_up(struct deadline_heap *h, uint32_t i)
{
	struct deadline_entry e = h->hp_e[i];
	uint32_t p;

	while (i > 1) {
		p = i >> 1;
		if (h->hp_e[p].de_when <= e.de_when)
			break;
		h->hp_e[i] = h->hp_e[p];
		deadline_slot_set(&h->hp_e[i], i);
		i = p;
	}
	h->hp_e[i] = e;
	deadline_slot_set(&h->hp_e[i], i);
	return i;
}

/* Move the entry in slot i down to its place. */
static void
deadline_heap_down(struct deadline_heap *h, uint32_t i)
{
	struct deadline_entry e = h->hp_e[i];
	uint32_t c, n = h->hp_n;

	/* n < 2^31 (see deadline_heap_insert()), so i * 2 cannot wrap. */
	while ((c = i * 2) <= n) {
		if (c < n && h->hp_e[c + 1].de_when < h->hp_e[c].de_when)
			c++;
		if (e.de_when <= h->hp_e[c].de_when)
			break;
		h->hp_e[i] = h->hp_e[c];
		deadline_slot_set(&h->hp_e[i], i);
		i = c;
	}
	h->hp_e[i] = e;
	deadline_slot_set(&h->hp_e[i], i);
}

/* Give slot i a new instant and move it there. */
static void
deadline_heap_move(struct deadline_heap *h, uint32_t i, int64_t when)
{
	int64_t old = h->hp_e[i].de_when;

	h->hp_e[i].de_when = when;
	if (when < old)
		deadline_heap_up(h, i);
	else
		deadline_heap_down(h, i);
}

/* Resize the entries to cap (not below hp_n); -1 when out of memory. */
static int
deadline_heap_resize(struct deadline_heap *h, uint32_t cap)
{
	struct deadline_entry *e;

	if ((e = realloc(h->hp_e, ((size_t)cap + 1) * sizeof *e)) == NULL)
		return -1;
	h->hp_e = e;
	h->hp_cap = cap;
	return 0;
}

/* Add an item at when; return its slot, or 0 when out of memory. */
static uint32_t
deadline_heap_insert(struct deadline_heap *h, uintptr_t item, int64_t when)
{
	uint32_t i;

	if (h->hp_n == h->hp_cap && (h->hp_cap >= (UINT32_MAX >> 2) ||
	    deadline_heap_resize(h, h->hp_cap * 2) == -1)) {
		errno = ENOMEM;
		return 0;
	}
	i = ++h->hp_n;
	h->hp_e[i].de_when = when;
	h->hp_e[i].de_item = item;
	return deadline_heap_up(h, i);
}

/*
 * Take the item in slot i out of the heap; its slot becomes 0.  The
 * entries shrink by half when a quarter or less is used, so that a burst
 * does not keep its memory (and growing back is a doubling away).
 */
static void
deadline_heap_remove(struct deadline_heap *h, uint32_t i)
{
	uint32_t n = h->hp_n--;

	deadline_slot_set(&h->hp_e[i], 0);
	if (i != n) {
		h->hp_e[i] = h->hp_e[n];
		if (i > 1 && h->hp_e[i].de_when < h->hp_e[i >> 1].de_when)
			deadline_heap_up(h, i);
		else
			deadline_heap_down(h, i);
	}
	if (h->hp_cap > DEADLINE_HEAP_MIN && h->hp_n < h->hp_cap / 4)
		(void)deadline_heap_resize(h, h->hp_cap / 2);
}

/* Free a heap that belongs to no base. */
static void
deadline_heap_free(struct deadline_heap *h)
{
	if (h->hp_tfd >= 0)
		(void)close(h->hp_tfd);
	free(h->hp_e);
	free(h);
}

/*
 * Free the thread's spare as it exits.  A heap still in use holds items
 * that were never cleared, on a base that may be gone: that is the owner's
 * leak, left for the leak checker to report.
 */
static void
deadline_heaps_free(void *arg)
{
	struct deadline_heap *h = deadline_spare;

	(void)arg;
	deadline_spare = NULL;
	if (h != NULL)
		deadline_heap_free(h);
}

/* Create the key whose destructor frees a thread's spare heap. */
static void
deadline_heaps_key_init(void)
{
	(void)pthread_key_create(&deadline_heaps_key, deadline_heaps_free);
}

/*
 * The heap of base if it has items, else NULL.  The most recent is first,
 * and with one base per thread the only one: one load and one compare.
 */
static inline struct deadline_heap *
deadline_heap_find(struct event_base *base)
{
	struct deadline_heap *h = deadline_heaps, **prev;

	if (h != NULL && h->hp_base == base)
		return h;
	for (prev = &deadline_heaps; (h = *prev) != NULL; prev = &h->hp_next) {
		if (h->hp_base == base) {
			*prev = h->hp_next;
			h->hp_next = deadline_heaps;
			deadline_heaps = h;
			return h;
		}
	}
	return NULL;
}

/* The heap of base, taken from the spare or made if it has none. */
static struct deadline_heap *
deadline_heap_get(struct event_base *base)
{
	struct deadline_heap *h;

	if ((h = deadline_heap_find(base)) != NULL)
		return h;
	if ((h = deadline_spare) != NULL)
		deadline_spare = NULL;
	else {
		if ((h = calloc(1, sizeof *h)) == NULL)
			return NULL;
		if (deadline_heap_resize(h, DEADLINE_HEAP_MIN) == -1) {
			free(h);
			return NULL;
		}
		h->hp_tfd = -1;
		if (!deadline_keyed) {
			(void)pthread_once(&deadline_heaps_once,
			    deadline_heaps_key_init);
			(void)pthread_setspecific(deadline_heaps_key, h);
			deadline_keyed = 1;
		}
	}
	/* Without a descriptor to spare, libevent's timer stands in. */
	if (h->hp_tfd < 0)
		h->hp_tfd = timerfd_create(CLOCK_MONOTONIC,
		    TFD_NONBLOCK | TFD_CLOEXEC);
	/*
	 * An empty heap's event is never pending, so it may take a new base,
	 * whatever became of the old one.  A timerfd is watched for as long
	 * as the heap has items; it is disarmed meanwhile.
	 */
	if (h->hp_tfd >= 0) {
		(void)event_assign(&h->hp_ev, base, h->hp_tfd,
		    EV_READ | EV_PERSIST, deadline_heap_cb, h);
		if (event_add(&h->hp_ev, NULL) == -1) {
			(void)close(h->hp_tfd);
			h->hp_tfd = -1;
		}
	}
	if (h->hp_tfd < 0)
		(void)event_assign(&h->hp_ev, base, -1, 0, deadline_heap_cb, h);
	h->hp_base = base;
	h->hp_armed = DEADLINE_NEVER;
	h->hp_next = deadline_heaps;
	deadline_heaps = h;
	return h;
}

/*
 * The heap has emptied: delete its timer, forget its base, and keep it as
 * the thread's spare, or free it if there is one already.
 */
static void
deadline_heap_release(struct deadline_heap *h)
{
	struct deadline_heap **prev;
	static const struct itimerspec off;

	if (h->hp_tfd >= 0) {
		/* Also clears an expiry a fire left unread. */
		(void)timerfd_settime(h->hp_tfd, 0, &off, NULL);
		event_del(&h->hp_ev);
	} else if (h->hp_armed != DEADLINE_NEVER)
		event_del(&h->hp_ev);
	h->hp_armed = DEADLINE_NEVER;
	for (prev = &deadline_heaps; *prev != h; prev = &(*prev)->hp_next)
		;
	*prev = h->hp_next;
	h->hp_next = NULL;
	h->hp_base = NULL;
	if (deadline_spare != NULL) {
		deadline_heap_free(h);
		return;
	}
	if (h->hp_cap > DEADLINE_HEAP_MIN)
		(void)deadline_heap_resize(h, DEADLINE_HEAP_MIN);
	deadline_spare = h;
}

/*
 * Arm the heap's timer for when; nothing runs before it.  A timerfd takes
 * an absolute instant on the engine's own clock, with no reading and no
 * rounding: when less the learnt lead (deadline_heap_wait() waits out the
 * rest), or a day from now for a farther instant.  Setting it also clears
 * an expiry not yet read, so a fire never needs a read(): it always ends
 * by arming again or disarming.
 *
 * libevent's timer, the fallback, adds a relative interval to its own
 * cached time of the loop turn, which may be older than the clock reading
 * taken here and would make the timer fire early; refreshing that cache
 * after the reading makes libevent's base instant no earlier than it, so
 * the timer is due no earlier than when.
 */
static int
deadline_heap_arm(struct deadline_heap *h, int64_t when)
{
	struct timeval tv;
	int64_t now, rel;

	if (h->hp_tfd >= 0) {
		struct itimerspec its = { { 0, 0 }, { 0, 0 } };
		int64_t at = when;

		if (at - deadline_clock_cache > DEADLINE_ARM_MAX)
			at = deadline_clock_cache + DEADLINE_ARM_MAX;
		else
			at -= h->hp_lead;
		if (at < 1)
			at = 1;		/* zero would disarm it */
		its.it_value.tv_sec = (time_t)(at / 1000000);
		its.it_value.tv_nsec = (long)(at % 1000000) * 1000;
		if (timerfd_settime(h->hp_tfd, TFD_TIMER_ABSTIME, &its,
		    NULL) == -1) {
			uint64_t ticks;

			/* An expiry left unread would wake the loop at once. */
			if (read(h->hp_tfd, &ticks, sizeof ticks) == -1) {
				/* nothing was left to read */
			}
			deadline_stats_local()->ds_arm_errors++;
			return -1;
		}
		h->hp_armed = when;
		h->hp_tfd_at = at;
		return 0;
	}
	now = deadline_clock();
	rel = when > now ? when - now : 0;
	if (rel > DEADLINE_ARM_MAX) {
		rel = DEADLINE_ARM_MAX;
		when = now + rel;
	}
	tv.tv_sec = rel / 1000000;
	tv.tv_usec = rel % 1000000;
	event_base_update_cache_time(h->hp_base);
	if (event_add(&h->hp_ev, &tv) == -1) {
		deadline_stats_local()->ds_arm_errors++;
		return -1;
	}
	h->hp_armed = when;
	return 0;
}

/*
 * After the heap changed outside a fire: give it back when empty, re-arm
 * its timer when the minimum moved earlier, else leave the timer to wake
 * at its old instant and re-arm then.
 */
static inline int
deadline_heap_settle(struct deadline_heap *h)
{
	if (h->hp_firing)
		return 0;
	if (h->hp_n == 0) {
		deadline_heap_release(h);
		return 0;
	}
	if (h->hp_e[1].de_when < h->hp_armed)
		return deadline_heap_arm(h, h->hp_e[1].de_when);
	return 0;
}

/*
 * The heap's minimum may have moved earlier: re-arm its timer if so, and
 * not during a fire, which arms once at its end.
 */
static inline int
deadline_heap_rearm(struct deadline_heap *h)
{
	if (h->hp_e[1].de_when < h->hp_armed && !h->hp_firing)
		return deadline_heap_arm(h, h->hp_e[1].de_when);
	return 0;
}

/*
 * Put an item of base that is not in the heap into it at when.  -1 when
 * out of memory or libevent refused the timer.
 */
static int
deadline_heap_add(struct event_base *base, uintptr_t item, int64_t when)
{
	struct deadline_heap *h;

	if ((h = deadline_heap_get(base)) == NULL ||
	    deadline_heap_insert(h, item, when) == 0) {
		deadline_stats_local()->ds_arm_errors++;
		if (h != NULL && h->hp_n == 0)
			(void)deadline_heap_settle(h);
		return -1;
	}
	return deadline_heap_rearm(h);
}

/* Take the item in *slot of base's heap out of it. */
static void
deadline_heap_take(struct event_base *base, uint32_t slot)
{
	struct deadline_heap *h = deadline_heap_find(base);

	deadline_heap_remove(h, slot);
	if (h->hp_n == 0)
		deadline_heap_settle(h);
}

/* The instant of the item in slot of base's heap. */
static int64_t
deadline_heap_when(struct event_base *base, uint32_t slot)
{
	return deadline_heap_find(base)->hp_e[slot].de_when;
}

/* The lead of base's timerfd, in microseconds. */
int64_t
deadline_lead(struct event_base *base)
{
	struct deadline_heap *h;

	if (base == NULL || (h = deadline_heap_find(base)) == NULL ||
	    h->hp_tfd < 0)
		return 0;
	return h->hp_lead;
}

/* How many tasks and timers of base are armed. */
size_t
deadline_pending(struct event_base *base)
{
	struct deadline_heap *h;

	if (base == NULL || (h = deadline_heap_find(base)) == NULL)
		return 0;
	return h->hp_n;
}

static int64_t	deadline_earliest(const struct deadline_task *, enum scope *);

/* Check the heap of base: order, slots, and each task's armed instant. */
int
deadline_verify(struct event_base *base)
{
	struct deadline_heap *h;
	struct deadline_task *t;
	uintptr_t item;

	if (base == NULL || (h = deadline_heap_find(base)) == NULL)
		return 0;
	if (h->hp_n == 0 || h->hp_n > h->hp_cap || h->hp_base != base)
		return -1;
	if (!h->hp_firing && h->hp_armed > h->hp_e[1].de_when)
		return -1;
	for (uint32_t i = 1; i <= h->hp_n; i++) {
		item = h->hp_e[i].de_item;
		if (i > 1 && h->hp_e[i].de_when < h->hp_e[i >> 1].de_when)
			return -1;
		if (*(uint32_t *)(item & ~DEADLINE_TIMER_BIT) != i)
			return -1;
		if (item & DEADLINE_TIMER_BIT) {
			if (((struct deadline_timer *)(item &
			    ~DEADLINE_TIMER_BIT))->tm_when < h->hp_e[i].de_when)
				return -1;
			continue;
		}
		t = (struct deadline_task *)item;
		if (t->dt_state != DEADLINE_LIVE || t->dt_open == 0 ||
		    t->dt_base != base ||
		    h->hp_e[i].de_when > deadline_earliest(t, NULL))
			return -1;
	}
	return 0;
}

/* The deadline of open scope s: fixed, or last progress plus length. */
static inline int64_t
deadline_due(const struct deadline_task *t, int s)
{
	int i = scope_idle_index((enum scope)s);

	if (i >= 0)
		return deadline_add(t->dt_progress[i], t->dt_when[s]);
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
 * Cancel the task and call its callback.  Everything is settled before the
 * call and nothing is touched after it, so the callback may free the task.
 */
static void
deadline_finish(struct deadline_task *t, enum scope cause)
{
	if (t->dt_slot != 0)
		deadline_heap_take(t->dt_base, t->dt_slot);
	t->dt_open = 0;
	t->dt_state = DEADLINE_CANCELLED;
	t->dt_cause = (uint8_t)cause;
	t->dt_cb(t, cause, t->dt_arg);
}

/*
 * Task t at the top of h came due at its armed instant: cancel it with
 * the scope that is due, or, when nothing is due yet (a scope closed, an
 * idle scope was touched, a wake was early), move it down to its earliest
 * deadline.  Lateness is recorded only for a cancel.
 */
static void
deadline_task_due(struct deadline_heap *h, struct deadline_task *t,
    int64_t now, struct deadline_stats *st)
{
	enum scope cause;
	int64_t due;

	due = deadline_earliest(t, &cause);
	if (due > now) {
		st->ds_rearms++;
		if (due != DEADLINE_NEVER) {
			deadline_heap_move(h, 1, due);
			return;
		}
		deadline_heap_remove(h, 1);
		return;
	}
	deadline_heap_remove(h, 1);
	deadline_stats_late(st, now - due);
	st->ds_expired++;
	t->dt_open = 0;
	t->dt_state = DEADLINE_CANCELLED;
	t->dt_cause = (uint8_t)cause;
	t->dt_cb(t, cause, t->dt_arg);
}

/*
 * The timerfd woke the thread, hp_lead before the instant armed for.
 * Learn how late the wake-up was, and wait out what is left of the lead
 * on the clock.  The learnt lead is a moving average of the wake-up
 * latency, each sample capped so that one stall does not inflate it.
 */
static void
deadline_heap_wait(struct deadline_heap *h)
{
	int64_t now = deadline_now_refresh(), late, first, lead;

	late = now - h->hp_tfd_at;
	if (late > DEADLINE_LEAD_MAX)
		late = DEADLINE_LEAD_MAX;
	if (late >= 0)
		h->hp_lead += (late - h->hp_lead) / 8;
	/* The lead this wake-up was set with (none for a far instant). */
	if ((lead = h->hp_armed - h->hp_tfd_at) > DEADLINE_LEAD_MAX)
		lead = 0;
	first = h->hp_e[1].de_when;
	if (first > now && first - now <= lead) {
		while (now < first)
			now = deadline_clock();
		deadline_clock_cache = now;
	}
}

/*
 * The heap's timer: run every item that is due, earliest first, each after
 * a fresh clock reading, looking at the heap anew after every callback;
 * then re-arm for the new minimum, or give the heap back when empty.  At
 * most the items present at the start are handled, so that callbacks that
 * keep setting timers in the past cannot hold the loop here.
 */
static void
deadline_heap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deadline_heap *h = arg;
	struct deadline_stats *st = deadline_stats_local();
	struct deadline_timer *tm;
	uint32_t budget = h->hp_n, ran = 0;
	uintptr_t item;
	int64_t now, when;

	(void)fd;
	(void)what;
	if (h->hp_tfd >= 0 && h->hp_n > 0 && h->hp_armed != DEADLINE_NEVER)
		deadline_heap_wait(h);
	h->hp_armed = DEADLINE_NEVER;
	h->hp_firing = 1;
	for (; budget > 0 && h->hp_n > 0; budget--) {
		now = deadline_now_refresh();
		if ((when = h->hp_e[1].de_when) > now)
			break;
		item = h->hp_e[1].de_item;
		ran++;
		if (item & DEADLINE_TIMER_BIT) {
			tm = (struct deadline_timer *)
			    (item & ~DEADLINE_TIMER_BIT);
			if (tm->tm_when > now) {
				/* Moved later since: down to its instant. */
				deadline_heap_move(h, 1, tm->tm_when);
				st->ds_fires++;
				st->ds_rearms++;
				continue;
			}
			deadline_heap_remove(h, 1);
			if (!tm->tm_quiet) {
				st->ds_fires++;
				deadline_stats_late(st, now - tm->tm_when);
			}
			tm->tm_cb(tm, tm->tm_arg);
		} else {
			st->ds_fires++;
			deadline_task_due(h, (struct deadline_task *)item, now,
			    st);
		}
	}
	h->hp_firing = 0;
	if (ran == 0) {
		/* The minimum had moved later, or libevent woke early. */
		st->ds_fires++;
		st->ds_rearms++;
	}
	/* On failure (counted) the next change to the heap tries again. */
	(void)deadline_heap_settle(h);
}

/* Set up an unused task on base, with no scope open. */
int
deadline_task_init(struct deadline_task *t, struct event_base *base,
    deadline_cancel_cb cb, void *arg)
{
	memset(t, 0, sizeof *t);
	if (base == NULL || cb == NULL) {
		errno = EINVAL;
		return -1;
	}
	t->dt_base = base;
	t->dt_cb = cb;
	t->dt_arg = arg;
	t->dt_state = DEADLINE_LIVE;
	return 0;
}

/* Take the task out of the heap and close every scope, without calling. */
void
deadline_task_clear(struct deadline_task *t)
{
	if (t->dt_slot != 0)
		deadline_heap_take(t->dt_base, t->dt_slot);
	t->dt_open = 0;
	t->dt_state = DEADLINE_UNUSED;
}

/*
 * Scope s is open with a deadline of due: move the task up the heap if
 * that is earlier than its armed instant.  A never-ending deadline is not
 * armed at all.
 */
static inline int
deadline_task_arm(struct deadline_task *t, int64_t due)
{
	struct deadline_heap *h;

	if (t->dt_slot == 0) {
		if (due == DEADLINE_NEVER)
			return 0;
		return deadline_heap_add(t->dt_base, (uintptr_t)t, due);
	}
	h = deadline_heap_find(t->dt_base);
	if (due >= h->hp_e[t->dt_slot].de_when)
		return 0;
	h->hp_e[t->dt_slot].de_when = due;
	deadline_heap_up(h, t->dt_slot);
	return deadline_heap_rearm(h);
}

/* Open or replace scope s for us microseconds from the cached now. */
int
deadline_open_us(struct deadline_task *t, enum scope s, int64_t us)
{
	int64_t now = deadline_clock_cache, due;
	int i;

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
	due = deadline_add(now, us);
	if ((i = scope_idle_index(s)) >= 0) {
		t->dt_progress[i] = now;
		t->dt_when[s] = us;
	} else
		t->dt_when[s] = due;
	t->dt_open |= 1u << s;
	return deadline_task_arm(t, due);
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
	if ((unsigned)s >= SCOPE_COUNT || scope_idle_index(s) >= 0) {
		errno = EINVAL;
		return -1;
	}
	if (t->dt_state != DEADLINE_LIVE)
		return 0;
	t->dt_when[s] = when;
	t->dt_open |= 1u << s;
	return deadline_task_arm(t, when);
}

/*
 * Close scope s.  The task stays in the heap at what may now be an early
 * instant; it then finds nothing due and moves down, which is cheaper than
 * moving on every close for the many tasks that end first.  With no scope
 * left it leaves the heap.  A task that is not live has no scope open and
 * no slot, so it needs no test of its own.
 */
void
deadline_close(struct deadline_task *t, enum scope s)
{
	if ((unsigned)s >= SCOPE_COUNT)
		return;
	t->dt_open &= ~(1u << s);
	if (t->dt_open == 0 && t->dt_slot != 0)
		deadline_heap_take(t->dt_base, t->dt_slot);
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

/* The instant the task is armed for, or DEADLINE_NEVER. */
int64_t
deadline_armed(const struct deadline_task *t)
{
	if (t->dt_slot == 0)
		return DEADLINE_NEVER;
	return deadline_heap_when(t->dt_base, t->dt_slot);
}

/* The cause of a cancelled task, else -1. */
int
deadline_cause(const struct deadline_task *t)
{
	if (t->dt_state != DEADLINE_CANCELLED)
		return -1;
	return t->dt_cause;
}

/* Set up a stopped timer on base. */
void
deadline_timer_init(struct deadline_timer *tm, struct event_base *base,
    deadline_timer_cb cb, void *arg)
{
	tm->tm_slot = 0;
	tm->tm_quiet = 0;
	tm->tm_base = base;
	tm->tm_cb = cb;
	tm->tm_arg = arg;
}

/* Set the timer for when, or move it there; NEVER stops it. */
int
deadline_timer_set(struct deadline_timer *tm, int64_t when)
{
	struct deadline_heap *h;

	if (tm->tm_base == NULL || tm->tm_cb == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (when == DEADLINE_NEVER) {
		deadline_timer_stop(tm);
		return 0;
	}
	tm->tm_when = when;
	if (tm->tm_slot == 0)
		return deadline_heap_add(tm->tm_base,
		    (uintptr_t)tm | DEADLINE_TIMER_BIT, when);
	/*
	 * Later than its key (a keep-alive wait pushed on after each
	 * request): leave the key, and move it down only if it comes due,
	 * as tasks do.  No heap work per request.
	 */
	if (when >= deadline_heap_when(tm->tm_base, tm->tm_slot))
		return 0;
	h = deadline_heap_find(tm->tm_base);
	deadline_heap_move(h, tm->tm_slot, when);
	return deadline_heap_rearm(h);
}

/* Stop the timer if it is set. */
void
deadline_timer_stop(struct deadline_timer *tm)
{
	if (tm->tm_slot != 0)
		deadline_heap_take(tm->tm_base, tm->tm_slot);
}

/* The instant the timer is set for, or DEADLINE_NEVER. */
int64_t
deadline_timer_when(const struct deadline_timer *tm)
{
	if (tm->tm_slot == 0)
		return DEADLINE_NEVER;
	return tm->tm_when;
}
