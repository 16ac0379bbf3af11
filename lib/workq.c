/*
 * Worker pool: one mutex and two condition variables.  Contention on the
 * mutex is negligible next to the work a job does (a hash or a network
 * round trip), which is the only reason a job exists.
 */
#include "workq.h"
#include "deadline.h"
#include "clock.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

struct pa_workq {
	pthread_mutex_t lock;
	pthread_cond_t more;
	pthread_cond_t gone;		/* a worker exited */
	int alive;			/* workers not yet exited */
	struct pa_job *head, *tail;
	size_t queued, max_queued;
	bool stopping;
	int nthreads;
	pthread_t threads[];
};

static void *
worker(void *arg)
{
	struct pa_workq *q = arg;
	struct pa_job *job;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		while (q->head == NULL && !q->stopping)
			pthread_cond_wait(&q->more, &q->lock);
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
	}
}

struct pa_workq *
pa_workq_start(int nthreads, size_t max_queued)
{
	struct pa_workq *q = calloc(1, sizeof(*q) + (size_t)nthreads * sizeof(pthread_t));
	int i;

	if (q == NULL)
		return NULL;
	pthread_mutex_init(&q->lock, NULL);
	(void)pa_cond_init_monotonic(&q->more);
	(void)pa_cond_init_monotonic(&q->gone);
	q->max_queued = max_queued;
	for (i = 0; i < nthreads; i++) {
		pthread_mutex_lock(&q->lock);
		q->alive++;
		pthread_mutex_unlock(&q->lock);
		if (pthread_create(&q->threads[i], NULL, worker, q) != 0) {
			pthread_mutex_lock(&q->lock);
			q->alive--;
			pthread_mutex_unlock(&q->lock);
			break;
		}
		q->nthreads++;
	}
	if (q->nthreads != nthreads) {
		pa_workq_free(q);
		return NULL;
	}
	return q;
}

int
pa_workq_submit(struct pa_workq *q, struct pa_job *job)
{
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
	pthread_cond_signal(&q->more);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int
pa_workq_stop(struct pa_workq *q, int timeout_ms)
{
	struct timespec until;
	int i, rc = 0;

	if (q == NULL)
		return 0;
	until = pa_deadline_ms(timeout_ms);
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->more);
	while (q->alive > 0 && rc == 0)
		rc = pthread_cond_timedwait(&q->gone, &q->lock, &until);
	if (q->alive > 0) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	q->nthreads = 0;
	return 0;
}

void
pa_workq_free(struct pa_workq *q)
{
	if (q == NULL)
		return;
	if (pa_workq_stop(q, 3600 * 1000) != 0)
		return;		/* a job never ended: leave the queue to the process */
	pthread_cond_destroy(&q->gone);
	pthread_cond_destroy(&q->more);
	pthread_mutex_destroy(&q->lock);
	free(q);
}
