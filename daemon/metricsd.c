/*
 * metricsd.c: the /metrics HTTP listener.
 *
 * Each connection is a small state machine with one timer, re-armed at
 * each state change for that state's limit: reading the request head,
 * waiting for the daemon's reply, writing the response, and lingering
 * (reading until the client's EOF after our FIN, so that unread bytes of
 * the client do not turn our close into a reset that destroys the response
 * before the client has read it).  Plain libevent events, no bufferevents:
 * the request is one small head and the response one buffer.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event_struct.h>

#include "http.h"
#include "log.h"
#include "metricsd.h"
#include "netaddr.h"

#define METRICSD_HEAD_MAX	8192	/* request head, bytes */
#define METRICSD_URI_MAX	1024
#define METRICSD_CONNS_MAX	64	/* more are closed at once */
#define METRICSD_READ_MS	5000	/* to send the request head */
#define METRICSD_WAIT_MS	10000	/* for the collection, else 503 */
#define METRICSD_WRITE_MS	10000	/* to take the response */
#define METRICSD_LINGER_MS	1000	/* to close after our FIN */
#define METRICSD_PAUSE_MS	1000	/* accept paused when out of fds */

enum metricsd_state {
	MDS_READING,		/* reading the request head */
	MDS_WAITING,		/* waiting for metricsd_reply_done/fail */
	MDS_WRITING,		/* writing the response */
	MDS_LINGER,		/* response sent: reading until EOF */
};

static const char *const metricsd_state_names[] = {
	"READING", "WAITING", "WRITING", "LINGER",
};

struct metricsd_conn;

struct metricsd_reply {
	struct metricsd_conn *mr_conn;	/* NULL once orphaned */
};

struct metricsd_conn {
	TAILQ_ENTRY(metricsd_conn) mc_entry;
	struct metricsd	*mc_d;
	int		 mc_fd;
	enum metricsd_state mc_state;
	bool		 mc_eof;	/* the client sent its FIN */
	bool		 mc_head_only;	/* a HEAD request: no body */
	struct event	 mc_rev;
	struct event	 mc_wev;
	struct event	 mc_timer;
	struct metricsd_reply *mc_reply;
	struct http_parser mc_parser;
	struct http_msg	 mc_msg;
	size_t		 mc_inlen;	/* bytes in mc_in */
	size_t		 mc_parsed;	/* of them, parsed */
	char		*mc_out;	/* mc_small or malloc'd */
	size_t		 mc_outlen;
	size_t		 mc_outoff;
	char		 mc_small[256];	/* error responses */
	char		 mc_in[METRICSD_HEAD_MAX];
};

struct metricsd {
	struct event_base *md_base;
	int		 md_fd;
	int		 md_port;
	struct event	 md_ev;
	struct event	 md_pause;
	metricsd_collect_fn md_collect;
	void		*md_arg;
	unsigned	 md_nconns;
	TAILQ_HEAD(, metricsd_conn) md_conns;
};

static void	metricsd_accept_cb(evutil_socket_t, short, void *);
static void	metricsd_read_cb(evutil_socket_t, short, void *);
static void	metricsd_write_cb(evutil_socket_t, short, void *);
static void	metricsd_timer_cb(evutil_socket_t, short, void *);
static void	metricsd_pause_cb(evutil_socket_t, short, void *);

/* Bind and listen on addr; the listener starts accepting at once. */
struct metricsd *
metricsd_new(struct event_base *base, const struct config_addr *addr,
    metricsd_collect_fn collect, void *arg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct metricsd *d;
	socklen_t len;
	int fd, one = 1;

	if (netaddr_from_config(addr, &ss, &len) != 0) {
		snprintf(err, errlen,
		    "metrics_listen %s: not a numeric address", addr->text);
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		snprintf(err, errlen, "metrics_listen %s: socket: %s",
		    addr->text, strerror(errno));
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", addr->text,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0 ||
	    (d = calloc(1, sizeof *d)) == NULL) {
		snprintf(err, errlen, "metrics_listen %s: %s", addr->text,
		    strerror(errno != 0 ? errno : ENOMEM));
		close(fd);
		return NULL;
	}
	d->md_base = base;
	d->md_fd = fd;
	d->md_port = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	d->md_collect = collect;
	d->md_arg = arg;
	TAILQ_INIT(&d->md_conns);
	event_assign(&d->md_ev, base, fd, EV_READ | EV_PERSIST,
	    metricsd_accept_cb, d);
	evtimer_assign(&d->md_pause, base, metricsd_pause_cb, d);
	if (event_add(&d->md_ev, NULL) != 0) {
		snprintf(err, errlen, "metrics_listen %s: cannot add the event",
		    addr->text);
		close(fd);
		free(d);
		return NULL;
	}
	return d;
}

