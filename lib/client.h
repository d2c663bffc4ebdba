/*
 * client.h: client connections: reading request heads, keep-alive and
 * pipelining, and the connection's fate after each request.
 *
 * A client owns its connection (struct conn), its input buffer and at most
 * one request, which it makes, feeds and frees; the request reports its
 * end through the callback the client gave it.  Clients live in the proxy
 * context's list; the proxy reaches them through the *_all() calls.
 */
#ifndef HG_CLIENT_H
#define HG_CLIENT_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy_ctx.h"

struct client;

/* Why a client connection closed (for the debug log). */
enum client_why {
	CLIENT_WHY_EOF,			/* the client closed */
	CLIENT_WHY_ERROR,		/* a read or write failed */
	CLIENT_WHY_ABORT,		/* the request ended with an abort */
	CLIENT_WHY_LINGER_DONE,		/* the lingering close is over */
	CLIENT_WHY_TIMEOUT,		/* a wait ran out (client_header,
					   keepalive, the linger) */
	CLIENT_WHY_NOMEM,
	CLIENT_WHY_DRAIN,		/* idle when the drain began */
	CLIENT_WHY_SHUTDOWN,		/* the proxy is being freed */
	CLIENT_WHY_TLS,			/* the TLS handshake failed */
	CLIENT_WHY_COUNT
};

/* What state a connection is in, for the metrics. */
enum client_state {
	CLIENT_IDLE,		/* waiting for the first byte of a request */
	CLIENT_HEAD,		/* reading a request head */
	CLIENT_BUSY,		/* a request is in progress */
	CLIENT_LINGER,		/* answered; draining input, then closing */
	CLIENT_TUNNEL,		/* a 101 made it a tunnel: the request
				   reads it */
	CLIENT_CLOSED,		/* closed; freed after the current callback */
	CLIENT_NSTATES
};

/* The size of a client, for the slab it lives in. */
size_t	 client_size(void);

/* Take a new connection from a listener (over max_connections: 503),
 * under TLS with tls's certificates when tls is not NULL. */
void	 client_accept(struct proxy_ctx *, int fd, const struct sockaddr *,
	     socklen_t, struct tls_server *tls);

/* Close the connection, ending its request as abort:client first.
 * Idempotent. */
void	 client_close(struct client *, enum client_why);

/*
 * The drain began: idle connections close now; a request in flight gets
 * the drain scope at drain_at, and its connection closes when it ends.
 */
void	 client_drain_all(struct proxy_ctx *, int64_t drain_at);

/* Close every connection (the proxy is being freed). */
void	 client_close_all(struct proxy_ctx *);

/* How many connections are in each state (CLIENT_CLOSED excepted). */
void	 client_count_states(const struct proxy_ctx *,
	     uint64_t count[CLIENT_NSTATES]);

/* The connections, for tests: the first, the next, and what one is doing
 * ("127.0.0.1:4242 state 2 request 3"). */
struct client *client_first(const struct proxy_ctx *);
struct client *client_next(const struct client *);
void	 client_describe(const struct client *, char *, size_t);

/* When a deadline will next wake the connection, or DEADLINE_NEVER. */
int64_t	 client_deadline(const struct client *);

#endif
