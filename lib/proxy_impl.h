/*
 * proxy_impl.h: the layouts shared by the proxy's modules: proxy.c,
 * listener.c, client.c, request.c and upstream.c.  Not for the daemon.
 *
 * Ownership, in one place:
 * - a proxy owns its listeners, its clients and its upstream set;
 * - a client owns its socket, its input buffer and at most one request;
 * - a request owns its deadline task (every scope from its first byte to
 *   its log line), its response buffer and, while it runs, one upstream
 *   connection; it holds a reference to the configuration it started with;
 * - an upstream connection is owned by a request while in use and by its
 *   server's pool while idle.
 */
#ifndef HG_PROXY_IMPL_H
#define HG_PROXY_IMPL_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "accesslog.h"
#include "buf.h"
#include "config.h"
#include "deadline.h"
#include "http.h"
#include "metrics.h"
#include "outcome.h"
#include "proxy.h"
#include "slab.h"

struct client;
struct request;
struct upconn;

/* One listening socket. */
struct listener {
	TAILQ_ENTRY(listener) ls_entry;
	struct proxy	*ls_proxy;
	int		 ls_fd;
	struct event	 ls_ev;
	struct sockaddr_storage ls_addr;	/* as bound */
	socklen_t	 ls_addrlen;
	char		 ls_cfg[96];		/* the listen line; "" if adopted */
	char		 ls_name[64];
};

/*
 * An upstream server: its address, its health and its pool of idle
 * connections.  Health is kept per worker: each worker judges the servers
 * by its own traffic, with no lock.
 */
struct upstream_server {
	const struct config_server_addr *us_cfg;
	const struct config_upstream *us_group;
	struct upstream_set *us_set;
	struct sockaddr_storage us_addr;
	socklen_t	 us_addrlen;		/* 0: the name never resolved */
	const char	*us_name;		/* as configured */
	TAILQ_HEAD(upconn_list, upconn) us_idle; /* pooled, most recent first */
	unsigned	 us_nidle;
	unsigned	 us_active;		/* connections carrying requests */
	int		 us_cw;			/* smooth round robin weight */
	unsigned	 us_fails;		/* failures in the window */
	int64_t		 us_fail_since;		/* the window's start */
	int64_t		 us_down_until;		/* 0: up */
	bool		 us_trial;		/* down, one trial request out */
	uint64_t	 us_tries;		/* attempts sent to it */
	uint64_t	 us_failures;		/* attempts that failed */
	struct event	 us_resolve_ev;		/* next resolution */
	struct evdns_getaddrinfo_request *us_dnsreq;
};

/* The servers of one configuration generation. */
struct upstream_set {
	unsigned	 ups_refs;		/* the proxy and each request */
	struct config	*ups_cfg;
	struct event_base *ups_base;
	struct evdns_base *ups_dns;		/* only when a name needs it */
	struct upstream_server **ups_groups;	/* per config upstream */
	size_t		 ups_ngroups;
};

/* What an upstream connection tells its request. */
#define UPEV_CONNECTED	1	/* the connect completed */
#define UPEV_CONNFAIL	2	/* the connect failed; err is its errno */
#define UPEV_READABLE	3	/* bytes (or EOF) to read */
#define UPEV_DRAINED	4	/* bytes a write left behind are all sent */
#define UPEV_WRFAIL	5	/* sending them failed; err is its errno */

enum upconn_state {
	UPCONN_CONNECTING,	/* non-blocking connect in progress */
	UPCONN_ACTIVE,		/* carrying a request */
	UPCONN_IDLE,		/* in its server's pool */
};

/* A connection to an upstream server. */
struct upconn {
	TAILQ_ENTRY(upconn) up_entry;		/* pool link */
	struct upstream_server *up_server;
	struct proxy	*up_proxy;
	struct request	*up_req;		/* while active */
	int		 up_fd;
	enum upconn_state up_state;
	struct event	 up_rev;
	struct event	 up_wev;
	struct event	 up_timer;		/* pool idle timeout, lazy */
	int64_t		 up_idle_since;		/* when it went into the pool */
	bool		 up_reading;		/* up_rev is added */
	bool		 up_writing;		/* up_wev is added */
	bool		 up_timing;		/* up_timer is added */
	struct buf	 up_out;		/* bytes a write left behind */
	unsigned	 up_nreq;		/* requests carried */
};

