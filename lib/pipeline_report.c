/*
 * What the pipeline tells operators: the one log line per decision, the
 * /metrics text and the /readyz report (pipeline.h), and the counts and
 * log lines of the backends' answers and of the lockout's events.
 *
 * Invariants: the decision line never holds a password or a credentials
 * header (only the parsed user name, escaped by the log), and after a
 * grant names the backend's canonical identity.
 */
#include "pipeline.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char *const profile_names[] = { "auth", "auth-request", "ext-authz", "squid" };
static const char *const outcome_names[] = { "allow", "deny", "forbidden", "malformed",
					     "locked", "unavailable" };

const char *
pa_profile_name(enum pa_profile profile)
{
	return profile_names[profile];
}

const char *
pa_outcome_name(enum pa_outcome outcome)
{
	return outcome_names[outcome];
}

void
pa_decision_log(const struct pa_pipeline *p, const struct pa_decision *d, uint64_t us)
{
	char latency[24];
	bool has_user = d->cred_status == PA_CRED_OK || d->cred_status == PA_CRED_EMPTY_PASSWORD;
	const char *reason = NULL;
	struct pa_log_field f[12];
	int n = 0;

	if (d->outcome == PA_OUT_MALFORMED)
		reason = d->cred_why;
	else if (d->negotiate && d->why.msg[0] != '\0')
		reason = d->why.msg;	/* the Negotiate (GSS) reason, never the token */
	else if (d->outcome == PA_OUT_UNAVAILABLE || d->outcome == PA_OUT_LOCKED ||
		 ((d->outcome == PA_OUT_FORBIDDEN || d->outcome == PA_OUT_DENY) &&
		  d->why.msg[0] != '\0'))
		reason = d->why.msg;
	else if (d->cache != NULL && strcmp(d->cache, "stale") == 0)
		reason = "stale answer while the backends are unavailable";
	else if (d->granted_after_unavailable)
		reason = "granted after an unavailable backend";
	else if (d->cred_status == PA_CRED_EMPTY_PASSWORD)
		reason = "empty password";

	{
		/* Digits by hand: printf is a measurable share of a cached answer. */
		char tmp[24];
		size_t k = 0, j = 0;
		uint64_t v = us;

		do {
			tmp[k++] = (char)('0' + v % 10);
			v /= 10;
		} while (v != 0 && k < sizeof(tmp));
		while (k > 0)
			latency[j++] = tmp[--k];
		latency[j] = '\0';
	}
#define FIELD(k, v, l, num) f[n++] = (struct pa_log_field){ k, v, l, num }
	FIELD("client", d->client, SIZE_MAX, false);
	/* After a grant the backend's canonical name is the identity. */
	if ((d->outcome == PA_OUT_ALLOW || d->outcome == PA_OUT_FORBIDDEN) &&
	    d->who.user[0] != '\0')
		FIELD("user", d->who.user, SIZE_MAX, false);
	else
		FIELD("user", has_user ? d->cred.user : NULL, d->cred.user_len, false);
	FIELD("profile", pa_profile_name(d->profile), SIZE_MAX, false);
	FIELD("outcome", pa_outcome_name(d->outcome), SIZE_MAX, false);
	FIELD("backend", d->backend, SIZE_MAX, false);
	FIELD("cache", d->cache, SIZE_MAX, false);
	FIELD("latency_us", latency, SIZE_MAX, true);
	FIELD("method", d->method, d->method_len, false);
	FIELD("host", d->host, d->host_len, false);
	FIELD("uri", d->uri, d->uri_len, false);
	FIELD("rule", d->rule, SIZE_MAX, false);
	FIELD("reason", reason, SIZE_MAX, false);
#undef FIELD
	pa_log_fields(p->log, d->outcome == PA_OUT_UNAVAILABLE || d->outcome == PA_OUT_LOCKED
			      ? PA_LOG_WARN : PA_LOG_INFO, f, n);
}

int
pa_pipeline_start_probes(struct pa_pipeline *p, int interval_ms, pa_probe_hook hook, void *arg)
{
	if ((p->probes = pa_probes_start(&p->chain, p->log, interval_ms, hook, arg)) == NULL)
		return -1;
	return 0;
}

void
pa_pipeline_sweep(void *pipeline, uint64_t now_ms)
{
	const struct pa_pipeline *p = pipeline;

	pa_lockout_sweep(p->lockout, now_ms);
}

int
pa_pipeline_ready(const struct pa_pipeline *p, char *buf, size_t len)
{
	return pa_probes_ready(p->probes, &p->chain, buf, len);
}

size_t
pa_pipeline_metrics(const struct pa_pipeline *p, char *buf, size_t len)
{
	struct pa_metrics_gauges g = { 0 };
	bool up[PA_CHAIN_MAX] = { false };

	if (p->metrics == NULL)
		return 0;
	pa_probes_up(p->probes, up, p->chain.n);
	g.cache_entries = p->cache != NULL ? pa_cache_entries(p->cache) : 0;
	g.chain = &p->chain;
	g.backend_up = up;
	return pa_metrics_render(p->metrics, &g, buf, len);
}

/* The chain's observer: a backend's answers and their time, counted. */
void
pa_pipeline_observe_backend(void *arg, int link, enum pa_result r, uint64_t us)
{
	struct pa_metrics *m = arg;

	atomic_fetch_add_explicit(&m->backend_requests[link][r], 1, memory_order_relaxed);
	pa_metrics_observe(&m->backend_duration[link], us);
}

/* The lockout's events: locks counted and logged, the shared store's
 * failures counted, and its fall back to memory logged once. */
void
pa_pipeline_lockout_event(void *arg, enum pa_lockout_event ev, const char *what, bool shared)
{
	const struct pa_pipeline *p = arg;
	const char *scope = shared ? "on every replica" : "after repeated failures";

	switch (ev) {
	case PA_LOCKOUT_EV_USER_LOCKED:
	case PA_LOCKOUT_EV_ADDRESS_LOCKED:
		if (p->metrics != NULL)
			atomic_fetch_add_explicit(ev == PA_LOCKOUT_EV_ADDRESS_LOCKED
							  ? &p->metrics->lockouts_address
							  : &p->metrics->lockouts_user,
						  1, memory_order_relaxed);
		pa_log_msg(p->log, PA_LOG_WARN, "lockout: %s %s locked %s",
			   ev == PA_LOCKOUT_EV_ADDRESS_LOCKED ? "address" : "user", what, scope);
		break;
	case PA_LOCKOUT_EV_STORE_ERROR:
		if (p->metrics != NULL)
			atomic_fetch_add_explicit(&p->metrics->lockout_store_errors, 1,
						  memory_order_relaxed);
		break;
	case PA_LOCKOUT_EV_STORE_DOWN:
		pa_log_msg(p->log, PA_LOG_WARN, "lockout: the redis store failed (%s); counting "
			   "in memory only until it answers", what);
		break;
	case PA_LOCKOUT_EV_STORE_UP:
		pa_log_msg(p->log, PA_LOG_INFO, "lockout: the redis store answers again");
		break;
	}
}
