/*
 * origin.c: main of hourglass-origin, the test upstream.
 *
 * hourglass-origin [--listen HOST:PORT]... [--port-file FILE]
 *     [--blackhole PORT [--blackhole-port-file FILE]] [--log FILE]
 *     [--fail reset|close|hang|503] [--tail P/MS | --delay MS] [--seed N]
 *     [--quiet] [--verbose] [-h]
 *
 * One thread, one libevent loop.  The endpoints are described in
 * origin_routes.c.  SIGTERM or SIGINT frees everything and exits 0.
 * "origin: listening on HOST:PORT" goes to stderr for each listener unless
 * --quiet; --port-file gets the port of the first one, --blackhole-port-file
 * that of the blackhole (see origin_blackhole()).  --verbose prints one line
 * per request, twice one per state change.  --fail MODE makes every
 * request fail the same way whatever its path (reset, close, hang, or a
 * 503), so that one instance can stand for a broken server next to a
 * healthy one.  --tail P/MS holds every request (but /stats) for MS ms
 * with probability P percent before answering it as its path says, and
 * --delay MS holds every one: one instance can stand for a slow server, or
 * one with a latency tail, next to a fast one.  --seed N seeds the
 * generator of /tail and --tail, for a sequence of draws that repeats.
 *
 * --log FILE appends one line per connection event, written at once with
 * one write(2), so that a test can assert what the origin saw and when:
 *
 *	<event> <monotonic_ms> <target> conn=<id>
 *
 *	accept	a connection was accepted (target "-")
 *	request	a request was read whole (body included) and is being answered
 *	upgrade	its 101 is queued: the connection is now a tunnel (/ws,
 *		/upgrade), whose events carry the upgraded request's target
 *	done	its response is wholly queued (for /close and /reset: the
 *		origin closed or reset the connection; for a tunnel: the
 *		origin's FIN or RST went out, once)
 *	close	the peer closed or reset the connection; the target is the
 *		request in progress, "-" between requests
 *
 * monotonic_ms is CLOCK_MONOTONIC in ms.  The peer's close is seen at once
 * even while a response is pending: a client (or proxy) that goes away
 * while /delay, /drip, /trickle-head or /hang runs is logged and freed
 * then, without waiting for a write to fail.  This counts a peer that only
 * shuts its write side as gone too, as nginx does; a long /bytes or
 * /chunked body, and responses already queued, still go out.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/listener.h>

#include "origin.h"

#define ORIGIN_LISTEN_MAX	16
#define ORIGIN_BACKLOG		4096
#define ORIGIN_FILLERS		8	/* most sockets used to fill the blackhole */
#define ORIGIN_FILL_WAIT_MS	100	/* a connect slower than this is dropped */

struct origin origin;

static struct evconnlistener	*origin_listeners[ORIGIN_LISTEN_MAX];
static int			 origin_nlisteners;
static struct event		*origin_backoff;
static int			 origin_blackhole_fd = -1;
static int			 origin_fillers[ORIGIN_FILLERS];
static int			 origin_nfillers;
static int			 origin_quiet;

/* Print the usage and exit with the given status. */
static void __attribute__((noreturn))
origin_usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: hourglass-origin [--listen HOST:PORT]... [--port-file FILE]\n"
	    "           [--blackhole PORT [--blackhole-port-file FILE]]\n"
	    "           [--log FILE] [--fail reset|close|hang|503]\n"
	    "           [--tail P/MS | --delay MS] [--seed N]\n"
	    "           [--quiet] [--verbose] [-h]\n"
	    "HOST is an IPv4 literal or a bracketed IPv6 one, [::1]; port 0 is\n"
	    "ephemeral.  Default listen: 127.0.0.1:9000.\n"
	    "--fail MODE: every request, whatever its path, is answered as\n"
	    "/reset, /close, /hang or /status/503 would be.\n"
	    "--tail P/MS: every request but /stats waits MS ms with probability\n"
	    "P percent (0 to 100, up to 4 decimals: 5, 2.5), then is answered\n"
	    "as its path says.  --delay MS: every request waits MS ms (--tail\n"
	    "100/MS).  MS 0: no wait.\n"
	    "--seed N: seed the generator of /tail and --tail (default: from\n"
	    "the clock and the pid); the same seed, the same draws.\n"
	    "Endpoints (tests/origin/origin_routes.c): / /bytes/N /chunked/N\n"
	    "/delay/MS /tail/P/MS /drip/N/MS /dripc/N/MS /interim /drop-next\n"
	    "/trickle-head/MS /hang /close /reset /status/N /echo /ws /upgrade\n"
	    "/upgrade/close|reset|silent|200 /stats.\n"
	    "/tail/P/MS: with probability P percent a small 200 after MS ms,\n"
	    "else at once.  /stats: \"requests=R waited=W cancelled=C\n"
	    "accepted=A\", counters since start (/stats itself not counted).\n");
	exit(status);
}

