/*
 * proxy.h: the reverse proxy of one event loop (one worker thread).
 *
 * A proxy owns its listeners, its client connections, its upstream
 * connection pools and its access log writer.  Everything runs on the
 * proxy's event base; nothing here locks.
 */
#ifndef HG_PROXY_H
#define HG_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "accesslog.h"
#include "config.h"

struct proxy;

/*
 * Counters a proxy keeps.  The proxy's thread writes them with relaxed
 * atomic stores (plain moves on x86), so another thread may read them with
 * proxy_counts() without a lock.
 */
struct proxy_counts {
	uint64_t	 requests;	/* access-log lines written */
	uint64_t	 connections;	/* client connections accepted */
	uint64_t	 timeouts;	/* requests ended by a timeout */
	uint64_t	 clients;	/* client connections open now */
	uint64_t	 in_flight;	/* requests in progress now */
};

/*
 * Make a proxy on base serving cfg (a reference is taken) and logging to
 * alog (borrowed).  Returns NULL with a message in err.
 */
struct proxy	*proxy_new(struct event_base *, struct config *,
		    struct accesslog *, char *err, size_t errlen);

/*
 * Bind and listen on every cfg->listen address, with SO_REUSEPORT so that
 * each worker has its own socket.  With like set, bind the very addresses
 * and ports like's listeners have (port 0 resolved).  -1 with err.
 */
int		 proxy_listen(struct proxy *, const struct proxy *like,
		    char *err, size_t errlen);

/* Listen on sockets bound by someone else (socket activation); each fd is
 * duplicated, so the caller keeps its own. */
int		 proxy_adopt(struct proxy *, const int *fds, int nfds,
		    char *err, size_t errlen);

/*
 * Serve cfg from now on: new requests use it, requests in flight keep the
 * configuration they started with.  Pooled connections and health of
 * servers that stay are kept; those of removed servers are drained.
 * Listeners follow cfg->listen (adopted sockets stay).  Returns -1 with
 * err when a new listener could not be bound; the rest still applies.
 */
int		 proxy_reload(struct proxy *, struct config *, char *err,
		    size_t errlen);

/*
 * Drain: stop accepting, close idle connections, and let requests in
 * flight finish until drain_at (monotonic microseconds), when the drain
 * scope cancels them.  done(arg) is called once no connection is left.
 */
void		 proxy_drain(struct proxy *, int64_t drain_at,
		    void (*done)(void *), void *arg);

/* Log to another writer from now on (a reload changed access_log). */
void		 proxy_set_accesslog(struct proxy *, struct accesslog *);

/* Set the worker (0, 1, ...) the proxy runs in: request ids carry it, so
 * that they never repeat across workers. */
void		 proxy_set_worker(struct proxy *, unsigned index);

/* The context the proxy lends its clients (proxy_ctx.h), for tests. */
struct proxy_ctx *proxy_ctx(struct proxy *);

/* Close every connection and listener and free the proxy. */
void		 proxy_free(struct proxy *);

struct metrics_snapshot;

/* Add this proxy's metrics, connections by state, servers and timer
 * statistics to snap.  Runs on the proxy's thread. */
void		 proxy_snapshot(struct proxy *, struct metrics_snapshot *);

/* Read the counters; safe from any thread. */
void		 proxy_counts(const struct proxy *, struct proxy_counts *);

#endif
