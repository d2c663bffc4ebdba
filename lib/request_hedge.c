/*
 * request_hedge.c: hedged requests, the race of request.c's try against
 * up to hedge_max more on other servers; see request_int.h.  While an
 * idempotent request without a body waits for its response head, a hedge
 * (lib/hedge.c) starts after the route's delay, within request and the
 * retry budget.  The first whole head wins and becomes the request's try;
 * every other try is closed at once, never pooled.
 */
#include <errno.h>
#include <string.h>

#include "hedge.h"
#include "latwin.h"
#include "log.h"
#include "request_int.h"

#define HEDGE_SAMPLES	100	/* hedge = pNN waits for this many */

static void	request_hedge_fire(struct deadline_timer *, void *);

/* The delay before the next hedge, in us, or -1 when none may start. */
static int64_t
request_hedge_delay(struct request *rq)
{
	const struct config_timeouts *to = request_timeouts(rq);
	int64_t now = deadline_now_cached();
	struct latwin *w;

	if ((to->hedge.ms == 0 && to->hedge.pct == 0) || rq->rq_route == NULL ||
	    rq->rq_hedges >= to->hedge_max ||
	    rq->rq_hedges >= HEDGE_MAX || rq->rq_upgrade || rq->rq_head_sent ||
	    rq->rq_route->upstream->nservers < 2 || !request_idempotent(rq))
		return -1;
	if (to->hedge.ms != 0)
		return (int64_t)to->hedge.ms * 1000;
	if (to->hedge.pct == 0 ||
	    (w = upstream_latwin(rq->rq_ups, rq->rq_route)) == NULL ||
	    latwin_samples(w, now) < HEDGE_SAMPLES)
		return -1;
	return (int64_t)latwin_percentile(w, now, to->hedge.pct);
}

/* Set the timer of the next hedge, when one may start before the request
 * (or the drain) ends. */
void
request_hedge_arm(struct request *rq)
{
	int64_t d = request_hedge_delay(rq), at;

	if (d < 0)
		return;
	at = deadline_now_refresh() + d;
	if (at >= rq->rq_request_at ||
	    (rq->rq_drain_at != 0 && at >= rq->rq_drain_at))
		return;
	if (!rq->rq_hedge_tm_ready) {
		deadline_timer_init(&rq->rq_hedge_tm, rq->rq_ctx->pc_base,
		    request_hedge_fire, rq);
		rq->rq_hedge_tm_ready = true;
	}
	deadline_timer_set(&rq->rq_hedge_tm, at);
}

/* Take hedge i out of the racing ones. */
static void
request_hedge_remove(struct request *rq, unsigned i)
{
	rq->rq_nhedge--;
	rq->rq_hedge[i] = rq->rq_hedge[rq->rq_nhedge];
	rq->rq_hedge_try[i] = rq->rq_hedge_try[rq->rq_nhedge];
}

/* Which of the racing hedges h is. */
static unsigned
request_hedge_index(const struct request *rq, const struct hedge *h)
{
	unsigned i;

	for (i = 0; i < rq->rq_nhedge; i++)
		if (rq->rq_hedge[i] == h)
			break;
	return i;
}

/* Cancel every racing hedge and the timer of the next: a head came, or
 * the request ended.  Their servers get no verdict. */
void
request_hedge_cancel(struct request *rq)
{
	struct hedge *h;

	if (rq->rq_hedge_tm_ready)
		deadline_timer_stop(&rq->rq_hedge_tm);
	while (rq->rq_nhedge > 0) {
		h = rq->rq_hedge[--rq->rq_nhedge];
		log_debug("req %s: hedge try %u on %s cancelled",
		    request_rid(rq), rq->rq_hedge_try[rq->rq_nhedge],
		    upstream_name(hedge_server(h)));
		upstream_abandoned(hedge_server(h));
		metrics_hedge(rq->rq_ctx->pc_metrics, METRICS_HEDGE_LOST);
		hedge_free(h);
	}
}

/*
 * A hedge failed: its server is told (a pooled connection the server had
 * closed is not its fault), and it is dropped.  When nothing else is left
 * racing, the request ends with its cause.
 */
