/* lagprobe.c: the loop-lag probe, on the deadline engine's light timers. */
#include <errno.h>
#include <stdlib.h>

#include "deadline.h"
#include "deadline_stats.h"
#include "lagprobe.h"

struct lagprobe {
	struct deadline_timer lp_tm;
	int64_t		 lp_interval;	/* microseconds */
	int64_t		 lp_due;	/* when the probe should fire */
};

/* The probe fired: record how late, and set the next instant from now. */
static void
lagprobe_cb(struct deadline_timer *tm, void *arg)
{
	struct lagprobe *p = arg;
	int64_t now = deadline_now_cached();	/* fresh before the call */

	(void)tm;
	deadline_stats_lag(deadline_stats_local(), now - p->lp_due);
	p->lp_due = now + p->lp_interval;
	(void)deadline_timer_set(&p->lp_tm, p->lp_due);
}

/* Start a probe on base every interval_ms. */
struct lagprobe *
lagprobe_start(struct event_base *base, unsigned interval_ms)
{
	struct lagprobe *p;

	if (base == NULL || interval_ms == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	deadline_timer_init(&p->lp_tm, base, lagprobe_cb, p);
	p->lp_tm.tm_quiet = 1;
	p->lp_interval = (int64_t)interval_ms * 1000;
	p->lp_due = deadline_now_refresh() + p->lp_interval;
	if (deadline_timer_set(&p->lp_tm, p->lp_due) == -1) {
		deadline_timer_stop(&p->lp_tm);
		free(p);
		return NULL;
	}
	return p;
}

/* Stop and free the probe. */
void
lagprobe_stop(struct lagprobe *p)
{
	if (p == NULL)
		return;
	deadline_timer_stop(&p->lp_tm);
	free(p);
}
