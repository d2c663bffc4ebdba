/* accesslog.c: the buffered access-log writer, in logfmt or JSON. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accesslog.h"
#include "fmt.h"

#define ACCESSLOG_BUF_SIZE	(64 * 1024)
#define ACCESSLOG_FLUSH_MS	50
#define ACCESSLOG_REPORT_MS	60000
#define ACCESSLOG_EINTR_MAX	8

/*
 * A line is bounded so that the buffer can always take it after a flush:
 * every escaped string has a cap on its output (quotes and "..." included)
 * and everything else (keys, numbers, time, absent values) fits in
 * ACCESSLOG_FIXED, which is over twice what the longest JSON needs.
 */
#define ACCESSLOG_FIXED		1024
#define ACCESSLOG_CAP_CLIENT	256
#define ACCESSLOG_CAP_METHOD	256
#define ACCESSLOG_CAP_TARGET	12288
#define ACCESSLOG_CAP_ROUTE	1024
#define ACCESSLOG_CAP_UPSTREAM	512
#define ACCESSLOG_CAP_OUTCOME	128
#define ACCESSLOG_CAP_ID	288
#define ACCESSLOG_CAP_TLS	32

_Static_assert(ACCESSLOG_FIXED + ACCESSLOG_CAP_CLIENT + ACCESSLOG_CAP_METHOD +
    ACCESSLOG_CAP_TARGET + ACCESSLOG_CAP_ROUTE + ACCESSLOG_CAP_UPSTREAM +
    ACCESSLOG_CAP_OUTCOME + ACCESSLOG_CAP_ID + ACCESSLOG_CAP_TLS <=
    ACCESSLOG_LINE_MAX,
    "caps exceed the line");
_Static_assert(ACCESSLOG_LINE_MAX <= ACCESSLOG_BUF_SIZE, "buffer too small");

struct accesslog {
	char		*al_dest;	/* as given: path, "stderr", "off" */
	enum config_log_format al_format;
	int		 al_fd;		/* -1 when off */
	int		 al_own_fd;	/* a file we opened and must close */
	size_t		 al_chunk;	/* the most one write(2) should hold */

	struct event	*al_timer;	/* NULL without an event base */
	int		 al_armed;
	char		*al_buf;
	size_t		 al_len;

	uint64_t	 al_dropped;
	uint64_t	 al_unreported;	/* dropped since the last report */
	int64_t		 al_unreported_since;	/* wall clock, seconds */
	int		 al_reported;
	int64_t		 al_report_ms;	/* monotonic time of the last report */
	void		(*al_errcb)(void *, const char *);
	void		*al_errarg;

	int64_t		 al_tc_sec;	/* the second al_tc_text shows */
	size_t		 al_tc_len;
	char		 al_tc_text[80];	/* "2026-11-24T12:00:00" */
};

/* Byte classes for escaping. */
enum {
	AC_PLAIN,	/* copied as is */
	AC_BARE,	/* ' ' and '=': copied, but logfmt quotes the value */
	AC_ESCAPE,	/* '"', '\', control bytes and DEL */
	AC_HIGH,	/* part of a UTF-8 sequence, or an invalid byte */
};

static const unsigned char accesslog_class[256] = {
	[0x00 ... 0x1f] = AC_ESCAPE,
	[' '] = AC_BARE,
	['='] = AC_BARE,
	['"'] = AC_ESCAPE,
	['\\'] = AC_ESCAPE,
	[0x7f] = AC_ESCAPE,
	[0x80 ... 0xff] = AC_HIGH,
};

static const char accesslog_hex[] = "0123456789abcdef";

/* Copy a string literal and step past it. */
#define ACCESSLOG_PUT(p, lit) \
	(memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)

/*
 * The length of the prefix of s that is copied unchanged: plain bytes and
 * valid UTF-8.  With bare set (an unquoted logfmt value) ' ' and '=' end it.
 */
static size_t
accesslog_span(const unsigned char *s, size_t len, int bare)
{
	size_t	i = 0, n;

	for (;;) {
		while (i < len && accesslog_class[s[i]] == AC_PLAIN)
			i++;
		if (i == len)
			return i;
		switch (accesslog_class[s[i]]) {
		case AC_BARE:
			if (bare)
				return i;
			i++;
			break;
		case AC_HIGH:
			if ((n = fmt_utf8_len(s + i, len - i)) == 0)
				return i;
			i += n;
			break;
		default:
			return i;
		}
	}
}

