/*
 * Metrics rendering.  Histograms keep per-bucket counts and are made
 * cumulative only when rendered.
 */
#include "metrics.h"
#include "pipeline.h"

#include <stdarg.h>
#include <stdio.h>

static const double bucket_le[PA_HIST_BUCKETS] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

void
pa_metrics_observe(struct pa_histogram *h, uint64_t us)
{
	int i;

	for (i = 0; i < PA_HIST_BUCKETS; i++)
		if ((double)us <= bucket_le[i] * 1e6)
			break;
	atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

struct out {
	char *buf;
	size_t size, pos;
	int overflow;
};

static void
emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
emit(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->pos, o->size - o->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->pos)
		o->overflow = 1;
	else
		o->pos += (size_t)n;
}

/* A label value as the text format wants it: backslash, double quote and
 * newline escaped (backend names are plain today; this keeps a future one
 * from breaking the scrape).  Cut short, never unescaped, if too long. */
static const char *
label(const char *v, char *out, size_t size)
{
	size_t i, o = 0;

	for (i = 0; v[i] != '\0' && o + 3 < size; i++) {
		if (v[i] == '\\' || v[i] == '"' || v[i] == '\n') {
			out[o++] = '\\';
			out[o++] = v[i] == '\n' ? 'n' : v[i];
		} else {
			out[o++] = v[i];
		}
	}
	out[o] = '\0';
	return out;
}

