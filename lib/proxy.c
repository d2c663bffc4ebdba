/*
 * proxy.c: the proxy of one event loop: its configuration, listeners,
 * clients, upstream servers and descriptor reserve.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy_impl.h"

unsigned proxy_clients_all;

/* The accept pause is over: refill the reserve and accept again. */
static void
proxy_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *px = arg;

	(void)fd;
	(void)what;
	proxy_reserve_fill(px);
	listener_pause_all(px, false);
}

/*
 * No request has run for a second: give the recycled requests, the cached
 * buffers and the heap's free memory back to the system, so that RSS
 * returns near its start after a load goes away.
 */
static void
proxy_trim(evutil_socket_t fd, short what, void *arg)
{
	struct proxy *px = arg;

	(void)fd;
	(void)what;
	if (px->px_counts.in_flight != 0)
		return;
	slab_trim(px->px_req_slab);
	slab_trim(px->px_client_slab);
	buf_cache_drain();
	malloc_trim(0);
}

/*
 * No request is running (idle keep-alive connections hold no buffer):
 * give the cached buffers back in a second, unless requests come back.
 */
void
proxy_idle(struct proxy *px)
{
	struct timeval tv = { 1, 0 };

	if (!evtimer_pending(&px->px_trim, NULL))
		evtimer_add(&px->px_trim, &tv);
}

/* Open spare descriptors, up to the reserve's size. */
void
proxy_reserve_fill(struct proxy *px)
{
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] < 0)
			px->px_reserve[i] = open("/dev/null",
			    O_RDONLY | O_CLOEXEC);
}

/* Give one spare descriptor back to the system; -1 when none is left. */
int
proxy_reserve_use(struct proxy *px)
{
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] >= 0) {
			close(px->px_reserve[i]);
			px->px_reserve[i] = -1;
			return 0;
		}
	return -1;
}

/* Make a proxy for one event loop. */
struct proxy *
proxy_new(struct event_base *base, struct config *cfg,
    struct accesslog *alog, char *err, size_t errlen)
{
	struct proxy *px;

