/*
 * origin.h: the test origin, the upstream that every test and benchmark of
 * hourglass talks to.
 *
 * origin.c holds main, the command line, the listeners and the event log;
 * origin_conn.c holds a client connection: reading, parsing with llhttp,
 * writing and its state machine; origin_routes.c maps a path to an endpoint
 * and builds or paces its response; origin_ws.c answers /ws and /upgrade
 * with a 101 and then runs the tunnel: a WebSocket echo or a raw echo.
 *
 * The connection layout is shared by the four files, so struct conn is
 * declared here rather than kept opaque.
 */
#ifndef HG_ORIGIN_H
#define HG_ORIGIN_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <llhttp.h>

#define ORIGIN_READ_SIZE	16384		/* bytes per read(2) */
#define ORIGIN_IN_MAX		(1024 * 1024)	/* unparsed input before pausing */
#define ORIGIN_HEAD_MAX		(1024 * 1024)	/* a longer request head gets 431 */
#define ORIGIN_OUT_HIGH		(256 * 1024)	/* queued output before pausing */
#define ORIGIN_ECHO_MAX		(256 * 1024 * 1024) /* a longer /echo gets 413 */
#define ORIGIN_LINGER_MS	1000		/* wait for the peer's FIN after ours */
#define ORIGIN_URL_MAX		512		/* target bytes kept for routing and logs */
#define ORIGIN_HVAL_MAX		128		/* header value bytes kept (Upgrade, ...) */

/* The states of a client connection; conn_set_state() checks each move. */
enum conn_state {
	CONN_READING,		/* reading requests and answering them at once */
	CONN_PREWAIT,		/* the --tail or --delay wait before the route runs */
	CONN_WAITING,		/* a /delay or /tail timer runs before the response */
	CONN_DRIPPING,		/* the body goes out one byte per tick */
	CONN_TRICKLING,		/* the head goes out one byte per tick */
	CONN_STREAMING,		/* a long body goes out as the socket drains */
	CONN_HANGING,		/* a request that is never answered */
	CONN_TUNNEL,		/* after a 101: echoing bytes or WebSocket frames */
	CONN_SILENT,		/* after a 101: reading and dropping, writing nothing new */
	CONN_SHUT,		/* after a 101: our FIN once cn_out is out; input
				   dropped until the peer's FIN */
	CONN_CLOSING,		/* the last response goes out, then our FIN */
	CONN_LINGERING,		/* FIN sent; reading until the peer's FIN or a timeout */
	CONN_DEAD,		/* socket closed; freed when the callback returns */
};

/* The endpoints; ROUTE_NONE is a 404 and ROUTE_BAD a 400 for a bad argument. */
enum route {
	ROUTE_NONE,
	ROUTE_BAD,
	ROUTE_ROOT,
	ROUTE_BYTES,
	ROUTE_CHUNKED,
	ROUTE_DELAY,
	ROUTE_TAIL,
	ROUTE_STATS,
	ROUTE_DRIP,
	ROUTE_TRICKLE,
	ROUTE_HANG,
	ROUTE_CLOSE,
	ROUTE_RESET,
	ROUTE_STATUS,
	ROUTE_ECHO,
	ROUTE_DRIPC,
	ROUTE_INTERIM,
	ROUTE_DROP_NEXT,
	ROUTE_WS,
	ROUTE_UPGRADE,
	ROUTE_UPGRADE_CLOSE,
	ROUTE_UPGRADE_RESET,
	ROUTE_UPGRADE_SILENT,
	ROUTE_UPGRADE_200,
};

/* What a connection carries after a 101. */
enum tunnel {
	TUNNEL_NONE,		/* HTTP: no 101 went out */
	TUNNEL_RAW,		/* /upgrade: bytes echoed, in-band commands */
	TUNNEL_WS,		/* /ws: WebSocket frames echoed */
};

/* The request headers the origin looks at. */
enum hdr {
	HDR_OTHER,
	HDR_EXPECT,
	HDR_UPGRADE,
	HDR_WS_KEY,		/* Sec-WebSocket-Key */
	HDR_WS_VERSION,		/* Sec-WebSocket-Version */
};

/* How the response speaks of the connection. */
enum conn_ka {
	KA_HTTP11,		/* HTTP/1.1 keep-alive: no header */
	KA_HTTP10,		/* HTTP/1.0 keep-alive: "Connection: keep-alive" */
	KA_CLOSE,		/* "Connection: close", then close */
};

struct conn {
	uint64_t		 cn_id;
	int			 cn_fd;
	enum conn_state		 cn_state;
	struct event		*cn_ev_read;
	struct event		*cn_ev_write;
	struct event		*cn_ev_timer;	/* made on first use */
	int			 cn_rd_on;	/* cn_ev_read is added */
	int			 cn_wr_on;	/* cn_ev_write is added */
	int			 cn_peer_eof;	/* the peer closed or reset */
	int			 cn_close_logged;
	int			 cn_drop_next;	/* /drop-next: close at the next request */

	struct evbuffer		*cn_in;
	struct evbuffer		*cn_out;
	struct evbuffer		*cn_hold;	/* /echo body, or a trickled response */