enum client_state {
	CLIENT_IDLE,		/* waiting for the first byte of a request */
	CLIENT_HEAD,		/* reading a request head */
	CLIENT_BUSY,		/* a request is in progress */
	CLIENT_LINGER,		/* answered; draining input, then closing */
	CLIENT_CLOSED,		/* closed; freed after the current callback */
};

/* The write side of a client, for the few whose writes ever block. */
struct client_wr {
	struct event	 w_ev;
	struct buf	 w_out;			/* bytes a write left behind */
};

/* A client connection.  Kept small: thousands may sit idle. */
struct client {
	TAILQ_ENTRY(client) cl_entry;
	struct proxy	*cl_proxy;
	struct event	 cl_rev;
	struct client_wr *cl_wr;		/* made when a write first blocks */
	struct deadline_timer cl_wait;		/* no request: the one deadline */
	struct buf	 cl_in;			/* request bytes; head at 0 */
	struct request	*cl_req;
	int		 cl_fd;
	uint32_t	 cl_nreq;		/* requests begun */
	uint8_t		 cl_state;		/* enum client_state */
	uint8_t		 cl_wait_why;		/* enum scope of cl_wait;
						   SCOPE_COUNT: not waiting */
	bool		 cl_eof;		/* the client closed its side */
	bool		 cl_in_cb;		/* a callback of ours is running */
	bool		 cl_paused;		/* reading stopped: buffer full */
	bool		 cl_writing;		/* cl_wr's event is added */
	uint8_t		 cl_iplen;		/* length of the ip part */
	char		 cl_addr[49];		/* "ip:port", "[ip]:port" */
};

enum req_state {
	REQ_HEAD,		/* reading the request head */
	REQ_CONNECT,		/* connecting to the upstream server */
	REQ_SEND,		/* sending the request upstream */
	REQ_WAIT,		/* request sent: waiting for the response head */
	REQ_RELAY,		/* response head sent: relaying the body */
	REQ_DONE,		/* finished and logged */
	REQ_NSTATES
};

/* One request on a client connection, from its first byte to its log line. */
struct request {
	struct client	*rq_client;
	enum req_state	 rq_state;
	uint64_t	 rq_id;
	struct config	*rq_cfg;		/* a reference */
	struct upstream_set *rq_ups;
	const struct config_route *rq_route;
	struct upstream_server *rq_server;
	struct upconn	*rq_up;

	struct buf	 rq_tx;			/* a head (either way) until it is
						 * sent, and a chunked body written
						 * anew */
	struct buf	 rq_rx;			/* response bytes; head at 0 */

	bool		 rq_body_done;		/* request body read whole */
	bool		 rq_sent;		/* request sent whole upstream */
	bool		 rq_head_sent;		/* response head went out */
	bool		 rq_close;		/* close the client afterwards */
	bool		 rq_pooled;		/* rq_up came from the pool */
	bool		 rq_fresh_retry;	/* the free pooled retry is used */
	bool		 rq_got_byte;		/* a response byte arrived */
	bool		 rq_reframe;		/* chunked response: written anew */
	bool		 rq_dechunk;		/* 1.0 client, chunked response */
	int		 rq_status;		/* status sent to the client */
	unsigned	 rq_tries;
	bool		 rq_judged;		/* the server's health was told */
	bool		 rq_backoff_armed;
	uint64_t	 rq_tried;		/* servers tried, a bit per index */
	int64_t		 rq_request_at;		/* the request scope's instant */
	int64_t		 rq_drain_at;		/* the drain's instant, or 0 */
	uint64_t	 rq_bytes_in;
	uint64_t	 rq_bytes_out;
	int64_t		 rq_deadline_ms;	/* the request scope's length */
	int64_t		 rq_wall_us;		/* wall clock at the first byte */
	int64_t		 rq_t0;			/* monotonic, first byte */
	int64_t		 rq_t_head;		/* head complete */
	int64_t		 rq_t_conn0, rq_t_conn;	/* connect start, done */
	int64_t		 rq_t_sent;		/* request sent upstream */
	int64_t		 rq_t_uphead;		/* response head complete */

