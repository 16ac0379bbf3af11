/*
 * Worker pool: one mutex guarding a FIFO of jobs and a stack of idle
 * workers, each idle worker asleep on a semaphore of its own.
 *
 * A submit takes the most recently idled worker off the stack and posts
 * its semaphore after letting go of the mutex, so the woken worker never
 * finds the mutex held.  (With one condition variable the signal came
 * under the mutex, and glibc relocks a condition wait's mutex as
 * contended, so every job cost a futex wake more: about one system call
 * and one wake-up an answer, measured with strace and perf on the
 * uncached LDAP path.)  Contention on the mutex is negligible next to a
 * job's work (a hash or a network round trip), the only reason a job
 * exists.
 */
#include "workq.h"
#include "deadline.h"
#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct worker {
	struct pa_workq *q;
	sem_t go;			/* posted once per pop off the idle stack */
	struct worker *next_idle;
	pthread_t thread;
	bool started;
};

struct pa_workq {
	pthread_mutex_t lock;
	pthread_cond_t gone;		/* a worker exited */
	int alive;			/* workers not yet exited */
	struct pa_job *head, *tail;
	struct worker *idle;		/* asleep, or about to be, on their go */
	size_t queued, max_queued;
	bool stopping;
	int nthreads;
	struct worker workers[];
};

/* Called with q->lock held: the idle worker to wake, taken off the
 * stack, or NULL.  The caller posts its go after unlocking. */
static struct worker *
pop_idle(struct pa_workq *q)
{
	struct worker *w = q->idle;

	if (w != NULL)
		q->idle = w->next_idle;
	return w;
}

static void *
worker(void *arg)
{
	struct worker *self = arg;
	struct pa_workq *q = self->q;
	struct pa_job *job;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->head == NULL && !q->stopping) {
			self->next_idle = q->idle;
			q->idle = self;
			pthread_mutex_unlock(&q->lock);
			while (sem_wait(&self->go) != 0 && errno == EINTR)
				;
			pthread_mutex_lock(&q->lock);
		}
		if (q->head == NULL) {
			q->alive--;
			pthread_cond_broadcast(&q->gone);
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		job = q->head;
		q->head = job->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->queued--;
		pthread_mutex_unlock(&q->lock);
		job->next = NULL;
		job->run(job);
		pthread_mutex_lock(&q->lock);
	}
}

struct pa_workq *
pa_workq_start(int nthreads, size_t max_queued)
{
	struct pa_workq *q;
	int i;

	if (nthreads < 1)
		return NULL;
	q = calloc(1, sizeof(*q) + (size_t)nthreads * sizeof(struct worker));
	if (q == NULL)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	(void)pa_cond_init_monotonic(&q->gone);
	q->max_queued = max_queued;
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &q->workers[i];

		w->q = q;
		if (sem_init(&w->go, 0, 0) != 0)
			break;
		pthread_mutex_lock(&q->lock);
		q->alive++;
		pthread_mutex_unlock(&q->lock);
		q->nthreads++;
		if (pthread_create(&w->thread, NULL, worker, w) != 0) {
			pthread_mutex_lock(&q->lock);
			q->alive--;
			pthread_mutex_unlock(&q->lock);
			break;
		}
		w->started = true;
	}
	if (i != nthreads) {
		pa_workq_free(q);
		return NULL;
	}
	return q;
}

int
pa_workq_submit(struct pa_workq *q, struct pa_job *job)
{
	struct worker *w;

	pthread_mutex_lock(&q->lock);
	if (q->stopping || q->queued >= q->max_queued) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	job->next = NULL;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	q->queued++;
	w = pop_idle(q);
	pthread_mutex_unlock(&q->lock);
	if (w != NULL)
		(void)sem_post(&w->go);
	return 0;
}

int
pa_workq_stop(struct pa_workq *q, int timeout_ms)
{
	struct timespec until;
	struct worker *w, *wake;
	int i, rc = 0;

	if (q == NULL)
		return 0;
	until = pa_deadline_ms(timeout_ms);
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	wake = q->idle;
	q->idle = NULL;
	pthread_mutex_unlock(&q->lock);
	/* Each idle worker was popped here, once: post each exactly once.
	 * next_idle is read before the post, since the woken worker may
	 * exit at once. */
	while ((w = wake) != NULL) {
		wake = w->next_idle;
		(void)sem_post(&w->go);
	}
	pthread_mutex_lock(&q->lock);
	while (q->alive > 0 && rc == 0)
		rc = pthread_cond_timedwait(&q->gone, &q->lock, &until);
	if (q->alive > 0) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < q->nthreads; i++)
		if (q->workers[i].started) {
			pthread_join(q->workers[i].thread, NULL);
			q->workers[i].started = false;
		}
	return 0;
}

void
pa_workq_free(struct pa_workq *q)
{
	int i;

	if (q == NULL)
		return;
	if (pa_workq_stop(q, 3600 * 1000) != 0)
		return;		/* a job never ended: leave the queue to the process */
	for (i = 0; i < q->nthreads; i++)
		sem_destroy(&q->workers[i].go);
	pthread_cond_destroy(&q->gone);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

long
pa_usable_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? n : 1;
}
