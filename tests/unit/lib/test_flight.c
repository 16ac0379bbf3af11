/*
 * Coalescing: N threads asking for the same key while a lookup runs get
 * the leader's answer and cause one lookup; different keys do not wait
 * for each other.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "flight.h"

#define THREADS 16

static struct pa_flights *flights;
static atomic_int lookups;
static atomic_int granted;
static atomic_int arrived;

struct arg {
	unsigned char key[PA_LRU_KEY];
	pthread_barrier_t *barrier;
};

static void *
worker(void *p)
{
	struct arg *a = p;
	struct pa_flight_result res;
	struct pa_flight *f;

	pthread_barrier_wait(a->barrier);
	atomic_fetch_add(&arrived, 1);
	f = pa_flights_join(flights, a->key, &res);
	if (f != NULL) {
		atomic_fetch_add(&lookups, 1);
		/* A slow backend: everyone has arrived before it answers. */
		while (atomic_load(&arrived) < THREADS)
			usleep(1000);
		usleep(100000);
		memset(&res, 0, sizeof(res));
		res.ans.result = PA_GRANTED;
		res.ans.backend = "fake";
		strcpy(res.who.user, "alice");
		strcpy(res.who.groups, "g1,g2");
		pa_flights_finish(flights, f, &res);
	}
	if (res.ans.result == PA_GRANTED && strcmp(res.who.user, "alice") == 0 &&
	    strcmp(res.who.groups, "g1,g2") == 0)
		atomic_fetch_add(&granted, 1);
	return NULL;
}

static void
run(int nkeys)
{
	pthread_t t[THREADS];
	struct arg a[THREADS];
	pthread_barrier_t barrier;
	int i;

	atomic_store(&lookups, 0);
	atomic_store(&granted, 0);
	atomic_store(&arrived, 0);
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (i = 0; i < THREADS; i++) {
		memset(a[i].key, 0, sizeof(a[i].key));
		a[i].key[1] = (unsigned char)(i % nkeys);
		a[i].key[7] = (unsigned char)(i % nkeys);
		a[i].barrier = &barrier;
		assert_int_equal(pthread_create(&t[i], NULL, worker, &a[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&barrier);
}

static void
test_identical_requests_cause_one_lookup(void **state)
{
	(void)state;
	flights = pa_flights_new();
	run(1);
	assert_int_equal(atomic_load(&lookups), 1);
	assert_int_equal(atomic_load(&granted), THREADS);
	/* After the flight ended, a new request leads a new lookup. */
	run(1);
	assert_int_equal(atomic_load(&lookups), 1);
	pa_flights_free(flights);
}

static void
test_different_keys_do_not_share(void **state)
{
	(void)state;
	flights = pa_flights_new();
	run(4);
	assert_int_equal(atomic_load(&lookups), 4);
	assert_int_equal(atomic_load(&granted), THREADS);
	pa_flights_free(flights);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical_requests_cause_one_lookup),
		cmocka_unit_test(test_different_keys_do_not_share),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
