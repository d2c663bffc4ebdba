/*
 * bench_metrics.c: the cost of metrics_request(), the metrics' hot path,
 * called once per finished request.
 *
 * Routes and upstream names are separate heap strings, as a config's are,
 * seen once before the timing starts.  The requests cycle through the
 * routes (one upstream per two routes) with a mix of outcomes, statuses,
 * durations around a loopback request's, and a pooled connection (no
 * connect time) three times in four.  It prints ns per call; for the
 * instruction count, run it under callgrind:
 *
 *   valgrind --tool=callgrind --toggle-collect=metrics_request \
 *       bench/bench_metrics ROUTES 1000000
 *
 * and divide the collected instructions by the calls (ROUTES more, for
 * the first sight of each route).
 *
 * Usage: bench_metrics [routes [calls]]   (defaults: 4 routes, 10^7 calls)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "scope.h"

/* Nanoseconds of CLOCK_MONOTONIC. */
static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	static const enum outcome outcomes[] = {
		OUTCOME_OK, OUTCOME_OK, OUTCOME_OK,
		OUTCOME_TIMEOUT + SCOPE_UPSTREAM_HEADER, OUTCOME_ERROR_CONNECT,
	};
	static const int statuses[] = { 200, 200, 404, 504, 502 };
	int nroutes = argc > 1 ? atoi(argv[1]) : 4;
	long n = argc > 2 ? atol(argv[2]) : 10000000;
	struct metrics_req mr;
	struct metrics *m;
	char **routes, **ups, name[64];
	double t0;

	if (nroutes < 1 || n < 1) {
		fprintf(stderr, "usage: bench_metrics [routes [calls]]\n");
		return 2;
	}
	routes = calloc((size_t)nroutes, sizeof *routes);
	ups = calloc((size_t)nroutes, sizeof *ups);
	if ((m = metrics_new()) == NULL || routes == NULL || ups == NULL)
		return 1;
	for (int i = 0; i < nroutes; i++) {
		snprintf(name, sizeof name, "/route%d/", i);
		routes[i] = strdup(name);
		snprintf(name, sizeof name, "up%d", i / 2);
		ups[i] = i % 2 == 0 ? strdup(name) : ups[i - 1];
		if (routes[i] == NULL || ups[i] == NULL)
			return 1;
		mr = (struct metrics_req){ routes[i], ups[i], OUTCOME_OK, 200,
		    100, 10, 50, 100, 100 };
		metrics_request(m, &mr);
	}
	t0 = now_ns();
	for (long i = 0; i < n; i++) {
		int r = (int)(i % nroutes), k = (int)(i % 5);

		mr.route = routes[r];
		mr.upstream = ups[r];
		mr.outcome = outcomes[k];
		mr.status = statuses[k];
		mr.total_us = 100 + (i * 37) % 400;
		mr.connect_us = i % 4 == 0 ? 40 : -1;
		mr.upstream_header_us = k < 3 ? 60 + i % 200 : -1;
		mr.bytes_in = 80;
		mr.bytes_out = 200 + (uint64_t)(i % 1000);
		metrics_request(m, &mr);
	}
	printf("metrics_request: %d routes: %.1f ns/call\n", nroutes,
	    (now_ns() - t0) / (double)n);
	metrics_free(m);
	for (int i = 0; i < nroutes; i++) {
		if (i % 2 == 0)
			free(ups[i]);
		free(routes[i]);
	}
	free(routes);
	free(ups);
	return 0;
}
