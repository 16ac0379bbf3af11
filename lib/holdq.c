/*
 * The hold queue: a binary min-heap by due time under one mutex, and a
 * thread that sleeps on a condition variable until the earliest item is
 * due (or a new earlier one arrives).  Stopping fires what is left before
 * the thread ends, so no caller's item is ever lost.
 */
#include "holdq.h"
#include "deadline.h"
#include "clock.h"

#include <pthread.h>
#include <stdlib.h>

struct entry {
	uint64_t due_us;
	void *item;
};

struct pa_holdq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	struct entry *heap;
	size_t n, cap;
	bool stop, joined;
	pa_holdq_fn *fire;
};

/* Removes the earliest entry (lock held, n > 0). */
static struct entry
pop(struct pa_holdq *q)
{
	struct entry top = q->heap[0], last = q->heap[--q->n];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < q->n) {
		if (c + 1 < q->n && q->heap[c + 1].due_us < q->heap[c].due_us)
			c++;
		if (last.due_us <= q->heap[c].due_us)
			break;
		q->heap[i] = q->heap[c];
		i = c;
	}
	if (q->n > 0)
		q->heap[i] = last;
	return top;
}

static void *
run(void *arg)
{
	struct pa_holdq *q = arg;
	struct timespec until;
	struct entry e;
	uint64_t now;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		if (q->n == 0) {
			if (q->stop)
				break;
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		now = pa_now_us();
		if (q->heap[0].due_us > now && !q->stop) {
			until = pa_deadline_ms((long)((q->heap[0].due_us - now) / 1000) + 1);
			pthread_cond_timedwait(&q->cond, &q->lock, &until);
			continue;
		}
		e = pop(q);
		pthread_mutex_unlock(&q->lock);
		q->fire(e.item);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

struct pa_holdq *
pa_holdq_start(pa_holdq_fn *fire)
{
	struct pa_holdq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->fire = fire;
	pthread_mutex_init(&q->lock, NULL);
	(void)pa_cond_init_monotonic(&q->cond);
	if (pthread_create(&q->thread, NULL, run, q) != 0) {
		pthread_cond_destroy(&q->cond);
		pthread_mutex_destroy(&q->lock);
		free(q);
		return NULL;
	}
	return q;
}

bool
pa_holdq_add(struct pa_holdq *q, void *item, uint64_t delay_us)
{
	struct entry e = { pa_now_us() + delay_us, item };
	bool ok = false;
	size_t i;

	pthread_mutex_lock(&q->lock);
	if (q->stop)
		goto done;
	if (q->n == q->cap) {
		size_t cap = q->cap == 0 ? 64 : q->cap * 2;
		struct entry *v = realloc(q->heap, cap * sizeof(*v));

		if (v == NULL)
			goto done;
		q->heap = v;
		q->cap = cap;
	}
	for (i = q->n++; i > 0 && q->heap[(i - 1) / 2].due_us > e.due_us; i = (i - 1) / 2)
		q->heap[i] = q->heap[(i - 1) / 2];
	q->heap[i] = e;
	pthread_cond_signal(&q->cond);
	ok = true;
done:
	pthread_mutex_unlock(&q->lock);
	return ok;
}

void
pa_holdq_stop(struct pa_holdq *q)
{
	if (q == NULL || q->joined)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	q->joined = true;
}

void
pa_holdq_free(struct pa_holdq *q)
{
	if (q == NULL)
		return;
	pa_holdq_stop(q);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->heap);
	free(q);
}
