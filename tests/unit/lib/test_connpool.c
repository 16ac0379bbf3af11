/*
 * The connection pool with a fake driver: a retry happens only after a
 * kept connection was closed by the server (never after a timeout or a
 * failed open), a connection whose operation failed is dropped, a pool
 * whose slots stay busy gives a timeout at the deadline, and one deadline
 * is shared by the wait, the open and the operation, the retry included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "connpool.h"

/* A fake server: connections are numbered; opens and closes are counted
 * and the deadline each was given is kept. */
struct fake {
	pthread_mutex_t lock;
	int opened, closed;
	bool fail_open;
	uint64_t open_dl[8];
	int n_open_dl;
};

struct fconn {
	int id;
};

static void *
f_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	struct fake *f = ctx;
	struct fconn *c = NULL;

	pthread_mutex_lock(&f->lock);
	if (f->n_open_dl < 8)
		f->open_dl[f->n_open_dl++] = dl->at_us;
	if (f->fail_open) {
		pa_error_set(err, "fake: connection refused");
	} else if ((c = calloc(1, sizeof(*c))) != NULL) {
		c->id = ++f->opened;
	}
	pthread_mutex_unlock(&f->lock);
	return c;
}

static void
f_close(void *ctx, void *conn)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->closed++;
	pthread_mutex_unlock(&f->lock);
	free(conn);
}

static const struct pa_conn_driver fake_driver = { "fake", f_open, f_close };

/* What an operation does: the statuses it returns call by call, and what
 * it saw. */
struct script {
	enum pa_conn_status st[4];
	int calls;
	int conn_id[4];
	uint64_t dl[4];
	pthread_mutex_t *gate;		/* held by the test: the op blocks on it */
};

static enum pa_conn_status
op(void *conn, const struct pa_deadline *dl, void *arg, struct pa_error *err)
{
	struct script *s = arg;
	int k = s->calls++;

	if (s->gate != NULL) {
		pthread_mutex_lock(s->gate);
		pthread_mutex_unlock(s->gate);
	}
	s->conn_id[k] = ((struct fconn *)conn)->id;
	s->dl[k] = dl->at_us;
	if (s->st[k] != PA_CONN_OK)
		pa_error_set(err, "fake: %s", pa_conn_status_name(s->st[k]));
	return s->st[k];
}

static struct fake *
fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

