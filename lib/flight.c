/*
 * Single flight.  Flights live in per-shard lists under the shard's mutex;
 * waiters sleep on the shard's condition variable and check their own
 * flight's done flag.  A flight is freed by whoever leaves it last: the
 * leader when nobody waited, else the last waiter.
 */
#include "flight.h"

#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SHARDS 64

struct pa_flight {
	struct pa_flight *next;
	unsigned char key[PA_LRU_KEY];
	bool done;
	int waiters;
	struct pa_flight_result res;
};

struct shard {
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct pa_flight *head;
};

struct pa_flights {
	struct shard shards[SHARDS];
};

struct pa_flights *
pa_flights_new(void)
{
	struct pa_flights *f = calloc(1, sizeof(*f));
	int i;

	if (f == NULL)
		return NULL;
	for (i = 0; i < SHARDS; i++) {
		pthread_mutex_init(&f->shards[i].lock, NULL);
		pthread_cond_init(&f->shards[i].done, NULL);
	}
	return f;
}

void
pa_flights_free(struct pa_flights *f)
{
	int i;

	if (f == NULL)
		return;
	for (i = 0; i < SHARDS; i++) {
		pthread_mutex_destroy(&f->shards[i].lock);
		pthread_cond_destroy(&f->shards[i].done);
	}
	free(f);
}

struct pa_flight *
pa_flights_join(struct pa_flights *f, const unsigned char key[PA_LRU_KEY],
		struct pa_flight_result *out)
{
	struct shard *s = &f->shards[key[1] % SHARDS];
	struct pa_flight *fl;

	pthread_mutex_lock(&s->lock);
	for (fl = s->head; fl != NULL; fl = fl->next)
		if (CRYPTO_memcmp(fl->key, key, PA_LRU_KEY) == 0)
			break;
	if (fl == NULL) {
		if ((fl = calloc(1, sizeof(*fl))) == NULL) {
			/* No memory for a flight: lead alone, unshared. */
			pthread_mutex_unlock(&s->lock);
			return (struct pa_flight *)(void *)f;
		}
		memcpy(fl->key, key, PA_LRU_KEY);
		fl->next = s->head;
		s->head = fl;
		pthread_mutex_unlock(&s->lock);
		return fl;
	}
	fl->waiters++;
	while (!fl->done)
		pthread_cond_wait(&s->done, &s->lock);
	*out = fl->res;
	if (--fl->waiters == 0) {
		OPENSSL_cleanse(&fl->res, sizeof(fl->res));
		free(fl);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void
pa_flights_finish(struct pa_flights *f, struct pa_flight *flight,
		  const struct pa_flight_result *res)
{
	struct shard *s;
	struct pa_flight **pp;

	if ((void *)flight == (void *)f)
		return;		/* the unshared lead of pa_flights_join */
	s = &f->shards[flight->key[1] % SHARDS];
	pthread_mutex_lock(&s->lock);
	for (pp = &s->head; *pp != NULL && *pp != flight; pp = &(*pp)->next)
		;
	if (*pp == flight)
		*pp = flight->next;
	flight->res = *res;
	flight->done = true;
	if (flight->waiters == 0)
		free(flight);
	else
		pthread_cond_broadcast(&s->done);
	pthread_mutex_unlock(&s->lock);
}
