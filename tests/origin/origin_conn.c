/*
 * origin_conn.c: one client connection of the test origin.
 *
 * Plain events over evbuffers.  A read fills cn_in; llhttp parses it and
 * pauses at the end of each request, which is then answered into cn_out.
 * cn_out is written once per batch, so pipelined responses leave in one
 * writev(2).  A response that cannot be produced at once (a timer, or a body
 * too long to queue) moves the connection out of CONN_READING, and parsing
 * resumes only when that response is complete: responses keep their order.
 *
 * A callback never frees its connection while a frame below it still uses
 * it: conn_close() only closes the socket and marks the connection dead, and
 * the event callback that started the chain frees it as its last act.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "origin.h"

static const char *conn_state_names[] = {
	[CONN_READING] = "READING",
	[CONN_PREWAIT] = "PREWAIT",
	[CONN_WAITING] = "WAITING",
	[CONN_DRIPPING] = "DRIPPING",
	[CONN_TRICKLING] = "TRICKLING",
	[CONN_STREAMING] = "STREAMING",
	[CONN_HANGING] = "HANGING",
	[CONN_TUNNEL] = "TUNNEL",
	[CONN_SILENT] = "SILENT",
	[CONN_SHUT] = "SHUT",
	[CONN_CLOSING] = "CLOSING",
	[CONN_LINGERING] = "LINGERING",
	[CONN_DEAD] = "DEAD",
};

#define S(x)	(1u << (x))
#define ANSWERED (S(CONN_READING) | S(CONN_CLOSING) | S(CONN_DEAD))
#define ROUTED	(S(CONN_WAITING) | S(CONN_DRIPPING) | S(CONN_TRICKLING) | \
	S(CONN_STREAMING) | S(CONN_HANGING) | S(CONN_TUNNEL) | S(CONN_SILENT) | \
	S(CONN_CLOSING) | S(CONN_DEAD))
static const unsigned conn_moves[] = {
	[CONN_READING] = S(CONN_PREWAIT) | ROUTED,
	[CONN_PREWAIT] = S(CONN_READING) | ROUTED,
	[CONN_WAITING] = ANSWERED,
	[CONN_DRIPPING] = ANSWERED,
	[CONN_TRICKLING] = ANSWERED,
	[CONN_STREAMING] = ANSWERED,
	[CONN_HANGING] = S(CONN_DEAD),
	[CONN_TUNNEL] = S(CONN_SILENT) | S(CONN_SHUT) | S(CONN_CLOSING) |
	    S(CONN_DEAD),
	[CONN_SILENT] = S(CONN_SHUT) | S(CONN_CLOSING) | S(CONN_DEAD),
	[CONN_SHUT] = S(CONN_CLOSING) | S(CONN_DEAD),
	[CONN_CLOSING] = S(CONN_LINGERING) | S(CONN_DEAD),
	[CONN_LINGERING] = S(CONN_DEAD),
	[CONN_DEAD] = 0,
};
#undef ROUTED
#undef ANSWERED
#undef S

static int	conn_on_message_begin(llhttp_t *);
static int	conn_on_method(llhttp_t *, const char *, size_t);
static int	conn_on_url(llhttp_t *, const char *, size_t);
static int	conn_on_header_field(llhttp_t *, const char *, size_t);
static int	conn_on_header_field_complete(llhttp_t *);
static int	conn_on_header_value(llhttp_t *, const char *, size_t);
static int	conn_on_header_value_complete(llhttp_t *);
static int	conn_on_headers_complete(llhttp_t *);
static int	conn_on_body(llhttp_t *, const char *, size_t);
static int	conn_on_message_complete(llhttp_t *);

static const llhttp_settings_t conn_settings = {
	.on_message_begin = conn_on_message_begin,
	.on_method = conn_on_method,
	.on_url = conn_on_url,
	.on_header_field = conn_on_header_field,
	.on_header_field_complete = conn_on_header_field_complete,
	.on_header_value = conn_on_header_value,
	.on_header_value_complete = conn_on_header_value_complete,
	.on_headers_complete = conn_on_headers_complete,
	.on_body = conn_on_body,
	.on_message_complete = conn_on_message_complete,
};

static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);
static void	conn_timer_cb(evutil_socket_t, short, void *);
static void	conn_pump(struct conn *);
static void	conn_free(struct conn *);

/* Move a connection to a new state; a move not in conn_moves aborts. */
void
conn_set_state(struct conn *c, enum conn_state to)
{
	if (c->cn_state == to)
		return;
	if ((conn_moves[c->cn_state] & (1u << to)) == 0) {
		fprintf(stderr, "origin: conn %llu: illegal move %s -> %s\n",
		    (unsigned long long)c->cn_id,
		    conn_state_names[c->cn_state], conn_state_names[to]);
		abort();
	}
	if (origin.verbose > 1)
		origin_debug("conn %llu: %s -> %s", (unsigned long long)c->cn_id,
		    conn_state_names[c->cn_state], conn_state_names[to]);
	c->cn_state = to;
}

