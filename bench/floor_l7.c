/*
 * floor_l7.c: the bench's "floor-l7" contender, the floor (floor.c) built on
 * hourglass's own stack: libevent for the loop, llhttp for the parsing.
 *
 * usage: floor-l7 LISTEN_HOST:PORT UPSTREAM_HOST:PORT [PORT_FILE]
 *
 * For each accepted client connection it opens one connection to the
 * upstream and copies bytes both ways, like the floor: one thread, one
 * event_base, one read(2) per readiness event into one shared buffer and one
 * write(2) of what was read; only a short write keeps bytes (malloc'd), pauses
 * the reading side and waits for EV_WRITE.  When either side closes or fails,
 * both are closed.  No pooling, no timeouts, no logging, no clock reads.
 *
 * On top of that it does the least HTTP work an L7 proxy must do: every byte
 * read from the client goes through an llhttp request parser, every byte
 * from the upstream through a response parser (one of each per pair, kept
 * across keep-alive messages), before it is written on.  The callbacks note
 * where the URL or status, the header names and the header values lie in
 * the read buffer (at most 64 fields a message, in a fixed array) and count
 * the messages.  The bytes are forwarded unchanged.  A parse error closes
 * the pair.  So its user CPU per request is the floor's plus libevent's
 * dispatch plus llhttp over every head and body: the least any proxy on
 * this stack can spend.
 *
 * It is a bench tool, not a proxy: the response parser is not told about
 * HEAD requests (a reply to HEAD with a Content-Length would be misparsed),
 * and an upgrade or CONNECT ends the pair.  LISTEN port 0 takes an ephemeral
 * port, written to PORT_FILE when given.  IPv4 literals only.  SIGTERM or
 * SIGINT exits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* accept4 */
#endif
#include <signal.h>

#include <event2/event.h>
#include <event2/event_struct.h>	/* struct event inside struct side */
#include <llhttp.h>

#define RELAY_NAME	"floor-l7"
#include "relay.h"

#define BUFSZ		65536	/* the one read buffer */
#define MAXFIELDS	64	/* header fields noted per message */

struct span {			/* a stretch of buf */
	uint32_t	 off, len;
};

struct head {			/* what the parser noted of the current message */
	struct span	 line;		/* the URL or the status text */
	struct span	 f[MAXFIELDS][2];	/* name, value */
	int		 nf;		/* fields begun */
	int		 in;		/* 0 none, 1 in a name, 2 in a value */
	unsigned long	 nheads, nmsgs;
};

struct pair;

struct side {			/* one socket of a pair, and the parser of what it sends */
	int		 fd;
	int		 idx;		/* 0 client, 1 upstream */
	struct event	 rd, wr;
	struct pair	*p;
	llhttp_t	 ll;
	struct head	 h;
};

struct rest {			/* bytes read from one side, not yet written to the other */
	size_t		 off, len;
	char		 data[];
};

struct pair {
	struct side	 s[2];
	struct rest	*r[2];		/* r[i]: read from s[i], for s[1 - i]; NULL if none */
};

static struct event_base	*base;
static struct sockaddr_in	 upstream;
static char			 buf[BUFSZ];

/* ---- llhttp callbacks: note spans, count messages. */

static void
span_note(struct span *sp, const char *at, size_t len, int more)
{
	if (more)			/* the span goes on in a later read */
		sp->len += (uint32_t)len;
	else {
		sp->off = (uint32_t)(at - buf);
		sp->len = (uint32_t)len;
	}
}

static int
on_line(llhttp_t *ll, const char *at, size_t len)
{
	struct head	*h = &((struct side *)ll->data)->h;

	span_note(&h->line, at, len, h->in == 3);
	h->in = 3;
	return 0;
}

/* A name (which = 0) or a value (1); a span cut by the end of a read comes
 * in two calls. */
static int
on_field(llhttp_t *ll, const char *at, size_t len, int which)
{
	struct head	*h = &((struct side *)ll->data)->h;

	if (which == 0 && h->in != 1 && h->nf++ == MAXFIELDS)
		return -1;		/* too many: close, as a 431 would */
	span_note(&h->f[h->nf - 1][which], at, len, h->in == which + 1);
	h->in = which + 1;
	return 0;
}

static int
on_name(llhttp_t *ll, const char *at, size_t len)
{
	return on_field(ll, at, len, 0);
}

static int
on_value(llhttp_t *ll, const char *at, size_t len)
{
	return on_field(ll, at, len, 1);
}

static int
on_headers_complete(llhttp_t *ll)
{
	struct head	*h = &((struct side *)ll->data)->h;

	h->nheads++;
	h->in = 0;
	return 0;
}

