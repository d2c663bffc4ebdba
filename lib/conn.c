/*
 * conn.c: a connection's byte stream over a non-blocking TCP socket,
 * plain or under TLS.
 *
 * Plain: reads and writes go to the kernel directly (sys.h): one read(2)
 * per CONN_READABLE the owner acts on, one write(2) or writev(2) per send.
 * What a send leaves behind is copied into the write side's buffer and
 * written from the write event; the owner hears CONN_WROTE as some of it
 * goes (progress, for idle timeouts) and CONN_DRAINED when it has all
 * gone, and a half-close asked for meanwhile is done then.
 *
 * TLS (OpenSSL, non-blocking, over the same socket and events): the
 * handshake runs from the events until it is done (CONN_TLS_READY) or
 * fails (CONN_TLSFAIL).  A read may need the socket writable and a write
 * may need it readable (SSL_ERROR_WANT_*): the events follow what the
 * stream needs as well as what the owner asked for, and the owner hears
 * CONN_READABLE only while it reads.  Decrypted bytes that OpenSSL holds
 * past a read are announced again at once.  conn_close() sends a
 * close_notify; conn_abort() does not, so that a cut response never looks
 * complete.
 */
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>

#include "buf.h"
#include "conn.h"
#include "sys.h"
#include "tls.h"

/* c_flags */
#define C_READING	0x01	/* the owner reads */
#define C_WRITING	0x02	/* w_ev is added */
#define C_CONNECTING	0x04	/* w_ev waits for a connect to end */
#define C_SHUT		0x08	/* half-close once the queue is gone */
#define C_HANDSHAKE	0x10	/* TLS: the handshake runs */
#define C_HS_WRITE	0x20	/* TLS: it waits for writability */
#define C_RD_WANT_W	0x40	/* TLS: a read waits for writability */
#define C_WR_WANT_R	0x80	/* TLS: queued bytes wait for readability */
#define C_TLS_DATA	0x100	/* TLS: a byte of data was read */

/* The write side, made when first needed. */
struct conn_wr {
	struct event	 w_ev;
	struct buf	 w_out;		/* bytes a send left behind */
	struct conn	*w_conn;
	bool		 w_rev_on;	/* TLS: c_rev is added */
};

/* Why the last handshake of this thread failed, for the owner's log. */
static __thread char conn_tls_msg[256];
static __thread int conn_tls_code;	/* its enum tls_fail */

static void	conn_read_cb(evutil_socket_t, short, void *);
static void	conn_write_cb(evutil_socket_t, short, void *);
static void	conn_tls_events(struct conn *);

