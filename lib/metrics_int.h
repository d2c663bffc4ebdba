/*
 * metrics_int.h: private to the metrics module (metrics.c, metrics_table.c,
 * metrics_text.c); nothing else includes it.
 *
 * Rows of counters (a route's requests, an upstream's times, an upstream
 * server's health) live in a small open-addressing hash table keyed by string
 * contents (metrics_table.c).  The worker's counters and the snapshots
 * (metrics.c) keep their rows in such tables; the renderer
 * (metrics_text.c) reads a snapshot's layout, declared here.
 */
#ifndef HG_METRICS_INT_H
#define HG_METRICS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadline_stats.h"
#include "hist.h"
#include "metrics.h"
#include "tls.h"
#include "outcome.h"

/* A row's key: its own copy of the string, which may hold a NUL inside. */
struct metrics_key {
	char		*mk_str;	/* NUL-terminated too */
	size_t		 mk_len;
	uint32_t	 mk_hash;
};

/*
 * Rows of one kind: an array of entries of mt_esz bytes that each start
 * with a struct metrics_key, and an open-addressing index of them.  An
 * entry keeps its index for the table's life; entries are added, never
 * removed.
 */
struct metrics_table {
	char		*mt_ents;
	size_t		 mt_esz;
	size_t		 mt_n;
	size_t		 mt_cap;
	uint32_t	*mt_slots;	/* entry index + 1; 0 is empty */
	size_t		 mt_nslots;	/* a power of two, > 2 * mt_n */
};

/* The status classes of the code label: "1xx" to "5xx", then "other". */
#define METRICS_CODES		6
#define METRICS_CODE_OTHER	5

/* A route's requests by outcome and code, durations by kind, and bytes. */
struct metrics_row {
	struct metrics_key mr_key;	/* the route prefix, "-" or "other" */
	uint64_t	 mr_count[OUTCOME_COUNT][METRICS_CODES];
	struct hist	 mr_dur[OUTCOME_KIND_COUNT];
	uint64_t	 mr_bytes_in;
	uint64_t	 mr_bytes_out;
};

/* An upstream group's connect and response head times. */
struct metrics_upstream {
	struct metrics_key mu_key;	/* the group's name */
	struct hist	 mu_connect;
	struct hist	 mu_header;
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
	uint64_t	 mc_keepalive_closed;
	uint64_t	 mc_accepted;
	uint64_t	 mc_tls_handshakes;		/* client side, done */
	uint64_t	 mc_tls_failures[TLS_FAIL_COUNT];	/* by reason */
	uint64_t	 mc_tunnels[OUTCOME_COUNT];	/* ended, by outcome */
	uint64_t	 mc_retries[METRICS_RETRY_RESULTS];
	uint64_t	 mc_hedges_started;
	uint64_t	 mc_hedges[METRICS_HEDGE_RESULTS];
	uint64_t	 mc_skipped[METRICS_SKIPS];
};

struct metrics_snapshot {
	struct metrics_table ms_rows;		/* struct metrics_row */
	struct metrics_table ms_upstreams;	/* struct metrics_upstream */
	struct metrics_table ms_servers;	/* struct metrics_server */
	struct metrics_counts ms_counts;
	uint64_t	 ms_conns[METRICS_CONN_STATES];
	struct deadline_stats ms_deadline;
	unsigned	 ms_generation;
	unsigned	 ms_workers;
	uint64_t	 ms_reloads;
	uint64_t	 ms_reload_failures;
	uint64_t	 ms_in_flight;
	char		*ms_version;		/* NULL: no build_info */
	struct metrics_process ms_process;
};

/*
 * The buckets of the request, connect and upstream header times: 100 us to
 * 60 s, then +Inf, so that a loopback request lands in a low bucket.
 */
extern const struct hist_bounds metrics_dur_bounds;

/* The label value of a code slot: "1xx" ... "5xx", "other". */
const char	*metrics_code_name(unsigned);

/* The code slot of an outcome's zero series, or -1 when the outcome
 * cannot end a request (timeout:keepalive) and has none. */
int		 metrics_zero_code(enum outcome);

/* The hash of a key of len bytes. */
uint32_t	 metrics_table_hash(const char *, size_t len);

/* Set up an empty table of entries of esz bytes. */
void		 metrics_table_init(struct metrics_table *, size_t esz);

/* Free a table's entries, their keys and its index; it is then empty. */
void		 metrics_table_clear(struct metrics_table *);

/* The index of the entry with key s (len bytes, hash h), or -1. */
long		 metrics_table_find(const struct metrics_table *, const char *s,
		    size_t len, uint32_t h);

/* Append a zeroed entry with a copy of key s; its index, or -1 on no
 * memory.  The key must not be in the table yet. */
long		 metrics_table_add(struct metrics_table *, const char *s,
		    size_t len, uint32_t h);

/* The entry with key s, added zeroed if it is new; -1 on no memory. */
long		 metrics_table_get(struct metrics_table *, const char *s,
		    size_t len);

/*
 * The entries in key order (bytes, then length), as a malloc'd array of
 * indexes that the caller frees; NULL when the table is empty, or when
 * memory is exhausted, and then *err is set.
 */
size_t		*metrics_table_sorted(const struct metrics_table *, bool *err);

/* The key, and so the start, of entry i. */
static inline struct metrics_key *
metrics_table_key(const struct metrics_table *t, size_t i)
{
	return (struct metrics_key *)(void *)(t->mt_ents + i * t->mt_esz);
}

#endif
