/*
 * tlsclient.c: HTTPS requests for bench/tls.sh and bench/instr.sh, over
 * new TLS connections (one handshake per request, optionally resuming a
 * session) or over one keep-alive TLS connection per thread.
 *
 * usage: tlsclient [-c CONNS] [-d SECS | -n COUNT] [-r] [-k] [-s SNI] PORT PATH
 *
 *   -c CONNS  threads, each with one connection at a time (default 1)
 *   -d SECS   run for SECS seconds (default 5)
 *   -n COUNT  or stop after COUNT requests in all
 *   -r        resume: each thread offers the session (TLS 1.3: the newest
 *             ticket) of its previous connection; the first is full
 *   -k        keep-alive: each thread sends all its requests on one
 *             connection (one handshake per thread); without -k every
 *             request goes on a new connection with "Connection: close",
 *             and the client reads the response and then the server's
 *             close before it closes its side
 *   -s SNI    the server name sent (default localhost)
 *
 * Connects to 127.0.0.1:PORT (TCP_NODELAY), blocking sockets; a read or
 * write that waits 10 s fails the connection.  The client
 * offers TLS 1.3 only, the suite TLS_AES_128_GCM_SHA256 only and the group
 * X25519 only, so that every server negotiates the same; it does not check
 * the server's certificate.  The request is wrk's, "GET PATH HTTP/1.1" with
 * a Host header, plus "Connection: close" without -k.  A response is read
 * whole by its Content-Length (or, with none, to the close).  At the end it
 * prints one line (the first eight fields as bench/seqclient prints them):
 *
 *     requests=N ok=K other=X clen=C chunked=0 chunks=0 body_bytes=B secs=S
 *       handshakes=H resumed=R errors=E hs_per_sec=.. req_per_sec=..
 *       client_cpu_us=.. proto=TLSv1.3 cipher=.. group=..
 *
 * (one line; proto, cipher and group are the first handshake's).  errors:
 * connections that failed (connect, handshake, a cut or malformed
 * response); each is counted and the thread goes on with a new one.  Exit
 * status 0 when every request got a 200, 1 otherwise, 2 on a usage error.
 */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAX_THREADS	256
#define HEAD_MAX	16384
#define IO_TIMEOUT	10	/* seconds a read or write may wait */

struct worker {
	pthread_t	 w_thread;
	SSL_SESSION	*w_session;	/* the newest ticket, with -r */
	unsigned long	 w_requests, w_ok, w_other, w_clen, w_hs, w_resumed;
	unsigned long	 w_errors;
	unsigned long long w_body;
	char		 w_buf[65536];
};

static SSL_CTX		*ctx;
static struct sockaddr_in sa;
static const char	*path, *sni = "localhost";
static bool		 resume, keepalive;
static long		 count = -1;		/* -n, or -1 */
static atomic_long	 left;			/* requests still to start */
static atomic_bool	 stop;
static char		 request[1024];
static size_t		 request_len;
static int		 ex_worker;
static pthread_mutex_t	 first_lock = PTHREAD_MUTEX_INITIALIZER;
static char		 first_params[256];	/* proto cipher group */

/* Seconds on the monotonic clock. */
static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Whether another request may start (and count it as started). */
static bool
take(void)
{
	if (atomic_load(&stop))
		return false;
	if (count < 0)
		return true;
	return atomic_fetch_sub(&left, 1) > 0;
}

/* A new session ticket: keep the newest for the thread's next connection. */
static int
new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
	struct worker *w = SSL_get_ex_data(ssl, ex_worker);

	if (w == NULL || !resume)
		return 0;
	if (w->w_session != NULL)
		SSL_SESSION_free(w->w_session);
	w->w_session = sess;
	return 1;	/* we keep the reference */
}

/*
 * Open a TCP connection to the server; -1 on failure.  A read or write that
 * waits IO_TIMEOUT seconds fails (an error), so that a server that stops
 * answering cannot hang the client.
 */
