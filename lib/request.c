/*
 * request.c: one request as a task, from the first byte of its head to its
 * access-log line; see request.h.
 *
 * The states are in enum req_state; request_set_state() is the one place
 * that changes them.  request_finish() is the one destructor: whatever
 * ends a request (a response relayed whole, a deadline, an error on either
 * side, a reject) comes through it exactly once, and it closes or pools
 * the upstream socket, answers or aborts the client, writes the log line,
 * and tells the client, which frees the request.
 *
 * Contract for callers: request_finish() ends with the done callback, after
 * which the request may be freed (and its client closed).  Every function
 * here that can reach it returns right after, and its callers do not touch
 * the request again.
 */
#include <sys/time.h>
#include <sys/uio.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "deadline.h"
#include "fmt.h"
#include "http.h"
#include "log.h"
#include "outcome.h"
#include "request_int.h"
#include "tls.h"
#include "tunnel.h"
#include "upstream.h"

#define RESP_HEAD_MAX	65536	/* the longest response head we take */
#define REQUEST_JOIN_MAX 2048	/* body bytes copied behind a head */
#define UPGRADE_MAX	256	/* the longest Upgrade we forward */
#define HINT_DEADLINE	"(digits, then ms or s)"
#define HINT_GRPC	"(1 to 8 digits, then H, M, S, m, u or n)"


static const char *const req_state_names[REQ_NSTATES] = {
	[REQ_HEAD] = "HEAD",
	[REQ_CONNECT] = "CONNECT",
	[REQ_SEND] = "SEND",
	[REQ_WAIT] = "WAIT",
	[REQ_RELAY] = "RELAY",
	[REQ_TUNNEL] = "TUNNEL",
	[REQ_DONE] = "DONE",
};

static void	request_connect(struct request *);
static void	request_pump_body(struct request *);
static void	request_read_response(struct request *);
static void	request_task_cb(struct deadline_task *, enum scope, void *);
static void	request_cancelled(struct request *, enum scope);
static void	request_attempt_failed(struct request *, enum outcome, int, int);
static int	request_tx_append(void *, const char *, size_t);
static void	request_backoff_done(struct deadline_timer *, void *);
static void	request_tunnel_cb(void *, enum tunnel_news, enum tunnel_side,
		    int);
static void	request_tunnel_begin(struct request *, size_t);

/* Which failures of an attempt may be retried. */
#define ATTEMPT_CONNECT		1	/* connect failed or timed out: always */
#define ATTEMPT_IDEMPOTENT	2	/* try timeout, reset or close before any
					   response byte: idempotent, no body */
#define ATTEMPT_FINAL		3	/* never */

/*
 * The request's id as text, as the logs and the upstream see it: the
 * client's X-Request-Id when it sent a well-formed one, else our own id
 * in 16 hex digits (written the first time it is asked for).
 */
const char *
request_rid(struct request *rq)
{
	if (rq->rq_rid_len == 0) {
		fmt_hex64(rq->rq_rid, rq->rq_id);
		rq->rq_rid[16] = '\0';
		rq->rq_rid_len = 16;
	}
	return rq->rq_rid;
}

/*
 * Take the client's X-Request-Id as the request's id when it is one field
 * of 1 to RID_MAX bytes of letters, digits and "-_.:+/=" (a UUID, a hex or
 * base64 token): what the logs can show bare and a header can carry.
 * Anything else is replaced by our own id.
 */
static void
request_take_rid(struct request *rq, const char *head)
{
	const struct http_msg *m = &rq->rq_h->rh_reqm;
	const struct http_field *f = NULL;
	const char *v;
	unsigned char c;

	for (int i = 0; i < m->nfields; i++) {
		if (m->fields[i].kind != HTTP_FK_REQUEST_ID)
			continue;
		if (f != NULL)
			return;		/* two of them: ours */
		f = &m->fields[i];
	}
	if (f == NULL || f->value.len == 0 || f->value.len > RID_MAX)
		return;
	v = head + f->value.off;
	for (uint32_t i = 0; i < f->value.len; i++) {
		c = (unsigned char)v[i];
		if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' &&
		    (c | 0x20) <= 'z') || c == '-' || c == '_' || c == '.' ||
		    c == ':' || c == '+' || c == '/' || c == '='))
			return;
	}
	memcpy(rq->rq_rid, v, f->value.len);
	rq->rq_rid[f->value.len] = '\0';
	rq->rq_rid_len = (uint8_t)f->value.len;
}

/* An illegal transition: a broken invariant.  Out of line, so that the
 * legal ones cost a table look-up. */
static void __attribute__((cold, noreturn))
request_illegal(struct request *rq, enum req_state to)
{
	log_crit("req %s: illegal transition %s -> %s", request_rid(rq),
	    req_state_names[rq->rq_state], req_state_names[to]);
	abort();
}

/* Log a transition at debug level (the caller checked the level). */
static void __attribute__((cold, noinline))
request_log_state(struct request *rq, enum req_state to)
{
	log_write(CONFIG_LOG_DEBUG, "req %s: %s -> %s", request_rid(rq),
	    req_state_names[rq->rq_state], req_state_names[to]);
}

/* The one transition function: assert the move is legal and log it. */
static void
request_set_state(struct request *rq, enum req_state to)
{
	static const uint8_t legal[REQ_NSTATES] = {
		[REQ_HEAD] = 1 << REQ_CONNECT | 1 << REQ_DONE,
		[REQ_CONNECT] = 1 << REQ_SEND | 1 << REQ_CONNECT | 1 << REQ_DONE,
		[REQ_SEND] = 1 << REQ_WAIT | 1 << REQ_RELAY | 1 << REQ_TUNNEL |
		    1 << REQ_CONNECT | 1 << REQ_DONE,
		[REQ_WAIT] = 1 << REQ_RELAY | 1 << REQ_TUNNEL | 1 << REQ_CONNECT |
		    1 << REQ_DONE,
		[REQ_RELAY] = 1 << REQ_DONE,
		[REQ_TUNNEL] = 1 << REQ_DONE,
	};

	if (!(legal[rq->rq_state] & (1 << to)))
		request_illegal(rq, to);
	if (CONFIG_LOG_DEBUG <= log_level_current)
		request_log_state(rq, to);
	rq->rq_state = to;
}

/* Microseconds since the first byte, or -1 for a phase never reached. */
static int64_t
since(const struct request *rq, int64_t t)
{
	return t > 0 ? t - rq->rq_t0 : -1;
}

/* The size of a request. */
size_t
request_size(void)
{
	return sizeof(struct request);
}

/* The size of a request's HTTP state, for the slab it lives in. */
size_t
request_http_size(void)
{
	return sizeof(struct request_http);
}

/* Give the HTTP state back (at the end, or when a tunnel begins). */
static void
request_http_put(struct request *rq)
{
	if (rq->rq_h == NULL)
		return;
	http_msg_free(&rq->rq_h->rh_reqm);
	http_msg_free(&rq->rq_h->rh_resm);
	slab_put(rq->rq_ctx->pc_rqh_slab, rq->rq_h);
	rq->rq_h = NULL;
}

/* Take a request struct (recycled when possible) for a new request. */
struct request *
request_new(struct proxy_ctx *ctx, const struct request_peer *peer,
    int64_t header_at)
{
	struct request *rq;
	struct request_http *rh;
	struct http_limits lim;

	if ((rq = slab_get(ctx->pc_req_slab)) == NULL)
		return NULL;
	if ((rh = slab_get(ctx->pc_rqh_slab)) == NULL) {
		slab_put(ctx->pc_req_slab, rq);
		return NULL;
	}
	memset(rq, 0, offsetof(struct request, rq_task));
	rq->rq_h = rh;
	rq->rq_ctx = ctx;
	rq->rq_peer = *peer;
	rq->rq_state = REQ_HEAD;
	rq->rq_id = proxy_next_id(ctx);
	rq->rq_cfg = config_ref(ctx->pc_cfg);
	rq->rq_ups = ctx->pc_ups;
	lim.max_uri = rq->rq_cfg->max_uri > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)rq->rq_cfg->max_uri;
	lim.max_header = rq->rq_cfg->max_header > UINT32_MAX ? UINT32_MAX :
	    (uint32_t)rq->rq_cfg->max_header;
	http_parser_init(&rh->rh_reqp, HTTP_KIND_REQUEST, &rh->rh_reqm, &lim);
	lim.max_uri = 0;
	lim.max_header = RESP_HEAD_MAX;
	http_parser_init(&rh->rh_resp, HTTP_KIND_RESPONSE, &rh->rh_resm, &lim);
	rq->rq_t0 = deadline_now_cached();
	rq->rq_deadline_ms = -1;
	deadline_task_init(&rq->rq_task, ctx->pc_base, request_task_cb, rq);
	if (header_at != DEADLINE_NEVER)
		deadline_open_at(&rq->rq_task, SCOPE_CLIENT_HEADER, header_at);
	PROXY_COUNT(ctx, in_flight, 1);
	upstream_set_ref(rq->rq_ups);
	return rq;
}

/* Give back what a request holds and recycle it. */
void
request_free(struct request *rq)
{
	struct proxy_ctx *ctx = rq->rq_ctx;

	deadline_task_clear(&rq->rq_task);
	if (rq->rq_nhedge > 0 || rq->rq_hedge_tm_ready)
		request_hedge_cancel(rq);	/* none left after a finish */
	request_http_put(rq);
	free(rq->rq_head);
	buf_release(&rq->rq_tx);
	buf_release(&rq->rq_rx);
	if (rq->rq_up != NULL) {
		upstream_release(rq->rq_up, false);
		rq->rq_up = NULL;
	}
	config_unref(rq->rq_cfg);
	PROXY_COUNT(ctx, in_flight, -1);
	if (ctx->pc_counts.in_flight == 0)
		ctx->pc_idle(ctx);
	upstream_set_unref(rq->rq_ups);
	slab_put(ctx->pc_req_slab, rq);
}

