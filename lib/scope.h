/*
 * scope.h: the names of the nested deadlines of a request.
 *
 * The order is outer first: on a tie between two deadlines the scope with
 * the lower value is the cause.  drain ⊃ keepalive/client_header ⊃ request ⊃
 * client_idle ⊃ try ⊃ connect/upstream_header ⊃ upstream_idle.
 */
#ifndef HG_SCOPE_H
#define HG_SCOPE_H

enum scope {
	SCOPE_DRAIN,		/* SIGTERM -> forced cancel */
	SCOPE_KEEPALIVE,	/* idle between requests on a client connection */
	SCOPE_CLIENT_HEADER,	/* accept or first byte -> request head complete */
	SCOPE_REQUEST,		/* request head complete -> response complete */
	SCOPE_CLIENT_IDLE,	/* idle while reading the body or writing the response */
	SCOPE_TRY,		/* one upstream attempt: connect start -> response head */
	SCOPE_CONNECT,		/* TCP connect to one upstream server */
	SCOPE_UPSTREAM_HEADER,	/* request sent upstream -> response head complete */
	SCOPE_UPSTREAM_IDLE,	/* idle while sending the body or reading the response */
	SCOPE_TUNNEL_MAX,	/* 101 -> the tunnel's end: its lifetime */
	SCOPE_TUNNEL_IDLE,	/* idle while neither side of a tunnel sends */
	SCOPE_COUNT
};

/* The scope's configuration key and log name, e.g. "upstream_header". */
const char	*scope_name(enum scope);

/* The scope named by s (length len), or -1. */
int		 scope_lookup(const char *s, size_t len);

/* Whether the scope is idle (last progress + N) rather than fixed. */
int		 scope_is_idle(enum scope);

/* How many scopes are idle. */
#define SCOPE_IDLE_COUNT	4

/*
 * The rank of idle scope s among the idle scopes (0 to SCOPE_IDLE_COUNT -
 * 1), or -1 for a fixed or invalid scope: where a task keeps its progress
 * stamp.  Inline so that a constant scope folds to a constant.
 */
static inline int
scope_idle_index(enum scope s)
{
	switch (s) {
	case SCOPE_KEEPALIVE:
		return 0;
	case SCOPE_CLIENT_IDLE:
		return 1;
	case SCOPE_UPSTREAM_IDLE:
		return 2;
	case SCOPE_TUNNEL_IDLE:
		return 3;
	default:
		return -1;
	}
}

#endif
