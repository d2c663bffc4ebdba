/* test_config.c: the configuration loader, value parsers, dump and routes. */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define nitems(a)	(sizeof (a) / sizeof (a)[0])

/* Load text that must be good; fail the test with its errors otherwise. */
static struct config *
load_ok(const char *text)
{
	struct config *cfg;
	char *errors;

	cfg = config_load_string(text, "t.ini", &errors);
	ck_assert_msg(cfg != NULL, "unexpected errors:\n%s", errors);
	ck_assert_ptr_null(errors);
	return cfg;
}

/* Check that text fails to load with exactly the errors want. */
static void
expect_errors(const char *text, const char *want)
{
	struct config *cfg;
	char *errors = NULL;

	cfg = config_load_string(text, "t.ini", &errors);
	ck_assert_msg(cfg == NULL, "loaded, expected errors:\n%s", text);
	ck_assert_ptr_nonnull(errors);
	ck_assert_str_eq(errors, want);
	free(errors);
}

/* Check that text fails to load with errors that start with prefix and
 * end with suffix (what lies between is too long to write out). */
static void
expect_prefix_suffix(const char *text, const char *prefix,
    const char *suffix)
{
	struct config *cfg;
	char *errors = NULL;
	size_t n, ns = strlen(suffix);

	cfg = config_load_string(text, "t.ini", &errors);
	ck_assert_msg(cfg == NULL, "loaded, expected errors");
	ck_assert_ptr_nonnull(errors);
	n = strlen(errors);
	ck_assert_msg(strncmp(errors, prefix, strlen(prefix)) == 0 &&
	    n >= ns && strcmp(errors + n - ns, suffix) == 0,
	    "errors:\n%s\nwant: %s ... %s", errors, prefix, suffix);
	free(errors);
}

/* Dump a config into a malloc'd string. */
static char *
dump(const struct config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	config_dump(cfg, f);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

#define UP	"[upstream u]\nserver = 10.0.0.1:80\n"

/* Where a value is: in struct config or in the first upstream. */
#define CF(f)	0, offsetof(struct config, f), sizeof (((struct config *)0)->f)
#define TF(s)	CF(timeouts.ms[s])
#define PD	CF(timeouts.propagate_deadline)
#define PDT	"[timeouts]\npropagate_deadline = "
#define UF(f)	1, offsetof(struct config_upstream, f), \
	sizeof (((struct config_upstream *)0)->f)

/* Every numeric key, a good value, and what it must become. */
static const struct {
	const char	*text;
	int		 in_upstream;
	size_t		 off, size;
	uint64_t	 want;
} good[] = {
	{ "[server]\nworkers = 4\n", CF(workers), 4 },
	{ "[server]\nworkers = 64\n", CF(workers), 64 },
	{ "[server]\nworkers = auto\n", CF(workers), 0 },
	{ "[server]\nmax_connections = 1\n", CF(max_connections), 1 },
	{ "[server]\nmax_connections = 1000000\n", CF(max_connections), 1000000 },
	{ "[server]\nlog_format = json\n", CF(log_format), CONFIG_LOG_JSON },
	{ "[server]\nlog_format = logfmt\n", CF(log_format), CONFIG_LOG_LOGFMT },
	{ "[server]\nlog_level = crit\n", CF(log_level), CONFIG_LOG_CRIT },
	{ "[server]\nlog_level = error\n", CF(log_level), CONFIG_LOG_ERR },
	{ "[server]\nlog_level = warning\n", CF(log_level), CONFIG_LOG_WARNING },
	{ "[server]\nlog_level = debug\n", CF(log_level), CONFIG_LOG_DEBUG },
	{ "[limits]\nmax_uri = 1\n", CF(max_uri), 1 },
	{ "[limits]\nmax_uri = 16k\n", CF(max_uri), 16384 },
	{ "[limits]\nmax_header = 1M\n", CF(max_header), 1048576 },
	{ "[limits]\nmax_body = off\n", CF(max_body), CONFIG_SIZE_OFF },
	{ "[limits]\nmax_body = 0\n", CF(max_body), 0 },
	{ "[limits]\nmax_body = 2g\n", CF(max_body), 2ULL << 30 },
	{ "[timeouts]\nclient_header = 5s\n", TF(SCOPE_CLIENT_HEADER), 5000 },
	{ "[timeouts]\nclient_idle = off\n", TF(SCOPE_CLIENT_IDLE), 0 },
	{ "[timeouts]\nkeepalive = 0\n", TF(SCOPE_KEEPALIVE), 0 },
	{ "[timeouts]\nrequest = 2m\n", TF(SCOPE_REQUEST), 120000 },
	{ "[timeouts]\ntry = 750ms\n", TF(SCOPE_TRY), 750 },
	{ "[timeouts]\nconnect = 1h\n", TF(SCOPE_CONNECT), 3600000 },
	{ "[timeouts]\nupstream_header = 3s\n", TF(SCOPE_UPSTREAM_HEADER), 3000 },
	{ "[timeouts]\nupstream_idle = 0ms\n", TF(SCOPE_UPSTREAM_IDLE), 0 },
	{ "[timeouts]\ndrain = 1s\n", TF(SCOPE_DRAIN), 1000 },
	{ "[timeouts]\nretries = 0\n", CF(timeouts.retries), 0 },
	{ "[timeouts]\nretries = 10\n", CF(timeouts.retries), 10 },
	{ PDT "no\n", PD, 0 },
	{ PDT "off\n", PD, 0 },
	{ PDT "0\n", PD, 0 },
	{ PDT "false\n", PD, 0 },
	{ PDT "true\n", PD, 1 },
	{ PDT "on\n", PD, 1 },
	{ PDT "1\n", PD, 1 },
	{ UP "balance = least_conn\n", UF(balance), CONFIG_BALANCE_LEAST_CONN },
	{ UP "balance = round_robin\n", UF(balance), CONFIG_BALANCE_ROUND_ROBIN },
	{ UP "keepalive = 0\n", UF(keepalive), 0 },
	{ UP "keepalive = 100000\n", UF(keepalive), 100000 },
	{ UP "keepalive_idle = off\n", UF(keepalive_idle_ms), 0 },
	{ UP "keepalive_idle = 90s\n", UF(keepalive_idle_ms), 90000 },
	{ UP "max_fails = 0\n", UF(max_fails), 0 },
	{ UP "max_fails = 1000\n", UF(max_fails), 1000 },
	{ UP "fail_timeout = 5s\n", UF(fail_timeout_ms), 5000 },
	{ UP "resolve_interval = off\n", UF(resolve_interval_ms), 0 },
	{ UP "resolve_interval = 5m\n", UF(resolve_interval_ms), 300000 },
	{ UP "tls = no\n", UF(tls), 0 },
	{ UP "tls = yes\n", UF(tls), 1 },
	{ UP "tls = yes\ntls_verify = no\n", UF(tls_verify), 0 },
	{ UP "tls = yes\ntls_verify = yes\n", UF(tls_verify), 1 },
};

START_TEST(test_good_values)
{
	struct config *cfg = load_ok(good[_i].text);
	const char *at = (good[_i].in_upstream ?
	    (const char *)cfg->upstreams : (const char *)cfg) + good[_i].off;
	uint64_t got, v64;
	uint32_t v32;
	bool b;

	if (good[_i].size == sizeof v64) {
		memcpy(&v64, at, sizeof v64);
		got = v64;
	} else if (good[_i].size == sizeof v32) {
		memcpy(&v32, at, sizeof v32);
		got = v32;
	} else {
		ck_assert_uint_eq(good[_i].size, sizeof b);
		memcpy(&b, at, sizeof b);
		got = b;
	}
	ck_assert_msg(got == good[_i].want, "%s: got %llu, want %llu",
	    good[_i].text, (unsigned long long)got,
	    (unsigned long long)good[_i].want);
	config_unref(cfg);
}
END_TEST

START_TEST(test_good_strings)
{
	struct config *cfg;

	cfg = load_ok("[server]\naccess_log = /var/log/hg/access.log\n"
	    "metrics_listen = 127.0.0.1:9090\nlisten = [::1]:0\n"
	    "[timeouts]\ndeadline_header = X-Deadline\n");
	ck_assert_str_eq(cfg->access_log, "/var/log/hg/access.log");
	ck_assert_ptr_nonnull(cfg->metrics_listen);
	ck_assert_str_eq(cfg->metrics_listen->host, "127.0.0.1");
	ck_assert_int_eq(cfg->metrics_listen->port, 9090);
	ck_assert_uint_eq(cfg->nlisten, 1);
	ck_assert_str_eq(cfg->listen[0].host, "::1");
	ck_assert_str_eq(cfg->listen[0].text, "[::1]:0");
	ck_assert_int_eq(cfg->listen[0].port, 0);
	ck_assert_str_eq(cfg->timeouts.deadline_header, "X-Deadline");
	config_unref(cfg);

	cfg = load_ok("[server]\naccess_log = off\nmetrics_listen = off\n"
	    "[timeouts]\ndeadline_header =\n");
	ck_assert_str_eq(cfg->access_log, "off");
	ck_assert_ptr_null(cfg->metrics_listen);
	ck_assert_str_eq(cfg->timeouts.deadline_header, "");
	config_unref(cfg);
}
END_TEST

/* A bad value for a key, and the message it must give. */
#define BAD(sect, key, val, why) { "[" sect "]\n" key " = " val "\n", \
	"t.ini:2: [" sect "] " key " = \"" val "\": " why "\n" }
#define BADU(key, val, why) { UP key " = " val "\n", \
	"t.ini:3: [upstream u] " key " = \"" val "\": " why "\n" }
#define LISTEN_TLS_WHY	"only the word tls may follow the address " \
	"(e.g. 127.0.0.1:8080, [::1]:8080, *:8443 tls)"
#define CERT_EG	"/etc/hourglass/example.com.pem /etc/hourglass/example.com.key"
#define PROTO_WHY	"not a list of TLSv1.2 and TLSv1.3 " \
	"(e.g. TLSv1.2 TLSv1.3, TLSv1.3)"
#define CIPHER_EG	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define SNI_WHY	"not a DNS name (SNI takes a name, not an address) " \
	"(e.g. api.example.com)"
#define BADR(key, val, why) \
	{ UP "[route /]\nupstream = u\n" key " = " val "\n", \
	"t.ini:5: [route /] " key " = \"" val "\": " why "\n" }
