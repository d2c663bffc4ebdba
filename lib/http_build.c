/*
 * http_build.c: writing message heads: the request forwarded upstream, the
 * response relayed to the client, and our own small error responses.
 *
 * Every writer makes one pass over the fields the parser recorded, using
 * the kind it gave each field (http.c), and copies names and values: no
 * formatting per field, no allocation.  Fields written in the head as
 * "Name: value\r\n" are copied as they stand, and a run of such lines that
 * follow each other (and the start line before them, when it is already as
 * we write it) is copied at once.  The room is checked once for the whole
 * head when it surely fits, else at each write.
 *
 * The framing fields are copied only when they are already canonical (the
 * parser says when not: HTTP_F_CL_ODD, HTTP_F_TE_ODD); otherwise they are
 * dropped and written anew at the end of the head.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "fmt.h"
#include "http_int.h"

/* Fields that concern one connection only, never relayed. */
#define HOP_BY_HOP	(HTTP_FK_BIT(HTTP_FK_CONNECTION) |		\
			 HTTP_FK_BIT(HTTP_FK_KEEP_ALIVE) |		\
			 HTTP_FK_BIT(HTTP_FK_TE) |			\
			 HTTP_FK_BIT(HTTP_FK_TRAILER) |			\
			 HTTP_FK_BIT(HTTP_FK_UPGRADE) |			\
			 HTTP_FK_BIT(HTTP_FK_PROXY_CONNECTION) |	\
			 HTTP_FK_BIT(HTTP_FK_CONN_NAMED))

/*
 * An output buffer that notes, rather than overruns, a lack of room.  When
 * a bound of what a head can take was found to fit, o_check is off and
 * nothing is checked.  The writers are all inline, so that it lives in
 * registers, and each builder is compiled twice, with and without checks.
 */
struct http_out {
	char	*o_p;
	char	*o_end;
	bool	 o_check;
	bool	 o_full;
};

#define HTTP_INLINE	inline __attribute__((always_inline))

/* Room for what a writer adds to the bytes of the head it rebuilds: the
 * start line, the fields of our own, the blank line, with spare. */
#define HTTP_BUILD_EXTRA	128

/*
 * Copy n bytes from s to p (which do not overlap).  Most of what a head
 * holds (a name, a value, a run of lines, a number) is short: up to 64
 * bytes are copied with loads and stores of the widest size that fits, the
 * last ones overlapping the first rather than touching a byte outside
 * either span, which is cheaper than a call.
 */
