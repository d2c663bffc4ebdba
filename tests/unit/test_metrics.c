/*
 * test_metrics.c: lib/metrics.c, checked through the text it renders, which
 * a strict parser of the Prometheus text format 0.0.4 written here
 * validates line by line (and promtool too, when it is installed); and
 * daemon/metricsd.c on a real event base with a plain client socket.
 *
 * The unit-test rule of the Makefile links the library only, so the
 * daemon's listener is compiled into this test from its source.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "metrics.h"
#include "scope.h"

#include "../../daemon/metricsd.h"

/* One sample: its series ("name{a=\"x\",b=\"y\"}", labels sorted). */
struct prom_sample {
	char		*series;
	double		 value;
};

/* A histogram's series of one label set, as the parser sees them. */
struct prom_group {
	char		 key[512];	/* labels without le */
	double		 last_le;
	double		 last_cum;
	int		 nbuckets;
	bool		 inf;
	double		 inf_count;
	bool		 has_sum;
	bool		 has_count;
	double		 count;
};

/* What the strict parser learnt from a text. */
struct prom {
	struct prom_sample *s;
	size_t		 n;
	size_t		 cap;
	char		 fam[128];	/* the open family, or "" */
	char		 type[16];
	char		 help_for[128];	/* HELP seen, TYPE not yet */
	char		 (*seen)[128];	/* families declared so far */
	size_t		 nseen;
	struct prom_group *groups;
	int		 ngroups;
	int		 capgroups;
	char		 err[512];
	int		 line;
};

/* A label while a sample line is parsed. */
struct prom_label {
	char		 name[64];
	char		 value[512];	/* as written, escapes kept */
};

/* Record a parse error with its line; always returns false. */
static bool
prom_fail(struct prom *p, const char *what, const char *line, size_t len)
{
	snprintf(p->err, sizeof p->err, "line %d: %s: %.*s", p->line, what,
	    (int)len, line);
	return false;
}

/* Whether s (n bytes) is a valid metric name. */
static bool
prom_metric_name(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' ||
	    s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' ||
		    s[i] == ':'))
			return false;
	}
	return true;
}

/* Whether s (n bytes) is a valid label name, not a reserved one. */
static bool
prom_label_name(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	if (n >= 2 && s[0] == '_' && s[1] == '_')
		return false;
	for (size_t i = 1; i < n; i++) {
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return false;
	}
	return true;
}

/* Whether the string ends with suffix. */
static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Check the open histogram family's groups are complete. */
static bool
prom_close_family(struct prom *p)
{
	if (strcmp(p->type, "histogram") == 0) {
		if (p->ngroups == 0)
			return prom_fail(p, "histogram without samples",
			    p->fam, strlen(p->fam));
		for (int i = 0; i < p->ngroups; i++) {
			struct prom_group *g = &p->groups[i];

			if (!g->inf || !g->has_sum || !g->has_count)
				return prom_fail(p, "histogram incomplete",
				    p->fam, strlen(p->fam));
			if (g->count != g->inf_count)
				return prom_fail(p, "+Inf bucket != _count",
				    p->fam, strlen(p->fam));
		}
	}
	if (p->help_for[0] != '\0')
		return prom_fail(p, "HELP without TYPE", p->help_for,
		    strlen(p->help_for));
	p->fam[0] = '\0';
	p->type[0] = '\0';
	p->ngroups = 0;
	return true;
}

/* A comment line: "# HELP name text" or "# TYPE name type". */
static bool
prom_comment(struct prom *p, const char *l, size_t n)
{
	const char *name, *sp, *end = l + n;
	size_t nlen;
	bool help;

	if (n > 7 && memcmp(l, "# HELP ", 7) == 0)
		help = true;
	else if (n > 7 && memcmp(l, "# TYPE ", 7) == 0)
		help = false;
	else
		return prom_fail(p, "not HELP or TYPE", l, n);
	name = l + 7;
	sp = memchr(name, ' ', (size_t)(end - name));
	if (sp == NULL || sp + 1 >= end)
		return prom_fail(p, "no text after the name", l, n);
	nlen = (size_t)(sp - name);
	if (!prom_metric_name(name, nlen) || nlen >= sizeof p->fam)
		return prom_fail(p, "bad family name", l, n);
	if (help) {
		if (p->fam[0] != '\0' && !prom_close_family(p))
			return false;
		if (p->help_for[0] != '\0')
			return prom_fail(p, "two HELP lines", l, n);
		for (size_t i = 0; i < p->nseen; i++) {
			if (strlen(p->seen[i]) == nlen &&
			    memcmp(p->seen[i], name, nlen) == 0)
				return prom_fail(p, "family declared again",
				    l, n);
		}
		memcpy(p->help_for, name, nlen);
		p->help_for[nlen] = '\0';
		for (const char *c = sp + 1; c < end; c++) {
			if (*c == '\\' && (c + 1 == end ||
			    (c[1] != '\\' && c[1] != 'n')))
				return prom_fail(p, "bad escape in HELP", l, n);
			if (*c == '\\')
				c++;
		}
		return true;
	}
	if (strlen(p->help_for) != nlen ||
	    memcmp(p->help_for, name, nlen) != 0)
		return prom_fail(p, "TYPE without its HELP", l, n);
	if ((size_t)(end - sp - 1) >= sizeof p->type)
		return prom_fail(p, "bad type", l, n);
	memcpy(p->type, sp + 1, (size_t)(end - sp - 1));
	p->type[end - sp - 1] = '\0';
	if (strcmp(p->type, "counter") != 0 && strcmp(p->type, "gauge") != 0 &&
	    strcmp(p->type, "histogram") != 0)
		return prom_fail(p, "unexpected type", l, n);
	memcpy(p->fam, name, nlen);
	p->fam[nlen] = '\0';
	p->help_for[0] = '\0';
	if (strcmp(p->type, "counter") == 0 && !ends_with(p->fam, "_total"))
		return prom_fail(p, "counter not named _total", l, n);
	if (strcmp(p->type, "counter") != 0 && ends_with(p->fam, "_total"))
		return prom_fail(p, "_total on a non-counter", l, n);
	if (strncmp(p->fam, "hourglass_", 10) != 0 &&
	    strncmp(p->fam, "process_", 8) != 0)
		return prom_fail(p, "not prefixed hourglass_ or process_", l,
		    n);
	p->seen = realloc(p->seen, (p->nseen + 1) * sizeof *p->seen);
	ck_assert_ptr_nonnull(p->seen);
	strcpy(p->seen[p->nseen++], p->fam);
	return true;
}

/* Parse a label value at *c (after the quote), escapes kept, into out. */
static bool
prom_label_value(const char **c, const char *end, char *out, size_t cap)
{
	size_t o = 0;

	for (; *c < end && **c != '"'; (*c)++) {
		if (**c == '\\') {
			if (*c + 1 >= end || ((*c)[1] != '\\' &&
			    (*c)[1] != '"' && (*c)[1] != 'n'))
				return false;
			if (o + 2 >= cap)
				return false;
			out[o++] = *(*c)++;
		}
		if (o + 1 >= cap)
			return false;
		out[o++] = **c;
	}
	if (*c >= end)
		return false;
	(*c)++;
	out[o] = '\0';
	return true;
}

/* Order labels by name, for canonical series. */
static int
prom_label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prom_label *)a)->name,
	    ((const struct prom_label *)b)->name);
}

/* Parse a sample value: a float, +Inf, -Inf or NaN, nothing after. */
static bool
prom_value(const char *s, size_t n, double *v)
{
	char tmp[64], *end;

	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (strcmp(tmp, "+Inf") == 0) {
		*v = INFINITY;
		return true;
	}
	if (strcmp(tmp, "-Inf") == 0) {
		*v = -INFINITY;
		return true;
	}
	if (strcmp(tmp, "NaN") == 0) {
		*v = NAN;
		return true;
	}
	if (!(isdigit((unsigned char)tmp[0]) || tmp[0] == '-' ||
	    tmp[0] == '+' || tmp[0] == '.'))
		return false;
	errno = 0;
	*v = strtod(tmp, &end);
	return errno == 0 && *end == '\0';
}

/* The histogram group of a label key, added if new. */
static struct prom_group *
prom_group(struct prom *p, const char *key)
{
	for (int i = p->ngroups - 1; i >= 0; i--) {	/* the last, likely */
		if (strcmp(p->groups[i].key, key) == 0)
			return &p->groups[i];
	}
	if (p->ngroups == p->capgroups) {
		p->capgroups = p->capgroups != 0 ? p->capgroups * 2 : 16;
		p->groups = realloc(p->groups, (size_t)p->capgroups *
		    sizeof *p->groups);
		ck_assert_ptr_nonnull(p->groups);
	}
	memset(&p->groups[p->ngroups], 0, sizeof p->groups[0]);
	snprintf(p->groups[p->ngroups].key, sizeof p->groups[0].key, "%s", key);
	p->groups[p->ngroups].last_le = -INFINITY;
	return &p->groups[p->ngroups++];
}

