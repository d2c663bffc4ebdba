/*
 * metrics.c: a worker's counters, and the snapshots they are copied into
 * and merged in.
 *
 * The hot path finds a route's row through a direct-mapped cache keyed by
 * the string's address and checked against the row's own copy of the
 * string: a config freed by a reload may leave a new route at an old
 * address, so the address alone proves nothing.  The outcome is an enum,
 * an index already, so the steady state is one hash of a pointer, one
 * short strcmp() and a few increments.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

#define METRICS_CACHE		16	/* entries of a pointer cache */
#define METRICS_ROUTE_NONE	"-"
#define METRICS_ROUTE_OTHER	"other"

const struct hist_bounds metrics_dur_bounds = {
	15, {
		1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
		1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
	},
};

static const char *const metrics_conn_names[METRICS_CONN_STATES] = {
	[METRICS_CONN_IDLE] = "idle",
	[METRICS_CONN_READING] = "reading",
	[METRICS_CONN_ACTIVE] = "active",
	[METRICS_CONN_CLOSING] = "closing",
};

/* A cached route: its string's address and its row. */
struct metrics_route_cache {
	const char	*rc_ptr;
	uint32_t	 rc_row;
};

struct metrics {
	struct metrics_table m_rows;		/* struct metrics_row */
	struct metrics_counts m_counts;
	struct metrics_route_cache m_rcache[METRICS_CACHE];
};

/* The pointer cache slot of an address (strings need not be aligned). */
static inline unsigned
metrics_ptr_slot(const void *p)
{
	return (unsigned)(((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull) >>
	    60) & (METRICS_CACHE - 1);
}

/* A worker's live counters, all zero. */
struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof *m);

	if (m != NULL)
		metrics_table_init(&m->m_rows, sizeof(struct metrics_row));
	return m;
}

/* Free a worker's counters. */
void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	metrics_table_clear(&m->m_rows);
	free(m);
}

/*
 * The row of a route not in the cache, added if new, or else the "other"
 * row; -1 when even that one cannot be added.
 */
static long
metrics_route_lookup(struct metrics *m, const char *route)
{
	struct metrics_table *t = &m->m_rows;
	size_t len = strlen(route);
	uint32_t h = metrics_table_hash(route, len);
	long i = metrics_table_find(t, route, len, h);

	if (i < 0 && t->mt_n < METRICS_ROUTES_MAX)
		i = metrics_table_add(t, route, len, h);
	if (i < 0)
		i = metrics_table_get(t, METRICS_ROUTE_OTHER,
		    sizeof METRICS_ROUTE_OTHER - 1);
	return i;
}

/* Count one finished request by route and outcome, and its duration. */
void
metrics_request(struct metrics *m, const char *route, enum outcome outcome,
    int64_t total_us)
{
	struct metrics_route_cache *c;
	struct metrics_row *row;
	uint64_t us = total_us > 0 ? (uint64_t)total_us : 0;
	long i;

	if (route == NULL)
		route = METRICS_ROUTE_NONE;
	if ((unsigned)outcome >= OUTCOME_COUNT)
		outcome = OUTCOME_ERROR_UPSTREAM_PROTOCOL;	/* cannot be */
	c = &m->m_rcache[metrics_ptr_slot(route)];
	if (c->rc_ptr != route || c->rc_row >= m->m_rows.mt_n ||
	    strcmp(metrics_table_key(&m->m_rows, c->rc_row)->mk_str,
	    route) != 0) {
		i = metrics_route_lookup(m, route);
		c->rc_ptr = i >= 0 ? route : NULL;
		c->rc_row = (uint32_t)i;
		if (i < 0)
			goto duration;
	}
	row = (struct metrics_row *)(void *)metrics_table_key(&m->m_rows,
	    c->rc_row);
	row->mr_count[outcome]++;
duration:
	hist_record(&m->m_counts.mc_dur, &metrics_dur_bounds, us);
}

/* Count a client connection closed by its keepalive scope. */
void
metrics_keepalive_closed(struct metrics *m)
{
	m->m_counts.mc_keepalive_closed++;
}

/* Count an accepted client connection. */
void
metrics_connection_accepted(struct metrics *m)
{
	m->m_counts.mc_accepted++;
}

/* An empty snapshot. */
struct metrics_snapshot *
metrics_snapshot_new(void)
{
	struct metrics_snapshot *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	metrics_table_init(&s->ms_rows, sizeof(struct metrics_row));
	metrics_table_init(&s->ms_servers, sizeof(struct metrics_server));
	return s;
}

/* Free a snapshot. */
void
metrics_snapshot_free(struct metrics_snapshot *s)
{
	if (s == NULL)
		return;
	metrics_table_clear(&s->ms_rows);
	metrics_table_clear(&s->ms_servers);
	free(s);
}

/* Add the unlabelled counters of src into dst. */
static void
metrics_counts_add(struct metrics_counts *dst, const struct metrics_counts *src)
{
	hist_add(&dst->mc_dur, &src->mc_dur);
	dst->mc_keepalive_closed += src->mc_keepalive_closed;
	dst->mc_accepted += src->mc_accepted;
}

