/*
 * conn.h: the byte stream of one connection, whatever carries it: read,
 * write (what the socket does not take is queued, and goes when it can),
 * half-close, close, and the wish to read.  Client and upstream
 * connections do all their socket I/O through it, so that another carrier
 * (TLS) can slot in under the same calls without the request state machine
 * knowing.  Plain TCP, or TLS over it (OpenSSL, conn_tls_start()).
 *
 * News goes up by one callback the owner gives conn_init(): the stream is
 * readable (or at its end), what was queued has all gone, a write failed,
 * a connect completed or failed.  The owner embeds the struct conn and
 * finds itself from the pointer the callback gets.
 *
 * Memory: an idle connection costs the struct alone (its read event
 * inside); the write side (an event and a buffer) is made the first time
 * a write has to wait, or a connect is waited for.
 */
#ifndef HG_CONN_H
#define HG_CONN_H

#include <sys/types.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <openssl/ssl.h>

enum conn_event {
	CONN_READABLE,		/* bytes, or the end of the stream, to read */
	CONN_WROTE,		/* some queued bytes went, some wait */
	CONN_DRAINED,		/* every queued byte has gone */
	CONN_WRFAIL,		/* sending queued bytes failed: err */
	CONN_CONNECTED,		/* the connect completed */
	CONN_CONNFAIL,		/* the connect failed: err */
	CONN_TLS_READY,		/* the TLS handshake is done */
	CONN_TLSFAIL,		/* it failed: err is an enum tls_fail, and
				   conn_tls_why() says why */
};

struct conn;
typedef void (*conn_cb)(struct conn *, enum conn_event, int err);

struct conn_wr;

struct conn {
	struct event	 c_rev;
	struct conn_wr	*c_wr;		/* made when first needed */
	conn_cb		 c_cb;
	SSL		*c_ssl;		/* NULL: plain TCP */
	int		 c_fd;		/* -1 once closed */
	uint16_t	 c_flags;	/* private */
};

/* Take fd (non-blocking) on base; cb hears the news.  Not reading yet. */
void	conn_init(struct conn *, struct event_base *, int fd, conn_cb);

/* A connect() of fd said EINPROGRESS: tell CONN_CONNECTED or CONN_CONNFAIL
 * when it ends.  -1 when memory is exhausted. */
int	conn_connect_wait(struct conn *);

/*
 * Read up to len bytes: the count, 0 at the end of the stream, -1 with
 * errno (EAGAIN: nothing yet; CONN_READABLE comes when there is).  EPROTO:
 * the TLS peer ended the stream with a fatal alert before any byte came
 * (TLS 1.3: a server refusing our certificate once our side of the
 * handshake had ended); conn_tls_why() and conn_tls_fail() say why.  A
 * send that fails then says EPROTO too.
 */
ssize_t	conn_read(struct conn *, void *buf, size_t len);

/*
 * Send iov: as much as the socket takes now, the rest queued and sent as
 * it drains (CONN_DRAINED then follows).  0, or -1 with errno when the
 * stream is broken (EPIPE: the peer closed; ECONNRESET ...).
 */
int	conn_send(struct conn *, const struct iovec *, int n);

/* Bytes queued and not yet sent. */
size_t	conn_pending(const struct conn *);

/* Start or stop reading (CONN_READABLE only while on). */
void	conn_want_read(struct conn *, bool);

/* Whether conn_want_read() is on. */
bool	conn_reading(const struct conn *);

/* End our side of the stream once the queue has gone (a FIN for TCP). */
void	conn_shutdown(struct conn *);

/* Close: stop every event, drop what is queued, give the descriptor back;
 * under TLS, tell the peer first (close_notify).  Idempotent. */
void	conn_close(struct conn *);

/* The same, without a close_notify: what was sent is visibly cut short. */
void	conn_abort(struct conn *);

/*
 * Run TLS over the connection (ssl is taken, in server or client mode);
 * the handshake runs from the events (never from within this call) and
 * ends in CONN_TLS_READY or CONN_TLSFAIL.
 * Reads and writes before that wait.  -1 when memory is exhausted (ssl is
 * freed).
 */
int	conn_tls_start(struct conn *, SSL *);

/* Whether a TLS handshake runs; the connection's TLS (NULL: plain). */
bool	conn_handshaking(const struct conn *);
SSL	*conn_tls(const struct conn *);

/* Why this thread's last failed handshake failed, for the error log. */
const char *conn_tls_why(void);

/* The enum tls_fail of this thread's last handshake failure. */
int	conn_tls_fail(void);

#endif
