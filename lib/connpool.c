/*
 * The connection pool (see connpool.h).  conns[i] belongs to whoever holds
 * busy[i]; only the lock's holder flips busy[], so the driver's open,
 * close and the operation all run without the lock.
 */
#include "connpool.h"
#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct pa_connpool {
	const struct pa_conn_driver *drv;
	void *ctx;
	const struct pa_log *log;
	pthread_mutex_t lock;		/* guards busy[] */
	pthread_cond_t freed;		/* on CLOCK_MONOTONIC */
	int n;
	void **conns;
	bool *busy;
};

const char *
pa_conn_status_name(enum pa_conn_status st)
{
	switch (st) {
	case PA_CONN_OK:
		return "ok";
	case PA_CONN_REFUSED:
		return "refused by the server";
	case PA_CONN_CLOSED_BY_SERVER:
		return "closed by the server";
	case PA_CONN_BROKEN:
		return "broken";
	case PA_CONN_TIMEOUT:
		return "timeout";
	case PA_CONN_OPEN_FAILED:
		return "cannot connect";
	}
	return "unknown";
}

struct pa_connpool *
pa_connpool_new(const struct pa_conn_driver *drv, void *ctx, int size, const struct pa_log *log)
{
	struct pa_connpool *p;

	if (size < 1 || (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->drv = drv;
	p->ctx = ctx;
	p->log = log;
	p->n = size;
	p->conns = calloc((size_t)size, sizeof(*p->conns));
	p->busy = calloc((size_t)size, sizeof(*p->busy));
	pthread_mutex_init(&p->lock, NULL);
	if (pa_cond_init_monotonic(&p->freed) != 0 || p->conns == NULL || p->busy == NULL) {
		free(p->conns);
		free(p->busy);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

void
pa_connpool_free(struct pa_connpool *p)
{
	int i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		if (p->conns[i] != NULL)
			p->drv->close(p->ctx, p->conns[i]);
	free(p->conns);
	free(p->busy);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Borrows a slot before dl: its index, or -1 with err set.  A slot with a
 * kept connection is preferred to an empty one, which costs a connect;
 * with want_empty (a retry after the server closed a kept connection, when
 * the others are likely as dead) the other way round.  A deadline already
 * passed gets no slot. */
static int
take(struct pa_connpool *p, const struct pa_deadline *dl, bool want_empty,
     struct pa_error *err)
{
	struct timespec until = pa_deadline_timespec(dl);
	int i, empty, kept, rc = 0;

	pthread_mutex_lock(&p->lock);
	while (pa_deadline_left_us(dl, pa_now_us()) > 0) {
		for (i = 0, empty = -1, kept = -1; i < p->n; i++) {
			if (p->busy[i])
				continue;
			if (p->conns[i] != NULL && kept < 0)
				kept = i;
			if (p->conns[i] == NULL && empty < 0)
				empty = i;
		}
		i = want_empty ? (empty >= 0 ? empty : kept) : (kept >= 0 ? kept : empty);
		if (i >= 0) {
			p->busy[i] = true;
			pthread_mutex_unlock(&p->lock);
			return i;
		}
		if (rc == ETIMEDOUT)
			break;
		rc = pthread_cond_timedwait(&p->freed, &p->lock, &until);
	}
	/* A wake-up meant for a free slot may have come with the timeout:
	 * pass it on, or another waiter with time left would sleep on. */
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
	pa_error_set(err, "%s: all %d connections busy until the timeout", p->drv->name, p->n);
	return -1;
}

/* Returns slot i; its connection is closed first when drop. */
static void
give(struct pa_connpool *p, int i, bool drop)
{
	if (drop && p->conns[i] != NULL) {
		p->drv->close(p->ctx, p->conns[i]);
		p->conns[i] = NULL;
	}
	pthread_mutex_lock(&p->lock);
	p->busy[i] = false;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->lock);
}

enum pa_conn_status
pa_connpool_run(struct pa_connpool *p, const struct pa_deadline *dl, pa_conn_op op, void *arg,
		struct pa_error *err)
{
	enum pa_conn_status st = PA_CONN_OPEN_FAILED;
	int attempt, i;
	bool fresh;

	for (attempt = 0; attempt < 2; attempt++) {
		if ((i = take(p, dl, attempt > 0, err)) < 0) {
			st = PA_CONN_TIMEOUT;
			break;
		}
		if (attempt > 0 && p->conns[i] != NULL) {
			/* Only kept ones are free: the retry still gets a fresh one. */
			p->drv->close(p->ctx, p->conns[i]);
			p->conns[i] = NULL;
		}
		fresh = p->conns[i] == NULL;
		if (fresh && (p->conns[i] = p->drv->open(p->ctx, dl, err)) == NULL) {
			give(p, i, false);
			st = PA_CONN_OPEN_FAILED;	/* a fresh open failed: no retry */
			break;
		}
		st = op(p->conns[i], dl, arg, err);
		give(p, i, pa_conn_status_drops(st));
		if (st != PA_CONN_CLOSED_BY_SERVER || fresh)
			break;
		if (p->log != NULL)
			pa_log_msg(p->log, PA_LOG_DEBUG, "%s: a kept connection was closed by the "
				   "server; retrying on a fresh one", p->drv->name);
	}
	return st;
}