/* Add the route rows of table src into table dst. */
static int
metrics_rows_add(struct metrics_table *dst, const struct metrics_table *src)
{
	const struct metrics_row *from;
	struct metrics_row *to;
	long j;

	for (size_t i = 0; i < src->mt_n; i++) {
		from = (const struct metrics_row *)(void *)
		    metrics_table_key(src, i);
		j = metrics_table_get(dst, from->mr_key.mk_str,
		    from->mr_key.mk_len);
		if (j < 0)
			return -1;
		to = (struct metrics_row *)(void *)metrics_table_key(dst,
		    (size_t)j);
		for (int o = 0; o < OUTCOME_COUNT; o++)
			to->mr_count[o] += from->mr_count[o];
	}
	return 0;
}

/* Add a worker's counters into the snapshot. */
int
metrics_snapshot_add(struct metrics_snapshot *s, const struct metrics *m)
{
	metrics_counts_add(&s->ms_counts, &m->m_counts);
	return metrics_rows_add(&s->ms_rows, &m->m_rows);
}

/* The name a connection state is exported under. */
const char *
metrics_conn_state_name(enum metrics_conn_state state)
{
	if ((unsigned)state >= METRICS_CONN_STATES)
		return "?";
	return metrics_conn_names[state];
}

/* Add n client connections in a state. */
int
metrics_snapshot_connections(struct metrics_snapshot *s,
    enum metrics_conn_state state, uint64_t n)
{
	if ((unsigned)state >= METRICS_CONN_STATES)
		return -1;
	s->ms_conns[state] += n;
	return 0;
}

/* The server entry for (upstream, server), added if new; NULL on no memory. */
static struct metrics_server *
metrics_server_get(struct metrics_snapshot *s, const char *upstream,
    size_t ulen, const char *server, size_t slen)
{
	char stack[256], *key = stack;
	struct metrics_server *sv;
	size_t len = ulen + 1 + slen;
	long i;

	if (len > sizeof stack && (key = malloc(len)) == NULL)
		return NULL;
	memcpy(key, upstream, ulen);
	key[ulen] = '\0';
	memcpy(key + ulen + 1, server, slen);
	i = metrics_table_get(&s->ms_servers, key, len);
	if (key != stack)
		free(key);
	if (i < 0)
		return NULL;
	sv = (struct metrics_server *)(void *)metrics_table_key(&s->ms_servers,
	    (size_t)i);
	sv->ms_upstream_len = ulen;
	return sv;
}

/* Report one upstream server as one worker sees it. */
int
metrics_snapshot_server(struct metrics_snapshot *s, const char *upstream,
    const char *server, bool up, uint64_t tries, uint64_t failures,
    unsigned active, unsigned idle)
{
	struct metrics_server *sv;

	sv = metrics_server_get(s, upstream, strlen(upstream), server,
	    strlen(server));
	if (sv == NULL)
		return -1;
	sv->ms_down |= !up;
	sv->ms_tries += tries;
	sv->ms_failures += failures;
	sv->ms_active += active;
	sv->ms_idle += idle;
	return 0;
}

/* Add a thread's timer lateness and loop lag. */
void
metrics_snapshot_deadline(struct metrics_snapshot *s,
    const struct deadline_stats *ds)
{
	deadline_stats_add(&s->ms_deadline, ds);
}

/* Set the daemon-wide values. */
void
metrics_snapshot_info(struct metrics_snapshot *s, unsigned generation,
    uint64_t reloads, uint64_t reload_failures, unsigned workers,
    uint64_t in_flight)
{
	s->ms_generation = generation;
	s->ms_reloads = reloads;
	s->ms_reload_failures = reload_failures;
	s->ms_workers = workers;
	s->ms_in_flight = in_flight;
}

/* Add snapshot src into dst, but for the daemon-wide values. */
int
metrics_snapshot_merge(struct metrics_snapshot *dst,
    const struct metrics_snapshot *src)
{
	const struct metrics_server *from;
	struct metrics_server *to;
	const char *key;

	metrics_counts_add(&dst->ms_counts, &src->ms_counts);
	for (int i = 0; i < METRICS_CONN_STATES; i++)
		dst->ms_conns[i] += src->ms_conns[i];
	deadline_stats_add(&dst->ms_deadline, &src->ms_deadline);
	if (metrics_rows_add(&dst->ms_rows, &src->ms_rows) != 0)
		return -1;
	for (size_t i = 0; i < src->ms_servers.mt_n; i++) {
		from = (const struct metrics_server *)(void *)
		    metrics_table_key(&src->ms_servers, i);
		key = from->ms_key.mk_str;
		to = metrics_server_get(dst, key, from->ms_upstream_len,
		    key + from->ms_upstream_len + 1,
		    from->ms_key.mk_len - from->ms_upstream_len - 1);
		if (to == NULL)
			return -1;
		to->ms_down |= from->ms_down;
		to->ms_tries += from->ms_tries;
		to->ms_failures += from->ms_failures;
		to->ms_active += from->ms_active;
		to->ms_idle += from->ms_idle;
	}
	return 0;
}
