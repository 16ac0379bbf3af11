/*
 * The in-memory lockout store: keyed counters with expiry on the sharded
 * LRU map, one map per kind of key (locks, failure counts, seen pairs,
 * known-good pairs) so that a flood of one kind cannot evict another.
 * Keys are kept as keyed hashes only; a counter set keeps its fields as
 * 64-bit keyed hashes with a count each.  Each map counts its live
 * entries in an atomic, so "is anything locked?" costs one load.  Time is
 * passed in; expired entries answer as absent and go at the next sweep.
 */
#include "lockout.h"
#include "lru.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { K_LOCK, K_FAIL, K_SEEN, K_GOOD, K_COUNT };

struct field {
	uint64_t tag;
	long long n;
};

struct entry {
	struct pa_lru_node node;
	atomic_long *live;
	uint64_t expires_ms;
	size_t nfields, cap;
	struct field *fields;
};

struct mem {
	struct pa_lru *map[K_COUNT];
	atomic_long live[K_COUNT];
};

static void
entry_free(struct pa_lru_node *n)
{
	struct entry *e = (struct entry *)n;

	atomic_fetch_sub(e->live, 1);
	free(e->fields);
	free(e);
}

static int
kind(const char *key)
{
	switch (key[0]) {
	case 'l':
		return K_LOCK;
	case 's':
		return K_SEEN;
	case 'g':
		return K_GOOD;
	default:
		return K_FAIL;
	}
}

/* The live entry for key in its locked shard, or NULL (an expired one is
 * removed). */
static struct entry *
find(struct pa_lru_shard *s, const unsigned char *key, uint64_t now_ms)
{
	struct entry *e = (struct entry *)pa_lru_find(s, key);

	if (e != NULL && now_ms >= e->expires_ms) {
		pa_lru_remove(s, &e->node);
		e = NULL;
	}
	return e;
}

static struct entry *
create(struct mem *m, int k, struct pa_lru_shard *s, const unsigned char *key, uint64_t expires)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	memcpy(e->node.key, key, PA_LRU_KEY);
	e->live = &m->live[k];
	e->expires_ms = expires;
	atomic_fetch_add(&m->live[k], 1);
	pa_lru_insert(s, &e->node);
	return e;
}

static uint64_t
field_tag(const struct mem *m, const char *field)
{
	unsigned char h[PA_LRU_KEY];
	uint64_t t;

	pa_lru_key(m->map[K_FAIL], field, strlen(field), NULL, 0, h);
	memcpy(&t, h, sizeof(t));
	return t;
}

static int
mem_put(void *ctx, const char *key, uint64_t ttl_ms, bool only_new, uint64_t now_ms,
	struct pa_error *err)
{
	struct mem *m = ctx;
	int k = kind(key), ret = 0;
	unsigned char h[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct entry *e;

	pa_lru_key(m->map[k], key, strlen(key), NULL, 0, h);
	s = pa_lru_lock(m->map[k], h);
	if ((e = find(s, h, now_ms)) != NULL) {
		if (!only_new)
			e->expires_ms = now_ms + ttl_ms;
	} else if (create(m, k, s, h, now_ms + ttl_ms) != NULL) {
		ret = 1;
	} else {
		pa_error_set(err, "out of memory");
		ret = -1;
	}
	pa_lru_unlock(s);
	return ret;
}

static int
mem_exists(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err)
{
	struct mem *m = ctx;
	int k = kind(key), ret;
	unsigned char h[PA_LRU_KEY];
	struct pa_lru_shard *s;

	(void)err;
	if (atomic_load_explicit(&m->live[k], memory_order_relaxed) == 0)
		return 0;
	pa_lru_key(m->map[k], key, strlen(key), NULL, 0, h);
	s = pa_lru_lock(m->map[k], h);
	ret = find(s, h, now_ms) != NULL;
	pa_lru_unlock(s);
	return ret;
}

static long long
mem_incr(void *ctx, const char *key, const char *field, uint64_t ttl_ms, uint64_t now_ms,
	 struct pa_error *err)
{
	struct mem *m = ctx;
	int k = kind(key);
	unsigned char h[PA_LRU_KEY];
	uint64_t tag = field_tag(m, field);
	struct pa_lru_shard *s;
	struct entry *e;
	long long sum = 0;
	size_t i;

