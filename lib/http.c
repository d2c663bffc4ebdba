/* http.c: HTTP/1.1 message parsing and framing over llhttp. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_int.h"

/* Parser states (hp_state). */
enum {
	ST_IDLE,	/* no byte of a message yet */
	ST_HEAD,	/* in the head */
	ST_BODY,	/* in the body */
	ST_NOBODY,	/* HTTP_GOT_HEAD returned; no body follows */
	ST_DONE,	/* HTTP_DONE returned */
	ST_ERROR,	/* failed; hp_err holds the verdict */
};

/* hp_pflags: what the fields said so far. */
#define P_CONN_CLOSE	0x08	/* Connection: close */
#define P_CONN_KA	0x10	/* Connection: keep-alive */
#define P_TE_CHUNKED	0x20	/* the last transfer coding is chunked */
#define P_TE_BAD	0x40	/* a coding follows chunked */
#define P_TE_OTHER	0x80	/* a coding other than chunked */
#define P_TE_SEEN	0x100	/* a Transfer-Encoding field came */
#define P_CONN_UPGRADE	0x200	/* Connection: upgrade */

/* hp_tok: the token whose span is open, so that a piece of one token never
 * extends another.  A token ends when one of another kind starts; only the
 * fields need their end noted (a field name may follow an empty value). */
enum { T_NONE, T_URL, T_VERSION, T_STATUS, T_NAME, T_VALUE };

/* At most this many names listed by Connection (fields are matched). */
#define CONN_OPTS_MAX	16

/* Functions kept out of line so that their callers, on the common path,
 * stay small and save no registers; HTTP_COLD for the rare paths. */
#define HTTP_NOINLINE	__attribute__((noinline))
#define HTTP_COLD	__attribute__((noinline, cold))

/* ASCII lower case of c. */
static inline unsigned char
http_lc(unsigned char c)
{
	return (unsigned)(c - 'A') < 26 ? c | 0x20 : c;
}

/* Whether n bytes at s equal lit, which is in lower case, ignoring case. */
static inline bool
http_eq_lit(const char *s, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (http_lc((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	}
	return true;
}

/* Whether n bytes at a and at b are equal, ignoring case. */
static bool
http_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (http_lc((unsigned char)a[i]) !=
		    http_lc((unsigned char)b[i]))
			return false;
	}
	return true;
}

/* An unaligned load, for looking at field names a word at a time. */
static inline uint64_t
http_ld64(const char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

/* Loads of two and four bytes at any alignment. */
static inline uint64_t
http_ld16(const char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint64_t
http_ld32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof v);
	return v;
}

#define HTTP_ONES	0x0101010101010101ULL

/* Whether a word holds a byte below 0x21: a space, a CR, a LF or another
 * control character (exact for any bytes, borrows notwithstanding). */
static inline bool
http_word_has_low(uint64_t w)
{
	return ((w - HTTP_ONES * 0x21) & ~w & (HTTP_ONES << 7)) != 0;
}

/*
 * The bytes of a name of 1 to 16 bytes as two words: the first and the
 * last 8, 4, 2 or 1 of them, the widest loads that fit, which overlap
 * rather than read outside the name, the bytes a narrow load leaves made
 * 0x7f (not below 0x21).  Names are tokens, and in a token OR-ing 0x20
 * into a byte folds exactly the upper-case letters onto the lower-case
 * ones, so two folded words compare a name at once.
 */
static inline void
http_name_words(const char *s, size_t n, uint64_t *a, uint64_t *b)
{
	if (n >= 8) {
		*a = http_ld64(s);
		*b = http_ld64(s + n - 8);
	} else if (n >= 4) {
		*a = http_ld32(s) | 0x7f7f7f7f00000000ULL;
		*b = http_ld32(s + n - 4) | 0x7f7f7f7f00000000ULL;
	} else if (n >= 2) {
		*a = http_ld16(s) | 0x7f7f7f7f7f7f0000ULL;
		*b = http_ld16(s + n - 2) | 0x7f7f7f7f7f7f0000ULL;
	} else
		*a = *b = (unsigned char)s[0] | 0x7f7f7f7f7f7f7f00ULL;
}

/* Whether the folded words of a name are those of lit, which holds n
 * lower-case letters and dashes (a constant: this folds at compile time). */
static inline bool
http_words_are(uint64_t a, uint64_t b, const char *lit, size_t n)
{
	uint64_t la, lb;

	http_name_words(lit, n, &la, &lb);
	return a == (la | HTTP_ONES * 0x20) && b == (lb | HTTP_ONES * 0x20);
}

#define HTTP_ARE(a, b, lit)	http_words_are((a), (b), (lit), sizeof(lit) - 1)

/*
 * Whether a field name of n bytes is lit, which holds n lower-case letters
 * and dashes, ignoring case, a word at a time (the last load overlaps
 * instead of reading past the name).
 */
static inline bool
http_name_is(const char *s, size_t n, const char *lit)
{
	const uint64_t lc = HTTP_ONES * 0x20;
	size_t i;

	for (i = 0; i + 8 < n; i += 8) {
		if ((http_ld64(s + i) | lc) != http_ld64(lit + i))
			return false;
	}
	return (http_ld64(s + n - 8) | lc) == http_ld64(lit + n - 8);
}

/* Whether n bytes at s, at least 8, hold a byte below 0x21, a word at a
 * time (the last word overlaps instead of reading past the end). */
static bool
http_has_low(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i + 8 < n; i += 8) {
		if (http_word_has_low(http_ld64(s + i)))
			return true;
	}
	return http_word_has_low(http_ld64(s + n - 8));
}

