/*
 * metrics.h: Prometheus metrics, counted per worker thread without locks.
 *
 * Each worker thread owns one struct metrics and is the only one to touch
 * it: the hot path (metrics_request() and friends) is plain increments,
 * with no lock, no atomic and, once a route and an upstream have been
 * seen, no allocation.
 *
 * To publish, the daemon passes a struct metrics_snapshot (plain data) to
 * each worker by message; the worker copies its counters into it with
 * metrics_snapshot_add() and the other metrics_snapshot_*() calls, on its
 * own thread, and sends it back.  A snapshot keeps no pointer into the
 * worker's memory, so the main thread may then read it, merge the workers'
 * snapshots with metrics_snapshot_merge(), add the routes of the config in
 * force with metrics_snapshot_route(), set the daemon-wide values with
 * metrics_snapshot_info() and metrics_snapshot_process(), and render the
 * text with metrics_render().  A snapshot is used by one thread at a time;
 * nothing here locks.
 *
 * Labels.  A request is counted by route, outcome and status class.  The
 * route is the route's prefix (NULL when no route matched, exported as
 * "-"); rows are keyed by the string's contents, so a reloaded config
 * whose strings live elsewhere counts into the same rows.  The outcome is
 * an enum outcome (outcome.h), exported under its name, and its kind
 * labels the duration histogram.  The status class ("code") is that of
 * the status the access log shows: "1xx" to "5xx", so abort:client,
 * logged 499, is "4xx"; a status outside 100-599 (none, or an upstream's
 * 6xx-9xx relayed as is) is "other".  A worker keeps at most
 * METRICS_ROUTES_MAX routes (counters never disappear, and reloads may add
 * routes): requests of further routes are counted under route "other".
 * Route prefixes start with "/", so "-" and "other" never clash with one.
 * Upstreams (group names) are kept the same way, at most
 * METRICS_UPSTREAMS_MAX; the times of further ones are not counted (an
 * upstream name may be "other").
 *
 * Zero series.  Every route row, and so every route the daemon adds with
 * metrics_snapshot_route(), shows each outcome that can end a request
 * (all but timeout:keepalive, which closes a connection between requests)
 * at least under the code its outcome_info() status gives (ok: "2xx"),
 * at 0 until counted; other codes appear once counted.  So an alert on
 * rate(hourglass_requests_total{outcome="timeout:connect"}[5m]) needs no
 * absent(), while a quiet route shows 21 series (one per outcome), not
 * the 21 x 6 of every outcome under every code.
 */
#ifndef HG_METRICS_H
#define HG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadline_stats.h"
#include "outcome.h"

#define METRICS_ROUTES_MAX	1000
#define METRICS_UPSTREAMS_MAX	1000

/* The states a client connection is counted in, each under its name. */
enum metrics_conn_state {
	METRICS_CONN_IDLE,	/* "idle": waiting for a request */
	METRICS_CONN_READING,	/* "reading": reading a request head */
	METRICS_CONN_ACTIVE,	/* "active": a request in progress */
	METRICS_CONN_CLOSING,	/* "closing": answered, lingering to close */
	METRICS_CONN_TUNNEL,	/* "tunnel": a tunnel after a 101 */
	METRICS_CONN_STATES	/* the number of states */
};

/* How a retry (a try after a failed one) ended. */
enum metrics_retry {
	METRICS_RETRY_OK,	/* "ok": it got a response head */
	METRICS_RETRY_FAILED,	/* "failed": it did not */
	METRICS_RETRY_RESULTS
};

/* How a hedge (a try racing the one before it) ended. */
enum metrics_hedge {
	METRICS_HEDGE_WON,	/* "won": its response head came first */
	METRICS_HEDGE_LOST,	/* "lost": cancelled, another try's head came
				   first or the request ended */
	METRICS_HEDGE_FAILED,	/* "failed": it failed on its own */
	METRICS_HEDGE_RESULTS
};

/* Why a retry or a hedge did not start. */
enum metrics_skip {
	METRICS_SKIP_BUDGET,	/* "budget": a retry, past the retry budget */
	METRICS_SKIP_HEDGE_BUDGET, /* "hedge_budget": a hedge, past it */
	METRICS_SKIP_DEADLINE,	/* "deadline": the backoff would outlast
				   the request, or try_min */
	METRICS_SKIPS
};

