/*
 * metricsd.h: the /metrics HTTP listener, on the main thread's event base.
 *
 * It accepts connections on metrics_listen, reads one HTTP/1.1 request
 * each (5 s to send the head), and answers GET or HEAD /metrics through the
 * daemon's collect function; any other path is 404, any other method 405,
 * a malformed request 400.  Every response closes the connection.
 *
 * Reply contract.  For each /metrics request metricsd calls
 * collect(arg, reply) with a new reply object.  The daemon gathers its
 * workers' snapshots asynchronously and then calls exactly one of
 * metricsd_reply_done() or metricsd_reply_fail() on it, from the thread
 * of the event base, either from inside collect() or later from the loop.
 * That call frees the reply; the daemon must not use it afterwards.  The
 * reply stays valid until then whatever happens meanwhile: if the client
 * goes away, the collection takes longer than 10 s (the client then gets
 * a 503), or metricsd_free() runs, the reply is orphaned, and the done or
 * fail call just frees it.  collect() must not call metricsd_free().
 * As in the proxy, a client that closes its side (FIN) before the answer
 * is ready has gone away; one that does so while the answer is being
 * written still gets all of it.
 */
#ifndef HG_METRICSD_H
#define HG_METRICSD_H

#include <stddef.h>

#include <event2/event.h>

#include "config.h"

struct metricsd;
struct metricsd_reply;

/* Gather the metrics and answer reply; see the contract above. */
typedef void (*metricsd_collect_fn)(void *arg, struct metricsd_reply *reply);

/*
 * Listen on addr (a numeric IPv4 or IPv6 host, or "*" for any IPv4
 * address; port 0 picks a free port) on base.  Returns NULL and writes
 * the reason into err on failure.
 */
struct metricsd	*metricsd_new(struct event_base *,
		    const struct config_addr *, metricsd_collect_fn, void *arg,
		    char *err, size_t errlen);

/* Close the listener and every connection; outstanding replies are
 * orphaned (NULL is a no-op). */
void		 metricsd_free(struct metricsd *);

/* The port the listener is bound to. */
int		 metricsd_port(const struct metricsd *);
unsigned	 metricsd_nconns(const struct metricsd *);

/* Answer with 200 and the metrics text, which is copied (the caller keeps
 * ownership of text), and free the reply. */
void		 metricsd_reply_done(struct metricsd_reply *,
		    const char *text, size_t len);

/* Answer with an error status (e.g. 503) and free the reply. */
void		 metricsd_reply_fail(struct metricsd_reply *, int status);

#endif
