/*
 * worker.c: worker threads, and the messages the main thread sends them.
 *
 * A message is a heap struct whose pointer goes through a pipe: 8 bytes,
 * so each write is atomic.  The worker runs it on its own loop and, when
 * the sender asked for a reply, sends the same pointer back through a
 * second pipe to the main loop, which runs the reply and frees it.  No
 * worker data is ever touched from another thread, except the counters
 * proxy_counts() reads and the heartbeat, both single-writer atomics.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "accesslog.h"
#include "deadline.h"
#include "lagprobe.h"
#include "log.h"
#include "worker.h"

#define HEARTBEAT_MS	100	/* how often a loop proves it runs */
#define PROBE_MS	100	/* loop-lag probe interval */

enum wmsg_kind {
	WMSG_RELOAD,		/* serve a new configuration */
	WMSG_REOPEN,		/* reopen the access log */
	WMSG_DRAIN,		/* SIGTERM: drain, then leave the loop */
	WMSG_CALL,		/* run a function on the worker's loop */
	WMSG_EXITED,		/* (worker -> main) the thread is done */
};

struct wmsg {
	enum wmsg_kind	 m_kind;
	struct config	*m_cfg;
	int64_t		 m_at;
	void		(*m_fn)(struct worker *, void *);
	worker_reply_fn	 m_reply;
	void		*m_arg;
};

struct worker {
	unsigned	 w_id;
	pthread_t	 w_thread;
	bool		 w_started;
	struct event_base *w_base;
	struct event_base *w_main;
	struct proxy	*w_proxy;
	struct accesslog *w_alog;
	struct config	*w_cfg;
	int		 w_cmd[2];		/* main -> worker */
	int		 w_rep[2];		/* worker -> main */
	struct event	*w_cmd_ev;
	struct event	*w_rep_ev;		/* on the main base */
	struct event	*w_hb_ev;
	struct lagprobe *w_probe;
	int64_t		 w_heartbeat;
	worker_reply_fn	 w_done;
	void		*w_done_arg;
};

/* Access-log write failures of this worker, at most once a minute. */
static void
worker_alog_failed(void *arg, const char *msg)
{
	struct worker *w = arg;

	log_warn("worker %u: %s", w->w_id, msg);
}

/* Send a message pointer through a pipe; the write of 8 bytes is atomic. */
static void
worker_post(int fd, struct wmsg *m)
{
	ssize_t n;

	do
		n = write(fd, &m, sizeof m);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof m)
		log_crit("worker message lost: %s", strerror(errno));
}

/* Read the message pointers waiting in a pipe, in order, one at a time. */
static struct wmsg *
worker_take(int fd)
{
	struct wmsg *m;
	ssize_t n;

	do
		n = read(fd, &m, sizeof m);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof m ? m : NULL;
}

/* Open the access log a configuration asks for, on this worker's base. */
static struct accesslog *
worker_open_alog(struct worker *w, const struct config *cfg, char *err,
    size_t errlen)
{
	struct accesslog *al;

	al = accesslog_open(w->w_base, cfg->access_log, cfg->log_format, err,
	    errlen);
	if (al != NULL)
		accesslog_set_error_cb(al, worker_alog_failed, w);
	return al;
}

/* Reload on the worker: the proxy and, if it changed, the access log. */
static void
worker_do_reload(struct worker *w, struct config *cfg)
{
	struct accesslog *al;
	char err[256];

	if (strcmp(cfg->access_log, w->w_cfg->access_log) != 0 ||
	    cfg->log_format != w->w_cfg->log_format) {
		if ((al = worker_open_alog(w, cfg, err, sizeof err)) == NULL)
			log_err("worker %u: access log %s: %s; keeping the old "
			    "one", w->w_id, cfg->access_log, err);
		else {
			proxy_set_accesslog(w->w_proxy, al);
			accesslog_close(w->w_alog);
			w->w_alog = al;
		}
	}
	if (proxy_reload(w->w_proxy, cfg, err, sizeof err) != 0)
		log_err("worker %u: reload: %s", w->w_id, err);
	config_unref(w->w_cfg);
	w->w_cfg = cfg;		/* the message's reference */
}

/* The last connection is gone after a drain: leave the loop. */
static void
worker_drained(void *arg)
{
	struct worker *w = arg;

	event_base_loopexit(w->w_base, NULL);
}

