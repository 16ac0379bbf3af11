/*
 * The backend chain (SPEC section 4): backends asked in order; the first
 * granted or denied answer ends it; not found goes on; unavailable ends it
 * as unavailable unless fallthrough_unavailable is set, and even then, if
 * nothing grants, any unavailable answer makes the result unavailable.
 * A backend with another after it that does not find the typed name is
 * asked again with the folded name, and a user found so means a denial
 * (chain.c, verify_folded).
 */
#ifndef PA_CHAIN_H
#define PA_CHAIN_H

#include <stdint.h>

#include "backend.h"

#define PA_CHAIN_MAX 8

struct pa_chain_link {
	const struct pa_backend_ops *ops;
	void *ctx;
};

struct pa_chain {
	struct pa_chain_link links[PA_CHAIN_MAX];
	int n;
	bool fallthrough_unavailable;
	/* Called after every backend answer with the link's index and the
	 * time it took (for metrics).  May be NULL. */
	void (*observe)(void *arg, int link, enum pa_result r, uint64_t us);
	void *observe_arg;
};

struct pa_chain_answer {
	enum pa_result result;
	const char *backend;		/* the backend that decided, or NULL */
	bool after_unavailable;		/* granted past an unavailable backend */
	bool denied_after_unavailable;	/* unavailable, but a later backend said denied */
	struct pa_error err;		/* why, for unavailable answers and some denials */
};

/* Opens every backend named in [server] backends.  Returns 0, or -1 with
 * err set; on failure the backends already opened are closed. */
int pa_chain_open(struct pa_chain *chain, const struct pa_config *cfg,
		  const struct pa_backend_env *env, struct pa_error *err);

/* Runs the chain.  who is filled on PA_GRANTED. */
void pa_chain_verify(const struct pa_chain *chain, const struct pa_credentials *cred,
		     struct pa_identity *who, struct pa_chain_answer *ans);

/* Every backend's check_access hook (after giving up root): 0, or -1
 * with err set by the first that fails. */
int pa_chain_check_access(const struct pa_chain *chain, struct pa_error *err);

/* Calls every backend's reload hook (SIGHUP). */
void pa_chain_reload(const struct pa_chain *chain);

void pa_chain_close(struct pa_chain *chain);

#endif
