/*
 * request_int.h: what request.c and request_hedge.c share, and nothing
 * else includes: the request's layout and the calls each file makes into
 * the other.  request.c runs a request from its head to its log line;
 * request_hedge.c races hedged tries against the try in hand (README,
 * "Retry budget and hedged requests").  The contract of request.c holds
 * here too: a call that can reach request_finish() is the caller's last
 * touch of the request.
 */
#ifndef HG_REQUEST_INT_H
#define HG_REQUEST_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "deadline.h"
#include "http.h"
#include "metrics.h"
#include "outcome.h"
#include "request.h"
#include "tunnel.h"
#include "upstream.h"

#define HEDGE_MAX	4	/* hedge_max's ceiling */
#define RID_MAX		64	/* the longest X-Request-Id taken from a client */

struct hedge;

enum req_state {
	REQ_HEAD,		/* reading the request head */
	REQ_CONNECT,		/* connecting to the upstream server */
	REQ_SEND,		/* sending the request upstream */
	REQ_WAIT,		/* request sent: waiting for the response head */
	REQ_RELAY,		/* response head sent: relaying the body */
	REQ_TUNNEL,		/* 101 sent: a tunnel, both ways */
	REQ_DONE,		/* finished and logged */
	REQ_NSTATES
};

/* One request on a client connection, from its first byte to its log line. */
struct request {
	struct proxy_ctx *rq_ctx;
	struct request_peer rq_peer;		/* the client's, lent */
	enum req_state	 rq_state;
	uint64_t	 rq_id;			/* ours: worker and counter */
	uint8_t		 rq_rid_len;		/* of rq_rid; 0 until needed */
	char		 rq_rid[RID_MAX + 1];	/* the id as text: the client's
						   X-Request-Id, or rq_id in hex */
	struct config	*rq_cfg;		/* a reference */
	struct upstream_set *rq_ups;		/* a reference */
	const struct config_route *rq_route;
	struct upstream_server *rq_server;
	struct upconn	*rq_up;

	struct buf	 rq_tx;			/* a head (either way) until it is
						 * sent, and a chunked body written
						 * anew */
	struct buf	 rq_rx;			/* response bytes; head at 0 */

	bool		 rq_body_done;		/* request body read whole */
	bool		 rq_sent;		/* request sent whole upstream */
	bool		 rq_head_sent;		/* response head went out */
	bool		 rq_close;		/* close the client afterwards */
	bool		 rq_pooled;		/* rq_up came from the pool */
	bool		 rq_fresh_retry;	/* the free pooled retry is used */
	bool		 rq_got_byte;		/* a response byte arrived */
	bool		 rq_reframe;		/* chunked response: written anew */
	bool		 rq_dechunk;		/* 1.0 client, chunked response */
	bool		 rq_upgrade;		/* forwarded asking to upgrade */
	bool		 rq_tunneled;		/* a 101 made it a tunnel */
	bool		 rq_grpc;		/* took the client's grpc-timeout */
	uint8_t		 rq_tls_fail;		/* why the upstream TLS failed */
	int		 rq_status;		/* status sent to the client */
	unsigned	 rq_tries;
	bool		 rq_judged;		/* the server's health was told */
	uint64_t	 rq_tried;		/* servers tried, a bit per index */
	int64_t		 rq_request_at;		/* the request scope's instant */
	int64_t		 rq_drain_at;		/* the drain's instant, or 0 */
	uint64_t	 rq_bytes_in;
	uint64_t	 rq_bytes_out;
	int64_t		 rq_deadline_ms;	/* the request scope's length */
	int64_t		 rq_t0;			/* monotonic, first byte */
	int64_t		 rq_t_head;		/* head complete */
	int64_t		 rq_t_conn0, rq_t_conn;	/* connect start, done */
	int64_t		 rq_t_sent;		/* request sent upstream */
	int64_t		 rq_t_uphead;		/* response head complete */
	int64_t		 rq_t_race;		/* sent: the try a hedge raced */
	const char	*rq_gone;		/* why the client went away */
	const char	*rq_why;		/* said in our answer's body, or
						   NULL; rq_why_len bytes */
	uint32_t	 rq_why_len;
	bool		 rq_backoff_ready;	/* rq_backoff is set up */
	bool		 rq_retry;		/* the try is a retry, not counted
						   in the metrics yet */
	uint8_t		 rq_nhedge;		/* hedges racing now */
	uint8_t		 rq_hedges;		/* hedges started */
	unsigned	 rq_try;		/* the try number of rq_up's try */
	unsigned	 rq_won;		/* the try whose head was taken */
	bool		 rq_hedge_tm_ready;	/* rq_hedge_tm is set up */
	char		*rq_head;		/* a tunnel's copy of the request
						   head up to its target, for the
						   log; NULL: in rp_in */
	struct request_http *rq_h;		/* NULL once a tunnel */

	/*
	 * From here on, not zeroed per request (a request on a keep-alive
	 * connection pays for every byte above): set up by their own init,
	 * or valid only under the flag or count above that says so.
	 */
	struct deadline_task rq_task;		/* every scope of the request */
	char		 rq_whybuf[160];	/* rq_why's bytes, when ours */
	struct deadline_timer rq_backoff;	/* rq_backoff_ready */
	struct deadline_timer rq_hedge_tm;	/* rq_hedge_tm_ready */
	struct hedge	*rq_hedge[HEDGE_MAX];	/* racing, rq_nhedge of them */
	unsigned	 rq_hedge_try[HEDGE_MAX];	/* their try numbers */
	struct tunnel	 rq_tunnel;		/* rq_tunneled (tunnel_init) */
	struct http_span rq_method, rq_target;	/* a tunnel's, in rq_head */
};

/*
 * A request's HTTP: both parsers and messages, most of its memory.  A slab
 * object of its own, given back when the request becomes a tunnel, which
 * has no HTTP left to parse: an idle tunnel costs little.
 */
struct request_http {
	struct http_parser rh_reqp;		/* client -> us */
	struct http_msg	 rh_reqm;
	struct http_parser rh_resp;		/* upstream -> us */
	struct http_msg	 rh_resm;
};

_Static_assert(sizeof(struct request) <= 4096, "requests live in a slab");

/* request.c, for request_hedge.c. */
const char *request_rid(struct request *);
const struct config_timeouts *request_timeouts(const struct request *);
bool	 request_idempotent(const struct request *);
int	 request_build_head(struct request *, struct upstream_server *,
	     int64_t try_at);
void	 request_parse_head(struct request *);
void	 request_finish(struct request *, enum outcome);
void	 request_upstream_cb(void *, enum upstream_event, int);
void	 request_drop_try(struct request *);
void	 request_retry_ended(struct request *, enum metrics_retry);

/*
 * request_hedge.c, for request.c.  request_hedge_arm(): the try in hand is
 * sent; set the timer of the next hedge if one may start.
 * request_hedge_cancel(): a head came or the request ends; every racing
 * hedge is closed and the timer stopped.  request_hedge_detach(): the try
 * in hand failed while hedges race; the request waits on them.
 * request_hedge_headed(): the try in hand got its response head.
 */
void	 request_hedge_arm(struct request *);
void	 request_hedge_headed(struct request *);
void	 request_hedge_cancel(struct request *);
void	 request_hedge_detach(struct request *, enum outcome, int err);

#endif
