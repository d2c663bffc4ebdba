/*
 * test_conn.c: a connection's byte stream.  Plain sockets: reads, sends
 * queued and drained, progress news, a broken stream.  TLS over
 * socketpairs, with contexts tls.c built from certificates made in the
 * test: the handshake, bytes both ways, close_notify and abort,
 * verification failures, SNI and wildcards, renegotiation refused,
 * session resumption and ticket keys, bad input.
 */
#include <sys/socket.h>
#include <sys/uio.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "testcert.h"
#include "tls.h"

#define BIG	(4u << 20)

static unsigned	 seen[CONN_TLSFAIL + 1];
static int	 last_err;

static void
record(struct conn *c, enum conn_event ev, int err)
{
	(void)c;
	seen[ev]++;
	last_err = err;
}

/* A connected pair with small buffers; fds[0] non-blocking, for the conn. */
static void
pair(int fds[2])
{
	int small = 4096;

	memset(seen, 0, sizeof seen);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	ck_assert_int_eq(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof small), 0);
	ck_assert_int_eq(setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof small), 0);
	ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
}

static void
spin(struct event_base *base)
{
	for (int i = 0; i < 4; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Read what the peer can read now; returns the count, checks the bytes. */
static size_t
peer_read(int fd, size_t want, size_t *at)
{
	char b[8192];
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = read(fd, b, want - got < sizeof b ? want - got : sizeof b);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)b[i] != (*at + (size_t)i) % 251)
				ck_abort_msg("byte %zu is wrong", *at + (size_t)i);
		*at += (size_t)n;
		got += (size_t)n;
	}
	return got;
}

/*
 * What the socket does not take is queued; each write that moves some of
 * it says CONN_WROTE (progress for idle timeouts), the last CONN_DRAINED,
 * once, and every byte arrives in order.
 */
START_TEST(test_send_queue_progress)
{
	struct event_base *base = event_base_new();
	struct conn c;
	struct iovec iov;
	unsigned char *data = malloc(BIG);
	size_t at = 0, pend;
	int fds[2];

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)(i % 251);
	pair(fds);
	conn_init(&c, base, fds[0], record);
	iov.iov_base = data;
	iov.iov_len = BIG;
	ck_assert_int_eq(conn_send(&c, &iov, 1), 0);
	pend = conn_pending(&c);
	ck_assert_uint_gt(pend, 0);
	ck_assert_uint_lt(pend, BIG);
	memset(data, 0, BIG);		/* the queue holds its own copy */

	/* Nothing read: nothing moves, no news. */
	spin(base);
	ck_assert_uint_eq(seen[CONN_WROTE] + seen[CONN_DRAINED], 0);
	ck_assert_uint_eq(conn_pending(&c), pend);

	/* Some read: progress, not drained. */
	ck_assert_uint_gt(peer_read(fds[1], 65536, &at), 0);
	spin(base);
	ck_assert_uint_gt(seen[CONN_WROTE], 0);
	ck_assert_uint_eq(seen[CONN_DRAINED], 0);
	ck_assert_uint_lt(conn_pending(&c), pend);

	/* All read: drained once. */
	for (int i = 0; i < 100000 && at < BIG; i++) {
		peer_read(fds[1], BIG - at, &at);
		spin(base);
	}
	ck_assert_uint_eq(at, BIG);
	ck_assert_uint_eq(conn_pending(&c), 0);
	ck_assert_uint_eq(seen[CONN_DRAINED], 1);
	ck_assert_uint_eq(seen[CONN_WRFAIL], 0);
	conn_close(&c);
	conn_close(&c);			/* idempotent */
	ck_assert_int_eq(c.c_fd, -1);
	close(fds[1]);
	free(data);
	event_base_free(base);
}
END_TEST

