/* test_http.c: unit tests for lib/http.c and lib/http_build.c. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define LIT(s)	(s), (sizeof(s) - 1)

static const struct http_limits nolimits = { 0, 0 };

/* Where driving a parser over a buffer ended. */
struct run {
	enum http_verdict	 v;		/* last verdict */
	size_t			 head_end;	/* bytes through the head */
	size_t			 msg_end;	/* bytes through the message */
};

/*
 * Feed buf to p as if it arrived step bytes at a time into one buffer: the
 * "have" region grows, head stays at buf.  Stops at HTTP_DONE, at an error,
 * or when all bytes are used; then calls http_finish() when finish is set.
 */
static struct run
drive(struct http_parser *p, const char *buf, size_t len, size_t step,
    bool finish)
{
	struct run r = { HTTP_MORE, 0, 0 };
	size_t off = 0, have = 0, used;

	for (;;) {
		have = have + step > len ? len : have + step;
		for (;;) {
			r.v = http_feed(p, buf, buf + off, have - off, &used);
			off += used;
			if (r.v != HTTP_GOT_HEAD)
				break;
			r.head_end = off;
		}
		if (r.v == HTTP_DONE)
			r.msg_end = off;
		if (r.v != HTTP_MORE)
			return r;
		ck_assert_uint_eq(off, have);
		if (have == len)
			break;
	}
	if (finish) {
		r.v = http_finish(p);
		if (r.v == HTTP_DONE)
			r.msg_end = off;
	}
	return r;
}

/* Parse one message in a fresh parser. */
static struct run
parse(enum http_kind kind, const struct http_limits *lim, struct http_msg *m,
    const char *buf, size_t len, size_t step, bool finish)
{
	struct http_parser p;
	struct run r;

	http_parser_init(&p, kind, m, lim);
	r = drive(&p, buf, len, step, finish);
	return r;
}

/* Whether two parsed messages record the same things (the parser zeroes
 * the head of a message before it parses, padding included). */
static void
msg_same(const struct http_msg *a, const struct http_msg *b)
{
	ck_assert_mem_eq(a, b, offsetof(struct http_msg, fields));
	for (int i = 0; i < a->nfields; i++) {
		ck_assert_mem_eq(&a->fields[i].name, &b->fields[i].name,
		    sizeof a->fields[i].name);
		ck_assert_mem_eq(&a->fields[i].value, &b->fields[i].value,
		    sizeof a->fields[i].value);
		ck_assert_int_eq(a->fields[i].kind, b->fields[i].kind);
	}
}

/*
 * Parse buf whole, byte by byte and 7 bytes at a time: the three must
 * agree.  The whole-buffer message is left in m.
 */
static struct run
parse3(enum http_kind kind, const struct http_limits *lim, struct http_msg *m,
    const char *buf, size_t len, bool finish)
{
	struct http_msg m1, m7;
	struct run r, r1, r7;

	r = parse(kind, lim, m, buf, len, len ? len : 1, finish);
	r1 = parse(kind, lim, &m1, buf, len, 1, finish);
	r7 = parse(kind, lim, &m7, buf, len, 7, finish);
	ck_assert_int_eq(r.v, r1.v);
	ck_assert_int_eq(r.v, r7.v);
	if (r.v == HTTP_DONE || r.v == HTTP_MORE) {
		ck_assert_uint_eq(r.head_end, r1.head_end);
		ck_assert_uint_eq(r.head_end, r7.head_end);
		ck_assert_uint_eq(r.msg_end, r1.msg_end);
		ck_assert_uint_eq(r.msg_end, r7.msg_end);
		msg_same(m, &m1);
		msg_same(m, &m7);
	}
	http_msg_free(&m1);
	http_msg_free(&m7);
	return r;
}

/* Whether a span of head holds exactly s. */
#define SPAN_IS(head, sp, s) do {					\
	ck_assert_uint_eq((sp).len, strlen(s));				\
	ck_assert_mem_eq((head) + (sp).off, (s), strlen(s));		\
} while (0)

START_TEST(test_request_spans)
{
	static const char req[] = "GET /a/b?c=d HTTP/1.1\r\n"
	    "Host: example.com:8080\r\nUser-Agent:   curl/8\t \r\n"
	    "Accept: */*\r\nX-Empty:\r\n\r\n";
	struct http_msg m;
	struct run r;

	r = parse3(HTTP_KIND_REQUEST, &nolimits, &m, LIT(req), false);
	ck_assert_int_eq(r.v, HTTP_DONE);
	ck_assert_uint_eq(r.head_end, sizeof req - 1);
	ck_assert_uint_eq(r.msg_end, sizeof req - 1);
	ck_assert_uint_eq(m.head_len, sizeof req - 1);
	SPAN_IS(req, m.method, "GET");
	SPAN_IS(req, m.target, "/a/b?c=d");
	SPAN_IS(req, m.path, "/a/b?c=d");
	SPAN_IS(req, m.authority, "example.com:8080");
	ck_assert_int_eq(m.method_id, HTTP_GET);
	ck_assert_int_eq(m.major, 1);
	ck_assert_int_eq(m.minor, 1);
	ck_assert_uint_eq(m.flags, HTTP_F_KEEPALIVE);
	ck_assert_int_eq(m.content_length, -1);
	ck_assert_uint_eq(m.nfields, 4);
	ck_assert_int_eq(m.host, 0);
	SPAN_IS(req, m.fields[0].name, "Host");
	SPAN_IS(req, m.fields[0].value, "example.com:8080");
	ck_assert_int_eq(m.fields[0].kind, HTTP_FK_HOST);
	SPAN_IS(req, m.fields[1].name, "User-Agent");
	SPAN_IS(req, m.fields[1].value, "curl/8");
	ck_assert_int_eq(m.fields[1].kind, HTTP_FK_OTHER);
	SPAN_IS(req, m.fields[2].value, "*/*");
	SPAN_IS(req, m.fields[3].name, "X-Empty");
	ck_assert_uint_eq(m.fields[3].value.len, 0);
	ck_assert_int_eq(http_find(&m, req, "accept"), 2);
	ck_assert_int_eq(http_find(&m, req, "ACCEPT-x"), -1);
}
END_TEST

/*
 * Messages that parse, fed whole, byte by byte and 7 bytes at a time: the
 * verdict at the end of the bytes (then at http_finish() when eof is set),
 * where the message ends, and its flags.
 */
#define CH	HTTP_F_CHUNKED
#define CL	HTTP_F_LENGTH
#define KA	HTTP_F_KEEPALIVE
#define BODY	HTTP_F_BODY
#define EOFB	(HTTP_F_TO_EOF | HTTP_F_BODY)
static const struct {
	enum http_kind	 kind;
	const char	*s;
	size_t		 len;
	bool		 eof;
	enum http_verdict v;
	size_t		 end;		/* 0: all of it */
	uint32_t	 flags;
	int64_t		 length;
} good[] = {
#define REQ(s, f, l)	{ HTTP_KIND_REQUEST, LIT(s), false, HTTP_DONE, 0, f, l }
#define RESP(s, eof, v, f, l) \
	{ HTTP_KIND_RESPONSE, LIT(s), eof, v, 0, f, l }
	REQ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n", CH | BODY | KA, -1),
	REQ("PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Connection: close\r\n\r\nhello", CL | BODY, 5),
	REQ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	    CL | KA, 0),
	REQ("GET / HTTP/1.0\r\n\r\n", 0, -1),
	REQ("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", KA, -1),
	REQ("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n",
	    0, -1),
	REQ("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"
	    "Content-Length: 1\r\n\r\nx", HTTP_F_EXPECT_100 | CL | BODY | KA,
	    1),
	REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", KA, -1),
	REQ("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", KA, -1),
	RESP("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, HTTP_DONE,
	    CL | BODY | KA, 2),
	RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "2\r\nhi\r\n0\r\n\r\n", false, HTTP_DONE, CH | BODY | KA, -1),
	/* to EOF: ends at http_finish() */
	RESP("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of it", false, HTTP_MORE,
	    EOFB, -1),
	RESP("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of it", true, HTTP_DONE,
	    EOFB, -1),
	RESP("HTTP/1.0 200 OK\r\n\r\nxx", true, HTTP_DONE, EOFB, -1),
	/* cut short */
	RESP("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh", true,
	    HTTP_ERR_BAD, 0, 0),
	RESP("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi",
	    true, HTTP_ERR_BAD, 0, 0),
	RESP("HTTP/1.1 200 OK\r\nContent-Le", true, HTTP_ERR_BAD, 0, 0),
	/* no body */
	RESP("HTTP/1.1 204 No Content\r\n\r\n", false, HTTP_DONE, KA, -1),
	RESP("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false,
	    HTTP_DONE, CL | KA, 10),
	RESP("HTTP/1.1 299\r\n\r\n", false, HTTP_MORE, EOFB, -1),
	RESP("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	    "Content-Length: 0\r\n\r\n", false, HTTP_DONE, CL | KA, 0),
	/* a pipelined message after the end is left */
	{ HTTP_KIND_REQUEST, LIT("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /"),
	    false, HTTP_DONE, 27, KA, -1 },
#undef REQ
#undef RESP
};
#undef CH
#undef CL
#undef KA
#undef BODY
#undef EOFB

