/*
 * upstream.c: upstream servers, their pools of idle keep-alive connections,
 * and non-blocking connects; see upstream.h.
 *
 * Names are resolved asynchronously with evdns (which also reads
 * /etc/hosts), so the loop never blocks on the resolver.  The waits (the
 * next resolution, a pooled connection's idle time) are light timers of
 * the deadline engine.
 */
#include <sys/queue.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/util.h>

#include "budget.h"
#include "buf.h"
#include "conn.h"
#include "deadline.h"
#include "latwin.h"
#include "log.h"
#include "netaddr.h"
#include "tls.h"
#include "upstream.h"

/* An upstream server: its address, its health and its idle pool. */
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
	struct deadline_timer us_resolve;	/* next resolution */
	SSL_SESSION	*us_session;		/* TLS: to resume next time */
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
	struct budget	*ups_budgets;		/* per config upstream */
	struct latwin	**ups_lat;		/* per route; NULL unless it
						   hedges at a percentile */
	int		(*ups_spare)(void *);	/* give a descriptor back */
	void		*ups_spare_arg;
};

enum upconn_state {
	UPCONN_CONNECTING,	/* non-blocking connect in progress */
	UPCONN_HANDSHAKE,	/* TLS handshake in progress */
	UPCONN_ACTIVE,		/* carrying a request */
	UPCONN_IDLE,		/* in its server's pool */
};

/* A connection to an upstream server. */
struct upconn {
	struct conn	 up_conn;		/* the byte stream */
	TAILQ_ENTRY(upconn) up_entry;		/* pool link */
	struct upstream_server *up_server;
	upstream_cb	 up_cb;			/* the request it carries */
	void		*up_arg;
	enum upconn_state up_state;
	struct deadline_timer up_timer;		/* pool idle timeout, lazy */
	int64_t		 up_idle_since;		/* when it went into the pool */
};

static void	upconn_conn_cb(struct conn *, enum conn_event, int);
static void	upconn_idle_cb(struct deadline_timer *, void *);
static void	upconn_free(struct upconn *);
static void	upstream_set_free(struct upstream_set *);
static void	upstream_resolve(struct deadline_timer *, void *);
static void	upstream_init_once(void);
static pthread_once_t upstream_once = PTHREAD_ONCE_INIT;

/* Take a numeric host at once; names go to the asynchronous resolver. */
static bool
upstream_numeric(struct upstream_server *us)
{
	return strcmp(us->us_cfg->addr.host, "*") != 0 &&
	    netaddr_from_config(&us->us_cfg->addr, &us->us_addr,
	    &us->us_addrlen) == 0;
}

/*
 * A resolution finished.  Success replaces the address; failure keeps the
 * last good one and says so.  Either way the next one is scheduled.
 */
static void
upstream_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct upstream_server *us = arg;
	const struct config_upstream *cu = us->us_group;

	us->us_dnsreq = NULL;
	if (result == DNS_ERR_CANCEL)
		return;
	if (result != 0 || res == NULL) {
		if (us->us_addrlen > 0)
			log_err("upstream %s: cannot resolve %s: %s; keeping "
			    "its last good address", cu->name, us->us_name,
			    evutil_gai_strerror(result));
		else
			log_err("upstream %s: cannot resolve %s: %s; requests "
			    "to it fail with error:connect", cu->name,
			    us->us_name, evutil_gai_strerror(result));
	} else {
		if (us->us_addrlen == 0 || memcmp(&us->us_addr, res->ai_addr,
		    res->ai_addrlen) != 0)
			log_info("upstream %s: %s resolved", cu->name,
			    us->us_name);
		memcpy(&us->us_addr, res->ai_addr, res->ai_addrlen);
		us->us_addrlen = res->ai_addrlen;
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (cu->resolve_interval_ms > 0)
		deadline_timer_set(&us->us_resolve, deadline_now_refresh() +
		    (int64_t)cu->resolve_interval_ms * 1000);
}

/* Ask the resolver for a server's name; never blocks the loop. */
static void
upstream_resolve(struct deadline_timer *tm, void *arg)
{
	struct upstream_server *us = arg;
	struct evutil_addrinfo hints;
	char port[8];

	(void)tm;
	if (us->us_dnsreq != NULL)
		return;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof port, "%u", us->us_cfg->addr.port);
	/* The callback may run before this returns (a hosts-file answer). */
	us->us_dnsreq = evdns_getaddrinfo(us->us_set->ups_dns,
	    us->us_cfg->addr.host, port, &hints, upstream_resolved, us);
}

