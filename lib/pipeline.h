/*
 * The decision pipeline: one path from parsed request to outcome, shared
 * by the HTTP front and the Squid helper.  It runs in two halves so that
 * the HTTP event loop never blocks:
 *
 *   pa_decide_begin()   cheap checks on the calling thread: credentials,
 *                       empty password.  Returns true when it decided.
 *   pa_decide_lookup()  the backend chain and authorisation; may block for
 *                       a hash or a network round trip (worker thread).
 *   pa_decide_end()     logs the one decision line and scrubs the password.
 *
 * A pipeline is immutable once open and shared by every thread; the
 * per-request state lives in struct pa_decision, owned by the caller.
 */
#ifndef PA_PIPELINE_H
#define PA_PIPELINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "chain.h"
#include "netaddr.h"

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

struct pa_probe_state;

struct pa_pipeline {
	struct pa_chain chain;
	const struct pa_log *log;
	char *require_groups;		/* normalised comma list; "" = anyone */
	struct pa_cidr_list trusted;	/* trusted_proxies */
	char *cred_headers;		/* normalised comma list of header names */
	char *realm;
	struct pa_probe_state *probes;	/* background readiness probes */
};

/* One request.  Inputs are set by the caller before begin; pointers must
 * stay valid until end (the HTTP front points into libmicrohttpd's copy of
 * the headers, which lives as long as the request). */
struct pa_decision {
	/* inputs */
	enum pa_profile profile;
	char client[PA_ADDR_MAX];
	const char *host, *uri, *method;	/* context for logs and rules; may be NULL */
	size_t host_len, uri_len, method_len;
	enum pa_cred_status cred_status;
	const char *cred_why;
	struct pa_credentials cred;
	uint64_t start_us;
	/* outputs */
	enum pa_outcome outcome;
	struct pa_identity who;
	const char *backend;
	const char *cache;		/* "miss" (and later "hit", "stale") */
	bool granted_after_unavailable;
	struct pa_error why;		/* reason for unavailable / denied, for the log */
};

/* Opens the chain and reads [server].  Returns 0, or -1 with err set. */
int pa_pipeline_open(struct pa_pipeline *p, const struct pa_config *cfg,
		     const struct pa_backend_env *env, struct pa_error *err);

/* Starts the background readiness probes (every interval_ms). */
int pa_pipeline_start_probes(struct pa_pipeline *p, int interval_ms);

void pa_pipeline_close(struct pa_pipeline *p);

/* Monotonic microseconds, for latencies. */
uint64_t pa_now_us(void);

bool pa_decide_begin(const struct pa_pipeline *p, struct pa_decision *d);
void pa_decide_lookup(const struct pa_pipeline *p, struct pa_decision *d);
void pa_decide_end(const struct pa_pipeline *p, struct pa_decision *d);

/* Readiness: 0 when every backend answered its last probe.  Otherwise -1
 * and a plain-text reason per backend in buf. */
int pa_pipeline_ready(const struct pa_pipeline *p, char *buf, size_t len);

const char *pa_profile_name(enum pa_profile profile);
const char *pa_outcome_name(enum pa_outcome outcome);

#endif
