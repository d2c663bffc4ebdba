/*
 * client.c: client connections: reading request heads, keep-alive and
 * pipelining, and what becomes of the connection after each request.
 *
 * While a request runs, the request's deadline task carries every scope.
 * Without one the connection waits under a single light timer of its own
 * (cl_wait): client_header from accept to the first byte, keep-alive
 * between requests, or the lingering close; it also posts the start of a
 * pipelined request to the next loop turn.  Between requests a client
 * holds no buffer, no request and no write side: an idle keep-alive
 * connection costs only this struct, its read event and its socket.
 *
 * client_close() is the destructor.  It is idempotent; when it runs inside
 * one of the client's own callbacks the memory is freed when that
 * callback returns.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "conn.h"
#include "deadline.h"
#include "http.h"
#include "log.h"
#include "netaddr.h"
#include "request.h"

#define LINGER_MS	1000	/* how long to drain input before closing */

/* cl_wait_why beyond the scopes: not waiting, or about to start the next
 * pipelined request. */
#define WAIT_NONE	SCOPE_COUNT
#define WAIT_NEXT	(SCOPE_COUNT + 1)

/* A client connection.  Kept small: thousands may sit idle. */
struct client {
	struct conn	 cl_conn;		/* first: the conn callback's
						   pointer is the client's */
	TAILQ_ENTRY(client) cl_entry;
	struct proxy_ctx *cl_ctx;
	struct deadline_timer cl_wait;		/* no request: the one deadline */
	struct buf	 cl_in;			/* request bytes; head at 0 */
	struct request	*cl_req;
	uint32_t	 cl_nreq;		/* requests begun */
	uint8_t		 cl_state;		/* enum client_state */
	uint8_t		 cl_wait_why;		/* enum scope of cl_wait, or
						   WAIT_NONE, WAIT_NEXT */
	bool		 cl_eof;		/* the client closed its side */
	bool		 cl_in_cb;		/* a callback of ours is running */
	uint8_t		 cl_iplen;		/* length of the ip part */
	char		 cl_addr[49];		/* "ip:port", "[ip]:port" */
};

static const char *const client_why_names[CLIENT_WHY_COUNT] = {
	[CLIENT_WHY_EOF] = "client closed",
	[CLIENT_WHY_ERROR] = "read or write failed",
	[CLIENT_WHY_ABORT] = "request aborted",
	[CLIENT_WHY_LINGER_DONE] = "lingering close done",
	[CLIENT_WHY_TIMEOUT] = "timed out",
	[CLIENT_WHY_NOMEM] = "out of memory",
	[CLIENT_WHY_DRAIN] = "draining",
	[CLIENT_WHY_SHUTDOWN] = "shutting down",
	[CLIENT_WHY_TLS] = "TLS handshake failed",
};

static void	client_conn_cb(struct conn *, enum conn_event, int);
static void	client_wait_cb(struct deadline_timer *, void *);
static void	client_begin_request(struct client *);
static void	client_request_end(void *, const struct request_end *);
static void	client_upgraded(void *);

/* The instant ms milliseconds from the cached now; 0 is never. */
static int64_t
client_after(uint64_t ms)
{
	if (ms == 0 || ms > (uint64_t)(DEADLINE_NEVER / 1000) / 2)
		return DEADLINE_NEVER;
	return deadline_now_cached() + (int64_t)ms * 1000;
}

/* Wait under one deadline with no request: why names it in the log. */
static void
client_wait(struct client *cl, enum scope why, int64_t when)
{
	cl->cl_wait_why = (uint8_t)why;
	if (when == DEADLINE_NEVER)
		deadline_timer_stop(&cl->cl_wait);
	else
		deadline_timer_set(&cl->cl_wait, when);
}

/* Refuse a connection over max_connections: 503, logged, closed. */
static void
client_overload(struct proxy_ctx *ctx, int fd, const struct sockaddr *sa)
{
	char addr[NETADDR_TEXT_MAX], out[384], ps[OUTCOME_PS_MAX];
	uint8_t iplen;
	ssize_t n;

	deadline_now_refresh();
	netaddr_format(sa, addr, sizeof addr, &iplen);
	n = http_build_error_detail(
	    outcome_info(OUTCOME_REJECT_OVERLOAD)->oi_status, true, NULL, 0,
	    ctx->pc_cfg->proxy_status == CONFIG_PS_OFF ? NULL :
	    outcome_proxy_status(OUTCOME_REJECT_OVERLOAD, NULL, ps, sizeof ps),
	    out, sizeof out);
	if (n > 0 && write(fd, out, (size_t)n) < 0)
		n = 0;
	close(fd);
	request_log_refused(ctx, addr, OUTCOME_REJECT_OVERLOAD,
	    n > 0 ? (uint64_t)n : 0);
}

