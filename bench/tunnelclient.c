/*
 * tunnelclient.c: WebSocket client load for the tunnel bench (bench/tunnel.sh).
 *
 * usage: tunnelclient [-p PATH] [-t SECS] [-w WINDOW] idle HOST:PORT N [SECS]
 *        tunnelclient [-p PATH] [-t SECS] [-s SIZE] [-k DEPTH] echo HOST:PORT C SECS
 *
 * Both modes open WebSocket connections to HOST:PORT (an IPv4 literal, or
 * [v6]): "GET PATH HTTP/1.1" (PATH defaults to /ws) with the upgrade fields,
 * at most WINDOW (default 256) handshakes in progress at a time, and accept
 * a connection only on "HTTP/1.1 101" with the right Sec-WebSocket-Accept.
 * Handshakes not done within -t SECS (default 30) of the start fail.  When
 * every handshake is done one line goes to stdout:
 *
 *     ready OK failed=F connect_err=C non101=X early_close=E timeout=T secs=S
 *
 * (failed = C + X + E + T; non101 includes a 101 without the right accept)
 * and the first failure, if any, is shown on stderr ("first failure: ...").
 *
 * idle: N connections (up to the descriptor limit; the soft limit is raised
 * to the hard one, and a hard limit too low is an error, exit 2) are held
 * open without a byte sent, printing a line a second,
 *
 *     t=SECS open=K peer_closed=P
 *
 * until SIGTERM or SIGINT, or SECS seconds after ready when SECS is given
 * and not 0, or none is left open.  A byte or a close from the server on an idle connection is
 * counted in peer_closed and the connection closed.  Then every connection
 * still open is closed (FIN) and it prints "closed K peer_closed=P".
 *
 * echo: C connections, then for SECS seconds each sends SIZE-byte (default
 * 1024) masked binary frames and reads their echo, DEPTH (default 1) in
 * flight per connection, as fast as the server answers.  The echo must be
 * an unmasked binary frame with the same payload, byte for byte.  Then:
 *
 *     echo conns=C secs=S messages=M msgs_per_s=R errors=E bad_echo=B
 *         peer_closed=P stalled=T
 *
 * (one line).  A connection whose echo does not come within -t SECS is
 * stalled.  errors counts every failed handshake and every connection that
 * failed during the run.
 *
 * Exit status: 0 when every connection worked to the end, 1 otherwise, 2
 * on a usage or set-up error.  Everything is bounded in time: the
 * handshakes by -t, echo by SECS + -t.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define HEAD_MAX	4096
#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum state {
	ST_NEW,		/* not connected yet */
	ST_CONNECTING,	/* connect(2) in progress */
	ST_HANDSHAKE,	/* request sent, reading the response head */
	ST_OPEN,	/* 101 received */
	ST_DONE,	/* closed (failed or finished) */
};

struct conn {
	int		 fd;
	enum state	 st;
	size_t		 hlen;		/* head bytes in head */
	char		*head;		/* during the handshake only */
	size_t		 wr_off;	/* bytes of the current frame written */
	unsigned long	 sent;		/* frames wholly written */
	unsigned long	 got;		/* echoes wholly read */
	size_t		 rd_off;	/* bytes of the current echo read */
	double		 last;		/* last progress, for -t */
};

static int			 ep;
static struct sockaddr_storage	 addr;
static socklen_t		 addrlen;
static char			 request[1024];
static size_t			 reqlen;
static char			 accept_want[32];
static unsigned char		*frame_out, *echo_want;
static size_t			 frame_len, echo_len;
static volatile sig_atomic_t	 stop;

static struct {
	int	 ok, failed, connect_err, non101, early_close, timeout;
	int	 peer_closed;
	int	 bad_echo, stalled;
	char	 first_refusal[160];
} n;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tunnelclient [-p PATH] [-t SECS] [-w WINDOW] idle HOST:PORT N [SECS]\n"
	    "       tunnelclient [-p PATH] [-t SECS] [-s SIZE] [-k DEPTH] echo HOST:PORT C SECS\n");
	exit(2);
}

