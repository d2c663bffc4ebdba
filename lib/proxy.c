/*
 * proxy.c: the proxy of one event loop: its configuration, listeners,
 * clients, upstream servers and descriptor reserve; see proxy.h.
 *
 * The proxy owns a struct proxy_ctx that it lends its clients and their
 * requests (proxy_ctx.h); they tell it that the last request or the last
 * client is gone through its pc_idle hook, the one place that gives memory
 * back and completes a drain.
 */
#include <sys/random.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "deadline.h"
#include "listener.h"
#include "log.h"
#include "proxy_ctx.h"
#include "request.h"

#define ACCEPT_PAUSE_MS	1000	/* accepts pause this long out of descriptors */
#define TRIM_MS		1000	/* memory goes back this long after the last
				   request */

/* The per-thread proxy. */
struct proxy {
	struct proxy_ctx px_ctx;		/* first: the ctx's pointer is
						   the proxy's */
	struct listener **px_ls;
	size_t		 px_nls;
	size_t		 px_capls;
	int		 px_reserve[4];		/* spare fds for upstream legs */
	struct deadline_timer px_accept_pause;	/* accept backoff */
	struct deadline_timer px_trim;		/* give memory back when idle */
	bool		 px_accept_paused;
	void		(*px_drained)(void *);
	void		*px_drained_arg;
};

unsigned proxy_clients_all;

static void	proxy_accept(void *, struct listener *, int,
		    const struct sockaddr *, socklen_t);
static void	proxy_accept_error(void *, struct listener *, int);

/* Pause or resume accepting on every listener. */
static void
proxy_pause_accepts(struct proxy *px, bool pause)
{
	px->px_accept_paused = pause;
	for (size_t i = 0; i < px->px_nls; i++)
		listener_pause(px->px_ls[i], pause);
}

/* Open spare descriptors, up to the reserve's size. */
static void
proxy_reserve_fill(struct proxy *px)
{
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] < 0)
			px->px_reserve[i] = open("/dev/null",
			    O_RDONLY | O_CLOEXEC);
}

/* Give one spare descriptor back to the system; -1 when none is left. */
static int
proxy_reserve_use(void *arg)
{
	struct proxy *px = arg;

	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] >= 0) {
			close(px->px_reserve[i]);
			px->px_reserve[i] = -1;
			return 0;
		}
	return -1;
}

/* The accept pause is over: refill the reserve and accept again. */
static void
proxy_accept_resume(struct deadline_timer *tm, void *arg)
{
	struct proxy *px = arg;

	(void)tm;
	proxy_reserve_fill(px);
	proxy_pause_accepts(px, false);
}

/*
 * No request has run for a second: give the recycled requests, the cached
 * buffers and the heap's free memory back to the system, so that RSS
 * returns near its start after a load goes away.
 */
static void
proxy_trim(struct deadline_timer *tm, void *arg)
{
	struct proxy *px = arg;

	(void)tm;
	if (px->px_ctx.pc_counts.in_flight != 0)
		return;
	slab_trim(px->px_ctx.pc_req_slab);
	slab_trim(px->px_ctx.pc_rqh_slab);
	slab_trim(px->px_ctx.pc_client_slab);
	buf_cache_drain();
	malloc_trim(0);
}

/* The drain is complete when no client is left: tell the owner, once. */
static void
proxy_drain_check(struct proxy *px)
{
	void (*done)(void *) = px->px_drained;

	if (!px->px_ctx.pc_draining || px->px_ctx.pc_counts.clients != 0 ||
	    done == NULL)
		return;
	px->px_drained = NULL;
	done(px->px_drained_arg);
}

/*
 * The hook clients and requests call when the last request or the last
 * client is gone: memory goes back in a second unless requests come back
 * (idle keep-alive connections hold no buffer); a drain may be complete.
 */
static void
proxy_idle(struct proxy_ctx *ctx)
{
	struct proxy *px = (struct proxy *)(void *)ctx;

	if (deadline_timer_when(&px->px_trim) == DEADLINE_NEVER)
		deadline_timer_set(&px->px_trim, deadline_now_cached() +
		    TRIM_MS * 1000);
	proxy_drain_check(px);
}

/* Make a proxy for one event loop. */
struct proxy *
proxy_new(struct event_base *base, struct config *cfg,
    struct accesslog *alog, char *err, size_t errlen)
{
	struct proxy *px;
	struct proxy_ctx *ctx;