/* The size of a client. */
size_t
client_size(void)
{
	return sizeof(struct client);
}

/* Take a new connection from a listener. */
void
client_accept(struct proxy_ctx *ctx, int fd, const struct sockaddr *sa,
    socklen_t salen, struct tls_server *tls)
{
	struct client *cl;
	int one = 1;

	(void)salen;
	if (__atomic_load_n(&proxy_clients_all, __ATOMIC_RELAXED) >=
	    ctx->pc_cfg->max_connections) {
		client_overload(ctx, fd, sa);
		return;
	}
	if ((cl = slab_get(ctx->pc_client_slab)) == NULL) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	cl->cl_ctx = ctx;
	cl->cl_state = CLIENT_IDLE;
	cl->cl_in.b_pool = BUF_POOL_HELD;
	netaddr_format(sa, cl->cl_addr, sizeof cl->cl_addr, &cl->cl_iplen);
	conn_init(&cl->cl_conn, ctx->pc_base, fd, client_conn_cb);
	deadline_timer_init(&cl->cl_wait, ctx->pc_base, client_wait_cb, cl);
	deadline_now_refresh();
	/* The handshake counts toward client_header. */
	client_wait(cl, SCOPE_CLIENT_HEADER,
	    client_after(ctx->pc_cfg->timeouts.ms[SCOPE_CLIENT_HEADER]));
	if (tls != NULL) {
		SSL *ssl = tls_server_ssl(tls);

		if (ssl == NULL || conn_tls_start(&cl->cl_conn, ssl) != 0) {
			deadline_timer_stop(&cl->cl_wait);
			conn_abort(&cl->cl_conn);
			slab_put(ctx->pc_client_slab, cl);
			return;
		}
	}
	conn_want_read(&cl->cl_conn, true);
	TAILQ_INSERT_TAIL(&ctx->pc_clients, cl, cl_entry);
	__atomic_add_fetch(&proxy_clients_all, 1, __ATOMIC_RELAXED);
	PROXY_COUNT(ctx, clients, 1);
	PROXY_COUNT(ctx, connections, 1);
	metrics_connection_accepted(ctx->pc_metrics);
}

/* Free the memory of a closed client. */
static void
client_free(struct client *cl)
{
	slab_put(cl->cl_ctx->pc_client_slab, cl);
}

/*
 * Close the connection: the destructor.  A request still running ends as
 * abort:client first (which comes back here).  Idempotent.
 */
void
client_close(struct client *cl, enum client_why why)
{
	struct proxy_ctx *ctx = cl->cl_ctx;

	if (cl->cl_state == CLIENT_CLOSED)
		return;
	if (cl->cl_req != NULL) {
		request_client_gone(cl->cl_req, client_why_names[why]);
		return;
	}
	log_debug("client %s: closed: %s", cl->cl_addr, client_why_names[why]);
	cl->cl_state = CLIENT_CLOSED;
	deadline_timer_stop(&cl->cl_wait);
	/* A cut response, or a peer that is gone or failed, gets no
	 * close_notify: nothing may look complete that is not. */
	if (why == CLIENT_WHY_ABORT || why == CLIENT_WHY_EOF ||
	    why == CLIENT_WHY_ERROR || why == CLIENT_WHY_TLS)
		conn_abort(&cl->cl_conn);
	else
		conn_close(&cl->cl_conn);
	buf_release(&cl->cl_in);
	TAILQ_REMOVE(&ctx->pc_clients, cl, cl_entry);
	__atomic_sub_fetch(&proxy_clients_all, 1, __ATOMIC_RELAXED);
	PROXY_COUNT(ctx, clients, -1);
	if (!cl->cl_in_cb)
		client_free(cl);
	if (ctx->pc_counts.clients == 0)
		ctx->pc_idle(ctx);
}

/* Close once the answer is flushed: half-close, drain input, then close. */
static void
client_linger(struct client *cl)
{
	cl->cl_state = CLIENT_LINGER;
	deadline_now_refresh();
	client_wait(cl, SCOPE_CLIENT_IDLE, client_after(LINGER_MS));
	conn_shutdown(&cl->cl_conn);
	conn_want_read(&cl->cl_conn, true);
}

/*
 * The request ended and is logged: the one place that decides what
 * becomes of the connection.  Close it now after an abort (or when the
 * client has closed its side); linger-close it when the request or the
 * drain asks; otherwise keep it for the next request, which, if its bytes
 * are here already, starts on the next loop turn.
 */
