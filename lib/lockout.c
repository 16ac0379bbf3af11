/*
 * In-memory lockout counters on the sharded LRU map.  A fixed window per
 * name: the first failure opens it, failures after window_ms start a new
 * one.  While locked, further failures neither count nor extend the lock,
 * so the lock ends lockout_ms after it started.
 */
#include "lockout.h"
#include "lru.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct counter {
	struct pa_lru_node node;
	struct pa_lockout *owner;
	uint64_t window_start_ms;
	uint64_t locked_until_ms;
	long failures;
};

struct pa_lockout {
	struct pa_lru *map;
	long max_failures;
	uint64_t window_ms, lockout_ms;
	/* Counters held.  While it is 0 (no failure in the last window, the
	 * normal state) a check costs one atomic load instead of a keyed
	 * hash and a lock. */
	atomic_long live;
};

static void
counter_free(struct pa_lru_node *n)
{
	atomic_fetch_sub(&((struct counter *)n)->owner->live, 1);
	free(n);
}

struct pa_lockout *
pa_lockout_new(long max_failures, uint64_t window_ms, uint64_t lockout_ms, size_t capacity)
{
	struct pa_lockout *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->max_failures = max_failures;
	l->window_ms = window_ms;
	l->lockout_ms = lockout_ms;
	if (max_failures > 0 && (l->map = pa_lru_new(capacity, counter_free, NULL)) == NULL) {
		free(l);
		return NULL;
	}
	return l;
}

void
pa_lockout_free(struct pa_lockout *l)
{
	if (l == NULL)
		return;
	pa_lru_free(l->map);
	free(l);
}

bool
pa_lockout_locked(struct pa_lockout *l, const char *name, size_t len, uint64_t now_ms)
{
	unsigned char key[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct counter *c;
	bool locked;

	if (l->map == NULL || atomic_load_explicit(&l->live, memory_order_relaxed) == 0)
		return false;
	pa_lru_key(l->map, name, len, NULL, 0, key);
	s = pa_lru_lock(l->map, key);
	c = (struct counter *)pa_lru_find(s, key);
	locked = c != NULL && now_ms < c->locked_until_ms;
	pa_lru_unlock(s);
	return locked;
}

bool
pa_lockout_failure(struct pa_lockout *l, const char *name, size_t len, uint64_t now_ms)
{
	unsigned char key[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct counter *c;
	bool started = false;

	if (l->map == NULL)
		return false;
	pa_lru_key(l->map, name, len, NULL, 0, key);
	s = pa_lru_lock(l->map, key);
	c = (struct counter *)pa_lru_find(s, key);
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			pa_lru_unlock(s);
			return false;
		}
		memcpy(c->node.key, key, PA_LRU_KEY);
		c->owner = l;
		c->window_start_ms = now_ms;
		atomic_fetch_add(&l->live, 1);
		pa_lru_insert(s, &c->node);
	}
	if (now_ms < c->locked_until_ms)
		goto done;
	if (now_ms - c->window_start_ms >= l->window_ms) {
		c->window_start_ms = now_ms;
		c->failures = 0;
	}
	if (++c->failures >= l->max_failures) {
		c->locked_until_ms = now_ms + l->lockout_ms;
		c->failures = 0;
		c->window_start_ms = now_ms;
		started = true;
	}
done:
	pa_lru_unlock(s);
	return started;
}

void
pa_lockout_lock(struct pa_lockout *l, const char *name, size_t len, uint64_t now_ms)
{
	unsigned char key[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct counter *c;

	if (l->map == NULL)
		return;
	pa_lru_key(l->map, name, len, NULL, 0, key);
	s = pa_lru_lock(l->map, key);
	if ((c = (struct counter *)pa_lru_find(s, key)) == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			pa_lru_unlock(s);
			return;
		}
		memcpy(c->node.key, key, PA_LRU_KEY);
		c->owner = l;
		atomic_fetch_add(&l->live, 1);
		pa_lru_insert(s, &c->node);
	}
	if (c->locked_until_ms < now_ms + l->lockout_ms) {
		c->locked_until_ms = now_ms + l->lockout_ms;
		c->window_start_ms = now_ms;
		c->failures = 0;
	}
	pa_lru_unlock(s);
}

void
pa_lockout_success(struct pa_lockout *l, const char *name, size_t len)
{
	unsigned char key[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct pa_lru_node *n;

	if (l->map == NULL || atomic_load_explicit(&l->live, memory_order_relaxed) == 0)
		return;
	pa_lru_key(l->map, name, len, NULL, 0, key);
	s = pa_lru_lock(l->map, key);
	if ((n = pa_lru_find(s, key)) != NULL)
		pa_lru_remove(s, n);
	pa_lru_unlock(s);
}

struct sweep {
	const struct pa_lockout *l;
	uint64_t now_ms;
};

/* A counter is dead when its lock is over and its window has passed:
 * keeping it would change no answer. */
static bool
dead(const struct pa_lru_node *n, void *arg)
{
	const struct counter *c = (const struct counter *)n;
	const struct sweep *sw = arg;

	return sw->now_ms >= c->locked_until_ms &&
	    sw->now_ms - c->window_start_ms >= sw->l->window_ms;
}

size_t
pa_lockout_sweep(struct pa_lockout *l, uint64_t now_ms)
{
	struct sweep sw = { l, now_ms };

	if (l->map == NULL || atomic_load(&l->live) == 0)
		return 0;
	return pa_lru_remove_if(l->map, dead, &sw);
}
