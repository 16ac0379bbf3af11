/*
 * The lockout policy (see lockout.h for the model) over two stores.  Keys:
 *
 *   lock:u:<user>                   the user is locked (expires after lockout)
 *   lock:a:<addr>                   the address is locked
 *   fail:u:<user> {<len>:<addr>:<name>}  the user's counted failures, per
 *                                   address and exact typed name
 *   fail:p:<len>:<addr>:<user> {<name>}  the same, from one address only
 *                                   (for the known-good check)
 *   fail:a:<addr>  {n}              the address's counted failures
 *   seen:<tag>:<user>               this (user, password) pair failed in the window
 *   good:x:<len>:<addr>:<name>      the name succeeded from there within known_ms
 *
 * <user> is the folded name, <name> the exact one (typed or canonical),
 * <addr> the address key ("-" in fail:u: for a client whose address is not
 * counted), <len> its length so that a name holding ':' stays unambiguous,
 * <tag> 32 hex digits of the HMAC.  Names are not secrets and every
 * replica makes the same keys; "good:x:" and the length-prefixed fields
 * never match what earlier versions wrote.  Locks are set only when
 * absent, so failures while locked never extend a lock.  Nothing here
 * blocks except the shared store's calls, which the caller allows only
 * off the event loop.
 */
#include "lockout.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX (PA_FOLD_MAX + PA_LOCKOUT_ADDR_MAX + 64)
#define FIELD_MAX (PA_LOCKOUT_ADDR_MAX + PA_LOCKOUT_NAME_MAX + 16)
#define STORE_PAUSE_MS 2000

struct pa_lockout {
	struct pa_lockout_opts o;
	struct pa_lockout_store mem, shared;	/* shared.ops NULL: none */
	unsigned char tag_key[32];		/* HMAC key for (user, password) */
	pa_lockout_event_fn *event;
	void *event_arg;
	atomic_bool shared_down;
	atomic_uint_fast64_t shared_retry_ms;
};

static void
emit(const struct pa_lockout *l, enum pa_lockout_event ev, const char *what, bool shared)
{
	if (l->event != NULL)
		l->event(l->event_arg, ev, what, shared);
}

struct pa_lockout *
pa_lockout_new(const struct pa_lockout_opts *o, const struct pa_lockout_store *shared,
	       pa_lockout_event_fn *event, void *event_arg)
{
	struct pa_lockout *l = calloc(1, sizeof(*l));

	if (l == NULL || RAND_bytes(l->tag_key, sizeof(l->tag_key)) != 1 ||
	    (o->max_failures > 0 && pa_lockout_mem_new(o->capacity, &l->mem) != 0)) {
		if (shared != NULL && shared->ops->close != NULL)
			shared->ops->close(shared->ctx);
		free(l);
		return NULL;
	}
	l->o = *o;
	if (shared != NULL)
		l->shared = *shared;
	l->event = event;
	l->event_arg = event_arg;
	atomic_init(&l->shared_down, false);
	atomic_init(&l->shared_retry_ms, 0);
	return l;
}

void
pa_lockout_free(struct pa_lockout *l)
{
	if (l == NULL)
		return;
	if (l->mem.ops != NULL)
		l->mem.ops->close(l->mem.ctx);
	if (l->shared.ops != NULL && l->shared.ops->close != NULL)
		l->shared.ops->close(l->shared.ctx);
	OPENSSL_cleanse(l->tag_key, sizeof(l->tag_key));
	free(l);
}

/* The address key: IPv4 as it is, IPv4-mapped IPv6 as IPv4, other IPv6
 * masked to the prefix ("2001:db8:1:2::/64"), anything else its text. */
