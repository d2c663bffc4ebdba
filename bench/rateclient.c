/*
 * rateclient.c: a fixed-rate (open-loop) HTTP/1.1 load client for latency,
 * the client of bench/hedge.sh.
 *
 * usage: rateclient [-m MAXCONNS] [-t TIMEOUT_S] [-w WARMUP_S] [-o RAW_FILE]
 *            HOST:PORT PATH RATE CONNS SECS
 *
 * Sends RATE requests per second ("GET PATH HTTP/1.1", a Host header) to
 * HOST:PORT (an IPv4 address) for WARMUP_S + SECS seconds, over CONNS
 * keep-alive connections opened before the first request.  Request i is
 * due at t0 + i / RATE, whatever happened to the ones before: a slow answer
 * does not hold the next request back, and every latency is measured from
 * the instant the request was due, not from when it went out, so that a
 * stall of the client's connections shows in the figures instead of being
 * hidden (coordinated omission).  The schedule is kept with a timerfd at
 * absolute instants.
 *
 * Each connection carries one request at a time.  A due request takes the
 * connection idle the longest; if none is idle, a new connection is opened
 * for it, up to MAXCONNS (default 2 x CONNS) in all; past that it waits
 * for the first connection to come free.  Such a request is "late": it
 * could not be sent when due.  A connection the server closes is replaced
 * when next needed.
 *
 * A response ends with its Content-Length, its last chunk (chunked), or
 * the close (neither).  Its latency runs from the due instant to the read
 * that completes it, timed once per epoll_wait batch, right after it
 * returns.  A request with no complete response within TIMEOUT_S
 * (default 10) of being due, or whose connection failed, is an error and
 * has no latency.  Requests due during the first WARMUP_S seconds (default
 * 0) are sent but not counted.
 *
 * Prints one line, latencies in ms over every counted request that got a
 * complete response, whatever its status (the full sample, sorted;
 * nearest rank):
 *
 *   requests=N ok=A non2xx=B errors=E late=L opened=O conns_max=M
 *   sendlag_p99=.. sendlag_max=.. p50=.. p90=.. p99=.. p999=.. max=.. mean=..
 *
 * ok: 2xx; non2xx: any other status; late: requests that found no idle
 * connection when due; opened: connections opened in all; conns_max: the
 * most open at once; sendlag: from the due instant to the write(2).
 * RAW_FILE gets one line per counted request: "due_ms latency_ms status"
 * (status 0 and latency -1 for an error).  Exit status 0, or 2 on a usage
 * or set-up error.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define RC_BUF		16384		/* per connection: a response head fits */
#define RC_EVENTS	256

enum conn_state {
	CS_CONNECTING,		/* connect(2) in progress; a request may wait on it */
	CS_IDLE,		/* open, in the idle queue */
	CS_BUSY,		/* a request sent (or being sent), its response due */
};

enum parse_state {
	PS_HEAD,		/* reading the status line and headers */
	PS_BODY,		/* rs_left body bytes to go (Content-Length) */
	PS_BODY_EOF,		/* the body runs to the close */
	PS_CHUNK_SIZE,		/* reading a chunk-size line */
	PS_CHUNK_DATA,		/* rs_left bytes of chunk data to go */
	PS_CHUNK_CRLF,		/* the CRLF after chunk data */
	PS_TRAILER,		/* trailer lines up to the empty one */
};

struct conn {
	int		 fd;
	enum conn_state	 state;
	uint64_t	 req;		/* the request carried; valid when it has one */
	int		 has_req;
	size_t		 out_off;	/* request bytes written */
	int		 want_out;	/* EPOLLOUT is on */

	enum parse_state ps;
	char		 buf[RC_BUF];
	size_t		 len;		/* bytes in buf */
	uint64_t	 rs_left;
	int		 rs_status;
	int		 rs_close;	/* "Connection: close": close after it */

	struct conn	*next;		/* idle queue, or the free list */
};

