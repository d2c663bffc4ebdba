/*
 * config_parse.c: the value syntaxes of the configuration file.
 *
 * Each parser takes one value as inih hands it over (already trimmed) and
 * is strict about everything else: no signs, no inner whitespace, and no
 * fractions except in durations.  On failure it returns -1 with a short reason that the
 * caller completes with an example of a good value.  config_parse_key()
 * applies the right one to a key of the tables in config.c.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_int.h"

/* The number of leading ASCII digits of s. */
static size_t
config_parse_digits(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

/*
 * Add the n digits at s to *v; return -1 if the result would pass max.
 * The caller has checked that the digits are there.
 */
static int
config_parse_number(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t acc = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (acc > (max - d) / 10)
			return -1;
		acc = acc * 10 + d;
	}
	*v = acc;
	return 0;
}

/*
 * The value of one part of a duration: n integer digits at s, fn fraction
 * digits at frac (none when fn is 0), times mult ms.  Return -1 with a
 * reason when it passes CONFIG_DURATION_MAX or is not whole milliseconds.
 */
static int
config_duration_part(const char *s, size_t n, const char *frac, size_t fn,
    uint64_t mult, uint64_t *ms, const char **why)
{
	uint64_t v, f = 0, den = 1;

	/* Trailing zeros of a fraction change nothing. */
	while (fn > 0 && frac[fn - 1] == '0')
		fn--;
	/*
	 * Past 9 significant digits a fraction is never whole ms (the
	 * largest unit, an hour, is 3.6e6 ms); up to 9, f * mult fits.
	 */
	if (fn > 9) {
		*why = "finer than 1ms";
		return -1;
	}
	if (config_parse_number(s, n, UINT64_MAX / 3600000, &v) == -1 ||
	    v * mult > CONFIG_DURATION_MAX) {
		*why = "too large, at most 596h";
		return -1;
	}
	if (fn > 0)
		(void)config_parse_number(frac, fn, UINT64_MAX, &f);
	for (size_t i = 0; i < fn; i++)
		den *= 10;
	if (f * mult % den != 0) {
		*why = "finer than 1ms";
		return -1;
	}
	*ms = v * mult + f * mult / den;
	return 0;
}

/*
 * Parse a duration; see config.h for the syntax.  Zero in any spelling
 * means off.
 */
int
config_parse_duration(const char *s, bool allow_off, uint32_t *ms,
    const char **why)
{
	static const struct {
		const char	*unit;
		uint64_t	 ms;
	} units[] = {	/* largest first; "ms" before "m" */
		{ "h", 3600000 }, { "ms", 1 }, { "m", 60000 }, { "s", 1000 },
	};
	uint64_t total = 0, part, last = UINT64_MAX;
	const char *p = s, *frac;
	size_t n, fn, u;

	if (strcmp(s, "off") == 0) {
		if (!allow_off) {
			*why = "cannot be disabled (0 or off)";
			return -1;
		}
		*ms = 0;
		return 0;
	}
	if (*s == '\0') {
		*why = "not a duration";
		return -1;
	}
	/* Digits alone: "0" is off, anything else lacks its unit. */
	if ((n = config_parse_digits(s)) > 0 && s[n] == '\0') {
		if (strspn(s, "0") != n) {
			*why = "missing unit";
			return -1;
		}
		p += n;
	}
	while (*p != '\0') {
		n = config_parse_digits(p);
		frac = p + n;
		fn = 0;
		if (*frac == '.') {
			fn = config_parse_digits(++frac);
			if (n == 0 || fn == 0) {
				*why = "a fraction needs digits on both sides "
				    "of the point";
				return -1;
			}
		} else if (n == 0) {
			*why = "not a duration";
			return -1;
		}
		for (u = 0; u < sizeof units / sizeof units[0]; u++)
			if (strncmp(frac + fn, units[u].unit,
			    strlen(units[u].unit)) == 0)
				break;
		if (u == sizeof units / sizeof units[0]) {
			*why = frac[fn] == '\0' ? "missing unit" :
			    "not a duration";
			return -1;
		}
		if (units[u].ms >= last) {
			*why = "units go from the largest to the smallest, "
			    "each once";
			return -1;
		}
		last = units[u].ms;
		if (config_duration_part(p, n, frac, fn, units[u].ms, &part,
		    why) == -1)
			return -1;
		if ((total += part) > CONFIG_DURATION_MAX) {
			*why = "too large, at most 596h";
			return -1;
		}
		p = frac + fn + strlen(units[u].unit);
	}
	if (total == 0 && !allow_off) {
		*why = "cannot be disabled (0 or off)";
		return -1;
	}
	*ms = (uint32_t)total;
	return 0;
}