/* Bytes are announced only while reading; then read, then the end. */
START_TEST(test_read_and_eof)
{
	struct event_base *base = event_base_new();
	struct conn c;
	char b[16];
	int fds[2];

	pair(fds);
	conn_init(&c, base, fds[0], record);
	ck_assert_int_eq(conn_read(&c, b, sizeof b), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(write(fds[1], "abc", 3), 3);
	spin(base);
	ck_assert_uint_eq(seen[CONN_READABLE], 0);
	conn_want_read(&c, true);
	ck_assert(conn_reading(&c));
	spin(base);
	ck_assert_uint_gt(seen[CONN_READABLE], 0);
	ck_assert_int_eq(conn_read(&c, b, sizeof b), 3);
	ck_assert_int_eq(memcmp(b, "abc", 3), 0);
	close(fds[1]);
	ck_assert_int_eq(conn_read(&c, b, sizeof b), 0);
	conn_close(&c);
	event_base_free(base);
}
END_TEST

/* The peer went away with bytes queued: the stream reports it broken. */
START_TEST(test_broken_stream)
{
	struct event_base *base = event_base_new();
	struct conn c;
	struct iovec iov;
	char *data = calloc(1, BIG);
	int fds[2];

	ck_assert_ptr_nonnull(data);
	pair(fds);
	conn_init(&c, base, fds[0], record);
	iov.iov_base = data;
	iov.iov_len = BIG;
	ck_assert_int_eq(conn_send(&c, &iov, 1), 0);
	ck_assert_uint_gt(conn_pending(&c), 0);
	close(fds[1]);
	spin(base);
	ck_assert_uint_eq(seen[CONN_WRFAIL], 1);
	ck_assert_int_eq(last_err, EPIPE);
	ck_assert_uint_eq(seen[CONN_DRAINED], 0);
	conn_close(&c);

	/* Nothing queued: the send itself says so. */
	pair(fds);
	conn_init(&c, base, fds[0], record);
	close(fds[1]);
	iov.iov_len = 10;
	ck_assert_int_eq(conn_send(&c, &iov, 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	conn_close(&c);
	free(data);
	event_base_free(base);
}
END_TEST

/* --- TLS --- */

/*
 * tls.c reads the clock with time() to rotate its ticket keys; the test is
 * linked with -Wl,--wrap=time so that it can move that clock forward
 * (OpenSSL's own clock, in its shared library, stays the real one).
 */
time_t	__real_time(time_t *);
time_t	__wrap_time(time_t *);

static time_t	 time_shift;

time_t
__wrap_time(time_t *t)
{
	time_t now = __real_time(NULL) + time_shift;

	if (t != NULL)
		*t = now;
	return now;
}

/*
 * The certificates, made once for the case in a temporary directory:
 * ca (a CA), other (another CA, which signed nothing here), and signed by
 * ca: server (server.test), wild (*.wild.test) and cn (the common name
 * cn-only.test and no DNS name).  The files are removed at the end.
 */
enum { CERT_CA, CERT_OTHER, CERT_SERVER, CERT_WILD, CERT_CN, CERT_COUNT };

static const char *const cert_names[CERT_COUNT] = {
	"ca", "other", "server", "wild", "cn",
};
static struct testcert	 certs[CERT_COUNT];
static char		 certdir[64];

/* A path type, and the path of a certificate's file (ext "pem") or of its
 * key's ("key"). */
typedef char cert_file[128];

static const char *
cert_path(cert_file path, int which, const char *ext)
{
	snprintf(path, sizeof(cert_file), "%s/%s.%s", certdir,
	    cert_names[which], ext);
	return path;
}

static void
tls_setup(void)
{
	static const char *const server_dns[] = { "server.test", NULL };
	static const char *const wild_dns[] = { "*.wild.test", NULL };
	struct testcert *ca = &certs[CERT_CA];
	cert_file pem, key;

	snprintf(certdir, sizeof certdir, "/tmp/hg-test-conn.XXXXXX");
	if (mkdtemp(certdir) == NULL ||
	    testcert_make(ca, TESTCERT_EC, "Test CA", NULL, NULL, true) != 0 ||
	    testcert_make(&certs[CERT_OTHER], TESTCERT_EC, "Other CA", NULL,
	    NULL, true) != 0 ||
	    testcert_make(&certs[CERT_SERVER], TESTCERT_EC, "server.test",
	    server_dns, ca, false) != 0 ||
	    testcert_make(&certs[CERT_WILD], TESTCERT_EC, "wild", wild_dns, ca,
	    false) != 0 ||
	    testcert_make(&certs[CERT_CN], TESTCERT_EC, "cn-only.test", NULL, ca,
	    false) != 0) {
		fprintf(stderr, "cannot make the test certificates\n");
		abort();
	}
	for (int i = 0; i < CERT_COUNT; i++)
		if (testcert_write(&certs[i], cert_path(pem, i, "pem"),
		    cert_path(key, i, "key")) != 0) {
			fprintf(stderr, "cannot write %s\n", pem);
			abort();
		}
}

static void
tls_teardown(void)
{
	cert_file path;

	for (int i = 0; i < CERT_COUNT; i++) {
		unlink(cert_path(path, i, "pem"));
		unlink(cert_path(path, i, "key"));
		testcert_free(&certs[i]);
	}
	rmdir(certdir);
}

/* A server context with these certificates, the first the default. */
static struct tls_server *
server_of(const int *which, size_t n)
{
	struct tls_cert_conf cc[CERT_COUNT];
	struct tls_server_conf sc = { cc, n, NULL, NULL };
	struct tls_server *ts;
	cert_file paths[CERT_COUNT][2];
	char err[256];

	for (size_t i = 0; i < n; i++) {
		cc[i].tc_cert = cert_path(paths[i][0], which[i], "pem");
		cc[i].tc_key = cert_path(paths[i][1], which[i], "key");
	}
	ts = tls_server_new(&sc, err, sizeof err);
	if (ts == NULL)
		ck_abort_msg("tls_server_new: %s", err);
	return ts;
}

/* A server context with the one certificate server.test. */
static struct tls_server *
server_one(void)
{
	static const int one[] = { CERT_SERVER };

	return server_of(one, 1);
}

/* A client context verifying against a CA, with a protocol list (NULL:
 * the default). */
static struct tls_client *
client_of(int ca, const char *protocols)
{
	cert_file path;
	struct tls_client_conf cc = {
		.tcl_verify = true,
		.tcl_ca = cert_path(path, ca, "pem"),
		.tcl_protocols = protocols,
	};
	struct tls_client *tc;
	char err[256];

	if ((tc = tls_client_new(&cc, err, sizeof err)) == NULL)
		ck_abort_msg("tls_client_new: %s", err);
	return tc;
}

/* One end of a TLS connection: the conn first, so that the callback finds
 * its end from the pointer it gets. */
struct end {
	struct conn	 e_conn;
	unsigned	 e_seen[CONN_TLSFAIL + 1];
	int		 e_fail;		/* CONN_TLSFAIL's reason */
	char		 e_why[256];		/* and conn_tls_why() then */
	bool		 e_read;		/* read on CONN_READABLE */
	char		 e_in[256];		/* what that read */
	size_t		 e_inlen;
	ssize_t		 e_last;		/* its last conn_read() */
	int		 e_errno;		/* and errno after it */
};

static void
end_cb(struct conn *c, enum conn_event ev, int err)
{
	struct end *e = (struct end *)(void *)c;
	ssize_t n;

	e->e_seen[ev]++;
	if (ev == CONN_TLSFAIL) {
		e->e_fail = err;
		snprintf(e->e_why, sizeof e->e_why, "%s", conn_tls_why());
	}
	if (ev != CONN_READABLE || !e->e_read)
		return;
	n = conn_read(c, e->e_in + e->e_inlen, sizeof e->e_in - e->e_inlen);
	e->e_last = n;
	e->e_errno = n < 0 ? errno : 0;
	if (n > 0)
		e->e_inlen += (size_t)n;
	if (n == 0 || (n < 0 && errno != EAGAIN))
		conn_want_read(c, false);
}

/* Whether the handshake of an end has ended, either way. */
static bool
end_done(const struct end *e)
{
	return e->e_seen[CONN_TLS_READY] + e->e_seen[CONN_TLSFAIL] > 0;
}

/* A server end and a client end over a socketpair with small buffers. */
struct tls_pair {
	struct event_base *base;
	struct end	 srv, cli;
};

/* Run the loop until cond holds, for at most a few thousand turns. */
#define RUN_UNTIL(base, cond) do {					\
	for (int turn_ = 0; turn_ < 20000 && !(cond); turn_++)		\
		event_base_loop((base), EVLOOP_ONCE | EVLOOP_NONBLOCK);	\
} while (0)

/* Start TLS on both ends; nothing runs until the loop does. */
static void
tp_open(struct tls_pair *tp, SSL *sssl, SSL *cssl)
{
	int fds[2];

	ck_assert_ptr_nonnull(sssl);
	ck_assert_ptr_nonnull(cssl);
	memset(tp, 0, sizeof *tp);
	ck_assert_ptr_nonnull(tp->base = event_base_new());
	pair(fds);
	conn_init(&tp->srv.e_conn, tp->base, fds[0], end_cb);
	conn_init(&tp->cli.e_conn, tp->base, fds[1], end_cb);
	ck_assert_int_eq(conn_tls_start(&tp->srv.e_conn, sssl), 0);
	ck_assert_int_eq(conn_tls_start(&tp->cli.e_conn, cssl), 0);
}

/* Run both handshakes to their end. */
static void
tp_handshake(struct tls_pair *tp)
{
	RUN_UNTIL(tp->base, end_done(&tp->srv) && end_done(&tp->cli));
	ck_assert(end_done(&tp->srv));
	ck_assert(end_done(&tp->cli));
}

/* Both handshakes done, once each, neither failed. */
static void
tp_ready(struct tls_pair *tp)
{
	tp_handshake(tp);
	ck_assert_msg(tp->srv.e_seen[CONN_TLSFAIL] == 0, "server: %s",
	    tp->srv.e_why);
	ck_assert_msg(tp->cli.e_seen[CONN_TLSFAIL] == 0, "client: %s",
	    tp->cli.e_why);
	ck_assert_uint_eq(tp->srv.e_seen[CONN_TLS_READY], 1);
	ck_assert_uint_eq(tp->cli.e_seen[CONN_TLS_READY], 1);
	ck_assert(!conn_handshaking(&tp->srv.e_conn));
	ck_assert(!conn_handshaking(&tp->cli.e_conn));
}

static void
tp_close(struct tls_pair *tp)
{
	conn_close(&tp->srv.e_conn);
	conn_close(&tp->cli.e_conn);
	event_base_free(tp->base);
}

/* Read from an SSL of the test's own until it says something else than
 * "want read"; returns SSL_read()'s answer, *err SSL_get_error()'s. */
static int
ssl_read_some(struct event_base *base, SSL *ssl, char *b, int len, int *err)
{
	int n = -1;

	*err = SSL_ERROR_WANT_READ;
	for (int i = 0; i < 1000 && *err == SSL_ERROR_WANT_READ; i++) {
		ERR_clear_error();
		n = SSL_read(ssl, b, len);
		*err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, n);
		if (*err == SSL_ERROR_WANT_READ)
			spin(base);
	}
	return n;
}

/*
 * A handshake between a server conn (tls.c's context, one certificate) and
 * a client conn verifying it against the CA: both hear CONN_TLS_READY,
 * once, and only from the events; TLS 1.3 and ALPN http/1.1 by default.
 * Reads wait for it, and bytes sent before it go after it.
 */
START_TEST(test_tls_handshake)
{
	struct tls_server *ts = server_one();
	struct tls_client *tc = client_of(CERT_CA, NULL);
	struct tls_pair tp;
	const unsigned char *alpn;
	unsigned alen;
	struct iovec iov = { (void *)"early", 5 };
	char b[16];
	X509 *peer;

	tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc, "server.test",
	    "server.test", NULL));
	ck_assert(conn_handshaking(&tp.srv.e_conn));
	ck_assert(conn_handshaking(&tp.cli.e_conn));
	ck_assert_int_eq(conn_read(&tp.cli.e_conn, b, sizeof b), -1);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(conn_send(&tp.cli.e_conn, &iov, 1), 0);
	ck_assert_uint_eq(conn_pending(&tp.cli.e_conn), 5);
	tp.srv.e_read = true;
	conn_want_read(&tp.srv.e_conn, true);
	for (int i = 0; i <= CONN_TLSFAIL; i++)
		ck_assert_uint_eq(tp.srv.e_seen[i] + tp.cli.e_seen[i], 0);

	tp_ready(&tp);
	RUN_UNTIL(tp.base, tp.srv.e_inlen >= 5);
	ck_assert_uint_eq(tp.srv.e_inlen, 5);
	ck_assert_int_eq(memcmp(tp.srv.e_in, "early", 5), 0);
	ck_assert_uint_eq(conn_pending(&tp.cli.e_conn), 0);
	ck_assert_uint_eq(tp.cli.e_seen[CONN_DRAINED], 1);

	ck_assert_str_eq(tls_version(conn_tls(&tp.srv.e_conn)), "TLSv1.3");
	ck_assert_str_eq(tls_version(conn_tls(&tp.cli.e_conn)), "TLSv1.3");
	ck_assert_str_eq(tls_version(NULL), "-");
	SSL_get0_alpn_selected(conn_tls(&tp.srv.e_conn), &alpn, &alen);
	ck_assert_uint_eq(alen, 8);
	ck_assert_int_eq(memcmp(alpn, "http/1.1", 8), 0);
	SSL_get0_alpn_selected(conn_tls(&tp.cli.e_conn), &alpn, &alen);
	ck_assert_uint_eq(alen, 8);
	ck_assert_int_eq(SSL_get_verify_result(conn_tls(&tp.cli.e_conn)),
	    X509_V_OK);
	peer = SSL_get0_peer_certificate(conn_tls(&tp.cli.e_conn));
	ck_assert_ptr_nonnull(peer);
	ck_assert_int_eq(X509_cmp(peer, certs[CERT_SERVER].tc_x509), 0);

	tp_close(&tp);
	tls_client_free(tc);
	tls_server_free(ts);
}
END_TEST

