/* netaddr.c: socket addresses from configuration addresses, and as text. */
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

/* Fill ss from a numeric configuration address ("*" is any IPv4). */
int
netaddr_from_config(const struct config_addr *a, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (strcmp(a->host, "*") == 0 ||
	    inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		*len = sizeof *in;
		return 0;
	}
	if (inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		*len = sizeof *in6;
		return 0;
	}
	return -1;
}

/* Write "ip:port" or "[ip]:port". */
size_t
netaddr_format(const struct sockaddr *sa, char *out, size_t len,
    uint8_t *iplen)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	ip[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		n = snprintf(out, len, "%s:%u", ip, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		n = snprintf(out, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else
		n = snprintf(out, len, "unknown");
	if (iplen != NULL)
		*iplen = (uint8_t)strlen(ip);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}