/* The port the listener is bound to. */
int
metricsd_port(const struct metricsd *d)
{
	return d->md_port;
}

/* How many client connections are open (for tests). */
unsigned
metricsd_nconns(const struct metricsd *d)
{
	return d->md_nconns;
}

/* Arm the connection's timer for ms milliseconds from now. */
static void
metricsd_conn_arm(struct metricsd_conn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(&c->mc_timer, &tv);
}

/*
 * Move the connection to state to, which must be a legal move, and set
 * the events and the timer that state needs.
 */
static void
metricsd_conn_set_state(struct metricsd_conn *c, enum metricsd_state to)
{
	enum metricsd_state from = c->mc_state;

	assert((from == MDS_READING && (to == MDS_WAITING ||
	    to == MDS_WRITING)) || (from == MDS_WAITING && to == MDS_WRITING) ||
	    (from == MDS_WRITING && to == MDS_LINGER));
	log_debug("metrics fd %d: %s -> %s", c->mc_fd,
	    metricsd_state_names[from], metricsd_state_names[to]);
	c->mc_state = to;
	switch (to) {
	case MDS_READING:
		break;
	case MDS_WAITING:
		metricsd_conn_arm(c, METRICSD_WAIT_MS);
		break;
	case MDS_WRITING:
		event_add(&c->mc_wev, NULL);
		metricsd_conn_arm(c, METRICSD_WRITE_MS);
		break;
	case MDS_LINGER:
		metricsd_conn_arm(c, METRICSD_LINGER_MS);
		break;
	}
}

/*
 * Close the connection and free it, orphaning its reply if one is
 * outstanding.  Called last by the connection's own callbacks, or by
 * metricsd_free().
 */
static void
metricsd_conn_close(struct metricsd_conn *c)
{
	if (c->mc_reply != NULL) {
		c->mc_reply->mr_conn = NULL;
		c->mc_reply = NULL;
	}
	event_del(&c->mc_rev);
	event_del(&c->mc_wev);
	event_del(&c->mc_timer);
	close(c->mc_fd);
	c->mc_fd = -1;
	TAILQ_REMOVE(&c->mc_d->md_conns, c, mc_entry);
	c->mc_d->md_nconns--;
	http_msg_free(&c->mc_msg);
	if (c->mc_out != c->mc_small)
		free(c->mc_out);
	free(c);
}

/* Close the listener and every connection, orphaning outstanding replies. */
void
metricsd_free(struct metricsd *d)
{
	struct metricsd_conn *c;

	if (d == NULL)
		return;
	while ((c = TAILQ_FIRST(&d->md_conns)) != NULL)
		metricsd_conn_close(c);
	event_del(&d->md_ev);
	event_del(&d->md_pause);
	close(d->md_fd);
	free(d);
}

/* Write the head of a response with a body of len bytes into out. */
static int
metricsd_head(char *out, size_t cap, int status, const char *type,
    size_t len, bool allow)
{
	int n;

	n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n", status, http_reason(status), type, len,
	    allow ? "Allow: GET, HEAD\r\n" : "");
	return n > 0 && (size_t)n < cap ? n : -1;
}

/* Answer with an error status and a one-line body, without allocating. */
static void
metricsd_conn_error(struct metricsd_conn *c, int status)
{
	char body[64];
	int blen, hlen;

	if (status < 100 || status > 599)
		status = 500;
	blen = snprintf(body, sizeof body, "%d %s\n", status,
	    http_reason(status));
	if (blen < 0 || (size_t)blen >= sizeof body)
		blen = 0;
	hlen = metricsd_head(c->mc_small, sizeof c->mc_small, status,
	    "text/plain; charset=utf-8", (size_t)blen, status == 405);
	if (hlen < 0)
		hlen = 0;
	if (c->mc_head_only || (size_t)(hlen + blen) > sizeof c->mc_small)
		blen = 0;
	memcpy(c->mc_small + hlen, body, (size_t)blen);
	c->mc_out = c->mc_small;
	c->mc_outlen = (size_t)(hlen + blen);
	c->mc_outoff = 0;
	metricsd_conn_set_state(c, MDS_WRITING);
}

