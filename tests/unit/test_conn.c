/* test_conn.c: a connection's byte stream (plain sockets): reads, sends
 * queued and drained, progress news, a broken stream. */
#include <sys/socket.h>
#include <sys/uio.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"

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

int
main(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("plain");
	SRunner *sr;
	int failed;

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(tc, test_send_queue_progress);
	tcase_add_test(tc, test_read_and_eof);
	tcase_add_test(tc, test_broken_stream);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
