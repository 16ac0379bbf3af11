/*
 * The backend interface, after Apache's authn providers: every backend
 * answers one of four results, and the chain (chain.h) decides what they
 * mean together.  A backend holds only what is specific to it; shared
 * work (hash verification, escaping, secrets) lives in lib/.
 *
 * verify() is called from many worker threads at once and must be
 * thread-safe.  It never sees malformed credentials or an empty password:
 * the pipeline rejects those before any backend.
 */
#ifndef PA_BACKEND_H
#define PA_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "credentials.h"
#include "error.h"
#include "log.h"

#define PA_GROUPS_MAX 4096

enum pa_result {
	PA_GRANTED,	/* password right: who is filled */
	PA_DENIED,	/* user exists: wrong password, disabled or expired */
	PA_NOT_FOUND,	/* no such user here: the chain goes on */
	PA_UNAVAILABLE,	/* error or timeout: no answer */
};

/* Who a backend granted: the canonical name and a comma list of groups.
 * expires_ms is when the account expires, in Unix milliseconds by this
 * host's wall clock (0: never): a cached grant must not outlive it. */
struct pa_identity {
	char user[PA_USER_MAX + 1];
	char groups[PA_GROUPS_MAX];
	int64_t expires_ms;
};

/* What the core lends every backend when it opens. */
struct pa_backend_env {
	const struct pa_log *log;
	bool allow_weak_hashes;
	bool check_only;	/* proxyauthd -t: validate, start nothing */
	/* With check_only: where open() prints every problem it finds but
	 * the one it returns in err, so that -t lists them all.  May be NULL
	 * (then only the first is reported). */
	FILE *report;
	/* Drops cached answers for user (NULL: every user of this backend).
	 * May be NULL; safe to call from any thread. */
	void (*invalidate)(void *arg, const char *backend, const char *user);
	/* Ends the TTL of every cached answer of this backend now but keeps
	 * its grants for stale_grace (notices go unheard from now on).  May
	 * be NULL; safe from any thread; takes invalidate_arg. */
	void (*expire)(void *arg, const char *backend);
	/* Says that backend's change notices go unheard from now on (deaf:
	 * its watcher is not subscribed, at start until it first is and
	 * after a loss) or are heard again: while deaf, its answers are
	 * cached already expired, so each request asks it again.  May be
	 * NULL; safe from any thread; takes invalidate_arg. */
	void (*deaf)(void *arg, const char *backend, bool deaf);
	void *invalidate_arg;
};

struct pa_backend_ops {
	const char *name;			/* its config section and X-Auth-Backend */
	const struct pa_conf_key *keys;		/* keys its section accepts */
	/* Finds every spelling of a user it holds by itself (htpasswd's fold
	 * index), so the chain need not ask it again with the folded name
	 * (chain.c). */
	bool finds_spellings;
	/* Opens with the section (may be NULL: all defaults).  Returns 0 and
	 * *ctx, or -1 with err set ("file:line: message" where it applies). */
	int (*open)(const struct pa_section *conf, const struct pa_backend_env *env,
		    void **ctx, struct pa_error *err);
	enum pa_result (*verify)(void *ctx, const struct pa_credentials *cred,
				 struct pa_identity *who, struct pa_error *err);
	/* 0 when the backend can answer now, else -1 with a short reason.  A
	 * backend with reload_state may answer 0 with err set: it answers, but
	 * /readyz shows what is wrong (htpasswd: "stale: file:line: why"). */
	int (*probe)(void *ctx, struct pa_error *err);
	/* For a backend that answers from a table it re-reads (htpasswd):
	 * *stale is true while its last reload failed and the older table
	 * still answers, *failures counts failed reloads.  Shown in /metrics
	 * as proxyauthd_<name>_stale and _reload_failures_total.  May be NULL. */
	void (*reload_state)(void *ctx, bool *stale, uint64_t *failures);
	/* Re-reads what the backend caches from outside (SIGHUP).  May be NULL. */
	void (*reload)(void *ctx);
	/* Called once after proxyauthd gave up root (`user`): 0 when what the
	 * backend re-reads later (files) is still readable, else -1 with err
	 * set, and proxyauthd refuses to run.  May be NULL. */
	int (*check_access)(void *ctx, struct pa_error *err);
	void (*close)(void *ctx);		/* safe on NULL */
};

/*
 * Shared by the backends that read stored hashes from a server (Redis,
 * PostgreSQL; lib/backend_common.c).
 *
 * The reference is the last stored hash seen: a dummy verification of an
 * unknown, disabled or expired user uses it, so that it costs what the
 * users of that backend cost.  Thread-safe.
 */
struct pa_hash_reference {
	pthread_mutex_t lock;
	char hash[600];
};

void pa_reference_init(struct pa_hash_reference *ref);
void pa_reference_destroy(struct pa_hash_reference *ref);
void pa_reference_dummy_verify(struct pa_hash_reference *ref, const struct pa_credentials *cred);

/* The last step of a lookup: remembers hash as the reference, verifies
 * the password against it and, when it matches, fills who with user and
 * the comma list groups (normalised in place; refused unless printable
 * UTF-8).  A user name with a blank at either end is refused: proxies
 * strip those from X-Auth-User.  Logs, prefixed with backend, why a user
 * is refused.  Returns PA_GRANTED or PA_DENIED. */
enum pa_result pa_backend_check_stored(const struct pa_backend_env *env, const char *backend,
				       struct pa_hash_reference *ref,
				       const struct pa_credentials *cred, const char *hash,
				       const char *user, char *groups, struct pa_identity *who);

/* Reads the secret in the file that key of conf names (empty: none, and
 * buf is "") into buf[size], as pa_secret_read() does.  0, or -1 with err
 * saying where in the configuration ("file:line: ..."). */
int pa_backend_read_secret(const struct pa_section *conf, const struct pa_conf_key *keys,
			   const char *key, char *buf, size_t size, struct pa_error *err);

/* The compiled-in backend of that name, or NULL. */
const struct pa_backend_ops *pa_backend_find(const char *name);

/* The compiled-in backends' names, "htpasswd, ..." for messages. */
const char *pa_backend_names(void);

/* True when name is a backend proxyauthd knows but this build left out
 * (PA_WITH_LDAP=OFF and the like). */
bool pa_backend_left_out(const char *name);

#endif