/* Write the escape for one byte that cannot be copied; return its length. */
static size_t
accesslog_escape(char *out, unsigned char c, int json)
{
	char	e = 0;

	switch (c) {
	case '"':
		e = '"';
		break;
	case '\\':
		e = '\\';
		break;
	case '\n':
		e = 'n';
		break;
	case '\r':
		e = 'r';
		break;
	case '\t':
		e = 't';
		break;
	}
	if (e != 0) {
		out[0] = '\\';
		out[1] = e;
		return 2;
	}
	if (!json) {
		memcpy(out, "\\x", 2);
		out[2] = accesslog_hex[c >> 4];
		out[3] = accesslog_hex[c & 0xf];
		return 4;
	}
	if (c >= 0x80) {
		memcpy(out, "\\ufffd", 6);
		return 6;
	}
	memcpy(out, "\\u00", 4);
	out[4] = accesslog_hex[c >> 4];
	out[5] = accesslog_hex[c & 0xf];
	return 6;
}

/*
 * Write s in double quotes, escaped for the format, never past limit: a
 * string that does not fit is cut at a character boundary and ends "...".
 */
static char *
accesslog_quoted(char *p, char *limit, const unsigned char *s, size_t len,
    int json)
{
	char	*end = limit - 4;	/* room for the closing ..." */
	char	 esc[6];
	size_t	 i = 0, n;

	*p++ = '"';
	while (i < len) {
		n = accesslog_span(s + i, len - i, 0);
		if (n > (size_t)(end - p)) {
			n = (size_t)(end - p);
			while (n > 0 && (s[i + n] & 0xc0) == 0x80)
				n--;
			memcpy(p, s + i, n);
			p += n;
			return ACCESSLOG_PUT(p, "...\"");
		}
		memcpy(p, s + i, n);
		p += n;
		i += n;
		if (i == len)
			break;
		n = accesslog_escape(esc, s[i], json);
		if (n > (size_t)(end - p))
			return ACCESSLOG_PUT(p, "...\"");
		memcpy(p, esc, n);
		p += n;
		i++;
	}
	*p++ = '"';
	return p;
}

/* Write a logfmt value: bare when it can be, else quoted; NULL is "-". */
static char *
accesslog_logfmt_str(char *p, size_t cap, const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;

	if (s == NULL) {
		*p = '-';
		return p + 1;
	}
	if (len > 0 && len <= cap - 4 && !(len == 1 && s[0] == '-') &&
	    accesslog_span(u, len, 1) == len) {
		memcpy(p, s, len);
		return p + len;
	}
	return accesslog_quoted(p, p + cap, u, len, 0);
}

/* Write a JSON string; NULL is null. */
static char *
accesslog_json_str(char *p, size_t cap, const char *s, size_t len)
{
	if (s == NULL)
		return ACCESSLOG_PUT(p, "null");
	return accesslog_quoted(p, p + cap, (const unsigned char *)s, len, 1);
}

/* Write microseconds as milliseconds with three decimals, or absent. */
static char *
accesslog_put_ms(char *p, int64_t us, int json)
{
	if (us < 0)
		return json ? ACCESSLOG_PUT(p, "null") : ACCESSLOG_PUT(p, "-");
	p = fmt_u64(p, (uint64_t)us / 1000);
	*p++ = '.';
	return fmt_u32_pad(p, (uint32_t)(us % 1000), 3);
}

/* Write a signed count that is absent when not positive (status) or
 * negative (deadline). */
static char *
accesslog_put_opt(char *p, int64_t v, int64_t min, int json)
{
	if (v < min)
		return json ? ACCESSLOG_PUT(p, "null") : ACCESSLOG_PUT(p, "-");
	return fmt_u64(p, (uint64_t)v);
}

/* Format a second as RFC 3339 UTC without a fraction. */
static size_t
accesslog_fmt_sec(char *buf, size_t len, int64_t sec)
{
	time_t		t = (time_t)sec;
	struct tm	tm;
	int		r;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	r = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
	if (r < 0)
		return 0;
	return (size_t)r < len ? (size_t)r : len - 1;
}

