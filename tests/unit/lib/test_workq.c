/*
 * Unit tests for lib/workq.c, the pool that runs backend lookups off the
 * HTTP event loop: every submitted job runs exactly once, whichever
 * worker takes it; a full queue refuses at once (the caller answers 503
 * rather than wait); stopping runs what was queued, then refuses new jobs;
 * a job that never ends makes stop give up after its timeout instead of
 * hanging the shutdown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workq.h"

#define NJOBS 5000

struct job {
	struct pa_job j;	/* first */
	atomic_int runs;
};

static void
count_run(struct pa_job *j)
{
	atomic_fetch_add(&((struct job *)j)->runs, 1);
}

static void
test_every_job_once(void **state)
{
	struct pa_workq *q = pa_workq_start(4, NJOBS);
	struct job *jobs = calloc(NJOBS, sizeof(*jobs));
	int i;

	(void)state;
	assert_non_null(q);
	assert_non_null(jobs);
	for (i = 0; i < NJOBS; i++) {
		jobs[i].j.run = count_run;
		assert_int_equal(pa_workq_submit(q, &jobs[i].j), 0);
	}
	assert_int_equal(pa_workq_stop(q, 10000), 0);
	for (i = 0; i < NJOBS; i++)
		assert_int_equal(atomic_load(&jobs[i].runs), 1);
	pa_workq_free(q);
	free(jobs);
}

/*
 * Idle workers are woken one by one (each on a semaphore of its own): a
 * lost wake-up leaves a job queued with every worker asleep.  Four
 * threads each submit a job and wait for it to run before the next, so
 * the workers go idle between almost every job; a job not run within 2 s
 * fails the test instead of hanging it.
 */
#define PING_JOBS 3000

static void *
ping_pong(void *arg)
{
	struct pa_workq *q = arg;
	struct job *j = calloc(1, sizeof(*j));
	struct timespec nap = { 0, 20000 };
	int i, waited;

	if (j == NULL)
		return (void *)"calloc";
	j->j.run = count_run;
	for (i = 0; i < PING_JOBS; i++) {
		if (pa_workq_submit(q, &j->j) != 0) {
			free(j);
			return (void *)"refused";
		}
		for (waited = 0; atomic_load(&j->runs) != i + 1; waited++) {
			if (waited > 100000)	/* 2 s of 20 us naps; j stays queued */
				return (void *)"a queued job did not run: lost wake-up";
			nanosleep(&nap, NULL);
		}
	}
	free(j);
	return NULL;
}

static void
test_idle_workers_wake(void **state)
{
	struct pa_workq *q = pa_workq_start(8, 64);
	pthread_t t[4];
	void *why;
	int i;

	(void)state;
	assert_non_null(q);
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ping_pong, q), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &why), 0);
		if (why != NULL)
			fail_msg("%s", (const char *)why);
	}
	assert_int_equal(pa_workq_stop(q, 10000), 0);
	pa_workq_free(q);

	/* Stopped at once, every worker idle (or not yet asleep): all wake
	 * and exit well within the timeout. */
	q = pa_workq_start(16, 8);
	assert_non_null(q);
	assert_int_equal(pa_workq_stop(q, 5000), 0);
	pa_workq_free(q);
}

/* A job that blocks its worker until released. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open, gate_entered;

static void
gated_run(struct pa_job *j)
{
	pthread_mutex_lock(&gate_lock);
	gate_entered = true;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	count_run(j);
}

static void
gate_reset(void)
{
	gate_open = gate_entered = false;
}

static void
gate_wait_entered(void)
{
	pthread_mutex_lock(&gate_lock);
	while (!gate_entered)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void
gate_release(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* One worker busy, room for 3 waiting: the 4th waiting job is refused
 * and never runs; the queued ones all run once the worker is free. */
static void
test_full_queue_refuses(void **state)
{
	struct pa_workq *q = pa_workq_start(1, 3);
	struct job busy = { 0 }, waiting[4];
	int i;

	(void)state;
	memset(waiting, 0, sizeof(waiting));
	gate_reset();
	busy.j.run = gated_run;
	assert_int_equal(pa_workq_submit(q, &busy.j), 0);
	gate_wait_entered();		/* the worker holds it: the queue is empty */
	for (i = 0; i < 4; i++)
		waiting[i].j.run = count_run;
	for (i = 0; i < 3; i++)
		assert_int_equal(pa_workq_submit(q, &waiting[i].j), 0);
	assert_int_equal(pa_workq_submit(q, &waiting[3].j), -1);
	gate_release();
	assert_int_equal(pa_workq_stop(q, 10000), 0);
	assert_int_equal(atomic_load(&busy.runs), 1);
	for (i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&waiting[i].runs), 1);
	assert_int_equal(atomic_load(&waiting[3].runs), 0);
	pa_workq_free(q);
}

