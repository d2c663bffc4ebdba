/*
 * buf.c: recycled I/O buffers.
 *
 * Standard buffers are mapped one by one rather than taken from malloc:
 * thousands of them come and go with a burst of requests, and in malloc's
 * heap they would end up interleaved with small blocks that live on, so
 * their pages could not go back after the burst.  A mapping costs a system
 * call, so freed buffers are cached per thread and the cache is what
 * serves steady traffic.  Grown buffers (rare: long heads) use malloc.
 */
#include <sys/mman.h>
#include <sys/uio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sys.h"

#define BUF_CACHE_MAX	1024

#if defined(__SANITIZE_ADDRESS__)
#define BUF_MALLOC	1	/* let the sanitizer see every buffer */
#endif

static void *
buf_map(void)
{
#ifdef BUF_MALLOC
	return malloc(BUF_SIZE);
#else
	void *p = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	return p;
#endif
}

static void
buf_unmap(void *p)
{
#ifdef BUF_MALLOC
	free(p);
#else
	munmap(p, BUF_SIZE);
#endif
}

/* A thread's free buffers, one list per pool, linked through their first
 * bytes; BUF_CACHE_MAX bounds them all together. */
static __thread void	*buf_cache[BUF_NPOOL];
static __thread unsigned buf_ncache;

/* Take a standard buffer from the cache, or allocate one. */
int
buf_acquire(struct buf *b)
{
	void *p;

	if (b->b_data != NULL)
		return 0;
	if ((p = buf_cache[b->b_pool]) != NULL) {
		memcpy(&buf_cache[b->b_pool], p, sizeof(void *));
		buf_ncache--;
	} else if ((p = buf_map()) == NULL)
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
	if (b->b_cap != BUF_SIZE)
		free(b->b_data);
	else if (buf_ncache < BUF_CACHE_MAX) {
		memcpy(b->b_data, &buf_cache[b->b_pool], sizeof(void *));
		buf_cache[b->b_pool] = b->b_data;
		buf_ncache++;
	} else
		buf_unmap(b->b_data);
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

	for (int i = 0; i < BUF_NPOOL; i++) {
		for (p = buf_cache[i]; p != NULL; p = next) {
			memcpy(&next, p, sizeof(void *));
			buf_unmap(p);
		}
		buf_cache[i] = NULL;
	}
	buf_ncache = 0;
}

/*
 * Write iov to fd now, as far as the socket takes it, behind any bytes
 * already waiting in pending (order is kept); copy what is left into
 * pending.  Returns 1 when bytes wait in pending (the caller then waits for
 * the socket to be writable), 0 when everything went out, and -1 on a
 * write error or when memory is exhausted (errno says which).
 */
int
buf_send(int fd, struct buf *pending, const struct iovec *iov, int n)
{
	size_t total = 0, off;
	ssize_t w = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (buf_used(pending) == 0) {
		/* One piece goes by write(2): writev(2) costs the kernel a
		 * copy and a check of the iovec array on top. */
		do
			w = n == 1 ? sys_write(fd, iov[0].iov_base,
			    iov[0].iov_len) : sys_writev(fd, iov, n);
		while (w < 0 && errno == EINTR);
		if (w < 0 && errno != EAGAIN)
			return -1;
		if (w < 0)
			w = 0;
		if ((size_t)w == total)
			return 0;
	}
	if (buf_grow(pending, buf_used(pending) +
	    (uint32_t)(total - (size_t)w)) != 0) {
		errno = ENOMEM;
		return -1;
	}
	buf_compact(pending);
	off = (size_t)w;
	for (int i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;

		if (off >= len) {
			off -= len;
			continue;
		}
		memcpy(pending->b_data + pending->b_len,
		    (const char *)iov[i].iov_base + off, len - off);
		pending->b_len += (uint32_t)(len - off);
		off = 0;
	}
	return 1;
}
