/*
 * log.h: the error log.
 *
 * Lines go to stderr, one write(2) each, so that worker threads never
 * interleave.  When JOURNAL_STREAM is set (stderr is the journal) each line
 * starts with its syslog priority, "<3>", as sd-daemon(3) describes;
 * otherwise it starts with a time stamp and the level name.
 *
 * The level is checked before anything is formatted: use the macros.
 */
#ifndef HG_LOG_H
#define HG_LOG_H

#include <stdarg.h>

#include "config.h"

extern int log_level_current;

/* Set the level and look at JOURNAL_STREAM once. */
void	log_init(enum config_log_level);
void	log_set_level(enum config_log_level);
const char *log_level_name(enum config_log_level);

void	log_write(enum config_log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_vwrite(enum config_log_level, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));

#define log_at(lvl, ...) do {						\
	if ((int)(lvl) <= log_level_current)				\
		log_write((lvl), __VA_ARGS__);				\
} while (0)
#define log_crit(...)	log_at(CONFIG_LOG_CRIT, __VA_ARGS__)
#define log_err(...)	log_at(CONFIG_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_at(CONFIG_LOG_WARNING, __VA_ARGS__)
#define log_info(...)	log_at(CONFIG_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_at(CONFIG_LOG_DEBUG, __VA_ARGS__)

#endif
