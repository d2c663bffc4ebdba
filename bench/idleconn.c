/*
 * idleconn.c: hold N idle keep-alive client connections open, for the
 * bench's memory part.
 *
 * usage: idleconn PORT N [WINDOW [PATH]]
 *
 * Opens N connections to 127.0.0.1:PORT, at most WINDOW (default 100) at a
 * time in progress; each sends one "GET PATH HTTP/1.1" (PATH defaults to /),
 * reads the whole response (Content-Length framing) and then stays open,
 * idle.  When every connection is idle (or has failed) it prints one line
 *
 *     ready ok=N failed=F non200=X secs=S
 *
 * and waits for its standard input to reach end of file, watching the idle
 * connections meanwhile: one the server closes is counted.  Then it prints
 *
 *     closing peer_closed=K
 *
 * closes them all and exits.  Exit status 0 when every connection got a 200
 * and none was closed by the server, else 1.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define HDR_MAX	4096

enum state { FREE, CONNECTING, READING, IDLE, DONE };

struct conn {
	int		 fd;
	enum state	 st;
	size_t		 got;		/* response bytes so far */
	size_t		 need;		/* whole response, once the head is parsed */
	size_t		 hlen;		/* head bytes kept in hdr */
	char		*hdr;		/* while READING only */
};

static int	 ep;
static char	 request[512];
static size_t	 reqlen;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
set_events(struct conn *c, uint32_t ev, int op)
{
	struct epoll_event	 e;

	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(ep, op, c->fd, &e) == -1) {
		perror("idleconn: epoll_ctl");
		exit(2);
	}
}

/* Parse the response head once complete: 0 more to read, 1 done, -1 bad. */
static int
parse_head(struct conn *c, int *status)
{
	char	*end, *p;
	size_t	 cl = 0;

	c->hdr[c->hlen] = '\0';
	if ((end = strstr(c->hdr, "\r\n\r\n")) == NULL)
		return c->hlen >= HDR_MAX - 1 ? -1 : 0;
	if (strncmp(c->hdr, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->hdr + 9);
	for (p = strstr(c->hdr, "\r\n"); p != NULL && p < end; p = strstr(p + 2, "\r\n"))
		if (strncasecmp(p + 2, "content-length:", 15) == 0)
			cl = strtoul(p + 17, NULL, 10);
	c->need = (size_t)(end + 4 - c->hdr) + cl;
	return 1;
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[256];
	struct sockaddr_in	 sin;
	struct rlimit		 rl;
	struct conn		*conns, *c, stdin_mark;
	char			 buf[65536];
	const char		*path;
	double			 t0;
	long			 port;
	int			 n, window, active = 0, next = 0, ok = 0, failed = 0;
	int			 non200 = 0, peer_closed = 0, ready = 0, i, k, st;
	ssize_t			 r;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: idleconn PORT N [WINDOW [PATH]]\n");
		return 2;
	}
	port = strtol(argv[1], NULL, 10);
	n = atoi(argv[2]);
	window = argc > 3 ? atoi(argv[3]) : 100;
	path = argc > 4 ? argv[4] : "/";
	if (port <= 0 || port > 65535 || n <= 0 || window <= 0) {
		fprintf(stderr, "idleconn: bad arguments\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 16) {
		fprintf(stderr, "idleconn: RLIMIT_NOFILE %llu is too low for %d connections\n",
		    (unsigned long long)rl.rlim_cur, n);
		return 2;
	}
	reqlen = (size_t)snprintf(request, sizeof request,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idleconn\r\n\r\n", path);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((conns = calloc((size_t)n, sizeof *conns)) == NULL ||
	    (ep = epoll_create1(0)) == -1) {
		perror("idleconn");
		return 2;
	}
	t0 = now();

	for (;;) {
		/* Keep WINDOW connections in progress. */
		while (!ready && active < window && next < n) {
			c = &conns[next++];
			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd == -1 || (connect(c->fd, (struct sockaddr *)&sin,
			    sizeof sin) == -1 && errno != EINPROGRESS)) {
				perror("idleconn: connect");
				if (c->fd != -1)
					close(c->fd);
				c->st = DONE;
				failed++;
				continue;
			}
			c->st = CONNECTING;
			set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
			active++;
		}
		if (!ready && active == 0 && next == n) {
			ready = 1;
			printf("ready ok=%d failed=%d non200=%d secs=%.2f\n", ok,
			    failed, non200, now() - t0);
			fflush(stdout);
			stdin_mark.fd = 0;
			set_events(&stdin_mark, EPOLLIN, EPOLL_CTL_ADD);
		}
		k = epoll_wait(ep, evs, 256, -1);
		if (k == -1 && errno != EINTR) {
			perror("idleconn: epoll_wait");
			return 2;
		}
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			if (c == &stdin_mark) {
				r = read(0, buf, sizeof buf);
				if (r > 0)
					continue;
				printf("closing peer_closed=%d\n", peer_closed);
				fflush(stdout);
				for (i = 0; i < n; i++)
					if (conns[i].st == IDLE)
						close(conns[i].fd);
				return failed == 0 && non200 == 0 && peer_closed == 0 ? 0 : 1;
			}
			if (c->st == IDLE) {
				/* The server said something or hung up on an idle connection. */
				if (read(c->fd, buf, sizeof buf) <= 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->st = DONE;
					peer_closed++;
				}
				continue;
			}
			if (c->st == CONNECTING) {
				if ((evs[i].events & (EPOLLERR | EPOLLHUP)) ||
				    write(c->fd, request, reqlen) != (ssize_t)reqlen)
					goto fail;
				c->st = READING;
				c->hdr = malloc(HDR_MAX);
				if (c->hdr == NULL)
					goto fail;
				set_events(c, EPOLLIN, EPOLL_CTL_MOD);
				continue;
			}
			/* READING */
			r = read(c->fd, buf, sizeof buf);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				goto fail;
			}
			c->got += (size_t)r;
			if (c->need == 0) {
				size_t	 take = (size_t)r;

				if (take > HDR_MAX - 1 - c->hlen)
					take = HDR_MAX - 1 - c->hlen;
				memcpy(c->hdr + c->hlen, buf, take);
				c->hlen += take;
				st = 0;
				switch (parse_head(c, &st)) {
				case -1:
					goto fail;
				case 1:
					if (st != 200)
						non200++;
					break;
				}
			}
			if (c->need == 0 || c->got < c->need)
				continue;
			free(c->hdr);
			c->hdr = NULL;
			c->st = IDLE;
			active--;
			ok++;
			continue;
fail:
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			free(c->hdr);
			c->hdr = NULL;
			c->st = DONE;
			active--;
			failed++;
		}
	}
}
