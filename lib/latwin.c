/*
 * latwin.c: a latency window of two 10 s generations; see latwin.h.
 */
#include <string.h>

#include "latwin.h"

/*
 * The bucket of a sample: its own under 16 us; above, eight buckets per
 * power of two, by the three bits under the leading one.
 */
static unsigned
latwin_bucket(uint64_t us)
{
	unsigned o, b;

	if (us < 16)
		return (unsigned)us;
	o = 63 - (unsigned)__builtin_clzll(us);
	b = 16 + (o - 4) * 8 + (unsigned)((us >> (o - 3)) & 7);
	return b < LATWIN_BUCKETS ? b : LATWIN_BUCKETS - 1;
}

/* The largest sample that bucket b holds. */
static uint64_t
latwin_bound(unsigned b)
{
	unsigned o, s;

	if (b < 16)
		return b;
	o = (b - 16) / 8 + 4;
	s = (b - 16) % 8;
	return ((8ULL + s + 1) << (o - 3)) - 1;
}

/* Start a new generation when the current one is 10 s old; a window idle
 * for 20 s forgets both. */
static void
latwin_age(struct latwin *w, int64_t now)
{
	int64_t age = now - w->lw_since;

	if (age < LATWIN_GEN_US)
		return;
	if (age < 2 * (int64_t)LATWIN_GEN_US) {
		memcpy(w->lw_count[1], w->lw_count[0], sizeof w->lw_count[0]);
		w->lw_n[1] = w->lw_n[0];
		w->lw_since += LATWIN_GEN_US;
	} else {
		memset(w->lw_count[1], 0, sizeof w->lw_count[1]);
		w->lw_n[1] = 0;
		w->lw_since = now;
	}
	memset(w->lw_count[0], 0, sizeof w->lw_count[0]);
	w->lw_n[0] = 0;
}

void
latwin_record(struct latwin *w, int64_t now, uint64_t us)
{
	latwin_age(w, now);
	w->lw_count[0][latwin_bucket(us)]++;
	w->lw_n[0]++;
}

uint32_t
latwin_samples(struct latwin *w, int64_t now)
{
	latwin_age(w, now);
	return w->lw_n[0] + w->lw_n[1];
}

uint64_t
latwin_percentile(struct latwin *w, int64_t now, unsigned pct)
{
	uint64_t n = latwin_samples(w, now), want, seen = 0;

	if (n == 0)
		return 0;
	want = (n * pct + 99) / 100;		/* the sample at the rank */
	if (want == 0)
		want = 1;
	for (unsigned b = 0; b < LATWIN_BUCKETS; b++) {
		seen += w->lw_count[0][b] + w->lw_count[1][b];
		if (seen >= want)
			return latwin_bound(b);
	}
	return latwin_bound(LATWIN_BUCKETS - 1);
}