/* What happened to each request, by index. */
struct req {
	double		 due;		/* ms from t0 */
	double		 lat;		/* ms; < 0 while pending or on error */
	int		 status;	/* 0: none yet, or error */
	int		 done;
	struct conn	*conn;		/* carrying it, until it is done */
};

static struct timespec	 t0;
static struct sockaddr_in sin_srv;
static char		 request[1024];
static size_t		 reqlen;
static int		 ep;

static struct req	*reqs;
static uint64_t		 nreqs, ndue, nwarm;
static double		 interval_ms, timeout_ms;

static struct conn	*idle_head, *idle_tail;
static uint64_t		*backlog;		/* due requests without a connection */
static uint64_t		 bl_head, bl_tail;	/* FIFO indexes into backlog */
static int		 nconns, maxconns, conns_max, opened;
static uint64_t		 late, finished;
static double		*sendlag;
static uint64_t		 nsendlag;

/* Milliseconds since t0. */
static double
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)(ts.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(ts.tv_nsec - t0.tv_nsec) / 1e6;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: rateclient [-m MAXCONNS] [-t TIMEOUT_S] "
	    "[-w WARMUP_S] [-o RAW_FILE]\n"
	    "           HOST:PORT PATH RATE CONNS SECS\n");
	exit(2);
}

/* Change a connection's epoll interest: always input, output if asked. */
static void
conn_watch(struct conn *c, int out)
{
	struct epoll_event	 e;

	c->want_out = out;
	e.events = EPOLLIN | (out ? EPOLLOUT : 0);
	e.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Open a new connection (non-blocking connect); NULL on failure. */
static struct conn *
conn_open(void)
{
	struct epoll_event	 e;
	struct conn		*c;
	int			 one = 1;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		free(c);
		return NULL;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&sin_srv, sizeof sin_srv) == -1 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		free(c);
		return NULL;
	}
	c->state = CS_CONNECTING;
	c->want_out = 1;
	e.events = EPOLLIN | EPOLLOUT;
	e.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) == -1) {
		close(c->fd);
		free(c);
		return NULL;
	}
	nconns++;
	opened++;
	if (nconns > conns_max)
		conns_max = nconns;
	return c;
}

/* Put a connection at the tail of the idle queue. */
static void
idle_push(struct conn *c)
{
	c->state = CS_IDLE;
	c->next = NULL;
	if (idle_tail != NULL)
		idle_tail->next = c;
	else
		idle_head = c;
	idle_tail = c;
}

/* Take the connection idle the longest; NULL if none. */
static struct conn *
idle_pop(void)
{
	struct conn	*c = idle_head;

	if (c != NULL) {
		idle_head = c->next;
		if (idle_head == NULL)
			idle_tail = NULL;
		c->next = NULL;
	}
	return c;
}

/* Unlink a connection from the idle queue, wherever it is. */
static void
idle_remove(struct conn *c)
{
	struct conn	*p, *prev = NULL;

	for (p = idle_head; p != NULL; prev = p, p = p->next) {
		if (p != c)
			continue;
		if (prev != NULL)
			prev->next = p->next;
		else
			idle_head = p->next;
		if (idle_tail == p)
			idle_tail = prev;
		return;
	}
}

/* A request ends: its latency (or an error), counted once. */
static void
req_finish(uint64_t i, double at, int status)
{
	struct req	*r = &reqs[i];

	if (r->done)
		return;
	r->done = 1;
	r->conn = NULL;
	r->status = status;
	r->lat = status > 0 ? at - r->due : -1;
	finished++;
}

/* Write what is left of the request; -1 if the connection failed. */
static int
conn_send(struct conn *c)
{
	ssize_t	 n;

	while (c->out_off < reqlen) {
		n = write(c->fd, request + c->out_off, reqlen - c->out_off);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (!c->want_out)
				conn_watch(c, 1);
			return 0;
		}
		return -1;
	}
	if (c->want_out)
		conn_watch(c, 0);
	return 0;
}

static void	conn_close(struct conn *, double);

