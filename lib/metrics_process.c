/*
 * metrics_process.c: the values of the standard process_* metrics, read
 * from the kernel (Linux): CPU time from getrusage(), memory and start
 * time from /proc/self/stat, boot time from /proc/stat, open descriptors
 * from /proc/self/fd and their limit from getrlimit().
 */
#include <sys/resource.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"

/* Read a small file whole into buf, NUL-terminated; its length or -1. */
static ssize_t
metrics_process_file(const char *path, char *buf, size_t cap)
{
	ssize_t n, len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while ((size_t)len < cap - 1 &&
	    (n = read(fd, buf + len, cap - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	return len;
}

/*
 * The boot time from /proc/stat's btime line, in seconds, or -1.  Line by
 * line: the intr line before it can be kilobytes long.
 */
static int64_t
metrics_process_boot(void)
{
	int64_t boot = -1;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "btime ", 6) == 0) {
			boot = strtoll(line + 6, NULL, 10);
			break;
		}
	}
	free(line);
	fclose(f);
	return boot;
}

/*
 * Memory and start time from /proc/self/stat.  Its fields after the
 * command, which is in parentheses and may hold anything, are numbered
 * from 3 (the state): the start time in clock ticks since boot is field
 * 22, the virtual size in bytes 23, the resident pages 24.
 */
static void
metrics_process_stat(struct metrics_process *p)
{
	char buf[1024], *s, *end;
	long long v[25];
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	int64_t boot;
	int f;

	if (metrics_process_file("/proc/self/stat", buf, sizeof buf) < 0 ||
	    (s = strrchr(buf, ')')) == NULL)
		return;
	s += 2;				/* ") " */
	if (*s != '\0')
		s++;			/* the state, one letter */
	for (f = 4; f <= 24; f++) {
		v[f] = strtoll(s, &end, 10);
		if (end == s)
			return;
		s = end;
	}
	p->virtual_bytes = v[23];
	if (page > 0)
		p->resident_bytes = v[24] * page;
	if (tick > 0 && (boot = metrics_process_boot()) >= 0)
		p->start_us = boot * 1000000 + v[22] * 1000000 / tick;
}

/* The open descriptors: /proc/self/fd's entries but the one reading it. */
static int64_t
metrics_process_fds(void)
{
	struct dirent *de;
	int64_t n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d))
			n++;
	}
	closedir(d);
	return n;
}

/* Read the calling process's values. */
void
metrics_process_read(struct metrics_process *p)
{
	struct rusage ru;
	struct rlimit rl;

	*p = (struct metrics_process){ -1, -1, -1, -1, -1, -1 };
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		p->cpu_us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) *
		    1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
	metrics_process_stat(p);
	p->open_fds = metrics_process_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		p->max_fds = (int64_t)rl.rlim_cur;
}
