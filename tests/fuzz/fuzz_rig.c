/*
 * fuzz_rig.c: the in-process bench of the proxy fuzz targets: one event
 * base, an origin on 127.0.0.1, two proxies and a socketpair client.
 *
 * "Run until nothing moves" is exact, not a guess with a sleep: the base
 * has three priorities, everything the proxy, the origin and the client
 * register runs at the middle one (libevent's default), and the rig's quiet
 * event at the lowest.  libevent runs only the highest non-empty priority
 * in a loop turn and polls with a zero timeout while anything is active, so
 * the quiet event's callback runs in the first turn where no socket was
 * ready and no timer was due.  Socketpair writes, and loopback TCP writes
 * that fit the peer's window, are visible to the peer when write()
 * returns, so that turn is a standstill.  The exception is TCP data held
 * back by a full window (RIG_TIGHT_UP, /stall), which moves on the kernel's
 * timers: the end-of-input checks wait for it (rig_client_close()).
 *
 * The origin answers by a word in the request path (the first of these it
 * holds, anywhere: "/api/hang" hangs), so that inputs can steer it:
 *   /hang      never answers          /close   closes at the head
 *   /reset     resets at the head     /early   answers before the body
 *   /chunked   chunked body           /eof     body to end of stream
 *   /continue  100 Continue, then 200 /big     a 40000-byte body
 *   /bye       answers, then closes   /304     304, no body
 *   /stall     reads 1 KiB per round of the loop (see rig_settle()), so
 *              that the proxy's sends to it block
 *   anything else: 200 with Content-Length: 5.
 * A request the origin's parser (the library's own) refuses means the
 * proxy forwarded bytes it would not accept itself: that aborts.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "client.h"
#include "deadline.h"
#include "http.h"
#include "log.h"
#include "proxy_ctx.h"
#include "upstream.h"
#include "fuzz_rig.h"

#define PRIO_QUIET	2		/* below libevent's default, 1 */
#define RIG_KEEP_MAX	(1u << 20)	/* client bytes kept for inspection */
#define BIG_BODY	40000
#define FAST_WAIT_US	300000		/* RIG_FAST: longest wait for timers */
#define FAST_CLOSE_US	1500000		/* RIG_FAST: longest wait to close */
#define ORIGIN_CLOSE_US	3000000		/* longest wait for the origin to see
					   the proxy's close */

/* Timeouts of seconds: nothing fires within an input. */
static const char rig_conf_slow[] =
    "[server]\n"
    "max_connections = 64\n"
    "[limits]\n"
    "max_uri = 1k\n"
    "max_header = 2k\n"
    "max_body = 16k\n"
    "[timeouts]\n"
    "client_header = 20s\n"
    "client_idle = 20s\n"
    "keepalive = 20s\n"
    "request = 30s\n"
    "try = 25s\n"
    "connect = 20s\n"
    "upstream_header = 20s\n"
    "upstream_idle = 20s\n"
    "retries = 0\n"
    "[upstream origin]\n"
    "server = 127.0.0.1:@ORIGIN@\n"
    "keepalive = 4\n"
    "keepalive_idle = 20s\n"
    "max_fails = 0\n"
    "[upstream refused]\n"
    "server = 127.0.0.1:@REFUSED@\n"
    "max_fails = 0\n"
    "[upstream mixed]\n"
    "server = 127.0.0.1:@REFUSED@\n"
    "server = 127.0.0.1:@ORIGIN@ weight=2\n"
    "balance = least_conn\n"
    "keepalive = 1\n"
    "max_fails = 0\n"
    "[route /]\n"
    "upstream = origin\n"
    "[route /api/]\n"
    "upstream = origin\n"
    "host = api.example\n"
    "upstream_header = 15s\n"
    "propagate_deadline = no\n"
    "[upstream blackhole]\n"
    "server = 127.0.0.1:@BLACKHOLE@\n"
    "max_fails = 0\n"
    "[route /refused]\n"
    "upstream = refused\n"
    "[route /blackhole]\n"
    "upstream = blackhole\n"
    "[route /mixed]\n"
    "upstream = mixed\n"
    "retries = 2\n";

/* Timeouts of milliseconds, which the rig waits for. */
static const char rig_conf_fast[] =
    "[server]\n"
    "max_connections = 64\n"
    "log_format = json\n"
    "[limits]\n"
    "max_uri = 200\n"
    "max_header = 600\n"
    "max_body = off\n"
    "[timeouts]\n"
    "client_header = 3ms\n"
    "client_idle = 3ms\n"
    "keepalive = 2ms\n"
    "request = 12ms\n"
    "try = 6ms\n"
    "connect = 4ms\n"
    "upstream_header = 4ms\n"
    "upstream_idle = 4ms\n"
    "retries = 1\n"
    "deadline_header = X-Deadline\n"
    "[upstream origin]\n"
    "server = 127.0.0.1:@ORIGIN@\n"
    "keepalive = 2\n"
    "keepalive_idle = 5ms\n"
    "max_fails = 0\n"
    "[upstream refused]\n"
    "server = 127.0.0.1:@REFUSED@\n"
    "max_fails = 0\n"
    "[upstream mixed]\n"
    "server = 127.0.0.1:@REFUSED@\n"
    "server = 127.0.0.1:@ORIGIN@\n"
    "max_fails = 0\n"
    "[route /]\n"
    "upstream = origin\n"
    "[route /slow]\n"
    "upstream = origin\n"
    "request = 30ms\n"
    "upstream_header = off\n"
    "try = off\n"
    "[upstream blackhole]\n"
    "server = 127.0.0.1:@BLACKHOLE@\n"
    "server = 127.0.0.1:@ORIGIN@\n"
    "max_fails = 0\n"
    "[upstream flaky]\n"
    "server = 127.0.0.1:@REFUSED@\n"
    "max_fails = 1\n"
    "fail_timeout = 5ms\n"
    "[route /flaky]\n"
    "upstream = flaky\n"
    "[route /try]\n"
    "upstream = origin\n"
    "try = 3ms\n"
    "upstream_header = off\n"
    "[route /refused]\n"
    "upstream = refused\n"
    "[route /blackhole]\n"
    "upstream = blackhole\n"
    "[route /mixed]\n"
    "upstream = mixed\n";