/* http_name_kind() for a name of more than 16 bytes. */
static HTTP_NOINLINE int
http_name_kind_long(const char *s, size_t n)
{
	if (http_has_low(s, n))
		return -1;
	if (n != 17)
		return HTTP_FK_OTHER;
	if (http_name_is(s, n, "transfer-encoding"))
		return HTTP_FK_TRANSFER_ENCODING;
	if (http_name_is(s, n, "x-forwarded-proto"))
		return HTTP_FK_XFP;
	return HTTP_FK_OTHER;
}

/*
 * Which of the field names we act on a name of n bytes (at least 1) is, or
 * -1 when it holds a space (llhttp's loose build takes spaces in a name and
 * before the colon, and no other byte below 0x21, which is what is looked
 * for, as cheaper): a length switch, then one compare of two folded words
 * (two compares for a few lengths).
 */
static inline int
http_name_kind(const char *s, size_t n)
{
	uint64_t a, b;

	if (n > 16)
		return http_name_kind_long(s, n);
	http_name_words(s, n, &a, &b);
	if (http_word_has_low(a) || http_word_has_low(b))
		return -1;
	a |= HTTP_ONES * 0x20;
	b |= HTTP_ONES * 0x20;
	switch (n) {
	case 2:
		if (HTTP_ARE(a, b, "te"))
			return HTTP_FK_TE;
		break;
	case 3:
		if (HTTP_ARE(a, b, "via"))
			return HTTP_FK_VIA;
		break;
	case 4:
		if (HTTP_ARE(a, b, "host"))
			return HTTP_FK_HOST;
		break;
	case 6:
		if (HTTP_ARE(a, b, "expect"))
			return HTTP_FK_EXPECT;
		break;
	case 7:
		if (HTTP_ARE(a, b, "trailer"))
			return HTTP_FK_TRAILER;
		if (HTTP_ARE(a, b, "upgrade"))
			return HTTP_FK_UPGRADE;
		break;
	case 12:
		if (HTTP_ARE(a, b, "x-request-id"))
			return HTTP_FK_REQUEST_ID;
		if (HTTP_ARE(a, b, "proxy-status"))
			return HTTP_FK_PROXY_STATUS;
		if (HTTP_ARE(a, b, "grpc-timeout"))
			return HTTP_FK_GRPC_TIMEOUT;
		break;
	case 10:
		if (HTTP_ARE(a, b, "connection"))
			return HTTP_FK_CONNECTION;
		if (HTTP_ARE(a, b, "keep-alive"))
			return HTTP_FK_KEEP_ALIVE;
		break;
	case 14:
		if (HTTP_ARE(a, b, "content-length"))
			return HTTP_FK_CONTENT_LENGTH;
		break;
	case 15:
		if (HTTP_ARE(a, b, "x-forwarded-for"))
			return HTTP_FK_XFF;
		break;
	case 16:
		if (HTTP_ARE(a, b, "x-forwarded-host"))
			return HTTP_FK_XFH;
		if (HTTP_ARE(a, b, "proxy-connection"))
			return HTTP_FK_PROXY_CONNECTION;
		break;
	}
	return HTTP_FK_OTHER;
}

/* Step to the next element of a comma-separated list, trimmed of
 * whitespace; empty elements are skipped.  Returns false at the end. */
static bool
http_list_next(const char **pp, const char *end, const char **tok,
    size_t *toklen)
{
	const char *p = *pp, *s, *e;

	while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
		p++;
	if (p == end)
		return false;
	s = p;
	while (p < end && *p != ',')
		p++;
	for (e = p; e > s && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*tok = s;
	*toklen = (size_t)(e - s);
	*pp = p;
	return true;
}

/* Whether a comma-separated field value lists token (case-insensitive). */
bool
http_list_has(const char *value, size_t len, const char *token)
{
	const char *p = value, *tok;
	size_t n = strlen(token), toklen;

	while (http_list_next(&p, value + len, &tok, &toklen)) {
		if (toklen == n && http_eq(tok, token, n))
			return true;
	}
	return false;
}

/* The characters of a host[:port]: those of a reg-name, an IP literal and
 * a port; no userinfo, path or whitespace. */
static const uint8_t http_host_chars[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['-'] = 1,
	['.'] = 1, ['_'] = 1, ['~'] = 1, ['!'] = 1, ['$'] = 1, ['&'] = 1,
	['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
	[';'] = 1, ['='] = 1, ['%'] = 1, [':'] = 1, ['['] = 1, [']'] = 1,
};

/* Whether the 4 bytes at p are all of a host[:port]. */
#define HTTP_HOST4(p)							\
	(http_host_chars[(p)[0]] & http_host_chars[(p)[1]] &		\
	 http_host_chars[(p)[2]] & http_host_chars[(p)[3]])

/* Whether n bytes at s form a plausible host[:port]: eight bytes a turn,
 * without a branch for each, the last ones overlapping the others. */
static bool
http_host_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned ok = 1;
	size_t i;

	if (n < 4) {
		for (i = 0; i < n; i++)
			ok &= http_host_chars[p[i]];
		return ok != 0;
	}
	if (n < 8)
		return (HTTP_HOST4(p) & HTTP_HOST4(p + n - 4)) != 0;
	for (i = 0; i + 8 < n; i += 8)
		ok &= HTTP_HOST4(p + i) & HTTP_HOST4(p + i + 4);
	p += n - 8;
	return (ok & HTTP_HOST4(p) & HTTP_HOST4(p + 4)) != 0;
}

/*
 * Whether n bytes at s are all printable ASCII (0x21 to 0x7e), a word at a
 * time: llhttp's loose build takes HTAB, FF and bytes from 0x80 in a
 * target, which a strict parser refuses and some split the request line
 * on.  Clients percent-encode them.  (DEL llhttp refuses itself.)
 */
static bool
http_target_chars(const char *s, size_t n)
{
	uint64_t w;
	size_t i;

	for (i = 0; i + 8 <= n; i += 8) {
		w = http_ld64(s + i);
		if (http_word_has_low(w) || (w & (HTTP_ONES << 7)))
			return false;
	}
	for (; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] >= 0x80)
			return false;
	}
	return true;
}