static const struct {
	const char	*text;
	const char	*want;
} bad[] = {
	BAD("server", "listen", "1.2.3.4",
	    "missing port (e.g. 127.0.0.1:8080, [::1]:8080, *:8443 tls)"),
	BAD("server", "workers", "0", "out of range (1..64) (e.g. 4, auto)"),
	BAD("server", "workers", "65", "out of range (1..64) (e.g. 4, auto)"),
	BAD("server", "workers", "-1", "not a number (e.g. 4, auto)"),
	BAD("server", "max_connections", "1000001",
	    "out of range (1..1000000) (e.g. 10000)"),
	BAD("server", "max_connections", "99999999999999999999999",
	    "out of range (1..1000000) (e.g. 10000)"),
	BAD("server", "max_connections", "10 0", "not a number (e.g. 10000)"),
	BAD("server", "access_log", "",
	    "empty (e.g. /var/log/hourglass/access.log, stderr, off)"),
	BAD("server", "log_format", "xml",
	    "not one of logfmt, json (e.g. logfmt)"),
	BAD("server", "log_level", "notice",
	    "not one of crit, error, warning, info, debug (e.g. info)"),
	BAD("server", "metrics_listen", "localhost",
	    "missing port (e.g. 127.0.0.1:9090, off)"),
	BAD("limits", "max_uri", "0", "cannot be 0 (e.g. 8k)"),
	BAD("limits", "max_uri", "off", "cannot be off (e.g. 8k)"),
	BAD("limits", "max_header", "0k", "cannot be 0 (e.g. 32k)"),
	BAD("limits", "max_header", "32kb", "not a size (e.g. 32k)"),
	BAD("limits", "max_body", "17179869184g",
	    "too large (e.g. 1g, 100m, off)"),
	BAD("timeouts", "connect", "2x",
	    "not a duration (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "client_header", "10",
	    "missing unit (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "client_idle", "-5s",
	    "not a duration (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "keepalive", ".5s", "a fraction needs digits on both "
	    "sides of the point (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "keepalive", "1m30", "missing unit "
	    "(e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "request", "30s1m", "units go from the largest to the "
	    "smallest, each once (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "connect", "0.5ms",
	    "finer than 1ms (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "request", "off",
	    "cannot be disabled (0 or off) (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "request", "0",
	    "cannot be disabled (0 or off) (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "try", "2 s",
	    "not a duration (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "upstream_header", "597h",
	    "too large, at most 596h (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "upstream_idle", "2S",
	    "not a duration (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "drain", "0s",
	    "cannot be disabled (0 or off) (e.g. 250ms, 1.5s, 1m30s)"),
	BAD("timeouts", "retries", "11", "out of range (0..10) (e.g. 1)"),
	BAD("timeouts", "deadline_header", "X Timeout",
	    "not a header name (e.g. X-Request-Timeout)"),
	BAD("timeouts", "propagate_deadline", "maybe",
	    "not yes or no (e.g. yes, no)"),
	BAD("timeouts", "deadline_margin", "5", "missing unit (e.g. 5ms, off)"),
	BAD("timeouts", "deadline_margin", "-5ms",
	    "not a duration (e.g. 5ms, off)"),
	BAD("server", "listen", "127.0.0.1:65536",
	    "bad port (1..65535; listen and metrics_listen also take 0, any "
	    "free port) (e.g. 127.0.0.1:8080, [::1]:8080, *:8443 tls)"),
	BAD("server", "metrics_listen", "[::1]:x",
	    "bad port (1..65535; listen and metrics_listen also take 0, any "
	    "free port) (e.g. 127.0.0.1:9090, off)"),
	BAD("server", "listen", "http://127.0.0.1:8080/",
	    "hourglass takes HOST:PORT, not a URL "
	    "(e.g. 127.0.0.1:8080, [::1]:8080, *:8443 tls)"),
	BADU("server", "10.0.0.2",
	    "missing port (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "10.0.0.2:80 weight=0",
	    "weight out of range (1..1000) (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "10.0.0.2:80 weight=1001",
	    "weight out of range (1..1000) (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "10.0.0.2:80 weigh=2",
	    "unknown or repeated option (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "10.0.0.2:0",
	    "bad port (1..65535; listen and metrics_listen also take 0, any "
	    "free port) (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "10.0.0.2:65536",
	    "bad port (1..65535; listen and metrics_listen also take 0, any "
	    "free port) (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "*:80",
	    "needs a host or an address, not * (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "http://127.0.0.1:9000",
	    "hourglass takes HOST:PORT, not a URL "
	    "(e.g. 127.0.0.1:9000 weight=2)"),
	BADU("server", "127.0.0.1:9000/",
	    "bad port (1..65535; listen and metrics_listen also take 0, any "
	    "free port) (e.g. 127.0.0.1:9000 weight=2)"),
	BADU("balance", "random",
	    "not one of round_robin, least_conn (e.g. least_conn)"),
	BADU("keepalive", "100001", "out of range (0..100000) (e.g. 32)"),
	BADU("keepalive_idle", "1d", "not a duration (e.g. 250ms, 1.5s, 1m30s)"),
	BADU("max_fails", "1001", "out of range (0..1000) (e.g. 1)"),
	BADU("fail_timeout", "off",
	    "cannot be disabled (0 or off) (e.g. 250ms, 1.5s, 1m30s)"),
	BADU("resolve_interval", "30", "missing unit (e.g. 250ms, 1.5s, 1m30s)"),
	{ UP "[route /]\nupstream = u u\n",
	  "t.ini:4: [route /] upstream = \"u u\": not an upstream name "
	  "(e.g. origin)\n" },
	BADR("host", "a b", "not a host name (e.g. example.com)"),
	BADR("connect", "5", "missing unit (e.g. 250ms, 1.5s, 1m30s)"),
	BADR("request", "off",
	    "cannot be disabled (0 or off) (e.g. 250ms, 1.5s, 1m30s)"),
	/* Keys that cannot apply per route say why. */
	BADR("drain", "1s", "drain is process-wide; set it in [timeouts]"),
	BADR("client_header", "5s", "client_header runs before the request "
	    "is routed (its head is not complete yet); set it in [timeouts]"),
	BADR("deadline_margin", "1x", "not a duration (e.g. 5ms, off)"),
	/* TLS keys: only their syntax here; files in the "tls" case. */
	BAD("server", "listen", "127.0.0.1:8443 ssl", LISTEN_TLS_WHY),
	BAD("server", "listen", "127.0.0.1:8443 tls tls", LISTEN_TLS_WHY),
	BAD("server", "listen", "127.0.0.1:8443 TLS", LISTEN_TLS_WHY),
	BAD("server", "listen", "127.0.0.1 tls",
	    "missing port (e.g. 127.0.0.1:8080, [::1]:8080, *:8443 tls)"),
	BAD("server", "metrics_listen", "127.0.0.1:9090 tls",
	    "bad port (1..65535; listen and metrics_listen also take 0, any "
	    "free port) (e.g. 127.0.0.1:9090, off)"),
	BAD("server", "tls_certificate", "a.pem a.key b.pem",
	    "one or two files: CERT [KEY] (a path may not hold a blank) "
	    "(e.g. " CERT_EG ")"),
	BAD("server", "tls_certificate", "", "empty (e.g. " CERT_EG ")"),
	BAD("server", "tls_protocols", "TLSv1.1", PROTO_WHY),
	BAD("server", "tls_protocols", "", PROTO_WHY),
	BAD("server", "tls_protocols", "TLSv1.2 SSLv3", PROTO_WHY),
	BAD("server", "tls_protocols", "tlsv1.3", PROTO_WHY),
	BAD("server", "tls_ciphers", "BOGUS",
	    "BOGUS is not a cipher or alias OpenSSL offers (e.g. " CIPHER_EG ")"),
	BAD("server", "tls_ciphers",
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA257",
	    "ECDHE-RSA-AES128-GCM-SHA257 is not a cipher or alias OpenSSL "
	    "offers (e.g. " CIPHER_EG ")"),
	BAD("server", "tls_ciphers", "TLS_AES_128_GCM_SHA256",
	    "TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite (this list is of TLS "
	    "1.2 ciphers; TLS 1.3 uses OpenSSL's suites) (e.g. " CIPHER_EG ")"),
	BAD("server", "tls_ciphers", "!aNULL",
	    "selects no cipher (e.g. " CIPHER_EG ")"),
	BAD("server", "tls_ciphers", "", "selects no cipher (e.g. " CIPHER_EG ")"),
	BADU("tls", "maybe", "not yes or no (e.g. yes, no)"),
	BADU("tls_verify", "sometimes", "not yes or no (e.g. yes, no)"),
	BADU("tls_ca", "", "empty (e.g. /etc/ssl/certs/internal-ca.pem)"),
	BADU("tls_sni", "10.0.0.1", SNI_WHY),
	BADU("tls_sni", "[::1]", SNI_WHY),
	BADU("tls_sni", "a b", SNI_WHY),
	BADU("tls_sni", ".example.com", SNI_WHY),
	BADU("tls_sni", "a..example.com", SNI_WHY),
	BADU("tls_sni", "example.com.", SNI_WHY),
	BADU("tls_certificate", "c.pem c.key x",
	    "one or two files: CERT [KEY] (a path may not hold a blank) "
	    "(e.g. /etc/hourglass/client.pem /etc/hourglass/client.key)"),
	BADU("server", "10.0.0.2:443 tls",
	    "unknown or repeated option (e.g. 127.0.0.1:9000 weight=2)"),
};

START_TEST(test_bad_values)
{
	expect_errors(bad[_i].text, bad[_i].want);
}
END_TEST

/* config_parse_duration() by itself. */
static const struct {
	const char	*s;
	bool		 allow_off;
	int		 rc;
	uint32_t	 ms;
	const char	*why;
} durations[] = {
	{ "0", true, 0, 0, NULL },
	{ "off", true, 0, 0, NULL },
	{ "0s", true, 0, 0, NULL },
	{ "0", false, -1, 0, "cannot be disabled (0 or off)" },
	{ "off", false, -1, 0, "cannot be disabled (0 or off)" },
	{ "1ms", false, 0, 1, NULL },
	{ "250ms", false, 0, 250, NULL },
	{ "2s", false, 0, 2000, NULL },
	{ "3m", false, 0, 180000, NULL },
	{ "4h", false, 0, 14400000, NULL },
	{ "007s", false, 0, 7000, NULL },
	{ "2147483647ms", false, 0, 2147483647, NULL },
	{ "2147483648ms", false, -1, 0, "too large, at most 596h" },
	{ "596h", false, 0, 2145600000, NULL },
	{ "597h", false, -1, 0, "too large, at most 596h" },
	{ "99999999999999999999999h", false, -1, 0, "too large, at most 596h" },
	{ "5", false, -1, 0, "missing unit" },
	{ "-1s", false, -1, 0, "not a duration" },
	/* Parts from the largest unit to the smallest, each once. */
	{ "90s", false, 0, 90000, NULL },
	{ "1m30s", false, 0, 90000, NULL },
	{ "1s500ms", false, 0, 1500, NULL },
	{ "1h2m3s4ms", false, 0, 3723004, NULL },
	{ "1h4ms", false, 0, 3600004, NULL },
	{ "0h0m", true, 0, 0, NULL },
	{ "0m0s", false, -1, 0, "cannot be disabled (0 or off)" },
	{ "1h1h", false, -1, 0, "units go from the largest to the smallest, "
	    "each once" },
	{ "1s1m", false, -1, 0, "units go from the largest to the smallest, "
	    "each once" },
	{ "500ms1s", false, -1, 0, "units go from the largest to the "
	    "smallest, each once" },
	{ "1m30", false, -1, 0, "missing unit" },
	{ "1m 30s", false, -1, 0, "not a duration" },
	{ "1m+30s", false, -1, 0, "not a duration" },
	{ "1mss", false, -1, 0, "not a duration" },
	/* Fractions of whole milliseconds. */
	{ "1.5s", false, 0, 1500, NULL },
	{ "0.25m", false, 0, 15000, NULL },
	{ "1.5h", false, 0, 5400000, NULL },
	{ "0.001s", false, 0, 1, NULL },
	{ "2.500s", false, 0, 2500, NULL },
	{ "1.0000000000000000000s", false, 0, 1000, NULL },
	{ "1m0.5s", false, 0, 60500, NULL },
	{ "0.0000001h", false, -1, 0, "finer than 1ms" },
	{ "0.000001h", false, -1, 0, "finer than 1ms" },
	{ "0.00001h", false, 0, 36, NULL },
	{ "1.0001s", false, -1, 0, "finer than 1ms" },
	{ "0.5ms", false, -1, 0, "finer than 1ms" },
	{ "1.0000000001s", false, -1, 0, "finer than 1ms" },
	{ "0.0s", false, -1, 0, "cannot be disabled (0 or off)" },
	{ "0.0s", true, 0, 0, NULL },
	{ "1.5", false, -1, 0, "missing unit" },
	{ ".5s", false, -1, 0, "a fraction needs digits on both sides of the "
	    "point" },
	{ "1.s", false, -1, 0, "a fraction needs digits on both sides of the "
	    "point" },
	{ "1..5s", false, -1, 0, "a fraction needs digits on both sides of the "
	    "point" },
	{ "1.5.5s", false, -1, 0, "not a duration" },
	/* Overflow, part by part and in all. */
	{ "596h31m23s647ms", false, 0, 2147483647, NULL },
	{ "596h31m23s648ms", false, -1, 0, "too large, at most 596h" },
	{ "596h31m23.647s", false, 0, 2147483647, NULL },
	{ "596.6h", false, -1, 0, "too large, at most 596h" },
	{ "35791.394m", false, 0, 2147483640, NULL },
	{ "2147483.648s", false, -1, 0, "too large, at most 596h" },
	{ "99999999999999999999999.5h", false, -1, 0,
	    "too large, at most 596h" },
	{ "1h99999999999999999999999ms", false, -1, 0,
	    "too large, at most 596h" },
	{ " 1s", false, -1, 0, "not a duration" },
	{ "1s ", false, -1, 0, "not a duration" },
	{ "1 s", false, -1, 0, "not a duration" },
	{ "", false, -1, 0, "not a duration" },
	{ "s", false, -1, 0, "not a duration" },
	{ "1sec", false, -1, 0, "not a duration" },
	{ "1d", false, -1, 0, "not a duration" },
	{ "1us", false, -1, 0, "not a duration" },
	{ "OFF", true, -1, 0, "not a duration" },
};

START_TEST(test_parse_duration)
{
	uint32_t ms = 12345;
	const char *why = NULL;
	int rc;

	rc = config_parse_duration(durations[_i].s, durations[_i].allow_off,
	    &ms, &why);
	ck_assert_msg(rc == durations[_i].rc, "\"%s\": rc %d",
	    durations[_i].s, rc);
	if (rc == 0)
		ck_assert_uint_eq(ms, durations[_i].ms);
	else
		ck_assert_str_eq(why, durations[_i].why);
}
END_TEST

