/*
 * relay.h: what the bench's two relays, floor.c and floor_l7.c, share: the
 * command line, the listening socket and the upstream connection.  All
 * static, so that run.sh can still build floor.c alone with one cc
 * command.  Define RELAY_NAME (the name in messages) before including.
 */
#ifndef BENCH_RELAY_H
#define BENCH_RELAY_H

#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RELAY_NAME
#error "define RELAY_NAME before including relay.h"
#endif

static void
relay_die(const char *what)
{
	fprintf(stderr, RELAY_NAME ": %s: %s\n", what, strerror(errno));
	exit(1);
}

/* "HOST:PORT", an IPv4 literal; -1 when malformed. */
static int
relay_parse_addr(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon = strrchr(s, ':');
	char		*end;
	long		 port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
		return -1;
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* Parse the command line, LISTEN UPSTREAM [PORT_FILE], into la and up;
 * exit 2 with the usage on a bad one.  Also raise the descriptor limit. */
static void
relay_args(int argc, char **argv, struct sockaddr_in *la,
    struct sockaddr_in *up)
{
	struct rlimit	 rl;

	if (argc < 3 || argc > 4 || relay_parse_addr(argv[1], la) == -1 ||
	    relay_parse_addr(argv[2], up) == -1) {
		fprintf(stderr, "usage: " RELAY_NAME
		    " LISTEN_HOST:PORT UPSTREAM_HOST:PORT [PORT_FILE]\n");
		exit(2);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A non-blocking listening socket on la; la gets the port bound, which is
 * written to port_file unless NULL.  Exits on failure. */
static int
relay_listen(struct sockaddr_in *la, const char *port_file)
{
	static const int	 one = 1;
	socklen_t		 len = sizeof *la;
	FILE			*f;
	int			 lfd;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1)
		relay_die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)la, sizeof *la) == -1)
		relay_die("bind");
	if (listen(lfd, 1024) == -1)
		relay_die("listen");
	if (getsockname(lfd, (struct sockaddr *)la, &len) == -1)
		relay_die("getsockname");
	if (port_file != NULL) {
		if ((f = fopen(port_file, "w")) == NULL)
			relay_die(port_file);
		fprintf(f, "%u\n", ntohs(la->sin_port));
		fclose(f);
	}
	return lfd;
}

/* Start a non-blocking connection to up for the accepted cfd, and set
 * TCP_NODELAY on both; the upstream's descriptor, or -1. */
static int
relay_connect(int cfd, const struct sockaddr_in *up)
{
	static const int	 one = 1;
	int			 ufd;

	ufd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ufd == -1)
		return -1;
	if (connect(ufd, (const struct sockaddr *)up, sizeof *up) == -1 &&
	    errno != EINPROGRESS) {
		close(ufd);
		return -1;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return ufd;
}

#endif