/* The target of the request in progress, for logs; "-" between requests. */
const char *
conn_path(struct conn *c)
{
	if (!c->rq_active || c->rq_url_len == 0)
		return "-";
	return c->rq_url;
}

/* Take over an accepted socket. */
void
conn_accept(int fd)
{
	struct conn	*c;
	int		 one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((c = calloc(1, sizeof *c)) == NULL) {
		close(fd);
		return;
	}
	c->cn_fd = fd;
	c->cn_id = ++origin.next_id;
	c->cn_state = CONN_READING;
	c->cn_in = evbuffer_new();
	c->cn_out = evbuffer_new();
	c->cn_ev_read = event_new(origin.base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	c->cn_ev_write = event_new(origin.base, fd, EV_WRITE | EV_PERSIST,
	    conn_write_cb, c);
	llhttp_init(&c->cn_parser, HTTP_REQUEST, &conn_settings);
	c->cn_parser.data = c;
	TAILQ_INSERT_TAIL(&origin.conns, c, cn_entry);
	if (c->cn_in == NULL || c->cn_out == NULL || c->cn_ev_read == NULL ||
	    c->cn_ev_write == NULL || event_add(c->cn_ev_read, NULL) == -1) {
		conn_free(c);
		return;
	}
	c->cn_rd_on = 1;
	origin.st_accepted++;
	origin_event(c, "accept");
}

/*
 * Close the socket, with a reset if asked, and mark the connection dead.
 * Idempotent; the memory is freed later by conn_free().
 */
void
conn_close(struct conn *c, int reset)
{
	struct linger	 l = { 1, 0 };

	if (c->cn_state == CONN_DEAD)
		return;
	if (c->cn_ev_read != NULL)
		event_del(c->cn_ev_read);
	if (c->cn_ev_write != NULL)
		event_del(c->cn_ev_write);
	if (c->cn_ev_timer != NULL)
		event_del(c->cn_ev_timer);
	c->cn_rd_on = c->cn_wr_on = 0;
	if (c->cn_fd != -1) {
		tunnel_end_log(c);
		if (reset)
			setsockopt(c->cn_fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		close(c->cn_fd);
		c->cn_fd = -1;
	}
	conn_set_state(c, CONN_DEAD);
}

/* Unlink and free a connection, closing it first if needed. */
static void
conn_free(struct conn *c)
{
	conn_close(c, 0);
	TAILQ_REMOVE(&origin.conns, c, cn_entry);
	if (c->cn_ev_read != NULL)
		event_free(c->cn_ev_read);
	if (c->cn_ev_write != NULL)
		event_free(c->cn_ev_write);
	if (c->cn_ev_timer != NULL)
		event_free(c->cn_ev_timer);
	if (c->cn_in != NULL)
		evbuffer_free(c->cn_in);
	if (c->cn_out != NULL)
		evbuffer_free(c->cn_out);
	if (c->cn_hold != NULL)
		evbuffer_free(c->cn_hold);
	free(c);
}

/* Free every connection, at shutdown. */
void
conn_free_all(void)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&origin.conns)) != NULL)
		conn_free(c);
}

