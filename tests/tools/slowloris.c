/*
 * slowloris.c: a load tool for the hardening scenarios.  Loopback only.
 *
 * Trickle mode (the default) opens N connections to 127.0.0.1:PORT, and
 * on each sends a request head that never ends, one byte every INTERVAL
 * ms, until the server answers or closes.  For each connection it notes
 * when the connect completed, when the first response byte came, the
 * status, and when the server closed.  It then prints one summary line:
 *
 *	trickle conns=N connected=C answered=A status_EXPECT=S in_window=W
 *	    early=E late=L other_status=O closed=K reset=R no_answer=Z
 *	    min_ms=.. p50_ms=.. max_ms=.. open_ms=..
 *
 * where the times are from connect to the first response byte, and
 * in_window counts the answers with status EXPECT that came within
 * WANT_MS +- TOL_MS.  open_ms is how long opening all connections took.
 *
 *	slowloris -p PORT [-n 2000] [-i 200] [-e 408] [-w 2000] [-t 300]
 *	    [-T SECONDS] [-r READY_FILE]
 *
 * READY_FILE is written once every connection is open.  -T bounds the run
 * (default: WANT_MS / 1000 + 5).
 *
 * Normal mode measures a well-behaved client meanwhile: COUNT sequential
 * GET requests, each on a fresh connection with "Connection: close", GAP
 * ms apart, each bounded by 2 s.  It prints
 *
 *	normal n=COUNT ok=OK other=O failed=F p50_ms=.. p99_ms=.. max_ms=..
 *
 * where ok counts the 200 answers read whole (to the server's close) and
 * the times run from connect() to that close.
 *
 *	slowloris -p PORT -N COUNT [-g GAP_MS] [-P PATH]
 *
 * The exit status is 0 unless the tool itself failed (bad arguments, no
 * memory); the caller judges the figures.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OPEN_BATCH	100	/* connects per batch while opening */
#define OPEN_PAUSE_MS	5	/* between batches, so the backlog keeps up */
#define NORMAL_LIMIT_MS	2000	/* a normal request slower than this failed */

/* The head that is never finished. */
static const char trickle_head[] =
    "GET /slowloris HTTP/1.1\r\nHost: slowloris\r\nX-Slow: "
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

enum { C_CONNECTING, C_TRICKLING, C_ANSWERED, C_DONE };

struct conn {
	int		 fd;
	int		 state;
	size_t		 sent;		/* bytes of trickle_head sent */
	int64_t		 t_conn;	/* connect completed, ms */
	int64_t		 t_answer;	/* first response byte, ms */
	int		 status;	/* parsed status, 0 if none */
	int		 reset;		/* the server reset the connection */
	int		 closed;	/* the server closed (EOF) */
	char		 line[16];	/* the first bytes of the answer */
	size_t		 linelen;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double
now_ms_f(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: slowloris -p PORT [-n CONNS] [-i INTERVAL_MS] [-e STATUS]\n"
	    "           [-w WANT_MS] [-t TOL_MS] [-T SECONDS] [-r READY_FILE]\n"
	    "       slowloris -p PORT -N COUNT [-g GAP_MS] [-P PATH]\n");
	exit(2);
}

static long
num(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < 0)
		usage();
	return v;
}

/* Allow n descriptors and some, as far as the hard limit allows. */
static void
raise_nofile(long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)n + 64 > rl.rlim_cur) {
		rl.rlim_cur = (rlim_t)n + 64;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			perror("slowloris: setrlimit");
	}
}