/* Give request i to an open connection and send it. */
static void
conn_start(struct conn *c, uint64_t i, double at)
{
	c->state = CS_BUSY;
	c->req = i;
	c->has_req = 1;
	reqs[i].conn = c;
	if (i >= nwarm)
		sendlag[nsendlag++] = ms_now() - reqs[i].due;
	c->out_off = 0;
	c->ps = PS_HEAD;
	c->len = 0;
	c->rs_close = 0;
	if (conn_send(c) == -1)
		conn_close(c, at);
}

/*
 * Close a connection; its request, if any, is an error.  A request left
 * in the backlog gets a new connection when one is next needed.
 */
static void
conn_close(struct conn *c, double at)
{
	if (c->state == CS_IDLE)
		idle_remove(c);
	if (c->has_req)
		req_finish(c->req, at, 0);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	nconns--;
	free(c);
}

/* Dispatch a due request: an idle connection, a new one, or the backlog. */
static void
dispatch(uint64_t i, double at)
{
	struct conn	*c;

	if ((c = idle_pop()) != NULL) {
		conn_start(c, i, at);
		return;
	}
	if (i >= nwarm)
		late++;
	if (nconns < maxconns && (c = conn_open()) != NULL) {
		c->req = i;
		c->has_req = 1;
		reqs[i].conn = c;
		return;		/* sent once connected */
	}
	backlog[bl_tail++] = i;
}

/* A connection is free: the oldest waiting request, else the idle queue. */
static void
conn_free_up(struct conn *c, double at)
{
	c->has_req = 0;
	while (bl_head < bl_tail && reqs[backlog[bl_head]].done)
		bl_head++;	/* failed while it waited */
	if (bl_head < bl_tail) {
		conn_start(c, backlog[bl_head++], at);
		return;
	}
	idle_push(c);
}

