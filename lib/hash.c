/*
 * Password hash verification and creation.
 *
 * Invariants: the format is checked against the allow-list before any
 * library sees the hash (crypt(3) would happily run DES on a plaintext
 * "hash"); results are compared with CRYPTO_memcmp; buffers that held a
 * computed hash are scrubbed.  $apr1$ is Apache's MD5 variant that
 * libxcrypt does not implement, so it is written out here on OpenSSL's
 * MD5; it is reachable only with allow_weak_hashes.
 */
#include "hash.h"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_NONE, K_CRYPT, K_ARGON2ID, K_ARGON2I, K_APR1, K_SHA1 };

static const struct {
	const char *prefix;
	enum kind kind;
	bool weak;
} formats[] = {
	{ "$2a$", K_CRYPT, false },
	{ "$2b$", K_CRYPT, false },
	{ "$2y$", K_CRYPT, false },
	{ "$y$", K_CRYPT, false },
	{ "$7$", K_CRYPT, false },
	{ "$6$", K_CRYPT, false },
	{ "$5$", K_CRYPT, false },
	{ "$argon2id$", K_ARGON2ID, false },
	{ "$argon2i$", K_ARGON2I, false },
	{ "$apr1$", K_APR1, true },
	{ "$1$", K_CRYPT, true },
	{ "{SHA}", K_SHA1, true },
};

static enum kind
hash_kind(const char *hash, bool *weak)
{
	size_t i;

	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (strncmp(hash, formats[i].prefix, strlen(formats[i].prefix)) == 0) {
			*weak = formats[i].weak;
			return formats[i].kind;
		}
	}
	*weak = false;
	return K_NONE;
}

bool
pa_hash_is_weak(const char *hash)
{
	bool weak;

	return hash_kind(hash, &weak) != K_NONE && weak;
}

/* Reads "m=..,t=..,p=.." out of an argon2 encoded hash and applies the caps. */
static int
argon2_params_ok(const char *hash, const char **why)
{
	const char *p = strstr(hash + 1, "$m=");
	unsigned long m, t, par;
	int used = 0;

	if (p == NULL || sscanf(p, "$m=%lu,t=%lu,p=%lu$%n", &m, &t, &par, &used) != 3 ||
	    used == 0) {
		*why = "malformed argon2 parameters";
		return -1;
	}
	if (m > PA_ARGON2_MAX_M_KIB || t > PA_ARGON2_MAX_T || par > PA_ARGON2_MAX_P ||
	    m == 0 || t == 0 || par == 0) {
		*why = "argon2 cost above the caps";
		return -1;
	}
	return 0;
}

/* The crypt base-64 digit value of c ("./0-9A-Za-z"), or 64. */
static unsigned int
atoi64(char c)
{
	if (c == '.')
		return 0;
	if (c == '/')
		return 1;
	if (c >= '0' && c <= '9')
		return (unsigned int)(c - '0') + 2;
	if (c >= 'A' && c <= 'Z')
		return (unsigned int)(c - 'A') + 12;
	if (c >= 'a' && c <= 'z')
		return (unsigned int)(c - 'a') + 38;
	return 64;
}

/* yescrypt's variable-length number (libxcrypt alg-yescrypt-common.c,
 * decode64_uint32); NULL when malformed. */
static const char *
decode64_var(unsigned long *dst, const char *src, unsigned long min)
{
	unsigned long start = 0, end = 47, chars = 1, bits = 0, c;

	if ((c = atoi64(*src++)) > 63)
		return NULL;
	*dst = min;
	while (c > end) {
		*dst += (end + 1 - start) << bits;
		start = end + 1;
		end = start + (62 - end) / 2;
		chars++;
		bits += 6;
	}
	*dst += (c - start) << bits;
	while (--chars) {
		if ((c = atoi64(*src++)) > 63)
			return NULL;
		bits -= 6;
		*dst += c << bits;
	}
	return src;
}

/* scrypt's fixed 30-bit number: five digits, least significant first. */
static const char *
decode64_30(unsigned long *dst, const char *src)
{
	unsigned long c;
	int bits;

	*dst = 0;
	for (bits = 0; bits < 30; bits += 6) {
		if ((c = atoi64(*src++)) > 63)
			return NULL;
		*dst |= c << bits;
	}
	return src;
}

/* The cost of a $7$ (scrypt) or $y$ (yescrypt) setting, as libxcrypt
 * decodes it, against the caps: memory N * r * 128 bytes and, for scrypt,
 * work N * r * p.  yescrypt only as libxcrypt makes it (see below). */
