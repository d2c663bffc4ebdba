/*
 * request.h: one request as a task, from the first byte of its head to its
 * access-log line; the state machine is in request.c.
 *
 * A request belongs to its client connection, which makes it, feeds it
 * the client's bytes and frees it.  It holds its deadline task (every
 * scope from its first byte to its log line), its response buffers, a
 * reference to the configuration and upstream set it started with, and,
 * while it runs, one upstream connection.  It reads the client's bytes
 * from the client's input buffer and writes to the client's connection,
 * both lent at request_new(); it tells the client it ended through the
 * done callback, exactly once, as the last thing it does.
 */
#ifndef HG_REQUEST_H
#define HG_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "proxy_ctx.h"

struct request;

/* How a finished request leaves its client connection. */
struct request_end {
	bool	 re_abort;	/* close now: a response cut short, a client
				   gone, or an answer that could not go */
	bool	 re_close;	/* do not take another request on it */
	uint32_t re_keepalive_ms; /* the keep-alive wait that follows: the
				   request's route's, or the default */
};
typedef void (*request_done_cb)(void *arg, const struct request_end *);

/* What a client lends its request. */
struct request_peer {
	struct conn	*rp_conn;	/* to write to the client */
	struct buf	*rp_in;		/* the client's bytes, the head at 0 */
	const char	*rp_addr;	/* "ip:port", "[ip]:port" */
	uint8_t		 rp_iplen;	/* length of the ip part */
	request_done_cb	 rp_done;
	void		 (*rp_upgraded)(void *arg); /* a 101: the connection
					   is a tunnel; from now on the
					   request reads it, and rp_in is
					   not used */
	void		*rp_arg;
};

/* The sizes of a request and of its HTTP state, for the slabs they live
 * in (proxy_ctx: pc_req_slab, pc_rqh_slab). */
size_t	 request_size(void);
size_t	 request_http_size(void);

/*
 * A new request on the peer's connection, whose head must be complete by
 * header_at (DEADLINE_NEVER: no limit).  NULL when memory is exhausted.
 */
struct request *request_new(struct proxy_ctx *, const struct request_peer *,
	     int64_t header_at);

/* Give back what the request holds; after its done callback, or when its
 * client closes before it started. */
void	 request_free(struct request *);

/*
 * Parse the client's bytes so far.  1: the head is complete (call
 * request_start()); 0: more is needed; -1: the request was refused, and
 * has ended (its done callback ran).
 */
int	 request_feed_head(struct request *);

/* The head is complete: route it, open its scopes and go upstream. */
void	 request_start(struct request *);

/* More client bytes are in the input buffer (body, or pipelined). */
void	 request_client_data(struct request *);

/* The client's connection, a tunnel now, is readable. */
void	 request_tunnel_readable(struct request *);

/* What the client could not take at once has gone out. */
void	 request_client_wrote(struct request *);
void	 request_client_drained(struct request *);

/* The client closed or reset its connection: abort:client. */
void	 request_client_gone(struct request *, const char *why);

/* The drain began: the request ends by drain_at, and closes its
 * connection when it ends. */
void	 request_drain(struct request *, int64_t drain_at);

/* Bytes of the request head at the start of the input buffer, which stay
 * there while the request runs. */
uint32_t request_head_len(const struct request *);

/* When the request's deadline task is armed for, or DEADLINE_NEVER. */
int64_t	 request_deadline(const struct request *);

/* Log and count a connection refused before any request could begin
 * (over max_connections), which was answered bytes_out bytes. */
void	 request_log_refused(struct proxy_ctx *, const char *addr,
	     enum outcome, uint64_t bytes_out);

/* The state's name, for tests and logs. */
const char *request_state_name(const struct request *);

#endif
