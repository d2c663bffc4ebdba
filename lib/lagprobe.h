/*
 * lagprobe.h: the loop-lag probe.  A quiet light timer of the deadline
 * engine fires every interval; how late it ran past its instant is how
 * long the event loop was busy, and goes into the running thread's
 * deadline statistics (ds_lag, ds_lag_last_us; deadline_stats.h).  Being
 * quiet, its fires are no deadline fires and no lateness samples.  The
 * next instant counts from the fire, so a stall gives one sample, not a
 * burst of catch-up fires.
 */
#ifndef HG_LAGPROBE_H
#define HG_LAGPROBE_H

struct event_base;
struct lagprobe;

/*
 * Start a probe on base every interval_ms.  NULL on failure: no base or a
 * zero interval (EINVAL), no memory, or the timer could not be set.  Stop
 * it before freeing the base.
 */
struct lagprobe	*lagprobe_start(struct event_base *, unsigned interval_ms);

/* Stop and free the probe (NULL is a no-op). */
void		 lagprobe_stop(struct lagprobe *);

#endif