/* Print a message and exit 1; for start-up failures only. */
static void __attribute__((noreturn, format(printf, 1, 2)))
origin_fatal(const char *fmt, ...)
{
	va_list	 ap;

	fputs("origin: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Print one debug line to stderr. */
void
origin_debug(const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	fprintf(stderr, "origin: %.*s", n, line);
}

/*
 * Append "<event> <monotonic_ms> <path> conn=<id>" to the --log file, with
 * one write(2) so that a reader sees whole lines at once.
 */
void
origin_event(struct conn *c, const char *what)
{
	struct timespec	 ts;
	char		 line[ORIGIN_URL_MAX + 128];
	int		 n;

	if (origin.log_fd == -1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	n = snprintf(line, sizeof line, "%s %lld %s conn=%llu\n", what,
	    (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, conn_path(c),
	    (unsigned long long)c->cn_id);
	if (n > 0 && (size_t)n < sizeof line &&
	    write(origin.log_fd, line, (size_t)n) == -1)
		origin_debug("log: %s", strerror(errno));
}

/* Parse "a.b.c.d:port" or "[v6]:port" into an address. */
static int
origin_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	char			 host[INET6_ADDRSTRLEN + 1], *end;
	const char		*colon;
	size_t			 hlen;
	long			 port;
	int			 bracket = s[0] == '[';

	memset(ss, 0, sizeof *ss);
	if (bracket) {
		if ((colon = strstr(s, "]:")) == NULL)
			return -1;
		hlen = (size_t)(colon - s - 1);
		s++;
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof host)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 ||
	    port > 65535)
		return -1;
	if (!bracket && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof *sin;
		return 0;
	}
	if (bracket && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof *sin6;
		return 0;
	}
	return -1;
}

/* Format an address as "host:port" or "[host]:port". */
static void
origin_format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char	 host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(buf, size, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		const struct sockaddr_in *sin = (const void *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(buf, size, "%s:%u", host, ntohs(sin->sin_port));
	}
}

/* The port an address holds. */
static unsigned
origin_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* Write a port to FILE via a temporary name, so no reader sees half of it. */
static void
origin_write_port(const char *path, unsigned port)
{
	char	 tmp[4096], line[16];
	int	 fd, n;

	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof tmp)
		origin_fatal("%s: name too long", path);
	n = snprintf(line, sizeof line, "%u\n", port);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1)
		origin_fatal("%s: %s", tmp, strerror(errno));
	if (write(fd, line, (size_t)n) != n || close(fd) == -1) {
		unlink(tmp);
		origin_fatal("%s: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		origin_fatal("%s: %s", path, strerror(errno));
	}
}

/* Accepted a socket. */
static void
origin_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	conn_accept(fd);
}

/* The backoff after an accept error is over: accept again. */
static void
origin_backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	int	 i;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < origin_nlisteners; i++)
		evconnlistener_enable(origin_listeners[i]);
}

/*
 * accept(2) failed, most likely for want of descriptors: stop accepting for
 * 100 ms rather than spin on a listener that stays readable.
 */
static void
origin_accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct timeval	 tv = { 0, 100000 };
	int		 i;

	(void)l;
	(void)arg;
	if (!origin_quiet)
		origin_debug("accept: %s", strerror(errno));
	for (i = 0; i < origin_nlisteners; i++)
		evconnlistener_disable(origin_listeners[i]);
	evtimer_add(origin_backoff, &tv);
}