/* Take fd on base; not reading yet. */
void
conn_init(struct conn *c, struct event_base *base, int fd, conn_cb cb)
{
	c->c_fd = fd;
	c->c_cb = cb;
	c->c_wr = NULL;
	c->c_ssl = NULL;
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

/* Whether an error is a fatal alert the peer sent. */
static bool
conn_tls_alert(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET;
}

/*
 * A TLS write failed (SSL_get_error() said e): set errno.  Before any byte
 * came, a peer that refused the handshake after ours ended (TLS 1.3) has
 * usually sent its alert and closed, and the write hits the close: look
 * for the alert (without taking data) so that it is told as what it is,
 * EPROTO, as conn_tls_read() tells it.
 */
static void
conn_tls_write_failed(struct conn *c, int e)
{
	int saved = e == SSL_ERROR_SYSCALL && errno != 0 ? errno : EPIPE;
	char b;
	int r;

	ERR_clear_error();
	errno = saved;
	if (c->c_flags & C_TLS_DATA)
		return;
	if ((r = SSL_peek(c->c_ssl, &b, 1)) <= 0 &&
	    SSL_get_error(c->c_ssl, r) == SSL_ERROR_SSL &&
	    conn_tls_alert(ERR_peek_last_error())) {
		conn_tls_code = (int)tls_fail_reason(c->c_ssl, SSL_ERROR_SSL,
		    conn_tls_msg, sizeof conn_tls_msg);
		errno = EPROTO;
		return;
	}
	ERR_clear_error();
	errno = saved;
}

/* Read what the stream has (TLS). */
static ssize_t
conn_tls_read(struct conn *c, void *buf, size_t len)
{
	int n, e;

	if (c->c_flags & C_HANDSHAKE) {
		errno = EAGAIN;
		return -1;
	}
	ERR_clear_error();
	n = SSL_read(c->c_ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0) {
		c->c_flags |= C_TLS_DATA;
		/* Bytes OpenSSL decrypted past this read: say so at once. */
		if ((c->c_flags & C_READING) && SSL_has_pending(c->c_ssl))
			event_active(&c->c_rev, EV_READ, 0);
		return n;
	}
	e = SSL_get_error(c->c_ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->c_flags |= C_RD_WANT_W;
		conn_tls_events(c);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		if (e == SSL_ERROR_SSL && !(c->c_flags & C_TLS_DATA) &&
		    conn_tls_alert(ERR_peek_last_error())) {
			conn_tls_code = (int)tls_fail_reason(c->c_ssl, e,
			    conn_tls_msg, sizeof conn_tls_msg);
			errno = EPROTO;
			return -1;
		}
		ERR_clear_error();
		errno = ECONNRESET;
		return -1;
	}
}

/* Read what the stream has. */
ssize_t
conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->c_ssl != NULL)
		return conn_tls_read(c, buf, len);
	do
		n = sys_read(c->c_fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Queue n bytes at p behind what waits; -1 on no memory. */
static int
conn_queue(struct conn *c, const char *p, size_t n)
{
	struct buf *out;

	if (conn_wr_make(c) != 0)
		return -1;
	out = &c->c_wr->w_out;
	if (buf_grow(out, (uint32_t)(buf_used(out) + n)) != 0)
		return -1;
	buf_compact(out);
	memcpy(out->b_data + out->b_len, p, n);
	out->b_len += (uint32_t)n;
	return 0;
}

/*
 * Write what is queued through TLS: 0 when it all went, 1 when some waits
 * (the events say for what), -1 with errno when the stream broke.
 */
static int
conn_tls_flush(struct conn *c)
{
	struct buf *out;
	int n, e;

	if (c->c_wr == NULL)
		return 0;
	out = &c->c_wr->w_out;
	while (buf_used(out) > 0) {
		ERR_clear_error();
		n = SSL_write(c->c_ssl, out->b_data + out->b_off,
		    buf_used(out) > INT32_MAX ? INT32_MAX :
		    (int)buf_used(out));
		if (n > 0) {
			out->b_off += (uint32_t)n;
			continue;
		}
		e = SSL_get_error(c->c_ssl, n);
		if (e == SSL_ERROR_WANT_WRITE)
			return 1;
		if (e == SSL_ERROR_WANT_READ) {
			c->c_flags |= C_WR_WANT_R;
			return 1;
		}
		conn_tls_write_failed(c, e);
		return -1;
	}
	buf_release(out);
	return 0;
}

/*
 * Send through TLS: straight from iov while nothing waits, as far as
 * OpenSSL takes it; the rest goes into the queue (a write OpenSSL could
 * not finish is retried from there: same bytes, which may move).
 */
static int
conn_tls_send(struct conn *c, const struct iovec *iov, int n)
{
	const char *p;
	size_t len;
	int i = 0, w, e;

	if (!(c->c_flags & (C_HANDSHAKE | C_WR_WANT_R)) && conn_pending(c) == 0)
		for (; i < n; i++) {
			p = iov[i].iov_base;
			len = iov[i].iov_len;
			while (len > 0) {
				ERR_clear_error();
				w = SSL_write(c->c_ssl, p, len > INT32_MAX ?
				    INT32_MAX : (int)len);
				if (w <= 0)
					break;
				p += w;
				len -= (size_t)w;
			}
			if (len == 0)
				continue;
			e = SSL_get_error(c->c_ssl, w);
			if (e == SSL_ERROR_WANT_READ)
				c->c_flags |= C_WR_WANT_R;
			else if (e != SSL_ERROR_WANT_WRITE) {
				conn_tls_write_failed(c, e);
				return -1;
			}
			if (conn_queue(c, p, len) != 0) {
				errno = ENOMEM;
				return -1;
			}
			i++;
			break;
		}
	for (; i < n; i++)
		if (iov[i].iov_len > 0 &&
		    conn_queue(c, iov[i].iov_base, iov[i].iov_len) != 0) {
			errno = ENOMEM;
			return -1;
		}
	conn_tls_events(c);
	return 0;
}

/* Send now what the socket takes; queue the rest. */
int
conn_send(struct conn *c, const struct iovec *iov, int n)
{
	struct buf none = { NULL, 0, 0, 0, BUF_POOL_HELD };
	struct buf *out;
	int r;

	if (c->c_ssl != NULL)
		return conn_tls_send(c, iov, n);
	out = c->c_wr != NULL ? &c->c_wr->w_out : &none;
	if ((r = buf_send(c->c_fd, out, iov, n)) <= 0)
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

/* TLS: add or delete the read event (its state is in the write side,
 * which a TLS connection always has). */
static void
conn_tls_rev(struct conn *c, bool on)
{
	if (on == c->c_wr->w_rev_on)
		return;
	c->c_wr->w_rev_on = on;
	if (on)
		event_add(&c->c_rev, NULL);
	else
		event_del(&c->c_rev);
}

/*
 * TLS: set the events to what the stream needs: readability for the owner
 * or for a handshake or a write that waits on it; writability for queued
 * bytes, a handshake or a read that waits on it.
 */
static void
conn_tls_events(struct conn *c)
{
	uint8_t f = c->c_flags;
	bool hs = (f & C_HANDSHAKE) != 0;
	bool rd, wr;

	if (c->c_fd < 0 || conn_wr_make(c) != 0)
		return;
	rd = (f & C_READING) || (f & C_WR_WANT_R) || (hs && !(f & C_HS_WRITE));
	wr = (f & C_RD_WANT_W) || (hs && (f & C_HS_WRITE)) ||
	    (!hs && !(f & C_WR_WANT_R) && conn_pending(c) > 0);
	conn_tls_rev(c, rd);
	conn_want_write(c, wr);
}

/* Start or stop reading. */
void
conn_want_read(struct conn *c, bool on)
{
	if (on == ((c->c_flags & C_READING) != 0) || c->c_fd < 0)
		return;
	if (on)
		c->c_flags |= C_READING;
	else
		c->c_flags &= ~C_READING;
	if (c->c_ssl != NULL) {
		conn_tls_events(c);
		if (on && !(c->c_flags & C_HANDSHAKE) &&
		    SSL_has_pending(c->c_ssl))
			event_active(&c->c_rev, EV_READ, 0);
		return;
	}
	if (on)
		event_add(&c->c_rev, NULL);
	else
		event_del(&c->c_rev);
}

/* Whether reading is on. */
bool
conn_reading(const struct conn *c)
{
	return (c->c_flags & C_READING) != 0;
}

/* Run the TLS handshake as far as it goes now; tell the owner its end. */
static void
conn_tls_handshake(struct conn *c)
{
	enum tls_fail f;
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(c->c_ssl);
	if (r == 1) {
		c->c_flags &= ~(C_HANDSHAKE | C_HS_WRITE);
		conn_tls_events(c);
		/* The peer's first bytes may have come with its last
		 * handshake record, read ahead: the socket will not say so. */
		if ((c->c_flags & C_READING) && SSL_has_pending(c->c_ssl))
			event_active(&c->c_rev, EV_READ, 0);
		c->c_cb(c, CONN_TLS_READY, 0);
		return;
	}
	e = SSL_get_error(c->c_ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if (e == SSL_ERROR_WANT_WRITE)
			c->c_flags |= C_HS_WRITE;
		else
			c->c_flags &= ~C_HS_WRITE;
		conn_tls_events(c);
		return;
	}
	f = tls_fail_reason(c->c_ssl, e, conn_tls_msg, sizeof conn_tls_msg);
	conn_tls_code = (int)f;
	conn_tls_rev(c, false);
	conn_want_write(c, false);
	c->c_cb(c, CONN_TLSFAIL, (int)f);
}

/*
 * Run TLS over the connection.  The handshake runs from the events, the
 * first step included (a server waits to read the hello, a client to
 * write its own), so the owner never hears news from within this call.
 */
int
conn_tls_start(struct conn *c, SSL *ssl)
{
	if (conn_wr_make(c) != 0 || SSL_set_fd(ssl, c->c_fd) != 1) {
		SSL_free(ssl);
		return -1;
	}
	c->c_ssl = ssl;
	c->c_flags |= C_HANDSHAKE;
	if (SSL_is_server(ssl))
		c->c_flags &= ~C_HS_WRITE;
	else
		c->c_flags |= C_HS_WRITE;
	/* What the plain read event was doing is now the TLS events' job. */
	c->c_wr->w_rev_on = (c->c_flags & C_READING) != 0;
	conn_tls_events(c);
	return 0;
}

/* Whether a TLS handshake runs. */
bool
conn_handshaking(const struct conn *c)
{
	return (c->c_flags & C_HANDSHAKE) != 0;
}

/* The connection's TLS, or NULL. */
SSL *
conn_tls(const struct conn *c)
{
	return c->c_ssl;
}

/* Why this thread's last handshake failed. */
const char *
conn_tls_why(void)
{
	return conn_tls_msg;
}

/* The enum tls_fail of this thread's last handshake failure. */
int
conn_tls_fail(void)
{
	return conn_tls_code;
}

/* Half-close once the queue is gone. */
void
conn_shutdown(struct conn *c)
{
	if (c->c_fd < 0)
		return;
	if (conn_pending(c) > 0) {
		c->c_flags |= C_SHUT;
		return;
	}
	if (c->c_ssl != NULL && !(c->c_flags & C_HANDSHAKE)) {
		ERR_clear_error();
		SSL_shutdown(c->c_ssl);		/* our close_notify */
		ERR_clear_error();
	}
	shutdown(c->c_fd, SHUT_WR);
}

/* Close: stop the events, free the write side and TLS, close the socket. */
static void
conn_end(struct conn *c, bool notify)
{
	if (c->c_fd < 0)
		return;
	event_del(&c->c_rev);
	if (c->c_wr != NULL) {
		conn_want_write(c, false);
		buf_release(&c->c_wr->w_out);
		free(c->c_wr);
		c->c_wr = NULL;
	}
	if (c->c_ssl != NULL) {
		if (notify && !(c->c_flags & C_HANDSHAKE)) {
			ERR_clear_error();
			SSL_shutdown(c->c_ssl);
		}
		ERR_clear_error();
		SSL_free(c->c_ssl);
		c->c_ssl = NULL;
	}
	close(c->c_fd);
	c->c_fd = -1;
	c->c_flags = 0;
}

/* Close the stream (with a close_notify under TLS).  Idempotent. */
void
conn_close(struct conn *c)
{
	conn_end(c, true);
}

/* Close the stream without a close_notify: what was sent is cut short. */
void
conn_abort(struct conn *c)
{
	conn_end(c, false);
}

/*
 * libevent: readable.  Under TLS it may be the handshake's, or a queued
 * write's that waited on it, before (or instead of) the owner's; the owner
 * hears one piece of news per call (it may free the connection), and a
 * readable socket left unread calls again.
 */
static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int r;

	(void)fd;
	(void)what;
	if (c->c_ssl == NULL) {
		c->c_cb(c, CONN_READABLE, 0);
		return;
	}
	if (c->c_flags & C_HANDSHAKE) {
		conn_tls_handshake(c);
		return;
	}
	if (c->c_flags & C_WR_WANT_R) {
		c->c_flags &= ~C_WR_WANT_R;
		r = conn_tls_flush(c);
		conn_tls_events(c);
		if (r < 0)
			c->c_cb(c, CONN_WRFAIL, errno);
		else if (r == 0)
			c->c_cb(c, CONN_DRAINED, 0);
		return;
	}
	if (c->c_flags & C_READING)
		c->c_cb(c, CONN_READABLE, 0);
}

/*
 * TLS, writable: a handshake, a read that waited, or queued bytes.  Bytes
 * the socket took are progress (CONN_WROTE) even when OpenSSL reports none
 * yet: once a record that waited is out, SSL_write() goes on with the next,
 * and when that one waits it says "want write", keeping the count of what
 * went for a later call; a peer that reads slowly could meet nothing but
 * that.  The socket BIO counts every byte it wrote.
 */
static void
conn_tls_writable(struct conn *c)
{
	BIO *wbio = SSL_get_wbio(c->c_ssl);
	uint64_t wrote = BIO_number_written(wbio);
	uint32_t off;
	int r;

	if (c->c_flags & C_HANDSHAKE) {
		conn_tls_handshake(c);
		return;
	}
	if (c->c_flags & C_RD_WANT_W) {
		c->c_flags &= ~C_RD_WANT_W;
		conn_tls_events(c);
		if (c->c_flags & C_READING)
			c->c_cb(c, CONN_READABLE, 0);
		return;
	}
	off = c->c_wr != NULL ? c->c_wr->w_out.b_off : 0;
	r = conn_tls_flush(c);
	conn_tls_events(c);
	if (r < 0) {
		c->c_cb(c, CONN_WRFAIL, errno);
		return;
	}
	if (r > 0 && (c->c_wr->w_out.b_off != off ||
	    BIO_number_written(wbio) != wrote))
		c->c_cb(c, CONN_WROTE, 0);
	if (r == 0) {
		if (c->c_flags & C_SHUT) {
			c->c_flags &= ~C_SHUT;
			conn_shutdown(c);
		}
		c->c_cb(c, CONN_DRAINED, 0);
	}
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
	if (c->c_ssl != NULL) {
		conn_tls_writable(c);
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
	if (buf_used(out) > 0) {
		if (n > 0)
			c->c_cb(c, CONN_WROTE, 0);
		return;
	}
	buf_release(out);
	conn_want_write(c, false);
	if (c->c_flags & C_SHUT) {
		c->c_flags &= ~C_SHUT;
		shutdown(fd, SHUT_WR);
	}
	c->c_cb(c, CONN_DRAINED, 0);
}