/*
 * Build the servers of every upstream of cfg (a reference is taken).
 * Numeric addresses are taken at once; names are resolved asynchronously,
 * at once and every resolve_interval.  A name that has not resolved leaves
 * its server without an address: requests to it end in error:connect.
 */
struct upstream_set *
upstream_set_new(struct event_base *base, struct config *cfg,
    int (*spare)(void *), void *spare_arg, char *err, size_t errlen)
{
	struct upstream_set *ups;

	if ((ups = calloc(1, sizeof *ups)) == NULL)
		goto nomem;
	pthread_once(&upstream_once, upstream_init_once);
	ups->ups_refs = 1;
	ups->ups_base = base;
	ups->ups_spare = spare;
	ups->ups_spare_arg = spare_arg;
	ups->ups_ngroups = cfg->nupstreams;
	ups->ups_groups = calloc(cfg->nupstreams + 1, sizeof *ups->ups_groups);
	if (ups->ups_groups == NULL)
		goto nomem;
	ups->ups_cfg = config_ref(cfg);
	ups->ups_budgets = calloc(cfg->nupstreams + 1, sizeof *ups->ups_budgets);
	ups->ups_lat = calloc(cfg->nroutes + 1, sizeof *ups->ups_lat);
	if (ups->ups_budgets == NULL || ups->ups_lat == NULL)
		goto nomem;
	for (size_t r = 0; r < cfg->nroutes; r++)
		if (cfg->routes[r].timeouts.hedge.pct != 0 &&
		    (ups->ups_lat[r] = calloc(1, sizeof **ups->ups_lat)) == NULL)
			goto nomem;
	for (size_t g = 0; g < cfg->nupstreams; g++) {
		const struct config_upstream *cu = &cfg->upstreams[g];
		struct upstream_server *us;

		us = calloc(cu->nservers, sizeof *us);
		if ((ups->ups_groups[g] = us) == NULL)
			goto nomem;
		for (size_t i = 0; i < cu->nservers; i++) {
			us[i].us_cfg = &cu->servers[i];
			us[i].us_group = cu;
			us[i].us_set = ups;
			us[i].us_name = cu->servers[i].addr.text;
			TAILQ_INIT(&us[i].us_idle);
			deadline_timer_init(&us[i].us_resolve, base,
			    upstream_resolve, &us[i]);
		}
	}
	for (size_t g = 0; g < cfg->nupstreams; g++) {
		for (size_t i = 0; i < cfg->upstreams[g].nservers; i++) {
			struct upstream_server *us = &ups->ups_groups[g][i];

			if (upstream_numeric(us))
				continue;
			if (ups->ups_dns == NULL && (ups->ups_dns =
			    evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
			    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL) {
				snprintf(err, errlen, "cannot start the resolver");
				upstream_set_free(ups);
				return NULL;
			}
			upstream_resolve(NULL, us);
		}
	}
	return ups;
nomem:
	snprintf(err, errlen, "out of memory");
	upstream_set_free(ups);
	return NULL;
}

/* Take a reference. */
void
upstream_set_ref(struct upstream_set *ups)
{
	ups->ups_refs++;
}

/* Drop a reference; the last one frees the set and drains its pools. */
void
upstream_set_unref(struct upstream_set *ups)
{
	if (ups != NULL && --ups->ups_refs == 0)
		upstream_set_free(ups);
}

/* Close the idle pooled connections of every server (drain). */
void
upstream_set_close_idle(struct upstream_set *ups)
{
	for (size_t g = 0; g < ups->ups_ngroups; g++) {
		struct upstream_server *us = ups->ups_groups[g];
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		for (size_t i = 0; i < cu->nservers; i++) {
			struct upconn *up;

			while ((up = TAILQ_FIRST(&us[i].us_idle)) != NULL)
				upconn_free(up);
		}
	}
}

/* Find the server of upstream name at address text in a set, or NULL. */
static struct upstream_server *
upstream_find(struct upstream_set *ups, const char *name, const char *text)
{
	for (size_t g = 0; g < ups->ups_ngroups; g++) {
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		if (strcmp(cu->name, name) != 0)
			continue;
		for (size_t i = 0; i < cu->nservers; i++)
			if (strcmp(cu->servers[i].addr.text, text) == 0)
				return &ups->ups_groups[g][i];
	}
	return NULL;
}

/*
 * On reload: servers that stay (same upstream name and address) keep
 * their idle pooled connections, their health and their resolved address;
 * the pools of servers that were removed stay with the old set, which is
 * freed, closing them, when its last request ends.
 */
void
upstream_set_adopt(struct upstream_set *ups, struct upstream_set *old)
{
	const struct config *oc = old->ups_cfg, *nc = ups->ups_cfg;

	for (size_t g = 0; g < ups->ups_ngroups; g++)
		for (size_t k = 0; k < old->ups_ngroups; k++)
			if (strcmp(nc->upstreams[g].name,
			    oc->upstreams[k].name) == 0)
				ups->ups_budgets[g] = old->ups_budgets[k];
	for (size_t r = 0; r < nc->nroutes; r++)
		for (size_t k = 0; ups->ups_lat[r] != NULL && k < oc->nroutes;
		    k++)
			if (old->ups_lat[k] != NULL &&
			    strcmp(nc->routes[r].prefix, oc->routes[k].prefix) == 0 &&
			    (nc->routes[r].host == NULL) == (oc->routes[k].host == NULL) &&
			    (nc->routes[r].host == NULL ||
			    strcmp(nc->routes[r].host, oc->routes[k].host) == 0))
				*ups->ups_lat[r] = *old->ups_lat[k];
	for (size_t g = 0; g < ups->ups_ngroups; g++) {
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		for (size_t i = 0; i < cu->nservers; i++) {
			struct upstream_server *us = &ups->ups_groups[g][i];
			struct upstream_server *o;
			struct upconn *up;

			o = upstream_find(old, cu->name, us->us_name);
			if (o == NULL)
				continue;
			if (us->us_addrlen == 0 && o->us_addrlen != 0) {
				us->us_addr = o->us_addr;
				us->us_addrlen = o->us_addrlen;
			}
			us->us_fails = o->us_fails;
			us->us_fail_since = o->us_fail_since;
			us->us_down_until = o->us_down_until;
			us->us_tries = o->us_tries;
			us->us_failures = o->us_failures;
			while ((up = TAILQ_LAST(&o->us_idle, upconn_list)) != NULL &&
			    us->us_nidle < cu->keepalive) {
				TAILQ_REMOVE(&o->us_idle, up, up_entry);
				o->us_nidle--;
				up->up_server = us;
				TAILQ_INSERT_HEAD(&us->us_idle, up, up_entry);
				us->us_nidle++;
			}
		}
	}
}

/* Close every pooled connection, stop resolving and free the set. */
static void
upstream_set_free(struct upstream_set *ups)
{
	if (ups == NULL)
		return;
	for (size_t g = 0; g < ups->ups_ngroups && ups->ups_groups[g]; g++) {
		struct upstream_server *us = ups->ups_groups[g];
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		for (size_t i = 0; i < cu->nservers; i++) {
			struct upconn *up;

			while ((up = TAILQ_FIRST(&us[i].us_idle)) != NULL)
				upconn_free(up);
			deadline_timer_stop(&us[i].us_resolve);
			if (us[i].us_session != NULL)
				SSL_SESSION_free(us[i].us_session);
			if (us[i].us_dnsreq != NULL)
				evdns_getaddrinfo_cancel(us[i].us_dnsreq);
		}
	}
	if (ups->ups_dns != NULL)
		evdns_base_free(ups->ups_dns, 0);
	for (size_t g = 0; g < ups->ups_ngroups && ups->ups_groups[g]; g++)
		free(ups->ups_groups[g]);
	free(ups->ups_groups);
	free(ups->ups_budgets);
	for (size_t r = 0; ups->ups_lat != NULL && ups->ups_cfg != NULL &&
	    r < ups->ups_cfg->nroutes; r++)
		free(ups->ups_lat[r]);
	free(ups->ups_lat);
	if (ups->ups_cfg != NULL)
		config_unref(ups->ups_cfg);
	free(ups);
}

/* Call fn for every server of the set. */
void
upstream_set_walk(const struct upstream_set *ups,
    void (*fn)(void *, const struct upstream_server_info *), void *arg)
{
	struct upstream_server_info i;
	int64_t now = deadline_now_cached();

	for (size_t g = 0; g < ups->ups_ngroups; g++) {
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		for (size_t k = 0; k < cu->nservers; k++) {
			const struct upstream_server *us = &ups->ups_groups[g][k];

			i.usi_group = cu->name;
			i.usi_name = us->us_name;
			i.usi_up = us->us_down_until == 0 ||
			    now >= us->us_down_until;
			i.usi_tries = us->us_tries;
			i.usi_failures = us->us_failures;
			i.usi_active = us->us_active;
			i.usi_idle = us->us_nidle;
			fn(arg, &i);
		}
	}
}

/* Connections to the set's servers, carrying requests or pooled. */
size_t
upstream_set_connections(const struct upstream_set *ups)
{
	size_t n = 0;

	for (size_t g = 0; g < ups->ups_ngroups; g++) {
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		for (size_t k = 0; k < cu->nservers; k++)
			n += ups->ups_groups[g][k].us_active +
			    ups->ups_groups[g][k].us_nidle;
	}
	return n;
}

/* A request of the route starts: counted for its group's retry budget. */
void
upstream_budget_request(struct upstream_set *ups,
    const struct config_route *route)
{
	size_t g = (size_t)(route->upstream - ups->ups_cfg->upstreams);

	if (g < ups->ups_ngroups)
		budget_request(&ups->ups_budgets[g], deadline_now_cached());
}

/* Whether a retry or a hedge of the route fits its group's retry budget;
 * counted when it does. */
bool
upstream_budget_take(struct upstream_set *ups, const struct config_route *route)
{
	const struct config_upstream *cu = route->upstream;
	size_t g = (size_t)(cu - ups->ups_cfg->upstreams);

	return g < ups->ups_ngroups && budget_take(&ups->ups_budgets[g],
	    deadline_now_cached(), cu->retry_budget, cu->retry_budget_min);
}

/* The route's window of upstream header times, or NULL. */
struct latwin *
upstream_latwin(struct upstream_set *ups, const struct config_route *route)
{
	size_t r = (size_t)(route - ups->ups_cfg->routes);

	return r < ups->ups_cfg->nroutes ? ups->ups_lat[r] : NULL;
}

/* Whether the server has an address: its name resolved. */
bool
upstream_has_address(const struct upstream_server *us)
{
	return us->us_addrlen != 0;
}

/* A server's name as configured. */
const char *
upstream_name(const struct upstream_server *us)
{
	return us->us_name;
}

/* A server's position in its group, for the tried-servers mask. */
size_t
upstream_index(const struct upstream_server *us)
{
	size_t g = (size_t)(us->us_group - us->us_set->ups_cfg->upstreams);

	return (size_t)(us - us->us_set->ups_groups[g]);
}

/*
 * Whether a server may take a request now.  A server marked down comes
 * back for one trial request once fail_timeout has passed.
 */
static bool
upstream_eligible(const struct upstream_server *us, int64_t now)
{
	if (us->us_down_until == 0)
		return true;
	return now >= us->us_down_until && !us->us_trial;
}

/* Whether server i may be picked: eligible, and, on the first pass, not
 * tried yet by this request. */
static inline bool
upstream_candidate(const struct upstream_server *us, size_t i, int64_t now,
    uint64_t tried, int pass)
{
	if (!upstream_eligible(&us[i], now))
		return false;
	return pass != 0 || i >= 64 || !(tried & (1ULL << i));
}

/* Whether a's active connections per weight are fewer than b's (-1), the
 * same (0) or more (1), compared without division. */
static inline int
upstream_load_cmp(const struct upstream_server *a,
    const struct upstream_server *b)
{
	uint64_t x = (uint64_t)a->us_active * b->us_cfg->weight;
	uint64_t y = (uint64_t)b->us_active * a->us_cfg->weight;

	return x < y ? -1 : x > y;
}

/*
 * Choose a server of the route's upstream: smooth weighted round robin
 * (nginx's), or the fewest active connections per weight, ties broken by
 * smooth weighted round robin among the tied servers (so idle servers
 * share the load by weight, as nginx's least_conn does).  Servers in tried
 * (a bit per index) are avoided while another is eligible.  NULL with *why
 * set when every server is down.
 */
struct upstream_server *
upstream_pick(struct upstream_set *ups, const struct config_route *route,
    uint64_t tried, const char **why)
{
	const struct config_upstream *cu = route->upstream;
	size_t g = (size_t)(cu - ups->ups_cfg->upstreams);
	struct upstream_server *us, *best = NULL, *least;
	int64_t now = deadline_now_cached();
	bool lc = cu->balance == CONFIG_BALANCE_LEAST_CONN;
	int total = 0;

	if (g >= ups->ups_ngroups || cu->nservers == 0) {
		*why = "the upstream has no server";
		return NULL;
	}
	us = ups->ups_groups[g];
	for (int pass = 0; pass < 2 && best == NULL; pass++) {
		least = NULL;
		if (lc) {
			for (size_t i = 0; i < cu->nservers; i++)
				if (upstream_candidate(us, i, now, tried, pass) &&
				    (least == NULL ||
				    upstream_load_cmp(&us[i], least) < 0))
					least = &us[i];
			if (least == NULL)
				continue;
		}
		total = 0;
		for (size_t i = 0; i < cu->nservers; i++) {
			if (!upstream_candidate(us, i, now, tried, pass) ||
			    (lc && upstream_load_cmp(&us[i], least) != 0))
				continue;
			us[i].us_cw += (int)us[i].us_cfg->weight;
			total += (int)us[i].us_cfg->weight;
			if (best == NULL || us[i].us_cw > best->us_cw)
				best = &us[i];
		}
	}
	if (best == NULL) {
		*why = "every server is marked down";
		return NULL;
	}
	best->us_cw -= total;
	if (best->us_down_until != 0)
		best->us_trial = true;	/* the one trial request */
	best->us_tries++;
	return best;
}

/*
 * An attempt on the server failed (connect error, timeout, reset, close or
 * bad response).  max_fails failures within fail_timeout, or a failed
 * trial, mark it down for fail_timeout.
 */
void
upstream_failed(struct upstream_server *us, const char *cause)
{
	const struct config_upstream *cu = us->us_group;
	int64_t now = deadline_now_cached();
	int64_t window = (int64_t)cu->fail_timeout_ms * 1000;

	us->us_failures++;
	/* As nginx does: the only server of a group is never marked down. */
	if (cu->max_fails == 0 || cu->nservers == 1)
		return;
	if (us->us_fails == 0 || now - us->us_fail_since > window) {
		us->us_fails = 0;
		us->us_fail_since = now;
	}
	us->us_fails++;
	if (us->us_trial || us->us_fails >= cu->max_fails) {
		log_warn("upstream %s: server %s marked down for %u ms after "
		    "%u failure%s (last: %s)", cu->name, us->us_name,
		    cu->fail_timeout_ms, us->us_fails,
		    us->us_fails == 1 ? "" : "s", cause);
		us->us_down_until = now + window;
		us->us_trial = false;
		us->us_fails = 0;
	}
}

/* A request ended without a verdict on the server: give back its trial. */
void
upstream_abandoned(struct upstream_server *us)
{
	us->us_trial = false;
}

/* An attempt on the server got its response head: it is healthy. */
void
upstream_succeeded(struct upstream_server *us)
{
	if (us->us_down_until != 0)
		log_info("upstream %s: server %s is back up",
		    us->us_group->name, us->us_name);
	us->us_down_until = 0;
	us->us_trial = false;
	us->us_fails = 0;
}

/* Take the most recently used idle connection of a server, if any. */
struct upconn *
upstream_pool_get(struct upstream_server *us)
{
	struct upconn *up;

	if ((up = TAILQ_FIRST(&us->us_idle)) == NULL)
		return NULL;
	TAILQ_REMOVE(&us->us_idle, up, up_entry);
	us->us_nidle--;
	up->up_state = UPCONN_ACTIVE;	/* its idle timer lapses by itself */
	us->us_active++;
	return up;
}

/* Whether a host is an IP address (no SNI is sent for one). */
static bool
upstream_is_address(const char *host)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

/* A server gave a TLS session to one of our connections: keep it, for
 * the server the connection belongs to now, to resume the next one. */
static void
upstream_tls_session(void *arg, SSL_SESSION *sess)
{
	struct upstream_server *us = ((struct upconn *)arg)->up_server;

	if (!SSL_SESSION_is_resumable(sess)) {
		SSL_SESSION_free(sess);
		return;
	}
	if (us->us_session != NULL)
		SSL_SESSION_free(us->us_session);
	us->us_session = sess;
}

/* Once per process: where client TLS sessions go. */
static void
upstream_init_once(void)
{
	tls_client_session_hook(upstream_tls_session);
}

/*
 * Run TLS over a connected connection: SNI is tls_sni, or the server's
 * name unless it is an address; the certificate must name tls_sni or the
 * server's host; the last session is offered.  -1 when memory is
 * exhausted.
 */
static int
upconn_tls_start(struct upconn *up)
{
	struct upstream_server *us = up->up_server;
	const struct config_upstream *cu = us->us_group;
	const char *host = us->us_cfg->addr.host;
	const char *sni = cu->tls_sni != NULL ? cu->tls_sni :
	    upstream_is_address(host) ? NULL : host;
	SSL *ssl;

	ssl = tls_client_ssl(cu->tls_client, sni, cu->tls_sni != NULL ?
	    cu->tls_sni : host, us->us_session);
	if (ssl == NULL)
		return -1;
	tls_set_session_arg(ssl, up);
	up->up_state = UPCONN_HANDSHAKE;
	return conn_tls_start(&up->up_conn, ssl);
}

/* Why the last TLS handshake of this thread failed. */
const char *
upstream_tls_why(void)
{
	return conn_tls_why();
}

int
upstream_tls_fail(void)
{
	return conn_tls_fail();
}

/*
 * Whether a connect that said EINPROGRESS is in fact done.  To a local
 * server the handshake usually completes inside connect(): one getsockopt
 * then spares a trip through the loop (an epoll_ctl, a wake-up, SO_ERROR
 * and another epoll_ctl), and under a burst of new connections the
 * request goes out at once instead of after every other ready event.
 * Only the first byte of struct tcp_info, the state, is asked for.
 */
static bool
upconn_established(int fd)
{
	uint8_t state = 0;
	socklen_t len = sizeof state;

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &state, &len) == 0 &&
	    len == sizeof state && state == TCP_ESTABLISHED;
}