/* Record why parsing failed (the first reason wins); for callbacks. */
static int
http_cb_fail(struct http_parser *hp, enum http_verdict v, const char *why)
{
	if (hp->hp_err == 0) {
		hp->hp_err = v;
		hp->hp_reason = why;
	}
	return -1;
}

/* Refuse a malformed or ambiguous message, from a callback. */
#define HTTP_BAD(hp, why)	http_cb_fail((hp), HTTP_ERR_BAD, (why))

/* Fail the parser for good and return the verdict. */
static enum http_verdict
http_fail(struct http_parser *hp, enum http_verdict v, const char *why)
{
	http_cb_fail(hp, v, why);
	hp->hp_state = ST_ERROR;
	return hp->hp_err;
}

/*
 * The callbacks.  llhttp may deliver a token in pieces (one per feed); the
 * head is contiguous in the caller's buffer, so the first piece gives the
 * offset and the others extend it: a gap is an error.  The callbacks skip
 * empty pieces: llhttp gives some at a feed boundary, and one for an empty
 * field value after the CRLF that ends it.  They run in the head only: the
 * body's settings have none of them (trailer fields are not kept).
 */

/* A piece of the reason phrase of a response. */
static int
http_on_reason(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *hp = ll->data;
	struct http_span *s = &hp->hp_msg->reason;
	uint32_t off = (uint32_t)(at - hp->hp_base);

	if (len == 0)
		return 0;
	if (hp->hp_tok != T_STATUS) {
		hp->hp_tok = T_STATUS;
		s->off = off;
	} else if (off != s->off + s->len)
		return HTTP_BAD(hp, "invalid character");
	s->len = off + (uint32_t)len - s->off;
	return 0;
}

/*
 * A piece of the request target: enforce max_uri as soon as it is passed.
 * The first piece also gives the method, which needs no callback of its
 * own: llhttp takes CR and LF before a request, then the method, then
 * spaces (one only, checked here), and head is the message's first byte.
 */
static int
http_on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *hp = ll->data;
	struct http_msg *m = hp->hp_msg;
	uint32_t off = (uint32_t)(at - hp->hp_base), i;

	if (len == 0)
		return 0;
	if (hp->hp_tok != T_URL) {
		hp->hp_tok = T_URL;
		m->target.off = off;
		m->target.len = (uint32_t)len;
		for (i = 0; hp->hp_base[i] == '\r' || hp->hp_base[i] == '\n'; i++)
			;
		m->method.off = i;
		m->method.len = off - 1 - i;
		if (at[-2] == ' ')
			return HTTP_BAD(hp, "bad request line");
	} else if (off == m->target.off + m->target.len)
		m->target.len += (uint32_t)len;
	else
		return HTTP_BAD(hp, "invalid character");
	if (m->target.len > hp->hp_limits.max_uri && hp->hp_limits.max_uri != 0)
		return http_cb_fail(hp, HTTP_ERR_URI, "target too long");
	return 0;
}

/*
 * The version digits: check that the start line around them is exactly
 * "METHOD SP target SP HTTP/" or "HTTP/" at the first byte, which llhttp's
 * loose build does not (extra spaces, RTSP/ and ICE/ versions).
 */
static int
http_on_version(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *hp = ll->data;
	struct http_msg *m = hp->hp_msg;
	uint32_t off = (uint32_t)(at - hp->hp_base), want;

	if (len == 0 || hp->hp_tok == T_VERSION)
		return 0;
	hp->hp_tok = T_VERSION;
	if (ll->type == HTTP_REQUEST) {
		want = m->target.off + m->target.len + 6;
		if (off != want || at[-6] != ' ')
			return HTTP_BAD(hp, "bad start line");
	} else if (off != 5)
		return HTTP_BAD(hp, "bad start line");
	if (memcmp(at - 5, "HTTP/", 5) != 0)
		return HTTP_BAD(hp, "bad start line");
	return 0;
}

static int	http_on_field(llhttp_t *, const char *, size_t);

/* Make room for one more field in a message. */
static int
http_msg_grow(struct http_msg *m)
{
	struct http_field *f;
	size_t cap = (size_t)m->cap * 2;

	if (cap > UINT16_MAX)
		cap = UINT16_MAX;
	if (cap <= m->cap)
		return -1;
	if (m->fields == m->inline_fields) {
		if ((f = malloc(cap * sizeof *f)) == NULL)
			return -1;
		memcpy(f, m->inline_fields, m->nfields * sizeof *f);
	} else if ((f = realloc(m->fields, cap * sizeof *f)) == NULL)
		return -1;
	m->fields = f;
	m->cap = (uint16_t)cap;
	return 0;
}

/* The first piece of a field name when the field array is full: grow it,
 * then take the piece. */
static HTTP_COLD int
http_on_field_grow(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *hp = ll->data;

	if (http_msg_grow(hp->hp_msg) != 0)
		return http_cb_fail(hp, HTTP_ERR_HEADER,
		    "too many header fields");
	return http_on_field(ll, at, len);
}

/*
 * A piece of a field name.  A field must start a line ended by CRLF:
 * llhttp's loose build takes a bare LF after the start line.
 */
