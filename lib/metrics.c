/*
 * metrics.c: a worker's counters, and the snapshots they are copied into
 * and merged in.
 *
 * The hot path finds a route's row, and an upstream's, through a cache
 * keyed by the string's address and checked against the row's own copy
 * of the string: a config freed by a reload may leave a new route at an
 * old address, so the address alone proves nothing.  The cache is a small
 * open-addressing table of addresses with linear probing, so two routes
 * whose addresses hash alike sit side by side instead of evicting each
 * other; it grows when three quarters full, and is emptied once it would
 * pass METRICS_CACHE_MAX (addresses of old configs pile up over reloads).
 * The outcome is an enum, an index already, so the steady state is one
 * hash of a pointer, one short strcmp() per string and a few increments.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

#define METRICS_CACHE_MIN	64	/* slots of a pointer cache at first */
#define METRICS_CACHE_MAX	4096	/* slots it may grow to */
#define METRICS_ROUTE_NONE	"-"
#define METRICS_ROUTE_OTHER	"other"

const struct hist_bounds metrics_dur_bounds = {
	18, {
		100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
		250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
		60000000,
	},
};

static const char *const metrics_conn_names[METRICS_CONN_STATES] = {
	[METRICS_CONN_IDLE] = "idle",
	[METRICS_CONN_READING] = "reading",
	[METRICS_CONN_ACTIVE] = "active",
	[METRICS_CONN_CLOSING] = "closing",
	[METRICS_CONN_TUNNEL] = "tunnel",
};

static const char *const metrics_code_names[METRICS_CODES] = {
	"1xx", "2xx", "3xx", "4xx", "5xx", "other",
};

/* A cached string: its address and its row; an empty slot has no address. */
struct metrics_cache_ent {
	const char	*ce_ptr;
	uint32_t	 ce_row;
};

/* Rows by string address; see the top of the file. */
struct metrics_cache {
	struct metrics_cache_ent *mc_ent;
	unsigned	 mc_mask;	/* slots - 1; slots a power of two */
	unsigned	 mc_shift;	/* 64 - log2(slots) */
	unsigned	 mc_n;		/* slots used */
};

struct metrics {
	struct metrics_table m_rows;		/* struct metrics_row */
	struct metrics_table m_upstreams;	/* struct metrics_upstream */
	struct metrics_counts m_counts;
	struct metrics_cache m_rcache;		/* into m_rows */
	struct metrics_cache m_ucache;		/* into m_upstreams */
	uint8_t		 m_kind[OUTCOME_COUNT];	/* outcome_kind(), at hand */
};

/*
 * The cache's home slot of an address: the top bits of a Fibonacci hash,
 * which every bit of the address stirs (strings need not be aligned).
 */