enum origin_action {
	ACT_OK, ACT_HANG, ACT_CLOSE, ACT_RESET, ACT_EARLY, ACT_CHUNKED,
	ACT_EOF, ACT_CONTINUE, ACT_BIG, ACT_BYE, ACT_304, ACT_STALL,
	ACT_SCRIPT,
};

static const struct {
	const char	*path;
	enum origin_action act;
} origin_paths[] = {
	{ "/hang", ACT_HANG }, { "/close", ACT_CLOSE }, { "/reset", ACT_RESET },
	{ "/early", ACT_EARLY }, { "/chunked", ACT_CHUNKED },
	{ "/eof", ACT_EOF }, { "/continue", ACT_CONTINUE }, { "/big", ACT_BIG },
	{ "/bye", ACT_BYE }, { "/304", ACT_304 }, { "/stall", ACT_STALL },
};

/* One connection the origin accepted. */
struct origin_conn {
	LIST_ENTRY(origin_conn) oc_entry;
	int		 oc_fd;
	struct event	 oc_rev;
	struct event	 oc_wev;
	char		*oc_in;			/* a request's head at 0 */
	size_t		 oc_inlen, oc_incap, oc_pos;
	char		*oc_out;
	size_t		 oc_outoff, oc_outlen, oc_outcap;
	uint8_t		*oc_rec;		/* every byte read, the first
						   RIG_KEEP_MAX of them */
	size_t		 oc_reclen, oc_reccap;
	struct http_parser oc_p;
	struct http_msg	 oc_m;
	enum origin_action oc_act;
	bool		 oc_answered;		/* answered before the body */
	bool		 oc_close;		/* close once out is sent */
	bool		 oc_stall;		/* read slowly (/stall) */
	bool		 oc_paused;		/* stalled until the next round */
};

static struct event_base *rig_base;
static struct event rig_quiet_ev;
static bool	 rig_quiet;
static struct proxy *rig_px[2];
static struct accesslog *rig_alog[2];
static unsigned	 rig_nsock, rig_nnull;	/* descriptors the rig keeps */
static struct stat rig_std[3];		/* what stdin, stdout, stderr are */
static bool	 rig_debug;		/* HG_FUZZ_DEBUG: tell what happens */

static LIST_HEAD(, origin_conn) origin_conns =
    LIST_HEAD_INITIALIZER(origin_conns);
static unsigned	 origin_nconns;
static int	 origin_lfd = -1, origin_tight_fd = -1;
static int	 origin_refused_fd = -1, origin_blackhole_fd = -1;
static unsigned	 origin_port, tight_port, refused_port, blackhole_port;
static unsigned	 origin_nstalled;		/* /stall connections paused */
static struct event origin_lev, origin_tight_lev;

/* What each upstream connection the origin closed since the client
 * opened received (rig_upstream_bytes()). */
static struct rig_upstream {
	uint8_t		*bytes;
	size_t		 len;
} *rig_ups;
static size_t	 rig_nups, rig_upscap;

static struct {
	const uint8_t	*data;
	size_t		 len, split, sent;
	bool		 close_after;
	bool		 armed;		/* waiting for a request */
	struct origin_conn *conn;	/* the connection answering it */
} script;

/* RIG_TIGHT_UP: the proxy's upstream sockets get the smallest buffers. */
static bool	 rig_tight;

static struct {
	bool		 open;
	enum rig_which	 which;
	int		 fd;
	struct event	 rev;
	struct event	 wev;
	uint8_t		*out;		/* bytes not yet sent */
	size_t		 outoff, outlen, outcap;
	uint8_t		*in;		/* bytes received, the first
					   RIG_KEEP_MAX of them */
	size_t		 inlen, incap;
	uint8_t		*sent;		/* bytes sent, the first
					   RIG_KEEP_MAX of them */
	size_t		 sentlen, sentcap;
	bool		 eof;
	bool		 shut;
	SSL		*ssl;		/* the client speaks TLS: in, out and
					   sent are the plaintext */
} rc;

/* The X-Forwarded-Proto every forwarded head must carry, once. */
static const char *rig_want_proto = "http";

static void	origin_conn_free(struct origin_conn *, bool reset);
static int	origin_send_out(struct origin_conn *);
static void	origin_unstall(void);

/* A broken invariant: say what, and crash so that libFuzzer keeps the input. */
static void __attribute__((noreturn, format(printf, 1, 2)))
rig_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "fuzz rig: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

