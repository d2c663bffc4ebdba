/*
 * main.c: the hourglass daemon: command line, configuration, workers,
 * signals and systemd.  It runs in the foreground and never forks.
 *
 * The main thread runs its own event loop for signals, systemd status and
 * watchdog, and metrics; the workers carry the traffic.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "deadline.h"
#include "log.h"
#include "metrics.h"
#include "metricsd.h"
#include "notify.h"
#include "proxy.h"
#include "worker.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/usr/local/etc"
#endif
#define HOURGLASS_VERSION	"0.1.0"
#define DEFAULT_CONFIG		SYSCONFDIR "/hourglass/hourglass.ini"
#define STATUS_MS		2000	/* systemd STATUS= period */
#define STATUS_WINDOW		30	/* samples kept: one minute */
#define MAX_WORKERS		64

struct daemon {
	const char		*dm_config_path;
	struct config		*dm_cfg;
	struct event_base	*dm_base;
	struct worker		*dm_workers[MAX_WORKERS];
	unsigned		 dm_nworkers;
	unsigned		 dm_running;
	struct event		*dm_sig[4];
	struct event		*dm_status_ev;
	struct event		*dm_watchdog_ev;
	struct metricsd		*dm_metricsd;
	uint64_t		 dm_watchdog_us;
	unsigned		 dm_generation;
	uint64_t		 dm_reloads;
	uint64_t		 dm_reload_failures;
	bool			 dm_draining;
	uint64_t		 dm_timeouts[STATUS_WINDOW];
	unsigned		 dm_tslot;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: hourglass [-t [-q]] [-c FILE]\n"
	    "  -c, --config FILE  configuration file (default %s)\n"
	    "  -t, --test         check the configuration and the log files it\n"
	    "                     names, print warnings, print it with every\n"
	    "                     default filled in, and exit 0 (valid) or 1\n"
	    "  -q, --quiet        with -t: print only errors and warnings\n"
	    "  -V, --version      print the version and exit\n"
	    "  -h, --help         print this help and exit\n",
	    DEFAULT_CONFIG);
}

/* Log each line of a config's error or warning text at that level. */
static void
log_config_lines(enum config_log_level level, const char *text)
{
	const char *p = text, *nl;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		log_at(level, "%.*s", nl ? (int)(nl - p) : (int)strlen(p), p);
		p = nl ? nl + 1 : NULL;
	}
}

/*
 * -t: check the file as the daemon would load it, and open the log files
 * it names.  Errors and warnings go to stderr; unless quiet, the effective
 * configuration goes to stdout and a verdict to stderr.
 */