/* Write the time with milliseconds; gmtime runs once per second. */
static char *
accesslog_put_time(struct accesslog *al, char *p, int64_t us)
{
	int64_t		sec = us / 1000000, frac = us % 1000000;

	if (frac < 0) {
		frac += 1000000;
		sec--;
	}
	if (sec != al->al_tc_sec) {
		al->al_tc_len = accesslog_fmt_sec(al->al_tc_text,
		    sizeof al->al_tc_text, sec);
		al->al_tc_sec = sec;
	}
	memcpy(p, al->al_tc_text, al->al_tc_len);
	p += al->al_tc_len;
	*p++ = '.';
	p = fmt_u32_pad(p, (uint32_t)(frac / 1000), 3);
	*p++ = 'Z';
	return p;
}

/* Format a logfmt line. */
static char *
accesslog_logfmt(struct accesslog *al, const struct accesslog_entry *e,
    char *p)
{
	p = ACCESSLOG_PUT(p, "time=");
	p = accesslog_put_time(al, p, e->time_us);
	p = ACCESSLOG_PUT(p, " id=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_ID, e->id, e->id_len);
	p = ACCESSLOG_PUT(p, " client=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_CLIENT, e->client,
	    e->client_len);
	p = ACCESSLOG_PUT(p, " method=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_METHOD, e->method,
	    e->method_len);
	p = ACCESSLOG_PUT(p, " target=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_TARGET, e->target,
	    e->target_len);
	p = ACCESSLOG_PUT(p, " route=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_ROUTE, e->route,
	    e->route != NULL ? strlen(e->route) : 0);
	p = ACCESSLOG_PUT(p, " status=");
	p = accesslog_put_opt(p, e->status, 1, 0);
	p = ACCESSLOG_PUT(p, " outcome=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_OUTCOME,
	    outcome_name(e->outcome), strlen(outcome_name(e->outcome)));
	p = ACCESSLOG_PUT(p, " upstream=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_UPSTREAM, e->upstream,
	    e->upstream_len);
	p = ACCESSLOG_PUT(p, " tries=");
	p = fmt_u64(p, e->tries);
	if (e->hedged)
		p = ACCESSLOG_PUT(p, " hedged=1 won=");
	else
		p = ACCESSLOG_PUT(p, " hedged=0 won=");
	p = accesslog_put_opt(p, e->won, 1, 0);
	p = ACCESSLOG_PUT(p, " deadline_ms=");
	p = accesslog_put_opt(p, e->deadline_ms, 0, 0);
	p = ACCESSLOG_PUT(p, " bytes_in=");
	p = fmt_u64(p, e->bytes_in);
	p = ACCESSLOG_PUT(p, " bytes_out=");
	p = fmt_u64(p, e->bytes_out);
	p = ACCESSLOG_PUT(p, " head_ms=");
	p = accesslog_put_ms(p, e->head_us, 0);
	p = ACCESSLOG_PUT(p, " connect_ms=");
	p = accesslog_put_ms(p, e->connect_us, 0);
	p = ACCESSLOG_PUT(p, " upstream_header_ms=");
	p = accesslog_put_ms(p, e->upstream_header_us, 0);
	p = ACCESSLOG_PUT(p, " total_ms=");
	p = accesslog_put_ms(p, e->total_us, 0);
	p = ACCESSLOG_PUT(p, " tls=");
	p = accesslog_logfmt_str(p, ACCESSLOG_CAP_TLS, e->tls,
	    e->tls != NULL ? strlen(e->tls) : 0);
	*p++ = '\n';
	return p;
}

/* Format a JSON line. */
static char *
accesslog_json(struct accesslog *al, const struct accesslog_entry *e,
    char *p)
{
	p = ACCESSLOG_PUT(p, "{\"time\":\"");
	p = accesslog_put_time(al, p, e->time_us);
	p = ACCESSLOG_PUT(p, "\",\"id\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_ID, e->id, e->id_len);
	p = ACCESSLOG_PUT(p, ",\"client\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_CLIENT, e->client,
	    e->client_len);
	p = ACCESSLOG_PUT(p, ",\"method\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_METHOD, e->method,
	    e->method_len);
	p = ACCESSLOG_PUT(p, ",\"target\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_TARGET, e->target,
	    e->target_len);
	p = ACCESSLOG_PUT(p, ",\"route\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_ROUTE, e->route,
	    e->route != NULL ? strlen(e->route) : 0);
	p = ACCESSLOG_PUT(p, ",\"status\":");
	p = accesslog_put_opt(p, e->status, 1, 1);
	p = ACCESSLOG_PUT(p, ",\"outcome\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_OUTCOME,
	    outcome_name(e->outcome), strlen(outcome_name(e->outcome)));
	p = ACCESSLOG_PUT(p, ",\"upstream\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_UPSTREAM, e->upstream,
	    e->upstream_len);
	p = ACCESSLOG_PUT(p, ",\"tries\":");
	p = fmt_u64(p, e->tries);
	if (e->hedged)
		p = ACCESSLOG_PUT(p, ",\"hedged\":1,\"won\":");
	else
		p = ACCESSLOG_PUT(p, ",\"hedged\":0,\"won\":");
	p = accesslog_put_opt(p, e->won, 1, 1);
	p = ACCESSLOG_PUT(p, ",\"deadline_ms\":");
	p = accesslog_put_opt(p, e->deadline_ms, 0, 1);
	p = ACCESSLOG_PUT(p, ",\"bytes_in\":");
	p = fmt_u64(p, e->bytes_in);
	p = ACCESSLOG_PUT(p, ",\"bytes_out\":");
	p = fmt_u64(p, e->bytes_out);
	p = ACCESSLOG_PUT(p, ",\"head_ms\":");
	p = accesslog_put_ms(p, e->head_us, 1);
	p = ACCESSLOG_PUT(p, ",\"connect_ms\":");
	p = accesslog_put_ms(p, e->connect_us, 1);
	p = ACCESSLOG_PUT(p, ",\"upstream_header_ms\":");
	p = accesslog_put_ms(p, e->upstream_header_us, 1);
	p = ACCESSLOG_PUT(p, ",\"total_ms\":");
	p = accesslog_put_ms(p, e->total_us, 1);
	p = ACCESSLOG_PUT(p, ",\"tls\":");
	p = accesslog_json_str(p, ACCESSLOG_CAP_TLS, e->tls,
	    e->tls != NULL ? strlen(e->tls) : 0);
	p = ACCESSLOG_PUT(p, "}\n");
	return p;
}

/* Format one line into buf, which holds ACCESSLOG_LINE_MAX bytes. */
size_t
accesslog_format(struct accesslog *al, const struct accesslog_entry *e,
    char *buf)
{
	char	*end;

	if (al->al_format == CONFIG_LOG_JSON)
		end = accesslog_json(al, e, buf);
	else
		end = accesslog_logfmt(al, e, buf);
	return (size_t)(end - buf);
}

/* The most one escaped string of len bytes can take with the given cap. */
static size_t
accesslog_str_bound(size_t len, size_t cap)
{
	return len >= cap / 6 ? cap : 6 * len + 2;
}

/* An upper bound on the length of the entry's line, cheap to compute. */
static size_t
accesslog_bound(const struct accesslog_entry *e)
{
	return ACCESSLOG_FIXED + ACCESSLOG_CAP_ROUTE + ACCESSLOG_CAP_OUTCOME +
	    ACCESSLOG_CAP_TLS +
	    accesslog_str_bound(e->id_len, ACCESSLOG_CAP_ID) +
	    accesslog_str_bound(e->client_len, ACCESSLOG_CAP_CLIENT) +
	    accesslog_str_bound(e->method_len, ACCESSLOG_CAP_METHOD) +
	    accesslog_str_bound(e->target_len, ACCESSLOG_CAP_TARGET) +
	    accesslog_str_bound(e->upstream_len, ACCESSLOG_CAP_UPSTREAM);
}

/* Count dropped lines, and tell the callback unless it was told less than
 * a minute ago. */
static void
accesslog_drop(struct accesslog *al, uint64_t lines, int error)
{
	struct timespec	 ts;
	int64_t		 now;
	char		 since[80], ebuf[128], msg[1024];
	const char	*estr;

	if (lines == 0)
		return;
	al->al_dropped += lines;
	if (al->al_unreported == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		al->al_unreported_since = ts.tv_sec;
	}
	al->al_unreported += lines;
	if (al->al_errcb == NULL)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (al->al_reported && now - al->al_report_ms < ACCESSLOG_REPORT_MS)
		return;
	accesslog_fmt_sec(since, sizeof since, al->al_unreported_since);
	estr = strerror_r(error, ebuf, sizeof ebuf);
	snprintf(msg, sizeof msg,
	    "access log %s: write failed: %s; %llu line%s dropped since %sZ",
	    al->al_dest, estr, (unsigned long long)al->al_unreported,
	    al->al_unreported == 1 ? "" : "s", since);
	al->al_reported = 1;
	al->al_report_ms = now;
	al->al_unreported = 0;
	al->al_errcb(al->al_errarg, msg);
}

/* The number of newlines, that is of lines, in buf. */
static uint64_t
accesslog_count_lines(const char *buf, size_t len)
{
	const char	*p = buf, *end = buf + len;
	uint64_t	 n = 0;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* How much of the buffer from off the next write(2) takes: everything, or
 * on a pipe the whole lines that fit in al_chunk (at least one line). */
static size_t
accesslog_chunk_len(const struct accesslog *al, size_t off)
{
	const char	*s = al->al_buf + off, *nl;
	size_t		 left = al->al_len - off;

	if (left <= al->al_chunk)
		return left;
	if ((nl = memrchr(s, '\n', al->al_chunk)) != NULL)
		return (size_t)(nl - s) + 1;
	if ((nl = memchr(s, '\n', left)) != NULL)
		return (size_t)(nl - s) + 1;
	return left;
}

/* Arm the flush timer unless it is armed already. */
static void
accesslog_arm(struct accesslog *al)
{
	struct timeval	tv = { 0, ACCESSLOG_FLUSH_MS * 1000 };

	if (al->al_timer == NULL || al->al_armed)
		return;
	evtimer_add(al->al_timer, &tv);
	al->al_armed = 1;
}

/*
 * Write the buffer out.  EINTR is retried a few times; EAGAIN (or EINTR
 * that persists) keeps what is left for the timer to retry.  Any other
 * error drops the lines not yet written whole, since nothing suggests a
 * retry would do better, and a growing backlog would only block the loop.
 */
void
accesslog_flush(struct accesslog *al)
{
	size_t	 off = 0, n;
	ssize_t	 w;
	int	 eintr = 0, error;

	if (al == NULL || al->al_fd == -1)
		return;
	while (off < al->al_len) {
		n = accesslog_chunk_len(al, off);
		w = write(al->al_fd, al->al_buf + off, n);
		if (w > 0) {
			off += (size_t)w;
			continue;
		}
		error = w < 0 ? errno : EIO;
		if (error == EINTR && ++eintr < ACCESSLOG_EINTR_MAX)
			continue;
		if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) {
			memmove(al->al_buf, al->al_buf + off, al->al_len - off);
			al->al_len -= off;
			accesslog_arm(al);
			return;
		}
		accesslog_drop(al, accesslog_count_lines(al->al_buf + off,
		    al->al_len - off), error);
		break;
	}
	al->al_len = 0;
}

/* Start an entry with every field absent but time, id and client. */
void
accesslog_entry_init(struct accesslog_entry *e, int64_t time_us,
    const char *id, size_t id_len, const char *client)
{
	memset(e, 0, sizeof *e);
	e->time_us = time_us;
	e->id = id;
	e->id_len = id_len;
	e->client = client;
	e->client_len = strlen(client);
	e->deadline_ms = -1;
	e->head_us = e->connect_us = e->upstream_header_us = e->total_us = -1;
}

/* Whether the writer writes anything. */
bool
accesslog_enabled(const struct accesslog *al)
{
	return al != NULL && al->al_fd != -1;
}

/* Append one line to the buffer, flushing first if it might not fit. */
void
accesslog_write(struct accesslog *al, const struct accesslog_entry *e)
{
	size_t	need;

	if (al == NULL || al->al_fd == -1)
		return;
	need = accesslog_bound(e);
	if (ACCESSLOG_BUF_SIZE - al->al_len < need) {
		accesslog_flush(al);
		if (ACCESSLOG_BUF_SIZE - al->al_len < need) {
			accesslog_drop(al, 1, EAGAIN);
			return;
		}
	}
	if (al->al_len == 0)
		accesslog_arm(al);
	al->al_len += accesslog_format(al, e, al->al_buf + al->al_len);
}

/* The flush timer. */
static void
accesslog_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct accesslog	*al = arg;

	(void)fd;
	(void)what;
	al->al_armed = 0;
	accesslog_flush(al);
}

/* Open the log file; on failure return -1 and describe it in err. */
static int
accesslog_open_file(const char *path, char *err, size_t errlen)
{
	int	fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		snprintf(err, errlen, "access log %s: %s", path,
		    strerror(errno));
	return fd;
}

/* The largest write(2) that keeps lines whole when others share fd:
 * PIPE_BUF on a pipe or socket, the whole buffer elsewhere. */
static size_t
accesslog_chunk_size(int fd)
{
	struct stat	st;

	if (fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) ||
	    S_ISSOCK(st.st_mode)))
		return PIPE_BUF;
	return ACCESSLOG_BUF_SIZE;
}