static inline unsigned
metrics_cache_slot(const struct metrics_cache *c, const void *p)
{
	return (unsigned)(((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull) >>
	    c->mc_shift);
}

/* Set up an empty cache of n slots (a power of two); -1 on no memory. */
static int
metrics_cache_init(struct metrics_cache *c, unsigned n)
{
	if ((c->mc_ent = calloc(n, sizeof *c->mc_ent)) == NULL)
		return -1;
	c->mc_mask = n - 1;
	c->mc_shift = 64 - (unsigned)__builtin_ctz(n);
	c->mc_n = 0;
	return 0;
}

/* Put an address known to be absent into its first free slot. */
static struct metrics_cache_ent *
metrics_cache_put(struct metrics_cache *c, const char *p, uint32_t row)
{
	unsigned i = metrics_cache_slot(c, p);

	while (c->mc_ent[i].ce_ptr != NULL)
		i = (i + 1) & c->mc_mask;
	c->mc_ent[i].ce_ptr = p;
	c->mc_ent[i].ce_row = row;
	c->mc_n++;
	return &c->mc_ent[i];
}

/*
 * Make room for one more address: double the slots while below
 * METRICS_CACHE_MAX, else (or when memory is short) empty the cache.
 */
static void
metrics_cache_room(struct metrics_cache *c)
{
	struct metrics_cache old = *c;

	if ((c->mc_n + 1) * 4 <= (c->mc_mask + 1) * 3)
		return;
	if (old.mc_mask + 1 < METRICS_CACHE_MAX &&
	    metrics_cache_init(c, (old.mc_mask + 1) * 2) == 0) {
		for (unsigned i = 0; i <= old.mc_mask; i++) {
			if (old.mc_ent[i].ce_ptr != NULL)
				metrics_cache_put(c, old.mc_ent[i].ce_ptr,
				    old.mc_ent[i].ce_row);
		}
		free(old.mc_ent);
		return;
	}
	*c = old;
	memset(c->mc_ent, 0, (c->mc_mask + 1) * sizeof *c->mc_ent);
	c->mc_n = 0;
}

/*
 * The row of string s in table t, not cached at address s (or cached with
 * other contents, in *stale): found or added, or else the row of the
 * overflow key (NULL: none); then cached.  -1 when there is no row.
 */
static long
metrics_cache_miss(struct metrics_cache *c, struct metrics_table *t,
    const char *s, struct metrics_cache_ent *stale, size_t max,
    const char *overflow)
{
	size_t len = strlen(s);
	uint32_t h = metrics_table_hash(s, len);
	long i = metrics_table_find(t, s, len, h);

	if (i < 0 && t->mt_n < max)
		i = metrics_table_add(t, s, len, h);
	if (i < 0 && overflow != NULL)
		i = metrics_table_get(t, overflow, strlen(overflow));
	if (i < 0)
		return -1;
	if (stale != NULL)
		stale->ce_row = (uint32_t)i;
	else {
		metrics_cache_room(c);
		metrics_cache_put(c, s, (uint32_t)i);
	}
	return i;
}

/* The row of string s in table t, through the cache c. */
static inline long
metrics_cache_row(struct metrics_cache *c, struct metrics_table *t,
    const char *s, size_t max, const char *overflow)
{
	struct metrics_cache_ent *e;
	unsigned i = metrics_cache_slot(c, s);

	for (;; i = (i + 1) & c->mc_mask) {
		e = &c->mc_ent[i];
		if (e->ce_ptr == s) {
			if (strcmp(metrics_table_key(t, e->ce_row)->mk_str, s)
			    == 0)
				return e->ce_row;
			return metrics_cache_miss(c, t, s, e, max, overflow);
		}
		if (e->ce_ptr == NULL)
			return metrics_cache_miss(c, t, s, NULL, max, overflow);
	}
}

/* A worker's live counters, all zero. */
struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	metrics_table_init(&m->m_rows, sizeof(struct metrics_row));
	metrics_table_init(&m->m_upstreams, sizeof(struct metrics_upstream));
	if (metrics_cache_init(&m->m_rcache, METRICS_CACHE_MIN) != 0 ||
	    metrics_cache_init(&m->m_ucache, METRICS_CACHE_MIN) != 0) {
		metrics_free(m);
		return NULL;
	}
	for (int o = 0; o < OUTCOME_COUNT; o++)
		m->m_kind[o] = (uint8_t)outcome_kind((enum outcome)o);
	return m;
}

/* Free a worker's counters. */
void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	metrics_table_clear(&m->m_rows);
	metrics_table_clear(&m->m_upstreams);
	free(m->m_rcache.mc_ent);
	free(m->m_ucache.mc_ent);
	free(m);
}

/* The code slot of a status: its class, or "other" outside 100-599. */
static inline unsigned
metrics_code(int status)
{
	if ((unsigned)(status - 100) >= 500)
		return METRICS_CODE_OTHER;
	return (unsigned)status / 100 - 1;
}

