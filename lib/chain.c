/*
 * Backend chain.  Stateless after open: verify() only reads the links, so
 * it is safe from many threads as long as each backend's verify is.
 */
#include "chain.h"
#include "clock.h"
#include "fold.h"
#include "text.h"

#include <openssl/crypto.h>
#include <string.h>

struct open_arg {
	struct pa_chain *chain;
	const struct pa_config *cfg;
	const struct pa_backend_env *env;
	struct pa_error *err;
};

static int
open_one(const char *name, size_t len, void *arg)
{
	struct open_arg *oa = arg;
	struct pa_chain_link *l;
	char buf[32];

	if (pa_strlcpy_n(buf, sizeof(buf), name, len) != 0) {
		pa_error_set(oa->err, "backend name too long");
		return -1;
	}
	if (oa->chain->n == PA_CHAIN_MAX) {
		pa_error_set(oa->err, "more than %d backends", PA_CHAIN_MAX);
		return -1;
	}
	l = &oa->chain->links[oa->chain->n];
	if ((l->ops = pa_backend_find(buf)) == NULL && oa->env->check_only) {
		/* The config loader has reported it with its line; go on so
		 * that proxyauthd -t checks the backends after it too. */
		return 0;
	}
	if (l->ops == NULL) {
		pa_error_set(oa->err, "unknown backend '%s'", buf);
		return -1;
	}
	if (l->ops->open(pa_config_section(oa->cfg, buf), oa->env, &l->ctx, oa->err) != 0)
		return -1;
	oa->chain->n++;
	return 0;
}

int
pa_chain_open(struct pa_chain *chain, const struct pa_config *cfg,
	      const struct pa_backend_env *env, struct pa_error *err)
{
	const struct pa_section *srv = pa_config_section(cfg, "server");
	struct open_arg oa = { chain, cfg, env, err };

	memset(chain, 0, sizeof(*chain));
	chain->fallthrough_unavailable = pa_conf_bool(srv, pa_server_keys,
						      "fallthrough_unavailable");
	if (pa_list_foreach(pa_conf_str(srv, pa_server_keys, "backends"), open_one, &oa) != 0) {
		pa_chain_close(chain);
		return -1;
	}
	return 0;
}

/*
 * A backend that matches names exactly (htpasswd, Redis, PostgreSQL) says
 * not found for "Admin" while it holds "admin"; a later backend holding
 * "Admin" would then grant it, and an application that compares names
 * without regard to case takes that for admin.  So when a backend that
 * has a later one after it does not find the typed name, it is asked
 * again with the folded name (fold.h), and a user found that way, whatever
 * the password, ends the chain with a denial.  Only names that fold to
 * something else pay for it, with one more lookup (and hash check) in
 * that backend; the last backend is never asked twice.
 */
static enum pa_result
verify_folded(const struct pa_chain_link *l, const struct pa_credentials *cred,
	      struct pa_identity *who, struct pa_error *err)
{
	struct pa_credentials alt;
	char folded[PA_FOLD_MAX];
	bool hashed;
	size_t n = pa_fold_user_hashed(cred->user, cred->user_len, folded, &hashed);
	enum pa_result r;

	/* Already folded, or too long for a name (kept as a digest). */
	if ((n == cred->user_len && memcmp(folded, cred->user, n) == 0) || n > PA_USER_MAX ||
	    hashed)
		return PA_NOT_FOUND;
	memcpy(alt.user, folded, n + 1);
	alt.user_len = n;
	memcpy(alt.password, cred->password, cred->password_len + 1);
	alt.password_len = cred->password_len;
	r = l->ops->verify(l->ctx, &alt, who, err);
	OPENSSL_cleanse(&alt, sizeof(alt));
	memset(who, 0, sizeof(*who));
	if (r == PA_GRANTED || r == PA_DENIED) {
		pa_error_set(err, "the name is another spelling of %s there", folded);
		return PA_DENIED;
	}
	return r;
}

void
pa_chain_verify(const struct pa_chain *chain, const struct pa_credentials *cred,
		struct pa_identity *who, struct pa_chain_answer *ans)
{
	const char *unavailable = NULL;
	int i;

	memset(ans, 0, sizeof(*ans));
	ans->result = PA_NOT_FOUND;
	for (i = 0; i < chain->n; i++) {
		const struct pa_chain_link *l = &chain->links[i];
		struct pa_error err = { { 0 } };
		enum pa_result r;

		uint64_t start = chain->observe != NULL ? pa_now_us() : 0;

		memset(who, 0, sizeof(*who));
		r = l->ops->verify(l->ctx, cred, who, &err);
		if (r == PA_NOT_FOUND && i + 1 < chain->n && !l->ops->finds_spellings)
			r = verify_folded(l, cred, who, &err);
		if (chain->observe != NULL)
			chain->observe(chain->observe_arg, i, r, pa_now_us() - start);
		switch (r) {
		case PA_GRANTED:
			ans->result = PA_GRANTED;
			ans->backend = l->ops->name;
			ans->after_unavailable = unavailable != NULL;
			return;
		case PA_DENIED:
			memset(who, 0, sizeof(*who));
			ans->backend = l->ops->name;
			ans->result = unavailable != NULL ? PA_UNAVAILABLE : PA_DENIED;
			ans->denied_after_unavailable = unavailable != NULL;
			if (unavailable == NULL && err.msg[0] != '\0')
				pa_error_set(&ans->err, "%s: %s", l->ops->name, err.msg);
			return;
		case PA_NOT_FOUND:
			break;
		case PA_UNAVAILABLE:
			memset(who, 0, sizeof(*who));
			if (unavailable == NULL) {
				unavailable = l->ops->name;
				pa_error_set(&ans->err, "%s: %s", l->ops->name,
					     err.msg[0] ? err.msg : "unavailable");
			}
			if (!chain->fallthrough_unavailable) {
				ans->result = PA_UNAVAILABLE;
				ans->backend = unavailable;
				return;
			}
			break;
		}
	}
	memset(who, 0, sizeof(*who));
	if (unavailable != NULL) {
		ans->result = PA_UNAVAILABLE;
		ans->backend = unavailable;
	}
}

int
pa_chain_check_access(const struct pa_chain *chain, struct pa_error *err)
{
	int i;

	for (i = 0; i < chain->n; i++)
		if (chain->links[i].ops->check_access != NULL &&
		    chain->links[i].ops->check_access(chain->links[i].ctx, err) != 0)
			return -1;
	return 0;
}

void
pa_chain_reload(const struct pa_chain *chain)
{
	int i;

	for (i = 0; i < chain->n; i++)
		if (chain->links[i].ops->reload != NULL)
			chain->links[i].ops->reload(chain->links[i].ctx);
}

void
pa_chain_close(struct pa_chain *chain)
{
	int i;

	if (chain == NULL)
		return;
	for (i = 0; i < chain->n; i++)
		chain->links[i].ops->close(chain->links[i].ctx);
	chain->n = 0;
}
