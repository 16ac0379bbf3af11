/*
 * The lockout policy on a fake clock and a fake shared store: the window,
 * the lock and its end, distinct wrong passwords counted once, folded
 * name variants sharing a counter, distributed guessing locked for the
 * attacker but open for the owner's known-good address, a success
 * clearing only its own address's share, canonical names, IPv6 prefixes,
 * two replicas sharing a store, falling back to memory when the store
 * fails, a lock learnt from the store held in memory, and bounded memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lockout.h"

#define MIN 60000
#define SHARED_TOO (PA_LOCKOUT_MEMORY | PA_LOCKOUT_SHARED)

/* ---- a fake shared store: a memory store that can be made to fail ---- */

struct fake {
	struct pa_lockout_store inner;
	bool fail;
	int calls;
};

static bool
fake_down(struct fake *f, struct pa_error *err)
{
	f->calls++;
	if (f->fail)
		pa_error_set(err, "fake store down");
	return f->fail;
}

static int
f_put(void *c, const char *k, uint64_t t, bool o, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->put(f->inner.ctx, k, t, o, now, e);
}

static int
f_exists(void *c, const char *k, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->exists(f->inner.ctx, k, now, e);
}

static long long
f_incr(void *c, const char *k, const char *fl, uint64_t t, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->incr(f->inner.ctx, k, fl, t, now, e);
}

static long long
f_get(void *c, const char *k, const char *fl, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->get(f->inner.ctx, k, fl, now, e);
}

static int
f_drop(void *c, const char *k, const char *fl, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->drop(f->inner.ctx, k, fl, now, e);
}

static long long
f_ttl(void *c, const char *k, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->ttl(f->inner.ctx, k, now, e);
}

static long long
f_sum(void *c, const char *k, uint64_t now, struct pa_error *e)
{
	struct fake *f = c;

	return fake_down(f, e) ? -1 : f->inner.ops->sum(f->inner.ctx, k, now, e);
}

static const struct pa_lockout_store_ops fake_ops = {
	f_put, f_exists, f_incr, f_get, f_drop, NULL,	/* the test closes it */
	f_ttl, f_sum,
};

static void
fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(pa_lockout_mem_new(1000, &f->inner), 0);
}

static void
fake_free(struct fake *f)
{
	f->inner.ops->close(f->inner.ctx);
}

/* ---- helpers ---------------------------------------------------------- */

struct events {
	int user_locks, addr_locks, errors, downs, ups;
};

static void
on_event(void *arg, enum pa_lockout_event ev, const char *what, bool shared)
{
	struct events *e = arg;

	(void)what;
	(void)shared;
	switch (ev) {
	case PA_LOCKOUT_EV_USER_LOCKED:
		e->user_locks++;
		break;
	case PA_LOCKOUT_EV_ADDRESS_LOCKED:
		e->addr_locks++;
		break;
	case PA_LOCKOUT_EV_STORE_ERROR:
		e->errors++;
		break;
	case PA_LOCKOUT_EV_STORE_DOWN:
		e->downs++;
		break;
	case PA_LOCKOUT_EV_STORE_UP:
		e->ups++;
		break;
	}
}

static struct events ev;

static struct pa_lockout *
mk(long max, uint64_t window, uint64_t lock, struct fake *shared)
{
	struct pa_lockout_opts o = { max, window, lock, 7 * 24 * 3600 * 1000ULL, 64, 1000 };
	struct pa_lockout_store s = { &fake_ops, shared };
	struct pa_lockout *l = pa_lockout_new(&o, shared != NULL ? &s : NULL, on_event, &ev);

	memset(&ev, 0, sizeof(ev));
	assert_non_null(l);
	return l;
}

static enum pa_lockout_verdict
check(struct pa_lockout *l, const char *user, const char *addr, int where, uint64_t now)
{
	struct pa_lockout_subject s;

	pa_lockout_subject(l, user, strlen(user), addr, &s);
	return pa_lockout_check(l, &s, where, now, NULL);
}