/* Append len bytes to a growing buffer. */
static void
rig_append(uint8_t **buf, size_t *blen, size_t *cap, const void *p,
    size_t len)
{
	if (len == 0)
		return;
	if (*blen + len > *cap) {
		size_t ncap = *cap ? *cap : 4096;

		while (ncap < *blen + len)
			ncap *= 2;
		if ((*buf = realloc(*buf, ncap)) == NULL)
			rig_fail("out of memory");
		*cap = ncap;
	}
	memcpy(*buf + *blen, p, len);
	*blen += len;
}

static void
rig_quiet_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	rig_quiet = true;
}

/*
 * Run the loop until a turn in which nothing was ready, and again after
 * each round in which a /stall connection of the origin read its bite.
 */
void
rig_settle(void)
{
	do {
		origin_unstall();
		rig_quiet = false;
		event_active(&rig_quiet_ev, EV_TIMEOUT, 0);
		while (!rig_quiet)
			event_base_loop(rig_base, EVLOOP_ONCE);
	} while (origin_nstalled > 0);
}

static void
rig_expired_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Run the loop, waiting for timers too, until done() or us pass.  A
 * paused /stall connection takes a bite each turn. */
static bool
rig_run_until(bool (*done)(void), long us)
{
	struct timeval tv = { us / 1000000, us % 1000000 };
	struct event guard;
	bool expired = false;

	evtimer_assign(&guard, rig_base, rig_expired_cb, &expired);
	evtimer_add(&guard, &tv);
	while (!done() && !expired) {
		origin_unstall();
		event_base_loop(rig_base, EVLOOP_ONCE);
	}
	evtimer_del(&guard);
	return done();
}

/* --- the origin --- */

/* Queue bytes for the proxy and send what the socket takes. */
static int
origin_write(struct origin_conn *oc, const char *p, size_t len)
{
	rig_append((uint8_t **)&oc->oc_out, &oc->oc_outlen, &oc->oc_outcap, p,
	    len);
	return origin_send_out(oc);
}

/* Send queued bytes; close when asked to and all is sent.  -1 if freed. */
static int
origin_send_out(struct origin_conn *oc)
{
	ssize_t n;

	while (oc->oc_outoff < oc->oc_outlen) {
		n = write(oc->oc_fd, oc->oc_out + oc->oc_outoff,
		    oc->oc_outlen - oc->oc_outoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			event_add(&oc->oc_wev, NULL);
			return 0;
		}
		if (n <= 0) {
			origin_conn_free(oc, false);
			return -1;
		}
		oc->oc_outoff += (size_t)n;
	}
	oc->oc_outoff = oc->oc_outlen = 0;
	event_del(&oc->oc_wev);
	if (oc->oc_close && (script.conn != oc || script.sent == script.len)) {
		origin_conn_free(oc, false);
		return -1;
	}
	return 0;
}

static void
origin_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	origin_send_out(arg);
}

/* Send the scripted bytes from script.sent up to end. */
static int
origin_script_send(struct origin_conn *oc, size_t end)
{
	size_t from = script.sent;

	script.sent = end;
	if (script.sent == script.len && script.close_after)
		oc->oc_close = true;
	if (end > from)
		return origin_write(oc, (const char *)script.data + from,
		    end - from);
	return origin_send_out(oc);
}

/* Answer the current request.  -1 when the connection was freed. */
static int
origin_answer(struct origin_conn *oc)
{
	static char big[BIG_BODY];
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	static const char chunked[] =
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char eof[] = "HTTP/1.1 200 OK\r\nX-Framing: eof\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	static const char bighead[] =
	    "HTTP/1.1 200 OK\r\nContent-Length: 40000\r\n\r\n";
	static const char nm[] =
	    "HTTP/1.1 304 Not Modified\r\nETag: \"f\"\r\n\r\n";
	bool head = oc->oc_m.method_id == HTTP_HEAD;
	const char *h, *b = "hello";
	size_t blen = 5;

	switch (oc->oc_act) {
	case ACT_SCRIPT:
		return origin_script_send(oc, script.split);
	case ACT_CHUNKED:
		h = chunked;
		b = "5\r\nhello\r\n0\r\n\r\n";
		blen = strlen(b);
		break;
	case ACT_EOF:
		h = eof;
		oc->oc_close = true;
		break;
	case ACT_CONTINUE:
		h = cont;
		break;
	case ACT_BIG:
		if (big[0] == '\0')
			memset(big, 'x', sizeof big);
		h = bighead;
		b = big;
		blen = sizeof big;
		break;
	case ACT_304:
		h = nm;
		blen = 0;
		break;
	case ACT_BYE:
		oc->oc_close = true;
		/* FALLTHROUGH */
	default:
		h = ok;
		break;
	}
	rig_append((uint8_t **)&oc->oc_out, &oc->oc_outlen, &oc->oc_outcap, h,
	    strlen(h));
	if (head)
		blen = 0;
	return origin_write(oc, b, blen);
}

/*
 * A forwarded head carries one X-Forwarded-Proto, the proxy's own: "https"
 * when the client spoke TLS, else "http"; the client's is never passed on.
 */
static void
origin_check_proto(struct origin_conn *oc)
{
	const struct http_msg *m = &oc->oc_m;
	const struct http_field *f, *xfp = NULL;
	unsigned n = 0;

	for (uint16_t i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (f->kind != HTTP_FK_XFP)
			continue;
		xfp = f;
		n++;
	}
	if (n != 1 || xfp->value.len != strlen(rig_want_proto) ||
	    memcmp(oc->oc_in + xfp->value.off, rig_want_proto,
	    xfp->value.len) != 0)
		rig_fail("the origin got %u X-Forwarded-Proto fields, the last "
		    "\"%.*s\", where the proxy's \"%s\" must be the only one",
		    n, xfp ? (int)xfp->value.len : 0, xfp ? oc->oc_in +
		    xfp->value.off : "", rig_want_proto);
}

