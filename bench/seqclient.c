/*
 * seqclient.c: N requests, one after the other, on one keep-alive
 * connection: the client of bench/instr.sh.
 *
 * usage: seqclient PORT PATH N
 *
 * Connects to 127.0.0.1:PORT (TCP_NODELAY), and N times sends the request
 * wrk sends, "GET PATH HTTP/1.1" with a Host header alone, and reads the
 * whole response, framed by its Content-Length or by chunked transfer
 * coding (decoded, trailers skipped), before it sends the next request.
 * Then it closes and prints one line
 *
 *     requests=N ok=K other=X clen=C chunked=T chunks=H body_bytes=B secs=S
 *
 * ok: status 200; clen and chunked: how the responses were framed; chunks:
 * non-empty chunks seen in all.  It stops at the first malformed response,
 * close or "Connection: close".  Exit status 0 when all N were 200, else 1;
 * 2 on a usage or connection error.
 */
#define _GNU_SOURCE
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE	65536

struct rd {
	int	 fd;
	size_t	 off;		/* first unread byte */
	size_t	 len;		/* bytes in buf */
	char	 buf[BUF_SIZE];
};

struct counts {
	unsigned long	 ok, other, clen, chunked, chunks;
	unsigned long long body;
};

static struct rd	 rd;

/* Read more into rd.buf, moving the unread rest to the front; 0, or -1 on
 * end of file, error or a full buffer. */
static int
rd_fill(void)
{
	ssize_t	 n;

	if (rd.off > 0) {
		memmove(rd.buf, rd.buf + rd.off, rd.len - rd.off);
		rd.len -= rd.off;
		rd.off = 0;
	}
	if (rd.len == sizeof rd.buf)
		return -1;
	do
		n = read(rd.fd, rd.buf + rd.len, sizeof rd.buf - rd.len);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	rd.len += (size_t)n;
	return 0;
}

/* The next line, up to CRLF (not included), NUL-terminated in place; NULL
 * on end of file or a line that does not fit. */
static char *
rd_line(void)
{
	char	*p, *nl;

	for (;;) {
		p = rd.buf + rd.off;
		nl = memchr(p, '\n', rd.len - rd.off);
		if (nl != NULL) {
			if (nl == p || nl[-1] != '\r')
				return NULL;
			nl[-1] = '\0';
			rd.off = (size_t)(nl + 1 - rd.buf);
			return p;
		}
		if (rd_fill() == -1)
			return NULL;
	}
}

/* Consume n body bytes; -1 on end of file. */
static int
rd_skip(unsigned long long n)
{
	size_t	 k;

	while (n > 0) {
		if (rd.off == rd.len && rd_fill() == -1)
			return -1;
		k = rd.len - rd.off;
		if (k > n)
			k = (size_t)n;
		rd.off += k;
		n -= k;
	}
	return 0;
}

/* A header value after "name:", spaces skipped, if line is that header. */
static const char *
header_value(const char *line, const char *name)
{
	size_t	 n = strlen(name);

	if (strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	line += n + 1;
	while (*line == ' ' || *line == '\t')
		line++;
	return line;
}

/* Read one whole response into the counts; 0, or -1 with a message. */
static int
read_response(struct counts *c)
{
	const char		*v;
	char			*line, *end;
	unsigned long long	 clen = 0, size;
	int			 status, chunked = 0, have_clen = 0;

	if ((line = rd_line()) == NULL)
		return fprintf(stderr, "seqclient: no status line\n"), -1;
	if (sscanf(line, "HTTP/1.%*1[01] %3d", &status) != 1)
		return fprintf(stderr, "seqclient: bad status line: %s\n", line), -1;
	while ((line = rd_line()) != NULL && *line != '\0') {
		if ((v = header_value(line, "content-length")) != NULL) {
			clen = strtoull(v, &end, 10);
			have_clen = end != v;
		} else if ((v = header_value(line, "transfer-encoding")) != NULL)
			chunked = strcasecmp(v, "chunked") == 0;
		else if ((v = header_value(line, "connection")) != NULL &&
		    strcasecmp(v, "close") == 0)
			return fprintf(stderr, "seqclient: Connection: close\n"), -1;
	}
	if (line == NULL)
		return fprintf(stderr, "seqclient: truncated head\n"), -1;
	if (status == 200)
		c->ok++;
	else
		c->other++;
	if (chunked) {
		c->chunked++;
		for (;;) {
			if ((line = rd_line()) == NULL)
				return fprintf(stderr, "seqclient: no chunk size\n"), -1;
			size = strtoull(line, &end, 16);
			if (end == line || (*end != '\0' && *end != ';'))
				return fprintf(stderr, "seqclient: bad chunk size: %s\n", line), -1;
			if (size == 0)
				break;
			if (rd_skip(size) == -1 || (line = rd_line()) == NULL || *line != '\0')
				return fprintf(stderr, "seqclient: bad chunk\n"), -1;
			c->chunks++;
			c->body += size;
		}
		while ((line = rd_line()) != NULL && *line != '\0')
			;	/* trailers */
		if (line == NULL)
			return fprintf(stderr, "seqclient: truncated trailers\n"), -1;
	} else if (have_clen) {
		c->clen++;
		if (rd_skip(clen) == -1)
			return fprintf(stderr, "seqclient: truncated body\n"), -1;
		c->body += clen;
	} else
		return fprintf(stderr, "seqclient: response without framing\n"), -1;
	return 0;
}

int
main(int argc, char **argv)
{
	static const int	 one = 1;
	struct sockaddr_in	 sin;
	struct timespec		 t0, t1;
	struct counts		 c;
	char			 req[1024];
	unsigned long		 n, i;
	ssize_t			 w;
	size_t			 reqlen, off;
	long			 port;
	char			*end;
	int			 len;

	if (argc != 4 || (port = strtol(argv[1], &end, 10)) <= 0 || port > 65535 ||
	    *end != '\0' || argv[2][0] != '/' ||
	    (n = strtoul(argv[3], &end, 10)) == 0 || *end != '\0') {
		fprintf(stderr, "usage: seqclient PORT PATH N\n");
		return 2;
	}
	/* wrk's request, as in the throughput part. */
	len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\n\r\n",
	    argv[2], port);
	if (len < 0 || (size_t)len >= sizeof req) {
		fprintf(stderr, "seqclient: path too long\n");
		return 2;
	}
	reqlen = (size_t)len;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((rd.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(rd.fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		perror("seqclient: connect");
		return 2;
	}
	setsockopt(rd.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&c, 0, sizeof c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		for (off = 0; off < reqlen; off += (size_t)w) {
			w = write(rd.fd, req + off, reqlen - off);
			if (w == -1 && errno == EINTR)
				w = 0;
			else if (w <= 0) {
				perror("seqclient: write");
				goto out;
			}
		}
		if (read_response(&c) == -1)
			break;
	}
out:
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(rd.fd);
	printf("requests=%lu ok=%lu other=%lu clen=%lu chunked=%lu chunks=%lu "
	    "body_bytes=%llu secs=%.3f\n", n, c.ok, c.other, c.clen, c.chunked,
	    c.chunks, c.body, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return c.ok == n ? 0 : 1;
}