/* Bytes of the head at the start of the input buffer. */
uint32_t
request_head_len(const struct request *rq)
{
	return rq->rq_h != NULL ? rq->rq_h->rh_reqm.head_len : 0;
}

/* When the task is armed for. */
int64_t
request_deadline(const struct request *rq)
{
	return deadline_armed(&rq->rq_task);
}

/* The state's name. */
const char *
request_state_name(const struct request *rq)
{
	return req_state_names[rq->rq_state];
}

/* The timeouts in force for this request: its route's, or the defaults. */
const struct config_timeouts *
request_timeouts(const struct request *rq)
{
	return rq->rq_route ? &rq->rq_route->timeouts : &rq->rq_cfg->timeouts;
}

/* Count a finished request: the metrics and the proxy's counters. */
static void
request_account(struct proxy_ctx *ctx, const struct metrics_req *mr)
{
	metrics_request(ctx->pc_metrics, mr);
	PROXY_COUNT(ctx, requests, 1);
	if (outcome_kind(mr->outcome) == OUTCOME_KIND_TIMEOUT)
		PROXY_COUNT(ctx, timeouts, 1);
}

/* Log and count a connection refused before any request began. */
void
request_log_refused(struct proxy_ctx *ctx, const char *addr,
    enum outcome outcome, uint64_t bytes_out)
{
	struct accesslog_entry e;
	struct metrics_req mr = {
		.outcome = outcome,
		.status = outcome_info(outcome)->oi_status,
		.connect_us = -1,
		.upstream_header_us = -1,
		.bytes_out = bytes_out,
	};
	char id[17];

	request_account(ctx, &mr);
	if (!accesslog_enabled(ctx->pc_alog))
		return;
	fmt_hex64(id, proxy_next_id(ctx));
	id[16] = '\0';
	accesslog_entry_init(&e, deadline_wall_cached(), id, 16, addr);
	e.status = mr.status;
	e.outcome = outcome;
	e.bytes_out = bytes_out;
	accesslog_write(ctx->pc_alog, &e);
}

/* Count a finished request and write its access-log line. */
static void
request_log(struct request *rq, enum outcome outcome)
{
	const char *head = rq->rq_head != NULL ? rq->rq_head :
	    rq->rq_peer.rp_in->b_data;
	struct accesslog_entry e;
	bool parsed = rq->rq_t_head > 0 && head != NULL;
	int64_t total_us = deadline_now_refresh() - rq->rq_t0;
	struct metrics_req mr = {
		.route = rq->rq_route ? rq->rq_route->prefix : NULL,
		.upstream = rq->rq_route && rq->rq_route->upstream ?
		    rq->rq_route->upstream->name : NULL,
		.outcome = outcome,
		.status = rq->rq_status,
		/* A tunnel's request took until its 101; the tunnel's life
		 * is its own (the log's total_ms has both). */
		.total_us = rq->rq_tunneled ? rq->rq_t_uphead - rq->rq_t0 :
		    total_us,
		.connect_us = rq->rq_t_conn > 0 ?
		    rq->rq_t_conn - rq->rq_t_conn0 : -1,
		.upstream_header_us = rq->rq_t_uphead > 0 && rq->rq_t_sent > 0 ?
		    rq->rq_t_uphead - rq->rq_t_sent : -1,
		.bytes_in = rq->rq_bytes_in,
		.bytes_out = rq->rq_bytes_out,
	};

	request_account(rq->rq_ctx, &mr);
	if (!accesslog_enabled(rq->rq_ctx->pc_alog))
		return;
	/* The wall clock at the first byte, from the one read for now. */
	request_rid(rq);	/* sets rq_rid_len, read next */
	accesslog_entry_init(&e, deadline_wall_cached() - total_us,
	    rq->rq_rid, rq->rq_rid_len, rq->rq_peer.rp_addr);
	if (parsed && rq->rq_h == NULL) {	/* a tunnel's, in rq_head */
		e.method = head + rq->rq_method.off;
		e.method_len = rq->rq_method.len;
		e.target = head + rq->rq_target.off;
		e.target_len = rq->rq_target.len;
	} else if (parsed) {
		e.method = head + rq->rq_h->rh_reqm.method.off;
		e.method_len = rq->rq_h->rh_reqm.method.len;
		e.target = head + rq->rq_h->rh_reqm.target.off;
		e.target_len = rq->rq_h->rh_reqm.target.len;
	}
	e.route = rq->rq_route ? rq->rq_route->prefix : NULL;
	if (rq->rq_server != NULL) {
		e.upstream = upstream_name(rq->rq_server);
		e.upstream_len = strlen(e.upstream);
	}
	e.status = rq->rq_status;
	e.outcome = outcome;
	e.tries = rq->rq_tries;
	e.hedged = rq->rq_hedges > 0;
	e.won = rq->rq_won;
	e.deadline_ms = rq->rq_deadline_ms;
	e.bytes_in = rq->rq_bytes_in;
	e.bytes_out = rq->rq_bytes_out;
	e.head_us = since(rq, rq->rq_t_head);
	e.connect_us = mr.connect_us;
	e.upstream_header_us = mr.upstream_header_us;
	e.total_us = total_us;
	if (conn_tls(rq->rq_peer.rp_conn) != NULL)
		e.tls = tls_version(conn_tls(rq->rq_peer.rp_conn));
	accesslog_write(rq->rq_ctx->pc_alog, &e);
}

/*
 * Our Proxy-Status member for a response we make (RFC 9209; README,
 * "Deadlines across hops"): the outcome's error type, refined where the
 * request knows more, and the outcome as details.  NULL when
 * proxy_status = off or the outcome has no type.
 */
static const char *
request_proxy_status(struct request *rq, enum outcome o, char *out,
    size_t cap)
{
	const char *type = outcome_info(o)->oi_proxy_status;

	if (type == NULL || rq->rq_cfg->proxy_status == CONFIG_PS_OFF)
		return NULL;
	if (o == OUTCOME_TIMEOUT + SCOPE_UPSTREAM_IDLE && !rq->rq_sent)
		type = "connection_write_timeout";
	else if (o == OUTCOME_ERROR_CONNECT && rq->rq_server != NULL &&
	    !upstream_has_address(rq->rq_server))
		type = "dns_error";
	else if (o == OUTCOME_ERROR_TLS && rq->rq_tls_fail == TLS_FAIL_CERTIFICATE)
		type = "tls_certificate_error";
	else if (o == OUTCOME_ERROR_NO_UPSTREAM && rq->rq_route == NULL)
		type = "destination_not_found";
	return outcome_proxy_status(o, type, out, cap);
}

/*
 * The one destructor.  Before the response head went out, the client is
 * answered with the outcome's status (outcome.h); after it, the client
 * connection is aborted so the body visibly ends short.
 */
void
request_finish(struct request *rq, enum outcome outcome)
{
	struct deadline_task *t = &rq->rq_task;
	struct request_end end;
	bool ok = outcome == OUTCOME_OK, reuse;
	int status = outcome_info(outcome)->oi_status;
	char out[640], ps[OUTCOME_PS_MAX];
	ssize_t n;

	if (rq->rq_state == REQ_DONE)
		return;
	request_set_state(rq, REQ_DONE);
	if (rq->rq_backoff_ready)
		deadline_timer_stop(&rq->rq_backoff);
	if (rq->rq_nhedge > 0 || rq->rq_hedge_tm_ready)
		request_hedge_cancel(rq);
	request_retry_ended(rq, METRICS_RETRY_FAILED);
	/* A trial request that ended without a verdict frees the trial. */
	if (rq->rq_server != NULL && !rq->rq_judged)
		upstream_abandoned(rq->rq_server);
	/* The request scope stays until the client picks the next scope. */
	deadline_close(t, SCOPE_CLIENT_IDLE);
	deadline_close(t, SCOPE_TRY);
	deadline_close(t, SCOPE_CONNECT);
	deadline_close(t, SCOPE_UPSTREAM_HEADER);
	deadline_close(t, SCOPE_UPSTREAM_IDLE);
	if (rq->rq_tunneled) {
		deadline_close(t, SCOPE_TUNNEL_IDLE);
		deadline_close(t, SCOPE_TUNNEL_MAX);
		rq->rq_bytes_in += tunnel_bytes(&rq->rq_tunnel, TUNNEL_CLIENT);
		rq->rq_bytes_out += tunnel_bytes(&rq->rq_tunnel,
		    TUNNEL_UPSTREAM);
		metrics_tunnel_ended(rq->rq_ctx->pc_metrics, outcome);
	}

	end.re_abort = !ok;
	if (!ok && !rq->rq_head_sent && status != 0 && status != 499) {
		/*
		 * After our own 502 or 504 the connection stays open, as
		 * nginx keeps it, when the request was read whole and the
		 * client did not ask to close: the fault was upstream, and the
		 * connection is clean.  Any other answer closes it.
		 */
		if ((status != 502 && status != 504) || !rq->rq_body_done ||
		    rq->rq_t_head == 0)
			rq->rq_close = true;
		rq->rq_status = status;
		n = http_build_error_detail(status, rq->rq_close, rq->rq_why,
		    rq->rq_why_len, request_proxy_status(rq, outcome, ps,
		    sizeof ps), out, sizeof out);
		if (n > 0 && rq->rq_t_head > 0 &&
		    rq->rq_h->rh_reqm.method_id == HTTP_HEAD) {
			/* The answer to HEAD is the head alone. */
			const char *e = memmem(out, (size_t)n, "\r\n\r\n", 4);

			if (e != NULL)
				n = e + 4 - out;
		}
		if (n > 0) {
			struct iovec iov = { out, (size_t)n };

			if (conn_send(rq->rq_peer.rp_conn, &iov, 1) == 0) {
				rq->rq_bytes_out += (uint64_t)n;
				end.re_abort = false;	/* answered */
			}
		}
	} else if (!ok) {
		if (status == 499 && !rq->rq_tunneled)
			rq->rq_status = 499;
		rq->rq_close = true;	/* abort: the body ends short */
	}
	if (rq->rq_tunneled) {
		/* Both streams are over, or cut: nothing more on either. */
		rq->rq_close = true;
		end.re_abort = true;
	}
	if (!rq->rq_body_done)
		rq->rq_close = true;	/* unread body: cannot reuse */

	/*
	 * The upstream socket goes back to the pool only after a clean end.
	 * It is closed after the client's answer is written: its FIN costs
	 * the loopback peer's work in this thread, and the client need not
	 * wait for that.
	 */
	if (rq->rq_up != NULL) {
		reuse = ok && rq->rq_sent && !rq->rq_upgrade &&
		    (rq->rq_h->rh_resm.flags & HTTP_F_KEEPALIVE) &&
		    !(rq->rq_h->rh_resm.flags & HTTP_F_TO_EOF);
		upstream_release(rq->rq_up, reuse);
		rq->rq_up = NULL;
	}
	request_log(rq, outcome);
	if (!ok)
		log_info("req %s: %s %s (client %s%s%s, upstream %s)",
		    request_rid(rq), outcome_name(outcome),
		    rq->rq_tunneled ? "in the tunnel: closed" :
		    rq->rq_head_sent ? "after the response head: aborted" :
		    "before the response head", rq->rq_peer.rp_addr,
		    rq->rq_gone != NULL ? ": " : "",
		    rq->rq_gone != NULL ? rq->rq_gone : "",
		    rq->rq_server ? upstream_name(rq->rq_server) : "-");
	end.re_close = rq->rq_close;
	end.re_keepalive_ms = request_timeouts(rq)->ms[SCOPE_KEEPALIVE];
	rq->rq_peer.rp_done(rq->rq_peer.rp_arg, &end);
}

