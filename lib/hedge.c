/*
 * hedge.c: one hedged try, from its connect to a whole response head; see
 * hedge.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "deadline.h"
#include "hedge.h"
#include "upstream.h"

#define HEDGE_HEAD_MAX	65536	/* the longest response head taken */

enum hedge_state {
	HEDGE_CONNECTING,
	HEDGE_SENDING,		/* some of the head waits in the connection */
	HEDGE_WAITING,		/* sent: reading the response head */
	HEDGE_DONE,		/* a head is whole, or it failed */
};

struct hedge {
	struct upstream_server *hg_server;
	struct upconn	*hg_up;
	enum hedge_state hg_state;
	struct buf	 hg_rx;
	struct deadline_timer hg_timer;
	uint32_t	 hg_header_ms;
	int64_t		 hg_try_at;
	struct hedge_times hg_t;
	hedge_cb	 hg_cb;
	void		*hg_arg;
};

static void	hedge_upstream_cb(void *, enum upstream_event, int);

/* Set the timer to the earlier of ms from now (0: none) and try_at; the
 * outcome when it fires follows from the state. */
static void
hedge_arm(struct hedge *h, uint32_t ms)
{
	int64_t at = h->hg_try_at;

	if (ms != 0 && deadline_now_cached() + (int64_t)ms * 1000 < at)
		at = deadline_now_cached() + (int64_t)ms * 1000;
	if (at == DEADLINE_NEVER)
		deadline_timer_stop(&h->hg_timer);
	else
		deadline_timer_set(&h->hg_timer, at);
}

/* Tell the owner that the hedge failed; it frees the hedge. */
static void
hedge_fail(struct hedge *h, enum outcome o, int err)
{
	h->hg_state = HEDGE_DONE;
	deadline_timer_stop(&h->hg_timer);
	h->hg_cb(h->hg_arg, h, HEDGE_FAILED, o, err);
}

/* Its timer fired: connect, upstream_header or try, whichever bound it. */
static void
hedge_timer_cb(struct deadline_timer *tm, void *arg)
{
	struct hedge *h = arg;
	enum scope s;

	(void)tm;
	if (deadline_now_cached() >= h->hg_try_at)
		s = SCOPE_TRY;
	else
		s = h->hg_state == HEDGE_CONNECTING ? SCOPE_CONNECT :
		    SCOPE_UPSTREAM_HEADER;
	hedge_fail(h, outcome_timeout(s), 0);
}

struct hedge *
hedge_start(struct event_base *base, struct upstream_server *us,
    uint32_t connect_ms, uint32_t header_ms, int64_t try_at, hedge_cb cb,
    void *arg, int *err)
{
	struct hedge *h;

	*err = 0;
	if ((h = calloc(1, sizeof *h)) == NULL)
		return NULL;
	h->hg_server = us;
	h->hg_header_ms = header_ms;
	h->hg_try_at = try_at;
	h->hg_cb = cb;
	h->hg_arg = arg;
	h->hg_t.ht_conn0 = deadline_now_cached();
	deadline_timer_init(&h->hg_timer, base, hedge_timer_cb, h);
	if ((h->hg_up = upstream_pool_get(us)) != NULL) {
		h->hg_t.ht_pooled = true;
		h->hg_state = HEDGE_SENDING;
		upstream_attach(h->hg_up, hedge_upstream_cb, h);
		return h;
	}
	if ((h->hg_up = upstream_connect(us, err)) == NULL) {
		free(h);
		return NULL;
	}
	upstream_attach(h->hg_up, hedge_upstream_cb, h);
	if (upstream_connected(h->hg_up)) {
		h->hg_t.ht_conn = deadline_now_cached();
		h->hg_state = HEDGE_SENDING;
	} else {
		h->hg_state = HEDGE_CONNECTING;
		hedge_arm(h, connect_ms);
	}
	return h;
}

bool
hedge_ready(const struct hedge *h)
{
	return h->hg_state == HEDGE_SENDING;
}

/* The head is out whole: wait for the response head. */
static void
hedge_sent(struct hedge *h)
{
	h->hg_state = HEDGE_WAITING;
	h->hg_t.ht_sent = deadline_now_cached();
	hedge_arm(h, h->hg_header_ms);
}

