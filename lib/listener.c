/*
 * listener.c: listening sockets and accept with backpressure.
 *
 * When accept(2) runs out of descriptors (EMFILE, ENFILE) every listener of
 * the proxy pauses for a second; the proxy keeps a few descriptors in
 * reserve so that requests in flight can still open their upstream legs.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy_impl.h"

#define ACCEPT_BATCH	64	/* accepts per wake-up, at most */
#define ACCEPT_PAUSE_MS	1000

static void	listener_accept_cb(evutil_socket_t, short, void *);

/* Fill a socket address from a config address ("*" is any IPv4). */
static int
listener_sockaddr(const struct config_addr *a, struct sockaddr_storage *ss,
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

/* Name a bound address "ip:port" or "[ip]:port". */
static void
listener_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
	} else
		snprintf(buf, len, "fd");
}

/* Make a listener of a listening socket and start accepting on it. */
static int
listener_add(struct proxy *px, int fd, const char *cfgtext, char *err,
    size_t errlen)
{
	struct listener *ls;

	if ((ls = calloc(1, sizeof *ls)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return -1;
	}
	ls->ls_addrlen = sizeof ls->ls_addr;
	getsockname(fd, (struct sockaddr *)&ls->ls_addr, &ls->ls_addrlen);
	listener_name(&ls->ls_addr, ls->ls_name, sizeof ls->ls_name);
	snprintf(ls->ls_cfg, sizeof ls->ls_cfg, "%s", cfgtext);
	ls->ls_proxy = px;
	ls->ls_fd = fd;
	event_assign(&ls->ls_ev, px->px_base, fd, EV_READ | EV_PERSIST,
	    listener_accept_cb, ls);
	if (!px->px_accept_paused)
		event_add(&ls->ls_ev, NULL);
	TAILQ_INSERT_TAIL(&px->px_listeners, ls, ls_entry);
	log_info("listening on %s", ls->ls_name);
	return 0;
}

/*
 * Bind and listen on one address, with SO_REUSEPORT so that every worker
 * can have its own socket.  With like, bind like's address and port (the
 * port 0 of the first worker resolved).  Logs the address bound.
 */
int
listener_open(struct proxy *px, const struct config_addr *a,
    const struct listener *like, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (like != NULL) {
		ss = like->ls_addr;
		len = like->ls_addrlen;
	} else if (listener_sockaddr(a, &ss, &len) != 0) {
		snprintf(err, errlen, "listen %s: not a numeric address",
		    a->text);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", a->text,
		    strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
	    listen(fd, 1024) != 0) {
		snprintf(err, errlen, "listen %s: %s", a->text,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return listener_add(px, fd, a->text, err, errlen);
}

/* Accept on a socket someone else bound (socket activation). */
int
listener_adopt(struct proxy *px, int fd, char *err, size_t errlen)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	return listener_add(px, fd, "", err, errlen);
}

/* Stop listening and free the listener. */
void
listener_close(struct listener *ls)
{
	TAILQ_REMOVE(&ls->ls_proxy->px_listeners, ls, ls_entry);
	event_del(&ls->ls_ev);
	close(ls->ls_fd);
	free(ls);
}

/* Pause or resume accepting on every listener of the proxy. */
void
listener_pause_all(struct proxy *px, bool pause)
{
	struct listener *ls;

	px->px_accept_paused = pause;
	TAILQ_FOREACH(ls, &px->px_listeners, ls_entry) {
		if (pause)
			event_del(&ls->ls_ev);
		else
			event_add(&ls->ls_ev, NULL);
	}
}

/* Accept the connections waiting on a listener. */
static void
listener_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *ls = arg;
	struct proxy *px = ls->ls_proxy;
	struct sockaddr_storage ss;
	struct timeval tv = { ACCEPT_PAUSE_MS / 1000,
	    (ACCEPT_PAUSE_MS % 1000) * 1000 };
	socklen_t len;
	int cfd;

	(void)what;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof ss;
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			client_accept(px, cfd, (struct sockaddr *)&ss, len);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			log_warn("accept on %s: %s: pausing accepts for %d ms",
			    ls->ls_name, strerror(errno), ACCEPT_PAUSE_MS);
			listener_pause_all(px, true);
			evtimer_add(&px->px_accept_pause, &tv);
		} else if (errno != EAGAIN)
			log_err("accept on %s: %s", ls->ls_name,
			    strerror(errno));
		break;
	}
}
