/*
 * origin_routes.c: the endpoints of the test origin.
 *
 *   /                  200, a 100-byte text body
 *   /bytes/N           200, N bytes of the pattern, with Content-Length
 *   /chunked/N         200, N bytes of the pattern, chunked
 *   /delay/MS          a small 200 whose head leaves after MS ms
 *   /tail/P/MS         a small 200 with Content-Length: with probability P
 *                      percent (0 to 100, up to 4 decimals: 5, 2.5) it
 *                      leaves after MS ms ("tail: waited MS ms"), else at
 *                      once ("tail: at once").  One draw per request from
 *                      the process's generator (see --seed)
 *   /drip/N/MS         the head at once (Content-Length: N), then one body
 *                      byte every MS ms
 *   /dripc/N/MS        the same, chunked: a chunk of one byte every MS ms,
 *                      then the last chunk
 *   /interim           100 Continue and 103 Early Hints, then as "/"
 *   /drop-next         as "/", and the next request on the connection is
 *                      closed without an answer (an upstream that drops a
 *                      keep-alive connection as the proxy reuses it)
 *   /trickle-head/MS   the head one byte every MS ms (the first at once),
 *                      then a small body
 *   /hang              never answered; freed when the peer closes
 *   /close             closed without an answer
 *   /reset             reset (RST) without an answer
 *   /status/N          status N, 200..599, with a short body (none for
 *                      204 and 304); 1xx is refused with 400
 *   /echo, /echo/...   200, the request head exactly as received followed
 *                      by the decoded request body
 *   /ws                a WebSocket echo (RFC 6455): 101 with the
 *                      Sec-WebSocket-Accept of the key, then each text,
 *                      binary or continuation frame comes back unmasked with
 *                      its opcode and FIN bit (a fragmented message frame
 *                      by frame), a ping gets a pong with its payload, and a
 *                      close gets a close with its code, then our FIN.  A
 *                      frame that breaks the protocol (unmasked, RSV bits,
 *                      unknown opcode, long or fragmented control frame)
 *                      gets a close with 1002.
 *   /upgrade           a raw tunnel: 101 with the request's Upgrade value,
 *                      then every byte comes back.  A read that begins with
 *                      one of these lines is a command, not echoed:
 *                        !silent  echo no more (read and drop)
 *                        !close   our FIN once what is owed is out
 *                        !reset   reset (RST) at once
 *                        !shut    our FIN once what is owed is out; read
 *                                 and drop until the peer's FIN, then close
 *                      (a client sends a command only once the echo of what
 *                      it sent before has come back, so that the command
 *                      starts a read).  The peer's FIN: what is owed goes
 *                      out, then our FIN, and the connection is closed.
 *   /upgrade/close     101, then our FIN at once
 *   /upgrade/reset     101, then reset (RST)
 *   /upgrade/silent    101, then nothing: input is read and dropped
 *                      (commands still work)
 *   /upgrade/200       200 "not upgraded", Content-Length, keep-alive: an
 *                      upstream that declines the upgrade
 *   /stats             200, one line of counters since start:
 *                      "requests=R waited=W cancelled=C accepted=A":
 *                      R requests read (bad ones too; /stats itself is not
 *                      counted), W of them held by a /tail, --tail or
 *                      --delay wait, C whose peer closed while their
 *                      response was held back (a wait, a drip, a trickle,
 *                      /hang: a proxy that gave up on that try), A
 *                      connections accepted (this one included).  Never
 *                      delayed, and answered under --fail too
 *   anything else      404; a bad number in a known path is 400
 *
 * The 101 of /ws and /upgrade* needs a GET in HTTP/1.1 with an Upgrade
 * header and "upgrade" among Connection's tokens, and for /ws "websocket"
 * among Upgrade's tokens and Sec-WebSocket-Version: 13; a request without
 * them gets 426 Upgrade Required (with "Upgrade: websocket" and
 * "Sec-WebSocket-Version: 13"), as when a proxy strips the upgrade.  Any
 * other method, or a missing or malformed Sec-WebSocket-Key on /ws, gets
 * 400.  The echo stops reading while ORIGIN_OUT_HIGH bytes wait for the
 * peer: a peer that does not read holds the sender back.
 *
 * With --fail MODE every request, whatever its path, gets MODE instead:
 * reset, close or hang as /reset, /close or /hang, or 503 as /status/503.
 *
 * With --tail P/MS every request but /stats first waits MS ms with
 * probability P percent (one draw per request), then is answered as its
 * path says; --delay MS is --tail 100/MS.  So two instances, one started
 * with --tail 5/200 and one with --delay 50, are a fast and a slow server
 * of one group whatever the client asks.  The generator of /tail and
 * --tail is xorshift64*, seeded from the clock and the pid, or from
 * --seed N: the same seed gives the same sequence of draws.
 *
 * Any method is answered; HEAD gets the head only.  A query string is
 * ignored, and an absolute-form target is routed on its path.
 *
 * The pattern: body byte i is (ROUTES_LINE "\n")[i % 64], so that
 * `yes ROUTES_LINE | head -c N` recreates any body.  Long bodies are not
 * copied: they are queued as references to one static pattern buffer, and
 * only while less than ORIGIN_OUT_HIGH is queued.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "origin.h"

#define ROUTES_LINE \
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"
#define ROUTES_PATTERN	65536			/* a multiple of 64 */
#define ROUTES_INLINE	65536			/* /bytes up to this: one buffer */
#define ROUTES_CHUNK	16384			/* largest /chunked chunk */
#define ROUTES_COPY	4096			/* smaller pieces are copied */
#define ROUTES_BODY_MAX	(1ULL << 40)		/* largest N of /bytes, /chunked, /drip */
#define ROUTES_MS_MAX	86400000ULL		/* one day */
#define ROUTES_ROOT_LEN	100
#define ROUTES_PROB_MAX	(100 * ROUTES_PROB_UNIT)	/* P = 100% */

