/*
 * The reconnecting watcher with a fake source: failed opens back off
 * from the minimum, doubling up to the maximum; the cached answers are
 * dropped the moment the subscription is lost and again once it is back;
 * "down" and "up" are each logged once; stop returns at once, whether the
 * watcher is backing off or waiting for notices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "watcher.h"

/* The fake server.  Opens fail while fails > 0; a successful open makes a
 * socket pair whose far end the test writes to ('n' a notice, 'x' lost). */
struct fsrc {
	atomic_int fails;
	atomic_int opens;		/* attempts */
	uint64_t open_at[16];
	atomic_int up;			/* connections open */
	int peer;			/* the test's end of the last connection */
	atomic_int notices;
	atomic_int dropped_all;		/* invalidate(NULL) */
	atomic_int expired;		/* expire() */
	bool with_expire;		/* start() passes the expire hook */
	atomic_int deaf;		/* as the last deaf() said (-1: never called) */
	atomic_int drops_when_heard;	/* dropped_all when deaf(false) came */
	atomic_int deaf_when_expired;	/* deaf when expire() came */
	atomic_int gate;		/* opens wait while set */
};

static void *
s_open(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	struct fsrc *s = ctx;
	int k = atomic_fetch_add(&s->opens, 1), sv[2], *fd;

	(void)dl;
	if (k < 16)
		s->open_at[k] = pa_now_us();
	while (atomic_load(&s->gate))
		usleep(1000);
	if (atomic_load(&s->fails) > 0) {
		atomic_fetch_sub(&s->fails, 1);
		pa_error_set(err, "fake: refused");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    (fd = malloc(sizeof(*fd))) == NULL)
		return NULL;
	*fd = sv[0];
	s->peer = sv[1];
	atomic_fetch_add(&s->up, 1);
	return fd;
}

static int
s_fd(void *ctx, void *conn)
{
	(void)ctx;
	return *(int *)conn;
}

static int
s_read(void *ctx, void *conn, struct pa_error *err)
{
	struct fsrc *s = ctx;
	char c;

	if (read(*(int *)conn, &c, 1) != 1 || c == 'x') {
		pa_error_set(err, "fake: lost");
		return -1;
	}
	atomic_fetch_add(&s->notices, 1);
	return 0;
}

static void
s_close(void *ctx, void *conn)
{
	struct fsrc *s = ctx;

	close(*(int *)conn);
	close(s->peer);
	free(conn);
	atomic_fetch_sub(&s->up, 1);
}

static const struct pa_watch_source fake_source = {
	"fake", s_open, s_fd, s_read, s_close,
};

static void
invalidate(void *arg, const char *backend, const char *user)
{
	struct fsrc *s = arg;

	assert_string_equal(backend, "fake");
	if (user == NULL)
		atomic_fetch_add(&s->dropped_all, 1);
}

static void
expire(void *arg, const char *backend)
{
	struct fsrc *s = arg;

	assert_string_equal(backend, "fake");
	atomic_store(&s->deaf_when_expired, atomic_load(&s->deaf));
	atomic_fetch_add(&s->expired, 1);
}

static void
deaf(void *arg, const char *backend, bool on)
{
	struct fsrc *s = arg;

	assert_string_equal(backend, "fake");
	if (!on)
		atomic_store(&s->drops_when_heard, atomic_load(&s->dropped_all));
	atomic_store(&s->deaf, on ? 1 : 0);
}

static struct pa_log logger;
static int log_pipe[2];

/* The test's watcher and source: stopped and freed by teardown() even
 * after a failed assertion, so the thread never outlives its source. */
static struct pa_watcher *cur;
static struct fsrc *src;

static int
setup(void **state)
{
	(void)state;
	src = calloc(1, sizeof(*src));
	return src == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	atomic_store(&src->gate, 0);
	pa_watcher_stop(cur);
	cur = NULL;
	free(src);
	src = NULL;
	return 0;
}