static void
fake_free(struct fake *f)
{
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* Runs one script on p with a deadline of ms; the status. */
static enum pa_conn_status
run(struct pa_connpool *p, struct script *s, long ms, struct pa_deadline *out)
{
	struct pa_error err = { { 0 } };
	struct pa_deadline dl = pa_deadline_in(ms, pa_now_us());

	if (out != NULL)
		*out = dl;
	return pa_connpool_run(p, &dl, op, s, &err);
}

static void
test_retry_only_after_server_close(void **state)
{
	struct fake *f = fake_new();
	struct pa_connpool *p = pa_connpool_new(&fake_driver, f, 1, NULL);
	struct script warm = { .st = { PA_CONN_OK } };
	struct script closed = { .st = { PA_CONN_CLOSED_BY_SERVER, PA_CONN_OK } };
	struct script timeout = { .st = { PA_CONN_TIMEOUT, PA_CONN_OK } };
	struct script broken = { .st = { PA_CONN_BROKEN, PA_CONN_OK } };
	struct script fresh_closed = { .st = { PA_CONN_CLOSED_BY_SERVER, PA_CONN_OK } };

	(void)state;
	assert_non_null(p);
	/* A kept connection closed by the server: once more on a fresh one. */
	assert_int_equal(run(p, &warm, 1000, NULL), PA_CONN_OK);
	assert_int_equal(run(p, &closed, 1000, NULL), PA_CONN_OK);
	assert_int_equal(closed.calls, 2);
	assert_int_equal(closed.conn_id[0], 1);
	assert_int_equal(closed.conn_id[1], 2);
	assert_int_equal(f->closed, 1);
	/* A timeout on a kept connection: dropped, not retried. */
	assert_int_equal(run(p, &timeout, 1000, NULL), PA_CONN_TIMEOUT);
	assert_int_equal(timeout.calls, 1);
	assert_int_equal(f->closed, 2);
	/* Nor after any other failure. */
	assert_int_equal(run(p, &broken, 1000, NULL), PA_CONN_BROKEN);
	assert_int_equal(broken.calls, 1);
	assert_int_equal(f->closed, 3);
	/* A FRESH connection closed by the server is not worth a retry:
	 * the server is going away. */
	assert_int_equal(run(p, &fresh_closed, 1000, NULL), PA_CONN_CLOSED_BY_SERVER);
	assert_int_equal(fresh_closed.calls, 1);
	assert_int_equal(f->opened, 4);
	pa_connpool_free(p);
	fake_free(f);
}

struct runner {
	struct pa_connpool *p;
	struct script s;
};

static void *
runner_main(void *arg)
{
	struct runner *r = arg;

	(void)run(r->p, &r->s, 5000, NULL);
	return NULL;
}

/* After a server restart every kept connection is dead: the retry must
 * go to a fresh connection, not to the next kept (and as dead) one. */
static void
test_retry_opens_fresh_with_others_kept(void **state)
{
	struct fake *f = fake_new();
	struct pa_connpool *p = pa_connpool_new(&fake_driver, f, 3, NULL);
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct runner r[2];
	pthread_t t[2];
	struct script closed = { .st = { PA_CONN_CLOSED_BY_SERVER, PA_CONN_OK } };
	int i, waited;

	(void)state;
	assert_non_null(p);
	/* Two lookups at once leave two kept connections. */
	pthread_mutex_lock(&gate);
	for (i = 0; i < 2; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].p = p;
		r[i].s.st[0] = PA_CONN_OK;
		r[i].s.gate = &gate;
		assert_int_equal(pthread_create(&t[i], NULL, runner_main, &r[i]), 0);
	}
	for (waited = 0; waited < 5000 && f->opened < 2; waited += 5)
		usleep(5000);
	pthread_mutex_unlock(&gate);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(f->opened, 2);
	/* The server restarted: the first kept connection says so, and the
	 * retry runs on connection 3, opened for it. */
	assert_int_equal(run(p, &closed, 1000, NULL), PA_CONN_OK);
	assert_int_equal(closed.calls, 2);
	assert_int_equal(f->opened, 3);
	assert_int_equal(closed.conn_id[1], 3);
	pa_connpool_free(p);
	fake_free(f);
}

static void
test_no_retry_after_open_failure(void **state)
{
	struct fake *f = fake_new();
	struct pa_connpool *p = pa_connpool_new(&fake_driver, f, 2, NULL);
	struct script s = { .st = { PA_CONN_OK } };
	struct pa_error err = { { 0 } };
	struct pa_deadline dl = pa_deadline_in(1000, pa_now_us());

	(void)state;
	f->fail_open = true;
	assert_int_equal(pa_connpool_run(p, &dl, op, &s, &err), PA_CONN_OPEN_FAILED);
	assert_int_equal(s.calls, 0);
	assert_int_equal(f->n_open_dl, 1);		/* opened once, not twice */
	assert_non_null(strstr(err.msg, "connection refused"));
	/* The slot is free again: the next run opens anew. */
	f->fail_open = false;
	assert_int_equal(run(p, &s, 1000, NULL), PA_CONN_OK);
	pa_connpool_free(p);
	fake_free(f);
}

static void
test_failed_connection_dropped_refused_kept(void **state)
{
	struct fake *f = fake_new();
	struct pa_connpool *p = pa_connpool_new(&fake_driver, f, 1, NULL);
	struct script a = { .st = { PA_CONN_BROKEN } }, b = { .st = { PA_CONN_REFUSED } };
	struct script c = { .st = { PA_CONN_OK } }, d = { .st = { PA_CONN_OK } };

	(void)state;
	assert_int_equal(run(p, &a, 1000, NULL), PA_CONN_BROKEN);
	assert_int_equal(f->closed, 1);			/* closed, not lent again */
	assert_int_equal(run(p, &b, 1000, NULL), PA_CONN_REFUSED);
	assert_int_not_equal(b.conn_id[0], a.conn_id[0]);
	assert_int_equal(f->closed, 1);			/* an error answer keeps it */
	assert_int_equal(run(p, &c, 1000, NULL), PA_CONN_OK);
	assert_int_equal(c.conn_id[0], b.conn_id[0]);
	assert_int_equal(run(p, &d, 1000, NULL), PA_CONN_OK);
	assert_int_equal(d.conn_id[0], b.conn_id[0]);	/* OK keeps it */
	pa_connpool_free(p);
	assert_int_equal(f->closed, 2);
	fake_free(f);
}