START_TEST(test_good)
{
	struct http_msg m;
	struct run r;

	r = parse3(good[_i].kind, &nolimits, &m, good[_i].s, good[_i].len,
	    good[_i].eof);
	ck_assert_msg(r.v == good[_i].v, "message %d: verdict %d", _i, r.v);
	if (r.v == HTTP_DONE)
		ck_assert_uint_eq(r.msg_end, good[_i].end ? good[_i].end :
		    good[_i].len);
	if (r.v == HTTP_DONE || r.v == HTTP_MORE) {
		ck_assert_uint_eq(m.flags, good[_i].flags);
		ck_assert_int_eq(m.content_length, good[_i].length);
	}
}
END_TEST

START_TEST(test_message_fields)
{
	static const char put[] = "PUT /x HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n";
	static const char noreason[] = "HTTP/1.0 299\r\n\r\n";
	struct http_parser p;
	struct http_msg m;
	struct run r;

	parse3(HTTP_KIND_REQUEST, &nolimits, &m, LIT(put), false);
	ck_assert_int_eq(m.method_id, HTTP_PUT);
	parse3(HTTP_KIND_REQUEST, &nolimits, &m,
	    LIT("OPTIONS * HTTP/1.0\r\n\r\n"), false);
	ck_assert_int_eq(m.method_id, HTTP_OPTIONS);
	ck_assert_uint_eq(m.path.len, 1);
	ck_assert_uint_eq(m.authority.len, 0);
	ck_assert_int_eq(m.minor, 0);
	parse3(HTTP_KIND_RESPONSE, &nolimits, &m, LIT(ok), true);
	ck_assert_int_eq(m.status, 200);
	SPAN_IS(ok, m.reason, "OK");
	parse3(HTTP_KIND_RESPONSE, &nolimits, &m, LIT(noreason), true);
	ck_assert_int_eq(m.status, 299);
	ck_assert_uint_eq(m.reason.len, 0);

	/* a response to HEAD has no body, whatever it says */
	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
	http_parser_set_head_request(&p, true);
	r = drive(&p, LIT("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"),
	    64, true);
	ck_assert_int_eq(r.v, HTTP_DONE);
	ck_assert_uint_eq(m.flags, HTTP_F_LENGTH | HTTP_F_KEEPALIVE);
	http_parser_reset(&p);
	r = drive(&p, LIT("HTTP/1.1 200 OK\r\n\r\n"), 1, false);
	ck_assert_int_eq(r.v, HTTP_DONE);
	ck_assert_uint_eq(m.flags, HTTP_F_KEEPALIVE);
}
END_TEST

START_TEST(test_request_absolute)
{
	static const char r1[] = "GET http://Example.COM:81/p?q HTTP/1.1\r\n"
	    "Host: example.com:81\r\n\r\n";
	static const char r2[] = "GET HTTP://h.example HTTP/1.0\r\n\r\n";
	static const char r3[] = "GET https://h/x HTTP/1.0\r\n\r\n";
	struct http_msg m;

	ck_assert_int_eq(parse3(HTTP_KIND_REQUEST, &nolimits, &m, LIT(r1),
	    false).v, HTTP_DONE);
	ck_assert(m.flags & HTTP_F_ABSOLUTE);
	SPAN_IS(r1, m.target, "http://Example.COM:81/p?q");
	SPAN_IS(r1, m.path, "/p?q");
	SPAN_IS(r1, m.authority, "example.com:81");

	ck_assert_int_eq(parse3(HTTP_KIND_REQUEST, &nolimits, &m, LIT(r2),
	    false).v, HTTP_DONE);
	ck_assert_uint_eq(m.flags, HTTP_F_ABSOLUTE);
	SPAN_IS(r2, m.path, "/");
	SPAN_IS(r2, m.authority, "h.example");
	ck_assert_int_eq(m.host, -1);

	ck_assert_int_eq(parse3(HTTP_KIND_REQUEST, &nolimits, &m, LIT(r3),
	    false).v, HTTP_DONE);
	SPAN_IS(r3, m.path, "/x");
	SPAN_IS(r3, m.authority, "h");
}
END_TEST

