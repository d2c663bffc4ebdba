/*
 * metrics_text.c: a snapshot rendered in the Prometheus text exposition
 * format 0.0.4, families in a fixed order and series sorted by label.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "metrics_int.h"

/* Room for seconds written from microseconds: digits, '.', 6 digits. */
#define METRICS_SECONDS_MAX	(FMT_U64_MAX + 7)

/* The text being rendered; an allocation failure sticks. */
struct metrics_text {
	char		*tx_buf;
	size_t		 tx_len;
	size_t		 tx_cap;
	bool		 tx_err;
};

/* Make room for n more bytes and a NUL; false once memory ran out. */
static bool
metrics_text_room(struct metrics_text *o, size_t n)
{
	size_t cap;
	char *buf;

	if (o->tx_err)
		return false;
	if (o->tx_len + n + 1 <= o->tx_cap)
		return true;
	for (cap = o->tx_cap != 0 ? o->tx_cap : 4096; cap < o->tx_len + n + 1;)
		cap *= 2;
	if ((buf = realloc(o->tx_buf, cap)) == NULL) {
		o->tx_err = true;
		return false;
	}
	o->tx_buf = buf;
	o->tx_cap = cap;
	return true;
}

/* Append n bytes. */
static void
metrics_text_put(struct metrics_text *o, const char *s, size_t n)
{
	if (!metrics_text_room(o, n))
		return;
	memcpy(o->tx_buf + o->tx_len, s, n);
	o->tx_len += n;
	o->tx_buf[o->tx_len] = '\0';
}

/* Append a NUL-terminated string. */
static void
metrics_text_str(struct metrics_text *o, const char *s)
{
	metrics_text_put(o, s, strlen(s));
}

/* Append an unsigned integer in decimal. */
static void
metrics_text_u64(struct metrics_text *o, uint64_t v)
{
	char tmp[FMT_U64_MAX];

	metrics_text_put(o, tmp, (size_t)(fmt_u64(tmp, v) - tmp));
}

/*
 * Write microseconds as exact decimal seconds into out (room for
 * METRICS_SECONDS_MAX bytes), 2500 as "0.0025"; the length.
 */
static size_t
metrics_seconds(char *out, uint64_t us)
{
	char *p = fmt_u64(out, us / 1000000);
	size_t n = 6;

	if (us % 1000000 == 0)
		return (size_t)(p - out);
	p[0] = '.';
	fmt_u32_pad(p + 1, (uint32_t)(us % 1000000), 6);
	while (p[n] == '0')
		n--;
	return (size_t)(p + n + 1 - out);
}

/* Append microseconds as exact decimal seconds. */
static void
metrics_text_seconds(struct metrics_text *o, uint64_t us)
{
	char tmp[METRICS_SECONDS_MAX];

	metrics_text_put(o, tmp, metrics_seconds(tmp, us));
}

/*
 * Append a label value, escaped: backslash, double quote and newline get a
 * backslash, and a byte that is not valid UTF-8 (the format requires it)
 * becomes "?".
 */
static void
metrics_text_value(struct metrics_text *o, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run, len;

	while (i < n) {
		for (run = i; run < n; run += len) {
			if (u[run] == '\\' || u[run] == '"' || u[run] == '\n' ||
			    (len = fmt_utf8_len(u + run, n - run)) == 0)
				break;
		}
		metrics_text_put(o, s + i, run - i);
		if (run == n)
			break;
		if (u[run] == '\\')
			metrics_text_put(o, "\\\\", 2);
		else if (u[run] == '"')
			metrics_text_put(o, "\\\"", 2);
		else if (u[run] == '\n')
			metrics_text_put(o, "\\n", 2);
		else
			metrics_text_put(o, "?", 1);
		i = run + 1;
	}
}

/* Append one label, name="value", after a comma unless it is the first. */
static void
metrics_text_label(struct metrics_text *o, bool first, const char *name,
    const char *value, size_t len)
{
	if (!first)
		metrics_text_put(o, ",", 1);
	metrics_text_str(o, name);
	metrics_text_put(o, "=\"", 2);
	metrics_text_value(o, value, len);
	metrics_text_put(o, "\"", 1);
}

/* Append the HELP and TYPE lines of a family. */
static void
metrics_text_family(struct metrics_text *o, const char *name, const char *type,
    const char *help)
{
	metrics_text_str(o, "# HELP ");
	metrics_text_str(o, name);
	metrics_text_put(o, " ", 1);
	metrics_text_str(o, help);
	metrics_text_str(o, "\n# TYPE ");
	metrics_text_str(o, name);
	metrics_text_put(o, " ", 1);
	metrics_text_str(o, type);
	metrics_text_put(o, "\n", 1);
}