/* Read up to want bytes of the pattern through a conn; checks them. */
static size_t
conn_read_pattern(struct conn *c, size_t want, size_t *at)
{
	char b[16384];
	size_t got = 0;
	ssize_t n;

	while (got < want) {
		n = conn_read(c, b, want - got < sizeof b ? want - got :
		    sizeof b);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)b[i] != (*at + (size_t)i) % 251)
				ck_abort_msg("byte %zu is wrong", *at + (size_t)i);
		*at += (size_t)n;
		got += (size_t)n;
	}
	return got;
}

/*
 * Bytes both ways, several buffers in one send; then 4 MiB that the
 * socket cannot take at once: it queues, nothing moves while the peer does
 * not read, each flush that moves some says CONN_WROTE, the last
 * CONN_DRAINED, once, and every byte arrives in order.
 */
START_TEST(test_tls_bytes)
{
	struct tls_server *ts = server_one();
	struct tls_client *tc = client_of(CERT_CA, NULL);
	struct tls_pair tp;
	struct iovec iov[3] = {
		{ (void *)"GET / ", 6 }, { (void *)"", 0 },
		{ (void *)"HTTP/1.1\r\n", 10 },
	};
	unsigned char *data = malloc(BIG);
	size_t at = 0, pend;

	ck_assert_ptr_nonnull(data);
	for (size_t i = 0; i < BIG; i++)
		data[i] = (unsigned char)(i % 251);
	tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc, "server.test",
	    "server.test", NULL));
	tp_ready(&tp);

	tp.srv.e_read = tp.cli.e_read = true;
	conn_want_read(&tp.srv.e_conn, true);
	conn_want_read(&tp.cli.e_conn, true);
	ck_assert_int_eq(conn_send(&tp.cli.e_conn, iov, 3), 0);
	RUN_UNTIL(tp.base, tp.srv.e_inlen >= 16);
	ck_assert_uint_eq(tp.srv.e_inlen, 16);
	ck_assert_int_eq(memcmp(tp.srv.e_in, "GET / HTTP/1.1\r\n", 16), 0);
	iov[0].iov_base = (void *)"HTTP/1.1 200 OK\r\n";
	iov[0].iov_len = 17;
	ck_assert_int_eq(conn_send(&tp.srv.e_conn, iov, 1), 0);
	RUN_UNTIL(tp.base, tp.cli.e_inlen >= 17);
	ck_assert_uint_eq(tp.cli.e_inlen, 17);
	ck_assert_int_eq(memcmp(tp.cli.e_in, "HTTP/1.1 200 OK\r\n", 17), 0);
	conn_want_read(&tp.cli.e_conn, false);
	tp.cli.e_read = false;
	memset(tp.srv.e_seen, 0, sizeof tp.srv.e_seen);

	iov[0].iov_base = data;
	iov[0].iov_len = BIG;
	ck_assert_int_eq(conn_send(&tp.srv.e_conn, iov, 1), 0);
	pend = conn_pending(&tp.srv.e_conn);
	ck_assert_uint_gt(pend, 0);
	ck_assert_uint_le(pend, BIG);
	memset(data, 0, BIG);		/* the queue holds its own copy */

	/* Nothing read: nothing moves, no news. */
	spin(tp.base);
	ck_assert_uint_eq(tp.srv.e_seen[CONN_WROTE] +
	    tp.srv.e_seen[CONN_DRAINED], 0);
	ck_assert_uint_eq(conn_pending(&tp.srv.e_conn), pend);

	/* Some read: progress, not drained.  (The first record may sit
	 * half in the socket: it is whole once the server can write.  What
	 * OpenSSL took stays counted as pending until it says so.) */
	for (int i = 0; i < 100 && at == 0; i++) {
		conn_read_pattern(&tp.cli.e_conn, 65536, &at);
		spin(tp.base);
	}
	ck_assert_uint_gt(at, 0);
	ck_assert_uint_gt(tp.srv.e_seen[CONN_WROTE], 0);
	ck_assert_uint_eq(tp.srv.e_seen[CONN_DRAINED], 0);
	ck_assert_uint_gt(conn_pending(&tp.srv.e_conn), 0);

	/* All read: drained once. */
	for (int i = 0; i < 100000 && at < BIG; i++) {
		conn_read_pattern(&tp.cli.e_conn, BIG - at, &at);
		spin(tp.base);
	}
	ck_assert_uint_eq(at, BIG);
	ck_assert_uint_eq(conn_pending(&tp.srv.e_conn), 0);
	ck_assert_uint_eq(tp.srv.e_seen[CONN_DRAINED], 1);
	ck_assert_uint_eq(tp.srv.e_seen[CONN_WRFAIL], 0);

	tp_close(&tp);
	tls_client_free(tc);
	tls_server_free(ts);
	free(data);
}
END_TEST