/* Start (or restart) the connection's timer: once after ms, or every ms. */
void
conn_timer(struct conn *c, unsigned ms, int repeat)
{
	struct timeval	 tv;
	short		 flags = repeat ? EV_PERSIST : 0;

	if (c->cn_ev_timer == NULL)
		c->cn_ev_timer = event_new(origin.base, -1, flags,
		    conn_timer_cb, c);
	else {
		event_del(c->cn_ev_timer);
		event_assign(c->cn_ev_timer, origin.base, -1, flags,
		    conn_timer_cb, c);
	}
	if (c->cn_ev_timer == NULL) {
		conn_close(c, 0);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(c->cn_ev_timer, &tv);
}

/* The response is wholly queued: log it and go back to reading, or close. */
void
conn_response_done(struct conn *c)
{
	if (c->cn_state == CONN_DEAD)
		return;
	if (c->cn_ev_timer != NULL)
		event_del(c->cn_ev_timer);
	origin_event(c, "done");
	c->rq_active = 0;
	if (c->rq_ka == KA_CLOSE)
		conn_set_state(c, CONN_CLOSING);
	else
		conn_set_state(c, CONN_READING);
}

/* The peer closed or reset the connection: log it once. */
static void
conn_log_close(struct conn *c)
{
	if (c->cn_close_logged)
		return;
	c->cn_close_logged = 1;
	origin_event(c, "close");
}

/* A new request begins: forget the previous one. */
static int
conn_on_message_begin(llhttp_t *p)
{
	struct conn	*c = p->data;

	c->rq_active = 1;
	c->rq_url_len = 0;
	c->rq_url[0] = '\0';
	c->rq_head = 0;
	c->rq_ka = KA_HTTP11;
	c->rq_expect = 0;
	c->rq_hdr = HDR_OTHER;
	c->rq_hlen = 0;
	c->rq_error = 0;
	c->rq_upgrade_len = 0;
	c->rq_ws_key_len = 0;
	c->rq_ws_version = 0;
	c->rs_route = ROUTE_NONE;
	c->cn_in_head = 1;
	c->cn_head_seen = 0;
	if (c->cn_hold != NULL)
		evbuffer_drain(c->cn_hold, evbuffer_get_length(c->cn_hold));
	return 0;
}

/* The method's first byte is where the request head starts in cn_in. */
static int
conn_on_method(llhttp_t *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	(void)len;
	if (!c->cn_head_seen) {
		c->cn_head_start = c->cn_exec_off + (size_t)(at - c->cn_exec_base);
		c->cn_head_seen = 1;
	}
	return 0;
}

/* Keep the target, or as much of it as fits, NUL-terminated. */
static int
conn_on_url(llhttp_t *p, const char *at, size_t len)
{
	struct conn	*c = p->data;
	size_t		 room = sizeof c->rq_url - 1 - c->rq_url_len;

	if (len > room) {
		len = room;
		c->rq_error = 404;
	}
	memcpy(c->rq_url + c->rq_url_len, at, len);
	c->rq_url_len += len;
	c->rq_url[c->rq_url_len] = '\0';
	return 0;
}

/* Gather a header name or value in a small buffer; only short ones matter. */
static void
conn_hbuf_add(struct conn *c, const char *at, size_t len)
{
	if (c->rq_hlen < sizeof c->rq_hbuf) {
		size_t n = sizeof c->rq_hbuf - c->rq_hlen;

		memcpy(c->rq_hbuf + c->rq_hlen, at, len < n ? len : n);
	}
	c->rq_hlen += len;
}

/* A piece of a header name. */
static int
conn_on_header_field(llhttp_t *p, const char *at, size_t len)
{
	conn_hbuf_add(p->data, at, len);
	return 0;
}

/* A header name is complete: note whether it is one the origin looks at. */
static int
conn_on_header_field_complete(llhttp_t *p)
{
	static const struct {
		const char	*name;
		enum hdr	 hdr;
	} names[] = {
		{ "expect", HDR_EXPECT },
		{ "upgrade", HDR_UPGRADE },
		{ "sec-websocket-key", HDR_WS_KEY },
		{ "sec-websocket-version", HDR_WS_VERSION },
	};
	struct conn	*c = p->data;
	size_t		 i;

	c->rq_hdr = HDR_OTHER;
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (c->rq_hlen == strlen(names[i].name) &&
		    strncasecmp(c->rq_hbuf, names[i].name, c->rq_hlen) == 0)
			c->rq_hdr = names[i].hdr;
	}
	c->rq_hlen = 0;
	return 0;
}