/* Append a whole family of one sample without labels. */
static void
metrics_text_single(struct metrics_text *o, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_text_family(o, name, type, help);
	metrics_text_str(o, name);
	metrics_text_put(o, " ", 1);
	metrics_text_u64(o, v);
	metrics_text_put(o, "\n", 1);
}

/* A label of a series: its name and value (len bytes). */
struct metrics_label {
	const char	*ml_name;
	const char	*ml_value;
	size_t		 ml_len;
};

/* Append a series' name and labels, then a last label when lname is set. */
static void
metrics_text_series(struct metrics_text *o, const char *name,
    const char *suffix, const struct metrics_label *l, int nl,
    const char *lname, const char *lvalue)
{
	metrics_text_str(o, name);
	metrics_text_str(o, suffix);
	if (nl == 0 && lname == NULL)
		return;
	metrics_text_put(o, "{", 1);
	for (int i = 0; i < nl; i++)
		metrics_text_label(o, i == 0, l[i].ml_name, l[i].ml_value,
		    l[i].ml_len);
	if (lname != NULL)
		metrics_text_label(o, nl == 0, lname, lvalue, strlen(lvalue));
	metrics_text_put(o, "}", 1);
}

/*
 * Append the series of one histogram with labels l, in seconds, from a
 * histogram of microseconds and its bounds.  The count is the sum of the
 * buckets, so that it always equals the +Inf bucket.
 */
static void
metrics_text_hist(struct metrics_text *o, const char *name,
    const struct metrics_label *l, int nl, const struct hist *h,
    const struct hist_bounds *b)
{
	char le[METRICS_SECONDS_MAX + 1];
	uint64_t cum = 0;

	for (unsigned i = 0; i <= b->hb_n; i++) {
		cum += h->h_bucket[i];
		if (i < b->hb_n)
			le[metrics_seconds(le, b->hb_us[i])] = '\0';
		else
			strcpy(le, "+Inf");
		metrics_text_series(o, name, "_bucket", l, nl, "le", le);
		metrics_text_put(o, " ", 1);
		metrics_text_u64(o, cum);
		metrics_text_put(o, "\n", 1);
	}
	metrics_text_series(o, name, "_sum", l, nl, NULL, NULL);
	metrics_text_put(o, " ", 1);
	metrics_text_seconds(o, h->h_sum_us);
	metrics_text_put(o, "\n", 1);
	metrics_text_series(o, name, "_count", l, nl, NULL, NULL);
	metrics_text_put(o, " ", 1);
	metrics_text_u64(o, cum);
	metrics_text_put(o, "\n", 1);
}

/* Append a histogram family without labels. */
static void
metrics_text_histogram(struct metrics_text *o, const char *name,
    const char *help, const struct hist *h, const struct hist_bounds *b)
{
	metrics_text_family(o, name, "histogram", help);
	metrics_text_hist(o, name, NULL, 0, h, b);
}

/* The route row i in key order. */
static const struct metrics_row *
metrics_text_row(const struct metrics_table *t, const size_t *order, size_t i)
{
	return (const struct metrics_row *)(void *)metrics_table_key(t,
	    order[i]);
}

/*
 * Append the requests counter family, by route, outcome and code: every
 * outcome that can end a request under its zero code, and every code
 * counted.
 */
static void
metrics_text_requests(struct metrics_text *o, const struct metrics_table *t,
    const size_t *order)
{
	const struct metrics_row *row;
	const char *name;
	int zero;

	if (t->mt_n == 0)
		return;
	metrics_text_family(o, "hourglass_requests_total", "counter",
	    "Finished requests by route prefix (- for none), outcome and "
	    "status class (code: of the status logged, 499 for abort:client).");
	for (size_t i = 0; i < t->mt_n; i++) {
		row = metrics_text_row(t, order, i);
		for (int oc = 0; oc < OUTCOME_COUNT; oc++) {
			zero = metrics_zero_code((enum outcome)oc);
			name = outcome_name((enum outcome)oc);
			for (int c = 0; c < METRICS_CODES; c++) {
				if (row->mr_count[oc][c] == 0 && c != zero)
					continue;
				metrics_text_str(o,
				    "hourglass_requests_total{");
				metrics_text_label(o, true, "route",
				    row->mr_key.mk_str, row->mr_key.mk_len);
				metrics_text_label(o, false, "outcome", name,
				    strlen(name));
				metrics_text_label(o, false, "code",
				    metrics_code_name((unsigned)c),
				    strlen(metrics_code_name((unsigned)c)));
				metrics_text_str(o, "} ");
				metrics_text_u64(o, row->mr_count[oc][c]);
				metrics_text_put(o, "\n", 1);
			}
		}
	}
}