static void
request_hedge_failed(struct request *rq, struct hedge *h, enum outcome o,
    int err)
{
	struct upstream_server *us = hedge_server(h);
	unsigned i = request_hedge_index(rq, h);

	if (hedge_pooled(h) && (o == OUTCOME_ERROR_UPSTREAM_CLOSED ||
	    o == OUTCOME_ERROR_UPSTREAM_RESET))
		upstream_abandoned(us);
	else
		upstream_failed(us, outcome_name(o));
	log_warn("req %s: hedge try %u on %s failed: %s%s%s (client %s)",
	    request_rid(rq), i < rq->rq_nhedge ? rq->rq_hedge_try[i] : 0,
	    upstream_name(us), outcome_name(o),
	    err && o != OUTCOME_ERROR_TLS ? ": " : "",
	    err && o != OUTCOME_ERROR_TLS ? strerror(err) : "",
	    rq->rq_peer.rp_addr);
	metrics_hedge(rq->rq_ctx->pc_metrics, METRICS_HEDGE_FAILED);
	if (i < rq->rq_nhedge)
		request_hedge_remove(rq, i);
	hedge_free(h);
	if (rq->rq_up == NULL && rq->rq_nhedge == 0) {
		if (o == OUTCOME_ERROR_TLS)
			rq->rq_tls_fail = (uint8_t)err;
		rq->rq_server = us;
		request_finish(rq, o);
	}
}

/* A hedge is connected: send it the head, built for its server and its
 * own try scope. */
static void
request_hedge_send(struct request *rq, struct hedge *h)
{
	int r;

	if (request_build_head(rq, hedge_server(h), hedge_try_at(h)) != 0)
		return;
	r = hedge_send(h, rq->rq_tx.b_data, rq->rq_tx.b_len);
	buf_release(&rq->rq_tx);
	if (r != 0)
		request_hedge_failed(rq, h, errno == EPIPE ?
		    OUTCOME_ERROR_UPSTREAM_CLOSED : OUTCOME_ERROR_UPSTREAM_RESET,
		    errno);
}

/*
 * A hedge's head came first: it becomes the request's try.  The try it
 * raced is closed, never pooled, and so are the other hedges; the bytes
 * the hedge read are parsed as the response.
 */
static void
request_hedge_won(struct request *rq, struct hedge *h)
{
	struct deadline_task *t = &rq->rq_task;
	unsigned i = request_hedge_index(rq, h), tryno;
	struct hedge_times ht;

	tryno = rq->rq_hedge_try[i];
	request_hedge_remove(rq, i);
	request_hedge_cancel(rq);
	if (rq->rq_up != NULL) {
		log_debug("req %s: try %u on %s cancelled: hedge try %u won",
		    request_rid(rq), rq->rq_try, upstream_name(rq->rq_server),
		    tryno);
		upstream_release(rq->rq_up, false);
		rq->rq_up = NULL;
		if (!rq->rq_judged)
			upstream_abandoned(rq->rq_server);
	}
	request_retry_ended(rq, METRICS_RETRY_FAILED);
	metrics_hedge(rq->rq_ctx->pc_metrics, METRICS_HEDGE_WON);
	deadline_close(t, SCOPE_CONNECT);
	deadline_close(t, SCOPE_UPSTREAM_HEADER);
	deadline_close(t, SCOPE_UPSTREAM_IDLE);
	deadline_close(t, SCOPE_TRY);
	buf_release(&rq->rq_rx);
	rq->rq_server = hedge_server(h);
	rq->rq_up = hedge_take(h, &rq->rq_rx, &ht);
	upstream_attach(rq->rq_up, request_upstream_cb, rq);
	upstream_want_read(rq->rq_up, true);
	rq->rq_try = tryno;
	rq->rq_pooled = ht.ht_pooled;
	rq->rq_t_conn0 = ht.ht_conn0;
	rq->rq_t_conn = ht.ht_conn;
	rq->rq_t_sent = ht.ht_sent != 0 ? ht.ht_sent : ht.ht_conn0;
	rq->rq_sent = true;
	rq->rq_got_byte = true;
	rq->rq_judged = false;
	http_parser_reset(&rq->rq_h->rh_resp);
	http_parser_set_head_request(&rq->rq_h->rh_resp,
	    rq->rq_h->rh_reqm.method_id == HTTP_HEAD);
	log_info("req %s: hedge try %u on %s won (client %s)",
	    request_rid(rq), tryno, upstream_name(rq->rq_server),
	    rq->rq_peer.rp_addr);
	request_parse_head(rq);
}

/* What a hedge reports. */
static void
request_hedge_cb(void *arg, struct hedge *h, enum hedge_news news,
    enum outcome o, int err)
{
	struct request *rq = arg;

	switch (news) {
	case HEDGE_READY:
		request_hedge_send(rq, h);
		break;
	case HEDGE_HEAD:
		request_hedge_won(rq, h);
		break;
	case HEDGE_FAILED:
		request_hedge_failed(rq, h, o, err);
		break;
	}
}

/*
 * The hedge delay passed without a response head: start a hedge on a
 * server this request has not tried, if the retry budget allows.
 */
