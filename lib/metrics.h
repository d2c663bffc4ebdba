/*
 * metrics.h: Prometheus metrics, counted per worker thread without locks.
 *
 * Each worker thread owns one struct metrics and is the only one to touch
 * it: the hot path (metrics_request() and friends) is plain increments,
 * with no lock, no atomic and, once a route has been seen, no allocation.
 *
 * To publish, the daemon passes a struct metrics_snapshot (plain data) to
 * each worker by message; the worker copies its counters into it with
 * metrics_snapshot_add() and the other metrics_snapshot_*() calls, on its
 * own thread, and sends it back.  A snapshot keeps no pointer into the
 * worker's memory, so the main thread may then read it, merge the workers'
 * snapshots with metrics_snapshot_merge(), set the daemon-wide values with
 * metrics_snapshot_info() and render the text with metrics_render().  A
 * snapshot is used by one thread at a time; nothing here locks.
 *
 * Labels.  A request is counted by route and outcome.  The route is the
 * route's prefix (NULL when no route matched, exported as "-"); rows are
 * keyed by the string's contents, so a reloaded config whose strings live
 * elsewhere counts into the same rows.  The outcome is an enum outcome
 * (outcome.h), exported under its name.  A worker keeps at most
 * METRICS_ROUTES_MAX routes (counters never disappear, and reloads may add
 * routes): requests of further routes are counted under route "other".
 * Route prefixes start with "/", so "-" and "other" never clash with one.
 */
#ifndef HG_METRICS_H
#define HG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadline_stats.h"
#include "outcome.h"

#define METRICS_ROUTES_MAX	1000

/* The states a client connection is counted in, each under its name. */
enum metrics_conn_state {
	METRICS_CONN_IDLE,	/* "idle": waiting for a request */
	METRICS_CONN_READING,	/* "reading": reading a request head */
	METRICS_CONN_ACTIVE,	/* "active": a request in progress */
	METRICS_CONN_CLOSING,	/* "closing": answered, lingering to close */
	METRICS_CONN_STATES	/* the number of states */
};

struct metrics;
struct metrics_snapshot;

/* The name a connection state is exported under; "?" outside the enum. */
const char	*metrics_conn_state_name(enum metrics_conn_state);

/* A worker's live counters, all zero.  NULL when memory is exhausted. */
struct metrics	*metrics_new(void);

/* Free a worker's counters (NULL is a no-op). */
void		 metrics_free(struct metrics *);

/*
 * Count one finished request of route (NULL: none matched) with outcome,
 * that took total_us microseconds (negative counts as 0).  The route string
 * is only read during the call.  O(1); it allocates only for a route
 * string it has not seen before (if that fails, the request is counted
 * under route "other").
 */
void		 metrics_request(struct metrics *, const char *route,
		    enum outcome, int64_t total_us);

/* Count a client connection closed by its keepalive scope. */
void		 metrics_keepalive_closed(struct metrics *);

/* Count an accepted client connection. */
void		 metrics_connection_accepted(struct metrics *);

/* An empty snapshot: every counter and gauge 0.  NULL on no memory. */
struct metrics_snapshot *metrics_snapshot_new(void);

/* Free a snapshot (NULL is a no-op). */
void		 metrics_snapshot_free(struct metrics_snapshot *);

/*
 * Add a worker's counters into the snapshot, copying every string.  Call
 * it on the thread that owns the counters.  Returns 0, or -1 when memory
 * is exhausted; the snapshot then holds part of the counters and should
 * be discarded.
 */
int		 metrics_snapshot_add(struct metrics_snapshot *,
		    const struct metrics *);

/*
 * Add n client connections in a state; summed per state.  Returns 0, or -1
 * for a value outside the enum.
 */
int		 metrics_snapshot_connections(struct metrics_snapshot *,
		    enum metrics_conn_state, uint64_t n);

/*
 * Report one upstream server as one worker sees it.  Reports of the same
 * (upstream, server) are merged: tries, failures and the active and idle
 * connection counts are summed, and the server is up only if every report
 * says up (a server that any worker has marked down is exported as down,
 * since some requests are then refused it).  Returns 0, or -1 when memory
 * is exhausted.
 */
int		 metrics_snapshot_server(struct metrics_snapshot *,
		    const char *upstream, const char *server, bool up,
		    uint64_t tries, uint64_t failures, unsigned active,
		    unsigned idle);

/* Add a thread's timer lateness and loop lag, with deadline_stats_add(). */
void		 metrics_snapshot_deadline(struct metrics_snapshot *,
		    const struct deadline_stats *);

/*
 * Set the daemon-wide values: the config generation, reloads done and
 * refused, the number of workers and the requests in flight.  These are
 * set, not summed: the main thread sets them once on the merged snapshot.
 */
void		 metrics_snapshot_info(struct metrics_snapshot *,
		    unsigned generation, uint64_t reloads,
		    uint64_t reload_failures, unsigned workers,
		    uint64_t in_flight);

/*
 * Add snapshot src into dst as if src's reports had been made into dst
 * (the daemon-wide values of metrics_snapshot_info() are left as they are
 * in dst).  Returns 0, or -1 when memory is exhausted, as
 * metrics_snapshot_add().
 */
int		 metrics_snapshot_merge(struct metrics_snapshot *dst,
		    const struct metrics_snapshot *src);

/*
 * Render the snapshot in the Prometheus text exposition format 0.0.4.
 * On success set *text to a malloc'd, NUL-terminated text that the caller
 * frees, *len to its length, and return 0; return -1 when memory is
 * exhausted.  The series are sorted, so equal snapshots give equal texts.
 */
int		 metrics_render(const struct metrics_snapshot *, char **text,
		    size_t *len);

#endif
