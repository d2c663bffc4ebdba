/*
 * config.c: the configuration model: the key tables, the defaults,
 * reference counts, the dump and route lookup.  Loading is in
 * config_load.c, the syntax of values in config_parse.c.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

#define CONFIG_DUR_EG	"250ms, 1.5s, 1m30s"

_Static_assert(sizeof (enum config_log_level) == sizeof (int), "enum size");
_Static_assert(sizeof (enum config_balance) == sizeof (int), "enum size");
_Static_assert(CONFIG_NROUTE + CONFIG_NTIMEOUTS <= CONFIG_MAXKEYS, "keys");
_Static_assert(CONFIG_NTIMEOUTS == SCOPE_COUNT + 8, "[timeouts] keys");

static const struct config_enum config_formats[] = {
	{ "logfmt", CONFIG_LOG_LOGFMT }, { "json", CONFIG_LOG_JSON }, { NULL, 0 },
};
static const struct config_enum config_levels[] = {
	{ "crit", CONFIG_LOG_CRIT }, { "error", CONFIG_LOG_ERR },
	{ "warning", CONFIG_LOG_WARNING }, { "info", CONFIG_LOG_INFO },
	{ "debug", CONFIG_LOG_DEBUG }, { NULL, 0 },
};
static const struct config_enum config_proxy_statuses[] = {
	{ "errors", CONFIG_PS_ERRORS }, { "all", CONFIG_PS_ALL },
	{ "off", CONFIG_PS_OFF }, { NULL, 0 },
};
static const struct config_enum config_balances[] = {
	{ "round_robin", CONFIG_BALANCE_ROUND_ROBIN },
	{ "least_conn", CONFIG_BALANCE_LEAST_CONN }, { NULL, 0 },
};

#define CFG(f)	offsetof(struct config, f)
static const struct config_key config_server_keys[] = {
	{ "listen", 0, CT_LISTEN, 0, CK_REPEAT, 0, 0, NULL,
	    "127.0.0.1:8080, [::1]:8080, *:8443 tls", NULL },
	{ "workers", 0, CT_UINT, CFG(workers), CK_AUTO, 1, 64, NULL, "4, auto",
	    NULL },
	{ "max_connections", 0, CT_UINT, CFG(max_connections), 0, 1, 1000000,
	    NULL, "10000", NULL },
	{ "access_log", 0, CT_PATH, CFG(access_log), 0, 0, 0, NULL,
	    "/var/log/hourglass/access.log, stderr, off", NULL },
	{ "log_format", 0, CT_ENUM, CFG(log_format), 0, 0, 0, config_formats,
	    "logfmt", NULL },
	{ "log_level", 0, CT_ENUM, CFG(log_level), 0, 0, 0, config_levels,
	    "info", NULL },
	{ "metrics_listen", 0, CT_ADDR, CFG(metrics_listen), CK_OFF, 0, 0, NULL,
	    "127.0.0.1:9090, off", NULL },
	{ "proxy_status", 0, CT_ENUM, CFG(proxy_status), 0, 0, 0,
	    config_proxy_statuses, "errors, all, off", NULL },
	{ "tls_certificate", 0, CT_CERTS, 0, CK_REPEAT, 0, 0, NULL,
	    CONFIG_CERT_EG, NULL },
	{ "tls_protocols", 0, CT_PROTOCOLS, CFG(tls_protocols), 0, 0, 0, NULL,
	    "TLSv1.2 TLSv1.3, TLSv1.3", NULL },
	{ "tls_ciphers", 0, CT_CIPHERS, CFG(tls_ciphers), 0, 0, 0, NULL,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", NULL },
};

static const struct config_key config_limits_keys[] = {
	{ "max_uri", 0, CT_SIZE, CFG(max_uri), CK_NONZERO, 0, 0, NULL, "8k",
	    NULL },
	{ "max_header", 0, CT_SIZE, CFG(max_header), CK_NONZERO, 0, 0, NULL,
	    "32k", NULL },
	{ "max_body", 0, CT_SIZE, CFG(max_body), CK_OFF, 0, 0, NULL,
	    "1g, 100m, off", NULL },
};

/*
 * In the order of the README's timeout table; offsets are into
 * config_timeouts.  Each key applies per route (a [route] may set it)
 * except the CK_GLOBAL ones, which say why not.
 */
