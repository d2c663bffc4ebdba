/*
 * http.h: HTTP/1.1 message parsing and head rebuilding, over llhttp.
 *
 * A message head is parsed in place: the caller keeps the head bytes
 * contiguous in one buffer of its own, and the parser records every part of
 * the head as a span, an offset and a length from the first byte of the
 * head.  Nothing is copied to the heap (but for more than HTTP_INLINE_FIELDS
 * header fields, when the field array grows).  The buffer may move between
 * calls (realloc): spans are offsets, so they stay valid.
 *
 * After the head, the same parser frames the body (Content-Length, chunked,
 * or to end of stream for responses) so that the caller knows exactly
 * where the message ends.  Pipelined bytes after the end are left to the
 * caller.  A Content-Length or to-EOF body may be relayed as it came; a
 * chunked body never is: its framing is checked byte by byte and written
 * anew (http_chunked.c), and the caller sends what the body callback gets.
 *
 * llhttp runs in strict mode: no lenient flags.  Ambiguous framing
 * (Content-Length with Transfer-Encoding, differing or repeated
 * Content-Length, any Transfer-Encoding in HTTP/1.0), obs-fold, bad
 * characters, bare CR/LF and NUL are errors.  A Transfer-Encoding whose
 * list (case and empty elements aside) is not exactly "chunked" is
 * HTTP_ERR_TE in a request and an error in a response.  llhttp is built
 * without LLHTTP_STRICT_MODE, which lets a few of these through (a bare LF
 * ending the start line, the head or the trailers, a bare CR ending a
 * chunk-size line, obs-fold, spaces in or before a field name, extra
 * spaces in the request line, HTTP/2.0, a status of fewer digits, control
 * characters in the reason phrase): http.c and http_chunked.c check those
 * themselves.  Also refused: CONNECT, a 101 response to a request that did
 * not ask to upgrade, "*" but for OPTIONS, and an absolute-form target with
 * userinfo, a scheme other than http(s), or an empty path followed by a
 * query.  llhttp 8.1 itself refuses two valid chunk extension forms: a
 * quoted-pair in a value, and a parameter after a name=value one
 * ("1;a=b;c").
 *
 * Parsing is in http.c, the head writers (http_build_*) in http_build.c.
 */
#ifndef HG_HTTP_H
#define HG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <llhttp.h>

#define HTTP_INLINE_FIELDS	24

enum http_kind {
	HTTP_KIND_REQUEST,
	HTTP_KIND_RESPONSE,
};

/* What http_feed() found. */
enum http_verdict {
	HTTP_MORE,		/* all bytes used; the message goes on */
	HTTP_GOT_HEAD,		/* the head is complete (stops right after it);
				 * not HTTP_HEAD: that is llhttp's method */
	HTTP_DONE,		/* the message is complete (stops right after it) */
	HTTP_ERR_BAD,		/* malformed or ambiguous: 400 (502 upstream) */
	HTTP_ERR_URI,		/* target longer than max_uri: 414 */
	HTTP_ERR_HEADER,	/* head longer than max_header: 431 */
	HTTP_ERR_TE,		/* a request's Transfer-Encoding is not
				 * exactly "chunked": 501 */
};

struct http_span {
	uint32_t	off;		/* from the first byte of the head */
	uint32_t	len;
};

/* What a field's name is, for the fields the proxy acts on. */
enum http_field_kind {
	HTTP_FK_OTHER,
	HTTP_FK_HOST,
	HTTP_FK_CONTENT_LENGTH,
	HTTP_FK_TRANSFER_ENCODING,
	HTTP_FK_CONNECTION,
	HTTP_FK_KEEP_ALIVE,
	HTTP_FK_TE,
	HTTP_FK_TRAILER,
	HTTP_FK_UPGRADE,
	HTTP_FK_PROXY_CONNECTION,
	HTTP_FK_EXPECT,
	HTTP_FK_XFF,			/* X-Forwarded-For */
	HTTP_FK_XFP,			/* X-Forwarded-Proto */
	HTTP_FK_XFH,			/* X-Forwarded-Host */
	HTTP_FK_VIA,
	HTTP_FK_REQUEST_ID,		/* X-Request-Id */
	HTTP_FK_PROXY_STATUS,
	HTTP_FK_GRPC_TIMEOUT,
	HTTP_FK_CONN_NAMED,		/* another field Connection lists */
};
#define HTTP_FK_BIT(k)		(1u << (k))