static void
wrong(struct pa_lockout *l, const char *user, const char *addr, const char *pw, int where,
      uint64_t now)
{
	struct pa_lockout_subject s;

	pa_lockout_subject(l, user, strlen(user), addr, &s);
	pa_lockout_record(l, &s, false, NULL, pw, strlen(pw), where, now);
}

static void
right(struct pa_lockout *l, const char *user, const char *canonical, const char *addr,
      int where, uint64_t now)
{
	struct pa_lockout_subject s;

	pa_lockout_subject(l, user, strlen(user), addr, &s);
	pa_lockout_record(l, &s, true, canonical, "right", 5, where, now);
}

#define M PA_LOCKOUT_MEMORY
#define GO PA_LOCKOUT_GO
#define USER PA_LOCKOUT_USER
#define ADDR PA_LOCKOUT_ADDRESS

/* ---- tests ------------------------------------------------------------ */

static void
test_locks_after_max_distinct_failures(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);

	(void)state;
	wrong(l, "alice", "192.0.2.1", "p1", M, 0);
	wrong(l, "alice", "192.0.2.2", "p2", M, 1000);
	assert_int_equal(check(l, "alice", "192.0.2.9", M, 1000), GO);
	wrong(l, "alice", "192.0.2.3", "p3", M, 2000);
	assert_int_equal(ev.user_locks, 1);
	assert_int_equal(check(l, "alice", "192.0.2.9", M, 2000), USER);
	assert_int_equal(check(l, "alice", NULL, M, 2000 + 299999), USER);
	assert_int_equal(check(l, "alice", NULL, M, 2000 + 300000), GO);
	assert_int_equal(check(l, "bob", "192.0.2.9", M, 2000), GO);
	pa_lockout_free(l);
}

static void
test_failures_outside_window_do_not_add_up(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);

	(void)state;
	wrong(l, "alice", NULL, "p1", M, 0);
	wrong(l, "alice", NULL, "p2", M, 59999);
	wrong(l, "alice", NULL, "p3", M, 60000);	/* a new window starts here */
	wrong(l, "alice", NULL, "p4", M, 61000);
	assert_int_equal(check(l, "alice", NULL, M, 61000), GO);
	wrong(l, "alice", NULL, "p5", M, 62000);
	assert_int_equal(check(l, "alice", NULL, M, 62000), USER);
	pa_lockout_free(l);
}

static void
test_failures_while_locked_do_not_extend(void **state)
{
	struct pa_lockout *l = mk(2, MIN, 10000, NULL);

	(void)state;
	wrong(l, "a", NULL, "p1", M, 0);
	wrong(l, "a", NULL, "p2", M, 1);
	wrong(l, "a", NULL, "p3", M, 5000);
	wrong(l, "a", NULL, "p4", M, 9000);
	assert_int_equal(ev.user_locks, 1);
	assert_int_equal(check(l, "a", NULL, M, 10001), GO);
	pa_lockout_free(l);
}

static void
test_stale_password_counts_once(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);
	int i;

	(void)state;
	/* A phone retrying one old password, a hundred times: one failure. */
	for (i = 0; i < 100; i++)
		wrong(l, "alice", "192.0.2.7", "old-password", M, (uint64_t)i * 100);
	assert_int_equal(check(l, "alice", "192.0.2.7", M, 10000), GO);
	assert_int_equal(check(l, "alice", "198.51.100.1", M, 10000), GO);
	/* Two other wrong passwords make three distinct ones. */
	wrong(l, "alice", "192.0.2.7", "guess-1", M, 10000);
	assert_int_equal(check(l, "alice", "198.51.100.1", M, 10000), GO);
	wrong(l, "alice", "192.0.2.7", "guess-2", M, 10001);
	assert_int_equal(check(l, "alice", "198.51.100.1", M, 10001), USER);
	pa_lockout_free(l);
}

