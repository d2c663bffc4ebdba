/*
 * slab.c: fixed-size objects carved from aligned chunks of their own.
 *
 * A chunk is SLAB_CHUNK bytes at a SLAB_CHUNK-aligned address: its header
 * comes first, then the objects, so an object finds its chunk by masking
 * its address.  Objects are carved from a chunk's tail lazily (untouched
 * pages stay unmapped in the kernel's eyes) and freed ones are linked
 * through their first word.  Chunks with room are on the slab's list;
 * full ones are on no list; an empty one is unmapped unless the slab is
 * short of spares.  A spare is on the spare list, but for an empty chunk
 * that is the only one with room: it stays where it is, so that one object
 * taken and given back over and over (a request on one keep-alive
 * connection) does not move its chunk between the lists each time.
 */
#include <sys/mman.h>
#include <sys/queue.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "slab.h"

#define SLAB_CHUNK	(64 * 1024)
#define SLAB_ALIGN	16

#if defined(__SANITIZE_ADDRESS__)
#define SLAB_MALLOC	1	/* let the sanitizer see every object */
#endif

struct slab_chunk {
	LIST_ENTRY(slab_chunk) sc_link;	/* on s_room while it has room */
	void		*sc_free;	/* freed objects, linked */
	unsigned	 sc_used;	/* objects handed out */
	unsigned	 sc_carved;	/* objects ever carved */
};

#define SLAB_HDR	((sizeof(struct slab_chunk) + SLAB_ALIGN - 1) & \
			    ~(size_t)(SLAB_ALIGN - 1))

struct slab {
	size_t		 s_size;	/* object size, rounded up */
	unsigned	 s_per;		/* objects per chunk */
	LIST_HEAD(, slab_chunk) s_room;	/* chunks with a free object */
	LIST_HEAD(, slab_chunk) s_spare; /* empty chunks, kept */
	unsigned	 s_nspare;	/* s_spare's, and an empty one on s_room */
	unsigned	 s_maxspare;
	bool		 s_zero;	/* hand objects out zeroed */
	size_t		 s_used;
	size_t		 s_chunks;
};

struct slab *
slab_new(size_t size, unsigned spares, bool zero)
{
	struct slab *s;

	if (size == 0 || size > 4096) {
		errno = EINVAL;
		return NULL;
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		return NULL;
	s->s_size = (size + SLAB_ALIGN - 1) & ~(size_t)(SLAB_ALIGN - 1);
	s->s_per = (unsigned)((SLAB_CHUNK - SLAB_HDR) / s->s_size);
	LIST_INIT(&s->s_room);
	LIST_INIT(&s->s_spare);
	s->s_maxspare = spares;
	s->s_zero = zero;
	return s;
}

/* Map a chunk at an address aligned to its size. */
static struct slab_chunk *
slab_chunk_new(struct slab *s)
{
	char *p, *a;
	uintptr_t u;

	p = mmap(NULL, 2 * SLAB_CHUNK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	u = ((uintptr_t)p + SLAB_CHUNK - 1) & ~(uintptr_t)(SLAB_CHUNK - 1);
	a = (char *)u;
	if (a > p)
		munmap(p, (size_t)(a - p));
	munmap(a + SLAB_CHUNK, (size_t)(p + SLAB_CHUNK - a));
	s->s_chunks++;
	return (struct slab_chunk *)(void *)a;	/* mmap zeroed it */
}

static void
slab_chunk_free(struct slab *s, struct slab_chunk *c)
{
	munmap(c, SLAB_CHUNK);
	s->s_chunks--;
}

void
slab_free(struct slab *s)
{
	struct slab_chunk *c;

	if (s == NULL)
		return;
	while ((c = LIST_FIRST(&s->s_room)) != NULL) {
		LIST_REMOVE(c, sc_link);
		slab_chunk_free(s, c);
	}
	slab_trim(s);
	/* Full chunks are on no list: only their objects know them. */
	free(s);
}

void *
slab_get(struct slab *s)
{
	struct slab_chunk *c;
	void *p;

#ifdef SLAB_MALLOC
	if ((p = calloc(1, s->s_size)) != NULL)
		s->s_used++;
	return p;
#endif
	if ((c = LIST_FIRST(&s->s_room)) == NULL) {
		if ((c = LIST_FIRST(&s->s_spare)) != NULL) {
			LIST_REMOVE(c, sc_link);
			s->s_nspare--;
		} else if ((c = slab_chunk_new(s)) == NULL)
			return NULL;
		LIST_INSERT_HEAD(&s->s_room, c, sc_link);
	} else if (c->sc_used == 0)
		s->s_nspare--;		/* the spare kept on s_room */
	if ((p = c->sc_free) != NULL) {
		memcpy(&c->sc_free, p, sizeof c->sc_free);
		if (s->s_zero)
			memset(p, 0, s->s_size);
	} else	/* never used: still zero from mmap */
		p = (char *)c + SLAB_HDR + (size_t)c->sc_carved++ * s->s_size;
	if (++c->sc_used == s->s_per)
		LIST_REMOVE(c, sc_link);
	s->s_used++;
	return p;
}

void
slab_put(struct slab *s, void *p)
{
	struct slab_chunk *c;

	if (p == NULL)
		return;
	s->s_used--;
#ifdef SLAB_MALLOC
	free(p);
	return;
#endif
	c = (struct slab_chunk *)((uintptr_t)p & ~(uintptr_t)(SLAB_CHUNK - 1));
	memcpy(p, &c->sc_free, sizeof c->sc_free);
	c->sc_free = p;
	if (c->sc_used-- == s->s_per)
		LIST_INSERT_HEAD(&s->s_room, c, sc_link);
	if (c->sc_used > 0)
		return;
	if (s->s_nspare < s->s_maxspare && LIST_FIRST(&s->s_room) == c &&
	    LIST_NEXT(c, sc_link) == NULL) {
		s->s_nspare++;		/* a spare that stays on s_room */
		return;
	}
	LIST_REMOVE(c, sc_link);
	if (s->s_nspare < s->s_maxspare) {
		LIST_INSERT_HEAD(&s->s_spare, c, sc_link);
		s->s_nspare++;
	} else
		slab_chunk_free(s, c);
}

void
slab_trim(struct slab *s)
{
	struct slab_chunk *c, *next;

	for (c = LIST_FIRST(&s->s_room); c != NULL; c = next) {
		next = LIST_NEXT(c, sc_link);
		if (c->sc_used == 0) {
			LIST_REMOVE(c, sc_link);
			s->s_nspare--;
			slab_chunk_free(s, c);
		}
	}
	while ((c = LIST_FIRST(&s->s_spare)) != NULL) {
		LIST_REMOVE(c, sc_link);
		s->s_nspare--;
		slab_chunk_free(s, c);
	}
}

size_t
slab_used(const struct slab *s)
{
	return s->s_used;
}

size_t
slab_chunks(const struct slab *s)
{
	return s->s_chunks;
}
