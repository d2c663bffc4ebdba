/*
 * http_int.h: private to the http module (http.c, http_build.c,
 * http_chunked.c); nothing else includes it.
 */
#ifndef HG_HTTP_INT_H
#define HG_HTTP_INT_H

#include "http.h"

/* The longest chunk-size line (size and extensions), and the most bytes of
 * trailer fields, that a chunked body may carry. */
#define HTTP_CHUNK_LINE_MAX	4096
#define HTTP_TRAILERS_MAX	8192

/*
 * Decode n chunked body bytes that llhttp has framed: check every framing
 * byte, hand the data (and, unless the caller asked for the data alone,
 * the canonical framing) to the body callback.  Returns how many bytes
 * were used: all, or up to the end of the message; -1 when they are
 * malformed (hp_reason says why) or the callback failed.
 */
ssize_t	http_chunked_feed(struct http_parser *, const char *, size_t);

/* Whether the decoder has seen the end of the message. */
bool	http_chunked_done(const struct http_parser *);

#endif
