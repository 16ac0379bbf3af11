/*
 * Kerberos Negotiate in the decision pipeline (pipeline.h).
 *
 * begin (event loop): the token's text is keyed by an HMAC (under the
 * label "Negotiate:", which no Basic user can have) and answered from the
 * cache when a grant for that very token is there; only a token that was
 * verified is ever stored, so a hit needs no decoding.  Otherwise the
 * header is parsed (negotiate_token.h): an unusable token is a denial at
 * once, with the reason in the log.  lookup (worker):
 * coalesced on the same key, gss_accept_sec_context() through
 * negotiate.h, then, with groups_from = ldap, the user's entry through
 * the LDAP backend (ldap_identity.h); a grant is cached for at most
 * cache_ttl and never past the ticket's end (the context's lifetime) or
 * the account's expiry.  Denials are not cached.
 *
 * Invariants: a Kerberos failure never counts toward lockout (it is no
 * password guess) but is counted in proxyauthd_negotiate_failures_total;
 * the token is scrubbed with the decision; no path turns an LDAP outage
 * into an allow.
 */
#include "pipeline.h"
#include "negotiate.h"
#include "text.h"

#ifdef PA_WITH_LDAP
#include "ldap_identity.h"
#endif

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NEG_LABEL "Negotiate:"
#define NEG_BACKEND "kerberos"

int
pa_pipeline_negotiate_open(struct pa_pipeline *p, const struct pa_config *cfg,
			   struct pa_error *err)
{
#ifdef PA_WITH_NEGOTIATE
	const struct pa_section *sec = pa_config_section(cfg, "negotiate");
	int i;

	if (sec == NULL)
		return 0;
	if (pa_negotiate_open(sec, p->log, &p->negotiate, err) != 0)
		return -1;
	if (pa_negotiate_groups_from(p->negotiate) != PA_NEG_GROUPS_LDAP)
		return 0;
	for (i = 0; i < p->chain.n; i++)
		if (strcmp(p->chain.links[i].ops->name, "ldap") == 0)
			p->negotiate_ldap = p->chain.links[i].ctx;
#ifndef PA_WITH_LDAP
	p->negotiate_ldap = NULL;
#endif
	if (p->negotiate_ldap == NULL) {
		char where[256];

		pa_conf_where(sec, "groups_from", where, sizeof(where));
		pa_error_set(err, "%s: groups_from = ldap needs ldap in [server] backends", where);
		return -1;
	}
#ifdef PA_WITH_LDAP
	if (pa_ldap_identity_check(p->negotiate_ldap, pa_negotiate_ldap_filter(p->negotiate),
				   pa_negotiate_name_exact(p->negotiate), err) != 0) {
		char where[256], why[sizeof(err->msg)];

		pa_conf_where(sec, "groups_from", where, sizeof(where));
		(void)pa_strlcpy(why, err->msg, sizeof(why));
		pa_error_set(err, "%s: %s", where, why);
		return -1;
	}
#endif
	return 0;
#else
	(void)p;
	(void)cfg;
	(void)err;
	return 0;
#endif
}

void
pa_pipeline_negotiate_close(struct pa_pipeline *p)
{
#ifdef PA_WITH_NEGOTIATE
	pa_negotiate_close(p->negotiate);
#endif
	p->negotiate = NULL;
	p->negotiate_ldap = NULL;
}

int
pa_pipeline_negotiate_check_access(const struct pa_pipeline *p, struct pa_error *err)
{
#ifdef PA_WITH_NEGOTIATE
	if (p->negotiate != NULL)
		return pa_negotiate_check_access(p->negotiate, err);
#else
	(void)p;
	(void)err;
#endif
	return 0;
}

static void
count_failure(const struct pa_pipeline *p)
{
	if (p->metrics != NULL)
		atomic_fetch_add_explicit(&p->metrics->negotiate_failures, 1,
					  memory_order_relaxed);
}

bool
pa_negotiate_begin(const struct pa_pipeline *p, struct pa_decision *d)
{
	struct pa_cache_view v = { .who = &d->who };
	const char *why = NULL, *text = d->cred_value + 9;
	size_t len = d->cred_value_len - 9;

	d->negotiate = true;
	while (len > 0 && *text == ' ') {
		text++;
		len--;
	}
	if (p->cache != NULL && len > 0 && len <= PA_NEGOTIATE_HEADER_MAX) {
		pa_cache_key(p->cache, NEG_LABEL, sizeof(NEG_LABEL) - 1, text, len, d->key);
		d->have_key = true;
		if (pa_cache_lookup(p->cache, d->key, pa_now_us() / 1000, 0, &v) == PA_CACHE_FRESH) {
			d->cache = "hit";
			if (p->metrics != NULL)
				atomic_fetch_add_explicit(&p->metrics->cache_hits, 1,
							  memory_order_relaxed);
			pa_decision_apply(p, d, v.result, &d->who, v.backend);
			return true;
		}
	}
	if ((d->neg = malloc(sizeof(*d->neg))) == NULL) {
		d->outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&d->why, "out of memory");
		return true;
	}
	d->neg->len = 0;
	d->neg->mutual = false;
	d->neg->reply[0] = '\0';
	if (pa_negotiate_parse(d->cred_value, d->cred_value_len, d->neg->token,
			       sizeof(d->neg->token), &d->neg->len, &why) != PA_NEG_OK) {
		d->outcome = PA_OUT_DENY;
		pa_error_set(&d->why, "negotiate: %s", why != NULL ? why : "refused");
		count_failure(p);
		return true;
	}
	return false;
}

