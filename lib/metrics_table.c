/*
 * metrics_table.c: rows of counters keyed by string contents: an array of
 * entries and an open-addressing index of them, with linear probing.
 */
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

/* The hash of a key: FNV-1a of its bytes. */
uint32_t
metrics_table_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

/* Set up an empty table of entries of esz bytes. */
void
metrics_table_init(struct metrics_table *t, size_t esz)
{
	memset(t, 0, sizeof *t);
	t->mt_esz = esz;
}

/* Free a table's entries, their keys and its index. */
void
metrics_table_clear(struct metrics_table *t)
{
	for (size_t i = 0; i < t->mt_n; i++)
		free(metrics_table_key(t, i)->mk_str);
	free(t->mt_ents);
	free(t->mt_slots);
	metrics_table_init(t, t->mt_esz);
}

/* The entry with key s (len bytes, hash h), or -1. */
long
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
long
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
long
metrics_table_get(struct metrics_table *t, const char *s, size_t len)
{
	uint32_t h = metrics_table_hash(s, len);
	long i = metrics_table_find(t, s, len, h);

	return i >= 0 ? i : metrics_table_add(t, s, len, h);
}

/* Compare two entries of table arg by key bytes, then length (qsort_r). */
static int
metrics_table_cmp(const void *a, const void *b, void *arg)
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

/* The entries of t in key order, as a malloc'd array of indexes. */
size_t *
metrics_table_sorted(const struct metrics_table *t, bool *err)
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
	qsort_r(order, t->mt_n, sizeof *order, metrics_table_cmp, (void *)t);
	return order;
}