/* Check a histogram sample against its family and group. */
static bool
prom_histogram_sample(struct prom *p, const char *name,
    const struct prom_label *lab, int nlab, double v, const char *l, size_t n)
{
	char key[512] = "";
	const char *le = NULL, *suffix = name + strlen(p->fam);
	struct prom_group *g;
	double lev;

	if (strncmp(name, p->fam, strlen(p->fam)) != 0)
		return prom_fail(p, "sample outside its family", l, n);
	for (int i = 0; i < nlab; i++) {
		if (strcmp(lab[i].name, "le") == 0) {
			le = lab[i].value;
			continue;
		}
		strncat(key, lab[i].name, sizeof key - strlen(key) - 1);
		strncat(key, "=", sizeof key - strlen(key) - 1);
		strncat(key, lab[i].value, sizeof key - strlen(key) - 1);
		strncat(key, ",", sizeof key - strlen(key) - 1);
	}
	g = prom_group(p, key);
	if (strcmp(suffix, "_bucket") == 0) {
		if (le == NULL || !prom_value(le, strlen(le), &lev) ||
		    isnan(lev))
			return prom_fail(p, "bucket without a valid le", l, n);
		if (g->inf || g->has_sum || g->has_count)
			return prom_fail(p, "bucket after +Inf or _sum", l, n);
		if (lev <= g->last_le)
			return prom_fail(p, "le not increasing", l, n);
		if (v < g->last_cum || v != floor(v))
			return prom_fail(p, "bucket count decreasing", l, n);
		g->last_le = lev;
		g->last_cum = v;
		g->nbuckets++;
		if (isinf(lev)) {
			g->inf = true;
			g->inf_count = v;
		}
		return true;
	}
	if (le != NULL)
		return prom_fail(p, "le outside a bucket", l, n);
	if (strcmp(suffix, "_sum") == 0 && !g->has_sum) {
		g->has_sum = true;
		return true;
	}
	if (strcmp(suffix, "_count") == 0 && !g->has_count) {
		g->has_count = true;
		g->count = v;
		return true;
	}
	return prom_fail(p, "bad histogram sample", l, n);
}

/* A sample line: name{labels} value, in the open family. */
static bool
prom_sample(struct prom *p, const char *l, size_t n)
{
	struct prom_label lab[8];
	const char *c = l, *end = l + n, *ns;
	char name[128], series[2048];
	int nlab = 0;
	double v;

	for (ns = c; c < end && *c != '{' && *c != ' '; c++)
		;
	if (!prom_metric_name(ns, (size_t)(c - ns)) ||
	    (size_t)(c - ns) >= sizeof name)
		return prom_fail(p, "bad metric name", l, n);
	memcpy(name, ns, (size_t)(c - ns));
	name[c - ns] = '\0';
	if (c < end && *c == '{') {
		c++;
		while (c < end && *c != '}') {
			const char *ln = c;

			if (nlab == 8)
				return prom_fail(p, "too many labels", l, n);
			while (c < end && *c != '=')
				c++;
			if (c >= end ||
			    !prom_label_name(ln, (size_t)(c - ln)) ||
			    (size_t)(c - ln) >= sizeof lab[0].name)
				return prom_fail(p, "bad label name", l, n);
			memcpy(lab[nlab].name, ln, (size_t)(c - ln));
			lab[nlab].name[c - ln] = '\0';
			if (++c >= end || *c++ != '"')
				return prom_fail(p, "label value unquoted", l,
				    n);
			if (!prom_label_value(&c, end, lab[nlab].value,
			    sizeof lab[0].value))
				return prom_fail(p, "bad label value", l, n);
			for (int i = 0; i < nlab; i++) {
				if (strcmp(lab[i].name, lab[nlab].name) == 0)
					return prom_fail(p, "label repeated",
					    l, n);
			}
			nlab++;
			if (c < end && *c == ',') {
				c++;
				if (c < end && *c == '}')
					return prom_fail(p, "trailing comma",
					    l, n);
			} else if (c >= end || *c != '}')
				return prom_fail(p, "bad label list", l, n);
		}
		if (c >= end || nlab == 0)
			return prom_fail(p, "bad label list", l, n);
		c++;
	}
	if (c >= end || *c++ != ' ' || memchr(c, ' ', (size_t)(end - c)))
		return prom_fail(p, "not one value after one space", l, n);
	if (!prom_value(c, (size_t)(end - c), &v))
		return prom_fail(p, "bad value", l, n);
	if (p->fam[0] == '\0')
		return prom_fail(p, "sample before HELP and TYPE", l, n);
	if (strcmp(p->type, "histogram") == 0) {
		if (!prom_histogram_sample(p, name, lab, nlab, v, l, n))
			return false;
	} else if (strcmp(name, p->fam) != 0)
		return prom_fail(p, "sample outside its family", l, n);
	else if (strcmp(p->type, "counter") == 0 && (v < 0 ||
	    (v != floor(v) && !ends_with(p->fam, "_seconds_total"))))
		return prom_fail(p, "counter not a whole number", l, n);

	qsort(lab, (size_t)nlab, sizeof lab[0], prom_label_cmp);
	snprintf(series, sizeof series, "%s", name);
	for (int i = 0; i < nlab; i++) {
		strncat(series, i == 0 ? "{" : ",", sizeof series -
		    strlen(series) - 1);
		strncat(series, lab[i].name, sizeof series - strlen(series) -
		    1);
		strncat(series, "=\"", sizeof series - strlen(series) - 1);
		strncat(series, lab[i].value, sizeof series - strlen(series) -
		    1);
		strncat(series, "\"", sizeof series - strlen(series) - 1);
	}
	if (nlab > 0)
		strncat(series, "}", sizeof series - strlen(series) - 1);
	if (p->n == p->cap) {
		p->cap = p->cap != 0 ? p->cap * 2 : 64;
		p->s = realloc(p->s, p->cap * sizeof *p->s);
		ck_assert_ptr_nonnull(p->s);
	}
	p->s[p->n].series = strdup(series);
	p->s[p->n].value = v;
	p->n++;
	return true;
}

/* Order samples by series (qsort). */
static int
prom_sample_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prom_sample *)a)->series,
	    ((const struct prom_sample *)b)->series);
}

/* Check that no series appears twice (on a sorted copy). */
static bool
prom_unique(struct prom *p)
{
	struct prom_sample *c = malloc((p->n + 1) * sizeof *c);
	bool ok = true;

	ck_assert_ptr_nonnull(c);
	memcpy(c, p->s, p->n * sizeof *c);
	qsort(c, p->n, sizeof *c, prom_sample_cmp);
	for (size_t i = 1; i < p->n && ok; i++) {
		if (strcmp(c[i - 1].series, c[i].series) == 0)
			ok = prom_fail(p, "duplicate series", c[i].series,
			    strlen(c[i].series));
	}
	free(c);
	return ok;
}

/* Validate a whole text strictly; false with p->err set on the first fault. */
static bool
prom_parse(struct prom *p, const char *text, size_t len)
{
	const char *l = text, *nl, *end = text + len;

	memset(p, 0, sizeof *p);
	if (len == 0 || text[len - 1] != '\n')
		return prom_fail(p, "text does not end with a newline", "", 0);
	if (strlen(text) != len)
		return prom_fail(p, "NUL in the text", "", 0);
	for (; l < end; l = nl + 1) {
		nl = memchr(l, '\n', (size_t)(end - l));
		p->line++;
		if (nl == l)
			return prom_fail(p, "empty line", "", 0);
		if (*l == '#') {
			if (!prom_comment(p, l, (size_t)(nl - l)))
				return false;
		} else if (!prom_sample(p, l, (size_t)(nl - l)))
			return false;
	}
	return prom_close_family(p) && prom_unique(p);
}

/* Free what the parser kept. */
static void
prom_free(struct prom *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->s[i].series);
	free(p->s);
	free(p->seen);
	free(p->groups);
	memset(p, 0, sizeof *p);
}

/* The value of a series (labels in name order), or -1 when absent. */
static double
prom_get(const struct prom *p, const char *series)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->s[i].series, series) == 0)
			return p->s[i].value;
	}
	return -1;
}

/* Whether the family has a sample at all. */
static bool
prom_has_family(const struct prom *p, const char *fam)
{
	for (size_t i = 0; i < p->nseen; i++) {
		if (strcmp(p->seen[i], fam) == 0)
			return true;
	}
	return false;
}

/* Run promtool check metrics on the text when promtool is installed. */
static void
promtool_check(const char *text, size_t len)
{
	char path[] = "/tmp/hourglass-metrics-XXXXXX", cmd[128];
	int fd, rc;

	if (system("command -v promtool >/dev/null 2>&1") != 0)
		return;
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
	rc = system(cmd);
	unlink(path);
	ck_assert_msg(rc == 0, "promtool check metrics failed (%d):\n%s", rc,
	    text);
}

/* Render s, check it strictly (and with promtool), and parse it into p. */
static char *
render_checked(const struct metrics_snapshot *s, struct prom *p)
{
	char *text;
	size_t len;

	ck_assert_int_eq(metrics_render(s, &text, &len), 0);
	ck_assert_uint_eq(strlen(text), len);
	ck_assert_msg(prom_parse(p, text, len), "%s\n%s", p->err, text);
	promtool_check(text, len);
	return text;
}

/* Snapshot one worker's metrics, render and parse. */
static char *
render_one(const struct metrics *m, struct prom *p)
{
	struct metrics_snapshot *s = metrics_snapshot_new();
	char *text;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(metrics_snapshot_add(s, m), 0);
	text = render_checked(s, p);
	metrics_snapshot_free(s);
	return text;
}

/* Count a request without upstream times or bytes. */
static void
req(struct metrics *m, const char *route, enum outcome o, int status,
    int64_t total_us)
{
	struct metrics_req r = { route, NULL, o, status, total_us, -1, -1, 0,
	    0 };

	metrics_request(m, &r);
}

/* The status an outcome's request is logged with when hourglass answers:
 * its table row's, 200 for ok, 101 for a tunnel's own timeouts (they end
 * a tunnel, after its 101). */
static int
status_of(enum outcome o)
{
	if (o == OUTCOME_TIMEOUT + SCOPE_TUNNEL_IDLE ||
	    o == OUTCOME_TIMEOUT + SCOPE_TUNNEL_MAX)
		return 101;
	return o == OUTCOME_OK ? 200 : outcome_info(o)->oi_status;
}