/*
 * conn_close() ends the stream with a close_notify: the peer reads what
 * was sent, then a clean end (SSL_ERROR_ZERO_RETURN).  conn_abort() sends
 * none: the peer reads what was sent, then an unexpected EOF.  Through
 * conn_read() (whose contexts take that EOF as an end, the HTTP framing
 * saying whether what came is whole) the peer sees the end.
 */
START_TEST(test_tls_close_notify)
{
	struct tls_server *ts = server_one();
	struct tls_client *tc = client_of(CERT_CA, NULL);
	struct iovec iov = { (void *)"bye", 3 };
	struct tls_pair tp;
	char b[16];
	int n, err;
	SSL *cs;

	for (int abort_it = 0; abort_it <= 1; abort_it++) {
		tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc,
		    "server.test", "server.test", NULL));
		tp_ready(&tp);
		cs = conn_tls(&tp.cli.e_conn);
		SSL_clear_options(cs, SSL_OP_IGNORE_UNEXPECTED_EOF);
		ck_assert_int_eq(conn_send(&tp.srv.e_conn, &iov, 1), 0);
		if (abort_it)
			conn_abort(&tp.srv.e_conn);
		else
			conn_close(&tp.srv.e_conn);
		ck_assert_int_eq(tp.srv.e_conn.c_fd, -1);
		n = ssl_read_some(tp.base, cs, b, sizeof b, &err);
		ck_assert_int_eq(n, 3);
		ck_assert_int_eq(memcmp(b, "bye", 3), 0);
		n = ssl_read_some(tp.base, cs, b, sizeof b, &err);
		ck_assert_int_le(n, 0);
		if (abort_it) {
			ck_assert_int_eq(err, SSL_ERROR_SSL);
			ck_assert_int_eq(ERR_GET_REASON(ERR_peek_last_error()),
			    SSL_R_UNEXPECTED_EOF_WHILE_READING);
			ck_assert(!(SSL_get_shutdown(cs) &
			    SSL_RECEIVED_SHUTDOWN));
		} else {
			ck_assert_int_eq(err, SSL_ERROR_ZERO_RETURN);
			ck_assert(SSL_get_shutdown(cs) & SSL_RECEIVED_SHUTDOWN);
		}
		ERR_clear_error();
		tp_close(&tp);
	}

	/* hourglass's own reading side, after an abort: the end of the
	 * stream, and no close_notify. */
	tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc, "server.test",
	    "server.test", NULL));
	tp_ready(&tp);
	ck_assert_int_eq(conn_send(&tp.srv.e_conn, &iov, 1), 0);
	conn_abort(&tp.srv.e_conn);
	tp.cli.e_read = true;
	conn_want_read(&tp.cli.e_conn, true);
	RUN_UNTIL(tp.base, tp.cli.e_last == 0 && tp.cli.e_inlen > 0);
	ck_assert_uint_eq(tp.cli.e_inlen, 3);
	ck_assert_int_eq(tp.cli.e_last, 0);
	tp_close(&tp);
	tls_client_free(tc);
	tls_server_free(ts);
}
END_TEST

/*
 * A certificate the client refuses: CONN_TLSFAIL on the client with reason
 * certificate and the verification's message; the client's alert fails the
 * server's handshake too, also as certificate.  Another CA, then the right
 * CA but another host name.
 */
