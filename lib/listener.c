/*
 * listener.c: listening sockets, accepting in batches; see listener.h.
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

#include <event2/event_struct.h>

#include "listener.h"
#include "log.h"
#include "netaddr.h"

#define ACCEPT_BATCH	64	/* accepts per wake-up, at most */

/* One listening socket. */
struct listener {
	int		 ls_fd;
	struct event	 ls_ev;
	bool		 ls_paused;
	struct listener_cbs ls_cbs;
	struct sockaddr_storage ls_addr;	/* as bound */
	socklen_t	 ls_addrlen;
	char		 ls_cfg[96];		/* the listen line; "" if adopted */
	bool		 ls_tls;		/* the line said tls */
	char		 ls_name[64];
};

static void	listener_accept_cb(evutil_socket_t, short, void *);

/* Make a listener of a listening socket and start accepting on it. */
static struct listener *
listener_add(struct event_base *base, int fd, const char *cfgtext,
    const struct listener_cbs *cbs, bool paused, char *err, size_t errlen)
{
	struct listener *ls;

	if ((ls = calloc(1, sizeof *ls)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	ls->ls_addrlen = sizeof ls->ls_addr;
	getsockname(fd, (struct sockaddr *)&ls->ls_addr, &ls->ls_addrlen);
	netaddr_format((struct sockaddr *)&ls->ls_addr, ls->ls_name,
	    sizeof ls->ls_name, NULL);
	snprintf(ls->ls_cfg, sizeof ls->ls_cfg, "%s", cfgtext);
	ls->ls_fd = fd;
	ls->ls_cbs = *cbs;
	ls->ls_paused = true;
	event_assign(&ls->ls_ev, base, fd, EV_READ | EV_PERSIST,
	    listener_accept_cb, ls);
	listener_pause(ls, paused);
	log_info("listening on %s", ls->ls_name);
	return ls;
}

/*
 * Bind and listen on one address, with SO_REUSEPORT so that every worker
 * can have its own socket.  With like, bind like's address and port (the
 * port 0 of the first worker resolved).  Logs the address bound.
 */
struct listener *
listener_open(struct event_base *base, const struct config_addr *a,
    const struct listener *like, const struct listener_cbs *cbs, bool paused,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct listener *ls;
	socklen_t len;
	int fd, one = 1;

	if (like != NULL) {
		ss = like->ls_addr;
		len = like->ls_addrlen;
	} else if (netaddr_from_config(a, &ss, &len) != 0) {
		snprintf(err, errlen, "listen %s: not a numeric address",
		    a->text);
		return NULL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", a->text,
		    strerror(errno));
		return NULL;
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
		return NULL;
	}
	if ((ls = listener_add(base, fd, a->text, cbs, paused, err, errlen)) !=
	    NULL)
		ls->ls_tls = like != NULL ? like->ls_tls : a->tls;
	return ls;
}

/* Accept on a socket someone else bound (socket activation). */
struct listener *
listener_adopt(struct event_base *base, int fd,
    const struct listener_cbs *cbs, bool paused, char *err, size_t errlen)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	evutil_make_socket_nonblocking(fd);
	evutil_make_socket_closeonexec(fd);
	return listener_add(base, fd, "", cbs, paused, err, errlen);
}

/* Stop listening and free the listener. */
void
listener_close(struct listener *ls)
{
	event_del(&ls->ls_ev);
	close(ls->ls_fd);
	free(ls);
}

/* Stop or resume accepting. */
void
listener_pause(struct listener *ls, bool pause)
{
	if (pause == ls->ls_paused)
		return;
	ls->ls_paused = pause;
	if (pause)
		event_del(&ls->ls_ev);
	else
		event_add(&ls->ls_ev, NULL);
}

/* The listen line it was opened from, "" when adopted. */
const char *
listener_config(const struct listener *ls)
{
	return ls->ls_cfg;
}

/* Whether its listen line asked for TLS. */
bool
listener_tls(const struct listener *ls)
{
	return ls->ls_tls;
}

/* The address it is bound to. */
const char *
listener_name(const struct listener *ls)
{
	return ls->ls_name;
}

/* Accept the connections waiting on a listener. */
static void
listener_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *ls = arg;
	struct sockaddr_storage ss;
	socklen_t len;
	int cfd;

	(void)what;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof ss;
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			ls->ls_cbs.lc_accept(ls->ls_cbs.lc_arg, ls, cfd,
			    (struct sockaddr *)&ss, len);
			if (ls->ls_paused)
				break;
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN)
			ls->ls_cbs.lc_error(ls->ls_cbs.lc_arg, ls, errno);
		break;
	}
}
