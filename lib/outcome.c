/* outcome.c: the table of outcomes (README, "Deadlines and outcomes"). */
#include <stddef.h>
#include <stdio.h>

#include "outcome.h"

static const struct outcome_info outcome_table[OUTCOME_COUNT] = {
	[OUTCOME_OK] = { "ok", 0, OUTCOME_KIND_OK, NULL },
	[OUTCOME_TIMEOUT + SCOPE_DRAIN] = { "timeout:drain", 503,
	    OUTCOME_KIND_TIMEOUT, "http_response_timeout" },
	[OUTCOME_TIMEOUT + SCOPE_KEEPALIVE] = { "timeout:keepalive", 0,
	    OUTCOME_KIND_TIMEOUT, NULL },
	[OUTCOME_TIMEOUT + SCOPE_CLIENT_HEADER] = { "timeout:client_header",
	    408, OUTCOME_KIND_TIMEOUT, "http_request_error" },
	[OUTCOME_TIMEOUT + SCOPE_REQUEST] = { "timeout:request", 504,
	    OUTCOME_KIND_TIMEOUT, "http_response_timeout" },
	[OUTCOME_TIMEOUT + SCOPE_CLIENT_IDLE] = { "timeout:client_idle", 408,
	    OUTCOME_KIND_TIMEOUT, "http_request_error" },
	[OUTCOME_TIMEOUT + SCOPE_TRY] = { "timeout:try", 504,
	    OUTCOME_KIND_TIMEOUT, "http_response_timeout" },
	[OUTCOME_TIMEOUT + SCOPE_CONNECT] = { "timeout:connect", 504,
	    OUTCOME_KIND_TIMEOUT, "connection_timeout" },
	[OUTCOME_TIMEOUT + SCOPE_UPSTREAM_HEADER] = { "timeout:upstream_header",
	    504, OUTCOME_KIND_TIMEOUT, "http_response_timeout" },
	[OUTCOME_TIMEOUT + SCOPE_UPSTREAM_IDLE] = { "timeout:upstream_idle",
	    504, OUTCOME_KIND_TIMEOUT, "connection_read_timeout" },
	/* A tunnel's scopes run after the 101 only: the tunnel is cut. */
	[OUTCOME_TIMEOUT + SCOPE_TUNNEL_MAX] = { "timeout:tunnel_max", 504,
	    OUTCOME_KIND_TIMEOUT, "connection_timeout" },
	[OUTCOME_TIMEOUT + SCOPE_TUNNEL_IDLE] = { "timeout:tunnel_idle", 504,
	    OUTCOME_KIND_TIMEOUT, "connection_read_timeout" },
	[OUTCOME_ERROR_CONNECT] = { "error:connect", 502, OUTCOME_KIND_ERROR,
	    "connection_refused" },
	[OUTCOME_ERROR_UPSTREAM_RESET] = { "error:upstream_reset", 502,
	    OUTCOME_KIND_ERROR, "connection_terminated" },
	[OUTCOME_ERROR_UPSTREAM_CLOSED] = { "error:upstream_closed", 502,
	    OUTCOME_KIND_ERROR, "connection_terminated" },
	[OUTCOME_ERROR_UPSTREAM_PROTOCOL] = { "error:upstream_protocol", 502,
	    OUTCOME_KIND_ERROR, "http_protocol_error" },
	[OUTCOME_ERROR_NO_UPSTREAM] = { "error:no_upstream", 503,
	    OUTCOME_KIND_ERROR, "destination_unavailable" },
	[OUTCOME_ERROR_TLS] = { "error:tls", 502, OUTCOME_KIND_ERROR,
	    "tls_protocol_error" },
	[OUTCOME_ABORT_CLIENT] = { "abort:client", 499, OUTCOME_KIND_ABORT,
	    NULL },
	[OUTCOME_REJECT_BAD_REQUEST] = { "reject:bad_request", 400,
	    OUTCOME_KIND_REJECT, "http_request_error" },
	[OUTCOME_REJECT_BODY_TOO_LARGE] = { "reject:body_too_large", 413,
	    OUTCOME_KIND_REJECT, "http_request_error" },
	[OUTCOME_REJECT_URI_TOO_LONG] = { "reject:uri_too_long", 414,
	    OUTCOME_KIND_REJECT, "http_request_error" },
	[OUTCOME_REJECT_HEADER_TOO_LARGE] = { "reject:header_too_large", 431,
	    OUTCOME_KIND_REJECT, "http_request_error" },
	[OUTCOME_REJECT_NOT_IMPLEMENTED] = { "reject:not_implemented", 501,
	    OUTCOME_KIND_REJECT, "http_request_error" },
	[OUTCOME_REJECT_OVERLOAD] = { "reject:overload", 503,
	    OUTCOME_KIND_REJECT, "connection_limit_reached" },
};

_Static_assert(SCOPE_COUNT == 11, "a timeout row per scope in outcome_table");

static const struct outcome_info outcome_unknown = { "?", 500,
    OUTCOME_KIND_ERROR, NULL };

static const char *const outcome_kind_names[OUTCOME_KIND_COUNT] = {
	[OUTCOME_KIND_OK] = "ok",
	[OUTCOME_KIND_TIMEOUT] = "timeout",
	[OUTCOME_KIND_ERROR] = "error",
	[OUTCOME_KIND_ABORT] = "abort",
	[OUTCOME_KIND_REJECT] = "reject",
};

/* The row of an outcome. */
const struct outcome_info *
outcome_info(enum outcome o)
{
	if ((unsigned)o >= OUTCOME_COUNT)
		return &outcome_unknown;
	return &outcome_table[o];
}

/* The name of an outcome kind. */
const char *
outcome_kind_name(enum outcome_kind k)
{
	return (unsigned)k < OUTCOME_KIND_COUNT ? outcome_kind_names[k] : "?";
}

/* Our Proxy-Status member for a response we make; see outcome.h. */
const char *
outcome_proxy_status(enum outcome o, const char *type, char *out, size_t cap)
{
	if (type == NULL)
		type = outcome_info(o)->oi_proxy_status;
	if (type == NULL)
		return NULL;
	snprintf(out, cap, "hourglass; error=%s; details=\"%s\"", type,
	    outcome_name(o));
	return out;
}