static void
test_name_variants_share_a_counter(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);

	(void)state;
	wrong(l, "alice", NULL, "p1", M, 0);
	wrong(l, "ALICE", NULL, "p2", M, 1);
	assert_int_equal(check(l, "\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x83\xef\xbd\x85",
			       NULL, M, 1), GO);
	wrong(l, "\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x83\xef\xbd\x85", NULL, "p3", M, 2);
	assert_int_equal(check(l, "alice", NULL, M, 3), USER);
	assert_int_equal(check(l, "\xef\xbc\xa1lice", NULL, M, 3), USER);	/* Ａlice */
	assert_int_equal(check(l, "AL\xc4\xb0" "CE", NULL, M, 3), USER);	/* ALİCE */
	assert_int_equal(check(l, " alice ", NULL, M, 3), USER);
	assert_int_equal(check(l, "alicia", NULL, M, 3), GO);
	pa_lockout_free(l);
}

static void
test_distributed_guessing_locks_attacker_not_owner(void **state)
{
	struct pa_lockout *l = mk(5, MIN, 300000, NULL);
	char addr[32], pw[32];
	int i;

	(void)state;
	/* The owner works from 192.0.2.10 between every guess, each guess
	 * from a new address. */
	for (i = 0; i < 5; i++) {
		right(l, "alice", "alice", "192.0.2.10", M, (uint64_t)i * 10);
		snprintf(addr, sizeof(addr), "203.0.113.%d", i + 1);
		snprintf(pw, sizeof(pw), "guess-%d", i);
		assert_int_equal(check(l, "alice", addr, M, (uint64_t)i * 10 + 1), GO);
		wrong(l, "alice", addr, pw, M, (uint64_t)i * 10 + 1);
	}
	/* Locked for every other address, the attacker's next one too ... */
	assert_int_equal(check(l, "alice", "203.0.113.77", M, 100), USER);
	assert_int_equal(check(l, "alice", "203.0.113.1", M, 100), USER);
	/* ... and open for the owner's known-good address. */
	assert_int_equal(check(l, "alice", "192.0.2.10", M, 100), GO);
	/* Known good is per exact name: a variant it never used is not. */
	assert_int_equal(check(l, "ALICE", "192.0.2.10", M, 100), USER);
	right(l, "alice", "alice", "192.0.2.10", M, 101);
	assert_int_equal(check(l, "alice", "203.0.113.78", M, 102), USER);
	pa_lockout_free(l);
}

static void
test_folded_namesake_cannot_unlock(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);
	char addr[32], pw[32];
	int i, j, let = 0;

	(void)state;
	/* The backend keeps "Alice" and "alice" apart; the attacker owns
	 * "Alice" and logs in as it from each of ten addresses between two
	 * guesses at "alice" there (under the per-address threshold).  His
	 * successes clear nothing of alice's and give him no exemption. */
	right(l, "alice", "alice", "192.0.2.10", M, 0);
	for (i = 0; i < 10; i++) {
		snprintf(addr, sizeof(addr), "203.0.113.%d", i + 1);
		for (j = 0; j < 2; j++) {
			uint64_t t = 10 + (uint64_t)(i * 2 + j) * 10;

			right(l, "Alice", "Alice", addr, M, t);
			snprintf(pw, sizeof(pw), "guess-%d-%d", i, j);
			if (check(l, "alice", addr, M, t + 1) == GO) {
				let++;
				wrong(l, "alice", addr, pw, M, t + 1);
			}
		}
	}
	assert_int_equal(let, 3);
	assert_int_equal(check(l, "alice", "203.0.113.1", M, 300), USER);
	assert_int_equal(check(l, "alice", "203.0.113.10", M, 300), USER);
	/* The real owner, from its known-good address, still gets in. */
	assert_int_equal(check(l, "alice", "192.0.2.10", M, 300), GO);
	pa_lockout_free(l);
}

