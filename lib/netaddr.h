/*
 * netaddr.h: socket addresses, from a configuration address and as text.
 * The one parser and the one formatter of addresses: listeners, the
 * metrics listener, upstream servers and client connections use them.
 */
#ifndef HG_NETADDR_H
#define HG_NETADDR_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* The longest text netaddr_format() writes, NUL included:
 * "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535". */
#define NETADDR_TEXT_MAX	56

/*
 * Fill ss from a numeric configuration address: an IPv4 or IPv6 literal,
 * or "*" for any IPv4 address.  0, or -1 when the host is a name (which
 * only the resolver can turn into an address).
 */
int	netaddr_from_config(const struct config_addr *,
	    struct sockaddr_storage *, socklen_t *);

/*
 * Write "ip:port" or "[ip]:port" ("unknown" for another family) into out,
 * cut to len; *iplen (when not NULL) is set to the length of the ip part.
 * Returns the length written.
 */
size_t	netaddr_format(const struct sockaddr *, char *out, size_t len,
	    uint8_t *iplen);

#endif
