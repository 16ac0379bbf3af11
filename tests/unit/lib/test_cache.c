/*
 * Answer cache and its LRU map: TTLs on an injected clock, stale grace,
 * eviction order and bound, per-user and per-backend invalidation, and
 * HMAC keying (the key depends on the secret, the user and the password,
 * and the plaintext is never stored).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cache.h"

static const unsigned char test_key[32] = "0123456789abcdef0123456789abcde";

static void
key_for(struct pa_cache *c, const char *user, const char *pw, unsigned char out[32])
{
	pa_cache_key(c, user, strlen(user), pw, strlen(pw), out);
}

static void
store(struct pa_cache *c, const char *login, const char *pw, enum pa_result r,
      const char *canon, const char *groups, const char *backend, uint64_t expires)
{
	static struct pa_identity who;
	struct pa_cache_view v = { .result = r, .who = &who, .backend = backend };
	unsigned char k[32];

	snprintf(who.user, sizeof(who.user), "%s", canon ? canon : "");
	snprintf(who.groups, sizeof(who.groups), "%s", groups ? groups : "");
	key_for(c, login, pw, k);
	pa_cache_store(c, k, login, &v, expires, pa_cache_generation(c));
}

static enum pa_cache_hit
lookup(struct pa_cache *c, const char *user, const char *pw, uint64_t now, uint64_t grace,
       struct pa_cache_view *v)
{
	static struct pa_identity who;
	unsigned char k[32];

	memset(&who, 0, sizeof(who));
	v->who = &who;
	key_for(c, user, pw, k);
	return pa_cache_lookup(c, k, now, grace, v);
}

static void
test_ttl_on_injected_clock(void **state)
{
	struct pa_cache *c = pa_cache_new(100, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "alice", "pw", PA_GRANTED, "alice", "a,b", "htpasswd", 1000 + 60000);
	store(c, "bob", "bad", PA_DENIED, NULL, NULL, "htpasswd", 1000 + 5000);
	assert_int_equal(lookup(c, "alice", "pw", 1000, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(v.result, PA_GRANTED);
	assert_string_equal(v.who->user, "alice");
	assert_string_equal(v.who->groups, "a,b");
	assert_string_equal(v.backend, "htpasswd");
	assert_int_equal(lookup(c, "alice", "pw", 60999, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(lookup(c, "bob", "bad", 5999, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(v.result, PA_DENIED);
	assert_int_equal(lookup(c, "bob", "bad", 6000, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "alice", "pw", 61000, 0, &v), PA_CACHE_MISS);
	/* Expired entries are dropped, not kept around. */
	assert_int_equal(pa_cache_entries(c), 0);
	pa_cache_free(c);
}

static void
test_stale_grace_only_for_grants(void **state)
{
	struct pa_cache *c = pa_cache_new(100, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "alice", "pw", PA_GRANTED, "alice", "", "ldap", 10000);
	store(c, "bob", "x", PA_DENIED, NULL, NULL, "ldap", 10000);
	assert_int_equal(lookup(c, "alice", "pw", 10000, 30000, &v), PA_CACHE_STALE);
	assert_string_equal(v.who->user, "alice");
	assert_int_equal(lookup(c, "alice", "pw", 39999, 30000, &v), PA_CACHE_STALE);
	assert_int_equal(lookup(c, "bob", "x", 10001, 30000, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "alice", "pw", 40000, 30000, &v), PA_CACHE_MISS);
	pa_cache_free(c);
}

/* A grant for an account that expires is used until then and no longer:
 * the TTL is cut to the expiry, and stale_grace does not bring it back. */