static void
test_long_names_kept_apart(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);
	char a[301], b[301];

	(void)state;
	/* Past PA_LOCKOUT_NAME_MAX bytes a name is kept as its hash, never
	 * cut short: two names alike in their first 256 bytes (and folding
	 * alike) are still two exact names. */
	memset(a, 'a', 300);
	a[300] = '\0';
	memcpy(b, a, sizeof(b));
	b[299] = 'A';
	right(l, a, a, "192.0.2.10", M, 0);
	wrong(l, b, "203.0.113.1", "g1", M, 1);
	wrong(l, b, "203.0.113.2", "g2", M, 2);
	wrong(l, b, "203.0.113.3", "g3", M, 3);
	assert_int_equal(check(l, a, "192.0.2.10", M, 4), GO);
	assert_int_equal(check(l, b, "192.0.2.10", M, 4), USER);
	pa_lockout_free(l);
}

static void
test_known_good_pair_that_fails_is_locked(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);

	(void)state;
	right(l, "alice", "alice", "192.0.2.10", M, 0);
	wrong(l, "alice", "203.0.113.1", "g1", M, 1);
	wrong(l, "alice", "203.0.113.2", "g2", M, 2);
	wrong(l, "alice", "203.0.113.3", "g3", M, 3);
	assert_int_equal(check(l, "alice", "192.0.2.10", M, 4), GO);
	/* Guessing from the known-good address itself: three misses there
	 * end its exemption. */
	wrong(l, "alice", "192.0.2.10", "g4", M, 5);
	wrong(l, "alice", "192.0.2.10", "g5", M, 6);
	assert_int_equal(check(l, "alice", "192.0.2.10", M, 7), GO);
	wrong(l, "alice", "192.0.2.10", "g6", M, 8);
	assert_int_equal(check(l, "alice", "192.0.2.10", M, 9), ADDR);
	pa_lockout_free(l);
}

static void
test_success_clears_only_its_address(void **state)
{
	struct pa_lockout *l = mk(4, MIN, 300000, NULL);

	(void)state;
	wrong(l, "alice", "192.0.2.1", "a1", M, 0);
	wrong(l, "alice", "192.0.2.1", "a2", M, 1);
	wrong(l, "alice", "192.0.2.2", "b1", M, 2);
	right(l, "alice", "alice", "192.0.2.1", M, 3);	/* clears a1, a2 only */
	wrong(l, "alice", "192.0.2.3", "c1", M, 4);
	wrong(l, "alice", "192.0.2.4", "d1", M, 5);
	assert_int_equal(check(l, "alice", "192.0.2.5", M, 6), GO);	/* 3 of 4 */
	wrong(l, "alice", "192.0.2.5", "e1", M, 7);
	assert_int_equal(check(l, "alice", "192.0.2.6", M, 8), USER);
	pa_lockout_free(l);
}

static void
test_success_recorded_under_canonical_name(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);

	(void)state;
	/* Typed "a.smith", the backend says the account is "alice": the
	 * success clears alice's failures from that address and makes the
	 * pair known good for "alice" too (the exact name, not "Alice"). */
	wrong(l, "alice", "192.0.2.1", "x1", M, 0);
	wrong(l, "alice", "192.0.2.1", "x2", M, 1);
	right(l, "a.smith", "alice", "192.0.2.1", M, 2);
	wrong(l, "alice", "192.0.2.2", "x3", M, 3);
	assert_int_equal(check(l, "alice", "192.0.2.9", M, 4), GO);
	wrong(l, "alice", "192.0.2.3", "x4", M, 5);
	wrong(l, "alice", "192.0.2.4", "x5", M, 6);
	assert_int_equal(check(l, "alice", "192.0.2.9", M, 7), USER);
	assert_int_equal(check(l, "alice", "192.0.2.1", M, 7), GO);
	assert_int_equal(check(l, "Alice", "192.0.2.1", M, 7), USER);
	pa_lockout_free(l);
}