static int
on_message_complete(llhttp_t *ll)
{
	struct head	*h = &((struct side *)ll->data)->h;

	h->nmsgs++;
	h->nf = 0;
	h->in = 0;
	return 0;
}

static const llhttp_settings_t req_settings = {
	.on_url = on_line,
	.on_header_field = on_name,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

static const llhttp_settings_t rsp_settings = {
	.on_status = on_line,
	.on_header_field = on_name,
	.on_header_value = on_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

/* ---- the relay */

static void
pair_close(struct pair *p)
{
	int	 i;

	for (i = 0; i < 2; i++) {
		event_del(&p->s[i].rd);	/* also from the active queue */
		event_del(&p->s[i].wr);
		close(p->s[i].fd);
		free(p->r[i]);
	}
	free(p);
}

/* Bytes came in on s: parse them, then write them to the peer once; keep
 * what did not go in and pause s until the peer's EV_WRITE drains it. */
static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct side	*s = arg, *peer = &s->p->s[1 - s->idx];
	struct rest	*r;
	ssize_t		 n, w;

	(void)what;
	n = read(fd, buf, BUFSZ);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || llhttp_execute(&s->ll, buf, (size_t)n) != HPE_OK)
		goto fail;
	w = write(peer->fd, buf, (size_t)n);
	if (w == n)
		return;
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			goto fail;
		w = 0;
	}
	if ((r = malloc(sizeof *r + (size_t)(n - w))) == NULL)
		goto fail;
	r->off = 0;
	r->len = (size_t)(n - w);
	memcpy(r->data, buf + w, r->len);
	s->p->r[s->idx] = r;
	event_del(&s->rd);
	event_add(&peer->wr, NULL);
	return;
fail:
	pair_close(s->p);
}

/* s may take more: write what its peer has been waiting to send it. */
static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct side	*s = arg, *peer = &s->p->s[1 - s->idx];
	struct rest	**rp = &s->p->r[peer->idx], *r = *rp;
	ssize_t		 n;

	(void)what;
	n = write(fd, r->data + r->off, r->len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		pair_close(s->p);
		return;
	}
	r->off += (size_t)n;
	if ((r->len -= (size_t)n) > 0)
		return;
	free(r);
	*rp = NULL;
	event_del(&s->wr);
	event_add(&peer->rd, NULL);
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct pair		*p;
	struct side		*s;
	int			 cfd, ufd, i;

	(void)what;
	(void)arg;
	while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1) {
		p = calloc(1, sizeof *p);
		if (p == NULL || (ufd = relay_connect(cfd, &upstream)) == -1) {
			close(cfd);
			free(p);
			continue;
		}
		p->s[0].fd = cfd;
		p->s[1].fd = ufd;
		/* Bytes for a still-connecting upstream wait in r[0] (write
		 * gives EAGAIN) until EV_WRITE says the connect is done. */
		for (i = 0; i < 2; i++) {
			s = &p->s[i];
			s->idx = i;
			s->p = p;
			llhttp_init(&s->ll, i == 0 ? HTTP_REQUEST : HTTP_RESPONSE,
			    i == 0 ? &req_settings : &rsp_settings);
			s->ll.data = s;
			event_assign(&s->rd, base, s->fd, EV_READ | EV_PERSIST, on_read, s);
			event_assign(&s->wr, base, s->fd, EV_WRITE | EV_PERSIST, on_write, s);
		}
		if (event_add(&p->s[0].rd, NULL) == -1 ||
		    event_add(&p->s[1].rd, NULL) == -1)
			pair_close(p);
	}
	if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
		fprintf(stderr, "floor-l7: accept: %s\n", strerror(errno));
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 la;
	struct event		*lev, *sigterm, *sigint;
	int			 lfd;

	relay_args(argc, argv, &la, &upstream);
	signal(SIGPIPE, SIG_IGN);

	lfd = relay_listen(&la, argc == 4 ? argv[3] : NULL);
	if ((base = event_base_new()) == NULL)
		relay_die("event_base_new");
	lev = event_new(base, lfd, EV_READ | EV_PERSIST, on_accept, NULL);
	sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	if (lev == NULL || sigterm == NULL || sigint == NULL ||
	    event_add(lev, NULL) == -1 || event_add(sigterm, NULL) == -1 ||
	    event_add(sigint, NULL) == -1)
		relay_die("event_add");
	fprintf(stderr, "floor-l7: listening on port %u (libevent %s, %s)\n",
	    ntohs(la.sin_port), event_get_version(), event_base_get_method(base));

	if (event_base_dispatch(base) == -1)
		relay_die("event_base_dispatch");
	/* Pairs still open are left to exit(). */
	event_free(lev);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	close(lfd);
	return 0;
}
