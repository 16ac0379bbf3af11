/*
 * Answer cache on the sharded LRU map.  An entry holds the keyed hash, the
 * expiry, the result and, in one allocation, the login name, the
 * canonical name and the groups: about 100 bytes plus the names, so
 * 100,000 entries stay in tens of megabytes.
 */
#include "cache.h"
#include "fold.h"
#include "text.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct entry {
	struct pa_lru_node node;	/* first: the map hands nodes back */
	uint64_t expires_ms;
	uint64_t not_after_ms;		/* never used from then on, not even stale */
	const char *backend;
	unsigned char result;
	unsigned short login_len, canon_len, groups_len;
	char strs[];			/* login NUL canonical NUL groups NUL */
};

struct pa_cache {
	struct pa_lru *map;
	/* Bumped before every invalidation scans the shards; a store checks
	 * it under its shard's lock, so a store either lands before the scan
	 * reaches its shard (and is dropped by it) or sees the new value. */
	atomic_uint_fast64_t generation;
	/* The chain's backends in order (pa_cache_set_chain), set before any
	 * other thread runs: an answer of one may stand on an earlier one
	 * having said "not found". */
	char chain[PA_CACHE_BACKENDS][PA_CACHE_NAME];
	int nchain;
	/* The backends whose notices go unheard (pa_cache_set_deaf); with
	 * deaf_all (no room, or a name too long), every one is taken as
	 * deaf. */
	pthread_mutex_t deaf_lock;
	atomic_int ndeaf;
	bool deaf_all;
	char deaf[PA_CACHE_BACKENDS][PA_CACHE_NAME];
};

/* backend's place in the chain, or -1 when it is not known there. */
static int
rank(const struct pa_cache *c, const char *backend)
{
	int i;

	for (i = 0; backend != NULL && i < c->nchain; i++)
		if (strcmp(c->chain[i], backend) == 0)
			return i;
	return -1;
}

/* Whether an answer of answered stands on what of says: the same
 * backend, or one before it in the chain. */
static bool
stands_on(const struct pa_cache *c, const char *answered, const char *of)
{
	int a = rank(c, answered), o = rank(c, of);

	return strcmp(answered, of) == 0 || (a >= 0 && o >= 0 && o < a);
}

static void
entry_free(struct pa_lru_node *n)
{
	free(n);
}

struct pa_cache *
pa_cache_new(size_t capacity, const unsigned char *hmac_key)
{
	struct pa_cache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if ((c->map = pa_lru_new(capacity, entry_free, hmac_key)) == NULL) {
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->deaf_lock, NULL);
	return c;
}

void
pa_cache_free(struct pa_cache *c)
{
	if (c == NULL)
		return;
	pa_lru_free(c->map);
	pthread_mutex_destroy(&c->deaf_lock);
	free(c);
}

int
pa_cache_set_chain(struct pa_cache *c, const char *backend)
{
	if (c->nchain == PA_CACHE_BACKENDS ||
	    pa_strlcpy(c->chain[c->nchain], backend, PA_CACHE_NAME) != 0)
		return -1;
	c->nchain++;
	return 0;
}

void
pa_cache_set_deaf(struct pa_cache *c, const char *backend, bool deaf)
{
	int i, slot = -1, n = 0;

	pthread_mutex_lock(&c->deaf_lock);
	for (i = 0; i < PA_CACHE_BACKENDS; i++) {
		if (c->deaf[i][0] != '\0' && strcmp(c->deaf[i], backend) == 0)
			slot = i;
		else if (slot < 0 && c->deaf[i][0] == '\0' && deaf)
			slot = i;
	}
	if (slot >= 0 && deaf && pa_strlcpy(c->deaf[slot], backend, PA_CACHE_NAME) != 0)
		slot = -1;
	if (slot >= 0 && !deaf)
		c->deaf[slot][0] = '\0';
	if (slot < 0 && deaf)
		c->deaf_all = true;	/* cannot say which: every one, for good */
	for (i = 0; i < PA_CACHE_BACKENDS; i++)
		n += c->deaf[i][0] != '\0';
	atomic_store(&c->ndeaf, c->deaf_all ? PA_CACHE_BACKENDS + 1 : n);
	pthread_mutex_unlock(&c->deaf_lock);
	if (deaf)
		atomic_fetch_add(&c->generation, 1);
}

