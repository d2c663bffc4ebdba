/*
 * worker.h: worker threads.  Each worker runs its own event base, proxy
 * and access-log writer, with its own SO_REUSEPORT listeners, so the hot
 * path shares nothing and takes no lock.  The main thread talks to a
 * worker only by messages through a pipe, which the worker handles on its
 * own loop.
 */
#ifndef HG_WORKER_H
#define HG_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "proxy.h"

struct worker;

/* What a finished message reports back to the main thread. */
typedef void (*worker_reply_fn)(struct worker *, void *arg);

/*
 * Make worker id (not yet running) for cfg.  Listeners are bound here, on
 * the caller's thread: like is the first worker (NULL for it), whose
 * ports the others share; with nfds > 0 the passed sockets are used.
 */
struct worker	*worker_new(unsigned id, struct config *,
		    const struct worker *like, const int *fds, int nfds,
		    char *err, size_t errlen);

/* Start the thread.  done(w, arg) runs on main_base when it has exited. */
int		 worker_start(struct worker *, struct event_base *main_base,
		    worker_reply_fn done, void *arg);

/* Messages: each runs on the worker's loop; reply(w, arg) then runs on the
 * main base.  reply may be NULL. */
void		 worker_reload(struct worker *, struct config *);
void		 worker_reopen(struct worker *);
void		 worker_drain(struct worker *, int64_t drain_at);
void		 worker_call(struct worker *, void (*fn)(struct worker *,
		    void *), worker_reply_fn reply, void *arg);

/* Wait for the thread and free the worker. */
void		 worker_free(struct worker *);

unsigned	 worker_id(const struct worker *);
struct proxy	*worker_proxy(const struct worker *);

/* The worker loop's last heartbeat (monotonic µs), for the watchdog. */
int64_t		 worker_heartbeat(const struct worker *);

#endif