/* Count one finished request. */
void
metrics_request(struct metrics *m, const struct metrics_req *rq)
{
	struct metrics_upstream *up;
	struct metrics_row *row;
	enum outcome outcome = rq->outcome;
	const char *route = rq->route != NULL ? rq->route : METRICS_ROUTE_NONE;
	long i;

	if ((unsigned)outcome >= OUTCOME_COUNT)
		outcome = OUTCOME_ERROR_UPSTREAM_PROTOCOL;	/* cannot be */
	i = metrics_cache_row(&m->m_rcache, &m->m_rows, route,
	    METRICS_ROUTES_MAX, METRICS_ROUTE_OTHER);
	if (i >= 0) {
		row = (struct metrics_row *)(void *)metrics_table_key(
		    &m->m_rows, (size_t)i);
		row->mr_count[outcome][metrics_code(rq->status)]++;
		hist_record(&row->mr_dur[m->m_kind[outcome]],
		    &metrics_dur_bounds,
		    rq->total_us > 0 ? (uint64_t)rq->total_us : 0);
		row->mr_bytes_in += rq->bytes_in;
		row->mr_bytes_out += rq->bytes_out;
	}
	if (rq->upstream == NULL || (rq->connect_us < 0 &&
	    rq->upstream_header_us < 0))
		return;
	i = metrics_cache_row(&m->m_ucache, &m->m_upstreams, rq->upstream,
	    METRICS_UPSTREAMS_MAX, NULL);
	if (i < 0)
		return;
	up = (struct metrics_upstream *)(void *)metrics_table_key(
	    &m->m_upstreams, (size_t)i);
	if (rq->connect_us >= 0)
		hist_record(&up->mu_connect, &metrics_dur_bounds,
		    (uint64_t)rq->connect_us);
	if (rq->upstream_header_us >= 0)
		hist_record(&up->mu_header, &metrics_dur_bounds,
		    (uint64_t)rq->upstream_header_us);
}

/* Count a client connection closed by its keepalive scope. */
void
metrics_keepalive_closed(struct metrics *m)
{
	m->m_counts.mc_keepalive_closed++;
}

/* Count a client-side TLS handshake: done (fail < 0), or failed with
 * that enum tls_fail. */
void
metrics_tls_handshake(struct metrics *m, int fail)
{
	if (fail < 0)
		m->m_counts.mc_tls_handshakes++;
	else if (fail < TLS_FAIL_COUNT)
		m->m_counts.mc_tls_failures[fail]++;
}

/* Count a tunnel that ended, by how. */
void
metrics_tunnel_ended(struct metrics *m, enum outcome o)
{
	if ((unsigned)o < OUTCOME_COUNT)
		m->m_counts.mc_tunnels[o]++;
}

/* Count an accepted client connection. */
void
metrics_connection_accepted(struct metrics *m)
{
	m->m_counts.mc_accepted++;
}

void
metrics_retry(struct metrics *m, enum metrics_retry r)
{
	if ((unsigned)r < METRICS_RETRY_RESULTS)
		m->m_counts.mc_retries[r]++;
}

void
metrics_hedge_started(struct metrics *m)
{
	m->m_counts.mc_hedges_started++;
}

void
metrics_hedge(struct metrics *m, enum metrics_hedge r)
{
	if ((unsigned)r < METRICS_HEDGE_RESULTS)
		m->m_counts.mc_hedges[r]++;
}

void
metrics_skipped(struct metrics *m, enum metrics_skip r)
{
	if ((unsigned)r < METRICS_SKIPS)
		m->m_counts.mc_skipped[r]++;
}

/* The label value of a code slot. */
const char *
metrics_code_name(unsigned code)
{
	return code < METRICS_CODES ? metrics_code_names[code] : "?";
}

/* The code slot of an outcome's zero series, or -1 for none. */
int
metrics_zero_code(enum outcome o)
{
	int status = outcome_info(o)->oi_status;

	if (o == OUTCOME_OK)
		return 1;			/* "2xx": the upstream's */
	if (o == OUTCOME_TIMEOUT + SCOPE_TUNNEL_IDLE ||
	    o == OUTCOME_TIMEOUT + SCOPE_TUNNEL_MAX)
		return 0;			/* "1xx": after a 101 */
	if (status == 0)
		return -1;	/* timeout:keepalive: between requests */
	return (int)metrics_code(status);
}

/* An empty snapshot. */
struct metrics_snapshot *
metrics_snapshot_new(void)
{
	struct metrics_snapshot *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	metrics_table_init(&s->ms_rows, sizeof(struct metrics_row));
	metrics_table_init(&s->ms_upstreams, sizeof(struct metrics_upstream));
	metrics_table_init(&s->ms_servers, sizeof(struct metrics_server));
	s->ms_process = (struct metrics_process){ -1, -1, -1, -1, -1, -1 };
	return s;
}