/* A request head arrived: decide how to answer.  -1 when freed. */
static int
origin_head(struct origin_conn *oc)
{
	const char *path = oc->oc_in + oc->oc_m.path.off;
	size_t len = oc->oc_m.path.len;

	origin_check_proto(oc);
	oc->oc_act = ACT_OK;
	oc->oc_answered = false;
	if (script.armed) {
		script.armed = false;
		script.conn = oc;
		oc->oc_act = ACT_SCRIPT;
		return 0;
	}
	for (size_t i = 0; i < sizeof origin_paths / sizeof origin_paths[0];
	    i++) {
		const char *word = origin_paths[i].path;

		if (memmem(path, len, word, strlen(word)) != NULL) {
			oc->oc_act = origin_paths[i].act;
			break;
		}
	}
	switch (oc->oc_act) {
	case ACT_CLOSE:
		origin_conn_free(oc, false);
		return -1;
	case ACT_RESET:
		origin_conn_free(oc, true);
		return -1;
	case ACT_EARLY:
		oc->oc_answered = true;
		return origin_answer(oc);
	case ACT_STALL:
		oc->oc_stall = true;
		return 0;
	default:
		return 0;
	}
}

/* Parse what the proxy sent; answer each request when it is complete. */
static void
origin_parse(struct origin_conn *oc)
{
	enum http_verdict v;
	size_t used;

	for (;;) {
		v = http_feed(&oc->oc_p, oc->oc_in, oc->oc_in + oc->oc_pos,
		    oc->oc_inlen - oc->oc_pos, &used);
		oc->oc_pos += used;
		switch (v) {
		case HTTP_MORE:
			return;
		case HTTP_GOT_HEAD:
			if (rig_debug)
				fprintf(stderr, "fuzz rig: origin: fd %d: %.*s\n",
				    oc->oc_fd, (int)oc->oc_m.target.len,
				    oc->oc_in + oc->oc_m.target.off);
			if (origin_head(oc) != 0)
				return;
			continue;
		case HTTP_DONE:
			memmove(oc->oc_in, oc->oc_in + oc->oc_pos,
			    oc->oc_inlen - oc->oc_pos);
			oc->oc_inlen -= oc->oc_pos;
			oc->oc_pos = 0;
			if (oc->oc_act != ACT_HANG && !oc->oc_answered &&
			    origin_answer(oc) != 0)
				return;
			http_parser_reset(&oc->oc_p);
			continue;
		default:
			rig_fail("the proxy forwarded a request its own parser "
			    "refuses (%s): \"%.*s\"", oc->oc_p.hp_reason ?
			    oc->oc_p.hp_reason : "?", (int)oc->oc_inlen,
			    oc->oc_in);
		}
	}
}

static void
origin_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct origin_conn *oc = arg;
	ssize_t n;

	(void)what;
	for (;;) {
		if (oc->oc_paused)
			break;
		if (oc->oc_incap - oc->oc_inlen < 4096) {
			oc->oc_incap = oc->oc_incap ? oc->oc_incap * 2 : 16384;
			if ((oc->oc_in = realloc(oc->oc_in, oc->oc_incap)) ==
			    NULL)
				rig_fail("out of memory");
		}
		n = read(fd, oc->oc_in + oc->oc_inlen, oc->oc_stall ? 1024 :
		    oc->oc_incap - oc->oc_inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			origin_conn_free(oc, false);
			return;
		}
		if (oc->oc_reclen < RIG_KEEP_MAX)
			rig_append(&oc->oc_rec, &oc->oc_reclen,
			    &oc->oc_reccap, oc->oc_in + oc->oc_inlen,
			    (size_t)n < RIG_KEEP_MAX - oc->oc_reclen ?
			    (size_t)n : RIG_KEEP_MAX - oc->oc_reclen);
		oc->oc_inlen += (size_t)n;
		if (oc->oc_stall) {
			/* One bite per round: the proxy's sends block. */
			oc->oc_paused = true;
			origin_nstalled++;
			event_del(&oc->oc_rev);
		}
	}
	origin_parse(oc);
}

/* A new round: let the paused /stall connections read again. */
static void
origin_unstall(void)
{
	struct origin_conn *oc;

	LIST_FOREACH(oc, &origin_conns, oc_entry)
		if (oc->oc_paused) {
			oc->oc_paused = false;
			origin_nstalled--;
			event_add(&oc->oc_rev, NULL);
		}
}

static void
origin_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_limits lim = { 0, 0 };
	struct origin_conn *oc;
	int cfd;

	(void)what;
	(void)arg;
	while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
	    0) {
		if ((oc = calloc(1, sizeof *oc)) == NULL)
			rig_fail("out of memory");
		oc->oc_fd = cfd;
		http_parser_init(&oc->oc_p, HTTP_KIND_REQUEST, &oc->oc_m, &lim);
		event_assign(&oc->oc_rev, rig_base, cfd, EV_READ | EV_PERSIST,
		    origin_read_cb, oc);
		event_assign(&oc->oc_wev, rig_base, cfd, EV_WRITE | EV_PERSIST,
		    origin_write_cb, oc);
		event_add(&oc->oc_rev, NULL);
		LIST_INSERT_HEAD(&origin_conns, oc, oc_entry);
		origin_nconns++;
		if (rig_debug)
			fprintf(stderr, "fuzz rig: origin: accepted fd %d\n",
			    cfd);
	}
}

