/*
 * hedge.h: a hedge: one more try of a request that has no response head
 * yet, on another server, racing the try before it.  It takes a pooled
 * connection or connects, sends the head its owner gives it, and reads
 * until a response head is whole; then it stops and its owner takes its
 * connection and the bytes read.  It knows nothing of the request: its
 * news goes up through the callback given to hedge_start().
 *
 * Its own timer bounds it: the connect timeout while it connects, then the
 * upstream header timeout from when its head is sent, never past try_at
 * (its try scope).  The request's own scopes (request, drain) end it
 * through its owner, by hedge_cancel().
 */
#ifndef HG_HEDGE_H
#define HG_HEDGE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "buf.h"
#include "outcome.h"

struct hedge;
struct upconn;
struct upstream_server;

enum hedge_news {
	HEDGE_READY,	/* connected: hedge_send() the head now */
	HEDGE_HEAD,	/* a whole response head came: it won; hedge_take() */
	HEDGE_FAILED,	/* it failed (outcome, errno or tls_fail); hedge_free() */
};
typedef void (*hedge_cb)(void *arg, struct hedge *, enum hedge_news,
	    enum outcome, int err);

/* What a hedge measured, for the access log. */
struct hedge_times {
	int64_t		 ht_conn0;	/* its try began */
	int64_t		 ht_conn;	/* connected; 0: a pooled connection */
	int64_t		 ht_sent;	/* its head went out whole */
	bool		 ht_pooled;
};

/*
 * Start a hedge on the server (picked by the caller): a pooled connection
 * when there is one, else a connect.  hedge_ready() says whether it may
 * send at once; otherwise HEDGE_READY comes.  NULL when the connect failed
 * at once (*err is its errno; 0: out of memory).
 */
struct hedge	*hedge_start(struct event_base *, struct upstream_server *,
		    uint32_t connect_ms, uint32_t header_ms, int64_t try_at,
		    hedge_cb, void *arg, int *err);

/* Whether its connection is ready for hedge_send(). */
bool		 hedge_ready(const struct hedge *);

/* Send the head (the whole request: hedges carry no body).  0, or -1
 * with errno: the hedge failed, and the caller frees it. */
int		 hedge_send(struct hedge *, const char *head, size_t len);

/* Its server, whether it took a pooled connection, and when its try
 * scope ends. */
struct upstream_server *hedge_server(const struct hedge *);
bool		 hedge_pooled(const struct hedge *);
int64_t		 hedge_try_at(const struct hedge *);

/*
 * After HEDGE_HEAD: hand over its connection (to be attached by the
 * caller; reading is paused) and the bytes read (into rx, which must be
 * empty: the head, and what followed it), fill *t, and free the hedge.
 */
struct upconn	*hedge_take(struct hedge *, struct buf *rx,
		    struct hedge_times *t);

/* End it: its connection is closed at once, never pooled; it is freed. */
void		 hedge_free(struct hedge *);

#endif