/* Find CRLF CRLF in a connection's buffer; the head's length, or 0. */
static size_t
head_end(const struct conn *c)
{
	size_t	 i;

	for (i = 3; i < c->len; i++)
		if (c->buf[i] == '\n' && c->buf[i - 1] == '\r' &&
		    c->buf[i - 2] == '\n' && c->buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* Parse a response head; -1 if malformed. */
static int
parse_head(struct conn *c, size_t hl)
{
	char		*p = c->buf, *end = c->buf + hl, *nl, *v;
	int		 chunked = 0, have_len = 0;
	uint64_t	 clen = 0;

	if (hl < 12 || strncmp(p, "HTTP/1.", 7) != 0)
		return -1;
	c->rs_status = atoi(p + 9);
	if (c->rs_status < 100 || c->rs_status > 999)
		return -1;
	c->rs_close = p[7] == '0';
	if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return -1;
	for (p = nl + 1; p < end - 2; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			return -1;
		if ((v = memchr(p, ':', (size_t)(nl - p))) == NULL)
			continue;
		for (v++; *v == ' ' || *v == '\t'; v++)
			;
		if (strncasecmp(p, "content-length:", 15) == 0) {
			clen = strtoull(v, NULL, 10);
			have_len = 1;
		} else if (strncasecmp(p, "transfer-encoding:", 18) == 0)
			chunked = strncasecmp(v, "chunked", 7) == 0;
		else if (strncasecmp(p, "connection:", 11) == 0) {
			if (strncasecmp(v, "close", 5) == 0)
				c->rs_close = 1;
			else if (strncasecmp(v, "keep-alive", 10) == 0)
				c->rs_close = 0;
		}
	}
	if (c->rs_status < 200 || c->rs_status == 204 || c->rs_status == 304) {
		c->ps = PS_BODY;
		c->rs_left = 0;
	} else if (chunked)
		c->ps = PS_CHUNK_SIZE;
	else if (have_len) {
		c->ps = PS_BODY;
		c->rs_left = clen;
	} else {
		c->ps = PS_BODY_EOF;
		c->rs_close = 1;
	}
	return 0;
}

/* Take one line from the buffer's front; its length with CRLF, or 0. */
static size_t
take_line(struct conn *c)
{
	char	*nl = memchr(c->buf, '\n', c->len);

	return nl == NULL ? 0 : (size_t)(nl - c->buf) + 1;
}

/* Drop n bytes from the front of the buffer. */
static void
consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/*
 * Parse what the buffer holds.  Returns 1 when a final response is
 * complete, 0 when more input is needed, -1 on a protocol error.
 */
static int
parse(struct conn *c)
{
	size_t		 n;
	uint64_t	 take;

	for (;;) {
		switch (c->ps) {
		case PS_HEAD:
			if ((n = head_end(c)) == 0)
				return c->len == sizeof c->buf ? -1 : 0;
			if (parse_head(c, n) == -1)
				return -1;
			consume(c, n);
			if (c->rs_status >= 100 && c->rs_status < 200 &&
			    c->rs_status != 101) {
				c->ps = PS_HEAD;	/* interim: skip it */
				continue;
			}
			if (c->rs_status == 101)
				return -1;
			continue;
		case PS_BODY:
		case PS_CHUNK_DATA:
			take = c->rs_left < c->len ? c->rs_left : c->len;
			consume(c, (size_t)take);
			c->rs_left -= take;
			if (c->rs_left > 0)
				return 0;
			if (c->ps == PS_BODY)
				return 1;
			c->ps = PS_CHUNK_CRLF;
			continue;
		case PS_BODY_EOF:
			c->len = 0;
			return 0;
		case PS_CHUNK_SIZE:
			if ((n = take_line(c)) == 0)
				return c->len == sizeof c->buf ? -1 : 0;
			errno = 0;
			c->rs_left = strtoull(c->buf, NULL, 16);
			if (errno != 0 || !((c->buf[0] >= '0' && c->buf[0] <= '9') ||
			    (c->buf[0] >= 'a' && c->buf[0] <= 'f') ||
			    (c->buf[0] >= 'A' && c->buf[0] <= 'F')))
				return -1;
			consume(c, n);
			c->ps = c->rs_left == 0 ? PS_TRAILER : PS_CHUNK_DATA;
			continue;
		case PS_CHUNK_CRLF:
			if (c->len < 2)
				return 0;
			if (c->buf[0] != '\r' || c->buf[1] != '\n')
				return -1;
			consume(c, 2);
			c->ps = PS_CHUNK_SIZE;
			continue;
		case PS_TRAILER:
			if ((n = take_line(c)) == 0)
				return c->len == sizeof c->buf ? -1 : 0;
			consume(c, n);
			if (n <= 2)
				return 1;
			continue;
		}
	}
}

/* Input on a busy connection (or a close on an idle one). */
static void
conn_input(struct conn *c, double at)
{
	ssize_t	 n;
	int	 r;

	for (;;) {
		n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			/* A close: the end of a body that runs to it. */
			if (c->has_req && c->state == CS_BUSY &&
			    c->ps == PS_BODY_EOF) {
				req_finish(c->req, at, c->rs_status);
				c->has_req = 0;
			}
			conn_close(c, at);
			return;
		}
		if (!c->has_req || c->state != CS_BUSY) {
			conn_close(c, at);	/* bytes nobody asked for */
			return;
		}
		c->len += (size_t)n;
		if ((r = parse(c)) == -1) {
			conn_close(c, at);
			return;
		}
		if (r == 1) {
			req_finish(c->req, at, c->rs_status);
			if (c->rs_close || c->len > 0) {
				c->has_req = 0;
				conn_close(c, at);
			} else
				conn_free_up(c, at);
			return;
		}
	}
}

/* The connect finished: send the request waiting on it, or go idle. */
static void
conn_connected(struct conn *c, double at)
{
	int		 err = 0;
	socklen_t	 len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		conn_close(c, at);
		return;
	}
	if (c->has_req)
		conn_start(c, c->req, at);
	else {
		conn_watch(c, 0);
		conn_free_up(c, at);
	}
}

/*
 * Fail every request whose time is up: requests are due in order, so a
 * sweep from the oldest.  The connection carrying one is closed; one
 * waiting in the backlog is skipped when its turn comes.
 */