static void
request_hedge_fire(struct deadline_timer *tm, void *arg)
{
	struct request *rq = arg;
	const struct config_timeouts *to = request_timeouts(rq);
	int64_t now = deadline_now_cached(), try_at = DEADLINE_NEVER;
	struct upstream_server *us;
	struct hedge *h;
	const char *why;
	unsigned tryno;
	size_t k;
	int err;

	(void)tm;
	if (rq->rq_state != REQ_WAIT || rq->rq_head_sent ||
	    rq->rq_nhedge >= HEDGE_MAX)
		return;
	if (!upstream_budget_take(rq->rq_ups, rq->rq_route)) {
		log_info("req %s: no hedge: the retry budget of upstream %s "
		    "is spent", request_rid(rq), rq->rq_route->upstream->name);
		metrics_skipped(rq->rq_ctx->pc_metrics,
		    METRICS_SKIP_HEDGE_BUDGET);
		return;
	}
	us = upstream_pick(rq->rq_ups, rq->rq_route, rq->rq_tried, &why);
	if (us == NULL)
		return;
	k = upstream_index(us);
	if (k >= 64 || (rq->rq_tried & (1ULL << k))) {
		upstream_abandoned(us);		/* no other server is up */
		return;
	}
	rq->rq_tried |= 1ULL << k;
	if (rq->rq_t_race == 0)
		rq->rq_t_race = rq->rq_t_sent;
	tryno = ++rq->rq_tries;
	rq->rq_hedges++;
	metrics_hedge_started(rq->rq_ctx->pc_metrics);
	log_info("req %s: hedge try %u on %s: no response head from %s "
	    "after %lld ms (client %s)", request_rid(rq), tryno,
	    upstream_name(us), upstream_name(rq->rq_server),
	    (long long)((now - rq->rq_t_sent) / 1000), rq->rq_peer.rp_addr);
	if (to->ms[SCOPE_TRY] != 0)
		try_at = now + (int64_t)to->ms[SCOPE_TRY] * 1000;
	h = hedge_start(rq->rq_ctx->pc_base, us, to->ms[SCOPE_CONNECT],
	    to->ms[SCOPE_UPSTREAM_HEADER], try_at, request_hedge_cb, rq, &err);
	if (h == NULL) {
		upstream_failed(us, outcome_name(OUTCOME_ERROR_CONNECT));
		log_warn("req %s: hedge try %u on %s failed: %s: %s",
		    request_rid(rq), tryno, upstream_name(us),
		    outcome_name(OUTCOME_ERROR_CONNECT),
		    strerror(err ? err : ENOMEM));
		metrics_hedge(rq->rq_ctx->pc_metrics, METRICS_HEDGE_FAILED);
		request_hedge_arm(rq);
		return;
	}
	rq->rq_hedge_try[rq->rq_nhedge] = tryno;
	rq->rq_hedge[rq->rq_nhedge++] = h;
	request_hedge_arm(rq);
	if (hedge_ready(h))
		request_hedge_send(rq, h);
}

/*
 * The try in hand got its response head: the racing hedges lose, and the
 * route's window (hedge = pNN) learns the header time as the client waited
 * it: for a hedged request, from the send of the try it raced, so that
 * hedging does not teach it that the slow answers it cut short were fast.
 */
void
request_hedge_headed(struct request *rq)
{
	struct latwin *w;

	if (rq->rq_nhedge > 0 || rq->rq_hedge_tm_ready)
		request_hedge_cancel(rq);
	if (rq->rq_t_sent > 0 && rq->rq_route != NULL &&
	    (w = upstream_latwin(rq->rq_ups, rq->rq_route)) != NULL)
		latwin_record(w, rq->rq_t_uphead, (uint64_t)(rq->rq_t_uphead -
		    (rq->rq_t_race > 0 ? rq->rq_t_race : rq->rq_t_sent)));
}

/*
 * The request's own try failed while hedges race: it is judged and
 * closed, and the request waits on the hedges, the last of which ends it
 * if none gets a head.
 */
void
request_hedge_detach(struct request *rq, enum outcome outcome, int err)
{
	upstream_failed(rq->rq_server, outcome_name(outcome));
	rq->rq_judged = true;
	log_warn("req %s: try %u on %s failed: %s%s%s while waiting for the "
	    "response head; %u hedge(s) still racing (client %s)",
	    request_rid(rq), rq->rq_try, upstream_name(rq->rq_server),
	    outcome_name(outcome), err ? ": " : "", err ? strerror(err) : "",
	    (unsigned)rq->rq_nhedge, rq->rq_peer.rp_addr);
	request_retry_ended(rq, METRICS_RETRY_FAILED);
	request_drop_try(rq);
}