/*
 * A deadline of the request's task fired.
 * A connect or try timeout may be retried; the rest end the request.
 */
static void
request_cancelled(struct request *rq, enum scope cause)
{
	enum outcome o = outcome_timeout(cause);

	switch (cause) {
	case SCOPE_CONNECT:
		request_attempt_failed(rq, o, ATTEMPT_CONNECT, 0);
		return;
	case SCOPE_TRY:
		request_attempt_failed(rq, o, ATTEMPT_IDEMPOTENT, 0);
		return;
	case SCOPE_UPSTREAM_HEADER:
		request_attempt_failed(rq, o, ATTEMPT_FINAL, 0);
		return;
	default:
		request_finish(rq, o);
		return;
	}
}

/* The engine's callback: a deadline of the request's task fired. */
static void
request_task_cb(struct deadline_task *t, enum scope cause, void *arg)
{
	(void)t;
	request_cancelled(arg, cause);
}

/* The client closed or reset its connection while we worked. */
void
request_client_gone(struct request *rq, const char *why)
{
	rq->rq_gone = why;
	request_finish(rq, OUTCOME_ABORT_CLIENT);
}

/* The drain began: end by drain_at, and close the connection after. */
void
request_drain(struct request *rq, int64_t drain_at)
{
	rq->rq_close = true;
	rq->rq_drain_at = drain_at;
	deadline_open_at(&rq->rq_task, SCOPE_DRAIN, drain_at);
}

/*
 * Feed the bytes read so far to the head parser.  Returns 1 when the head
 * is complete, 0 when more is needed, -1 when the request was rejected
 * (and finished).
 */
int
request_feed_head(struct request *rq)
{
	struct buf *in = rq->rq_peer.rp_in;
	enum http_verdict v;
	size_t used;

	v = http_feed(&rq->rq_h->rh_reqp, in->b_data, in->b_data + in->b_off,
	    buf_used(in), &used);
	in->b_off += (uint32_t)used;
	rq->rq_bytes_in += used;
	if (v != HTTP_MORE && v != HTTP_GOT_HEAD)
		rq->rq_bytes_in += buf_used(in);	/* read, then refused */
	switch (v) {
	case HTTP_MORE:
		return 0;
	case HTTP_GOT_HEAD:
		break;
	case HTTP_ERR_URI:
		request_finish(rq, OUTCOME_REJECT_URI_TOO_LONG);
		return -1;
	case HTTP_ERR_HEADER:
		request_finish(rq, OUTCOME_REJECT_HEADER_TOO_LARGE);
		return -1;
	case HTTP_ERR_TE:
		log_info("req %s: request from %s: %s",
		    request_rid(rq), rq->rq_peer.rp_addr,
		    rq->rq_h->rh_reqp.hp_reason ? rq->rq_h->rh_reqp.hp_reason : "?");
		request_finish(rq, OUTCOME_REJECT_NOT_IMPLEMENTED);
		return -1;
	default:
		log_info("req %s: bad request from %s: %s",
		    request_rid(rq), rq->rq_peer.rp_addr,
		    rq->rq_h->rh_reqp.hp_reason ? rq->rq_h->rh_reqp.hp_reason : "?");
		request_finish(rq, OUTCOME_REJECT_BAD_REQUEST);
		return -1;
	}
	rq->rq_t_head = deadline_now_cached();
	return 1;
}

/*
 * Refuse a deadline header: the answer's body and the error log name the
 * header and the value (printable ASCII of it, cut to 64 bytes).  A request
 * that asks for a deadline must not run under another one.
 */
static int
request_bad_deadline(struct request *rq, const char *name, const char *v,
    size_t len, const char *hint)
{
	char *p = rq->rq_whybuf, *end = p + sizeof rq->rq_whybuf;
	size_t n = strlen(name), h = strlen(hint);

	if (n > 40)
		n = 40;
	memcpy(p, name, n);
	p += n;
	memcpy(p, ": \"", 3);
	p += 3;
	for (size_t i = 0; i < len && i < 64 && p < end - 20 - h; i++)
		*p++ = (v[i] >= 0x20 && v[i] < 0x7f && v[i] != '"') ? v[i] : '?';
	memcpy(p, "\" is not a deadline ", 20);
	p += 20;
	memcpy(p, hint, h);
	p += h;
	rq->rq_why = rq->rq_whybuf;
	rq->rq_why_len = (uint32_t)(p - rq->rq_whybuf);
	log_info("req %s: bad request from %s: %.*s", request_rid(rq),
	    rq->rq_peer.rp_addr, (int)rq->rq_why_len, rq->rq_why);
	return -1;
}

/*
 * Parse the client's deadline header (digits, then "ms", "s" or nothing for
 * ms) and shorten the request scope to it.  -1 for a malformed or zero
 * value, which the caller answers with 400.
 */
static int
request_deadline_header(struct request *rq, const struct config_timeouts *to)
{
	const char *head = rq->rq_peer.rp_in->b_data, *p, *end, *v;
	const struct http_field *f;
	uint64_t val = 0, mult = 1;
	int i;

	if (to->deadline_header[0] == '\0' ||
	    (i = http_find(&rq->rq_h->rh_reqm, head, to->deadline_header)) < 0)
		return 0;
	f = &rq->rq_h->rh_reqm.fields[i];
	p = v = head + f->value.off;
	end = p + f->value.len;
	if (p == end || *p < '0' || *p > '9')
		return request_bad_deadline(rq, to->deadline_header, v,
		    f->value.len, HINT_DEADLINE);
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		val = val * 10 + (uint64_t)(*p - '0');
		if (val > CONFIG_DURATION_MAX)
			val = CONFIG_DURATION_MAX + 1ULL;	/* clamped below */
	}
	if (end - p == 2 && p[0] == 'm' && p[1] == 's')
		p = end;
	else if (end - p == 1 && p[0] == 's') {
		mult = 1000;
		p = end;
	}
	if (p != end || val == 0)
		return request_bad_deadline(rq, to->deadline_header, v,
		    f->value.len, HINT_DEADLINE);
	val *= mult;
	if (val < (uint64_t)rq->rq_deadline_ms)
		rq->rq_deadline_ms = (int64_t)val;
	return 0;
}

/*
 * Parse the client's grpc-timeout (1 to 8 digits and one unit of H M S m u
 * n) and shorten the request scope to it, rounded up to whole ms.  -1 for
 * a malformed or zero value (400), as for the deadline header.
 */