/* The code label an outcome's table row gives. */
static const char *
code_of(enum outcome o)
{
	static const char *const names[] = { "1xx", "2xx", "3xx", "4xx",
	    "5xx" };

	return names[status_of(o) / 100 - 1];
}

/* The value of hourglass_requests_total{code,outcome,route}, or -1. */
static double
requests(const struct prom *p, const char *route, const char *outcome,
    const char *code)
{
	char series[512];

	snprintf(series, sizeof series, "hourglass_requests_total"
	    "{code=\"%s\",outcome=\"%s\",route=\"%s\"}", code, outcome, route);
	return prom_get(p, series);
}

/* The number of samples of a family (series starting "name{" or "name "). */
static size_t
prom_count(const struct prom *p, const char *name)
{
	size_t n = 0, len = strlen(name);

	for (size_t i = 0; i < p->n; i++) {
		if (strncmp(p->s[i].series, name, len) == 0 &&
		    (p->s[i].series[len] == '{' ||
		    p->s[i].series[len] == '\0'))
			n++;
	}
	return n;
}

/* Every outcome of the closed set counts under its own name and the code
 * of the status it is logged with. */
START_TEST(test_outcomes)
{
	struct metrics *m = metrics_new();
	char *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	for (int o = 0; o < OUTCOME_COUNT; o++) {
		if (o == OUTCOME_TIMEOUT + SCOPE_KEEPALIVE)
			continue;
		for (int k = 0; k <= o; k++)
			req(m, "/api", (enum outcome)o,
			    status_of((enum outcome)o), 1000);
	}
	text = render_one(m, &p);
	for (int o = 0; o < OUTCOME_COUNT; o++) {
		if (o == OUTCOME_TIMEOUT + SCOPE_KEEPALIVE)
			continue;
		ck_assert_msg(requests(&p, "/api",
		    outcome_name((enum outcome)o), code_of((enum outcome)o)) ==
		    (double)(o + 1), "%s", outcome_name((enum outcome)o));
	}
	/* abort:client is logged 499: a client error. */
	ck_assert(requests(&p, "/api", "abort:client", "4xx") ==
	    OUTCOME_ABORT_CLIENT + 1);
	ck_assert(requests(&p, "/api", "reject:overload", "5xx") ==
	    OUTCOME_REJECT_OVERLOAD + 1);
	/* Keep-alive timeouts close connections, not requests. */
	ck_assert_ptr_null(strstr(text, "timeout:keepalive"));
	ck_assert_uint_eq(prom_count(&p, "hourglass_requests_total"),
	    OUTCOME_COUNT - 1);
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* The code is the class of the status logged; outside 100-599, "other". */
START_TEST(test_codes)
{
	static const struct {
		int		 status;
		const char	*code;
	} cases[] = {
		{ 100, "1xx" }, { 199, "1xx" }, { 200, "2xx" }, { 204, "2xx" },
		{ 302, "3xx" }, { 404, "4xx" }, { 499, "4xx" }, { 500, "5xx" },
		{ 599, "5xx" }, { 600, "other" }, { 999, "other" },
		{ 0, "other" }, { 99, "other" }, { -1, "other" },
	};
	struct metrics *m = metrics_new();
	double want[6] = { 0 };
	const char *codes[] = { "1xx", "2xx", "3xx", "4xx", "5xx", "other" };
	char *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		req(m, "/", OUTCOME_OK, cases[i].status, 10);
		for (int c = 0; c < 6; c++)
			want[c] += strcmp(codes[c], cases[i].code) == 0;
	}
	/* An error after the response head went out keeps its status. */
	req(m, "/", OUTCOME_TIMEOUT + SCOPE_UPSTREAM_IDLE, 200, 10);
	text = render_one(m, &p);
	for (int c = 0; c < 6; c++)
		ck_assert_msg(requests(&p, "/", "ok", codes[c]) == want[c],
		    "%s", codes[c]);
	ck_assert(requests(&p, "/", "timeout:upstream_idle", "2xx") == 1);
	ck_assert(requests(&p, "/", "timeout:upstream_idle", "5xx") == 0);
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/*
 * Every route row has every outcome that can end a request at 0 under its
 * table code, from the start: the routes the daemon adds, and "-".
 */
START_TEST(test_zero_series)
{
	struct metrics_snapshot *s = metrics_snapshot_new();
	struct metrics *m = metrics_new();
	const char *routes[] = { "-", "/api", "/static" };
	char *text;
	struct prom p;

	ck_assert(s && m);
	req(m, "/api", OUTCOME_OK, 503, 10);
	req(m, "/api", OUTCOME_ERROR_CONNECT, 502, 10);
	ck_assert_int_eq(metrics_snapshot_add(s, m), 0);
	ck_assert_int_eq(metrics_snapshot_route(s, NULL), 0);
	ck_assert_int_eq(metrics_snapshot_route(s, "/api"), 0);
	ck_assert_int_eq(metrics_snapshot_route(s, "/static"), 0);
	ck_assert_int_eq(metrics_snapshot_route(s, "/static"), 0);
	text = render_checked(s, &p);
	for (size_t r = 0; r < 3; r++) {
		for (int o = 0; o < OUTCOME_COUNT; o++) {
			const char *name = outcome_name((enum outcome)o);
			double v;

			if (o == OUTCOME_TIMEOUT + SCOPE_KEEPALIVE)
				continue;
			v = requests(&p, routes[r], name,
			    code_of((enum outcome)o));
			if (r == 1 && o == OUTCOME_ERROR_CONNECT)
				ck_assert(v == 1);
			else
				ck_assert_msg(v == 0, "%s %s: %g", routes[r],
				    name, v);
		}
	}
	/* The ok answered 503 by the upstream: beside the zero 2xx. */
	ck_assert(requests(&p, "/api", "ok", "5xx") == 1);
	ck_assert(requests(&p, "/static", "ok", "5xx") == -1);
	/* 21 outcomes a route, and one more code seen. */
	ck_assert_uint_eq(prom_count(&p, "hourglass_requests_total"),
	    3 * (OUTCOME_COUNT - 1) + 1);
	ck_assert_uint_eq(prom_count(&p, "hourglass_request_bytes_total"), 3);
	/* No request, no duration series: /api's ok and error only. */
	ck_assert_uint_eq(prom_count(&p,
	    "hourglass_request_duration_seconds_count"), 2);
	prom_free(&p);
	free(text);
	metrics_free(m);
	metrics_snapshot_free(s);
}
END_TEST

/* Rows are keyed by the route's contents; NULL is "-". */
START_TEST(test_routes)
{
	struct metrics *m = metrics_new();
	char a[16], b[16], *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	strcpy(a, "/api");
	strcpy(b, "/api");
	req(m, a, OUTCOME_OK, 200, 10);
	req(m, b, OUTCOME_OK, 200, 10);
	req(m, "/api", OUTCOME_OK, 200, 10);
	req(m, NULL, OUTCOME_ERROR_NO_UPSTREAM, 503, 10);
	req(m, NULL, OUTCOME_ERROR_NO_UPSTREAM, 503, 10);
	/* The address of a freed route may come back with another route. */
	strcpy(a, "/static");
	req(m, a, OUTCOME_OK, 200, 10);
	req(m, a, OUTCOME_OK, 200, 10);
	strcpy(a, "/api");
	req(m, a, OUTCOME_OK, 200, 10);

	text = render_one(m, &p);
	ck_assert(requests(&p, "/api", "ok", "2xx") == 4);
	ck_assert(requests(&p, "/static", "ok", "2xx") == 2);
	ck_assert(requests(&p, "-", "error:no_upstream", "5xx") == 2);
	ck_assert(requests(&p, "-", "ok", "2xx") == 0);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_count"
	    "{kind=\"ok\",route=\"/api\"}") == 4);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_count"
	    "{kind=\"error\",route=\"-\"}") == 2);
	/* Series are sorted: "-" before "/api" before "/static". */
	ck_assert(strstr(text, "route=\"-\"") <
	    strstr(text, "route=\"/api\""));
	ck_assert(strstr(text, "route=\"/api\"") <
	    strstr(text, "route=\"/static\""));
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/*
 * The address cache: many routes at once (past its first size, so it
 * grows), addresses reused by other routes, and more addresses over time
 * than it may hold (so it is emptied): every request lands in its row.
 */
