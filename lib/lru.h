/*
 * A sharded, bounded hash map with least-recently-used eviction, keyed by
 * 32-byte keyed hashes.  The answer cache and the lockout counters sit on
 * it.  Each shard has its own mutex, so threads working on different keys
 * rarely meet; there is no global lock on the lookup path.
 *
 * Nodes are allocated by the caller with a struct pa_lru_node first and
 * handed over on insert; the map frees them through free_node when they
 * are evicted or removed.  All find/insert/remove calls happen between
 * pa_lru_lock() and pa_lru_unlock() of the key's shard, and a node pointer
 * is valid only until the unlock.
 */
#ifndef PA_LRU_H
#define PA_LRU_H

#include <stdbool.h>
#include <stddef.h>

#define PA_LRU_KEY 32

struct pa_lru_node {
	struct pa_lru_node *hnext;	/* bucket chain */
	struct pa_lru_node *prev, *next;	/* recency list, most recent first */
	unsigned char key[PA_LRU_KEY];
};

struct pa_lru;
struct pa_lru_shard;

/* A map for about capacity nodes (>= 1): each of its min(capacity, 64)
 * shards holds capacity / shards rounded up, so the whole may hold up to
 * shards - 1 more than capacity (1024 for 1000), never more.  The
 * keyed-hash key is random (made here) unless hmac_key (32 bytes) is
 * given, for tests. */
struct pa_lru *pa_lru_new(size_t capacity, void (*free_node)(struct pa_lru_node *),
			  const unsigned char *hmac_key);
void pa_lru_free(struct pa_lru *m);	/* safe on NULL */

/* HMAC-SHA256 under the map's key over a, a NUL byte, then b. */
void pa_lru_key(const struct pa_lru *m, const void *a, size_t alen, const void *b, size_t blen,
		unsigned char out[PA_LRU_KEY]);

struct pa_lru_shard *pa_lru_lock(struct pa_lru *m, const unsigned char key[PA_LRU_KEY]);
void pa_lru_unlock(struct pa_lru_shard *s);

/* The node with that key (compared in constant time), made most recent;
 * or NULL. */
struct pa_lru_node *pa_lru_find(struct pa_lru_shard *s, const unsigned char key[PA_LRU_KEY]);

/* Inserts node (its key set by the caller; the key must not be present),
 * evicting the least recently used node of the shard when it is full. */
void pa_lru_insert(struct pa_lru_shard *s, struct pa_lru_node *node);

/* Unlinks and frees node. */
void pa_lru_remove(struct pa_lru_shard *s, struct pa_lru_node *node);

/* Removes every node for which drop(node, arg) is true, shard by shard.
 * Returns how many were removed. */
size_t pa_lru_remove_if(struct pa_lru *m, bool (*drop)(const struct pa_lru_node *, void *),
			void *arg);

/* Calls visit(node, arg) on every node, shard by shard, under the
 * shard's lock; visit may change the node's payload, never its key.
 * Returns how many visits returned true. */
size_t pa_lru_visit(struct pa_lru *m, bool (*visit)(struct pa_lru_node *, void *), void *arg);

/* Nodes held now (a moment's snapshot). */
size_t pa_lru_count(struct pa_lru *m);

#endif