/* Close an origin connection, with a reset when asked. */
static void
origin_conn_free(struct origin_conn *oc, bool reset)
{
	if (reset) {
		struct linger lg = { 1, 0 };

		setsockopt(oc->oc_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	if (script.conn == oc)
		script.conn = NULL;
	if (oc->oc_paused)
		origin_nstalled--;
	if (rig_debug)
		fprintf(stderr, "fuzz rig: origin: %s fd %d\n",
		    reset ? "reset" : "closed", oc->oc_fd);
	event_del(&oc->oc_rev);
	event_del(&oc->oc_wev);
	close(oc->oc_fd);
	if (rig_nups == rig_upscap) {
		rig_upscap = rig_upscap ? rig_upscap * 2 : 8;
		if ((rig_ups = realloc(rig_ups, rig_upscap * sizeof *rig_ups)) ==
		    NULL)
			rig_fail("out of memory");
	}
	rig_ups[rig_nups].bytes = oc->oc_rec;
	rig_ups[rig_nups++].len = oc->oc_reclen;
	http_msg_free(&oc->oc_m);
	free(oc->oc_in);
	free(oc->oc_out);
	LIST_REMOVE(oc, oc_entry);
	origin_nconns--;
	free(oc);
}

void
rig_origin_script(const uint8_t *data, size_t len, size_t split,
    bool close_after)
{
	script.data = data;
	script.len = len;
	script.split = split > len ? len : split;
	script.sent = 0;
	script.close_after = close_after;
	script.armed = true;
	script.conn = NULL;
}

void
rig_origin_flush(void)
{
	if (script.conn != NULL)
		origin_script_send(script.conn, script.len);
	rig_settle();
}

/*
 * Bind 127.0.0.1:0 and listen with this backlog (-1: do not listen, so
 * that connects are refused).  rcvbuf, when not 0, is the receive buffer
 * the accepted sockets inherit.  Returns the port.
 */
static uint16_t
rig_bind(int *fdp, int backlog, int rcvbuf)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && rcvbuf != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    (backlog >= 0 && listen(fd, backlog) != 0) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		rig_fail("origin socket: %s", strerror(errno));
	*fdp = fd;
	return ntohs(sin.sin_port);
}

/*
 * Fill the accept queue of the blackhole listener, which is never
 * accepted from: once it is full the kernel drops further SYNs, so a
 * connect to it hangs until the proxy's connect deadline.  The fillers are
 * connected one by one until one does not complete within 50 ms.
 */
static void
rig_fill_blackhole(void)
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	int fd, err;
	socklen_t len;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)blackhole_port);
	for (int i = 0; i < 16; i++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
		if (fd < 0)
			rig_fail("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0 &&
		    errno != EINPROGRESS)
			rig_fail("blackhole connect: %s", strerror(errno));
		pfd.fd = fd;
		pfd.events = POLLOUT;
		len = sizeof err;
		if (poll(&pfd, 1, 50) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
		    err != 0) {
			close(fd);	/* its SYN was dropped: full */
			return;
		}
		/* kept open, never accepted: it holds a place in the queue */
	}
	rig_fail("the blackhole listener never filled up");
}

/* --- the client --- */

/* Keep bytes the client received. */
static void
rig_client_got(const uint8_t *p, size_t n)
{
	if (rc.inlen < RIG_KEEP_MAX)
		rig_append(&rc.in, &rc.inlen, &rc.incap, p,
		    n < RIG_KEEP_MAX - rc.inlen ? n : RIG_KEEP_MAX - rc.inlen);
}

/* Keep bytes the client sent. */
static void
rig_client_sent_add(const uint8_t *p, size_t n)
{
	if (rc.sentlen < RIG_KEEP_MAX)
		rig_append(&rc.sent, &rc.sentlen, &rc.sentcap, p,
		    n < RIG_KEEP_MAX - rc.sentlen ? n :
		    RIG_KEEP_MAX - rc.sentlen);
}

static void	rig_client_flush(void);

/*
 * TLS: read what the stream has (which drives the handshake), then send
 * what waited for it.  Any end, clean or not, is the client's EOF.
 */
static void
rig_client_tls_read(void)
{
	uint8_t tmp[16384];
	int n, e;

	for (;;) {
		ERR_clear_error();
		n = SSL_read(rc.ssl, tmp, sizeof tmp);
		if (n > 0) {
			rig_client_got(tmp, (size_t)n);
			continue;
		}
		e = SSL_get_error(rc.ssl, n);
		if (e == SSL_ERROR_WANT_WRITE)
			event_add(&rc.wev, NULL);
		else if (e != SSL_ERROR_WANT_READ) {
			rc.eof = true;
			event_del(&rc.rev);
		}
		break;
	}
	ERR_clear_error();
	if (rc.outoff < rc.outlen)
		rig_client_flush();
}

static void
rig_client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t tmp[65536];
	ssize_t n;

	(void)what;
	(void)arg;
	if (rc.ssl != NULL) {
		rig_client_tls_read();
		return;
	}
	for (;;) {
		n = read(fd, tmp, sizeof tmp);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			rc.eof = true;
			event_del(&rc.rev);
			return;
		}
		rig_client_got(tmp, (size_t)n);
	}
}

/*
 * TLS: send what OpenSSL takes; the rest waits for writability, or for
 * the handshake (the read callback sends it then).
 */
