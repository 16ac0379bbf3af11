/*
 * proxyauth-passwd's Redis edits: a user's hash (<prefix>user:USER) set,
 * disabled, enabled or deleted, then the change announced on
 * <prefix>invalidate so that every proxyauthd drops the user's cached
 * answers (the Redis backend's layout, backends/redis/).
 */
#ifndef PA_PASSWD_REDIS_H
#define PA_PASSWD_REDIS_H

#include "error.h"
#include "passwd_file.h"
#include "redisopts.h"

/*
 * Applies op to user on the server o names, keys under prefix.  For
 * PA_PWFILE_SET hash is the new hash and groups the new group list (NULL
 * keeps the user's groups); a new user whose name folds like a user
 * already there is refused (found with SCAN).  The other operations need
 * the user to exist.  Returns 0, or -1 with err set (no such user, a
 * look-alike, a prefix too long, or the server's error).
 */
int pa_passwd_redis_update(const struct pa_redis_opts *o, const char *prefix, const char *user,
			   enum pa_pwfile_op op, const char *hash, const char *groups,
			   struct pa_error *err);

#endif
