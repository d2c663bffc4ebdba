/*
 * buf.h: I/O buffers from a per-thread free list.
 *
 * A connection holds a buffer only while bytes are in flight: an idle
 * keep-alive connection holds none.  Buffers of the standard size are
 * recycled, so steady traffic allocates nothing.  A buffer may grow past
 * the standard size (a long request head); a grown buffer is freed, not
 * recycled.
 *
 * Free buffers are handed out last in, first out, so the next taker gets
 * the one whose cache lines are still warm.  A buffer that will be held
 * across a wait (a client's request head, kept while its request runs;
 * bytes a slow peer has not taken yet) comes from a pool of its own
 * (b_pool = BUF_POOL_HELD before buf_acquire()): were it to take the warm
 * buffer, the relay's next read would land in a cold one, and the kernel's
 * copy into a cold buffer costs more (bench/README.md has the figure).
 */
#ifndef HG_BUF_H
#define HG_BUF_H

#include <stddef.h>
#include <stdint.h>

#define BUF_SIZE	32768

enum buf_pool {
	BUF_POOL_RELAY,		/* filled and drained within an event or two */
	BUF_POOL_HELD,		/* held across waits */
	BUF_NPOOL
};

struct buf {
	char		*b_data;	/* NULL when the buffer is released */
	uint32_t	 b_off;		/* first byte not yet consumed */
	uint32_t	 b_len;		/* end of the valid bytes */
	uint32_t	 b_cap;
	uint8_t		 b_pool;	/* enum buf_pool; zero (RELAY) by default */
};

/* Make sure b has storage, from b's pool; -1 when memory is exhausted. */
int	buf_acquire(struct buf *);

/* Give the storage back; b becomes empty. */
void	buf_release(struct buf *);

/* Grow b to hold at least cap bytes, keeping its content. */
int	buf_grow(struct buf *, uint32_t cap);

/* Move the unconsumed bytes to the start of the buffer. */
void	buf_compact(struct buf *);

struct iovec;

/* Write iov behind what waits in pending; keep the rest there.  1: bytes
 * wait, 0: all sent, -1: error (errno). */
int	buf_send(int fd, struct buf *pending, const struct iovec *, int n);

/* Free the thread's cached buffers (at thread exit). */
void	buf_cache_drain(void);

static inline uint32_t
buf_used(const struct buf *b)
{
	return b->b_len - b->b_off;
}

static inline uint32_t
buf_room(const struct buf *b)
{
	return b->b_cap - b->b_len;
}

#endif