static int
scrypt_cost_ok(const char *hash, const char **why)
{
	unsigned long n_log2, r, p = 1, ignored;
	const char *s = hash + 3;

	if (hash[1] == '7') {
		if ((n_log2 = atoi64(*s++)) > 63 || (s = decode64_30(&r, s)) == NULL ||
		    (s = decode64_30(&p, s)) == NULL)
			goto malformed;
	} else {
		/* Only what libxcrypt's crypt_gensalt makes: the default
		 * flavour ('j') and no optional parameters (p, t, g, ROM).
		 * Other flavours with p and t are far slower per unit of N * r
		 * (measured: 10 s within every separate cap). */
		if (*s != 'j') {
			*why = "yescrypt flavour other than libxcrypt's default";
			return -1;
		}
		if ((s = decode64_var(&ignored, s, 0)) == NULL ||	/* flavour */
		    (s = decode64_var(&n_log2, s, 1)) == NULL || n_log2 > 63 ||
		    (s = decode64_var(&r, s, 1)) == NULL)
			goto malformed;
		if (*s != '$') {
			*why = "yescrypt optional parameters (p, t, ROM) are not accepted";
			return -1;
		}
	}
	/* scrypt's work is N * r * p (p runs one after another). */
	if (n_log2 >= 21 || r == 0 || p == 0 || (1UL << n_log2) * r > PA_SCRYPT_MAX_NR ||
	    p > PA_SCRYPT_MAX_P || (1UL << n_log2) * r * p > PA_SCRYPT_MAX_NR) {
		*why = hash[1] == '7' ? "scrypt cost above the caps" : "yescrypt cost above the caps";
		return -1;
	}
	return 0;
malformed:
	*why = hash[1] == '7' ? "malformed scrypt parameters" : "malformed yescrypt parameters";
	return -1;
}

/* Caps the cost a stored bcrypt, SHA-crypt, scrypt or yescrypt hash may
 * ask for, as for argon2: a poisoned record must not tie a worker up for
 * minutes or take gigabytes. */
static int
crypt_cost_ok(const char *hash, const char **why)
{
	unsigned long v;
	char *end;

	if ((hash[1] == '7' || hash[1] == 'y') && hash[2] == '$')
		return scrypt_cost_ok(hash, why);
	if (hash[1] == '2' && hash[3] == '$') {
		v = strtoul(hash + 4, &end, 10);
		if (end != hash + 6 || *end != '$' || v > PA_BCRYPT_MAX_COST) {
			*why = "bcrypt cost above the cap";
			return -1;
		}
	} else if ((hash[1] == '5' || hash[1] == '6') && strncmp(hash + 3, "rounds=", 7) == 0) {
		v = strtoul(hash + 10, &end, 10);
		if (*end != '$' || v > PA_SHACRYPT_MAX_ROUNDS) {
			*why = "SHA-crypt rounds above the cap";
			return -1;
		}
	}
	return 0;
}

int
pa_hash_check(const char *hash, bool allow_weak, const char **why)
{
	const char *dummy;
	bool weak;
	enum kind k;

	if (why == NULL)
		why = &dummy;
	if (hash == NULL || *hash == '\0') {
		*why = "empty hash";
		return -1;
	}
	k = hash_kind(hash, &weak);
	if (k == K_NONE) {
		*why = "unsupported hash format (plaintext and DES are never accepted)";
		return -1;
	}
	if (weak && !allow_weak) {
		*why = "weak hash format needs allow_weak_hashes = true";
		return -1;
	}
	if ((k == K_ARGON2ID || k == K_ARGON2I) && argon2_params_ok(hash, why) != 0)
		return -1;
	if (k == K_CRYPT && crypt_cost_ok(hash, why) != 0)
		return -1;
	if (strlen(hash) > 512) {
		*why = "hash too long";
		return -1;
	}
	return 0;
}

static bool
same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/*
 * crypt(3) takes a C string, but the password is counted: it is copied so
 * that bytes past len are never read, and a password holding a NUL (which
 * crypt would see cut short at it) never matches, so "pw\0junk" cannot
 * pass for "pw".  The hash is still computed, to cost the same.
 */
static enum pa_hash_result
verify_crypt(const char *password, size_t len, const char *hash)
{
	struct crypt_data *cd;
	enum pa_hash_result r = PA_HASH_UNSUPPORTED;
	bool has_nul = memchr(password, '\0', len) != NULL;
	const char *out;
	char *pw;

	if ((pw = malloc(len + 1)) == NULL)
		return PA_HASH_UNSUPPORTED;
	memcpy(pw, password, len);
	pw[len] = '\0';
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		OPENSSL_cleanse(pw, len);
		free(pw);
		return PA_HASH_UNSUPPORTED;
	}
	out = crypt_rn(pw, hash, cd, (int)sizeof(*cd));
	if (out != NULL && out[0] != '*')
		r = same(out, hash) && !has_nul ? PA_HASH_MATCH : PA_HASH_MISMATCH;
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	OPENSSL_cleanse(pw, len);
	free(pw);
	return r;
}

