/* notify.c: tell systemd where the daemon is in its life. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "notify.h"

/* Listeners are bound and the loop is about to run. */
void
notify_ready(void)
{
	sd_notify(0, "READY=1");
}

/* A reload starts; systemd >= 253 wants the monotonic time with it. */
void
notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

/* Shutdown has begun. */
void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
}

/* A free-form status line, shown by systemctl status. */
void
notify_status(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", buf);
}