START_TEST(test_tls_verify_fails)
{
	static const struct {
		int		 ca;
		const char	*host;
		const char	*cli_why, *srv_why;
	} cases[] = {
		{ CERT_OTHER, "server.test", "certificate verify failed: "
		    "unable to get local issuer certificate", "unknown ca" },
		{ CERT_CA, "other.test", "certificate verify failed: "
		    "hostname mismatch", "bad certificate" },
	};
	struct tls_server *ts = server_one();
	struct tls_pair tp;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tls_client *tc = client_of(cases[i].ca, NULL);

		tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc,
		    "server.test", cases[i].host, NULL));
		tp_handshake(&tp);
		RUN_UNTIL(tp.base, tp.srv.e_seen[CONN_TLSFAIL] > 0);
		ck_assert_uint_eq(tp.cli.e_seen[CONN_TLS_READY], 0);
		ck_assert_uint_eq(tp.cli.e_seen[CONN_TLSFAIL], 1);
		ck_assert_int_eq(tp.cli.e_fail, TLS_FAIL_CERTIFICATE);
		ck_assert_str_eq(tp.cli.e_why, cases[i].cli_why);
		ck_assert_uint_eq(tp.srv.e_seen[CONN_TLS_READY], 0);
		ck_assert_uint_eq(tp.srv.e_seen[CONN_TLSFAIL], 1);
		ck_assert_int_eq(tp.srv.e_fail, TLS_FAIL_CERTIFICATE);
		ck_assert_msg(strstr(tp.srv.e_why, cases[i].srv_why) != NULL,
		    "server: %s", tp.srv.e_why);
		ck_assert_str_eq(tls_fail_name(tp.srv.e_fail), "certificate");
		tp_close(&tp);
		tls_client_free(tc);
	}
	tls_server_free(ts);
}
END_TEST

/*
 * SNI picks the certificate whose names match, a wildcard matching exactly
 * one label and case aside, the common name when there is no DNS name; no
 * SNI, or a name no certificate has, gets the first.
 */
START_TEST(test_tls_sni)
{
	static const int order1[] = { CERT_SERVER, CERT_WILD, CERT_CN };
	static const int order2[] = { CERT_WILD, CERT_SERVER };
	static const struct {
		const int	*order;
		size_t		 n;
		const char	*sni;
		int		 want;
	} cases[] = {
		{ order1, 3, "server.test", CERT_SERVER },
		{ order1, 3, "a.wild.test", CERT_WILD },
		{ order1, 3, "A.Wild.TEST", CERT_WILD },
		{ order1, 3, "wild.test", CERT_SERVER },
		{ order1, 3, "a.b.wild.test", CERT_SERVER },
		{ order1, 3, "cn-only.test", CERT_CN },
		{ order1, 3, "unknown.test", CERT_SERVER },
		{ order1, 3, NULL, CERT_SERVER },
		{ order2, 2, "server.test", CERT_SERVER },
		{ order2, 2, "unknown.test", CERT_WILD },
		{ order2, 2, NULL, CERT_WILD },
	};
	struct tls_client *tc = client_of(CERT_CA, NULL);
	struct tls_pair tp;
	X509 *peer;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tls_server *ts = server_of(cases[i].order, cases[i].n);

		tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc,
		    cases[i].sni, NULL, NULL));
		tp_ready(&tp);
		peer = SSL_get0_peer_certificate(conn_tls(&tp.cli.e_conn));
		ck_assert_ptr_nonnull(peer);
		ck_assert_msg(X509_cmp(peer, certs[cases[i].want].tc_x509) ==
		    0, "SNI %s: not the certificate %s", cases[i].sni ?
		    cases[i].sni : "(none)", cert_names[cases[i].want]);
		tp_close(&tp);
		tls_server_free(ts);
	}
	tls_client_free(tc);
}
END_TEST

/* What an SSL wrote since it was watched: handshake messages, and the
 * last alert (level << 8 | description). */
static int	 wr_hs_msgs, wr_alert;

static void
watch_writes(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
	const unsigned char *b = buf;

	(void)version;
	(void)ssl;
	(void)arg;
	if (!write_p)
		return;
	if (content_type == SSL3_RT_HANDSHAKE)
		wr_hs_msgs++;
	if (content_type == SSL3_RT_ALERT && len == 2)
		wr_alert = b[0] << 8 | b[1];
}

/*
 * A client that asks to renegotiate over TLS 1.2 is refused: tls.c sets
 * SSL_OP_NO_RENEGOTIATION (and OpenSSL 3 refuses renegotiations clients
 * start unless told otherwise), the server answers with a no_renegotiation
 * alert and writes no handshake message, and the client, whose
 * renegotiation was refused, fails.
 */
START_TEST(test_tls_renegotiation)
{
	struct tls_server *ts = server_one();
	struct tls_client *tc = client_of(CERT_CA, "TLSv1.2");
	struct tls_pair tp;
	int r = -1, e = SSL_ERROR_WANT_READ, reason = 0;
	SSL *cs, *ss;

	tp_open(&tp, tls_server_ssl(ts), tls_client_ssl(tc, "server.test",
	    "server.test", NULL));
	tp_ready(&tp);
	cs = conn_tls(&tp.cli.e_conn);
	ss = conn_tls(&tp.srv.e_conn);
	ck_assert_str_eq(tls_version(ss), "TLSv1.2");
	ck_assert(SSL_get_options(ss) & SSL_OP_NO_RENEGOTIATION);
	ck_assert(!(SSL_get_options(ss) & SSL_OP_ALLOW_CLIENT_RENEGOTIATION));
	wr_hs_msgs = wr_alert = 0;
	SSL_set_msg_callback(ss, watch_writes);
	tp.srv.e_read = true;
	conn_want_read(&tp.srv.e_conn, true);

	/* The client's side is the test's own here: OpenSSL's. */
	SSL_clear_options(cs, SSL_OP_NO_RENEGOTIATION);
	ck_assert_int_eq(SSL_renegotiate(cs), 1);
	for (int i = 0; i < 1000 && (e == SSL_ERROR_WANT_READ ||
	    e == SSL_ERROR_WANT_WRITE); i++) {
		ERR_clear_error();
		r = SSL_do_handshake(cs);
		e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(cs, r);
		/* The error queue is the thread's: read it before the
		 * server's callbacks run. */
		reason = ERR_GET_REASON(ERR_peek_last_error());
		spin(tp.base);
	}
	ck_assert_int_ne(r, 1);
	ck_assert_int_eq(e, SSL_ERROR_SSL);
	ck_assert_int_eq(reason, SSL_R_NO_RENEGOTIATION);
	ck_assert_int_eq(wr_hs_msgs, 0);
	ck_assert_int_eq(wr_alert, SSL3_AL_WARNING << 8 |
	    SSL_AD_NO_RENEGOTIATION);

	/* The client's fatal alert, before any data, ends the server's
	 * stream as the peer's refusal: EPROTO. */
	RUN_UNTIL(tp.base, tp.srv.e_last < 0 && tp.srv.e_errno != EAGAIN);
	ck_assert_int_eq(tp.srv.e_last, -1);
	ck_assert_int_eq(tp.srv.e_errno, EPROTO);
	tp_close(&tp);
	tls_client_free(tc);
	tls_server_free(ts);
}
END_TEST

/*
 * The other way: a TLS 1.2 server (the test's own, plain OpenSSL) that
 * asks an upstream connection of ours to renegotiate is refused too: the
 * client answers its HelloRequest with a no_renegotiation alert and no
 * handshake message, and the server's renegotiation fails.
 */