/*
 * Parse a size: digits with an optional k, m or g suffix (powers of 1024,
 * either case), or "off" (CONFIG_SIZE_OFF) when allow_off.
 */
int
config_parse_size(const char *s, bool allow_off, uint64_t *bytes,
    const char **why)
{
	uint64_t v, mult = 1;
	size_t n;

	if (strcmp(s, "off") == 0) {
		if (!allow_off) {
			*why = "cannot be off";
			return -1;
		}
		*bytes = CONFIG_SIZE_OFF;
		return 0;
	}
	if ((n = config_parse_digits(s)) == 0) {
		*why = "not a size";
		return -1;
	}
	if (s[n] != '\0') {
		switch (s[n]) {
		case 'k': case 'K':
			mult = 1024;
			break;
		case 'm': case 'M':
			mult = 1024 * 1024;
			break;
		case 'g': case 'G':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			*why = "not a size";
			return -1;
		}
		if (s[n + 1] != '\0') {
			*why = "not a size";
			return -1;
		}
	}
	/* UINT64_MAX itself is CONFIG_SIZE_OFF, so stop one below it. */
	if (config_parse_number(s, n, (UINT64_MAX - 1) / mult, &v) == -1) {
		*why = "too large";
		return -1;
	}
	*bytes = v * mult;
	return 0;
}

/* Whether c may appear in a host name or IPv4 address. */
static int
config_parse_hostchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/*
 * Parse "host:port", "[v6]:port" or "*:port".  The host is kept without
 * brackets and is not resolved here; tls is false.  Nothing is allocated
 * on failure.
 */
int
config_parse_addr(const char *s, struct config_addr *a, const char **why)
{
	const char *host, *hend, *port;
	struct in6_addr in6;
	char buf[INET6_ADDRSTRLEN + 16];
	uint64_t v;
	size_t n;

	/* "http://host:port/" would otherwise be "an IPv6 address ...". */
	if (strstr(s, "://") != NULL) {
		*why = "hourglass takes HOST:PORT, not a URL";
		return -1;
	}
	if (s[0] == '[') {
		host = s + 1;
		if ((hend = strchr(host, ']')) == NULL) {
			*why = "missing ] after the IPv6 address";
			return -1;
		}
		n = (size_t)(hend - host);
		if (n == 0 || n >= sizeof buf) {
			*why = "not an IPv6 address";
			return -1;
		}
		memcpy(buf, host, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET6, buf, &in6) != 1) {
			*why = "not an IPv6 address";
			return -1;
		}
		if (hend[1] != ':') {
			*why = "missing port";
			return -1;
		}
		port = hend + 2;
	} else {
		host = s;
		if ((hend = strchr(s, ':')) == NULL) {
			*why = "missing port";
			return -1;
		}
		if (strchr(hend + 1, ':') != NULL) {
			*why = "an IPv6 address must be in brackets";
			return -1;
		}
		if (hend == host) {
			*why = "missing host";
			return -1;
		}
		if (!(hend - host == 1 && host[0] == '*')) {
			for (const char *c = host; c < hend; c++) {
				if (!config_parse_hostchar(*c)) {
					*why = "not a host name or address";
					return -1;
				}
			}
		}
		port = hend + 1;
	}
	if (*port == '\0') {
		*why = "missing port";
		return -1;
	}
	n = config_parse_digits(port);
	if (n == 0 || port[n] != '\0' ||
	    config_parse_number(port, n, 65535, &v) == -1) {
		*why = CONFIG_PORT_WHY;
		return -1;
	}
	if ((a->host = strndup(host, (size_t)(hend - host))) == NULL ||
	    (a->text = strdup(s)) == NULL) {
		free(a->host);
		a->host = NULL;
		*why = "out of memory";
		return -1;
	}
	a->port = (uint16_t)v;
	a->tls = false;
	return 0;
}

