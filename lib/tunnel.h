/*
 * tunnel.h: two connections joined after a 101 Switching Protocols: bytes
 * copied both ways as they come, with no parsing.
 *
 * The owner (a request) lends both connections and passes their news on:
 * readable, wrote, drained.  Backpressure: while one side has bytes queued
 * that it has not taken, the other side is not read.  The end of the
 * stream read from one side is passed to the other as a half-close (our
 * FIN, or close_notify then FIN under TLS) once what is queued there has
 * gone; when both sides have ended and nothing is queued, the tunnel is
 * done.  Bytes are read into the stack and what a side cannot take at
 * once waits in that connection's own queue, so an idle tunnel holds no
 * buffer.
 *
 * News goes up by the callback: progress (a byte moved, for tunnel_idle),
 * done (both sides closed cleanly), or failed (a side's read or write
 * failed: err, 0 for a reset we cannot tell apart).  After done or failed
 * the tunnel does nothing more; the owner closes the connections.
 */
#ifndef HG_TUNNEL_H
#define HG_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"

enum tunnel_side {
	TUNNEL_CLIENT,
	TUNNEL_UPSTREAM,
};

enum tunnel_news {
	TUNNEL_PROGRESS,	/* bytes moved */
	TUNNEL_DONE,		/* both sides closed, everything delivered */
	TUNNEL_FAILED,		/* side's stream broke: err */
};

typedef void (*tunnel_cb)(void *arg, enum tunnel_news, enum tunnel_side,
    int err);

struct tunnel {
	struct conn	*tn_conn[2];	/* by enum tunnel_side, lent */
	uint64_t	 tn_bytes[2];	/* read from each side */
	uint8_t		 tn_eof;	/* a bit per side: its end was read */
	bool		 tn_over;	/* done or failed was told */
	tunnel_cb	 tn_cb;
	void		*tn_arg;
};

/* Join client and upstream.  Nothing is read until tunnel_start(). */
void	tunnel_init(struct tunnel *, struct conn *client, struct conn *upstream,
	    tunnel_cb, void *arg);

/*
 * Send bytes read from side from before the tunnel began (what followed
 * the request head, or the 101) to the other side, counted as read from
 * from.  0, or -1 with errno when the other side's stream is broken.
 */
int	tunnel_forward(struct tunnel *, enum tunnel_side from, const void *,
	    size_t);

/* Start reading both sides (a side with bytes queued towards it holds the
 * other's reads back). */
void	tunnel_start(struct tunnel *);

/* The owner's news of a side: readable, some queued bytes went, all went. */
void	tunnel_readable(struct tunnel *, enum tunnel_side);
void	tunnel_wrote(struct tunnel *, enum tunnel_side);
void	tunnel_drained(struct tunnel *, enum tunnel_side);

/* Bytes read from a side. */
uint64_t tunnel_bytes(const struct tunnel *, enum tunnel_side);

#endif
