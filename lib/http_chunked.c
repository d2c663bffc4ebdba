/*
 * http_chunked.c: the strict chunked-body decoder, and the canonical
 * re-encoding of what it decodes.
 *
 * llhttp frames a chunked body first (http_feed_body() in http.c); the
 * same bytes then come through here, where RFC 9112's grammar is applied
 * to every framing byte (llhttp 8.1's loose build takes a bare CR for a
 * CRLF, among others), and the two must agree on where the message ends.
 * What goes out is never the peer's framing: each chunk is written anew
 * as a lowercase hex size, CRLF, the data, CRLF; the last chunk as "0",
 * CRLF, the trailer fields as canonical "Name: value" lines (those that
 * may not be trailers dropped), CRLF.  Chunk extensions are dropped.
 *
 * Refused: a size of no digit, of more than 16 hex digits, with a sign or
 * whitespace; a bare CR or LF anywhere in a size line, an extension or a
 * trailer; an extension or trailer that breaks the grammar (a control
 * byte, an empty name, an unclosed quote, obs-fold); a framing line longer
 * than HTTP_CHUNK_LINE_MAX; a trailer section of more than HTTP_TRAILERS_MAX
 * bytes.  Two forms RFC 9112 allows are refused, as llhttp 8.1 refuses them
 * first: whitespace around an extension's ';' and '=', and a quoted-pair
 * in a quoted value.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"

/* The decoder's states (hp_ck.ck_state). */
enum {
	CK_SIZE,	/* the size's hex digits */
	CK_EXT,		/* after ';': an extension's name */
	CK_EXT_NAME,	/* in the name */
	CK_EXT_EQ,	/* after '=': the value */
	CK_EXT_TOKEN,	/* a token value */
	CK_EXT_QUOTED,	/* a quoted value */
	CK_EXT_VAL_END,	/* after the closing quote */
	CK_SIZE_LF,	/* a CR ended the size line: LF must follow */
	CK_DATA,	/* the chunk's data */
	CK_DATA_CR,	/* after the data: CR */
	CK_DATA_LF,	/* then LF */
	CK_TRAILER,	/* a trailer field's first byte, or the final CRLF */
	CK_TR_NAME,	/* a trailer field's name */
	CK_TR_VALUE,	/* its value */
	CK_TR_LF,	/* a CR ended the field: LF must follow */
	CK_END_LF,	/* the final CR: LF ends the message */
	CK_DONE,
};