/* Append the duration histograms by route and outcome kind, those with
 * samples. */
static void
metrics_text_durations(struct metrics_text *o, const struct metrics_table *t,
    const size_t *order)
{
	static const char name[] = "hourglass_request_duration_seconds";
	struct metrics_label l[2];
	const struct metrics_row *row;
	bool first = true;

	for (size_t i = 0; i < t->mt_n; i++) {
		row = metrics_text_row(t, order, i);
		for (int k = 0; k < OUTCOME_KIND_COUNT; k++) {
			if (hist_count(&row->mr_dur[k]) == 0)
				continue;
			if (first)
				metrics_text_family(o, name, "histogram",
				    "Time from a request's first byte to its "
				    "end, by route prefix and outcome kind.");
			first = false;
			l[0] = (struct metrics_label){ "route",
			    row->mr_key.mk_str, row->mr_key.mk_len };
			l[1] = (struct metrics_label){ "kind",
			    outcome_kind_name((enum outcome_kind)k),
			    strlen(outcome_kind_name((enum outcome_kind)k)) };
			metrics_text_hist(o, name, l, 2, &row->mr_dur[k],
			    &metrics_dur_bounds);
		}
	}
}

/* Append one of the bytes counter families by route. */
static void
metrics_text_bytes(struct metrics_text *o, const struct metrics_table *t,
    const size_t *order, bool in)
{
	const char *name = in ? "hourglass_request_bytes_total" :
	    "hourglass_response_bytes_total";
	const struct metrics_row *row;
	struct metrics_label l;

	if (t->mt_n == 0)
		return;
	metrics_text_family(o, name, "counter", in ?
	    "Bytes read from clients (request heads and bodies), by route "
	    "prefix, counted when the request ends." :
	    "Bytes written to clients (response heads and bodies), by route "
	    "prefix, counted when the request ends.");
	for (size_t i = 0; i < t->mt_n; i++) {
		row = metrics_text_row(t, order, i);
		l = (struct metrics_label){ "route", row->mr_key.mk_str,
		    row->mr_key.mk_len };
		metrics_text_series(o, name, "", &l, 1, NULL, NULL);
		metrics_text_put(o, " ", 1);
		metrics_text_u64(o, in ? row->mr_bytes_in : row->mr_bytes_out);
		metrics_text_put(o, "\n", 1);
	}
}

/* Append one of the upstream time histogram families, by upstream. */
static void
metrics_text_upstream_times(struct metrics_text *o,
    const struct metrics_table *t, const size_t *order, bool connect)
{
	const char *name = connect ?
	    "hourglass_upstream_connect_duration_seconds" :
	    "hourglass_upstream_header_duration_seconds";
	const struct metrics_upstream *up;
	struct metrics_label l;

	if (t->mt_n == 0)
		return;
	metrics_text_family(o, name, "histogram", connect ?
	    "Time to connect to a server of the upstream group, for the "
	    "connects that completed (a pooled connection has none)." :
	    "Time from the request sent whole upstream to the response head, "
	    "for the heads that came, by upstream group.");
	for (size_t i = 0; i < t->mt_n; i++) {
		up = (const struct metrics_upstream *)(void *)
		    metrics_table_key(t, order[i]);
		l = (struct metrics_label){ "upstream", up->mu_key.mk_str,
		    up->mu_key.mk_len };
		metrics_text_hist(o, name, &l, 1, connect ? &up->mu_connect :
		    &up->mu_header, &metrics_dur_bounds);
	}
}

/* What one server family shows. */
enum metrics_server_field {
	MSF_UP,
	MSF_TRIES,
	MSF_FAILURES,
	MSF_CONNECTIONS,
};

