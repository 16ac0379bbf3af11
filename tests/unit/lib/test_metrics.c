/*
 * Unit tests for lib/metrics.c: what a Prometheus scrape relies on.  Every
 * family has its HELP and TYPE before its samples; a histogram's buckets
 * are cumulative, end in +Inf, and +Inf equals _count, with _sum in
 * seconds; every profile and outcome pair is present from the start (so
 * rate() works before the first deny); label values are escaped; an
 * output that does not fit gives 0, never a cut-off scrape.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "pipeline.h"

static const struct pa_backend_ops plain_ops = { .name = "ldap" };
static const struct pa_backend_ops odd_ops = { .name = "we\"ird\\b\nx" };

static char *
render(const struct pa_metrics *m, const struct pa_chain *chain, const bool *up, size_t *len)
{
	static char buf[65536];
	struct pa_metrics_gauges g = { 0 };

	g.cache_entries = 7;
	g.chain = chain;
	g.backend_up = up;
	*len = pa_metrics_render(m, &g, buf, sizeof(buf));
	assert_true(*len > 0);
	assert_int_equal(strlen(buf), *len);
	return buf;
}

/* The value of the sample line that starts with prefix (name{labels}). */
static unsigned long long
sample(const char *text, const char *prefix)
{
	char want[256];
	const char *p;

	snprintf(want, sizeof(want), "\n%s ", prefix);
	p = strstr(text, want);
	if (p == NULL)
		fail_msg("no sample %s", prefix);
	return strtoull(p + strlen(want), NULL, 10);
}

static void
test_histogram_cumulative(void **state)
{
	struct pa_metrics *m = calloc(1, sizeof(*m));
	static const char *const le[] = { "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
					  "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
					  "1", "2.5", "5", "10", "+Inf" };
	static const unsigned long long want[] = { 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
						   4, 5 };
	char name[128];
	size_t len, i;
	const char *out;

	(void)state;
	pa_metrics_observe(&m->request_duration, 50);		/* 50 us */
	pa_metrics_observe(&m->request_duration, 100);		/* on the edge: le=0.0001 */
	pa_metrics_observe(&m->request_duration, 300);
	pa_metrics_observe(&m->request_duration, 2000);
	pa_metrics_observe(&m->request_duration, 20000000);	/* 20 s: only +Inf */
	out = render(m, NULL, NULL, &len);
	for (i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
		snprintf(name, sizeof(name),
			 "proxyauthd_request_duration_seconds_bucket{le=\"%s\"}", le[i]);
		assert_int_equal(sample(out, name), want[i]);
	}
	assert_int_equal(sample(out, "proxyauthd_request_duration_seconds_count"), 5);
	assert_non_null(strstr(out, "\nproxyauthd_request_duration_seconds_sum 20.002450\n"));
	free(m);
}