/* config_parse_size() by itself. */
static const struct {
	const char	*s;
	bool		 allow_off;
	int		 rc;
	uint64_t	 bytes;
} sizes[] = {
	{ "0", false, 0, 0 },
	{ "1", false, 0, 1 },
	{ "8k", false, 0, 8192 },
	{ "8K", false, 0, 8192 },
	{ "3m", false, 0, 3 << 20 },
	{ "3M", false, 0, 3 << 20 },
	{ "1g", false, 0, 1 << 30 },
	{ "1G", false, 0, 1 << 30 },
	{ "off", true, 0, CONFIG_SIZE_OFF },
	{ "off", false, -1, 0 },
	{ "18446744073709551614", false, 0, UINT64_MAX - 1 },
	{ "18446744073709551615", false, -1, 0 },
	{ "17179869183g", false, 0, 17179869183ULL << 30 },
	{ "17179869184g", false, -1, 0 },
	{ "1kb", false, -1, 0 },
	{ "1t", false, -1, 0 },
	{ "-1", false, -1, 0 },
	{ "1.5k", false, -1, 0 },
	{ "1 k", false, -1, 0 },
	{ "k", false, -1, 0 },
	{ "", false, -1, 0 },
};

START_TEST(test_parse_size)
{
	uint64_t b = 12345;
	const char *why = NULL;
	int rc;

	rc = config_parse_size(sizes[_i].s, sizes[_i].allow_off, &b, &why);
	ck_assert_msg(rc == sizes[_i].rc, "\"%s\": rc %d", sizes[_i].s, rc);
	if (rc == 0)
		ck_assert_msg(b == sizes[_i].bytes, "\"%s\": %llu",
		    sizes[_i].s, (unsigned long long)b);
	else
		ck_assert_ptr_nonnull(why);
}
END_TEST

/* config_parse_addr() by itself. */
#define PORT_WHY	"bad port (1..65535; listen and metrics_listen also " \
	"take 0, any free port)"
static const struct {
	const char	*s;
	int		 rc;
	const char	*host;
	uint16_t	 port;
	const char	*why;
} addrs[] = {
	{ "127.0.0.1:8080", 0, "127.0.0.1", 8080, NULL },
	{ "[::1]:80", 0, "::1", 80, NULL },
	{ "[2001:db8::1]:65535", 0, "2001:db8::1", 65535, NULL },
	{ "*:8080", 0, "*", 8080, NULL },
	{ "localhost:0", 0, "localhost", 0, NULL },
	{ "origin-1.example.com:443", 0, "origin-1.example.com", 443, NULL },
	{ "::1:80", -1, NULL, 0, "an IPv6 address must be in brackets" },
	{ "::1", -1, NULL, 0, "an IPv6 address must be in brackets" },
	{ "[::1]", -1, NULL, 0, "missing port" },
	{ "[::1]:", -1, NULL, 0, "missing port" },
	{ "[::1:80", -1, NULL, 0, "missing ] after the IPv6 address" },
	{ "[1.2.3.4]:80", -1, NULL, 0, "not an IPv6 address" },
	{ "[]:80", -1, NULL, 0, "not an IPv6 address" },
	{ "127.0.0.1", -1, NULL, 0, "missing port" },
	{ "127.0.0.1:", -1, NULL, 0, "missing port" },
	{ ":80", -1, NULL, 0, "missing host" },
	{ "127.0.0.1:65536", -1, NULL, 0, PORT_WHY },
	{ "127.0.0.1:99999999999999999999", -1, NULL, 0, PORT_WHY },
	{ "127.0.0.1:-1", -1, NULL, 0, PORT_WHY },
	{ "127.0.0.1:http", -1, NULL, 0, PORT_WHY },
	{ "127.0.0.1:80 ", -1, NULL, 0, PORT_WHY },
	{ "a b:80", -1, NULL, 0, "not a host name or address" },
	{ "**:80", -1, NULL, 0, "not a host name or address" },
	{ "", -1, NULL, 0, "missing port" },
	{ "http://127.0.0.1:9000", -1, NULL, 0,
	    "hourglass takes HOST:PORT, not a URL" },
	{ "http://[::1]:80/", -1, NULL, 0,
	    "hourglass takes HOST:PORT, not a URL" },
};

START_TEST(test_parse_addr)
{
	struct config_addr a = { NULL, 7, NULL, false };
	const char *why = NULL;
	int rc;

	rc = config_parse_addr(addrs[_i].s, &a, &why);
	ck_assert_msg(rc == addrs[_i].rc, "\"%s\": rc %d", addrs[_i].s, rc);
	if (rc == 0) {
		ck_assert_str_eq(a.host, addrs[_i].host);
		ck_assert_int_eq(a.port, addrs[_i].port);
		ck_assert_str_eq(a.text, addrs[_i].s);
		config_addr_free(&a);
		ck_assert_ptr_null(a.host);
	} else {
		ck_assert_str_eq(why, addrs[_i].why);
		ck_assert_ptr_null(a.host);
		ck_assert_ptr_null(a.text);
	}
}
END_TEST

START_TEST(test_defaults)
{
	struct config *cfgs[2] = { config_default(), load_ok("") };

	for (size_t i = 0; i < nitems(cfgs); i++) {
		struct config *cfg = cfgs[i];

		ck_assert_ptr_nonnull(cfg);
		ck_assert_int_eq(cfg->refs, 1);
		ck_assert_uint_eq(cfg->nlisten, 1);
		ck_assert_str_eq(cfg->listen[0].host, "*");
		ck_assert_int_eq(cfg->listen[0].port, 8080);
		ck_assert_str_eq(cfg->listen[0].text, "*:8080");
		ck_assert_uint_eq(cfg->workers, 1);
		ck_assert_uint_eq(cfg->max_connections, 10000);
		ck_assert_str_eq(cfg->access_log, "stderr");
		ck_assert_int_eq(cfg->log_format, CONFIG_LOG_LOGFMT);
		ck_assert_int_eq(cfg->log_level, CONFIG_LOG_INFO);
		ck_assert_ptr_null(cfg->metrics_listen);
		ck_assert(cfg->max_uri == 8192);
		ck_assert(cfg->max_header == 32768);
		ck_assert(cfg->max_body == 1ULL << 30);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_CLIENT_HEADER], 10000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_CLIENT_IDLE], 30000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_KEEPALIVE], 60000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_REQUEST], 60000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_TRY], 0);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_CONNECT], 2000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_UPSTREAM_HEADER], 30000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_UPSTREAM_IDLE], 30000);
		ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_DRAIN], 30000);
		ck_assert_uint_eq(cfg->timeouts.retries, 1);
		ck_assert_str_eq(cfg->timeouts.deadline_header,
		    "X-Request-Timeout");
		ck_assert(cfg->timeouts.propagate_deadline);
		ck_assert_uint_eq(cfg->timeouts.deadline_margin_ms, 5);
		ck_assert_uint_eq(cfg->nupstreams, 0);
		ck_assert_uint_eq(cfg->nroutes, 0);
	}
	ck_assert_str_eq(cfgs[1]->path, "t.ini");
	config_unref(cfgs[0]);
	config_unref(cfgs[1]);
}
END_TEST

START_TEST(test_upstream_defaults)
{
	struct config *cfg = load_ok(UP);
	const struct config_upstream *up = &cfg->upstreams[0];

	ck_assert_uint_eq(cfg->nupstreams, 1);
	ck_assert_str_eq(up->name, "u");
	ck_assert_uint_eq(up->nservers, 1);
	ck_assert_str_eq(up->servers[0].addr.host, "10.0.0.1");
	ck_assert_int_eq(up->servers[0].addr.port, 80);
	ck_assert_uint_eq(up->servers[0].weight, 1);
	ck_assert_int_eq(up->balance, CONFIG_BALANCE_ROUND_ROBIN);
	ck_assert_uint_eq(up->keepalive, 32);
	ck_assert_uint_eq(up->keepalive_idle_ms, 60000);
	ck_assert_uint_eq(up->max_fails, 1);
	ck_assert_uint_eq(up->fail_timeout_ms, 10000);
	ck_assert_uint_eq(up->resolve_interval_ms, 30000);
	config_unref(cfg);
}
END_TEST

START_TEST(test_repeated_keys)
{
	struct config *cfg;

	cfg = load_ok("[server]\nlisten = 127.0.0.1:1\nlisten = [::1]:2\n"
	    "listen = *:3\n"
	    "[upstream u]\nserver = a:1\nserver = b:2 weight=3\n"
	    "server = [::1]:3\t weight=1000\n");
	ck_assert_uint_eq(cfg->nlisten, 3);
	ck_assert_str_eq(cfg->listen[0].text, "127.0.0.1:1");
	ck_assert_str_eq(cfg->listen[1].host, "::1");
	ck_assert_str_eq(cfg->listen[2].host, "*");
	ck_assert_uint_eq(cfg->upstreams[0].nservers, 3);
	ck_assert_str_eq(cfg->upstreams[0].servers[1].addr.host, "b");
	ck_assert_uint_eq(cfg->upstreams[0].servers[1].weight, 3);
	ck_assert_str_eq(cfg->upstreams[0].servers[2].addr.host, "::1");
	ck_assert_str_eq(cfg->upstreams[0].servers[2].addr.text, "[::1]:3");
	ck_assert_uint_eq(cfg->upstreams[0].servers[2].weight, 1000);
	config_unref(cfg);

	expect_errors("[server]\nworkers = 2\n\nworkers = 3\n",
	    "t.ini:4: [server] workers = \"3\": already set on line 2\n");
	expect_errors("[timeouts]\nconnect = 1s\nconnect = 2x\n",
	    "t.ini:3: [timeouts] connect = \"2x\": already set on line 2\n");
	expect_errors(UP "[route /]\nupstream = u\nupstream = u\n",
	    "t.ini:5: [route /] upstream = \"u\": already set on line 4\n");
	expect_errors(UP "balance = least_conn\nbalance = least_conn\n",
	    "t.ini:4: [upstream u] balance = \"least_conn\": already set on "
	    "line 3\n");
	/* A repeated section is refused; its keys are not looked at. */
	expect_errors("[server]\nworkers = 2\n[limits]\n[server]\nworkers = x\n",
	    "t.ini:4: [server]: section already given on line 1\n");
}
END_TEST

