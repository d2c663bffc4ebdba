/*
 * client.c: client connections: reading request heads, keep-alive and
 * pipelining, writing to the client, and closing.
 *
 * While a request runs, the request's deadline task carries every scope.
 * Without one the connection waits under a single light timer of its own
 * (cl_wait): client_header from accept to the first byte, keep-alive
 * between requests, or the lingering close.  Between requests a client
 * holds no buffer, no request and no write event: an idle keep-alive
 * connection costs only this struct, its read event and its socket.
 *
 * client_close() is the destructor.  It is idempotent; when it runs inside
 * one of our callbacks the memory is freed when that callback returns.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy_impl.h"
#include "sys.h"

#define LINGER_MS	1000	/* how long to drain input before closing */

static void	client_read_cb(evutil_socket_t, short, void *);
static void	client_write_cb(evutil_socket_t, short, void *);
static void	client_wait_cb(struct deadline_timer *, void *);
static void	client_begin_request(struct client *);
static int	client_want_write(struct client *, bool);

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

/* Write "ip:port" or "[ip]:port" for a peer address. */
static void
client_format_addr(struct client *cl, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN];	/* inet_ntop writes at most 39 here:
					   "::ffff:a.b.c.d" is its only
					   dotted form for IPv6 */
	unsigned port = 0;

	ip[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		port = ntohs(in->sin_port);
		snprintf(cl->cl_addr, sizeof cl->cl_addr, "%s:%u", ip, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		port = ntohs(in6->sin6_port);
		snprintf(cl->cl_addr, sizeof cl->cl_addr, "[%s]:%u", ip, port);
	} else
		snprintf(cl->cl_addr, sizeof cl->cl_addr, "unknown");
	cl->cl_iplen = (uint8_t)strlen(ip);
}

/* Refuse a connection over max_connections: 503, logged, closed. */
static void
client_overload(struct proxy *px, int fd, const struct sockaddr *sa)
{
	struct client tmp;
	struct accesslog_entry e;
	char out[256];
	ssize_t n;

	memset(&tmp, 0, sizeof tmp);
	client_format_addr(&tmp, sa);
	n = http_build_error(503, true, out, sizeof out);
	if (n > 0 && write(fd, out, (size_t)n) < 0)
		n = 0;
	close(fd);
	memset(&e, 0, sizeof e);
	e.time_us = (int64_t)time(NULL) * 1000000;
	e.id = ++px->px_next_id;
	e.client = tmp.cl_addr;
	e.client_len = strlen(tmp.cl_addr);
	e.status = 503;
	e.outcome = OUTCOME_REJECT_OVERLOAD;
	e.deadline_ms = -1;
	e.bytes_out = n > 0 ? (uint64_t)n : 0;
	e.head_us = e.connect_us = e.upstream_header_us = e.total_us = -1;
	accesslog_write(px->px_alog, &e);
	metrics_request(px->px_metrics, NULL, e.outcome, 0);
	PROXY_COUNT(px, requests, 1);
}

/* Take a new connection from a listener. */
void
client_accept(struct proxy *px, int fd, const struct sockaddr *sa,
    socklen_t salen)
{
	struct client *cl;
	int one = 1;

	(void)salen;
	if (__atomic_load_n(&proxy_clients_all, __ATOMIC_RELAXED) >=
	    px->px_cfg->max_connections) {
		client_overload(px, fd, sa);
		return;
	}
	if ((cl = slab_get(px->px_client_slab)) == NULL) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	cl->cl_proxy = px;
	cl->cl_fd = fd;
	cl->cl_state = CLIENT_IDLE;
	cl->cl_in.b_pool = BUF_POOL_HELD;
	client_format_addr(cl, sa);
	event_assign(&cl->cl_rev, px->px_base, fd, EV_READ | EV_PERSIST,
	    client_read_cb, cl);
	deadline_timer_init(&cl->cl_wait, px->px_base, client_wait_cb, cl);
	deadline_now_refresh();
	client_wait(cl, SCOPE_CLIENT_HEADER,
	    client_after(px->px_cfg->timeouts.ms[SCOPE_CLIENT_HEADER]));
	event_add(&cl->cl_rev, NULL);
	TAILQ_INSERT_TAIL(&px->px_clients, cl, cl_entry);
	__atomic_add_fetch(&proxy_clients_all, 1, __ATOMIC_RELAXED);
	PROXY_COUNT(px, clients, 1);
	PROXY_COUNT(px, connections, 1);
	metrics_connection_accepted(px->px_metrics);
}

/* Free the memory of a closed client. */
void
client_free(struct client *cl)
{
	free(cl->cl_wr);	/* client_close() stopped and emptied it */
	slab_put(cl->cl_proxy->px_client_slab, cl);
}

