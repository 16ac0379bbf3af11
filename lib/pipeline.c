/*
 * Decision pipeline.
 *
 * Invariants: no path turns an unavailable backend into an allow; the
 * password is scrubbed in pa_decide_end() on every path; the log line is
 * written exactly once per decision and never holds a password or a
 * credentials header.
 */
#include "pipeline.h"
#include "text.h"

#include <stddef.h>
#include <openssl/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

_Static_assert(PA_CACHE_BACKENDS >= PA_CHAIN_MAX, "the cache must know every backend's place");

/* One backend of [server] backends, in order, for the cache. */
static int
order_one(const char *name, size_t len, void *arg)
{
	char buf[PA_CACHE_NAME];

	if (pa_strlcpy_n(buf, sizeof(buf), name, len) == 0)
		(void)pa_cache_set_chain(arg, buf);
	return 0;
}

/* What a verification takes, for holding locked answers: an exponential
 * average (weight 1/8) of the chain's answered lookups, the whole chain
 * as the client waited for it.  Racing updates may lose a sample; that is
 * all. */
static void
observe_verify(const struct pa_pipeline *p, uint64_t us)
{
	struct pa_pipeline *mp = (struct pa_pipeline *)p;	/* the atomic only */
	uint64_t avg = atomic_load_explicit(&mp->verify_avg_us, memory_order_relaxed);

	avg = avg == 0 ? us : avg - avg / 8 + us / 8;
	atomic_store_explicit(&mp->verify_avg_us, avg, memory_order_relaxed);
}

uint64_t
pa_pipeline_locked_delay_us(const struct pa_pipeline *p, const struct pa_decision *dec,
			    uint32_t rnd)
{
	uint64_t d = atomic_load_explicit(&p->verify_avg_us, memory_order_relaxed);

	if (dec->outcome != PA_OUT_LOCKED || dec->locked_cached)
		return 0;

	/* +-25 % jitter, so the answer time is no constant to recognise */
	d = d * (750 + rnd % 501) / 1000;
	if (d < p->locked_delay_min_us)
		d = p->locked_delay_min_us;
	if (d > p->locked_delay_max_us)
		d = p->locked_delay_max_us;
	return d;
}

int
pa_pipeline_set_lockout(struct pa_pipeline *p, const struct pa_lockout_opts *o,
			const struct pa_lockout_store *shared)
{
	pa_lockout_free(p->lockout);
	p->lockout = pa_lockout_new(o, shared, pa_pipeline_lockout_event, p);
	return p->lockout != NULL ? 0 : -1;
}

