/*
 * budget.c: a retry budget over ten one-second slots; see budget.h.
 */
#include "budget.h"

/* The slot of now's second, emptied if it last counted an older one. */
static unsigned
budget_slot(struct budget *b, int64_t now)
{
	int64_t sec = now / 1000000;
	unsigned i = (unsigned)(sec % BUDGET_SLOTS);

	if (b->bu_sec[i] != sec) {
		b->bu_sec[i] = sec;
		b->bu_requests[i] = 0;
		b->bu_retries[i] = 0;
	}
	return i;
}

void
budget_request(struct budget *b, int64_t now)
{
	b->bu_requests[budget_slot(b, now)]++;
}

bool
budget_take(struct budget *b, int64_t now, unsigned pct, unsigned min)
{
	int64_t sec = now / 1000000;
	unsigned cur = budget_slot(b, now);
	uint64_t requests = 0, retries = 0, allowed;

	for (unsigned i = 0; i < BUDGET_SLOTS; i++) {
		if (b->bu_sec[i] <= sec - BUDGET_SLOTS)
			continue;		/* older than the window */
		requests += b->bu_requests[i];
		retries += b->bu_retries[i];
	}
	allowed = requests * pct / 100;
	if (allowed < (uint64_t)min * BUDGET_SLOTS)
		allowed = (uint64_t)min * BUDGET_SLOTS;
	if (retries >= allowed)
		return false;
	b->bu_retries[cur]++;
	return true;
}
