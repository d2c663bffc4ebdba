/* test_buf.c: recycled I/O buffers, their pools, and buf_send(). */
#include <sys/socket.h>
#include <sys/uio.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

/* A released standard buffer is the next one its pool hands out. */
START_TEST(test_lifo_reuse)
{
	struct buf a = { 0 }, b = { 0 };
	char *first;

	ck_assert_int_eq(buf_acquire(&a), 0);
	ck_assert_uint_eq(a.b_cap, BUF_SIZE);
	ck_assert_uint_eq(buf_used(&a), 0);
	ck_assert_uint_eq(buf_room(&a), BUF_SIZE);
	first = a.b_data;
	ck_assert_int_eq(buf_acquire(&a), 0);	/* held: no change */
	ck_assert_ptr_eq(a.b_data, first);
	buf_release(&a);
	ck_assert_ptr_null(a.b_data);
	ck_assert_uint_eq(a.b_cap, 0);
	buf_release(&a);			/* twice is harmless */
	ck_assert_int_eq(buf_acquire(&b), 0);
	ck_assert_ptr_eq(b.b_data, first);
	buf_release(&b);
	buf_cache_drain();
}
END_TEST

/*
 * A buffer held across waits comes from its own pool: it does not take
 * the buffer the relay released last, which the relay's next read gets.
 */
START_TEST(test_pools_apart)
{
	struct buf relay = { 0 }, held = { 0 };
	char *warm, *h;

	held.b_pool = BUF_POOL_HELD;
	ck_assert_int_eq(buf_acquire(&relay), 0);
	warm = relay.b_data;
	memset(warm, 'x', BUF_SIZE);
	buf_release(&relay);

	ck_assert_int_eq(buf_acquire(&held), 0);
	ck_assert_ptr_ne(held.b_data, warm);
	h = held.b_data;
	ck_assert_int_eq(buf_acquire(&relay), 0);
	ck_assert_ptr_eq(relay.b_data, warm);
	ck_assert_uint_eq(relay.b_pool, BUF_POOL_RELAY);

	/* Each goes back to its own pool, and keeps it. */
	buf_release(&held);
	buf_release(&relay);
	ck_assert_uint_eq(held.b_pool, BUF_POOL_HELD);
	ck_assert_int_eq(buf_acquire(&held), 0);
	ck_assert_ptr_eq(held.b_data, h);
	ck_assert_int_eq(buf_acquire(&relay), 0);
	ck_assert_ptr_eq(relay.b_data, warm);
	buf_release(&held);
	buf_release(&relay);
	buf_cache_drain();
}
END_TEST

/* Growing keeps the bytes and the offsets; a grown buffer is not recycled
 * as a standard one. */
START_TEST(test_grow_compact)
{
	struct buf b = { 0 }, c = { 0 };

	ck_assert_int_eq(buf_acquire(&b), 0);
	memcpy(b.b_data, "headbody", 8);
	b.b_len = 8;
	b.b_off = 4;
	ck_assert_int_eq(buf_grow(&b, BUF_SIZE * 2), 0);
	ck_assert_uint_ge(b.b_cap, BUF_SIZE * 2);
	ck_assert_uint_eq(b.b_off, 4);
	ck_assert_uint_eq(b.b_len, 8);
	ck_assert_int_eq(memcmp(b.b_data, "headbody", 8), 0);
	ck_assert_int_eq(buf_grow(&b, 16), 0);	/* already big enough */
	ck_assert_uint_ge(b.b_cap, BUF_SIZE * 2);
	buf_compact(&b);
	ck_assert_uint_eq(b.b_off, 0);
	ck_assert_uint_eq(b.b_len, 4);
	ck_assert_int_eq(memcmp(b.b_data, "body", 4), 0);
	buf_release(&b);
	ck_assert_int_eq(buf_acquire(&c), 0);	/* a standard one again */
	ck_assert_uint_eq(c.b_cap, BUF_SIZE);
	buf_release(&c);
	buf_cache_drain();
}
END_TEST

/* Read everything fd has now (non-blocking) into out; returns the count. */
static size_t
drain(int fd, char *out, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, out + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

/*
 * What the socket does not take waits in pending, in order, and later
 * sends go behind it; a closed peer is an error, not a loss of bytes
 * already queued.
 */
START_TEST(test_send_keeps_order)
{
	enum { BIG = 1 << 20 };
	struct buf pending = { 0 };
	char *big = malloc(BIG), *got = malloc(BIG + 16);
	struct iovec iov[2];
	size_t n, total;
	int sv[2], r;

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(got);
	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)('a' + i % 26);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);

	/* A small write goes out whole. */
	iov[0] = (struct iovec){ "one", 3 };
	ck_assert_int_eq(buf_send(sv[0], &pending, iov, 1), 0);
	ck_assert_uint_eq(buf_used(&pending), 0);
	ck_assert_uint_eq(drain(sv[1], got, 16), 3);
	ck_assert_int_eq(memcmp(got, "one", 3), 0);

	/* A megabyte does not fit the socket: the rest waits. */
	iov[0] = (struct iovec){ "head", 4 };
	iov[1] = (struct iovec){ big, BIG };
	r = buf_send(sv[0], &pending, iov, 2);
	ck_assert_int_eq(r, 1);
	ck_assert_uint_gt(buf_used(&pending), 0);
	/* A later send queues behind it, even with room in the socket. */
	total = 4 + BIG;
	n = drain(sv[1], got, BIG + 16);
	iov[0] = (struct iovec){ "tail", 4 };
	ck_assert_int_eq(buf_send(sv[0], &pending, iov, 1), 1);
	/* Flush pending by hand, as a write callback would. */
	while (buf_used(&pending) > 0) {
		ssize_t w = write(sv[0], pending.b_data + pending.b_off,
		    buf_used(&pending));

		if (w > 0)
			pending.b_off += (uint32_t)w;
		n += drain(sv[1], got + n, BIG + 16 - n);
	}
	n += drain(sv[1], got + n, BIG + 16 - n);
	ck_assert_uint_eq(n, total + 4);
	ck_assert_int_eq(memcmp(got, "head", 4), 0);
	ck_assert_int_eq(memcmp(got + 4, big, BIG), 0);
	ck_assert_int_eq(memcmp(got + 4 + BIG, "tail", 4), 0);
	buf_release(&pending);

	/* A closed peer: -1 with errno EPIPE (SIGPIPE is ignored here). */
	close(sv[1]);
	iov[0] = (struct iovec){ "lost", 4 };
	errno = 0;
	ck_assert_int_eq(buf_send(sv[0], &pending, iov, 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(sv[0]);
	free(big);
	free(got);
	buf_cache_drain();
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite	*s = suite_create("buf");
	TCase	*tc = tcase_create("buf");

	tcase_add_test(tc, test_lifo_reuse);
	tcase_add_test(tc, test_pools_apart);
	tcase_add_test(tc, test_grow_compact);
	tcase_add_test(tc, test_send_keeps_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(buf_suite());
	int	 failed;

	signal(SIGPIPE, SIG_IGN);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