START_TEST(test_sections)
{
	struct config *cfg;

	cfg = load_ok("[route /b]\nupstream = two\n"
	    "[upstream one]\nserver = 10.0.0.1:80\n"
	    "[upstream two]\nserver = 10.0.0.2:80\n"
	    "[route /a]\nupstream = one\n"
	    "[route /a]\nupstream = two\nhost = example.com\n"
	    "[ route   /c ] ; spaces are trimmed\nupstream = one\n");
	ck_assert_uint_eq(cfg->nupstreams, 2);
	ck_assert_str_eq(cfg->upstreams[0].name, "one");
	ck_assert_str_eq(cfg->upstreams[1].name, "two");
	/* Longest first, host-specific first, then in file order. */
	ck_assert_uint_eq(cfg->nroutes, 4);
	ck_assert_str_eq(cfg->routes[0].prefix, "/a");
	ck_assert_str_eq(cfg->routes[0].host, "example.com");
	ck_assert_ptr_eq(cfg->routes[0].upstream, &cfg->upstreams[1]);
	ck_assert_str_eq(cfg->routes[1].prefix, "/b");
	ck_assert_ptr_eq(cfg->routes[1].upstream, &cfg->upstreams[1]);
	ck_assert_str_eq(cfg->routes[2].prefix, "/a");
	ck_assert_ptr_null(cfg->routes[2].host);
	ck_assert_ptr_eq(cfg->routes[2].upstream, &cfg->upstreams[0]);
	ck_assert_str_eq(cfg->routes[3].prefix, "/c");
	config_unref(cfg);

	/* inih would cut a section name at 50 bytes; ours are whole. */
	cfg = load_ok(UP "[route /a-rather-long-prefix/that-goes-on/and-on/and-on/"
	    "past-fifty-bytes]\nupstream = u\n");
	ck_assert_str_eq(cfg->routes[0].prefix, "/a-rather-long-prefix/"
	    "that-goes-on/and-on/and-on/past-fifty-bytes");
	config_unref(cfg);

	expect_errors("[bogus]\nx = 1\n",
	    "t.ini:1: [bogus]: unknown section (sections: server, limits, "
	    "timeouts, upstream NAME, route PREFIX)\n");
	expect_errors("[Server]\n",
	    "t.ini:1: [Server]: unknown section (sections: server, limits, "
	    "timeouts, upstream NAME, route PREFIX)\n");
	expect_errors("[server]\nlisen = x\n",
	    "t.ini:2: [server] lisen = \"x\": unknown key (keys: listen, "
	    "workers, max_connections, access_log, log_format, log_level, "
	    "metrics_listen, proxy_status, tls_certificate, tls_protocols, "
	    "tls_ciphers)\n");
	expect_errors("[limits]\nmax_url = 1\n",
	    "t.ini:2: [limits] max_url = \"1\": unknown key (keys: max_uri, "
	    "max_header, max_body)\n");
	expect_errors("[timeouts]\nconect = 1s\n",
	    "t.ini:2: [timeouts] conect = \"1s\": unknown key (keys: "
	    "client_header, client_idle, keepalive, request, try, connect, "
	    "upstream_header, upstream_idle, tunnel_idle, tunnel_max, drain, "
	    "retries, deadline_header, "
	    "propagate_deadline, deadline_margin, grpc_timeout, try_min, hedge, "
	    "hedge_max)\n");
	expect_errors(UP "weight = 1\n",
	    "t.ini:3: [upstream u] weight = \"1\": unknown key (keys: server, "
	    "balance, keepalive, keepalive_idle, max_fails, fail_timeout, "
	    "resolve_interval, retry_budget, retry_budget_min, tls, tls_verify, "
	    "tls_ca, tls_sni, tls_certificate)\n");
	expect_errors(UP "[route /]\nupstream = u\nbalance = x\n",
	    "t.ini:5: [route /] balance = \"x\": unknown key (keys: upstream, "
	    "host, upgrade, client_idle, keepalive, request, try, connect, "
	    "upstream_header, upstream_idle, tunnel_idle, tunnel_max, "
	    "retries, deadline_header, "
	    "propagate_deadline, deadline_margin, grpc_timeout, try_min, hedge, "
	    "hedge_max)\n");
	expect_errors("workers = 2\n[server]\n",
	    "t.ini:1: workers = \"2\": key before any [section]\n");
	expect_errors("[server x]\n",
	    "t.ini:1: [server x]: this section takes no name\n");
	expect_errors("[upstream]\n",
	    "t.ini:1: [upstream]: missing name (e.g. [upstream api])\n");
	expect_errors("[upstream a/b]\nserver = a:1\n",
	    "t.ini:1: [upstream a/b]: not a name (letters, digits, '.', '-', "
	    "'_'; e.g. [upstream api])\n");
	expect_errors("[upstream u]\n",
	    "t.ini:1: [upstream u]: no server (e.g. server = 127.0.0.1:9000)\n");
	expect_errors(UP "\n[upstream u]\nserver = 10.0.0.3:80\n",
	    "t.ini:4: [upstream u]: duplicate upstream (first defined on "
	    "line 1)\n");
	expect_errors("[route]\n",
	    "t.ini:1: [route]: missing prefix (e.g. [route /api])\n");
	expect_errors(UP "[route api]\nupstream = u\nhost = h\n"
	    "deadline_header = X-D\n",
	    "t.ini:3: [route api]: the prefix must start with / "
	    "(e.g. [route /api])\n");
	expect_errors(UP "[route /]\nhost = a\n",
	    "t.ini:3: [route /]: missing upstream (e.g. upstream = origin)\n");
	expect_errors(UP "[route /]\nupstream = u\n[route /]\nupstream = u\n",
	    "t.ini:5: [route /]: duplicate route (same prefix and host as on "
	    "line 3)\n");
	expect_errors(UP "[route /]\nupstream = u\nhost = A.example\n"
	    "[route /]\nupstream = u\nhost = a.EXAMPLE\n",
	    "t.ini:6: [route /]: duplicate route (same prefix and host as on "
	    "line 3)\n");
	expect_errors("[server\n",
	    "t.ini:1: \"[server\": missing ] (e.g. [server])\n");
	expect_errors("[server] x\n",
	    "t.ini:1: \"[server] x\": text after ] (e.g. [server])\n");
	expect_errors("[server]\njust words\n",
	    "t.ini:2: \"just words\": not KEY = VALUE or [SECTION]\n");
}
END_TEST

START_TEST(test_route_upstream)
{
	/* The route names its line; the upstream may come later in the file. */
	expect_errors("[route /]\nupstream = nope\n" UP,
	    "t.ini:2: [route /] upstream = \"nope\": no such upstream "
	    "(upstreams: u)\n");
	expect_errors("[route /]\nupstream = nope\n",
	    "t.ini:2: [route /] upstream = \"nope\": no such upstream "
	    "(no [upstream NAME] section is defined)\n");
	/* An upstream that is defined but broken is reported once. */
	expect_errors("[route /]\nupstream = u\n[upstream u]\n",
	    "t.ini:3: [upstream u]: no server "
	    "(e.g. server = 127.0.0.1:9000)\n");
	/* A bad server line is the one error, not also "no server". */
	expect_errors("[route /]\nupstream = u\n[upstream u]\n"
	    "server = http://127.0.0.1:9000\n",
	    "t.ini:4: [upstream u] server = \"http://127.0.0.1:9000\": "
	    "hourglass takes HOST:PORT, not a URL "
	    "(e.g. 127.0.0.1:9000 weight=2)\n");
	expect_errors("[upstream u]\nserver = ::1:80\nserver = x\n",
	    "t.ini:2: [upstream u] server = \"::1:80\": an IPv6 address must "
	    "be in brackets (e.g. 127.0.0.1:9000 weight=2)\n"
	    "t.ini:3: [upstream u] server = \"x\": missing port "
	    "(e.g. 127.0.0.1:9000 weight=2)\n");
}
END_TEST

START_TEST(test_route_merge)
{
	struct config *cfg;
	const struct config_timeouts *t;

	cfg = load_ok(UP "[route /api]\nupstream = u\nconnect = 5s\ntry = 1s\n"
	    "retries = 0\ndeadline_header =\npropagate_deadline = no\n"
	    "keepalive = 1s\ndeadline_margin = off\n"
	    "[route /]\nupstream = u\n"
	    "[timeouts]\nconnect = 1s\nrequest = 20s\nupstream_idle = off\n"
	    "deadline_header = X-Budget\ndrain = 7s\nclient_header = 3s\n"
	    "deadline_margin = 20ms\n");
	ck_assert_uint_eq(cfg->nroutes, 2);
	t = &cfg->routes[0].timeouts;
	ck_assert_str_eq(cfg->routes[0].prefix, "/api");
	ck_assert_uint_eq(t->ms[SCOPE_CONNECT], 5000);
	ck_assert_uint_eq(t->ms[SCOPE_TRY], 1000);
	ck_assert_uint_eq(t->ms[SCOPE_REQUEST], 20000);
	ck_assert_uint_eq(t->ms[SCOPE_UPSTREAM_IDLE], 0);
	ck_assert_uint_eq(t->ms[SCOPE_KEEPALIVE], 1000);
	ck_assert_uint_eq(t->retries, 0);
	ck_assert_str_eq(t->deadline_header, "");
	ck_assert(!t->propagate_deadline);
	ck_assert_uint_eq(t->deadline_margin_ms, 0);
	/* The keys no route may set are the [timeouts] values. */
	ck_assert_uint_eq(t->ms[SCOPE_CLIENT_HEADER], 3000);
	ck_assert_uint_eq(t->ms[SCOPE_DRAIN], 7000);
	t = &cfg->routes[1].timeouts;
	ck_assert_uint_eq(t->ms[SCOPE_CONNECT], 1000);
	ck_assert_uint_eq(t->ms[SCOPE_TRY], 0);
	ck_assert_uint_eq(t->ms[SCOPE_REQUEST], 20000);
	ck_assert_uint_eq(t->ms[SCOPE_UPSTREAM_IDLE], 0);
	ck_assert_uint_eq(t->retries, 1);
	ck_assert_str_eq(t->deadline_header, "X-Budget");
	ck_assert(t->propagate_deadline);
	ck_assert_uint_eq(t->ms[SCOPE_KEEPALIVE], 60000);
	ck_assert_uint_eq(t->deadline_margin_ms, 20);
	ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_CONNECT], 1000);
	ck_assert_uint_eq(cfg->timeouts.deadline_margin_ms, 20);
	config_unref(cfg);
}
END_TEST

START_TEST(test_line_numbers)
{
	char text[1024];

	/* Three errors, all reported, in order, with their own lines. */
	expect_errors("; comment\n[server]\nworkers = x\n\n# comment\n"
	    "[timeouts]\nconnect = 2x\n  retries = 99\n",
	    "t.ini:3: [server] workers = \"x\": not a number (e.g. 4, auto)\n"
	    "t.ini:7: [timeouts] connect = \"2x\": not a duration "
	    "(e.g. 250ms, 1.5s, 1m30s)\n"
	    "t.ini:8: [timeouts] retries = \"99\": out of range (0..10) "
	    "(e.g. 1)\n");
	/* Errors found at the end still sort by line. */
	expect_errors("[route /]\nupstream = none\n[upstream u]\n"
	    "server = x:1\n[timeouts]\ndrain = off\n",
	    "t.ini:2: [route /] upstream = \"none\": no such upstream "
	    "(upstreams: u)\n"
	    "t.ini:6: [timeouts] drain = \"off\": cannot be disabled (0 or off) "
	    "(e.g. 250ms, 1.5s, 1m30s)\n");
	/* A long line is one line, and CR LF endings count once. */
	snprintf(text, sizeof text, "[server]\r\naccess_log = /%0300d\r\n"
	    "workers = 0\r\n", 0);
	expect_errors(text,
	    "t.ini:3: [server] workers = \"0\": out of range (1..64) "
	    "(e.g. 4, auto)\n");
	/* The last line needs no newline. */
	expect_errors("[server]\n\n\nworkers = 0",
	    "t.ini:4: [server] workers = \"0\": out of range (1..64) "
	    "(e.g. 4, auto)\n");
}
END_TEST

START_TEST(test_syntax)
{
	struct config *cfg;

	/* Comments after values, indentation, ':' and a BOM. */
	cfg = load_ok("\xef\xbb\xbf[server] # main\n"
	    "  workers = 3 ; three\n"
	    "\tmax_connections: 50 # fifty\n"
	    "access_log = /tmp/a#b;c\n"
	    "[timeouts]\n"
	    "connect = 1s\n"
	    "    request = 5s\n");
	ck_assert_uint_eq(cfg->workers, 3);
	ck_assert_uint_eq(cfg->max_connections, 50);
	ck_assert_str_eq(cfg->access_log, "/tmp/a#b;c");
	/* An indented line is a key of its own, not a continuation. */
	ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_CONNECT], 1000);
	ck_assert_uint_eq(cfg->timeouts.ms[SCOPE_REQUEST], 5000);
	config_unref(cfg);

	/* Control bytes are escaped in messages. */
	expect_errors("[timeouts]\nconnect = 2\x01s\"\\\n",
	    "t.ini:2: [timeouts] connect = \"2\\x01s\\\"\\\\\": not a duration "
	    "(e.g. 250ms, 1.5s, 1m30s)\n");
	expect_errors("[timeouts]\nconnect = 2\ts\n",
	    "t.ini:2: [timeouts] connect = \"2\\ts\": not a duration "
	    "(e.g. 250ms, 1.5s, 1m30s)\n");
	expect_errors("[server]\nlisten = ::1:80\n",
	    "t.ini:2: [server] listen = \"::1:80\": an IPv6 address must be in "
	    "brackets (e.g. 127.0.0.1:8080, [::1]:8080, *:8443 tls)\n");
}
END_TEST

START_TEST(test_file)
{
	char path[] = "/tmp/hg-test-config.XXXXXX", want[512];
	const char *text = "[server]\nworkers = 2\n\n[limits]\nmax_uri = 0\n";
	struct config *cfg;
	char *errors;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	cfg = config_load(path, &errors);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof want, "%s:5: [limits] max_uri = \"0\": cannot be "
	    "0 (e.g. 8k)\n", path);
	ck_assert_str_eq(errors, want);
	free(errors);
	unlink(path);

	cfg = config_load(path, &errors);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof want, "%s: No such file or directory\n", path);
	ck_assert_str_eq(errors, want);
	free(errors);

	cfg = config_load("/tmp", &errors);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(errors, "/tmp: Is a directory\n");
	free(errors);

	/* A NUL byte can only come from a file. */
	strcpy(path + strlen(path) - 6, "XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "[server]\nwork\0ers = 1\n", 22), 22);
	close(fd);
	cfg = config_load(path, &errors);
	ck_assert_ptr_null(cfg);
	snprintf(want, sizeof want, "%s:2: a NUL byte in the line\n", path);
	ck_assert_str_eq(errors, want);
	free(errors);
	unlink(path);
}
END_TEST

/*
 * conf/hourglass.ini, installed as the production config: every key at its
 * built-in default but a loopback listener, the access log under the
 * unit's LogsDirectory and a placeholder upstream; no warning.
 */
START_TEST(test_shipped_file)
{
	struct config *cfg, *want;
	char *errors, *d, *dw;

	cfg = config_load("conf/hourglass.ini", &errors);
	ck_assert_msg(cfg != NULL, "conf/hourglass.ini:\n%s", errors);
	ck_assert_msg(cfg->warnings == NULL, "%s", cfg->warnings);
	want = load_ok("[server]\nlisten = 127.0.0.1:8080\nlisten = [::1]:8080\n"
	    "access_log = /var/log/hourglass/access.log\n"
	    "[upstream app]\nserver = 127.0.0.1:8081\n"
	    "[route /]\nupstream = app\n");
	d = dump(cfg);
	dw = dump(want);
	ck_assert_str_eq(d, dw);
	free(d);
	free(dw);
	config_unref(want);
	config_unref(cfg);
}
END_TEST