static int
http_on_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *hp = ll->data;
	struct http_msg *m;
	struct http_field *f;
	uint32_t off = (uint32_t)(at - hp->hp_base);

	if (len == 0)
		return 0;
	if (hp->hp_tok == T_NAME) {
		f = hp->hp_field;
		if (off != f->name.off + f->name.len)
			return HTTP_BAD(hp, "invalid character");
		f->name.len += (uint32_t)len;
		return 0;
	}
	m = hp->hp_msg;
	if (m->nfields == m->cap)
		return http_on_field_grow(ll, at, len);
	if (at[-1] != '\n' || at[-2] != '\r')
		return HTTP_BAD(hp, "line not ended by CRLF");
	hp->hp_tok = T_NAME;
	hp->hp_field = f = &m->fields[m->nfields];
	f->name.off = off;
	f->name.len = (uint32_t)len;
	return 0;
}

/* Note a field of a known kind (its name is complete). */
static int
http_field_kind(struct http_parser *hp, struct http_field *f, int kind)
{
	struct http_msg *m = hp->hp_msg;

	if (kind < 0)
		return HTTP_BAD(hp, "invalid field name");
	f->kind = (uint8_t)kind;
	if (kind == HTTP_FK_HOST) {
		if (m->host >= 0)
			return HTTP_BAD(hp, "two Hosts");
		m->host = m->nfields;
	} else if (kind == HTTP_FK_CONTENT_LENGTH) {
		if (m->flags & HTTP_F_LENGTH)
			return HTTP_BAD(hp, "more than one Content-Length");
		m->flags |= HTTP_F_LENGTH;
	}
	m->known |= HTTP_FK_BIT(kind);
	return 0;
}

/* A field name is complete: check it, and note the names we act on. */
static int
http_on_field_complete(llhttp_t *ll)
{
	struct http_parser *hp = ll->data;
	struct http_field *f = hp->hp_field;

	if (hp->hp_tok != T_NAME)
		return HTTP_BAD(hp, "empty field name");
	hp->hp_tok = T_NONE;
	return http_field_kind(hp, f,
	    http_name_kind(hp->hp_base + f->name.off, f->name.len));
}

/*
 * A piece of a field value.  Only whitespace may come between the colon
 * and the value, and the pieces must follow each other: a gap is an
 * obs-fold (CRLF and whitespace), which llhttp's loose build accepts.
 */
static int
http_on_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *hp = ll->data;
	struct http_field *f = hp->hp_field;
	uint32_t off = (uint32_t)(at - hp->hp_base), i;

	if (len == 0)
		return 0;
	if (hp->hp_tok == T_VALUE) {
		if (off != f->value.off + f->value.len)
			return HTTP_BAD(hp, "obs-fold");
		f->value.len += (uint32_t)len;
		return 0;
	}
	i = f->name.off + f->name.len + 1;
	if (off != i + 1 || hp->hp_base[i] != ' ') {
		for (; i < off; i++) {
			if (hp->hp_base[i] != ' ' && hp->hp_base[i] != '\t')
				return HTTP_BAD(hp, "obs-fold");
		}
	}
	hp->hp_tok = T_VALUE;
	f->value.off = off;
	f->value.len = (uint32_t)len;
	return 0;
}

/*
 * Note what a Transfer-Encoding value says: chunked must be the only
 * coding, once (empty elements aside).  Anything but one field that says
 * exactly "chunked" is written anew when forwarded.
 */
static void
http_parse_te(struct http_parser *hp, const char *v, size_t len)
{
	const char *p = v, *tok;
	size_t n;

	if ((hp->hp_pflags & P_TE_SEEN) || len != 7 ||
	    memcmp(v, "chunked", 7) != 0)
		hp->hp_msg->flags |= HTTP_F_TE_ODD;
	hp->hp_pflags |= P_TE_SEEN;
	while (http_list_next(&p, v + len, &tok, &n)) {
		if (hp->hp_pflags & P_TE_CHUNKED)
			hp->hp_pflags |= P_TE_BAD;
		if (n == 7 && http_eq_lit(tok, "chunked", 7))
			hp->hp_pflags |= P_TE_CHUNKED;
		else
			hp->hp_pflags = (hp->hp_pflags & ~P_TE_CHUNKED) |
			    P_TE_OTHER;
	}
}

/* Note what a Connection value says; other options name fields to drop. */
static int
http_parse_connection(struct http_parser *hp, const char *v, size_t len)
{
	const char *p = v, *tok;
	size_t n;

	while (http_list_next(&p, v + len, &tok, &n)) {
		if (n == 5 && http_eq_lit(tok, "close", 5))
			hp->hp_pflags |= P_CONN_CLOSE;
		else if (n == 10 && http_eq_lit(tok, "keep-alive", 10))
			hp->hp_pflags |= P_CONN_KA;
		else if (n == 7 && http_eq_lit(tok, "upgrade", 7))
			hp->hp_pflags |= P_CONN_UPGRADE;
		else {
			hp->hp_msg->known |= HTTP_FK_BIT(HTTP_FK_CONN_NAMED);
			if (++hp->hp_nconn > CONN_OPTS_MAX)
				return -1;
		}
	}
	return 0;
}

/* The kinds of field whose value the parser reads. */
#define HTTP_FK_VALUE_ACTS	(HTTP_FK_BIT(HTTP_FK_HOST) |		\
				 HTTP_FK_BIT(HTTP_FK_TRANSFER_ENCODING) |	\
				 HTTP_FK_BIT(HTTP_FK_CONNECTION) |		\
				 HTTP_FK_BIT(HTTP_FK_EXPECT))

