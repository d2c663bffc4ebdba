/*
 * fuzz_framing.h: the messages a byte stream holds, as two parsers see
 * them, for the framing property of the proxy fuzz targets, and the
 * property's check of the request path.
 *
 * framing_hourglass() parses with the library's own parser (http.c, over
 * the llhttp copy the daemon links, and http_chunked.c), in decode mode;
 * framing_strict() with a second copy of llhttp built with
 * LLHTTP_STRICT_MODE=1 and no lenient flag (fuzz.mk renames its symbols
 * strict_llhttp_*).  Both give the same record: each message's method or
 * status, target, de-chunked body bytes and where it ends, and whether
 * the stream ended in an error or cut a message short.
 */
#ifndef HG_FUZZ_FRAMING_H
#define HG_FUZZ_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "http.h"

struct framing_msg {
	int		 method;	/* enum llhttp_method (a request) */
	int		 status;	/* a response's; interim ones are kept */
	char		*url;		/* the target: as sent (strict); its
					 * origin-form part (hourglass) */
	size_t		 url_len;
	uint8_t		*body;		/* the body's data, de-chunked */
	size_t		 body_len, body_cap;
	size_t		 start;		/* where it begins in the stream */
	size_t		 end;		/* just past it (when done) */
	bool		 head_done;	/* the head was complete */
	bool		 done;		/* the whole message was there */
	bool		 by_eof;	/* done only by the end of the stream (a
					 * close-delimited body) */
};

struct framing {
	struct framing_msg *msgs;
	size_t		 n, cap;
	bool		 failed;	/* the parse stopped at an error */
	const char	*reason;	/* the parser's word for it */
	size_t		 fail_at;	/* about where */
};

/*
 * Parse len bytes at p as one direction of a connection, message after
 * message, until the end or the first error.  eof: the stream ended there
 * (a close-delimited response ends with it).  Bit i of head_mask: the
 * i-th final (non-1xx) response answers a HEAD, so it has no body.  The
 * record must be released with framing_free().
 */
void	framing_hourglass(struct framing *, enum http_kind, const uint8_t *p,
	    size_t len, bool eof, uint32_t head_mask);
void	framing_strict(struct framing *, enum http_kind, const uint8_t *p,
	    size_t len, bool eof, uint32_t head_mask);

/* Release what a record holds. */
void	framing_free(struct framing *);

/*
 * Whether two parses of the same stream agree: the same messages with a
 * complete head, each with the same method or status, target, body,
 * completeness and end, and the same verdict on errors.  NULL when they
 * do; otherwise what differs, in a static buffer.
 */
const char *framing_differ(const struct framing *, const struct framing *);

/* Whether a's body is b's or, with prefix, the first bytes of it. */
bool	framing_body_in(const struct framing_msg *a,
	    const struct framing_msg *b, bool prefix);

/*
 * The request path's framing property over the rig (fuzz_rig.h), once the
 * client has closed: each upstream connection received what strict llhttp
 * accepts and hourglass's parser frames alike, and each message in it is
 * one of the client's, in order (a retry may send one again; one cut short
 * begins like one of the client's).  A broken property prints both sides,
 * naming target, and aborts.
 */
void	framing_check_forwarded(const char *target);

/* Print a record, and a stream escaped (at most its first 4 KiB), to f. */
void	framing_print(FILE *, const char *title, const struct framing *);
void	framing_print_bytes(FILE *, const char *title, const uint8_t *,
	    size_t);

#endif
