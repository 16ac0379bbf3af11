/*
 * Prometheus metrics (SPEC section 8).  Counters are relaxed atomics, so
 * recording costs a few uncontended instructions on the request path and
 * never takes a lock; rendering reads them without stopping anyone, which
 * is what Prometheus expects of a scrape.
 */
#ifndef PA_METRICS_H
#define PA_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "chain.h"

#define PA_HIST_BUCKETS 16
#define PA_PROFILES 4
#define PA_OUTCOMES 6

struct pa_histogram {
	atomic_uint_fast64_t buckets[PA_HIST_BUCKETS + 1];	/* last one: +Inf */
	atomic_uint_fast64_t sum_us;
};

struct pa_metrics {
	atomic_uint_fast64_t requests[PA_PROFILES][PA_OUTCOMES];
	struct pa_histogram request_duration;
	atomic_uint_fast64_t backend_requests[PA_CHAIN_MAX][4];
	struct pa_histogram backend_duration[PA_CHAIN_MAX];
	atomic_uint_fast64_t cache_hits, cache_misses;
	atomic_uint_fast64_t lockouts_user, lockouts_address;
	atomic_uint_fast64_t lockout_store_errors;	/* lockout_store = redis failed */
	atomic_uint_fast64_t negotiate_failures;	/* Kerberos tokens refused */
};

void pa_metrics_observe(struct pa_histogram *h, uint64_t us);

/* Gauges that live elsewhere, read at render time. */
struct pa_metrics_gauges {
	size_t cache_entries;
	const struct pa_chain *chain;
	const bool *backend_up;		/* one per chain link */
};

/* Writes the Prometheus text format into buf[size].  Returns the length,
 * or 0 when it did not fit. */
size_t pa_metrics_render(const struct pa_metrics *m, const struct pa_metrics_gauges *g,
			 char *buf, size_t size);

#endif