#define TMO(f)	offsetof(struct config_timeouts, f)
#define SCOPE_KEY(s, fl) \
	{ NULL, (s), CT_DURATION, TMO(ms[s]), (fl), 0, 0, NULL, CONFIG_DUR_EG, \
	    NULL }
#define GLOBAL_KEY(s, fl, why) \
	{ NULL, (s), CT_DURATION, TMO(ms[s]), (fl) | CK_GLOBAL, 0, 0, NULL, \
	    CONFIG_DUR_EG, (why) }
const struct config_key config_timeouts_keys[CONFIG_NTIMEOUTS] = {
	GLOBAL_KEY(SCOPE_CLIENT_HEADER, CK_OFF, "client_header runs before "
	    "the request is routed (its head is not complete yet)"),
	SCOPE_KEY(SCOPE_CLIENT_IDLE, CK_OFF),
	SCOPE_KEY(SCOPE_KEEPALIVE, CK_OFF),
	SCOPE_KEY(SCOPE_REQUEST, 0),
	SCOPE_KEY(SCOPE_TRY, CK_OFF),
	SCOPE_KEY(SCOPE_CONNECT, CK_OFF),
	SCOPE_KEY(SCOPE_UPSTREAM_HEADER, CK_OFF),
	SCOPE_KEY(SCOPE_UPSTREAM_IDLE, CK_OFF),
	SCOPE_KEY(SCOPE_TUNNEL_IDLE, CK_OFF),
	SCOPE_KEY(SCOPE_TUNNEL_MAX, CK_OFF),
	GLOBAL_KEY(SCOPE_DRAIN, 0, "drain is process-wide"),
	{ "retries", 0, CT_UINT, TMO(retries), 0, 0, 10, NULL, "1", NULL },
	{ "deadline_header", 0, CT_TOKEN, TMO(deadline_header), 0, 0, 0, NULL,
	    "X-Request-Timeout", NULL },
	{ "propagate_deadline", 0, CT_BOOL, TMO(propagate_deadline), 0, 0, 0,
	    NULL, "yes, no", NULL },
	{ "deadline_margin", 0, CT_DURATION, TMO(deadline_margin_ms), CK_OFF, 0,
	    0, NULL, "5ms, off", NULL },
	{ "grpc_timeout", 0, CT_BOOL, TMO(grpc_timeout), 0, 0, 0, NULL,
	    "yes, no", NULL },
	{ "try_min", 0, CT_DURATION, TMO(try_min_ms), CK_OFF, 0, 0, NULL,
	    "50ms, off", NULL },
	{ "hedge", 0, CT_HEDGE, TMO(hedge), 0, 0, 0, NULL, "20ms, p95, off",
	    NULL },
	{ "hedge_max", 0, CT_UINT, TMO(hedge_max), 0, 1, 4, NULL, "1", NULL },
};