/* Free a snapshot. */
void
metrics_snapshot_free(struct metrics_snapshot *s)
{
	if (s == NULL)
		return;
	metrics_table_clear(&s->ms_rows);
	metrics_table_clear(&s->ms_upstreams);
	metrics_table_clear(&s->ms_servers);
	free(s->ms_version);
	free(s);
}

/* Add the unlabelled counters of src into dst. */
static void
metrics_counts_add(struct metrics_counts *dst, const struct metrics_counts *src)
{
	dst->mc_keepalive_closed += src->mc_keepalive_closed;
	dst->mc_accepted += src->mc_accepted;
	dst->mc_tls_handshakes += src->mc_tls_handshakes;
	for (int i = 0; i < TLS_FAIL_COUNT; i++)
		dst->mc_tls_failures[i] += src->mc_tls_failures[i];
	for (int i = 0; i < OUTCOME_COUNT; i++)
		dst->mc_tunnels[i] += src->mc_tunnels[i];
	for (int i = 0; i < METRICS_RETRY_RESULTS; i++)
		dst->mc_retries[i] += src->mc_retries[i];
	dst->mc_hedges_started += src->mc_hedges_started;
	for (int i = 0; i < METRICS_HEDGE_RESULTS; i++)
		dst->mc_hedges[i] += src->mc_hedges[i];
	for (int i = 0; i < METRICS_SKIPS; i++)
		dst->mc_skipped[i] += src->mc_skipped[i];
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
		for (int o = 0; o < OUTCOME_COUNT; o++) {
			for (int c = 0; c < METRICS_CODES; c++)
				to->mr_count[o][c] += from->mr_count[o][c];
		}
		for (int k = 0; k < OUTCOME_KIND_COUNT; k++)
			hist_add(&to->mr_dur[k], &from->mr_dur[k]);
		to->mr_bytes_in += from->mr_bytes_in;
		to->mr_bytes_out += from->mr_bytes_out;
	}
	return 0;
}

/* Add the upstream rows of table src into table dst. */
static int
metrics_upstreams_add(struct metrics_table *dst,
    const struct metrics_table *src)
{
	const struct metrics_upstream *from;
	struct metrics_upstream *to;
	long j;

	for (size_t i = 0; i < src->mt_n; i++) {
		from = (const struct metrics_upstream *)(void *)
		    metrics_table_key(src, i);
		j = metrics_table_get(dst, from->mu_key.mk_str,
		    from->mu_key.mk_len);
		if (j < 0)
			return -1;
		to = (struct metrics_upstream *)(void *)metrics_table_key(dst,
		    (size_t)j);
		hist_add(&to->mu_connect, &from->mu_connect);
		hist_add(&to->mu_header, &from->mu_header);
	}
	return 0;
}

/* Add a worker's counters into the snapshot. */
int
metrics_snapshot_add(struct metrics_snapshot *s, const struct metrics *m)
{
	metrics_counts_add(&s->ms_counts, &m->m_counts);
	if (metrics_rows_add(&s->ms_rows, &m->m_rows) != 0)
		return -1;
	return metrics_upstreams_add(&s->ms_upstreams, &m->m_upstreams);
}

/* Make sure the snapshot has a row for route. */
int
metrics_snapshot_route(struct metrics_snapshot *s, const char *route)
{
	if (route == NULL)
		route = METRICS_ROUTE_NONE;
	return metrics_table_get(&s->ms_rows, route, strlen(route)) < 0 ?
	    -1 : 0;
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

/* Set the build's version and the process values. */
int
metrics_snapshot_process(struct metrics_snapshot *s, const char *version,
    const struct metrics_process *p)
{
	char *v = NULL;

	if (version != NULL && (v = strdup(version)) == NULL)
		return -1;
	free(s->ms_version);
	s->ms_version = v;
	s->ms_process = *p;
	return 0;
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
	if (metrics_rows_add(&dst->ms_rows, &src->ms_rows) != 0 ||
	    metrics_upstreams_add(&dst->ms_upstreams, &src->ms_upstreams) != 0)
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
