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

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
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
	EVP_MAC_CTX *mac;		/* keyed template, duplicated per use */
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
	unsigned char key[32];
	size_t nshards = capacity < MAX_SHARDS ? (capacity ? capacity : 1) : MAX_SHARDS;
	size_t per = (capacity + nshards - 1) / nshards, i;
	struct pa_lru *m = calloc(1, sizeof(*m) + nshards * sizeof(struct pa_lru_shard));
	EVP_MAC *hmac = NULL;
	OSSL_PARAM params[2];

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
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if ((hmac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL ||
	    (m->mac = EVP_MAC_CTX_new(hmac)) == NULL ||
	    EVP_MAC_init(m->mac, key, sizeof(key), params) != 1)
		goto fail;
	EVP_MAC_free(hmac);
	OPENSSL_cleanse(key, sizeof(key));
	return m;
fail:
	EVP_MAC_free(hmac);
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
	EVP_MAC_CTX_free(m->mac);
	free(m);
}

void
pa_lru_key(const struct pa_lru *m, const void *a, size_t alen, const void *b, size_t blen,
	   unsigned char out[PA_LRU_KEY])
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(m->mac);
	size_t outlen = 0;

	if (c == NULL || EVP_MAC_update(c, a, alen) != 1 ||
	    EVP_MAC_update(c, (const unsigned char *)"", 1) != 1 ||
	    (blen > 0 && EVP_MAC_update(c, b, blen) != 1) ||
	    EVP_MAC_final(c, out, &outlen, PA_LRU_KEY) != 1 || outlen != PA_LRU_KEY) {
		/* Out of memory in OpenSSL: a key nobody can hit again, so the
		 * caller simply misses (and never matches another's entry). */
		RAND_bytes(out, PA_LRU_KEY);
	}
	EVP_MAC_CTX_free(c);
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