int
pa_pipeline_open(struct pa_pipeline *p, const struct pa_config *cfg,
		 const struct pa_backend_env *env, struct pa_error *err)
{
	const struct pa_section *srv = pa_config_section(cfg, "server");
	long cache_size = pa_conf_int(srv, pa_server_keys, "cache_size");
	struct pa_lockout_opts lo = {
		.max_failures = pa_conf_int(srv, pa_server_keys, "max_failures"),
		.window_ms = (uint64_t)pa_conf_int(srv, pa_server_keys, "failure_window") * 1000,
		.lockout_ms = (uint64_t)pa_conf_int(srv, pa_server_keys, "lockout") * 1000,
		.known_ms = (uint64_t)pa_conf_int(srv, pa_server_keys, "known_client_ttl") * 1000,
		.ipv6_prefix = (int)pa_conf_int(srv, pa_server_keys, "lockout_ipv6_prefix"),
		.capacity = 100000,
	};
	struct pa_lockout_store shared = { NULL, NULL };

	memset(p, 0, sizeof(*p));
	p->log = env->log;
	p->env = *env;
	p->env.invalidate = pa_pipeline_invalidate;
	p->env.invalidate_arg = p;
	p->env.expire = pa_pipeline_expire;
	p->env.deaf = pa_pipeline_deaf;
	p->ttl_ms = (uint64_t)pa_conf_int(srv, pa_server_keys, "cache_ttl") * 1000;
	p->negative_ttl_ms = (uint64_t)pa_conf_int(srv, pa_server_keys, "negative_ttl") * 1000;
	p->stale_grace_ms = (uint64_t)pa_conf_int(srv, pa_server_keys, "stale_grace") * 1000;
	p->locked_delay_min_us =
		(uint64_t)pa_conf_int(srv, pa_server_keys, "locked_delay_min_ms") * 1000;
	p->locked_delay_max_us =
		(uint64_t)pa_conf_int(srv, pa_server_keys, "locked_delay_max_ms") * 1000;
	if (p->locked_delay_max_us < p->locked_delay_min_us)
		p->locked_delay_max_us = p->locked_delay_min_us;
	p->cred_headers = strdup(pa_conf_str(srv, pa_server_keys, "credentials_header"));
	p->realm = strdup(pa_conf_str(srv, pa_server_keys, "realm"));
	if (p->cred_headers == NULL || p->realm == NULL) {
		pa_error_set(err, "out of memory");
		goto fail;
	}
	if (p->cred_headers[0] == '\0') {
		pa_error_set(err, "credentials_header must name at least one header");
		goto fail;
	}
	if (pa_cidr_list_parse(pa_conf_str(srv, pa_server_keys, "trusted_proxies"),
			       &p->trusted, err) != 0)
		goto fail;
	if (pa_rules_load(cfg, &p->rules, err) != 0)
		goto fail;
	if ((p->metrics = calloc(1, sizeof(*p->metrics))) == NULL ||
	    (p->flights = pa_flights_new()) == NULL ||
	    (cache_size > 0 && (p->cache = pa_cache_new((size_t)cache_size, NULL)) == NULL)) {
		pa_error_set(err, "out of memory for the cache and counters");
		goto fail;
	}
	if (strcmp(pa_conf_str(srv, pa_server_keys, "lockout_store"), "redis") == 0 &&
	    lo.max_failures > 0 && pa_lockout_redis_open(cfg, &shared, err) != 0)
		goto fail;
	if (pa_pipeline_set_lockout(p, &lo, shared.ops != NULL ? &shared : NULL) != 0) {
		pa_error_set(err, "out of memory for the lockout counters");
		goto fail;
	}
	/* The chain's order, for the cache, before a backend's watcher can
	 * call in (a name too long or too many: the chain refuses them). */
	if (p->cache != NULL)
		(void)pa_list_foreach(pa_conf_str(srv, pa_server_keys, "backends"), order_one,
				      p->cache);
	if (pa_chain_open(&p->chain, cfg, &p->env, err) != 0)
		goto fail;
	if (pa_pipeline_negotiate_open(p, cfg, err) != 0)
		goto fail;
	p->chain.observe = pa_pipeline_observe_backend;
	p->chain.observe_arg = p->metrics;
	return 0;
fail:
	pa_pipeline_close(p);
	return -1;
}

/*
 * Whether the client address may be counted and locked.  When it is a
 * trusted proxy's own address, the proxy sent no forwarded address, and
 * every client behind it would share one counter: locking it would lock
 * everyone out.  Such requests are counted per user only.
 */
static bool
address_countable(const struct pa_pipeline *p, const struct pa_decision *d)
{
	return !d->no_address &&
	       !pa_cidr_list_match_text(&p->trusted, d->client, strlen(d->client));
}

/* Who the lockout counts this request as, made once. */
static const struct pa_lockout_subject *
subject(const struct pa_pipeline *p, struct pa_decision *d)
{
	if (!d->lk_ready) {
		pa_lockout_subject(p->lockout, d->cred.user, d->cred.user_len,
				   address_countable(p, d) ? d->client : NULL, &d->lk);
		d->lk_ready = true;
	}
	return &d->lk;
}

/* Asks the lockout whether d may go on; where: PA_LOCKOUT_MEMORY on any
 * thread, PA_LOCKOUT_SHARED on workers only. */