/* A piece of a header value, kept only for the headers the origin looks at. */
static int
conn_on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (c->rq_hdr != HDR_OTHER)
		conn_hbuf_add(c, at, len);
	return 0;
}

/*
 * Copy a complete header value, without trailing blanks, into a field of
 * the request; *lenp gets its length, more than size if it did not fit.
 */
static void
conn_hval_keep(struct conn *c, char *dst, size_t size, size_t *lenp)
{
	size_t	 n = c->rq_hlen;

	if (n <= sizeof c->rq_hbuf)
		while (n > 0 && (c->rq_hbuf[n - 1] == ' ' ||
		    c->rq_hbuf[n - 1] == '\t'))
			n--;
	if (n >= size) {
		*lenp = size + 1;
		return;
	}
	memcpy(dst, c->rq_hbuf, n);
	dst[n] = '\0';
	*lenp = n;
}

/* A header value is complete: keep what the origin needs of it. */
static int
conn_on_header_value_complete(llhttp_t *p)
{
	struct conn	*c = p->data;
	char		 v[8];
	size_t		 n;

	switch (c->rq_hdr) {
	case HDR_EXPECT:
		if (c->rq_hlen == 12 &&
		    strncasecmp(c->rq_hbuf, "100-continue", 12) == 0)
			c->rq_expect = 1;
		break;
	case HDR_UPGRADE:
		conn_hval_keep(c, c->rq_upgrade, sizeof c->rq_upgrade,
		    &c->rq_upgrade_len);
		break;
	case HDR_WS_KEY:
		conn_hval_keep(c, c->rq_ws_key, sizeof c->rq_ws_key,
		    &c->rq_ws_key_len);
		break;
	case HDR_WS_VERSION:
		conn_hval_keep(c, v, sizeof v, &n);
		c->rq_ws_version = n == 2 && memcmp(v, "13", 2) == 0 ? 13 : -1;
		break;
	case HDR_OTHER:
		break;
	}
	c->rq_hdr = HDR_OTHER;
	c->rq_hlen = 0;
	return 0;
}

/* The head is complete: route it, and pause if its bytes or Expect matter. */
static int
conn_on_headers_complete(llhttp_t *p)
{
	struct conn	*c = p->data;

	c->cn_in_head = 0;
	c->rq_head = llhttp_get_method(p) == HTTP_HEAD;
	c->rq_get = llhttp_get_method(p) == HTTP_GET;
	c->rq_http11 = p->http_major == 1 && p->http_minor == 1;
	c->rq_conn_upgrade = (p->flags & F_CONNECTION_UPGRADE) != 0;
	if (c->rq_error == 0)
		c->rs_route = routes_match(c->rq_url, c->rq_url_len,
		    &c->rs_arg1, &c->rs_arg2);
	if (c->rs_route == ROUTE_ECHO || c->rq_expect) {
		c->cn_pause = PAUSE_HEADERS;
		return HPE_PAUSED;
	}
	return 0;
}

/* Body bytes are kept for /echo and dropped otherwise. */
static int
conn_on_body(llhttp_t *p, const char *at, size_t len)
{
	struct conn	*c = p->data;

	if (c->rs_route != ROUTE_ECHO || c->rq_error != 0 || c->cn_hold == NULL)
		return 0;
	if (evbuffer_get_length(c->cn_hold) + len > ORIGIN_ECHO_MAX) {
		c->rq_error = 413;
		return HPE_USER;
	}
	if (evbuffer_add(c->cn_hold, at, len) == -1) {
		c->rq_error = 500;
		return HPE_USER;
	}
	return 0;
}

/* The request is complete: pause so that it is answered before the next. */
static int
conn_on_message_complete(llhttp_t *p)
{
	struct conn	*c = p->data;

	if (!llhttp_should_keep_alive(p))
		c->rq_ka = KA_CLOSE;
	else if (p->http_major == 1 && p->http_minor == 0)
		c->rq_ka = KA_HTTP10;
	else
		c->rq_ka = KA_HTTP11;
	c->cn_pause = PAUSE_MESSAGE;
	return HPE_PAUSED;
}