static void
rig_client_tls_flush(void)
{
	size_t len;
	int n, e;

	while (rc.outoff < rc.outlen) {
		len = rc.outlen - rc.outoff;
		ERR_clear_error();
		n = SSL_write(rc.ssl, rc.out + rc.outoff, len > 65536 ? 65536 :
		    (int)len);
		if (n > 0) {
			rig_client_sent_add(rc.out + rc.outoff, (size_t)n);
			rc.outoff += (size_t)n;
			continue;
		}
		e = SSL_get_error(rc.ssl, n);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_WRITE) {
			event_add(&rc.wev, NULL);
			return;
		}
		if (e == SSL_ERROR_WANT_READ) {
			event_del(&rc.wev);
			return;
		}
		rc.outoff = rc.outlen;	/* the stream is broken */
	}
	rc.outoff = rc.outlen = 0;
	event_del(&rc.wev);
}

/* Send what the socket takes; the rest waits for writability. */
static void
rig_client_flush(void)
{
	ssize_t n;

	if (rc.ssl != NULL) {
		rig_client_tls_flush();
		return;
	}
	while (rc.outoff < rc.outlen) {
		n = write(rc.fd, rc.out + rc.outoff, rc.outlen - rc.outoff);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			event_add(&rc.wev, NULL);
			return;
		}
		if (n <= 0) {
			rc.outoff = rc.outlen;	/* the proxy is gone */
			break;
		}
		rig_client_sent_add(rc.out + rc.outoff, (size_t)n);
		rc.outoff += (size_t)n;
	}
	rc.outoff = rc.outlen = 0;
	event_del(&rc.wev);
}

static void
rig_client_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (rc.ssl != NULL && rc.outoff == rc.outlen) {
		/* A read that wanted to write. */
		event_del(&rc.wev);
		rig_client_tls_read();
		return;
	}
	rig_client_flush();
}

static struct proxy_counts
rig_counts(enum rig_which w)
{
	struct proxy_counts c;

	proxy_counts(rig_px[w], &c);
	return c;
}

void
rig_client_open(enum rig_which which, unsigned flags)
{
	rig_client_open_tls(which, flags, NULL, NULL);
}

void
rig_client_open_tls(enum rig_which which, unsigned flags,
    struct tls_server *tls, SSL *client)
{
	bool v6 = (flags & RIG_V6) != 0;
	int small = 1;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int sv[2];

	if (rc.open)
		rig_fail("client already open");
	memset(&ss, 0, sizeof ss);
	if (flags & RIG_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)&ss;

		un->sun_family = AF_UNIX;
		snprintf(un->sun_path, sizeof un->sun_path, "/run/hg.sock");
		sslen = sizeof *un;
	} else if (v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::7", &in6->sin6_addr);
		in6->sin6_port = htons(40007);
		sslen = sizeof *in6;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.7", &in->sin_addr);
		in->sin_port = htons(40007);
		sslen = sizeof *in;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) != 0)
		rig_fail("socketpair: %s", strerror(errno));
	rig_tight = (flags & RIG_TIGHT_UP) != 0;
	if (flags & RIG_TIGHT) {
		/* The kernel's smallest buffers: every write is partial. */
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
	}
	rc.open = true;
	rc.which = which;
	rc.fd = sv[1];
	rc.eof = rc.shut = false;
	rc.inlen = rc.sentlen = rc.outoff = rc.outlen = 0;
	while (rig_nups > 0)
		free(rig_ups[--rig_nups].bytes);
	event_assign(&rc.rev, rig_base, rc.fd, EV_READ | EV_PERSIST,
	    rig_client_read_cb, NULL);
	event_assign(&rc.wev, rig_base, rc.fd, EV_WRITE | EV_PERSIST,
	    rig_client_write_cb, NULL);
	event_add(&rc.rev, NULL);
	rc.ssl = client;
	rig_want_proto = client != NULL ? "https" : "http";
	if (client != NULL) {
		/* The hello goes now; the reads drive the rest. */
		if (SSL_set_fd(client, rc.fd) != 1)
			rig_fail("SSL_set_fd");
		SSL_set_connect_state(client);
		if (SSL_do_handshake(client) == 1)
			rig_fail("a TLS handshake done before the proxy ran");
		ERR_clear_error();
	}
	deadline_now_refresh();
	client_accept(proxy_ctx(rig_px[which]), sv[0], (struct sockaddr *)&ss,
	    sslen, tls);
	if (rig_counts(which).clients != 1)
		rig_fail("client_accept did not take the connection");
}

void
rig_client_send(const uint8_t *data, size_t len)
{
	if (rc.shut)
		return;
	rig_append(&rc.out, &rc.outlen, &rc.outcap, data, len);
	rig_client_flush();
	rig_settle();
}

void
rig_client_shutdown(void)
{
	rc.outoff = rc.outlen = 0;
	event_del(&rc.wev);
	if (rc.ssl != NULL && SSL_is_init_finished(rc.ssl))
		SSL_shutdown(rc.ssl);		/* a close_notify */
	ERR_clear_error();
	shutdown(rc.fd, SHUT_WR);
	rc.shut = true;
	rig_settle();
}

static bool
rig_client_done(void)
{
	return rc.eof || rig_counts(rc.which).clients == 0;
}

void
rig_wait_timers(void)
{
	if (rc.which == RIG_FAST)
		rig_run_until(rig_client_done, FAST_WAIT_US);
}

static bool
rig_origin_idle(void)
{
	return origin_nconns == 0;
}