static uint64_t
get(const atomic_uint_fast64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

static void
histogram(struct out *o, const char *name, const char *labels, const struct pa_histogram *h)
{
	uint64_t cum = 0;
	int i;

	for (i = 0; i < PA_HIST_BUCKETS; i++) {
		cum += get(&h->buckets[i]);
		emit(o, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, labels[0] ? "," : "",
		     bucket_le[i], (unsigned long long)cum);
	}
	cum += get(&h->buckets[PA_HIST_BUCKETS]);
	emit(o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, labels[0] ? "," : "",
	     (unsigned long long)cum);
	if (labels[0]) {
		emit(o, "%s_sum{%s} %.6f\n", name, labels, (double)get(&h->sum_us) / 1e6);
		emit(o, "%s_count{%s} %llu\n", name, labels, (unsigned long long)cum);
	} else {
		emit(o, "%s_sum %.6f\n", name, (double)get(&h->sum_us) / 1e6);
		emit(o, "%s_count %llu\n", name, (unsigned long long)cum);
	}
}

size_t
pa_metrics_render(const struct pa_metrics *m, const struct pa_metrics_gauges *g, char *buf,
		  size_t size)
{
	static const char *const results[] = { "granted", "denied", "not_found", "unavailable" };
	struct out o = { buf, size, 0, 0 };
	char labels[96], name[64];
	int p, oc, b, r;

	emit(&o, "# HELP proxyauthd_requests_total Decisions by profile and outcome.\n"
		 "# TYPE proxyauthd_requests_total counter\n");
	for (p = 0; p < PA_PROFILES; p++)
		for (oc = 0; oc < PA_OUTCOMES; oc++)
			emit(&o, "proxyauthd_requests_total{profile=\"%s\",outcome=\"%s\"} %llu\n",
			     pa_profile_name((enum pa_profile)p),
			     pa_outcome_name((enum pa_outcome)oc),
			     (unsigned long long)get(&m->requests[p][oc]));
	emit(&o, "# HELP proxyauthd_request_duration_seconds Time from request to answer.\n"
		 "# TYPE proxyauthd_request_duration_seconds histogram\n");
	histogram(&o, "proxyauthd_request_duration_seconds", "", &m->request_duration);

	emit(&o, "# HELP proxyauthd_backend_requests_total Backend answers by result.\n"
		 "# TYPE proxyauthd_backend_requests_total counter\n");
	for (b = 0; g->chain != NULL && b < g->chain->n; b++)
		for (r = 0; r < 4; r++)
			emit(&o, "proxyauthd_backend_requests_total{backend=\"%s\",result=\"%s\"} %llu\n",
			     label(g->chain->links[b].ops->name, name, sizeof(name)), results[r],
			     (unsigned long long)get(&m->backend_requests[b][r]));
	emit(&o, "# HELP proxyauthd_backend_duration_seconds Time a backend took to answer.\n"
		 "# TYPE proxyauthd_backend_duration_seconds histogram\n");
	for (b = 0; g->chain != NULL && b < g->chain->n; b++) {
		snprintf(labels, sizeof(labels), "backend=\"%s\"",
			 label(g->chain->links[b].ops->name, name, sizeof(name)));
		histogram(&o, "proxyauthd_backend_duration_seconds", labels,
			  &m->backend_duration[b]);
	}
	emit(&o, "# HELP proxyauthd_backend_up Whether the backend answered its last probe.\n"
		 "# TYPE proxyauthd_backend_up gauge\n");
	for (b = 0; g->chain != NULL && b < g->chain->n; b++)
		emit(&o, "proxyauthd_backend_up{backend=\"%s\"} %d\n",
		     label(g->chain->links[b].ops->name, name, sizeof(name)),
		     g->backend_up != NULL && g->backend_up[b] ? 1 : 0);

	for (b = 0; g->chain != NULL && b < g->chain->n; b++) {
		const struct pa_chain_link *l = &g->chain->links[b];
		bool stale = false;
		uint64_t failures = 0;

		if (l->ops->reload_state == NULL)
			continue;
		l->ops->reload_state(l->ctx, &stale, &failures);
		emit(&o, "# HELP proxyauthd_%s_stale 1 while the last reload failed and the "
			 "table loaded before it still answers.\n"
			 "# TYPE proxyauthd_%s_stale gauge\n"
			 "proxyauthd_%s_stale %d\n"
			 "# HELP proxyauthd_%s_reload_failures_total Reloads refused (the file did "
			 "not parse or could not be read).\n"
			 "# TYPE proxyauthd_%s_reload_failures_total counter\n"
			 "proxyauthd_%s_reload_failures_total %llu\n",
		     l->ops->name, l->ops->name, l->ops->name, stale ? 1 : 0, l->ops->name,
		     l->ops->name, l->ops->name, (unsigned long long)failures);
	}

	emit(&o, "# HELP proxyauthd_cache_hits_total Answers taken from the cache.\n"
		 "# TYPE proxyauthd_cache_hits_total counter\n"
		 "proxyauthd_cache_hits_total %llu\n"
		 "# HELP proxyauthd_cache_misses_total Lookups the cache could not answer.\n"
		 "# TYPE proxyauthd_cache_misses_total counter\n"
		 "proxyauthd_cache_misses_total %llu\n"
		 "# HELP proxyauthd_cache_entries Answers held in the cache.\n"
		 "# TYPE proxyauthd_cache_entries gauge\n"
		 "proxyauthd_cache_entries %zu\n",
	     (unsigned long long)get(&m->cache_hits), (unsigned long long)get(&m->cache_misses),
	     g->cache_entries);
	emit(&o, "# HELP proxyauthd_lockouts_total Lockouts started, by kind.\n"
		 "# TYPE proxyauthd_lockouts_total counter\n"
		 "proxyauthd_lockouts_total{kind=\"user\"} %llu\n"
		 "proxyauthd_lockouts_total{kind=\"address\"} %llu\n",
	     (unsigned long long)get(&m->lockouts_user),
	     (unsigned long long)get(&m->lockouts_address));
	emit(&o, "# HELP proxyauthd_lockout_store_errors_total Shared lockout store (Redis) "
		 "calls that failed; counting fell back to memory.\n"
		 "# TYPE proxyauthd_lockout_store_errors_total counter\n"
		 "proxyauthd_lockout_store_errors_total %llu\n",
	     (unsigned long long)get(&m->lockout_store_errors));
	emit(&o, "# HELP proxyauthd_negotiate_failures_total Kerberos Negotiate tokens refused "
		 "(never counted toward lockout).\n"
		 "# TYPE proxyauthd_negotiate_failures_total counter\n"
		 "proxyauthd_negotiate_failures_total %llu\n",
	     (unsigned long long)get(&m->negotiate_failures));
	return o.overflow ? 0 : o.pos;
}
