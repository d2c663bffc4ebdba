/*
 * budget.h: a retry budget: over a sliding window of 10 one-second slots,
 * the retries (and hedges) of an upstream group may not exceed
 * max(pct of its requests, min per second).  Plain data, no lock: a
 * budget belongs to one worker.
 */
#ifndef HG_BUDGET_H
#define HG_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define BUDGET_SLOTS	10		/* one-second slots in the window */

struct budget {
	int64_t		 bu_sec[BUDGET_SLOTS];	/* the second a slot counts */
	uint32_t	 bu_requests[BUDGET_SLOTS];
	uint32_t	 bu_retries[BUDGET_SLOTS];
};

/* A request started at now (monotonic us). */
void	 budget_request(struct budget *, int64_t now);

/*
 * Whether one more retry fits at now: the retries of the window stay
 * within max(pct% of its requests, min per second x 10 s).  When it fits,
 * it is counted and true returned.
 */
bool	 budget_take(struct budget *, int64_t now, unsigned pct, unsigned min);

#endif
