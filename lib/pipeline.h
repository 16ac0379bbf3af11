/*
 * The decision pipeline: one path from parsed request to outcome, shared
 * by the HTTP front and the Squid helper.  It runs in two halves so that
 * the HTTP event loop never blocks:
 *
 *   pa_decide_begin()   cheap steps on the calling thread: credentials,
 *                       empty password, lockout, a fresh cache hit.
 *                       Returns true when it decided.
 *   pa_decide_lookup()  coalesced backend lookup through the chain, cache
 *                       fill, stale answers; may block for a hash or a
 *                       network round trip (worker thread).
 *   pa_decide_end()     logs the one decision line, counts metrics and
 *                       scrubs the password.
 *
 * Authorisation (require_groups and [rule] sections) and lockout counting
 * apply to every authenticated answer, fresh or cached.
 *
 * A pipeline is immutable once open, except for its thread-safe parts
 * (cache, flights, lockout counters, metrics); per-request state lives in
 * struct pa_decision, owned by the caller.  The optional parts may be
 * NULL (tests build pipelines by hand): no cache, no coalescing, no
 * lockout, no metrics.
 */
#ifndef PA_PIPELINE_H
#define PA_PIPELINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cache.h"
#include "chain.h"
#include "clock.h"
#include "flight.h"
#include "lockout.h"
#include "lockout_redis.h"
#include "metrics.h"
#include "negotiate_token.h"
#include "netaddr.h"
#include "probe.h"
#include "rules.h"

enum pa_profile {
	PA_PROFILE_AUTH,		/* /auth: 204 / 407 */
	PA_PROFILE_AUTH_REQUEST,	/* /auth-request: 200 / 401 */
	PA_PROFILE_EXT_AUTHZ,		/* /ext-authz: 200 / 407 */
	PA_PROFILE_SQUID,		/* the Squid helper */
};

enum pa_outcome {
	PA_OUT_ALLOW,
	PA_OUT_DENY,
	PA_OUT_FORBIDDEN,
	PA_OUT_MALFORMED,
	PA_OUT_LOCKED,
	PA_OUT_UNAVAILABLE,
};

struct pa_pipeline {
	struct pa_chain chain;
	const struct pa_log *log;
	struct pa_backend_env env;	/* the backends' copy, with the cache hook */
	struct pa_rules rules;		/* require_groups and [rule] sections */
	struct pa_cidr_list trusted;	/* trusted_proxies */
	char *cred_headers;		/* normalised comma list of header names */
	char *realm;
	struct pa_cache *cache;		/* NULL: cache_size = 0 */
	struct pa_flights *flights;
	struct pa_lockout *lockout;	/* NULL: none (tests) */
	atomic_uint_fast64_t rules_warned_ms;	/* last untrusted-peer rules warning */
	/* Locked answers wait about as long as a verification takes: an
	 * average of recent uncached backend durations, within these. */
	atomic_uint_fast64_t verify_avg_us;
	uint64_t locked_delay_min_us, locked_delay_max_us;
	struct pa_metrics *metrics;
	uint64_t ttl_ms, negative_ttl_ms, stale_grace_ms;
	struct pa_probes *probes;		/* background readiness probes */
	struct pa_negotiate *negotiate;	/* [negotiate], or NULL */
	void *negotiate_ldap;		/* the LDAP backend for its groups, or NULL */
};

/* A Negotiate request's token and reply (pipeline_negotiate.c), made by
 * begin and scrubbed and freed by end. */
struct pa_neg_req {
	size_t len;
	bool mutual;			/* reply is a mutual-authentication reply */
	char reply[2048];		/* "Negotiate <final token>" of the acceptance, or "" */
	unsigned char token[PA_NEGOTIATE_TOKEN_MAX];
};

/* One request.  Inputs are set by the caller before begin; pointers must
 * stay valid until end (the HTTP front points into libmicrohttpd's copy of
 * the headers, which lives as long as the request). */
struct pa_decision {
	/* inputs */
	enum pa_profile profile;
	char client[PA_ADDR_MAX];
	bool no_address;		/* client is a label, not an address (the Squid
					 * helper without key_extras): never counted
					 * or locked per address */
	const char *host, *uri, *method;	/* forwarded context; may be NULL */
	size_t host_len, uri_len, method_len;
	const char *dup_context;	/* why the context headers are ambiguous
					 * (one sent twice, two disagree), or NULL */
	bool peer_trusted;		/* the TCP peer is in trusted_proxies */
	enum pa_cred_status cred_status;
	const char *cred_why;
	const char *cred_value;		/* the credentials header taken, or NULL */
	size_t cred_value_len;
	bool negotiate;			/* the credentials are a Negotiate token */
	struct pa_neg_req *neg;		/* its decoded token (a cache miss), or NULL */
	uint64_t start_us;
	/* state and outputs */
	unsigned char key[PA_LRU_KEY];	/* cache key, set by begin when cached */
	bool have_key;
	enum pa_outcome outcome;
	const char *backend;
	const char *cache;		/* "hit", "miss", "stale", or NULL (no lookup) */
	const char *rule;		/* the [rule] that decided, or NULL */
	bool granted_after_unavailable;
	bool lk_ready;			/* lk is filled */
	bool locked_cached;		/* locked, but the cache held a denial */
	/* The large members come last, so that pa_decision_init() clears
	 * only what must be clear instead of 6 KiB per request. */
	struct pa_error why;		/* reason for unavailable / locked, for the log */
	struct pa_credentials cred;
	struct pa_identity who;
	struct pa_lockout_subject lk;	/* who the lockout counts (lk_ready) */
};

