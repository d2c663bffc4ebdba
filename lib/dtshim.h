/*
 * dtshim.h: TEMPORARY stand-in for deadline_timer until the heap-based
 * engine lands (same API, backed by a libevent timer).  Delete on merge.
 */
#ifndef HG_DTSHIM_H
#define HG_DTSHIM_H

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "deadline.h"

struct deadline_timer;
typedef void (*deadline_timer_cb)(struct deadline_timer *, void *);

struct deadline_timer {
	struct event		 tm_ev;
	int64_t			 tm_when;
	deadline_timer_cb	 tm_cb;
	void			*tm_arg;
};

static inline int deadline_timer_set(struct deadline_timer *, int64_t);

static inline void
deadline_timer_fire_(evutil_socket_t fd, short what, void *arg)
{
	struct deadline_timer *tm = arg;

	(void)fd;
	(void)what;
	if (deadline_now_refresh() < tm->tm_when) {
		deadline_timer_set(tm, tm->tm_when);
		return;
	}
	tm->tm_when = DEADLINE_NEVER;
	tm->tm_cb(tm, tm->tm_arg);
}

static inline void
deadline_timer_init(struct deadline_timer *tm, struct event_base *base,
    deadline_timer_cb cb, void *arg)
{
	evtimer_assign(&tm->tm_ev, base, deadline_timer_fire_, tm);
	tm->tm_when = DEADLINE_NEVER;
	tm->tm_cb = cb;
	tm->tm_arg = arg;
}

static inline int
deadline_timer_set(struct deadline_timer *tm, int64_t when)
{
	int64_t d = when - deadline_now_refresh();
	struct timeval tv;

	if (d < 0)
		d = 0;
	tv.tv_sec = d / 1000000;
	tv.tv_usec = d % 1000000;
	tm->tm_when = when;
	return evtimer_add(&tm->tm_ev, &tv);
}

static inline void
deadline_timer_stop(struct deadline_timer *tm)
{
	tm->tm_when = DEADLINE_NEVER;
	evtimer_del(&tm->tm_ev);
}

static inline int64_t
deadline_timer_when(const struct deadline_timer *tm)
{
	return tm->tm_when;
}

#endif
