/*
 * upstream.h: the upstream servers of one configuration generation, their
 * balancing and passive health, their pools of idle keep-alive
 * connections, and connections to them.
 *
 * Ownership: a set belongs to the proxy and to every request that started
 * under it (references).  A connection belongs to the request it carries
 * while attached, and to its server's pool while idle.  A connection tells
 * the request it carries what happened through the callback given to
 * upstream_attach(); it never calls the request by name.
 *
 * Health is kept per worker: each worker judges the servers by its own
 * traffic, with no lock.  Names are resolved asynchronously (evdns), at
 * once and every resolve_interval.
 */
#ifndef HG_UPSTREAM_H
#define HG_UPSTREAM_H

#include <sys/types.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"

struct upstream_set;
struct upstream_server;
struct upconn;

/* What a connection tells the request it carries. */
enum upstream_event {
	UPSTREAM_CONNECTED,	/* the connect completed */
	UPSTREAM_CONNFAIL,	/* the connect failed; err is its errno */
	UPSTREAM_READABLE,	/* bytes (or EOF) to read */
	UPSTREAM_WROTE,		/* some of them are sent, some wait */
	UPSTREAM_DRAINED,	/* bytes a send left behind are all sent */
	UPSTREAM_WRFAIL,	/* sending them failed; err is its errno */
	UPSTREAM_TLSFAIL,	/* the TLS handshake failed; err is an enum
				   tls_fail, upstream_tls_why() says why */
};
typedef void (*upstream_cb)(void *arg, enum upstream_event, int err);

/*
 * Build the servers of every upstream of cfg (a reference is taken).
 * spare(spare_arg), when set, is called when a connect runs out of
 * descriptors; it returns 0 if it gave one back (the connect is tried
 * again once).  NULL with err on failure.
 */
struct upstream_set *upstream_set_new(struct event_base *, struct config *,
	     int (*spare)(void *), void *spare_arg, char *err, size_t errlen);

/* Take a reference, and drop one (the last frees the set, closing its
 * pools). */
void	 upstream_set_ref(struct upstream_set *);
void	 upstream_set_unref(struct upstream_set *);

/*
 * On reload: servers that stay (same upstream name and address) take over
 * old's idle pooled connections, health and resolved address.
 */
void	 upstream_set_adopt(struct upstream_set *, struct upstream_set *old);

/* Close the idle pooled connections of every server (drain). */
void	 upstream_set_close_idle(struct upstream_set *);

/* One server as a snapshot sees it. */
struct upstream_server_info {
	const char	*usi_group;
	const char	*usi_name;
	bool		 usi_up;
	uint64_t	 usi_tries;
	uint64_t	 usi_failures;
	unsigned	 usi_active;
	unsigned	 usi_idle;
};

/* Call fn for every server of the set, in configuration order. */
void	 upstream_set_walk(const struct upstream_set *,
	     void (*fn)(void *, const struct upstream_server_info *), void *);

/* Connections to servers of the set, carrying requests or pooled. */
size_t	 upstream_set_connections(const struct upstream_set *);

/*
 * Choose a server of the route's upstream: smooth weighted round robin,
 * or the fewest active connections per weight.  Servers in tried (a bit
 * per upstream_index()) are avoided while another is eligible.  NULL with
 * *why set when none can take a request.
 */
struct upstream_server *upstream_pick(struct upstream_set *,
	     const struct config_route *, uint64_t tried, const char **why);

/* An attempt on the server failed (cause is the outcome's name): counted
 * against its health. */
void	 upstream_failed(struct upstream_server *, const char *cause);

/* An attempt got its response head: the server is healthy. */
void	 upstream_succeeded(struct upstream_server *);

/* A request picked the server and ended without a verdict on it: a trial
 * it held is given back. */
void	 upstream_abandoned(struct upstream_server *);

/*
 * The retry budget of the route's group (per worker, over 10 s):
 * upstream_budget_request() counts a request; upstream_budget_take() says
 * whether a retry or a hedge fits max(retry_budget % of the requests,
 * retry_budget_min a second), and counts it when it does.
 */
void	 upstream_budget_request(struct upstream_set *,
	     const struct config_route *);
bool	 upstream_budget_take(struct upstream_set *, const struct config_route *);

/* The route's window of upstream header times, kept when it hedges at a
 * percentile (hedge = pNN); NULL otherwise. */
struct latwin *upstream_latwin(struct upstream_set *,
	     const struct config_route *);

/* Whether the server has an address: its name resolved (an address as
 * configured always has). */
bool	 upstream_has_address(const struct upstream_server *);

/* A server's position in its group, and its name as configured. */
size_t	 upstream_index(const struct upstream_server *);
const char *upstream_name(const struct upstream_server *);

/* The most recently pooled idle connection of the server, or NULL. */
struct upconn *upstream_pool_get(struct upstream_server *);

/*
 * Start a connect, and the TLS handshake over it when the group has tls on
 * (both count as the connect).  If it completed at once,
 * upstream_connected() says so; otherwise the attached callback hears
 * UPSTREAM_CONNECTED, UPSTREAM_CONNFAIL or UPSTREAM_TLSFAIL.  NULL with
 * *err set when it failed at once.
 */
struct upconn *upstream_connect(struct upstream_server *, int *err);

/* Whether the connection is connected (not still connecting). */
bool	 upstream_connected(const struct upconn *);

/* Give the connection to a request: cb(arg, ...) hears its news. */
void	 upstream_attach(struct upconn *, upstream_cb, void *arg);

/*
 * The request is done with the connection.  With reuse (a response that
 * ended cleanly, nothing left to send) it goes back to its server's pool;
 * otherwise, and when the pool is full, it is closed at once.
 */
void	 upstream_release(struct upconn *, bool reuse);

/* Send iov, queueing what the socket does not take (UPSTREAM_DRAINED
 * follows).  0, or -1 with errno. */
int	 upstream_send(struct upconn *, const struct iovec *, int n);

/* Bytes a send left behind, not sent yet. */
size_t	 upstream_pending(const struct upconn *);

/* Read what the server sent: a count, 0 at EOF, -1 with errno. */
ssize_t	 upstream_recv(struct upconn *, void *buf, size_t len);

/* Start or stop reading (backpressure from a slow client). */
void	 upstream_want_read(struct upconn *, bool);

/* The connection's stream, for a tunnel to read, write and half-close; its
 * news still comes through the attached callback.  Such a connection is
 * never pooled again. */
struct conn *upstream_conn(struct upconn *);

/* Why the last TLS handshake of this thread failed, for the error log,
 * and its enum tls_fail.  upstream_recv() fails with EPROTO when the
 * server refused the handshake after ours ended (TLS 1.3): a TLS failure
 * too. */
const char *upstream_tls_why(void);
int	 upstream_tls_fail(void);

#endif