/* Prepares d for a new request: every field empty, cheaply. */
void pa_decision_init(struct pa_decision *d);

/* Opens the chain, the cache and the counters from cfg, with env for the
 * backends.  Returns 0, or -1 with err set. */
int pa_pipeline_open(struct pa_pipeline *p, const struct pa_config *cfg,
		     const struct pa_backend_env *env, struct pa_error *err);

/* Replaces the lockout with one on o and shared (may be NULL; handed
 * over), its events logged and counted by the pipeline.  0, or -1 when out
 * of memory (shared is then closed). */
int pa_pipeline_set_lockout(struct pa_pipeline *p, const struct pa_lockout_opts *o,
			    const struct pa_lockout_store *shared);

/* Starts the background readiness probes of p's chain (every interval_ms,
 * probe.h), calling hook(arg, now_ms) after each round (hook may be NULL);
 * pa_pipeline_close() stops them.  0, or -1 when they cannot start. */
int pa_pipeline_start_probes(struct pa_pipeline *p, int interval_ms, pa_probe_hook hook,
			     void *arg);

/* A probe hook (arg: the pipeline): drops lockout entries that can no
 * longer change an answer. */
void pa_pipeline_sweep(void *pipeline, uint64_t now_ms);

void pa_pipeline_close(struct pa_pipeline *p);

bool pa_decide_begin(const struct pa_pipeline *p, struct pa_decision *d);
void pa_decide_lookup(const struct pa_pipeline *p, struct pa_decision *d);
void pa_decide_end(const struct pa_pipeline *p, struct pa_decision *d);

/* How long to hold d's answer, in microseconds: for a locked answer about
 * what a real verification has recently taken, with jitter, within the
 * configured bounds; 0 for any other, and for a locked one whose
 * credentials the cache would have answered at once.  rnd is any random
 * 32-bit value. */
uint64_t pa_pipeline_locked_delay_us(const struct pa_pipeline *p, const struct pa_decision *d,
				     uint32_t rnd);

/* Readiness: 0 when every backend answered its last probe.  Otherwise -1
 * and a plain-text reason per backend in buf. */
int pa_pipeline_ready(const struct pa_pipeline *p, char *buf, size_t len);

/* The Prometheus text of /metrics into buf; returns its length, 0 if it
 * did not fit. */
size_t pa_pipeline_metrics(const struct pa_pipeline *p, char *buf, size_t len);

/* The backends' hooks into the cache (pipeline_hooks.c; arg: the
 * pipeline): invalidate a user's answers (user NULL: all of backend's),
 * expire backend's answers, and mark backend deaf or hearing. */
void pa_pipeline_invalidate(void *arg, const char *backend, const char *user);
void pa_pipeline_expire(void *arg, const char *backend);
void pa_pipeline_deaf(void *arg, const char *backend, bool on);

/* Reporting hooks (pipeline_report.c): the chain's observer (arg: the
 * metrics) and the lockout's event callback (arg: the pipeline). */
void pa_pipeline_observe_backend(void *arg, int link, enum pa_result r, uint64_t us);
void pa_pipeline_lockout_event(void *arg, enum pa_lockout_event ev, const char *what,
			       bool shared);

/* Writes d's one decision line (pipeline_report.c); us is how long the
 * decision took.  Called by pa_decide_end(). */
void pa_decision_log(const struct pa_pipeline *p, const struct pa_decision *d, uint64_t us);

/* Frees what a decision holds if pa_decide_end() did not run (a request
 * cut short).  Safe to call twice. */
void pa_decision_release(struct pa_decision *d);

/* Negotiate in the pipeline (pipeline_negotiate.c): open and close with
 * the pipeline; begin takes a request whose credentials header is
 * Negotiate (true: decided at once); lookup verifies on a worker. */
int pa_pipeline_negotiate_open(struct pa_pipeline *p, const struct pa_config *cfg,
			       struct pa_error *err);
void pa_pipeline_negotiate_close(struct pa_pipeline *p);
/* After giving up root: 0 when the keytab is still readable (or there is
 * no [negotiate]), else -1 with err set. */
int pa_pipeline_negotiate_check_access(const struct pa_pipeline *p, struct pa_error *err);
bool pa_negotiate_begin(const struct pa_pipeline *p, struct pa_decision *d);
void pa_negotiate_lookup(const struct pa_pipeline *p, struct pa_decision *d);

/* The pipeline's step from an answer to the outcome (authorisation,
 * lockout counting for passwords), for pipeline_negotiate.c. */
void pa_decision_apply(const struct pa_pipeline *p, struct pa_decision *d, enum pa_result r,
		       const struct pa_identity *who, const char *backend);

const char *pa_profile_name(enum pa_profile profile);
const char *pa_outcome_name(enum pa_outcome outcome);

#endif