struct http_field {
	struct http_span name;
	struct http_span value;		/* without surrounding whitespace */
	uint8_t		 kind;		/* enum http_field_kind */
};

/* Flags of a parsed head. */
#define HTTP_F_CHUNKED		0x0001	/* Transfer-Encoding: chunked */
#define HTTP_F_LENGTH		0x0002	/* Content-Length present */
#define HTTP_F_KEEPALIVE	0x0004	/* the connection may be reused (1.1, or 1.0 + keep-alive) */
#define HTTP_F_EXPECT_100	0x0008	/* Expect: 100-continue */
#define HTTP_F_BODY		0x0010	/* a body follows (length > 0, chunked, or to EOF) */
#define HTTP_F_TO_EOF		0x0020	/* response body ends when the upstream closes */
#define HTTP_F_ABSOLUTE		0x0040	/* request target in absolute-form */
#define HTTP_F_CL_ODD		0x0080	/* Content-Length not in canonical
					 * decimal: the writers write it anew */
#define HTTP_F_TE_ODD		0x0100	/* Transfer-Encoding other than one
					 * "chunked" field: written anew */
#define HTTP_F_UPGRADE		0x0200	/* a request without body that asks
					 * to upgrade (Connection: upgrade
					 * and Upgrade), or the 101 that
					 * accepts it: the stream after the
					 * head is another protocol */

struct http_msg {
	/* request */
	struct http_span method;
	struct http_span target;	/* as sent */
	struct http_span path;		/* origin-form part of the target: all of
					 * it, or of an absolute target the part
					 * from the "/" after the authority (the
					 * "/" before it when the path is empty) */
	uint8_t		 method_id;	/* enum llhttp_method */
	/* response */
	int		 status;
	struct http_span reason;
	/* both */
	uint8_t		 major, minor;
	uint32_t	 flags;		/* HTTP_F_* */
	int64_t		 content_length; /* -1 when absent */
	int		 host;		/* index of the Host field, -1 */
	struct http_span authority;	/* host[:port] from Host or an absolute target */
	uint32_t	 head_len;	/* bytes of the head, through the blank line */
	uint32_t	 known;		/* HTTP_FK_BIT() of each kind present */
	uint16_t	 nfields;
	uint16_t	 cap;
	struct http_field *fields;	/* inline_fields or a heap array */
	char		*trailers;	/* a chunked body's trailer fields, as
					 * "Name: value\r\n" lines; heap */
	uint32_t	 trailers_len;
	uint32_t	 trailers_cap;
	struct http_field inline_fields[HTTP_INLINE_FIELDS];
};

struct http_limits {
	uint32_t	 max_uri;	/* 0 = no limit */
	uint32_t	 max_header;	/* 0 = no limit */
};

/* Where a chunked body's bytes go, as the decoder writes them; non-zero
 * stops the feed with an error (out of memory). */
typedef int (*http_body_cb)(void *arg, const char *data, size_t len);

/* The chunked decoder's state (http_chunked.c). */
struct http_chunked {
	uint64_t	 ck_left;	/* the size being read, then the data
					 * bytes left in the chunk */
	uint32_t	 ck_line;	/* bytes of the size line, or of the
					 * trailer section, so far */
	uint32_t	 ck_tr_start;	/* where the trailer field begins */
	uint8_t		 ck_state;
	uint8_t		 ck_digits;	/* of the size */
};