static int
check_config(const char *path, int quiet)
{
	struct config *cfg;
	char *errors = NULL;

	if ((cfg = config_check(path, &errors)) == NULL) {
		fputs(errors != NULL ? errors : "out of memory\n", stderr);
		fprintf(stderr, "hourglass: %s: configuration is invalid\n",
		    path);
		free(errors);
		return 1;
	}
	if (cfg->warnings != NULL)
		fputs(cfg->warnings, stderr);
	if (!quiet) {
		config_dump(cfg, stdout);
		fprintf(stderr, "hourglass: %s: configuration is valid\n", path);
	}
	config_unref(cfg);
	return 0;
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

/* The counters of every worker, summed. */
static void
daemon_counts(const struct daemon *dm, struct proxy_counts *sum)
{
	struct proxy_counts c;

	memset(sum, 0, sizeof *sum);
	for (unsigned i = 0; i < dm->dm_nworkers; i++) {
		if (worker_proxy(dm->dm_workers[i]) == NULL)
			continue;
		proxy_counts(worker_proxy(dm->dm_workers[i]), &c);
		sum->requests += c.requests;
		sum->connections += c.connections;
		sum->timeouts += c.timeouts;
		sum->clients += c.clients;
		sum->in_flight += c.in_flight;
	}
}

/* Tell systemd the live counts: STATUS=, every STATUS_MS. */
static void
on_status(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *dm = arg;
	struct proxy_counts c;
	unsigned oldest;

	(void)fd;
	(void)what;
	if (dm->dm_draining)
		return;
	daemon_counts(dm, &c);
	dm->dm_tslot = (dm->dm_tslot + 1) % STATUS_WINDOW;
	dm->dm_timeouts[dm->dm_tslot] = c.timeouts;
	oldest = (dm->dm_tslot + 1) % STATUS_WINDOW;
	notify_status("%llu connections, %llu requests in flight, %llu "
	    "timeouts in the last minute, configuration generation %u",
	    (unsigned long long)c.clients, (unsigned long long)c.in_flight,
	    (unsigned long long)(c.timeouts - dm->dm_timeouts[oldest]),
	    dm->dm_generation);
}

/*
 * WATCHDOG=1 at half of WatchdogSec, only while every worker loop has
 * beaten recently: a blocked worker stops the pings and systemd acts.
 */
static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *dm = arg;
	int64_t now = deadline_now_refresh(), age;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < dm->dm_nworkers; i++) {
		age = now - worker_heartbeat(dm->dm_workers[i]);
		if (age > (int64_t)dm->dm_watchdog_us / 2) {
			log_err("worker %u: loop blocked for %lld ms: no "
			    "watchdog ping", i, (long long)age / 1000);
			return;
		}
	}
	sd_notify(0, "WATCHDOG=1");
}

/* One scrape of /metrics: a snapshot from each worker, then merged. */
struct scrape {
	struct daemon		*sc_dm;
	struct metricsd_reply	*sc_reply;
	struct metrics_snapshot	*sc_all;
	unsigned		 sc_pending;
	bool			 sc_failed;
};

struct scrape_part {
	struct scrape		*sp_scrape;
	struct metrics_snapshot	*sp_snap;
};

/* On a worker: fill its part of the scrape. */
static void
scrape_worker(struct worker *w, void *arg)
{
	struct scrape_part *sp = arg;

	if ((sp->sp_snap = metrics_snapshot_new()) != NULL &&
	    worker_proxy(w) != NULL)
		proxy_snapshot(worker_proxy(w), sp->sp_snap);
}

/*
 * The daemon-wide part of a scrape, on the main thread: a row for every
 * route of the config in force and for "-", so that each shows its zero
 * series; the build and the process.  Returns 0, or -1 on no memory.
 */
static int
scrape_daemon(struct daemon *dm, struct metrics_snapshot *s)
{
	struct metrics_process mp;
	struct proxy_counts c;

	if (metrics_snapshot_route(s, NULL) != 0)
		return -1;
	for (size_t i = 0; i < dm->dm_cfg->nroutes; i++) {
		if (metrics_snapshot_route(s, dm->dm_cfg->routes[i].prefix)
		    != 0)
			return -1;
	}
	daemon_counts(dm, &c);
	metrics_snapshot_info(s, dm->dm_generation, dm->dm_reloads,
	    dm->dm_reload_failures, dm->dm_nworkers, c.in_flight);
	metrics_process_read(&mp);
	return metrics_snapshot_process(s, HOURGLASS_VERSION, &mp);
}

/* On the main thread: merge a worker's part; answer after the last one. */
static void
scrape_merge(struct worker *w, void *arg)
{
	struct scrape_part *sp = arg;
	struct scrape *sc = sp->sp_scrape;
	struct daemon *dm = sc->sc_dm;
	char *text;
	size_t len;

	(void)w;
	if (sp->sp_snap == NULL ||
	    metrics_snapshot_merge(sc->sc_all, sp->sp_snap) != 0)
		sc->sc_failed = true;
	metrics_snapshot_free(sp->sp_snap);
	free(sp);
	if (--sc->sc_pending > 0)
		return;
	if (scrape_daemon(dm, sc->sc_all) != 0)
		sc->sc_failed = true;
	if (sc->sc_failed || metrics_render(sc->sc_all, &text, &len) != 0)
		metricsd_reply_fail(sc->sc_reply, 500);
	else {
		metricsd_reply_done(sc->sc_reply, text, len);
		free(text);
	}
	metrics_snapshot_free(sc->sc_all);
	free(sc);
}