START_TEST(test_route_cache)
{
	struct metrics *m = metrics_new();
	char *strs[6000], *text, want[16];
	struct prom p;

	ck_assert_ptr_nonnull(m);
	/* 200 routes, each string at its own address, 5 rounds. */
	for (int i = 0; i < 200; i++) {
		ck_assert_int_gt(asprintf(&strs[i], "/c%d", i), 0);
	}
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 200; i++)
			req(m, strs[i], OUTCOME_OK, 200, 10);
	}
	/* The same addresses now hold other routes: /c0 holds "/c1", ... */
	for (int i = 0; i < 200; i++)
		snprintf(strs[i], strlen(strs[i]) + 1, "/c%d", (i + 1) % 10);
	for (int i = 0; i < 200; i++)
		req(m, strs[i], OUTCOME_ERROR_CONNECT, 502, 10);
	for (int i = 0; i < 200; i++)
		free(strs[i]);
	/* 6000 addresses over time, for 10 routes. */
	for (int i = 0; i < 6000; i++) {
		ck_assert_int_gt(asprintf(&strs[i], "/c%d", i % 10), 0);
		req(m, strs[i], OUTCOME_REJECT_BAD_REQUEST, 400, 10);
	}
	for (int i = 0; i < 6000; i++)
		req(m, strs[i], OUTCOME_REJECT_BAD_REQUEST, 400, 10);
	for (int i = 0; i < 6000; i++)
		free(strs[i]);
	text = render_one(m, &p);
	for (int i = 0; i < 200; i++) {
		snprintf(want, sizeof want, "/c%d", i);
		ck_assert(requests(&p, want, "ok", "2xx") == 5);
		ck_assert(requests(&p, want, "error:connect", "5xx") ==
		    (i < 10 ? 20 : 0));
		ck_assert(requests(&p, want, "reject:bad_request", "4xx") ==
		    (i < 10 ? 1200 : 0));
	}
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* Past METRICS_ROUTES_MAX routes, requests count under "other". */
START_TEST(test_route_cap)
{
	struct metrics *m = metrics_new();
	char route[32], *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < METRICS_ROUTES_MAX + 5; i++) {
		snprintf(route, sizeof route, "/r%d", i);
		req(m, route, OUTCOME_OK, 200, 10);
	}
	req(m, "/r0", OUTCOME_OK, 200, 10);
	text = render_one(m, &p);
	ck_assert(requests(&p, "/r0", "ok", "2xx") == 2);
	ck_assert(requests(&p, "/r999", "ok", "2xx") == 1);
	ck_assert(requests(&p, "/r1000", "ok", "2xx") == -1);
	ck_assert(requests(&p, "other", "ok", "2xx") == 5);
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* The value of a request duration series of route "/" and kind. */
static double
dur(const struct prom *p, const char *kind, const char *what, const char *le)
{
	char series[256];

	if (le != NULL)
		snprintf(series, sizeof series,
		    "hourglass_request_duration_seconds_bucket"
		    "{kind=\"%s\",le=\"%s\",route=\"/\"}", kind, le);
	else
		snprintf(series, sizeof series,
		    "hourglass_request_duration_seconds_%s"
		    "{kind=\"%s\",route=\"/\"}", what, kind);
	return prom_get(p, series);
}

/*
 * The duration histogram, by route and outcome kind, is cumulative,
 * bounds inclusive, in seconds, from 100 us: a loopback request of 150 us
 * lands in le="0.00025".
 */
