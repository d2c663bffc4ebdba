/* log.c: the error log, on stderr, with journal priorities when under systemd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level_current = CONFIG_LOG_INFO;
static int log_journal;

/* Set the level and decide between journal prefixes and plain lines. */
void
log_init(enum config_log_level level)
{
	const char *js = getenv("JOURNAL_STREAM");

	log_journal = js != NULL && *js != '\0';
	log_level_current = level;
}

/* Change the level, as a reload does. */
void
log_set_level(enum config_log_level level)
{
	log_level_current = level;
}

/* The name of a level, as the config spells it. */
const char *
log_level_name(enum config_log_level level)
{
	switch (level) {
	case CONFIG_LOG_CRIT:
		return "crit";
	case CONFIG_LOG_ERR:
		return "error";
	case CONFIG_LOG_WARNING:
		return "warning";
	case CONFIG_LOG_INFO:
		return "info";
	case CONFIG_LOG_DEBUG:
		return "debug";
	}
	return "?";
}

/* Format one line and write it to stderr with a single write(2). */
void
log_vwrite(enum config_log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n;
	int r;

	if (log_journal) {
		r = snprintf(line, sizeof line, "<%d>", (int)level);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		r = snprintf(line, sizeof line,
		    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		    log_level_name(level));
	}
	n = r > 0 ? (size_t)r : 0;
	r = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof line - 2)
		n = sizeof line - 2;	/* truncated: keep the newline */
	line[n++] = '\n';
	/* Nothing useful can be done if stderr itself fails. */
	if (write(STDERR_FILENO, line, n) < 0)
		errno = 0;
}

/* printf-style wrapper around log_vwrite(). */
void
log_write(enum config_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, fmt, ap);
	va_end(ap);
}
