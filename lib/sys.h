/*
 * sys.h: read(2), write(2) and writev(2) on the request path, without
 * glibc's cancellation wrappers.
 *
 * glibc makes read(), write() and writev() cancellation points: in a
 * process with threads each call switches asynchronous cancellation on and
 * off around the system call, two atomic operations.  hourglass never
 * cancels a thread, and its workers make four of these calls per proxied
 * request, so the hot path calls the kernel through syscall(2) instead.
 * Same return values and errno.
 */
#ifndef HG_SYS_H
#define HG_SYS_H

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
/* The sanitizer checks the buffers of these calls: keep them. */
#define sys_read	read
#define sys_write	write
#define sys_writev	writev
#else
static inline ssize_t
sys_read(int fd, void *buf, size_t len)
{
	return (ssize_t)syscall(SYS_read, fd, buf, len);
}

static inline ssize_t
sys_write(int fd, const void *buf, size_t len)
{
	return (ssize_t)syscall(SYS_write, fd, buf, len);
}

static inline ssize_t
sys_writev(int fd, const struct iovec *iov, int n)
{
	return (ssize_t)syscall(SYS_writev, fd, iov, n);
}
#endif

#endif