struct http_parser {
	llhttp_t	 hp_ll;
	struct http_msg	*hp_msg;
	struct http_limits hp_limits;
	const char	*hp_base;	/* private: the head (body data) fed */
	uint32_t	 hp_fed;	/* head bytes fed so far */
	int		 hp_state;	/* private */
	int		 hp_err;	/* private */
	uint32_t	 hp_pflags;	/* private: what the fields said */
	struct http_field *hp_field;	/* private: the field being parsed */
	uint8_t		 hp_tok;	/* private: the open token */
	uint8_t		 hp_nconn;	/* private: Connection options */
	bool		 hp_head_request; /* response to a HEAD: no body */
	bool		 hp_upgrade;	/* response: 101 may come */
	bool		 hp_body_decode; /* the body callback takes data only */
	http_body_cb	 hp_body_cb;
	void		*hp_body_arg;
	struct http_chunked hp_ck;	/* private */
	const char	*hp_reason;	/* why the last error, for logs */
};

/* Set up a parser for one direction of a connection. */
void	http_parser_init(struct http_parser *, enum http_kind,
	    struct http_msg *, const struct http_limits *);

/* Make ready for the next message on the same connection; frees nothing the
 * caller must free, but releases a grown field array.  The limits, the body
 * callback and the HEAD flag are kept (a 1xx is followed by the real
 * response to the same request). */
void	http_parser_reset(struct http_parser *);

/* Release what a message holds (a grown field array, trailers). */
void	http_msg_free(struct http_msg *);

/* For a response parser: the request was HEAD, so the response has no body. */
void	http_parser_set_head_request(struct http_parser *, bool);

/* For a response parser: the request was forwarded asking to upgrade, so
 * a 101 (with Upgrade) is taken, as a head without body after which the
 * stream is another protocol; otherwise a 101 is an error. */
void	http_parser_set_upgrade(struct http_parser *, bool);

/*
 * Where a chunked body goes (NULL: it is checked, and dropped).  cb gets it
 * re-encoded in canonical chunked framing: lowercase hex sizes, no
 * extensions, the trailer fields that may be trailers as "Name: value"
 * lines; or, with decode, the data alone (for an HTTP/1.0 peer).  The last
 * chunk is written only once the whole message has been seen, so a body
 * cut short never looks complete.  Bodies of other framing never reach cb.
 */
void	http_parser_set_body_cb(struct http_parser *, http_body_cb, void *,
	    bool decode);

/*
 * Feed len bytes at data.  head is the first byte of the message's head in
 * the caller's buffer (while the head is being parsed, data lies within the
 * head's bytes; after HTTP_GOT_HEAD it is not used).  *used is set to the
 * number of bytes of data consumed: all of them for HTTP_MORE, up to the end
 * of the head for HTTP_GOT_HEAD, up to the end of the message for HTTP_DONE.
 * After HTTP_GOT_HEAD, feed the rest (body bytes) in later calls.  A message
 * without body returns HTTP_GOT_HEAD and then HTTP_DONE on the next feed,
 * even of 0 bytes.  An interim (1xx) response is such a message: the caller
 * resets the parser and parses the real response from the bytes that
 * follow.  After HTTP_DONE or an error, further feeds return the same
 * verdict and use nothing until http_parser_reset().  On an error *used is
 * 0 and hp_reason says why.
 */
enum http_verdict http_feed(struct http_parser *, const char *head,
	    const char *data, size_t len, size_t *used);

/* The stream ended (EOF).  HTTP_DONE when that completes the message (a
 * close-delimited response, or one already complete), HTTP_ERR_BAD when it
 * cuts it short, HTTP_MORE when no byte of a message had come (a clean
 * close between messages). */
enum http_verdict http_finish(struct http_parser *);

/* Whether the message in progress ended cleanly at a boundary (no partial
 * message): true before any byte of a message, after HTTP_DONE, and after
 * the HTTP_GOT_HEAD of a message without body. */
bool	http_idle(const struct http_parser *);

/* A field's name or value, as a pointer into head. */
static inline const char *
http_span_ptr(const char *head, struct http_span s)
{
	return head + s.off;
}

/* Find the first field named name (case-insensitive); -1 when absent. */
int	http_find(const struct http_msg *, const char *head, const char *name);

/* Whether a comma-separated field value lists token (case-insensitive). */
bool	http_list_has(const char *value, size_t len, const char *token);