static bool
rig_fast_gone(void)
{
	return rig_counts(RIG_FAST).clients == 0;
}

/* A server must have no connection left in use or pooled. */
static void
rig_check_server(void *arg, const struct upstream_server_info *i)
{
	(void)arg;
	if (i->usi_active != 0 || i->usi_idle != 0)
		rig_fail("server %s: %u active, %u idle connections left",
		    i->usi_name, i->usi_active, i->usi_idle);
}

/* Check the servers of a proxy: no connection may be left in use. */
static void
rig_check_servers(struct proxy *px)
{
	upstream_set_walk(proxy_ctx(px)->pc_ups, rig_check_server, NULL);
}

/*
 * Count the open sockets and /dev/null descriptors (the proxy's spare
 * ones).  Only those: libFuzzer and the sanitizers open pipes of their own
 * (the symbolizer) at any time.
 */
static void
rig_count_fds(unsigned *nsock, unsigned *nnull)
{
	char path[64], link[64];
	struct dirent *de;
	ssize_t n;
	DIR *d;

	*nsock = *nnull = 0;
	if ((d = opendir("/proc/self/fd")) == NULL)
		rig_fail("/proc/self/fd: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
		if ((n = readlink(path, link, sizeof link - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, "socket:", 7) == 0)
			(*nsock)++;
		else if (strcmp(link, "/dev/null") == 0)
			(*nnull)++;
	}
	closedir(d);
}

/* HG_FUZZ_DEBUG: show what the client received, escaped. */
static void
rig_dump_received(void)
{
	fprintf(stderr, "fuzz rig: the client received %zu bytes%s:\n",
	    rc.inlen, rc.eof ? ", then EOF" : "");
	for (size_t i = 0; i < rc.inlen && i < 4096; i++) {
		uint8_t ch = rc.in[i];

		if (ch == '\n')
			fputs("\\n\n", stderr);
		else if (ch == '\r')
			fputs("\\r", stderr);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(stderr, "\\x%02x", ch);
		else
			fputc(ch, stderr);
	}
	fputc('\n', stderr);
}

void
rig_client_close(void)
{
	struct proxy *px = rig_px[rc.which];
	struct client *cl;
	struct proxy_counts c;
	unsigned nsock, nnull;
	char what[128];

	if (rig_debug)
		rig_dump_received();
	event_del(&rc.rev);
	event_del(&rc.wev);
	SSL_free(rc.ssl);
	rc.ssl = NULL;
	close(rc.fd);
	rc.fd = -1;
	rc.open = false;
	rig_settle();

	/*
	 * The proxy has read the client's close unless it stopped reading
	 * (a full buffer); such a client must still have a deadline armed,
	 * or it would stay forever: a zombie.
	 */
	if (rc.which == RIG_FAST &&
	    !rig_run_until(rig_fast_gone, FAST_CLOSE_US))
		rig_fail("a client of the fast proxy outlived its deadlines");
	while ((cl = client_first(proxy_ctx(px))) != NULL) {
		uint64_t before = rig_counts(rc.which).clients;

		if (client_deadline(cl) == DEADLINE_NEVER) {
			client_describe(cl, what, sizeof what);
			rig_fail("zombie client %s: no deadline armed", what);
		}
		client_close(cl, CLIENT_WHY_SHUTDOWN);
		if (rig_counts(rc.which).clients != before - 1)
			rig_fail("client_close did not close the client");
	}
	rig_settle();
	for (int w = RIG_SLOW; w <= RIG_FAST; w++)
		upstream_set_close_idle(proxy_ctx(rig_px[w])->pc_ups);
	rig_settle();

	for (int w = RIG_SLOW; w <= RIG_FAST; w++) {
		c = rig_counts(w);
		if (c.clients != 0 || c.in_flight != 0)
			rig_fail("proxy %d: %llu clients, %llu requests left", w,
			    (unsigned long long)c.clients,
			    (unsigned long long)c.in_flight);
		rig_check_servers(rig_px[w]);
	}
	if (proxy_clients_all != 0)
		rig_fail("proxy_clients_all is %u", proxy_clients_all);
	/*
	 * Bytes the origin has not taken yet (a full window) sit in the
	 * kernel with the proxy's FIN behind them, and move on a TCP timer,
	 * not at once: give the origin time to read them and see the close.
	 */
	if (origin_nconns != 0)
		rig_run_until(rig_origin_idle, ORIGIN_CLOSE_US);
	if (origin_nconns != 0) {
		struct origin_conn *oc = LIST_FIRST(&origin_conns);

		rig_fail("%u upstream connections still open at the origin; "
		    "one answers with action %d, %zu bytes unparsed, stall %d, "
		    "paused %d, %zu bytes unsent", origin_nconns, oc->oc_act,
		    oc->oc_inlen - oc->oc_pos, oc->oc_stall, oc->oc_paused,
		    oc->oc_outlen - oc->oc_outoff);
	}
	for (int i = 0; i < 3; i++) {
		struct stat st;

		if (fstat(i, &st) != 0 || st.st_dev != rig_std[i].st_dev ||
		    st.st_ino != rig_std[i].st_ino)
			rig_fail("descriptor %d was closed or replaced", i);
	}
	rig_count_fds(&nsock, &nnull);
	if (nsock != rig_nsock || nnull != rig_nnull)
		rig_fail("descriptor leak: %u sockets and %u /dev/null open, "
		    "expected %u and %u", nsock, nnull, rig_nsock, rig_nnull);
	script.armed = false;
	script.conn = NULL;
}

SSL *
rig_client_tls(void)
{
	return rc.ssl;
}

const uint8_t *
rig_client_received(size_t *len)
{
	*len = rc.inlen;
	return rc.in;
}

bool
rig_client_eof(void)
{
	return rc.eof;
}

const uint8_t *
rig_client_sent(size_t *len)
{
	*len = rc.sentlen;
	return rc.sent;
}

size_t
rig_upstream_count(void)
{
	return rig_nups;
}

const uint8_t *
rig_upstream_bytes(size_t i, size_t *len)
{
	*len = rig_ups[i].len;
	return rig_ups[i].bytes;
}

/*
 * The proxy's connect(2), wrapped at link time (-Wl,--wrap=connect).  With
 * RIG_TIGHT_UP the socket gets the smallest buffers first, which also stops
 * the kernel growing them, and a connect to the origin goes to its second
 * listener, whose sockets have the smallest receive buffer: the proxy's
 * sends to the origin are then partial and its reads of a response come
 * in small pieces.  Loopback buffers are otherwise far larger than any
 * input.
 */
int	__real_connect(int, const struct sockaddr *, socklen_t);
int	__wrap_connect(int, const struct sockaddr *, socklen_t);

int
__wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_in sin;
	int small = 1;

	if (rig_tight) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
		if (sa->sa_family == AF_INET && len == sizeof sin) {
			memcpy(&sin, sa, sizeof sin);
			if (ntohs(sin.sin_port) == origin_port) {
				sin.sin_port = htons((uint16_t)tight_port);
				return __real_connect(fd,
				    (struct sockaddr *)&sin, sizeof sin);
			}
		}
	}
	return __real_connect(fd, sa, len);
}

