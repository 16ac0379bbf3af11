/*
 * Sharded LRU map.
 *
 * Invariants: every node is in exactly one bucket chain and in its
 * shard's recency list; a shard never holds more than its share of the
 * capacity; the shard and bucket are chosen from different bytes of the
 * keyed hash, so a client cannot aim many keys at one bucket without
 * knowing the random key.
 */
#include "lru.h"

/* The SHA-256 context functions are deprecated in OpenSSL 3 in favour of
 * EVP, but EVP_MAC costs ~10,000 instructions and two allocations per
 * HMAC (measured with callgrind: a third of a cached answer), while HMAC
 * from two precomputed SHA-256 states, exactly as RFC 2104 defines it,
 * costs a few hundred and allocates nothing.  They remain supported
 * throughout OpenSSL 3. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHARDS 64

struct pa_lru_shard {
	pthread_mutex_t lock;
	struct pa_lru_node **buckets;
	size_t nbuckets;		/* a power of two */
	struct pa_lru_node *head, *tail;
	size_t count, capacity;
	void (*free_node)(struct pa_lru_node *);
	char pad[64];			/* keep shards' locks on separate cache lines */
};

struct pa_lru {
	SHA256_CTX inner, outer;	/* after (key ^ ipad) and (key ^ opad) */
	size_t nshards;
	struct pa_lru_shard shards[];
};

static size_t
pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

struct pa_lru *
pa_lru_new(size_t capacity, void (*free_node)(struct pa_lru_node *),
	   const unsigned char *hmac_key)
{
	unsigned char key[32], pad[SHA256_CBLOCK];
	size_t nshards = capacity < MAX_SHARDS ? (capacity ? capacity : 1) : MAX_SHARDS;
	size_t per = (capacity + nshards - 1) / nshards, i;
	struct pa_lru *m = calloc(1, sizeof(*m) + nshards * sizeof(struct pa_lru_shard));

	if (m == NULL)
		return NULL;
	m->nshards = nshards;
	for (i = 0; i < nshards; i++) {
		struct pa_lru_shard *s = &m->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->capacity = per ? per : 1;
		s->nbuckets = pow2_at_least(s->capacity);
		s->free_node = free_node;
		if ((s->buckets = calloc(s->nbuckets, sizeof(*s->buckets))) == NULL)
			goto fail;
	}
	if (hmac_key != NULL)
		memcpy(key, hmac_key, sizeof(key));
	else if (RAND_bytes(key, sizeof(key)) != 1)
		goto fail;
	/* HMAC (RFC 2104) with a 32-byte key: the key zero-padded to the
	 * block size, XORed with 0x36 (inner) and 0x5c (outer). */
	memset(pad, 0x36, sizeof(pad));
	for (i = 0; i < sizeof(key); i++)
		pad[i] ^= key[i];
	if (SHA256_Init(&m->inner) != 1 || SHA256_Update(&m->inner, pad, sizeof(pad)) != 1)
		goto fail;
	memset(pad, 0x5c, sizeof(pad));
	for (i = 0; i < sizeof(key); i++)
		pad[i] ^= key[i];
	if (SHA256_Init(&m->outer) != 1 || SHA256_Update(&m->outer, pad, sizeof(pad)) != 1)
		goto fail;
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(key, sizeof(key));
	return m;
fail:
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(key, sizeof(key));
	pa_lru_free(m);
	return NULL;
}

void
pa_lru_free(struct pa_lru *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nshards; i++) {
		struct pa_lru_shard *s = &m->shards[i];
		struct pa_lru_node *n = s->head, *next;
		for (; n != NULL; n = next) {
			next = n->next;
			s->free_node(n);
		}
		free(s->buckets);
		pthread_mutex_destroy(&s->lock);
	}
	OPENSSL_cleanse(m, sizeof(*m));
	free(m);
}

void
pa_lru_key(const struct pa_lru *m, const void *a, size_t alen, const void *b, size_t blen,
	   unsigned char out[PA_LRU_KEY])
{
	SHA256_CTX c = m->inner;
	unsigned char inner[SHA256_DIGEST_LENGTH];

	SHA256_Update(&c, a, alen);
	SHA256_Update(&c, "", 1);
	if (blen > 0)
		SHA256_Update(&c, b, blen);
	SHA256_Final(inner, &c);
	c = m->outer;
	SHA256_Update(&c, inner, sizeof(inner));
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(inner, sizeof(inner));
}

