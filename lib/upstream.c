/*
 * upstream.c: upstream servers, their pools of idle keep-alive connections,
 * and non-blocking connects.
 *
 * Names are resolved when a configuration is loaded into a proxy.
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

#include "log.h"
#include "proxy_impl.h"

static void	upconn_read_cb(evutil_socket_t, short, void *);
static void	upconn_write_cb(evutil_socket_t, short, void *);
static void	upconn_idle_cb(evutil_socket_t, short, void *);
static void	upconn_free(struct upconn *);

/* Resolve a server's address; numeric hosts never touch the resolver. */
static int
upstream_resolve(struct upstream_server *us, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	char port[8];
	int r;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(port, sizeof port, "%u", us->us_cfg->addr.port);
	r = getaddrinfo(us->us_cfg->addr.host, port, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "%s: %s", us->us_name, gai_strerror(r));
		return -1;
	}
	memcpy(&us->us_addr, res->ai_addr, res->ai_addrlen);
	us->us_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Build the servers of every upstream of cfg (a reference is taken).  A
 * name that does not resolve leaves its server without an address, so that
 * requests to it end in error:connect; that is logged, not fatal.
 */
struct upstream_set *
upstream_set_new(struct config *cfg, char *err, size_t errlen)
{
	struct upstream_set *ups;
	char why[256];

	if ((ups = calloc(1, sizeof *ups)) == NULL)
		goto nomem;
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
			us[i].us_name = cu->servers[i].addr.text;
			TAILQ_INIT(&us[i].us_idle);
			if (upstream_resolve(&us[i], why, sizeof why) != 0)
				log_err("upstream %s: cannot resolve %s",
				    cu->name, why);
		}
	}
	return ups;
nomem:
	snprintf(err, errlen, "out of memory");
	upstream_set_free(ups);
	return NULL;
}

/* Close every pooled connection and free the set. */
void
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
		}
		free(us);
	}
	free(ups->ups_groups);
	if (ups->ups_cfg != NULL)
		config_unref(ups->ups_cfg);
	free(ups);
}

/* The server for a request on route: the group's first server for now. */
struct upstream_server *
upstream_pick(struct upstream_set *ups, const struct config_route *route)
{
	size_t g = (size_t)(route->upstream - ups->ups_cfg->upstreams);

	if (g >= ups->ups_ngroups || route->upstream->nservers == 0)
		return NULL;
	return &ups->ups_groups[g][0];
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
	evtimer_del(&up->up_timer);
	up->up_state = UPCONN_ACTIVE;
	us->us_active++;
	return up;
}

/*
 * Start a non-blocking connect.  The request hears UPEV_CONNECTED or
 * UPEV_CONNFAIL from the loop.  NULL with *err set when it fails at once.
 */
struct upconn *
upstream_connect(struct proxy *px, struct upstream_server *us, int *err)
{
	struct upconn *up;
	int fd, one = 1;

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
	if (connect(fd, (struct sockaddr *)&us->us_addr, us->us_addrlen) != 0 &&
	    errno != EINPROGRESS) {
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
	up->up_server = us;
	up->up_proxy = px;
	up->up_state = UPCONN_CONNECTING;
	event_assign(&up->up_rev, px->px_base, fd, EV_READ | EV_PERSIST,
	    upconn_read_cb, up);
	event_assign(&up->up_wev, px->px_base, fd, EV_WRITE | EV_PERSIST,
	    upconn_write_cb, up);
	evtimer_assign(&up->up_timer, px->px_base, upconn_idle_cb, up);
	event_add(&up->up_wev, NULL);
	us->us_active++;
	return up;
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
	event_del(&up->up_wev);
	event_add(&up->up_rev, NULL);	/* a close while idle is noticed */
	up->up_state = UPCONN_IDLE;
	TAILQ_INSERT_HEAD(&us->us_idle, up, up_entry);
	us->us_nidle++;
	if (cu->keepalive_idle_ms > 0) {
		struct timeval tv = {
			.tv_sec = cu->keepalive_idle_ms / 1000,
			.tv_usec = (cu->keepalive_idle_ms % 1000) * 1000,
		};
		if (us->us_idle_tv == NULL)
			us->us_idle_tv = event_base_init_common_timeout(
			    up->up_proxy->px_base, &tv);
		evtimer_add(&up->up_timer, us->us_idle_tv ? us->us_idle_tv :
		    &tv);
	}
}

/*
 * Send iov now as far as the socket takes it; what is left is kept and
 * sent when the socket is writable (UPEV_DRAINED follows).  -1 on error.
 */
int
upstream_send(struct upconn *up, const struct iovec *iov, int n)
{
	ssize_t w;
	size_t total = 0, off;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (buf_used(&up->up_out) > 0)
		w = 0;		/* keep the order: queue behind what waits */
	else {
		do
			w = writev(up->up_fd, iov, n);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN)
			return -1;
		if (w < 0)
			w = 0;
	}
	if ((size_t)w == total)
		return 0;
	/* Keep the rest. */
	if (buf_grow(&up->up_out, buf_used(&up->up_out) + (total - w)) != 0) {
		errno = ENOMEM;
		return -1;
	}
	buf_compact(&up->up_out);
	off = (size_t)w;
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;

		if (off >= len) {
			off -= len;
			continue;
		}
		memcpy(up->up_out.b_data + up->up_out.b_len,
		    (const char *)iov[i].iov_base + off, len - off);
		up->up_out.b_len += len - off;
		off = 0;
	}
	event_add(&up->up_wev, NULL);
	return 0;
}

/* Start or stop reading (backpressure from a slow client). */
void
upstream_want_read(struct upconn *up, bool on)
{
	if (on)
		event_add(&up->up_rev, NULL);
	else
		event_del(&up->up_rev);
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
		event_del(&up->up_wev);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err != 0) {
			request_upstream_event(up->up_req, UPEV_CONNFAIL, err);
			return;
		}
		up->up_state = UPCONN_ACTIVE;
		event_add(&up->up_rev, NULL);
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
		event_del(&up->up_wev);
		request_upstream_event(up->up_req, UPEV_WRFAIL, errno);
		return;
	}
	up->up_out.b_off += (uint32_t)w;
	if (buf_used(&up->up_out) == 0) {
		buf_release(&up->up_out);
		event_del(&up->up_wev);
		request_upstream_event(up->up_req, UPEV_DRAINED, 0);
	}
}

/* A pooled connection idled past keepalive_idle. */
static void
upconn_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	upconn_free(arg);
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
	event_del(&up->up_rev);
	event_del(&up->up_wev);
	evtimer_del(&up->up_timer);
	buf_release(&up->up_out);
	close(up->up_fd);
	free(up);
}