bool
pa_cache_deaf(struct pa_cache *c, const char *backend)
{
	bool deaf = false;
	int i;

	if (atomic_load(&c->ndeaf) == 0)
		return false;
	if (backend == NULL)
		return true;
	pthread_mutex_lock(&c->deaf_lock);
	deaf = c->deaf_all;
	for (i = 0; i < PA_CACHE_BACKENDS && !deaf; i++)
		deaf = c->deaf[i][0] != '\0' && stands_on(c, backend, c->deaf[i]);
	pthread_mutex_unlock(&c->deaf_lock);
	return deaf;
}

void
pa_cache_key(const struct pa_cache *c, const char *user, size_t user_len, const char *password,
	     size_t password_len, unsigned char out[PA_LRU_KEY])
{
	pa_lru_key(c->map, user, user_len, password, password_len, out);
}

enum pa_cache_hit
pa_cache_lookup(struct pa_cache *c, const unsigned char key[PA_LRU_KEY], uint64_t now_ms,
		uint64_t stale_grace_ms, struct pa_cache_view *view)
{
	struct pa_lru_shard *s = pa_lru_lock(c->map, key);
	struct entry *e = (struct entry *)pa_lru_find(s, key);
	enum pa_cache_hit hit = PA_CACHE_MISS;

	if (e != NULL) {
		if (now_ms >= e->not_after_ms)
			pa_lru_remove(s, &e->node);	/* the account expired */
		else if (now_ms < e->expires_ms)
			hit = PA_CACHE_FRESH;
		else if (e->result == PA_GRANTED && now_ms < e->expires_ms + stale_grace_ms)
			hit = PA_CACHE_STALE;
		else
			pa_lru_remove(s, &e->node);
	}
	if (hit != PA_CACHE_MISS) {
		view->result = e->result;
		view->backend = e->backend;
		memcpy(view->who->user, e->strs + e->login_len + 1, (size_t)e->canon_len + 1);
		memcpy(view->who->groups, e->strs + e->login_len + 1 + e->canon_len + 1,
		       (size_t)e->groups_len + 1);
	}
	pa_lru_unlock(s);
	return hit;
}

uint64_t
pa_cache_not_after(int64_t expires_unix_ms, int64_t now_unix_ms, uint64_t now_ms)
{
	uint64_t left;

	if (expires_unix_ms <= now_unix_ms)
		return now_ms > 0 ? now_ms : 1;
	left = (uint64_t)expires_unix_ms - (uint64_t)now_unix_ms;	/* no overflow */
	if (left > UINT64_MAX - now_ms)
		return UINT64_MAX;
	return now_ms + left;
}

uint64_t
pa_cache_generation(const struct pa_cache *c)
{
	return atomic_load(&c->generation);
}

void
pa_cache_store(struct pa_cache *c, const unsigned char key[PA_LRU_KEY], const char *login,
	       const struct pa_cache_view *view, uint64_t expires_ms, uint64_t generation)
{
	size_t ll = strlen(login), cl = 0, gl = 0;
	struct pa_lru_shard *s;
	struct pa_lru_node *old;
	struct entry *e;

	if (view->result != PA_GRANTED && view->result != PA_DENIED)
		return;
	if (view->not_after_ms != 0 && expires_ms > view->not_after_ms)
		expires_ms = view->not_after_ms;
	if (view->result == PA_GRANTED) {
		cl = strnlen(view->who->user, sizeof(view->who->user) - 1);
		gl = strnlen(view->who->groups, sizeof(view->who->groups) - 1);
	}
	if (ll > PA_USER_MAX || (e = malloc(sizeof(*e) + ll + cl + gl + 3)) == NULL)
		return;		/* not caching is always safe */
	memcpy(e->node.key, key, PA_LRU_KEY);
	e->expires_ms = expires_ms;
	e->not_after_ms = view->not_after_ms != 0 ? view->not_after_ms : UINT64_MAX;
	e->backend = view->backend;
	e->result = (unsigned char)view->result;
	e->login_len = (unsigned short)ll;
	e->canon_len = (unsigned short)cl;
	e->groups_len = (unsigned short)gl;
	memcpy(e->strs, login, ll + 1);
	if (cl > 0)
		memcpy(e->strs + ll + 1, view->who->user, cl);
	e->strs[ll + 1 + cl] = '\0';
	if (gl > 0)
		memcpy(e->strs + ll + 1 + cl + 1, view->who->groups, gl);
	e->strs[ll + 1 + cl + 1 + gl] = '\0';

	s = pa_lru_lock(c->map, key);
	if ((old = pa_lru_find(s, key)) != NULL)
		pa_lru_remove(s, old);
	if (atomic_load(&c->generation) != generation) {
		pa_lru_unlock(s);
		free(e);	/* stale: the older entry is gone too, as it must be */
		return;
	}
	pa_lru_insert(s, &e->node);
	pa_lru_unlock(s);
}