/* A message from the main thread. */
static void
worker_cmd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct wmsg *m;
	char err[256];

	(void)what;
	if ((m = worker_take(fd)) == NULL)
		return;
	deadline_now_refresh();
	switch (m->m_kind) {
	case WMSG_RELOAD:
		worker_do_reload(w, m->m_cfg);
		m->m_cfg = NULL;
		break;
	case WMSG_REOPEN:
		if (accesslog_reopen(w->w_alog, err, sizeof err) != 0)
			log_err("worker %u: access log: reopen failed, keeping "
			    "the old file: %s", w->w_id, err);
		else
			log_info("worker %u: access log reopened", w->w_id);
		break;
	case WMSG_DRAIN:
		proxy_drain(w->w_proxy, m->m_at, worker_drained, w);
		break;
	case WMSG_CALL:
		m->m_fn(w, m->m_arg);
		break;
	case WMSG_EXITED:
		break;
	}
	if (m->m_reply != NULL)
		worker_post(w->w_rep[1], m);
	else
		free(m);
}

/* A reply from the worker, on the main loop. */
static void
worker_rep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct wmsg *m;

	(void)what;
	if ((m = worker_take(fd)) == NULL)
		return;
	if (m->m_reply != NULL)
		m->m_reply(w, m->m_arg);
	free(m);
}

/* The loop runs: say so, for the watchdog. */
static void
worker_hb_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	__atomic_store_n(&w->w_heartbeat, deadline_now_refresh(),
	    __ATOMIC_RELAXED);
}

/* The thread: run the loop until drained, then free the worker's world. */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct timeval hb = { 0, HEARTBEAT_MS * 1000 };
	struct wmsg *m;

	w->w_probe = lagprobe_start(w->w_base, PROBE_MS);
	event_add(w->w_hb_ev, &hb);
	worker_hb_cb(-1, 0, w);
	event_base_dispatch(w->w_base);

	proxy_free(w->w_proxy);
	w->w_proxy = NULL;
	accesslog_close(w->w_alog);
	w->w_alog = NULL;
	lagprobe_stop(w->w_probe);
	event_free(w->w_hb_ev);
	event_free(w->w_cmd_ev);
	w->w_hb_ev = w->w_cmd_ev = NULL;
	/* Messages still queued are dropped; the main thread stops sending. */
	evutil_make_socket_nonblocking(w->w_cmd[0]);
	while ((m = worker_take(w->w_cmd[0])) != NULL) {
		if (m->m_cfg != NULL)
			config_unref(m->m_cfg);
		free(m);
	}
	if ((m = calloc(1, sizeof *m)) != NULL) {
		m->m_kind = WMSG_EXITED;
		m->m_reply = w->w_done;
		m->m_arg = w->w_done_arg;
		worker_post(w->w_rep[1], m);
	}
	return NULL;
}