/* Free what config_parse_addr() allocated, not the struct itself. */
void
config_addr_free(struct config_addr *a)
{
	if (a == NULL)
		return;
	free(a->host);
	free(a->text);
	a->host = NULL;
	a->text = NULL;
}

/* Whether s is a non-empty word of letters, digits, '.', '-' and '_'. */
int
config_parse_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' ||
		    *s == '_'))
			return 0;
	}
	return 1;
}

/* Whether s is an HTTP header name (RFC 9110 token). */
static int
config_is_token(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (strchr("!#$%&'*+-.^_`|~", *s) == NULL &&
		    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9')))
			return 0;
	}
	return 1;
}

/* Whether c may be in a protocol of Upgrade: a token, or "/" before its
 * version (RFC 9110, section 7.8). */
static int
config_is_proto_char(char c)
{
	return c == '/' || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL) ||
	    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int	config_setstr(char **, const char *, const char **);

/* Parse a hedge: "off", a duration, or pNN for a percentile (1 to 99). */
static int
config_parse_hedge(const char *s, struct config_hedge *h, const char **why)
{
	struct config_hedge v = { 0, 0 };

	if ((s[0] == 'p' || s[0] == 'P') && s[1] >= '1' && s[1] <= '9') {
		if (s[2] == '\0')
			v.pct = (uint8_t)(s[1] - '0');
		else if (s[2] >= '0' && s[2] <= '9' && s[3] == '\0')
			v.pct = (uint8_t)((s[1] - '0') * 10 + s[2] - '0');
		else {
			*why = "not a percentile from p1 to p99";
			return -1;
		}
	} else if (config_parse_duration(s, true, &v.ms, why) == -1)
		return -1;
	*h = v;
	return 0;
}

/*
 * Parse an upgrade value: "off", or protocols separated by commas or
 * blanks, kept in lower case as "a, b".  h2c is refused: hourglass does
 * not speak HTTP/2, so it strips h2c always.
 */