	if ((px = calloc(1, sizeof *px)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ctx = &px->px_ctx;
	ctx->pc_base = base;
	ctx->pc_alog = alog;
	ctx->pc_idle = proxy_idle;
	if (getrandom(&ctx->pc_next_id, sizeof ctx->pc_next_id, 0) !=
	    (ssize_t)sizeof ctx->pc_next_id)
		ctx->pc_next_id = (uint64_t)deadline_now_refresh() *
		    0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	TAILQ_INIT(&ctx->pc_clients);
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		px->px_reserve[i] = -1;
	deadline_timer_init(&px->px_accept_pause, base, proxy_accept_resume,
	    px);
	deadline_timer_init(&px->px_trim, base, proxy_trim, px);
	if ((ctx->pc_metrics = metrics_new()) == NULL ||
	    (ctx->pc_client_slab = slab_new(client_size(), 1, true)) == NULL ||
	    (ctx->pc_req_slab = slab_new(request_size(), 4, false)) == NULL ||
	    (ctx->pc_rqh_slab = slab_new(request_http_size(), 4, false)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((ctx->pc_ups = upstream_set_new(base, cfg, proxy_reserve_use, px,
	    err, errlen)) == NULL)
		goto fail;
	ctx->pc_cfg = config_ref(cfg);
	proxy_reserve_fill(px);
	return px;
fail:
	metrics_free(ctx->pc_metrics);
	slab_free(ctx->pc_client_slab);
	slab_free(ctx->pc_req_slab);
	slab_free(ctx->pc_rqh_slab);
	free(px);
	return NULL;
}

/* Keep a new listener in the proxy's list. */
static int
proxy_add_listener(struct proxy *px, struct listener *ls, char *err,
    size_t errlen)
{
	struct listener **v;
	size_t cap;

	if (ls == NULL)
		return -1;
	if (px->px_nls == px->px_capls) {
		cap = px->px_capls ? px->px_capls * 2 : 4;
		if ((v = realloc(px->px_ls, cap * sizeof *v)) == NULL) {
			listener_close(ls);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		px->px_ls = v;
		px->px_capls = cap;
	}
	px->px_ls[px->px_nls++] = ls;
	return 0;
}

/* Close the i-th listener and drop it from the list. */
static void
proxy_close_listener(struct proxy *px, size_t i)
{
	listener_close(px->px_ls[i]);
	memmove(&px->px_ls[i], &px->px_ls[i + 1],
	    (px->px_nls - i - 1) * sizeof px->px_ls[0]);
	px->px_nls--;
}

/* Open one listener on a. */
static int
proxy_open_listener(struct proxy *px, const struct config_addr *a,
    const struct listener *like, char *err, size_t errlen)
{
	struct listener_cbs cbs = { proxy_accept, proxy_accept_error, px };

	return proxy_add_listener(px, listener_open(px->px_ctx.pc_base, a,
	    like, &cbs, px->px_accept_paused, err, errlen), err, errlen);
}

/* Listen on every address of the configuration, or on like's sockets. */
int
proxy_listen(struct proxy *px, const struct proxy *like, char *err,
    size_t errlen)
{
	struct config *cfg = px->px_ctx.pc_cfg;

	if (like != NULL) {
		for (size_t i = 0; i < like->px_nls; i++) {
			struct config_addr a = {
			    .text = (char *)listener_config(like->px_ls[i]) };

			if (proxy_open_listener(px, &a, like->px_ls[i], err,
			    errlen) != 0)
				return -1;
		}
		return 0;
	}
	for (size_t i = 0; i < cfg->nlisten; i++)
		if (proxy_open_listener(px, &cfg->listen[i], NULL, err,
		    errlen) != 0)
			return -1;
	return 0;
}

/* Accept on sockets passed by systemd; each is duplicated for this proxy. */
int
proxy_adopt(struct proxy *px, const int *fds, int nfds, char *err,
    size_t errlen)
{
	struct listener_cbs cbs = { proxy_accept, proxy_accept_error, px };

	for (int i = 0; i < nfds; i++) {
		int fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

		if (fd < 0) {
			snprintf(err, errlen, "dup of passed socket %d: %s",
			    fds[i], strerror(errno));
			return -1;
		}
		if (proxy_add_listener(px, listener_adopt(px->px_ctx.pc_base,
		    fd, &cbs, px->px_accept_paused, err, errlen), err,
		    errlen) != 0)
			return -1;
	}
	return 0;
}

/* A listener took a connection: TLS on it when its line says so. */
static void
proxy_accept(void *arg, struct listener *ls, int fd,
    const struct sockaddr *sa, socklen_t len)
{
	struct proxy *px = arg;

	client_accept(&px->px_ctx, fd, sa, len, listener_tls(ls) ?
	    px->px_ctx.pc_cfg->tls_server : NULL);
}

/* accept(2) failed: out of descriptors, every listener pauses a while. */
static void
proxy_accept_error(void *arg, struct listener *ls, int err)
{
	struct proxy *px = arg;

	if (err != EMFILE && err != ENFILE) {
		log_err("accept on %s: %s", listener_name(ls), strerror(err));
		return;
	}
	log_warn("accept on %s: %s: pausing accepts for %d ms",
	    listener_name(ls), strerror(err), ACCEPT_PAUSE_MS);
	proxy_pause_accepts(px, true);
	deadline_timer_set(&px->px_accept_pause, deadline_now_refresh() +
	    ACCEPT_PAUSE_MS * 1000);
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
	struct proxy_ctx *ctx = &px->px_ctx;
	struct upstream_set *ups;
	bool adopted = false, found;
	int rc = 0;

	if ((ups = upstream_set_new(ctx->pc_base, cfg, proxy_reserve_use, px,
	    err, errlen)) == NULL)
		return -1;
	upstream_set_adopt(ups, ctx->pc_ups);
	upstream_set_unref(ctx->pc_ups);
	ctx->pc_ups = ups;
	config_unref(ctx->pc_cfg);
	ctx->pc_cfg = config_ref(cfg);

	/* Listeners follow the file, unless systemd passed them. */
	for (size_t i = 0; i < px->px_nls; i++)
		if (listener_config(px->px_ls[i])[0] == '\0')
			adopted = true;
	if (adopted || ctx->pc_draining)
		return 0;
	for (size_t i = 0; i < px->px_nls;) {
		if (!proxy_listed(cfg, listener_config(px->px_ls[i]))) {
			log_info("no longer listening on %s",
			    listener_name(px->px_ls[i]));
			proxy_close_listener(px, i);
		} else
			i++;
	}
	for (size_t i = 0; i < cfg->nlisten; i++) {
		found = false;
		for (size_t k = 0; k < px->px_nls; k++)
			if (strcmp(listener_config(px->px_ls[k]),
			    cfg->listen[i].text) == 0)
				found = true;
		if (!found && proxy_open_listener(px, &cfg->listen[i], NULL,
		    err, errlen) != 0)
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
	struct proxy_ctx *ctx = &px->px_ctx;

	ctx->pc_draining = true;
	px->px_drained = done;
	px->px_drained_arg = arg;
	while (px->px_nls > 0)
		proxy_close_listener(px, px->px_nls - 1);
	deadline_timer_stop(&px->px_accept_pause);
	upstream_set_close_idle(ctx->pc_ups);
	deadline_now_refresh();
	client_drain_all(ctx, drain_at);
	proxy_drain_check(px);
}

/* Switch the access-log writer; the caller closes the old one. */
void
proxy_set_accesslog(struct proxy *px, struct accesslog *alog)
{
	px->px_ctx.pc_alog = alog;
}

/* Close everything and free the proxy. */
void
proxy_free(struct proxy *px)
{
	struct proxy_ctx *ctx;

	if (px == NULL)
		return;
	ctx = &px->px_ctx;
	while (px->px_nls > 0)
		proxy_close_listener(px, px->px_nls - 1);
	free(px->px_ls);
	px->px_drained = NULL;
	client_close_all(ctx);
	deadline_timer_stop(&px->px_accept_pause);
	deadline_timer_stop(&px->px_trim);
	upstream_set_unref(ctx->pc_ups);
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] >= 0)
			close(px->px_reserve[i]);
	config_unref(ctx->pc_cfg);
	metrics_free(ctx->pc_metrics);
	slab_free(ctx->pc_client_slab);
	slab_free(ctx->pc_req_slab);
	slab_free(ctx->pc_rqh_slab);
	buf_cache_drain();
	free(px);
}

/* Report a server to the snapshot (for upstream_set_walk()). */
static void
proxy_snapshot_server(void *arg, const struct upstream_server_info *i)
{
	metrics_snapshot_server(arg, i->usi_group, i->usi_name, i->usi_up,
	    i->usi_tries, i->usi_failures, i->usi_active, i->usi_idle);
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
		[CLIENT_TUNNEL] = METRICS_CONN_TUNNEL,
	};
	uint64_t count[CLIENT_NSTATES];

	deadline_now_refresh();
	metrics_snapshot_add(snap, px->px_ctx.pc_metrics);
	client_count_states(&px->px_ctx, count);
	for (int i = 0; i < CLIENT_CLOSED; i++)
		metrics_snapshot_connections(snap, states[i], count[i]);
	upstream_set_walk(px->px_ctx.pc_ups, proxy_snapshot_server, snap);
	metrics_snapshot_deadline(snap, deadline_stats_local());
}

/* A copy of the proxy's counters, read from any thread. */
void
proxy_counts(const struct proxy *px, struct proxy_counts *c)
{
	const struct proxy_counts *p = &px->px_ctx.pc_counts;

	c->requests = __atomic_load_n(&p->requests, __ATOMIC_RELAXED);
	c->connections = __atomic_load_n(&p->connections, __ATOMIC_RELAXED);
	c->timeouts = __atomic_load_n(&p->timeouts, __ATOMIC_RELAXED);
	c->clients = __atomic_load_n(&p->clients, __ATOMIC_RELAXED);
	c->in_flight = __atomic_load_n(&p->in_flight, __ATOMIC_RELAXED);
}

/* Set the worker this proxy runs in: its index goes into request ids. */
void
proxy_set_worker(struct proxy *px, unsigned index)
{
	px->px_ctx.pc_id_hi = (uint64_t)(index & 0xff) << 56;
}

/* The context the proxy lends its clients, for tests. */
struct proxy_ctx *
proxy_ctx(struct proxy *px)
{
	return &px->px_ctx;
}
