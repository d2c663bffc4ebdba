/*
 * main.c: the hourglass daemon: command line, configuration, event loop and
 * signals.  It runs in the foreground and never forks.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "accesslog.h"
#include "config.h"
#include "log.h"
#include "notify.h"
#include "proxy.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/usr/local/etc"
#endif
#define HOURGLASS_VERSION	"0.1.0"
#define DEFAULT_CONFIG		SYSCONFDIR "/hourglass/hourglass.ini"

struct daemon {
	const char		*dm_config_path;
	struct config		*dm_cfg;
	struct event_base	*dm_base;
	struct accesslog	*dm_alog;
	struct proxy		*dm_proxy;
	struct event		*dm_sig[4];
	unsigned		 dm_generation;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hourglass [-t] [-c FILE]\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "  -t, --test         check the configuration, print it with every\n"
	    "                     default filled in, and exit 0 (valid) or 1\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n",
	    DEFAULT_CONFIG);
}

/* Print each line of a config error text at error level. */
static void
log_config_errors(const char *errors)
{
	const char *p = errors, *nl;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		log_err("%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
		p = nl ? nl + 1 : NULL;
	}
}

/* Raise the descriptor limit to its hard maximum; many connections need it. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("setrlimit(RLIMIT_NOFILE): %s", strerror(errno));
	}
}

/* Access-log write failures arrive here, at most once a minute. */
static void
accesslog_failed(void *arg, const char *msg)
{
	(void)arg;
	log_warn("access log: %s", msg);
}

/* SIGTERM or SIGINT: stop.  The drain of requests in flight hooks in here. */
static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;

	(void)what;
	log_info("received %s, stopping", strsignal((int)sig));
	notify_stopping();
	event_base_loopexit(dm->dm_base, NULL);
}

/*
 * SIGHUP: load the file again.  A bad file is refused with all its errors
 * and the old configuration keeps serving; a good one replaces it for new
 * requests, while requests in flight keep a reference to the old one.
 */
static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;
	struct config *cfg;
	char *errors = NULL;

	(void)sig;
	(void)what;
	notify_reloading();
	cfg = config_load(dm->dm_config_path, &errors);
	if (cfg == NULL) {
		log_config_errors(errors);
		log_err("reload refused: %s is invalid, keeping configuration "
		    "generation %u", dm->dm_config_path, dm->dm_generation);
		free(errors);
		notify_ready();
		return;
	}
	cfg->generation = ++dm->dm_generation;
	config_unref(dm->dm_cfg);
	dm->dm_cfg = cfg;
	log_set_level(cfg->log_level);
	log_info("reloaded %s: configuration generation %u",
	    dm->dm_config_path, cfg->generation);
	notify_ready();
}

/* SIGUSR1: reopen the log files, after logrotate moved them. */
static void
on_reopen(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;
	char err[256];

	(void)sig;
	(void)what;
	if (accesslog_reopen(dm->dm_alog, err, sizeof err) != 0)
		log_err("access log: reopen failed, keeping the old file: %s",
		    err);
	else
		log_info("access log reopened");
}

/* Create the event base with precise (timerfd, microsecond) timers. */
static struct event_base *
base_create(void)
{
	struct event_config *ec;
	struct event_base *base;

	if ((ec = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	return base;
}

/* Wire the signals to their handlers through the event loop. */
static int
signals_setup(struct daemon *dm)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	event_callback_fn fns[4] = { on_stop, on_stop, on_reload, on_reopen };

	for (int i = 0; i < 4; i++) {
		dm->dm_sig[i] = evsignal_new(dm->dm_base, sigs[i], fns[i], dm);
		if (dm->dm_sig[i] == NULL || evsignal_add(dm->dm_sig[i], NULL))
			return -1;
	}
	return 0;
}

/* Release everything main() built, in reverse order. */
static void
daemon_free(struct daemon *dm)
{
	for (int i = 0; i < 4; i++)
		if (dm->dm_sig[i] != NULL)
			event_free(dm->dm_sig[i]);
	proxy_free(dm->dm_proxy);
	if (dm->dm_alog != NULL)
		accesslog_close(dm->dm_alog);
	if (dm->dm_base != NULL)
		event_base_free(dm->dm_base);
	if (dm->dm_cfg != NULL)
		config_unref(dm->dm_cfg);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon dm = { .dm_config_path = DEFAULT_CONFIG };
	char *errors = NULL, err[256];
	int ch, test = 0, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:thV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			dm.dm_config_path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'V':
			printf("hourglass %s\n", HOURGLASS_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "hourglass: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		return 1;
	}

	log_init(CONFIG_LOG_INFO);
	dm.dm_cfg = config_load(dm.dm_config_path, &errors);
	if (dm.dm_cfg == NULL) {
		fputs(errors, stderr);
		fprintf(stderr, "hourglass: %s: configuration is invalid\n",
		    dm.dm_config_path);
		free(errors);
		return 1;
	}
	if (test) {
		config_dump(dm.dm_cfg, stdout);
		fprintf(stderr, "hourglass: %s: configuration is valid\n",
		    dm.dm_config_path);
		config_unref(dm.dm_cfg);
		return 0;
	}
	log_set_level(dm.dm_cfg->log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if ((dm.dm_base = base_create()) == NULL) {
		log_crit("cannot create the event base");
		goto out;
	}
	dm.dm_alog = accesslog_open(dm.dm_base, dm.dm_cfg->access_log,
	    dm.dm_cfg->log_format, err, sizeof err);
	if (dm.dm_alog == NULL) {
		log_crit("access log %s: %s", dm.dm_cfg->access_log, err);
		goto out;
	}
	accesslog_set_error_cb(dm.dm_alog, accesslog_failed, NULL);
	dm.dm_proxy = proxy_new(dm.dm_base, dm.dm_cfg, dm.dm_alog, err,
	    sizeof err);
	if (dm.dm_proxy == NULL || proxy_listen(dm.dm_proxy, err,
	    sizeof err) != 0) {
		log_crit("%s", err);
		goto out;
	}
	if (signals_setup(&dm) != 0) {
		log_crit("cannot install signal handlers");
		goto out;
	}

	log_info("hourglass %s started: config %s, event method %s, "
	    "precise timers", HOURGLASS_VERSION, dm.dm_config_path,
	    event_base_get_method(dm.dm_base));
	notify_ready();
	if (event_base_dispatch(dm.dm_base) < 0) {
		log_crit("event loop failed");
		goto out;
	}
	log_info("stopped");
	rc = 0;
out:
	daemon_free(&dm);
	return rc;
}