static int
request_grpc_timeout(struct request *rq)
{
	static const struct {
		char		 unit;
		uint64_t	 ns;
	} units[] = {
		{ 'H', 3600000000000ULL }, { 'M', 60000000000ULL },
		{ 'S', 1000000000ULL }, { 'm', 1000000ULL }, { 'u', 1000ULL },
		{ 'n', 1ULL },
	};
	const struct http_msg *m = &rq->rq_h->rh_reqm;
	const char *head = rq->rq_peer.rp_in->b_data, *v;
	const struct http_field *f = NULL;
	uint64_t val = 0, ms;
	uint32_t len;
	size_t u;

	for (int i = 0; i < m->nfields && f == NULL; i++)
		if (m->fields[i].kind == HTTP_FK_GRPC_TIMEOUT)
			f = &m->fields[i];
	v = head + f->value.off;
	len = f->value.len;
	for (u = 0; len >= 2 && len <= 9 && u < sizeof units / sizeof units[0];
	    u++)
		if (v[len - 1] == units[u].unit)
			break;
	if (len < 2 || len > 9 || u == sizeof units / sizeof units[0])
		return request_bad_deadline(rq, "grpc-timeout", v, len,
		    HINT_GRPC);
	for (uint32_t i = 0; i < len - 1; i++) {
		if (v[i] < '0' || v[i] > '9')
			return request_bad_deadline(rq, "grpc-timeout", v, len,
			    HINT_GRPC);
		val = val * 10 + (uint64_t)(v[i] - '0');
	}
	if (val == 0)
		return request_bad_deadline(rq, "grpc-timeout", v, len,
		    HINT_GRPC);
	/* 99999999H overflows nanoseconds: anything that long is no limit. */
	if (val > UINT64_MAX / units[u].ns)
		return 0;
	ms = (val * units[u].ns + 999999) / 1000000;
	if (ms < (uint64_t)rq->rq_deadline_ms)
		rq->rq_deadline_ms = (int64_t)ms;
	rq->rq_grpc = true;
	return 0;
}

/* Whether an Upgrade protocol (as "name" or "name/version") is in the
 * route's list, which holds lower-case names and name/versions. */
static bool
request_upgrade_allowed(const char *list, const char *p, size_t n)
{
	const char *slash = memchr(p, '/', n);
	size_t name = slash != NULL ? (size_t)(slash - p) : n;

	while (*list != '\0') {
		size_t len = strcspn(list, ",");

		if ((len == n && strncasecmp(list, p, n) == 0) ||
		    (len == name && strncasecmp(list, p, name) == 0))
			return true;
		list += len;
		while (*list == ',' || *list == ' ')
			list++;
	}
	return false;
}

/*
 * The Upgrade to forward: the protocols the client offered that its route
 * allows (h2c never: the route cannot allow it), in the client's order,
 * joined with ", " into out.  Its length; 0 for none, when the request
 * goes on as a plain one.
 */
static size_t
request_upgrade_value(struct request *rq, char *out, size_t cap)
{
	const struct http_msg *m = &rq->rq_h->rh_reqm;
	const char *head = rq->rq_peer.rp_in->b_data, *p, *end, *t;
	size_t len = 0, n;

	if (!(m->flags & HTTP_F_UPGRADE) || rq->rq_route == NULL ||
	    rq->rq_route->upgrade[0] == '\0')
		return 0;
	for (int i = 0; i < m->nfields; i++) {
		if (m->fields[i].kind != HTTP_FK_UPGRADE)
			continue;
		p = head + m->fields[i].value.off;
		end = p + m->fields[i].value.len;
		while (p < end) {
			while (p < end && (*p == ',' || *p == ' ' ||
			    *p == '\t'))
				p++;
			for (t = p; p < end && *p != ',' && *p != ' ' &&
			    *p != '\t'; p++)
				;
			n = (size_t)(p - t);
			if (n == 0 || !request_upgrade_allowed(
			    rq->rq_route->upgrade, t, n))
				continue;
			if (len + n + 2 > cap)
				return len;
			if (len > 0) {
				memcpy(out + len, ", ", 2);
				len += 2;
			}
			memcpy(out + len, t, n);
			len += n;
		}
	}
	return len;
}

/*
 * The head is complete: route it, open the request scope and go upstream.
 */
void
request_start(struct request *rq)
{
	struct http_msg *m = &rq->rq_h->rh_reqm;
	const char *head = rq->rq_peer.rp_in->b_data;
	const struct config_timeouts *to;
	struct deadline_task *t = &rq->rq_task;
	const char *host = NULL, *why;
	size_t hostlen = 0;

	if (!(m->flags & HTTP_F_BODY))
		rq->rq_body_done = true;
	else if (m->flags & HTTP_F_CHUNKED)
		http_parser_set_body_cb(&rq->rq_h->rh_reqp, request_tx_append, rq,
		    false);
	if (!(m->flags & HTTP_F_KEEPALIVE))
		rq->rq_close = true;
	if (m->authority.len > 0) {
		host = head + m->authority.off;
		hostlen = m->authority.len;
	}
	rq->rq_route = config_route_match(rq->rq_cfg, head + m->path.off,
	    m->path.len, host, hostlen);
	if (m->known & HTTP_FK_BIT(HTTP_FK_REQUEST_ID))
		request_take_rid(rq, head);
	to = rq->rq_route ? &rq->rq_route->timeouts : &rq->rq_cfg->timeouts;
	if (m->flags & HTTP_F_UPGRADE) {
		char up[UPGRADE_MAX];

		rq->rq_upgrade = request_upgrade_value(rq, up, sizeof up) > 0;
		http_parser_set_upgrade(&rq->rq_h->rh_resp, rq->rq_upgrade);
	}
	rq->rq_deadline_ms = to->ms[SCOPE_REQUEST];
	if (request_deadline_header(rq, to) != 0 || (to->grpc_timeout &&
	    (m->known & HTTP_FK_BIT(HTTP_FK_GRPC_TIMEOUT)) &&
	    request_grpc_timeout(rq) != 0)) {
		deadline_open(t, SCOPE_REQUEST, to->ms[SCOPE_REQUEST]);
		deadline_close(t, SCOPE_CLIENT_HEADER);
		request_finish(rq, OUTCOME_REJECT_BAD_REQUEST);
		return;
	}
	deadline_open(t, SCOPE_REQUEST, (uint64_t)rq->rq_deadline_ms);
	deadline_close(t, SCOPE_CLIENT_HEADER);
	rq->rq_request_at = deadline_scope_at(t, SCOPE_REQUEST);

	if (rq->rq_route == NULL) {
		log_info("req %s: no route for %.*s (client %s)",
		    request_rid(rq), (int)m->path.len,
		    head + m->path.off, rq->rq_peer.rp_addr);
		request_finish(rq, OUTCOME_ERROR_NO_UPSTREAM);
		return;
	}
	if ((m->flags & HTTP_F_LENGTH) &&
	    rq->rq_cfg->max_body != CONFIG_SIZE_OFF &&
	    (uint64_t)m->content_length > rq->rq_cfg->max_body) {
		request_finish(rq, OUTCOME_REJECT_BODY_TOO_LARGE);
		return;
	}
	rq->rq_server = upstream_pick(rq->rq_ups, rq->rq_route, 0, &why);
	if (rq->rq_server == NULL) {
		log_err("req %s: upstream %s: %s (client %s)",
		    request_rid(rq), rq->rq_route->upstream->name,
		    why, rq->rq_peer.rp_addr);
		request_finish(rq, OUTCOME_ERROR_NO_UPSTREAM);
		return;
	}
	upstream_budget_request(rq->rq_ups, rq->rq_route);
	http_parser_set_head_request(&rq->rq_h->rh_resp, m->method_id == HTTP_HEAD);
	request_connect(rq);
}


/*
 * The instant that bounds a started request: its request scope's, or the
 * drain's when that is earlier (s says which).  Read from the instants the
 * request keeps (request_rearm() opens the scopes again from them), not
 * from the task.
 */
static int64_t
request_bound(const struct request *rq, enum scope *s)
{
	if (rq->rq_drain_at != 0 && rq->rq_drain_at < rq->rq_request_at) {
		*s = SCOPE_DRAIN;
		return rq->rq_drain_at;
	}
	*s = SCOPE_REQUEST;
	return rq->rq_request_at;
}

/*
 * The milliseconds the upstream really has, told to it in the deadline
 * header: the least of what is left on request, try and drain, and the
 * whole of upstream_header (which starts once the request is sent; connect
 * is over by now), minus deadline_margin so that the inner hop fires first
 * and its answer reaches us before our own scope ends; at least 1.
 */
static int64_t
request_upstream_budget(struct request *rq, const struct config_timeouts *to,
    int64_t try_at)
{
	enum scope s;
	int64_t now = deadline_now_refresh(), at = request_bound(rq, &s), ms;

	if (try_at < at)
		at = try_at;
	ms = at == DEADLINE_NEVER ? INT64_MAX : (at - now) / 1000;
	if (to->ms[SCOPE_UPSTREAM_HEADER] != 0 &&
	    (int64_t)to->ms[SCOPE_UPSTREAM_HEADER] < ms)
		ms = to->ms[SCOPE_UPSTREAM_HEADER];
	ms -= to->deadline_margin_ms;
	return ms < 1 ? 1 : ms;
}

/*
 * Build the head to forward to server into rq_tx.  It is built when the
 * upstream connection is ready, so that the propagated deadline is what is
 * left then, with the try scope that ends at try_at.  Returns 0, or -1
 * when the request was finished.
 */