#define RS_CHUNKED	(-1)	/* Transfer-Encoding: chunked */
#define RS_NOBODY	(-2)	/* no body and no framing: 204, 304 */

static char	routes_pattern[ROUTES_PATTERN + 64];
static char	routes_root[3][2][256];	/* [enum conn_ka][HEAD] */
static size_t	routes_root_len[3][2];

/* The reason phrase of a status code. */
static const char *
routes_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

/*
 * Format a response head into buf: the status line, the body framing (a
 * Content-Length, chunked, or none), the extra header lines (each ending in
 * CRLF) and the Connection header the request calls for.  Returns its
 * length, 0 if it does not fit.
 */
static size_t
routes_head_x(char *buf, size_t size, int status, long long clen,
    const char *extra, enum conn_ka ka)
{
	static const char *conn[] = {
		[KA_HTTP11] = "",
		[KA_HTTP10] = "Connection: keep-alive\r\n",
		[KA_CLOSE] = "Connection: close\r\n",
	};
	int	 n;

	if (clen >= 0)
		n = snprintf(buf, size, "HTTP/1.1 %d %s\r\n"
		    "Content-Type: text/plain\r\nContent-Length: %lld\r\n%s%s\r\n",
		    status, routes_reason(status), clen, extra, conn[ka]);
	else if (clen == RS_CHUNKED)
		n = snprintf(buf, size, "HTTP/1.1 %d %s\r\n"
		    "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
		    "%s%s\r\n", status, routes_reason(status), extra, conn[ka]);
	else
		n = snprintf(buf, size, "HTTP/1.1 %d %s\r\n%s%s\r\n", status,
		    routes_reason(status), extra, conn[ka]);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

/* Format a response head with no extra header lines. */
static size_t
routes_head(char *buf, size_t size, int status, long long clen,
    enum conn_ka ka)
{
	return routes_head_x(buf, size, status, clen, "", ka);
}

/* Build the pattern and the six prebuilt answers to "/". */
void
routes_init(void)
{
	char	 body[ROUTES_ROOT_LEN];
	size_t	 i, hl;
	int	 ka, head;

	for (i = 0; i < sizeof routes_pattern; i++)
		routes_pattern[i] = (ROUTES_LINE "\n")[i % 64];
	memset(body, '.', sizeof body);
	memcpy(body, "hourglass origin ", 17);
	body[sizeof body - 1] = '\n';
	for (ka = KA_HTTP11; ka <= KA_CLOSE; ka++) {
		for (head = 0; head < 2; head++) {
			hl = routes_head(routes_root[ka][head],
			    sizeof routes_root[ka][head], 200, sizeof body, ka);
			if (!head) {
				memcpy(routes_root[ka][head] + hl, body,
				    sizeof body);
				hl += sizeof body;
			}
			routes_root_len[ka][head] = hl;
		}
	}
}

/* Seed the generator of /tail and --tail (splitmix64 of the seed). */
void
routes_seed(uint64_t seed)
{
	uint64_t	 z = seed + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	origin.rng = z != 0 ? z : 0x9e3779b97f4a7c15ULL;
}

/* One draw: 1 with probability prob / ROUTES_PROB_MAX (xorshift64*). */
static int
routes_draw(uint64_t prob)
{
	uint64_t	 x = origin.rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	origin.rng = x;
	/* The high 32 bits of the product against a threshold: 100% is
	 * 2^32, above every draw; 0% is below every draw. */
	return ((x * 0x2545f4914f6cdd1dULL) >> 32) <
	    (prob << 32) / ROUTES_PROB_MAX;
}

/* Skip a literal prefix of the path; 1 if it was there. */
static int
routes_prefix(const char **pp, const char *end, const char *prefix)
{
	size_t	 n = strlen(prefix);

	if ((size_t)(end - *pp) < n || memcmp(*pp, prefix, n) != 0)
		return 0;
	*pp += n;
	return 1;
}

/* Read a decimal number no larger than max; -1 if none or too large. */
static int
routes_num(const char **pp, const char *end, uint64_t max, uint64_t *out)
{
	const char	*p = *pp;
	uint64_t	 v = 0;

	if (p == end || *p < '0' || *p > '9')
		return -1;
	while (p < end && *p >= '0' && *p <= '9') {
		v = v * 10 + (uint64_t)(*p++ - '0');
		if (v > max)
			return -1;
	}
	*pp = p;
	*out = v;
	return 0;
}

/*
 * Read a percentage, 0 to 100 with up to 4 decimals ("5", "2.5", "0.01"),
 * in ROUTES_PROB_UNIT units; -1 if malformed or above 100.
 */
static int
routes_prob(const char **pp, const char *end, uint64_t *out)
{
	const char	*p = *pp;
	uint64_t	 whole, frac = 0, scale = ROUTES_PROB_UNIT;

	if (routes_num(&p, end, 100, &whole) == -1)
		return -1;
	if (p < end && *p == '.') {
		p++;
		if (p == end || *p < '0' || *p > '9')
			return -1;
		while (p < end && *p >= '0' && *p <= '9') {
			if (scale == 1)
				return -1;	/* more than 4 decimals */
			scale /= 10;
			frac += (uint64_t)(*p++ - '0') * scale;
		}
	}
	if (whole * ROUTES_PROB_UNIT + frac > ROUTES_PROB_MAX)
		return -1;
	*pp = p;
	*out = whole * ROUTES_PROB_UNIT + frac;
	return 0;
}

/*
 * Parse "P/MS" (the arguments of /tail and --tail): P a percentage as
 * routes_prob() reads it, MS milliseconds; 0, or -1 if malformed.
 */
int
routes_parse_tail(const char *s, size_t len, uint64_t *prob, uint64_t *ms)
{
	const char	*p = s, *end = s + len;

	if (routes_prob(&p, end, prob) == -1 || !routes_prefix(&p, end, "/") ||
	    routes_num(&p, end, ROUTES_MS_MAX, ms) == -1 || p != end)
		return -1;
	return 0;
}

/* A route whose arguments are "N" (or "N/M" if a2 is set) and nothing after. */
static enum route
routes_args(enum route r, const char *p, const char *end, uint64_t max1,
    uint64_t *a1, uint64_t max2, uint64_t *a2)
{
	if (routes_num(&p, end, max1, a1) == -1)
		return ROUTE_BAD;
	if (a2 != NULL && (!routes_prefix(&p, end, "/") ||
	    routes_num(&p, end, max2, a2) == -1))
		return ROUTE_BAD;
	return p == end ? r : ROUTE_BAD;
}

/* Map a request target to an endpoint and its numeric arguments. */
enum route
routes_match(const char *url, size_t len, uint64_t *a1, uint64_t *a2)
{
	const char	*p = url, *end = url + len, *q;
	size_t		 n;
	enum route	 r;

	*a1 = *a2 = 0;
	if (len > 7 && strncasecmp(url, "http://", 7) == 0) {
		if ((p = memchr(url + 7, '/', len - 7)) == NULL)
			p = end;
	}
	if ((q = memchr(p, '?', (size_t)(end - p))) != NULL)
		end = q;
	n = (size_t)(end - p);

	if (n == 6 && memcmp(p, "/stats", 6) == 0)
		return ROUTE_STATS;
	if (origin.fail_route != ROUTE_NONE) {
		*a1 = origin.fail_arg;
		return origin.fail_route;
	}
	if (n == 0 || (n == 1 && *p == '/'))
		return ROUTE_ROOT;
	if (routes_prefix(&p, end, "/bytes/"))
		return routes_args(ROUTE_BYTES, p, end, ROUTES_BODY_MAX, a1, 0,
		    NULL);
	if (routes_prefix(&p, end, "/chunked/"))
		return routes_args(ROUTE_CHUNKED, p, end, ROUTES_BODY_MAX, a1, 0,
		    NULL);
	if (routes_prefix(&p, end, "/delay/"))
		return routes_args(ROUTE_DELAY, p, end, ROUTES_MS_MAX, a1, 0,
		    NULL);
	if (routes_prefix(&p, end, "/tail/"))
		return routes_parse_tail(p, (size_t)(end - p), a1, a2) == -1 ?
		    ROUTE_BAD : ROUTE_TAIL;
	if (routes_prefix(&p, end, "/drip/"))
		return routes_args(ROUTE_DRIP, p, end, ROUTES_BODY_MAX, a1,
		    ROUTES_MS_MAX, a2);
	if (routes_prefix(&p, end, "/dripc/"))
		return routes_args(ROUTE_DRIPC, p, end, ROUTES_BODY_MAX, a1,
		    ROUTES_MS_MAX, a2);
	if (routes_prefix(&p, end, "/trickle-head/"))
		return routes_args(ROUTE_TRICKLE, p, end, ROUTES_MS_MAX, a1, 0,
		    NULL);
	if (routes_prefix(&p, end, "/status/")) {
		r = routes_args(ROUTE_STATUS, p, end, 999, a1, 0, NULL);
		return r == ROUTE_STATUS && *a1 >= 200 && *a1 <= 599 ?
		    r : ROUTE_BAD;
	}
	if (n == 5 && memcmp(p, "/hang", 5) == 0)
		return ROUTE_HANG;
	if (n == 6 && memcmp(p, "/close", 6) == 0)
		return ROUTE_CLOSE;
	if (n == 6 && memcmp(p, "/reset", 6) == 0)
		return ROUTE_RESET;
	if (n == 8 && memcmp(p, "/interim", 8) == 0)
		return ROUTE_INTERIM;
	if (n == 10 && memcmp(p, "/drop-next", 10) == 0)
		return ROUTE_DROP_NEXT;
	if ((n == 5 && memcmp(p, "/echo", 5) == 0) ||
	    (n > 5 && memcmp(p, "/echo/", 6) == 0))
		return ROUTE_ECHO;
	if (n == 3 && memcmp(p, "/ws", 3) == 0)
		return ROUTE_WS;
	if (n == 8 && memcmp(p, "/upgrade", 8) == 0)
		return ROUTE_UPGRADE;
	if (routes_prefix(&p, end, "/upgrade/")) {
		n = (size_t)(end - p);
		if (n == 5 && memcmp(p, "close", 5) == 0)
			return ROUTE_UPGRADE_CLOSE;
		if (n == 5 && memcmp(p, "reset", 5) == 0)
			return ROUTE_UPGRADE_RESET;
		if (n == 6 && memcmp(p, "silent", 6) == 0)
			return ROUTE_UPGRADE_SILENT;
		if (n == 3 && memcmp(p, "200", 3) == 0)
			return ROUTE_UPGRADE_200;
	}
	return ROUTE_NONE;
}

/*
 * Queue a whole response, head (with the extra header lines, each ending in
 * CRLF) and body, as one contiguous piece of cn_out, and finish it.
 */
void
routes_answer(struct conn *c, int status, const char *extra, const char *body,
    size_t len)
{
	struct evbuffer_iovec	 v;
	char			 head[512];
	size_t			 hl;
	int			 bodyless = status == 204 || status == 304;

	hl = routes_head_x(head, sizeof head, status,
	    bodyless ? RS_NOBODY : (long long)len, extra, c->rq_ka);
	if (bodyless || c->rq_head)
		len = 0;
	if (evbuffer_reserve_space(c->cn_out, hl + len, &v, 1) != 1) {
		conn_close(c, 0);
		return;
	}
	memcpy(v.iov_base, head, hl);
	if (len > 0)
		memcpy((char *)v.iov_base + hl, body, len);
	v.iov_len = hl + len;
	evbuffer_commit_space(c->cn_out, &v, 1);
	conn_response_done(c);
}

/* Queue a whole response with no extra header lines, and finish it. */
static void
routes_simple(struct conn *c, int status, const char *body, size_t len)
{
	routes_answer(c, status, "", body, len);
}

/* Answer with an error status and a one-line body. */
void
routes_error(struct conn *c, int status)
{
	char	 body[64];
	int	 n;

	n = snprintf(body, sizeof body, "%d %s\n", status, routes_reason(status));
	routes_simple(c, status, body, (size_t)n);
}

/* Queue a response head alone. */
static void
routes_head_only(struct conn *c, int status, long long clen)
{
	char	 head[256];
	size_t	 hl;

	hl = routes_head(head, sizeof head, status, clen, c->rq_ka);
	evbuffer_add(c->cn_out, head, hl);
}

/* /bytes/N: one piece if short, else a stream. */
static void
routes_bytes(struct conn *c)
{
	struct evbuffer_iovec	 v;
	char			 head[256];
	size_t			 hl, n = c->rs_arg1;

	if (c->rq_head || n > ROUTES_INLINE) {
		routes_head_only(c, 200, (long long)n);
		if (c->rq_head || n == 0) {
			conn_response_done(c);
			return;
		}
		c->rs_left = n;
		c->rs_off = 0;
		c->rs_chunk = 0;
		conn_set_state(c, CONN_STREAMING);
		return;
	}
	hl = routes_head(head, sizeof head, 200, (long long)n, c->rq_ka);
	if (evbuffer_reserve_space(c->cn_out, hl + n, &v, 1) != 1) {
		conn_close(c, 0);
		return;
	}
	memcpy(v.iov_base, head, hl);
	memcpy((char *)v.iov_base + hl, routes_pattern, n);
	v.iov_len = hl + n;
	evbuffer_commit_space(c->cn_out, &v, 1);
	conn_response_done(c);
}

/* /chunked/N: a stream of chunks of ceil(N/4) bytes, at most ROUTES_CHUNK. */
static void
routes_chunked(struct conn *c)
{
	uint64_t	 n = c->rs_arg1;

	routes_head_only(c, 200, RS_CHUNKED);
	if (c->rq_head) {
		conn_response_done(c);
		return;
	}
	c->rs_left = n;
	c->rs_off = 0;
	c->rs_chunk = (n + 3) / 4;
	if (c->rs_chunk == 0)
		c->rs_chunk = 1;
	if (c->rs_chunk > ROUTES_CHUNK)
		c->rs_chunk = ROUTES_CHUNK;
	c->rs_ended = 0;
	conn_set_state(c, CONN_STREAMING);
}

/* Queue n bytes of the pattern from the current body offset. */
static void
routes_pattern_add(struct conn *c, size_t n)
{
	const char	*p = routes_pattern + c->rs_off % 64;

	if (n < ROUTES_COPY)
		evbuffer_add(c->cn_out, p, n);
	else
		evbuffer_add_reference(c->cn_out, p, n, NULL, NULL);
	c->rs_off += n;
	c->rs_left -= n;
}

/* Top up a streamed body to ORIGIN_OUT_HIGH queued bytes; finish at its end. */
void
routes_refill(struct conn *c)
{
	char	 line[32];
	size_t	 n;
	int	 len;

	while (evbuffer_get_length(c->cn_out) < ORIGIN_OUT_HIGH) {
		if (c->rs_chunk == 0) {
			if (c->rs_left == 0)
				break;
			n = c->rs_left < ROUTES_PATTERN ? c->rs_left :
			    ROUTES_PATTERN;
			routes_pattern_add(c, n);
			continue;
		}
		if (c->rs_left == 0) {
			evbuffer_add(c->cn_out, "0\r\n\r\n", 5);
			c->rs_ended = 1;
			break;
		}
		n = c->rs_left < c->rs_chunk ? c->rs_left : c->rs_chunk;
		len = snprintf(line, sizeof line, "%zx\r\n", n);
		evbuffer_add(c->cn_out, line, (size_t)len);
		routes_pattern_add(c, n);
		evbuffer_add(c->cn_out, "\r\n", 2);
	}
	if (c->rs_left == 0 && (c->rs_chunk == 0 || c->rs_ended))
		conn_response_done(c);
}

/* /trickle-head/MS: the response waits in cn_hold; its head leaves bytewise. */
static void
routes_trickle(struct conn *c)
{
	static const char	 body[] = "trickled\n";
	char			 head[256];
	size_t			 hl;

	if (c->cn_hold == NULL && (c->cn_hold = evbuffer_new()) == NULL) {
		conn_close(c, 0);
		return;
	}
	hl = routes_head(head, sizeof head, 200, sizeof body - 1, c->rq_ka);
	evbuffer_add(c->cn_hold, head, hl);
	if (!c->rq_head)
		evbuffer_add(c->cn_hold, body, sizeof body - 1);
	c->rs_head_left = hl;
	c->rs_ms = (unsigned)c->rs_arg1;
	conn_set_state(c, CONN_TRICKLING);
	routes_tick(c);
	if (c->cn_state == CONN_TRICKLING)
		conn_timer(c, c->rs_ms, 1);
}

/* /stats: the counters, at once. */
static void
routes_stats(struct conn *c)
{
	char	 body[160];
	int	 n;

	n = snprintf(body, sizeof body,
	    "requests=%llu waited=%llu cancelled=%llu accepted=%llu\n",
	    (unsigned long long)origin.st_requests,
	    (unsigned long long)origin.st_waited,
	    (unsigned long long)origin.st_cancelled,
	    (unsigned long long)origin.st_accepted);
	routes_simple(c, 200, body, (size_t)n);
}

/* /tail/P/MS: draw; wait MS ms if the draw says so, else answer at once. */
static void
routes_tail(struct conn *c)
{
	if (routes_draw(c->rs_arg1)) {
		origin.st_waited++;
		conn_set_state(c, CONN_WAITING);
		conn_timer(c, (unsigned)c->rs_arg2, 0);
		return;
	}
	routes_simple(c, 200, "tail: at once\n", 14);
}

static void	routes_run(struct conn *);

/*
 * A complete request: hold it for the --tail or --delay wait if the draw
 * says so (routes_tick() runs it then), else run its route now.
 */
void
routes_start(struct conn *c)
{
	if (c->cn_drop_next) {
		origin_event(c, "done");
		conn_close(c, 0);
		return;
	}
	if (c->rs_route != ROUTE_STATS && origin.tail_ms > 0 &&
	    routes_draw(origin.tail_prob)) {
		origin.st_waited++;
		conn_set_state(c, CONN_PREWAIT);
		conn_timer(c, (unsigned)origin.tail_ms, 0);
		return;
	}
	routes_run(c);
}

/* Answer a request at once, or move to a timed or streaming state. */
static void
routes_run(struct conn *c)
{
	static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
	    "\r\n";
	char	 body[64];
	int	 n, status;

	switch (c->rs_route) {
	case ROUTE_NONE:
		routes_error(c, 404);
		break;
	case ROUTE_BAD:
		routes_error(c, 400);
		break;
	case ROUTE_INTERIM:
		evbuffer_add(c->cn_out, interim, sizeof interim - 1);
		/* FALLTHROUGH */
	case ROUTE_DROP_NEXT:
		c->cn_drop_next = c->rs_route == ROUTE_DROP_NEXT;
		/* FALLTHROUGH */
	case ROUTE_ROOT:
		evbuffer_add(c->cn_out, routes_root[c->rq_ka][c->rq_head],
		    routes_root_len[c->rq_ka][c->rq_head]);
		conn_response_done(c);
		break;
	case ROUTE_BYTES:
		routes_bytes(c);
		break;
	case ROUTE_CHUNKED:
		routes_chunked(c);
		break;
	case ROUTE_DELAY:
		conn_set_state(c, CONN_WAITING);
		conn_timer(c, (unsigned)c->rs_arg1, 0);
		break;
	case ROUTE_TAIL:
		routes_tail(c);
		break;
	case ROUTE_STATS:
		routes_stats(c);
		break;
	case ROUTE_DRIP:
	case ROUTE_DRIPC:
		c->rs_dripc = c->rs_route == ROUTE_DRIPC;
		routes_head_only(c, 200, c->rs_dripc ? RS_CHUNKED :
		    (long long)c->rs_arg1);
		if (c->rs_dripc && !c->rq_head && c->rs_arg1 == 0)
			evbuffer_add(c->cn_out, "0\r\n\r\n", 5);
		if (c->rq_head || c->rs_arg1 == 0) {
			conn_response_done(c);
			break;
		}
		c->rs_left = c->rs_arg1;
		c->rs_off = 0;
		c->rs_ms = (unsigned)c->rs_arg2;
		conn_set_state(c, CONN_DRIPPING);
		conn_timer(c, c->rs_ms, 1);
		break;
	case ROUTE_TRICKLE:
		routes_trickle(c);
		break;
	case ROUTE_HANG:
		conn_set_state(c, CONN_HANGING);
		break;
	case ROUTE_CLOSE:
		if (evbuffer_get_length(c->cn_out) > 0)
			evbuffer_write(c->cn_out, c->cn_fd);
		origin_event(c, "done");
		conn_close(c, 0);
		break;
	case ROUTE_RESET:
		origin_event(c, "done");
		conn_close(c, 1);
		break;
	case ROUTE_STATUS:
		status = (int)c->rs_arg1;
		n = snprintf(body, sizeof body, "%d %s\n", status,
		    routes_reason(status));
		routes_simple(c, status, body, (size_t)n);
		break;
	case ROUTE_ECHO:
		if (c->cn_hold == NULL &&
		    (c->cn_hold = evbuffer_new()) == NULL) {
			conn_close(c, 0);
			break;
		}
		routes_head_only(c, 200,
		    (long long)evbuffer_get_length(c->cn_hold));
		if (c->rq_head)
			evbuffer_drain(c->cn_hold,
			    evbuffer_get_length(c->cn_hold));
		else
			evbuffer_add_buffer(c->cn_out, c->cn_hold);
		conn_response_done(c);
		break;
	case ROUTE_WS:
	case ROUTE_UPGRADE:
	case ROUTE_UPGRADE_CLOSE:
	case ROUTE_UPGRADE_RESET:
	case ROUTE_UPGRADE_SILENT:
		tunnel_start(c);
		break;
	case ROUTE_UPGRADE_200:
		routes_simple(c, 200, "not upgraded\n", 13);
		break;
	}
}

/* The connection's timer fired: the end of a wait, a drip or trickle byte. */
void
routes_tick(struct conn *c)
{
	char	 body[64];
	int	 n;

	switch (c->cn_state) {
	case CONN_PREWAIT:
		routes_run(c);
		break;
	case CONN_WAITING:
		if (c->rs_route == ROUTE_TAIL)
			n = snprintf(body, sizeof body, "tail: waited %u ms\n",
			    (unsigned)c->rs_arg2);
		else
			n = snprintf(body, sizeof body, "delayed %u ms\n",
			    (unsigned)c->rs_arg1);
		routes_simple(c, 200, body, (size_t)n);
		break;
	case CONN_DRIPPING:
		if (c->rs_dripc)
			evbuffer_add(c->cn_out, "1\r\n", 3);
		routes_pattern_add(c, 1);
		if (c->rs_dripc)
			evbuffer_add(c->cn_out, c->rs_left == 0 ?
			    "\r\n0\r\n\r\n" : "\r\n", c->rs_left == 0 ? 7 : 2);
		if (c->rs_left == 0)
			conn_response_done(c);
		break;
	case CONN_TRICKLING:
		evbuffer_remove_buffer(c->cn_hold, c->cn_out, 1);
		if (--c->rs_head_left == 0) {
			evbuffer_add_buffer(c->cn_out, c->cn_hold);
			conn_response_done(c);
		}
		break;
	default:
		break;
	}
}