/* Answer 200 with the metrics text; 503 if the copy cannot be made. */
static void
metricsd_conn_ok(struct metricsd_conn *c, const char *text, size_t len)
{
	char head[256];
	size_t blen = c->mc_head_only ? 0 : len;
	int hlen;

	hlen = metricsd_head(head, sizeof head, 200,
	    "text/plain; version=0.0.4; charset=utf-8", len, false);
	if (hlen < 0 || (c->mc_out = malloc((size_t)hlen + blen)) == NULL) {
		metricsd_conn_error(c, 503);
		return;
	}
	memcpy(c->mc_out, head, (size_t)hlen);
	if (blen != 0)
		memcpy(c->mc_out + hlen, text, blen);
	c->mc_outlen = (size_t)hlen + blen;
	c->mc_outoff = 0;
	metricsd_conn_set_state(c, MDS_WRITING);
}

/* Take the reply off its connection and free it; the connection or NULL. */
static struct metricsd_conn *
metricsd_reply_take(struct metricsd_reply *r)
{
	struct metricsd_conn *c = r->mr_conn;

	free(r);
	if (c != NULL)
		c->mc_reply = NULL;
	return c;
}

/* Answer with the metrics text and free the reply. */
void
metricsd_reply_done(struct metricsd_reply *r, const char *text, size_t len)
{
	struct metricsd_conn *c = metricsd_reply_take(r);

	if (c != NULL)
		metricsd_conn_ok(c, text, len);
}

/* Answer with an error status and free the reply. */
void
metricsd_reply_fail(struct metricsd_reply *r, int status)
{
	struct metricsd_conn *c = metricsd_reply_take(r);

	if (c != NULL)
		metricsd_conn_error(c, status);
}

/* The request head is in: route it. */
static void
metricsd_conn_dispatch(struct metricsd_conn *c)
{
	const struct http_msg *m = &c->mc_msg;
	const char *path = http_span_ptr(c->mc_in, m->path);
	struct metricsd_reply *r;
	size_t len = m->path.len;

	c->mc_head_only = m->method_id == HTTP_HEAD;
	if (m->method_id != HTTP_GET && m->method_id != HTTP_HEAD) {
		metricsd_conn_error(c, 405);
		return;
	}
	if (len < 8 || memcmp(path, "/metrics", 8) != 0 ||
	    (len > 8 && path[8] != '?')) {
		metricsd_conn_error(c, 404);
		return;
	}
	if ((r = calloc(1, sizeof *r)) == NULL) {
		metricsd_conn_error(c, 503);
		return;
	}
	r->mr_conn = c;
	c->mc_reply = r;
	metricsd_conn_set_state(c, MDS_WAITING);
	c->mc_d->md_collect(c->mc_d->md_arg, r);
}

/* Parse what came of the request head, and answer once it is complete. */
static void
metricsd_conn_parse(struct metricsd_conn *c)
{
	enum http_verdict v;
	size_t used;

	v = http_feed(&c->mc_parser, c->mc_in, c->mc_in + c->mc_parsed,
	    c->mc_inlen - c->mc_parsed, &used);
	c->mc_parsed += used;
	switch (v) {
	case HTTP_MORE:
		if (c->mc_inlen == sizeof c->mc_in)
			metricsd_conn_error(c, 431);
		break;
	case HTTP_GOT_HEAD:
	case HTTP_DONE:
		metricsd_conn_dispatch(c);
		break;
	case HTTP_ERR_BAD:
		metricsd_conn_error(c, 400);
		break;
	case HTTP_ERR_TE:
		metricsd_conn_error(c, 501);
		break;
	case HTTP_ERR_URI:
		metricsd_conn_error(c, 414);
		break;
	case HTTP_ERR_HEADER:
		metricsd_conn_error(c, 431);
		break;
	}
}

