/* hist.c: histograms of microsecond samples over fixed bucket bounds. */
#include "hist.h"

/* Add src into dst. */
void
hist_add(struct hist *dst, const struct hist *src)
{
	for (int i = 0; i < HIST_BUCKETS_MAX; i++)
		dst->h_bucket[i] += src->h_bucket[i];
	dst->h_sum_us += src->h_sum_us;
}

/* The number of samples. */
uint64_t
hist_count(const struct hist *h)
{
	uint64_t n = 0;

	for (int i = 0; i < HIST_BUCKETS_MAX; i++)
		n += h->h_bucket[i];
	return n;
}