static void
client_request_end(void *arg, const struct request_end *end)
{
	struct client *cl = arg;
	struct proxy_ctx *ctx = cl->cl_ctx;
	struct buf *in = &cl->cl_in;

	request_free(cl->cl_req);
	cl->cl_req = NULL;
	if (end->re_abort || (!end->re_close && cl->cl_eof)) {
		client_close(cl, CLIENT_WHY_ABORT);
		return;
	}
	if (end->re_close || ctx->pc_draining) {
		client_linger(cl);
		return;
	}
	cl->cl_state = CLIENT_IDLE;
	if (buf_used(in) == 0)
		buf_release(in);	/* a drained write side released its own */
	else
		buf_compact(in);
	conn_want_read(&cl->cl_conn, true);
	if (buf_used(in) > 0) {
		cl->cl_wait_why = WAIT_NEXT;	/* pipelined */
		deadline_timer_set(&cl->cl_wait, deadline_now_cached());
	} else
		client_wait(cl, SCOPE_KEEPALIVE,
		    client_after(end->re_keepalive_ms));
}

/*
 * The request became a tunnel: it reads the connection from now on, and
 * the input buffer (whatever followed the head went upstream) is given
 * back.
 */
static void
client_upgraded(void *arg)
{
	struct client *cl = arg;

	cl->cl_state = CLIENT_TUNNEL;
	buf_release(&cl->cl_in);
}

/* Feed the head parser; start the request once its head is whole. */
static void
client_parse(struct client *cl)
{
	struct request *rq = cl->cl_req;

	if (request_feed_head(rq) != 1)
		return;		/* more needed, or refused and ended */
	cl->cl_state = CLIENT_BUSY;
	request_start(rq);
}

/* The first byte of a request is here (or was pipelined). */
static void
client_begin_request(struct client *cl)
{
	struct proxy_ctx *ctx = cl->cl_ctx;
	struct request_peer peer = {
		.rp_conn = &cl->cl_conn,
		.rp_in = &cl->cl_in,
		.rp_addr = cl->cl_addr,
		.rp_iplen = cl->cl_iplen,
		.rp_done = client_request_end,
		.rp_upgraded = client_upgraded,
		.rp_arg = cl,
	};
	int64_t at;

	/* The first head's time counts from accept, later ones from now. */
	if (cl->cl_nreq++ == 0)
		at = deadline_timer_when(&cl->cl_wait);
	else
		at = client_after(ctx->pc_cfg->timeouts.ms[SCOPE_CLIENT_HEADER]);
	/*
	 * The wait timer stays set: the next keep-alive wait moves it, which
	 * costs less than stopping and setting it again.  If it fires while
	 * the request runs, client_wait_cb() lets it go.
	 */
	cl->cl_wait_why = WAIT_NONE;
	if ((cl->cl_req = request_new(ctx, &peer, at)) == NULL) {
		client_close(cl, CLIENT_WHY_NOMEM);
		return;
	}
	cl->cl_state = CLIENT_HEAD;
	client_parse(cl);
}

/*
 * Make room in the input buffer.  A request's head stays at the start of
 * the buffer while the request runs (its spans point there); consumed body
 * bytes after it are dropped.  Returns the room left.
 */
static uint32_t
client_make_room(struct client *cl)
{
	struct buf *in = &cl->cl_in;
	uint32_t keep;

	if (cl->cl_state == CLIENT_HEAD) {
		if (buf_room(in) == 0 && buf_grow(in, in->b_cap * 2) != 0)
			return 0;
		return buf_room(in);
	}
	keep = cl->cl_req != NULL ? request_head_len(cl->cl_req) : 0;
	if (in->b_off == in->b_len && in->b_off > keep)
		in->b_off = in->b_len = keep;
	else if (buf_room(in) == 0 && in->b_off > keep) {
		memmove(in->b_data + keep, in->b_data + in->b_off,
		    buf_used(in));
		in->b_len = keep + buf_used(in);
		in->b_off = keep;
	}
	return buf_room(in);
}

/* Read what the client sent and hand it on. */
static void
client_on_readable(struct client *cl)
{
	struct buf *in = &cl->cl_in;
	char scratch[4096];
	ssize_t n;

	if (cl->cl_state == CLIENT_TUNNEL) {
		request_tunnel_readable(cl->cl_req);
		return;
	}
	if (cl->cl_state == CLIENT_LINGER) {
		n = conn_read(&cl->cl_conn, scratch, sizeof scratch);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			client_close(cl, CLIENT_WHY_LINGER_DONE);
		return;
	}
	if (buf_acquire(in) != 0) {
		client_close(cl, CLIENT_WHY_NOMEM);
		return;
	}
	if (client_make_room(cl) == 0) {
		conn_want_read(&cl->cl_conn, false);	/* resumed when consumed */
		return;
	}
	n = conn_read(&cl->cl_conn, in->b_data + in->b_len, buf_room(in));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		cl->cl_eof = true;
		client_close(cl, n == 0 ? CLIENT_WHY_EOF : CLIENT_WHY_ERROR);
		return;
	}
	in->b_len += (uint32_t)n;
	switch (cl->cl_state) {
	case CLIENT_IDLE:
		client_begin_request(cl);
		break;
	case CLIENT_HEAD:
		client_parse(cl);
		break;
	case CLIENT_BUSY:
		request_client_data(cl->cl_req);
		break;
	default:
		break;
	}
}