/*
 * Readable: in READING, bytes of the request head; later, bytes to throw
 * away, and the client's EOF, which ends the connection unless the
 * response is being written (a client may half-close after its request).
 */
static void
metricsd_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metricsd_conn *c = arg;
	char scratch[1024], *p = scratch;
	size_t room = sizeof scratch;
	ssize_t n;

	(void)what;
	if (c->mc_state == MDS_READING) {
		p = c->mc_in + c->mc_inlen;
		room = sizeof c->mc_in - c->mc_inlen;
	}
	n = recv(fd, p, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0 || c->mc_state != MDS_WRITING) {
			metricsd_conn_close(c);
			return;
		}
		c->mc_eof = true;
		event_del(&c->mc_rev);
		return;
	}
	if (c->mc_state != MDS_READING)
		return;
	c->mc_inlen += (size_t)n;
	metricsd_conn_parse(c);
}

/* Writable: send the rest of the response, then FIN and linger. */
static void
metricsd_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metricsd_conn *c = arg;
	ssize_t n;

	(void)what;
	while (c->mc_outoff < c->mc_outlen) {
		n = send(fd, c->mc_out + c->mc_outoff,
		    c->mc_outlen - c->mc_outoff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			metricsd_conn_close(c);
			return;
		}
		c->mc_outoff += (size_t)n;
	}
	event_del(&c->mc_wev);
	if (c->mc_eof || shutdown(fd, SHUT_WR) != 0) {
		metricsd_conn_close(c);
		return;
	}
	metricsd_conn_set_state(c, MDS_LINGER);
}

/* The state's time is up: 408 or 503 when an answer is still due. */
static void
metricsd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metricsd_conn *c = arg;

	(void)fd;
	(void)what;
	switch (c->mc_state) {
	case MDS_READING:
		if (c->mc_inlen == 0) {
			metricsd_conn_close(c);
			return;
		}
		metricsd_conn_error(c, 408);
		return;
	case MDS_WAITING:
		c->mc_reply->mr_conn = NULL;
		c->mc_reply = NULL;
		metricsd_conn_error(c, 503);
		return;
	case MDS_WRITING:
	case MDS_LINGER:
		metricsd_conn_close(c);
		return;
	}
}

/* Set up a connection for an accepted socket; false on no memory. */
static bool
metricsd_conn_new(struct metricsd *d, int fd)
{
	static const struct http_limits limits = {
		METRICSD_URI_MAX, METRICSD_HEAD_MAX - 1,
	};
	struct metricsd_conn *c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return false;
	c->mc_d = d;
	c->mc_fd = fd;
	c->mc_state = MDS_READING;
	http_parser_init(&c->mc_parser, HTTP_KIND_REQUEST, &c->mc_msg, &limits);
	event_assign(&c->mc_rev, d->md_base, fd, EV_READ | EV_PERSIST,
	    metricsd_read_cb, c);
	event_assign(&c->mc_wev, d->md_base, fd, EV_WRITE | EV_PERSIST,
	    metricsd_write_cb, c);
	evtimer_assign(&c->mc_timer, d->md_base, metricsd_timer_cb, c);
	TAILQ_INSERT_TAIL(&d->md_conns, c, mc_entry);
	d->md_nconns++;
	event_add(&c->mc_rev, NULL);
	metricsd_conn_arm(c, METRICSD_READ_MS);
	return true;
}

/* Accept what is waiting; out of descriptors, pause for a while. */
static void
metricsd_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct timeval tv = { METRICSD_PAUSE_MS / 1000,
	    (METRICSD_PAUSE_MS % 1000) * 1000 };
	struct metricsd *d = arg;
	int fd;

	(void)what;
	for (int i = 0; i < 16; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("metrics: accept: %s",
				    strerror(errno));
				event_del(&d->md_ev);
				evtimer_add(&d->md_pause, &tv);
			}
			return;
		}
		if (d->md_nconns >= METRICSD_CONNS_MAX ||
		    !metricsd_conn_new(d, fd))
			close(fd);
	}
}

/* The accept pause is over. */
static void
metricsd_pause_cb(evutil_socket_t fd, short what, void *arg)
{
	struct metricsd *d = arg;

	(void)fd;
	(void)what;
	event_add(&d->md_ev, NULL);
}