	/* From here on, set up by their own init, not zeroed per request. */
	struct deadline_task rq_task;		/* every scope of the request */
	struct event	 rq_backoff;		/* wait before a retry */
	struct http_parser rq_reqp;		/* client -> us */
	struct http_msg	 rq_reqm;
	struct http_parser rq_resp;		/* upstream -> us */
	struct http_msg	 rq_resm;
};

/* The per-thread proxy. */
struct proxy {
	struct event_base *px_base;
	struct config	*px_cfg;
	struct upstream_set *px_ups;
	struct accesslog *px_alog;
	struct metrics	*px_metrics;
	TAILQ_HEAD(, listener) px_listeners;
	TAILQ_HEAD(, client) px_clients;
	struct slab	*px_client_slab;	/* where clients live */
	struct proxy_counts px_counts;
	uint64_t	 px_next_id;
	int		 px_reserve[4];		/* spare fds for upstream legs */
	struct event	 px_accept_pause;	/* accept backoff timer */
	struct event	 px_trim;		/* give memory back when idle */
	bool		 px_accept_paused;
	struct slab	*px_req_slab;		/* where requests live */
	bool		 px_draining;
	int64_t		 px_drain_at;
	void		(*px_drained)(void *);
	void		*px_drained_arg;
};

/* Count into a proxy_counts field; the proxy's thread is the only writer. */
#define PROXY_COUNT(px, field, delta)					\
	__atomic_store_n(&(px)->px_counts.field,			\
	    (px)->px_counts.field + (delta), __ATOMIC_RELAXED)

/* Client connections of every worker, for max_connections. */
extern unsigned	 proxy_clients_all;

/* proxy.c */
int	 proxy_reserve_use(struct proxy *);
void	 proxy_idle(struct proxy *);
void	 proxy_reserve_fill(struct proxy *);

/* listener.c */
int	 listener_open(struct proxy *, const struct config_addr *,
	     const struct listener *like, char *, size_t);
int	 listener_adopt(struct proxy *, int fd, char *, size_t);
void	 listener_close(struct listener *);
void	 listener_pause_all(struct proxy *, bool);

/* client.c */
void	 client_accept(struct proxy *, int fd, const struct sockaddr *,
	     socklen_t);
void	 client_close(struct client *, const char *why);
void	 client_free(struct client *);
int	 client_send(struct client *, const struct iovec *, int);
/* How a client connection goes on after a request. */
#define DONE_KEEP	0	/* keep-alive: wait for the next request */
#define DONE_LINGER	1	/* an answer went out: flush it, then close */
#define DONE_ABORT	2	/* close now (a cut response, a gone client) */
void	 client_request_done(struct client *, int how);
void	 client_want_read(struct client *, bool);
size_t	 client_pending(const struct client *);
/* When a deadline will next wake the client, or DEADLINE_NEVER. */
int64_t	 client_deadline(const struct client *);

/* request.c */
struct request *request_new(struct client *, int64_t header_at);
void	 request_free(struct request *);
int	 request_feed_head(struct request *);
void	 request_start(struct request *);
void	 request_client_data(struct request *);
void	 request_client_gone(struct request *, const char *);
void	 request_client_drained(struct request *);
void	 request_upstream_event(struct request *, int ev, int err);
void	 request_reject(struct request *, enum outcome);

/* upstream.c */
struct upstream_set *upstream_set_new(struct event_base *, struct config *,
	     char *, size_t);
void	 upstream_set_unref(struct upstream_set *);
void	 upstream_set_adopt(struct upstream_set *, struct upstream_set *old);
void	 upstream_set_close_idle(struct upstream_set *);
struct upstream_server *upstream_pick(struct upstream_set *,
	     const struct config_route *, uint64_t tried, const char **why);
void	 upstream_failed(struct upstream_server *, const char *cause);
void	 upstream_succeeded(struct upstream_server *);
size_t	 upstream_index(const struct upstream_server *);
struct upconn	*upstream_pool_get(struct upstream_server *);
struct upconn	*upstream_connect(struct proxy *, struct upstream_server *,
	     int *err);
bool	 upstream_connected(const struct upconn *);
void	 upstream_attach(struct upconn *, struct request *);
void	 upstream_release(struct upconn *, bool reuse);
int	 upstream_send(struct upconn *, const struct iovec *, int);
void	 upstream_want_read(struct upconn *, bool);

#endif