static void
loopback(struct sockaddr_in *sin, int port)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Parse "HTTP/1.x NNN" from the first bytes of an answer. */
static int
parse_status(const char *s, size_t len)
{
	if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
		return 0;
	if (s[9] < '1' || s[9] > '5' || s[10] < '0' || s[10] > '9' ||
	    s[11] < '0' || s[11] > '9')
		return 0;
	return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Send the next byte of the head, if the server has not answered. */
static void
trickle_one(struct conn *c)
{
	ssize_t w;

	if (c->state != C_TRICKLING || c->sent >= sizeof trickle_head - 1)
		return;
	w = send(c->fd, trickle_head + c->sent, 1, MSG_NOSIGNAL);
	if (w == 1)
		c->sent++;
}

/* Read what the server sent; note the answer, the close or the reset. */
static void
conn_read(struct conn *c, int ep)
{
	char buf[4096];
	ssize_t n;

	for (;;) {
		n = read(c->fd, buf, sizeof buf);
		if (n > 0) {
			if (c->state == C_TRICKLING) {
				c->state = C_ANSWERED;
				c->t_answer = now_ms();
			}
			if (c->linelen < sizeof c->line) {
				size_t k = sizeof c->line - c->linelen;

				if (k > (size_t)n)
					k = (size_t)n;
				memcpy(c->line + c->linelen, buf, k);
				c->linelen += k;
				c->status = parse_status(c->line, c->linelen);
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n == 0)
			c->closed = 1;
		else
			c->reset = 1;
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
		c->state = C_DONE;
		return;
	}
}

static int
run_trickle(int port, long n, long interval, int expect, long want,
    long tol, long limit_s, const char *ready)
{
	struct sockaddr_in sin;
	struct epoll_event ev, evs[256];
	struct conn *cs;
	int64_t t_start, t_open, next_tick, end, *lat;
	long connected = 0, open_ms, i;
	long answered = 0, st = 0, in_win = 0, early = 0, late = 0;
	long other = 0, closed = 0, reset = 0, none = 0, nlat = 0;
	int ep, one = 1;

	raise_nofile(n);
	if ((cs = calloc((size_t)n, sizeof *cs)) == NULL ||
	    (lat = calloc((size_t)n, sizeof *lat)) == NULL) {
		perror("slowloris");
		return 1;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("slowloris: epoll_create1");
		return 1;
	}
	loopback(&sin, port);
	t_start = now_ms();
	for (i = 0; i < n; i++) {
		struct conn *c = &cs[i];

		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			perror("slowloris: socket");
			c->state = C_DONE;
			continue;
		}
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->state = C_CONNECTING;
		if (connect(c->fd, (struct sockaddr *)&sin, sizeof sin) != 0 &&
		    errno != EINPROGRESS) {
			perror("slowloris: connect");
			close(c->fd);
			c->fd = -1;
			c->state = C_DONE;
			continue;
		}
		ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		if ((i + 1) % OPEN_BATCH == 0) {
			/* Let the connects complete, a batch at a time. */
			int64_t until = now_ms() + OPEN_PAUSE_MS;
			int k;

			while (now_ms() < until) {
				k = epoll_wait(ep, evs, 256, 1);
				for (int j = 0; j < k; j++) {
					struct conn *d = evs[j].data.ptr;

					if (d->state == C_CONNECTING &&
					    (evs[j].events & EPOLLOUT)) {
						d->t_conn = now_ms();
						d->state = C_TRICKLING;
						connected++;
						trickle_one(d);
						ev.events = EPOLLIN |
						    EPOLLRDHUP;
						ev.data.ptr = d;
						epoll_ctl(ep, EPOLL_CTL_MOD,
						    d->fd, &ev);
					}
					if (evs[j].events & (EPOLLIN |
					    EPOLLRDHUP | EPOLLHUP | EPOLLERR))
						conn_read(d, ep);
				}
			}
		}
	}
	t_open = -1;
	if (limit_s == 0)
		limit_s = want / 1000 + 5;
	end = t_start + limit_s * 1000;
	next_tick = now_ms() + interval;
	for (;;) {
		int64_t now = now_ms();
		long live = 0;
		int k, wait;

		if (t_open < 0 && connected + 0 >= n) {
			t_open = now;
			if (ready != NULL) {
				FILE *f = fopen(ready, "w");

				if (f != NULL) {
					fprintf(f, "%ld\n", connected);
					fclose(f);
				}
			}
		}
		if (now >= next_tick) {
			for (i = 0; i < n; i++)
				trickle_one(&cs[i]);
			next_tick += interval;
			if (next_tick <= now)
				next_tick = now + interval;
		}
		for (i = 0; i < n; i++)
			if (cs[i].state != C_DONE)
				live++;
		if (live == 0 || now >= end)
			break;
		wait = (int)(next_tick - now);
		if (wait > (int)(end - now))
			wait = (int)(end - now);
		if (wait < 0)
			wait = 0;
		k = epoll_wait(ep, evs, 256, wait);
		for (int j = 0; j < k; j++) {
			struct conn *c = evs[j].data.ptr;

			if (c->state == C_CONNECTING) {
				if (evs[j].events & (EPOLLERR | EPOLLHUP)) {
					conn_read(c, ep);
					continue;
				}
				if (evs[j].events & EPOLLOUT) {
					c->t_conn = now_ms();
					c->state = C_TRICKLING;
					connected++;
					trickle_one(c);
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd,
					    &ev);
				}
			}
			if (evs[j].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP |
			    EPOLLERR))
				conn_read(c, ep);
		}
	}
	if (t_open < 0)
		t_open = now_ms();
	open_ms = (long)(t_open - t_start);

	for (i = 0; i < n; i++) {
		struct conn *c = &cs[i];
		int64_t d;

		if (c->t_answer == 0) {
			none++;
		} else {
			answered++;
			d = c->t_answer - c->t_conn;
			lat[nlat++] = d;
			if (c->status == expect) {
				st++;
				if (d < want - tol)
					early++;
				else if (d > want + tol)
					late++;
				else
					in_win++;
			} else
				other++;
		}
		closed += c->closed;
		reset += c->reset;
		if (c->fd >= 0)
			close(c->fd);
	}
	qsort(lat, (size_t)nlat, sizeof *lat, cmp_i64);
	printf("trickle conns=%ld connected=%ld answered=%ld status_%d=%ld "
	    "in_window=%ld early=%ld late=%ld other_status=%ld closed=%ld "
	    "reset=%ld no_answer=%ld min_ms=%lld p50_ms=%lld max_ms=%lld "
	    "open_ms=%ld\n", n, connected, answered, expect, st, in_win,
	    early, late, other, closed, reset, none,
	    (long long)(nlat ? lat[0] : -1),
	    (long long)(nlat ? lat[nlat / 2] : -1),
	    (long long)(nlat ? lat[nlat - 1] : -1), open_ms);
	free(cs);
	free(lat);
	close(ep);
	return 0;
}