/* --- setup --- */

/* Copy a configuration template, with the ports in place of their marks. */
static void
rig_conf_text(char *out, size_t cap, const char *tmpl)
{
	static const char *const marks[] = {
		"@ORIGIN@", "@REFUSED@", "@BLACKHOLE@",
	};
	const unsigned ports[] = { origin_port, refused_port, blackhole_port };
	size_t n = 0, i;

	while (*tmpl != '\0' && n + 8 < cap) {
		for (i = 0; i < 3; i++)
			if (strncmp(tmpl, marks[i], strlen(marks[i])) == 0)
				break;
		if (i < 3) {
			n += (size_t)snprintf(out + n, cap - n, "%u", ports[i]);
			tmpl += strlen(marks[i]);
		} else
			out[n++] = *tmpl++;
	}
	if (*tmpl != '\0')
		rig_fail("rig configuration too long");
	out[n] = '\0';
}

/* Load one proxy's configuration and make the proxy. */
static void
rig_proxy_new(enum rig_which w, const char *tmpl)
{
	char text[4096], err[256], *errors = NULL;
	struct config *cfg;

	rig_conf_text(text, sizeof text, tmpl);
	if ((cfg = config_load_string(text, "fuzz-rig.ini", &errors)) == NULL)
		rig_fail("rig configuration: %s", errors ? errors : "?");
	rig_alog[w] = accesslog_open(rig_base, "/dev/null", cfg->log_format,
	    err, sizeof err);
	if (rig_alog[w] == NULL)
		rig_fail("access log: %s", err);
	if ((rig_px[w] = proxy_new(rig_base, cfg, rig_alog[w], err,
	    sizeof err)) == NULL)
		rig_fail("proxy_new: %s", err);
	config_unref(cfg);
}

void
rig_init(void)
{
	struct event_config *ec;
	const char *dbg = getenv("HG_FUZZ_DEBUG");

	if (rig_base != NULL)
		return;
	signal(SIGPIPE, SIG_IGN);
	rig_debug = dbg != NULL && *dbg != '\0';
	log_init(rig_debug ? CONFIG_LOG_DEBUG : CONFIG_LOG_CRIT);
	if ((ec = event_config_new()) == NULL ||
	    event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER) != 0 ||
	    (rig_base = event_base_new_with_config(ec)) == NULL)
		rig_fail("event base");
	event_config_free(ec);
	if (event_base_priority_init(rig_base, 3) != 0)
		rig_fail("event priorities");
	event_assign(&rig_quiet_ev, rig_base, -1, 0, rig_quiet_cb, NULL);
	event_priority_set(&rig_quiet_ev, PRIO_QUIET);

	origin_port = rig_bind(&origin_lfd, 128, 0);
	tight_port = rig_bind(&origin_tight_fd, 128, 1);
	refused_port = rig_bind(&origin_refused_fd, -1, 0); /* no listen */
	blackhole_port = rig_bind(&origin_blackhole_fd, 0, 0);
	rig_fill_blackhole();
	event_assign(&origin_lev, rig_base, origin_lfd, EV_READ | EV_PERSIST,
	    origin_accept_cb, NULL);
	event_add(&origin_lev, NULL);
	event_assign(&origin_tight_lev, rig_base, origin_tight_fd,
	    EV_READ | EV_PERSIST, origin_accept_cb, NULL);
	event_add(&origin_tight_lev, NULL);

	rig_proxy_new(RIG_SLOW, rig_conf_slow);
	rig_proxy_new(RIG_FAST, rig_conf_fast);

	rig_count_fds(&rig_nsock, &rig_nnull);
	for (int i = 0; i < 3; i++)
		if (fstat(i, &rig_std[i]) != 0)
			rig_fail("descriptor %d is not open", i);
}