/* Bind a listening socket on an address; returns the bound port. */
static unsigned
origin_listen(const char *spec)
{
	struct sockaddr_storage	 ss;
	struct evconnlistener	*l;
	socklen_t		 len;
	char			 name[INET6_ADDRSTRLEN + 16];
	int			 fd, one = 1;

	if (origin_nlisteners == ORIGIN_LISTEN_MAX)
		origin_fatal("too many --listen");
	if (origin_parse_addr(spec, &ss, &len) == -1)
		origin_fatal("--listen %s: want IPV4:PORT or [IPV6]:PORT", spec);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		origin_fatal("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, ORIGIN_BACKLOG) == -1)
		origin_fatal("listen %s: %s", spec, strerror(errno));
	len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		origin_fatal("getsockname: %s", strerror(errno));
	l = evconnlistener_new(origin.base, origin_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l == NULL)
		origin_fatal("evconnlistener_new failed");
	evconnlistener_set_error_cb(l, origin_accept_error_cb);
	origin_listeners[origin_nlisteners++] = l;
	origin_format_addr(&ss, name, sizeof name);
	if (!origin_quiet)
		fprintf(stderr, "origin: listening on %s\n", name);
	return origin_port(&ss);
}

/* Connect one socket to the blackhole; 1 if the handshake completed in time. */
static int
origin_fill_one(const struct sockaddr_in *sin)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	int		 fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		origin_fatal("socket: %s", strerror(errno));
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) == -1 &&
	    errno != EINPROGRESS)
		origin_fatal("blackhole connect: %s", strerror(errno));
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, ORIGIN_FILL_WAIT_MS) == 1 &&
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
		origin_fillers[origin_nfillers++] = fd;
		return 1;
	}
	close(fd);
	return 0;
}

/*
 * The blackhole: a listener on 127.0.0.1 that is never accepted, with its
 * accept queue full, so that a connect to it hangs until the client gives
 * up.  This relies on Linux: with listen(fd, 0) the accept queue is full
 * once one connection waits in it, and tcp_conn_request() then drops every
 * new SYN (counted as ListenOverflows) without answering, whatever
 * tcp_syncookies says.  The client retransmits its SYN and its connect times
 * out, as against a host that is down; it is never refused.  (With
 * tcp_abort_on_overflow=1 a handshake whose last ACK found the queue full
 * would be reset instead, but no SYN gets that far here.)  We fill the queue
 * ourselves and keep those sockets; a connect that does not complete within
 * ORIGIN_FILL_WAIT_MS proves the queue is full.
 */
static unsigned
origin_blackhole(long port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 one = 1;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	origin_blackhole_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (origin_blackhole_fd == -1)
		origin_fatal("socket: %s", strerror(errno));
	setsockopt(origin_blackhole_fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof one);
	if (bind(origin_blackhole_fd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(origin_blackhole_fd, 0) == -1 ||
	    getsockname(origin_blackhole_fd, (struct sockaddr *)&sin, &len) == -1)
		origin_fatal("blackhole %ld: %s", port, strerror(errno));
	while (origin_nfillers < ORIGIN_FILLERS) {
		if (!origin_fill_one(&sin))
			break;
	}
	if (origin_nfillers == ORIGIN_FILLERS)
		origin_fatal("blackhole: accept queue still open after %d "
		    "connections", ORIGIN_FILLERS);
	if (!origin_quiet)
		fprintf(stderr, "origin: blackhole on 127.0.0.1:%u\n",
		    ntohs(sin.sin_port));
	return ntohs(sin.sin_port);
}

/* SIGTERM or SIGINT: leave the loop so that main frees everything. */
static void
origin_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	if (!origin_quiet)
		fprintf(stderr, "origin: signal %d, exiting\n", (int)sig);
	event_base_loopbreak(origin.base);
}