static enum pa_lockout_verdict
lockout_verdict(const struct pa_pipeline *p, struct pa_decision *d, int where)
{
	const char *why = NULL;
	enum pa_lockout_verdict v;

	if (p->lockout == NULL)
		return PA_LOCKOUT_GO;
	v = pa_lockout_check(p->lockout, subject(p, d), where, pa_now_us() / 1000, &why);
	if (v == PA_LOCKOUT_USER || v == PA_LOCKOUT_ADDRESS)
		pa_error_set(&d->why, "%s", why);
	return v;
}

static bool
lockout_says_locked(const struct pa_pipeline *p, struct pa_decision *d, int where)
{
	enum pa_lockout_verdict v = lockout_verdict(p, d, where);

	return v == PA_LOCKOUT_USER || v == PA_LOCKOUT_ADDRESS;
}

static bool
locked(const struct pa_pipeline *p, struct pa_decision *d)
{
	return lockout_says_locked(p, d, PA_LOCKOUT_MEMORY);
}

/* d is locked.  Were it not, would its denial have come from the cache,
 * at once?  Then the locked answer must come at once too, or an attacker
 * could tell a lock by re-sending a wrong password it just tried. */
static void
set_locked(const struct pa_pipeline *p, struct pa_decision *d)
{
	struct pa_identity who;
	struct pa_cache_view v = { .who = &who };

	d->outcome = PA_OUT_LOCKED;
	if (p->cache == NULL)
		return;
	if (!d->have_key) {
		pa_cache_key(p->cache, d->cred.user, d->cred.user_len, d->cred.password,
			     d->cred.password_len, d->key);
		d->have_key = true;
	}
	/* A cached denial only: one of the guesser's own recent tries.  A
	 * cached grant answered at once would tell the guesser that this is
	 * the password the cache knows as right. */
	d->locked_cached = pa_cache_lookup(p->cache, d->key, pa_now_us() / 1000,
					   p->stale_grace_ms, &v) == PA_CACHE_FRESH &&
			   v.result == PA_DENIED;
	OPENSSL_cleanse(&who, sizeof(who));
}

/* Tells the lockout how an authentication ended (memory; the shared store
 * is told by shared_count on the worker). */
static void
count_attempt(const struct pa_pipeline *p, struct pa_decision *d, bool failed)
{
	/* A Kerberos token is no password guess: never counted. */
	if (p->lockout == NULL || d->negotiate)
		return;
	pa_lockout_record(p->lockout, subject(p, d), !failed, failed ? NULL : d->who.user,
			  d->cred.password, d->cred.password_len, PA_LOCKOUT_MEMORY,
			  pa_now_us() / 1000);
}

/* Rules exist and decide on context headers that a peer outside
 * trusted_proxies sent: a client could have chosen them.  Warned at most
 * once a minute.  The peer is untrusted, so d->client is the peer. */
static void
rules_untrusted_warn(const struct pa_pipeline *p, const struct pa_decision *d)
{
	struct pa_pipeline *mp = (struct pa_pipeline *)p;	/* atomics only */
	uint64_t now = pa_now_us() / 1000, last;

	if (d->peer_trusted || (d->host == NULL && d->uri == NULL))
		return;
	last = atomic_load_explicit(&mp->rules_warned_ms, memory_order_relaxed);
	if (last != 0 && now - last < 60000)
		return;
	if (!atomic_compare_exchange_strong(&mp->rules_warned_ms, &last, now))
		return;
	pa_log_msg(p->log, PA_LOG_WARN, "rules: deciding on X-Forwarded-Host/X-Original-URI "
		   "headers from %s, which is not in trusted_proxies: a client may have chosen "
		   "them (set trusted_proxies to the front proxy)", d->client);
}

/* Turns a backend (or cached) answer into the outcome: authorisation for
 * grants, lockout counting for both. */
