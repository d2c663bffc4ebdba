/*
 * config.h: the configuration model, loaded from one INI file.
 *
 * A struct config is immutable once config_load() returns it.  It is
 * reference counted so that a reload can swap in a new one while requests
 * in flight keep the one they started with: take a reference with
 * config_ref() and drop it with config_unref().  The counts are atomic, so
 * worker threads may share one config.
 *
 * Durations are held in milliseconds; 0 means "off".  Sizes are in bytes.
 * Paths of files hourglass reads (certificates, keys, CAs) are held
 * absolute: a relative one is from the directory of the configuration file.
 */
#ifndef HG_CONFIG_H
#define HG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "scope.h"
#include "tls.h"

#define CONFIG_SIZE_OFF		UINT64_MAX	/* max_body = off */
#define CONFIG_DURATION_MAX	INT32_MAX	/* ~24.8 days, in ms */
#define CONFIG_PORT_WHY	"bad port (1..65535; listen and metrics_listen " \
	"also take 0, any free port)"

enum config_log_format {
	CONFIG_LOG_LOGFMT,
	CONFIG_LOG_JSON,
};

/* Syslog priorities, so that a level is also its journal prefix. */
enum config_log_level {
	CONFIG_LOG_CRIT = 2,
	CONFIG_LOG_ERR = 3,
	CONFIG_LOG_WARNING = 4,
	CONFIG_LOG_INFO = 6,
	CONFIG_LOG_DEBUG = 7,
};

enum config_balance {
	CONFIG_BALANCE_ROUND_ROBIN,
	CONFIG_BALANCE_LEAST_CONN,
};

/* Which responses carry our Proxy-Status member (RFC 9209). */
enum config_proxy_status {
	CONFIG_PS_ERRORS,	/* the responses hourglass makes */
	CONFIG_PS_ALL,		/* and relayed ones */
	CONFIG_PS_OFF,
};

/* When a hedge starts: a fixed delay, or a percentile of the route's
 * upstream header times; both 0: off. */
struct config_hedge {
	uint32_t	 ms;
	uint8_t		 pct;		/* 1-99: pNN */
};

/* A host and port as written: "127.0.0.1:80", "[::1]:80", "*:80", "name:80". */
struct config_addr {
	char		*host;		/* without brackets; "*" means any */
	uint16_t	 port;
	char		*text;		/* as written, for messages and dumps;
					   a TLS listener's ends in " tls" */
	bool		 tls;		/* listen = ADDR:PORT tls */
};

/*
 * The [timeouts] keys; a route holds a full, merged copy.  A route may not
 * set client_header (timed before the request is routed) or drain
 * (process-wide): its copy of those is the [timeouts] value.
 */
struct config_timeouts {
	uint32_t	 ms[SCOPE_COUNT];	/* per scope; 0 = off */
	unsigned	 retries;
	char		*deadline_header;	/* "" = disabled */
	bool		 propagate_deadline;
	uint32_t	 deadline_margin_ms;	/* taken off the propagated
						   deadline; 0 = none */
	bool		 grpc_timeout;		/* read and rewrite grpc-timeout */
	uint32_t	 try_min_ms;		/* a try needs this much left;
						   0 = off */
	struct config_hedge hedge;
	unsigned	 hedge_max;		/* extra tries a hedge may add */
};

struct config_server_addr {
	struct config_addr addr;
	unsigned	 weight;		/* server = HOST:PORT weight=N */
};

struct config_upstream {
	char		*name;
	struct config_server_addr *servers;
	size_t		 nservers;
	enum config_balance balance;
	unsigned	 keepalive;		/* idle pooled connections per server */
	uint32_t	 keepalive_idle_ms;	/* how long a pooled connection may idle */
	unsigned	 max_fails;		/* 0 = never mark down */
	uint32_t	 fail_timeout_ms;
	uint32_t	 resolve_interval_ms;	/* re-resolve hostnames; 0 = at start only */
	unsigned	 retry_budget;		/* percent of requests that may
						   retry or hedge, per 10 s */
	unsigned	 retry_budget_min;	/* or this many a second */
	/* TLS to the servers */
	bool		 tls;
	bool		 tls_verify;		/* default yes */
	char		*tls_ca;		/* NULL: the system store */
	char		*tls_sni;		/* NULL: the server's host name
						   (none for an address) */
	struct tls_cert_conf tls_cert;		/* tc_cert NULL: none */
	struct tls_client *tls_client;		/* built when tls is on */
};