static void
test_format_and_counters(void **state)
{
	struct pa_metrics *m = calloc(1, sizeof(*m));
	struct pa_chain chain = { .n = 1 };
	bool up[1] = { true };
	const char *out, *help, *type, *first;
	size_t len;
	int p, o;

	(void)state;
	chain.links[0].ops = &plain_ops;
	m->requests[PA_PROFILE_AUTH][PA_OUT_ALLOW] = 3;
	m->requests[PA_PROFILE_SQUID][PA_OUT_LOCKED] = 2;
	m->backend_requests[0][1] = 4;		/* denied */
	m->cache_hits = 9;
	m->lockouts_address = 1;
	pa_metrics_observe(&m->backend_duration[0], 1500);
	out = render(m, &chain, up, &len);

	assert_int_equal(out[len - 1], '\n');
	/* HELP, then TYPE, then the samples. */
	help = strstr(out, "# HELP proxyauthd_requests_total ");
	type = strstr(out, "# TYPE proxyauthd_requests_total counter\n");
	first = strstr(out, "\nproxyauthd_requests_total{");
	assert_non_null(help);
	assert_non_null(type);
	assert_non_null(first);
	assert_true(help < type && type < first);
	assert_non_null(strstr(out, "# TYPE proxyauthd_request_duration_seconds histogram\n"));
	assert_non_null(strstr(out, "# TYPE proxyauthd_backend_up gauge\n"));
	/* Every pair, zero or not. */
	for (p = 0; p < PA_PROFILES; p++)
		for (o = 0; o < PA_OUTCOMES; o++) {
			char name[128];

			snprintf(name, sizeof(name),
				 "proxyauthd_requests_total{profile=\"%s\",outcome=\"%s\"}",
				 pa_profile_name((enum pa_profile)p),
				 pa_outcome_name((enum pa_outcome)o));
			assert_int_equal(sample(out, name),
					 (p == PA_PROFILE_AUTH && o == PA_OUT_ALLOW) ? 3 :
					 (p == PA_PROFILE_SQUID && o == PA_OUT_LOCKED) ? 2 : 0);
		}
	assert_int_equal(sample(out, "proxyauthd_backend_requests_total{backend=\"ldap\","
				     "result=\"denied\"}"), 4);
	assert_int_equal(sample(out, "proxyauthd_backend_requests_total{backend=\"ldap\","
				     "result=\"granted\"}"), 0);
	assert_int_equal(sample(out, "proxyauthd_backend_duration_seconds_bucket{backend=\"ldap\","
				     "le=\"0.001\"}"), 0);
	assert_int_equal(sample(out, "proxyauthd_backend_duration_seconds_bucket{backend=\"ldap\","
				     "le=\"0.0025\"}"), 1);
	assert_int_equal(sample(out, "proxyauthd_backend_duration_seconds_count{backend=\"ldap\"}"),
			 1);
	assert_int_equal(sample(out, "proxyauthd_backend_up{backend=\"ldap\"}"), 1);
	assert_int_equal(sample(out, "proxyauthd_cache_hits_total"), 9);
	assert_int_equal(sample(out, "proxyauthd_cache_entries"), 7);
	assert_int_equal(sample(out, "proxyauthd_lockouts_total{kind=\"address\"}"), 1);
	assert_int_equal(sample(out, "proxyauthd_lockouts_total{kind=\"user\"}"), 0);
	/* A backend that is not up, or not probed at all, is 0. */
	up[0] = false;
	out = render(m, &chain, up, &len);
	assert_int_equal(sample(out, "proxyauthd_backend_up{backend=\"ldap\"}"), 0);
	out = render(m, &chain, NULL, &len);
	assert_int_equal(sample(out, "proxyauthd_backend_up{backend=\"ldap\"}"), 0);
	free(m);
}

/* A label value with a quote, a backslash and a newline stays one
 * well-formed sample line. */
static void
test_label_escaping(void **state)
{
	struct pa_metrics *m = calloc(1, sizeof(*m));
	struct pa_chain chain = { .n = 1 };
	bool up[1] = { true };
	const char *out;
	size_t len;

	(void)state;
	chain.links[0].ops = &odd_ops;
	out = render(m, &chain, up, &len);
	assert_int_equal(sample(out, "proxyauthd_backend_up{backend=\"we\\\"ird\\\\b\\nx\"}"), 1);
	assert_non_null(strstr(out, "proxyauthd_backend_duration_seconds_count{backend="
				    "\"we\\\"ird\\\\b\\nx\"} 0\n"));
	assert_null(strstr(out, "we\"ird"));
	free(m);
}

/* Too small a buffer: 0, not a scrape cut in the middle. */
static void
test_does_not_fit(void **state)
{
	struct pa_metrics *m = calloc(1, sizeof(*m));
	struct pa_metrics_gauges g = { 0 };
	char buf[512];

	(void)state;
	assert_int_equal(pa_metrics_render(m, &g, buf, sizeof(buf)), 0);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_format_and_counters),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_does_not_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