	pa_lru_key(m->map[k], key, strlen(key), NULL, 0, h);
	s = pa_lru_lock(m->map[k], h);
	if ((e = find(s, h, now_ms)) == NULL && (e = create(m, k, s, h, now_ms + ttl_ms)) == NULL)
		goto oom;
	for (i = 0; i < e->nfields && e->fields[i].tag != tag; i++)
		;
	if (i == e->nfields) {
		if (e->nfields == e->cap) {
			size_t cap = e->cap == 0 ? 4 : e->cap * 2;
			struct field *f = realloc(e->fields, cap * sizeof(*f));

			if (f == NULL)
				goto oom;
			e->fields = f;
			e->cap = cap;
		}
		e->fields[e->nfields++] = (struct field){ tag, 0 };
	}
	e->fields[i].n++;
	for (i = 0; i < e->nfields; i++)
		sum += e->fields[i].n;
	pa_lru_unlock(s);
	return sum;
oom:
	pa_lru_unlock(s);
	pa_error_set(err, "out of memory");
	return -1;
}

/* The count of field in key, or with field NULL the sum over its fields. */
static long long
mem_read(struct mem *m, const char *key, const char *field, uint64_t now_ms)
{
	int k = kind(key);
	unsigned char h[PA_LRU_KEY];
	uint64_t tag = field != NULL ? field_tag(m, field) : 0;
	struct pa_lru_shard *s;
	struct entry *e;
	long long n = 0;
	size_t i;

	pa_lru_key(m->map[k], key, strlen(key), NULL, 0, h);
	s = pa_lru_lock(m->map[k], h);
	if ((e = find(s, h, now_ms)) != NULL) {
		for (i = 0; i < e->nfields; i++) {
			if (field == NULL)
				n += e->fields[i].n;
			else if (e->fields[i].tag == tag)
				n = e->fields[i].n;
		}
	}
	pa_lru_unlock(s);
	return n;
}

static long long
mem_get(void *ctx, const char *key, const char *field, uint64_t now_ms, struct pa_error *err)
{
	(void)err;
	return mem_read(ctx, key, field, now_ms);
}

static long long
mem_sum(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err)
{
	(void)err;
	return mem_read(ctx, key, NULL, now_ms);
}

static int
mem_drop(void *ctx, const char *key, const char *field, uint64_t now_ms, struct pa_error *err)
{
	struct mem *m = ctx;
	int k = kind(key);
	unsigned char h[PA_LRU_KEY];
	uint64_t tag;
	struct pa_lru_shard *s;
	struct entry *e;
	size_t i;

	(void)err;
	if (atomic_load_explicit(&m->live[k], memory_order_relaxed) == 0)
		return 0;
	tag = field_tag(m, field);
	pa_lru_key(m->map[k], key, strlen(key), NULL, 0, h);
	s = pa_lru_lock(m->map[k], h);
	if ((e = find(s, h, now_ms)) != NULL) {
		for (i = 0; i < e->nfields; i++) {
			if (e->fields[i].tag == tag) {
				e->fields[i] = e->fields[--e->nfields];
				break;
			}
		}
		if (e->nfields == 0)
			pa_lru_remove(s, &e->node);
	}
	pa_lru_unlock(s);
	return 0;
}

static void
mem_close(void *ctx)
{
	struct mem *m = ctx;
	int k;

	if (m == NULL)
		return;
	for (k = 0; k < K_COUNT; k++)
		pa_lru_free(m->map[k]);
	free(m);
}

static long long
mem_ttl(void *ctx, const char *key, uint64_t now_ms, struct pa_error *err)
{
	struct mem *m = ctx;
	int k = kind(key);
	unsigned char h[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct entry *e;
	long long left = 0;

	(void)err;
	pa_lru_key(m->map[k], key, strlen(key), NULL, 0, h);
	s = pa_lru_lock(m->map[k], h);
	if ((e = find(s, h, now_ms)) != NULL)
		left = (long long)(e->expires_ms - now_ms);
	pa_lru_unlock(s);
	return left;
}

static const struct pa_lockout_store_ops mem_ops = {
	mem_put, mem_exists, mem_incr, mem_get, mem_drop, mem_close, mem_ttl, mem_sum,
};

int
pa_lockout_mem_new(size_t capacity, struct pa_lockout_store *out)
{
	struct mem *m = calloc(1, sizeof(*m));
	int k;

	out->ops = &mem_ops;
	out->ctx = NULL;
	if (m == NULL)
		return -1;
	for (k = 0; k < K_COUNT; k++) {
		atomic_init(&m->live[k], 0);
		if ((m->map[k] = pa_lru_new(capacity, entry_free, NULL)) == NULL) {
			mem_close(m);
			return -1;
		}
	}
	out->ctx = m;
	return 0;
}

bool
pa_lockout_mem_any_lock(void *ctx)
{
	struct mem *m = ctx;

	return atomic_load_explicit(&m->live[K_LOCK], memory_order_relaxed) > 0;
}

static bool
expired(const struct pa_lru_node *n, void *arg)
{
	return *(const uint64_t *)arg >= ((const struct entry *)n)->expires_ms;
}

size_t
pa_lockout_mem_sweep(void *ctx, uint64_t now_ms)
{
	struct mem *m = ctx;
	size_t n = 0;
	int k;

	for (k = 0; k < K_COUNT; k++)
		if (atomic_load(&m->live[k]) > 0)
			n += pa_lru_remove_if(m->map[k], expired, &now_ms);
	return n;
}

size_t
pa_lockout_mem_count(void *ctx)
{
	struct mem *m = ctx;
	size_t n = 0;
	int k;

	for (k = 0; k < K_COUNT; k++)
		n += pa_lru_count(m->map[k]);
	return n;
}