struct config_route {
	char		*prefix;		/* [route PREFIX] */
	char		*host;			/* NULL = any host */
	char		*upgrade;		/* Upgrade tokens relayed, "a, b"
						   in lower case; "" = none */
	struct config_upstream *upstream;	/* points into config.upstreams */
	struct config_timeouts timeouts;	/* [timeouts] merged with overrides */
};

struct config {
	char		*path;
	unsigned	 generation;		/* set by the daemon on reload */

	/* [server] */
	struct config_addr *listen;
	size_t		 nlisten;
	unsigned	 workers;		/* 0 = auto (number of cores) */
	unsigned	 max_connections;
	char		*access_log;		/* a path, "stderr" or "off" */
	enum config_log_format log_format;
	enum config_log_level log_level;
	struct config_addr *metrics_listen;	/* NULL = off */
	enum config_proxy_status proxy_status;
	struct tls_cert_conf *tls_certs;	/* tls_certificate = CERT [KEY] */
	size_t		 ntls_certs;
	char		*tls_protocols;		/* default TLS_DEFAULT_PROTOCOLS */
	char		*tls_ciphers;		/* default TLS_DEFAULT_CIPHERS */
	struct tls_server *tls_server;		/* built when a listener has
						   tls: certificates loaded,
						   checked, ready */

	/* [limits] */
	uint64_t	 max_uri;
	uint64_t	 max_header;
	uint64_t	 max_body;		/* CONFIG_SIZE_OFF = no limit */

	/* [timeouts] */
	struct config_timeouts timeouts;

	struct config_upstream *upstreams;
	size_t		 nupstreams;
	struct config_route *routes;		/* longest prefix first */
	size_t		 nroutes;

	/* Problems that do not stop it from running, as -t reports them:
	 * "FILE:LINE: warning: ..." lines, or NULL when there is none. */
	char		*warnings;

	int		 refs;			/* atomic; see config_ref() */
};

/*
 * Load and validate an INI file, and build its TLS contexts (tls_server when
 * a listener has tls, each tls upstream's tls_client), which loads and checks
 * every certificate, key and CA file it names.  On success return the
 * config and leave *errors NULL.  On failure return NULL and set *errors to
 * a malloc'd text, one line per problem, every problem in the file, each
 * naming the file, line, section, key, the bad value and a correct example:
 *   hourglass.ini:12: [timeouts] connect = "2x": not a duration (e.g. 250ms, 2s, 1m)
 */
struct config	*config_load(const char *path, char **errors);

/* The same from a string in memory; name stands for the file in messages. */
struct config	*config_load_string(const char *text, const char *name,
		    char **errors);

/*
 * What `hourglass -t` checks: config_load(), then open every file the
 * configuration names as the daemon will (append, create, never truncate)
 * and close it at once.  A file that cannot be opened is an error naming
 * the line of its key.  Warnings are in the config's warnings.
 */
struct config	*config_check(const char *path, char **errors);

/* The built-in defaults, as if from an empty file. */
struct config	*config_default(void);

struct config	*config_ref(struct config *);
void		 config_unref(struct config *);

/* Write the effective configuration, every default filled in, as INI that
 * config_load() accepts again. */
void		 config_dump(const struct config *, FILE *);

/* The route for a request: the longest matching prefix whose host (if any)
 * matches; NULL when none does.  host may be NULL. */
const struct config_route *config_route_match(const struct config *,
		    const char *path, size_t pathlen, const char *host,
		    size_t hostlen);

/*
 * Value parsers, also used by tests.  They return 0, or -1 with a short
 * reason in *why ("not a duration", "too large", ...).
 *
 * A duration is "0", "off" (when allow_off), or parts of a number and a
 * unit (ms, s, m, h), units from the largest to the smallest, each once:
 * "90s", "1m30s", "1s500ms".  A number may have a fraction with digits
 * on both sides of the point ("1.5s", "0.25m") that comes to whole
 * milliseconds; a finer one is refused, never rounded.
 */
int		 config_parse_duration(const char *, bool allow_off,
		    uint32_t *ms, const char **why);
int		 config_parse_size(const char *, bool allow_off, uint64_t *bytes,
		    const char **why);
/* Ports are 0..65535 here; the callers that need a port refuse 0 with
 * CONFIG_PORT_WHY, the same message as for any other bad port. */
int		 config_parse_addr(const char *, struct config_addr *,
		    const char **why);
void		 config_addr_free(struct config_addr *);

#endif