static void
address_key(int prefix, const char *client, char *out)
{
	unsigned char a[16];
	char text[INET6_ADDRSTRLEN];
	int i;

	if (inet_pton(AF_INET, client, a) == 1) {
		inet_ntop(AF_INET, a, out, PA_LOCKOUT_ADDR_MAX);
		return;
	}
	if (inet_pton(AF_INET6, client, a) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
							  0xff, 0xff };

		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			inet_ntop(AF_INET, a + 12, out, PA_LOCKOUT_ADDR_MAX);
			return;
		}
		for (i = 0; i < 16; i++) {
			int bits = prefix - i * 8;

			if (bits <= 0)
				a[i] = 0;
			else if (bits < 8)
				a[i] &= (unsigned char)(0xff << (8 - bits));
		}
		inet_ntop(AF_INET6, a, text, sizeof(text));
		snprintf(out, PA_LOCKOUT_ADDR_MAX, "%s/%d", text, prefix);
		return;
	}
	snprintf(out, PA_LOCKOUT_ADDR_MAX, "%s", client);
}

/* The exact name: as it is, or "#" and its hex SHA-256 when it is too long
 * or holds NUL (which the credentials parser never passes). */
static void
exact_name(const char *in, size_t len, char out[PA_LOCKOUT_NAME_MAX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (len <= PA_LOCKOUT_NAME_MAX && memchr(in, '\0', len) == NULL) {
		memcpy(out, in, len);
		out[len] = '\0';
		return;
	}
	out[0] = '#';
	out[1] = '\0';
	if (EVP_Digest(in, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		mdlen = 0;	/* "#": every such name shares one entry */
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
}

void
pa_lockout_subject(const struct pa_lockout *l, const char *user, size_t user_len,
		   const char *client, struct pa_lockout_subject *s)
{
	pa_fold_user(user, user_len, s->user);
	exact_name(user, user_len, s->exact);
	s->addr[0] = '\0';
	if (client != NULL && client[0] != '\0')
		address_key(l->o.ipv6_prefix, client, s->addr);
}

static void
key(char *buf, const char *what, const char *name)
{
	snprintf(buf, KEY_MAX, "%s%s", what, name);
}

/* The exact name succeeded from the address. */
static void
good_key(char *buf, const char *addr, const char *name)
{
	snprintf(buf, KEY_MAX, "good:x:%zu:%s:%s", strlen(addr), addr, name);
}

/* The folded user's failures from one address, per exact name. */
static void
pair_key(char *buf, const char *addr, const char *user)
{
	snprintf(buf, KEY_MAX, "fail:p:%zu:%s:%s", strlen(addr), addr, user);
}

/* The field of fail:u: for a failure from addr ("" when not counted)
 * under the exact name. */
static void
user_field(char *buf, const char *addr, const char *name)
{
	if (addr[0] == '\0')
		addr = "-";
	snprintf(buf, FIELD_MAX, "%zu:%s:%s", strlen(addr), addr, name);
}

/* The shared store may be asked: configured, allowed, and not paused
 * after a failure. */
static bool
shared_usable(const struct pa_lockout *l, int where, uint64_t now_ms)
{
	return l->shared.ops != NULL && (where & PA_LOCKOUT_SHARED) &&
	       now_ms >= atomic_load_explicit(&l->shared_retry_ms, memory_order_relaxed);
}

static void
shared_failed(struct pa_lockout *l, const struct pa_error *err, uint64_t now_ms)
{
	atomic_store(&l->shared_retry_ms, now_ms + STORE_PAUSE_MS);
	emit(l, PA_LOCKOUT_EV_STORE_ERROR, err->msg, true);
	if (!atomic_exchange(&l->shared_down, true))
		emit(l, PA_LOCKOUT_EV_STORE_DOWN, err->msg, true);
}

static void
shared_ok(struct pa_lockout *l)
{
	if (atomic_load_explicit(&l->shared_down, memory_order_relaxed) &&
	    atomic_exchange(&l->shared_down, false))
		emit(l, PA_LOCKOUT_EV_STORE_UP, NULL, true);
}

struct flags {
	bool user, addr, good;
};

/* Whether the pair is known good and has not itself failed enough to be
 * locked.  0 or -1. */
static int
pair_good(const struct pa_lockout *l, const struct pa_lockout_store *st,
	  const struct pa_lockout_subject *s, uint64_t now, bool *good, struct pa_error *err)
{
	char k[KEY_MAX];
	long long n;
	int e;

	*good = false;
	if (s->addr[0] == '\0')
		return 0;
	good_key(k, s->addr, s->exact);
	if ((e = st->ops->exists(st->ctx, k, now, err)) < 0)
		return -1;
	if (e == 0)
		return 0;
	/* This address's failures at the user under any of its names: a
	 * known-good pair is no cover for guessing at a variant there. */
	pair_key(k, s->addr, s->user);
	if ((n = st->ops->sum(st->ctx, k, now, err)) < 0)
		return -1;
	*good = n < l->o.max_failures;
	return 0;
}

/* What one store says of the subject.  with_good: find out whether the
 * pair is known good even when this store holds no user lock. */
static int
store_flags(const struct pa_lockout *l, const struct pa_lockout_store *st,
	    const struct pa_lockout_subject *s, bool with_good, uint64_t now, struct flags *f,
	    struct pa_error *err)
{
	char k[KEY_MAX];
	int e;

	f->user = f->addr = f->good = false;
	if (s->addr[0] != '\0') {
		key(k, "lock:a:", s->addr);
		if ((e = st->ops->exists(st->ctx, k, now, err)) < 0)
			return -1;
		if ((f->addr = e == 1))
			return 0;
	}
	key(k, "lock:u:", s->user);
	if ((e = st->ops->exists(st->ctx, k, now, err)) < 0)
		return -1;
	f->user = e == 1;
	if (f->user || with_good)
		return pair_good(l, st, s, now, &f->good, err);
	return 0;
}

/* Copies a key of the shared store into memory for the time it has left
 * there, at most full_ms (all of full_ms when the store cannot tell).  A
 * lock already in memory (only_new) keeps its own end. */
static void
copy_key(struct pa_lockout *l, const char *k, uint64_t full_ms, bool only_new, uint64_t now_ms)
{
	struct pa_error err = { { 0 } };
	long long left = -1;

	if (l->shared.ops->ttl != NULL)
		left = l->shared.ops->ttl(l->shared.ctx, k, now_ms, &err);
	if (left == 0)
		return;		/* ended since it was seen */
	if (left < 0 || (uint64_t)left > full_ms)
		left = (long long)full_ms;
	(void)l->mem.ops->put(l->mem.ctx, k, (uint64_t)left, only_new, now_ms, &err);
}

enum pa_lockout_verdict
pa_lockout_check(struct pa_lockout *l, const struct pa_lockout_subject *s, int where,
		 uint64_t now_ms, const char **why)
{
	struct flags mem = { false, false, false }, sh = { false, false, false };
	struct pa_error err = { { 0 } };
	bool from_shared = false;
	char k[KEY_MAX];

	if (l == NULL || l->o.max_failures <= 0)
		return PA_LOCKOUT_GO;
	if ((where & PA_LOCKOUT_MEMORY) || l->shared.ops != NULL) {
		/* Memory is always asked: it also holds what was learnt from
		 * the shared store.  Nothing locked anywhere: one load. */
		if (pa_lockout_mem_any_lock(l->mem.ctx))
			(void)store_flags(l, &l->mem, s, false, now_ms, &mem, &err);
	}
	if (!mem.addr && shared_usable(l, where, now_ms)) {
		if (store_flags(l, &l->shared, s, mem.user, now_ms, &sh, &err) != 0) {
			shared_failed(l, &err, now_ms);
			sh.user = sh.addr = sh.good = false;
		} else {
			shared_ok(l);
			/* Learnt here, so cached answers (memory only) honour
			 * it too, for what is left of it. */
			if (sh.addr) {
				key(k, "lock:a:", s->addr);
				copy_key(l, k, l->o.lockout_ms, true, now_ms);
			}
			if (sh.user) {
				key(k, "lock:u:", s->user);
				copy_key(l, k, l->o.lockout_ms, true, now_ms);
				if (!mem.user)
					(void)pair_good(l, &l->mem, s, now_ms, &mem.good, &err);
			}
			if (sh.good && !mem.good) {
				good_key(k, s->addr, s->exact);
				copy_key(l, k, l->o.known_ms, false, now_ms);
			}
			from_shared = sh.user || sh.addr;
		}
	}
	if (mem.addr || sh.addr) {
		if (why != NULL)
			*why = from_shared ? "address locked out (shared)" : "address locked out";
		return PA_LOCKOUT_ADDRESS;
	}
	if (mem.user && !mem.good && !(where & PA_LOCKOUT_SHARED) &&
	    shared_usable(l, PA_LOCKOUT_SHARED, now_ms))
		return PA_LOCKOUT_ASK_SHARED;
	if ((mem.user || sh.user) && !(mem.good || sh.good)) {
		if (why != NULL)
			*why = from_shared ? "user locked out (shared)" : "user locked out";
		return PA_LOCKOUT_USER;
	}
	return PA_LOCKOUT_GO;
}

/* 32 hex digits of HMAC-SHA256(tag_key, user NUL password). */
static void
password_tag(const struct pa_lockout *l, const char *user, const char *password, size_t len,
	     char out[33])
{
	unsigned char buf[PA_FOLD_MAX + 1 + 1024], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t ulen = strlen(user), n;
	int i;

	if (len > 1024)
		len = 1024;
	memcpy(buf, user, ulen);
	buf[ulen] = '\0';
	memcpy(buf + ulen + 1, password, len);
	n = ulen + 1 + len;
	HMAC(EVP_sha256(), l->tag_key, sizeof(l->tag_key), buf, n, md, &mdlen);
	for (i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	OPENSSL_cleanse(buf, n);
	OPENSSL_cleanse(md, sizeof(md));
}

/* A failure in one store: counted unless its pair already failed; a lock
 * set when the count reaches max_failures.  0 or -1. */
static int
store_failure(struct pa_lockout *l, const struct pa_lockout_store *st,
	      const struct pa_lockout_subject *s, const char *tag, uint64_t now,
	      bool *user_started, bool *addr_started, struct pa_error *err)
{
	char k[KEY_MAX], f[FIELD_MAX];
	long long n;
	int r;

	*user_started = *addr_started = false;
	snprintf(k, KEY_MAX, "seen:%s:%s", tag, s->user);
	if ((r = st->ops->put(st->ctx, k, l->o.window_ms, true, now, err)) <= 0)
		return r;	/* -1, or 0: this password already failed: a repeat */
	key(k, "fail:u:", s->user);
	user_field(f, s->addr, s->exact);
	if ((n = st->ops->incr(st->ctx, k, f, l->o.window_ms, now, err)) < 0)
		return -1;
	if (n >= l->o.max_failures) {
		key(k, "lock:u:", s->user);
		if ((r = st->ops->put(st->ctx, k, l->o.lockout_ms, true, now, err)) < 0)
			return -1;
		*user_started = r == 1;
	}
	if (s->addr[0] == '\0')
		return 0;
	pair_key(k, s->addr, s->user);
	if (st->ops->incr(st->ctx, k, s->exact, l->o.window_ms, now, err) < 0)
		return -1;
	key(k, "fail:a:", s->addr);
	if ((n = st->ops->incr(st->ctx, k, "n", l->o.window_ms, now, err)) < 0)
		return -1;
	if (n >= l->o.max_failures) {
		key(k, "lock:a:", s->addr);
		if ((r = st->ops->put(st->ctx, k, l->o.lockout_ms, true, now, err)) < 0)
			return -1;
		*addr_started = r == 1;
	}
	return 0;
}

/* A success in one store, for one exact name (user: its fold): the
 * failures from this address under that exact name go, and the pair
 * becomes known good.  Nothing is keyed by the fold alone, so an account
 * whose name folds alike clears nothing of another's.  A client whose
 * address is not counted clears nothing: all such clients share "-". */
static int
store_success(struct pa_lockout *l, const struct pa_lockout_store *st,
	      const struct pa_lockout_subject *s, const char *user, const char *name,
	      uint64_t now, struct pa_error *err)
{
	char k[KEY_MAX], f[FIELD_MAX];

	if (s->addr[0] == '\0')
		return 0;
	key(k, "fail:u:", user);
	user_field(f, s->addr, name);
	if (st->ops->drop(st->ctx, k, f, now, err) != 0)
		return -1;
	pair_key(k, s->addr, user);
	if (st->ops->drop(st->ctx, k, name, now, err) != 0)
		return -1;
	good_key(k, s->addr, name);
	return st->ops->put(st->ctx, k, l->o.known_ms, false, now, err) < 0 ? -1 : 0;
}

static int
record_in(struct pa_lockout *l, const struct pa_lockout_store *st, bool shared,
	  const struct pa_lockout_subject *s, bool granted, const char *canon,
	  const char *canon_exact, const char *tag, uint64_t now, struct pa_error *err)
{
	bool us = false, as = false;
	char k[KEY_MAX];

	if (granted) {
		if (store_success(l, st, s, s->user, s->exact, now, err) != 0)
			return -1;
		if (canon_exact[0] != '\0' && strcmp(canon_exact, s->exact) != 0 &&
		    store_success(l, st, s, canon, canon_exact, now, err) != 0)
			return -1;
		return 0;
	}
	if (store_failure(l, st, s, tag, now, &us, &as, err) != 0)
		return -1;
	/* A lock the shared store starts is copied into memory; when memory
	 * had started it already (this replica saw enough failures itself),
	 * it was reported then. */
	if (shared && us) {
		key(k, "lock:u:", s->user);
		us = l->mem.ops->put(l->mem.ctx, k, l->o.lockout_ms, true, now, err) == 1;
	}
	if (shared && as) {
		key(k, "lock:a:", s->addr);
		as = l->mem.ops->put(l->mem.ctx, k, l->o.lockout_ms, true, now, err) == 1;
	}
	if (us)
		emit(l, PA_LOCKOUT_EV_USER_LOCKED, s->user, shared);
	if (as)
		emit(l, PA_LOCKOUT_EV_ADDRESS_LOCKED, s->addr, shared);
	return 0;
}

void
pa_lockout_record(struct pa_lockout *l, const struct pa_lockout_subject *s, bool granted,
		  const char *canonical, const char *password, size_t password_len, int where,
		  uint64_t now_ms)
{
	struct pa_error err = { { 0 } };
	char canon[PA_FOLD_MAX], canon_exact[PA_LOCKOUT_NAME_MAX + 1], tag[33];

	if (l == NULL || l->o.max_failures <= 0)
		return;
	canon[0] = canon_exact[0] = tag[0] = '\0';
	if (granted && canonical != NULL && canonical[0] != '\0') {
		pa_fold_user(canonical, strlen(canonical), canon);
		exact_name(canonical, strlen(canonical), canon_exact);
	}
	if (!granted)
		password_tag(l, s->user, password, password_len, tag);
	if (where & PA_LOCKOUT_MEMORY)
		(void)record_in(l, &l->mem, false, s, granted, canon, canon_exact, tag, now_ms,
				&err);
	if (shared_usable(l, where, now_ms)) {
		if (record_in(l, &l->shared, true, s, granted, canon, canon_exact, tag, now_ms,
			      &err) != 0)
			shared_failed(l, &err, now_ms);
		else
			shared_ok(l);
	}
	OPENSSL_cleanse(tag, sizeof(tag));
}

size_t
pa_lockout_sweep(struct pa_lockout *l, uint64_t now_ms)
{
	if (l == NULL || l->mem.ops == NULL)
		return 0;
	return pa_lockout_mem_sweep(l->mem.ctx, now_ms);
}

size_t
pa_lockout_entries(struct pa_lockout *l)
{
	if (l == NULL || l->mem.ops == NULL)
		return 0;
	return pa_lockout_mem_count(l->mem.ctx);
}