struct metrics;
struct metrics_snapshot;

/*
 * What a request knows at its end, for metrics_request().  The strings are
 * only read during the call.  A time that did not happen (no connect: a
 * pooled connection, or none at all; no response head) is negative.
 */
struct metrics_req {
	const char	*route;		/* route prefix; NULL: none matched */
	const char	*upstream;	/* the route's upstream group, or NULL */
	enum outcome	 outcome;
	int		 status;	/* as logged (abort:client: 499) */
	int64_t		 total_us;	/* first byte to end (<0 counts 0) */
	int64_t		 connect_us;	/* the last try's connect */
	int64_t		 upstream_header_us; /* request sent to response head */
	uint64_t	 bytes_in;	/* read from the client */
	uint64_t	 bytes_out;	/* written to the client */
};

/*
 * The process as the standard process_* metrics show it, read by
 * metrics_process_read(); a value that could not be read is -1.
 */
struct metrics_process {
	int64_t		 cpu_us;	/* user and system CPU time */
	int64_t		 resident_bytes;
	int64_t		 virtual_bytes;
	int64_t		 open_fds;
	int64_t		 max_fds;	/* the soft RLIMIT_NOFILE */
	int64_t		 start_us;	/* start, wall clock since the epoch */
};

/* The name a connection state is exported under; "?" outside the enum. */
const char	*metrics_conn_state_name(enum metrics_conn_state);

/* A worker's live counters, all zero.  NULL when memory is exhausted. */
struct metrics	*metrics_new(void);

/* Free a worker's counters (NULL is a no-op). */
void		 metrics_free(struct metrics *);

/*
 * Count one finished request: by route, outcome and code; its duration by
 * route and outcome kind; its bytes by route; its connect and upstream
 * header times by upstream.  O(1); it allocates only for a route or
 * upstream string (an address or contents) it has not seen before; if
 * that fails, the request is counted under route "other" and its upstream
 * times are not counted.
 */
void		 metrics_request(struct metrics *, const struct metrics_req *);

/* Count a client connection closed by its keepalive scope. */
void		 metrics_keepalive_closed(struct metrics *);

/* Count a TLS handshake of a client connection: done (fail < 0), or
 * failed for that enum tls_fail reason. */
void		 metrics_tls_handshake(struct metrics *, int fail);

/* Count a tunnel (after a 101) that ended with this outcome. */
void		 metrics_tunnel_ended(struct metrics *, enum outcome);

/* Count an accepted client connection. */
void		 metrics_connection_accepted(struct metrics *);

/* Count a retry or a hedge that ended, a hedge started, a retry or a
 * hedge that did not start. */
void		 metrics_retry(struct metrics *, enum metrics_retry);
void		 metrics_hedge_started(struct metrics *);
void		 metrics_hedge(struct metrics *, enum metrics_hedge);
void		 metrics_skipped(struct metrics *, enum metrics_skip);

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
 * Make sure the snapshot has a row for route (NULL: "-"), with zero
 * counts if it is new, so that its zero series are exported.  Returns 0,
 * or -1 when memory is exhausted.
 */
int		 metrics_snapshot_route(struct metrics_snapshot *,
		    const char *route);

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
 * Read the calling process's CPU time, memory, descriptors and start time
 * (Linux: getrusage(), /proc/self/stat, /proc/stat, /proc/self/fd,
 * getrlimit()); a value that cannot be read is -1.  It reads files: call
 * it on the thread that renders, not on a worker.
 */
void		 metrics_process_read(struct metrics_process *);

/*
 * Set the build's version (hourglass_build_info) and the process values
 * (the process_* families; a value of -1 is left out).  Set, not summed,
 * as metrics_snapshot_info().  The version is copied; NULL leaves
 * hourglass_build_info out.  Returns 0, or -1 when memory is exhausted.
 */
int		 metrics_snapshot_process(struct metrics_snapshot *,
		    const char *version, const struct metrics_process *);

/*
 * Add snapshot src into dst as if src's reports had been made into dst
 * (the daemon-wide values of metrics_snapshot_info() and
 * metrics_snapshot_process() are left as they are in dst).  Returns 0, or -1 when memory is exhausted, as
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