struct holder {
	struct pa_connpool *p;
	struct script s;
};

static void *
hold(void *arg)
{
	struct holder *h = arg;

	(void)run(h->p, &h->s, 60000, NULL);
	return NULL;
}

static void
test_all_busy_times_out_at_the_deadline(void **state)
{
	struct fake *f = fake_new();
	struct pa_connpool *p = pa_connpool_new(&fake_driver, f, 2, NULL);
	pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
	struct holder h[2] = { { p, { .st = { PA_CONN_OK }, .gate = &gate } },
			       { p, { .st = { PA_CONN_OK }, .gate = &gate } } };
	struct script s = { .st = { PA_CONN_OK } };
	struct pa_deadline dl;
	pthread_t t[2];
	uint64_t t0, took;
	int i;

	(void)state;
	pthread_mutex_lock(&gate);
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hold, &h[i]), 0);
	while (f->opened < 2)			/* both slots lent and blocked */
		usleep(1000);
	t0 = pa_now_us();
	assert_int_equal(run(p, &s, 300, &dl), PA_CONN_TIMEOUT);
	took = pa_now_us() - t0;
	assert_int_equal(s.calls, 0);
	/* Not before the deadline, and about at it: well under twice it
	 * (the old Redis pool gave the wait its own timeout and then the
	 * connect and each command theirs again). */
	assert_true(pa_now_us() >= dl.at_us);
	assert_true(took < 2 * 300000u);
	pthread_mutex_unlock(&gate);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	/* An already passed deadline times out at once, without a wait. */
	assert_int_equal(run(p, &s, 0, NULL), PA_CONN_TIMEOUT);
	pa_connpool_free(p);
	fake_free(f);
}

static void
test_one_deadline_for_wait_open_run_and_retry(void **state)
{
	struct fake *f = fake_new();
	struct pa_connpool *p = pa_connpool_new(&fake_driver, f, 1, NULL);
	struct script warm = { .st = { PA_CONN_OK } };
	struct script closed = { .st = { PA_CONN_CLOSED_BY_SERVER, PA_CONN_OK } };
	struct pa_deadline dl;

	(void)state;
	assert_int_equal(run(p, &warm, 5000, NULL), PA_CONN_OK);
	assert_int_equal(run(p, &closed, 5000, &dl), PA_CONN_OK);
	/* The first run, its retry and the fresh open all saw the caller's
	 * one deadline, not a new one each. */
	assert_int_equal(closed.calls, 2);
	assert_true(closed.dl[0] == dl.at_us);
	assert_true(closed.dl[1] == dl.at_us);
	assert_int_equal(f->n_open_dl, 2);
	assert_true(f->open_dl[1] == dl.at_us);
	pa_connpool_free(p);
	fake_free(f);
}

static void
test_deadline_is_monotonic(void **state)
{
	struct pa_deadline dl = pa_deadline_in(1500, 1000000);
	struct timeval tv;

	(void)state;
	assert_true(dl.at_us == 2500000u);
	assert_int_equal(pa_deadline_left_ms(&dl, 1000000), 1500);
	assert_int_equal(pa_deadline_left_ms(&dl, 2499999), 1);	/* rounded up */
	assert_int_equal(pa_deadline_left_ms(&dl, 2500000), 0);
	assert_int_equal(pa_deadline_left_ms(&dl, 9000000), 0);
	assert_true(pa_deadline_left_tv(&dl, 1250000, &tv));
	assert_int_equal(tv.tv_sec, 1);
	assert_int_equal(tv.tv_usec, 250000);
	assert_false(pa_deadline_left_tv(&dl, 2600000, &tv));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_only_after_server_close),
		cmocka_unit_test(test_retry_opens_fresh_with_others_kept),
		cmocka_unit_test(test_no_retry_after_open_failure),
		cmocka_unit_test(test_failed_connection_dropped_refused_kept),
		cmocka_unit_test(test_all_busy_times_out_at_the_deadline),
		cmocka_unit_test(test_one_deadline_for_wait_open_run_and_retry),
		cmocka_unit_test(test_deadline_is_monotonic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