START_TEST(test_tls_renegotiation_asked)
{
	SSL_CTX *plain = SSL_CTX_new(TLS_server_method());
	struct tls_client *tc = client_of(CERT_CA, NULL);
	struct tls_pair tp;
	int r = -1, e = SSL_ERROR_WANT_READ, reason = 0;
	char b[16];
	SSL *cs, *ss;

	ck_assert_ptr_nonnull(plain);
	ck_assert_int_eq(SSL_CTX_use_certificate(plain,
	    certs[CERT_SERVER].tc_x509), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(plain,
	    certs[CERT_SERVER].tc_key), 1);
	ck_assert_int_eq(SSL_CTX_set_max_proto_version(plain,
	    TLS1_2_VERSION), 1);
	ck_assert_ptr_nonnull(ss = SSL_new(plain));
	SSL_set_accept_state(ss);
	cs = tls_client_ssl(tc, "server.test", "server.test", NULL);
	tp_open(&tp, ss, cs);
	tp_ready(&tp);
	ck_assert_str_eq(tls_version(cs), "TLSv1.2");
	wr_hs_msgs = wr_alert = 0;
	SSL_set_msg_callback(cs, watch_writes);
	tp.cli.e_read = true;
	conn_want_read(&tp.cli.e_conn, true);

	/* The HelloRequest goes; the answer comes to the server's reads. */
	ck_assert_int_eq(SSL_renegotiate(ss), 1);
	ck_assert_int_eq(SSL_do_handshake(ss), 1);
	for (int i = 0; i < 1000 && (e == SSL_ERROR_WANT_READ ||
	    e == SSL_ERROR_WANT_WRITE); i++) {
		spin(tp.base);
		ERR_clear_error();
		r = SSL_read(ss, b, sizeof b);
		e = r > 0 ? SSL_ERROR_NONE : SSL_get_error(ss, r);
		reason = ERR_GET_REASON(ERR_peek_last_error());
	}
	ck_assert_int_le(r, 0);
	ck_assert_int_eq(e, SSL_ERROR_SSL);
	ck_assert_int_eq(reason, SSL_R_NO_RENEGOTIATION);
	ck_assert_int_eq(wr_hs_msgs, 0);
	ck_assert_int_eq(wr_alert, SSL3_AL_WARNING << 8 |
	    SSL_AD_NO_RENEGOTIATION);
	tp_close(&tp);
	tls_client_free(tc);
	SSL_CTX_free(plain);
}
END_TEST

/* The sessions the client context's hook hands over, newest last. */
static SSL_SESSION *sessions[32];
static unsigned	 nsessions;

static void
keep_session(void *arg, SSL_SESSION *sess)
{
	ck_assert_ptr_eq(arg, &nsessions);
	if (nsessions == sizeof sessions / sizeof sessions[0])
		ck_abort_msg("too many sessions");
	sessions[nsessions++] = sess;
}

static void
drop_sessions(void)
{
	while (nsessions > 0)
		SSL_SESSION_free(sessions[--nsessions]);
}

/*
 * Connect a client offering session (or none), to the end of the
 * handshake and of the tickets that follow it; returns whether the
 * session was resumed.  New sessions go to sessions[].
 */
static bool
connect_with(struct tls_server *ts, struct tls_client *tc,
    SSL_SESSION *session)
{
	struct tls_pair tp;
	unsigned before = nsessions;
	SSL *cs = tls_client_ssl(tc, "server.test", "server.test", session);
	bool reused, tls13;

	ck_assert_ptr_nonnull(cs);
	tls_set_session_arg(cs, &nsessions);
	tp_open(&tp, tls_server_ssl(ts), cs);
	tp_ready(&tp);
	reused = SSL_session_reused(cs) == 1;
	tls13 = SSL_version(cs) == TLS1_3_VERSION;
	/* TLS 1.3 tickets come after the handshake: read them (a resumption
	 * gets new ones only when the ticket was renewed).  TLS 1.2 hands a
	 * new session over within the handshake. */
	tp.cli.e_read = true;
	conn_want_read(&tp.cli.e_conn, true);
	if (tls13)
		RUN_UNTIL(tp.base, nsessions > before);
	if (!reused)
		ck_assert_uint_gt(nsessions, before);
	tp_close(&tp);
	return reused;
}

/*
 * A second connection offering the first one's session resumes it, over
 * TLS 1.3 and TLS 1.2; and so does a connection to a server context built
 * again from the same files (a reload), since the ticket keys are the
 * process's.  A TLS 1.3 ticket is for one use (OpenSSL's client will not
 * offer it again), so each TLS 1.3 resumption must bring a new ticket, or
 * every other connection would be a full handshake: a chain of
 * resumptions, each with the ticket the one before brought.
 */
START_TEST(test_tls_resumption)
{
	static const char *const protos[] = { "TLSv1.3", "TLSv1.2" };
	struct tls_server *ts = server_one(), *ts2;
	SSL_SESSION *s;
	unsigned n;

	tls_client_session_hook(keep_session);
	for (size_t i = 0; i < 2; i++) {
		struct tls_client *tc = client_of(CERT_CA, protos[i]);
		bool tls13 = i == 0;

		ck_assert(!connect_with(ts, tc, NULL));
		s = sessions[0];
		ck_assert_int_eq(SSL_SESSION_get_protocol_version(s),
		    tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
		ck_assert(SSL_SESSION_is_resumable(s));
		n = nsessions;
		ck_assert(connect_with(ts, tc, s));
		if (tls13)
			ck_assert_msg(nsessions > n, "a TLS 1.3 resumption "
			    "brought no new ticket");

		/* A reload: TLS 1.3 sent two tickets, the second is unused. */
		ts2 = server_one();
		ck_assert(connect_with(ts2, tc, sessions[tls13 ? 1 : 0]));
		tls_server_free(ts2);

		for (int k = 0; k < 3; k++) {
			s = sessions[nsessions - 1];
			n = nsessions;
			ck_assert_msg(connect_with(ts, tc, s), "%s: "
			    "resumption %d of a chain", protos[i], k + 1);
			if (tls13)
				ck_assert_uint_gt(nsessions, n);
		}
		drop_sessions();
		tls_client_free(tc);
	}
	tls_client_session_hook(NULL);
	tls_server_free(ts);
}
END_TEST

/*
 * Ticket keys rotate every 12 hours (tls.c's clock, moved here): a ticket
 * from the key before the current one still resumes (and is renewed: the
 * new ticket is under the current key), one from two keys back does not.
 * TLS 1.3, whose tickets are for one use each, so each step takes its
 * own: two full handshakes at the start make four under the first key.
 */
START_TEST(test_tls_ticket_rotation)
{
	struct tls_server *ts = server_one();
	struct tls_client *tc = client_of(CERT_CA, "TLSv1.3");
	SSL_SESSION *renewed;
	unsigned n;

	tls_client_session_hook(keep_session);
	time_shift = 0;
	ck_assert(!connect_with(ts, tc, NULL));
	ck_assert(!connect_with(ts, tc, NULL));
	ck_assert_uint_eq(nsessions, 4);
	ck_assert(connect_with(ts, tc, sessions[0]));

	time_shift = 12 * 3600 + 1;	/* one rotation */
	n = nsessions;
	ck_assert(connect_with(ts, tc, sessions[1]));
	ck_assert_uint_gt(nsessions, n);
	renewed = sessions[nsessions - 1];

	time_shift = 24 * 3600 + 2;	/* two */
	ck_assert(!connect_with(ts, tc, sessions[2]));
	ck_assert(connect_with(ts, tc, renewed));
	time_shift = 0;
	drop_sessions();
	tls_client_session_hook(NULL);
	tls_client_free(tc);
	tls_server_free(ts);
}
END_TEST

/* A ticket key callback of a server that is not hourglass, whose keys and
 * key name are all zero bytes: what a slot never filled holds. */
static int
zero_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
    EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc)
{
	static const unsigned char zero[32];
	OSSL_PARAM params[2];

	(void)ssl;
	if (enc) {
		memset(name, 0, 16);
		memset(iv, 0, EVP_MAX_IV_LENGTH);
	} else if (memcmp(name, zero, 16) != 0)
		return 0;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_CTX_set_params(h, params) != 1 ||
	    EVP_MAC_init(h, zero, sizeof zero, NULL) != 1 ||
	    EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, zero, iv, enc) != 1)
		return -1;
	return 1;
}