#define UPS(f)	offsetof(struct config_upstream, f)
static const struct config_key config_upstream_keys[] = {
	{ "server", 0, CT_SERVER, 0, CK_REPEAT, 0, 0, NULL,
	    "127.0.0.1:9000 weight=2", NULL },
	{ "balance", 0, CT_ENUM, UPS(balance), 0, 0, 0, config_balances,
	    "least_conn", NULL },
	{ "keepalive", 0, CT_UINT, UPS(keepalive), 0, 0, 100000, NULL, "32",
	    NULL },
	{ "keepalive_idle", 0, CT_DURATION, UPS(keepalive_idle_ms), CK_OFF, 0, 0,
	    NULL, CONFIG_DUR_EG, NULL },
	{ "max_fails", 0, CT_UINT, UPS(max_fails), 0, 0, 1000, NULL, "1", NULL },
	{ "fail_timeout", 0, CT_DURATION, UPS(fail_timeout_ms), 0, 0, 0, NULL,
	    CONFIG_DUR_EG, NULL },
	{ "resolve_interval", 0, CT_DURATION, UPS(resolve_interval_ms), CK_OFF,
	    0, 0, NULL, CONFIG_DUR_EG, NULL },
	{ "retry_budget", 0, CT_UINT, UPS(retry_budget), 0, 0, 100, NULL, "20",
	    NULL },
	{ "retry_budget_min", 0, CT_UINT, UPS(retry_budget_min), 0, 0, 100000,
	    NULL, "10", NULL },
	{ "tls", 0, CT_BOOL, UPS(tls), 0, 0, 0, NULL, "yes, no", NULL },
	{ "tls_verify", 0, CT_BOOL, UPS(tls_verify), CK_TLS, 0, 0, NULL,
	    "yes, no", NULL },
	{ "tls_ca", 0, CT_FILE, UPS(tls_ca), CK_TLS, 0, 0, NULL,
	    "/etc/ssl/certs/internal-ca.pem", NULL },
	{ "tls_sni", 0, CT_SNI, UPS(tls_sni), CK_TLS, 0, 0, NULL,
	    "api.example.com", NULL },
	{ "tls_certificate", 0, CT_CERT, UPS(tls_cert), CK_TLS, 0, 0, NULL,
	    "/etc/hourglass/client.pem /etc/hourglass/client.key", NULL },
};

/* Offsets are into struct config_sect; the [timeouts] keys follow. */
static const struct config_key config_route_keys[CONFIG_NROUTE] = {
	{ "upstream", 0, CT_NAME, offsetof(struct config_sect, rt_upstream), 0,
	    0, 0, NULL, "origin", NULL },
	{ "host", 0, CT_HOST, offsetof(struct config_sect, rt.host), 0, 0, 0,
	    NULL, "example.com", NULL },
	{ "upgrade", 0, CT_UPGRADE, offsetof(struct config_sect, rt.upgrade), 0,
	    0, 0, NULL, "websocket, off", NULL },
};

_Static_assert(nitems(config_server_keys) <= CONFIG_MAXKEYS, "keys");
_Static_assert(nitems(config_upstream_keys) <= CONFIG_MAXKEYS, "keys");

const struct config_section config_sections[CONFIG_UNKNOWN] = {
	[CONFIG_SERVER] = { "server", config_server_keys,
	    nitems(config_server_keys), 0 },
	[CONFIG_LIMITS] = { "limits", config_limits_keys,
	    nitems(config_limits_keys), 0 },
	[CONFIG_TIMEOUTS] = { "timeouts", NULL, 0, 1 },
	[CONFIG_UPSTREAM] = { "upstream", config_upstream_keys,
	    nitems(config_upstream_keys), 0 },
	[CONFIG_ROUTE] = { "route", config_route_keys,
	    nitems(config_route_keys), 1 },
};

/* The key's name in the file. */
const char *
config_key_name(const struct config_key *k)
{
	return k->name != NULL ? k->name : scope_name((enum scope)k->scope);
}