int
hedge_send(struct hedge *h, const char *head, size_t len)
{
	struct iovec iov = { (void *)head, len };

	if (upstream_send(h->hg_up, &iov, 1) != 0)
		return -1;
	if (upstream_pending(h->hg_up) == 0)
		hedge_sent(h);
	else
		hedge_arm(h, h->hg_header_ms);
	return 0;
}

/*
 * Read what the server sent, until a response head is whole: an empty
 * line ends it.  A head without one within HEDGE_HEAD_MAX bytes is the
 * server's fault.
 */
static void
hedge_read(struct hedge *h)
{
	struct buf *rx = &h->hg_rx;
	uint32_t from;
	ssize_t n;

	if (buf_acquire(rx) != 0) {
		hedge_fail(h, OUTCOME_ERROR_UPSTREAM_PROTOCOL, ENOMEM);
		return;
	}
	if (buf_room(rx) == 0 && (rx->b_cap >= HEDGE_HEAD_MAX ||
	    buf_grow(rx, rx->b_cap * 2) != 0)) {
		hedge_fail(h, OUTCOME_ERROR_UPSTREAM_PROTOCOL, 0);
		return;
	}
	n = upstream_recv(h->hg_up, rx->b_data + rx->b_len, buf_room(rx));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		hedge_fail(h, n < 0 && errno == ECONNRESET ?
		    OUTCOME_ERROR_UPSTREAM_RESET : OUTCOME_ERROR_UPSTREAM_CLOSED,
		    n < 0 ? errno : 0);
		return;
	}
	from = rx->b_len > 3 ? rx->b_len - 3 : 0;
	rx->b_len += (uint32_t)n;
	if (memmem(rx->b_data + from, rx->b_len - from, "\r\n\r\n", 4) ==
	    NULL)
		return;
	h->hg_state = HEDGE_DONE;
	deadline_timer_stop(&h->hg_timer);
	upstream_want_read(h->hg_up, false);
	h->hg_cb(h->hg_arg, h, HEDGE_HEAD, OUTCOME_OK, 0);
}

/* What its connection reports. */
static void
hedge_upstream_cb(void *arg, enum upstream_event ev, int err)
{
	struct hedge *h = arg;

	if (h->hg_state == HEDGE_DONE)
		return;
	switch (ev) {
	case UPSTREAM_CONNECTED:
		h->hg_t.ht_conn = deadline_now_cached();
		h->hg_state = HEDGE_SENDING;
		deadline_timer_stop(&h->hg_timer);
		h->hg_cb(h->hg_arg, h, HEDGE_READY, OUTCOME_OK, 0);
		break;
	case UPSTREAM_CONNFAIL:
		hedge_fail(h, OUTCOME_ERROR_CONNECT, err);
		break;
	case UPSTREAM_TLSFAIL:
		hedge_fail(h, OUTCOME_ERROR_TLS, err);
		break;
	case UPSTREAM_READABLE:
		hedge_read(h);
		break;
	case UPSTREAM_WROTE:
		break;
	case UPSTREAM_DRAINED:
		if (h->hg_state == HEDGE_SENDING)
			hedge_sent(h);
		break;
	case UPSTREAM_WRFAIL:
		hedge_fail(h, err == EPIPE ? OUTCOME_ERROR_UPSTREAM_CLOSED :
		    OUTCOME_ERROR_UPSTREAM_RESET, err);
		break;
	}
}

struct upstream_server *
hedge_server(const struct hedge *h)
{
	return h->hg_server;
}

bool
hedge_pooled(const struct hedge *h)
{
	return h->hg_t.ht_pooled;
}

int64_t
hedge_try_at(const struct hedge *h)
{
	return h->hg_try_at;
}

struct upconn *
hedge_take(struct hedge *h, struct buf *rx, struct hedge_times *t)
{
	struct upconn *up = h->hg_up;

	*rx = h->hg_rx;
	*t = h->hg_t;
	h->hg_up = NULL;
	memset(&h->hg_rx, 0, sizeof h->hg_rx);
	hedge_free(h);
	return up;
}

void
hedge_free(struct hedge *h)
{
	if (h == NULL)
		return;
	deadline_timer_stop(&h->hg_timer);
	if (h->hg_up != NULL)
		upstream_release(h->hg_up, false);
	buf_release(&h->hg_rx);
	free(h);
}