/* Verifies d's token and looks its groups up: res gets the answer. */
static void
verify(const struct pa_pipeline *p, struct pa_decision *d, struct pa_flight_result *res,
       uint64_t *lifetime_s)
{
#ifdef PA_WITH_NEGOTIATE
	struct pa_negotiate_answer *a = calloc(1, sizeof(*a));
	enum pa_result r;

	res->ans.backend = NEG_BACKEND;
	res->ans.result = PA_UNAVAILABLE;
	if (a == NULL) {
		pa_error_set(&res->ans.err, "out of memory");
		return;
	}
	r = pa_negotiate_accept(p->negotiate, d->neg->token, d->neg->len, a, &res->ans.err);
	res->ans.result = r;
	if (r != PA_GRANTED)
		goto done;
	*lifetime_s = a->lifetime_s;
	(void)pa_strlcpy(d->neg->reply, a->reply, sizeof(d->neg->reply));
	d->neg->mutual = a->mutual;
	if (p->negotiate_ldap == NULL) {
		(void)pa_strlcpy(res->who.user, a->name, sizeof(res->who.user));
		res->who.groups[0] = '\0';
		goto done;
	}
#ifdef PA_WITH_LDAP
	r = pa_ldap_identity_for(p->negotiate_ldap, pa_negotiate_ldap_filter(p->negotiate),
				 a->name, a->principal, pa_negotiate_name_exact(p->negotiate),
				 &res->who, &res->ans.err);
	if (r == PA_NOT_FOUND) {
		pa_error_set(&res->ans.err, "negotiate: %s has no LDAP entry", a->principal);
		r = PA_DENIED;
	}
	res->ans.result = r;
#endif
done:
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
#else
	(void)p;
	(void)d;
	(void)lifetime_s;
	res->ans.result = PA_UNAVAILABLE;
	pa_error_set(&res->ans.err, "negotiate: not in this build");
#endif
}

void
pa_negotiate_lookup(const struct pa_pipeline *p, struct pa_decision *d)
{
	struct pa_cache_view v = { .who = &d->who };
	struct pa_flight_result *res;
	struct pa_flight *flight = NULL;
	uint64_t lifetime_s = 0, now, generation;

	/* Filled while this request waited for a worker? */
	if (d->have_key &&
	    pa_cache_lookup(p->cache, d->key, pa_now_us() / 1000, 0, &v) == PA_CACHE_FRESH) {
		d->cache = "hit";
		if (p->metrics != NULL)
			atomic_fetch_add_explicit(&p->metrics->cache_hits, 1, memory_order_relaxed);
		pa_decision_apply(p, d, v.result, &d->who, v.backend);
		return;
	}
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		d->outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&d->why, "out of memory");
		return;
	}
	if (d->have_key) {
		d->cache = "miss";
		if (p->metrics != NULL)
			atomic_fetch_add_explicit(&p->metrics->cache_misses, 1,
						  memory_order_relaxed);
	}
	generation = p->cache != NULL ? pa_cache_generation(p->cache) : 0;
	/* The same token twice at once: one verification (a second would
	 * meet the replay cache and fail). */
	if (p->flights != NULL && d->have_key &&
	    (flight = pa_flights_join(p->flights, d->key, res)) == NULL)
		goto answer;
	verify(p, d, res, &lifetime_s);
	if (res->ans.result == PA_GRANTED && p->cache != NULL && d->have_key && p->ttl_ms > 0 &&
	    lifetime_s > 0) {
		now = pa_now_us() / 1000;
		v.result = PA_GRANTED;
		v.backend = NEG_BACKEND;
		v.who = &res->who;
		/* Never past the ticket's end, nor the account's. */
		v.not_after_ms = lifetime_s == UINT64_MAX ? 0 : now + lifetime_s * 1000;
		if (res->who.expires_ms > 0) {
			struct timespec wall;
			uint64_t acct;

			clock_gettime(CLOCK_REALTIME, &wall);
			acct = pa_cache_not_after(res->who.expires_ms,
						  (int64_t)wall.tv_sec * 1000 +
							  wall.tv_nsec / 1000000, now);
			if (v.not_after_ms == 0 || acct < v.not_after_ms)
				v.not_after_ms = acct;
		}
		pa_cache_store(p->cache, d->key, res->who.user, &v, now + p->ttl_ms, generation);
	}
	if (flight != NULL)
		pa_flights_finish(p->flights, flight, res);
answer:
	if (res->ans.result != PA_GRANTED) {
		d->why = res->ans.err;
		if (res->ans.result == PA_DENIED)
			count_failure(p);
	}
	pa_decision_apply(p, d, res->ans.result, &res->who, NEG_BACKEND);
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
}