static void
expire(double at, uint64_t *scan)
{
	struct req	*r;

	while (*scan < ndue && reqs[*scan].due + timeout_ms <= at) {
		r = &reqs[*scan];
		if (r->conn != NULL)
			conn_close(r->conn, at);
		req_finish(*scan, at, 0);
		(*scan)++;
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The nearest-rank q-quantile of a sorted sample. */
static double
quantile(const double *v, uint64_t n, double q)
{
	uint64_t	 k = (uint64_t)(q * (double)n);

	if (n == 0)
		return 0;
	if ((double)k < q * (double)n)
		k++;
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

/* Arm the timerfd for the instant of request i (ms from t0). */
static void
arm(int tfd, uint64_t i)
{
	struct itimerspec	 its;
	double			 at = (double)i * interval_ms;
	long long		 ns = (long long)(at * 1e6);

	memset(&its, 0, sizeof its);
	ns += (long long)t0.tv_nsec;
	its.it_value.tv_sec = t0.tv_sec + (time_t)(ns / 1000000000LL);
	its.it_value.tv_nsec = (long)(ns % 1000000000LL);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Parse "a.b.c.d:port". */
static int
parse_addr(const char *s, struct sockaddr_in *sin)
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
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[RC_EVENTS];
	struct rlimit		 rl;
	struct conn		*c;
	const char		*raw_path = NULL;
	double			 rate, secs, warm = 0, at, end_ms, *lat, sum = 0;
	double			 wait_until;
	uint64_t		 i, nlat = 0, ok = 0, non2xx = 0, errors = 0;
	uint64_t		 scan = 0, tick;
	FILE			*raw = NULL;
	int			 ch, conns, tfd, k, j, timeout;

	timeout_ms = 10000;
	maxconns = -1;
	while ((ch = getopt(argc, argv, "m:t:w:o:")) != -1) {
		switch (ch) {
		case 'm':
			maxconns = atoi(optarg);
			break;
		case 't':
			timeout_ms = atof(optarg) * 1000;
			break;
		case 'w':
			warm = atof(optarg);
			break;
		case 'o':
			raw_path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 5)
		usage();
	if (parse_addr(argv[0], &sin_srv) == -1) {
		fprintf(stderr, "rateclient: %s: want IPV4:PORT\n", argv[0]);
		return 2;
	}
	rate = atof(argv[2]);
	conns = atoi(argv[3]);
	secs = atof(argv[4]);
	if (maxconns == -1)
		maxconns = 2 * conns;
	if (argv[1][0] != '/' || rate <= 0 || rate > 1e6 || conns <= 0 ||
	    secs <= 0 || warm < 0 || timeout_ms <= 0 || maxconns < conns) {
		fprintf(stderr, "rateclient: bad arguments\n");
		usage();
	}
	reqlen = (size_t)snprintf(request, sizeof request,
	    "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", argv[1], argv[0]);
	if (reqlen >= sizeof request) {
		fprintf(stderr, "rateclient: path too long\n");
		return 2;
	}
	if (raw_path != NULL && (raw = fopen(raw_path, "w")) == NULL) {
		perror(raw_path);
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	interval_ms = 1e3 / rate;
	nwarm = (uint64_t)(warm * rate);
	nreqs = nwarm + (uint64_t)(secs * rate);
	reqs = calloc(nreqs, sizeof *reqs);
	backlog = calloc(nreqs, sizeof *backlog);
	sendlag = calloc(nreqs, sizeof *sendlag);
	lat = calloc(nreqs, sizeof *lat);
	if (reqs == NULL || backlog == NULL || sendlag == NULL || lat == NULL ||
	    (ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) == -1) {
		perror("rateclient");
		return 2;
	}
	{
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };

		epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &e);
	}

	/* Open the CONNS connections first (the clock starts after). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (j = 0; j < conns; j++)
		if (conn_open() == NULL) {
			perror("rateclient: connect");
			return 2;
		}
	for (;;) {
		int	 nidle = 0;

		for (c = idle_head; c != NULL; c = c->next)
			nidle++;
		if (nconns < conns) {
			fprintf(stderr, "rateclient: a connection failed\n");
			return 2;
		}
		if (nidle == conns)
			break;
		k = epoll_wait(ep, evs, RC_EVENTS, 5000);
		if (k <= 0) {
			fprintf(stderr, "rateclient: connections not open "
			    "after 5 s\n");
			return 2;
		}
		for (j = 0; j < k; j++) {
			if ((c = evs[j].data.ptr) == NULL)
				continue;
			if (c->state == CS_CONNECTING)
				conn_connected(c, 0);
			else
				conn_input(c, 0);	/* a close */
		}
	}
	opened = conns_max = nconns;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nreqs; i++)
		reqs[i].due = (double)i * interval_ms;
	end_ms = (double)nreqs * interval_ms;
	arm(tfd, 0);
	wait_until = end_ms + timeout_ms;
	for (;;) {
		at = ms_now();
		if (ndue == nreqs && (finished == nreqs || at >= wait_until))
			break;
		timeout = ndue < nreqs ? -1 : (int)(wait_until - at) + 1;
		/* A request due long ago is failed within a second of it. */
		if (timeout == -1 || timeout > 1000)
			timeout = 1000;
		k = epoll_wait(ep, evs, RC_EVENTS, timeout);
		at = ms_now();		/* the arrival instant of this batch */
		if (k == -1 && errno != EINTR) {
			perror("rateclient: epoll_wait");
			return 2;
		}
		for (j = 0; j < k; j++) {
			c = evs[j].data.ptr;
			if (c == NULL) {
				if (read(tfd, &tick, sizeof tick) == -1 &&
				    errno != EAGAIN)
					perror("rateclient: timerfd");
				continue;
			}
			if (c->state == CS_CONNECTING) {
				if (evs[j].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
					conn_connected(c, at);
				continue;
			}
			if ((evs[j].events & EPOLLOUT) && c->state == CS_BUSY &&
			    c->out_off < reqlen) {
				if (conn_send(c) == -1) {
					conn_close(c, at);
					continue;
				}
			}
			if (evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				conn_input(c, at);
		}
		/* Every request whose instant has come goes out now. */
		at = ms_now();
		while (ndue < nreqs && reqs[ndue].due <= at) {
			dispatch(ndue, at);
			ndue++;
		}
		if (ndue < nreqs)
			arm(tfd, ndue);
		expire(at, &scan);
	}
	expire(1e300, &scan);

	for (i = nwarm; i < nreqs; i++) {
		struct req	*r = &reqs[i];

		if (r->status == 0)
			errors++;
		else {
			if (r->status >= 200 && r->status < 300)
				ok++;
			else
				non2xx++;
			lat[nlat++] = r->lat;
			sum += r->lat;
		}
		if (raw != NULL)
			fprintf(raw, "%.3f %.3f %d\n", r->due - (double)nwarm *
			    interval_ms, r->status > 0 ? r->lat : -1.0, r->status);
	}
	if (raw != NULL)
		fclose(raw);
	qsort(lat, nlat, sizeof *lat, cmp_double);
	qsort(sendlag, nsendlag, sizeof *sendlag, cmp_double);
	printf("requests=%llu ok=%llu non2xx=%llu errors=%llu late=%llu "
	    "opened=%d conns_max=%d sendlag_p99=%.3f sendlag_max=%.3f "
	    "p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f mean=%.3f\n",
	    (unsigned long long)(nreqs - nwarm), (unsigned long long)ok,
	    (unsigned long long)non2xx, (unsigned long long)errors,
	    (unsigned long long)late, opened, conns_max,
	    quantile(sendlag, nsendlag, 0.99),
	    nsendlag > 0 ? sendlag[nsendlag - 1] : 0.0,
	    quantile(lat, nlat, 0.50), quantile(lat, nlat, 0.90),
	    quantile(lat, nlat, 0.99), quantile(lat, nlat, 0.999),
	    nlat > 0 ? lat[nlat - 1] : 0.0, nlat > 0 ? sum / (double)nlat : 0.0);
	return 0;
}