/* Act on the trimmed value of a Transfer-Encoding, Connection or Expect
 * field. */
static HTTP_NOINLINE int
http_known_value(struct http_parser *hp, int kind, const char *v,
    uint32_t len)
{
	switch (kind) {
	case HTTP_FK_TRANSFER_ENCODING:
		http_parse_te(hp, v, len);
		break;
	case HTTP_FK_CONNECTION:
		if (http_parse_connection(hp, v, len) != 0)
			return HTTP_BAD(hp, "too many Connection options");
		break;
	case HTTP_FK_EXPECT:
		if (len == 12 && http_eq_lit(v, "100-continue", 12))
			hp->hp_msg->flags |= HTTP_F_EXPECT_100;
		break;
	}
	return 0;
}

/* A field is complete: trim its value and act on the names we know. */
static int
http_on_value_complete(llhttp_t *ll)
{
	struct http_parser *hp = ll->data;
	struct http_msg *m = hp->hp_msg;
	struct http_field *f = hp->hp_field;
	const char *v;
	uint32_t len;

	if (hp->hp_tok != T_VALUE) {
		f->value.off = f->name.off + f->name.len + 1;
		f->value.len = 0;
	}
	hp->hp_tok = T_NONE;
	v = hp->hp_base + f->value.off;
	len = f->value.len;
	/* Space and tab are below 0x21: one compare at each end tells that
	 * there is nothing to trim. */
	if (len > 0 && ((unsigned char)v[0] < 0x21 ||
	    (unsigned char)v[len - 1] < 0x21)) {
		while (len > 0 && (v[0] == ' ' || v[0] == '\t')) {
			v++;
			len--;
		}
		f->value.off = (uint32_t)(v - hp->hp_base);
		while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		f->value.len = len;
	}
	/* llhttp took digits only; leading zeros are not forwarded. */
	if (f->kind == HTTP_FK_CONTENT_LENGTH && len > 1 && v[0] == '0')
		m->flags |= HTTP_F_CL_ODD;
	if (HTTP_FK_BIT(f->kind) & HTTP_FK_VALUE_ACTS) {
		if (f->kind == HTTP_FK_HOST) {
			if (!http_host_valid(v, len))
				return HTTP_BAD(hp, "invalid Host");
		} else if (http_known_value(hp, f->kind, v, len) != 0)
			return -1;
	}
	m->nfields++;
	return 0;
}

/* Stop llhttp at the end of the head and at the end of the message. */
static int
http_on_pause(llhttp_t *ll)
{
	(void)ll;
	return HPE_PAUSED;
}

/*
 * The head's settings: spans but the method's (http_on_url() finds it),
 * and the ends of field names and values (a name may follow an empty
 * value, so those ends must be noted); the other tokens end when the next
 * starts.  The body's settings stop at the end of the message only: a
 * chunked body's data comes from http_chunked.c.
 */
static const llhttp_settings_t http_settings_head = {
	.on_url = http_on_url,
	.on_status = http_on_reason,
	.on_version = http_on_version,
	.on_header_field = http_on_field,
	.on_header_field_complete = http_on_field_complete,
	.on_header_value = http_on_value,
	.on_header_value_complete = http_on_value_complete,
	.on_headers_complete = http_on_pause,
};
static const llhttp_settings_t http_settings_body = {
	.on_message_complete = http_on_pause,
};

/* A message before its first byte, but for the field array. */
static const struct http_msg http_msg_empty = {
	.content_length = -1,
	.host = -1,
	.cap = HTTP_INLINE_FIELDS,
};

/* Empty a message for reuse without releasing anything: a copy of
 * http_msg_empty (which, unlike a memset of this size, is not a loop). */
static void
http_msg_init(struct http_msg *m)
{
	memcpy(m, &http_msg_empty, offsetof(struct http_msg, inline_fields));
	m->fields = m->inline_fields;
}

/* Release what a message holds (a grown field array, trailers). */
void
http_msg_free(struct http_msg *m)
{
	free(m->trailers);
	m->trailers = NULL;
	m->trailers_len = m->trailers_cap = 0;
	if (m->fields != m->inline_fields)
		free(m->fields);
	m->fields = m->inline_fields;
	m->cap = HTTP_INLINE_FIELDS;
	m->nfields = 0;
}

/*
 * A parser of each kind before its first byte.  llhttp_init() depends on
 * nothing but the type and the settings, so a copy of one made at start-up
 * does its work, and that of a memset of the rest, at a fraction of the
 * cost of the calls for each parser.  A constructor, so that no thread
 * ever sees them half made.
 */
static struct http_parser http_parser_new[2];

static void __attribute__((constructor))
http_parser_new_init(void)
{
	struct http_parser *hp;

	for (int i = 0; i < 2; i++) {
		hp = &http_parser_new[i];
		memset(hp, 0, sizeof *hp);
		llhttp_init(&hp->hp_ll, i == 0 ? HTTP_REQUEST : HTTP_RESPONSE,
		    &http_settings_head);
		hp->hp_state = ST_IDLE;
	}
}

/* Set up a parser for one direction of a connection. */
void
http_parser_init(struct http_parser *hp, enum http_kind kind,
    struct http_msg *m, const struct http_limits *lim)
{
	memcpy(hp, &http_parser_new[kind == HTTP_KIND_REQUEST ? 0 : 1],
	    sizeof *hp);
	hp->hp_ll.data = hp;
	hp->hp_msg = m;
	if (lim != NULL)
		hp->hp_limits = *lim;
	http_msg_init(m);
}