static struct pa_watcher *
start(struct fsrc *s, long min_ms, long max_ms)
{
	struct pa_watcher_config cfg = {
		.src = &fake_source, .ctx = s, .up = "watching", .down = "cannot watch",
		.conn_name = "watching connection", .open_timeout_ms = 1000,
		.backoff_min_ms = min_ms, .backoff_max_ms = max_ms, .log = &logger,
		.invalidate = invalidate, .invalidate_arg = s,
		.expire = s->with_expire ? expire : NULL, .deaf = deaf,
	};
	struct pa_error err = { { 0 } };
	cur = pa_watcher_start(&cfg, &err);
	assert_non_null(cur);
	return cur;
}

/* Waits (bounded) until *v reaches at least n. */
static void
wait_for(atomic_int *v, int n)
{
	int i;

	for (i = 0; i < 10000 && atomic_load(v) < n; i++)
		usleep(1000);
	assert_true(atomic_load(v) >= n);
}

/* How many log lines so far hold needle. */
static int
log_count(const char *needle)
{
	static char all[65536];
	static size_t len;
	ssize_t n;
	int count = 0;
	const char *p;

	while ((n = read(log_pipe[0], all + len, sizeof(all) - 1 - len)) > 0)
		len += (size_t)n;
	all[len] = '\0';
	for (p = all; (p = strstr(p, needle)) != NULL; p++)
		count++;
	return count;
}

static void
test_backoff_sequence(void **state)
{
	struct fsrc *s = src;
	uint64_t gap[5];
	int i;

	(void)state;
	assert_int_equal(pa_watcher_next_backoff(250, 2000), 500);
	assert_int_equal(pa_watcher_next_backoff(500, 2000), 1000);
	assert_int_equal(pa_watcher_next_backoff(1000, 2000), 2000);
	assert_int_equal(pa_watcher_next_backoff(2000, 2000), 2000);
	/* The real thread, scaled down 10x: 25, 50, 100, 200, 200 ms. */
	atomic_store(&s->fails, 6);
	(void)start(s, 25, 200);
	wait_for(&s->opens, 6);
	for (i = 0; i < 5; i++)
		gap[i] = s->open_at[i + 1] - s->open_at[i];
	/* Never sooner than the back-off (a condvar wait does not end
	 * early), and growing: each wait at least the one before doubled,
	 * up to the maximum. */
	assert_true(gap[0] >= 25000);
	assert_true(gap[1] >= 50000);
	assert_true(gap[2] >= 100000);
	assert_true(gap[3] >= 200000);
	assert_true(gap[4] >= 200000);
	assert_true(gap[4] < 2 * gap[3] + 200000);	/* capped, not still doubling */
	wait_for(&s->up, 1);
	assert_int_equal(log_count("cannot watch"), 1);	/* down: once */
	assert_int_equal(log_count("watching again"), 1);		/* up: once */
}

static void
test_invalidates_on_loss_and_on_resubscribe(void **state)
{
	struct fsrc *s = src;

	(void)state;
	(void)start(s, 25, 200);
	wait_for(&s->dropped_all, 1);		/* subscribed: all dropped */
	wait_for(&s->up, 1);
	assert_int_equal(write(s->peer, "n", 1), 1);
	wait_for(&s->notices, 1);
	assert_int_equal(atomic_load(&s->dropped_all), 1);
	/* Lost, with the next open held back: dropped at once, before any
	 * new subscription. */
	atomic_store(&s->gate, 1);
	assert_int_equal(write(s->peer, "x", 1), 1);
	wait_for(&s->dropped_all, 2);
	assert_int_equal(atomic_load(&s->up), 0);
	atomic_store(&s->gate, 0);
	/* Back: dropped once more (answers cached while down were not
	 * watched). */
	wait_for(&s->dropped_all, 3);
	wait_for(&s->up, 1);
	assert_int_equal(log_count("watching connection lost"), 1);
	pa_watcher_stop(cur);
	cur = NULL;
	assert_int_equal(atomic_load(&s->up), 0);
}

/* With the expire hook, a loss expires (keeping grants for stale_grace)
 * instead of dropping; the (re)subscription still drops. */