void
pa_decision_apply(const struct pa_pipeline *p, struct pa_decision *d, enum pa_result r,
		  const struct pa_identity *who, const char *backend)
{
	const char *required, *ambiguous = NULL;

	d->backend = backend;
	switch (r) {
	case PA_GRANTED:
		if (who != &d->who)
			d->who = *who;
		count_attempt(p, d, false);
		if (p->rules.n > 0)
			rules_untrusted_warn(p, d);
		required = pa_rules_required(&p->rules, d->host, d->host_len, d->uri, d->uri_len,
					     &d->rule, &ambiguous);
		if (p->rules.n > 0 && d->dup_context != NULL) {
			pa_error_set(&d->why, "ambiguous: %s", d->dup_context);
			d->outcome = PA_OUT_FORBIDDEN;
			d->rule = NULL;
		} else if (required == NULL) {
			pa_error_set(&d->why, "ambiguous: %s", ambiguous);
			d->outcome = PA_OUT_FORBIDDEN;
		} else {
			d->outcome = pa_groups_satisfy(required, d->who.groups) ? PA_OUT_ALLOW
										: PA_OUT_FORBIDDEN;
		}
		return;
	case PA_DENIED:
	case PA_NOT_FOUND:
		d->outcome = PA_OUT_DENY;
		count_attempt(p, d, true);
		break;
	case PA_UNAVAILABLE:
		d->outcome = PA_OUT_UNAVAILABLE;
		break;
	}
	d->who.user[0] = d->who.groups[0] = '\0';
}

/* A fresh cache hit for d, applied.  True when there was one.  The lookup
 * is told stale_grace so that it keeps a grant past its TTL (a grace of 0
 * would drop it here, before pa_decide_lookup() could use it stale). */
static bool
cached(const struct pa_pipeline *p, struct pa_decision *d)
{
	struct pa_cache_view v = { .who = &d->who };

	if (!d->have_key ||
	    pa_cache_lookup(p->cache, d->key, pa_now_us() / 1000, p->stale_grace_ms, &v) !=
		    PA_CACHE_FRESH)
		return false;
	d->cache = "hit";
	pa_decision_apply(p, d, v.result, &d->who, v.backend);
	return true;
}

void
pa_decision_init(struct pa_decision *d)
{
	memset(d, 0, offsetof(struct pa_decision, why));
	d->why.msg[0] = '\0';
	d->cred.user[0] = d->cred.password[0] = '\0';
	d->cred.user_len = d->cred.password_len = 0;
	d->who.user[0] = d->who.groups[0] = '\0';
}

bool
pa_decide_begin(const struct pa_pipeline *p, struct pa_decision *d)
{
	enum pa_lockout_verdict verdict;

	d->cache = NULL;
	/* Negotiate: not Basic, so "missing" to the Basic parser, or
	 * "malformed" when longer than a Basic header may be (a Kerberos
	 * token with a large PAC); a duplicate or NUL-cut header has no
	 * cred_value and stays malformed. */
	if ((d->cred_status == PA_CRED_MISSING || d->cred_status == PA_CRED_MALFORMED) &&
	    p->negotiate != NULL && pa_negotiate_scheme(d->cred_value, d->cred_value_len))
		return pa_negotiate_begin(p, d);
	switch (d->cred_status) {
	case PA_CRED_OK:
		break;
	case PA_CRED_MISSING:
	case PA_CRED_EMPTY_PASSWORD:
		d->outcome = PA_OUT_DENY;
		return true;
	case PA_CRED_MALFORMED:
	default:
		d->outcome = PA_OUT_MALFORMED;
		return true;
	}
	verdict = lockout_verdict(p, d, PA_LOCKOUT_MEMORY);
	if (verdict == PA_LOCKOUT_USER || verdict == PA_LOCKOUT_ADDRESS) {
		set_locked(p, d);
		return true;
	}
	if (p->cache != NULL) {
		pa_cache_key(p->cache, d->cred.user, d->cred.user_len, d->cred.password,
			     d->cred.password_len, d->key);
		d->have_key = true;
		/* ASK_SHARED: only the shared store, on a worker, can tell
		 * whether this client may pass a lock; no cached answer first. */
		if (verdict == PA_LOCKOUT_GO && cached(p, d)) {
			if (p->metrics != NULL)
				atomic_fetch_add_explicit(&p->metrics->cache_hits, 1,
							  memory_order_relaxed);
			return true;
		}
	}
	return false;
}