static void
test_ipv6_counted_per_prefix(void **state)
{
	struct pa_lockout *l = mk(3, MIN, 300000, NULL);
	struct pa_lockout_subject s;

	(void)state;
	pa_lockout_subject(l, "u", 1, "2001:db8:1:2:aaaa::1", &s);
	assert_string_equal(s.addr, "2001:db8:1:2::/64");
	pa_lockout_subject(l, "u", 1, "::ffff:192.0.2.1", &s);
	assert_string_equal(s.addr, "192.0.2.1");
	pa_lockout_subject(l, "u", 1, "unknown", &s);
	assert_string_equal(s.addr, "unknown");
	pa_lockout_subject(l, "u", 1, NULL, &s);
	assert_string_equal(s.addr, "");
	/* One host rotating through its /64, against three users. */
	wrong(l, "u1", "2001:db8:1:2::1", "p", M, 0);
	wrong(l, "u2", "2001:db8:1:2::2", "p", M, 1);
	wrong(l, "u3", "2001:db8:1:2:ffff:ffff:ffff:fffe", "p", M, 2);
	assert_int_equal(check(l, "u9", "2001:db8:1:2::9", M, 3), ADDR);
	assert_int_equal(check(l, "u9", "2001:db8:1:3::1", M, 3), GO);
	/* IPv4 stays per address; the mapped form is the same address. */
	wrong(l, "v1", "192.0.2.1", "p", M, 4);
	wrong(l, "v2", "::ffff:192.0.2.1", "p", M, 5);
	wrong(l, "v3", "192.0.2.1", "p", M, 6);
	assert_int_equal(check(l, "v9", "::ffff:192.0.2.1", M, 7), ADDR);
	assert_int_equal(check(l, "v9", "192.0.2.2", M, 7), GO);
	pa_lockout_free(l);
}

static void
test_ipv6_prefix_is_configurable(void **state)
{
	struct pa_lockout_opts o = { 3, MIN, 300000, 1000, 48, 100 };
	struct pa_lockout *l = pa_lockout_new(&o, NULL, NULL, NULL);
	struct pa_lockout_subject s;

	(void)state;
	pa_lockout_subject(l, "u", 1, "2001:db8:1:2::1", &s);
	assert_string_equal(s.addr, "2001:db8:1::/48");
	pa_lockout_free(l);
	o.ipv6_prefix = 128;
	l = pa_lockout_new(&o, NULL, NULL, NULL);
	pa_lockout_subject(l, "u", 1, "2001:db8:1:2::1", &s);
	assert_string_equal(s.addr, "2001:db8:1:2::1/128");
	pa_lockout_free(l);
}

static void
test_replicas_share_the_store(void **state)
{
	struct fake f;
	struct pa_lockout *r1, *r2;

	(void)state;
	fake_init(&f);
	r1 = mk(4, MIN, 300000, &f);
	r2 = mk(4, MIN, 300000, &f);
	/* Guesses alternate between the replicas: two each is four. */
	wrong(r1, "alice", "203.0.113.1", "g1", SHARED_TOO, 0);
	wrong(r2, "alice", "203.0.113.2", "g2", SHARED_TOO, 1);
	wrong(r1, "ALICE", "203.0.113.3", "g3", SHARED_TOO, 2);
	assert_int_equal(check(r2, "alice", "203.0.113.9", SHARED_TOO, 3), GO);
	wrong(r2, "alice", "203.0.113.4", "g4", SHARED_TOO, 4);
	/* r2 set the lock in the store; r1 has not seen it in memory yet
	 * (a cached answer there would pass) until it asks the store ... */
	assert_int_equal(check(r1, "alice", "203.0.113.9", M, 5), GO);
	assert_int_equal(check(r1, "alice", "203.0.113.9", SHARED_TOO, 5), USER);
	/* ... and from then on memory knows it: no cached answer passes
	 * (ASK_SHARED sends it to the store), and with the store gone it
	 * is locked from memory. */
	assert_int_equal(check(r1, "alice", "203.0.113.10", M, 6), PA_LOCKOUT_ASK_SHARED);
	f.fail = true;
	assert_int_equal(check(r1, "alice", "203.0.113.10", SHARED_TOO, 6), USER);
	assert_int_equal(check(r1, "alice", "203.0.113.10", M, 7), USER);	/* paused */
	f.fail = false;
	pa_lockout_free(r1);
	pa_lockout_free(r2);
	fake_free(&f);
}