static void
test_expires_on_loss_drops_on_resubscribe(void **state)
{
	struct fsrc *s = src;

	(void)state;
	s->with_expire = true;
	(void)start(s, 25, 200);
	wait_for(&s->dropped_all, 1);		/* subscribed: all dropped */
	wait_for(&s->up, 1);
	atomic_store(&s->gate, 1);
	assert_int_equal(write(s->peer, "x", 1), 1);
	wait_for(&s->expired, 1);
	assert_int_equal(atomic_load(&s->up), 0);
	assert_int_equal(atomic_load(&s->dropped_all), 1);	/* not dropped on loss */
	atomic_store(&s->gate, 0);
	wait_for(&s->dropped_all, 2);		/* dropped once back */
	wait_for(&s->up, 1);
	assert_int_equal(atomic_load(&s->expired), 1);
	pa_watcher_stop(cur);
	cur = NULL;
}

/* Deaf from the start until subscribed, and from a loss (before the
 * expiry) until subscribed again (after the drop): what is cached
 * meanwhile is born expired. */
static void
test_deaf_while_not_subscribed(void **state)
{
	struct fsrc *s = src;

	(void)state;
	s->with_expire = true;
	atomic_store(&s->deaf, -1);
	atomic_store(&s->gate, 1);
	(void)start(s, 25, 200);
	assert_int_equal(atomic_load(&s->deaf), 1);	/* at once, before any open */
	wait_for(&s->opens, 1);
	usleep(20000);
	assert_int_equal(atomic_load(&s->deaf), 1);	/* still: not subscribed */
	atomic_store(&s->gate, 0);
	wait_for(&s->up, 1);
	wait_for(&s->dropped_all, 1);
	for (int i = 0; i < 1000 && atomic_load(&s->deaf) != 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&s->deaf), 0);
	assert_int_equal(atomic_load(&s->drops_when_heard), 1);	/* dropped first */
	atomic_store(&s->gate, 1);
	assert_int_equal(write(s->peer, "x", 1), 1);
	wait_for(&s->expired, 1);
	assert_int_equal(atomic_load(&s->deaf_when_expired), 1);	/* deaf first */
	assert_int_equal(atomic_load(&s->deaf), 1);
	atomic_store(&s->gate, 0);
	wait_for(&s->dropped_all, 2);
	for (int i = 0; i < 1000 && atomic_load(&s->deaf) != 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&s->deaf), 0);
	assert_int_equal(atomic_load(&s->drops_when_heard), 2);
	pa_watcher_stop(cur);
	cur = NULL;
}

static void
test_stop_is_prompt(void **state)
{
	struct fsrc *s = src;
	uint64_t t0, took_backoff, took_connected;

	(void)state;
	/* In a 2 s back-off. */
	atomic_store(&s->fails, 1000);
	(void)start(s, 2000, 2000);
	wait_for(&s->opens, 1);
	usleep(50000);
	t0 = pa_now_us();
	pa_watcher_stop(cur);
	cur = NULL;
	took_backoff = pa_now_us() - t0;
	assert_int_equal(atomic_load(&s->opens), 1);
	/* Waiting for notices on a quiet connection. */
	memset(s, 0, sizeof(*s));
	(void)start(s, 2000, 2000);
	wait_for(&s->up, 1);
	t0 = pa_now_us();
	pa_watcher_stop(cur);
	cur = NULL;
	took_connected = pa_now_us() - t0;
	assert_int_equal(atomic_load(&s->up), 0);
	/* A small part of the back-off, not the rest of it (the old threads
	 * napped in 100 ms steps or waited out their poll). */
	assert_true(took_backoff < 2000000u / 4);
	assert_true(took_connected < 2000000u / 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_backoff_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalidates_on_loss_and_on_resubscribe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_expires_on_loss_drops_on_resubscribe, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_deaf_while_not_subscribed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_is_prompt, setup, teardown),
	};

	assert_int_equal(pipe2(log_pipe, O_NONBLOCK | O_CLOEXEC), 0);
	fcntl(log_pipe[1], F_SETPIPE_SZ, 1 << 20);
	pa_log_init(&logger, log_pipe[1], "text", "debug");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
