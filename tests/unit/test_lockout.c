/*
 * Lockout counters: the window, the lock and its end, success resetting a
 * user, independence of names, and 0 disabling, all on an injected clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lockout.h"

#define FAIL(l, n, t) pa_lockout_failure((l), (n), strlen(n), (t))
#define LOCKED(l, n, t) pa_lockout_locked((l), (n), strlen(n), (t))

static void
test_locks_after_max_failures_in_window(void **state)
{
	struct pa_lockout *l = pa_lockout_new(3, 60000, 300000, 1000);

	(void)state;
	assert_false(FAIL(l, "alice", 0));
	assert_false(FAIL(l, "alice", 1000));
	assert_false(LOCKED(l, "alice", 1000));
	assert_true(FAIL(l, "alice", 2000));		/* the third starts the lock */
	assert_true(LOCKED(l, "alice", 2000));
	assert_true(LOCKED(l, "alice", 2000 + 299999));
	assert_false(LOCKED(l, "alice", 2000 + 300000));
	assert_false(LOCKED(l, "bob", 2000));
	pa_lockout_free(l);
}

static void
test_failures_outside_window_do_not_add_up(void **state)
{
	struct pa_lockout *l = pa_lockout_new(3, 60000, 300000, 1000);

	(void)state;
	assert_false(FAIL(l, "alice", 0));
	assert_false(FAIL(l, "alice", 59999));
	assert_false(FAIL(l, "alice", 60000));		/* a new window starts here */
	assert_false(FAIL(l, "alice", 61000));
	assert_false(LOCKED(l, "alice", 61000));
	assert_true(FAIL(l, "alice", 62000));
	assert_true(LOCKED(l, "alice", 62000));
	pa_lockout_free(l);
}

static void
test_failures_while_locked_do_not_extend(void **state)
{
	struct pa_lockout *l = pa_lockout_new(2, 60000, 10000, 1000);

	(void)state;
	FAIL(l, "a", 0);
	assert_true(FAIL(l, "a", 1));
	assert_false(FAIL(l, "a", 5000));
	assert_false(FAIL(l, "a", 9000));
	assert_false(LOCKED(l, "a", 10001));
	pa_lockout_free(l);
}

static void
test_success_resets(void **state)
{
	struct pa_lockout *l = pa_lockout_new(3, 60000, 300000, 1000);

	(void)state;
	FAIL(l, "alice", 0);
	FAIL(l, "alice", 1);
	pa_lockout_success(l, "alice", 5);
	assert_false(FAIL(l, "alice", 2));
	assert_false(FAIL(l, "alice", 3));
	assert_true(FAIL(l, "alice", 4));
	pa_lockout_free(l);
}

static void
test_zero_disables(void **state)
{
	struct pa_lockout *l = pa_lockout_new(0, 60000, 300000, 1000);
	int i;

	(void)state;
	for (i = 0; i < 100; i++)
		assert_false(FAIL(l, "alice", (uint64_t)i));
	assert_false(LOCKED(l, "alice", 100));
	pa_lockout_free(l);
}

static void
test_bounded_memory(void **state)
{
	struct pa_lockout *l = pa_lockout_new(2, 60000, 300000, 64);
	char name[32];
	int i;

	(void)state;
	/* A spray of names cannot grow the table past its capacity; the
	 * newest counters are the ones kept. */
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		FAIL(l, name, 0);
	}
	assert_true(FAIL(l, "n9999", 1));
	pa_lockout_free(l);
}

static void
test_sweep_drops_only_dead_counters(void **state)
{
	struct pa_lockout *l = pa_lockout_new(2, 1000, 5000, 1000);

	(void)state;
	FAIL(l, "a", 0);			/* window open until 1000 */
	FAIL(l, "b", 0);
	assert_true(FAIL(l, "b", 10));		/* locked until 5010 */
	assert_int_equal(pa_lockout_sweep(l, 999), 0);
	assert_int_equal(pa_lockout_sweep(l, 1000), 1);	/* "a": window over */
	assert_true(LOCKED(l, "b", 4000));
	assert_int_equal(pa_lockout_sweep(l, 5009), 0);
	assert_int_equal(pa_lockout_sweep(l, 5010), 1);	/* "b": lock over */
	assert_false(LOCKED(l, "b", 5010));
	/* After a sweep a name starts counting afresh. */
	assert_false(FAIL(l, "a", 6000));
	assert_true(FAIL(l, "a", 6001));
	pa_lockout_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locks_after_max_failures_in_window),
		cmocka_unit_test(test_failures_outside_window_do_not_add_up),
		cmocka_unit_test(test_failures_while_locked_do_not_extend),
		cmocka_unit_test(test_success_resets),
		cmocka_unit_test(test_zero_disables),
		cmocka_unit_test(test_bounded_memory),
		cmocka_unit_test(test_sweep_drops_only_dead_counters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
