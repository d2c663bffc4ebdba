/* buf.c: recycled I/O buffers. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_CACHE_MAX	1024

/* A thread's free buffers, linked through their first bytes. */
static __thread void	*buf_cache;
static __thread unsigned buf_ncache;

/* Take a standard buffer from the cache, or allocate one. */
int
buf_acquire(struct buf *b)
{
	void *p;

	if (b->b_data != NULL)
		return 0;
	if ((p = buf_cache) != NULL) {
		memcpy(&buf_cache, p, sizeof(void *));
		buf_ncache--;
	} else if ((p = malloc(BUF_SIZE)) == NULL)
		return -1;
	b->b_data = p;
	b->b_off = b->b_len = 0;
	b->b_cap = BUF_SIZE;
	return 0;
}

/* Return the storage to the cache (standard size) or free it (grown). */
void
buf_release(struct buf *b)
{
	if (b->b_data == NULL)
		return;
	if (b->b_cap == BUF_SIZE && buf_ncache < BUF_CACHE_MAX) {
		memcpy(b->b_data, &buf_cache, sizeof(void *));
		buf_cache = b->b_data;
		buf_ncache++;
	} else
		free(b->b_data);
	b->b_data = NULL;
	b->b_off = b->b_len = b->b_cap = 0;
}

/* Grow to at least cap bytes; the content and offsets are kept. */
int
buf_grow(struct buf *b, uint32_t cap)
{
	uint32_t off, len;
	char *p;

	if (b->b_data == NULL && buf_acquire(b) != 0)
		return -1;
	if (cap <= b->b_cap)
		return 0;
	if ((p = malloc(cap)) == NULL)
		return -1;
	off = b->b_off;
	len = b->b_len;
	memcpy(p, b->b_data, len);
	buf_release(b);
	b->b_data = p;
	b->b_off = off;
	b->b_len = len;
	b->b_cap = cap;
	return 0;
}

/* Slide the unconsumed bytes to the front. */
void
buf_compact(struct buf *b)
{
	uint32_t n = buf_used(b);

	if (b->b_off == 0)
		return;
	if (n > 0)
		memmove(b->b_data, b->b_data + b->b_off, n);
	b->b_off = 0;
	b->b_len = n;
}

/* Free every cached buffer of this thread. */
void
buf_cache_drain(void)
{
	void *p, *next;

	for (p = buf_cache; p != NULL; p = next) {
		memcpy(&next, p, sizeof(void *));
		free(p);
	}
	buf_cache = NULL;
	buf_ncache = 0;
}