/* Create the worker's base, access log and proxy, and bind its sockets. */
struct worker *
worker_new(unsigned id, struct config *cfg, const struct worker *like,
    const int *fds, int nfds, char *err, size_t errlen)
{
	struct worker *w;

	if ((w = calloc(1, sizeof *w)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->w_id = id;
	w->w_cmd[0] = w->w_cmd[1] = w->w_rep[0] = w->w_rep[1] = -1;
	w->w_cfg = config_ref(cfg);
	/*
	 * No EVENT_BASE_FLAG_PRECISE_TIMER: deadlines keep their own timerfd
	 * (deadline.c), and the flag would make libevent set its timerfd on
	 * every loop turn, a syscall each.  libevent's own timers (pool idle,
	 * retry backoff, heartbeats) are fine to the millisecond.
	 */
	w->w_base = event_base_new();
	if (w->w_base == NULL || pipe2(w->w_cmd, O_CLOEXEC) != 0 ||
	    pipe2(w->w_rep, O_CLOEXEC | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "worker %u: %s", id, strerror(errno));
		goto fail;
	}
	w->w_cmd_ev = event_new(w->w_base, w->w_cmd[0], EV_READ | EV_PERSIST,
	    worker_cmd_cb, w);
	w->w_hb_ev = event_new(w->w_base, -1, EV_PERSIST, worker_hb_cb, w);
	if (w->w_cmd_ev == NULL || w->w_hb_ev == NULL ||
	    event_add(w->w_cmd_ev, NULL) != 0) {
		snprintf(err, errlen, "worker %u: cannot set up events", id);
		goto fail;
	}
	if ((w->w_alog = worker_open_alog(w, cfg, err, errlen)) == NULL)
		goto fail;
	w->w_proxy = proxy_new(w->w_base, cfg, w->w_alog, err, errlen);
	if (w->w_proxy == NULL)
		goto fail;
	proxy_set_worker(w->w_proxy, id);
	if (nfds > 0 ? proxy_adopt(w->w_proxy, fds, nfds, err, errlen) :
	    proxy_listen(w->w_proxy, like ? like->w_proxy : NULL, err,
	    errlen) != 0)
		goto fail;
	return w;
fail:
	worker_free(w);
	return NULL;
}

/* Run the worker's loop on its own thread. */
int
worker_start(struct worker *w, struct event_base *main_base,
    worker_reply_fn done, void *arg)
{
	int r;

	w->w_main = main_base;
	w->w_done = done;
	w->w_done_arg = arg;
	w->w_rep_ev = event_new(main_base, w->w_rep[0], EV_READ | EV_PERSIST,
	    worker_rep_cb, w);
	if (w->w_rep_ev == NULL || event_add(w->w_rep_ev, NULL) != 0)
		return -1;
	if ((r = pthread_create(&w->w_thread, NULL, worker_main, w)) != 0) {
		errno = r;
		return -1;
	}
	w->w_started = true;
	return 0;
}

/* Queue a message for the worker. */
static void
worker_send(struct worker *w, enum wmsg_kind kind, struct config *cfg,
    int64_t at, void (*fn)(struct worker *, void *), worker_reply_fn reply,
    void *arg)
{
	struct wmsg *m;

	if ((m = calloc(1, sizeof *m)) == NULL) {
		log_crit("worker %u: out of memory for a message", w->w_id);
		if (cfg != NULL)
			config_unref(cfg);
		return;
	}
	m->m_kind = kind;
	m->m_cfg = cfg;
	m->m_at = at;
	m->m_fn = fn;
	m->m_reply = reply;
	m->m_arg = arg;
	worker_post(w->w_cmd[1], m);
}

/* Serve cfg; the worker takes its own reference. */
void
worker_reload(struct worker *w, struct config *cfg)
{
	worker_send(w, WMSG_RELOAD, config_ref(cfg), 0, NULL, NULL, NULL);
}

/* Reopen the access log (SIGUSR1). */
void
worker_reopen(struct worker *w)
{
	worker_send(w, WMSG_REOPEN, NULL, 0, NULL, NULL, NULL);
}

/* Drain until drain_at, then stop. */
void
worker_drain(struct worker *w, int64_t drain_at)
{
	worker_send(w, WMSG_DRAIN, NULL, drain_at, NULL, NULL, NULL);
}

/* Run fn on the worker's loop, then reply on the main loop. */
void
worker_call(struct worker *w, void (*fn)(struct worker *, void *),
    worker_reply_fn reply, void *arg)
{
	worker_send(w, WMSG_CALL, NULL, 0, fn, reply, arg);
}

/* Join the thread (it has exited or never started) and free the worker. */
void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->w_started)
		pthread_join(w->w_thread, NULL);
	/* Not started: tear down what worker_main() would have. */
	proxy_free(w->w_proxy);
	accesslog_close(w->w_alog);
	if (w->w_hb_ev != NULL)
		event_free(w->w_hb_ev);
	if (w->w_cmd_ev != NULL)
		event_free(w->w_cmd_ev);
	if (w->w_rep_ev != NULL)
		event_free(w->w_rep_ev);
	if (w->w_base != NULL)
		event_base_free(w->w_base);
	for (int i = 0; i < 2; i++) {
		if (w->w_cmd[i] >= 0)
			close(w->w_cmd[i]);
		if (w->w_rep[i] >= 0)
			close(w->w_rep[i]);
	}
	config_unref(w->w_cfg);
	free(w);
}

unsigned
worker_id(const struct worker *w)
{
	return w->w_id;
}

struct proxy *
worker_proxy(const struct worker *w)
{
	return w->w_proxy;
}

/* The last heartbeat, read from the main thread. */
int64_t
worker_heartbeat(const struct worker *w)
{
	return __atomic_load_n(&w->w_heartbeat, __ATOMIC_RELAXED);
}