struct user_arg {
	const char *user;
	bool ascii;			/* user is plain ASCII */
	char fold[PA_FOLD_MAX];		/* its fold (fold.h) */
};

static bool
is_ascii(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Whether name (a login or a canonical name) is another spelling of the
 * user: ASCII names compare without regard to case, as before; a
 * non-ASCII one on either side by its fold, since the chain takes a name
 * that folds like one an earlier backend holds for that one (chain.c). */
static bool
same_user(const char *name, size_t len, const struct user_arg *a)
{
	char fold[PA_FOLD_MAX];

	if (strcasecmp(name, a->user) == 0)
		return true;
	if (a->ascii && is_ascii(name, len))
		return false;
	pa_fold_user(name, len, fold);
	return strcmp(fold, a->fold) == 0;
}

static bool
drop_user(const struct pa_lru_node *n, void *arg)
{
	const struct entry *e = (const struct entry *)n;
	const struct user_arg *a = arg;

	return same_user(e->strs, e->login_len, a) ||
	    (e->canon_len > 0 && same_user(e->strs + e->login_len + 1, e->canon_len, a));
}

size_t
pa_cache_invalidate_user(struct pa_cache *c, const char *user)
{
	struct user_arg a;
	size_t len = strlen(user);

	a.user = user;
	a.ascii = is_ascii(user, len);
	pa_fold_user(user, len, a.fold);
	atomic_fetch_add(&c->generation, 1);
	return pa_lru_remove_if(c->map, drop_user, &a);
}

struct backend_arg {
	const struct pa_cache *c;
	const char *backend;
	uint64_t now_ms;		/* expire only */
};

/* The answers that stand on what a backend said: its own, those of the
 * backends after it in the chain, and "not found anywhere". */
static bool
drop_backend(const struct pa_lru_node *n, void *arg)
{
	const struct entry *e = (const struct entry *)n;
	const struct backend_arg *a = arg;

	return e->backend == NULL || stands_on(a->c, e->backend, a->backend);
}

size_t
pa_cache_invalidate_backend(struct pa_cache *c, const char *backend)
{
	struct backend_arg a = { c, backend, 0 };

	atomic_fetch_add(&c->generation, 1);
	return pa_lru_remove_if(c->map, drop_backend, &a);
}

static bool
expire_backend(struct pa_lru_node *n, void *arg)
{
	struct entry *e = (struct entry *)n;
	const struct backend_arg *a = arg;

	if (!drop_backend(n, arg) || e->expires_ms <= a->now_ms)
		return false;
	e->expires_ms = a->now_ms;
	return true;
}

size_t
pa_cache_expire_backend(struct pa_cache *c, const char *backend, uint64_t now_ms)
{
	struct backend_arg a = { c, backend, now_ms };

	/* No generation bump: an answer being looked up now is as good as
	 * one looked up a moment later, and the bump would make its store
	 * drop the entry it replaces, which stale_grace may still need. */
	return pa_lru_visit(c->map, expire_backend, &a);
}

size_t
pa_cache_entries(struct pa_cache *c)
{
	return pa_lru_count(c->map);
}