/* Raise the soft descriptor limit to the hard one: thousands of clients. */
static void
origin_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Parse the command line, listen, and run the loop until a signal. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'p' },
		{ "blackhole", required_argument, NULL, 'b' },
		{ "blackhole-port-file", required_argument, NULL, 'B' },
		{ "log", required_argument, NULL, 'L' },
		{ "fail", required_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 't' },
		{ "delay", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char		*listens[ORIGIN_LISTEN_MAX];
	const char		*port_file = NULL, *bh_port_file = NULL;
	const char		*log_file = NULL;
	struct event_config	*cfg;
	struct event		*ev_term, *ev_int;
	struct timespec		 ts;
	long			 bh_port = -1;
	unsigned long long	 seed = 0;
	unsigned		 port, first_port = 0;
	char			*end;
	int			 ch, i, nlistens = 0, seeded = 0, waits = 0;

	origin.log_fd = -1;
	TAILQ_INIT(&origin.conns);
	while ((ch = getopt_long(argc, argv, "hqv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (nlistens == ORIGIN_LISTEN_MAX)
				origin_fatal("too many --listen");
			listens[nlistens++] = optarg;
			break;
		case 'p':
			port_file = optarg;
			break;
		case 'b':
			errno = 0;
			bh_port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    bh_port < 0 || bh_port > 65535)
				origin_fatal("--blackhole %s: want a port", optarg);
			break;
		case 'B':
			bh_port_file = optarg;
			break;
		case 'L':
			log_file = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "reset") == 0)
				origin.fail_route = ROUTE_RESET;
			else if (strcmp(optarg, "close") == 0)
				origin.fail_route = ROUTE_CLOSE;
			else if (strcmp(optarg, "hang") == 0)
				origin.fail_route = ROUTE_HANG;
			else if (strcmp(optarg, "503") == 0) {
				origin.fail_route = ROUTE_STATUS;
				origin.fail_arg = 503;
			} else
				origin_fatal("--fail %s: want reset, close, "
				    "hang or 503", optarg);
			break;
		case 't':
			if (routes_parse_tail(optarg, strlen(optarg),
			    &origin.tail_prob, &origin.tail_ms) == -1)
				origin_fatal("--tail %s: want P/MS, P a percentage "
				    "from 0 to 100 (up to 4 decimals)", optarg);
			waits++;
			break;
		case 'd':
			errno = 0;
			origin.tail_ms = strtoull(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0 || origin.tail_ms > 86400000)
				origin_fatal("--delay %s: want milliseconds, at "
				    "most a day", optarg);
			origin.tail_prob = 100 * ROUTES_PROB_UNIT;
			waits++;
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || *end != '\0' ||
			    errno != 0)
				origin_fatal("--seed %s: want a number", optarg);
			seeded = 1;
			break;
		case 'q':
			origin_quiet = 1;
			break;
		case 'v':
			origin.verbose++;
			break;
		case 'h':
			origin_usage(0);
		default:
			origin_usage(1);
		}
	}
	if (optind != argc)
		origin_usage(1);
	if (nlistens == 0)
		listens[nlistens++] = "127.0.0.1:9000";
	if (bh_port_file != NULL && bh_port == -1)
		origin_fatal("--blackhole-port-file needs --blackhole");
	if (waits > 1)
		origin_fatal("--tail and --delay: give one, once");
	if (!seeded) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ((unsigned long long)ts.tv_sec * 1000000000ULL +
		    (unsigned long long)ts.tv_nsec) ^
		    ((unsigned long long)getpid() << 40);
	}
	routes_seed(seed);

	signal(SIGPIPE, SIG_IGN);
	origin_raise_nofile();
	if (log_file != NULL && (origin.log_fd = open(log_file,
	    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) == -1)
		origin_fatal("%s: %s", log_file, strerror(errno));

	if ((cfg = event_config_new()) == NULL)
		origin_fatal("event_config_new failed");
	/* A precise clock: libevent's default, CLOCK_MONOTONIC_COARSE, lags
	 * by up to a tick, and a /delay or /tail wait came out up to 3 ms
	 * short of what was asked as its client saw it. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK |
	    EVENT_BASE_FLAG_PRECISE_TIMER);
	origin.base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (origin.base == NULL)
		origin_fatal("event_base_new failed");
	routes_init();

	origin_backoff = evtimer_new(origin.base, origin_backoff_cb, NULL);
	ev_term = evsignal_new(origin.base, SIGTERM, origin_signal_cb, NULL);
	ev_int = evsignal_new(origin.base, SIGINT, origin_signal_cb, NULL);
	if (origin_backoff == NULL || ev_term == NULL || ev_int == NULL ||
	    evsignal_add(ev_term, NULL) == -1 || evsignal_add(ev_int, NULL) == -1)
		origin_fatal("cannot set up signals");

	for (i = 0; i < nlistens; i++) {
		port = origin_listen(listens[i]);
		if (i == 0)
			first_port = port;
	}
	if (bh_port != -1) {
		port = origin_blackhole(bh_port);
		if (bh_port_file != NULL)
			origin_write_port(bh_port_file, port);
	}
	if (port_file != NULL)
		origin_write_port(port_file, first_port);

	event_base_dispatch(origin.base);

	conn_free_all();
	for (i = 0; i < origin_nlisteners; i++)
		evconnlistener_free(origin_listeners[i]);
	for (i = 0; i < origin_nfillers; i++)
		close(origin_fillers[i]);
	if (origin_blackhole_fd != -1)
		close(origin_blackhole_fd);
	event_free(origin_backoff);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(origin.base);
	libevent_global_shutdown();
	if (origin.log_fd != -1)
		close(origin.log_fd);
	return 0;
}