/*
 * Close the connection: the destructor.  A request still running ends as
 * abort:client first (which comes back here).  Idempotent.
 */
void
client_close(struct client *cl, const char *why)
{
	struct proxy *px = cl->cl_proxy;

	if (cl->cl_state == CLIENT_CLOSED)
		return;
	if (cl->cl_req != NULL) {
		request_client_gone(cl->cl_req, why);
		return;
	}
	log_debug("client %s: closed: %s", cl->cl_addr, why);
	cl->cl_state = CLIENT_CLOSED;
	event_del(&cl->cl_rev);
	client_want_write(cl, false);
	deadline_timer_stop(&cl->cl_wait);
	close(cl->cl_fd);
	cl->cl_fd = -1;
	buf_release(&cl->cl_in);
	if (cl->cl_wr != NULL)
		buf_release(&cl->cl_wr->w_out);
	TAILQ_REMOVE(&px->px_clients, cl, cl_entry);
	__atomic_sub_fetch(&proxy_clients_all, 1, __ATOMIC_RELAXED);
	PROXY_COUNT(px, clients, -1);
	if (!cl->cl_in_cb)
		client_free(cl);
	if (px->px_counts.clients == 0)
		proxy_idle(px);
	if (px->px_draining && px->px_counts.clients == 0 &&
	    px->px_drained != NULL) {
		void (*done)(void *) = px->px_drained;

		px->px_drained = NULL;
		done(px->px_drained_arg);
	}
}

/*
 * Send iov now as far as the socket takes it; keep the rest and send it
 * when the socket is writable.  -1 when the client is gone.
 */
int
client_send(struct client *cl, const struct iovec *iov, int n)
{
	struct buf none = { NULL, 0, 0, 0, BUF_POOL_HELD };
	struct buf *out = cl->cl_wr != NULL ? &cl->cl_wr->w_out : &none;
	int r = buf_send(cl->cl_fd, out, iov, n);

	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	/* Bytes wait: the first time, make the write side they wait in. */
	if (cl->cl_wr == NULL) {
		if ((cl->cl_wr = calloc(1, sizeof *cl->cl_wr)) == NULL) {
			buf_release(&none);
			return -1;
		}
		event_assign(&cl->cl_wr->w_ev, cl->cl_proxy->px_base,
		    cl->cl_fd, EV_WRITE | EV_PERSIST, client_write_cb, cl);
		cl->cl_wr->w_out = none;
	}
	return client_want_write(cl, true);
}

/* Bytes of ours waiting for the socket to take them. */
size_t
client_pending(const struct client *cl)
{
	return cl->cl_wr != NULL ? buf_used(&cl->cl_wr->w_out) : 0;
}

int64_t
client_deadline(const struct client *cl)
{
	if (cl->cl_req != NULL)
		return deadline_armed(&cl->cl_req->rq_task);
	if (cl->cl_wait_why == SCOPE_COUNT)
		return DEADLINE_NEVER;
	return deadline_timer_when(&cl->cl_wait);
}

/*
 * Start or stop waiting for the socket to take more bytes.  Most
 * connections never need to: their write side is made on first use.
 */
static int
client_want_write(struct client *cl, bool on)
{
	if (on == cl->cl_writing || cl->cl_wr == NULL)
		return 0;
	if (on ? event_add(&cl->cl_wr->w_ev, NULL) :
	    event_del(&cl->cl_wr->w_ev))
		return -1;
	cl->cl_writing = on;
	return 0;
}

/* Start or stop reading from the client. */
void
client_want_read(struct client *cl, bool on)
{
	if (cl->cl_state == CLIENT_CLOSED)
		return;
	cl->cl_paused = !on;
	if (on)
		event_add(&cl->cl_rev, NULL);
	else
		event_del(&cl->cl_rev);
}

/* Close once the answer is flushed: half-close, drain input, then close. */
static void
client_linger(struct client *cl)
{
	cl->cl_state = CLIENT_LINGER;
	deadline_now_refresh();
	client_wait(cl, SCOPE_CLIENT_IDLE, client_after(LINGER_MS));
	if (client_pending(cl) == 0)
		shutdown(cl->cl_fd, SHUT_WR);
	client_want_read(cl, true);
}

/*
 * The request is finished and logged.  Keep the connection for the next
 * request, linger-close it, or close it now.
 */