static int
tcp_connect(void)
{
	struct timeval tv = { IO_TIMEOUT, 0 };
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Note the negotiated protocol, suite and group of the first handshake. */
static void
note_params(SSL *ssl)
{
	const char *group = "-";
	int nid;

	pthread_mutex_lock(&first_lock);
	if (first_params[0] == '\0') {
		nid = (int)SSL_get_negotiated_group(ssl);
		if (nid != NID_undef && SSL_group_to_name(ssl, nid) != NULL)
			group = SSL_group_to_name(ssl, nid);
		snprintf(first_params, sizeof first_params,
		    "proto=%s cipher=%s group=%s", SSL_get_version(ssl),
		    SSL_get_cipher_name(ssl), group);
	}
	pthread_mutex_unlock(&first_lock);
}

/* A TLS connection, handshake done; NULL on failure. */
static SSL *
tls_open(struct worker *w, int *fdp)
{
	SSL *ssl;
	int fd;

	if ((fd = tcp_connect()) < 0)
		return NULL;
	if ((ssl = SSL_new(ctx)) == NULL)
		goto fail;
	SSL_set_ex_data(ssl, ex_worker, w);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, sni);
	if (resume && w->w_session != NULL)
		SSL_set_session(ssl, w->w_session);
	if (SSL_connect(ssl) != 1)
		goto fail;
	w->w_hs++;
	if (SSL_session_reused(ssl))
		w->w_resumed++;
	if (first_params[0] == '\0')
		note_params(ssl);
	*fdp = fd;
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
	return NULL;
}

/*
 * Send the request and read the response whole; 0 on success (ok or
 * other), -1 when the connection failed.  *closed: the server closed (or
 * will: "Connection: close" or no length).
 */
