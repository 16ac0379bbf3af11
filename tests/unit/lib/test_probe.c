/*
 * Unit tests for lib/probe.c, the readiness probes both programs run:
 * /readyz is right from the first request (the first round is waited
 * for), a backend that fails is not ready with its reason and comes back
 * when it answers again; going down and coming back are logged once each,
 * not every round; the per-round hook (the daemons' lockout sweep) runs
 * after every round with a monotonic time that never goes back; stop
 * returns at once even with a long interval.
 */
#include "scratch.h"

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "deadline.h"
#include "probe.h"

static atomic_int fails_left;	/* the flaky backend fails this many probes */
static atomic_int probes_seen;

static int
ok_probe(void *ctx, struct pa_error *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static int
flaky_probe(void *ctx, struct pa_error *err)
{
	(void)ctx;
	atomic_fetch_add(&probes_seen, 1);
	if (atomic_load(&fails_left) > 0) {
		atomic_fetch_sub(&fails_left, 1);
		pa_error_set(err, "connection refused");
		return -1;
	}
	return 0;
}

static const struct pa_backend_ops good_ops = { .name = "htpasswd", .probe = ok_probe };
static const struct pa_backend_ops flaky_ops = { .name = "ldap", .probe = flaky_probe };

struct hook_state {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	uint64_t last_ms;
	bool went_back;
};

static void
hook(void *arg, uint64_t now_ms)
{
	struct hook_state *h = arg;

	pthread_mutex_lock(&h->lock);
	if (now_ms < h->last_ms)
		h->went_back = true;
	h->last_ms = now_ms;
	h->calls++;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
}

/* Waits (up to 20 s: a bound, not a timing assertion) for n hook calls. */
static void
wait_calls(struct hook_state *h, int n)
{
	struct timespec until = pa_deadline_ms(20000);

	pthread_mutex_lock(&h->lock);
	while (h->calls < n)
		if (pthread_cond_timedwait(&h->cond, &h->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&h->lock);
	assert_true(h->calls >= n);
}

static size_t
count(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s += strlen(what);
	}
	return n;
}

static void
test_down_up_logged_once_and_hook_each_round(void **state)
{
	struct hook_state h = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0,
				false };
	struct pa_chain chain = { .n = 2 };
	struct pa_probes *ps;
	struct pa_log log;
	char buf[512], logs[8192];
	bool up[2];
	int fds[2];

	(void)state;
	scratch_pipe(fds);
	pa_log_init(&log, fds[1], "text", "info");
	chain.links[0].ops = &good_ops;
	chain.links[1].ops = &flaky_ops;
	atomic_store(&fails_left, 3);
	(void)pa_cond_init_monotonic(&h.cond);	/* pa_deadline_ms is monotonic */
	ps = pa_probes_start(&chain, &log, 5, hook, &h);
	assert_non_null(ps);
	/* The first round is done when start returns. */
	assert_true(atomic_load(&probes_seen) >= 1);
	if (atomic_load(&fails_left) > 0) {
		assert_int_equal(pa_probes_ready(ps, &chain, buf, sizeof(buf)), -1);
		assert_non_null(strstr(buf, "htpasswd: ok\n"));
		assert_non_null(strstr(buf, "ldap: connection refused\n"));
		pa_probes_up(ps, up, 2);
		assert_true(up[0]);
		assert_false(up[1]);
	}
	wait_calls(&h, 6);	/* 3 failing rounds, then answering ones */
	assert_int_equal(pa_probes_ready(ps, &chain, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "htpasswd: ok\nldap: ok\n");
	pa_probes_up(ps, up, 2);
	assert_true(up[0] && up[1]);
	pa_probes_stop(ps);
	assert_false(h.went_back);
	scratch_drain(fds[0], logs, sizeof(logs));
	assert_int_equal(count(logs, "backend ldap is down: connection refused"), 1);
	assert_int_equal(count(logs, "backend ldap is up again"), 1);
	assert_int_equal(count(logs, "htpasswd"), 0);
	close(fds[0]);
	close(fds[1]);
}

/* Without probes (never started) nothing is ready. */
static void
test_not_probed(void **state)
{
	struct pa_chain chain = { .n = 1 };
	char buf[128];
	bool up[1] = { true };

	(void)state;
	chain.links[0].ops = &good_ops;
	assert_int_equal(pa_probes_ready(NULL, &chain, buf, sizeof(buf)), -1);
	assert_string_equal(buf, "htpasswd: not probed\n");
	pa_probes_up(NULL, up, 1);
	assert_false(up[0]);
	pa_probes_stop(NULL);
}

/* A long interval does not hold up stop, and a NULL hook is fine. */
static void
test_stop_at_once(void **state)
{
	struct pa_chain chain = { .n = 1 };
	struct pa_log log;
	struct pa_probes *ps;
	uint64_t t0;

	(void)state;
	pa_log_init(&log, -1, "text", "error");
	chain.links[0].ops = &good_ops;
	ps = pa_probes_start(&chain, &log, 3600 * 1000, NULL, NULL);
	assert_non_null(ps);
	t0 = pa_now_us();
	pa_probes_stop(ps);
	assert_true(pa_now_us() - t0 < 60u * 1000000u);	/* not the hour */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_down_up_logged_once_and_hook_each_round),
		cmocka_unit_test(test_not_probed),
		cmocka_unit_test(test_stop_at_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