int
request_build_head(struct request *rq, struct upstream_server *server,
    int64_t try_at)
{
	const struct config_timeouts *to = request_timeouts(rq);
	struct http_fwd fwd;
	char ip[64], up[UPGRADE_MAX];
	uint32_t cap;
	ssize_t n;

	memcpy(ip, rq->rq_peer.rp_addr + (rq->rq_peer.rp_addr[0] == '['),
	    rq->rq_peer.rp_iplen);
	ip[rq->rq_peer.rp_iplen] = '\0';
	memset(&fwd, 0, sizeof fwd);
	fwd.client_ip = ip;
	fwd.proto = conn_tls(rq->rq_peer.rp_conn) != NULL ? "https" : "http";
	fwd.via = "1.1 hourglass";
	fwd.host = upstream_name(server);	/* an HTTP/1.0 request without Host */
	fwd.strip_expect = (rq->rq_h->rh_reqm.flags & HTTP_F_EXPECT_100) != 0;
	fwd.request_id = request_rid(rq);
	fwd.request_id_len = rq->rq_rid_len;
	if (rq->rq_upgrade) {
		fwd.upgrade = up;
		fwd.upgrade_len = request_upgrade_value(rq, up, sizeof up);
	}
	if (to->propagate_deadline) {
		int64_t left = request_upstream_budget(rq, to, try_at);

		if (to->deadline_header[0] != '\0') {
			fwd.deadline_name = to->deadline_header;
			fwd.deadline_ms = left;
		}
		if (rq->rq_grpc)
			fwd.grpc_ms = left;
	}
	cap = rq->rq_h->rh_reqm.head_len + 1024;
	for (;;) {
		if (buf_grow(&rq->rq_tx, cap) != 0)
			break;
		n = http_build_request(&rq->rq_h->rh_reqm, rq->rq_peer.rp_in->b_data,
		    &fwd,
		    rq->rq_tx.b_data, rq->rq_tx.b_cap);
		if (n >= 0) {
			rq->rq_tx.b_off = 0;
			rq->rq_tx.b_len = (uint32_t)n;
			return 0;
		}
		if (cap > rq->rq_h->rh_reqm.head_len * 2 + 65536)
			break;
		cap *= 2;
	}
	log_err("req %s: cannot build the forwarded head",
	    request_rid(rq));
	request_finish(rq, OUTCOME_REJECT_HEADER_TOO_LARGE);
	return -1;
}

/*
 * try_min: a try starts only with at least that much left on the scope
 * that bounds the request (request, or drain).  Otherwise the request
 * ends at once with that scope's outcome; returns true then.
 */
static bool
request_try_skipped(struct request *rq, const struct config_timeouts *to)
{
	enum scope s;
	int64_t at, left;

	if (to->try_min_ms == 0)
		return false;
	at = request_bound(rq, &s);
	left = (at - deadline_now_refresh()) / 1000;
	if (left >= (int64_t)to->try_min_ms)
		return false;
	metrics_skipped(rq->rq_ctx->pc_metrics, METRICS_SKIP_DEADLINE);
	log_info("req %s: try %u not started: %lld ms left on %s, under "
	    "try_min %u ms (client %s)", request_rid(rq), rq->rq_tries + 1,
	    (long long)left, scope_name(s), to->try_min_ms,
	    rq->rq_peer.rp_addr);
	request_finish(rq, outcome_timeout(s));
	return true;
}

/* Get a connection to the server: from its pool, or a new connect. */
static void
request_connect(struct request *rq)
{
	const struct config_timeouts *to = request_timeouts(rq);
	struct deadline_task *t = &rq->rq_task;
	struct upconn *up;
	int err = 0;

	if (!rq->rq_fresh_retry && request_try_skipped(rq, to))
		return;

	if (!rq->rq_fresh_retry || rq->rq_tries == 0)
		rq->rq_tries++;
	rq->rq_try = rq->rq_tries;
	if (upstream_index(rq->rq_server) < 64)
		rq->rq_tried |= 1ULL << upstream_index(rq->rq_server);
	if (!deadline_scope_open(t, SCOPE_TRY))
		deadline_open(t, SCOPE_TRY, to->ms[SCOPE_TRY]);
	rq->rq_t_conn0 = deadline_now_cached();
	if (!rq->rq_fresh_retry &&
	    (up = upstream_pool_get(rq->rq_server)) != NULL) {
		rq->rq_pooled = true;
		rq->rq_up = up;
		upstream_attach(up, request_upstream_cb, rq);
		if (rq->rq_state != REQ_CONNECT)
			request_set_state(rq, REQ_CONNECT);
		request_upstream_cb(rq, UPSTREAM_CONNECTED, 0);
		return;
	}
	rq->rq_pooled = false;
	if (rq->rq_state != REQ_CONNECT)
		request_set_state(rq, REQ_CONNECT);
	deadline_open(t, SCOPE_CONNECT, to->ms[SCOPE_CONNECT]);
	if ((up = upstream_connect(rq->rq_server, &err)) == NULL) {
		request_attempt_failed(rq, OUTCOME_ERROR_CONNECT, ATTEMPT_CONNECT,
		    err);
		return;
	}
	rq->rq_up = up;
	upstream_attach(up, request_upstream_cb, rq);
	if (upstream_connected(up))
		request_upstream_cb(rq, UPSTREAM_CONNECTED, 0);
}

/*
 * A pooled connection failed before any response byte: the upstream
 * closed it while it idled.  Try once more, at once, on a fresh
 * connection; that try is not counted.  Returns 1 if it was retried.
 */
static int
request_retry_fresh(struct request *rq)
{
	if (!rq->rq_pooled || rq->rq_fresh_retry || rq->rq_got_byte ||
	    (rq->rq_h->rh_reqm.flags & HTTP_F_BODY) || rq->rq_nhedge > 0)
		return 0;
	log_debug("req %s: pooled connection to %s was closed, retrying "
	    "on a fresh one", request_rid(rq),
	    upstream_name(rq->rq_server));
	upstream_release(rq->rq_up, false);
	rq->rq_up = NULL;
	rq->rq_fresh_retry = true;
	rq->rq_sent = false;
	buf_release(&rq->rq_rx);
	http_parser_reset(&rq->rq_h->rh_resp);
	http_parser_set_head_request(&rq->rq_h->rh_resp,
	    rq->rq_h->rh_reqm.method_id == HTTP_HEAD);
	deadline_close(&rq->rq_task, SCOPE_UPSTREAM_HEADER);
	request_set_state(rq, REQ_CONNECT);
	request_connect(rq);
	return 1;
}

/* Whether the request may be sent again after a try/reset/close failure. */
bool
request_idempotent(const struct request *rq)
{
	switch (rq->rq_h->rh_reqm.method_id) {
	case HTTP_GET:
	case HTTP_HEAD:
	case HTTP_OPTIONS:
	case HTTP_PUT:
	case HTTP_DELETE:
		return !(rq->rq_h->rh_reqm.flags & HTTP_F_BODY);
	default:
		return false;
	}
}

/* The backoff is over: try the next server. */
static void
request_backoff_done(struct deadline_timer *tm, void *arg)
{
	(void)tm;
	request_connect(arg);
}

/*
 * Start the client's task again after the engine cancelled it for a
 * connect or try timeout that will be retried: the request scope keeps
 * its absolute instant, so a retry never extends it.
 */
static void
request_rearm(struct request *rq)
{
	struct deadline_task *t = &rq->rq_task;

	deadline_task_clear(t);
	deadline_task_init(t, rq->rq_ctx->pc_base, request_task_cb, rq);
	deadline_open_at(t, SCOPE_REQUEST, rq->rq_request_at);
	if (rq->rq_drain_at != 0)
		deadline_open_at(t, SCOPE_DRAIN, rq->rq_drain_at);
}

/* A retry's try ended: count it once, by how. */
void
request_retry_ended(struct request *rq, enum metrics_retry result)
{
	if (rq->rq_retry) {
		metrics_retry(rq->rq_ctx->pc_metrics, result);
		rq->rq_retry = false;
	}
}

/*
 * The try in hand failed and is given up: its connection is closed, never
 * pooled, and its scopes close; the task is started again if the engine
 * cancelled it, so that request (and drain) keep their instants.
 */
void
request_drop_try(struct request *rq)
{
	struct deadline_task *t = &rq->rq_task;

	if (rq->rq_up != NULL) {
		upstream_release(rq->rq_up, false);
		rq->rq_up = NULL;
	}
	if (deadline_cause(t) >= 0)
		request_rearm(rq);
	deadline_close(t, SCOPE_TRY);
	deadline_close(t, SCOPE_CONNECT);
	deadline_close(t, SCOPE_UPSTREAM_HEADER);
	deadline_close(t, SCOPE_UPSTREAM_IDLE);
}

/*
 * One attempt failed before the response head.  Count it against the
 * server's health, log it, and retry on another server when the retry
 * rules (README, "Deadlines and outcomes") allow it and the request budget
 * covers the backoff; otherwise the request ends with this cause.
 */