/*
 * Start a non-blocking connect.  If it completes at once, the connection
 * is returned active (upstream_connected() says so) and the caller goes
 * on; otherwise the request hears UPEV_CONNECTED or UPEV_CONNFAIL from the
 * loop.  NULL with *err set when it fails at once.
 */
struct upconn *
upstream_connect(struct upstream_server *us, int *err)
{
	struct upstream_set *ups = us->us_set;
	struct upconn *up;
	int fd, one = 1;
	bool done;

	if (us->us_addrlen == 0) {
		*err = EHOSTUNREACH;
		return NULL;
	}
	fd = socket(us->us_addr.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE) &&
	    ups->ups_spare != NULL && ups->ups_spare(ups->ups_spare_arg) == 0)
		fd = socket(us->us_addr.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&us->us_addr, us->us_addrlen) == 0)
		done = true;
	else if (errno == EINPROGRESS)
		done = upconn_established(fd);
	else {
		*err = errno;
		close(fd);
		return NULL;
	}
	if ((up = calloc(1, sizeof *up)) == NULL) {
		*err = ENOMEM;
		close(fd);
		return NULL;
	}
	conn_init(&up->up_conn, ups->ups_base, fd, upconn_conn_cb);
	up->up_server = us;
	up->up_state = UPCONN_CONNECTING;
	deadline_timer_init(&up->up_timer, ups->ups_base, upconn_idle_cb, up);
	us->us_active++;
	if (!done) {
		if (conn_connect_wait(&up->up_conn) != 0)
			goto nomem;
	} else if (us->us_group->tls) {
		if (upconn_tls_start(up) != 0)
			goto nomem;
	} else {
		up->up_state = UPCONN_ACTIVE;
		conn_want_read(&up->up_conn, true);
	}
	return up;