/*
 * conf/demo.ini, for `make run`: the test origin on :9000, a 3 s
 * upstream_header so that /delay/5000 times out, and TLS listeners with the
 * certificate tools/run_tls.sh makes in .run-tls/ beside conf/.  The file
 * is loaded from a copy of that layout in a temporary directory, with the
 * certificate made there by the same script.
 */
START_TEST(test_demo_file)
{
	char dir[] = "/tmp/hg-test-demo.XXXXXX", cmd[512], ini[128], want[256];
	struct config *cfg;
	char *errors;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "mkdir %s/conf && cp conf/demo.ini %s/conf/ "
	    "&& tools/run_tls.sh %s/.run-tls > /dev/null", dir, dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(ini, sizeof ini, "%s/conf/demo.ini", dir);
	cfg = config_load(ini, &errors);
	ck_assert_msg(cfg != NULL, "conf/demo.ini:\n%s", errors);
	ck_assert_msg(cfg->warnings == NULL, "%s", cfg->warnings);
	ck_assert_uint_eq(cfg->nlisten, 4);
	ck_assert_str_eq(cfg->listen[0].text, "127.0.0.1:8080");
	ck_assert_str_eq(cfg->listen[1].text, "[::1]:8080");
	ck_assert_str_eq(cfg->listen[2].text, "127.0.0.1:8443 tls");
	ck_assert_str_eq(cfg->listen[3].text, "[::1]:8443 tls");
	ck_assert(!cfg->listen[1].tls && cfg->listen[2].tls &&
	    cfg->listen[3].tls);
	ck_assert_uint_eq(cfg->ntls_certs, 1);
	snprintf(want, sizeof want, "%s/conf/../.run-tls/cert.pem", dir);
	ck_assert_str_eq(cfg->tls_certs[0].tc_cert, want);
	ck_assert_ptr_nonnull(cfg->tls_server);
	ck_assert_uint_eq(cfg->nupstreams, 1);
	ck_assert_str_eq(cfg->upstreams[0].servers[0].addr.text,
	    "127.0.0.1:9000");
	ck_assert_uint_eq(cfg->nroutes, 1);
	ck_assert_str_eq(cfg->routes[0].prefix, "/");
	ck_assert_uint_eq(cfg->routes[0].timeouts.ms[SCOPE_UPSTREAM_HEADER],
	    3000);
	config_unref(cfg);

	/* Without the certificate, the demo's TLS listeners cannot start. */
	snprintf(cmd, sizeof cmd, "rm -r %s/.run-tls", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_ptr_null(config_load(ini, &errors));
	ck_assert_ptr_nonnull(strstr(errors, "/conf/../.run-tls/cert.pem: "
	    "No such file or directory\n"));
	free(errors);
	snprintf(cmd, sizeof cmd, "rm -r %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Load text that must be good; its warnings must be exactly want. */
static void
expect_warnings(const char *text, const char *want)
{
	struct config *cfg = load_ok(text);

	if (want == NULL)
		ck_assert_msg(cfg->warnings == NULL, "unexpected warnings:\n%s",
		    cfg->warnings);
	else {
		ck_assert_msg(cfg->warnings != NULL, "no warning, want:\n%s",
		    want);
		ck_assert_str_eq(cfg->warnings, want);
	}
	config_unref(cfg);
}

#define RT	"[route /]\nupstream = u\n"
#define NEVER	"can never fire: it is not shorter than "
START_TEST(test_warnings)
{
	/* The defaults, and a file without a route. */
	expect_warnings(UP RT, NULL);
	expect_warnings(UP, "t.ini: warning: no [route PREFIX] section: every "
	    "request would get 503 (e.g. [route /] with upstream = NAME)\n");
	expect_warnings("", "t.ini: warning: no [route PREFIX] section: every "
	    "request would get 503 (e.g. [route /] with upstream = NAME)\n");

	/* Inner timeouts that an outer one ends first; a tie too. */
	expect_warnings(UP RT "[timeouts]\nrequest = 1s\nconnect = 5s\n"
	    "client_idle = 1s\nupstream_idle = 999ms\nupstream_header = 1s\n"
	    "try = 2s\n",
	    "t.ini:7: warning: [timeouts] connect = 5s " NEVER "request = 1s, "
	    "which encloses it\n"
	    "t.ini:8: warning: [timeouts] client_idle = 1s " NEVER "request = "
	    "1s, which encloses it\n"
	    "t.ini:10: warning: [timeouts] upstream_header = 1s " NEVER
	    "request = 1s, which encloses it\n"
	    "t.ini:11: warning: [timeouts] try = 2s " NEVER "request = 1s, "
	    "which encloses it\n");
	/* Off never warns; try bounds connect and upstream_header. */
	expect_warnings(UP RT "[timeouts]\nrequest = 1s\nclient_idle = off\n"
	    "upstream_idle = off\nupstream_header = 0\nconnect = off\n", NULL);
	expect_warnings(UP RT "[timeouts]\ntry = 2s\nconnect = 2s\n"
	    "upstream_header = 1500ms\n",
	    "t.ini:7: warning: [timeouts] connect = 2s " NEVER "try = 2s, "
	    "which encloses it\n");
	expect_warnings(UP RT "[timeouts]\ntry = 2.5s\nupstream_header = 3s\n",
	    "t.ini:7: warning: [timeouts] upstream_header = 3s " NEVER
	    "try = 2500ms, which encloses it\n");
	/* Only the shorter enclosing scope is named: try here. */
	expect_warnings(UP RT "[timeouts]\nrequest = 3s\ntry = 1s\n"
	    "connect = 5s\nupstream_header = 500ms\nclient_idle = 2s\n"
	    "upstream_idle = 2s\n",
	    "t.ini:8: warning: [timeouts] connect = 5s " NEVER "try = 1s, "
	    "which encloses it\n");

	/* A route warns where it sets one of the two keys, on its line. */
	expect_warnings(UP RT "request = 500ms\nclient_idle = 100ms\n"
	    "upstream_idle = off\nupstream_header = 200ms\n",
	    "t.ini:5: warning: [route /] connect = 2s " NEVER "request = 500ms, "
	    "which encloses it\n");
	expect_warnings(UP RT "connect = 1m30s\n",
	    "t.ini:5: warning: [route /] connect = 90s " NEVER "request = 1m, "
	    "which encloses it\n");
	/* What [timeouts] says is not said again for each route. */
	expect_warnings(UP RT "retries = 2\n[timeouts]\nconnect = 90s\n",
	    "t.ini:7: warning: [timeouts] connect = 90s " NEVER "request = 1m, "
	    "which encloses it\n");
	/* ... but a route that makes it right is not warned about. */
	expect_warnings(UP RT "request = 2m\n[timeouts]\nconnect = 90s\n",
	    "t.ini:7: warning: [timeouts] connect = 90s " NEVER "request = 1m, "
	    "which encloses it\n");
	expect_warnings(UP RT "try = 1s\n[timeouts]\nrequest = 5s\n"
	    "client_idle = 1s\nupstream_idle = 1s\nupstream_header = 4s\n",
	    "t.ini:5: warning: [route /] connect = 2s " NEVER "try = 1s, "
	    "which encloses it\n"
	    "t.ini:5: warning: [route /] upstream_header = 4s " NEVER
	    "try = 1s, which encloses it\n");

	/* max_header against the longest request line max_uri allows. */
	expect_warnings(UP RT "[limits]\nmax_header = 4k\n",
	    "t.ini:6: warning: [limits] max_header = 4k is smaller than a "
	    "request line that max_uri = 8k allows (max_uri + 32 bytes, at "
	    "least 64): such a request gets 431, not 414\n");
	expect_warnings(UP RT "[limits]\nmax_uri = 1000\nmax_header = 1031\n",
	    "t.ini:7: warning: [limits] max_header = 1031 is smaller than a "
	    "request line that max_uri = 1000 allows (max_uri + 32 bytes, at "
	    "least 64): such a request gets 431, not 414\n");
	expect_warnings(UP RT "[limits]\nmax_uri = 1000\nmax_header = 1032\n",
	    NULL);
	expect_warnings(UP RT "[limits]\nmax_uri = 64k\n",
	    "t.ini:6: warning: [limits] max_header = 32k is smaller than a "
	    "request line that max_uri = 64k allows (max_uri + 32 bytes, at "
	    "least 64): such a request gets 431, not 414\n");
	expect_warnings(UP RT "[limits]\nmax_uri = 1\nmax_header = 63\n",
	    "t.ini:7: warning: [limits] max_header = 63 is smaller than a "
	    "request line that max_uri = 1 allows (max_uri + 32 bytes, at "
	    "least 64): such a request gets 431, not 414\n");
	expect_warnings(UP RT "[limits]\nmax_uri = 1\nmax_header = 64\n",
	    NULL);
	expect_warnings(UP RT "[limits]\nmax_uri = 18446744073709551614\n"
	    "max_header = 18446744073709551614\n",
	    "t.ini:7: warning: [limits] max_header = 18446744073709551614 is "
	    "smaller than a request line that max_uri = 18446744073709551614 "
	    "allows (max_uri + 32 bytes, at least 64): such a request gets 431, "
	    "not 414\n");

	/* Warnings are only for a file that loads: errors come alone. */
	expect_errors("[timeouts]\nrequest = 1s\nconnect = 2x\n",
	    "t.ini:3: [timeouts] connect = \"2x\": not a duration "
	    "(e.g. 250ms, 1.5s, 1m30s)\n");
}
END_TEST

/* config_check(): the files a config names are opened, never truncated. */
START_TEST(test_check_files)
{
	char dir[] = "/tmp/hg-test-check.XXXXXX", ini[128], log[128],
	    want[512], buf[16];
	struct config *cfg;
	char *errors;
	FILE *f;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(ini, sizeof ini, "%s/h.ini", dir);
	snprintf(log, sizeof log, "%s/access.log", dir);

	/* A log that exists keeps its bytes; one that does not is made. */
	f = fopen(log, "w");
	ck_assert_ptr_nonnull(f);
	fputs("old\n", f);
	fclose(f);
	f = fopen(ini, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[server]\naccess_log = %s\n" UP RT, log);
	fclose(f);
	cfg = config_check(ini, &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);
	config_unref(cfg);
	fd = open(log, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof buf), 4);
	close(fd);
	ck_assert_int_eq(unlink(log), 0);
	cfg = config_check(ini, &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);
	config_unref(cfg);
	ck_assert_int_eq(access(log, F_OK), 0);
	/* config_load() opens nothing. */
	ck_assert_int_eq(unlink(log), 0);
	cfg = config_load(ini, &errors);
	ck_assert_ptr_nonnull(cfg);
	config_unref(cfg);
	ck_assert_int_eq(access(log, F_OK), -1);

	/* A path that cannot be opened for writing, even by root: under a
	 * regular file, or a directory.  The error names the key's line. */
	f = fopen(ini, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "# a comment\n[server]\nworkers = 2\n"
	    "access_log = %s/access.log\n" UP RT, ini);
	fclose(f);
	ck_assert_ptr_null(config_check(ini, &errors));
	snprintf(want, sizeof want, "%s:4: [server] access_log = \"%s/access."
	    "log\": cannot open it for writing: Not a directory\n", ini, ini);
	ck_assert_str_eq(errors, want);
	free(errors);
	f = fopen(ini, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[server]\naccess_log = %s\n" UP RT, dir);
	fclose(f);
	ck_assert_ptr_null(config_check(ini, &errors));
	snprintf(want, sizeof want, "%s:2: [server] access_log = \"%s\": "
	    "cannot open it for writing: Is a directory\n", ini, dir);
	ck_assert_str_eq(errors, want);
	free(errors);
	/* stderr and off name no file. */
	f = fopen(ini, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[server]\naccess_log = off\n" UP RT);
	fclose(f);
	cfg = config_check(ini, &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);
	config_unref(cfg);

	ck_assert_int_eq(unlink(ini), 0);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_route_match)
{
	struct config *cfg;
	const struct config_route *r;
	static const struct {
		const char	*path;
		const char	*host;
		const char	*prefix;	/* NULL: no route */
		const char	*rhost;
	} cases[] = {
		{ "/api/v1/x", NULL, "/api/v1", NULL },
		{ "/api/v1", NULL, "/api/v1", NULL },
		{ "/api/v2", NULL, "/api", NULL },
		{ "/apix", NULL, "/api", NULL },	/* plain byte prefix */
		{ "/ap", NULL, NULL, NULL },
		{ "/", NULL, NULL, NULL },
		{ "/api/x", "api.example.com", "/api", "api.example.com" },
		{ "/api/x", "API.Example.COM:8080", "/api", "api.example.com" },
		{ "/api/x", "other.example", "/api", NULL },
		{ "/api/v1/x", "api.example.com", "/api/v1", NULL },
		{ "/static/a", "[::1]:80", "/static", "[::1]" },
		{ "/static/a", "[::1]", "/static", "[::1]" },
		{ "/static/a", "[::2]:80", NULL, NULL },
		{ "/static/a", NULL, NULL, NULL },
	};

	cfg = load_ok(UP "[route /api]\nupstream = u\n"
	    "[route /api/v1]\nupstream = u\n"
	    "[route /api]\nupstream = u\nhost = api.example.com\n"
	    "[route /static]\nupstream = u\nhost = [::1]\n");
	for (size_t i = 0; i < nitems(cases); i++) {
		const char *h = cases[i].host;

		r = config_route_match(cfg, cases[i].path,
		    strlen(cases[i].path), h, h ? strlen(h) : 0);
		if (cases[i].prefix == NULL) {
			ck_assert_msg(r == NULL, "%s: matched %s", cases[i].path,
			    r ? r->prefix : "");
			continue;
		}
		ck_assert_msg(r != NULL, "%s %s: no match", cases[i].path, h);
		ck_assert_str_eq(r->prefix, cases[i].prefix);
		if (cases[i].rhost == NULL)
			ck_assert_ptr_null(r->host);
		else
			ck_assert_str_eq(r->host, cases[i].rhost);
	}
	/* The path length is honoured: no NUL needed. */
	r = config_route_match(cfg, "/api/v1", 4, NULL, 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->prefix, "/api");
	config_unref(cfg);

	cfg = load_ok("");
	ck_assert_ptr_null(config_route_match(cfg, "/", 1, NULL, 0));
	config_unref(cfg);
}
END_TEST

START_TEST(test_dump)
{
	static const char *texts[] = {
		"",
		"[server]\nlisten = 127.0.0.1:0\nlisten = [::1]:8080\n"
		"workers = auto\nmax_connections = 5\naccess_log = off\n"
		"log_format = json\nlog_level = debug\n"
		"metrics_listen = [::1]:9090\n"
		"[limits]\nmax_uri = 1000\nmax_header = 64K\nmax_body = off\n"
		"[timeouts]\nclient_header = 1.5s\nclient_idle = 0\n"
		"keepalive = 120s\ntry = 90m\nconnect = 7200s\n"
		"deadline_header =\npropagate_deadline = false\nretries = 3\n"
		"drain = 1m30s\ndeadline_margin = off\n"
		"[route /a]\nupstream = b\nhost = x.example\nconnect = 1ms\n"
		"keepalive = 1h0.5s\ndeadline_margin = 1s500ms\n"
		"[upstream b]\nserver = h:1 weight=9\nserver = [::1]:2\n"
		"balance = least_conn\nkeepalive = 0\nkeepalive_idle = off\n"
		"max_fails = 0\nfail_timeout = 1h\nresolve_interval = 0\n"
		"[route /]\nupstream = b\n[route /a]\nupstream = b\n",
	};

	for (size_t i = 0; i < nitems(texts); i++) {
		struct config *a, *b;
		char *da, *db;

		a = load_ok(texts[i]);
		da = dump(a);
		b = load_ok(da);
		db = dump(b);
		ck_assert_str_eq(da, db);
		free(da);
		free(db);
		config_unref(a);
		config_unref(b);
	}
}
END_TEST

/* upgrade: websocket by default, a list kept in lower case, off; h2c is
 * refused.  tunnel_idle and tunnel_max are [timeouts] keys a route may
 * set. */
START_TEST(test_upgrade_key)
{
	struct config *cfg;

	cfg = load_ok(UP "[timeouts]\ntunnel_idle = 5m\n"
	    "[route /a]\nupstream = u\n"
	    "[route /b]\nupstream = u\nupgrade = WebSocket foo/2,bar\n"
	    "tunnel_max = 1h\n"
	    "[route /c]\nupstream = u\nupgrade = off\n");
	ck_assert_uint_eq(cfg->nroutes, 3);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct config_route *r = &cfg->routes[i];

		ck_assert_uint_eq(r->timeouts.ms[SCOPE_TUNNEL_IDLE], 300000);
		if (strcmp(r->prefix, "/a") == 0) {
			ck_assert_str_eq(r->upgrade, "websocket");
			ck_assert_uint_eq(r->timeouts.ms[SCOPE_TUNNEL_MAX], 0);
		} else if (strcmp(r->prefix, "/b") == 0) {
			ck_assert_str_eq(r->upgrade, "websocket, foo/2, bar");
			ck_assert_uint_eq(r->timeouts.ms[SCOPE_TUNNEL_MAX],
			    3600000);
		} else
			ck_assert_str_eq(r->upgrade, "");
	}
	config_unref(cfg);
	expect_errors(UP "[route /]\nupstream = u\nupgrade = websocket, h2c\n",
	    "t.ini:5: [route /] upgrade = \"websocket, h2c\": h2c is always "
	    "stripped: hourglass does not speak HTTP/2 (e.g. websocket, off)\n");
	expect_errors(UP "[route /]\nupstream = u\nupgrade = web socket;x\n",
	    "t.ini:5: [route /] upgrade = \"web socket;x\": not a list of "
	    "protocols (e.g. websocket, off)\n");
	expect_errors(UP "[route /]\nupstream = u\nupgrade = ,\n",
	    "t.ini:5: [route /] upgrade = \",\": empty (write off to relay no "
	    "upgrade) (e.g. websocket, off)\n");
}
END_TEST

START_TEST(test_dump_text)
{
	struct config *cfg;
	char *d;

	cfg = load_ok("[limits]\nmax_uri = 1000\n"
	    "[timeouts]\nclient_header = 1500ms\nkeepalive = 120s\n"
	    "connect = 7200s\n"
	    UP "[route /x]\nupstream = u\nretries = 2\ndeadline_margin = 0\n");
	d = dump(cfg);
	ck_assert_ptr_nonnull(strstr(d, "\n[server]\nlisten = *:8080\n"
	    "workers = 1\nmax_connections = 10000\naccess_log = stderr\n"
	    "log_format = logfmt\nlog_level = info\nmetrics_listen = off\n"));
	ck_assert_ptr_nonnull(strstr(d, "\n[limits]\nmax_uri = 1000\n"
	    "max_header = 32k\nmax_body = 1g\n"));
	ck_assert_ptr_nonnull(strstr(d, "\n[timeouts]\nclient_header = 1500ms\n"
	    "client_idle = 30s\nkeepalive = 2m\nrequest = 1m\ntry = off\n"
	    "connect = 2h\nupstream_header = 30s\nupstream_idle = 30s\n"
	    "tunnel_idle = 15m\ntunnel_max = off\n"
	    "drain = 30s\nretries = 1\ndeadline_header = X-Request-Timeout\n"
	    "propagate_deadline = yes\ndeadline_margin = 5ms\n"
	    "grpc_timeout = yes\ntry_min = off\nhedge = off\nhedge_max = 1\n\n"));
	ck_assert_ptr_nonnull(strstr(d, "\n[upstream u]\n"
	    "server = 10.0.0.1:80 weight=1\nbalance = round_robin\n"
	    "keepalive = 32\nkeepalive_idle = 1m\nmax_fails = 1\n"
	    "fail_timeout = 10s\nresolve_interval = 30s\nretry_budget = 20\n"
	    "retry_budget_min = 10\n"));
	/* A route leaves out client_header and drain, which it may not set. */
	ck_assert_ptr_nonnull(strstr(d, "\n[route /x]\nupstream = u\n"
	    "upgrade = websocket\nclient_idle = 30s\nkeepalive = 2m\n"
	    "request = 1m\ntry = off\nconnect = 2h\nupstream_header = 30s\n"
	    "upstream_idle = 30s\ntunnel_idle = 15m\ntunnel_max = off\n"
	    "retries = 2\n"
	    "deadline_header = X-Request-Timeout\npropagate_deadline = yes\n"
	    "deadline_margin = off\ngrpc_timeout = yes\ntry_min = off\n"
	    "hedge = off\nhedge_max = 1\n"));
	free(d);
	config_unref(cfg);
}
END_TEST

START_TEST(test_refcount)
{
	struct config *cfg = load_ok(UP "[route /]\nupstream = u\n");

	ck_assert_int_eq(cfg->refs, 1);
	ck_assert_ptr_eq(config_ref(cfg), cfg);
	ck_assert_ptr_eq(config_ref(cfg), cfg);
	ck_assert_int_eq(cfg->refs, 3);
	config_unref(cfg);
	config_unref(cfg);
	ck_assert_int_eq(cfg->refs, 1);
	ck_assert_str_eq(cfg->routes[0].upstream->name, "u");
	config_unref(cfg);	/* freed here: LeakSanitizer checks the rest */
	ck_assert_ptr_null(config_ref(NULL));
	config_unref(NULL);
}
END_TEST

/*
 * The TLS keys with real files.  The fixture makes throwaway certificates
 * in a temporary directory with the openssl command, once for the case:
 * a.pem/a.key and b.pem/b.key (self-signed, P-256), both.pem (a.pem and
 * a.key in one file), enc.key (a.key under a passphrase), garbage.pem, and
 * a directory dir/.  No key is ever committed.
 */
static char tdir[64];

static void
tls_setup(void)
{
	char cmd[1024];

	snprintf(tdir, sizeof tdir, "/tmp/hg-test-tls.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		abort();
	snprintf(cmd, sizeof cmd, "(cd %s && for n in a b; do "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout $n.key -out $n.pem -days 2 -subj /CN=$n.example "
	    "-addext subjectAltName=DNS:$n.example || exit 1; done && "
	    "cat a.pem a.key > both.pem && "
	    "openssl pkey -in a.key -aes128 -passout pass:x -out enc.key && "
	    "echo not a certificate > garbage.pem && mkdir dir) "
	    "> /dev/null 2>&1", tdir);
	if (system(cmd) != 0) {
		fprintf(stderr, "cannot make the test certificates in %s\n",
		    tdir);
		abort();
	}
}

static void
tls_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf %s", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tdir);
}

/* printf into a malloc'd string; every "@" in fmt stands for tdir. */
static char * __attribute__((format(printf, 1, 2)))
tf(const char *fmt, ...)
{
	char *f, *out, *at;
	size_t n = strlen(fmt) + 1;
	va_list ap;
	int r;

	for (const char *c = fmt; *c != '\0'; c++)
		n += *c == '@' ? strlen(tdir) : 0;
	ck_assert_ptr_nonnull(f = malloc(n));
	for (at = f; *fmt != '\0'; fmt++) {
		if (*fmt == '@')
			at = stpcpy(at, tdir);
		else
			*at++ = *fmt;
	}
	*at = '\0';
	va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	r = vasprintf(&out, f, ap);
#pragma GCC diagnostic pop
	va_end(ap);
	ck_assert_int_ge(r, 0);
	free(f);
	return out;
}

/* expect_errors() and load_ok() on text from tf(), which they free. */
static void
expect_errors_f(char *text, char *want)
{
	expect_errors(text, want);
	free(text);
	free(want);
}

static struct config *
load_ok_f(char *text)
{
	struct config *cfg = load_ok(text);

	free(text);
	return cfg;
}

/* Write text (freed) to the file name in tdir; return its path (static). */
static const char *
write_file(const char *name, char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", tdir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	free(text);
	return path;
}

#define TLS_LISTEN	"[server]\nlisten = 127.0.0.1:0 tls\n"

START_TEST(test_tls_defaults)
{
	struct config *cfg = load_ok(UP RT);
	const struct config_upstream *up = &cfg->upstreams[0];

	ck_assert(!cfg->listen[0].tls);
	ck_assert_uint_eq(cfg->ntls_certs, 0);
	ck_assert_ptr_null(cfg->tls_certs);
	ck_assert_str_eq(cfg->tls_protocols, TLS_DEFAULT_PROTOCOLS);
	ck_assert_str_eq(cfg->tls_protocols, "TLSv1.2 TLSv1.3");
	ck_assert_str_eq(cfg->tls_ciphers, TLS_DEFAULT_CIPHERS);
	ck_assert_ptr_null(cfg->tls_server);
	ck_assert(!up->tls);
	ck_assert(up->tls_verify);
	ck_assert_ptr_null(up->tls_ca);
	ck_assert_ptr_null(up->tls_sni);
	ck_assert_ptr_null(up->tls_cert.tc_cert);
	ck_assert_ptr_null(up->tls_cert.tc_key);
	ck_assert_ptr_null(up->tls_client);
	config_unref(cfg);
}
END_TEST

START_TEST(test_tls_server)
{
	struct config *cfg;
	char *want;

	cfg = load_ok_f(tf("[server]\nlisten = 127.0.0.1:0\n"
	    "listen = [::1]:0 tls\nlisten = *:0\t  tls\n"
	    "tls_certificate = @/a.pem @/a.key\n"
	    "tls_certificate = @/both.pem\ntls_certificate =   @/b.pem\t@/b.key\n"
	    "tls_protocols = TLSv1.3\ntls_ciphers = ECDHE+AESGCM:!aNULL:-RSA\n"
	    UP RT));
	ck_assert_msg(cfg->warnings == NULL, "%s", cfg->warnings);
	ck_assert_uint_eq(cfg->nlisten, 3);
	ck_assert(!cfg->listen[0].tls);
	ck_assert_str_eq(cfg->listen[0].text, "127.0.0.1:0");
	ck_assert(cfg->listen[1].tls);
	ck_assert_str_eq(cfg->listen[1].host, "::1");
	ck_assert_int_eq(cfg->listen[1].port, 0);
	ck_assert_str_eq(cfg->listen[1].text, "[::1]:0 tls");
	ck_assert(cfg->listen[2].tls);
	ck_assert_str_eq(cfg->listen[2].host, "*");
	ck_assert_str_eq(cfg->listen[2].text, "*:0 tls");
	ck_assert_uint_eq(cfg->ntls_certs, 3);
	want = tf("@/a.pem");
	ck_assert_str_eq(cfg->tls_certs[0].tc_cert, want);
	free(want);
	want = tf("@/a.key");
	ck_assert_str_eq(cfg->tls_certs[0].tc_key, want);
	free(want);
	want = tf("@/both.pem");
	ck_assert_str_eq(cfg->tls_certs[1].tc_cert, want);
	ck_assert_ptr_null(cfg->tls_certs[1].tc_key);
	free(want);
	want = tf("@/b.key");
	ck_assert_str_eq(cfg->tls_certs[2].tc_key, want);
	free(want);
	ck_assert_str_eq(cfg->tls_protocols, "TLSv1.3");
	ck_assert_str_eq(cfg->tls_ciphers, "ECDHE+AESGCM:!aNULL:-RSA");
	/* The context is built, ready for connections. */
	ck_assert_ptr_nonnull(cfg->tls_server);
	SSL_free(tls_server_ssl(cfg->tls_server));
	config_unref(cfg);

	/* Protocols both ways, and any cipher list OpenSSL takes. */
	cfg = load_ok_f(tf(TLS_LISTEN "tls_certificate = @/a.pem @/a.key\n"
	    "tls_protocols = TLSv1.3 TLSv1.2\ntls_ciphers = HIGH:!aNULL:!MD5\n"
	    UP RT));
	ck_assert_ptr_nonnull(cfg->tls_server);
	config_unref(cfg);
}
END_TEST

START_TEST(test_tls_upstream)
{
	const struct config_upstream *up;
	struct config *cfg;
	char *want;

	cfg = load_ok_f(tf(UP "tls = yes\ntls_ca = @/b.pem\n"
	    "tls_sni = api.example.com\ntls_certificate = @/a.pem @/a.key\n"
	    RT));
	ck_assert_msg(cfg->warnings == NULL, "%s", cfg->warnings);
	up = &cfg->upstreams[0];
	ck_assert(up->tls);
	ck_assert(up->tls_verify);
	want = tf("@/b.pem");
	ck_assert_str_eq(up->tls_ca, want);
	free(want);
	ck_assert_str_eq(up->tls_sni, "api.example.com");
	want = tf("@/a.pem");
	ck_assert_str_eq(up->tls_cert.tc_cert, want);
	free(want);
	ck_assert_ptr_nonnull(up->tls_client);
	SSL_free(tls_client_ssl(up->tls_client, up->tls_sni, up->tls_sni,
	    NULL));
	config_unref(cfg);

	/* The system's store; no verification; the key in the cert file. */
	cfg = load_ok_f(tf(UP "tls = on\n"
	    "[upstream v]\nserver = h:443\ntls = yes\ntls_verify = no\n"
	    "tls_certificate = @/both.pem\n" RT));
	ck_assert_msg(cfg->warnings == NULL, "%s", cfg->warnings);
	ck_assert_ptr_nonnull(cfg->upstreams[0].tls_client);
	ck_assert_ptr_null(cfg->upstreams[0].tls_ca);
	ck_assert(!cfg->upstreams[1].tls_verify);
	ck_assert_ptr_null(cfg->upstreams[1].tls_cert.tc_key);
	ck_assert_ptr_nonnull(cfg->upstreams[1].tls_client);
	config_unref(cfg);
}
END_TEST

/* What loads but is not right together: a tls listener without a
 * certificate is an error; keys that have no effect are warnings. */
START_TEST(test_tls_consistency)
{
	expect_errors("[server]\nlisten = 127.0.0.1:0\n"
	    "listen = 127.0.0.1:1 tls\nlisten = [::1]:2 tls\n" UP RT,
	    "t.ini:3: [server] listen = \"127.0.0.1:1 tls\": a tls listener "
	    "needs a certificate (e.g. tls_certificate = "
	    "/etc/hourglass/example.com.pem /etc/hourglass/example.com.key)\n");
	/* A warning, and the file is not read: it does not exist. */
	expect_warnings("[server]\nlisten = 127.0.0.1:0\n"
	    "tls_certificate = /nonexistent/a.pem\n"
	    "tls_certificate = /nonexistent/b.pem\n" UP RT,
	    "t.ini:3: warning: [server] tls_certificate has no effect: no "
	    "listen line ends in tls (e.g. listen = *:8443 tls)\n");
	/* Protocols and ciphers may be set for later: no warning. */
	expect_warnings("[server]\ntls_protocols = TLSv1.3\n"
	    "tls_ciphers = HIGH\n" UP RT, NULL);
	/* An upstream's TLS keys without tls = yes, each on its line. */
	expect_warnings(UP "tls_verify = no\ntls_ca = /nonexistent/ca.pem\n"
	    "tls_sni = x.example\ntls_certificate = /nonexistent/c.pem\n" RT,
	    "t.ini:3: warning: [upstream u] tls_verify has no effect without "
	    "tls = yes\n"
	    "t.ini:4: warning: [upstream u] tls_ca has no effect without "
	    "tls = yes\n"
	    "t.ini:5: warning: [upstream u] tls_sni has no effect without "
	    "tls = yes\n"
	    "t.ini:6: warning: [upstream u] tls_certificate has no effect "
	    "without tls = yes\n");
	expect_warnings(UP "tls_sni = x.example\ntls = no\n" RT,
	    "t.ini:3: warning: [upstream u] tls_sni has no effect without "
	    "tls = yes\n");
	expect_warnings(UP "tls = yes\n" RT, NULL);
	{
		struct config *cfg = load_ok_f(tf(UP "tls = yes\n"
		    "tls_verify = no\ntls_ca = @/a.pem\n" RT));

		ck_assert_str_eq(cfg->warnings, "t.ini:5: warning: [upstream "
		    "u] tls_ca has no effect with tls_verify = no\n");
		config_unref(cfg);
	}
}
END_TEST

/* A certificate or key that is missing, does not parse or does not match:
 * an error naming the file and the line of its key, as -t prints it. */
START_TEST(test_tls_files)
{
#define CERT_ERR(val, why) \
	expect_errors_f(tf(TLS_LISTEN "tls_certificate = " val "\n" UP RT), \
	    tf("t.ini:3: [server] tls_certificate = \"" val "\": " why "\n"))
	CERT_ERR("@/missing.pem", "cannot load the certificate @/missing.pem: "
	    "No such file or directory");
	CERT_ERR("@/garbage.pem", "cannot load the certificate @/garbage.pem: "
	    "no PEM certificate in it (no -----BEGIN line)");
	CERT_ERR("@/a.key", "cannot load the certificate @/a.key: no PEM "
	    "certificate in it (no -----BEGIN line)");
	CERT_ERR("@/dir", "cannot load the certificate @/dir: Is a directory");
	/* A device is never read (/dev/zero would be read for ever). */
	CERT_ERR("/dev/zero", "cannot load the certificate /dev/zero: not a "
	    "regular file");
	CERT_ERR("@/a.pem /dev/null", "cannot load the private key /dev/null: "
	    "not a regular file");
	CERT_ERR("@/a.pem", "cannot load the private key @/a.pem: no PEM "
	    "private key in it");
	CERT_ERR("@/a.pem @/missing.key", "cannot load the private key "
	    "@/missing.key: No such file or directory");
	CERT_ERR("@/a.pem @/garbage.pem", "cannot load the private key "
	    "@/garbage.pem: no PEM private key in it");
	CERT_ERR("@/a.pem @/b.key", "the private key @/b.key does not match "
	    "the certificate @/a.pem");
	CERT_ERR("@/a.pem @/enc.key", "cannot load the private key "
	    "@/enc.key: it is encrypted (hourglass takes keys without a "
	    "passphrase)");
#undef CERT_ERR

	/* Every bad one is named, on its own line; the good ones are not. */
	expect_errors_f(tf(TLS_LISTEN "tls_certificate = @/a.pem @/a.key\n"
	    "tls_certificate = @/missing.pem\n"
	    "tls_certificate = @/both.pem\n"
	    "tls_certificate = @/b.pem @/a.key\n" UP RT),
	    tf("t.ini:4: [server] tls_certificate = \"@/missing.pem\": cannot "
	    "load the certificate @/missing.pem: No such file or directory\n"
	    "t.ini:6: [server] tls_certificate = \"@/b.pem @/a.key\": the "
	    "private key @/a.key does not match the certificate @/b.pem\n"));

	/* An upstream's CA and client certificate. */
	expect_errors_f(tf(UP "tls = yes\ntls_ca = @/missing.pem\n" RT),
	    tf("t.ini:4: [upstream u] tls_ca = \"@/missing.pem\": cannot load "
	    "the CA @/missing.pem: No such file or directory\n"));
	expect_errors_f(tf(UP "tls = yes\ntls_ca = /dev/zero\n" RT),
	    tf("t.ini:4: [upstream u] tls_ca = \"/dev/zero\": cannot load "
	    "the CA /dev/zero: not a regular file\n"));
	expect_errors_f(tf(UP "tls = yes\ntls_ca = @/garbage.pem\n" RT),
	    tf("t.ini:4: [upstream u] tls_ca = \"@/garbage.pem\": cannot load "
	    "the CA @/garbage.pem: no certificate or crl found\n"));
	expect_errors_f(tf(UP "tls = yes\ntls_ca = @/a.pem\n"
	    "tls_certificate = @/b.pem @/a.key\n" RT),
	    tf("t.ini:5: [upstream u] tls_certificate = \"@/b.pem @/a.key\": "
	    "the private key @/a.key does not match the certificate @/b.pem\n"));
	expect_errors_f(tf(UP "tls = yes\ntls_certificate = @/nope.pem\n" RT),
	    tf("t.ini:4: [upstream u] tls_certificate = \"@/nope.pem\": cannot "
	    "load the certificate @/nope.pem: No such file or directory\n"));
}
END_TEST

/* Relative paths are from the directory of the configuration file. */
START_TEST(test_tls_relative)
{
	struct config *cfg;
	const char *ini;
	char *errors, *want, cwd[256];

	ini = write_file("rel.ini", tf(TLS_LISTEN
	    "tls_certificate = a.pem a.key\n"
	    "tls_certificate = ./b.pem .//b.key\n"
	    "tls_certificate = dir/../both.pem\n"
	    "tls_certificate = @/a.pem\t./a.key\n" UP "tls = yes\n"
	    "tls_ca = b.pem\ntls_certificate = both.pem\n" RT));
	cfg = config_load(ini, &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);
	want = tf("@/a.pem");
	ck_assert_str_eq(cfg->tls_certs[0].tc_cert, want);
	ck_assert_str_eq(cfg->tls_certs[3].tc_cert, want);
	free(want);
	want = tf("@/a.key");
	ck_assert_str_eq(cfg->tls_certs[0].tc_key, want);
	ck_assert_str_eq(cfg->tls_certs[3].tc_key, want);
	free(want);
	want = tf("@/b.pem");
	ck_assert_str_eq(cfg->tls_certs[1].tc_cert, want);
	ck_assert_str_eq(cfg->upstreams[0].tls_ca, want);
	free(want);
	want = tf("@/b.key");
	ck_assert_str_eq(cfg->tls_certs[1].tc_key, want);
	free(want);
	want = tf("@/dir/../both.pem");
	ck_assert_str_eq(cfg->tls_certs[2].tc_cert, want);
	free(want);
	want = tf("@/both.pem");
	ck_assert_str_eq(cfg->upstreams[0].tls_cert.tc_cert, want);
	free(want);
	ck_assert_ptr_nonnull(cfg->tls_server);
	config_unref(cfg);

	/* A file named by a relative path: from the working directory. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	ck_assert_int_eq(chdir(tdir), 0);
	cfg = config_load("rel.ini", &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);
	want = tf("@/a.pem");
	ck_assert_str_eq(cfg->tls_certs[0].tc_cert, want);
	free(want);
	config_unref(cfg);
	ck_assert_int_eq(chdir("dir"), 0);
	cfg = config_load("../rel.ini", &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);
	want = tf("@/dir/../a.pem");
	ck_assert_str_eq(cfg->tls_certs[0].tc_cert, want);
	free(want);
	config_unref(cfg);
	ck_assert_int_eq(chdir(cwd), 0);

	/* The error names the file as resolved, the value as written. */
	ini = write_file("rel.ini", tf(TLS_LISTEN
	    "tls_certificate = missing.pem\n" UP RT));
	ck_assert_ptr_null(config_load(ini, &errors));
	want = tf("@/rel.ini:3: [server] tls_certificate = \"missing.pem\": "
	    "cannot load the certificate @/missing.pem: No such file or "
	    "directory\n");
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);

	/* Text from memory: from the directory of its name. */
	cfg = load_ok("[server]\ntls_certificate = x.pem\n" UP RT);
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd - 8));
	strcat(cwd, "/x.pem");
	ck_assert_str_eq(cfg->tls_certs[0].tc_cert, cwd);
	config_unref(cfg);
}
END_TEST

/*
 * A reload is a new load: a certificate that went bad refuses the new
 * file with the error, and the config already loaded keeps its context.
 */
START_TEST(test_tls_reload)
{
	struct config *cfg, *again;
	const char *ini;
	char *errors, *want, cmd[256];

	snprintf(cmd, sizeof cmd, "cp %s/a.pem %s/r.pem", tdir, tdir);
	ck_assert_int_eq(system(cmd), 0);
	ini = write_file("reload.ini", tf("# reload\n" TLS_LISTEN
	    "tls_certificate = r.pem a.key\n" UP RT));
	cfg = config_load(ini, &errors);
	ck_assert_msg(cfg != NULL, "%s", errors);

	/* The certificate is replaced by one that does not match the key. */
	snprintf(cmd, sizeof cmd, "cp %s/b.pem %s/r.pem", tdir, tdir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_ptr_null(config_load(ini, &errors));
	want = tf("@/reload.ini:4: [server] tls_certificate = \"r.pem a.key\": "
	    "the private key @/a.key does not match the certificate @/r.pem\n");
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	/* Then by nothing. */
	snprintf(cmd, sizeof cmd, "rm %s/r.pem", tdir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_ptr_null(config_check(ini, &errors));
	want = tf("@/reload.ini:4: [server] tls_certificate = \"r.pem a.key\": "
	    "cannot load the certificate @/r.pem: No such file or directory\n");
	ck_assert_str_eq(errors, want);
	free(want);
	free(errors);
	/* The old config still serves: its context holds what it loaded. */
	SSL_free(tls_server_ssl(cfg->tls_server));
	/* And a good one is taken again. */
	snprintf(cmd, sizeof cmd, "cp %s/a.pem %s/r.pem", tdir, tdir);
	ck_assert_int_eq(system(cmd), 0);
	again = config_load(ini, &errors);
	ck_assert_msg(again != NULL, "%s", errors);
	config_unref(again);
	config_unref(cfg);
}
END_TEST

/* A dump writes the TLS keys back (paths resolved), and loads again. */
START_TEST(test_tls_dump)
{
	struct config *a, *b;
	char *da, *db, *want;

	a = load_ok_f(tf("[server]\nlisten = 127.0.0.1:0\n"
	    "listen = [::1]:0  tls\ntls_certificate = @/a.pem @/a.key\n"
	    "tls_certificate = @/both.pem\ntls_protocols = TLSv1.3\n"
	    "tls_ciphers = ECDHE+AESGCM\n" UP "tls = yes\ntls_verify = no\n"
	    "tls_sni = x.example\ntls_certificate = @/b.pem @/b.key\n"
	    "[upstream w]\nserver = 10.0.0.2:80\n"
	    "[upstream v]\nserver = 10.0.0.3:443\ntls = yes\ntls_ca = @/a.pem\n"
	    RT));
	da = dump(a);
	want = tf("\n[server]\nlisten = 127.0.0.1:0\nlisten = [::1]:0 tls\n"
	    "workers = 1\n");
	ck_assert_ptr_nonnull(strstr(da, want));
	free(want);
	want = tf("metrics_listen = off\nproxy_status = errors\n"
	    "tls_certificate = @/a.pem @/a.key\n"
	    "tls_certificate = @/both.pem\ntls_protocols = TLSv1.3\n"
	    "tls_ciphers = ECDHE+AESGCM\n\n[limits]\n");
	ck_assert_ptr_nonnull(strstr(da, want));
	free(want);
	want = tf("resolve_interval = 30s\nretry_budget = 20\n"
	    "retry_budget_min = 10\ntls = yes\ntls_verify = no\n"
	    "tls_sni = x.example\ntls_certificate = @/b.pem @/b.key\n\n"
	    "[upstream w]\n");
	ck_assert_ptr_nonnull(strstr(da, want));
	free(want);
	/* Without tls, only "tls = no": the other keys would only warn. */
	ck_assert_ptr_nonnull(strstr(da, "resolve_interval = 30s\nretry_budget = 20\n"
	    "retry_budget_min = 10\ntls = no\n\n"
	    "[upstream v]\n"));
	want = tf("tls = yes\ntls_verify = yes\ntls_ca = @/a.pem\n\n");
	ck_assert_ptr_nonnull(strstr(da, want));
	free(want);
	b = load_ok(da);
	ck_assert_msg(b->warnings == NULL, "%s", b->warnings);
	ck_assert_ptr_nonnull(b->tls_server);
	ck_assert_ptr_nonnull(b->upstreams[0].tls_client);
	db = dump(b);
	ck_assert_str_eq(da, db);
	free(da);
	free(db);
	config_unref(a);
	config_unref(b);

	/* The defaults are written out, and load again. */
	a = load_ok("");
	da = dump(a);
	ck_assert_ptr_nonnull(strstr(da, "\ntls_protocols = TLSv1.2 TLSv1.3\n"
	    "tls_ciphers = " TLS_DEFAULT_CIPHERS "\n"));
	b = load_ok(da);
	db = dump(b);
	ck_assert_str_eq(da, db);
	free(da);
	free(db);
	config_unref(a);
	config_unref(b);
}
END_TEST

/* A valid cipher list of at least len bytes: names repeated. */
static char *
long_ciphers(size_t len)
{
	static const char names[] = "ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305";
	char *s = malloc(len + sizeof names + 1);
	size_t n = 0;

	ck_assert_ptr_nonnull(s);
	while (n < len) {
		if (n > 0)
			s[n++] = ':';
		memcpy(s + n, names, sizeof names);
		n += sizeof names - 1;
	}
	return s;
}

/*
 * Lines of any length, though inih's buffer is 200 bytes: a key line is
 * whole, on its own line number; a long comment is a comment; a long
 * section header is a header.
 */
START_TEST(test_long_lines)
{
	static const size_t lens[] = { 1000, 5000 };
	struct config *cfg;
	char *v, *text, comment[3000], path[400];

	memset(comment, 'c', sizeof comment - 1);
	comment[0] = ';';
	comment[sizeof comment - 1] = '\0';
	for (size_t i = 0; i < nitems(lens); i++) {
		v = long_ciphers(lens[i]);
		ck_assert_uint_ge(strlen(v), lens[i]);
		/* The value and the line after it. */
		ck_assert_int_ge(asprintf(&text, "[server]\n%s\n"
		    "tls_ciphers = %s\nworkers = 0\n", comment, v), 0);
		expect_errors(text, "t.ini:4: [server] workers = \"0\": out of "
		    "range (1..64) (e.g. 4, auto)\n");
		free(text);
		ck_assert_int_ge(asprintf(&text, "[server]\n  tls_ciphers:%s"
		    " \t ; a comment\r\n%s\nworkers = 2\n" UP RT, v, comment),
		    0);
		cfg = load_ok(text);
		ck_assert_str_eq(cfg->tls_ciphers, v);
		ck_assert_uint_eq(cfg->workers, 2);
		free(text);
		config_unref(cfg);
		/* A bad name at the end of it is found, on its line. */
		ck_assert_int_ge(asprintf(&text, "\n\n[server]\n"
		    "tls_ciphers = %s:BOGUS\n", v), 0);
		expect_prefix_suffix(text, "t.ini:4: [server] tls_ciphers = "
		    "\"ECDHE-ECDSA-AES128-GCM-SHA256:", "...\": BOGUS is not a "
		    "cipher or alias OpenSSL offers (e.g. " CIPHER_EG ")\n");
		free(text);
		free(v);
	}

	/* At inih's limit and past it: 199, 200 and 201 bytes. */
	for (size_t len = 199; len <= 201; len++) {
		size_t n = len - strlen("access_log = ");

		memset(path, 'p', n);
		path[0] = '/';
		path[n] = '\0';
		ck_assert_int_ge(asprintf(&text, "[server]\naccess_log = %s\n"
		    UP RT, path), 0);
		cfg = load_ok(text);
		ck_assert_str_eq(cfg->access_log, path);
		free(text);
		config_unref(cfg);
	}

	/* A long key is a key, unknown. */
	memset(path, 'k', 300);
	path[300] = '\0';
	ck_assert_int_ge(asprintf(&text, "[limits]\n%s = 1\nmax_uri = 0\n",
	    path), 0);
	expect_prefix_suffix(text, "t.ini:2: [limits] kkkkkkkkkk",
	    "... = \"1\": unknown key (keys: max_uri, max_header, max_body)\n"
	    "t.ini:3: [limits] max_uri = \"0\": cannot be 0 (e.g. 8k)\n");
	free(text);
	/* A long line that is no key. */
	ck_assert_int_ge(asprintf(&text, "[limits]\n%s\nmax_uri = 0\n",
	    path), 0);
	expect_prefix_suffix(text, "t.ini:2: \"kkkkkkkkkk", "kk\": not KEY = "
	    "VALUE or [SECTION]\nt.ini:3: [limits] max_uri = \"0\": cannot "
	    "be 0 (e.g. 8k)\n");
	free(text);
	/* A long section header. */
	path[0] = '/';
	ck_assert_int_ge(asprintf(&text, UP "[route %s]\nupstream = u\n"
	    "[route /]\nupstream = u\nretries = 11\n", path), 0);
	expect_errors(text, "t.ini:7: [route /] retries = \"11\": out of "
	    "range (0..10) (e.g. 1)\n");
	free(text);
	ck_assert_int_ge(asprintf(&text, UP "[route %s]\nupstream = u\n",
	    path), 0);
	cfg = load_ok(text);
	ck_assert_str_eq(cfg->routes[0].prefix, path);
	free(text);
	config_unref(cfg);
	ck_assert_int_ge(asprintf(&text, UP "[route %s\nupstream = u\n",
	    path), 0);
	expect_prefix_suffix(text, "t.ini:3: \"[route /kkkkkkkk",
	    "kk\": missing ] (e.g. [server])\n");
	free(text);

	/* What stands in for a long line in inih is a value of its own on a
	 * short one. */
	expect_errors("[timeouts]\nconnect = \x01\n\x01 = \x01\n",
	    "t.ini:2: [timeouts] connect = \"\\x01\": not a duration "
	    "(e.g. 250ms, 1.5s, 1m30s)\n"
	    "t.ini:3: [timeouts] \\x01 = \"\\x01\": unknown key (keys: "
	    "client_header, client_idle, keepalive, request, try, connect, "
	    "upstream_header, upstream_idle, tunnel_idle, tunnel_max, drain, "
	    "retries, deadline_header, "
	    "propagate_deadline, deadline_margin, grpc_timeout, try_min, hedge, "
	    "hedge_max)\n");
}
END_TEST

/* The test suite. */
static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_loop_test(tc, test_good_values, 0, nitems(good));
	tcase_add_test(tc, test_good_strings);
	tcase_add_loop_test(tc, test_bad_values, 0, nitems(bad));
	tcase_add_loop_test(tc, test_parse_duration, 0, nitems(durations));
	tcase_add_loop_test(tc, test_parse_size, 0, nitems(sizes));
	tcase_add_loop_test(tc, test_parse_addr, 0, nitems(addrs));
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_upstream_defaults);
	tcase_add_test(tc, test_repeated_keys);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_route_upstream);
	tcase_add_test(tc, test_route_merge);
	tcase_add_test(tc, test_line_numbers);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_shipped_file);
	tcase_add_test(tc, test_demo_file);
	tcase_add_test(tc, test_warnings);
	tcase_add_test(tc, test_check_files);
	tcase_add_test(tc, test_route_match);
	tcase_add_test(tc, test_dump);
	tcase_add_test(tc, test_dump_text);
	tcase_add_test(tc, test_upgrade_key);
	tcase_add_test(tc, test_refcount);
	tcase_add_test(tc, test_long_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("tls");
	tcase_add_unchecked_fixture(tc, tls_setup, tls_teardown);
	tcase_add_test(tc, test_tls_defaults);
	tcase_add_test(tc, test_tls_server);
	tcase_add_test(tc, test_tls_upstream);
	tcase_add_test(tc, test_tls_consistency);
	tcase_add_test(tc, test_tls_files);
	tcase_add_test(tc, test_tls_relative);
	tcase_add_test(tc, test_tls_reload);
	tcase_add_test(tc, test_tls_dump);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