/* A new config holding the built-in defaults; see config_int.h. */
struct config *
config_new(const char *name)
{
	static const uint32_t ms[SCOPE_COUNT] = {
		[SCOPE_DRAIN] = 30000,
		[SCOPE_KEEPALIVE] = 60000,
		[SCOPE_CLIENT_HEADER] = 10000,
		[SCOPE_REQUEST] = 60000,
		[SCOPE_CLIENT_IDLE] = 30000,
		[SCOPE_TRY] = 0,
		[SCOPE_CONNECT] = 2000,
		[SCOPE_UPSTREAM_HEADER] = 30000,
		[SCOPE_UPSTREAM_IDLE] = 30000,
		[SCOPE_TUNNEL_MAX] = 0,
		[SCOPE_TUNNEL_IDLE] = 900000,
	};
	struct config *cfg;
	const char *why;

	if ((cfg = calloc(1, sizeof *cfg)) == NULL)
		return NULL;
	cfg->refs = 1;
	cfg->workers = 1;
	cfg->max_connections = 10000;
	cfg->log_format = CONFIG_LOG_LOGFMT;
	cfg->log_level = CONFIG_LOG_INFO;
	cfg->max_uri = 8 * 1024;
	cfg->max_header = 32 * 1024;
	cfg->max_body = 1024 * 1024 * 1024;
	memcpy(cfg->timeouts.ms, ms, sizeof ms);
	cfg->timeouts.retries = 1;
	cfg->timeouts.propagate_deadline = true;
	cfg->timeouts.deadline_margin_ms = 5;
	cfg->timeouts.grpc_timeout = true;
	cfg->timeouts.hedge_max = 1;
	cfg->path = strdup(name);
	cfg->access_log = strdup("stderr");
	cfg->timeouts.deadline_header = strdup("X-Request-Timeout");
	cfg->tls_protocols = strdup(TLS_DEFAULT_PROTOCOLS);
	cfg->tls_ciphers = strdup(TLS_DEFAULT_CIPHERS);
	cfg->listen = calloc(1, sizeof *cfg->listen);
	if (cfg->path == NULL || cfg->access_log == NULL ||
	    cfg->timeouts.deadline_header == NULL || cfg->listen == NULL ||
	    cfg->tls_protocols == NULL || cfg->tls_ciphers == NULL ||
	    config_parse_addr("*:8080", &cfg->listen[0], &why) == -1) {
		config_unref(cfg);
		return NULL;
	}
	cfg->nlisten = 1;
	return cfg;
}

/* Free the listeners; see config_int.h. */
void
config_listen_clear(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nlisten; i++)
		config_addr_free(&cfg->listen[i]);
	free(cfg->listen);
	cfg->listen = NULL;
	cfg->nlisten = 0;
}

/* Free what an upstream holds; see config_int.h. */
void
config_upstream_clear(struct config_upstream *up)
{
	for (size_t j = 0; j < up->nservers; j++)
		config_addr_free(&up->servers[j].addr);
	free(up->servers);
	free(up->name);
	free(up->tls_ca);
	free(up->tls_sni);
	config_cert_free(&up->tls_cert);
	tls_client_free(up->tls_client);
	memset(up, 0, sizeof *up);
}

/* Free a config and everything it holds. */
static void
config_free(struct config *cfg)
{
	config_listen_clear(cfg);
	config_addr_free(cfg->metrics_listen);
	free(cfg->metrics_listen);
	free(cfg->access_log);
	free(cfg->timeouts.deadline_header);
	for (size_t i = 0; i < cfg->ntls_certs; i++)
		config_cert_free(&cfg->tls_certs[i]);
	free(cfg->tls_certs);
	free(cfg->tls_protocols);
	free(cfg->tls_ciphers);
	tls_server_free(cfg->tls_server);
	for (size_t i = 0; i < cfg->nupstreams; i++)
		config_upstream_clear(&cfg->upstreams[i]);
	free(cfg->upstreams);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		free(cfg->routes[i].prefix);
		free(cfg->routes[i].host);
		free(cfg->routes[i].upgrade);
		free(cfg->routes[i].timeouts.deadline_header);
	}
	free(cfg->routes);
	free(cfg->warnings);
	free(cfg->path);
	free(cfg);
}

/* The built-in defaults, or NULL if out of memory. */
struct config *
config_default(void)
{
	return config_new("(defaults)");
}

/* Take a reference. */
struct config *
config_ref(struct config *cfg)
{
	if (cfg != NULL)
		__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED);
	return cfg;
}

/* Drop a reference; the last one frees the config. */
void
config_unref(struct config *cfg)
{
	if (cfg != NULL &&
	    __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cfg);
}