/* Keep the head as received for /echo; send 100 Continue if it is due. */
static void
conn_headers(struct conn *c)
{
	struct evbuffer_ptr	 ptr;
	struct evbuffer_iovec	 v;
	size_t			 n;
	llhttp_t		*p = &c->cn_parser;

	if (c->rs_route == ROUTE_ECHO && c->cn_head_seen) {
		if (c->cn_hold == NULL && (c->cn_hold = evbuffer_new()) == NULL) {
			conn_close(c, 0);
			return;
		}
		n = c->cn_in_parsed - c->cn_head_start;
		if (evbuffer_ptr_set(c->cn_in, &ptr, c->cn_head_start,
		    EVBUFFER_PTR_SET) == -1 ||
		    evbuffer_reserve_space(c->cn_hold, n, &v, 1) != 1 ||
		    evbuffer_copyout_from(c->cn_in, &ptr, v.iov_base, n) !=
		    (ev_ssize_t)n) {
			conn_close(c, 0);
			return;
		}
		v.iov_len = n;
		evbuffer_commit_space(c->cn_hold, &v, 1);
	}
	if (c->rq_expect && p->http_major == 1 && p->http_minor == 1 &&
	    ((p->flags & F_CHUNKED) || p->content_length > 0))
		evbuffer_add(c->cn_out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* A request is complete: log it and answer it. */
static void
conn_message(struct conn *c)
{
	if (origin.verbose)
		origin_debug("conn %llu: %s %s", (unsigned long long)c->cn_id,
		    llhttp_method_name(llhttp_get_method(&c->cn_parser)),
		    c->rq_url);
	origin_event(c, "request");
	if (c->rs_route != ROUTE_STATS)
		origin.st_requests++;
	if (c->rq_error != 0)
		routes_error(c, c->rq_error);
	else
		routes_start(c);
}

/* The request cannot be parsed or is refused: answer an error and close. */
static void
conn_refuse(struct conn *c, int status)
{
	if (origin.verbose)
		origin_debug("conn %llu: refused with %d: %s",
		    (unsigned long long)c->cn_id, status,
		    llhttp_get_error_reason(&c->cn_parser));
	if (!c->rq_active) {
		c->rq_active = 1;
		c->rq_url_len = 0;
	}
	origin_event(c, "request");
	origin.st_requests++;
	c->rq_head = 0;
	c->rq_ka = KA_CLOSE;
	routes_error(c, status);
}

/* Drop parsed input, keeping the head of a request still being read. */
static void
conn_drain(struct conn *c)
{
	size_t	 n = c->cn_in_parsed;

	if (c->cn_in_head && c->cn_head_seen)
		n = c->cn_head_start;
	if (n == 0)
		return;
	evbuffer_drain(c->cn_in, n);
	c->cn_in_parsed -= n;
	if (c->cn_in_head && c->cn_head_seen)
		c->cn_head_start -= n;
}

/* Parse and answer input until it runs dry or the connection must wait. */
static void
conn_parse(struct conn *c)
{
	static const char	 empty[1];
	struct evbuffer_ptr	 ptr;
	struct evbuffer_iovec	 v;
	const char		*data;
	size_t			 len, used;
	llhttp_errno_t		 err;

	while (c->cn_state == CONN_READING &&
	    evbuffer_get_length(c->cn_out) < ORIGIN_OUT_HIGH) {
		if (c->cn_in_parsed < evbuffer_get_length(c->cn_in)) {
			evbuffer_ptr_set(c->cn_in, &ptr, c->cn_in_parsed,
			    EVBUFFER_PTR_SET);
			if (evbuffer_peek(c->cn_in, -1, &ptr, &v, 1) < 1)
				break;
			data = v.iov_base;
			len = v.iov_len;
		} else if (c->cn_parse_more) {
			data = empty;
			len = 0;
		} else
			break;

		c->cn_parse_more = 0;
		c->cn_pause = PAUSE_NONE;
		c->cn_exec_base = data;
		c->cn_exec_off = c->cn_in_parsed;
		err = llhttp_execute(&c->cn_parser, data, len);
		if (err == HPE_OK)
			used = len;
		else if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
			used = (size_t)(llhttp_get_error_pos(&c->cn_parser) - data);
			if (err == HPE_PAUSED)
				llhttp_resume(&c->cn_parser);
			else
				llhttp_resume_after_upgrade(&c->cn_parser);
			c->cn_parse_more = 1;
		} else {
			conn_refuse(c, c->rq_error != 0 ? c->rq_error : 400);
			break;
		}
		c->cn_in_parsed += used;

		if (c->cn_in_head && c->cn_head_seen &&
		    c->cn_in_parsed - c->cn_head_start > ORIGIN_HEAD_MAX) {
			conn_refuse(c, 431);
			break;
		}
		if (c->cn_pause == PAUSE_HEADERS)
			conn_headers(c);
		else if (c->cn_pause == PAUSE_MESSAGE)
			conn_message(c);
	}
	if (c->cn_state != CONN_DEAD)
		conn_drain(c);
}

/* Write queued output until the socket is full; -1 if the peer is gone. */
static int
conn_write(struct conn *c)
{
	int	 n;

	while (evbuffer_get_length(c->cn_out) > 0) {
		n = evbuffer_write(c->cn_out, c->cn_fd);
		if (n > 0)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		conn_log_close(c);
		conn_close(c, 0);
		return -1;
	}
	return 0;
}

/*
 * Shut our side and wait for the peer's FIN, so that a byte still unread
 * when we close cannot turn our close into a reset.
 */
static void
conn_linger(struct conn *c)
{
	conn_set_state(c, CONN_LINGERING);
	if (shutdown(c->cn_fd, SHUT_WR) == -1) {
		conn_close(c, 0);
		return;
	}
	tunnel_end_log(c);
	evbuffer_drain(c->cn_in, evbuffer_get_length(c->cn_in));
	c->cn_in_parsed = 0;
	conn_timer(c, ORIGIN_LINGER_MS, 0);
}

/* Add or delete the read and write events to match the connection's needs. */
static void
conn_update(struct conn *c)
{
	size_t	 unparsed;
	int	 rd, wr;

	if (c->cn_state == CONN_DEAD)
		return;
	unparsed = evbuffer_get_length(c->cn_in) - c->cn_in_parsed;
	switch (c->cn_state) {
	case CONN_HANGING:
	case CONN_SHUT:
	case CONN_CLOSING:
	case CONN_LINGERING:
		rd = !c->cn_peer_eof;	/* input is dropped: read on */
		break;
	case CONN_TUNNEL:
	case CONN_SILENT:
		/* What is read is echoed (or dropped) at once: the echo
		 * waits while the peer does not take what it owes. */
		rd = !c->cn_peer_eof &&
		    evbuffer_get_length(c->cn_out) < ORIGIN_OUT_HIGH;
		break;
	default:
		rd = !c->cn_peer_eof && unparsed < ORIGIN_IN_MAX;
		break;
	}
	wr = evbuffer_get_length(c->cn_out) > 0 || c->cn_state == CONN_STREAMING;
	if (rd != c->cn_rd_on) {
		if (rd)
			event_add(c->cn_ev_read, NULL);
		else
			event_del(c->cn_ev_read);
		c->cn_rd_on = rd;
	}
	if (wr != c->cn_wr_on) {
		if (wr)
			event_add(c->cn_ev_write, NULL);
		else
			event_del(c->cn_ev_write);
		c->cn_wr_on = wr;
	}
}

/*
 * Make all the progress possible without waiting: parse and answer
 * requests, produce streamed bodies, write.  Bounded, so that one fast
 * client streaming a long body cannot keep the loop to itself.
 */
static void
conn_pump(struct conn *c)
{
	int	 rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		if (c->cn_state == CONN_READING)
			conn_parse(c);
		if (c->cn_state == CONN_TUNNEL || c->cn_state == CONN_SILENT)
			tunnel_input(c);
		if (c->cn_state == CONN_STREAMING)
			routes_refill(c);
		if (c->cn_state == CONN_DEAD)
			return;
		if (evbuffer_get_length(c->cn_out) == 0)
			break;
		if (conn_write(c) == -1)
			return;
		if (evbuffer_get_length(c->cn_out) > 0)
			break;
		if (c->cn_state == CONN_STREAMING ||
		    (c->cn_state == CONN_TUNNEL &&
		    evbuffer_get_length(c->cn_in) > 0))
			continue;
		if (c->cn_state != CONN_READING ||
		    (c->cn_in_parsed == evbuffer_get_length(c->cn_in) &&
		    !c->cn_parse_more))
			break;
	}
	if (evbuffer_get_length(c->cn_out) == 0) {
		if (c->cn_state == CONN_CLOSING) {
			if (c->cn_peer_eof)
				conn_close(c, 0);
			else
				conn_linger(c);
		} else if (c->cn_state == CONN_SHUT && !c->tn_wr_shut) {
			c->tn_wr_shut = 1;
			if (shutdown(c->cn_fd, SHUT_WR) == -1)
				conn_close(c, 0);
			else
				tunnel_end_log(c);
		} else if (c->cn_state == CONN_READING && c->cn_peer_eof &&
		    c->cn_in_parsed == evbuffer_get_length(c->cn_in))
			conn_close(c, 0);
	}
	conn_update(c);
}