static struct pa_lru_shard *
shard_of(struct pa_lru *m, const unsigned char *key)
{
	return &m->shards[key[0] % m->nshards];
}

static size_t
bucket_of(const struct pa_lru_shard *s, const unsigned char *key)
{
	uint32_t h;

	memcpy(&h, key + 4, sizeof(h));
	return h & (s->nbuckets - 1);
}

struct pa_lru_shard *
pa_lru_lock(struct pa_lru *m, const unsigned char key[PA_LRU_KEY])
{
	struct pa_lru_shard *s = shard_of(m, key);

	pthread_mutex_lock(&s->lock);
	return s;
}

void
pa_lru_unlock(struct pa_lru_shard *s)
{
	pthread_mutex_unlock(&s->lock);
}

static void
list_unlink(struct pa_lru_shard *s, struct pa_lru_node *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		s->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		s->tail = n->prev;
	n->prev = n->next = NULL;
}

static void
list_push_front(struct pa_lru_shard *s, struct pa_lru_node *n)
{
	n->prev = NULL;
	n->next = s->head;
	if (s->head != NULL)
		s->head->prev = n;
	s->head = n;
	if (s->tail == NULL)
		s->tail = n;
}

struct pa_lru_node *
pa_lru_find(struct pa_lru_shard *s, const unsigned char key[PA_LRU_KEY])
{
	struct pa_lru_node *n;

	for (n = s->buckets[bucket_of(s, key)]; n != NULL; n = n->hnext) {
		if (CRYPTO_memcmp(n->key, key, PA_LRU_KEY) == 0) {
			if (s->head != n) {
				list_unlink(s, n);
				list_push_front(s, n);
			}
			return n;
		}
	}
	return NULL;
}

void
pa_lru_remove(struct pa_lru_shard *s, struct pa_lru_node *node)
{
	struct pa_lru_node **pp = &s->buckets[bucket_of(s, node->key)];

	while (*pp != NULL && *pp != node)
		pp = &(*pp)->hnext;
	if (*pp == node)
		*pp = node->hnext;
	list_unlink(s, node);
	s->count--;
	s->free_node(node);
}

void
pa_lru_insert(struct pa_lru_shard *s, struct pa_lru_node *node)
{
	size_t b = bucket_of(s, node->key);

	while (s->count >= s->capacity && s->tail != NULL)
		pa_lru_remove(s, s->tail);
	node->hnext = s->buckets[b];
	s->buckets[b] = node;
	list_push_front(s, node);
	s->count++;
}

size_t
pa_lru_remove_if(struct pa_lru *m, bool (*drop)(const struct pa_lru_node *, void *), void *arg)
{
	size_t i, removed = 0;

	for (i = 0; i < m->nshards; i++) {
		struct pa_lru_shard *s = &m->shards[i];
		struct pa_lru_node *n, *next;

		pthread_mutex_lock(&s->lock);
		for (n = s->head; n != NULL; n = next) {
			next = n->next;
			if (drop(n, arg)) {
				pa_lru_remove(s, n);
				removed++;
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	return removed;
}

size_t
pa_lru_visit(struct pa_lru *m, bool (*visit)(struct pa_lru_node *, void *), void *arg)
{
	size_t i, changed = 0;

	for (i = 0; i < m->nshards; i++) {
		struct pa_lru_shard *s = &m->shards[i];
		struct pa_lru_node *n;

		pthread_mutex_lock(&s->lock);
		for (n = s->head; n != NULL; n = n->next)
			if (visit(n, arg))
				changed++;
		pthread_mutex_unlock(&s->lock);
	}
	return changed;
}

size_t
pa_lru_count(struct pa_lru *m)
{
	size_t i, n = 0;

	for (i = 0; i < m->nshards; i++) {
		pthread_mutex_lock(&m->shards[i].lock);
		n += m->shards[i].count;
		pthread_mutex_unlock(&m->shards[i].lock);
	}
	return n;
}