static int
config_parse_upgrade(const char *s, char **dst, const char **why)
{
	char *out, *o;
	const char *p = s, *t;
	size_t n;

	if (strcasecmp(s, "off") == 0)
		return config_setstr(dst, "", why);
	if ((o = out = malloc(strlen(s) * 2 + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	for (;;) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (t = p; config_is_proto_char(*p); p++)
			;
		n = (size_t)(p - t);
		if (n == 0 || (*p != '\0' && *p != ',' && *p != ' ' &&
		    *p != '\t')) {
			*why = "not a list of protocols";
			free(out);
			return -1;
		}
		if ((n == 3 && strncasecmp(t, "h2c", 3) == 0) ||
		    strncasecmp(t, "h2c/", 4) == 0) {
			*why = "h2c is always stripped: hourglass does not speak "
			    "HTTP/2";
			free(out);
			return -1;
		}
		if (o != out) {
			*o++ = ',';
			*o++ = ' ';
		}
		for (size_t i = 0; i < n; i++)
			*o++ = (char)tolower((unsigned char)t[i]);
	}
	*o = '\0';
	if (o == out) {
		*why = "empty (write off to relay no upgrade)";
		free(out);
		return -1;
	}
	free(*dst);
	*dst = out;
	return 0;
}

/* Whether s is a host a Host header can carry: a name or a bracketed IPv6. */
static int
config_is_host(const char *s)
{
	size_t n = strlen(s);

	if (n > 2 && s[0] == '[' && s[n - 1] == ']')
		return strspn(s + 1, "0123456789abcdefABCDEF:.") == n - 2;
	return config_parse_name(s);
}

/* Parse an unsigned decimal number within [min, max] into *v. */
static int
config_uint(const char *s, const struct config_key *k, unsigned *v,
    const char **why, char *buf, size_t size)
{
	unsigned long long n;
	char *end;

	if ((k->flags & CK_AUTO) && strcmp(s, "auto") == 0) {
		*v = 0;
		return 0;
	}
	if (*s < '0' || *s > '9') {
		*why = "not a number";
		return -1;
	}
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end != '\0') {
		*why = "not a number";
		return -1;
	}
	if (errno == ERANGE || n < k->min || n > k->max) {
		snprintf(buf, size, "out of range (%u..%u)", k->min, k->max);
		*why = buf;
		return -1;
	}
	*v = (unsigned)n;
	return 0;
}

/* Parse "HOST:PORT [weight=N]" and append it to the upstream's servers. */
static int
config_server(struct config_upstream *up, const char *s, const char **why)
{
	struct config_server_addr *sv, srv = { .weight = 1 };
	const char *opt = s + strcspn(s, " \t");
	char *text;
	int weighted = 0;

	if ((text = strndup(s, (size_t)(opt - s))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	if (config_parse_addr(text, &srv.addr, why) == -1) {
		free(text);
		return -1;
	}
	free(text);
	if (srv.addr.port == 0) {
		*why = CONFIG_PORT_WHY;
		goto fail;
	}
	if (strcmp(srv.addr.host, "*") == 0) {
		*why = "needs a host or an address, not *";
		goto fail;
	}
	while (*(opt += strspn(opt, " \t")) != '\0') {
		size_t n = strcspn(opt, " \t"), d;
		unsigned long w = 0;

		if (n < 8 || strncmp(opt, "weight=", 7) != 0 || weighted) {
			*why = "unknown or repeated option";
			goto fail;
		}
		for (d = 7; d < n && opt[d] >= '0' && opt[d] <= '9' &&
		    w <= 1000; d++)
			w = w * 10 + (unsigned long)(opt[d] - '0');
		if (d != n || w < 1 || w > 1000) {
			*why = "weight out of range (1..1000)";
			goto fail;
		}
		srv.weight = (unsigned)w;
		weighted = 1;
		opt += n;
	}
	sv = reallocarray(up->servers, up->nservers + 1, sizeof *sv);
	if (sv == NULL) {
		*why = "out of memory";
		goto fail;
	}
	up->servers = sv;
	sv[up->nservers++] = srv;
	return 0;
fail:
	config_addr_free(&srv.addr);
	return -1;
}

/*
 * Parse "ADDR:PORT [tls]" for listen.  The text of a TLS listener keeps
 * the word ("127.0.0.1:8443 tls"), so that a listener that changes its
 * mind on reload is another listener.
 */
static int
config_listen(const char *s, struct config_addr *a, const char **why)
{
	size_t n = strcspn(s, " \t");
	const char *opt = s + n + strspn(s + n, " \t");
	char *text;
	int rc;

	if (*opt != '\0' && strcmp(opt, "tls") != 0) {
		*why = "only the word tls may follow the address";
		return -1;
	}
	if ((text = strndup(s, n)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	rc = config_parse_addr(text, a, why);
	free(text);
	if (rc == -1 || *opt == '\0')
		return rc;
	a->tls = true;
	if (asprintf(&text, "%s tls", a->text) == -1) {
		config_addr_free(a);
		*why = "out of memory";
		return -1;
	}
	free(a->text);
	a->text = text;
	return 0;
}

/* Whether s is a DNS name as SNI carries it: labels of letters, digits,
 * '-' and '_', no trailing dot, not all digits (an IPv4 address), at most
 * 253 bytes. */
static int
config_is_dns_name(const char *s)
{
	size_t n = strlen(s);

	if (n > 253 || !config_parse_name(s) || strstr(s, "..") != NULL ||
	    s[0] == '.' || s[n - 1] == '.')
		return 0;
	return strspn(s, "0123456789.") != n;
}

/* Parse "CERT [KEY]": one or two paths, resolved against dir. */
static int
config_cert(const char *s, const char *dir, struct tls_cert_conf *c,
    const char **why)
{
	size_t n1 = strcspn(s, " \t"), n2;
	const char *k = s + n1 + strspn(s + n1, " \t");

	n2 = strcspn(k, " \t");
	if (n1 == 0) {
		*why = "empty";
		return -1;
	}
	if (k[n2 + strspn(k + n2, " \t")] != '\0') {
		*why = "one or two files: CERT [KEY] (a path may not "
		    "hold a blank)";
		return -1;
	}
	c->tc_cert = config_parse_path(dir, s, n1);
	c->tc_key = n2 > 0 ? config_parse_path(dir, k, n2) : NULL;
	if (c->tc_cert == NULL || (n2 > 0 && c->tc_key == NULL)) {
		config_cert_free(c);
		*why = "out of memory";
		return -1;
	}
	return 0;
}

/* Free what a tls_cert_conf holds; see config_int.h. */
void
config_cert_free(struct tls_cert_conf *c)
{
	free((char *)c->tc_cert);
	free((char *)c->tc_key);
	c->tc_cert = NULL;
	c->tc_key = NULL;
}

/* Append a tls_certificate to the server's list. */
static int
config_certs(struct config *cfg, const char *s, const char *dir,
    const char **why)
{
	struct tls_cert_conf c, *list;

	if (config_cert(s, dir, &c, why) == -1)
		return -1;
	list = reallocarray(cfg->tls_certs, cfg->ntls_certs + 1, sizeof c);
	if (list == NULL) {
		config_cert_free(&c);
		*why = "out of memory";
		return -1;
	}
	cfg->tls_certs = list;
	list[cfg->ntls_certs++] = c;
	return 0;
}

/* The directory of a configuration file, absolute; see config_int.h. */
char *
config_parse_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *cwd, *dir;
	int r;

	if (slash == path)
		return strdup("/");
	if (slash != NULL && path[0] == '/')
		return strndup(path, (size_t)(slash - path));
	/* Relative: from the working directory, if it can be known. */
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return slash != NULL ? strndup(path, (size_t)(slash - path)) :
		    strdup(".");
	if (slash != NULL)
		r = asprintf(&dir, "%s/%.*s", strcmp(cwd, "/") == 0 ? "" : cwd,
		    (int)(slash - path), path);
	else
		r = (dir = strdup(cwd)) == NULL ? -1 : 0;
	free(cwd);
	return r == -1 ? NULL : dir;
}

/*
 * The path of len bytes at s, taken from dir when relative; "./" at its
 * start is dropped.  Malloc'd; NULL if out of memory.
 */
char *
config_parse_path(const char *dir, const char *s, size_t len)
{
	char *path;

	if (s[0] == '/' || dir == NULL)
		return strndup(s, len);
	while (len > 2 && s[0] == '.' && s[1] == '/') {
		s += 2;
		len -= 2;
		while (len > 1 && s[0] == '/') {
			s++;
			len--;
		}
	}
	if (asprintf(&path, "%s%s%.*s", dir,
	    dir[strlen(dir) - 1] == '/' ? "" : "/", (int)len, s) == -1)
		return NULL;
	return path;
}

/* Replace the string at *dst with a copy of s. */
static int
config_setstr(char **dst, const char *s, const char **why)
{
	char *copy;

	if ((copy = strdup(s)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* Parse value s for key k and store it; see config_int.h. */
int
config_parse_key(const struct config_key *k, char *base, const char *s,
    const char *dir, const char **why, char *buf, size_t size)
{
	struct config *cfg = (struct config *)base;
	struct config_addr a, *ap, *list;
	struct tls_cert_conf cert;
	void *dst = base + k->off;
	char *path;
	int i;

	switch (k->type) {
	case CT_LISTEN:
		if (config_listen(s, &a, why) == -1)
			return -1;
		list = reallocarray(cfg->listen, cfg->nlisten + 1, sizeof a);
		if (list == NULL) {
			config_addr_free(&a);
			*why = "out of memory";
			return -1;
		}
		cfg->listen = list;
		list[cfg->nlisten++] = a;
		return 0;
	case CT_ADDR:
		ap = NULL;
		if (strcmp(s, "off") != 0) {
			if (config_parse_addr(s, &a, why) == -1)
				return -1;
			if ((ap = malloc(sizeof *ap)) == NULL) {
				config_addr_free(&a);
				*why = "out of memory";
				return -1;
			}
			*ap = a;
		}
		*(struct config_addr **)dst = ap;
		return 0;
	case CT_UINT:
		return config_uint(s, k, dst, why, buf, size);
	case CT_ENUM:
		for (i = 0; k->enums[i].name != NULL; i++) {
			if (strcmp(s, k->enums[i].name) == 0) {
				*(int *)dst = k->enums[i].value;
				return 0;
			}
		}
		*why = "unknown value";
		return -1;
	case CT_PATH:
		if (*s == '\0') {
			*why = "empty";
			return -1;
		}
		return config_setstr(dst, s, why);
	case CT_SIZE:
		if (config_parse_size(s, k->flags & CK_OFF, dst, why) == -1)
			return -1;
		if ((k->flags & CK_NONZERO) && *(uint64_t *)dst == 0) {
			*why = "cannot be 0";
			return -1;
		}
		return 0;
	case CT_DURATION:
		return config_parse_duration(s, k->flags & CK_OFF, dst, why);
	case CT_TOKEN:
		if (*s != '\0' && !config_is_token(s)) {
			*why = "not a header name";
			return -1;
		}
		return config_setstr(dst, s, why);
	case CT_BOOL:
		if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
		    strcasecmp(s, "on") == 0 || strcmp(s, "1") == 0)
			*(bool *)dst = true;
		else if (strcasecmp(s, "no") == 0 ||
		    strcasecmp(s, "false") == 0 ||
		    strcasecmp(s, "off") == 0 || strcmp(s, "0") == 0)
			*(bool *)dst = false;
		else {
			*why = "not yes or no";
			return -1;
		}
		return 0;
	case CT_SERVER:
		return config_server((struct config_upstream *)base, s, why);
	case CT_NAME:
		if (!config_parse_name(s)) {
			*why = "not an upstream name";
			return -1;
		}
		return config_setstr(dst, s, why);
	case CT_HOST:
		if (!config_is_host(s)) {
			*why = "not a host name";
			return -1;
		}
		return config_setstr(dst, s, why);
	case CT_CERTS:
		return config_certs(cfg, s, dir, why);
	case CT_CERT:
		if (config_cert(s, dir, &cert, why) == -1)
			return -1;
		config_cert_free(dst);
		memcpy(dst, &cert, sizeof cert);
		return 0;
	case CT_FILE:
		if (*s == '\0') {
			*why = "empty";
			return -1;
		}
		if ((path = config_parse_path(dir, s, strlen(s))) == NULL) {
			*why = "out of memory";
			return -1;
		}
		free(*(char **)dst);
		*(char **)dst = path;
		return 0;
	case CT_PROTOCOLS:
		if (tls_protocols_check(s, buf, size) == -1) {
			*why = buf;
			return -1;
		}
		return config_setstr(dst, s, why);
	case CT_CIPHERS:
		if (tls_ciphers_check(s, buf, size) == -1) {
			*why = buf;
			return -1;
		}
		return config_setstr(dst, s, why);
	case CT_UPGRADE:
		return config_parse_upgrade(s, dst, why);
	case CT_HEDGE:
		return config_parse_hedge(s, dst, why);
	case CT_SNI:
		if (!config_is_dns_name(s)) {
			*why = "not a DNS name (SNI takes a name, not an "
			    "address)";
			return -1;
		}
		return config_setstr(dst, s, why);
	}
	*why = "unknown type";
	return -1;
}