/* GET /metrics: ask every worker for its part. */
static void
on_scrape(void *arg, struct metricsd_reply *reply)
{
	struct daemon *dm = arg;
	struct scrape *sc = NULL;
	struct scrape_part *sp;

	if (dm->dm_draining || (sc = calloc(1, sizeof *sc)) == NULL ||
	    (sc->sc_all = metrics_snapshot_new()) == NULL) {
		free(sc);
		metricsd_reply_fail(reply, 503);
		return;
	}
	sc->sc_dm = dm;
	sc->sc_reply = reply;
	sc->sc_pending = dm->dm_nworkers;
	for (unsigned i = 0; i < dm->dm_nworkers; i++) {
		if ((sp = calloc(1, sizeof *sp)) == NULL) {
			/* Counted as an empty part so the scrape still ends. */
			sc->sc_failed = true;
			if ((sp = calloc(1, sizeof *sp)) == NULL)
				abort();
		}
		sp->sp_scrape = sc;
		worker_call(dm->dm_workers[i], scrape_worker, scrape_merge, sp);
	}
}

/* A worker thread has finished; when all have, leave the main loop. */
static void
on_worker_exit(struct worker *w, void *arg)
{
	struct daemon *dm = arg;

	log_debug("worker %u: stopped", worker_id(w));
	if (--dm->dm_running == 0)
		event_base_loopexit(dm->dm_base, NULL);
}

/*
 * SIGTERM or SIGINT: drain.  Listeners close, idle connections close, and
 * requests in flight have until the drain deadline, when they are
 * cancelled with timeout:drain.  A second signal changes nothing.
 */
static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;
	struct proxy_counts c;
	int64_t drain_at;

	(void)what;
	if (dm->dm_draining)
		return;
	dm->dm_draining = true;
	notify_stopping();
	daemon_counts(dm, &c);
	drain_at = deadline_now_refresh() +
	    (int64_t)dm->dm_cfg->timeouts.ms[SCOPE_DRAIN] * 1000;
	log_info("received %s: draining %llu requests in flight for at most "
	    "%u ms", strsignal((int)sig), (unsigned long long)c.in_flight,
	    dm->dm_cfg->timeouts.ms[SCOPE_DRAIN]);
	for (unsigned i = 0; i < dm->dm_nworkers; i++)
		worker_drain(dm->dm_workers[i], drain_at);
}

/*
 * SIGHUP: load the file again.  A bad file is refused with all its errors
 * and the old configuration keeps serving; a good one goes to every worker
 * for new requests, while requests in flight keep the one they started with.
 */
static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;
	struct config *cfg;
	char *errors = NULL;

	(void)sig;
	(void)what;
	if (dm->dm_draining)
		return;
	notify_reloading();
	cfg = config_load(dm->dm_config_path, &errors);
	if (cfg == NULL) {
		log_config_lines(CONFIG_LOG_ERR, errors);
		log_err("reload refused: %s is invalid, keeping configuration "
		    "generation %u", dm->dm_config_path, dm->dm_generation);
		free(errors);
		dm->dm_reload_failures++;
		notify_ready();
		return;
	}
	log_config_lines(CONFIG_LOG_WARNING, cfg->warnings);
	if (cfg->workers != dm->dm_cfg->workers)
		log_warn("reload: workers changed; that takes a restart");
	if ((cfg->metrics_listen == NULL) != (dm->dm_cfg->metrics_listen ==
	    NULL) || (cfg->metrics_listen != NULL &&
	    strcmp(cfg->metrics_listen->text, dm->dm_cfg->metrics_listen->text)))
		log_warn("reload: metrics_listen changed; that takes a restart");
	cfg->generation = ++dm->dm_generation;
	dm->dm_reloads++;
	for (unsigned i = 0; i < dm->dm_nworkers; i++)
		worker_reload(dm->dm_workers[i], cfg);
	config_unref(dm->dm_cfg);
	dm->dm_cfg = cfg;
	log_set_level(cfg->log_level);
	log_info("reloaded %s: configuration generation %u",
	    dm->dm_config_path, cfg->generation);
	notify_ready();
}