/* Append one sample of a server family, with state="..." when given. */
static void
metrics_text_server_sample(struct metrics_text *o, const char *name,
    const struct metrics_server *sv, const char *state, uint64_t v)
{
	const char *key = sv->ms_key.mk_str;

	metrics_text_str(o, name);
	metrics_text_put(o, "{", 1);
	metrics_text_label(o, true, "upstream", key, sv->ms_upstream_len);
	metrics_text_label(o, false, "server", key + sv->ms_upstream_len + 1,
	    sv->ms_key.mk_len - sv->ms_upstream_len - 1);
	if (state != NULL)
		metrics_text_label(o, false, "state", state, strlen(state));
	metrics_text_str(o, "} ");
	metrics_text_u64(o, v);
	metrics_text_put(o, "\n", 1);
}

/* Append one server family, every server in key order. */
static void
metrics_text_servers(struct metrics_text *o, const struct metrics_table *t,
    const size_t *order, enum metrics_server_field f, const char *name,
    const char *type, const char *help)
{
	const struct metrics_server *sv;

	if (t->mt_n == 0)
		return;
	metrics_text_family(o, name, type, help);
	for (size_t i = 0; i < t->mt_n; i++) {
		sv = (const struct metrics_server *)(void *)
		    metrics_table_key(t, order[i]);
		switch (f) {
		case MSF_UP:
			metrics_text_server_sample(o, name, sv, NULL,
			    !sv->ms_down);
			break;
		case MSF_TRIES:
			metrics_text_server_sample(o, name, sv, NULL,
			    sv->ms_tries);
			break;
		case MSF_FAILURES:
			metrics_text_server_sample(o, name, sv, NULL,
			    sv->ms_failures);
			break;
		case MSF_CONNECTIONS:
			metrics_text_server_sample(o, name, sv, "active",
			    sv->ms_active);
			metrics_text_server_sample(o, name, sv, "idle",
			    sv->ms_idle);
			break;
		}
	}
}

/* Append a family of one sample in seconds, from microseconds. */
static void
metrics_text_single_seconds(struct metrics_text *o, const char *name,
    const char *type, const char *help, uint64_t us)
{
	metrics_text_family(o, name, type, help);
	metrics_text_str(o, name);
	metrics_text_put(o, " ", 1);
	metrics_text_seconds(o, us);
	metrics_text_put(o, "\n", 1);
}

/* Append the build's version and the standard process_* families, those
 * whose value could be read. */
static void
metrics_text_process(struct metrics_text *o, const struct metrics_snapshot *s)
{
	const struct metrics_process *p = &s->ms_process;

	if (s->ms_version != NULL) {
		metrics_text_family(o, "hourglass_build_info", "gauge",
		    "Always 1, with the version of hourglass in a label.");
		metrics_text_str(o, "hourglass_build_info{");
		metrics_text_label(o, true, "version", s->ms_version,
		    strlen(s->ms_version));
		metrics_text_str(o, "} 1\n");
	}
	if (p->cpu_us >= 0)
		metrics_text_single_seconds(o, "process_cpu_seconds_total",
		    "counter", "Total user and system CPU time spent in "
		    "seconds.", (uint64_t)p->cpu_us);
	if (p->resident_bytes >= 0)
		metrics_text_single(o, "process_resident_memory_bytes",
		    "gauge", "Resident memory size in bytes.",
		    (uint64_t)p->resident_bytes);
	if (p->virtual_bytes >= 0)
		metrics_text_single(o, "process_virtual_memory_bytes",
		    "gauge", "Virtual memory size in bytes.",
		    (uint64_t)p->virtual_bytes);
	if (p->open_fds >= 0)
		metrics_text_single(o, "process_open_fds", "gauge",
		    "Number of open file descriptors.",
		    (uint64_t)p->open_fds);
	if (p->max_fds >= 0)
		metrics_text_single(o, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.",
		    (uint64_t)p->max_fds);
	if (p->start_us >= 0)
		metrics_text_single_seconds(o, "process_start_time_seconds",
		    "gauge", "Start time of the process since unix epoch in "
		    "seconds.", (uint64_t)p->start_us);
}

/* The sorted orders of a snapshot's tables (NULL for an empty one). */
struct metrics_order {
	size_t		*mo_rows;
	size_t		*mo_upstreams;
	size_t		*mo_servers;
};

/*
 * Tunnels ended, by outcome: the ways a tunnel can end always, as zero
 * series, and any other outcome that was counted.
 */
