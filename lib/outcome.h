/*
 * outcome.h: how a request ended, the closed set of outcomes (README,
 * "Deadlines and outcomes").  One row per outcome: its log name, the
 * status hourglass answers with when it ends the request before a response
 * head went out, its kind, and its RFC 9209 Proxy-Status error type.  The
 * request, the access log and the metrics use the enum; the names are for
 * output only, and nothing parses them back.
 */
#ifndef HG_OUTCOME_H
#define HG_OUTCOME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scope.h"

enum outcome {
	OUTCOME_OK,
	/* a scope fired: OUTCOME_TIMEOUT + enum scope */
	OUTCOME_TIMEOUT,
	OUTCOME_TIMEOUT_LAST = OUTCOME_TIMEOUT + SCOPE_COUNT - 1,
	OUTCOME_ERROR_CONNECT,		/* refused, unreachable, unresolved */
	OUTCOME_ERROR_UPSTREAM_RESET,
	OUTCOME_ERROR_UPSTREAM_CLOSED,
	OUTCOME_ERROR_UPSTREAM_PROTOCOL,
	OUTCOME_ERROR_NO_UPSTREAM,	/* no route, or every server down */
	OUTCOME_ERROR_TLS,		/* the upstream TLS handshake or its
					   certificate failed */
	OUTCOME_ABORT_CLIENT,		/* the client went away first */
	OUTCOME_REJECT_BAD_REQUEST,
	OUTCOME_REJECT_BODY_TOO_LARGE,
	OUTCOME_REJECT_URI_TOO_LONG,
	OUTCOME_REJECT_HEADER_TOO_LARGE,
	OUTCOME_REJECT_NOT_IMPLEMENTED,
	OUTCOME_REJECT_OVERLOAD,
	OUTCOME_COUNT
};

enum outcome_kind {
	OUTCOME_KIND_OK,
	OUTCOME_KIND_TIMEOUT,
	OUTCOME_KIND_ERROR,
	OUTCOME_KIND_ABORT,
	OUTCOME_KIND_REJECT,
	OUTCOME_KIND_COUNT
};

struct outcome_info {
	const char	*oi_name;	/* "timeout:connect", as logged */
	uint16_t	 oi_status;	/* answered before a response head
					 * (0: the upstream's; 499: none) */
	uint8_t		 oi_kind;	/* enum outcome_kind */
	const char	*oi_proxy_status; /* RFC 9209 error type, or NULL */
};

/* The row of an outcome (an out-of-range value gets a row named "?"). */
const struct outcome_info *outcome_info(enum outcome);

/* The outcome's log name. */
static inline const char *
outcome_name(enum outcome o)
{
	return outcome_info(o)->oi_name;
}

/* The outcome of scope s firing. */
static inline enum outcome
outcome_timeout(enum scope s)
{
	return (enum outcome)(OUTCOME_TIMEOUT + (int)s);
}

/* The kind of an outcome. */
static inline enum outcome_kind
outcome_kind(enum outcome o)
{
	return (enum outcome_kind)outcome_info(o)->oi_kind;
}

/* The name of an outcome kind: "ok", "timeout", "error", ... */
const char *outcome_kind_name(enum outcome_kind);

/* The longest Proxy-Status member outcome_proxy_status() writes. */
#define OUTCOME_PS_MAX	128

/*
 * Write our Proxy-Status member for a response we make (RFC 9209):
 * "hourglass; error=TYPE; details=\"OUTCOME\"", TYPE the outcome's
 * (or type, when the caller knows better).  out, or NULL when the outcome
 * has no error type (ok, an abort).
 */
const char *outcome_proxy_status(enum outcome, const char *type, char *out,
	    size_t cap);

#endif
