/*
 * accesslog.h: the access log, one line per finished request.
 *
 * A writer belongs to one worker thread and is not thread-safe.  Several
 * writers (one per worker) may share one file: the file is opened with
 * O_APPEND and every write(2) holds whole lines only, so lines never
 * interleave.  On a pipe or socket (stderr under systemd) each write(2) is
 * kept within PIPE_BUF where the lines allow it, for the same reason.
 *
 * The event loop never blocks on the log: lines are formatted straight into
 * a 64 KiB buffer, which is written with one write(2) 50 ms after its first
 * line (one timer, armed only when the buffer goes from empty to non-empty),
 * whenever the next line would not fit, and on accesslog_flush(),
 * accesslog_reopen() and accesslog_close().
 *
 * Write failures never stop the daemon.  The unwritten lines are dropped and
 * counted (accesslog_dropped()), and the error callback, if set, is called
 * at most once a minute with a ready-made message that counts the lines
 * dropped since the last one:
 *   access log /var/log/hg.log: write failed: No space left on device;
 *   12 lines dropped since 2026-11-24T12:00:00Z
 * Lines dropped after a report are told in the next one, at the next
 * failure a minute or more later.
 * A destination that would block (EAGAIN) keeps its lines and is retried on
 * the timer; a line that finds no room then is dropped and counted too.
 *
 * Format.  Fields, in this order: time id client method target route status
 * outcome upstream tries deadline_ms bytes_in bytes_out head_ms connect_ms
 * upstream_header_ms total_ms tls.  time is RFC 3339 UTC with milliseconds;
 * tls is the client connection's protocol ("TLSv1.3"), absent for plain; id is
 * the request id (the client's X-Request-Id, or 16 lowercase hex digits of
 * ours); durations are milliseconds with three decimals.
 * An absent value (NULL string, negative timing or deadline, status 0) is
 * "-" in logfmt and null in JSON.
 *
 * Byte strings are escaped, so a line is always one line of valid UTF-8.
 * Valid UTF-8 sequences (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF) pass through unchanged in both formats.  Any other byte
 * with the high bit set is "invalid" and is handled one byte at a time.
 *   logfmt: a value is written bare unless it is empty or holds a space,
 *     '=', '"', '\', a control byte (0x00-0x1f, 0x7f) or an invalid byte;
 *     then it is quoted, with \" \\ \n \r \t and \xHH (lowercase) for the
 *     other control and invalid bytes.  Decoding is exact.
 *   JSON: \" \\ \n \r \t, \u00XX for the other control bytes and DEL, and
 *     \ufffd (the replacement character) for each invalid byte.
 * A string too long for its share of the line (the target may take up to
 * 12 KiB of escaped output) is cut at a character boundary and ends in
 * "..." inside its quotes.
 */
#ifndef HG_ACCESSLOG_H
#define HG_ACCESSLOG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "outcome.h"

#include "config.h"

struct event_base;
struct accesslog;

/* The longest line accesslog_format() writes, newline included. */
#define ACCESSLOG_LINE_MAX	16384

/* One finished request, filled by the proxy; strings need not be NUL
 * terminated except route.  NULL strings are absent. */
struct accesslog_entry {
	int64_t		 time_us;	/* CLOCK_REALTIME at request start */
	const char	*id;		/* the request id */
	size_t		 id_len;
	const char	*client;	/* "127.0.0.1:5555", "[::1]:5555" */
	size_t		 client_len;
	const char	*method;
	size_t		 method_len;
	const char	*target;
	size_t		 target_len;
	const char	*route;		/* the route prefix */
	const char	*upstream;	/* "127.0.0.1:9000" */
	size_t		 upstream_len;
	int		 status;	/* 0 = none sent; abort:client is 499 */
	enum outcome	 outcome;
	unsigned	 tries;
	bool		 hedged;	/* a hedge started */
	unsigned	 won;		/* the try whose response was taken;
					   0 = none */
	int64_t		 deadline_ms;	/* deadline in force; < 0 = none */
	uint64_t	 bytes_in;
	uint64_t	 bytes_out;
	int64_t		 head_us;	/* phase timings; < 0 = not reached */
	int64_t		 connect_us;
	int64_t		 upstream_header_us;
	int64_t		 total_us;
	const char	*tls;		/* "TLSv1.3"; NULL = plain */
};

/*
 * Open a writer on dest: a file path (opened O_APPEND|O_CREAT, mode 0640),
 * "stderr", or "off" (a writer that writes nothing).  base runs the flush
 * timer; it may be NULL, and then lines go out only when the buffer fills or
 * on accesslog_flush().  On failure return NULL and describe it in err.
 */
struct accesslog *accesslog_open(struct event_base *base, const char *dest,
		    enum config_log_format format, char *err, size_t errlen);

/* Append one line.  Never blocks on the destination beyond one write(2) of
 * the full buffer, and never allocates.  A NULL writer is "off". */
void		 accesslog_write(struct accesslog *,
		    const struct accesslog_entry *);

/* Whether the writer writes anything ("off" and NULL do not). */
bool		 accesslog_enabled(const struct accesslog *);

/* Start an entry: the time, the id (id_len bytes) and the client address
 * (a C string) set, every
 * other field absent ("-" or null in the line); fill in what is known. */
void		 accesslog_entry_init(struct accesslog_entry *, int64_t time_us,
		    const char *id, size_t id_len, const char *client);

/* Format one line (newline included) into buf, which must hold
 * ACCESSLOG_LINE_MAX bytes, and return its length.  Writes nothing out. */
size_t		 accesslog_format(struct accesslog *,
		    const struct accesslog_entry *, char *buf);

/* Write out the buffer now. */
void		 accesslog_flush(struct accesslog *);

/*
 * Flush into the current file, then open the path again (SIGUSR1, after
 * logrotate has renamed the file).  On failure keep the old file, describe
 * the error in err and return -1.  For "stderr" and "off" this only flushes.
 */
int		 accesslog_reopen(struct accesslog *, char *err, size_t errlen);

/* Flush, close the file and free the writer.  NULL is allowed. */
void		 accesslog_close(struct accesslog *);

/* How many lines were dropped since the writer was opened. */
uint64_t	 accesslog_dropped(const struct accesslog *);

/*
 * Set the callback told about write failures, at most once per minute on
 * the monotonic clock.  msg is only valid during the call; the callback
 * must not use the writer.
 */
void		 accesslog_set_error_cb(struct accesslog *,
		    void (*cb)(void *arg, const char *msg), void *arg);

#endif