/* Requests that must be refused, and the verdict each must get. */
static const struct {
	const char		*s;
	size_t			 len;
	enum http_verdict	 v;
} bad_requests[] = {
#define BAD(s)	{ LIT(s), HTTP_ERR_BAD }
#define NOTIMPL(s)	{ LIT(s), HTTP_ERR_TE }
#define GETH	"GET / HTTP/1.1\r\nHost: a\r\n"
#define POSTH	"POST / HTTP/1.1\r\nHost: a\r\n"
#define CHUNKED	POSTH "Transfer-Encoding: chunked\r\n\r\n"
	/* Host rules */
	BAD("GET / HTTP/1.1\r\n\r\n"),
	BAD(GETH "Host: a\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHost: u@h\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
	BAD("GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n"),
	BAD("GET http://a/ HTTP/1.1\r\n\r\n"),
	BAD("GET http://u@a/ HTTP/1.0\r\n\r\n"),
	BAD("GET http://a?x HTTP/1.0\r\n\r\n"),
	BAD("GET http:///x HTTP/1.0\r\n\r\n"),
	BAD("GET ftp://a/ HTTP/1.0\r\n\r\n"),
	BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
	/* framing */
	BAD(POSTH "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
	BAD(POSTH "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
	BAD(POSTH "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
	BAD(POSTH "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
	BAD(POSTH "Content-Length: 3, 3\r\n\r\nabc"),
	BAD(POSTH "Content-Length: -1\r\n\r\n"),
	BAD(POSTH "Content-Length: \r\n\r\n"),
	BAD(POSTH "Content-Length: 99999999999999999999\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: gzip\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: chunked, gzip\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: gzip, chunked\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: identity\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: gzip\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: chunked, chunked\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: \r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: ,\r\n\r\n"),
	NOTIMPL(POSTH "Transfer-Encoding: xchunked\r\n\r\n"),
	BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
	/* field syntax */
	BAD(GETH "X: a\r\n b\r\n\r\n"),
	BAD(GETH "X: a\r\n\tb\r\n\r\n"),
	BAD(GETH "X:\r\n b\r\n\r\n"),
	BAD(GETH "X : a\r\n\r\n"),
	BAD(GETH "X\t: a\r\n\r\n"),
	BAD(GETH "A B: c\r\n\r\n"),
	BAD(GETH ": c\r\n\r\n"),
	BAD(GETH "A(B: c\r\n\r\n"),
	BAD(GETH "A\"B: c\r\n\r\n"),
	BAD(GETH " X: b\r\n\r\n"),
	BAD(GETH "X: a\rb\r\n\r\n"),
	BAD(GETH "X: a\r\r\n\r\n"),
	BAD(GETH "X: a\x01\r\n\r\n"),
	BAD(GETH "X: a\0b\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHost: a\0\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n"),
	BAD("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
	/* what llhttp 8.1 takes in a target and a strict parser does not */
	BAD("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET /a\fb HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET /?q=\xff HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET /0123456789abcdef\x80 HTTP/1.1\r\nHost: a\r\n\r\n"),
	/* line endings */
	BAD("GET / HTTP/1.1\nHost: a\r\n\r\n"),
	BAD("GET / HTTP/1.1\r\nHost: a\n\r\n"),
	BAD(GETH "\n"),
	BAD("GET / HTTP/1.1\nHost: a\n\n"),
	BAD("GET / HTTP/1.0\n\n"),
	BAD("GET / HTTP/1.0\r\n\n"),
	BAD("GET / HTTP/1.0\n\r\n"),
	BAD("GET / HTTP/1.1\rHost: a\r\n\r\n"),
	BAD(GETH "\r\r"),
	/* request line and version */
	BAD("GET / HTTP/1.2\r\nHost: a\r\n\r\n"),
	BAD("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
	BAD("GET / HTTP/1\r\nHost: a\r\n\r\n"),
	BAD("GET / HTTP/0.9\r\n\r\n"),
	BAD("GET /\r\n\r\n"),
	BAD("GET / RTSP/1.0\r\n\r\n"),
	BAD("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"),
	BAD(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("G@T / HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("FOO / HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("GET a.b HTTP/1.1\r\nHost: a\r\n\r\n"),
	BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
	BAD("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
	/* chunked bodies */
	BAD(CHUNKED "zz\r\n"),
	BAD(CHUNKED "FFFFFFFFFFFFFFFFF\r\n"),
	BAD(CHUNKED "-1\r\n"),
	BAD(CHUNKED "3 \r\nabc\r\n0\r\n\r\n"),
	BAD(CHUNKED "3\nabc\r\n0\r\n\r\n"),
	BAD(CHUNKED "3\r\nabcX\r\n0\r\n\r\n"),
	BAD(CHUNKED "3\r\nabc\n0\r\n\r\n"),
	BAD(CHUNKED "0\r\n\n"),
	BAD(CHUNKED "0\r\nX: y\r\n\n"),
	BAD(CHUNKED "0\r\nX: y\nZ: w\r\n\r\n"),
	BAD(CHUNKED "3;a b\r\nabc\r\n0\r\n\r\n"),
	BAD(CHUNKED "3;a=\"b\r\nabc\r\n0\r\n\r\n"),
	BAD(CHUNKED "0\r\n\rX"),
	/* what llhttp 8.1 takes and hourglass does not */
	BAD(CHUNKED "5\r\r;x\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5\rxhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "00000000000000005\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "+5\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED " 5\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5;\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5;a=\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5;a\x01\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5;a=b \r\nhello\r\n0\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\nX: a\rb\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\nX: a\x01\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\nX: a\0\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\nX : a\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\n X: a\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\nX: a\r\n b\r\n\r\n"),
	BAD(CHUNKED "5\r\nhello\r\n0\r\nNoColon\r\n\r\n"),
#undef NOTIMPL
#undef BAD
#undef GETH
#undef POSTH
#undef CHUNKED
};

START_TEST(test_request_bad)
{
	struct http_msg m;
	struct http_parser p;
	struct run r;
	size_t len = bad_requests[_i].len;
	const char *s = bad_requests[_i].s;

	r = parse3(HTTP_KIND_REQUEST, &nolimits, &m, s, len, true);
	ck_assert_msg(r.v == bad_requests[_i].v,
	    "request %d: verdict %d, want %d", _i, r.v, bad_requests[_i].v);

	/* The verdict sticks, and says why. */
	http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
	r = drive(&p, s, len, len, true);
	ck_assert_int_eq(r.v, bad_requests[_i].v);
	ck_assert_ptr_nonnull(p.hp_reason);
	ck_assert_int_eq(http_finish(&p), bad_requests[_i].v);
	ck_assert(!http_idle(&p));
	http_msg_free(&m);
}
END_TEST

START_TEST(test_limits)
{
	static const char req[] = "GET /0123456789 HTTP/1.1\r\nHost: a\r\n"
	    "X-Pad: padding\r\n\r\n";
	size_t hlen = sizeof req - 1;
	struct http_limits lim;
	struct http_msg m;
	struct http_parser p;
	size_t used;

	/* exactly at the limits: fine */
	lim.max_uri = 11;
	lim.max_header = (uint32_t)hlen;
	ck_assert_int_eq(parse3(HTTP_KIND_REQUEST, &lim, &m, LIT(req),
	    false).v, HTTP_DONE);

	lim.max_uri = 10;
	ck_assert_int_eq(parse3(HTTP_KIND_REQUEST, &lim, &m, LIT(req),
	    false).v, HTTP_ERR_URI);
	lim.max_uri = 11;
	lim.max_header = (uint32_t)hlen - 1;
	ck_assert_int_eq(parse3(HTTP_KIND_REQUEST, &lim, &m, LIT(req),
	    false).v, HTTP_ERR_HEADER);

	/* known before the head is complete */
	lim.max_uri = 10;
	lim.max_header = 0;
	http_parser_init(&p, HTTP_KIND_REQUEST, &m, &lim);
	ck_assert_int_eq(http_feed(&p, req, req, 15, &used), HTTP_ERR_URI);
	ck_assert_int_eq(http_feed(&p, req, req, 15, &used), HTTP_ERR_URI);
	lim.max_uri = 0;
	lim.max_header = 20;
	http_parser_init(&p, HTTP_KIND_REQUEST, &m, &lim);
	ck_assert_int_eq(http_feed(&p, req, req, 19, &used), HTTP_MORE);
	ck_assert_uint_eq(used, 19);
	ck_assert_int_eq(http_feed(&p, req, req + 19, 1, &used),
	    HTTP_ERR_HEADER);

	/* a response head against the proxy's cap */
	lim.max_header = 30;
	ck_assert_int_eq(parse3(HTTP_KIND_RESPONSE, &lim, &m, LIT(
	    "HTTP/1.1 200 OK\r\nServer: some long name\r\n\r\n"), true).v,
	    HTTP_ERR_HEADER);
}
END_TEST

START_TEST(test_no_body_done)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct http_parser p;
	struct http_msg m;
	size_t used;

	http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
	ck_assert(http_idle(&p));
	ck_assert_int_eq(http_feed(&p, req, req, 0, &used), HTTP_MORE);
	ck_assert_int_eq(http_feed(&p, req, req, 5, &used), HTTP_MORE);
	ck_assert(!http_idle(&p));
	ck_assert_int_eq(http_feed(&p, req, req + 5, sizeof req - 6, &used),
	    HTTP_GOT_HEAD);
	ck_assert_uint_eq(used, sizeof req - 6);
	ck_assert(!(m.flags & HTTP_F_BODY));
	ck_assert_int_eq(http_feed(&p, req, req + sizeof req - 1, 0, &used),
	    HTTP_DONE);
	ck_assert_uint_eq(used, 0);
	ck_assert(http_idle(&p));
	ck_assert_int_eq(http_feed(&p, req, req, 3, &used), HTTP_DONE);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(http_finish(&p), HTTP_DONE);
	http_parser_reset(&p);
	ck_assert_int_eq(http_finish(&p), HTTP_MORE);
	http_msg_free(&m);
}
END_TEST

/* Two pipelined requests in one buffer, the first with a body: fed in
 * steps of every size, the first ends exactly, the second is left whole. */
START_TEST(test_content_length_split)
{
	static const char buf[] = "POST /up HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 11\r\n\r\nhello world"
	    "GET /next HTTP/1.1\r\nHost: b\r\n\r\n";
	size_t first = strlen("POST /up HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 11\r\n\r\nhello world");
	struct http_parser p;
	struct http_msg m;
	struct run r;
	size_t used, hlen = first - 11;

	for (size_t step = 1; step <= sizeof buf - 1; step++) {
		http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
		r = drive(&p, LIT(buf), step, false);
		ck_assert_int_eq(r.v, HTTP_DONE);
		ck_assert_uint_eq(r.head_end, hlen);
		ck_assert_uint_eq(r.msg_end, first);
		/* the pipelined request is left, and parses on its own */
		http_parser_reset(&p);
		r = drive(&p, buf + first, sizeof buf - 1 - first, step, false);
		ck_assert_int_eq(r.v, HTTP_DONE);
		SPAN_IS(buf + first, m.path, "/next");
		SPAN_IS(buf + first, m.authority, "b");
		http_msg_free(&m);
	}

	/* the body split at every point */
	for (size_t k = 0; k <= 11; k++) {
		http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
		ck_assert_int_eq(http_feed(&p, buf, buf, sizeof buf - 1,
		    &used), HTTP_GOT_HEAD);
		ck_assert_uint_eq(used, hlen);
		ck_assert_int_eq(http_feed(&p, buf, buf + hlen, k, &used),
		    k == 11 ? HTTP_DONE : HTTP_MORE);
		ck_assert_uint_eq(used, k);
		if (k < 11) {
			ck_assert(!http_idle(&p));
			ck_assert_int_eq(http_feed(&p, buf, buf + hlen + k,
			    sizeof buf - 1 - hlen - k, &used), HTTP_DONE);
			ck_assert_uint_eq(used, 11 - k);
		}
		ck_assert(http_idle(&p));
	}
}
END_TEST

/* Gather what the chunked decoder writes. */
struct sink {
	char	 buf[512];
	size_t	 len;
};

static int
sink_cb(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	ck_assert_uint_le(s->len + len, sizeof s->buf);
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	return 0;
}

/*
 * Chunked bodies that are accepted: what the decoder writes when it
 * re-encodes (the canonical framing) and when it decodes (the data), fed
 * in every split.  A pipelined request follows each, and is left.
 */
static const struct {
	const char	*body;
	size_t		 blen;
	const char	*encoded;
	size_t		 elen;
	const char	*decoded;
	size_t		 dlen;
} chunked_good[] = {
#define CK(b, e, d)	{ LIT(b), LIT(e), LIT(d) }
	CK("5\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n", "hello"),
	CK("0\r\n\r\n", "0\r\n\r\n", ""),
	/* extensions dropped, sizes in lowercase hex without leading zeros */
	CK("5;ext=1\r\nhello\r\n1;a;b=\"q s\"\r\n \r\n0000A\r\n0123456789\r\n"
	   "0;last\r\n\r\n",
	   "5\r\nhello\r\n1\r\n \r\na\r\n0123456789\r\n0\r\n\r\n",
	   "hello 0123456789"),
	CK("0000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n",
	   "10\r\n0123456789abcdef\r\n0\r\n\r\n", "0123456789abcdef"),
	CK("5;a=\"x;y\"\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n",
	   "hello"),
	/* trailers: canonical lines, those that may not be trailers dropped */
	CK("5\r\nhello\r\n0\r\nX-Trailer:v\r\nContent-Length: 5\r\n"
	   "X-Other: \t w x \t\r\nHost: evil\r\nX-Empty:\r\n\r\n",
	   "5\r\nhello\r\n0\r\nX-Trailer: v\r\nX-Other: w x\r\nX-Empty: \r\n"
	   "\r\n", "hello"),
	/* data is data: NUL, CR, LF, and what looks like framing */
	CK("3\r\n\0\r\n\r\n0\r\n\r\n", "3\r\n\0\r\n\r\n0\r\n\r\n", "\0\r\n"),
	CK("5\r\n0\r\n\r\n\r\n0\r\n\r\n", "5\r\n0\r\n\r\n\r\n0\r\n\r\n",
	   "0\r\n\r\n"),
#undef CK
};

START_TEST(test_chunked)
{
	static const char headp[] = "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static const char next[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t blen = chunked_good[_i].blen, hlen = sizeof headp - 1;
	const char *want;
	char buf[512];
	size_t len, wlen;
	struct http_parser p;
	struct http_msg m;
	struct sink s;
	struct run r;

	memcpy(buf, headp, hlen);
	memcpy(buf + hlen, chunked_good[_i].body, blen);
	memcpy(buf + hlen + blen, next, sizeof next - 1);
	len = hlen + blen + sizeof next - 1;
	for (int decode = 0; decode < 2; decode++) {
		want = decode ? chunked_good[_i].decoded :
		    chunked_good[_i].encoded;
		wlen = decode ? chunked_good[_i].dlen : chunked_good[_i].elen;
		for (size_t step = 1; step <= len; step++) {
			http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
			memset(&s, 0, sizeof s);
			http_parser_set_body_cb(&p, sink_cb, &s, decode);
			r = drive(&p, buf, len, step, false);
			ck_assert_msg(r.v == HTTP_DONE, "body %d step %zu: %s",
			    _i, step, p.hp_reason ? p.hp_reason : "-");
			ck_assert_uint_eq(r.msg_end, hlen + blen);
			ck_assert_uint_eq(m.flags, HTTP_F_CHUNKED | HTTP_F_BODY |
			    HTTP_F_KEEPALIVE);
			/* trailer fields are not head fields */
			ck_assert_uint_eq(m.nfields, 2);
			ck_assert_uint_eq(s.len, wlen);
			ck_assert_mem_eq(s.buf, want, wlen);
			http_msg_free(&m);
		}
	}
}
END_TEST

/* A chunked body cut short never gets its last chunk written. */
START_TEST(test_chunked_cut)
{
	static const char buf[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
	    "chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n";
	size_t len = sizeof buf - 1;
	struct http_parser p;
	struct http_msg m;
	struct sink s;
	struct run r;

	for (size_t cut = 45; cut < len; cut++) {
		http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
		memset(&s, 0, sizeof s);
		http_parser_set_body_cb(&p, sink_cb, &s, false);
		r = drive(&p, buf, cut, 1, true);
		ck_assert_int_eq(r.v, HTTP_ERR_BAD);
		ck_assert(s.len < 5 || memmem(s.buf, s.len, "0\r\n", 3) == NULL);
		http_msg_free(&m);
	}
}
END_TEST

/* How many times needle occurs in s, ignoring case. */
static int
count_ci(const char *s, const char *needle)
{
	int n = 0;

	while ((s = strcasestr(s, needle)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* A size line, or trailers, past the decoder's bounds are refused. */
START_TEST(test_chunked_limits)
{
	static const char headp[] = "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static char buf[32768];
	struct http_msg m;
	struct run r;
	size_t len;

	for (int over = 0; over < 2; over++) {
		/* "5;aaaa...\r\n": 4096 bytes with the CRLF, then one more */
		len = (size_t)snprintf(buf, sizeof buf, "%s5;", headp);
		memset(buf + len, 'a', 4096 - 4 + (size_t)over);
		len += 4096 - 4 + (size_t)over;
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    "\r\nhello\r\n0\r\n\r\n");
		r = parse(HTTP_KIND_REQUEST, &nolimits, &m, buf, len, len,
		    false);
		ck_assert_int_eq(r.v, over ? HTTP_ERR_BAD : HTTP_DONE);
		http_msg_free(&m);

		/* trailers of 8192 bytes with the final CRLF, then one more */
		len = (size_t)snprintf(buf, sizeof buf, "%s0\r\nX: ", headp);
		memset(buf + len, 'v', 8192 - 7 + (size_t)over);
		len += 8192 - 7 + (size_t)over;
		len += (size_t)snprintf(buf + len, sizeof buf - len, "\r\n\r\n");
		r = parse(HTTP_KIND_REQUEST, &nolimits, &m, buf, len, len,
		    false);
		ck_assert_int_eq(r.v, over ? HTTP_ERR_BAD : HTTP_DONE);
		http_msg_free(&m);
	}
}
END_TEST

/* The framing fields go out canonical, whatever the peer wrote. */
START_TEST(test_framing_canonical)
{
	static const struct {
		const char	*in;
		const char	*field;		/* the one framing line out */
	} cases[] = {
		{ "Content-Length: 005\r\n\r\nhello", "Content-Length: 5\r\n" },
		{ "Content-Length: 0\r\n\r\n", "Content-Length: 0\r\n" },
		{ "content-length:5\r\n\r\nhello", "content-length: 5\r\n" },
		{ "Content-Length: 00\r\n\r\n", "Content-Length: 0\r\n" },
		{ "Transfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
		  "Transfer-Encoding: chunked\r\n" },
		{ "Transfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
		  "Transfer-Encoding: chunked\r\n" },
		{ "Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n",
		  "Transfer-Encoding: chunked\r\n" },
		{ "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		  "Transfer-Encoding: chunked\r\n" },
	};
	struct http_fwd fwd = { 0 };
	char in[256], out[512];
	struct http_msg m;
	struct run r;
	ssize_t n;
	size_t len;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int resp = 0; resp < 2; resp++) {
			len = (size_t)snprintf(in, sizeof in, "%s%s", resp ?
			    "HTTP/1.1 200 OK\r\n" :
			    "POST / HTTP/1.1\r\nHost: a\r\n", cases[i].in);
			r = parse(resp ? HTTP_KIND_RESPONSE : HTTP_KIND_REQUEST,
			    &nolimits, &m, in, len, len, false);
			ck_assert_msg(r.v == HTTP_DONE || r.v == HTTP_MORE,
			    "case %zu", i);
			n = resp ? http_build_response(&m, in, false, false,
			    false, NULL, 0, out, sizeof out) : http_build_request(&m, in,
			    &fwd, out, sizeof out);
			ck_assert_int_gt(n, 0);
			out[n] = '\0';
			ck_assert_msg(strstr(out, cases[i].field) != NULL,
			    "case %zu: %s", i, out);
			/* exactly one framing field */
			ck_assert_int_eq(count_ci(out, "content-length") +
			    count_ci(out, "transfer-encoding"), 1);
			http_msg_free(&m);
		}
	}
}
END_TEST

START_TEST(test_interim)
{
	static const char buf[] = "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
	struct http_parser p;
	struct http_msg m;
	size_t off = 0, used;
	int status[3] = { 100, 103, 200 };

	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(http_feed(&p, buf + off, buf + off,
		    sizeof buf - 1 - off, &used), HTTP_GOT_HEAD);
		ck_assert_int_eq(m.status, status[i]);
		off += used;
		ck_assert_int_eq(http_feed(&p, buf + off, buf + off,
		    sizeof buf - 1 - off, &used), HTTP_DONE);
		off += used;
		if (i < 2) {
			ck_assert_uint_eq(used, 0);
			http_parser_reset(&p);
		}
	}
	ck_assert_uint_eq(off, sizeof buf - 1);
}
END_TEST

static const struct {
	const char	*s;
	size_t		 len;
} bad_responses[] = {
	{ LIT("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n"
	    "Connection: upgrade\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Content-Length: 2\r\n\r\nhi") },
	{ LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx") },
	{ LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	    "0\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\r;x\r\nhello\r\n0\r\n\r\n") },
	{ LIT("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") },
	{ LIT("garbage\r\n\r\n") },
	{ LIT("HTTP/1.1 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 20 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 099 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 2000 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 0200 OK\r\n\r\n") },
	{ LIT("HTTP/1.1  200 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 200 O\0K\r\n\r\n") },
	{ LIT("HTTP/1.1 200 O\x01K\r\n\r\n") },
	{ LIT("HTTP/2 200 OK\r\n\r\n") },
	{ LIT("HTTP/2.0 200 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\nServer: x\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nServer: x\r\n\n") },
	{ LIT("HTTP/1.1 200 OK\r\nServer: x\r\n y\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nServer : x\r\n\r\n") },
	{ LIT("\r\nHTTP/1.1 200 OK\r\n\r\n") },
	{ LIT("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") },
};

static void	parse_ok(enum http_kind, struct http_msg *, const char *,
		    size_t);

/*
 * Upgrade: a request without body that says Connection: upgrade and
 * Upgrade asks to upgrade; with a body, or without either field, it is a
 * plain request.  A response parser takes a 101 only when told the
 * request asked, and only with Upgrade: a head without body, after which
 * the stream is another protocol.
 */
START_TEST(test_upgrade)
{
	static const struct {
		const char	*s;
		bool		 upgrade;
	} reqs[] = {
		{ "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
		    "Upgrade: websocket\r\n\r\n", true },
		{ "GET /ws HTTP/1.1\r\nHost: h\r\n"
		    "Connection: keep-alive, upgrade\r\nUpgrade: x\r\n\r\n",
		    true },
		{ "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
		    false },
		{ "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n",
		    false },
		{ "POST /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n"
		    "Upgrade: websocket\r\nContent-Length: 2\r\n\r\nhi", false },
	};
	static const char r101[] = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes";
	static const char r101bare[] = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Connection: upgrade\r\n\r\n";
	struct http_parser p;
	struct http_msg m;
	size_t used;

	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		parse_ok(HTTP_KIND_REQUEST, &m, reqs[i].s, strlen(reqs[i].s));
		ck_assert_msg(((m.flags & HTTP_F_UPGRADE) != 0) ==
		    reqs[i].upgrade, "request %zu", i);
		http_msg_free(&m);
	}

	/* Not asked for: an error, as before. */
	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
	ck_assert_int_eq(http_feed(&p, r101, r101, sizeof r101 - 1, &used),
	    HTTP_ERR_BAD);
	http_msg_free(&m);

	/* Asked for: the head, then nothing of what follows. */
	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
	http_parser_set_upgrade(&p, true);
	ck_assert_int_eq(http_feed(&p, r101, r101, sizeof r101 - 1, &used),
	    HTTP_GOT_HEAD);
	ck_assert_uint_eq(used, sizeof r101 - 1 - 6);
	ck_assert_int_eq(m.status, 101);
	ck_assert(m.flags & HTTP_F_UPGRADE);
	ck_assert(!(m.flags & HTTP_F_BODY));
	http_msg_free(&m);

	/* A 101 must say what it switches to. */
	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
	http_parser_set_upgrade(&p, true);
	ck_assert_int_eq(http_feed(&p, r101bare, r101bare,
	    sizeof r101bare - 1, &used), HTTP_ERR_BAD);
	http_msg_free(&m);

	/* A 101 goes out with its Upgrade and Connection: upgrade, whatever
	 * the connection would otherwise say. */
	http_parser_init(&p, HTTP_KIND_RESPONSE, &m, &nolimits);
	http_parser_set_upgrade(&p, true);
	ck_assert_int_eq(http_feed(&p, r101, r101, sizeof r101 - 1, &used),
	    HTTP_GOT_HEAD);
	{
		char out[256];
		ssize_t n = http_build_response(&m, r101, true, false, false,
		    NULL, 0, out, sizeof out);

		ck_assert_int_gt(n, 0);
		out[n] = '\0';
		ck_assert_str_eq(out, "HTTP/1.1 101 Switching Protocols\r\n"
		    "Upgrade: websocket\r\nConnection: upgrade\r\n\r\n");
	}
	http_msg_free(&m);
}
END_TEST

START_TEST(test_response_bad)
{
	struct http_msg m;

	ck_assert_msg(parse3(HTTP_KIND_RESPONSE, &nolimits, &m,
	    bad_responses[_i].s, bad_responses[_i].len, true).v ==
	    HTTP_ERR_BAD, "response %d", _i);
	http_msg_free(&m);
}
END_TEST

START_TEST(test_many_fields)
{
	char buf[8192], name[32];
	size_t len;
	struct http_parser p;
	struct http_msg m;
	struct run r;
	int i;

	len = (size_t)snprintf(buf, sizeof buf,
	    "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < 100; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    "X-Field-%d: value %d\r\n", i, i);
	len += (size_t)snprintf(buf + len, sizeof buf - len, "\r\n");

	r = parse3(HTTP_KIND_REQUEST, &nolimits, &m, buf, len, false);
	ck_assert_int_eq(r.v, HTTP_DONE);
	ck_assert_uint_eq(m.nfields, 101);
	ck_assert_ptr_ne(m.fields, m.inline_fields);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "x-field-%d", i);
		ck_assert_int_eq(http_find(&m, buf, name), i + 1);
	}
	SPAN_IS(buf, m.fields[100].value, "value 99");
	http_msg_free(&m);
	ck_assert_ptr_eq(m.fields, m.inline_fields);
	http_msg_free(&m);

	/* reset releases the grown array too */
	http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
	r = drive(&p, buf, len, 1, false);
	ck_assert_int_eq(r.v, HTTP_DONE);
	http_parser_reset(&p);
	ck_assert_ptr_eq(m.fields, m.inline_fields);
	ck_assert_uint_eq(m.nfields, 0);
}
END_TEST

START_TEST(test_list_has)
{
	ck_assert(http_list_has(LIT("close"), "close"));
	ck_assert(http_list_has(LIT("Keep-Alive, Upgrade"), "upgrade"));
	ck_assert(http_list_has(LIT(" ,\tfoo ,BAR\t, "), "bar"));
	ck_assert(http_list_has(LIT("a,,b"), "b"));
	ck_assert(!http_list_has(LIT("closed"), "close"));
	ck_assert(!http_list_has(LIT("clos"), "close"));
	ck_assert(!http_list_has(LIT("a b"), "a"));
	ck_assert(!http_list_has(LIT(""), "a"));
	ck_assert(!http_list_has("close", 3, "close"));
}
END_TEST

/* Parse a request that must be fine and leave it in m. */
static void
parse_ok(enum http_kind kind, struct http_msg *m, const char *s, size_t len)
{
	struct run r = parse3(kind, &nolimits, m, s, len, false);

	ck_assert_msg(r.v == HTTP_DONE || r.v == HTTP_MORE, "verdict %d", r.v);
	ck_assert_uint_gt(r.head_end, 0);
}

/* The field names the parser knows, with a value each may carry. */
static const struct {
	const char	*name;
	int		 kind;
	const char	*value;
} known_names[] = {
	{ "host", HTTP_FK_HOST, "h" },
	{ "content-length", HTTP_FK_CONTENT_LENGTH, "0" },
	{ "transfer-encoding", HTTP_FK_TRANSFER_ENCODING, "chunked" },
	{ "connection", HTTP_FK_CONNECTION, "close" },
	{ "keep-alive", HTTP_FK_KEEP_ALIVE, "5" },
	{ "te", HTTP_FK_TE, "trailers" },
	{ "trailer", HTTP_FK_TRAILER, "x" },
	{ "upgrade", HTTP_FK_UPGRADE, "x" },
	{ "proxy-connection", HTTP_FK_PROXY_CONNECTION, "x" },
	{ "expect", HTTP_FK_EXPECT, "100-continue" },
	{ "x-forwarded-for", HTTP_FK_XFF, "1.2.3.4" },
	{ "x-forwarded-proto", HTTP_FK_XFP, "http" },
	{ "x-forwarded-host", HTTP_FK_XFH, "h" },
	{ "via", HTTP_FK_VIA, "x" },
	{ "x-request-id", HTTP_FK_REQUEST_ID, "abc" },
	{ "proxy-status", HTTP_FK_PROXY_STATUS, "x" },
	{ "grpc-timeout", HTTP_FK_GRPC_TIMEOUT, "1S" },
};

/* Parse a request with one field (and a Host but for a Host field), and
 * return that field's kind, or -1 when the request is refused. */
static int
field_kind(const char *name, const char *value)
{
	struct http_msg m;
	struct run r;
	char buf[256];
	size_t len;
	int kind, host;

	host = strcasecmp(name, "host") != 0;
	len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n%s%s: %s\r\n"
	    "\r\n", host ? "Host: a\r\n" : "", name, value);
	r = parse3(HTTP_KIND_REQUEST, &nolimits, &m, buf, len, false);
	if (r.v != HTTP_DONE && r.v != HTTP_MORE) {
		http_msg_free(&m);
		return -1;
	}
	ck_assert_uint_eq(m.nfields, 1 + host);
	SPAN_IS(buf, m.fields[host].name, name);
	SPAN_IS(buf, m.fields[host].value, value);
	kind = m.fields[host].kind;
	ck_assert(m.known & HTTP_FK_BIT(kind));
	ck_assert_int_eq(http_find(&m, buf, name), host);
	http_msg_free(&m);
	return kind;
}

START_TEST(test_field_kinds)
{
	char name[64];
	size_t n;

	for (size_t i = 0; i < sizeof known_names / sizeof known_names[0];
	    i++) {
		const char *lit = known_names[i].name, *v = known_names[i].value;

		n = strlen(lit);
		/* lower, upper and mixed case */
		ck_assert_int_eq(field_kind(lit, v), known_names[i].kind);
		for (size_t j = 0; j <= n; j++)
			name[j] = (char)toupper((unsigned char)lit[j]);
		ck_assert_int_eq(field_kind(name, v), known_names[i].kind);
		for (size_t j = 0; j <= n; j++)
			name[j] = j % 2 ? lit[j] :
			    (char)toupper((unsigned char)lit[j]);
		ck_assert_int_eq(field_kind(name, v), known_names[i].kind);
		/* one byte off anywhere, one byte more or less */
		for (size_t j = 0; j < n; j++) {
			memcpy(name, lit, n + 1);
			name[j] = name[j] == 'x' ? 'y' : 'x';
			ck_assert_int_eq(field_kind(name, v), HTTP_FK_OTHER);
			name[j] = '_';
			ck_assert_int_eq(field_kind(name, v), HTTP_FK_OTHER);
		}
		memcpy(name, lit, n);
		memcpy(name + n, "s", 2);
		ck_assert_int_eq(field_kind(name, v), HTTP_FK_OTHER);
		memcpy(name, "x", 1);
		memcpy(name + 1, lit, n + 1);
		ck_assert_int_eq(field_kind(name, v), HTTP_FK_OTHER);
		if (n > 1) {
			memcpy(name, lit, n - 1);
			name[n - 1] = '\0';
			ck_assert_int_eq(field_kind(name, v), HTTP_FK_OTHER);
		}
	}
}
END_TEST

/*
 * Field names of every length from 1 to 40, of all the token characters:
 * the kind, the spans and http_find(); and the same names with a space at
 * each place, which are refused.
 */
START_TEST(test_field_names)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct http_parser p;
	struct http_msg m;
	struct run r;
	char name[48], other[48], buf[256];
	size_t len;

	for (size_t n = 1; n <= 40; n++) {
		for (size_t j = 0; j < n; j++)
			name[j] = tchar[(n * 7 + j * 13) % (sizeof tchar - 1)];
		name[n] = '\0';
		ck_assert_int_eq(field_kind(name, "v"), HTTP_FK_OTHER);

		/* http_find(): other case, shorter, longer */
		len = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n"
		    "Host: a\r\n%s: v\r\n\r\n", name);
		parse_ok(HTTP_KIND_REQUEST, &m, buf, len);
		for (size_t j = 0; j <= n; j++)
			other[j] = (char)tolower((unsigned char)name[j]);
		ck_assert_int_eq(http_find(&m, buf, other), 1);
		other[n - 1] = '\0';
		ck_assert_int_eq(http_find(&m, buf, other), n == 4 &&
		    strcasecmp(other, "host") == 0 ? 0 : -1);
		memcpy(other, name, n);
		memcpy(other + n, "x", 2);
		ck_assert_int_eq(http_find(&m, buf, other), -1);
		http_msg_free(&m);

		for (size_t j = 0; j <= n; j++) {
			len = (size_t)snprintf(buf, sizeof buf,
			    "GET / HTTP/1.1\r\nHost: a\r\n%.*s %s: v\r\n\r\n",
			    (int)j, name, name + j);
			r = parse3(HTTP_KIND_REQUEST, &nolimits, &m, buf, len,
			    false);
			ck_assert_int_eq(r.v, HTTP_ERR_BAD);
			http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
			ck_assert_int_eq(drive(&p, buf, len, len, false).v,
			    HTTP_ERR_BAD);
			/* a space first is a continuation of Host's value */
			ck_assert_str_eq(p.hp_reason, j == 0 ? "obs-fold" :
			    "invalid field name");
			http_msg_free(&m);
		}
	}
}
END_TEST

/* Host values of every length up to 24, and each with a character that
 * may not be in a host at each place. */
START_TEST(test_host_values)
{
	static const char ok[] = "a0-.:_~!$&'()*+,;=%[]Z";
	static const char bad[] = "/@?#\"<>{}|\\^`";
	struct http_parser p;
	struct http_msg m;
	char host[32], buf[128];
	size_t len;

	for (size_t n = 1; n <= 24; n++) {
		for (size_t j = 0; j < n; j++)
			host[j] = ok[(n + j) % (sizeof ok - 1)];
		host[n] = '\0';
		ck_assert_int_eq(field_kind("Host", host), HTTP_FK_HOST);
		for (size_t j = 0; j < n; j++) {
			host[j] = bad[(n + j) % (sizeof bad - 1)];
			len = (size_t)snprintf(buf, sizeof buf,
			    "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
			http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
			ck_assert_int_eq(drive(&p, buf, len, len, false).v,
			    HTTP_ERR_BAD);
			ck_assert_str_eq(p.hp_reason, "invalid Host");
			http_msg_free(&m);
			host[j] = ok[(n + j) % (sizeof ok - 1)];
		}
	}
}
END_TEST

/* A field added twice, and obs-fold, whatever the feed's pieces. */
START_TEST(test_field_repeats)
{
	static const struct {
		const char	*s;
		const char	*why;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "two Hosts" },
		{ "GET / HTTP/1.1\r\nHOST: a\r\nX: y\r\nHost: b\r\n\r\n",
		    "two Hosts" },
		{ "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 1\r\n"
		    "Content-Length: 1\r\n\r\nx", "more than one Content-Length" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", "obs-fold" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\tb\r\n\r\n", "obs-fold" },
		{ "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
		    "empty field name" },
		{ "GET / HTTP/1.1\nHost: a\r\n\r\n",
		    "line not ended by CRLF" },
	};
	struct http_parser p;
	struct http_msg m;
	size_t len;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		len = strlen(cases[i].s);
		for (size_t step = 1; step <= len; step++) {
			http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
			ck_assert_int_eq(drive(&p, cases[i].s, len, step,
			    false).v, HTTP_ERR_BAD);
			ck_assert_str_eq(p.hp_reason, cases[i].why);
			http_msg_free(&m);
		}
	}
	/* the same names once each are fine */
	ck_assert_int_eq(field_kind("x-forwarded-for", "a, b"), HTTP_FK_XFF);
}
END_TEST

/* Names, values and targets of every size the writers copy (short copies
 * are inline, by size), written as they stand or rewritten. */
START_TEST(test_build_sizes)
{
	struct http_fwd fwd = {
		.client_ip = "192.0.2.7",
		.proto = "http",
		.via = "1.1 hourglass",
	};
	struct http_msg m;
	char buf[512], want[1024], out[1024], v[48], name[48];
	size_t len, wlen;
	ssize_t n;

	for (size_t vl = 0; vl <= 40; vl++) {
		for (size_t j = 0; j < vl; j++)
			v[j] = (char)('a' + (vl + j) % 26);
		v[vl] = '\0';
		for (size_t j = 0; j < vl + 1 && j < sizeof name - 1; j++)
			name[j] = (char)('A' + j % 26);
		name[vl + 1 < sizeof name - 1 ? vl + 1 : sizeof name - 1] =
		    '\0';

		/* "Name:value" is rewritten as "Name: value" */
		len = (size_t)snprintf(buf, sizeof buf, "GET /%s HTTP/1.1\r\n"
		    "Host: h\r\nX-%s:%s\r\nY: %s\r\n\r\n", v, name, v, v);
		parse_ok(HTTP_KIND_REQUEST, &m, buf, len);
		wlen = (size_t)snprintf(want, sizeof want, "GET /%s HTTP/1.1\r\n"
		    "Host: h\r\nX-%s: %s\r\nY: %s\r\nX-Forwarded-For: 192.0.2.7"
		    "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
		    "Via: 1.1 hourglass\r\n\r\n", v, name, v, v);
		n = http_build_request(&m, buf, &fwd, out, sizeof out);
		ck_assert_int_eq(n, (ssize_t)wlen);
		ck_assert_mem_eq(out, want, wlen);
		for (size_t cap = 0; cap < wlen; cap++)
			ck_assert_int_eq(http_build_request(&m, buf, &fwd, out,
			    cap), -1);
		ck_assert_int_eq(http_build_request(&m, buf, &fwd, out, wlen),
		    (ssize_t)wlen);
		ck_assert_mem_eq(out, want, wlen);
		http_msg_free(&m);

		len = (size_t)snprintf(buf, sizeof buf, "HTTP/1.1 200 %s\r\n"
		    "X-%s:   %s  \r\nY: %s\r\n\r\n", vl ? v : "OK", name, v, v);
		parse_ok(HTTP_KIND_RESPONSE, &m, buf, len);
		wlen = (size_t)snprintf(want, sizeof want, "HTTP/1.1 200 %s\r\n"
		    "X-%s: %s\r\nY: %s\r\nConnection: close\r\n\r\n",
		    vl ? v : "OK", name, v, v);
		n = http_build_response(&m, buf, true, false, false, NULL, 0, out,
		    sizeof out);
		ck_assert_int_eq(n, (ssize_t)wlen);
		ck_assert_mem_eq(out, want, wlen);
		for (size_t cap = 0; cap < wlen; cap++)
			ck_assert_int_eq(http_build_response(&m, buf, true,
			    false, false, NULL, 0, out, cap), -1);
		http_msg_free(&m);
	}
}
END_TEST

/* Numbers the writers format: the propagated deadline and a status. */
START_TEST(test_build_numbers)
{
	static const int64_t ms[] = { -5, 0, 1, 9, 10, 99, 100, 101, 999,
	    1000, 12345, 99999, 4294967296LL, INT64_MAX };
	static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\n\r\n";
	struct http_fwd fwd = { .deadline_name = "X-D" };
	struct http_msg m;
	char out[256], want[256];
	ssize_t n;

	parse_ok(HTTP_KIND_REQUEST, &m, LIT(req));
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
		fwd.deadline_ms = ms[i];
		snprintf(want, sizeof want, "GET / HTTP/1.1\r\nHost: h\r\n"
		    "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
		    "X-D: %lld\r\n\r\n", ms[i] > 0 ? (long long)ms[i] : 0LL);
		n = http_build_request(&m, req, &fwd, out, sizeof out - 1);
		ck_assert_int_eq(n, (ssize_t)strlen(want));
		out[n] = '\0';
		ck_assert_str_eq(out, want);
	}
	http_msg_free(&m);

	parse_ok(HTTP_KIND_RESPONSE, &m, LIT(resp));
	for (int status = 0; status <= 1100; status++) {
		m.status = status;
		m.reason.len = 0;
		snprintf(want, sizeof want, "HTTP/1.1 %d %s\r\n\r\n", status,
		    http_reason(status));
		n = http_build_response(&m, resp, false, false, false, NULL, 0, out,
		    sizeof out - 1);
		ck_assert_int_eq(n, (ssize_t)strlen(want));
		out[n] = '\0';
		ck_assert_str_eq(out, want);
	}
	http_msg_free(&m);
}
END_TEST

/* Build the forwarded request and compare it with want. */
static void
fwd_is(const char *req, const struct http_fwd *fwd, const char *want)
{
	struct http_msg m;
	char out[2048];
	ssize_t n;

	parse_ok(HTTP_KIND_REQUEST, &m, req, strlen(req));
	n = http_build_request(&m, req, fwd, out, sizeof out);
	ck_assert_int_ge(n, 0);
	out[n] = '\0';
	ck_assert_str_eq(out, want);
	/* every shorter buffer is refused, never overrun */
	for (size_t cap = 0; cap < (size_t)n; cap += 1 + cap / 8)
		ck_assert_int_eq(http_build_request(&m, req, fwd, out, cap),
		    -1);
	ck_assert_int_eq(http_build_request(&m, req, fwd, out, (size_t)n), n);
	http_msg_free(&m);
}

START_TEST(test_build_request)
{
	struct http_fwd fwd = {
		.client_ip = "192.0.2.7",
		.proto = "http",
		.via = "1.1 hourglass",
		.deadline_name = "X-Request-Timeout",
		.deadline_ms = 1500,
	};
	struct http_fwd bare = { 0 };

	fwd_is("GET /p?q HTTP/1.1\r\n"
	    "Host: Example.com\r\nConnection: keep-alive, X-Hop, close\r\n"
	    "Keep-Alive: timeout=5\r\nX-Hop: 1\r\nTE: trailers\r\n"
	    "Trailer: X-T\r\nUpgrade: websocket\r\n"
	    "Proxy-Connection: keep-alive\r\nX-Forwarded-For: 10.0.0.1\r\n"
	    "Accept: */*\r\nx-forwarded-for: 10.0.0.2, 10.0.0.3\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
	    "Via: 1.0 first\r\nx-request-timeout: 99999\r\nVia: 1.1 second\r\n"
	    "Cookie: a=b\r\n\r\n", &fwd,
	    "GET /p?q HTTP/1.1\r\nHost: Example.com\r\nAccept: */*\r\n"
	    "Cookie: a=b\r\n"
	    "X-Forwarded-For: 10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7\r\n"
	    "X-Forwarded-Proto: http\r\nX-Forwarded-Host: Example.com\r\n"
	    "Via: 1.0 first, 1.1 second, 1.1 hourglass\r\n"
	    "X-Request-Timeout: 1500\r\n\r\n");

	/* body framing kept; Expect stripped; Connection cannot remove
	 * Host or the framing */
	fwd.strip_expect = true;
	fwd_is("POST /up HTTP/1.1\r\n"
	    "Connection: Content-Length, host, X-Forwarded-For\r\n"
	    "Host: h:8080\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
	    "\r\nabc", &fwd,
	    "POST /up HTTP/1.1\r\nHost: h:8080\r\nContent-Length: 3\r\n"
	    "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: h:8080\r\nVia: 1.1 hourglass\r\n"
	    "X-Request-Timeout: 1500\r\n\r\n");
	fwd.strip_expect = false;

	/* absolute-form: origin-form upstream, with a Host when none came */
	fwd_is("GET http://h.example:81/x/y HTTP/1.0\r\n"
	    "Transfer-Encoding-X: 1\r\n\r\n", &fwd,
	    "GET /x/y HTTP/1.1\r\nHost: h.example:81\r\n"
	    "Transfer-Encoding-X: 1\r\nX-Forwarded-For: 192.0.2.7\r\n"
	    "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h.example:81\r\n"
	    "Via: 1.1 hourglass\r\nX-Request-Timeout: 1500\r\n\r\n");
	fwd_is("GET http://h HTTP/1.1\r\nHost: H\r\n\r\n", &bare,
	    "GET / HTTP/1.1\r\nHost: H\r\nX-Forwarded-Proto: http\r\n"
	    "X-Forwarded-Host: H\r\n\r\n");

	/* HTTP/1.0 without Host; nothing to join, nothing added */
	fwd_is("GET / HTTP/1.0\r\nX-Forwarded-For: 1.2.3.4\r\nVia: a\r\n"
	    "Expect: 100-continue\r\n\r\n", &bare,
	    "GET / HTTP/1.1\r\nHost: \r\nX-Forwarded-For: 1.2.3.4\r\nVia: a\r\n"
	    "Expect: 100-continue\r\nX-Forwarded-Proto: http\r\n\r\n");
	bare.host = "backend";
	bare.proto = "https";
	fwd_is("GET / HTTP/1.0\r\n\r\n", &bare,
	    "GET / HTTP/1.1\r\nHost: backend\r\nX-Forwarded-Proto: https\r\n"
	    "\r\n");

	/* An upgrade goes out as we write it: the client's Connection and
	 * Upgrade are dropped, ours follow (h2c was left out by the caller). */
	bare.upgrade = "websocket";
	bare.upgrade_len = 9;
	fwd_is("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, X-A\r\n"
	    "X-A: 1\r\nUpgrade: websocket, h2c\r\nSec-WebSocket-Key: k\r\n\r\n",
	    &bare, "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\n"
	    "X-Forwarded-Proto: https\r\nX-Forwarded-Host: h\r\n"
	    "Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}
END_TEST

/* Build the relayed response and compare it with want. */
static void
resp_is(const char *resp, bool close, bool ka10, bool dechunk,
    const char *want)
{
	struct http_msg m;
	char out[2048];
	ssize_t n;

	parse_ok(HTTP_KIND_RESPONSE, &m, resp, strlen(resp));
	n = http_build_response(&m, resp, close, ka10, dechunk, NULL, 0, out,
	    sizeof out);
	ck_assert_int_ge(n, 0);
	out[n] = '\0';
	ck_assert_str_eq(out, want);
	for (size_t cap = 0; cap < (size_t)n; cap++)
		ck_assert_int_eq(http_build_response(&m, resp, close, ka10,
		    dechunk, NULL, 0, out, cap), -1);
	http_msg_free(&m);
}

START_TEST(test_build_response)
{
	static const char r1[] = "HTTP/1.1 200 Fine Thanks\r\n"
	    "Server: origin\r\nConnection: keep-alive, X-Secret\r\n"
	    "Keep-Alive: timeout=5\r\nX-Secret: s\r\nUpgrade: h2c\r\n"
	    "Proxy-Connection: close\r\nTrailer: X-T\r\nContent-Length: 2\r\n"
	    "\r\nhi";

	resp_is(r1, false, false, false,
	    "HTTP/1.1 200 Fine Thanks\r\nServer: origin\r\n"
	    "Content-Length: 2\r\n\r\n");
	resp_is(r1, true, false, false,
	    "HTTP/1.1 200 Fine Thanks\r\nServer: origin\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\n");
	resp_is(r1, false, true, false,
	    "HTTP/1.1 200 Fine Thanks\r\nServer: origin\r\n"
	    "Content-Length: 2\r\nConnection: keep-alive\r\n\r\n");
	resp_is("HTTP/1.1 404 \r\nTransfer-Encoding: chunked\r\n"
	    "X-A: b\r\n\r\n", true, false, true,
	    "HTTP/1.1 404 Not Found\r\nX-A: b\r\nConnection: close\r\n\r\n");
	resp_is("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    false, false, false,
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	resp_is("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    true, false, true,
	    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
	resp_is("HTTP/1.1 599\r\n\r\n", true, false, false,
	    "HTTP/1.1 599 Unknown\r\nConnection: close\r\n\r\n");

	/* Our Proxy-Status member goes after the upstream's own members,
	 * joined into one field (RFC 9209: the hop nearest the client is
	 * last); alone when the upstream sent none. */
	{
		static const char r2[] = "HTTP/1.1 504 Gateway Timeout\r\n"
		    "Proxy-Status: inner; error=http_response_timeout\r\n"
		    "X-A: b\r\nproxy-status: innermost\r\n"
		    "Content-Length: 0\r\n\r\n";
		static const char ps[] = "hourglass; received-status=504";
		struct http_msg m;
		char out[512];
		ssize_t n;

		parse_ok(HTTP_KIND_RESPONSE, &m, r2, strlen(r2));
		n = http_build_response(&m, r2, false, false, false, ps,
		    strlen(ps), out, sizeof out);
		ck_assert_int_gt(n, 0);
		out[n] = '\0';
		ck_assert_str_eq(out, "HTTP/1.1 504 Gateway Timeout\r\n"
		    "X-A: b\r\nContent-Length: 0\r\nProxy-Status: inner; "
		    "error=http_response_timeout, innermost, "
		    "hourglass; received-status=504\r\n\r\n");
		for (size_t cap = 0; cap < (size_t)n; cap++)
			ck_assert_int_eq(http_build_response(&m, r2, false,
			    false, false, ps, strlen(ps), out, cap), -1);
		http_msg_free(&m);
		parse_ok(HTTP_KIND_RESPONSE, &m, r1, strlen(r1));
		n = http_build_response(&m, r1, false, false, false, ps,
		    strlen(ps), out, sizeof out);
		ck_assert_int_gt(n, 0);
		out[n] = '\0';
		ck_assert_str_eq(out, "HTTP/1.1 200 Fine Thanks\r\n"
		    "Server: origin\r\nContent-Length: 2\r\n"
		    "Proxy-Status: hourglass; received-status=504\r\n\r\n");
		http_msg_free(&m);
	}
}
END_TEST

START_TEST(test_build_error)
{
	static const char want[] = "HTTP/1.1 504 Gateway Timeout\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 20\r\n"
	    "Connection: close\r\n\r\n504 Gateway Timeout\n";
	static const int codes[] = { 400, 404, 408, 413, 414, 431, 499, 500,
	    502, 503, 504 };
	char out[512], body[128];
	ssize_t n;

	n = http_build_error(504, true, out, sizeof out);
	ck_assert_int_eq(n, sizeof want - 1);
	ck_assert_mem_eq(out, want, sizeof want - 1);
	for (size_t cap = 0; cap < sizeof want - 1; cap++)
		ck_assert_int_eq(http_build_error(504, true, out, cap), -1);

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		const char *reason = http_reason(codes[i]);

		ck_assert_str_ne(reason, "Unknown");
		n = http_build_error(codes[i], false, out, sizeof out - 1);
		ck_assert_int_gt(n, 0);
		out[n] = '\0';
		snprintf(body, sizeof body, "\r\n\r\n%d %s\n", codes[i],
		    reason);
		ck_assert_ptr_nonnull(strstr(out, body));
		ck_assert_ptr_null(strstr(out, "Connection"));
	}
	ck_assert_str_eq(http_reason(499), "Client Closed Request");
	ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	ck_assert_int_eq(http_build_error(42, true, out, sizeof out), -1);

	/* Our Proxy-Status member, before Connection. */
	n = http_build_error_detail(502, true, "x", 1, "hourglass; error=e",
	    out, sizeof out - 1);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
	ck_assert_str_eq(out, "HTTP/1.1 502 Bad Gateway\r\n"
	    "Content-Type: text/plain\r\nContent-Length: 19\r\n"
	    "Proxy-Status: hourglass; error=e\r\nConnection: close\r\n\r\n"
	    "502 Bad Gateway: x\n");
}
END_TEST

/* A message's field array stays valid when the caller's buffer moves. */
START_TEST(test_buffer_moves)
{
	static const char req[] = "GET /moved HTTP/1.1\r\nHost: m\r\n"
	    "X-Long-Field-Name: a long value\r\n\r\n";
	size_t len = sizeof req - 1, off = 0, used;
	struct http_parser p;
	struct http_msg m;
	enum http_verdict v = HTTP_MORE;
	char *buf = NULL;

	http_parser_init(&p, HTTP_KIND_REQUEST, &m, &nolimits);
	for (size_t have = 1; have <= len && v == HTTP_MORE; have++) {
		/* a fresh allocation every time: the head moves */
		char *nb = malloc(have);

		ck_assert_ptr_nonnull(nb);
		memcpy(nb, req, have);
		free(buf);
		buf = nb;
		v = http_feed(&p, buf, buf + off, have - off, &used);
		off += used;
	}
	ck_assert_int_eq(v, HTTP_GOT_HEAD);
	SPAN_IS(buf, m.target, "/moved");
	SPAN_IS(buf, m.fields[1].name, "X-Long-Field-Name");
	SPAN_IS(buf, m.fields[1].value, "a long value");
	free(buf);
}
END_TEST

static Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_request_spans);
	tcase_add_loop_test(tc, test_good, 0, sizeof good / sizeof good[0]);
	tcase_add_test(tc, test_message_fields);
	tcase_add_test(tc, test_request_absolute);
	tcase_add_loop_test(tc, test_request_bad, 0,
	    sizeof bad_requests / sizeof bad_requests[0]);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_no_body_done);
	tcase_add_test(tc, test_content_length_split);
	tcase_add_loop_test(tc, test_chunked, 0,
	    sizeof chunked_good / sizeof chunked_good[0]);
	tcase_add_test(tc, test_chunked_cut);
	tcase_add_test(tc, test_chunked_limits);
	tcase_add_test(tc, test_framing_canonical);
	tcase_add_test(tc, test_interim);
	tcase_add_test(tc, test_upgrade);
	tcase_add_loop_test(tc, test_response_bad, 0,
	    sizeof bad_responses / sizeof bad_responses[0]);
	tcase_add_test(tc, test_many_fields);
	tcase_add_test(tc, test_list_has);
	tcase_add_test(tc, test_field_kinds);
	tcase_add_test(tc, test_field_names);
	tcase_add_test(tc, test_host_values);
	tcase_add_test(tc, test_field_repeats);
	tcase_add_test(tc, test_buffer_moves);
	suite_add_tcase(s, tc);

	tc = tcase_create("build");
	tcase_add_test(tc, test_build_request);
	tcase_add_test(tc, test_build_response);
	tcase_add_test(tc, test_build_error);
	tcase_add_test(tc, test_build_sizes);
	tcase_add_test(tc, test_build_numbers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
