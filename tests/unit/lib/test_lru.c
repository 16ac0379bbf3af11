/*
 * Unit tests for lib/lru.c, the map under the answer cache and the lockout
 * counters: the least recently used entry is the one evicted (a lookup
 * counts as use), the map never holds more than its bound however many
 * keys arrive (a flood of distinct users cannot grow memory; the bound is
 * the capacity rounded up to a multiple of the 64 shards), every node
 * it drops is handed back to free_node exactly once, and keys are keyed
 * hashes (the same input gives the same key only under the same map key).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lru.h"

struct node {
	struct pa_lru_node n;	/* first */
	int id;
};

static int freed;
static int freed_ids[1024];

static void
free_node(struct pa_lru_node *n)
{
	struct node *x = (struct node *)n;

	if (freed < (int)(sizeof(freed_ids) / sizeof(freed_ids[0])))
		freed_ids[freed] = x->id;
	freed++;
	free(x);
}

static const unsigned char hkey[32] = { 1, 2, 3 };

/* A key in shard 0 (the shard is key[0] % shards), told apart by id. */
static void
key_for(int id, unsigned char key[PA_LRU_KEY])
{
	memset(key, 0, PA_LRU_KEY);
	key[4] = (unsigned char)id;		/* the bucket */
	key[20] = (unsigned char)(id >> 8);
	key[21] = (unsigned char)id;
}

static void
put(struct pa_lru *m, int id)
{
	struct node *x = calloc(1, sizeof(*x));
	struct pa_lru_shard *s;

	assert_non_null(x);
	x->id = id;
	key_for(id, x->n.key);
	s = pa_lru_lock(m, x->n.key);
	assert_null(pa_lru_find(s, x->n.key));
	pa_lru_insert(s, &x->n);
	pa_lru_unlock(s);
}

static bool
has(struct pa_lru *m, int id)
{
	unsigned char key[PA_LRU_KEY];
	struct pa_lru_shard *s;
	struct pa_lru_node *n;
	bool found;

	key_for(id, key);
	s = pa_lru_lock(m, key);
	n = pa_lru_find(s, key);
	found = n != NULL && ((struct node *)n)->id == id;
	pa_lru_unlock(s);
	return found;
}

/* 256 nodes over 64 shards: 4 per shard, all of these in shard 0. */
static void
test_evicts_least_recently_used(void **state)
{
	struct pa_lru *m = pa_lru_new(256, free_node, hkey);

	(void)state;
	freed = 0;
	assert_non_null(m);
	put(m, 1);
	put(m, 2);
	put(m, 3);
	put(m, 4);
	assert_true(has(m, 1));		/* 1 is now the most recent: 2 is the oldest */
	put(m, 5);
	assert_int_equal(freed, 1);
	assert_int_equal(freed_ids[0], 2);
	assert_false(has(m, 2));
	put(m, 6);			/* then 3 */
	assert_int_equal(freed, 2);
	assert_int_equal(freed_ids[1], 3);
	assert_true(has(m, 1));
	assert_true(has(m, 4));
	assert_true(has(m, 5));
	assert_true(has(m, 6));
	assert_int_equal(pa_lru_count(m), 4);
	pa_lru_free(m);
	assert_int_equal(freed, 6);	/* the rest handed back on free */
}

static void
fill(struct pa_lru *m, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		struct node *x = calloc(1, sizeof(*x));
		struct pa_lru_shard *s;

		assert_non_null(x);
		x->id = i;
		pa_lru_key(m, &i, sizeof(i), "u", 1, x->n.key);
		s = pa_lru_lock(m, x->n.key);
		assert_null(pa_lru_find(s, x->n.key));
		pa_lru_insert(s, &x->n);
		pa_lru_unlock(s);
		assert_true(pa_lru_count(m) <= 1024);	/* 64 shards of 16 */
	}
}

/* However many distinct keys come, the map stays within its bound (1000
 * over 64 shards: 16 each), and everything inserted is freed exactly
 * once. */
static void
test_bounded(void **state)
{
	struct pa_lru *m = pa_lru_new(1000, free_node, NULL);
	size_t held;

	(void)state;
	freed = 0;
	assert_non_null(m);
	fill(m, 20000);
	held = pa_lru_count(m);
	assert_true(held <= 1024);
	assert_true(held >= 900);	/* and it is used, not emptied */
	assert_int_equal((size_t)freed + held, 20000);
	pa_lru_free(m);
	assert_int_equal(freed, 20000);
}

/* A tiny map (capacity 1) holds one entry. */
static void
test_capacity_one(void **state)
{
	struct pa_lru *m = pa_lru_new(1, free_node, hkey);

	(void)state;
	freed = 0;
	put(m, 1);
	put(m, 2);
	assert_int_equal(pa_lru_count(m), 1);
	assert_false(has(m, 1));
	assert_true(has(m, 2));
	pa_lru_free(m);
	assert_int_equal(freed, 2);
}

static bool
drop_odd(const struct pa_lru_node *n, void *arg)
{
	(void)arg;
	return ((const struct node *)n)->id % 2 == 1;
}

static void
test_remove_if(void **state)
{
	struct pa_lru *m = pa_lru_new(256, free_node, hkey);
	int i;

	(void)state;
	freed = 0;
	for (i = 1; i <= 4; i++)
		put(m, i);
	assert_int_equal(pa_lru_remove_if(m, drop_odd, NULL), 2);
	assert_int_equal(freed, 2);
	assert_false(has(m, 1));
	assert_true(has(m, 2));
	assert_false(has(m, 3));
	assert_true(has(m, 4));
	assert_int_equal(pa_lru_count(m), 2);
	pa_lru_free(m);
	pa_lru_free(NULL);
	assert_int_equal(freed, 4);
}

/* Keys are HMACs: stable under one map key, different under another, and
 * the separator keeps ("ab", "c") apart from ("a", "bc"). */
static void
test_keys(void **state)
{
	struct pa_lru *a = pa_lru_new(16, free_node, hkey);
	struct pa_lru *b = pa_lru_new(16, free_node, NULL);
	unsigned char k1[PA_LRU_KEY], k2[PA_LRU_KEY], k3[PA_LRU_KEY];

	(void)state;
	pa_lru_key(a, "alice", 5, "pw", 2, k1);
	pa_lru_key(a, "alice", 5, "pw", 2, k2);
	assert_memory_equal(k1, k2, PA_LRU_KEY);
	pa_lru_key(b, "alice", 5, "pw", 2, k3);
	assert_memory_not_equal(k1, k3, PA_LRU_KEY);
	pa_lru_key(a, "ab", 2, "c", 1, k1);
	pa_lru_key(a, "a", 1, "bc", 2, k2);
	assert_memory_not_equal(k1, k2, PA_LRU_KEY);
	pa_lru_free(a);
	pa_lru_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evicts_least_recently_used),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_capacity_one),
		cmocka_unit_test(test_remove_if),
		cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
