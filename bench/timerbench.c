/*
 * timerbench.c: how late a proxy's upstream timeout fires, for the bench's
 * timer part.
 *
 * usage: timerbench PORT N SPREAD_MS EXPECT_MS [PATH [RAW_FILE]]
 *
 * Opens N connections to 127.0.0.1:PORT and sends "GET PATH HTTP/1.1"
 * (PATH defaults to /hang) on each: all at once when SPREAD_MS is 0
 * ("burst"), else connection i starts at i * SPREAD_MS / N ("spread").  For
 * each it measures the time from sending the request to the first byte of
 * the reply, or to the close, whichever comes first, and subtracts
 * EXPECT_MS, the proxy's configured upstream header timeout.  The instant
 * of arrival is read once per epoll_wait batch, right after it returns, so
 * the tool's own work on a batch does not count.
 *
 * Prints one line:
 *
 *     n=N s504=A other=B closed=C noreply=D early=E min=.. p50=.. p99=.. max=..
 *
 * (ms, lateness = elapsed - EXPECT_MS; "early" counts negative lateness;
 * the percentiles are over every connection that got a reply or a close).
 * A connection still silent EXPECT_MS + 10 s after the last send counts as
 * noreply.  RAW_FILE, when given, gets one line per connection:
 * "index send_ms lateness_ms status" (status 0 = closed without a reply,
 * -1 = no reply).
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
#include <time.h>
#include <unistd.h>

struct conn {
	int	 fd;
	int	 status;	/* -1 waiting, 0 closed, else HTTP status */
	int	 done;
	double	 start;		/* scheduled connect, ms from t0 */
	double	 sent;		/* request sent, ms from t0; < 0 before */
	double	 late;		/* ms */
};

static struct timespec	 t0;

static double
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec - t0.tv_sec) * 1e3 + (ts.tv_nsec - t0.tv_nsec) / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
finish(struct conn *c, int ep, double at, int status)
{
	c->late = at - c->sent;
	c->status = status;
	c->done = 1;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[512], e;
	struct sockaddr_in	 sin;
	struct rlimit		 rl;
	struct conn		*conns, *c;
	char			 request[512], buf[4096];
	const char		*path;
	double			 spread, expect, t, deadline = -1, *lat;
	long			 port;
	size_t			 reqlen;
	ssize_t			 r;
	int			 n, ep, next = 0, left, i, k, timeout, nlat = 0;
	int			 s504 = 0, other = 0, closed = 0, noreply = 0, early = 0;
	FILE			*raw = NULL;

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: timerbench PORT N SPREAD_MS EXPECT_MS [PATH [RAW_FILE]]\n");
		return 2;
	}
	port = strtol(argv[1], NULL, 10);
	n = atoi(argv[2]);
	spread = atof(argv[3]);
	expect = atof(argv[4]);
	path = argc > 5 ? argv[5] : "/hang";
	if (port <= 0 || port > 65535 || n <= 0 || spread < 0 || expect < 0) {
		fprintf(stderr, "timerbench: bad arguments\n");
		return 2;
	}
	if (argc > 6 && (raw = fopen(argv[6], "w")) == NULL) {
		perror(argv[6]);
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	reqlen = (size_t)snprintf(request, sizeof request,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: timerbench\r\n\r\n", path);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	conns = calloc((size_t)n, sizeof *conns);
	lat = calloc((size_t)n, sizeof *lat);
	if (conns == NULL || lat == NULL || (ep = epoll_create1(0)) == -1) {
		perror("timerbench");
		return 2;
	}
	for (i = 0; i < n; i++) {
		conns[i].fd = -1;
		conns[i].status = -1;
		conns[i].sent = -1;
		conns[i].start = spread * i / n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	left = n;

	while (left > 0) {
		/* Start the connections whose time has come. */
		t = ms_now();
		while (next < n && conns[next].start <= t) {
			c = &conns[next++];
			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd == -1 || (connect(c->fd, (struct sockaddr *)&sin,
			    sizeof sin) == -1 && errno != EINPROGRESS)) {
				perror("timerbench: connect");
				if (c->fd != -1)
					close(c->fd);
				c->done = 1;
				c->status = -1;
				noreply++;
				left--;
				continue;
			}
			e.events = EPOLLOUT;
			e.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
		}
		if (next == n && deadline < 0)
			deadline = ms_now() + spread / n + expect + 10000;
		if (next < n)
			timeout = (int)(conns[next].start - ms_now()) + 1;
		else
			timeout = (int)(deadline - ms_now()) + 1;
		if (timeout < 0)
			timeout = 0;
		k = epoll_wait(ep, evs, 512, timeout);
		t = ms_now();		/* the arrival instant of this batch */
		if (k < 0 && errno != EINTR) {
			perror("timerbench: epoll_wait");
			return 2;
		}
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			if (c->sent < 0) {
				if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
					finish(c, ep, t, 0);
					c->late = 0;
					c->status = -1;	/* never sent */
					noreply++;
					left--;
					continue;
				}
				c->sent = ms_now();
				if (write(c->fd, request, reqlen) != (ssize_t)reqlen) {
					finish(c, ep, t, -1);
					noreply++;
					left--;
					continue;
				}
				e.events = EPOLLIN;
				e.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
				continue;
			}
			r = read(c->fd, buf, sizeof buf - 1);
			if (r < 0 && errno == EAGAIN)
				continue;
			if (r > 12 && strncmp(buf, "HTTP/1.", 7) == 0) {
				buf[r] = '\0';
				finish(c, ep, t, atoi(buf + 9));
				if (c->status == 504)
					s504++;
				else
					other++;
			} else {
				finish(c, ep, t, 0);	/* closed or reset */
				closed++;
			}
			left--;
		}
		if (next == n && ms_now() > deadline)
			break;
	}

	for (i = 0; i < n; i++) {
		c = &conns[i];
		if (!c->done) {
			close(c->fd);
			noreply++;
		} else if (c->status >= 0) {
			c->late -= expect;
			lat[nlat++] = c->late;
			if (c->late < 0)
				early++;
		}
		if (raw != NULL)
			fprintf(raw, "%d %.3f %.3f %d\n", i, c->sent,
			    c->done && c->status >= 0 ? c->late : 0.0,
			    c->done ? c->status : -1);
	}
	if (raw != NULL)
		fclose(raw);
	qsort(lat, (size_t)nlat, sizeof *lat, cmp_double);
	printf("n=%d s504=%d other=%d closed=%d noreply=%d early=%d", n, s504,
	    other, closed, noreply, early);
	if (nlat > 0)
		printf(" min=%.2f p50=%.2f p99=%.2f max=%.2f", lat[0],
		    lat[(nlat - 1) / 2], lat[(int)((nlat - 1) * 0.99 + 0.5)],
		    lat[nlat - 1]);
	else
		printf(" min=- p50=- p99=- max=-");
	printf("\n");
	return 0;
}