/* Make ready for the next message on the same connection. */
void
http_parser_reset(struct http_parser *hp)
{
	llhttp_reset(&hp->hp_ll);
	hp->hp_ll.settings = (void *)&http_settings_head;
	hp->hp_base = NULL;
	hp->hp_field = NULL;
	hp->hp_fed = 0;
	hp->hp_state = ST_IDLE;
	hp->hp_err = 0;
	hp->hp_pflags = 0;
	hp->hp_tok = T_NONE;
	hp->hp_nconn = 0;
	hp->hp_reason = NULL;
	memset(&hp->hp_ck, 0, sizeof hp->hp_ck);
	http_msg_free(hp->hp_msg);
	http_msg_init(hp->hp_msg);
}

/* For a response parser: the request was HEAD, so the response has no body. */
void
http_parser_set_head_request(struct http_parser *hp, bool head)
{
	hp->hp_head_request = head;
}

/* For a response parser: the request asked to upgrade, so 101 may come. */
void
http_parser_set_upgrade(struct http_parser *hp, bool upgrade)
{
	hp->hp_upgrade = upgrade;
}

/* Where a chunked body goes: re-encoded, or its data alone. */
void
http_parser_set_body_cb(struct http_parser *hp, http_body_cb cb, void *arg,
    bool decode)
{
	hp->hp_body_cb = cb;
	hp->hp_body_arg = arg;
	hp->hp_body_decode = decode;
}

/*
 * Split an absolute-form target (http://authority/path) into its authority
 * and its path.  An empty path is the "/" just before the authority; an
 * empty path followed by a query has no span to stand for it, so it is
 * refused, as are userinfo and other schemes.
 */
static int
http_target_absolute(struct http_msg *m, const char *head,
    struct http_span *auth)
{
	const char *t = head + m->target.off;
	uint32_t n = m->target.len, i, a;

	if (n >= 7 && http_eq_lit(t, "http://", 7))
		i = 7;
	else if (n >= 8 && http_eq_lit(t, "https://", 8))
		i = 8;
	else
		return -1;
	for (a = i; i < n && t[i] != '/' && t[i] != '?' && t[i] != '#'; i++)
		;
	if (i == a || !http_host_valid(t + a, i - a))
		return -1;
	auth->off = m->target.off + a;
	auth->len = i - a;
	if (i == n) {
		m->path.off = m->target.off + a - 1;
		m->path.len = 1;
	} else if (t[i] == '/') {
		m->path.off = m->target.off + i;
		m->path.len = n - i;
	} else
		return -1;
	m->flags |= HTTP_F_ABSOLUTE;
	return 0;
}

/* The request head is complete: check the target and Host, set the flags.
 * Returns whether a body follows, or -1. */
static int
http_request_complete(struct http_parser *hp, bool chunked)
{
	struct http_msg *m = hp->hp_msg;
	const char *head = hp->hp_base, *t = head + m->target.off;
	struct http_span auth = { 0, 0 }, hv;

	m->method_id = hp->hp_ll.method;
	if (m->method_id == HTTP_CONNECT)
		return HTTP_BAD(hp, "CONNECT is not served");
	if (!http_target_chars(t, m->target.len))
		return HTTP_BAD(hp, "bad character in the target");
	if (m->target.len > 0 && t[0] == '/')
		m->path = m->target;
	else if (m->target.len == 1 && t[0] == '*') {
		if (m->method_id != HTTP_OPTIONS)
			return HTTP_BAD(hp, "bad target");
		m->path = m->target;
	} else if (http_target_absolute(m, head, &auth) != 0)
		return HTTP_BAD(hp, "bad target");

	if (m->host >= 0) {
		hv = m->fields[m->host].value;
		if ((m->flags & HTTP_F_ABSOLUTE) && (hv.len != auth.len ||
		    !http_eq(head + hv.off, head + auth.off, auth.len)))
			return HTTP_BAD(hp, "Host does not match the target");
		m->authority = hv;
	} else if (m->minor == 1)
		return HTTP_BAD(hp, "no Host");
	else
		m->authority = auth;

	if (chunked)
		m->flags |= HTTP_F_CHUNKED | HTTP_F_BODY;
	else if (m->content_length > 0)
		m->flags |= HTTP_F_BODY;
	else if ((hp->hp_pflags & P_CONN_UPGRADE) &&
	    (m->known & HTTP_FK_BIT(HTTP_FK_UPGRADE)))
		m->flags |= HTTP_F_UPGRADE;	/* with a body: plain request */
	return (m->flags & HTTP_F_BODY) != 0;
}

/*
 * The response head is complete: check the status line, set the flags.
 * Returns whether a body follows, or -1.  llhttp's loose build takes a
 * status of fewer digits, and control characters in the reason phrase.
 */
static int
http_response_complete(struct http_parser *hp, bool chunked)
{
	struct http_msg *m = hp->hp_msg;
	const char *b = hp->hp_base;
	unsigned char c;
	int s;

	s = m->status = hp->hp_ll.status_code;
	if (s < 100)
		return HTTP_BAD(hp, "bad status");
	if (m->reason.len > 0) {
		if (m->reason.off != 13 || b[12] != ' ' ||
		    b[m->reason.off + m->reason.len] != '\r')
			return HTTP_BAD(hp, "bad status line");
		for (uint32_t i = 0; i < m->reason.len; i++) {
			c = (unsigned char)b[m->reason.off + i];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return HTTP_BAD(hp, "bad status line");
		}
	} else if (b[12] != '\r' && (b[12] != ' ' || b[13] != '\r'))
		return HTTP_BAD(hp, "bad status line");
	if (s == 101) {
		if (!hp->hp_upgrade)
			return HTTP_BAD(hp, "101 Switching Protocols to a "
			    "request that did not ask for it");
		if (!(m->known & HTTP_FK_BIT(HTTP_FK_UPGRADE)))
			return HTTP_BAD(hp, "101 Switching Protocols without "
			    "Upgrade");
		m->flags |= HTTP_F_UPGRADE;
		return 0;
	}
	if (s < 200 || s == 204 || s == 304 || hp->hp_head_request)
		return 0;
	if (chunked)
		m->flags |= HTTP_F_CHUNKED | HTTP_F_BODY;
	else if (m->flags & HTTP_F_LENGTH) {
		if (m->content_length > 0)
			m->flags |= HTTP_F_BODY;
	} else
		m->flags |= HTTP_F_TO_EOF | HTTP_F_BODY;
	return (m->flags & HTTP_F_BODY) != 0;
}

