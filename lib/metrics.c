/*
 * metrics.c: per-worker counters, snapshots, and the Prometheus text.
 *
 * Rows of counters (a route's requests by outcome, an upstream server's
 * health) live in a small open-addressing hash table keyed by string
 * contents.  The hot path finds a route's row through a direct-mapped cache
 * keyed by the string's address and checked against the row's own copy of
 * the string: a config freed by a reload may leave a new route at an old
 * address, so the address alone proves nothing.  Outcomes map to an index
 * the same way, so the steady state is two hashes of a pointer, two short
 * strcmp() calls and a few increments.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "hist.h"
#include "metrics.h"
#include "outcome.h"

/* A route's row counts its requests by enum outcome. */
#define MO_COUNT		OUTCOME_COUNT

/* The request duration buckets, 1 ms to 60 s, then +Inf. */
static const struct hist_bounds metrics_dur_bounds = {
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

#define METRICS_CACHE		16	/* entries of a pointer cache */
#define METRICS_ROUTE_NONE	"-"
#define METRICS_ROUTE_OTHER	"other"

/* A row's key: its own copy of the string, which may hold a NUL inside. */
struct metrics_key {
	char		*mk_str;	/* NUL-terminated too */
	size_t		 mk_len;
	uint32_t	 mk_hash;
};

/*
 * Rows of one kind: an array of entries of mt_esz bytes that each start
 * with a struct metrics_key, and an open-addressing index of them.
 */
struct metrics_table {
	char		*mt_ents;
	size_t		 mt_esz;
	size_t		 mt_n;
	size_t		 mt_cap;
	uint32_t	*mt_slots;	/* entry index + 1; 0 is empty */
	size_t		 mt_nslots;	/* a power of two, > 2 * mt_n */
};

/* A route's requests by outcome. */
struct metrics_row {
	struct metrics_key mr_key;	/* the route prefix, "-" or "other" */
	uint64_t	 mr_count[MO_COUNT];
};

/* An upstream server, as reported by the workers. */
struct metrics_server {
	struct metrics_key ms_key;	/* upstream NUL server */
	size_t		 ms_upstream_len;
	bool		 ms_down;	/* some report said down */
	uint64_t	 ms_tries;
	uint64_t	 ms_failures;
	uint64_t	 ms_active;
	uint64_t	 ms_idle;
};

/* Counters without labels, kept the same way live and in a snapshot. */
struct metrics_counts {
	struct hist	 mc_dur;		/* request durations */
	uint64_t	 mc_keepalive_closed;
	uint64_t	 mc_accepted;
};

struct metrics_route_cache {
	const char	*rc_ptr;
	uint32_t	 rc_row;
};

struct metrics {
	struct metrics_table m_rows;		/* struct metrics_row */
	struct metrics_counts m_counts;
	struct metrics_route_cache m_rcache[METRICS_CACHE];
};

struct metrics_snapshot {
	struct metrics_table ms_rows;		/* struct metrics_row */
	struct metrics_table ms_servers;	/* struct metrics_server */
	struct metrics_counts ms_counts;
	uint64_t	 ms_conns[METRICS_CONN_STATES];
	struct deadline_stats ms_deadline;
	unsigned	 ms_generation;
	unsigned	 ms_workers;
	uint64_t	 ms_reloads;
	uint64_t	 ms_reload_failures;
	uint64_t	 ms_in_flight;
};

/* The text being rendered; an allocation failure sticks. */
struct metrics_out {
	char		*mo_buf;
	size_t		 mo_len;
	size_t		 mo_cap;
	bool		 mo_err;
};

/* FNV-1a of a string of len bytes. */
static uint32_t
metrics_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* The pointer cache slot of an address (strings need not be aligned). */
static inline unsigned
metrics_ptr_slot(const void *p)
{
	return (unsigned)(((uint64_t)(uintptr_t)p * 0x9e3779b97f4a7c15ull) >>
	    60) & (METRICS_CACHE - 1);
}

/* Set up an empty table of entries of esz bytes. */
static void
metrics_table_init(struct metrics_table *t, size_t esz)
{
	memset(t, 0, sizeof *t);
	t->mt_esz = esz;
}

/* The key of entry i. */
static inline struct metrics_key *
metrics_table_key(const struct metrics_table *t, size_t i)
{
	return (struct metrics_key *)(void *)(t->mt_ents + i * t->mt_esz);
}

/* Free a table's entries, their keys and its index. */
static void
metrics_table_clear(struct metrics_table *t)
{
	for (size_t i = 0; i < t->mt_n; i++)
		free(metrics_table_key(t, i)->mk_str);
	free(t->mt_ents);
	free(t->mt_slots);
	metrics_table_init(t, t->mt_esz);
}

/* The entry with key s (len bytes, hash h), or -1. */
static long
metrics_table_find(const struct metrics_table *t, const char *s, size_t len,
    uint32_t h)
{
	size_t mask = t->mt_nslots - 1, i;
	struct metrics_key *k;

	if (t->mt_nslots == 0)
		return -1;
	for (i = h & mask; t->mt_slots[i] != 0; i = (i + 1) & mask) {
		k = metrics_table_key(t, t->mt_slots[i] - 1);
		if (k->mk_hash == h && k->mk_len == len &&
		    memcmp(k->mk_str, s, len) == 0)
			return (long)t->mt_slots[i] - 1;
	}
	return -1;
}

/* Rebuild the index with nslots slots (a power of two); -1 on no memory. */
static int
metrics_table_rehash(struct metrics_table *t, size_t nslots)
{
	uint32_t *slots;
	size_t mask = nslots - 1, i, j;

	if ((slots = calloc(nslots, sizeof *slots)) == NULL)
		return -1;
	for (j = 0; j < t->mt_n; j++) {
		i = metrics_table_key(t, j)->mk_hash & mask;
		while (slots[i] != 0)
			i = (i + 1) & mask;
		slots[i] = (uint32_t)j + 1;
	}
	free(t->mt_slots);
	t->mt_slots = slots;
	t->mt_nslots = nslots;
	return 0;
}

/* Append a zeroed entry with a copy of key s; its index, or -1. */
static long
metrics_table_add(struct metrics_table *t, const char *s, size_t len,
    uint32_t h)
{
	struct metrics_key *k;
	size_t i, mask;
	char *copy;

	if (t->mt_n == t->mt_cap) {
		size_t cap = t->mt_cap != 0 ? t->mt_cap * 2 : 8;
		char *ents = realloc(t->mt_ents, cap * t->mt_esz);

		if (ents == NULL)
			return -1;
		t->mt_ents = ents;
		t->mt_cap = cap;
	}
	if ((t->mt_n + 1) * 2 > t->mt_nslots &&
	    metrics_table_rehash(t, t->mt_nslots != 0 ? t->mt_nslots * 2 : 16)
	    != 0)
		return -1;
	if ((copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	k = metrics_table_key(t, t->mt_n);
	memset(k, 0, t->mt_esz);
	k->mk_str = copy;
	k->mk_len = len;
	k->mk_hash = h;
	mask = t->mt_nslots - 1;
	for (i = h & mask; t->mt_slots[i] != 0; i = (i + 1) & mask)
		;
	t->mt_slots[i] = (uint32_t)t->mt_n + 1;
	return (long)t->mt_n++;
}

/* The entry with key s, added zeroed if it is new; -1 on no memory. */
static long
metrics_table_get(struct metrics_table *t, const char *s, size_t len)
{
	uint32_t h = metrics_hash(s, len);
	long i = metrics_table_find(t, s, len, h);

	return i >= 0 ? i : metrics_table_add(t, s, len, h);
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
	uint32_t h = metrics_hash(route, len);
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
		for (int o = 0; o < MO_COUNT; o++)
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

/* Make room for n more bytes and a NUL; false once memory ran out. */
static bool
metrics_out_room(struct metrics_out *o, size_t n)
{
	size_t cap;
	char *buf;

	if (o->mo_err)
		return false;
	if (o->mo_len + n + 1 <= o->mo_cap)
		return true;
	for (cap = o->mo_cap != 0 ? o->mo_cap : 4096; cap < o->mo_len + n + 1;)
		cap *= 2;
	if ((buf = realloc(o->mo_buf, cap)) == NULL) {
		o->mo_err = true;
		return false;
	}
	o->mo_buf = buf;
	o->mo_cap = cap;
	return true;
}

/* Append n bytes. */
static void
metrics_out_put(struct metrics_out *o, const char *s, size_t n)
{
	if (!metrics_out_room(o, n))
		return;
	memcpy(o->mo_buf + o->mo_len, s, n);
	o->mo_len += n;
	o->mo_buf[o->mo_len] = '\0';
}

/* Append a NUL-terminated string. */
static void
metrics_out_str(struct metrics_out *o, const char *s)
{
	metrics_out_put(o, s, strlen(s));
}

/* Append an unsigned integer in decimal. */
static void
metrics_out_u64(struct metrics_out *o, uint64_t v)
{
	char tmp[FMT_U64_MAX];

	metrics_out_put(o, tmp, (size_t)(fmt_u64(tmp, v) - tmp));
}

/* Append microseconds as exact decimal seconds: 2500 is "0.0025". */
static void
metrics_out_seconds(struct metrics_out *o, uint64_t us)
{
	char frac[7];
	size_t n = 6;

	metrics_out_u64(o, us / 1000000);
	if (us % 1000000 == 0)
		return;
	frac[0] = '.';
	fmt_u32_pad(frac + 1, (uint32_t)(us % 1000000), 6);
	while (frac[n] == '0')
		n--;
	metrics_out_put(o, frac, n + 1);
}

/*
 * Append a label value, escaped: backslash, double quote and newline get a
 * backslash, and a byte that is not valid UTF-8 (the format requires it)
 * becomes "?".
 */
static void
metrics_out_value(struct metrics_out *o, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run, len;

	while (i < n) {
		for (run = i; run < n; run += len) {
			if (u[run] == '\\' || u[run] == '"' || u[run] == '\n' ||
			    (len = fmt_utf8_len(u + run, n - run)) == 0)
				break;
		}
		metrics_out_put(o, s + i, run - i);
		if (run == n)
			break;
		if (u[run] == '\\')
			metrics_out_put(o, "\\\\", 2);
		else if (u[run] == '"')
			metrics_out_put(o, "\\\"", 2);
		else if (u[run] == '\n')
			metrics_out_put(o, "\\n", 2);
		else
			metrics_out_put(o, "?", 1);
		i = run + 1;
	}
}

/* Append one label, name="value", after a comma unless it is the first. */
static void
metrics_out_label(struct metrics_out *o, bool first, const char *name,
    const char *value, size_t len)
{
	if (!first)
		metrics_out_put(o, ",", 1);
	metrics_out_str(o, name);
	metrics_out_put(o, "=\"", 2);
	metrics_out_value(o, value, len);
	metrics_out_put(o, "\"", 1);
}

/* Append the HELP and TYPE lines of a family. */
static void
metrics_out_family(struct metrics_out *o, const char *name, const char *type,
    const char *help)
{
	metrics_out_str(o, "# HELP ");
	metrics_out_str(o, name);
	metrics_out_put(o, " ", 1);
	metrics_out_str(o, help);
	metrics_out_str(o, "\n# TYPE ");
	metrics_out_str(o, name);
	metrics_out_put(o, " ", 1);
	metrics_out_str(o, type);
	metrics_out_put(o, "\n", 1);
}

/* Append a whole family of one sample without labels. */
static void
metrics_out_single(struct metrics_out *o, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_out_family(o, name, type, help);
	metrics_out_str(o, name);
	metrics_out_put(o, " ", 1);
	metrics_out_u64(o, v);
	metrics_out_put(o, "\n", 1);
}

/*
 * Append a histogram family without labels, in seconds, from a histogram of
 * microseconds and its bounds.  The count is the sum of the buckets, so
 * that it always equals the +Inf bucket.
 */
static void
metrics_out_histogram(struct metrics_out *o, const char *name,
    const char *help, const struct hist *h, const struct hist_bounds *b)
{
	uint64_t cum = 0;

	metrics_out_family(o, name, "histogram", help);
	for (unsigned i = 0; i <= b->hb_n; i++) {
		cum += h->h_bucket[i];
		metrics_out_str(o, name);
		metrics_out_str(o, "_bucket{le=\"");
		if (i < b->hb_n)
			metrics_out_seconds(o, b->hb_us[i]);
		else
			metrics_out_str(o, "+Inf");
		metrics_out_str(o, "\"} ");
		metrics_out_u64(o, cum);
		metrics_out_put(o, "\n", 1);
	}
	metrics_out_str(o, name);
	metrics_out_str(o, "_sum ");
	metrics_out_seconds(o, h->h_sum_us);
	metrics_out_str(o, "\n");
	metrics_out_str(o, name);
	metrics_out_str(o, "_count ");
	metrics_out_u64(o, cum);
	metrics_out_put(o, "\n", 1);
}

/* Compare two entries of table arg by key bytes, then length (qsort_r). */
static int
metrics_key_cmp(const void *a, const void *b, void *arg)
{
	const struct metrics_table *t = arg;
	const struct metrics_key *ka, *kb;
	size_t n;
	int c;

	ka = metrics_table_key(t, *(const size_t *)a);
	kb = metrics_table_key(t, *(const size_t *)b);
	n = ka->mk_len < kb->mk_len ? ka->mk_len : kb->mk_len;
	if ((c = memcmp(ka->mk_str, kb->mk_str, n)) != 0)
		return c;
	return ka->mk_len < kb->mk_len ? -1 : ka->mk_len > kb->mk_len;
}

/*
 * The entries of t in key order, as a malloc'd array of indexes; NULL when
 * t is empty or memory is exhausted (*err is then set).
 */
static size_t *
metrics_sorted(const struct metrics_table *t, bool *err)
{
	size_t *order;

	if (t->mt_n == 0)
		return NULL;
	if ((order = malloc(t->mt_n * sizeof *order)) == NULL) {
		*err = true;
		return NULL;
	}
	for (size_t i = 0; i < t->mt_n; i++)
		order[i] = i;
	qsort_r(order, t->mt_n, sizeof *order, metrics_key_cmp, (void *)t);
	return order;
}

/* Append the requests counter family, by route and outcome. */
static void
metrics_out_requests(struct metrics_out *o, const struct metrics_table *t,
    const size_t *order)
{
	const struct metrics_row *row;

	if (t->mt_n == 0)
		return;
	metrics_out_family(o, "hourglass_requests_total", "counter",
	    "Finished requests by route prefix (- for none) and outcome.");
	for (size_t i = 0; i < t->mt_n; i++) {
		row = (const struct metrics_row *)(void *)
		    metrics_table_key(t, order[i]);
		for (int oc = 0; oc < MO_COUNT; oc++) {
			if (row->mr_count[oc] == 0)
				continue;
			metrics_out_str(o, "hourglass_requests_total{");
			metrics_out_label(o, true, "route", row->mr_key.mk_str,
			    row->mr_key.mk_len);
			metrics_out_label(o, false, "outcome",
			    outcome_name((enum outcome)oc),
			    strlen(outcome_name((enum outcome)oc)));
			metrics_out_str(o, "} ");
			metrics_out_u64(o, row->mr_count[oc]);
			metrics_out_put(o, "\n", 1);
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
metrics_out_server_sample(struct metrics_out *o, const char *name,
    const struct metrics_server *sv, const char *state, uint64_t v)
{
	const char *key = sv->ms_key.mk_str;

	metrics_out_str(o, name);
	metrics_out_put(o, "{", 1);
	metrics_out_label(o, true, "upstream", key, sv->ms_upstream_len);
	metrics_out_label(o, false, "server", key + sv->ms_upstream_len + 1,
	    sv->ms_key.mk_len - sv->ms_upstream_len - 1);
	if (state != NULL)
		metrics_out_label(o, false, "state", state, strlen(state));
	metrics_out_str(o, "} ");
	metrics_out_u64(o, v);
	metrics_out_put(o, "\n", 1);
}

/* Append one server family, every server in key order. */
static void
metrics_out_servers(struct metrics_out *o, const struct metrics_table *t,
    const size_t *order, enum metrics_server_field f, const char *name,
    const char *type, const char *help)
{
	const struct metrics_server *sv;

	if (t->mt_n == 0)
		return;
	metrics_out_family(o, name, type, help);
	for (size_t i = 0; i < t->mt_n; i++) {
		sv = (const struct metrics_server *)(void *)
		    metrics_table_key(t, order[i]);
		switch (f) {
		case MSF_UP:
			metrics_out_server_sample(o, name, sv, NULL,
			    !sv->ms_down);
			break;
		case MSF_TRIES:
			metrics_out_server_sample(o, name, sv, NULL,
			    sv->ms_tries);
			break;
		case MSF_FAILURES:
			metrics_out_server_sample(o, name, sv, NULL,
			    sv->ms_failures);
			break;
		case MSF_CONNECTIONS:
			metrics_out_server_sample(o, name, sv, "active",
			    sv->ms_active);
			metrics_out_server_sample(o, name, sv, "idle",
			    sv->ms_idle);
			break;
		}
	}
}

/* Append every family but the daemon-wide ones. */
static void
metrics_out_all(struct metrics_out *o, const struct metrics_snapshot *s,
    const size_t *rows, const size_t *servers)
{
	const struct metrics_table *st = &s->ms_servers;

	metrics_out_requests(o, &s->ms_rows, rows);
	metrics_out_histogram(o, "hourglass_request_duration_seconds",
	    "Time from request head to the end of the request.",
	    &s->ms_counts.mc_dur, &metrics_dur_bounds);
	metrics_out_family(o, "hourglass_connections", "gauge",
	    "Open client connections by state.");
	for (int i = 0; i < METRICS_CONN_STATES; i++) {
		const char *name = metrics_conn_state_name(i);

		metrics_out_str(o, "hourglass_connections{");
		metrics_out_label(o, true, "state", name, strlen(name));
		metrics_out_str(o, "} ");
		metrics_out_u64(o, s->ms_conns[i]);
		metrics_out_put(o, "\n", 1);
	}
	metrics_out_single(o, "hourglass_connections_accepted_total",
	    "counter", "Client connections accepted.",
	    s->ms_counts.mc_accepted);
	metrics_out_single(o, "hourglass_keepalive_closed_total", "counter",
	    "Client connections closed by the keepalive timeout.",
	    s->ms_counts.mc_keepalive_closed);
	metrics_out_servers(o, st, servers, MSF_UP, "hourglass_upstream_up",
	    "gauge", "Whether the server is up (0 if any worker has it down).");
	metrics_out_servers(o, st, servers, MSF_TRIES,
	    "hourglass_upstream_tries_total", "counter",
	    "Attempts sent to the server.");
	metrics_out_servers(o, st, servers, MSF_FAILURES,
	    "hourglass_upstream_failures_total", "counter",
	    "Attempts to the server that failed.");
	metrics_out_servers(o, st, servers, MSF_CONNECTIONS,
	    "hourglass_upstream_connections", "gauge",
	    "Upstream connections by state: active (in use) or idle (pooled).");
	metrics_out_histogram(o, "hourglass_timer_lateness_seconds",
	    "How late deadline timers fired past their deadline.",
	    &s->ms_deadline.ds_late, &deadline_stats_bounds);
	metrics_out_histogram(o, "hourglass_loop_lag_seconds",
	    "How late the event loop ran the lag probe.",
	    &s->ms_deadline.ds_lag, &deadline_stats_bounds);
	metrics_out_family(o, "hourglass_loop_lag_last_seconds", "gauge",
	    "The latest loop lag sample (the largest across workers).");
	metrics_out_str(o, "hourglass_loop_lag_last_seconds ");
	metrics_out_seconds(o, s->ms_deadline.ds_lag_last_us);
	metrics_out_put(o, "\n", 1);
	metrics_out_single(o, "hourglass_config_generation", "gauge",
	    "Generation of the configuration in force.", s->ms_generation);
	metrics_out_single(o, "hourglass_reloads_total", "counter",
	    "Configuration reloads done.", s->ms_reloads);
	metrics_out_single(o, "hourglass_reload_failures_total", "counter",
	    "Configuration reloads refused.", s->ms_reload_failures);
	metrics_out_single(o, "hourglass_workers", "gauge",
	    "Worker threads.", s->ms_workers);
	metrics_out_single(o, "hourglass_requests_in_flight", "gauge",
	    "Requests in flight.", s->ms_in_flight);
}

/* Render the snapshot in the Prometheus text format 0.0.4. */
int
metrics_render(const struct metrics_snapshot *s, char **text, size_t *len)
{
	struct metrics_out o = { NULL, 0, 0, false };
	size_t *rows, *servers;

	rows = metrics_sorted(&s->ms_rows, &o.mo_err);
	servers = metrics_sorted(&s->ms_servers, &o.mo_err);
	if (!o.mo_err)
		metrics_out_all(&o, s, rows, servers);
	free(rows);
	free(servers);
	if (o.mo_err) {
		free(o.mo_buf);
		errno = ENOMEM;
		return -1;
	}
	*text = o.mo_buf;
	*len = o.mo_len;
	return 0;
}