/* News of the connection's stream. */
static void
client_conn_cb(struct conn *c, enum conn_event ev, int err)
{
	struct client *cl = (struct client *)(void *)c;

	deadline_now_refresh();
	cl->cl_in_cb = true;
	switch (ev) {
	case CONN_READABLE:
		client_on_readable(cl);
		break;
	case CONN_WROTE:
		if (cl->cl_req != NULL)
			request_client_wrote(cl->cl_req);
		break;
	case CONN_DRAINED:
		if (cl->cl_req != NULL)
			request_client_drained(cl->cl_req);
		break;
	case CONN_WRFAIL:
		client_close(cl, CLIENT_WHY_ERROR);
		break;
	case CONN_TLS_READY:
		metrics_tls_handshake(cl->cl_ctx->pc_metrics, -1);
		break;
	case CONN_TLSFAIL:
		metrics_tls_handshake(cl->cl_ctx->pc_metrics, err);
		log_info("client %s: TLS handshake failed (%s): %s",
		    cl->cl_addr, tls_fail_name((enum tls_fail)err),
		    conn_tls_why());
		client_close(cl, CLIENT_WHY_TLS);
		break;
	default:
		break;
	}
	cl->cl_in_cb = false;
	if (cl->cl_state == CLIENT_CLOSED)
		client_free(cl);
}

/*
 * The connection's own timer fired: no request runs.  The next pipelined
 * request starts; or a keep-alive timeout, a client_header timeout before
 * any byte (not a request, so no log line), or the end of a lingering
 * close closes the connection.
 */
static void
client_wait_cb(struct deadline_timer *tm, void *arg)
{
	struct client *cl = arg;

	(void)tm;
	if (cl->cl_wait_why == WAIT_NONE)
		return;		/* a request runs: not waiting */
	cl->cl_in_cb = true;
	if (cl->cl_wait_why == WAIT_NEXT) {
		client_begin_request(cl);
	} else {
		if (cl->cl_wait_why == SCOPE_KEEPALIVE)
			metrics_keepalive_closed(cl->cl_ctx->pc_metrics);
		if (conn_handshaking(&cl->cl_conn))
			metrics_tls_handshake(cl->cl_ctx->pc_metrics,
			    TLS_FAIL_TIMEOUT);
		log_debug("client %s: %s timed out", cl->cl_addr,
		    scope_name(cl->cl_wait_why));
		client_close(cl, CLIENT_WHY_TIMEOUT);
	}
	cl->cl_in_cb = false;
	if (cl->cl_state == CLIENT_CLOSED)
		client_free(cl);
}

/* The drain began: close the idle, bound the requests in flight. */
void
client_drain_all(struct proxy_ctx *ctx, int64_t drain_at)
{
	struct client *cl, *next;

	for (cl = TAILQ_FIRST(&ctx->pc_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, cl_entry);
		if (cl->cl_req == NULL)
			client_close(cl, CLIENT_WHY_DRAIN);
		else
			request_drain(cl->cl_req, drain_at);
	}
}

/* Close every connection. */
void
client_close_all(struct proxy_ctx *ctx)
{
	struct client *cl;

	while ((cl = TAILQ_FIRST(&ctx->pc_clients)) != NULL)
		client_close(cl, CLIENT_WHY_SHUTDOWN);
}

/* How many connections are in each state. */
void
client_count_states(const struct proxy_ctx *ctx,
    uint64_t count[CLIENT_NSTATES])
{
	const struct client *cl;

	memset(count, 0, CLIENT_NSTATES * sizeof count[0]);
	TAILQ_FOREACH(cl, &ctx->pc_clients, cl_entry)
		count[cl->cl_state]++;
}

/* The first connection of the context, and the next one. */
struct client *
client_first(const struct proxy_ctx *ctx)
{
	return TAILQ_FIRST(&ctx->pc_clients);
}

struct client *
client_next(const struct client *cl)
{
	return TAILQ_NEXT(cl, cl_entry);
}

/* What a connection is doing, for tests. */
void
client_describe(const struct client *cl, char *buf, size_t len)
{
	snprintf(buf, len, "%s state %u request %s", cl->cl_addr,
	    cl->cl_state, cl->cl_req ? request_state_name(cl->cl_req) : "-");
}

/* When a deadline will next wake the client, or DEADLINE_NEVER. */
int64_t
client_deadline(const struct client *cl)
{
	if (cl->cl_req != NULL)
		return request_deadline(cl->cl_req);
	if (cl->cl_wait_why == WAIT_NONE)
		return DEADLINE_NEVER;
	return deadline_timer_when(&cl->cl_wait);
}
