/*
 * tunnel.c: two connections joined after a 101; see tunnel.h.
 */
#include <sys/uio.h>
#include <errno.h>

#include "tunnel.h"

#define TUNNEL_READ	16384	/* bytes read at once, into the stack */

#define OTHER(s)	((s) == TUNNEL_CLIENT ? TUNNEL_UPSTREAM : TUNNEL_CLIENT)
#define BIT(s)		(1u << (s))

/* Tell the owner it is over; nothing more happens after. */
static void
tunnel_over(struct tunnel *t, enum tunnel_news news, enum tunnel_side s,
    int err)
{
	t->tn_over = true;
	t->tn_cb(t->tn_arg, news, s, err);
}

/* Done once both ends were read and everything queued has gone. */
static bool
tunnel_check_done(struct tunnel *t)
{
	if (t->tn_eof != (BIT(TUNNEL_CLIENT) | BIT(TUNNEL_UPSTREAM)) ||
	    conn_pending(t->tn_conn[TUNNEL_CLIENT]) > 0 ||
	    conn_pending(t->tn_conn[TUNNEL_UPSTREAM]) > 0)
		return false;
	tunnel_over(t, TUNNEL_DONE, TUNNEL_CLIENT, 0);
	return true;
}

void
tunnel_init(struct tunnel *t, struct conn *client, struct conn *upstream,
    tunnel_cb cb, void *arg)
{
	t->tn_conn[TUNNEL_CLIENT] = client;
	t->tn_conn[TUNNEL_UPSTREAM] = upstream;
	t->tn_bytes[0] = t->tn_bytes[1] = 0;
	t->tn_eof = 0;
	t->tn_over = false;
	t->tn_cb = cb;
	t->tn_arg = arg;
}

int
tunnel_forward(struct tunnel *t, enum tunnel_side from, const void *p,
    size_t n)
{
	struct iovec iov = { (void *)(uintptr_t)p, n };

	if (n == 0)
		return 0;
	t->tn_bytes[from] += n;
	return conn_send(t->tn_conn[OTHER(from)], &iov, 1);
}

void
tunnel_start(struct tunnel *t)
{
	for (int s = TUNNEL_CLIENT; s <= TUNNEL_UPSTREAM; s++)
		conn_want_read(t->tn_conn[s], !(t->tn_eof & BIT(s)) &&
		    conn_pending(t->tn_conn[OTHER(s)]) == 0);
}

/*
 * Read what side s sent and send it on.  The end of its stream becomes a
 * half-close of the other side, once that side's queue has gone.
 */
void
tunnel_readable(struct tunnel *t, enum tunnel_side s)
{
	enum tunnel_side o = OTHER(s);
	char buf[TUNNEL_READ];
	struct iovec iov;
	ssize_t n;

	if (t->tn_over || (t->tn_eof & BIT(s)))
		return;
	if (conn_pending(t->tn_conn[o]) > 0) {
		conn_want_read(t->tn_conn[s], false);	/* until o drains */
		return;
	}
	n = conn_read(t->tn_conn[s], buf, sizeof buf);
	if (n < 0) {
		if (errno != EAGAIN)
			tunnel_over(t, TUNNEL_FAILED, s, errno);
		return;
	}
	if (n == 0) {
		t->tn_eof |= (uint8_t)BIT(s);
		conn_want_read(t->tn_conn[s], false);
		conn_shutdown(t->tn_conn[o]);
		if (!tunnel_check_done(t))
			t->tn_cb(t->tn_arg, TUNNEL_PROGRESS, s, 0);
		return;
	}
	t->tn_bytes[s] += (uint64_t)n;
	iov.iov_base = buf;
	iov.iov_len = (size_t)n;
	if (conn_send(t->tn_conn[o], &iov, 1) != 0) {
		tunnel_over(t, TUNNEL_FAILED, o, errno);
		return;
	}
	if (conn_pending(t->tn_conn[o]) > 0)
		conn_want_read(t->tn_conn[s], false);
	t->tn_cb(t->tn_arg, TUNNEL_PROGRESS, s, 0);
}

/* Some of what side s had queued went: progress. */
void
tunnel_wrote(struct tunnel *t, enum tunnel_side s)
{
	if (!t->tn_over)
		t->tn_cb(t->tn_arg, TUNNEL_PROGRESS, s, 0);
}

/* All of it went: read the other side again, or end. */
void
tunnel_drained(struct tunnel *t, enum tunnel_side s)
{
	enum tunnel_side o = OTHER(s);

	if (t->tn_over || tunnel_check_done(t))
		return;
	if (!(t->tn_eof & BIT(o)))
		conn_want_read(t->tn_conn[o], true);
	t->tn_cb(t->tn_arg, TUNNEL_PROGRESS, s, 0);
}

uint64_t
tunnel_bytes(const struct tunnel *t, enum tunnel_side s)
{
	return t->tn_bytes[s];
}