/* The shared (Redis) lockout, asked on worker threads only. */
static bool
shared_locked(const struct pa_pipeline *p, struct pa_decision *d)
{
	return lockout_says_locked(p, d, PA_LOCKOUT_SHARED);
}

/* Tells the shared store how a backend-decided answer ended. */
static void
shared_count(const struct pa_pipeline *p, struct pa_decision *d)
{
	bool granted = d->outcome == PA_OUT_ALLOW || d->outcome == PA_OUT_FORBIDDEN;

	if (p->lockout == NULL || (!granted && d->outcome != PA_OUT_DENY))
		return;
	pa_lockout_record(p->lockout, subject(p, d), granted, granted ? d->who.user : NULL,
			  d->cred.password, d->cred.password_len, PA_LOCKOUT_SHARED,
			  pa_now_us() / 1000);
}

/* Runs the chain, or waits for the identical lookup already running. */
static void
lookup_coalesced(const struct pa_pipeline *p, struct pa_decision *d, struct pa_flight_result *res)
{
	struct pa_flight *flight = NULL;
	struct pa_cache_view v;
	uint64_t ttl;
	bool deafened;

	uint64_t generation = p->cache != NULL ? pa_cache_generation(p->cache) : 0;

	if (p->flights != NULL && d->have_key &&
	    (flight = pa_flights_join(p->flights, d->key, res)) == NULL)
		return;		/* another request looked it up for us */
	pa_chain_verify(&p->chain, &d->cred, &res->who, &res->ans);
	if (p->cache != NULL && d->have_key && res->ans.result != PA_UNAVAILABLE) {
		v.result = res->ans.result == PA_GRANTED ? PA_GRANTED : PA_DENIED;
		v.backend = res->ans.result == PA_NOT_FOUND ? NULL : res->ans.backend;
		v.who = &res->who;
		v.not_after_ms = 0;
		if (res->ans.result == PA_GRANTED && res->who.expires_ms > 0) {
			/* The account expires: the grant is not used past that,
			 * fresh or stale (the cache cuts the TTL to it). */
			struct timespec wall;

			clock_gettime(CLOCK_REALTIME, &wall);
			v.not_after_ms = pa_cache_not_after(res->who.expires_ms,
							    (int64_t)wall.tv_sec * 1000 +
								    wall.tv_nsec / 1000000,
							    pa_now_us() / 1000);
		}
		ttl = v.result == PA_GRANTED ? p->ttl_ms : p->negative_ttl_ms;
		/* While the backend's notices go unheard, nothing would drop
		 * this answer when it changes: born expired, it only answers
		 * stale, in an outage. */
		deafened = pa_cache_deaf(p->cache, v.backend);
		/* A grant past an unavailable backend (fallthrough_unavailable)
		 * stands on that outage: once it ends, that backend may refuse
		 * it.  Born expired too, so it is asked again each time. */
		if (deafened || res->ans.after_unavailable)
			ttl = 0;
		/* With negative_ttl 0 a denial is still stored when stale
		 * answers are on (born expired, it answers nothing): it must
		 * replace an older grant for these credentials, which
		 * stale_grace would otherwise bring back in an outage although
		 * the backend has just refused it. */
		if (ttl > 0 || ((v.result == PA_DENIED || deafened) && p->stale_grace_ms > 0))
			pa_cache_store(p->cache, d->key, d->cred.user, &v, pa_now_us() / 1000 + ttl,
				       generation);
	}
	if (flight != NULL)
		pa_flights_finish(p->flights, flight, res);
}

