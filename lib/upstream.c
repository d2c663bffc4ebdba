/*
 * upstream.c: upstream servers, their pools of idle keep-alive connections,
 * and non-blocking connects.
 *
 * Names are resolved asynchronously with evdns (which also reads
 * /etc/hosts), so the loop never blocks on the resolver.
 */
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

#include "log.h"
#include "proxy_impl.h"

static void	upconn_read_cb(evutil_socket_t, short, void *);
static void	upconn_write_cb(evutil_socket_t, short, void *);
static void	upconn_idle_cb(evutil_socket_t, short, void *);
static void	upconn_free(struct upconn *);
static void	upstream_set_free(struct upstream_set *);

/* Take a numeric host at once; names go to the asynchronous resolver. */
static bool
upstream_numeric(struct upstream_server *us)
{
	const struct config_addr *a = &us->us_cfg->addr;
	struct sockaddr_in *in = (struct sockaddr_in *)&us->us_addr;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&us->us_addr;

	if (inet_pton(AF_INET, a->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		us->us_addrlen = sizeof *in;
		return true;
	}
	if (inet_pton(AF_INET6, a->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		us->us_addrlen = sizeof *in6;
		return true;
	}
	return false;
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
	struct timeval tv;

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
	if (cu->resolve_interval_ms > 0) {
		tv.tv_sec = cu->resolve_interval_ms / 1000;
		tv.tv_usec = (cu->resolve_interval_ms % 1000) * 1000;
		evtimer_add(&us->us_resolve_ev, &tv);
	}
}

/* Ask the resolver for a server's name; never blocks the loop. */
static void
upstream_resolve(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_server *us = arg;
	struct evutil_addrinfo hints;
	char port[8];

	(void)fd;
	(void)what;
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
upstream_set_new(struct event_base *base, struct config *cfg, char *err,
    size_t errlen)
{
	struct upstream_set *ups;

	if ((ups = calloc(1, sizeof *ups)) == NULL)
		goto nomem;
	ups->ups_refs = 1;
	ups->ups_base = base;
	ups->ups_ngroups = cfg->nupstreams;
	ups->ups_groups = calloc(cfg->nupstreams + 1, sizeof *ups->ups_groups);
	if (ups->ups_groups == NULL)
		goto nomem;
	ups->ups_cfg = config_ref(cfg);
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
			evtimer_assign(&us[i].us_resolve_ev, base,
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
			upstream_resolve(-1, 0, us);
		}
	}
	return ups;
nomem:
	snprintf(err, errlen, "out of memory");
	upstream_set_free(ups);
	return NULL;
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
			evtimer_del(&us[i].us_resolve_ev);
			if (us[i].us_dnsreq != NULL)
				evdns_getaddrinfo_cancel(us[i].us_dnsreq);
		}
	}
	if (ups->ups_dns != NULL)
		evdns_base_free(ups->ups_dns, 0);
	for (size_t g = 0; g < ups->ups_ngroups && ups->ups_groups[g]; g++)
		free(ups->ups_groups[g]);
	free(ups->ups_groups);
	if (ups->ups_cfg != NULL)
		config_unref(ups->ups_cfg);
	free(ups);
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

/*
 * Choose a server of the route's upstream: smooth weighted round robin
 * (nginx's), or the fewest active connections per weight.  Servers in
 * tried (a bit per index) are avoided while another is eligible.  NULL
 * with *why set when every server is down.
 */
struct upstream_server *
upstream_pick(struct upstream_set *ups, const struct config_route *route,
    uint64_t tried, const char **why)
{
	const struct config_upstream *cu = route->upstream;
	size_t g = (size_t)(cu - ups->ups_cfg->upstreams);
	struct upstream_server *us, *best = NULL;
	int64_t now = deadline_now_cached();
	int total = 0;

	if (g >= ups->ups_ngroups || cu->nservers == 0) {
		*why = "the upstream has no server";
		return NULL;
	}
	us = ups->ups_groups[g];
	for (int pass = 0; pass < 2 && best == NULL; pass++) {
		total = 0;
		for (size_t i = 0; i < cu->nservers; i++) {
			if (!upstream_eligible(&us[i], now))
				continue;
			if (pass == 0 && i < 64 && (tried & (1ULL << i)))
				continue;
			if (cu->balance == CONFIG_BALANCE_LEAST_CONN) {
				/* active/weight, compared without division */
				if (best == NULL || (uint64_t)us[i].us_active *
				    best->us_cfg->weight < (uint64_t)
				    best->us_active * us[i].us_cfg->weight)
					best = &us[i];
				continue;
			}
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
	if (cu->balance == CONFIG_BALANCE_ROUND_ROBIN)
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

/* Add or delete an event whose state is in *state, only on a change. */
static void
upconn_event(struct event *ev, bool *state, bool on)
{
	if (on == *state)
		return;
	*state = on;
	if (on)
		event_add(ev, NULL);
	else
		event_del(ev);
}

/* Start or stop waiting for the connection to be readable. */
static void
upconn_read(struct upconn *up, bool on)
{
	upconn_event(&up->up_rev, &up->up_reading, on);
}

/* Start or stop waiting for the connection to be writable. */
static void
upconn_write(struct upconn *up, bool on)
{
	upconn_event(&up->up_wev, &up->up_writing, on);
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
upstream_connect(struct proxy *px, struct upstream_server *us, int *err)
{
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
	    proxy_reserve_use(px) == 0)
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
	up->up_fd = fd;
	up->up_out.b_pool = BUF_POOL_HELD;
	up->up_server = us;
	up->up_proxy = px;
	event_assign(&up->up_rev, px->px_base, fd, EV_READ | EV_PERSIST,
	    upconn_read_cb, up);
	event_assign(&up->up_wev, px->px_base, fd, EV_WRITE | EV_PERSIST,
	    upconn_write_cb, up);
	evtimer_assign(&up->up_timer, px->px_base, upconn_idle_cb, up);
	if (done) {
		up->up_state = UPCONN_ACTIVE;
		upconn_read(up, true);
	} else {
		up->up_state = UPCONN_CONNECTING;
		upconn_write(up, true);
	}
	us->us_active++;
	return up;
}

/* Whether the connection is connected (not still connecting). */
bool
upstream_connected(const struct upconn *up)
{
	return up->up_state == UPCONN_ACTIVE;
}

/* Bind a connection to the request it now carries. */
void
upstream_attach(struct upconn *up, struct request *rq)
{
	up->up_req = rq;
	up->up_nreq++;
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

	up->up_req = NULL;
	if (!reuse || up->up_state != UPCONN_ACTIVE || buf_used(&up->up_out) ||
	    us->us_nidle >= cu->keepalive) {
		upconn_free(up);
		return;
	}
	us->us_active--;
	buf_release(&up->up_out);
	upconn_write(up, false);
	upconn_read(up, true);		/* a close while idle is noticed */
	up->up_state = UPCONN_IDLE;
	TAILQ_INSERT_HEAD(&us->us_idle, up, up_entry);
	us->us_nidle++;
	/*
	 * The idle timeout is kept lazily: stamp the time, and arm the timer
	 * only if it is not already running; when it fires it checks the
	 * stamp and re-arms for the rest.  No timer work per request.
	 */
	up->up_idle_since = deadline_now_cached();
	if (cu->keepalive_idle_ms > 0 && !up->up_timing) {
		struct timeval tv = {
			.tv_sec = cu->keepalive_idle_ms / 1000,
			.tv_usec = (cu->keepalive_idle_ms % 1000) * 1000,
		};

		up->up_timing = true;
		evtimer_add(&up->up_timer, &tv);
	}
}

/*
 * Send iov now as far as the socket takes it; what is left is kept and
 * sent when the socket is writable (UPEV_DRAINED follows).  -1 on error.
 */
int
upstream_send(struct upconn *up, const struct iovec *iov, int n)
{
	int r = buf_send(up->up_fd, &up->up_out, iov, n);

	if (r > 0)
		upconn_write(up, true);
	return r < 0 ? -1 : 0;
}

/* Start or stop reading (backpressure from a slow client). */
void
upstream_want_read(struct upconn *up, bool on)
{
	upconn_read(up, on);
}

/* Readable: the request reads; an idle pooled connection was closed. */
static void
upconn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upconn *up = arg;

	(void)fd;
	(void)what;
	if (up->up_state == UPCONN_IDLE) {
		/* EOF or stray bytes on an idle connection: it is done. */
		upconn_free(up);
		return;
	}
	deadline_now_refresh();
	if (up->up_req != NULL)
		request_upstream_event(up->up_req, UPEV_READABLE, 0);
}

/* Writable: a connect completed, or queued bytes can go. */
static void
upconn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upconn *up = arg;
	socklen_t len = sizeof(int);
	ssize_t w;
	int err = 0;

	(void)what;
	deadline_now_refresh();
	if (up->up_state == UPCONN_CONNECTING) {
		upconn_write(up, false);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			request_upstream_event(up->up_req, UPEV_CONNFAIL, err);
			return;
		}
		up->up_state = UPCONN_ACTIVE;
		upconn_read(up, true);
		request_upstream_event(up->up_req, UPEV_CONNECTED, 0);
		return;
	}
	do
		w = write(fd, up->up_out.b_data + up->up_out.b_off,
		    buf_used(&up->up_out));
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno == EAGAIN)
		return;
	if (w < 0) {
		upconn_write(up, false);
		request_upstream_event(up->up_req, UPEV_WRFAIL, errno);
		return;
	}
	up->up_out.b_off += (uint32_t)w;
	if (buf_used(&up->up_out) == 0) {
		buf_release(&up->up_out);
		upconn_write(up, false);
		request_upstream_event(up->up_req, UPEV_DRAINED, 0);
	}
}

/*
 * The lazy pool idle timer fired: close the connection if it has idled
 * keepalive_idle since it went into the pool, else wait for the rest.  A
 * connection carrying a request lets the timer lapse.
 */
static void
upconn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct upconn *up = arg;
	int64_t len, left;
	struct timeval tv;

	(void)fd;
	(void)what;
	up->up_timing = false;
	if (up->up_state != UPCONN_IDLE)
		return;
	len = (int64_t)up->up_server->us_group->keepalive_idle_ms * 1000;
	left = up->up_idle_since + len - deadline_now_refresh();
	if (left <= 0) {
		upconn_free(up);
		return;
	}
	tv.tv_sec = left / 1000000;
	tv.tv_usec = left % 1000000;
	up->up_timing = true;
	evtimer_add(&up->up_timer, &tv);
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
	upconn_read(up, false);
	upconn_write(up, false);
	if (up->up_timing)
		evtimer_del(&up->up_timer);
	buf_release(&up->up_out);
	close(up->up_fd);
	free(up);
}