/*
 * A ticket that anyone can make, under a key of zero bytes named by zero
 * bytes, never resumes a session: tls.c's ring of keys must not take the
 * slots it has not filled yet (all zero) for keys.  The forger is a server
 * with the same certificate and session context that hands out such
 * tickets, over TLS 1.3 and TLS 1.2.
 */
START_TEST(test_tls_ticket_unfilled_slots)
{
	static const char *const protos[] = { "TLSv1.3", "TLSv1.2" };
	struct tls_server *ts = server_one();
	SSL_CTX *forger = SSL_CTX_new(TLS_server_method());
	struct tls_pair tp;
	SSL *fs;

	ck_assert_ptr_nonnull(forger);
	ck_assert_int_eq(SSL_CTX_use_certificate(forger,
	    certs[CERT_SERVER].tc_x509), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(forger,
	    certs[CERT_SERVER].tc_key), 1);
	ck_assert_int_eq(SSL_CTX_set_session_id_context(forger,
	    (const unsigned char *)"hourglass", 9), 1);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(forger, zero_ticket_cb);
	tls_client_session_hook(keep_session);
	for (size_t i = 0; i < 2; i++) {
		struct tls_client *tc = client_of(CERT_CA, protos[i]);
		SSL *cs;

		/* Two sessions from the forger (TLS 1.3 tickets are for one
		 * use each): one it resumes itself, so that they are good. */
		for (unsigned want = 1; want <= 2; want++) {
			ck_assert_ptr_nonnull(fs = SSL_new(forger));
			SSL_set_accept_state(fs);
			cs = tls_client_ssl(tc, "server.test", "server.test",
			    NULL);
			tls_set_session_arg(cs, &nsessions);
			tp_open(&tp, fs, cs);
			tp_ready(&tp);
			tp.cli.e_read = true;
			conn_want_read(&tp.cli.e_conn, true);
			RUN_UNTIL(tp.base, nsessions >= want);
			ck_assert_uint_ge(nsessions, want);
			tp_close(&tp);
		}
		ck_assert_ptr_nonnull(fs = SSL_new(forger));
		SSL_set_accept_state(fs);
		cs = tls_client_ssl(tc, "server.test", "server.test",
		    sessions[0]);
		tp_open(&tp, fs, cs);
		tp_ready(&tp);
		ck_assert_int_eq(SSL_session_reused(cs), 1);
		tp_close(&tp);

		ck_assert_msg(!connect_with(ts, tc, sessions[nsessions - 1]),
		    "%s: a forged ticket resumed", protos[i]);
		drop_sessions();
		tls_client_free(tc);
	}
	tls_client_session_hook(NULL);
	SSL_CTX_free(forger);
	tls_server_free(ts);
}
END_TEST

/* Appends to a message being built, with room for lengths to fill later. */
struct msg {
	unsigned char	 m_b[1024];
	size_t		 m_len;
};

static void
msg_put(struct msg *m, const void *p, size_t n)
{
	ck_assert_uint_le(m->m_len + n, sizeof m->m_b);
	memcpy(m->m_b + m->m_len, p, n);
	m->m_len += n;
}

/* Put a big-endian number of width bytes. */
static void
msg_num(struct msg *m, size_t v, int width)
{
	unsigned char b[3];

	for (int i = 0; i < width; i++)
		b[i] = (unsigned char)(v >> (8 * (width - 1 - i)));
	msg_put(m, b, (size_t)width);
}

/* Fill in at at the length of what follows it, width bytes wide. */
static void
msg_len(struct msg *m, size_t at, int width)
{
	size_t v = m->m_len - at - (size_t)width;

	for (int i = 0; i < width; i++)
		m->m_b[at + (size_t)i] = (unsigned char)(v >> (8 * (width -
		    1 - i)));
}

/*
 * A TLS 1.2 ClientHello record by hand (one suite, ECDHE-ECDSA with
 * AES-128-GCM; X25519 and P-256; ECDSA with SHA-256), naming a server of snilen
 * bytes ("a.wild.test" cut or padded with 'a's in front).
 */
static void
hello_build(struct msg *m, size_t snilen)
{
	static const unsigned char tail[] = {
		0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d,	/* groups: */
		0x00, 0x17,		/* X25519, P-256 (the certificate's) */
		0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,		/* points */
		0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03,	/* sigalgs */
	};
	const char *name = "a.wild.test";
	size_t rec, hs, exts, ext, list, nl = strlen(name);
	unsigned char random[32];

	memset(random, 0x42, sizeof random);
	m->m_len = 0;
	msg_put(m, "\x16\x03\x01", 3);
	rec = m->m_len;
	msg_num(m, 0, 2);
	msg_put(m, "\x01", 1);
	hs = m->m_len;
	msg_num(m, 0, 3);
	msg_put(m, "\x03\x03", 2);
	msg_put(m, random, sizeof random);
	msg_put(m, "\x00" "\x00\x02\xc0\x2b" "\x01\x00", 7);
	exts = m->m_len;
	msg_num(m, 0, 2);
	msg_num(m, 0, 2);			/* server_name */
	ext = m->m_len;
	msg_num(m, 0, 2);
	list = m->m_len;
	msg_num(m, 0, 2);
	msg_put(m, "\x00", 1);
	msg_num(m, snilen, 2);
	for (size_t i = 0; i + nl < snilen; i++)
		msg_put(m, "a", 1);
	msg_put(m, snilen < nl ? name + nl - snilen : name,
	    snilen < nl ? snilen : nl);
	msg_len(m, list, 2);
	msg_len(m, ext, 2);
	msg_put(m, tail, sizeof tail);
	msg_len(m, exts, 2);
	msg_len(m, hs, 3);
	msg_len(m, rec, 2);
}