/*
 * Mark the fields that Connection lists as hop-by-hop, so that the head
 * writers need not parse Connection.  Only fields of no other kind are
 * marked: Connection cannot remove Host or the framing fields.
 */
static void
http_mark_conn_named(struct http_msg *m, const char *head)
{
	const char *opt[CONN_OPTS_MAX], *p, *end, *tok;
	size_t optlen[CONN_OPTS_MAX], n;
	struct http_field *f;
	int nopt = 0, i, j;

	for (i = 0; i < m->nfields; i++) {
		if (m->fields[i].kind != HTTP_FK_CONNECTION)
			continue;
		p = head + m->fields[i].value.off;
		end = p + m->fields[i].value.len;
		while (nopt < CONN_OPTS_MAX &&
		    http_list_next(&p, end, &tok, &n)) {
			if ((n == 5 && http_eq_lit(tok, "close", 5)) ||
			    (n == 10 && http_eq_lit(tok, "keep-alive", 10)))
				continue;
			opt[nopt] = tok;
			optlen[nopt++] = n;
		}
	}
	m->known &= ~HTTP_FK_BIT(HTTP_FK_CONN_NAMED);
	for (i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (f->kind != HTTP_FK_OTHER)
			continue;
		for (j = 0; j < nopt; j++) {
			if (optlen[j] == f->name.len &&
			    http_eq(opt[j], head + f->name.off, optlen[j])) {
				f->kind = HTTP_FK_CONN_NAMED;
				m->known |= HTTP_FK_BIT(HTTP_FK_CONN_NAMED);
				break;
			}
		}
	}
}

/*
 * The head is complete (head_len is set): the checks that need all of it,
 * then the flags.  Returns whether a body follows, or -1.
 */
static int
http_head_complete(struct http_parser *hp)
{
	struct http_msg *m = hp->hp_msg;
	llhttp_t *ll = &hp->hp_ll;
	bool chunked, te, keep;
	int body;

	/* llhttp's loose build ends a head at a bare LF too. */
	if (m->head_len < 4 ||
	    memcmp(hp->hp_base + m->head_len - 4, "\r\n\r\n", 4) != 0)
		return HTTP_BAD(hp, "line not ended by CRLF");
	m->major = ll->http_major;
	m->minor = ll->http_minor;
	if (m->major != 1 || m->minor > 1)
		return HTTP_BAD(hp, "unsupported version");

	te = (m->known & HTTP_FK_BIT(HTTP_FK_TRANSFER_ENCODING)) != 0;
	chunked = te && (hp->hp_pflags & P_TE_CHUNKED);
	if (te) {
		if (m->minor == 0)
			return HTTP_BAD(hp, "Transfer-Encoding in HTTP/1.0");
		if (m->flags & HTTP_F_LENGTH)
			return HTTP_BAD(hp, "Content-Length and "
			    "Transfer-Encoding");
		if ((hp->hp_pflags & (P_TE_CHUNKED | P_TE_BAD | P_TE_OTHER)) !=
		    P_TE_CHUNKED) {
			if (ll->type == HTTP_REQUEST)
				return http_cb_fail(hp, HTTP_ERR_TE,
				    "Transfer-Encoding other than chunked");
			return HTTP_BAD(hp, "Transfer-Encoding other than "
			    "chunked");
		}
	}
	/* Where we and llhttp disagree on framing, someone downstream may. */
	if (chunked != ((ll->flags & F_CHUNKED) != 0))
		return HTTP_BAD(hp, "ambiguous Transfer-Encoding");
	if (m->flags & HTTP_F_LENGTH) {
		if (ll->content_length > INT64_MAX)
			return HTTP_BAD(hp, "Content-Length too large");
		m->content_length = (int64_t)ll->content_length;
	}

	if (m->minor == 1)
		keep = !(hp->hp_pflags & P_CONN_CLOSE);
	else
		keep = (hp->hp_pflags & (P_CONN_KA | P_CONN_CLOSE)) ==
		    P_CONN_KA;
	if (m->known & HTTP_FK_BIT(HTTP_FK_CONN_NAMED))
		http_mark_conn_named(m, hp->hp_base);
	if (ll->type == HTTP_REQUEST)
		body = http_request_complete(hp, chunked);
	else
		body = http_response_complete(hp, chunked);
	if (body >= 0 && keep && !(m->flags & HTTP_F_TO_EOF))
		m->flags |= HTTP_F_KEEPALIVE;
	return body;
}