static void
request_attempt_failed(struct request *rq, enum outcome outcome, int kind,
    int err)
{
	const struct config_timeouts *to = request_timeouts(rq);
	struct upstream_server *next;
	const char *why;
	int64_t cap, backoff, left;
	bool retry;

	if (rq->rq_nhedge > 0 && !rq->rq_head_sent) {
		request_hedge_detach(rq, outcome, err);
		return;
	}
	request_retry_ended(rq, METRICS_RETRY_FAILED);
	request_hedge_cancel(rq);	/* the timer of a hedge not started */
	upstream_failed(rq->rq_server, outcome_name(outcome));
	rq->rq_judged = true;
	log_warn("req %s: try %u on %s failed: %s%s%s while %s (client %s)",
	    request_rid(rq), rq->rq_tries,
	    upstream_name(rq->rq_server), outcome_name(outcome), err ? ": " : "",
	    err ? strerror(err) : "", rq->rq_state == REQ_CONNECT ?
	    "connecting" : rq->rq_sent ? "waiting for the response head" :
	    "sending the request", rq->rq_peer.rp_addr);

	retry = !rq->rq_head_sent && rq->rq_tries <= to->retries &&
	    (kind == ATTEMPT_CONNECT ||
	    (kind == ATTEMPT_IDEMPOTENT && request_idempotent(rq)));
	if (retry) {
		/* Full jitter in [0, min(250ms, 25ms * 2^n)). */
		cap = 25000LL << (rq->rq_tries - 1 < 4 ? rq->rq_tries - 1 : 4);
		if (cap > 250000)
			cap = 250000;
		backoff = (int64_t)(((uint64_t)random() << 16 ^
		    (uint64_t)random()) % (uint64_t)cap);
		left = rq->rq_request_at - deadline_now_refresh();
		if (left <= backoff) {
			log_info("req %s: no retry: %lld us left on the request, "
			    "backoff %lld us", request_rid(rq),
			    (long long)left, (long long)backoff);
			metrics_skipped(rq->rq_ctx->pc_metrics,
			    METRICS_SKIP_DEADLINE);
			retry = false;
		}
	}
	if (retry && !upstream_budget_take(rq->rq_ups, rq->rq_route)) {
		log_info("req %s: no retry: the retry budget of upstream %s "
		    "is spent (client %s)", request_rid(rq),
		    rq->rq_route->upstream->name, rq->rq_peer.rp_addr);
		metrics_skipped(rq->rq_ctx->pc_metrics, METRICS_SKIP_BUDGET);
		retry = false;
	}
	if (retry && (next = upstream_pick(rq->rq_ups, rq->rq_route,
	    rq->rq_tried, &why)) == NULL)
		retry = false;
	if (!retry) {
		request_finish(rq, outcome);
		return;
	}
	request_drop_try(rq);
	rq->rq_server = next;
	rq->rq_retry = true;
	rq->rq_judged = false;
	rq->rq_sent = false;
	rq->rq_got_byte = false;
	rq->rq_fresh_retry = false;
	rq->rq_t_sent = 0;
	buf_release(&rq->rq_rx);
	http_parser_reset(&rq->rq_h->rh_resp);
	http_parser_set_head_request(&rq->rq_h->rh_resp,
	    rq->rq_h->rh_reqm.method_id == HTTP_HEAD);
	if (rq->rq_state != REQ_CONNECT)
		request_set_state(rq, REQ_CONNECT);
	if (!rq->rq_backoff_ready) {
		deadline_timer_init(&rq->rq_backoff, rq->rq_ctx->pc_base,
		    request_backoff_done, rq);
		rq->rq_backoff_ready = true;
	}
	deadline_timer_set(&rq->rq_backoff, deadline_now_cached() + backoff);
}

/*
 * TLS 1.3: the server refused the handshake (our certificate) once our
 * side of it had ended, and a read or a send found its alert (EPROTO).  It
 * processed nothing, but the body sent is gone: only a request without
 * one is retried, as after a connect failure.
 */
static void
request_tls_refused(struct request *rq)
{
	log_warn("req %s: TLS with %s failed (%s): %s", request_rid(rq),
	    upstream_name(rq->rq_server),
	    tls_fail_name((enum tls_fail)upstream_tls_fail()),
	    upstream_tls_why());
	rq->rq_tls_fail = (uint8_t)upstream_tls_fail();
	request_attempt_failed(rq, OUTCOME_ERROR_TLS,
	    (rq->rq_h->rh_reqm.flags & HTTP_F_BODY) ? ATTEMPT_FINAL :
	    ATTEMPT_CONNECT, 0);
}

/* The upstream failed before or during the response: name the outcome. */
static void
request_upstream_failed(struct request *rq, enum outcome outcome, int err)
{
	if (!rq->rq_head_sent && request_retry_fresh(rq))
		return;
	if (!rq->rq_head_sent && outcome != OUTCOME_ERROR_UPSTREAM_PROTOCOL) {
		request_attempt_failed(rq, outcome, rq->rq_got_byte ?
		    ATTEMPT_FINAL : ATTEMPT_IDEMPOTENT, err);
		return;
	}
	if (!rq->rq_head_sent) {
		upstream_failed(rq->rq_server, outcome_name(outcome));
		rq->rq_judged = true;
	}
	log_warn("req %s: upstream %s: %s%s%s while %s (client %s)",
	    request_rid(rq), upstream_name(rq->rq_server),
	    outcome_name(outcome), err ? ": " : "", err ? strerror(err) : "",
	    rq->rq_head_sent ? "relaying the response body" :
	    rq->rq_sent ? "waiting for the response head" :
	    "sending the request", rq->rq_peer.rp_addr);
	request_finish(rq, outcome);
}

/* The request is sent whole: wait for the response head. */
static void
request_sent(struct request *rq)
{
	struct deadline_task *t = &rq->rq_task;

	rq->rq_sent = true;
	rq->rq_t_sent = deadline_now_cached();
	deadline_close(t, SCOPE_UPSTREAM_IDLE);
	if (rq->rq_state == REQ_SEND) {
		request_set_state(rq, REQ_WAIT);
		deadline_open(t, SCOPE_UPSTREAM_HEADER,
		    request_timeouts(rq)->ms[SCOPE_UPSTREAM_HEADER]);
		request_hedge_arm(rq);
	}
}

/*
 * Append a short run of body bytes to the head that waits in b, so that
 * both leave in one write(2).  A writev(2) of two pieces costs the kernel
 * more than copying a couple of KiB here; a longer run keeps its own piece.
 */
static bool
request_join(struct buf *b, const char *p, size_t len)
{
	if (len == 0 || len > REQUEST_JOIN_MAX || len > buf_room(b))
		return false;
	memcpy(b->b_data + b->b_len, p, len);
	b->b_len += (uint32_t)len;
	return true;
}

/*
 * Append what a chunked body's decoder wrote (re-encoded framing and data,
 * or the data alone) to rq_tx, which goes out next: behind a head that
 * waits there, or alone.
 */
static int
request_tx_append(void *arg, const char *data, size_t len)
{
	struct request *rq = arg;
	struct buf *b = &rq->rq_tx;
	size_t need;

	if (b->b_data == NULL && buf_acquire(b) != 0)
		return -1;
	need = (size_t)b->b_len + len;
	if (need > UINT32_MAX / 2)
		return -1;
	if (need > b->b_cap && buf_grow(b, (uint32_t)(need > 2 * (size_t)b->b_cap ?
	    need : 2 * (size_t)b->b_cap)) != 0)
		return -1;
	memcpy(b->b_data + b->b_len, data, len);
	b->b_len += (uint32_t)len;
	return 0;
}

/*
 * Silence is blamed on the side we wait on, so one idle scope is open at
 * a time: client_idle while the client owes us body bytes or has response
 * bytes left to take (upstream reads are paused then), upstream_idle while
 * the upstream has request bytes left to take or owes us response bytes.
 * Switching sides starts the new side's clock now.
 */
static void
request_wait_on(struct request *rq, enum scope idle)
{
	struct deadline_task *t = &rq->rq_task;

	if (deadline_scope_open(t, idle))
		return;
	deadline_close(t, idle == SCOPE_CLIENT_IDLE ? SCOPE_UPSTREAM_IDLE :
	    SCOPE_CLIENT_IDLE);
	deadline_open(t, idle, request_timeouts(rq)->ms[idle]);
}

/*
 * Send what can be sent upstream: the head (once), then the body bytes
 * read so far, framed by the parser so that pipelined bytes stay behind.
 * A Content-Length body goes as it came; a chunked one as the decoder
 * wrote it anew into rq_tx.  Stops while a write is pending; UPSTREAM_DRAINED
 * brings us back.
 */
static void
request_pump_body(struct request *rq)
{
	struct buf *in = rq->rq_peer.rp_in;
	bool chunked = (rq->rq_h->rh_reqm.flags & HTTP_F_CHUNKED) != 0;
	struct iovec iov[2];
	enum http_verdict v = HTTP_MORE;
	const char *body = NULL;
	size_t used = 0;
	int n = 0;

	if (rq->rq_up == NULL || upstream_pending(rq->rq_up) > 0)
		return;
	if (!rq->rq_body_done && buf_used(in) > 0) {
		body = in->b_data + in->b_off;
		v = http_feed(&rq->rq_h->rh_reqp, in->b_data, body, buf_used(in),
		    &used);
		if (v == HTTP_DONE)
			rq->rq_body_done = true;
		else if (v != HTTP_MORE) {
			rq->rq_bytes_in += buf_used(in);	/* read, refused */
			log_info("req %s: bad request body from %s: %s",
			    request_rid(rq), rq->rq_peer.rp_addr,
			    rq->rq_h->rh_reqp.hp_reason ? rq->rq_h->rh_reqp.hp_reason :
			    "?");
			request_finish(rq, OUTCOME_REJECT_BAD_REQUEST);
			return;
		}
		if (used > 0) {
			in->b_off += (uint32_t)used;
			rq->rq_bytes_in += used;
			deadline_touch(&rq->rq_task, SCOPE_CLIENT_IDLE);
			deadline_touch(&rq->rq_task, SCOPE_UPSTREAM_IDLE);
		}
	}
	if (buf_used(&rq->rq_tx) > 0) {
		iov[n].iov_base = rq->rq_tx.b_data;
		iov[n++].iov_len = rq->rq_tx.b_len;
	}
	if (!chunked && used > 0) {
		if (n == 1 && request_join(&rq->rq_tx, body, used))
			iov[0].iov_len += used;
		else {
			iov[n].iov_base = (void *)body;
			iov[n++].iov_len = used;
		}
	}
	if (n > 0) {
		int r = upstream_send(rq->rq_up, iov, n);

		/* Sent or queued: a retry builds the head anew. */
		buf_release(&rq->rq_tx);
		if (r != 0 && errno == EPROTO) {
			request_tls_refused(rq);
			return;
		}
		if (r != 0) {
			request_upstream_failed(rq, errno == EPIPE ?
			    OUTCOME_ERROR_UPSTREAM_CLOSED : OUTCOME_ERROR_UPSTREAM_RESET,
			    errno);
			return;
		}
	}
	if (upstream_pending(rq->rq_up) > 0)
		request_wait_on(rq, SCOPE_UPSTREAM_IDLE);
	else if (!rq->rq_body_done)
		request_wait_on(rq, SCOPE_CLIENT_IDLE);
	else if (!rq->rq_sent)
		request_sent(rq);
	if (rq->rq_body_done)
		deadline_close(&rq->rq_task, SCOPE_CLIENT_IDLE);
	if (!conn_reading(rq->rq_peer.rp_conn))
		conn_want_read(rq->rq_peer.rp_conn, true);
}

