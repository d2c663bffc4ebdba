/*
 * proxy.h: the reverse proxy of one event loop (one worker thread).
 *
 * A proxy owns its listeners, its client connections, its upstream
 * connection pools and its access log writer.  Everything runs on the
 * proxy's event base; nothing here locks.
 */
#ifndef HG_PROXY_H
#define HG_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "accesslog.h"
#include "config.h"

struct proxy;

/* Counters a proxy keeps; the metrics issue exports them. */
struct proxy_counts {
	uint64_t	 requests;	/* access-log lines written */
	uint64_t	 connections;	/* client connections accepted */
	unsigned	 clients;	/* client connections open now */
	unsigned	 in_flight;	/* requests in progress now */
};

/*
 * Make a proxy on base serving cfg (a reference is taken) and logging to
 * alog (borrowed).  Returns NULL with a message in err.
 */
struct proxy	*proxy_new(struct event_base *, struct config *,
		    struct accesslog *, char *err, size_t errlen);

/* Bind and listen on every cfg->listen address; -1 with err on failure. */
int		 proxy_listen(struct proxy *, char *err, size_t errlen);

/* Close every connection and listener and free the proxy. */
void		 proxy_free(struct proxy *);

void		 proxy_counts(const struct proxy *, struct proxy_counts *);

#endif