static void
test_grant_never_outlives_expiry(void **state)
{
	struct pa_cache *c = pa_cache_new(100, test_key);
	static struct pa_identity who = { "alice", "g", 0 };
	struct pa_cache_view v = { .result = PA_GRANTED, .who = &who, .backend = "redis" };
	struct pa_cache_view got;
	unsigned char k[32];

	(void)state;
	key_for(c, "alice", "pw", k);
	v.not_after_ms = 3000;		/* expires at 3 s; TTL would say 61 s */
	pa_cache_store(c, k, "alice", &v, 1000 + 60000, pa_cache_generation(c));
	assert_int_equal(lookup(c, "alice", "pw", 2999, 0, &got), PA_CACHE_FRESH);
	assert_int_equal(lookup(c, "alice", "pw", 3000, 30000, &got), PA_CACHE_MISS);
	assert_int_equal(pa_cache_entries(c), 0);
	/* Expiry after the TTL: stale grace applies up to the expiry only. */
	v.not_after_ms = 20000;
	pa_cache_store(c, k, "alice", &v, 10000, pa_cache_generation(c));
	assert_int_equal(lookup(c, "alice", "pw", 9999, 30000, &got), PA_CACHE_FRESH);
	assert_int_equal(lookup(c, "alice", "pw", 19999, 30000, &got), PA_CACHE_STALE);
	assert_int_equal(lookup(c, "alice", "pw", 20000, 30000, &got), PA_CACHE_MISS);
	/* Already past: born expired, never used. */
	v.not_after_ms = 500;
	pa_cache_store(c, k, "alice", &v, 1000 + 60000, pa_cache_generation(c));
	assert_int_equal(lookup(c, "alice", "pw", 1000, 30000, &got), PA_CACHE_MISS);
	pa_cache_free(c);
}

/* Wall-clock expiry to the monotonic clock: the time left is kept. */
static void
test_not_after_conversion(void **state)
{
	(void)state;
	assert_int_equal(pa_cache_not_after(1700000002500, 1700000000000, 5000), 7500);
	assert_int_equal(pa_cache_not_after(1700000000000, 1700000000000, 5000), 5000);
	assert_int_equal(pa_cache_not_after(1600000000000, 1700000000000, 5000), 5000);
	assert_int_equal(pa_cache_not_after(1, 2, 0), 1);	/* 0 means none: never */
	assert_true(pa_cache_not_after(INT64_MAX, -1, UINT64_MAX - 5) == UINT64_MAX);
}

static void
test_key_depends_on_user_password_and_secret(void **state)
{
	static const unsigned char other_key[32] = "another secret key for the hmac";
	struct pa_cache *c = pa_cache_new(10, test_key), *d = pa_cache_new(10, other_key);
	unsigned char a[32], b[32], e[32], f[32], g[32];
	struct pa_cache_view v;

	(void)state;
	key_for(c, "alice", "pw", a);
	key_for(c, "alice", "pw", b);
	assert_memory_equal(a, b, 32);
	key_for(c, "alice", "pw2", e);
	assert_memory_not_equal(a, e, 32);
	/* "ali" + "ce:pw" must not collide with "alice" + "pw": the NUL separates. */
	key_for(c, "alic", "epw", f);
	assert_memory_not_equal(a, f, 32);
	key_for(d, "alice", "pw", g);
	assert_memory_not_equal(a, g, 32);
	/* A right password cached does not answer a wrong one. */
	store(c, "alice", "pw", PA_GRANTED, "alice", "", "htpasswd", 100000);
	assert_int_equal(lookup(c, "alice", "wrong", 0, 0, &v), PA_CACHE_MISS);
	pa_cache_free(c);
	pa_cache_free(d);
}

static void
test_key_is_standard_hmac_sha256(void **state)
{
	struct pa_cache *c = pa_cache_new(10, test_key);
	unsigned char mine[32], ref[32];
	unsigned int len = 0;
	const char msg[] = "alice\0correct horse battery staple";

	(void)state;
	key_for(c, "alice", "correct horse battery staple", mine);
	assert_non_null(HMAC(EVP_sha256(), test_key, 32, (const unsigned char *)msg,
			     sizeof(msg) - 1, ref, &len));
	assert_int_equal(len, 32);
	assert_memory_equal(mine, ref, 32);
	pa_cache_free(c);
}