	/* Parser position: bytes of cn_in before cn_in_parsed are parsed. */
	llhttp_t		 cn_parser;
	size_t			 cn_in_parsed;
	size_t			 cn_head_start;	/* offset in cn_in of the request line */
	int			 cn_in_head;	/* inside a request head */
	int			 cn_head_seen;	/* cn_head_start is known */
	int			 cn_parse_more;	/* the parser paused: run it again */
	int			 cn_pause;	/* why the parser paused, PAUSE_* */
	const char		*cn_exec_base;	/* data given to llhttp_execute ... */
	size_t			 cn_exec_off;	/* ... and its offset in cn_in */

	/* The request being read or answered. */
	int			 rq_active;
	char			 rq_url[ORIGIN_URL_MAX];
	size_t			 rq_url_len;
	int			 rq_head;	/* HEAD: no body in the response */
	enum conn_ka		 rq_ka;
	int			 rq_expect;	/* Expect: 100-continue */
	enum hdr		 rq_hdr;	/* the header being read */
	char			 rq_hbuf[ORIGIN_HVAL_MAX]; /* its name or value so far */
	size_t			 rq_hlen;	/* may exceed the buffer */
	int			 rq_error;	/* status for a request we refuse */
	int			 rq_get;	/* the method is GET */
	int			 rq_http11;	/* HTTP/1.1 (not 1.0) */
	int			 rq_conn_upgrade; /* Connection has "upgrade" */
	char			 rq_upgrade[ORIGIN_HVAL_MAX]; /* Upgrade's value */
	size_t			 rq_upgrade_len; /* 0: none; > the buffer: too long */
	char			 rq_ws_key[32];	/* Sec-WebSocket-Key */
	size_t			 rq_ws_key_len;	/* 0: none; > the buffer: too long */
	int			 rq_ws_version;	/* Sec-WebSocket-Version, -1 if bad */

	/* The response being produced. */
	enum route		 rs_route;
	uint64_t		 rs_arg1;
	uint64_t		 rs_arg2;
	uint64_t		 rs_left;	/* body bytes still to produce */
	uint64_t		 rs_off;	/* body bytes produced */
	uint64_t		 rs_chunk;	/* chunk size; 0 if not chunked */
	int			 rs_dripc;	/* a drip of one-byte chunks */
	int			 rs_ended;	/* the chunked terminator is queued */
	size_t			 rs_head_left;	/* trickle: head bytes in cn_hold */
	unsigned		 rs_ms;		/* tick interval */

	/* The tunnel after a 101 (origin_ws.c). */
	enum tunnel		 tn_kind;
	int			 tn_end_logged;	/* "done": our FIN or RST went out */
	int			 tn_wr_shut;	/* CONN_SHUT: shutdown(SHUT_WR) done */
	uint64_t		 ws_left;	/* data frame payload bytes to relay */
	uint64_t		 ws_off;	/* payload bytes relayed: the mask phase */
	uint8_t			 ws_mask[4];

	TAILQ_ENTRY(conn)	 cn_entry;
};
TAILQ_HEAD(conn_list, conn);

enum {
	PAUSE_NONE,
	PAUSE_HEADERS,
	PAUSE_MESSAGE,
};

/* Process-wide state, one event loop. */
struct origin {
	struct event_base	*base;
	struct conn_list	 conns;
	uint64_t		 next_id;
	int			 log_fd;	/* --log, or -1 */
	int			 verbose;
	enum route		 fail_route;	/* --fail: every request, or ROUTE_NONE */
	uint64_t		 fail_arg;	/* --fail 503: the status */
	uint64_t		 tail_prob;	/* --tail P: P in ROUTES_PROB_UNIT units */
	uint64_t		 tail_ms;	/* --tail /MS, --delay MS; 0: no wait */
	uint64_t		 rng;		/* xorshift64* state (--seed) */
	uint64_t		 st_requests;	/* requests answered or begun, /stats aside */
	uint64_t		 st_waited;	/* of them, held by a /tail, --tail or --delay wait */
	uint64_t		 st_cancelled;	/* peer gone while the response was held back */
	uint64_t		 st_accepted;	/* connections accepted */
};
extern struct origin origin;

/* origin.c */
void	origin_event(struct conn *, const char *);
void	origin_debug(const char *, ...) __attribute__((format(printf, 1, 2)));

/* origin_conn.c */
void	conn_accept(int);
void	conn_free_all(void);
void	conn_set_state(struct conn *, enum conn_state);
void	conn_close(struct conn *, int);
void	conn_timer(struct conn *, unsigned, int);
void	conn_response_done(struct conn *);
const char *conn_path(struct conn *);

/* origin_routes.c */
#define ROUTES_PROB_UNIT	10000		/* units per percent: 4 decimals */
void	routes_init(void);
void	routes_seed(uint64_t);
int	routes_parse_tail(const char *, size_t, uint64_t *, uint64_t *);
enum route routes_match(const char *, size_t, uint64_t *, uint64_t *);
void	routes_start(struct conn *);
void	routes_refill(struct conn *);
void	routes_tick(struct conn *);
void	routes_error(struct conn *, int);
void	routes_answer(struct conn *, int, const char *, const char *, size_t);

/* origin_ws.c */
void	tunnel_start(struct conn *);
void	tunnel_input(struct conn *);
void	tunnel_end_log(struct conn *);

#endif