/* The upstream connection is ready: send the head and what body we have. */
static void
request_begin_send(struct request *rq)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	deadline_close(&rq->rq_task, SCOPE_CONNECT);
	rq->rq_t_conn = deadline_now_cached();
	request_set_state(rq, REQ_SEND);
	if (request_build_head(rq, rq->rq_server,
	    deadline_scope_at(&rq->rq_task, SCOPE_TRY)) != 0)
		return;
	/* The client waits for our word before it sends the body. */
	if ((rq->rq_h->rh_reqm.flags & HTTP_F_EXPECT_100) && !rq->rq_body_done &&
	    buf_used(rq->rq_peer.rp_in) == 0 && !rq->rq_fresh_retry) {
		struct iovec iov = { (void *)cont, sizeof cont - 1 };

		if (conn_send(rq->rq_peer.rp_conn, &iov, 1) != 0) {
			request_client_gone(rq, "write failed");
			return;
		}
	}
	request_pump_body(rq);
}

/*
 * Relay response body bytes from rq_rx to the client, framed by the
 * parser, behind the first headlen bytes of rq_tx (the response head, on
 * the first call), so that a head and its first body bytes leave in one
 * write().  The head is copied over the upstream's own head, which lies
 * right before the body in rq_rx and is no longer needed; a head longer
 * than that space takes a short body behind it in rq_tx instead, or goes
 * beside a long one in a writev().  A chunked body is written anew by the
 * parser into rq_tx, behind the head on the first call.  Finishes the
 * request when the message ends.
 */
static void
request_relay(struct request *rq, size_t headlen)
{
	struct buf *rx = &rq->rq_rx;
	enum http_verdict v;
	struct iovec iov[2];
	size_t used, total;
	int n = 0;

	v = http_feed(&rq->rq_h->rh_resp, rx->b_data, rx->b_data + rx->b_off,
	    buf_used(rx), &used);
	if (v != HTTP_MORE && v != HTTP_DONE) {
		request_upstream_failed(rq, OUTCOME_ERROR_UPSTREAM_PROTOCOL, 0);
		return;
	}
	if (rq->rq_reframe) {
		/* The head and the body written anew are both in rq_tx. */
		iov[n].iov_base = rq->rq_tx.b_data;
		iov[n++].iov_len = rq->rq_tx.b_len;
		rq->rq_tx.b_len = 0;
	} else if (headlen > 0 && used > 0 && headlen <= rx->b_off) {
		/* Our head over the upstream's, right before the body. */
		iov[n].iov_base = rx->b_data + rx->b_off - headlen;
		memcpy(iov[n].iov_base, rq->rq_tx.b_data, headlen);
		iov[n++].iov_len = headlen + used;
	} else {
		if (headlen > 0) {
			iov[n].iov_base = rq->rq_tx.b_data;
			iov[n++].iov_len = headlen;
		}
		if (headlen > 0 && request_join(&rq->rq_tx,
		    rx->b_data + rx->b_off, used))
			iov[0].iov_len += used;
		else if (used > 0) {
			iov[n].iov_base = rx->b_data + rx->b_off;
			iov[n++].iov_len = used;
		}
	}
	rx->b_off += (uint32_t)used;
	if (used != 0 || v == HTTP_DONE)
		deadline_touch(&rq->rq_task, SCOPE_UPSTREAM_IDLE);
	total = 0;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total > 0) {
		if (conn_send(rq->rq_peer.rp_conn, iov, n) != 0) {
			request_client_gone(rq, "write failed");
			return;
		}
		rq->rq_bytes_out += total;
	}
	if (headlen > 0) {
		rq->rq_head_sent = true;
		if (!rq->rq_reframe)
			buf_release(&rq->rq_tx);
	}
	if (v == HTTP_DONE) {
		if (buf_used(rx) > 0)	/* bytes past the end: not reusable */
			rq->rq_h->rh_resm.flags &= ~(uint32_t)HTTP_F_KEEPALIVE;
		request_finish(rq, OUTCOME_OK);
		return;
	}
	/*
	 * The body goes on.  A response relayed whole in its first read
	 * never gets here, so never opens an idle scope.
	 */
	if (conn_pending(rq->rq_peer.rp_conn) > 0) {
		upstream_want_read(rq->rq_up, false);
		request_wait_on(rq, SCOPE_CLIENT_IDLE);
	} else
		request_wait_on(rq, SCOPE_UPSTREAM_IDLE);
}

/*
 * The upstream switched protocols: relay its 101, then join the two
 * connections (tunnel.c).  The request scope ends at the 101; the tunnel
 * runs under tunnel_idle and tunnel_max, and drain.  What the upstream
 * sent after its 101 and the client after its head goes first.
 */
static void
request_tunnel_begin(struct request *rq, size_t headlen)
{
	const struct config_timeouts *to = request_timeouts(rq);
	struct deadline_task *t = &rq->rq_task;
	struct buf *in = rq->rq_peer.rp_in, *rx = &rq->rq_rx;
	size_t keep = rq->rq_h->rh_reqm.target.off + rq->rq_h->rh_reqm.target.len;
	struct iovec iov = { rq->rq_tx.b_data, headlen };

	/* The log needs the head up to the target; the client's buffer and
	 * the HTTP state go (without the copy, it logs no method and target). */
	if ((rq->rq_head = malloc(keep)) != NULL)
		memcpy(rq->rq_head, in->b_data, keep);
	rq->rq_method = rq->rq_h->rh_reqm.method;
	rq->rq_target = rq->rq_h->rh_reqm.target;
	rq->rq_status = 101;
	rq->rq_tunneled = true;
	rq->rq_head_sent = true;
	rq->rq_close = true;
	request_set_state(rq, REQ_TUNNEL);
	deadline_close(t, SCOPE_REQUEST);
	deadline_close(t, SCOPE_CLIENT_IDLE);
	deadline_close(t, SCOPE_UPSTREAM_IDLE);
	deadline_open(t, SCOPE_TUNNEL_IDLE, to->ms[SCOPE_TUNNEL_IDLE]);
	deadline_open(t, SCOPE_TUNNEL_MAX, to->ms[SCOPE_TUNNEL_MAX]);
	tunnel_init(&rq->rq_tunnel, rq->rq_peer.rp_conn, upstream_conn(rq->rq_up),
	    request_tunnel_cb, rq);

	if (conn_send(rq->rq_peer.rp_conn, &iov, 1) != 0) {
		request_client_gone(rq, "write failed");
		return;
	}
	rq->rq_bytes_out += headlen;
	buf_release(&rq->rq_tx);
	if (tunnel_forward(&rq->rq_tunnel, TUNNEL_UPSTREAM,
	    rx->b_data + rx->b_off, buf_used(rx)) != 0) {
		request_client_gone(rq, "write failed");
		return;
	}
	buf_release(rx);
	request_http_put(rq);
	if (tunnel_forward(&rq->rq_tunnel, TUNNEL_CLIENT,
	    in->b_data + in->b_off, buf_used(in)) != 0) {
		request_tunnel_cb(rq, TUNNEL_FAILED, TUNNEL_UPSTREAM, errno);
		return;
	}
	rq->rq_peer.rp_upgraded(rq->rq_peer.rp_arg);
	tunnel_start(&rq->rq_tunnel);
}

/*
 * News of the tunnel: progress keeps tunnel_idle open; a clean end of
 * both sides is ok; a side that broke names the outcome.
 */
static void
request_tunnel_cb(void *arg, enum tunnel_news news, enum tunnel_side side,
    int err)
{
	struct request *rq = arg;

	switch (news) {
	case TUNNEL_PROGRESS:
		deadline_touch(&rq->rq_task, SCOPE_TUNNEL_IDLE);
		break;
	case TUNNEL_DONE:
		request_finish(rq, OUTCOME_OK);
		break;
	case TUNNEL_FAILED:
		if (side == TUNNEL_CLIENT) {
			request_client_gone(rq, err == ECONNRESET ?
			    "reset" : "read or write failed");
			break;
		}
		log_info("req %s: upstream %s: %s in the tunnel",
		    request_rid(rq), upstream_name(rq->rq_server),
		    err != 0 ? strerror(err) : "failed");
		request_finish(rq, err == EPIPE ?
		    OUTCOME_ERROR_UPSTREAM_CLOSED :
		    OUTCOME_ERROR_UPSTREAM_RESET);
		break;
	}
}