/* Parse "a.b.c.d:port" or "[v6]:port". */
static int
parse_addr(const char *s, char *host, size_t hsize)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&addr;
	const char		*colon;
	size_t			 hl;
	long			 port;
	char			*end;

	if ((colon = strrchr(s, ':')) == NULL)
		return -1;
	hl = (size_t)(colon - s);
	if (hl == 0 || hl >= hsize)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	memset(&addr, 0, sizeof addr);
	if (host[0] == '[' && host[hl - 1] == ']') {
		char	 h6[64];

		if (hl - 2 >= sizeof h6)
			return -1;
		memcpy(h6, host + 1, hl - 2);
		h6[hl - 2] = '\0';
		if (inet_pton(AF_INET6, h6, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		addrlen = sizeof *sin6;
		return 0;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	addrlen = sizeof *sin;
	return 0;
}

/* The request and the Sec-WebSocket-Accept it must get (one key for all). */
static void
make_request(const char *path, const char *hostport)
{
	unsigned char	 raw[16], md[SHA_DIGEST_LENGTH];
	char		 key[32], in[96];
	size_t		 i;

	srandom((unsigned)(now() * 1e6) ^ (unsigned)getpid());
	for (i = 0; i < sizeof raw; i++)
		raw[i] = (unsigned char)random();
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof raw);
	snprintf(in, sizeof in, "%s%s", key, WS_GUID);
	SHA1((unsigned char *)in, strlen(in), md);
	EVP_EncodeBlock((unsigned char *)accept_want, md, sizeof md);
	reqlen = (size_t)snprintf(request, sizeof request,
	    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\nUser-Agent: tunnelclient\r\n\r\n",
	    path, hostport, key);
}

/* The frame every echo connection sends, and the echo it must get back. */
static void
make_frames(size_t size)
{
	unsigned char	 mask[4];
	size_t		 hl, i;

	if ((frame_out = malloc(size + 14)) == NULL ||
	    (echo_want = malloc(size + 10)) == NULL) {
		perror("tunnelclient");
		exit(2);
	}
	for (i = 0; i < 4; i++)
		mask[i] = (unsigned char)random();
	frame_out[0] = echo_want[0] = 0x82;
	if (size < 126) {
		frame_out[1] = (unsigned char)(0x80 | size);
		echo_want[1] = (unsigned char)size;
		hl = 2;
	} else if (size <= 0xffff) {
		frame_out[1] = 0x80 | 126;
		echo_want[1] = 126;
		frame_out[2] = echo_want[2] = (unsigned char)(size >> 8);
		frame_out[3] = echo_want[3] = (unsigned char)size;
		hl = 4;
	} else {
		frame_out[1] = 0x80 | 127;
		echo_want[1] = 127;
		for (i = 0; i < 8; i++)
			frame_out[2 + i] = echo_want[2 + i] =
			    (unsigned char)((unsigned long long)size >> (56 - 8 * i));
		hl = 10;
	}
	memcpy(frame_out + hl, mask, 4);
	for (i = 0; i < size; i++) {
		echo_want[hl + i] = (unsigned char)random();
		frame_out[hl + 4 + i] = echo_want[hl + i] ^ mask[i & 3];
	}
	frame_len = hl + 4 + size;
	echo_len = hl + size;
}

static void
set_events(struct conn *c, uint32_t ev, int op)
{
	struct epoll_event	 e;

	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(ep, op, c->fd, &e) == -1) {
		perror("tunnelclient: epoll_ctl");
		exit(2);
	}
}

/* Close a connection; counted by the caller. */
static void
conn_end(struct conn *c)
{
	if (c->st == ST_DONE)
		return;
	if (c->fd != -1) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		c->fd = -1;
	}
	free(c->head);
	c->head = NULL;
	c->st = ST_DONE;
}

/* Start connecting; 0, or -1 (counted as failed). */
static int
conn_start(struct conn *c)
{
	int	 one = 1;

	c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd == -1) {
		perror("tunnelclient: socket");
		c->st = ST_DONE;
		return -1;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&addr, addrlen) == -1 &&
	    errno != EINPROGRESS) {
		perror("tunnelclient: connect");
		close(c->fd);
		c->fd = -1;
		c->st = ST_DONE;
		return -1;
	}
	c->st = ST_CONNECTING;
	set_events(c, EPOLLOUT, EPOLL_CTL_ADD);
	return 0;
}

