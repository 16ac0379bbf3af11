/*
 * htpasswd backend.
 *
 * The table is immutable once built and reference-counted: verify() takes
 * a reference under a short lock and hashes outside it, so a reload never
 * waits for a hash and a hash never sees a half-built table.  A reload
 * builds a new table from the file and swaps it in only when the whole
 * file parsed; a broken file keeps the old table, logs file:line at error
 * level (once for each change of the file that fails) and makes the table
 * "stale": /readyz names the reason, /metrics shows
 * proxyauthd_htpasswd_stale 1 and counts failed reloads.
 * The file is looked at (stat) at most once a second, from verify() and
 * from the readiness probe, and re-read on SIGHUP.  Users whose entry
 * changed are handed to the cache's invalidate hook.  The file format
 * itself is htpasswd_file.c's.
 */
#include "htpasswd.h"
#include "backend.h"
#include "hash.h"
#include "clock.h"
#include "fold.h"
#include "text.h"

#include <errno.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const struct pa_conf_key htpasswd_keys[] = {
	{ "file", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

struct htpasswd {
	char *path;
	const struct pa_backend_env *env;
	pthread_mutex_t lock;		/* guards table and refs */
	pthread_mutex_t reload_lock;	/* one reload at a time */
	struct pa_htpasswd_table *table;
	struct stat seen;		/* the file as last looked at */
	bool seen_valid;
	uint64_t last_check_us;		/* guarded by reload_lock */
	char error[256];		/* last load problem, guarded by lock */
	uint64_t failures;		/* failed reloads, guarded by lock */
};


static struct pa_htpasswd_table *
table_get(struct htpasswd *h)
{
	struct pa_htpasswd_table *t;

	pthread_mutex_lock(&h->lock);
	if ((t = h->table) != NULL)
		t->refs++;
	pthread_mutex_unlock(&h->lock);
	return t;
}

static void
table_put(struct htpasswd *h, struct pa_htpasswd_table *t)
{
	bool last;

	if (t == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	last = --t->refs == 0;
	pthread_mutex_unlock(&h->lock);
	if (last)
		pa_htpasswd_free(t);
}

static bool
entry_changed(const struct pa_htpasswd_entry *a, const struct pa_htpasswd_entry *b)
{
	return strcmp(a->hash, b->hash) != 0 || strcmp(a->groups, b->groups) != 0 ||
	    a->disabled != b->disabled;
}

/* Users added, removed or changed between old and new, counting up to
 * limit at most. */
static size_t
count_changed(const struct pa_htpasswd_table *old, const struct pa_htpasswd_table *new,
	      size_t limit)
{
	size_t i = 0, j = 0, n = 0;

	while ((i < old->n || j < new->n) && n < limit) {
		int c = i == old->n ? 1 : j == new->n ? -1 : strcmp(old->v[i].user, new->v[j].user);
		if (c < 0)
			i++, n++;
		else if (c > 0)
			j++, n++;
		else
			n += entry_changed(&old->v[i++], &new->v[j++]);
	}
	return n;
}

/* Hands every user whose entry differs between old and new to the cache. */
static void
invalidate_changed(struct htpasswd *h, const struct pa_htpasswd_table *old,
		   const struct pa_htpasswd_table *new)
{
	size_t i = 0, j = 0;

	if (h->env->invalidate == NULL || old == NULL)
		return;
	/* Each per-user invalidation scans the whole cache; past a handful of
	 * changed users, dropping all of this backend's answers at once is
	 * cheaper (they are re-verified on next use). */
	if (count_changed(old, new, 17) > 16) {
		h->env->invalidate(h->env->invalidate_arg, "htpasswd", NULL);
		return;
	}
	while (i < old->n || j < new->n) {
		int c = i == old->n ? 1 : j == new->n ? -1 :
			strcmp(old->v[i].user, new->v[j].user);
		if (c < 0) {
			h->env->invalidate(h->env->invalidate_arg, "htpasswd", old->v[i++].user);
		} else if (c > 0) {
			h->env->invalidate(h->env->invalidate_arg, "htpasswd", new->v[j++].user);
		} else {
			if (entry_changed(&old->v[i], &new->v[j]))
				h->env->invalidate(h->env->invalidate_arg, "htpasswd",
						   new->v[j].user);
			i++;
			j++;
		}
	}
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Warns of users whose names fold alike (fold.h): htpasswd keeps them as
 * two accounts, the lockout counts them as one name, so each one's
 * failures count against the other.  Not an error.  Advisory only: the
 * table's fold index (partial out of memory) is what it reads. */
static void
warn_fold_alike(const struct htpasswd *h, const struct pa_htpasswd_table *t)
{
	const struct pa_htpasswd_fold *v = t->folds;
	size_t i, pairs = 0;

	for (i = 1; i < t->nfolds; i++) {
		if (strcmp(v[i - 1].fold, v[i].fold) != 0)
			continue;
		if (pairs++ < 5)
			pa_log_msg(h->env->log, PA_LOG_WARN,
				   "htpasswd: %s: users \"%s\" (line %d) and \"%s\" (line %d) "
				   "fold alike: the lockout counts them as one name", h->path,
				   v[i - 1].e->user, v[i - 1].e->line, v[i].e->user, v[i].e->line);
	}
	if (pairs > 5)
		pa_log_msg(h->env->log, PA_LOG_WARN,
			   "htpasswd: %s: %zu more pairs of users fold alike", h->path, pairs - 5);
}

/* Warns at load of users whose names read as another (fold.h): each is
 * refused at login, and the operator had better know before they try. */
static void
warn_unsafe(const struct htpasswd *h, const struct pa_htpasswd_table *t)
{
	const char *unsafe;
	size_t i, bad = 0;

	for (i = 0; i < t->n; i++) {
		if ((unsafe = pa_name_unsafe(t->v[i].user)) == NULL)
			continue;
		if (bad++ < 5)
			pa_log_msg(h->env->log, PA_LOG_WARN, "htpasswd: %s: the user name on line "
				   "%d %s; it will be refused", h->path, t->v[i].line, unsafe);
	}
	if (bad > 5)
		pa_log_msg(h->env->log, PA_LOG_WARN, "htpasswd: %s: %zu more user names that "
			   "will be refused", h->path, bad - 5);
}

/* Reloads when the file changed (or always when force).  Looks at the file
 * at most once a second unless forced. */
static void
maybe_reload(struct htpasswd *h, bool force)
{
	struct pa_htpasswd_table *t = NULL, *old;
	struct pa_error err = { { 0 } };
	struct stat st;
	uint64_t now = pa_now_us();

	if (force)
		pthread_mutex_lock(&h->reload_lock);
	else if (pthread_mutex_trylock(&h->reload_lock) != 0)
		return;
	if (!force && h->last_check_us != 0 && now - h->last_check_us < 1000000u)
		goto done;
	h->last_check_us = now;
	if (stat(h->path, &st) != 0) {
		pthread_mutex_lock(&h->lock);
		if (h->seen_valid || h->error[0] == '\0') {
			snprintf(h->error, sizeof(h->error), "%s: cannot open: %s", h->path,
				 strerror(errno));
			h->failures++;
			pa_log_msg(h->env->log, PA_LOG_ERROR, "htpasswd: %s%s", h->error,
				   h->table != NULL ? "; keeping the loaded table" : "");
		}
		h->seen_valid = false;
		pthread_mutex_unlock(&h->lock);
		goto done;
	}
	if (!force && h->seen_valid && same_file(&st, &h->seen))
		goto done;
	h->seen = st;
	h->seen_valid = true;
	if (pa_htpasswd_parse(h->path, h->env->allow_weak_hashes, &t, &err) != 0) {
		pthread_mutex_lock(&h->lock);
		snprintf(h->error, sizeof(h->error), "%s", err.msg);
		h->failures++;
		pa_log_msg(h->env->log, PA_LOG_ERROR, "htpasswd: reload failed: %s%s", err.msg,
			   h->table != NULL ? "; keeping the old table" : "");
		pthread_mutex_unlock(&h->lock);
		goto done;
	}
	t->refs = 1;
	pthread_mutex_lock(&h->lock);
	old = h->table;
	h->table = t;
	h->error[0] = '\0';
	pthread_mutex_unlock(&h->lock);
	pa_log_msg(h->env->log, PA_LOG_INFO, "htpasswd: loaded %s (%zu users)", h->path, t->n);
	warn_fold_alike(h, t);
	warn_unsafe(h, t);
	invalidate_changed(h, old, t);
	table_put(h, old);
done:
	pthread_mutex_unlock(&h->reload_lock);
}

static void htpasswd_close(void *ctx);

static int
htpasswd_open(const struct pa_section *conf, const struct pa_backend_env *env, void **ctx,
	      struct pa_error *err)
{
	const char *path = pa_conf_str(conf, htpasswd_keys, "file");
	struct htpasswd *h;

	*ctx = NULL;
	if (path[0] == '\0') {
		char where[256];
		pa_conf_where(conf, "file", where, sizeof(where));
		pa_error_set(err, "%s: [htpasswd] needs file = PATH", where);
		return -1;
	}
	if (env->check_only) {
		char where[256], shown[1024];
		FILE *fp;

		/* A file that cannot be read is a problem of the config line
		 * that names it, so -t points there. */
		pa_conf_where(conf, "file", where, sizeof(where));
		snprintf(shown, sizeof(shown), "%s: htpasswd file %s", where, path);
		if ((fp = pa_htpasswd_fopen(path, shown, err)) == NULL)
			return -1;
		fclose(fp);
		if (pa_htpasswd_check(path, path, env->allow_weak_hashes, env->report, err) != 0)
			return -1;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL || (h->path = strdup(path)) == NULL) {
		free(h);
		pa_error_set(err, "out of memory");
		return -1;
	}
	h->env = env;
	pthread_mutex_init(&h->lock, NULL);
	pthread_mutex_init(&h->reload_lock, NULL);
	if (!env->check_only)
		maybe_reload(h, true);
	*ctx = h;
	return 0;
}

static enum pa_result
htpasswd_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
		struct pa_error *err)
{
	struct htpasswd *h = ctx;
	struct pa_htpasswd_table *t;
	const struct pa_htpasswd_entry *e, *alike = NULL;
	const char *unsafe;
	enum pa_result r;

	maybe_reload(h, false);
	if ((t = table_get(h)) == NULL) {
		pthread_mutex_lock(&h->lock);
		pa_error_set(err, "not loaded: %s", h->error);
		pthread_mutex_unlock(&h->lock);
		return PA_UNAVAILABLE;
	}
	e = pa_htpasswd_find(t, cred->user);
	/* Another spelling of a user here (the file's "Admin" for "admin")
	 * is found and denied: the chain's second question (chain.c) asks
	 * the folded name, which finds only a user stored folded. */
	if (e == NULL && (alike = pa_htpasswd_find_folded(t, cred->user, cred->user_len)) != NULL)
		pa_error_set(err, "the name is another spelling of %s (line %d) there",
			     alike->user, alike->line);
	if (e == NULL || e->disabled) {
		pa_hash_dummy_verify(cred->password, cred->password_len, t->reference);
		r = e == NULL && alike == NULL ? PA_NOT_FOUND : PA_DENIED;
	} else {
		switch (pa_hash_verify(cred->password, cred->password_len, e->hash,
				       h->env->allow_weak_hashes)) {
		case PA_HASH_MATCH:
			/* X-Auth-User "alice " would reach the application
			 * as alice (fold.h). */
			if ((unsafe = pa_name_unsafe(e->user)) != NULL) {
				pa_log_msg(h->env->log, PA_LOG_WARN, "htpasswd: the user name on "
					   "line %d %s, which the application may read as "
					   "another name; denied", e->line, unsafe);
				r = PA_DENIED;
				break;
			}
			if (pa_strlcpy(who->user, e->user, sizeof(who->user)) != 0 ||
			    pa_strlcpy(who->groups, e->groups, sizeof(who->groups)) != 0) {
				r = PA_DENIED;	/* cannot happen: bounded at parse */
				break;
			}
			r = PA_GRANTED;
			break;
		case PA_HASH_MISMATCH:
			r = PA_DENIED;
			break;
		default:
			pa_log_msg(h->env->log, PA_LOG_WARN,
				   "htpasswd: hash of a user on line %d could not be verified",
				   e->line);
			r = PA_DENIED;
			break;
		}
	}
	table_put(h, t);
	return r;
}

static int
htpasswd_probe(void *ctx, struct pa_error *err)
{
	struct htpasswd *h = ctx;
	int rc = 0;

	maybe_reload(h, false);
	pthread_mutex_lock(&h->lock);
	if (h->table == NULL) {
		pa_error_set(err, "not loaded: %s", h->error);
		rc = -1;
	} else if (h->error[0] != '\0') {
		/* Still answering, from the table loaded before: ready, but
		 * saying so (a 503 would take every replica out at once). */
		pa_error_set(err, "stale: %s", h->error);
	}
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static void
htpasswd_reload_state(void *ctx, bool *stale, uint64_t *failures)
{
	struct htpasswd *h = ctx;

	pthread_mutex_lock(&h->lock);
	*stale = h->table != NULL && h->error[0] != '\0';
	*failures = h->failures;
	pthread_mutex_unlock(&h->lock);
}

static void
htpasswd_reload(void *ctx)
{
	maybe_reload(ctx, true);
}

static void
htpasswd_close(void *ctx)
{
	struct htpasswd *h = ctx;

	if (h == NULL)
		return;
	table_put(h, h->table);
	pthread_mutex_destroy(&h->lock);
	pthread_mutex_destroy(&h->reload_lock);
	free(h->path);
	free(h);
}

/* After giving up root: reloads read the file again, as the new user. */
static int
htpasswd_check_access(void *ctx, struct pa_error *err)
{
	struct htpasswd *h = ctx;

	if (access(h->path, R_OK) != 0) {
		pa_error_set(err, "htpasswd file %s is not readable by this user (%s): changes "
			     "to it would never be seen; make it readable by the `user` account",
			     h->path, strerror(errno));
		return -1;
	}
	return 0;
}

const struct pa_backend_ops pa_htpasswd_ops = {
	.name = "htpasswd",
	.keys = htpasswd_keys,
	.finds_spellings = true,
	.open = htpasswd_open,
	.verify = htpasswd_verify,
	.probe = htpasswd_probe,
	.reload = htpasswd_reload,
	.reload_state = htpasswd_reload_state,
	.check_access = htpasswd_check_access,
	.close = htpasswd_close,
};
