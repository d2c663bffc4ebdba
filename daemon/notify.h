/*
 * notify.h: the systemd notification protocol (sd_notify).  Every call is a
 * no-op when NOTIFY_SOCKET is not set, so the daemon runs the same by hand.
 */
#ifndef HG_NOTIFY_H
#define HG_NOTIFY_H

void	notify_ready(void);
void	notify_reloading(void);
void	notify_stopping(void);
void	notify_status(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