static HTTP_INLINE void
http_copy(char *p, const char *s, size_t n)
{
	if (n > 64)
		memcpy(p, s, n);
	else if (n > 32) {
		memcpy(p, s, 32);
		memcpy(p + n - 32, s + n - 32, 32);
	} else if (n >= 16) {
		memcpy(p, s, 16);
		memcpy(p + n - 16, s + n - 16, 16);
	} else if (n >= 8) {
		memcpy(p, s, 8);
		memcpy(p + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(p, s, 4);
		memcpy(p + n - 4, s + n - 4, 4);
	} else if (n > 0) {
		p[0] = s[0];
		p[n / 2] = s[n / 2];
		p[n - 1] = s[n - 1];
	}
}

/* The 8 bytes at p as a word, at any alignment. */
static HTTP_INLINE uint64_t
http_word(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* Append n bytes. */
static HTTP_INLINE void
http_put(struct http_out *o, const void *s, size_t n)
{
	if (o->o_check && (size_t)(o->o_end - o->o_p) < n) {
		o->o_full = true;
		return;
	}
	http_copy(o->o_p, s, n);
	o->o_p += n;
}

/* Append a string constant: its length is known, its copy inline. */
#define HTTP_PUT_LIT(o, s)	http_put((o), (s), sizeof(s) - 1)

/* Append a C string. */
static HTTP_INLINE void
http_put_str(struct http_out *o, const char *s)
{
	http_put(o, s, strlen(s));
}

/* Append a number in decimal (fmt.h), its length known first. */
static HTTP_INLINE void
http_put_num(struct http_out *o, uint64_t v)
{
	size_t n = fmt_u64_len(v);

	if (o->o_check && (size_t)(o->o_end - o->o_p) < n) {
		o->o_full = true;
		return;
	}
	fmt_u64_in(o->o_p, n, v);
	o->o_p += n;
}

/* Append "name: value\r\n", with one bound check. */
static HTTP_INLINE void
http_put_field(struct http_out *o, const char *head,
    const struct http_field *f)
{
	size_t n = (size_t)f->name.len + f->value.len + 4;
	char *p = o->o_p;

	if (o->o_check && (size_t)(o->o_end - p) < n) {
		o->o_full = true;
		return;
	}
	http_copy(p, head + f->name.off, f->name.len);
	p += f->name.len;
	*p++ = ':';
	*p++ = ' ';
	http_copy(p, head + f->value.off, f->value.len);
	p += f->value.len;
	*p++ = '\r';
	*p++ = '\n';
	o->o_p = p;
}

/* Append "name: " and the values of the fields of one kind joined with
 * ", ", then last (lastlen bytes), then CRLF.  name is a constant. */
static HTTP_INLINE void
http_put_joined(struct http_out *o, const struct http_msg *m,
    const char *head, const char *name, int kind, const char *last,
    size_t lastlen)
{
	const struct http_field *f;
	bool any = false;

	http_put(o, name, strlen(name));
	HTTP_PUT_LIT(o, ": ");
	if (m->known & HTTP_FK_BIT(kind)) {
		for (int i = 0; i < m->nfields; i++) {
			f = &m->fields[i];
			if (f->kind != kind || f->value.len == 0)
				continue;
			if (any)
				HTTP_PUT_LIT(o, ", ");
			http_put(o, head + f->value.off, f->value.len);
			any = true;
		}
	}
	if (any)
		HTTP_PUT_LIT(o, ", ");
	http_put(o, last, lastlen);
	HTTP_PUT_LIT(o, "\r\n");
}

/* The framing fields the parser found odd: dropped from the copy. */
static HTTP_INLINE uint32_t
http_framing_drop(const struct http_msg *m)
{
	uint32_t drop = 0;

	if (m->flags & HTTP_F_CL_ODD)
		drop |= HTTP_FK_BIT(HTTP_FK_CONTENT_LENGTH);
	if (m->flags & HTTP_F_TE_ODD)
		drop |= HTTP_FK_BIT(HTTP_FK_TRANSFER_ENCODING);
	return drop;
}

/* Write anew the framing fields that were dropped (drop: their bits). */
static HTTP_INLINE void
http_put_framing(struct http_out *o, const struct http_msg *m, uint32_t drop)
{
	if (drop & HTTP_FK_BIT(HTTP_FK_CONTENT_LENGTH)) {
		HTTP_PUT_LIT(o, "Content-Length: ");
		http_put_num(o, (uint64_t)m->content_length);
		HTTP_PUT_LIT(o, "\r\n");
	}
	if (drop & HTTP_FK_BIT(HTTP_FK_TRANSFER_ENCODING))
		HTTP_PUT_LIT(o, "Transfer-Encoding: chunked\r\n");
}

/* Lines of the source head waiting to be copied as they stand. */
struct http_run {
	uint32_t	 r_off;
	uint32_t	 r_end;
};

/* Copy the pending run of lines, if any. */
static HTTP_INLINE void
http_run_flush(struct http_out *o, const char *head, struct http_run *r)
{
	if (r->r_end != r->r_off)
		http_put(o, head + r->r_off, r->r_end - r->r_off);
	r->r_off = r->r_end = 0;
}

/*
 * Write a field that is kept: add its line to the run when it is written
 * in the head as "Name: value\r\n" (the parser checked that every line
 * ends with CRLF) and follows the run, else write it out.
 */
static HTTP_INLINE void
http_put_kept(struct http_out *o, const char *head, struct http_run *r,
    const struct http_field *f)
{
	uint32_t colon = f->name.off + f->name.len;
	uint32_t end = f->value.off + f->value.len;

	if (f->value.off == colon + 2 && head[colon + 1] == ' ' &&
	    head[end] == '\r') {
		if (f->name.off != r->r_end || r->r_end == r->r_off) {
			http_run_flush(o, head, r);
			r->r_off = f->name.off;
		}
		r->r_end = end + 2;
		return;
	}
	http_run_flush(o, head, r);
	http_put_field(o, head, f);
}

/* The length written, or -1 when it did not fit. */
static HTTP_INLINE ssize_t
http_out_len(const struct http_out *o, const char *out)
{
	return o->o_full ? -1 : (ssize_t)(o->o_p - out);
}

/* The lengths of the strings a forwarded head takes from struct http_fwd. */
struct http_fwd_len {
	size_t		 ip;
	size_t		 proto;
	size_t		 via;
	size_t		 deadline;
	size_t		 host;
};

/* Write the head to forward upstream (the body of http_build_request). */
static HTTP_INLINE void
http_request_write(struct http_out *o, const struct http_msg *m,
    const char *head, const struct http_fwd *fwd,
    const struct http_fwd_len *l)
{
	struct http_run run = { 0, 0 };
	const struct http_field *f;
	uint32_t drop, end, reframe = 0;

	drop = HOP_BY_HOP | HTTP_FK_BIT(HTTP_FK_XFP) | HTTP_FK_BIT(HTTP_FK_XFH);
	if (m->flags & (HTTP_F_CL_ODD | HTTP_F_TE_ODD)) {
		reframe = http_framing_drop(m);
		drop |= reframe;
	}
	if (fwd->client_ip != NULL)
		drop |= HTTP_FK_BIT(HTTP_FK_XFF);
	if (fwd->via != NULL)
		drop |= HTTP_FK_BIT(HTTP_FK_VIA);
	if (fwd->strip_expect)
		drop |= HTTP_FK_BIT(HTTP_FK_EXPECT);
	if (fwd->request_id != NULL)
		drop |= HTTP_FK_BIT(HTTP_FK_REQUEST_ID);
	if (fwd->grpc_ms > 0)
		drop |= HTTP_FK_BIT(HTTP_FK_GRPC_TIMEOUT);

	/* A request line that is already "METHOD target HTTP/1.1" starts
	 * the run of lines copied as they stand. */
	end = m->target.off + m->target.len;
	if (!(m->flags & HTTP_F_ABSOLUTE) &&
	    m->target.off == m->method.off + m->method.len + 1 &&
	    head[m->target.off - 1] == ' ' &&
	    memcmp(head + end, " HTTP/1.1\r\n", 11) == 0) {
		run.r_off = m->method.off;
		run.r_end = end + 11;
	} else {
		http_put(o, head + m->method.off, m->method.len);
		HTTP_PUT_LIT(o, " ");
		if (m->flags & HTTP_F_ABSOLUTE)
			http_put(o, head + m->path.off, m->path.len);
		else
			http_put(o, head + m->target.off, m->target.len);
		HTTP_PUT_LIT(o, " HTTP/1.1\r\n");
	}
	if (m->host < 0) {
		http_run_flush(o, head, &run);
		HTTP_PUT_LIT(o, "Host: ");
		if (m->authority.len > 0)
			http_put(o, head + m->authority.off, m->authority.len);
		else if (fwd->host != NULL)
			http_put(o, fwd->host, l->host);
		HTTP_PUT_LIT(o, "\r\n");
	}

	for (int i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (HTTP_FK_BIT(f->kind) & drop)
			continue;
		if (l->deadline != 0 && f->kind == HTTP_FK_OTHER &&
		    f->name.len == l->deadline &&
		    strncasecmp(head + f->name.off, fwd->deadline_name,
		    l->deadline) == 0)
			continue;
		http_put_kept(o, head, &run, f);
	}
	http_run_flush(o, head, &run);
	if (reframe != 0)
		http_put_framing(o, m, reframe);

	if (fwd->client_ip != NULL) {
		http_put_joined(o, m, head, "X-Forwarded-For", HTTP_FK_XFF,
		    fwd->client_ip, l->ip);
	}
	HTTP_PUT_LIT(o, "X-Forwarded-Proto: ");
	if (fwd->proto != NULL)
		http_put(o, fwd->proto, l->proto);
	else
		HTTP_PUT_LIT(o, "http");
	HTTP_PUT_LIT(o, "\r\n");
	if (m->authority.len > 0) {
		HTTP_PUT_LIT(o, "X-Forwarded-Host: ");
		http_put(o, head + m->authority.off, m->authority.len);
		HTTP_PUT_LIT(o, "\r\n");
	}
	if (fwd->via != NULL) {
		http_put_joined(o, m, head, "Via", HTTP_FK_VIA, fwd->via,
		    l->via);
	}
	if (fwd->request_id != NULL) {
		HTTP_PUT_LIT(o, "X-Request-Id: ");
		http_put(o, fwd->request_id, fwd->request_id_len);
		HTTP_PUT_LIT(o, "\r\n");
	}
	if (l->deadline != 0) {
		http_put(o, fwd->deadline_name, l->deadline);
		HTTP_PUT_LIT(o, ": ");
		http_put_num(o, fwd->deadline_ms > 0 ?
		    (uint64_t)fwd->deadline_ms : 0);
		HTTP_PUT_LIT(o, "\r\n");
	}
	if (fwd->grpc_ms > 99999999) {		/* 8 digits at most */
		HTTP_PUT_LIT(o, "grpc-timeout: ");
		http_put_num(o, (uint64_t)fwd->grpc_ms / 1000);
		HTTP_PUT_LIT(o, "S\r\n");
	} else if (fwd->grpc_ms > 0) {
		HTTP_PUT_LIT(o, "grpc-timeout: ");
		http_put_num(o, (uint64_t)fwd->grpc_ms);
		HTTP_PUT_LIT(o, "m\r\n");
	}
	if (fwd->upgrade != NULL) {
		HTTP_PUT_LIT(o, "Connection: upgrade\r\nUpgrade: ");
		http_put(o, fwd->upgrade, fwd->upgrade_len);
		HTTP_PUT_LIT(o, "\r\n");
	}
	HTTP_PUT_LIT(o, "\r\n");
}

/*
 * Write the head to forward upstream; see http.h.  Each kept field takes
 * at most one byte more than its line in the head ("a:b" becomes "a: b"),
 * each joined one less, so when the head, one byte a field, the strings of
 * fwd, the authority twice and HTTP_BUILD_EXTRA fit, nothing is checked.
 * A message without head_len was not parsed to its end: always checked.
 */
ssize_t
http_build_request(const struct http_msg *m, const char *head,
    const struct http_fwd *fwd, char *out, size_t cap)
{
	struct http_out o = { out, out + cap, false, false };
	struct http_fwd_len l = { 0, 0, 0, 0, 0 };
	size_t bound;

	if (fwd->client_ip != NULL)
		l.ip = strlen(fwd->client_ip);
	if (fwd->proto != NULL)
		l.proto = strlen(fwd->proto);
	if (fwd->via != NULL)
		l.via = strlen(fwd->via);
	if (fwd->deadline_name != NULL)
		l.deadline = strlen(fwd->deadline_name);
	if (m->host < 0 && m->authority.len == 0 && fwd->host != NULL)
		l.host = strlen(fwd->host);
	bound = (size_t)m->head_len + m->nfields + 2 * m->authority.len +
	    l.ip + l.proto + l.via + l.deadline + l.host + HTTP_BUILD_EXTRA +
	    (fwd->request_id != NULL ? fwd->request_id_len + 16 : 0) +
	    (fwd->upgrade != NULL ? fwd->upgrade_len + 32 : 0) +
	    (fwd->grpc_ms > 0 ? 40 : 0);
	if (m->head_len != 0 && bound <= cap)
		http_request_write(&o, m, head, fwd, &l);
	else {
		o.o_check = true;
		http_request_write(&o, m, head, fwd, &l);
	}
	return http_out_len(&o, out);
}

/* Write the head to send the client (the body of http_build_response). */
static HTTP_INLINE void
http_response_write(struct http_out *o, const struct http_msg *m,
    const char *head, bool close, bool keepalive10, bool dechunk,
    const char *ps, size_t pslen)
{
	struct http_run run = { 0, 0 };
	const struct http_field *f;
	uint32_t drop = HOP_BY_HOP, end, reframe = 0;
	char line[13], *code = line + 9;

	if (m->flags & (HTTP_F_CL_ODD | HTTP_F_TE_ODD)) {
		reframe = http_framing_drop(m);
		drop |= reframe;
	}
	if (dechunk) {
		drop |= HTTP_FK_BIT(HTTP_FK_TRANSFER_ENCODING);
		reframe &= ~HTTP_FK_BIT(HTTP_FK_TRANSFER_ENCODING);
	}
	if (m->flags & HTTP_F_UPGRADE)		/* a 101: relay the protocol */
		drop &= ~HTTP_FK_BIT(HTTP_FK_UPGRADE);
	if (ps != NULL)				/* joined, ours last */
		drop |= HTTP_FK_BIT(HTTP_FK_PROXY_STATUS);
	/* A status line that is already "HTTP/1.1 status reason" starts the
	 * run of lines copied as they stand.  Its first 13 bytes are compared
	 * as two overlapping words (the reason phrase begins after them). */
	if (m->status >= 100 && m->status <= 999) {
		memcpy(line, "HTTP/1.1 ", 9);
		fmt_u32_pad(code, (uint32_t)m->status, 3);
		code[3] = ' ';
		end = m->reason.off + m->reason.len;
		if (m->reason.len > 0 && m->reason.off == 13 &&
		    http_word(head) == http_word(line) &&
		    http_word(head + 5) == http_word(line + 5) &&
		    head[end] == '\r' && head[end + 1] == '\n')
			run.r_end = end + 2;
		else {
			HTTP_PUT_LIT(o, "HTTP/1.1 ");
			http_put(o, code, 4);
		}
	} else {
		HTTP_PUT_LIT(o, "HTTP/1.1 ");
		http_put_num(o, m->status > 0 ? (uint64_t)m->status : 0);
		HTTP_PUT_LIT(o, " ");
	}
	if (run.r_end == 0) {
		if (m->reason.len > 0)
			http_put(o, head + m->reason.off, m->reason.len);
		else
			http_put_str(o, http_reason(m->status));
		HTTP_PUT_LIT(o, "\r\n");
	}
	for (int i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (!(HTTP_FK_BIT(f->kind) & drop))
			http_put_kept(o, head, &run, f);
	}
	http_run_flush(o, head, &run);
	if (reframe != 0)
		http_put_framing(o, m, reframe);
	if (ps != NULL)
		http_put_joined(o, m, head, "Proxy-Status", HTTP_FK_PROXY_STATUS,
		    ps, pslen);
	if (m->flags & HTTP_F_UPGRADE)
		HTTP_PUT_LIT(o, "Connection: upgrade\r\n");
	else if (close)
		HTTP_PUT_LIT(o, "Connection: close\r\n");
	else if (keepalive10)
		HTTP_PUT_LIT(o, "Connection: keep-alive\r\n");
	HTTP_PUT_LIT(o, "\r\n");
}

/* Write the head to send the client; see http.h.  As for a request, the
 * head, one byte a field and HTTP_BUILD_EXTRA bound it (a reason phrase
 * of our own is shorter than that). */
ssize_t
http_build_response(const struct http_msg *m, const char *head, bool close,
    bool keepalive10, bool dechunk, const char *ps, size_t pslen, char *out,
    size_t cap)
{
	struct http_out o = { out, out + cap, false, false };

	if (m->head_len != 0 && (size_t)m->head_len + m->nfields + pslen +
	    (ps != NULL ? 32 : 0) + HTTP_BUILD_EXTRA <= cap)
		http_response_write(&o, m, head, close, keepalive10, dechunk,
		    ps, pslen);
	else {
		o.o_check = true;
		http_response_write(&o, m, head, close, keepalive10, dechunk,
		    ps, pslen);
	}
	return http_out_len(&o, out);
}

/* A complete small response of our own, with a short text body:
 * "<status> <reason>\n". */
ssize_t
http_build_error(int status, bool close, char *out, size_t cap)
{
	return http_build_error_detail(status, close, NULL, 0, NULL, out, cap);
}

/* The same, with a detail on the body's line: "<status> <reason>: detail". */
ssize_t
http_build_error_detail(int status, bool close, const char *detail,
    size_t detail_len, const char *ps, char *out, size_t cap)
{
	struct http_out o = { out, out + cap, true, false };
	const char *reason = http_reason(status);
	char code[4];

	if (status < 100 || status > 999)
		return -1;
	fmt_u32_pad(code, (uint32_t)status, 3);
	code[3] = ' ';

	HTTP_PUT_LIT(&o, "HTTP/1.1 ");
	http_put(&o, code, sizeof code);
	http_put_str(&o, reason);
	HTTP_PUT_LIT(&o, "\r\nContent-Type: text/plain\r\nContent-Length: ");
	http_put_num(&o, sizeof code + strlen(reason) + 1 +
	    (detail != NULL ? 2 + detail_len : 0));
	HTTP_PUT_LIT(&o, "\r\n");
	if (ps != NULL) {
		HTTP_PUT_LIT(&o, "Proxy-Status: ");
		http_put_str(&o, ps);
		HTTP_PUT_LIT(&o, "\r\n");
	}
	if (close)
		HTTP_PUT_LIT(&o, "Connection: close\r\n");
	HTTP_PUT_LIT(&o, "\r\n");
	http_put(&o, code, sizeof code);
	http_put_str(&o, reason);
	if (detail != NULL) {
		HTTP_PUT_LIT(&o, ": ");
		http_put(&o, detail, detail_len);
	}
	HTTP_PUT_LIT(&o, "\n");
	return http_out_len(&o, out);
}

/* The reason phrase for a status code. */
const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 203: return "Non-Authoritative Information";
	case 204: return "No Content";
	case 205: return "Reset Content";
	case 206: return "Partial Content";
	case 300: return "Multiple Choices";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 417: return "Expectation Failed";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 428: return "Precondition Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 499: return "Client Closed Request";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	}
	return "Unknown";
}