/* Feed head bytes, at most up to max_header in all. */
static HTTP_NOINLINE enum http_verdict
http_feed_head(struct http_parser *hp, const char *head, const char *data,
    size_t len, size_t *used)
{
	uint32_t limit, pos;
	llhttp_errno_t e;
	size_t n;
	int body;

	limit = hp->hp_limits.max_header ? hp->hp_limits.max_header :
	    UINT32_MAX;
	n = limit - hp->hp_fed;
	if (n > len)
		n = len;
	hp->hp_base = head;
	e = llhttp_execute(&hp->hp_ll, data, n);
	if (hp->hp_err != 0)
		return http_fail(hp, hp->hp_err, NULL);
	if (e == HPE_PAUSED) {
		/* llhttp_get_error_pos() and llhttp_resume(), inline */
		pos = (uint32_t)(hp->hp_ll.error_pos - data);
		hp->hp_ll.error = HPE_OK;
		hp->hp_ll.settings = (void *)&http_settings_body;
		hp->hp_fed += pos;
		hp->hp_msg->head_len = hp->hp_fed;
		if ((body = http_head_complete(hp)) < 0)
			return http_fail(hp, hp->hp_err, NULL);
		hp->hp_state = body ? ST_BODY : ST_NOBODY;
		*used = pos;
		return HTTP_GOT_HEAD;
	}
	if (e == HPE_INVALID_TRANSFER_ENCODING && hp->hp_ll.type == HTTP_REQUEST)
		return http_fail(hp, HTTP_ERR_TE,
		    llhttp_get_error_reason(&hp->hp_ll));
	if (e != HPE_OK)
		return http_fail(hp, HTTP_ERR_BAD,
		    llhttp_get_error_reason(&hp->hp_ll));
	hp->hp_fed += (uint32_t)n;
	if (hp->hp_fed >= limit)
		return http_fail(hp, HTTP_ERR_HEADER, "head too large");
	*used = n;
	return HTTP_MORE;
}

/*
 * Feed body bytes.  llhttp frames them; a chunked body's bytes then go
 * through the strict decoder too (http_chunked.c), which must find the
 * end of the message exactly where llhttp did.
 */
static HTTP_NOINLINE enum http_verdict
http_feed_body(struct http_parser *hp, const char *data, size_t len,
    size_t *used)
{
	llhttp_errno_t e;
	size_t pos;
	ssize_t n;

	hp->hp_base = data;
	e = llhttp_execute(&hp->hp_ll, data, len);
	if (hp->hp_err != 0)
		return http_fail(hp, hp->hp_err, NULL);
	if (e == HPE_PAUSED)
		pos = (size_t)(hp->hp_ll.error_pos - data);
	else if (e == HPE_OK)
		pos = len;
	else
		return http_fail(hp, HTTP_ERR_BAD,
		    llhttp_get_error_reason(&hp->hp_ll));
	if (hp->hp_msg->flags & HTTP_F_CHUNKED) {
		if ((n = http_chunked_feed(hp, data, pos)) < 0)
			return http_fail(hp, HTTP_ERR_BAD, hp->hp_reason);
		if ((size_t)n != pos ||
		    http_chunked_done(hp) != (e == HPE_PAUSED))
			return http_fail(hp, HTTP_ERR_BAD,
			    "ambiguous chunked framing");
	}
	*used = pos;
	if (e == HPE_PAUSED) {
		hp->hp_state = ST_DONE;
		return HTTP_DONE;
	}
	return HTTP_MORE;
}

/* Feed len bytes at data; see http.h for the contract.  A dispatcher: the
 * work is in http_feed_head() and http_feed_body(). */
enum http_verdict
http_feed(struct http_parser *hp, const char *head, const char *data,
    size_t len, size_t *used)
{
	*used = 0;
	switch (hp->hp_state) {
	case ST_IDLE:
		if (len == 0)
			return HTTP_MORE;
		hp->hp_state = ST_HEAD;
		/* FALLTHROUGH */
	case ST_HEAD:
		return http_feed_head(hp, head, data, len, used);
	case ST_BODY:
		return http_feed_body(hp, data, len, used);
	case ST_NOBODY:
	case ST_DONE:
		hp->hp_state = ST_DONE;
		return HTTP_DONE;
	}
	return hp->hp_err;
}

/* The stream ended: whether that completes the message. */
enum http_verdict
http_finish(struct http_parser *hp)
{
	switch (hp->hp_state) {
	case ST_IDLE:
		return HTTP_MORE;
	case ST_HEAD:
		return http_fail(hp, HTTP_ERR_BAD, "head cut short");
	case ST_BODY:
		if (!(hp->hp_msg->flags & HTTP_F_TO_EOF))
			return http_fail(hp, HTTP_ERR_BAD, "body cut short");
		/* FALLTHROUGH */
	case ST_NOBODY:
	case ST_DONE:
		hp->hp_state = ST_DONE;
		return HTTP_DONE;
	}
	return hp->hp_err;
}

/* Whether the parser stands between messages. */
bool
http_idle(const struct http_parser *hp)
{
	return hp->hp_state == ST_IDLE || hp->hp_state == ST_DONE ||
	    hp->hp_state == ST_NOBODY;
}

/* Whether a field name of n bytes at s is the C string name, ignoring
 * case: the NUL of a shorter name is a mismatch, as names hold no NUL. */
static bool
http_name_eq(const char *s, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (http_lc((unsigned char)s[i]) !=
		    http_lc((unsigned char)name[i]))
			return false;
	}
	return name[n] == '\0';
}

/* Find the first field named name (case-insensitive); -1 when absent.
 * Only a field whose first letter matches has the rest compared. */
int
http_find(const struct http_msg *m, const char *head, const char *name)
{
	const struct http_field *f;
	unsigned char c = http_lc((unsigned char)name[0]);

	for (int i = 0; i < m->nfields; i++) {
		f = &m->fields[i];
		if (http_lc((unsigned char)head[f->name.off]) == c &&
		    http_name_eq(head + f->name.off, f->name.len, name))
			return i;
	}
	return -1;
}