nomem:
	*err = ENOMEM;
	upconn_free(up);
	return NULL;
}

/* Whether the connection is connected (not still connecting). */
bool
upstream_connected(const struct upconn *up)
{
	return up->up_state == UPCONN_ACTIVE;
}

/* Give a connection to the request it now carries. */
void
upstream_attach(struct upconn *up, upstream_cb cb, void *arg)
{
	up->up_cb = cb;
	up->up_arg = arg;
}

/*
 * The request is done with a connection.  With reuse (a response that
 * ended cleanly, nothing left to send) it goes back to its server's pool;
 * otherwise, and when the pool is full, it is closed at once.
 */
void
upstream_release(struct upconn *up, bool reuse)
{
	struct upstream_server *us = up->up_server;
	const struct config_upstream *cu = us->us_group;

	up->up_cb = NULL;
	up->up_arg = NULL;
	if (!reuse || up->up_state != UPCONN_ACTIVE ||
	    conn_pending(&up->up_conn) > 0 || us->us_nidle >= cu->keepalive) {
		upconn_free(up);
		return;
	}
	us->us_active--;
	conn_want_read(&up->up_conn, true);	/* a close while idle is noticed */
	up->up_state = UPCONN_IDLE;
	TAILQ_INSERT_HEAD(&us->us_idle, up, up_entry);
	us->us_nidle++;
	/*
	 * The idle timeout is kept lazily: stamp the time, and set the timer
	 * only if it is not already set; when it fires it checks the stamp
	 * and sets itself for the rest.  No timer work per request.
	 */
	up->up_idle_since = deadline_now_cached();
	if (cu->keepalive_idle_ms > 0 &&
	    deadline_timer_when(&up->up_timer) == DEADLINE_NEVER)
		deadline_timer_set(&up->up_timer, up->up_idle_since +
		    (int64_t)cu->keepalive_idle_ms * 1000);
}

