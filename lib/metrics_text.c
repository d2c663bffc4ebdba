/*
 * metrics_text.c: a snapshot rendered in the Prometheus text exposition
 * format 0.0.4, families in a fixed order and series sorted by label.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "metrics_int.h"

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

/* Append microseconds as exact decimal seconds: 2500 is "0.0025". */
static void
metrics_text_seconds(struct metrics_text *o, uint64_t us)
{
	char frac[7];
	size_t n = 6;

	metrics_text_u64(o, us / 1000000);
	if (us % 1000000 == 0)
		return;
	frac[0] = '.';
	fmt_u32_pad(frac + 1, (uint32_t)(us % 1000000), 6);
	while (frac[n] == '0')
		n--;
	metrics_text_put(o, frac, n + 1);
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

/*
 * Append a histogram family without labels, in seconds, from a histogram of
 * microseconds and its bounds.  The count is the sum of the buckets, so
 * that it always equals the +Inf bucket.
 */
static void
metrics_text_histogram(struct metrics_text *o, const char *name,
    const char *help, const struct hist *h, const struct hist_bounds *b)
{
	uint64_t cum = 0;

	metrics_text_family(o, name, "histogram", help);
	for (unsigned i = 0; i <= b->hb_n; i++) {
		cum += h->h_bucket[i];
		metrics_text_str(o, name);
		metrics_text_str(o, "_bucket{le=\"");
		if (i < b->hb_n)
			metrics_text_seconds(o, b->hb_us[i]);
		else
			metrics_text_str(o, "+Inf");
		metrics_text_str(o, "\"} ");
		metrics_text_u64(o, cum);
		metrics_text_put(o, "\n", 1);
	}
	metrics_text_str(o, name);
	metrics_text_str(o, "_sum ");
	metrics_text_seconds(o, h->h_sum_us);
	metrics_text_str(o, "\n");
	metrics_text_str(o, name);
	metrics_text_str(o, "_count ");
	metrics_text_u64(o, cum);
	metrics_text_put(o, "\n", 1);
}

/* Append the requests counter family, by route and outcome. */
static void
metrics_text_requests(struct metrics_text *o, const struct metrics_table *t,
    const size_t *order)
{
	const struct metrics_row *row;

	if (t->mt_n == 0)
		return;
	metrics_text_family(o, "hourglass_requests_total", "counter",
	    "Finished requests by route prefix (- for none) and outcome.");
	for (size_t i = 0; i < t->mt_n; i++) {
		row = (const struct metrics_row *)(void *)
		    metrics_table_key(t, order[i]);
		for (int oc = 0; oc < OUTCOME_COUNT; oc++) {
			if (row->mr_count[oc] == 0)
				continue;
			metrics_text_str(o, "hourglass_requests_total{");
			metrics_text_label(o, true, "route", row->mr_key.mk_str,
			    row->mr_key.mk_len);
			metrics_text_label(o, false, "outcome",
			    outcome_name((enum outcome)oc),
			    strlen(outcome_name((enum outcome)oc)));
			metrics_text_str(o, "} ");
			metrics_text_u64(o, row->mr_count[oc]);
			metrics_text_put(o, "\n", 1);
		}
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

/* Append every family but the daemon-wide ones. */
static void
metrics_text_all(struct metrics_text *o, const struct metrics_snapshot *s,
    const size_t *rows, const size_t *servers)
{
	const struct metrics_table *st = &s->ms_servers;

	metrics_text_requests(o, &s->ms_rows, rows);
	metrics_text_histogram(o, "hourglass_request_duration_seconds",
	    "Time from request head to the end of the request.",
	    &s->ms_counts.mc_dur, &metrics_dur_bounds);
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
}

/* Render the snapshot in the Prometheus text format 0.0.4. */
int
metrics_render(const struct metrics_snapshot *s, char **text, size_t *len)
{
	struct metrics_text o = { NULL, 0, 0, false };
	size_t *rows, *servers;

	rows = metrics_table_sorted(&s->ms_rows, &o.tx_err);
	servers = metrics_table_sorted(&s->ms_servers, &o.tx_err);
	if (!o.tx_err)
		metrics_text_all(&o, s, rows, servers);
	free(rows);
	free(servers);
	if (o.tx_err) {
		free(o.tx_buf);
		errno = ENOMEM;
		return -1;
	}
	*text = o.tx_buf;
	*len = o.tx_len;
	return 0;
}