/* Open a writer on a path, "stderr" or "off". */
struct accesslog *
accesslog_open(struct event_base *base, const char *dest,
    enum config_log_format format, char *err, size_t errlen)
{
	struct accesslog	*al;

	if (dest == NULL)
		dest = "off";
	if ((al = calloc(1, sizeof *al)) == NULL)
		goto nomem;
	al->al_format = format;
	al->al_fd = -1;
	al->al_tc_sec = INT64_MIN;
	if ((al->al_dest = strdup(dest)) == NULL)
		goto nomem;
	if (strcmp(dest, "off") == 0)
		return al;
	if ((al->al_buf = malloc(ACCESSLOG_BUF_SIZE)) == NULL)
		goto nomem;
	if (base != NULL && (al->al_timer = evtimer_new(base,
	    accesslog_timer_cb, al)) == NULL)
		goto nomem;
	if (strcmp(dest, "stderr") == 0)
		al->al_fd = STDERR_FILENO;
	else {
		if ((al->al_fd = accesslog_open_file(dest, err, errlen)) == -1)
			goto fail;
		al->al_own_fd = 1;
	}
	al->al_chunk = accesslog_chunk_size(al->al_fd);
	return al;

nomem:
	snprintf(err, errlen, "access log %s: out of memory", dest);
fail:
	accesslog_close(al);
	return NULL;
}

