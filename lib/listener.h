/*
 * listener.h: listening sockets, accepting in batches.
 *
 * A listener hands each accepted socket to its owner's accept callback;
 * when accept(2) runs out of descriptors it tells the owner's error
 * callback, which decides to pause (listener_pause()).  It never calls
 * its owner by name.
 */
#ifndef HG_LISTENER_H
#define HG_LISTENER_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "config.h"

struct listener;

struct listener_cbs {
	/* A new connection on ls: fd is the caller's from now on. */
	void	(*lc_accept)(void *arg, struct listener *ls, int fd,
		    const struct sockaddr *, socklen_t);
	/* accept(2) failed with err (EMFILE, ENFILE ...); the listener
	 * goes on unless paused. */
	void	(*lc_error)(void *arg, struct listener *, int err);
	void	*lc_arg;
};

/*
 * Bind and listen on a, with SO_REUSEPORT so that each worker has its own
 * socket; with like set, bind like's very address and port (its port 0
 * resolved).  paused: do not accept yet.  NULL with err.
 */
struct listener *listener_open(struct event_base *, const struct config_addr *,
	     const struct listener *like, const struct listener_cbs *,
	     bool paused, char *err, size_t errlen);

/* Accept on a socket someone else bound (socket activation); fd is taken. */
struct listener *listener_adopt(struct event_base *, int fd,
	     const struct listener_cbs *, bool paused, char *err,
	     size_t errlen);

/* Stop listening, close the socket and free the listener. */
void	 listener_close(struct listener *);

/* Stop or resume accepting. */
void	 listener_pause(struct listener *, bool);

/* The listen line it was opened from ("" when adopted), and the address
 * it is bound to ("127.0.0.1:8080", "[::1]:8080"). */
const char *listener_config(const struct listener *);
const char *listener_name(const struct listener *);

/* Whether its listen line asked for TLS (the owner runs it: a listener
 * only accepts). */
bool	 listener_tls(const struct listener *);

#endif