/* A header's value in a head, or NULL. */
static const char *
head_value(const char *head, const char *name, size_t *len)
{
	const char	*p, *v, *e;
	size_t		 nl = strlen(name);

	for (p = strstr(head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) != 0 || p[2 + nl] != ':')
			continue;
		v = p + 3 + nl;
		while (*v == ' ' || *v == '\t')
			v++;
		e = strstr(v, "\r\n");
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*len = (size_t)(e - v);
		return v;
	}
	return NULL;
}

/*
 * Read the response head; 1 when the 101 checks out, 0 for more, -1 on
 * failure (counted here).  Bytes after the head are an error: the server
 * has nothing to say before the client speaks.
 */
static int
conn_handshake(struct conn *c)
{
	const char	*v, *end;
	size_t		 vl;
	ssize_t		 r;

	r = read(c->fd, c->head + c->hlen, HEAD_MAX - 1 - c->hlen);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		n.early_close++;
		return -1;
	}
	c->hlen += (size_t)r;
	c->head[c->hlen] = '\0';
	if ((end = strstr(c->head, "\r\n\r\n")) == NULL) {
		if (c->hlen < HEAD_MAX - 1)
			return 0;
		n.non101++;
		return -1;
	}
	if (strncmp(c->head, "HTTP/1.1 101 ", 13) != 0 ||
	    (v = head_value(c->head, "sec-websocket-accept", &vl)) == NULL ||
	    vl != strlen(accept_want) || memcmp(v, accept_want, vl) != 0 ||
	    (size_t)(end + 4 - c->head) != c->hlen) {
		n.non101++;
		if (n.first_refusal[0] == '\0') {
			const char *eol = strstr(c->head, "\r\n");

			snprintf(n.first_refusal, sizeof n.first_refusal,
			    "%.*s%s", (int)(eol - c->head), c->head,
			    strncmp(c->head, "HTTP/1.1 101 ", 13) == 0 ?
			    " (without the right Sec-WebSocket-Accept, or with "
			    "bytes after the head)" : "");
		}
		return -1;
	}
	free(c->head);
	c->head = NULL;
	return 1;
}

/*
 * Open conns[0..count) as WebSockets, at most window handshakes at a time,
 * within deadline; prints the ready line.
 */
static void
open_all(struct conn *conns, int count, int window, double deadline)
{
	struct epoll_event	 evs[256];
	struct conn		*c;
	double			 t0 = now();
	int			 next = 0, active = 0, i, k;

	while (!stop && (next < count || active > 0)) {
		while (active < window && next < count) {
			c = &conns[next++];
			c->fd = -1;
			if (conn_start(c) == -1) {
				n.connect_err++;
				n.failed++;
				continue;
			}
			active++;
		}
		if (now() > deadline)
			break;
		k = epoll_wait(ep, evs, 256, 100);
		if (k == -1 && errno != EINTR) {
			perror("tunnelclient: epoll_wait");
			exit(2);
		}
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			if (c->st == ST_CONNECTING) {
				int	 err = 0;
				socklen_t el = sizeof err;

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err != 0 || write(c->fd, request, reqlen) !=
				    (ssize_t)reqlen) {
					if (n.first_refusal[0] == '\0')
						snprintf(n.first_refusal,
						    sizeof n.first_refusal,
						    "connect: %s", strerror(err));
					n.connect_err++;
					goto fail;
				}
				if ((c->head = malloc(HEAD_MAX)) == NULL)
					goto fail;
				c->hlen = 0;
				c->st = ST_HANDSHAKE;
				set_events(c, EPOLLIN, EPOLL_CTL_MOD);
				continue;
			}
			switch (conn_handshake(c)) {
			case 0:
				continue;
			case 1:
				c->st = ST_OPEN;
				c->last = now();
				set_events(c, EPOLLIN, EPOLL_CTL_MOD);
				active--;
				n.ok++;
				continue;
			}
fail:
			conn_end(c);
			active--;
			n.failed++;
		}
	}
	for (i = 0; i < count; i++) {
		c = &conns[i];
		if (c->st == ST_CONNECTING || c->st == ST_HANDSHAKE ||
		    (c->st == ST_NEW && next <= i)) {
			if (c->st != ST_NEW)
				conn_end(c);
			c->st = ST_DONE;
			n.timeout++;
			n.failed++;
		}
	}
	if (n.first_refusal[0] != '\0')
		fprintf(stderr, "tunnelclient: first failure: %s\n",
		    n.first_refusal);
	printf("ready %d failed=%d connect_err=%d non101=%d early_close=%d "
	    "timeout=%d secs=%.2f\n", n.ok, n.failed, n.connect_err, n.non101,
	    n.early_close, n.timeout, now() - t0);
	fflush(stdout);
}