/* The owner succeeded through r1 only; r2 learns from the store that
 * its address is known good. */
static void
test_known_good_through_the_store(void **state)
{
	struct fake f;
	struct pa_lockout *r1, *r2;

	(void)state;
	fake_init(&f);
	r1 = mk(2, MIN, 300000, &f);
	r2 = mk(2, MIN, 300000, &f);
	right(r1, "alice", "alice", "192.0.2.10", SHARED_TOO, 0);
	wrong(r2, "alice", "203.0.113.1", "g1", SHARED_TOO, 1);
	wrong(r2, "alice", "203.0.113.2", "g2", SHARED_TOO, 2);
	assert_int_equal(check(r2, "alice", "203.0.113.3", M, 3), PA_LOCKOUT_ASK_SHARED);
	assert_int_equal(check(r2, "alice", "203.0.113.3", SHARED_TOO, 3), USER);
	/* Memory alone cannot clear the owner on r2: it must ask. */
	assert_int_equal(check(r2, "alice", "192.0.2.10", M, 3), PA_LOCKOUT_ASK_SHARED);
	assert_int_equal(check(r2, "alice", "192.0.2.10", SHARED_TOO, 3), GO);
	assert_int_equal(check(r2, "alice", "192.0.2.10", M, 4), GO);	/* learnt */
	pa_lockout_free(r1);
	pa_lockout_free(r2);
	fake_free(&f);
}

/* One replica with a shared store sees a lock start in memory and in the
 * store at once: it is reported (logged, counted) once. */
static void
test_lock_reported_once(void **state)
{
	struct fake f;
	struct pa_lockout *l;

	(void)state;
	fake_init(&f);
	l = mk(3, MIN, 300000, &f);
	wrong(l, "alice", "192.0.2.1", "g1", SHARED_TOO, 0);
	wrong(l, "alice", "192.0.2.2", "g2", SHARED_TOO, 1);
	wrong(l, "alice", "192.0.2.3", "g3", SHARED_TOO, 2);
	assert_int_equal(ev.user_locks, 1);
	assert_int_equal(check(l, "alice", "192.0.2.4", SHARED_TOO, 3), USER);
	pa_lockout_free(l);
	fake_free(&f);
}

static void
test_stale_password_once_across_replicas(void **state)
{
	struct fake f;
	struct pa_lockout *r1, *r2;
	int i;

	(void)state;
	fake_init(&f);
	r1 = mk(3, MIN, 300000, &f);
	r2 = mk(3, MIN, 300000, &f);
	/* Each replica hashes passwords under its own key, so one stale
	 * password seen by two replicas counts at most twice. */
	for (i = 0; i < 20; i++) {
		wrong(r1, "alice", "192.0.2.7", "old", SHARED_TOO, (uint64_t)i);
		wrong(r2, "alice", "192.0.2.7", "old", SHARED_TOO, (uint64_t)i);
	}
	assert_int_equal(check(r1, "alice", "192.0.2.8", SHARED_TOO, 30), GO);
	assert_int_equal(check(r2, "alice", "192.0.2.8", SHARED_TOO, 30), GO);
	pa_lockout_free(r1);
	pa_lockout_free(r2);
	fake_free(&f);
}