/* tchar of RFC 9110: what a token (a name, a token value) is made of. */
static const uint8_t ck_tchar[256] = {
	['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
	['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
	['`'] = 1, ['|'] = 1, ['~'] = 1,
};

/* A hex digit's value, or -1. */
static int
ck_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Whether c may stand in a field value or a quoted string: HTAB, SP,
 * VCHAR and obs-text; no other control byte, no DEL. */
static bool
ck_vchar(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* Fields that may not be trailers (RFC 9110, 6.5.1: framing, routing,
 * connection options, how to process the content, authentication), and
 * are dropped from what is forwarded. */
static const char *const ck_no_trailer[] = {
	"age", "authorization", "cache-control", "connection",
	"content-encoding", "content-length", "content-range", "content-type",
	"cookie", "expect", "expires", "host", "keep-alive", "max-forwards",
	"proxy-authenticate", "proxy-authorization", "proxy-connection",
	"range", "set-cookie", "te", "trailer", "transfer-encoding", "upgrade",
	"www-authenticate",
};

/* Whether a trailer field of this name is forwarded. */
static bool
ck_trailer_kept(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof ck_no_trailer / sizeof *ck_no_trailer;
	    i++) {
		if (strlen(ck_no_trailer[i]) == n &&
		    strncasecmp(ck_no_trailer[i], name, n) == 0)
			return false;
	}
	return true;
}

/* Fail the decoder: note why and return -1. */
static ssize_t
ck_fail(struct http_parser *hp, const char *why)
{
	hp->hp_reason = why;
	return -1;
}

/* Hand n bytes of output to the caller's sink, if re-encoding. */
static int
ck_emit(struct http_parser *hp, const char *p, size_t n)
{
	if (hp->hp_body_cb == NULL || hp->hp_body_decode)
		return 0;
	return hp->hp_body_cb(hp->hp_body_arg, p, n);
}

/* Write a chunk's size line: lowercase hex, CRLF. */
static int
ck_emit_size(struct http_parser *hp, uint64_t size)
{
	static const char hex[] = "0123456789abcdef";
	char line[16 + 2], *p = line + 16;

	p[0] = '\r';
	p[1] = '\n';
	do {
		*--p = hex[size & 15];
		size >>= 4;
	} while (size != 0);
	return ck_emit(hp, p, (size_t)(line + sizeof line - p));
}

/* Make room for need bytes of trailer section in the message. */
static int
ck_trailer_reserve(struct http_msg *m, size_t need)
{
	size_t cap = m->trailers_cap ? m->trailers_cap : 256;
	char *p;

	if (need <= m->trailers_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if ((p = realloc(m->trailers, cap)) == NULL)
		return -1;
	m->trailers = p;
	m->trailers_cap = (uint32_t)cap;
	return 0;
}

/* Append a byte of a trailer field to the message's trailer section
 * (only when re-encoding: nothing else reads it). */
static int
ck_trailer_byte(struct http_parser *hp, char c)
{
	struct http_msg *m = hp->hp_msg;

	if (hp->hp_body_cb == NULL || hp->hp_body_decode)
		return 0;
	if (ck_trailer_reserve(m, (size_t)m->trailers_len + 1) != 0)
		return -1;
	m->trailers[m->trailers_len++] = c;
	return 0;
}

/*
 * A trailer field is complete (its grammar was checked on the way): its
 * raw bytes, without the CRLF, end the trailer section.  Rewrite them as
 * "Name: value\r\n" with the value trimmed, or drop them.
 */
static int
ck_trailer_done(struct http_parser *hp)
{
	struct http_msg *m = hp->hp_msg;
	size_t start = hp->hp_ck.ck_tr_start, end = m->trailers_len;
	size_t colon, v, nlen, vlen;
	char *t;

	if (hp->hp_body_cb == NULL || hp->hp_body_decode)
		return 0;
	t = m->trailers;
	colon = (size_t)((char *)memchr(t + start, ':', end - start) - t);
	nlen = colon - start;
	for (v = colon + 1; v < end && (t[v] == ' ' || t[v] == '\t'); v++)
		;
	while (end > v && (t[end - 1] == ' ' || t[end - 1] == '\t'))
		end--;
	vlen = end - v;
	if (!ck_trailer_kept(t + start, nlen)) {
		m->trailers_len = (uint32_t)start;
		return 0;
	}
	if (ck_trailer_reserve(m, start + nlen + 2 + vlen + 2) != 0)
		return -1;
	t = m->trailers;
	memmove(t + start + nlen + 2, t + v, vlen);
	memcpy(t + colon, ": ", 2);
	memcpy(t + start + nlen + 2 + vlen, "\r\n", 2);
	m->trailers_len = (uint32_t)(start + nlen + 2 + vlen + 2);
	return 0;
}

/* The message is complete: write the last chunk, the trailers, the end. */
static int
ck_emit_end(struct http_parser *hp)
{
	struct http_msg *m = hp->hp_msg;

	if (ck_emit(hp, "0\r\n", 3) != 0)
		return -1;
	if (m->trailers_len > 0 &&
	    ck_emit(hp, m->trailers, m->trailers_len) != 0)
		return -1;
	return ck_emit(hp, "\r\n", 2);
}

/*
 * Decode n chunked body bytes at p (llhttp has framed them already).
 * Returns how many were used: all of them, or up to the end of the
 * message (the state is then CK_DONE); -1 when they break the grammar
 * (hp_reason says how) or the sink failed.
 */
ssize_t
http_chunked_feed(struct http_parser *hp, const char *p, size_t n)
{
	struct http_chunked *ck = &hp->hp_ck;
	size_t i = 0, take;
	unsigned char c;
	int d;

	while (i < n) {
		if (ck->ck_state == CK_DATA) {
			take = n - i;
			if (take > ck->ck_left)
				take = (size_t)ck->ck_left;
			if (hp->hp_body_cb != NULL &&
			    hp->hp_body_cb(hp->hp_body_arg, p + i, take) != 0)
				return ck_fail(hp, "out of memory");
			ck->ck_left -= take;
			i += take;
			if (ck->ck_left == 0)
				ck->ck_state = CK_DATA_CR;
			continue;
		}
		c = (unsigned char)p[i++];
		if (ck->ck_state < CK_DATA) {
			if (++ck->ck_line > HTTP_CHUNK_LINE_MAX)
				return ck_fail(hp, "chunk size line too long");
		} else if (ck->ck_state >= CK_TRAILER) {
			if (++ck->ck_line > HTTP_TRAILERS_MAX)
				return ck_fail(hp, "trailer fields too large");
		}
		switch (ck->ck_state) {
		case CK_SIZE:
			if ((d = ck_hex(c)) >= 0) {
				if (++ck->ck_digits > 16)
					return ck_fail(hp, "chunk size of more "
					    "than 16 digits");
				ck->ck_left = ck->ck_left << 4 | (unsigned)d;
			} else if (ck->ck_digits > 0 && c == '\r')
				ck->ck_state = CK_SIZE_LF;
			else if (ck->ck_digits > 0 && c == ';')
				ck->ck_state = CK_EXT;
			else
				return ck_fail(hp, "bad chunk size");
			break;
		case CK_EXT:
			if (!ck_tchar[c])
				return ck_fail(hp, "bad chunk extension");
			ck->ck_state = CK_EXT_NAME;
			break;
		case CK_EXT_NAME:
		case CK_EXT_TOKEN:
			if (ck_tchar[c])
				break;
			if (c == '=' && ck->ck_state == CK_EXT_NAME)
				ck->ck_state = CK_EXT_EQ;
			else if (c == '\r')
				ck->ck_state = CK_SIZE_LF;
			else if (c == ';')
				ck->ck_state = CK_EXT;
			else
				return ck_fail(hp, "bad chunk extension");
			break;
		case CK_EXT_EQ:
			if (c == '"')
				ck->ck_state = CK_EXT_QUOTED;
			else if (ck_tchar[c])
				ck->ck_state = CK_EXT_TOKEN;
			else
				return ck_fail(hp, "bad chunk extension");
			break;
		case CK_EXT_QUOTED:
			if (c == '"')
				ck->ck_state = CK_EXT_VAL_END;
			else if (!ck_vchar(c) || c == '\\')
				return ck_fail(hp, "bad chunk extension");
			break;
		case CK_EXT_VAL_END:
			if (c == '\r')
				ck->ck_state = CK_SIZE_LF;
			else if (c == ';')
				ck->ck_state = CK_EXT;
			else
				return ck_fail(hp, "bad chunk extension");
			break;
		case CK_SIZE_LF:
			if (c != '\n')
				return ck_fail(hp, "bare CR in a chunk size line");
			ck->ck_line = 0;
			ck->ck_digits = 0;
			if (ck->ck_left == 0) {
				ck->ck_state = CK_TRAILER;
				break;
			}
			if (ck_emit_size(hp, ck->ck_left) != 0)
				return ck_fail(hp, "out of memory");
			ck->ck_state = CK_DATA;
			break;
		case CK_DATA_CR:
			if (c != '\r')
				return ck_fail(hp, "chunk data not ended by CRLF");
			ck->ck_state = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (c != '\n')
				return ck_fail(hp, "chunk data not ended by CRLF");
			if (ck_emit(hp, "\r\n", 2) != 0)
				return ck_fail(hp, "out of memory");
			ck->ck_state = CK_SIZE;
			break;
		case CK_TRAILER:
			if (c == '\r') {
				ck->ck_state = CK_END_LF;
				break;
			}
			if (!ck_tchar[c])
				return ck_fail(hp, "bad trailer field");
			ck->ck_tr_start = hp->hp_msg->trailers_len;
			ck->ck_state = CK_TR_NAME;
			if (ck_trailer_byte(hp, (char)c) != 0)
				return ck_fail(hp, "trailer fields too large");
			break;
		case CK_TR_NAME:
			if (c == ':')
				ck->ck_state = CK_TR_VALUE;
			else if (!ck_tchar[c])
				return ck_fail(hp, "bad trailer field name");
			if (ck_trailer_byte(hp, (char)c) != 0)
				return ck_fail(hp, "trailer fields too large");
			break;
		case CK_TR_VALUE:
			if (c == '\r') {
				ck->ck_state = CK_TR_LF;
				break;
			}
			if (!ck_vchar(c))
				return ck_fail(hp, "bad trailer field value");
			if (ck_trailer_byte(hp, (char)c) != 0)
				return ck_fail(hp, "trailer fields too large");
			break;
		case CK_TR_LF:
			if (c != '\n')
				return ck_fail(hp, "bare CR in a trailer field");
			if (ck_trailer_done(hp) != 0)
				return ck_fail(hp, "trailer fields too large");
			ck->ck_state = CK_TRAILER;
			break;
		case CK_END_LF:
			if (c != '\n')
				return ck_fail(hp, "bare CR ending the trailers");
			if (ck_emit_end(hp) != 0)
				return ck_fail(hp, "out of memory");
			ck->ck_state = CK_DONE;
			return (ssize_t)i;
		default:
			return ck_fail(hp, "bytes after the message");
		}
	}
	return (ssize_t)i;
}

/* Whether the decoder has seen the whole message. */
bool
http_chunked_done(const struct http_parser *hp)
{
	return hp->hp_ck.ck_state == CK_DONE;
}