static void
test_lru_eviction_and_bound(void **state)
{
	struct pa_cache *c = pa_cache_new(1, test_key);	/* one shard, one entry */
	struct pa_cache_view v;

	(void)state;
	store(c, "a", "1", PA_GRANTED, "a", "", "htpasswd", 100000);
	store(c, "b", "1", PA_GRANTED, "b", "", "htpasswd", 100000);
	assert_int_equal(pa_cache_entries(c), 1);
	assert_int_equal(lookup(c, "a", "1", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "b", "1", 0, 0, &v), PA_CACHE_FRESH);
	pa_cache_free(c);

	/* Bigger: the most recently used survive, the count never exceeds. */
	c = pa_cache_new(640, test_key);
	char user[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(user, sizeof(user), "user%d", i);
		store(c, user, "pw", PA_GRANTED, user, "", "htpasswd", 100000);
		assert_true(pa_cache_entries(c) <= 640);
	}
	assert_int_equal(lookup(c, "user4999", "pw", 0, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(lookup(c, "user0", "pw", 0, 0, &v), PA_CACHE_MISS);
	pa_cache_free(c);
}

static void
test_recently_used_survives_eviction(void **state)
{
	struct pa_cache *c = pa_cache_new(128, test_key);	/* 64 shards of two */
	struct pa_cache_view v;
	unsigned char k0[32], k[32];
	char u[3][16];
	int i, found = 0;

	(void)state;
	/* Three users of one shard (the shard is key[0] % 64). */
	key_for(c, "u0", "pw", k0);
	snprintf(u[found++], sizeof(u[0]), "u0");
	for (i = 1; found < 3 && i < 100000; i++) {
		snprintf(u[found], sizeof(u[0]), "u%d", i);
		key_for(c, u[found], "pw", k);
		if (k[0] % 64 == k0[0] % 64)
			found++;
	}
	assert_int_equal(found, 3);
	store(c, u[0], "pw", PA_GRANTED, u[0], "", "htpasswd", 100000);
	store(c, u[1], "pw", PA_GRANTED, u[1], "", "htpasswd", 100000);
	assert_int_equal(lookup(c, u[0], "pw", 0, 0, &v), PA_CACHE_FRESH);	/* touch */
	store(c, u[2], "pw", PA_GRANTED, u[2], "", "htpasswd", 100000);
	assert_int_equal(lookup(c, u[0], "pw", 0, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(lookup(c, u[1], "pw", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, u[2], "pw", 0, 0, &v), PA_CACHE_FRESH);
	pa_cache_free(c);
}

static void
test_invalidate_user_and_backend(void **state)
{
	struct pa_cache *c = pa_cache_new(100, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "Alice", "pw", PA_GRANTED, "alice", "", "ldap", 100000);
	store(c, "alice", "old", PA_DENIED, NULL, NULL, "ldap", 100000);
	store(c, "bob", "pw", PA_GRANTED, "bob", "", "postgres", 100000);
	store(c, "carol", "pw", PA_DENIED, NULL, NULL, NULL, 100000);	/* not found anywhere */
	store(c, "dave", "pw", PA_GRANTED, "dave", "", "redis", 100000);
	/* Case-insensitive, on the login and the canonical name. */
	assert_int_equal(pa_cache_invalidate_user(c, "ALICE"), 2);
	assert_int_equal(lookup(c, "Alice", "pw", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "bob", "pw", 0, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(pa_cache_invalidate_user(c, "nobody"), 0);
	/* A backend's part, plus the "not found anywhere" answers. */
	assert_int_equal(pa_cache_invalidate_backend(c, "postgres"), 2);
	assert_int_equal(lookup(c, "bob", "pw", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "carol", "pw", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "dave", "pw", 0, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(pa_cache_entries(c), 1);
	pa_cache_free(c);
}

/* A user added to (or changed in) a backend drops every answer for a name
 * that folds like it, not only its ASCII case variants: the chain now
 * denies such a look-alike where an earlier backend holds the name in
 * another spelling (chain.c), so a grant a later backend gave the
 * fullwidth or the accented upper-case spelling before must not outlive
 * the change by cache_ttl. */
static void
test_invalidate_user_folded(void **state)
{
	struct pa_cache *c = pa_cache_new(100, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "\xef\xbd\x81lice", "pw", PA_GRANTED, "\xef\xbd\x81lice", "", "postgres",
	      100000);				/* fullwidth a */
	store(c, "\xc3\x89mile", "pw", PA_GRANTED, "\xc3\x89mile", "", "postgres", 100000);
	store(c, "bob", "pw", PA_GRANTED, "bob", "", "postgres", 100000);
	store(c, "alicia", "pw", PA_GRANTED, "alicia", "", "postgres", 100000);
	assert_int_equal(pa_cache_invalidate_user(c, "alice"), 1);
	assert_int_equal(lookup(c, "\xef\xbd\x81lice", "pw", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(pa_cache_invalidate_user(c, "\xc3\xa9mile"), 1);	/* emile, é */
	assert_int_equal(lookup(c, "\xc3\x89mile", "pw", 0, 0, &v), PA_CACHE_MISS);
	/* The other way round: a non-ASCII name announced, an ASCII login. */
	assert_int_equal(pa_cache_invalidate_user(c, "\xef\xbc\xa2OB"), 1);	/* fullwidth B */
	assert_int_equal(lookup(c, "bob", "pw", 0, 0, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "alicia", "pw", 0, 0, &v), PA_CACHE_FRESH);
	pa_cache_free(c);
}

/* A lost LISTEN/SUBSCRIBE: the backend's answers stop answering fresh
 * (the backend is asked first) but its grants stay for stale_grace,
 * counted from the loss; its denials and "not found anywhere" answers
 * never answer again; other backends' answers are untouched. */
static void
test_expire_backend(void **state)
{
	struct pa_cache *c = pa_cache_new(100, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "bob", "pw", PA_GRANTED, "bob", "g", "postgres", 100000);
	store(c, "bob", "old", PA_DENIED, NULL, NULL, "postgres", 100000);
	store(c, "carol", "pw", PA_DENIED, NULL, NULL, NULL, 100000);	/* not found anywhere */
	store(c, "dave", "pw", PA_GRANTED, "dave", "", "redis", 100000);
	store(c, "erin", "pw", PA_GRANTED, "erin", "", "postgres", 500);	/* past TTL by 1000 */
	assert_int_equal(pa_cache_expire_backend(c, "postgres", 1000), 3);
	assert_int_equal(pa_cache_entries(c), 5);
	/* Without stale_grace: gone; with it: stale, for grace from 1000. */
	assert_int_equal(lookup(c, "bob", "pw", 1000, 30000, &v), PA_CACHE_STALE);
	assert_string_equal(v.who->user, "bob");
	assert_string_equal(v.who->groups, "g");
	assert_int_equal(lookup(c, "bob", "pw", 30999, 30000, &v), PA_CACHE_STALE);
	assert_int_equal(lookup(c, "bob", "pw", 31000, 30000, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "bob", "old", 1000, 30000, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "carol", "pw", 1000, 30000, &v), PA_CACHE_MISS);
	assert_int_equal(lookup(c, "dave", "pw", 1000, 30000, &v), PA_CACHE_FRESH);
	/* An answer already past its TTL keeps its earlier end. */
	assert_int_equal(lookup(c, "erin", "pw", 30600, 30000, &v), PA_CACHE_MISS);
	/* A fresh answer stored afterwards answers fresh. */
	store(c, "bob", "pw", PA_GRANTED, "bob", "g", "postgres", 100000);
	assert_int_equal(lookup(c, "bob", "pw", 2000, 0, &v), PA_CACHE_FRESH);
	pa_cache_free(c);
}

static void
test_answer_from_before_an_invalidation_is_not_stored(void **state)
{
	struct pa_cache *c = pa_cache_new(10, test_key);
	struct pa_identity who = { "alice", "g", 0 };
	struct pa_cache_view v = { .result = PA_GRANTED, .who = &who, .backend = "htpasswd" };
	unsigned char k[32];
	uint64_t gen;

	(void)state;
	store(c, "alice", "old", PA_GRANTED, "alice", "g", "htpasswd", 100000);
	/* A lookup starts (reads the generation), the user changes, and the
	 * lookup's answer, made from the old data, arrives afterwards. */
	gen = pa_cache_generation(c);
	pa_cache_invalidate_user(c, "alice");
	key_for(c, "alice", "old", k);
	pa_cache_store(c, k, "alice", &v, 100000, gen);
	assert_int_equal(pa_cache_entries(c), 0);
	assert_int_equal(lookup(c, "alice", "old", 0, 0, &v), PA_CACHE_MISS);
	/* A lookup that started after the change stores normally. */
	gen = pa_cache_generation(c);
	v.who = &who;
	pa_cache_store(c, k, "alice", &v, 100000, gen);
	assert_int_equal(pa_cache_entries(c), 1);
	pa_cache_free(c);
}

/* A backend gone deaf (its watcher lost): an answer asked for before is
 * not stored (it could miss a change made while deaf), and the state is
 * per backend, with "not found anywhere" (NULL) deaf while any is. */
static void
test_deaf_backend(void **state)
{
	struct pa_cache *c = pa_cache_new(10, test_key);
	struct pa_identity who = { "alice", "g", 0 };
	struct pa_cache_view v = { .result = PA_GRANTED, .who = &who, .backend = "redis" };
	unsigned char k[32];
	uint64_t gen;

	(void)state;
	assert_false(pa_cache_deaf(c, "redis"));
	assert_false(pa_cache_deaf(c, NULL));
	gen = pa_cache_generation(c);
	pa_cache_set_deaf(c, "redis", true);
	key_for(c, "alice", "pw", k);
	pa_cache_store(c, k, "alice", &v, 100000, gen);
	assert_int_equal(pa_cache_entries(c), 0);
	assert_true(pa_cache_deaf(c, "redis"));
	assert_false(pa_cache_deaf(c, "postgres"));
	assert_true(pa_cache_deaf(c, NULL));
	pa_cache_set_deaf(c, "postgres", true);
	pa_cache_set_deaf(c, "redis", true);	/* twice: one entry */
	pa_cache_set_deaf(c, "redis", false);
	assert_false(pa_cache_deaf(c, "redis"));
	assert_true(pa_cache_deaf(c, "postgres"));
	assert_true(pa_cache_deaf(c, NULL));
	pa_cache_set_deaf(c, "postgres", false);
	assert_false(pa_cache_deaf(c, "postgres"));
	assert_false(pa_cache_deaf(c, NULL));
	/* Hearing again moves nothing: a lookup under way stores. */
	gen = pa_cache_generation(c);
	pa_cache_set_deaf(c, "redis", false);
	pa_cache_store(c, k, "alice", &v, 100000, gen);
	assert_int_equal(pa_cache_entries(c), 1);
	pa_cache_free(c);
}

/* Chain "postgres, htpasswd": an htpasswd answer stands on postgres'
 * "not found", so postgres' invalidation, expiry and deafness take it
 * too; htpasswd's take nothing of postgres'.  Names not in the chain
 * count only for themselves. */
static void
test_chain_order(void **state)
{
	struct pa_cache *c = pa_cache_new(10, test_key);
	struct pa_cache_view v;

	(void)state;
	assert_int_equal(pa_cache_set_chain(c, "postgres"), 0);
	assert_int_equal(pa_cache_set_chain(c, "htpasswd"), 0);
	store(c, "alice", "pw", PA_GRANTED, "alice", "g", "postgres", 100000);
	store(c, "bob", "pw", PA_GRANTED, "bob", "g", "htpasswd", 100000);
	store(c, "carol", "pw", PA_GRANTED, "carol", "g", "ldap", 100000);
	assert_int_equal(pa_cache_expire_backend(c, "htpasswd", 1000), 1);
	assert_int_equal(lookup(c, "alice", "pw", 2000, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(lookup(c, "bob", "pw", 2000, 0, &v), PA_CACHE_MISS);
	store(c, "bob", "pw", PA_GRANTED, "bob", "g", "htpasswd", 100000);
	assert_int_equal(pa_cache_expire_backend(c, "postgres", 1000), 2);
	assert_int_equal(lookup(c, "carol", "pw", 2000, 0, &v), PA_CACHE_FRESH);
	store(c, "alice", "pw", PA_GRANTED, "alice", "g", "postgres", 100000);
	store(c, "bob", "pw", PA_GRANTED, "bob", "g", "htpasswd", 100000);
	assert_int_equal(pa_cache_invalidate_backend(c, "postgres"), 2);
	assert_int_equal(pa_cache_entries(c), 1);

	pa_cache_set_deaf(c, "postgres", true);
	assert_true(pa_cache_deaf(c, "htpasswd"));
	assert_false(pa_cache_deaf(c, "ldap"));
	pa_cache_set_deaf(c, "postgres", false);
	pa_cache_set_deaf(c, "htpasswd", true);
	assert_false(pa_cache_deaf(c, "postgres"));
	pa_cache_free(c);
}

static void
test_unavailable_is_never_stored(void **state)
{
	struct pa_cache *c = pa_cache_new(10, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "a", "pw", PA_UNAVAILABLE, NULL, NULL, "ldap", 100000);
	store(c, "b", "pw", PA_NOT_FOUND, NULL, NULL, "ldap", 100000);
	assert_int_equal(pa_cache_entries(c), 0);
	assert_int_equal(lookup(c, "a", "pw", 0, 0, &v), PA_CACHE_MISS);
	pa_cache_free(c);
}

static void
test_replacing_an_entry(void **state)
{
	struct pa_cache *c = pa_cache_new(10, test_key);
	struct pa_cache_view v;

	(void)state;
	store(c, "a", "pw", PA_DENIED, NULL, NULL, "htpasswd", 100);
	store(c, "a", "pw", PA_GRANTED, "a", "g", "htpasswd", 100000);
	assert_int_equal(pa_cache_entries(c), 1);
	assert_int_equal(lookup(c, "a", "pw", 500, 0, &v), PA_CACHE_FRESH);
	assert_int_equal(v.result, PA_GRANTED);
	pa_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl_on_injected_clock),
		cmocka_unit_test(test_stale_grace_only_for_grants),
		cmocka_unit_test(test_grant_never_outlives_expiry),
		cmocka_unit_test(test_not_after_conversion),
		cmocka_unit_test(test_key_depends_on_user_password_and_secret),
		cmocka_unit_test(test_key_is_standard_hmac_sha256),
		cmocka_unit_test(test_lru_eviction_and_bound),
		cmocka_unit_test(test_recently_used_survives_eviction),
		cmocka_unit_test(test_invalidate_user_and_backend),
		cmocka_unit_test(test_invalidate_user_folded),
		cmocka_unit_test(test_expire_backend),
		cmocka_unit_test(test_answer_from_before_an_invalidation_is_not_stored),
		cmocka_unit_test(test_deaf_backend),
		cmocka_unit_test(test_chain_order),
		cmocka_unit_test(test_unavailable_is_never_stored),
		cmocka_unit_test(test_replacing_an_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