struct stopper {
	struct pa_workq *q;
	int rc;
};

static void *
stop_thread(void *arg)
{
	struct stopper *s = arg;

	s->rc = pa_workq_stop(s->q, 10000);
	return NULL;
}

/* Stop drains: jobs queued before it run, a job submitted after it is
 * refused (and the queue stays valid for such late callers). */
static void
test_stop_drains_then_refuses(void **state)
{
	struct pa_workq *q = pa_workq_start(1, 4096);
	struct job busy = { 0 }, queued[8], *late = calloc(2000, sizeof(*late));
	struct stopper st = { q, -2 };
	pthread_t t;
	int i, accepted;

	(void)state;
	memset(queued, 0, sizeof(queued));
	gate_reset();
	busy.j.run = gated_run;
	assert_int_equal(pa_workq_submit(q, &busy.j), 0);
	gate_wait_entered();
	for (i = 0; i < 8; i++) {
		queued[i].j.run = count_run;
		assert_int_equal(pa_workq_submit(q, &queued[i].j), 0);
	}
	assert_int_equal(pthread_create(&t, NULL, stop_thread, &st), 0);
	/* Until the stop has begun, submit may still accept (those jobs
	 * must run too); then it refuses. */
	assert_non_null(late);
	for (accepted = 0; accepted < 1999; accepted++) {
		late[accepted].j.run = count_run;
		if (pa_workq_submit(q, &late[accepted].j) != 0)
			break;
		usleep(1000);
	}
	assert_true(accepted < 1999);	/* the stop did begin */
	gate_release();
	pthread_join(t, NULL);
	assert_int_equal(st.rc, 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(atomic_load(&queued[i].runs), 1);
	for (i = 0; i < accepted; i++)
		assert_int_equal(atomic_load(&late[i].runs), 1);
	assert_int_equal(atomic_load(&late[accepted].runs), 0);
	late[1999].j.run = count_run;
	assert_int_equal(pa_workq_submit(q, &late[1999].j), -1);
	pa_workq_free(q);
	free(late);
}

/* A job that hangs: stop gives up after its timeout, with -1, instead of
 * holding the shutdown forever. */
static void
test_stop_gives_up_on_a_hung_job(void **state)
{
	struct pa_workq *q = pa_workq_start(1, 4);
	struct job busy = { 0 };

	(void)state;
	gate_reset();
	busy.j.run = gated_run;
	assert_int_equal(pa_workq_submit(q, &busy.j), 0);
	gate_wait_entered();
	assert_int_equal(pa_workq_stop(q, 50), -1);
	gate_release();			/* now it ends: a second stop joins */
	assert_int_equal(pa_workq_stop(q, 10000), 0);
	assert_int_equal(atomic_load(&busy.runs), 1);
	pa_workq_free(q);
	assert_int_equal(pa_workq_stop(NULL, 0), 0);
	pa_workq_free(NULL);
}

/* "One thread per CPU" counts the CPUs the process may run on: narrowed
 * to one (as a cpuset or taskset would), it is 1 even on a bigger machine;
 * given back, it is what the mask holds. */
static void
test_usable_cpus_follow_affinity(void **state)
{
	cpu_set_t all, one;
	int first = -1, i;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(pa_usable_cpus(), CPU_COUNT(&all));
	for (i = 0; i < CPU_SETSIZE && first < 0; i++)
		if (CPU_ISSET(i, &all))
			first = i;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(pa_usable_cpus(), 1);
	assert_int_equal(sched_setaffinity(0, sizeof(all), &all), 0);
	assert_int_equal(pa_usable_cpus(), CPU_COUNT(&all));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_job_once),
		cmocka_unit_test(test_idle_workers_wake),
		cmocka_unit_test(test_full_queue_refuses),
		cmocka_unit_test(test_stop_drains_then_refuses),
		cmocka_unit_test(test_stop_gives_up_on_a_hung_job),
		cmocka_unit_test(test_usable_cpus_follow_affinity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