/* idle: hold the open connections until a signal or the duration. */
static int
run_idle(struct conn *conns, int count, double secs)
{
	struct epoll_event	 evs[256];
	struct conn		*c;
	char			 buf[4096];
	double			 t0 = now(), tick = t0 + 1;
	int			 i, k, open = n.ok, closed = 0;

	while (!stop && open > 0 && (secs <= 0 || now() - t0 < secs)) {
		k = epoll_wait(ep, evs, 256, 200);
		if (k == -1 && errno != EINTR) {
			perror("tunnelclient: epoll_wait");
			exit(2);
		}
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			/* The server spoke or hung up on an idle tunnel. */
			if (read(c->fd, buf, sizeof buf) == -1 && errno == EAGAIN)
				continue;
			conn_end(c);
			n.peer_closed++;
			open--;
		}
		if (now() >= tick) {
			printf("t=%.0f open=%d peer_closed=%d\n", now() - t0,
			    open, n.peer_closed);
			fflush(stdout);
			tick += 1;
		}
	}
	for (i = 0; i < count; i++) {
		if (conns[i].st == ST_OPEN) {
			conn_end(&conns[i]);
			closed++;
		}
	}
	printf("closed %d peer_closed=%d\n", closed, n.peer_closed);
	fflush(stdout);
	return n.failed == 0 && n.peer_closed == 0 ? 0 : 1;
}

/* echo: write as much of the current frames as the window allows. */
static int
echo_write(struct conn *c, unsigned long depth)
{
	ssize_t	 w;

	while (c->sent - c->got < depth) {
		w = write(c->fd, frame_out + c->wr_off, frame_len - c->wr_off);
		if (w == -1 && (errno == EAGAIN || errno == EINTR)) {
			set_events(c, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
			return 0;
		}
		if (w <= 0)
			return -1;
		c->wr_off += (size_t)w;
		if (c->wr_off == frame_len) {
			c->wr_off = 0;
			c->sent++;
		}
	}
	set_events(c, EPOLLIN, EPOLL_CTL_MOD);
	return 0;
}

/* echo: read and check echoes; the number completed, or -1. */
static int
echo_read(struct conn *c)
{
	unsigned char	 buf[65536];
	ssize_t		 r;
	size_t		 i, k;
	int		 done = 0;

	r = read(c->fd, buf, sizeof buf);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		n.peer_closed++;
		return -1;
	}
	for (i = 0; i < (size_t)r; i += k) {
		k = echo_len - c->rd_off;
		if (k > (size_t)r - i)
			k = (size_t)r - i;
		if (memcmp(buf + i, echo_want + c->rd_off, k) != 0 ||
		    c->got >= c->sent + (c->wr_off > 0)) {
			n.bad_echo++;
			return -1;
		}
		c->rd_off += k;
		if (c->rd_off == echo_len) {
			c->rd_off = 0;
			c->got++;
			done++;
		}
	}
	c->last = now();
	return done;
}