START_TEST(test_histogram)
{
	struct metrics *m = metrics_new();
	char *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	req(m, "/", OUTCOME_OK, 200, -5);		/* 0 */
	req(m, "/", OUTCOME_OK, 200, 100);		/* le 0.0001 */
	req(m, "/", OUTCOME_OK, 200, 150);		/* le 0.00025 */
	req(m, "/", OUTCOME_OK, 200, 1000);		/* le 0.001 */
	req(m, "/", OUTCOME_OK, 200, 1001);		/* le 0.0025 */
	req(m, "/", OUTCOME_OK, 200, 750000);		/* le 1 */
	req(m, "/", OUTCOME_OK, 200, 60000000);		/* le 60 */
	req(m, "/", OUTCOME_OK, 200, 60000001);		/* +Inf */
	req(m, "/", OUTCOME_TIMEOUT + SCOPE_CONNECT, 504, 2000000);
	req(m, "/", OUTCOME_TIMEOUT + SCOPE_UPSTREAM_HEADER, 504, 3000000);
	req(m, "/", OUTCOME_ABORT_CLIENT, 499, 150);
	text = render_one(m, &p);
	ck_assert(dur(&p, "ok", NULL, "0.0001") == 2);
	ck_assert(dur(&p, "ok", NULL, "0.00025") == 3);
	ck_assert(dur(&p, "ok", NULL, "0.0005") == 3);
	ck_assert(dur(&p, "ok", NULL, "0.001") == 4);
	ck_assert(dur(&p, "ok", NULL, "0.0025") == 5);
	ck_assert(dur(&p, "ok", NULL, "0.5") == 5);
	ck_assert(dur(&p, "ok", NULL, "1") == 6);
	ck_assert(dur(&p, "ok", NULL, "30") == 6);
	ck_assert(dur(&p, "ok", NULL, "60") == 7);
	ck_assert(dur(&p, "ok", NULL, "+Inf") == 8);
	ck_assert(dur(&p, "ok", "count", NULL) == 8);
	ck_assert(dur(&p, "ok", "sum", NULL) == 120.752252);
	ck_assert(dur(&p, "timeout", NULL, "1") == 0);
	ck_assert(dur(&p, "timeout", NULL, "2.5") == 1);
	ck_assert(dur(&p, "timeout", NULL, "5") == 2);
	ck_assert(dur(&p, "timeout", "sum", NULL) == 5);
	ck_assert(dur(&p, "abort", NULL, "0.0001") == 0);
	ck_assert(dur(&p, "abort", NULL, "0.00025") == 1);
	/* Kinds without a request have no series. */
	ck_assert(dur(&p, "error", "count", NULL) == -1);
	ck_assert(dur(&p, "reject", "count", NULL) == -1);
	ck_assert_uint_eq(prom_count(&p,
	    "hourglass_request_duration_seconds_bucket"), 3 * 19);
	/* Every bound is written as an exact decimal. */
	ck_assert_ptr_nonnull(strstr(text, "le=\"0.0001\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "le=\"0.00025\"} 3\n"));
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* A series of an upstream time family for upstream "app", or -1. */
static double
uptime(const struct prom *p, const char *fam, const char *up,
    const char *what, const char *le)
{
	char series[256];

	if (le != NULL)
		snprintf(series, sizeof series, "hourglass_upstream_%s_duration"
		    "_seconds_bucket{le=\"%s\",upstream=\"%s\"}", fam, le, up);
	else
		snprintf(series, sizeof series, "hourglass_upstream_%s_duration"
		    "_seconds_%s{upstream=\"%s\"}", fam, what, up);
	return prom_get(p, series);
}

/*
 * Connect and upstream header times by upstream group: only the times
 * that happened (>= 0), keyed by the name's contents; bytes by route.
 */
START_TEST(test_upstream_times)
{
	struct metrics *m = metrics_new();
	char app[8], app2[8], *text;
	struct prom p;
	struct metrics_req r[] = {
		/* a new connection, its head after 150 us */
		{ "/a", app, OUTCOME_OK, 200, 400, 80, 150, 100, 1000 },
		/* a pooled connection: no connect */
		{ "/a", app, OUTCOME_OK, 200, 300, -1, 2000, 50, 2000 },
		/* refused: a connect that never completed, no head */
		{ "/a", app, OUTCOME_ERROR_CONNECT, 502, 300, -1, -1, 60, 150 },
		/* the same group through another string */
		{ "/b", app2, OUTCOME_OK, 200, 300, 300, 0, 7, 9 },
		/* no upstream: the times are not counted */
		{ NULL, NULL, OUTCOME_REJECT_BAD_REQUEST, 400, 10, 5, 5, 3, 4 },
	};

	ck_assert_ptr_nonnull(m);
	strcpy(app, "app");
	strcpy(app2, "app");
	for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
		metrics_request(m, &r[i]);
	/* The address of "app" now names another group. */
	strcpy(app, "db");
	r[0].route = "/c";
	metrics_request(m, &r[0]);
	text = render_one(m, &p);
	ck_assert(uptime(&p, "connect", "app", "count", NULL) == 2);
	ck_assert(uptime(&p, "connect", "app", NULL, "0.0001") == 1);
	ck_assert(uptime(&p, "connect", "app", NULL, "0.00025") == 1);
	ck_assert(uptime(&p, "connect", "app", NULL, "0.0005") == 2);
	ck_assert(uptime(&p, "connect", "app", "sum", NULL) == 0.00038);
	ck_assert(uptime(&p, "header", "app", "count", NULL) == 3);
	ck_assert(uptime(&p, "header", "app", NULL, "0.0001") == 1);
	ck_assert(uptime(&p, "header", "app", NULL, "0.00025") == 2);
	ck_assert(uptime(&p, "header", "app", NULL, "0.0025") == 3);
	ck_assert(uptime(&p, "header", "app", "sum", NULL) == 0.00215);
	ck_assert(uptime(&p, "connect", "db", "count", NULL) == 1);
	ck_assert(uptime(&p, "header", "db", "count", NULL) == 1);
	ck_assert_uint_eq(prom_count(&p,
	    "hourglass_upstream_connect_duration_seconds_count"), 2);
	ck_assert(prom_get(&p, "hourglass_request_bytes_total{route=\"/a\"}")
	    == 210);
	ck_assert(prom_get(&p, "hourglass_response_bytes_total{route=\"/a\"}")
	    == 3150);
	ck_assert(prom_get(&p, "hourglass_request_bytes_total{route=\"/b\"}")
	    == 7);
	ck_assert(prom_get(&p, "hourglass_response_bytes_total{route=\"-\"}")
	    == 4);
	ck_assert(prom_get(&p, "hourglass_response_bytes_total{route=\"/c\"}")
	    == 1000);
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* Past METRICS_UPSTREAMS_MAX upstreams, the times of more are dropped. */
START_TEST(test_upstream_cap)
{
	struct metrics *m = metrics_new();
	struct metrics_req r = { "/", NULL, OUTCOME_OK, 200, 10, 10, 10, 0, 0 };
	char name[32], *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	r.upstream = name;
	for (int i = 0; i < METRICS_UPSTREAMS_MAX + 5; i++) {
		snprintf(name, sizeof name, "u%d", i);
		metrics_request(m, &r);
	}
	text = render_one(m, &p);
	ck_assert_uint_eq(prom_count(&p,
	    "hourglass_upstream_header_duration_seconds_count"),
	    METRICS_UPSTREAMS_MAX);
	ck_assert(uptime(&p, "header", "u999", "count", NULL) == 1);
	ck_assert(uptime(&p, "header", "u1000", "count", NULL) == -1);
	ck_assert(requests(&p, "/", "ok", "2xx") == METRICS_UPSTREAMS_MAX + 5);
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* Two workers' snapshots, merged, sum; servers are down if any says so. */
START_TEST(test_merge)
{
	struct metrics *w1 = metrics_new(), *w2 = metrics_new();
	struct metrics_snapshot *s1 = metrics_snapshot_new();
	struct metrics_snapshot *s2 = metrics_snapshot_new();
	struct metrics_snapshot *all = metrics_snapshot_new();
	struct metrics_req up = { "/a", "app", OUTCOME_OK, 200, 2000, 120, 900,
	    10, 100 };
	char *text;
	struct prom p;

	ck_assert(w1 && w2 && s1 && s2 && all);
	metrics_request(w1, &up);
	req(w1, "/a", OUTCOME_OK, 200, 2000);
	req(w1, "/b", OUTCOME_TIMEOUT + SCOPE_CONNECT, 504, 2000000);
	metrics_connection_accepted(w1);
	metrics_keepalive_closed(w1);
	up.upstream_header_us = 30000;
	up.bytes_out = 5;
	metrics_request(w2, &up);
	req(w2, "/a", OUTCOME_OK, 404, 20000);
	req(w2, NULL, OUTCOME_REJECT_BAD_REQUEST, 400, 10);
	metrics_connection_accepted(w2);
	metrics_connection_accepted(w2);

	ck_assert_int_eq(metrics_snapshot_add(s1, w1), 0);
	ck_assert_int_eq(metrics_snapshot_connections(s1, METRICS_CONN_IDLE,
	    3), 0);
	ck_assert_int_eq(metrics_snapshot_connections(s1, METRICS_CONN_ACTIVE,
	    1), 0);
	ck_assert_int_eq(metrics_snapshot_connections(s1, METRICS_CONN_STATES,
	    1), -1);
	ck_assert_str_eq(metrics_conn_state_name(METRICS_CONN_READING),
	    "reading");
	ck_assert_str_eq(metrics_conn_state_name(METRICS_CONN_STATES), "?");
	ck_assert_int_eq(metrics_snapshot_server(s1, "app", "10.0.0.1:80",
	    true, 10, 1, 2, 3), 0);
	ck_assert_int_eq(metrics_snapshot_server(s1, "app", "10.0.0.2:80",
	    true, 5, 0, 0, 1), 0);
	ck_assert_int_eq(metrics_snapshot_add(s2, w2), 0);
	ck_assert_int_eq(metrics_snapshot_connections(s2, METRICS_CONN_IDLE,
	    2), 0);
	ck_assert_int_eq(metrics_snapshot_connections(s2, METRICS_CONN_CLOSING,
	    4), 0);
	ck_assert_int_eq(metrics_snapshot_server(s2, "app", "10.0.0.1:80",
	    true, 7, 2, 1, 1), 0);
	ck_assert_int_eq(metrics_snapshot_server(s2, "app", "10.0.0.2:80",
	    false, 1, 1, 0, 0), 0);
	ck_assert_int_eq(metrics_snapshot_server(s2, "other", "[::1]:81",
	    true, 0, 0, 0, 0), 0);

	/* Worker snapshots are freed before the merged one is rendered. */
	metrics_free(w1);
	metrics_free(w2);
	ck_assert_int_eq(metrics_snapshot_merge(all, s1), 0);
	ck_assert_int_eq(metrics_snapshot_merge(all, s2), 0);
	metrics_snapshot_free(s1);
	metrics_snapshot_free(s2);
	metrics_snapshot_info(all, 7, 3, 1, 2, 5);

	text = render_checked(all, &p);
	ck_assert(requests(&p, "/a", "ok", "2xx") == 3);
	ck_assert(requests(&p, "/a", "ok", "4xx") == 1);
	ck_assert(requests(&p, "/b", "timeout:connect", "5xx") == 1);
	ck_assert(requests(&p, "-", "reject:bad_request", "4xx") == 1);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_bucket"
	    "{kind=\"ok\",le=\"0.0025\",route=\"/a\"}") == 3);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_bucket"
	    "{kind=\"ok\",le=\"0.025\",route=\"/a\"}") == 4);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_count"
	    "{kind=\"ok\",route=\"/a\"}") == 4);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_sum"
	    "{kind=\"ok\",route=\"/a\"}") == 0.026);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_count"
	    "{kind=\"timeout\",route=\"/b\"}") == 1);
	ck_assert(prom_get(&p, "hourglass_request_duration_seconds_count"
	    "{kind=\"reject\",route=\"-\"}") == 1);
	ck_assert(uptime(&p, "connect", "app", NULL, "0.00025") == 2);
	ck_assert(uptime(&p, "header", "app", NULL, "0.001") == 1);
	ck_assert(uptime(&p, "header", "app", NULL, "0.05") == 2);
	ck_assert(uptime(&p, "header", "app", "sum", NULL) == 0.0309);
	ck_assert(prom_get(&p, "hourglass_request_bytes_total{route=\"/a\"}")
	    == 20);
	ck_assert(prom_get(&p, "hourglass_response_bytes_total{route=\"/a\"}")
	    == 105);
	ck_assert(prom_get(&p, "hourglass_connections_accepted_total") == 3);
	ck_assert(prom_get(&p, "hourglass_keepalive_closed_total") == 1);
	ck_assert(prom_get(&p, "hourglass_connections{state=\"idle\"}") == 5);
	ck_assert(prom_get(&p, "hourglass_connections{state=\"reading\"}")
	    == 0);
	ck_assert(prom_get(&p, "hourglass_connections{state=\"active\"}") == 1);
	ck_assert(prom_get(&p, "hourglass_connections{state=\"closing\"}")
	    == 4);
	ck_assert(prom_get(&p, "hourglass_upstream_up"
	    "{server=\"10.0.0.1:80\",upstream=\"app\"}") == 1);
	ck_assert(prom_get(&p, "hourglass_upstream_up"
	    "{server=\"10.0.0.2:80\",upstream=\"app\"}") == 0);
	ck_assert(prom_get(&p, "hourglass_upstream_up"
	    "{server=\"[::1]:81\",upstream=\"other\"}") == 1);
	ck_assert(prom_get(&p, "hourglass_upstream_tries_total"
	    "{server=\"10.0.0.1:80\",upstream=\"app\"}") == 17);
	ck_assert(prom_get(&p, "hourglass_upstream_failures_total"
	    "{server=\"10.0.0.1:80\",upstream=\"app\"}") == 3);
	ck_assert(prom_get(&p, "hourglass_upstream_failures_total"
	    "{server=\"10.0.0.2:80\",upstream=\"app\"}") == 1);
	ck_assert(prom_get(&p, "hourglass_upstream_connections"
	    "{server=\"10.0.0.1:80\",state=\"active\",upstream=\"app\"}")
	    == 3);
	ck_assert(prom_get(&p, "hourglass_upstream_connections"
	    "{server=\"10.0.0.1:80\",state=\"idle\",upstream=\"app\"}") == 4);
	ck_assert(prom_get(&p, "hourglass_config_generation") == 7);
	ck_assert(prom_get(&p, "hourglass_reloads_total") == 3);
	ck_assert(prom_get(&p, "hourglass_reload_failures_total") == 1);
	ck_assert(prom_get(&p, "hourglass_workers") == 2);
	ck_assert(prom_get(&p, "hourglass_requests_in_flight") == 5);
	prom_free(&p);
	free(text);
	metrics_snapshot_free(all);
}
END_TEST

/* The same server reported with one name as a prefix of another's. */
START_TEST(test_server_keys)
{
	struct metrics_snapshot *s = metrics_snapshot_new();
	char *text;
	struct prom p;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(metrics_snapshot_server(s, "ab", "c", true, 1, 0, 0,
	    0), 0);
	ck_assert_int_eq(metrics_snapshot_server(s, "a", "bc", true, 2, 0, 0,
	    0), 0);
	ck_assert_int_eq(metrics_snapshot_server(s, "ab", "c", true, 4, 0, 0,
	    0), 0);
	text = render_checked(s, &p);
	ck_assert(prom_get(&p, "hourglass_upstream_tries_total"
	    "{server=\"c\",upstream=\"ab\"}") == 5);
	ck_assert(prom_get(&p, "hourglass_upstream_tries_total"
	    "{server=\"bc\",upstream=\"a\"}") == 2);
	prom_free(&p);
	free(text);
	metrics_snapshot_free(s);
}
END_TEST