static void
metrics_text_tunnels(struct metrics_text *o, const struct metrics_counts *c)
{
	static const enum outcome always[] = {
		OUTCOME_OK,
		OUTCOME_TIMEOUT + SCOPE_TUNNEL_IDLE,
		OUTCOME_TIMEOUT + SCOPE_TUNNEL_MAX,
		OUTCOME_TIMEOUT + SCOPE_DRAIN,
		OUTCOME_ABORT_CLIENT,
		OUTCOME_ERROR_UPSTREAM_RESET,
		OUTCOME_ERROR_UPSTREAM_CLOSED,
	};
	bool shown[OUTCOME_COUNT] = { false };
	const char *name;

	metrics_text_family(o, "hourglass_tunnels_total", "counter",
	    "Tunnels (after a 101) that ended, by outcome; the open ones are "
	    "hourglass_connections{state=\"tunnel\"}.");
	for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
		shown[always[i]] = true;
	for (int i = 0; i < OUTCOME_COUNT; i++) {
		if (!shown[i] && c->mc_tunnels[i] == 0)
			continue;
		name = outcome_name((enum outcome)i);
		metrics_text_str(o, "hourglass_tunnels_total{");
		metrics_text_label(o, true, "outcome", name, strlen(name));
		metrics_text_str(o, "} ");
		metrics_text_u64(o, c->mc_tunnels[i]);
		metrics_text_put(o, "\n", 1);
	}
}

/* A family of counters with one label over a closed set of values. */
static void
metrics_text_enum(struct metrics_text *o, const char *family,
    const char *help, const char *label, const char *const *names,
    const uint64_t *v, int n)
{
	metrics_text_family(o, family, "counter", help);
	for (int i = 0; i < n; i++) {
		metrics_text_str(o, family);
		metrics_text_str(o, "{");
		metrics_text_label(o, true, label, names[i], strlen(names[i]));
		metrics_text_str(o, "} ");
		metrics_text_u64(o, v[i]);
		metrics_text_put(o, "\n", 1);
	}
}

/* Retries and hedges by result, and those that did not start. */
static void
metrics_text_retries(struct metrics_text *o, const struct metrics_counts *c)
{
	static const char *const retry[METRICS_RETRY_RESULTS] = {
		[METRICS_RETRY_OK] = "ok",
		[METRICS_RETRY_FAILED] = "failed",
	};
	static const char *const hedge[METRICS_HEDGE_RESULTS] = {
		[METRICS_HEDGE_WON] = "won",
		[METRICS_HEDGE_LOST] = "lost",
		[METRICS_HEDGE_FAILED] = "failed",
	};
	static const char *const skip[METRICS_SKIPS] = {
		[METRICS_SKIP_BUDGET] = "budget",
		[METRICS_SKIP_HEDGE_BUDGET] = "hedge_budget",
		[METRICS_SKIP_DEADLINE] = "deadline",
	};

	metrics_text_enum(o, "hourglass_retries_total", "Retries (tries after "
	    "a failed one) that ended, by result: ok (a response head) or "
	    "failed.", "result", retry, c->mc_retries, METRICS_RETRY_RESULTS);
	metrics_text_single(o, "hourglass_hedges_started_total", "counter",
	    "Hedges (tries racing a slow one) started.", c->mc_hedges_started);
	metrics_text_enum(o, "hourglass_hedges_total", "Hedges that ended, by "
	    "result: won (its head came first), lost (cancelled) or failed.",
	    "result", hedge, c->mc_hedges, METRICS_HEDGE_RESULTS);
	metrics_text_enum(o, "hourglass_retries_skipped_total", "Retries and "
	    "hedges not started: past the retry budget (budget, hedge_budget) "
	    "or too little time left (deadline).", "reason", skip,
	    c->mc_skipped, METRICS_SKIPS);
}

