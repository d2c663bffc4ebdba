/*
 * conn.c: a connection's byte stream over a non-blocking TCP socket.
 *
 * Reads and writes go to the kernel directly (sys.h): one read(2) per
 * CONN_READABLE the owner acts on, one write(2) or writev(2) per send.
 * What a send leaves behind is copied into the write side's buffer and
 * written from the write event; the owner hears CONN_DRAINED when it has
 * all gone, and a half-close asked for meanwhile is done then.
 */
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "sys.h"

/* c_flags */
#define C_READING	0x01	/* c_rev is added */
#define C_WRITING	0x02	/* w_ev is added */
#define C_CONNECTING	0x04	/* w_ev waits for a connect to end */
#define C_SHUT		0x08	/* half-close once the queue is gone */

/* The write side, made when first needed. */
struct conn_wr {
	struct event	 w_ev;
	struct buf	 w_out;		/* bytes a send left behind */
	struct conn	*w_conn;
};

static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);

/* Take fd on base; not reading yet. */
void
conn_init(struct conn *c, struct event_base *base, int fd, conn_cb cb)
{
	c->c_fd = fd;
	c->c_cb = cb;
	c->c_wr = NULL;
	c->c_flags = 0;
	event_assign(&c->c_rev, base, fd, EV_READ | EV_PERSIST, conn_read_cb,
	    c);
}

/* Make the write side, if it is not made yet. */
static int
conn_wr_make(struct conn *c)
{
	struct conn_wr *w;

	if (c->c_wr != NULL)
		return 0;
	if ((w = calloc(1, sizeof *w)) == NULL)
		return -1;
	w->w_out.b_pool = BUF_POOL_HELD;
	w->w_conn = c;
	event_assign(&w->w_ev, event_get_base(&c->c_rev), c->c_fd,
	    EV_WRITE | EV_PERSIST, conn_write_cb, w);
	c->c_wr = w;
	return 0;
}

/* Start or stop waiting for the socket to be writable. */
static void
conn_want_write(struct conn *c, bool on)
{
	if (on == ((c->c_flags & C_WRITING) != 0) || c->c_wr == NULL)
		return;
	if (on) {
		event_add(&c->c_wr->w_ev, NULL);
		c->c_flags |= C_WRITING;
	} else {
		event_del(&c->c_wr->w_ev);
		c->c_flags &= ~C_WRITING;
	}
}

/* Wait for a connect that said EINPROGRESS. */
int
conn_connect_wait(struct conn *c)
{
	if (conn_wr_make(c) != 0)
		return -1;
	c->c_flags |= C_CONNECTING;
	conn_want_write(c, true);
	return 0;
}

/* Read what the stream has. */
ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	do
		n = sys_read(c->c_fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Send now what the socket takes; queue the rest. */
int
conn_send(struct conn *c, const struct iovec *iov, int n)
{
	struct buf none = { NULL, 0, 0, 0, BUF_POOL_HELD };
	struct buf *out = c->c_wr != NULL ? &c->c_wr->w_out : &none;
	int r = buf_send(c->c_fd, out, iov, n);

	if (r <= 0)
		return r;
	/* Bytes wait: the first time, make the write side they wait in. */
	if (c->c_wr == NULL) {
		if (conn_wr_make(c) != 0) {
			buf_release(&none);
			errno = ENOMEM;
			return -1;
		}
		c->c_wr->w_out = none;
	}
	conn_want_write(c, true);
	return 0;
}

/* Bytes queued and not yet sent. */
size_t
conn_pending(const struct conn *c)
{
	return c->c_wr != NULL ? buf_used(&c->c_wr->w_out) : 0;
}

/* Start or stop reading. */
void
conn_want_read(struct conn *c, bool on)
{
	if (on == ((c->c_flags & C_READING) != 0) || c->c_fd < 0)
		return;
	if (on) {
		event_add(&c->c_rev, NULL);
		c->c_flags |= C_READING;
	} else {
		event_del(&c->c_rev);
		c->c_flags &= ~C_READING;
	}
}

/* Whether reading is on. */
bool
conn_reading(const struct conn *c)
{
	return (c->c_flags & C_READING) != 0;
}

/* Half-close once the queue is gone. */
void
conn_shutdown(struct conn *c)
{
	if (c->c_fd < 0)
		return;
	if (conn_pending(c) > 0)
		c->c_flags |= C_SHUT;
	else
		shutdown(c->c_fd, SHUT_WR);
}

/* Close the stream and free the write side. */
void
conn_close(struct conn *c)
{
	if (c->c_fd < 0)
		return;
	conn_want_read(c, false);
	if (c->c_wr != NULL) {
		conn_want_write(c, false);
		buf_release(&c->c_wr->w_out);
		free(c->c_wr);
		c->c_wr = NULL;
	}
	close(c->c_fd);
	c->c_fd = -1;
	c->c_flags = 0;
}

/* libevent: readable. */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	c->c_cb(c, CONN_READABLE, 0);
}

/* libevent: writable: a connect ended, or queued bytes can go. */
static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn_wr *w = arg;
	struct conn *c = w->w_conn;
	struct buf *out = &w->w_out;
	socklen_t len = sizeof(int);
	ssize_t n;
	int err = 0;

	(void)what;
	if (c->c_flags & C_CONNECTING) {
		c->c_flags &= ~C_CONNECTING;
		conn_want_write(c, false);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		c->c_cb(c, err != 0 ? CONN_CONNFAIL : CONN_CONNECTED, err);
		return;
	}
	do
		n = sys_write(fd, out->b_data + out->b_off, buf_used(out));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0) {
		conn_want_write(c, false);
		c->c_cb(c, CONN_WRFAIL, errno);
		return;
	}
	out->b_off += (uint32_t)n;
	if (buf_used(out) > 0)
		return;
	buf_release(out);
	conn_want_write(c, false);
	if (c->c_flags & C_SHUT) {
		c->c_flags &= ~C_SHUT;
		shutdown(fd, SHUT_WR);
	}
	c->c_cb(c, CONN_DRAINED, 0);
}