/* Deadline histograms: per-bucket microseconds become cumulative seconds. */
START_TEST(test_deadline)
{
	struct metrics_snapshot *s = metrics_snapshot_new();
	struct deadline_stats a, b;
	char *text, le[64], series[128];
	struct prom p;
	double cum;

	ck_assert_ptr_nonnull(s);
	memset(&a, 0, sizeof a);
	memset(&b, 0, sizeof b);
	deadline_stats_late(&a, 5);		/* le 10us */
	deadline_stats_late(&a, 10);		/* le 10us */
	deadline_stats_late(&a, 900);		/* le 1ms */
	deadline_stats_late(&b, 300000);	/* +Inf */
	deadline_stats_lag(&b, 40);
	deadline_stats_lag(&b, 3000);
	a.ds_lag_last_us = 1500;
	b.ds_lag_last_us = 3000;
	metrics_snapshot_deadline(s, &a);
	metrics_snapshot_deadline(s, &b);
	text = render_checked(s, &p);

	cum = 0;
	for (unsigned i = 0; i < deadline_stats_bounds.hb_n; i++) {
		uint64_t us = deadline_stats_bounds.hb_us[i];

		cum += (double)(a.ds_late.h_bucket[i] +
		    b.ds_late.h_bucket[i]);
		snprintf(le, sizeof le, "%g", (double)us / 1e6);
		/* The text writes exact decimals; compare as numbers. */
		for (size_t k = 0; k < p.n; k++) {
			double v;
			const char *q = strstr(p.s[k].series, "le=\"");

			if (strncmp(p.s[k].series,
			    "hourglass_timer_lateness_seconds_bucket", 39) != 0)
				continue;
			v = strtod(q + 4, NULL);
			if (fabs(v - (double)us / 1e6) < 1e-12)
				ck_assert_msg(p.s[k].value == cum, "le %s", le);
		}
	}
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_bucket"
	    "{le=\"0.00001\"}") == 2);
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_bucket"
	    "{le=\"0.001\"}") == 3);
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_bucket"
	    "{le=\"0.25\"}") == 3);
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_bucket"
	    "{le=\"+Inf\"}") == 4);
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_count") == 4);
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_sum")
	    == 0.300915);
	ck_assert(prom_get(&p, "hourglass_loop_lag_seconds_bucket"
	    "{le=\"0.00005\"}") == 1);
	ck_assert(prom_get(&p, "hourglass_loop_lag_seconds_bucket"
	    "{le=\"0.005\"}") == 2);
	ck_assert(prom_get(&p, "hourglass_loop_lag_seconds_count") == 2);
	ck_assert(prom_get(&p, "hourglass_loop_lag_last_seconds") == 0.003);
	ck_assert(!prom_has_family(&p, "hourglass_timer_early_total"));
	snprintf(series, sizeof series, "hourglass_loop_lag_seconds_sum");
	ck_assert(prom_get(&p, series) == 0.00304);
	prom_free(&p);
	free(text);
	metrics_snapshot_free(s);
}
END_TEST

/* Label values are escaped, and bytes that are not UTF-8 replaced. */
START_TEST(test_escaping)
{
	struct metrics *m = metrics_new();
	struct metrics_req r = { NULL, "a\"b", OUTCOME_OK, 200, 1, 1, 1, 0, 0 };
	char *text;
	struct prom p;

	ck_assert_ptr_nonnull(m);
	req(m, "/a\\b\"c\nd", OUTCOME_OK, 200, 1);
	req(m, "/caf\xc3\xa9", OUTCOME_OK, 200, 1);
	req(m, "/bad\xff\xc3", OUTCOME_OK, 200, 1);
	req(m, "/long\xe0\x80\x80", OUTCOME_OK, 200, 1);
	metrics_request(m, &r);
	text = render_one(m, &p);
	ck_assert_ptr_nonnull(strstr(text,
	    "{route=\"/a\\\\b\\\"c\\nd\",outcome=\"ok\",code=\"2xx\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "{route=\"/a\\\\b\\\"c\\nd\",kind=\"ok\",le=\"0.0001\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "route=\"/caf\xc3\xa9\""));
	ck_assert_ptr_nonnull(strstr(text, "route=\"/bad??\""));
	ck_assert_ptr_nonnull(strstr(text, "route=\"/long???\""));
	ck_assert_ptr_nonnull(strstr(text,
	    "_connect_duration_seconds_count{upstream=\"a\\\"b\"} 1\n"));
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* An empty snapshot renders every family it always has, and validly. */
START_TEST(test_empty)
{
	struct metrics_snapshot *s = metrics_snapshot_new();
	char *text;
	struct prom p;

	ck_assert_ptr_nonnull(s);
	text = render_checked(s, &p);
	ck_assert(!prom_has_family(&p, "hourglass_requests_total"));
	ck_assert(!prom_has_family(&p, "hourglass_request_duration_seconds"));
	ck_assert(!prom_has_family(&p, "hourglass_request_bytes_total"));
	ck_assert(!prom_has_family(&p, "hourglass_upstream_up"));
	ck_assert(!prom_has_family(&p,
	    "hourglass_upstream_connect_duration_seconds"));
	ck_assert(!prom_has_family(&p, "hourglass_build_info"));
	ck_assert(!prom_has_family(&p, "process_open_fds"));
	ck_assert(prom_has_family(&p, "hourglass_timer_lateness_seconds"));
	ck_assert(prom_get(&p, "hourglass_timer_lateness_seconds_bucket"
	    "{le=\"+Inf\"}") == 0);
	ck_assert(prom_get(&p, "hourglass_workers") == 0);
	prom_free(&p);
	free(text);
	metrics_snapshot_free(s);
}
END_TEST

/* The number of descriptors this process has open, counted by fcntl(). */
static int
fds_open(void)
{
	struct rlimit rl;
	int n = 0;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	for (rlim_t fd = 0; fd < rl.rlim_cur && fd < 65536; fd++)
		n += fcntl((int)fd, F_GETFD) != -1;
	return n;
}

/* build_info and the process_* families: set, read, rendered. */
START_TEST(test_process)
{
	struct metrics_snapshot *s = metrics_snapshot_new();
	struct metrics_process mp = { 1500000, 4096, 8192, 7, 1024,
	    1700000000250000 }, now;
	struct timespec ts;
	struct rlimit rl;
	char *text;
	struct prom p;
	int fds[2];

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(metrics_snapshot_process(s, "1.2.3", &mp), 0);
	text = render_checked(s, &p);
	ck_assert(prom_get(&p, "hourglass_build_info{version=\"1.2.3\"}") == 1);
	ck_assert(prom_get(&p, "process_cpu_seconds_total") == 1.5);
	ck_assert(prom_get(&p, "process_resident_memory_bytes") == 4096);
	ck_assert(prom_get(&p, "process_virtual_memory_bytes") == 8192);
	ck_assert(prom_get(&p, "process_open_fds") == 7);
	ck_assert(prom_get(&p, "process_max_fds") == 1024);
	ck_assert_ptr_nonnull(strstr(text,
	    "\nprocess_start_time_seconds 1700000000.25\n"));
	prom_free(&p);
	free(text);

	/* What could not be read is left out; so is a NULL version. */
	mp.resident_bytes = -1;
	mp.start_us = -1;
	ck_assert_int_eq(metrics_snapshot_process(s, NULL, &mp), 0);
	text = render_checked(s, &p);
	ck_assert(!prom_has_family(&p, "hourglass_build_info"));
	ck_assert(!prom_has_family(&p, "process_resident_memory_bytes"));
	ck_assert(!prom_has_family(&p, "process_start_time_seconds"));
	ck_assert(prom_get(&p, "process_open_fds") == 7);
	prom_free(&p);
	free(text);
	metrics_snapshot_free(s);

	/* This process, as the kernel sees it. */
	metrics_process_read(&now);
	ck_assert_int_ge(now.cpu_us, 0);
	ck_assert_int_gt(now.resident_bytes, 0);
	ck_assert_int_ge(now.virtual_bytes, now.resident_bytes);
	ck_assert_int_eq(now.open_fds, fds_open());
	ck_assert_int_eq(pipe(fds), 0);
	metrics_process_read(&mp);
	ck_assert_int_eq(mp.open_fds, now.open_fds + 2);
	close(fds[0]);
	close(fds[1]);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	ck_assert_int_eq(now.max_fds, (int64_t)rl.rlim_cur);
	/* Started (the test runs in a fresh child) within the last hour;
	 * /proc's clock ticks are 10 ms. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ck_assert_int_le(now.start_us, (int64_t)ts.tv_sec * 1000000 +
	    ts.tv_nsec / 1000 + 10000);
	ck_assert_int_gt(now.start_us, ((int64_t)ts.tv_sec - 3600) * 1000000);
}
END_TEST

/*
 * Every family a busy daemon exports, with its type, in order: names
 * follow Prometheus conventions (base units in the name, _total on
 * counters and only there, checked by the parser too).
 */
START_TEST(test_families)
{
	static const char *const want[] = {
		"hourglass_requests_total counter",
		"hourglass_request_duration_seconds histogram",
		"hourglass_request_bytes_total counter",
		"hourglass_response_bytes_total counter",
		"hourglass_connections gauge",
		"hourglass_connections_accepted_total counter",
		"hourglass_keepalive_closed_total counter",
		"hourglass_tls_handshakes_total counter",
		"hourglass_tls_handshake_failures_total counter",
		"hourglass_tunnels_total counter",
		"hourglass_retries_total counter",
		"hourglass_hedges_started_total counter",
		"hourglass_hedges_total counter",
		"hourglass_retries_skipped_total counter",
		"hourglass_upstream_up gauge",
		"hourglass_upstream_tries_total counter",
		"hourglass_upstream_failures_total counter",
		"hourglass_upstream_connections gauge",
		"hourglass_upstream_connect_duration_seconds histogram",
		"hourglass_upstream_header_duration_seconds histogram",
		"hourglass_timer_lateness_seconds histogram",
		"hourglass_loop_lag_seconds histogram",
		"hourglass_loop_lag_last_seconds gauge",
		"hourglass_config_generation gauge",
		"hourglass_reloads_total counter",
		"hourglass_reload_failures_total counter",
		"hourglass_workers gauge",
		"hourglass_requests_in_flight gauge",
		"hourglass_build_info gauge",
		"process_cpu_seconds_total counter",
		"process_resident_memory_bytes gauge",
		"process_virtual_memory_bytes gauge",
		"process_open_fds gauge",
		"process_max_fds gauge",
		"process_start_time_seconds gauge",
	};
	struct metrics_req r = { "/", "app", OUTCOME_OK, 200, 150, 50, 90, 80,
	    300 };
	struct metrics_snapshot *s = metrics_snapshot_new();
	struct metrics *m = metrics_new();
	struct metrics_process mp;
	const char *l, *nl;
	char *text, line[256];
	size_t n = 0;
	struct prom p;

	ck_assert(s && m);
	metrics_request(m, &r);
	ck_assert_int_eq(metrics_snapshot_add(s, m), 0);
	ck_assert_int_eq(metrics_snapshot_server(s, "app", "127.0.0.1:1",
	    true, 1, 0, 0, 1), 0);
	metrics_process_read(&mp);
	ck_assert_int_eq(metrics_snapshot_process(s, "0.1.0", &mp), 0);
	text = render_checked(s, &p);
	for (l = text; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
		if (strncmp(l, "# TYPE ", 7) != 0)
			continue;
		ck_assert_uint_lt(n, sizeof want / sizeof want[0]);
		snprintf(line, sizeof line, "%.*s", (int)(nl - l - 7), l + 7);
		ck_assert_str_eq(line, want[n]);
		n++;
	}
	ck_assert_uint_eq(n, sizeof want / sizeof want[0]);
	prom_free(&p);
	free(text);
	metrics_free(m);
	metrics_snapshot_free(s);
}
END_TEST

/* The strict parser itself refuses what the format forbids. */
START_TEST(test_parser_refuses)
{
#define G	"# HELP hourglass_x x\n# TYPE hourglass_x gauge\n"
#define H	"# HELP hourglass_h x\n# TYPE hourglass_h histogram\n"
	static const char *const bad[] = {
		"hourglass_x 1\n",
		G "hourglass_x 1",
		G "hourglass_y 1\n",
		"# HELP hourglass_x x\n# TYPE hourglass_x counter\n"
		    "hourglass_x 1\n",
		G "hourglass_x{a=\"1\"} 1\nhourglass_x{a=\"1\"} 2\n",
		G "hourglass_x{a=\"\\q\"} 1\n",
		G "hourglass_x{__a=\"1\"} 1\n",
		G "hourglass_x{1a=\"1\"} 1\n",
		G "hourglass_x{a=\"1\",} 1\n",
		G "hourglass_x 1 2\n",
		G "hourglass_x one\n",
		G "\nhourglass_x 1\n",
		H "hourglass_h_bucket{le=\"1\"} 2\n"
		    "hourglass_h_bucket{le=\"+Inf\"} 1\n"
		    "hourglass_h_sum 1\nhourglass_h_count 1\n",
		H "hourglass_h_bucket{le=\"1\"} 1\n"
		    "hourglass_h_bucket{le=\"+Inf\"} 2\n"
		    "hourglass_h_sum 1\nhourglass_h_count 3\n",
		H "hourglass_h_bucket{le=\"1\"} 1\nhourglass_h_sum 1\n"
		    "hourglass_h_count 1\n",
		H "hourglass_h_bucket{le=\"2\"} 1\n"
		    "hourglass_h_bucket{le=\"1\"} 1\n"
		    "hourglass_h_bucket{le=\"+Inf\"} 1\n"
		    "hourglass_h_sum 1\nhourglass_h_count 1\n",
		G "hourglass_x 1\n" G,
	};
	static const char *const good[] = {
		G "hourglass_x 1\n",
		G "hourglass_x{a=\"\\\\ \\\" \\n\",b=\"\"} -1.5e3\n",
		H "hourglass_h_bucket{le=\"1\"} 1\n"
		    "hourglass_h_bucket{le=\"+Inf\"} 2\n"
		    "hourglass_h_sum 1.5\nhourglass_h_count 2\n" G
		    "hourglass_x NaN\n",
	};
#undef G
#undef H
	struct prom p;

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(!prom_parse(&p, bad[i], strlen(bad[i])),
		    "accepted: %s", bad[i]);
		prom_free(&p);
	}
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		ck_assert_msg(prom_parse(&p, good[i], strlen(good[i])),
		    "refused: %s: %s", good[i], p.err);
		prom_free(&p);
	}
}
END_TEST

/* The hot path's cost: routes, upstreams and outcomes seen before; the
 * best of five rounds, to see past a busy machine.  After the first
 * request of each route and upstream, the heap does not change. */
START_TEST(test_cost)
{
	static const char *const routes[] = { "/api/", "/static/", "/", NULL };
	static const char *const ups[] = { "api", "files", "api", NULL };
	static const enum outcome outcomes[] = {
		OUTCOME_OK, OUTCOME_OK, OUTCOME_OK,
		OUTCOME_TIMEOUT + SCOPE_UPSTREAM_HEADER, OUTCOME_ERROR_CONNECT,
	};
	static const int statuses[] = { 200, 404, 200, 504, 502 };
	struct metrics *m = metrics_new();
	struct metrics_req r = { NULL, NULL, OUTCOME_OK, 200, 1, 1, 1, 1, 1 };
	struct timespec t0, t1;
	const int n = 400000;
	double ns, best = 1e9;
	struct mallinfo2 before, after;
	uint64_t total = 0;
	char *text, series[128];
	struct prom p;

	ck_assert_ptr_nonnull(m);
	for (int i = 0; i < 4; i++) {
		r.route = routes[i];
		r.upstream = ups[i];
		metrics_request(m, &r);
	}
	before = mallinfo2();
	for (int round = 0; round < 5; round++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < n; i++) {
			r.route = routes[i & 3];
			r.upstream = ups[i & 3];
			r.outcome = outcomes[i % 5];
			r.status = statuses[i % 5];
			r.total_us = i & 0xffff;
			r.connect_us = (i & 3) == 0 ? 50 : -1;
			r.upstream_header_us = i % 5 < 3 ? i & 0xfff : -1;
			metrics_request(m, &r);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
		    (double)(t1.tv_nsec - t0.tv_nsec)) / n;
		if (ns < best)
			best = ns;
	}
	after = mallinfo2();
	ck_assert_uint_eq(after.uordblks, before.uordblks);
	ck_assert_uint_eq(after.hblkhd, before.hblkhd);
	fprintf(stderr, "metrics_request: %.1f ns/call\n", best);
	/* Generous, for sanitizers and busy machines: a regression guard. */
	ck_assert_double_lt(best, 1000);
	text = render_one(m, &p);
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < OUTCOME_KIND_COUNT; k++) {
			double v;

			snprintf(series, sizeof series,
			    "hourglass_request_duration_seconds_count"
			    "{kind=\"%s\",route=\"%s\"}",
			    outcome_kind_name((enum outcome_kind)k),
			    routes[i] != NULL ? routes[i] : "-");
			if ((v = prom_get(&p, series)) > 0)
				total += (uint64_t)v;
		}
	}
	ck_assert_uint_eq(total, 5 * n + 4);
	prom_free(&p);
	free(text);
	metrics_free(m);
}
END_TEST