static enum pa_hash_result
verify_argon2(const char *password, size_t len, const char *hash, argon2_type type)
{
	int rc = argon2_verify(hash, password, len, type);

	if (rc == ARGON2_OK)
		return PA_HASH_MATCH;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return PA_HASH_MISMATCH;
	return PA_HASH_UNSUPPORTED;
}

static enum pa_hash_result
verify_sha1(const char *password, size_t len, const char *hash)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	char enc[64];

	SHA1((const unsigned char *)password, len, md);
	EVP_EncodeBlock((unsigned char *)enc, md, sizeof(md));
	OPENSSL_cleanse(md, sizeof(md));
	return same(enc, hash + 5) ? PA_HASH_MATCH : PA_HASH_MISMATCH;
}

static void
to64(char **p, unsigned long v, int n)
{
	static const char itoa64[] =
		"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

	while (n-- > 0) {
		*(*p)++ = itoa64[v & 0x3f];
		v >>= 6;
	}
}

/* Apache's $apr1$ (md5crypt with another magic), on OpenSSL's MD5. */
static int
apr1(const char *pw, size_t pwlen, const char *hash, char *out, size_t outsize)
{
	static const char magic[] = "$apr1$";
	const char *salt = hash + 6, *end = strchr(salt, '$');
	unsigned char fin[16];
	size_t saltlen = end != NULL ? (size_t)(end - salt) : strlen(salt);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *c1 = EVP_MD_CTX_new();
	const EVP_MD *md5 = EVP_md5();
	unsigned int mdlen;
	int i, ret = -1;
	size_t l;
	char *p;

	if (saltlen > 8)
		saltlen = 8;
	if (ctx == NULL || c1 == NULL || md5 == NULL || outsize < 6 + 8 + 1 + 22 + 1)
		goto done;
	if (!EVP_DigestInit_ex(c1, md5, NULL) || !EVP_DigestUpdate(c1, pw, pwlen) ||
	    !EVP_DigestUpdate(c1, salt, saltlen) || !EVP_DigestUpdate(c1, pw, pwlen) ||
	    !EVP_DigestFinal_ex(c1, fin, &mdlen))
		goto done;
	if (!EVP_DigestInit_ex(ctx, md5, NULL) || !EVP_DigestUpdate(ctx, pw, pwlen) ||
	    !EVP_DigestUpdate(ctx, magic, 6) || !EVP_DigestUpdate(ctx, salt, saltlen))
		goto done;
	for (l = pwlen; l > 0; l -= l > 16 ? 16 : l)
		if (!EVP_DigestUpdate(ctx, fin, l > 16 ? 16 : l))
			goto done;
	memset(fin, 0, sizeof(fin));
	for (l = pwlen; l != 0; l >>= 1)
		if (!EVP_DigestUpdate(ctx, (l & 1) ? (const void *)fin : (const void *)pw, 1))
			goto done;
	if (!EVP_DigestFinal_ex(ctx, fin, &mdlen))
		goto done;
	for (i = 0; i < 1000; i++) {
		if (!EVP_DigestInit_ex(c1, md5, NULL))
			goto done;
		if (!EVP_DigestUpdate(c1, (i & 1) ? (const void *)pw : (const void *)fin,
				      (i & 1) ? pwlen : 16))
			goto done;
		if ((i % 3) && !EVP_DigestUpdate(c1, salt, saltlen))
			goto done;
		if ((i % 7) && !EVP_DigestUpdate(c1, pw, pwlen))
			goto done;
		if (!EVP_DigestUpdate(c1, (i & 1) ? (const void *)fin : (const void *)pw,
				      (i & 1) ? 16 : pwlen))
			goto done;
		if (!EVP_DigestFinal_ex(c1, fin, &mdlen))
			goto done;
	}
	memcpy(out, magic, 6);
	memcpy(out + 6, salt, saltlen);
	p = out + 6 + saltlen;
	*p++ = '$';
	to64(&p, ((unsigned long)fin[0] << 16) | ((unsigned long)fin[6] << 8) | fin[12], 4);
	to64(&p, ((unsigned long)fin[1] << 16) | ((unsigned long)fin[7] << 8) | fin[13], 4);
	to64(&p, ((unsigned long)fin[2] << 16) | ((unsigned long)fin[8] << 8) | fin[14], 4);
	to64(&p, ((unsigned long)fin[3] << 16) | ((unsigned long)fin[9] << 8) | fin[15], 4);
	to64(&p, ((unsigned long)fin[4] << 16) | ((unsigned long)fin[10] << 8) | fin[5], 4);
	to64(&p, fin[11], 2);
	*p = '\0';
	ret = 0;
done:
	OPENSSL_cleanse(fin, sizeof(fin));
	EVP_MD_CTX_free(ctx);
	EVP_MD_CTX_free(c1);
	return ret;
}