	if ((px = calloc(1, sizeof *px)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	px->px_base = base;
	px->px_alog = alog;
	TAILQ_INIT(&px->px_listeners);
	TAILQ_INIT(&px->px_clients);
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		px->px_reserve[i] = -1;
	evtimer_assign(&px->px_accept_pause, base, proxy_accept_resume, px);
	evtimer_assign(&px->px_trim, base, proxy_trim, px);
	if ((px->px_metrics = metrics_new()) == NULL ||
	    (px->px_client_slab = slab_new(sizeof(struct client), 1,
	    true)) == NULL ||
	    (px->px_req_slab = slab_new(sizeof(struct request), 4,
	    false)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((px->px_ups = upstream_set_new(base, cfg, err, errlen)) == NULL)
		goto fail;
	px->px_cfg = config_ref(cfg);
	proxy_reserve_fill(px);
	return px;
fail:
	metrics_free(px->px_metrics);
	slab_free(px->px_client_slab);
	slab_free(px->px_req_slab);
	free(px);
	return NULL;
}

/* Listen on every address of the configuration, or on like's sockets. */
int
proxy_listen(struct proxy *px, const struct proxy *like, char *err,
    size_t errlen)
{
	const struct listener *l = NULL;

	if (like != NULL) {
		TAILQ_FOREACH(l, &like->px_listeners, ls_entry) {
			struct config_addr a = { .text = (char *)l->ls_cfg };

			if (listener_open(px, &a, l, err, errlen) != 0)
				return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < px->px_cfg->nlisten; i++)
		if (listener_open(px, &px->px_cfg->listen[i], NULL, err,
		    errlen) != 0)
			return -1;
	return 0;
}

/* Accept on sockets passed by systemd; each is duplicated for this proxy. */
int
proxy_adopt(struct proxy *px, const int *fds, int nfds, char *err,
    size_t errlen)
{
	for (int i = 0; i < nfds; i++) {
		int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			snprintf(err, errlen, "dup of passed socket %d: %s",
			    fds[i], strerror(errno));
			return -1;
		}
		if (listener_adopt(px, fd, err, errlen) != 0)
			return -1;
	}
	return 0;
}

/* Whether cfg still lists a listen address. */
static bool
proxy_listed(const struct config *cfg, const char *text)
{
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (strcmp(cfg->listen[i].text, text) == 0)
			return true;
	return false;
}

/*
 * Serve a new configuration.  New requests use it; requests in flight hold
 * references to the old configuration and upstream set, which go away with
 * the last of them.
 */
int
proxy_reload(struct proxy *px, struct config *cfg, char *err, size_t errlen)
{
	struct upstream_set *ups;
	struct listener *ls, *next;
	bool adopted = false, found;
	int rc = 0;

	if ((ups = upstream_set_new(px->px_base, cfg, err, errlen)) == NULL)
		return -1;
	upstream_set_adopt(ups, px->px_ups);
	upstream_set_unref(px->px_ups);
	px->px_ups = ups;
	config_unref(px->px_cfg);
	px->px_cfg = config_ref(cfg);

	/* Listeners follow the file, unless systemd passed them. */
	TAILQ_FOREACH(ls, &px->px_listeners, ls_entry)
		if (ls->ls_cfg[0] == '\0')
			adopted = true;
	if (adopted || px->px_draining)
		return 0;
	for (ls = TAILQ_FIRST(&px->px_listeners); ls != NULL; ls = next) {
		next = TAILQ_NEXT(ls, ls_entry);
		if (!proxy_listed(cfg, ls->ls_cfg)) {
			log_info("no longer listening on %s", ls->ls_name);
			listener_close(ls);
		}
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		found = false;
		TAILQ_FOREACH(ls, &px->px_listeners, ls_entry)
			if (strcmp(ls->ls_cfg, cfg->listen[i].text) == 0)
				found = true;
		if (!found && listener_open(px, &cfg->listen[i], NULL, err,
		    errlen) != 0)
			rc = -1;
	}
	return rc;
}

/*
 * Drain: no new connections; idle ones close now; requests in flight get
 * the drain scope, and their connections close when they end.
 */
void
proxy_drain(struct proxy *px, int64_t drain_at, void (*done)(void *),
    void *arg)
{
	struct listener *ls;
	struct client *cl, *next;

	px->px_draining = true;
	px->px_drain_at = drain_at;
	px->px_drained = done;
	px->px_drained_arg = arg;
	while ((ls = TAILQ_FIRST(&px->px_listeners)) != NULL)
		listener_close(ls);
	evtimer_del(&px->px_accept_pause);
	upstream_set_close_idle(px->px_ups);
	deadline_now_refresh();
	for (cl = TAILQ_FIRST(&px->px_clients); cl != NULL; cl = next) {
		next = TAILQ_NEXT(cl, cl_entry);
		if (cl->cl_req == NULL) {
			client_close(cl, "draining");
			continue;
		}
		cl->cl_req->rq_close = true;
		cl->cl_req->rq_drain_at = drain_at;
		deadline_open_at(&cl->cl_req->rq_task, SCOPE_DRAIN, drain_at);
	}
	if (px->px_counts.clients == 0 && px->px_drained != NULL) {
		px->px_drained = NULL;
		done(arg);
	}
}

/* Switch the access-log writer; the caller closes the old one. */
void
proxy_set_accesslog(struct proxy *px, struct accesslog *alog)
{
	px->px_alog = alog;
}

/* Close everything and free the proxy. */
void
proxy_free(struct proxy *px)
{
	struct listener *ls;
	struct client *cl;

	if (px == NULL)
		return;
	while ((ls = TAILQ_FIRST(&px->px_listeners)) != NULL)
		listener_close(ls);
	while ((cl = TAILQ_FIRST(&px->px_clients)) != NULL)
		client_close(cl, "shutting down");
	evtimer_del(&px->px_accept_pause);
	evtimer_del(&px->px_trim);
	upstream_set_unref(px->px_ups);
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] >= 0)
			close(px->px_reserve[i]);
	config_unref(px->px_cfg);
	metrics_free(px->px_metrics);
	slab_free(px->px_client_slab);
	slab_free(px->px_req_slab);
	buf_cache_drain();
	free(px);
}

/* Add what this worker knows to a metrics snapshot, on its thread. */
void
proxy_snapshot(struct proxy *px, struct metrics_snapshot *snap)
{
	static const enum metrics_conn_state states[CLIENT_CLOSED] = {
		[CLIENT_IDLE] = METRICS_CONN_IDLE,
		[CLIENT_HEAD] = METRICS_CONN_READING,
		[CLIENT_BUSY] = METRICS_CONN_ACTIVE,
		[CLIENT_LINGER] = METRICS_CONN_CLOSING,
	};
	uint64_t count[CLIENT_CLOSED] = { 0 };
	struct upstream_set *ups = px->px_ups;
	const struct client *cl;
	int64_t now = deadline_now_refresh();

	metrics_snapshot_add(snap, px->px_metrics);
	TAILQ_FOREACH(cl, &px->px_clients, cl_entry)
		if (cl->cl_state < CLIENT_CLOSED)
			count[cl->cl_state]++;
	for (int i = 0; i < CLIENT_CLOSED; i++)
		metrics_snapshot_connections(snap, states[i], count[i]);
	for (size_t g = 0; g < ups->ups_ngroups; g++) {
		const struct config_upstream *cu = &ups->ups_cfg->upstreams[g];

		for (size_t i = 0; i < cu->nservers; i++) {
			const struct upstream_server *us = &ups->ups_groups[g][i];

			metrics_snapshot_server(snap, cu->name, us->us_name,
			    us->us_down_until == 0 || now >= us->us_down_until,
			    us->us_tries, us->us_failures, us->us_active,
			    us->us_nidle);
		}
	}
	metrics_snapshot_deadline(snap, deadline_stats_local());
}

/* A copy of the proxy's counters, read from any thread. */
void
proxy_counts(const struct proxy *px, struct proxy_counts *c)
{
	c->requests = __atomic_load_n(&px->px_counts.requests, __ATOMIC_RELAXED);
	c->connections = __atomic_load_n(&px->px_counts.connections,
	    __ATOMIC_RELAXED);
	c->timeouts = __atomic_load_n(&px->px_counts.timeouts,
	    __ATOMIC_RELAXED);
	c->clients = __atomic_load_n(&px->px_counts.clients, __ATOMIC_RELAXED);
	c->in_flight = __atomic_load_n(&px->px_counts.in_flight,
	    __ATOMIC_RELAXED);
}