/* --- metricsd --- */

/* What a test's collect function does with the reply. */
enum collect_mode {
	COLLECT_NOW,		/* reply from inside collect */
	COLLECT_LATER,		/* reply after 50 ms */
	COLLECT_FAIL,		/* fail with 503 at once */
	COLLECT_KEEP,		/* keep the reply for the test */
};

struct fixture {
	struct event_base *base;
	struct metricsd	*d;
	enum collect_mode mode;
	int		 calls;
	struct metricsd_reply *kept;
	struct event	*later;
	struct event	*stop;
	int		 cfd;		/* the client */
	struct event	*cev;
	char		 resp[65536];
	size_t		 resplen;
	bool		 closed;	/* the server closed */
	int		 fds;		/* open descriptors before the test */
};

static const char body_text[] = "# HELP hourglass_x x\n"
	"# TYPE hourglass_x gauge\nhourglass_x 1\n";

/* The 50 ms timer of COLLECT_LATER: answer now. */
static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	struct metricsd_reply *r = f->kept;

	(void)fd;
	(void)what;
	f->kept = NULL;
	metricsd_reply_done(r, body_text, sizeof body_text - 1);
}

/* The collect function under test. */
static void
collect(void *arg, struct metricsd_reply *r)
{
	struct fixture *f = arg;
	struct timeval tv = { 0, 50000 };

	f->calls++;
	switch (f->mode) {
	case COLLECT_NOW:
		metricsd_reply_done(r, body_text, sizeof body_text - 1);
		break;
	case COLLECT_LATER:
		f->kept = r;
		f->later = evtimer_new(f->base, later_cb, f);
		evtimer_add(f->later, &tv);
		break;
	case COLLECT_FAIL:
		metricsd_reply_fail(r, 503);
		break;
	case COLLECT_KEEP:
		f->kept = r;
		event_base_loopbreak(f->base);
		break;
	}
}

/* The client's socket is readable: keep the bytes, stop at EOF. */
static void
client_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	ssize_t n;

	(void)what;
	n = recv(fd, f->resp + f->resplen, sizeof f->resp - 1 - f->resplen, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		f->closed = true;
		event_del(f->cev);
		event_base_loopbreak(f->base);
		return;
	}
	f->resplen += (size_t)n;
	f->resp[f->resplen] = '\0';
}

/* The test's time limit for one loop run. */
static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(f->base);
}

/* How many descriptors the process has open. */
static int
fd_count(void)
{
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(dir);
	while (readdir(dir) != NULL)
		n++;
	closedir(dir);
	return n;
}