enum pa_hash_result
pa_hash_verify(const char *password, size_t password_len, const char *hash,
	       bool allow_weak)
{
	char buf[64];
	enum pa_hash_result r;
	bool weak;

	if (pa_hash_check(hash, allow_weak, NULL) != 0)
		return PA_HASH_UNSUPPORTED;
	switch (hash_kind(hash, &weak)) {
	case K_CRYPT:
		return verify_crypt(password, password_len, hash);
	case K_ARGON2ID:
		return verify_argon2(password, password_len, hash, Argon2_id);
	case K_ARGON2I:
		return verify_argon2(password, password_len, hash, Argon2_i);
	case K_SHA1:
		return verify_sha1(password, password_len, hash);
	case K_APR1:
		if (apr1(password, password_len, hash, buf, sizeof(buf)) != 0)
			return PA_HASH_UNSUPPORTED;
		r = same(buf, hash) ? PA_HASH_MATCH : PA_HASH_MISMATCH;
		OPENSSL_cleanse(buf, sizeof(buf));
		return r;
	case K_NONE:
		break;
	}
	return PA_HASH_UNSUPPORTED;
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[128];

static void
dummy_init(void)
{
	char *h = NULL;

	if (pa_hash_make("proxyauthd dummy password", "bcrypt", 12, &h, NULL) == 0) {
		snprintf(dummy_hash, sizeof(dummy_hash), "%s", h);
		free(h);
	}
}

void
pa_hash_dummy_verify(const char *password, size_t password_len, const char *reference)
{
	if (reference == NULL || pa_hash_check(reference, true, NULL) != 0) {
		pthread_once(&dummy_once, dummy_init);
		reference = dummy_hash;
	}
	(void)pa_hash_verify(password, password_len, reference, true);
}

int
pa_hash_make(const char *password, const char *alg, int cost, char **out, const char **why)
{
	const char *dummy;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = NULL;
	const char *prefix;
	const char *res;
	int ret = -1;

	if (why == NULL)
		why = &dummy;
	*out = NULL;
	if (password == NULL || *password == '\0') {
		*why = "empty password";
		return -1;
	}
	if (strcmp(alg, "argon2id") == 0) {
		unsigned char salt[16];
		uint32_t t = cost > 0 ? (uint32_t)cost : 3, m = 65536, p = 1;
		size_t enclen = argon2_encodedlen(t, m, p, sizeof(salt), 32, Argon2_id);
		char *enc;

		if (t > PA_ARGON2_MAX_T) {
			*why = "argon2id cost (t) above the cap";
			return -1;
		}
		if (RAND_bytes(salt, sizeof(salt)) != 1 || (enc = malloc(enclen)) == NULL) {
			*why = "out of randomness or memory";
			return -1;
		}
		if (argon2id_hash_encoded(t, m, p, password, strlen(password), salt,
					  sizeof(salt), 32, enc, enclen) != ARGON2_OK) {
			free(enc);
			*why = "argon2 failed";
			return -1;
		}
		*out = enc;
		return 0;
	}
	if (strcmp(alg, "bcrypt") == 0) {
		prefix = "$2b$";
		if (cost == 0)
			cost = 12;
		if (cost < 4 || cost > PA_BCRYPT_MAX_COST) {
			*why = "bcrypt cost must be 4..15 (proxyauthd refuses more)";
			return -1;
		}
	} else if (strcmp(alg, "yescrypt") == 0) {
		prefix = "$y$";
		if (cost == 0)
			cost = 5;
		if (cost < 1 || cost > 8) {
			*why = "yescrypt cost must be 1..8 (proxyauthd refuses more)";
			return -1;
		}
	} else {
		*why = "unknown algorithm (bcrypt, yescrypt, argon2id)";
		return -1;
	}
	if (crypt_gensalt_rn(prefix, (unsigned long)cost, NULL, 0, setting,
			     sizeof(setting)) == NULL) {
		*why = "crypt_gensalt failed";
		return -1;
	}
	if ((cd = calloc(1, sizeof(*cd))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	res = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (res == NULL || res[0] == '*') {
		*why = "crypt failed";
		goto done;
	}
	if ((*out = strdup(res)) == NULL) {
		*why = "out of memory";
		goto done;
	}
	ret = 0;
done:
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return ret;
}