/* SIGUSR1: reopen the access logs, after logrotate moved them. */
static void
on_reopen(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *dm = arg;

	(void)sig;
	(void)what;
	log_info("reopening the access log");
	for (unsigned i = 0; i < dm->dm_nworkers; i++)
		worker_reopen(dm->dm_workers[i]);
}

/* Wire the signals, the status and the watchdog to the main loop. */
static int
daemon_events(struct daemon *dm)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	event_callback_fn fns[4] = { on_stop, on_stop, on_reload, on_reopen };
	struct timeval tv = { STATUS_MS / 1000, (STATUS_MS % 1000) * 1000 };

	for (int i = 0; i < 4; i++) {
		dm->dm_sig[i] = evsignal_new(dm->dm_base, sigs[i], fns[i], dm);
		if (dm->dm_sig[i] == NULL || evsignal_add(dm->dm_sig[i], NULL))
			return -1;
	}
	dm->dm_status_ev = event_new(dm->dm_base, -1, EV_PERSIST, on_status,
	    dm);
	if (dm->dm_status_ev == NULL || event_add(dm->dm_status_ev, &tv))
		return -1;
	if (dm->dm_cfg->metrics_listen != NULL) {
		char err[256];

		dm->dm_metricsd = metricsd_new(dm->dm_base,
		    dm->dm_cfg->metrics_listen, on_scrape, dm, err, sizeof err);
		if (dm->dm_metricsd == NULL) {
			log_crit("metrics: %s", err);
			return -1;
		}
		log_info("metrics on %s:%d", dm->dm_cfg->metrics_listen->host,
		    metricsd_port(dm->dm_metricsd));
	}
	if (sd_watchdog_enabled(0, &dm->dm_watchdog_us) > 0) {
		tv.tv_sec = (time_t)(dm->dm_watchdog_us / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(dm->dm_watchdog_us / 2 % 1000000);
		dm->dm_watchdog_ev = event_new(dm->dm_base, -1, EV_PERSIST,
		    on_watchdog, dm);
		if (dm->dm_watchdog_ev == NULL ||
		    event_add(dm->dm_watchdog_ev, &tv))
			return -1;
	}
	return 0;
}

/*
 * Make the workers and bind their listeners: the sockets systemd passed
 * (socket activation), or one SO_REUSEPORT socket per worker and address.
 */
static int
daemon_workers(struct daemon *dm)
{
	char err[256];
	int fds[64], nfds = 0, n;
	unsigned count = dm->dm_cfg->workers;

	if (count == 0) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		count = cores > 0 ? (unsigned)cores : 1;
	}
	if (count > MAX_WORKERS)
		count = MAX_WORKERS;
	n = sd_listen_fds(1);
	if (n < 0) {
		log_crit("socket activation: %s", strerror(-n));
		return -1;
	}
	for (int i = 0; i < n && nfds < 64; i++)
		fds[nfds++] = SD_LISTEN_FDS_START + i;
	if (nfds > 0)
		log_info("socket activation: %d listening sockets passed", nfds);
	for (unsigned i = 0; i < count; i++) {
		dm->dm_workers[i] = worker_new(i, dm->dm_cfg,
		    i > 0 ? dm->dm_workers[0] : NULL, fds, nfds, err,
		    sizeof err);
		if (dm->dm_workers[i] == NULL) {
			log_crit("%s", err);
			return -1;
		}
		dm->dm_nworkers++;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return 0;
}