/*
 * The peer closed its side, or reset.  A reset, or a close while a timed
 * response is pending, ends the connection at once; otherwise what is
 * already queued or streaming goes out first (the peer may have shut only
 * its write side).  A tunnel writes what it owes, then closes: the peer
 * sees our FIN once its own has been answered.  A close while a response is
 * held back (a wait, a drip, a trickle, /hang) counts as cancelled in
 * /stats: a proxy that gave up on this try.
 */
static void
conn_eof(struct conn *c, int reset)
{
	conn_log_close(c);
	c->cn_peer_eof = 1;
	switch (c->cn_state) {
	case CONN_PREWAIT:
	case CONN_WAITING:
	case CONN_DRIPPING:
	case CONN_TRICKLING:
	case CONN_HANGING:
		origin.st_cancelled++;
		break;
	default:
		break;
	}
	if (reset) {
		conn_close(c, 0);
		return;
	}
	switch (c->cn_state) {
	case CONN_PREWAIT:
	case CONN_WAITING:
	case CONN_DRIPPING:
	case CONN_TRICKLING:
	case CONN_HANGING:
	case CONN_LINGERING:
		conn_close(c, 0);
		return;
	case CONN_TUNNEL:
	case CONN_SILENT:
	case CONN_SHUT:
		conn_set_state(c, CONN_CLOSING);
		break;
	default:
		break;
	}
	conn_pump(c);
}