/* Flush, then reopen the file at the same path. */
int
accesslog_reopen(struct accesslog *al, char *err, size_t errlen)
{
	int	fd;

	if (al == NULL)
		return 0;
	accesslog_flush(al);
	if (!al->al_own_fd)
		return 0;
	if ((fd = accesslog_open_file(al->al_dest, err, errlen)) == -1)
		return -1;
	close(al->al_fd);
	al->al_fd = fd;
	al->al_chunk = accesslog_chunk_size(fd);
	return 0;
}

/* Flush what can be written, drop the rest, and free the writer. */
void
accesslog_close(struct accesslog *al)
{
	if (al == NULL)
		return;
	accesslog_flush(al);
	if (al->al_len > 0)
		accesslog_drop(al, accesslog_count_lines(al->al_buf,
		    al->al_len), EAGAIN);
	if (al->al_timer != NULL)
		event_free(al->al_timer);
	if (al->al_own_fd && al->al_fd != -1)
		close(al->al_fd);
	free(al->al_buf);
	free(al->al_dest);
	free(al);
}

/* The number of lines dropped so far. */
uint64_t
accesslog_dropped(const struct accesslog *al)
{
	return al != NULL ? al->al_dropped : 0;
}

/* Set the write-failure callback. */
void
accesslog_set_error_cb(struct accesslog *al,
    void (*cb)(void *, const char *), void *arg)
{
	if (al == NULL)
		return;
	al->al_errcb = cb;
	al->al_errarg = arg;
}
