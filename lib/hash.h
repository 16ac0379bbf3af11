/*
 * Password hash verification, in one place for every backend that holds
 * hashes (htpasswd, Redis, PostgreSQL).  Formats: libxcrypt for bcrypt
 * ($2a$ $2b$ $2y$), yescrypt ($y$ $7$), sha512crypt ($6$) and sha256crypt
 * ($5$); libargon2 for $argon2id$ and $argon2i$ with capped cost; the weak
 * $apr1$, $1$ and {SHA} only when the caller allows them; never plaintext.
 * All comparisons are constant-time.  Thread-safe; no global mutable
 * state except a dummy hash made once.
 */
#ifndef PA_HASH_H
#define PA_HASH_H

#include <stdbool.h>
#include <stddef.h>

enum pa_hash_result {
	PA_HASH_MATCH,
	PA_HASH_MISMATCH,
	PA_HASH_UNSUPPORTED,	/* format not allowed, malformed, or over the cost caps */
};

/* Argon2 cost caps: a stored hash above them is refused, not computed. */
#define PA_ARGON2_MAX_M_KIB	131072	/* 128 MiB */
#define PA_ARGON2_MAX_T		10
#define PA_ARGON2_MAX_P		8
#define PA_BCRYPT_MAX_COST	15	/* 8x the cost-12 default */
#define PA_SHACRYPT_MAX_ROUNDS	1000000	/* 200x the default 5000 */
/* scrypt ($7$) and yescrypt ($y$): N * r * 128 bytes of memory (and for
 * scrypt N * r * p of work) at most 128 MiB's worth, as argon2's cap (8x
 * yescrypt's default N=4096, r=32) */
#define PA_SCRYPT_MAX_NR	(1UL << 20)
#define PA_SCRYPT_MAX_P		8

/* Checks that hash is in an accepted format under the policy, without
 * computing anything.  Returns 0, or -1 with *why set to a static reason. */
int pa_hash_check(const char *hash, bool allow_weak, const char **why);

/* True for the formats that need allow_weak_hashes. */
bool pa_hash_is_weak(const char *hash);

/* Verifies password against hash.  PA_HASH_UNSUPPORTED when pa_hash_check
 * would refuse it, or the hash library failed. */
enum pa_hash_result pa_hash_verify(const char *password, size_t password_len,
				   const char *hash, bool allow_weak);

/* Does the work of a verification and throws the result away, so that an
 * unknown user costs what a known one costs.  reference is a hash of the
 * kind the backend stores (for example another user's); NULL or an
 * unsupported one uses a bcrypt cost-12 hash made once per process. */
void pa_hash_dummy_verify(const char *password, size_t password_len, const char *reference);

/* Makes a new hash of password.  alg is "bcrypt", "yescrypt" or
 * "argon2id"; cost 0 takes the default (bcrypt 12, yescrypt 5, argon2id
 * t=3).  Returns 0 and a string the caller frees, or -1 with *why set. */
int pa_hash_make(const char *password, const char *alg, int cost, char **out,
		 const char **why);

#endif