void
client_request_done(struct client *cl, int how)
{
	struct proxy *px = cl->cl_proxy;
	struct request *rq = cl->cl_req;
	struct buf *in = &cl->cl_in;

	cl->cl_req = NULL;
	request_free(rq);
	if (how == DONE_KEEP && cl->cl_eof)
		how = DONE_ABORT;
	if (how == DONE_KEEP && px->px_draining)
		how = DONE_LINGER;
	if (how == DONE_ABORT) {
		client_close(cl, "request ended");
		return;
	}
	if (how == DONE_LINGER) {
		client_linger(cl);
		return;
	}
	cl->cl_state = CLIENT_IDLE;
	client_wait(cl, SCOPE_KEEPALIVE,
	    client_after(px->px_cfg->timeouts.ms[SCOPE_KEEPALIVE]));
	if (buf_used(in) == 0)
		buf_release(in);	/* a drained write side released its own */
	else
		buf_compact(in);
	if (cl->cl_paused)
		client_want_read(cl, true);
	if (buf_used(in) > 0)
		client_begin_request(cl);	/* pipelined */
}

/* Feed the head parser; start the request once its head is whole. */
static void
client_parse(struct client *cl)
{
	struct request *rq = cl->cl_req;

	if (request_feed_head(rq) != 1)
		return;		/* more needed, or rejected and finished */
	cl->cl_state = CLIENT_BUSY;
	request_start(rq);
}

/* The first byte of a request is here (or was pipelined). */
static void
client_begin_request(struct client *cl)
{
	struct proxy *px = cl->cl_proxy;
	int64_t at;

	/* The first head's time counts from accept, later ones from now. */
	if (cl->cl_nreq++ == 0)
		at = deadline_timer_when(&cl->cl_wait);
	else
		at = client_after(px->px_cfg->timeouts.ms[SCOPE_CLIENT_HEADER]);
	/*
	 * The wait timer stays set: the next keep-alive wait moves it, which
	 * costs less than stopping and setting it again.  If it fires while
	 * the request runs, client_wait_cb() lets it go.
	 */
	cl->cl_wait_why = SCOPE_COUNT;
	if ((cl->cl_req = request_new(cl, at)) == NULL) {
		client_close(cl, "out of memory");
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
	keep = cl->cl_req != NULL ? cl->cl_req->rq_reqm.head_len : 0;
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

	if (cl->cl_state == CLIENT_LINGER) {
		n = read(cl->cl_fd, scratch, sizeof scratch);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(cl, "lingering close done");
		return;
	}
	if (buf_acquire(in) != 0) {
		client_close(cl, "out of memory");
		return;
	}
	if (client_make_room(cl) == 0) {
		client_want_read(cl, false);	/* resumed when consumed */
		return;
	}
	do
		n = sys_read(cl->cl_fd, in->b_data + in->b_len, buf_room(in));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		cl->cl_eof = true;
		client_close(cl, n == 0 ? "client closed" : strerror(errno));
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

/* libevent: the client socket is readable. */
static void
client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;

	(void)fd;
	(void)what;
	deadline_now_refresh();
	cl->cl_in_cb = true;
	client_on_readable(cl);
	cl->cl_in_cb = false;
	if (cl->cl_state == CLIENT_CLOSED)
		client_free(cl);
}

/* libevent: the client can take the bytes a write left behind. */
static void
client_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *cl = arg;
	struct buf *out = &cl->cl_wr->w_out;
	ssize_t w;

	(void)what;
	deadline_now_refresh();
	cl->cl_in_cb = true;
	do
		w = write(fd, out->b_data + out->b_off, buf_used(out));
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != EAGAIN)
		client_close(cl, strerror(errno));
	else if (w > 0 && (out->b_off += (uint32_t)w) == out->b_len) {
		client_want_write(cl, false);
		buf_release(out);
		if (cl->cl_state == CLIENT_LINGER)
			shutdown(cl->cl_fd, SHUT_WR);
		else if (cl->cl_req != NULL)
			request_client_drained(cl->cl_req);
	}
	cl->cl_in_cb = false;
	if (cl->cl_state == CLIENT_CLOSED)
		client_free(cl);
}

/*
 * The connection's own deadline fired: no request runs.  A keep-alive
 * timeout, a client_header timeout before any byte (not a request, so no
 * log line), or the end of a lingering close.
 */
static void
client_wait_cb(struct deadline_timer *tm, void *arg)
{
	struct client *cl = arg;

	(void)tm;
	if (cl->cl_wait_why == SCOPE_COUNT)
		return;		/* a request runs: not waiting */
	if (cl->cl_wait_why == SCOPE_KEEPALIVE)
		metrics_keepalive_closed(cl->cl_proxy->px_metrics);
	cl->cl_in_cb = true;
	client_close(cl, scope_name(cl->cl_wait_why));
	cl->cl_in_cb = false;
	if (cl->cl_state == CLIENT_CLOSED)
		client_free(cl);
}