/* Send iov, queueing what the socket does not take. */
int
upstream_send(struct upconn *up, const struct iovec *iov, int n)
{
	return conn_send(&up->up_conn, iov, n);
}

/* Bytes a send left behind. */
size_t
upstream_pending(const struct upconn *up)
{
	return conn_pending(&up->up_conn);
}

/* Read what the server sent. */
ssize_t
upstream_recv(struct upconn *up, void *buf, size_t len)
{
	return conn_read(&up->up_conn, buf, len);
}

/* Start or stop reading (backpressure from a slow client). */
void
upstream_want_read(struct upconn *up, bool on)
{
	conn_want_read(&up->up_conn, on);
}

/* The connection's stream, for a tunnel. */
struct conn *
upstream_conn(struct upconn *up)
{
	return &up->up_conn;
}

/*
 * News of the connection's stream.  An idle pooled connection that turns
 * readable (EOF or stray bytes) is done; a connect that completed starts
 * reading; everything else goes to the request it carries.
 */
static void
upconn_conn_cb(struct conn *c, enum conn_event ev, int err)
{
	struct upconn *up = (struct upconn *)(void *)c;
	enum upstream_event uev;

	if (up->up_state == UPCONN_IDLE) {
		upconn_free(up);
		return;
	}
	deadline_now_refresh();
	switch (ev) {
	case CONN_CONNECTED:
		if (up->up_server->us_group->tls) {
			if (upconn_tls_start(up) != 0 && up->up_cb != NULL)
				up->up_cb(up->up_arg, UPSTREAM_CONNFAIL,
				    ENOMEM);
			return;
		}
		/* FALLTHROUGH */
	case CONN_TLS_READY:
		up->up_state = UPCONN_ACTIVE;
		conn_want_read(c, true);
		uev = UPSTREAM_CONNECTED;
		break;
	case CONN_TLSFAIL:
		uev = UPSTREAM_TLSFAIL;
		break;
	case CONN_CONNFAIL:
		uev = UPSTREAM_CONNFAIL;
		break;
	case CONN_READABLE:
		uev = UPSTREAM_READABLE;
		break;
	case CONN_WROTE:
		uev = UPSTREAM_WROTE;
		break;
	case CONN_DRAINED:
		uev = UPSTREAM_DRAINED;
		break;
	default:
		uev = UPSTREAM_WRFAIL;
		break;
	}
	if (up->up_cb != NULL)
		up->up_cb(up->up_arg, uev, err);
}

/*
 * The lazy pool idle timer fired: close the connection if it has idled
 * keepalive_idle since it went into the pool, else wait for the rest.  A
 * connection carrying a request lets the timer lapse.
 */
static void
upconn_idle_cb(struct deadline_timer *tm, void *arg)
{
	struct upconn *up = arg;
	int64_t end;

	if (up->up_state != UPCONN_IDLE)
		return;
	end = up->up_idle_since +
	    (int64_t)up->up_server->us_group->keepalive_idle_ms * 1000;
	if (deadline_now_cached() >= end) {
		upconn_free(up);
		return;
	}
	deadline_timer_set(tm, end);
}

/* Close a connection and free it, unlinking it from its pool. */
static void
upconn_free(struct upconn *up)
{
	struct upstream_server *us = up->up_server;

	if (up->up_state == UPCONN_IDLE) {
		TAILQ_REMOVE(&us->us_idle, up, up_entry);
		us->us_nidle--;
	} else
		us->us_active--;
	deadline_timer_stop(&up->up_timer);
	conn_close(&up->up_conn);
	free(up);
}