/* One normal request on a fresh connection: 1 for a 200 read whole, 0 for
 * another status, -1 for a failure.  *ms is the time it took. */
static int
normal_one(const struct sockaddr_in *sin, const char *req, size_t reqlen,
    double *ms)
{
	char buf[16384], head[16];
	size_t headlen = 0;
	double t0 = now_ms_f();
	struct pollfd pfd;
	ssize_t n;
	int fd, one = 1, rc = -1, left;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) != 0 ||
	    send(fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen)
		goto out;
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (;;) {
		left = (int)(t0 + NORMAL_LIMIT_MS - now_ms_f());
		if (left <= 0 || poll(&pfd, 1, left) <= 0)
			goto out;
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		if (headlen < sizeof head) {
			size_t k = sizeof head - headlen;

			if (k > (size_t)n)
				k = (size_t)n;
			memcpy(head + headlen, buf, k);
			headlen += k;
		}
	}
	rc = parse_status(head, headlen) == 200 ? 1 : 0;
out:
	close(fd);
	*ms = now_ms_f() - t0;
	return rc;
}

static int
run_normal(int port, long count, long gap, const char *path)
{
	struct sockaddr_in sin;
	char req[512];
	double *ms;
	long ok = 0, other = 0, failed = 0, i;
	int r, reqlen;

	if (count == 0)
		usage();
	loopback(&sin, port);
	reqlen = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: normal\r\n"
	    "Connection: close\r\n\r\n", path);
	if (reqlen <= 0 || (size_t)reqlen >= sizeof req ||
	    (ms = calloc((size_t)count, sizeof *ms)) == NULL)
		return 1;
	for (i = 0; i < count; i++) {
		r = normal_one(&sin, req, (size_t)reqlen, &ms[i]);
		if (r == 1)
			ok++;
		else if (r == 0)
			other++;
		else
			failed++;
		if (gap > 0) {
			struct timespec ts = { gap / 1000,
			    (gap % 1000) * 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	qsort(ms, (size_t)count, sizeof *ms, cmp_dbl);
	printf("normal n=%ld ok=%ld other=%ld failed=%ld p50_ms=%.3f "
	    "p99_ms=%.3f max_ms=%.3f\n", count, ok, other, failed,
	    ms[count / 2], ms[(count * 99 + 99) / 100 - 1], ms[count - 1]);
	free(ms);
	return 0;
}

int
main(int argc, char **argv)
{
	long port = -1, n = 2000, interval = 200, want = 2000, tol = 300;
	long limit = 0, normal = 0, gap = 0;
	int expect = 408, opt;
	const char *ready = NULL, *path = "/";

	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "p:n:i:e:w:t:T:r:N:g:P:h")) != -1) {
		switch (opt) {
		case 'p': port = num(optarg); break;
		case 'n': n = num(optarg); break;
		case 'i': interval = num(optarg); break;
		case 'e': expect = (int)num(optarg); break;
		case 'w': want = num(optarg); break;
		case 't': tol = num(optarg); break;
		case 'T': limit = num(optarg); break;
		case 'r': ready = optarg; break;
		case 'N': normal = num(optarg); break;
		case 'g': gap = num(optarg); break;
		case 'P': path = optarg; break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || optind != argc || n == 0 ||
	    interval == 0)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (normal > 0)
		return run_normal((int)port, normal, gap, path);
	return run_trickle((int)port, n, interval, expect, want, tol, limit,
	    ready);
}
