/*
 * What the backends that read stored hashes from a server (Redis,
 * PostgreSQL) share: the reference hash for dummy verifications, and the
 * last step of a lookup (verify the hash, fill in the identity); and what
 * every network backend shares: reading its password file.
 */
#include "backend.h"
#include "hash.h"
#include "secret.h"
#include "fold.h"
#include "text.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

void
pa_reference_init(struct pa_hash_reference *ref)
{
	pthread_mutex_init(&ref->lock, NULL);
	ref->hash[0] = '\0';
}

void
pa_reference_destroy(struct pa_hash_reference *ref)
{
	pthread_mutex_destroy(&ref->lock);
	OPENSSL_cleanse(ref->hash, sizeof(ref->hash));
}

void
pa_reference_dummy_verify(struct pa_hash_reference *ref, const struct pa_credentials *cred)
{
	char copy[sizeof(ref->hash)];

	pthread_mutex_lock(&ref->lock);
	memcpy(copy, ref->hash, sizeof(copy));
	pthread_mutex_unlock(&ref->lock);
	pa_hash_dummy_verify(cred->password, cred->password_len, copy[0] != '\0' ? copy : NULL);
}

enum pa_result
pa_backend_check_stored(const struct pa_backend_env *env, const char *backend,
			struct pa_hash_reference *ref, const struct pa_credentials *cred,
			const char *hash, const char *user, char *groups,
			struct pa_identity *who)
{
	enum pa_result res = PA_DENIED;
	const char *unsafe;

	if (pa_hash_check(hash, true, NULL) == 0) {
		pthread_mutex_lock(&ref->lock);
		snprintf(ref->hash, sizeof(ref->hash), "%s", hash);
		pthread_mutex_unlock(&ref->lock);
	}
	switch (pa_hash_verify(cred->password, cred->password_len, hash, env->allow_weak_hashes)) {
	case PA_HASH_MATCH:
		/* X-Auth-User "alice " or "ali\u00adce" would reach the
		 * application as alice: an identity of someone else's. */
		if ((unsafe = pa_name_unsafe(user)) != NULL) {
			pa_log_msg(env->log, PA_LOG_WARN, "%s: the user name of %s %s, which the "
				   "application may read as another name; denied", backend,
				   cred->user, unsafe);
			break;
		}
		pa_list_normalize(groups);
		if (!pa_utf8_valid(groups, strlen(groups)) || pa_has_control(groups, strlen(groups)) ||
		    pa_strlcpy(who->user, user, sizeof(who->user)) != 0 ||
		    pa_strlcpy(who->groups, groups, sizeof(who->groups)) != 0) {
			pa_log_msg(env->log, PA_LOG_WARN, "%s: groups of %s are not printable "
				   "UTF-8; denied", backend, cred->user);
			break;
		}
		res = PA_GRANTED;
		break;
	case PA_HASH_MISMATCH:
		break;
	default:
		pa_log_msg(env->log, PA_LOG_WARN, "%s: the hash of %s is in a format proxyauthd "
			   "does not accept; denied", backend, cred->user);
		break;
	}
	return res;
}

int
pa_backend_read_secret(const struct pa_section *conf, const struct pa_conf_key *keys,
		       const char *key, char *buf, size_t size, struct pa_error *err)
{
	const char *path = pa_conf_str(conf, keys, key);
	struct pa_error e = { { 0 } };
	char where[256];

	buf[0] = '\0';
	if (path[0] == '\0' || pa_secret_read(path, buf, size, &e) == 0)
		return 0;
	pa_conf_where(conf, key, where, sizeof(where));
	pa_error_set(err, "%s: %s", where, e.msg);
	return -1;
}