/* The response head is complete: rebuild it and start relaying. */
static void
request_response_head(struct request *rq)
{
	struct http_msg *rm = &rq->rq_h->rh_resm;
	struct deadline_task *t = &rq->rq_task;
	bool client10 = rq->rq_h->rh_reqm.major == 1 && rq->rq_h->rh_reqm.minor == 0;
	bool close;
	char ps[128];
	size_t pslen = 0;
	ssize_t n;

	deadline_close(t, SCOPE_UPSTREAM_HEADER);
	deadline_close(t, SCOPE_TRY);
	rq->rq_t_uphead = deadline_now_cached();
	upstream_succeeded(rq->rq_server);
	rq->rq_judged = true;
	rq->rq_won = rq->rq_try;
	request_retry_ended(rq, METRICS_RETRY_OK);
	request_hedge_headed(rq);
	if (!rq->rq_sent) {
		/* An early answer: the rest of the request body is not read. */
		rq->rq_close = true;
		rm->flags &= ~(uint32_t)HTTP_F_KEEPALIVE;
		if (rq->rq_t_sent == 0)
			rq->rq_t_sent = rq->rq_t_uphead;
	}
	rq->rq_reframe = (rm->flags & HTTP_F_CHUNKED) != 0;
	rq->rq_dechunk = client10 && rq->rq_reframe;
	close = rq->rq_close || (rm->flags & HTTP_F_TO_EOF) || rq->rq_dechunk;
	rq->rq_close = close;

	if (rq->rq_cfg->proxy_status == CONFIG_PS_ALL)
		pslen = (size_t)snprintf(ps, sizeof ps, "hourglass; next-hop="
		    "\"%s\"; received-status=%d", upstream_name(rq->rq_server),
		    rm->status);
	if (buf_grow(&rq->rq_tx, rm->head_len + 256 + (uint32_t)pslen) != 0) {
		request_finish(rq, OUTCOME_ERROR_UPSTREAM_PROTOCOL);
		return;
	}
	n = http_build_response(rm, rq->rq_rx.b_data, close, client10 && !close,
	    rq->rq_dechunk, pslen > 0 ? ps : NULL, pslen, rq->rq_tx.b_data,
	    rq->rq_tx.b_cap);
	if (n < 0) {
		request_upstream_failed(rq, OUTCOME_ERROR_UPSTREAM_PROTOCOL, 0);
		return;
	}
	if (rm->flags & HTTP_F_UPGRADE) {
		request_tunnel_begin(rq, (size_t)n);
		return;
	}
	rq->rq_status = rm->status;
	request_set_state(rq, REQ_RELAY);
	rq->rq_tx.b_off = 0;
	rq->rq_tx.b_len = (uint32_t)n;
	if (rq->rq_reframe)
		http_parser_set_body_cb(&rq->rq_h->rh_resp, request_tx_append, rq,
		    rq->rq_dechunk);
	request_relay(rq, (size_t)n);
}

/*
 * Parse response head bytes in rq_rx.  Interim 1xx responses are dropped:
 * the proxy answers 100-continue itself.
 */
void
request_parse_head(struct request *rq)
{
	struct buf *rx = &rq->rq_rx;
	enum http_verdict v;
	size_t used;

	for (;;) {
		v = http_feed(&rq->rq_h->rh_resp, rx->b_data, rx->b_data + rx->b_off,
		    buf_used(rx), &used);
		rx->b_off += (uint32_t)used;
		if (v == HTTP_MORE) {
			if (buf_room(rx) == 0 &&
			    buf_grow(rx, rx->b_cap * 2) != 0) {
				request_finish(rq, OUTCOME_ERROR_UPSTREAM_PROTOCOL);
				return;
			}
			return;
		}
		if (v != HTTP_GOT_HEAD) {
			log_warn("req %s: upstream %s sent a bad response "
			    "head: %s", request_rid(rq),
			    upstream_name(rq->rq_server), rq->rq_h->rh_resp.hp_reason ?
			    rq->rq_h->rh_resp.hp_reason : "?");
			request_finish(rq, OUTCOME_ERROR_UPSTREAM_PROTOCOL);
			return;
		}
		if (rq->rq_h->rh_resm.status >= 200 ||
		    (rq->rq_h->rh_resm.flags & HTTP_F_UPGRADE))
			break;		/* final, or a 101 we asked for */
		/* An interim response: skip it, parse what follows. */
		v = http_feed(&rq->rq_h->rh_resp, rx->b_data, rx->b_data + rx->b_off,
		    0, &used);
		buf_compact(rx);
		http_parser_reset(&rq->rq_h->rh_resp);
		http_parser_set_head_request(&rq->rq_h->rh_resp,
		    rq->rq_h->rh_reqm.method_id == HTTP_HEAD);
	}
	request_response_head(rq);
}

/* Read from the upstream: a response head, body bytes, or the end. */
static void
request_read_response(struct request *rq)
{
	struct buf *rx = &rq->rq_rx;
	ssize_t n;

	if (buf_acquire(rx) != 0) {
		request_finish(rq, OUTCOME_ERROR_UPSTREAM_PROTOCOL);
		return;
	}
	if (rq->rq_state == REQ_RELAY && buf_used(rx) == 0)
		rx->b_off = rx->b_len = 0;
	if (buf_room(rx) == 0) {
		upstream_want_read(rq->rq_up, false);
		return;
	}
	n = upstream_recv(rq->rq_up, rx->b_data + rx->b_len, buf_room(rx));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0 && errno == EPROTO && !rq->rq_got_byte) {
		request_tls_refused(rq);
		return;
	}
	if (n < 0) {
		request_upstream_failed(rq, errno == ECONNRESET ?
		    OUTCOME_ERROR_UPSTREAM_RESET : OUTCOME_ERROR_UPSTREAM_CLOSED,
		    errno);
		return;
	}
	if (n == 0) {
		if (rq->rq_state == REQ_RELAY &&
		    http_finish(&rq->rq_h->rh_resp) == HTTP_DONE) {
			request_finish(rq, OUTCOME_OK);
			return;
		}
		request_upstream_failed(rq, OUTCOME_ERROR_UPSTREAM_CLOSED, 0);
		return;
	}
	rq->rq_got_byte = true;
	rx->b_len += (uint32_t)n;
	if (rq->rq_state == REQ_RELAY)
		request_relay(rq, 0);
	else
		request_parse_head(rq);
}

/* What the upstream connection reports: the callback given at attach. */
void
request_upstream_cb(void *arg, enum upstream_event ev, int err)
{
	struct request *rq = arg;

	if (rq->rq_state == REQ_TUNNEL) {
		switch (ev) {
		case UPSTREAM_READABLE:
			tunnel_readable(&rq->rq_tunnel, TUNNEL_UPSTREAM);
			break;
		case UPSTREAM_WROTE:
			tunnel_wrote(&rq->rq_tunnel, TUNNEL_UPSTREAM);
			break;
		case UPSTREAM_DRAINED:
			tunnel_drained(&rq->rq_tunnel, TUNNEL_UPSTREAM);
			break;
		default:
			request_tunnel_cb(rq, TUNNEL_FAILED, TUNNEL_UPSTREAM,
			    err);
			break;
		}
		return;
	}
	switch (ev) {
	case UPSTREAM_CONNECTED:
		request_begin_send(rq);
		break;
	case UPSTREAM_CONNFAIL:
		request_attempt_failed(rq, OUTCOME_ERROR_CONNECT,
		    ATTEMPT_CONNECT, err);
		break;
	case UPSTREAM_READABLE:
		request_read_response(rq);
		break;
	case UPSTREAM_WROTE:
		deadline_touch(&rq->rq_task, SCOPE_UPSTREAM_IDLE);
		break;
	case UPSTREAM_DRAINED:
		if (rq->rq_state == REQ_SEND)
			request_pump_body(rq);
		break;
	case UPSTREAM_WRFAIL:
		if (err == EPROTO && !rq->rq_got_byte) {
			request_tls_refused(rq);
			break;
		}
		request_upstream_failed(rq, err == EPIPE ?
		    OUTCOME_ERROR_UPSTREAM_CLOSED :
		    OUTCOME_ERROR_UPSTREAM_RESET, err);
		break;
	case UPSTREAM_TLSFAIL:
		/* A failed handshake or certificate: a connect failure. */
		log_warn("req %s: TLS with %s failed (%s): %s",
		    request_rid(rq), upstream_name(rq->rq_server),
		    tls_fail_name((enum tls_fail)err), upstream_tls_why());
		rq->rq_tls_fail = (uint8_t)err;
		request_attempt_failed(rq, OUTCOME_ERROR_TLS, ATTEMPT_CONNECT,
		    0);
		break;
	}
}

/* New client bytes arrived (body, or the next pipelined request). */
void
request_client_data(struct request *rq)
{
	if (rq->rq_state == REQ_SEND && !rq->rq_body_done)
		request_pump_body(rq);
}

/* The client's connection, a tunnel now, is readable. */
void
request_tunnel_readable(struct request *rq)
{
	if (rq->rq_state == REQ_TUNNEL)
		tunnel_readable(&rq->rq_tunnel, TUNNEL_CLIENT);
}

/* Some of what the client could not take at once has gone out. */
void
request_client_wrote(struct request *rq)
{
	if (rq->rq_state == REQ_TUNNEL) {
		tunnel_wrote(&rq->rq_tunnel, TUNNEL_CLIENT);
		return;
	}
	deadline_touch(&rq->rq_task, SCOPE_CLIENT_IDLE);
}

/* All of it has: read the upstream again, which has the next word. */
void
request_client_drained(struct request *rq)
{
	if (rq->rq_state == REQ_TUNNEL) {
		tunnel_drained(&rq->rq_tunnel, TUNNEL_CLIENT);
		return;
	}
	deadline_touch(&rq->rq_task, SCOPE_CLIENT_IDLE);
	if (rq->rq_state == REQ_RELAY && rq->rq_up != NULL) {
		upstream_want_read(rq->rq_up, true);
		request_wait_on(rq, SCOPE_UPSTREAM_IDLE);
	}
}