/* A server conn on fds[0], and the raw peer fds[1]. */
static void
raw_open(struct event_base *base, struct end *srv, int fds[2],
    struct tls_server *ts)
{
	memset(srv, 0, sizeof *srv);
	pair(fds);
	conn_init(&srv->e_conn, base, fds[0], end_cb);
	ck_assert_int_eq(conn_tls_start(&srv->e_conn, tls_server_ssl(ts)), 0);
	conn_want_read(&srv->e_conn, true);
}

/* Read what the peer got; the count. */
static size_t
raw_read(int fd, unsigned char *b, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len && (n = read(fd, b + got, len - got)) > 0)
		got += (size_t)n;
	return got;
}

/*
 * What issue 21 calls bad input, each failing that connection's
 * handshake: plain HTTP (closed without a byte back: no response, no
 * alert), a record of application data before any handshake (an alert), a
 * ClientHello cut short by the peer's close (reason closed), and a server
 * name of 300 bytes (an alert; the same hello with a name of 11 bytes gets
 * a ServerHello, so that it is the name that fails).
 */
START_TEST(test_tls_bad_input)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char appdata[] = "\x17\x03\x03\x00\x04" "abcd";
	struct event_base *base = event_base_new();
	struct tls_server *ts = server_one();
	unsigned char got[4096];
	struct end srv;
	struct msg m;
	int fds[2];
	size_t n;

	/* Plain HTTP. */
	raw_open(base, &srv, fds, ts);
	ck_assert_int_eq(write(fds[1], http, sizeof http - 1),
	    (ssize_t)sizeof http - 1);
	RUN_UNTIL(base, end_done(&srv));
	ck_assert_uint_eq(srv.e_seen[CONN_TLSFAIL], 1);
	ck_assert_int_eq(srv.e_fail, TLS_FAIL_PROTOCOL);
	ck_assert_str_eq(srv.e_why, "http request");
	conn_abort(&srv.e_conn);
	ck_assert_uint_eq(raw_read(fds[1], got, sizeof got), 0);
	close(fds[1]);

	/* Application data first. */
	raw_open(base, &srv, fds, ts);
	ck_assert_int_eq(write(fds[1], appdata, sizeof appdata - 1),
	    (ssize_t)sizeof appdata - 1);
	RUN_UNTIL(base, end_done(&srv));
	ck_assert_uint_eq(srv.e_seen[CONN_TLSFAIL], 1);
	ck_assert_int_eq(srv.e_fail, TLS_FAIL_PROTOCOL);
	conn_abort(&srv.e_conn);
	n = raw_read(fds[1], got, sizeof got);
	ck_assert_uint_eq(n, 7);
	ck_assert_uint_eq(got[0], 0x15);	/* an alert */
	ck_assert_uint_eq(got[5], 2);		/* fatal */
	close(fds[1]);

	/* A hello cut short, then the peer's close. */
	hello_build(&m, 11);
	raw_open(base, &srv, fds, ts);
	ck_assert_int_eq(write(fds[1], m.m_b, m.m_len / 2),
	    (ssize_t)(m.m_len / 2));
	spin(base);
	ck_assert_msg(!end_done(&srv), "%s", srv.e_why);
	ck_assert_int_eq(shutdown(fds[1], SHUT_WR), 0);
	RUN_UNTIL(base, end_done(&srv));
	ck_assert_uint_eq(srv.e_seen[CONN_TLSFAIL], 1);
	ck_assert_int_eq(srv.e_fail, TLS_FAIL_CLOSED);
	conn_abort(&srv.e_conn);
	close(fds[1]);

	/* The whole hello: a ServerHello back. */
	raw_open(base, &srv, fds, ts);
	ck_assert_int_eq(write(fds[1], m.m_b, m.m_len), (ssize_t)m.m_len);
	spin(base);
	ck_assert_msg(!end_done(&srv), "%s", srv.e_why);
	n = raw_read(fds[1], got, sizeof got);
	ck_assert_uint_gt(n, 6);
	ck_assert_uint_eq(got[0], 0x16);	/* a handshake record */
	ck_assert_uint_eq(got[5], 0x02);	/* ServerHello */
	conn_abort(&srv.e_conn);
	close(fds[1]);

	/* A name of 300 bytes. */
	hello_build(&m, 300);
	raw_open(base, &srv, fds, ts);
	ck_assert_int_eq(write(fds[1], m.m_b, m.m_len), (ssize_t)m.m_len);
	RUN_UNTIL(base, end_done(&srv));
	ck_assert_uint_eq(srv.e_seen[CONN_TLSFAIL], 1);
	ck_assert_int_eq(srv.e_fail, TLS_FAIL_PROTOCOL);
	conn_abort(&srv.e_conn);
	n = raw_read(fds[1], got, sizeof got);
	ck_assert_uint_eq(n, 7);
	ck_assert_uint_eq(got[0], 0x15);
	ck_assert_uint_eq(got[5], 2);
	close(fds[1]);

	tls_server_free(ts);
	event_base_free(base);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("plain");
	TCase *tls = tcase_create("tls");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(tc, test_send_queue_progress);
	tcase_add_test(tc, test_read_and_eof);
	tcase_add_test(tc, test_broken_stream);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(tls, tls_setup, tls_teardown);
	tcase_add_test(tls, test_tls_handshake);
	tcase_add_test(tls, test_tls_bytes);
	tcase_add_test(tls, test_tls_close_notify);
	tcase_add_test(tls, test_tls_verify_fails);
	tcase_add_test(tls, test_tls_sni);
	tcase_add_test(tls, test_tls_renegotiation);
	tcase_add_test(tls, test_tls_renegotiation_asked);
	tcase_add_test(tls, test_tls_resumption);
	tcase_add_test(tls, test_tls_ticket_rotation);
	tcase_add_test(tls, test_tls_ticket_unfilled_slots);
	tcase_add_test(tls, test_tls_bad_input);
	suite_add_tcase(s, tls);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