static void
test_learnt_lock_ends_with_the_store(void **state)
{
	struct fake f;
	struct pa_lockout *r1, *r2;

	(void)state;
	fake_init(&f);
	r1 = mk(3, MIN, 300000, &f);
	r2 = mk(3, MIN, 300000, &f);
	/* Replica 1 locks alice at 0 for 300 s; replica 2 learns of it at
	 * 290 s.  Its memory copy must end with the store's lock at 300 s,
	 * not 300 s after it was learnt (review of issue 16). */
	wrong(r1, "alice", "192.0.2.1", "p1", SHARED_TOO, 0);
	wrong(r1, "alice", "192.0.2.2", "p2", SHARED_TOO, 0);
	wrong(r1, "alice", "192.0.2.3", "p3", SHARED_TOO, 0);
	assert_int_equal(check(r2, "alice", "192.0.2.9", SHARED_TOO, 290000), USER);
	assert_int_equal(check(r2, "alice", "192.0.2.9", M, 295000), PA_LOCKOUT_ASK_SHARED);
	assert_int_equal(check(r1, "alice", "192.0.2.9", SHARED_TOO, 300001), GO);
	assert_int_equal(check(r2, "alice", "192.0.2.9", SHARED_TOO, 300001), GO);
	assert_int_equal(check(r2, "alice", "192.0.2.9", M, 300001), GO);
	pa_lockout_free(r1);
	pa_lockout_free(r2);
	fake_free(&f);
}

static void
test_learnt_known_good_ends_with_the_store(void **state)
{
	struct pa_lockout_opts o = { 3, MIN, 300000, 10000, 64, 1000 };
	struct pa_lockout_store st = { &fake_ops, NULL };
	struct pa_lockout *r1, *r2;
	struct fake f;

	(void)state;
	fake_init(&f);
	st.ctx = &f;
	r1 = pa_lockout_new(&o, &st, NULL, NULL);
	r2 = pa_lockout_new(&o, &st, NULL, NULL);
	assert_non_null(r1);
	assert_non_null(r2);
	/* The owner's pair is known good in the store until 10 s; replica 2
	 * learns it at 9 s and must not keep it past 10 s. */
	right(r1, "alice", "alice", "192.0.2.10", SHARED_TOO, 0);
	wrong(r1, "alice", "192.0.2.1", "p1", SHARED_TOO, 1);
	wrong(r1, "alice", "192.0.2.2", "p2", SHARED_TOO, 1);
	wrong(r1, "alice", "192.0.2.3", "p3", SHARED_TOO, 1);
	assert_int_equal(check(r2, "alice", "192.0.2.10", SHARED_TOO, 9000), GO);
	assert_int_equal(check(r2, "alice", "192.0.2.10", M, 9500), GO);
	assert_int_equal(check(r2, "alice", "192.0.2.10", M, 10001), PA_LOCKOUT_ASK_SHARED);
	assert_int_equal(check(r2, "alice", "192.0.2.10", SHARED_TOO, 10001), USER);
	pa_lockout_free(r1);
	pa_lockout_free(r2);
	fake_free(&f);
}

static void
test_store_failure_falls_back_to_memory(void **state)
{
	struct fake f;
	struct pa_lockout *l;
	int calls;

	(void)state;
	fake_init(&f);
	l = mk(3, MIN, 300000, &f);
	f.fail = true;
	wrong(l, "alice", "192.0.2.1", "p1", SHARED_TOO, 0);
	assert_int_equal(ev.downs, 1);
	assert_int_equal(ev.errors, 1);
	/* Paused for two seconds: the store is not asked. */
	calls = f.calls;
	wrong(l, "alice", "192.0.2.1", "p2", SHARED_TOO, 10);
	wrong(l, "alice", "192.0.2.1", "p3", SHARED_TOO, 20);
	assert_int_equal(f.calls, calls);
	/* Memory counted all three. */
	assert_int_equal(check(l, "alice", "192.0.2.2", SHARED_TOO, 30), USER);
	assert_int_equal(ev.user_locks, 1);
	/* After the pause it is asked again; still down: logged once only. */
	wrong(l, "bob", "192.0.2.3", "p", SHARED_TOO, 3000);
	assert_int_equal(ev.downs, 1);
	assert_int_equal(ev.errors, 2);
	f.fail = false;
	assert_int_equal(check(l, "bob", "192.0.2.3", SHARED_TOO, 6000), GO);
	assert_int_equal(ev.ups, 1);
	pa_lockout_free(l);
	fake_free(&f);
}