/* What the proxy adds to a forwarded request. */
struct http_fwd {
	const char	*client_ip;	/* X-Forwarded-For is appended to */
	const char	*proto;		/* X-Forwarded-Proto, "http" */
	const char	*via;		/* Via is appended to, e.g. "1.1 hourglass" */
	const char	*deadline_name;	/* NULL: do not set */
	int64_t		 deadline_ms;	/* value for deadline_name */
	const char	*request_id;	/* X-Request-Id; NULL: relayed as sent */
	size_t		 request_id_len;
	const char	*upgrade;	/* Upgrade to send with Connection:
					 * upgrade; NULL: none */
	int64_t		 grpc_ms;	/* > 0: grpc-timeout is rewritten to
					 * this many ms */
	size_t		 upgrade_len;
	bool		 strip_expect;	/* the proxy answers 100-continue itself */
	const char	*host;		/* Host when the client sent none and the
					 * target names no authority (HTTP/1.0);
					 * NULL: an empty Host */
};

/*
 * Write the head to forward upstream: "METHOD path HTTP/1.1", the fields
 * without hop-by-hop ones (Connection and each field it names, Keep-Alive,
 * TE, Trailer, Upgrade, Proxy-Connection) and without the ones we set
 * (X-Forwarded-Proto, X-Forwarded-Host, the deadline header), then
 * X-Forwarded-For, X-Forwarded-Proto, X-Forwarded-Host and Via.  The
 * framing fields go out canonical: Content-Length in plain decimal,
 * Transfer-Encoding as exactly "chunked" (the body is re-encoded).
 * Returns the length, or -1 when it does not fit cap.
 *
 * The client's X-Forwarded-For and Via values are joined in order with
 * ", " and client_ip / via appended (NULL: relayed as sent).  proto NULL
 * means "http".  X-Forwarded-Host is the authority, left out when there is
 * none.  An absolute-form target is sent in origin-form, with a Host from
 * its authority when the client sent none; a request with neither gets
 * fwd->host.  Then "deadline_name: deadline_ms" when deadline_name is set,
 * and Expect is dropped when strip_expect; X-Request-Id is request_id when
 * set (the client's own fields dropped); "grpc-timeout: <grpc_ms>m" in
 * place of the client's when grpc_ms is set; "Connection: upgrade" and
 * "Upgrade: " upgrade when upgrade is set.  Connection cannot remove Host
 * or the framing fields.
 */
ssize_t	http_build_request(const struct http_msg *, const char *head,
	    const struct http_fwd *, char *out, size_t cap);

/*
 * Write the head to send the client: "HTTP/1.1 status reason", the fields
 * without hop-by-hop ones, then "Connection: close" when close is set, or
 * "Connection: keep-alive" for an HTTP/1.0 client that keeps the
 * connection.  dechunk: the body will be sent de-chunked to the end of the
 * stream (an HTTP/1.0 client), so Transfer-Encoding is dropped.  The
 * framing fields go out canonical, as for a request.  A 101 that accepts
 * an upgrade (HTTP_F_UPGRADE) keeps its Upgrade fields and says
 * "Connection: upgrade" instead.  ps (pslen bytes; NULL: none) is our
 * Proxy-Status member: written after the upstream's own members, which
 * are joined into one field with it (RFC 9209: the hop nearest the client
 * is last).
 */
ssize_t	http_build_response(const struct http_msg *, const char *head,
	    bool close, bool keepalive10, bool dechunk, const char *ps,
	    size_t pslen, char *out, size_t cap);

/* A complete small response of our own (408, 502, 504 ...), with a short
 * text body, and Connection: close when close is set. */
ssize_t	http_build_error(int status, bool close, char *out, size_t cap);

/* The same, its body's line followed by ": " and detail (detail_len bytes,
 * printable ASCII; NULL for none), and a Proxy-Status field of the member
 * ps (a C string; NULL for none). */
ssize_t	http_build_error_detail(int status, bool close, const char *detail,
	    size_t detail_len, const char *ps, char *out, size_t cap);

/* The reason phrase for a status code ("Unknown" for one we do not know). */
const char *http_reason(int status);

#endif
