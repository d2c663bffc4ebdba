/*
 * floor.c: the bench's "floor" contender, a minimal epoll byte relay.
 *
 * usage: floor LISTEN_HOST:PORT UPSTREAM_HOST:PORT [PORT_FILE]
 *
 * For each accepted client connection it opens one connection to the
 * upstream and copies bytes both ways.  It does no HTTP work at all: no
 * parsing, no pooling, no timeouts, no logging.  When either side closes or
 * fails, both are closed.  One thread, level-triggered epoll, non-blocking
 * sockets, one read(2) per readiness event into one shared buffer and one
 * write(2) of what was read.  Only a write that comes up short keeps bytes
 * (in a malloc'd remainder): it pauses the reading side and waits for
 * EPOLLOUT.  An idle pair holds no buffer at all.
 *
 * A proxy that parses HTTP has to do at least this much work per request,
 * so no L7 proxy can spend less CPU per request on the same machine; the
 * bench reports every proxy as a multiple of it.  LISTEN port 0 takes an
 * ephemeral port, written to PORT_FILE when given.  IPv4 literals only.
 * SIGTERM or SIGINT exits.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>

#include <signal.h>

#define RELAY_NAME	"floor"
#include "relay.h"

#define BUFSZ	65536		/* the one read buffer */
#define NEVENTS	256

struct pair;

struct side {			/* one socket of a pair */
	int		 fd;
	int		 idx;		/* 0 client, 1 upstream */
	uint32_t	 ev;		/* events registered with epoll */
	struct pair	*p;
};

struct rest {			/* bytes read from one side, not yet written to the other */
	size_t		 off, len;
	char		 data[];
};

struct pair {
	struct side	 s[2];
	struct rest	*r[2];		/* r[i]: read from s[i], for s[1 - i]; NULL if none */
	struct pair	*next_dead;
	int		 dead;
};

static int			 ep;
static struct sockaddr_in	 upstream;
static struct pair		*dead_list;
static char			 buf[BUFSZ];
static volatile sig_atomic_t	 stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Register the events a side needs now: read while nothing it sent is
 * waiting, write while bytes for it are waiting. */
static void
side_update(struct side *s)
{
	struct pair		*p = s->p;
	struct epoll_event	 e;
	uint32_t		 want;

	want = (p->r[s->idx] == NULL ? EPOLLIN : 0) |
	    (p->r[1 - s->idx] != NULL ? EPOLLOUT : 0);
	if (want == s->ev)
		return;
	e.events = want;
	e.data.ptr = s;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e) == 0)
		s->ev = want;
}

/* Close both sockets; the memory is freed after the current batch of
 * events, which may still name this pair. */
static void
pair_close(struct pair *p)
{
	if (p->dead)
		return;
	p->dead = 1;
	close(p->s[0].fd);
	close(p->s[1].fd);
	free(p->r[0]);
	free(p->r[1]);
	p->next_dead = dead_list;
	dead_list = p;
}

/* Write len bytes of data to fd once; keep what did not go in *rp.
 * 0, or -1 when the peer failed or memory ran out. */
static int
send_or_keep(int fd, const char *data, size_t len, struct rest **rp)
{
	struct rest	*r;
	ssize_t		 n;

	n = write(fd, data, len);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		n = 0;
	}
	if ((size_t)n == len)
		return 0;
	if ((r = malloc(sizeof *r + len - (size_t)n)) == NULL)
		return -1;
	r->off = 0;
	r->len = len - (size_t)n;
	memcpy(r->data, data + n, r->len);
	*rp = r;
	return 0;
}

/* The peer of s may take more: write what s has been waiting to send it. */
static int
flush_rest(struct rest **rp, int fd)
{
	struct rest	*r = *rp;
	ssize_t		 n;

	n = write(fd, r->data + r->off, r->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	r->off += (size_t)n;
	r->len -= (size_t)n;
	if (r->len == 0) {
		free(r);
		*rp = NULL;
	}
	return 0;
}

static void
side_event(struct side *s, uint32_t events)
{
	struct pair	*p = s->p;
	struct side	*peer = &p->s[1 - s->idx];
	struct rest	**out = &p->r[1 - s->idx];	/* for s */
	ssize_t		 n;

	if (p->dead)
		return;
	if (events & EPOLLERR)
		goto fail;
	if ((events & EPOLLHUP) && p->r[s->idx] != NULL)
		goto fail;	/* gone while paused: "close both when either closes" */
	if ((events & EPOLLOUT) && *out != NULL && flush_rest(out, s->fd) == -1)
		goto fail;
	if ((events & (EPOLLIN | EPOLLHUP)) && p->r[s->idx] == NULL) {
		n = read(s->fd, buf, BUFSZ);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			goto fail;
		if (n > 0 && send_or_keep(peer->fd, buf, (size_t)n, &p->r[s->idx]) == -1)
			goto fail;
	}
	side_update(s);
	side_update(peer);
	return;
fail:
	pair_close(p);
}

static int
add_fd(int fd, uint32_t events, void *ptr)
{
	struct epoll_event	 e;

	e.events = events;
	e.data.ptr = ptr;
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void
accept_all(int lfd)
{
	struct pair		*p;
	int			 cfd, ufd, i;

	while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		p = malloc(sizeof *p);
		if (p == NULL || (ufd = relay_connect(cfd, &upstream)) == -1) {
			close(cfd);
			free(p);
			continue;
		}
		p->dead = 0;
		p->s[0].fd = cfd;
		p->s[1].fd = ufd;
		for (i = 0; i < 2; i++) {
			p->s[i].idx = i;
			p->s[i].ev = EPOLLIN;
			p->s[i].p = p;
			p->r[i] = NULL;
		}
		/* Bytes for a still-connecting upstream wait in r[0] (write
		 * gives EAGAIN) until EPOLLOUT says the connect is done. */
		if (add_fd(cfd, EPOLLIN, &p->s[0]) == -1 ||
		    add_fd(ufd, EPOLLIN, &p->s[1]) == -1) {
			close(cfd);
			close(ufd);
			free(p);
		}
	}
	if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
		fprintf(stderr, "floor: accept: %s\n", strerror(errno));
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[NEVENTS];
	struct sockaddr_in	 la;
	struct sigaction	 sa;
	struct pair		*p;
	int			 lfd, n, i;

	relay_args(argc, argv, &la, &upstream);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;	/* no SA_RESTART: epoll_wait returns */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = relay_listen(&la, argc == 4 ? argv[3] : NULL);
	fprintf(stderr, "floor: listening on port %u\n", ntohs(la.sin_port));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		relay_die("epoll_create1");
	if (add_fd(lfd, EPOLLIN, NULL) == -1)
		relay_die("epoll_ctl");

	while (!stop) {
		n = epoll_wait(ep, evs, NEVENTS, -1);
		if (n == -1 && errno != EINTR)
			relay_die("epoll_wait");
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				accept_all(lfd);
			else
				side_event(evs[i].data.ptr, evs[i].events);
		}
		while ((p = dead_list) != NULL) {
			dead_list = p->next_dead;
			free(p);
		}
	}
	close(lfd);
	close(ep);
	return 0;
}