/* Format a duration with its largest exact unit: 2000 -> "2s", 0 -> "off". */
const char *
config_fmt_duration(uint32_t ms, char *buf, size_t size)
{
	if (ms == 0)
		snprintf(buf, size, "off");
	else if (ms % 3600000 == 0)
		snprintf(buf, size, "%uh", ms / 3600000);
	else if (ms % 60000 == 0)
		snprintf(buf, size, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, size, "%us", ms / 1000);
	else
		snprintf(buf, size, "%ums", ms);
	return buf;
}

/* Format a hedge: "p95", a duration, or "off". */
const char *
config_fmt_hedge(const struct config_hedge *h, char *buf, size_t size)
{
	if (h->pct != 0)
		snprintf(buf, size, "p%u", h->pct);
	else
		config_fmt_duration(h->ms, buf, size);
	return buf;
}

/* Format a size with its largest exact suffix: 8192 -> "8k". */
const char *
config_fmt_size(uint64_t b, char *buf, size_t size)
{
	static const char units[] = "gmk";

	if (b == CONFIG_SIZE_OFF) {
		snprintf(buf, size, "off");
		return buf;
	}
	for (int i = 0; b != 0 && i < 3; i++) {
		uint64_t m = (uint64_t)1 << (10 * (3 - i));

		if (b % m == 0) {
			snprintf(buf, size, "%llu%c",
			    (unsigned long long)(b / m), units[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%llu", (unsigned long long)b);
	return buf;
}

/* Write a certificate key: "name = CERT" or "name = CERT KEY". */
static void
config_dump_cert(FILE *f, const char *name, const struct tls_cert_conf *c)
{
	fprintf(f, "%s = %s%s%s\n", name, c->tc_cert, c->tc_key ? " " : "",
	    c->tc_key ? c->tc_key : "");
}

/*
 * Write one key (every value of a repeatable one) as "name = value" lines;
 * an upstream's TLS keys only when its tls is on.
 */
static void
config_dump_key(FILE *f, const struct config_key *k, const char *base)
{
	const char *name = config_key_name(k), *v = NULL, *src = base + k->off;
	const struct config_upstream *up;
	const struct config *cfg;
	const struct config_addr *a;
	const struct tls_cert_conf *c;
	char buf[64];
	unsigned u;
	int e;

	up = (const struct config_upstream *)base;
	if ((k->flags & CK_TLS) && !up->tls)
		return;
	switch (k->type) {
	case CT_LISTEN:
		cfg = (const struct config *)base;
		for (size_t i = 0; i < cfg->nlisten; i++)
			fprintf(f, "%s = %s\n", name, cfg->listen[i].text);
		return;
	case CT_CERTS:
		cfg = (const struct config *)base;
		for (size_t i = 0; i < cfg->ntls_certs; i++)
			config_dump_cert(f, name, &cfg->tls_certs[i]);
		return;
	case CT_CERT:
		c = (const struct tls_cert_conf *)src;
		if (c->tc_cert != NULL)
			config_dump_cert(f, name, c);
		return;
	case CT_SERVER:
		for (size_t i = 0; i < up->nservers; i++)
			fprintf(f, "%s = %s weight=%u\n", name,
			    up->servers[i].addr.text, up->servers[i].weight);
		return;
	case CT_ADDR:
		memcpy(&a, src, sizeof a);
		v = a != NULL ? a->text : "off";
		break;
	case CT_UINT:
		memcpy(&u, src, sizeof u);
		if (u == 0 && (k->flags & CK_AUTO))
			v = "auto";
		else {
			snprintf(buf, sizeof buf, "%u", u);
			v = buf;
		}
		break;
	case CT_ENUM:
		memcpy(&e, src, sizeof e);
		for (int i = 0; k->enums[i].name != NULL; i++) {
			if (k->enums[i].value == e)
				v = k->enums[i].name;
		}
		break;
	case CT_SIZE:
		v = config_fmt_size(*(const uint64_t *)src, buf, sizeof buf);
		break;
	case CT_DURATION:
		v = config_fmt_duration(*(const uint32_t *)src, buf, sizeof buf);
		break;
	case CT_BOOL:
		v = *(const bool *)src ? "yes" : "no";
		break;
	case CT_PATH:
	case CT_TOKEN:
	case CT_NAME:
	case CT_HOST:
	case CT_FILE:
	case CT_PROTOCOLS:
	case CT_CIPHERS:
	case CT_SNI:
		memcpy(&v, src, sizeof v);
		break;
	case CT_UPGRADE:
		memcpy(&v, src, sizeof v);
		if (v != NULL && *v == '\0')
			v = "off";
		break;
	case CT_HEDGE:
		v = config_fmt_hedge((const struct config_hedge *)src, buf,
		    sizeof buf);
		break;
	}
	if (v == NULL)
		return;
	fprintf(f, "%s =%s%s\n", name, *v != '\0' ? " " : "", v);
}

/* Write every key of the table at keys, with values from base; in a
 * route, leave out the keys a route may not set. */
static void
config_dump_keys(FILE *f, const struct config_key *keys, size_t n,
    const void *base, int route)
{
	for (size_t i = 0; i < n; i++)
		if (!route || !(keys[i].flags & CK_GLOBAL))
			config_dump_key(f, &keys[i], base);
}

/* Write the effective configuration as INI; see config.h. */
void
config_dump(const struct config *cfg, FILE *f)
{
	fprintf(f, "# hourglass: the effective configuration\n\n[server]\n");
	config_dump_keys(f, config_server_keys, nitems(config_server_keys), cfg,
	    0);
	fprintf(f, "\n[limits]\n");
	config_dump_keys(f, config_limits_keys, nitems(config_limits_keys), cfg,
	    0);
	fprintf(f, "\n[timeouts]\n");
	config_dump_keys(f, config_timeouts_keys, nitems(config_timeouts_keys),
	    &cfg->timeouts, 0);
	for (size_t i = 0; i < cfg->nupstreams; i++) {
		fprintf(f, "\n[upstream %s]\n", cfg->upstreams[i].name);
		config_dump_keys(f, config_upstream_keys,
		    nitems(config_upstream_keys), &cfg->upstreams[i], 0);
	}
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct config_route *r = &cfg->routes[i];

		fprintf(f, "\n[route %s]\nupstream = %s\n", r->prefix,
		    r->upstream->name);
		if (r->host != NULL)
			fprintf(f, "host = %s\n", r->host);
		fprintf(f, "upgrade = %s\n", *r->upgrade != '\0' ?
		    r->upgrade : "off");
		config_dump_keys(f, config_timeouts_keys,
		    nitems(config_timeouts_keys), &r->timeouts, 1);
	}
}

/*
 * Find the route for a request.  Prefixes match as plain bytes, as nginx's
 * prefix locations do: "/api" matches "/api/x" and also "/apix"; write
 * "/api/" to hold only the directory.  A Host ":port" suffix is ignored and
 * hosts compare without regard to case.
 */
const struct config_route *
config_route_match(const struct config *cfg, const char *path, size_t pathlen,
    const char *host, size_t hostlen)
{
	const char *colon;
	size_t hl = 0;

	if (host != NULL) {
		if (hostlen > 0 && host[0] == '[') {
			colon = memchr(host, ']', hostlen);
			hl = colon != NULL ? (size_t)(colon - host) + 1 : hostlen;
		} else {
			colon = memchr(host, ':', hostlen);
			hl = colon != NULL ? (size_t)(colon - host) : hostlen;
		}
	}
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct config_route *r = &cfg->routes[i];
		size_t plen = strlen(r->prefix);

		if (plen > pathlen || memcmp(path, r->prefix, plen) != 0)
			continue;
		if (r->host != NULL && (host == NULL || strlen(r->host) != hl ||
		    strncasecmp(r->host, host, hl) != 0))
			continue;
		return r;
	}
	return NULL;
}