/* Readable: read into cn_in (or drop the bytes) and make progress. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static char		 sink[ORIGIN_READ_SIZE];
	struct conn		*c = arg;
	struct evbuffer_iovec	 v;
	ssize_t			 n;

	(void)what;
	switch (c->cn_state) {
	case CONN_HANGING:
	case CONN_SHUT:
	case CONN_CLOSING:
	case CONN_LINGERING:
		n = read(fd, sink, sizeof sink);
		break;
	default:
		if (evbuffer_reserve_space(c->cn_in, ORIGIN_READ_SIZE, &v,
		    1) != 1) {
			conn_close(c, 0);
			goto out;
		}
		n = read(fd, v.iov_base, v.iov_len);
		if (n > 0) {
			v.iov_len = (size_t)n;
			evbuffer_commit_space(c->cn_in, &v, 1);
		}
		break;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		conn_eof(c, n == -1);
	else if (c->cn_state != CONN_HANGING && c->cn_state != CONN_SHUT &&
	    c->cn_state != CONN_CLOSING && c->cn_state != CONN_LINGERING)
		conn_pump(c);
out:
	if (c->cn_state == CONN_DEAD)
		conn_free(c);
}

/* The socket is writable again. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	conn_pump(c);
	if (c->cn_state == CONN_DEAD)
		conn_free(c);
}

/* A tick of a timed response, or the end of lingering. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->cn_state == CONN_LINGERING)
		conn_close(c, 0);
	else {
		routes_tick(c);
		if (c->cn_state != CONN_DEAD)
			conn_pump(c);
	}
	if (c->cn_state == CONN_DEAD)
		conn_free(c);
}