/* Release everything main() built, in reverse order. */
static void
daemon_free(struct daemon *dm)
{
	sigset_t block;
	int sig;

	metricsd_free(dm->dm_metricsd);
	for (unsigned i = 0; i < dm->dm_nworkers; i++)
		worker_free(dm->dm_workers[i]);
	/*
	 * Freeing a signal event puts back the default action: a second
	 * SIGTERM arriving then would kill the exiting daemon with 143
	 * instead of its own status.  The workers are gone, so blocking the
	 * signals in this thread first leaves no moment for one to land;
	 * there is nothing left for a signal to do.
	 */
	sigemptyset(&block);
	for (int i = 0; i < 4; i++)
		if (dm->dm_sig[i] != NULL)
			sigaddset(&block, event_get_signal(dm->dm_sig[i]));
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	for (int i = 0; i < 4; i++) {
		if (dm->dm_sig[i] == NULL)
			continue;
		sig = event_get_signal(dm->dm_sig[i]);
		event_free(dm->dm_sig[i]);
		signal(sig, SIG_IGN);
	}
	if (dm->dm_status_ev != NULL)
		event_free(dm->dm_status_ev);
	if (dm->dm_watchdog_ev != NULL)
		event_free(dm->dm_watchdog_ev);
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
		{ "quiet", no_argument, NULL, 'q' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon dm = { .dm_config_path = DEFAULT_CONFIG };
	char *errors = NULL;
	int ch, test = 0, quiet = 0, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:qthV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			dm.dm_config_path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'q':
			quiet = 1;
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
	if (quiet && !test) {
		fprintf(stderr, "hourglass: -q goes with -t\n");
		usage(stderr);
		return 1;
	}

	log_init(CONFIG_LOG_INFO);
	if (test)
		return check_config(dm.dm_config_path, quiet);
	dm.dm_cfg = config_load(dm.dm_config_path, &errors);
	if (dm.dm_cfg == NULL) {
		fputs(errors, stderr);
		fprintf(stderr, "hourglass: %s: configuration is invalid\n",
		    dm.dm_config_path);
		free(errors);
		return 1;
	}
	log_set_level(dm.dm_cfg->log_level);
	log_config_lines(CONFIG_LOG_WARNING, dm.dm_cfg->warnings);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if ((dm.dm_base = event_base_new()) == NULL) {
		log_crit("cannot create the event base");
		goto out;
	}
	if (daemon_workers(&dm) != 0 || daemon_events(&dm) != 0)
		goto out;
	for (unsigned i = 0; i < dm.dm_nworkers; i++) {
		if (worker_start(dm.dm_workers[i], dm.dm_base, on_worker_exit,
		    &dm) != 0) {
			log_crit("worker %u: cannot start: %s", i,
			    strerror(errno));
			goto out;
		}
		dm.dm_running++;
	}

	log_info("hourglass %s started: config %s, %u worker%s",
	    HOURGLASS_VERSION, dm.dm_config_path, dm.dm_nworkers,
	    dm.dm_nworkers == 1 ? "" : "s");
	notify_ready();
	on_status(-1, 0, &dm);
	if (event_base_dispatch(dm.dm_base) < 0) {
		log_crit("event loop failed");
		goto out;
	}
	log_info("stopped");
	rc = 0;
out:
	if (rc != 0 && dm.dm_running > 0) {
		/* Started workers must stop before they can be freed. */
		int64_t now = deadline_now_refresh();

		for (unsigned i = 0; i < dm.dm_nworkers; i++)
			worker_drain(dm.dm_workers[i], now);
		while (dm.dm_running > 0 &&
		    event_base_loop(dm.dm_base, EVLOOP_ONCE) == 0)
			;
	}
	daemon_free(&dm);
	return rc;
}