/* echo: SECS seconds of echoes over the open connections. */
static int
run_echo(struct conn *conns, int count, double secs, double tmo,
    unsigned long depth)
{
	struct epoll_event	 evs[256];
	struct conn		*c;
	unsigned long long	 msgs = 0;
	double			 t0 = now(), t, check = t0 + 0.5;
	int			 i, k, r, errors = 0;

	for (i = 0; i < count; i++) {
		c = &conns[i];
		if (c->st != ST_OPEN)
			continue;
		c->last = t0;
		if (echo_write(c, depth) == -1) {
			conn_end(c);
			n.peer_closed++;
			errors++;
		}
	}
	while (!stop && (t = now()) - t0 < secs) {
		k = epoll_wait(ep, evs, 256, 100);
		if (k == -1 && errno != EINTR) {
			perror("tunnelclient: epoll_wait");
			exit(2);
		}
		for (i = 0; i < k; i++) {
			c = evs[i].data.ptr;
			if (c->st != ST_OPEN)
				continue;
			r = 0;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				r = echo_read(c);
			if (r >= 0) {
				msgs += (unsigned)r;
				if (echo_write(c, depth) == 0)
					continue;
				n.peer_closed++;
			}
			conn_end(c);
			errors++;
		}
		if (t >= check) {
			for (i = 0; i < count; i++) {
				c = &conns[i];
				if (c->st == ST_OPEN && c->sent > c->got &&
				    t - c->last > tmo) {
					conn_end(c);
					n.stalled++;
					errors++;
				}
			}
			check = t + 0.5;
		}
	}
	t = now() - t0;
	for (i = 0; i < count; i++)
		conn_end(&conns[i]);
	printf("echo conns=%d secs=%.2f messages=%llu msgs_per_s=%.0f errors=%d "
	    "bad_echo=%d peer_closed=%d stalled=%d\n", n.ok, t, msgs,
	    t > 0 ? msgs / t : 0, errors + n.failed, n.bad_echo,
	    n.peer_closed, n.stalled);
	fflush(stdout);
	return errors + n.failed == 0 && msgs > 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct sigaction	 sa;
	struct rlimit		 rl;
	struct conn		*conns;
	const char		*path = "/ws", *mode;
	char			 host[128], hostport[160];
	double			 tmo = 30, secs = 0;
	long			 count, size = 1024, depth = 1;
	int			 ch, window = 256;

	while ((ch = getopt(argc, argv, "p:t:w:s:k:")) != -1) {
		switch (ch) {
		case 'p':
			path = optarg;
			break;
		case 't':
			tmo = atof(optarg);
			break;
		case 'w':
			window = atoi(optarg);
			break;
		case 's':
			size = atol(optarg);
			break;
		case 'k':
			depth = atol(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || argc > 4)
		usage();
	mode = argv[0];
	count = atol(argv[2]);
	if (argc == 4)
		secs = atof(argv[3]);
	if ((strcmp(mode, "idle") != 0 && strcmp(mode, "echo") != 0) ||
	    (strcmp(mode, "echo") == 0 && (argc != 4 || secs <= 0)) ||
	    count <= 0 || count > 1000000 || tmo <= 0 || window <= 0 ||
	    size <= 0 || size > (64 << 20) || depth <= 0 || secs < 0)
		usage();
	if (parse_addr(argv[1], host, sizeof host) == -1) {
		fprintf(stderr, "tunnelclient: %s: want IPV4:PORT or [IPV6]:PORT\n",
		    argv[1]);
		return 2;
	}
	snprintf(hostport, sizeof hostport, "%s", argv[1]);

	/* Descriptors: the soft limit up to the hard one, which must do. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)count + 16) {
		fprintf(stderr, "tunnelclient: descriptor limit %llu (hard %llu) is "
		    "too low for %ld connections: raise the hard limit (ulimit -Hn, "
		    "as root) or ask for fewer\n", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max, count);
		return 2;
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	make_request(path, hostport);
	if (strcmp(mode, "echo") == 0)
		make_frames((size_t)size);
	if ((conns = calloc((size_t)count, sizeof *conns)) == NULL ||
	    (ep = epoll_create1(0)) == -1) {
		perror("tunnelclient");
		return 2;
	}
	open_all(conns, (int)count, window, now() + tmo);
	if (strcmp(mode, "idle") == 0)
		return run_idle(conns, (int)count, secs);
	return run_echo(conns, (int)count, secs, tmo, (unsigned long)depth);
}