/* Append every family. */
static void
metrics_text_all(struct metrics_text *o, const struct metrics_snapshot *s,
    const struct metrics_order *ord)
{
	const struct metrics_table *st = &s->ms_servers;
	const size_t *rows = ord->mo_rows, *servers = ord->mo_servers;

	metrics_text_requests(o, &s->ms_rows, rows);
	metrics_text_durations(o, &s->ms_rows, rows);
	metrics_text_bytes(o, &s->ms_rows, rows, true);
	metrics_text_bytes(o, &s->ms_rows, rows, false);
	metrics_text_family(o, "hourglass_connections", "gauge",
	    "Open client connections by state.");
	for (int i = 0; i < METRICS_CONN_STATES; i++) {
		const char *name = metrics_conn_state_name(i);

		metrics_text_str(o, "hourglass_connections{");
		metrics_text_label(o, true, "state", name, strlen(name));
		metrics_text_str(o, "} ");
		metrics_text_u64(o, s->ms_conns[i]);
		metrics_text_put(o, "\n", 1);
	}
	metrics_text_single(o, "hourglass_connections_accepted_total",
	    "counter", "Client connections accepted.",
	    s->ms_counts.mc_accepted);
	metrics_text_single(o, "hourglass_keepalive_closed_total", "counter",
	    "Client connections closed by the keepalive timeout.",
	    s->ms_counts.mc_keepalive_closed);
	metrics_text_single(o, "hourglass_tls_handshakes_total", "counter",
	    "TLS handshakes of client connections that completed.",
	    s->ms_counts.mc_tls_handshakes);
	metrics_text_family(o, "hourglass_tls_handshake_failures_total",
	    "counter", "TLS handshakes of client connections that failed, "
	    "by reason.");
	for (int i = 0; i < TLS_FAIL_COUNT; i++) {
		const char *name = tls_fail_name((enum tls_fail)i);

		metrics_text_str(o, "hourglass_tls_handshake_failures_total{");
		metrics_text_label(o, true, "reason", name, strlen(name));
		metrics_text_str(o, "} ");
		metrics_text_u64(o, s->ms_counts.mc_tls_failures[i]);
		metrics_text_put(o, "\n", 1);
	}
	metrics_text_tunnels(o, &s->ms_counts);
	metrics_text_retries(o, &s->ms_counts);
	metrics_text_servers(o, st, servers, MSF_UP, "hourglass_upstream_up",
	    "gauge", "Whether the server is up (0 if any worker has it down).");
	metrics_text_servers(o, st, servers, MSF_TRIES,
	    "hourglass_upstream_tries_total", "counter",
	    "Attempts sent to the server.");
	metrics_text_servers(o, st, servers, MSF_FAILURES,
	    "hourglass_upstream_failures_total", "counter",
	    "Attempts to the server that failed.");
	metrics_text_servers(o, st, servers, MSF_CONNECTIONS,
	    "hourglass_upstream_connections", "gauge",
	    "Upstream connections by state: active (in use) or idle (pooled).");
	metrics_text_upstream_times(o, &s->ms_upstreams, ord->mo_upstreams,
	    true);
	metrics_text_upstream_times(o, &s->ms_upstreams, ord->mo_upstreams,
	    false);
	metrics_text_histogram(o, "hourglass_timer_lateness_seconds",
	    "How late deadline timers fired past their deadline.",
	    &s->ms_deadline.ds_late, &deadline_stats_bounds);
	metrics_text_histogram(o, "hourglass_loop_lag_seconds",
	    "How late the event loop ran the lag probe.",
	    &s->ms_deadline.ds_lag, &deadline_stats_bounds);
	metrics_text_family(o, "hourglass_loop_lag_last_seconds", "gauge",
	    "The latest loop lag sample (the largest across workers).");
	metrics_text_str(o, "hourglass_loop_lag_last_seconds ");
	metrics_text_seconds(o, s->ms_deadline.ds_lag_last_us);
	metrics_text_put(o, "\n", 1);
	metrics_text_single(o, "hourglass_config_generation", "gauge",
	    "Generation of the configuration in force.", s->ms_generation);
	metrics_text_single(o, "hourglass_reloads_total", "counter",
	    "Configuration reloads done.", s->ms_reloads);
	metrics_text_single(o, "hourglass_reload_failures_total", "counter",
	    "Configuration reloads refused.", s->ms_reload_failures);
	metrics_text_single(o, "hourglass_workers", "gauge",
	    "Worker threads.", s->ms_workers);
	metrics_text_single(o, "hourglass_requests_in_flight", "gauge",
	    "Requests in flight.", s->ms_in_flight);
	metrics_text_process(o, s);
}

/* Render the snapshot in the Prometheus text format 0.0.4. */
int
metrics_render(const struct metrics_snapshot *s, char **text, size_t *len)
{
	struct metrics_text o = { NULL, 0, 0, false };
	struct metrics_order ord;

	ord.mo_rows = metrics_table_sorted(&s->ms_rows, &o.tx_err);
	ord.mo_upstreams = metrics_table_sorted(&s->ms_upstreams, &o.tx_err);
	ord.mo_servers = metrics_table_sorted(&s->ms_servers, &o.tx_err);
	if (!o.tx_err)
		metrics_text_all(&o, s, &ord);
	free(ord.mo_rows);
	free(ord.mo_upstreams);
	free(ord.mo_servers);
	if (o.tx_err) {
		free(o.tx_buf);
		errno = ENOMEM;
		return -1;
	}
	*text = o.tx_buf;
	*len = o.tx_len;
	return 0;
}