static void
test_zero_disables(void **state)
{
	struct pa_lockout *l = mk(0, MIN, 300000, NULL);
	int i;
	char pw[16];

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(pw, sizeof(pw), "p%d", i);
		wrong(l, "alice", "192.0.2.1", pw, M, (uint64_t)i);
	}
	assert_int_equal(check(l, "alice", "192.0.2.1", M, 100), GO);
	assert_int_equal(pa_lockout_entries(l), 0);
	pa_lockout_free(l);
}

static void
test_sweep_bounds_memory(void **state)
{
	struct pa_lockout_opts o = { 2, 1000, 5000, 3000, 64, 64 };
	struct pa_lockout *l = pa_lockout_new(&o, NULL, NULL, NULL);
	char name[32], addr[32];
	int i;

	(void)state;
	/* A spray of names and addresses cannot grow memory past its
	 * capacity (64 per kind: locks, counts, seen pairs, good pairs). */
	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "n%d", i);
		snprintf(addr, sizeof(addr), "10.%d.%d.1", i / 256, i % 256);
		wrong(l, name, addr, "p", M, 0);
		right(l, name, name, addr, M, 0);
	}
	assert_true(pa_lockout_entries(l) <= 4 * 64);
	pa_lockout_free(l);
	/* Sweeping drops what can no longer change an answer, and only that
	 * (room enough here that nothing is evicted: 64 entries are 64
	 * shards of one). */
	o.capacity = 10000;
	l = pa_lockout_new(&o, NULL, NULL, NULL);
	wrong(l, "a", "192.0.2.1", "p1", M, 0);
	wrong(l, "a", "192.0.2.1", "p2", M, 10);	/* locked until 5010 */
	assert_int_equal(pa_lockout_sweep(l, 999), 0);
	assert_true(pa_lockout_sweep(l, 1010) > 0);	/* windows over */
	assert_int_equal(check(l, "a", NULL, M, 4000), USER);
	assert_true(pa_lockout_sweep(l, 5010) > 0);	/* locks and good pairs over */
	assert_int_equal(check(l, "a", NULL, M, 5010), GO);
	assert_int_equal(pa_lockout_entries(l), 0);
	pa_lockout_free(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locks_after_max_distinct_failures),
		cmocka_unit_test(test_failures_outside_window_do_not_add_up),
		cmocka_unit_test(test_failures_while_locked_do_not_extend),
		cmocka_unit_test(test_stale_password_counts_once),
		cmocka_unit_test(test_name_variants_share_a_counter),
		cmocka_unit_test(test_distributed_guessing_locks_attacker_not_owner),
		cmocka_unit_test(test_folded_namesake_cannot_unlock),
		cmocka_unit_test(test_long_names_kept_apart),
		cmocka_unit_test(test_known_good_pair_that_fails_is_locked),
		cmocka_unit_test(test_success_clears_only_its_address),
		cmocka_unit_test(test_success_recorded_under_canonical_name),
		cmocka_unit_test(test_ipv6_counted_per_prefix),
		cmocka_unit_test(test_ipv6_prefix_is_configurable),
		cmocka_unit_test(test_replicas_share_the_store),
		cmocka_unit_test(test_known_good_through_the_store),
		cmocka_unit_test(test_lock_reported_once),
		cmocka_unit_test(test_stale_password_once_across_replicas),
		cmocka_unit_test(test_learnt_lock_ends_with_the_store),
		cmocka_unit_test(test_learnt_known_good_ends_with_the_store),
		cmocka_unit_test(test_store_failure_falls_back_to_memory),
		cmocka_unit_test(test_zero_disables),
		cmocka_unit_test(test_sweep_bounds_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