/* A base and a listener on 127.0.0.1, any port. */
static void
fixture_init(struct fixture *f, enum collect_mode mode)
{
	struct config_addr a = { .host = (char *)"127.0.0.1", .port = 0,
	    .text = (char *)"127.0.0.1:0" };
	char err[256];

	memset(f, 0, sizeof *f);
	f->fds = fd_count();
	f->mode = mode;
	f->cfd = -1;
	f->base = event_base_new();
	ck_assert_ptr_nonnull(f->base);
	f->d = metricsd_new(f->base, &a, collect, f, err, sizeof err);
	ck_assert_msg(f->d != NULL, "%s", err);
	ck_assert_int_gt(metricsd_port(f->d), 0);
	f->stop = evtimer_new(f->base, stop_cb, f);
}

/* Connect the client and send req (NULL: nothing). */
static void
fixture_connect(struct fixture *f, const char *req)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)metricsd_port(f->d));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->cfd, 0);
	ck_assert_int_eq(connect(f->cfd, (struct sockaddr *)&sin, sizeof sin),
	    0);
	if (req != NULL)
		ck_assert_int_eq(send(f->cfd, req, strlen(req), 0),
		    (ssize_t)strlen(req));
	fcntl(f->cfd, F_SETFL, fcntl(f->cfd, F_GETFL) | O_NONBLOCK);
	f->cev = event_new(f->base, f->cfd, EV_READ | EV_PERSIST, client_cb, f);
	event_add(f->cev, NULL);
}

/* Run the loop until the loop is broken or ms pass. */
static void
fixture_run(struct fixture *f, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(f->stop, &tv);
	event_base_dispatch(f->base);
	evtimer_del(f->stop);
}

/* Free everything the fixture holds (the listener unless freed), and
 * check that no descriptor is left open. */
static void
fixture_free(struct fixture *f)
{
	metricsd_free(f->d);
	if (f->cev != NULL)
		event_free(f->cev);
	if (f->later != NULL)
		event_free(f->later);
	event_free(f->stop);
	if (f->cfd >= 0)
		close(f->cfd);
	event_base_free(f->base);
	ck_assert_int_eq(fd_count(), f->fds);
}

/* One request, one response, then the server's close. */
static void
exchange(struct fixture *f, const char *req)
{
	fixture_connect(f, req);
	fixture_run(f, 5000);
	ck_assert_msg(f->closed, "no close; got: %s", f->resp);
}

/* GET /metrics answered from inside collect. */
START_TEST(test_d_now)
{
	struct fixture f;
	char want[512];

	fixture_init(&f, COLLECT_NOW);
	exchange(&f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	snprintf(want, sizeof want, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	    sizeof body_text - 1, body_text);
	ck_assert_str_eq(f.resp, want);
	ck_assert_int_eq(f.calls, 1);
	fixture_free(&f);
}
END_TEST

/* GET /metrics answered 50 ms later, from a timer. */
START_TEST(test_d_later)
{
	struct fixture f;

	fixture_init(&f, COLLECT_LATER);
	exchange(&f, "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_msg(strncmp(f.resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s",
	    f.resp);
	ck_assert(ends_with(f.resp, body_text));
	ck_assert_int_eq(f.calls, 1);
	fixture_free(&f);
}
END_TEST

/* HEAD gets the head and the length, no body; a failure gets its status. */
START_TEST(test_d_head_fail)
{
	struct fixture f;
	char want[512];

	fixture_init(&f, COLLECT_NOW);
	exchange(&f, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	snprintf(want, sizeof want, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	    sizeof body_text - 1);
	ck_assert_str_eq(f.resp, want);
	fixture_free(&f);

	fixture_init(&f, COLLECT_FAIL);
	exchange(&f, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert_msg(strncmp(f.resp, "HTTP/1.1 503 ", 13) == 0, "%s", f.resp);
	ck_assert(ends_with(f.resp, "\r\n\r\n503 Service Unavailable\n"));
	fixture_free(&f);
}
END_TEST

/* Other paths, methods and malformed requests never reach collect. */
START_TEST(test_d_errors)
{
	static const struct {
		const char	*req;
		const char	*status;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 " },
		{ "GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n",
		    "HTTP/1.1 404 " },
		{ "GET /metric HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 " },
		{ "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		    "\r\nabc", "HTTP/1.1 405 " },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 400 " },
		{ "garbage\r\n\r\n", "HTTP/1.1 400 " },
	};
	struct fixture f;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fixture_init(&f, COLLECT_NOW);
		exchange(&f, cases[i].req);
		ck_assert_msg(strncmp(f.resp, cases[i].status,
		    strlen(cases[i].status)) == 0, "%s -> %s", cases[i].req,
		    f.resp);
		ck_assert(strstr(f.resp, "\r\nConnection: close\r\n") != NULL);
		ck_assert_int_eq(f.calls, 0);
		if (strstr(cases[i].status, "405") != NULL)
			ck_assert(strstr(f.resp, "\r\nAllow: GET, HEAD\r\n"));
		fixture_free(&f);
	}
}
END_TEST

/* A request head too long for the buffer: 431. */
START_TEST(test_d_too_long)
{
	struct fixture f;
	char *req = malloc(20000);

	ck_assert_ptr_nonnull(req);
	strcpy(req, "GET /metrics HTTP/1.1\r\nX: ");
	memset(req + strlen(req), 'a', 12000);
	strcpy(req + 26 + 12000, "\r\n\r\n");
	fixture_init(&f, COLLECT_NOW);
	exchange(&f, req);
	ck_assert_msg(strncmp(f.resp, "HTTP/1.1 431 ", 13) == 0, "%s", f.resp);
	fixture_free(&f);
	free(req);
}
END_TEST

/* The client goes away first: the reply stays valid, then is freed. */
START_TEST(test_d_client_gone)
{
	struct fixture f;

	fixture_init(&f, COLLECT_KEEP);
	fixture_connect(&f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	fixture_run(&f, 5000);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_ptr_nonnull(f.kept);
	event_free(f.cev);
	f.cev = NULL;
	close(f.cfd);
	f.cfd = -1;
	fixture_run(&f, 100);		/* metricsd sees the EOF */
	ck_assert_uint_eq(metricsd_nconns(f.d), 0);
	metricsd_reply_done(f.kept, body_text, sizeof body_text - 1);
	f.kept = NULL;
	fixture_free(&f);
}
END_TEST

/* metricsd_free() with a reply outstanding orphans it. */
START_TEST(test_d_free_outstanding)
{
	struct fixture f;

	fixture_init(&f, COLLECT_KEEP);
	fixture_connect(&f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	fixture_run(&f, 5000);
	ck_assert_ptr_nonnull(f.kept);
	metricsd_free(f.d);
	f.d = NULL;
	metricsd_reply_fail(f.kept, 503);
	f.kept = NULL;
	fixture_run(&f, 5000);		/* the client sees the close */
	ck_assert(f.closed);
	ck_assert_uint_eq(f.resplen, 0);
	fixture_free(&f);
}
END_TEST

/* A connection that sends nothing is closed, silently, after 5 s. */
START_TEST(test_d_read_deadline)
{
	struct fixture f;
	struct timespec t0, t1;
	double s;

	fixture_init(&f, COLLECT_NOW);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fixture_connect(&f, NULL);
	fixture_run(&f, 8000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert(f.closed);
	ck_assert_uint_eq(f.resplen, 0);
	ck_assert_msg(s >= 4.9 && s < 6.5, "closed after %.2f s", s);
	fixture_free(&f);
}
END_TEST

/* A partial head at the read deadline gets 408. */
START_TEST(test_d_partial_408)
{
	struct fixture f;

	fixture_init(&f, COLLECT_NOW);
	fixture_connect(&f, "GET /metrics HTTP/1.1\r\n");
	fixture_run(&f, 8000);
	ck_assert(f.closed);
	ck_assert_msg(strncmp(f.resp, "HTTP/1.1 408 ", 13) == 0, "%s", f.resp);
	fixture_free(&f);
}
END_TEST

/* The listen address must be numeric. */
START_TEST(test_d_bad_addr)
{
	struct config_addr a = { .host = (char *)"localhost", .port = 0,
	    .text = (char *)"localhost:0" };
	struct event_base *b = event_base_new();
	char err[256];

	ck_assert_ptr_null(metricsd_new(b, &a, collect, NULL, err,
	    sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "not a numeric address"));
	a.host = (char *)"::1";
	a.text = (char *)"[::1]:0";
	{
		struct metricsd *d = metricsd_new(b, &a, collect, NULL, err,
		    sizeof err);

		/* Where IPv6 is available, [::1] binds. */
		if (d != NULL)
			ck_assert_int_gt(metricsd_port(d), 0);
		metricsd_free(d);
	}
	event_base_free(b);
}
END_TEST

/* The suite. */
static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	TCase *td = tcase_create("metricsd");

	tcase_add_test(tc, test_outcomes);
	tcase_add_test(tc, test_codes);
	tcase_add_test(tc, test_zero_series);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_route_cache);
	tcase_add_test(tc, test_route_cap);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_upstream_times);
	tcase_add_test(tc, test_upstream_cap);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_server_keys);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_process);
	tcase_add_test(tc, test_families);
	tcase_add_test(tc, test_parser_refuses);
	tcase_add_test(tc, test_cost);
	suite_add_tcase(s, tc);

	tcase_set_timeout(td, 30);
	tcase_add_test(td, test_d_now);
	tcase_add_test(td, test_d_later);
	tcase_add_test(td, test_d_head_fail);
	tcase_add_test(td, test_d_errors);
	tcase_add_test(td, test_d_too_long);
	tcase_add_test(td, test_d_client_gone);
	tcase_add_test(td, test_d_free_outstanding);
	tcase_add_test(td, test_d_read_deadline);
	tcase_add_test(td, test_d_partial_408);
	tcase_add_test(td, test_d_bad_addr);
	suite_add_tcase(s, td);
	return s;
}

/* Run the suite; the exit status is the verdict. */
int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