static int
exchange(struct worker *w, SSL *ssl, bool *closed)
{
	char *buf = w->w_buf, *end, *p;
	size_t have = 0, head, want;
	long long clen = -1;
	int n, status;

	*closed = false;
	if (SSL_write(ssl, request, (int)request_len) != (int)request_len)
		return -1;
	/* The head. */
	for (;;) {
		if (have >= HEAD_MAX)
			return -1;
		n = SSL_read(ssl, buf + have, (int)(HEAD_MAX - have));
		if (n <= 0)
			return -1;
		have += (size_t)n;
		if ((end = memmem(buf, have, "\r\n\r\n", 4)) != NULL)
			break;
	}
	head = (size_t)(end - buf) + 4;
	if (have < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
		return -1;
	status = atoi(buf + 9);
	for (p = memchr(buf, '\n', head); p != NULL && p < end;
	    p = memchr(p + 1, '\n', (size_t)(end - p))) {
		if (strncasecmp(p + 1, "content-length:", 15) == 0)
			clen = atoll(p + 16);
		else if (strncasecmp(p + 1, "connection:", 11) == 0 &&
		    strncasecmp(p + 12 + strspn(p + 12, " "), "close", 5) == 0)
			*closed = true;
	}
	/* The body. */
	if (clen >= 0) {
		want = (size_t)clen;
		have -= head;
		if (have > want)
			return -1;	/* more than the response: malformed */
		while (have < want) {
			n = SSL_read(ssl, buf, (int)(want - have > sizeof w->w_buf ?
			    sizeof w->w_buf : want - have));
			if (n <= 0)
				return -1;
			have += (size_t)n;
		}
		w->w_clen++;
	} else {
		*closed = true;
		have -= head;
		while ((n = SSL_read(ssl, buf, sizeof w->w_buf)) > 0)
			have += (size_t)n;
		want = have;
	}
	w->w_body += want;
	w->w_requests++;
	if (status == 200)
		w->w_ok++;
	else
		w->w_other++;
	return 0;
}

/* Close a connection after a whole exchange (our side only: no
 * close_notify), first reading to the server's close if wait_close. */
static void
tls_close(SSL *ssl, int fd, bool wait_close)
{
	char b[512];

	/* The server's close_notify and FIN, so that its close is done
	 * before the next connection starts. */
	if (wait_close)
		while (SSL_read(ssl, b, sizeof b) > 0)
			;
	/* A clean end, without sending a close_notify: OpenSSL would
	 * otherwise mark the session of a connection freed unshut as not
	 * resumable. */
	SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
}

/* Drop a connection that failed. */
static void
tls_drop(SSL *ssl, int fd)
{
	ERR_clear_error();
	SSL_free(ssl);
	close(fd);
}

/* One thread: connections until the time or the count is up. */
static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	bool closed, failed;
	SSL *ssl;
	int fd;

	while (take()) {
		if ((ssl = tls_open(w, &fd)) == NULL) {
			w->w_errors++;
			continue;
		}
		if (!keepalive) {
			if (exchange(w, ssl, &closed) != 0) {
				w->w_errors++;
				tls_drop(ssl, fd);
				continue;
			}
			tls_close(ssl, fd, true);
			continue;
		}
		failed = false;
		do {
			if (exchange(w, ssl, &closed) != 0) {
				w->w_errors++;
				failed = true;
				break;
			}
		} while (!closed && take());
		if (failed)
			tls_drop(ssl, fd);
		else
			tls_close(ssl, fd, false);
	}
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: tlsclient [-c CONNS] [-d SECS | -n COUNT] "
	    "[-r] [-k] [-s SNI] PORT PATH\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct worker ws[MAX_THREADS];
	struct worker sum = { 0 };
	struct rusage ru;
	double secs = 5, t0, t1, cpu;
	int ch, conns = 1, port;

	while ((ch = getopt(argc, argv, "c:d:n:rks:")) != -1) {
		switch (ch) {
		case 'c': conns = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'r': resume = true; break;
		case 'k': keepalive = true; break;
		case 's': sni = optarg; break;
		default: usage();
		}
	}
	if (argc - optind != 2 || conns < 1 || conns > MAX_THREADS ||
	    secs <= 0 || count == 0)
		usage();
	port = atoi(argv[optind]);
	path = argv[optind + 1];
	if (port <= 0 || port > 65535 || path[0] != '/')
		usage();
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	request_len = (size_t)snprintf(request, sizeof request,
	    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n", path, port,
	    keepalive ? "" : "Connection: close\r\n");
	if (request_len >= sizeof request)
		usage();
	atomic_store(&left, count);

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519") != 1) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
	ex_worker = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);

	t0 = now();
	for (int i = 0; i < conns; i++)
		if (pthread_create(&ws[i].w_thread, NULL, worker_run, &ws[i]) !=
		    0) {
			fprintf(stderr, "tlsclient: pthread_create failed\n");
			return 2;
		}
	if (count < 0) {
		struct timespec ts = { (time_t)secs,
		    (long)((secs - (double)(time_t)secs) * 1e9) };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		atomic_store(&stop, true);
	}
	for (int i = 0; i < conns; i++) {
		pthread_join(ws[i].w_thread, NULL);
		sum.w_requests += ws[i].w_requests;
		sum.w_ok += ws[i].w_ok;
		sum.w_other += ws[i].w_other;
		sum.w_clen += ws[i].w_clen;
		sum.w_body += ws[i].w_body;
		sum.w_hs += ws[i].w_hs;
		sum.w_resumed += ws[i].w_resumed;
		sum.w_errors += ws[i].w_errors;
		if (ws[i].w_session != NULL)
			SSL_SESSION_free(ws[i].w_session);
	}
	t1 = now();
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	    (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
	printf("requests=%lu ok=%lu other=%lu clen=%lu chunked=0 chunks=0 "
	    "body_bytes=%llu secs=%.3f handshakes=%lu resumed=%lu errors=%lu "
	    "hs_per_sec=%.1f req_per_sec=%.1f client_cpu_us=%.2f %s\n",
	    sum.w_requests, sum.w_ok, sum.w_other, sum.w_clen, sum.w_body,
	    t1 - t0, sum.w_hs, sum.w_resumed, sum.w_errors,
	    (double)sum.w_hs / (t1 - t0), (double)sum.w_requests / (t1 - t0),
	    sum.w_requests > 0 ? cpu / (double)sum.w_requests : 0,
	    first_params[0] ? first_params : "proto=- cipher=- group=-");
	SSL_CTX_free(ctx);
	return sum.w_requests > 0 && sum.w_ok == sum.w_requests &&
	    sum.w_errors == 0 && (count < 0 || (long)sum.w_requests == count) ?
	    0 : 1;
}