void
pa_decide_lookup(const struct pa_pipeline *p, struct pa_decision *d)
{
	struct pa_flight_result *res;
	struct pa_cache_view v = { .who = &d->who };
	uint64_t t0;

	if (d->negotiate) {
		pa_negotiate_lookup(p, d);
		return;
	}
	/* Locked while this request waited for a worker?  Without this check
	 * every request queued behind the lockout's first failure would still
	 * be tried against the backend. */
	if (locked(p, d) || shared_locked(p, d)) {
		set_locked(p, d);
		return;
	}
	/* Filled while this request waited for a worker? */
	if (p->cache != NULL && cached(p, d)) {
		if (p->metrics != NULL)
			atomic_fetch_add_explicit(&p->metrics->cache_hits, 1, memory_order_relaxed);
		return;
	}
	if (p->cache != NULL && p->metrics != NULL)
		atomic_fetch_add_explicit(&p->metrics->cache_misses, 1, memory_order_relaxed);
	if ((res = calloc(1, sizeof(*res))) == NULL) {
		d->outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&d->why, "out of memory");
		return;
	}
	d->cache = "miss";
	t0 = pa_now_us();
	lookup_coalesced(p, d, res);
	if (res->ans.result != PA_UNAVAILABLE)
		observe_verify(p, pa_now_us() - t0);
	if (res->ans.result == PA_UNAVAILABLE && p->cache != NULL && p->stale_grace_ms > 0 &&
	    d->have_key &&
	    pa_cache_lookup(p->cache, d->key, pa_now_us() / 1000, p->stale_grace_ms, &v) ==
		    PA_CACHE_STALE) {
		/* Every backend that could answer is down: a grant a little past
		 * its TTL stands in, and the log says so. */
		d->cache = "stale";
		pa_error_set(&d->why, "%s", res->ans.err.msg);
		pa_decision_apply(p, d, PA_GRANTED, &d->who, v.backend);
	} else {
		d->granted_after_unavailable = res->ans.after_unavailable;
		if (res->ans.result == PA_UNAVAILABLE ||
		    (res->ans.result == PA_DENIED && res->ans.err.msg[0] != '\0'))
			d->why = res->ans.err;
		pa_decision_apply(p, d, res->ans.result, &res->who, res->ans.backend);
		shared_count(p, d);
		/* 503 (an earlier backend is down), but a later one refused
		 * this password: a guess all the same, which the lockout must
		 * count, or an outage gives unlimited guesses at it. */
		if (res->ans.result == PA_UNAVAILABLE && res->ans.denied_after_unavailable &&
		    p->lockout != NULL) {
			count_attempt(p, d, true);
			pa_lockout_record(p->lockout, subject(p, d), false, NULL, d->cred.password,
					  d->cred.password_len, PA_LOCKOUT_SHARED,
					  pa_now_us() / 1000);
		}
	}
	OPENSSL_cleanse(res, sizeof(*res));
	free(res);
}

void
pa_decide_end(const struct pa_pipeline *p, struct pa_decision *d)
{
	uint64_t us = pa_now_us() - d->start_us;

	pa_decision_log(p, d, us);
	if (p->metrics != NULL) {
		atomic_fetch_add_explicit(&p->metrics->requests[d->profile][d->outcome], 1,
					  memory_order_relaxed);
		pa_metrics_observe(&p->metrics->request_duration, us);
	}
	pa_credentials_clear(&d->cred);
	pa_decision_release(d);
}

void
pa_decision_release(struct pa_decision *d)
{
	if (d->neg != NULL) {
		OPENSSL_cleanse(d->neg, sizeof(*d->neg));
		free(d->neg);
		d->neg = NULL;
	}
}



void
pa_pipeline_close(struct pa_pipeline *p)
{
	if (p == NULL)
		return;
	pa_probes_stop(p->probes);
	p->probes = NULL;
	pa_pipeline_negotiate_close(p);
	pa_chain_close(&p->chain);
	pa_cidr_list_free(&p->trusted);
	pa_rules_free(&p->rules);
	pa_cache_free(p->cache);
	pa_flights_free(p->flights);
	pa_lockout_free(p->lockout);
	free(p->metrics);
	free(p->cred_headers);
	free(p->realm);
	memset(p, 0, sizeof(*p));
}
