/*
 * proxy_ctx.h: what a worker's proxy lends its client connections and
 * their requests: the event base, the configuration and upstream set in
 * force, the access log, the metrics, the slabs they live in, and the
 * counters.  proxy.c owns it and sets it up; client.c and request.c read
 * it and count into it.  News goes back up through pc_idle, never by a
 * call to proxy.c by name.  Not for the daemon.
 */
#ifndef HG_PROXY_CTX_H
#define HG_PROXY_CTX_H

#include <sys/queue.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "accesslog.h"
#include "config.h"
#include "metrics.h"
#include "proxy.h"
#include "slab.h"
#include "upstream.h"

struct client;

struct proxy_ctx {
	struct event_base *pc_base;
	struct config	*pc_cfg;		/* in force; a request takes a
						   reference for its life */
	struct upstream_set *pc_ups;		/* likewise */
	struct accesslog *pc_alog;
	struct metrics	*pc_metrics;
	struct slab	*pc_client_slab;	/* where clients live */
	struct slab	*pc_req_slab;		/* where requests live */
	struct slab	*pc_rqh_slab;		/* and their HTTP state */
	struct proxy_counts pc_counts;
	uint64_t	 pc_next_id;		/* the last request counter given:
						   from a random start */
	uint64_t	 pc_id_hi;		/* the worker, in the top byte */
	bool		 pc_draining;
	TAILQ_HEAD(client_list, client) pc_clients;
	/* No request runs any more, or no client is left: the proxy may
	 * give memory back, or finish a drain. */
	void		(*pc_idle)(struct proxy_ctx *);
};

/* Count into a proxy_counts field; the proxy's thread is the only writer
 * (relaxed atomic stores, so that another thread may read them). */
#define PROXY_COUNT(ctx, field, delta)					\
	__atomic_store_n(&(ctx)->pc_counts.field,			\
	    (ctx)->pc_counts.field + (delta), __ATOMIC_RELAXED)

/*
 * A new request id: the worker in the top byte, a counter from a random
 * start below, so that ids are unique across the workers of a run and,
 * but for a 2^-56 chance, across restarts.
 */
static inline uint64_t
proxy_next_id(struct proxy_ctx *ctx)
{
	return ctx->pc_id_hi | (++ctx->pc_next_id & ((1ULL << 56) - 1));
}

/* Client connections of every worker, for max_connections. */
extern unsigned	 proxy_clients_all;

#endif
