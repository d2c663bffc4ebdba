/*
 * slab.h: fixed-size objects carved from aligned chunks of their own.
 *
 * Connections come and go in bursts.  Allocated from malloc's heap, a
 * burst of thousands of connection structs ends up interleaved with small
 * blocks that live on (libevent's per-descriptor records), and once the
 * connections close their memory cannot go back to the kernel.  A slab
 * keeps its objects in 64 KiB chunks mapped for them alone and unmaps a
 * chunk as soon as it is empty (a few empty chunks are kept as spares for
 * the next burst, until slab_trim()).
 *
 * A slab belongs to one thread.  Built with
 * AddressSanitizer, a slab hands out plain calloc() blocks instead, so
 * the sanitizer keeps seeing every object.
 */
#ifndef HG_SLAB_H
#define HG_SLAB_H

#include <stdbool.h>
#include <stddef.h>

struct slab;

/*
 * A slab of objects of size bytes (at most 4 KiB) that keeps up to spares
 * empty chunks; zero: objects come zeroed.  NULL with errno on failure.
 */
struct slab	*slab_new(size_t size, unsigned spares, bool zero);

/* Unmap every chunk; objects still allocated are lost with them. */
void		 slab_free(struct slab *);

/* An object (zeroed if the slab says so), or NULL with errno ENOMEM. */
void		*slab_get(struct slab *);

/* Give an object back; NULL is ignored. */
void		 slab_put(struct slab *, void *);

/* Unmap the spare empty chunks. */
void		 slab_trim(struct slab *);

/* Objects allocated and chunks mapped (spares included). */
size_t		 slab_used(const struct slab *);
size_t		 slab_chunks(const struct slab *);

#endif
