/*
 * proxy.c: the proxy of one event loop: its configuration, listeners,
 * clients, upstream servers and descriptor reserve.
 */
#include <errno.h>
#include <fcntl.h>
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
	if ((px->px_ups = upstream_set_new(base, cfg, err, errlen)) == NULL) {
		free(px);
		return NULL;
	}
	px->px_cfg = config_ref(cfg);
	proxy_reserve_fill(px);
	return px;
}

/* Listen on every address of the configuration. */
int
proxy_listen(struct proxy *px, char *err, size_t errlen)
{
	for (size_t i = 0; i < px->px_cfg->nlisten; i++)
		if (listener_open(px, &px->px_cfg->listen[i], err, errlen) != 0)
			return -1;
	return 0;
}

/* Close everything and free the proxy. */
void
proxy_free(struct proxy *px)
{
	struct listener *ls;
	struct client *cl;
	struct request *rq;

	if (px == NULL)
		return;
	while ((ls = TAILQ_FIRST(&px->px_listeners)) != NULL)
		listener_close(ls);
	while ((cl = TAILQ_FIRST(&px->px_clients)) != NULL)
		client_close(cl, "shutting down");
	while ((rq = px->px_free_req) != NULL) {
		memcpy(&px->px_free_req, rq, sizeof(void *));
		free(rq);
	}
	evtimer_del(&px->px_accept_pause);
	upstream_set_free(px->px_ups);
	for (size_t i = 0; i < sizeof px->px_reserve / sizeof(int); i++)
		if (px->px_reserve[i] >= 0)
			close(px->px_reserve[i]);
	config_unref(px->px_cfg);
	buf_cache_drain();
	free(px);
}

/* A copy of the proxy's counters. */
void
proxy_counts(const struct proxy *px, struct proxy_counts *c)
{
	*c = px->px_counts;
}
