/* scope.c: names and kinds of the deadline scopes. */
#include <stddef.h>
#include <string.h>

#include "scope.h"

static const char *const scope_names[SCOPE_COUNT] = {
	[SCOPE_DRAIN] = "drain",
	[SCOPE_KEEPALIVE] = "keepalive",
	[SCOPE_CLIENT_HEADER] = "client_header",
	[SCOPE_REQUEST] = "request",
	[SCOPE_CLIENT_IDLE] = "client_idle",
	[SCOPE_TRY] = "try",
	[SCOPE_CONNECT] = "connect",
	[SCOPE_UPSTREAM_HEADER] = "upstream_header",
	[SCOPE_UPSTREAM_IDLE] = "upstream_idle",
	[SCOPE_TUNNEL_MAX] = "tunnel_max",
	[SCOPE_TUNNEL_IDLE] = "tunnel_idle",
};

/* Return the configuration key of a scope. */
const char *
scope_name(enum scope s)
{
	if ((unsigned)s >= SCOPE_COUNT)
		return "?";
	return scope_names[s];
}

/* Find a scope by name; -1 when there is none. */
int
scope_lookup(const char *s, size_t len)
{
	for (int i = 0; i < SCOPE_COUNT; i++) {
		if (strlen(scope_names[i]) == len &&
		    memcmp(scope_names[i], s, len) == 0)
			return i;
	}
	return -1;
}

/* Idle scopes are "last progress + N"; the rest are fixed. */
int
scope_is_idle(enum scope s)
{
	return scope_idle_index(s) >= 0;
}
