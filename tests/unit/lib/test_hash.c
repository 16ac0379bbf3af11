/*
 * Unit tests for lib/hash.c: every accepted format verifies the right
 * password and refuses a wrong one, with hashes from three sources:
 *
 *   - fixed fixtures, generated once with htpasswd, openssl passwd and
 *     libxcrypt / libargon2 (password "fixture-pw"), so the test does not
 *     depend on the tools alone;
 *   - the real tools run at test time (htpasswd, openssl passwd), so a
 *     hash a user makes today is accepted;
 *   - pa_hash_make() itself.
 *
 * The policy is checked too: weak formats only with allow_weak, plaintext,
 * DES and unknown formats never, argon2 costs above the caps refused
 * without being computed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "hash.h"

#define FIXTURE_PW "fixture-pw"

static const char *
result_name(enum pa_hash_result r)
{
	switch (r) {
	case PA_HASH_MATCH: return "MATCH";
	case PA_HASH_MISMATCH: return "MISMATCH";
	case PA_HASH_UNSUPPORTED: return "UNSUPPORTED";
	}
	return "?";
}

static void
expect_verify(const char *desc, const char *password, const char *hash, bool allow_weak,
	      enum pa_hash_result want)
{
	enum pa_hash_result r = pa_hash_verify(password, strlen(password), hash, allow_weak);

	if (r != want)
		fail_msg("%s: verify('%s', %s, allow_weak=%d) = %s, want %s", desc, password,
			 hash, allow_weak, result_name(r), result_name(want));
}

/*
 * The full contract for one accepted hash of password: the right password
 * matches, wrong ones do not, and a weak format is refused unless allowed.
 */
static void
expect_format(const char *desc, const char *hash, const char *password, bool weak)
{
	char wrong[256];
	const char *why = NULL;
	size_t n = strlen(password);

	if (pa_hash_is_weak(hash) != weak)
		fail_msg("%s: pa_hash_is_weak(%s) = %d", desc, hash, !weak);
	if (pa_hash_check(hash, true, &why) != 0)
		fail_msg("%s: pa_hash_check(%s, allow_weak) refused: %s", desc, hash, why);
	if ((pa_hash_check(hash, false, &why) == 0) == weak)
		fail_msg("%s: pa_hash_check(%s) without allow_weak: wrong verdict", desc, hash);

	expect_verify(desc, password, hash, true, PA_HASH_MATCH);
	expect_verify(desc, password, hash, false, weak ? PA_HASH_UNSUPPORTED : PA_HASH_MATCH);

	/* Last character changed, one character short, one more, empty. */
	snprintf(wrong, sizeof(wrong), "%s", password);
	wrong[n - 1] ^= 1;
	expect_verify(desc, wrong, hash, true, PA_HASH_MISMATCH);
	snprintf(wrong, sizeof(wrong), "%.*s", (int)(n - 1), password);
	expect_verify(desc, wrong, hash, true, PA_HASH_MISMATCH);
	snprintf(wrong, sizeof(wrong), "%sx", password);
	expect_verify(desc, wrong, hash, true, PA_HASH_MISMATCH);
	expect_verify(desc, "", hash, true, PA_HASH_MISMATCH);
	expect_verify(desc, wrong, hash, false,
		      weak ? PA_HASH_UNSUPPORTED : PA_HASH_MISMATCH);
}

/* Made with the tools named, password FIXTURE_PW. */
static const struct fixture {
	const char *desc;
	const char *hash;
	bool weak;
} fixtures[] = {
	{ "htpasswd -B ($2y$)", "$2y$05$vquMNAuSC9gLxegJl9J0wuqrteBZIADUHUMaa3MS85ZeMZoTDTfDm", false },
	{ "libxcrypt $2a$", "$2a$05$UYhpIZdRIM4OANyzjLtzEeyFUb.wAu6XE0zznohN4B/NbvlxvsKU2", false },
	{ "libxcrypt $2b$", "$2b$05$THaJmRhC1wvfSOMMxAmiJeRTHvd0FxTRTaMEYx1oJG3ydz85lvtli", false },
	{ "libxcrypt $2y$", "$2y$05$ULzMJg1eNRA9f5B7MGq63eOWuO2z/Zhz9lwHTpp9Jvh6.K.0eBZ0u", false },
	{ "libxcrypt yescrypt", "$y$j7T$5LWo4VH8hSQadcWqQP.H.1$hRpmwCi0Cabepor7.oIdL0GMD4QMKysZWfw4fTV3LW6", false },
	{ "libxcrypt scrypt $7$ (N=2^10, r=8)",
	  "$7$86..../....pAuNiTsAlT0123$tp/A11g3p.32Y5ubmhVQbs2/ySJZXvqup7pQBiZd9IC", false },
	{ "openssl passwd -6",
	  "$6$fxsalt01$D.XYRMdi6PY8qj/M5zL2H9/rGlDf2cCdccqPkMfetMnVQTmHyDab/F2vgDIXQrGW05najZVnlbOmezldX8hyG/",
	  false },
	{ "htpasswd -5 (rounds=)",
	  "$6$rounds=5000$iGGfou.qEAG4eJ0T$A/UCAMKem5xN/Jubmbywz5P73mpP4iYwW0xZiIL6knpE89SmzgkJ.oZISx313daOtpLZ/sVFitOTIvcoCRjj.0",
	  false },
	{ "libxcrypt $6$ rounds=1000",
	  "$6$rounds=1000$AcoOfX45.A.WGuj6$6n8cUTCJhgO2LuK2z33wUZCcW.VEJqvrwiLcMlBoTKc1.W/CPaW908OA/5u.OnXQRy2sE81K/xcUub7Oj6HPR.",
	  false },
	{ "openssl passwd -5", "$5$fxsalt01$krfV2TnwgWBKz1Re.JkejKJ1MCGw5y/oD2sWAo0Iv15", false },
	{ "htpasswd -2", "$5$4gP704IzBwvn9TGY$IUuKnXth0QE7vSaUOto4VkMai3qYU7/vtcbCi8sWVB8", false },
	{ "libargon2 argon2id",
	  "$argon2id$v=19$m=1024,t=2,p=1$AwoRGB8mLTQ7QklQV15lbA$02i/Ocxugrpwpf7xAUqZhNKccCLhcNN4qUQr1bPIT9g",
	  false },
	{ "libargon2 argon2i",
	  "$argon2i$v=19$m=1024,t=2,p=1$AwoRGB8mLTQ7QklQV15lbA$fvza3265W/gksV3fiFQaMJqdQyfhUQ8w3xCxmsz3Gc8",
	  false },
	{ "htpasswd -m ($apr1$)", "$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/", true },
	{ "openssl passwd -apr1", "$apr1$fxsalt01$na0Jq/G.bSdRLiuSx1onZ0", true },
	{ "openssl passwd -1", "$1$fxsalt01$MEnsn4f9XB3LGmztxzZ1S0", true },
	{ "libxcrypt $1$", "$1$AcG1OL9L$IdULTQ8wEXYFHaJv.gNqa.", true },
	{ "htpasswd -s ({SHA})", "{SHA}p4FH8lGmmISKJSURfMrr0lhFS3E=", true },
};

static void
test_fixtures(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		expect_format(fixtures[i].desc, fixtures[i].hash, FIXTURE_PW, fixtures[i].weak);
}

static bool
tool_present(const char *name)
{
	const char *path = getenv("PATH");
	char buf[1024];

	if (path == NULL)
		path = "/usr/bin:/bin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
		if (n > 0 && access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

/* Runs cmd and returns the hash it printed (after "user:" for htpasswd),
 * or NULL when it failed. */
static char *
tool_hash(const char *cmd)
{
	char line[1024], *h, *nl;
	FILE *fp = popen(cmd, "r");
	int rc;

	if (fp == NULL)
		return NULL;
	line[0] = '\0';
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	while (fgetc(fp) != EOF)
		;
	rc = pclose(fp);
	if (rc != 0 || line[0] == '\0')
		return NULL;
	if ((nl = strchr(line, '\n')) != NULL)
		*nl = '\0';
	h = strncmp(line, "user:", 5) == 0 ? line + 5 : line;
	return strdup(h);
}

/* Passwords for the tool runs: short, longer than an MD5 block (the
 * $apr1$ loops), with a colon and with UTF-8.  No single quotes: they are
 * put on a shell command line in single quotes. */
static const char *const tool_passwords[] = {
	"pw",
	"correct horse battery staple, twice over",
	"with:colon and p\xc3\xa4ssw\xc3\xb6rd",
};

static const struct tool_case {
	const char *tool;
	const char *cmd;	/* the password is appended in single quotes */
	const char *prefix;
	bool weak;
	bool optional;		/* flag newer than some tool versions */
} tool_cases[] = {
	{ "htpasswd", "htpasswd -nbB -C 5 user", "$2y$05$", false, false },
	{ "htpasswd", "htpasswd -nbm user", "$apr1$", true, false },
	{ "htpasswd", "htpasswd -nbs user", "{SHA}", true, false },
	{ "htpasswd", "htpasswd -nb5 -r 5000 user", "$6$", false, true },
	{ "htpasswd", "htpasswd -nb2 user", "$5$", false, true },
	{ "openssl", "openssl passwd -6 -salt pAuNiT42", "$6$pAuNiT42$", false, false },
	{ "openssl", "openssl passwd -6", "$6$", false, false },
	{ "openssl", "openssl passwd -5 -salt pAuNiT42", "$5$pAuNiT42$", false, false },
	{ "openssl", "openssl passwd -5", "$5$", false, false },
	{ "openssl", "openssl passwd -1", "$1$", true, false },
	{ "openssl", "openssl passwd -apr1", "$apr1$", true, false },
	{ "openssl", "openssl passwd -apr1 -salt pAuNiT42", "$apr1$pAuNiT42$", true, false },
};

static void
test_tools(void **state)
{
	char cmd[512], desc[600];
	size_t i, j;
	int ran = 0;

	(void)state;
	for (i = 0; i < sizeof(tool_cases) / sizeof(tool_cases[0]); i++) {
		const struct tool_case *c = &tool_cases[i];
		if (!tool_present(c->tool)) {
			print_message("%s not installed: skipping '%s'\n", c->tool, c->cmd);
			continue;
		}
		for (j = 0; j < sizeof(tool_passwords) / sizeof(tool_passwords[0]); j++) {
			char *h;

			snprintf(cmd, sizeof(cmd), "%s '%s'", c->cmd, tool_passwords[j]);
			snprintf(desc, sizeof(desc), "%s", cmd);
			strncat(cmd, " 2>/dev/null", sizeof(cmd) - strlen(cmd) - 1);
			if ((h = tool_hash(cmd)) == NULL) {
				if (c->optional) {
					print_message("'%s' not supported by this %s\n", c->cmd,
						      c->tool);
					break;
				}
				fail_msg("%s: failed", desc);
			}
			if (strncmp(h, c->prefix, strlen(c->prefix)) != 0)
				fail_msg("%s: '%s' does not start with %s", desc, h, c->prefix);
			expect_format(desc, h, tool_passwords[j], c->weak);
			free(h);
			ran++;
		}
	}
	if (ran == 0)
		skip();
}

/* Hashes made by pa_hash_make at low cost verify like any other. */
static void
test_make_and_verify(void **state)
{
	static const struct {
		const char *alg;
		int cost;
		const char *prefix;
	} cases[] = {
		{ "bcrypt", 4, "$2b$04$" },
		{ "bcrypt", 5, "$2b$05$" },
		{ "yescrypt", 1, "$y$" },
		{ "argon2id", 1, "$argon2id$v=19$m=65536,t=1,p=1$" },
	};
	static const char *const passwords[] = { "s3cret", "with:colon and spaces",
						 "\xe6\x97\xa5\xe6\x9c\xac" };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* argon2id is made at its fixed 64 MiB: one password is enough. */
		size_t np = strcmp(cases[i].alg, "argon2id") == 0 ? 1 :
			sizeof(passwords) / sizeof(passwords[0]);
		for (j = 0; j < np; j++) {
			char *h1 = NULL, *h2 = NULL, desc[64];
			const char *why = NULL;

			if (pa_hash_make(passwords[j], cases[i].alg, cases[i].cost, &h1, &why) != 0)
				fail_msg("make %s: %s", cases[i].alg, why);
			assert_non_null(h1);
			if (strncmp(h1, cases[i].prefix, strlen(cases[i].prefix)) != 0)
				fail_msg("make %s cost %d: '%s' lacks %s", cases[i].alg,
					 cases[i].cost, h1, cases[i].prefix);
			snprintf(desc, sizeof(desc), "pa_hash_make %s", cases[i].alg);
			expect_format(desc, h1, passwords[j], false);

			/* Salted: the same password never gives the same hash. */
			assert_int_equal(pa_hash_make(passwords[j], cases[i].alg, cases[i].cost,
						      &h2, NULL), 0);
			assert_string_not_equal(h1, h2);
			free(h1);
			free(h2);
		}
	}
}

static void
test_make_refuses(void **state)
{
	static const struct {
		const char *password, *alg;
		int cost;
	} cases[] = {
		{ "", "bcrypt", 4 },
		{ "", "yescrypt", 1 },
		{ "", "argon2id", 1 },
		{ NULL, "bcrypt", 4 },
		{ "pw", "md5", 0 },
		{ "pw", "sha512", 0 },
		{ "pw", "des", 0 },
		{ "pw", "plain", 0 },
		{ "pw", "", 0 },
		{ "pw", "BCRYPT", 0 },
		{ "pw", "argon2i", 0 },
		{ "pw", "bcrypt", 3 },
		{ "pw", "bcrypt", 32 },
		{ "pw", "bcrypt", -1 },
		{ "pw", "yescrypt", 12 },
		{ "pw", "yescrypt", 9 },	/* over the cap proxyauthd verifies */
		{ "pw", "bcrypt", PA_BCRYPT_MAX_COST + 1 },
		{ "pw", "argon2id", PA_ARGON2_MAX_T + 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = (char *)"untouched";
		const char *why = NULL;

		if (pa_hash_make(cases[i].password, cases[i].alg, cases[i].cost, &out, &why) != -1)
			fail_msg("make('%s', %s, %d) accepted", cases[i].password ? cases[i].password : "NULL",
				 cases[i].alg, cases[i].cost);
		assert_null(out);
		assert_non_null(why);
	}
	/* why may be NULL. */
	{
		char *out = NULL;
		assert_int_equal(pa_hash_make("", "bcrypt", 4, &out, NULL), -1);
	}
}

/*
 * Never accepted, whatever allow_weak says, even when the "hash" would
 * match under some reading: plaintext equal to the password, DES of it.
 */
static void
test_never_supported(void **state)
{
	static const char *const hashes[] = {
		FIXTURE_PW,		/* plaintext, equal to the password */
		"secret",
		"abl9M1hdrb7nw",	/* DES crypt of FIXTURE_PW */
		"abJnggxhB/yWI",
		"_J9..CCCCXBrJUJV154M",	/* BSDi extended DES */
		"",
		"$9$abc$def",
		"$2x$05$UYhpIZdRIM4OANyzjLtzEeyFUb.wAu6XE0zznohN4B/NbvlxvsKU2",
		"$argon2d$v=19$m=1024,t=2,p=1$AwoRGB8mLTQ7QklQV15lbA$02i/Ocxugrpwpf7xAUqZhNKccCLhcNN4qUQr1bPIT9g",
		"$md5$rounds=904$abc$def",
		"$3$$8846f7eaee8fb117ad06bdd830b7586c",
		"{SSHA}p4FH8lGmmISKJSURfMrr0lhFS3E=",
		"{sha}p4FH8lGmmISKJSURfMrr0lhFS3E=",
		"*",
		"!",
		"*LK*",
		"$2y$05$short",		/* bcrypt prefix, broken body */
		"$y$",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		expect_verify(hashes[i], FIXTURE_PW, hashes[i], false, PA_HASH_UNSUPPORTED);
		expect_verify(hashes[i], FIXTURE_PW, hashes[i], true, PA_HASH_UNSUPPORTED);
		assert_false(pa_hash_is_weak(hashes[i]));
	}
	/* All but the last two are refused on their format alone; those two
	 * look like bcrypt / yescrypt and fail in the library instead. */
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]) - 2; i++) {
		const char *why = NULL;
		if (pa_hash_check(hashes[i], true, &why) != -1)
			fail_msg("pa_hash_check accepted '%s'", hashes[i]);
		assert_non_null(why);
	}
	assert_int_equal(pa_hash_check(NULL, true, NULL), -1);
	assert_int_equal(pa_hash_verify(FIXTURE_PW, 10, NULL, true), PA_HASH_UNSUPPORTED);
}

static void
test_too_long_hash(void **state)
{
	char h[1024];

	(void)state;
	snprintf(h, sizeof(h), "%s", fixtures[0].hash);
	memset(h + strlen(h), 'a', 600);
	h[strlen(fixtures[0].hash) + 600] = '\0';
	assert_int_equal(pa_hash_check(h, true, NULL), -1);
	expect_verify("over-long hash", FIXTURE_PW, h, true, PA_HASH_UNSUPPORTED);
}

static void
test_weak_policy(void **state)
{
	static const struct {
		const char *hash;
		bool weak;
	} cases[] = {
		{ "$apr1$x$y", true }, { "$1$x$y", true }, { "{SHA}x", true },
		{ "$2y$05$x", false }, { "$2a$05$x", false }, { "$2b$05$x", false },
		{ "$y$x", false }, { "$7$x", false }, { "$6$x", false }, { "$5$x", false },
		{ "$argon2id$x", false }, { "$argon2i$x", false },
		{ "secret", false }, { "", false }, { "$9$x", false },
	};
	const char *why = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (pa_hash_is_weak(cases[i].hash) != cases[i].weak)
			fail_msg("pa_hash_is_weak('%s') != %d", cases[i].hash, cases[i].weak);

	assert_int_equal(pa_hash_check("$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/", false, &why), -1);
	assert_non_null(strstr(why, "allow_weak_hashes"));
}

static double
elapsed_s(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* An argon2 hash with these parameters and a real salt and digest. */
static void
argon2_with(char *buf, size_t size, const char *type, const char *params)
{
	snprintf(buf, size, "$%s$v=19$%s$AwoRGB8mLTQ7QklQV15lbA$02i/Ocxugrpwpf7xAUqZhNKccCLhcNN4qUQr1bPIT9g",
		 type, params);
}

/*
 * A poisoned record cannot make the daemon do unbounded work: argon2
 * costs above the caps are refused by both check and verify, quickly.
 * Each over-cap case would take well over a second (or gigabytes) if it
 * were computed; refusing it takes microseconds.
 */
static void
test_argon2_caps(void **state)
{
	static const struct {
		const char *params;
		bool ok;
	} cases[] = {
		{ "m=131073,t=10,p=1", false },		/* m one over */
		{ "m=4194304,t=10,p=8", false },	/* 4 GiB */
		{ "m=4294967295,t=1,p=1", false },
		{ "m=99999999999999999999999,t=1,p=1", false },
		{ "m=131072,t=11,p=1", false },		/* t one over */
		{ "m=131072,t=4294967295,p=1", false },
		{ "m=131072,t=10,p=9", false },		/* p one over */
		{ "m=131072,t=10,p=255", false },
		{ "m=-1,t=1,p=1", false },
		{ "m=0,t=1,p=1", false },
		{ "m=1024,t=0,p=1", false },
		{ "m=1024,t=1,p=0", false },
		{ "t=1,p=1", false },			/* no m */
		{ "m=1024,p=1", false },
		{ "m=1024,t=1", false },
		{ "mm=1024,t=1,p=1", false },
		{ "m=131072,t=10,p=8", true },		/* exactly at the caps */
		{ "m=1024,t=2,p=1", true },
	};
	static const char *const types[] = { "argon2id", "argon2i" };
	struct timespec start;
	char h[512];
	size_t i, t;

	(void)state;
	for (t = 0; t < 2; t++) {
		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *why = NULL;
			double s;

			argon2_with(h, sizeof(h), types[t], cases[i].params);
			if ((pa_hash_check(h, true, &why) == 0) != cases[i].ok)
				fail_msg("pa_hash_check(%s): want %s", h,
					 cases[i].ok ? "accepted" : "refused");
			if (cases[i].ok)
				continue;	/* at the caps: valid, but not worth computing */
			assert_non_null(why);
			clock_gettime(CLOCK_MONOTONIC, &start);
			expect_verify(h, FIXTURE_PW, h, true, PA_HASH_UNSUPPORTED);
			s = elapsed_s(&start);
			if (s > 0.5)
				fail_msg("%s: took %.2f s: the hash was computed", h, s);
		}
	}
	/* The dummy verify falls back to its own hash, not to this one. */
	argon2_with(h, sizeof(h), "argon2id", "m=4194304,t=10,p=8");
	clock_gettime(CLOCK_MONOTONIC, &start);
	pa_hash_dummy_verify(FIXTURE_PW, 10, h);
	if (elapsed_s(&start) > 3.0)
		fail_msg("dummy verify computed an over-cap argon2 reference");

	/* The within-caps fixture still verifies (the cap is not "any argon2"). */
	argon2_with(h, sizeof(h), "argon2id", "m=1024,t=2,p=1");
	expect_verify("argon2id within caps", FIXTURE_PW, h, false, PA_HASH_MATCH);
}

/*
 * scrypt ($7$) and yescrypt ($y$) settings are decoded as libxcrypt does
 * and their memory (N * r * 128 bytes), parallelism and time capped: a
 * stored "$7$K6..." alone asks for 4 GiB and 12 s.  Refused hashes are
 * refused at once by check and by verify; within the caps they verify.
 */
static void
test_scrypt_caps(void **state)
{
	static const struct {
		const char *hash;
		bool ok;
	} cases[] = {
		/* the scrypt paper's vector: N=16384, r=8, p=1 */
		{ "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D", true },
		/* N=2^22, r=8: 4 GiB */
		{ "$7$K6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D", false },
		/* p=16 */
		{ "$7$C6..../E...SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D", false },
		/* N=2^15, r=32 (at the memory cap), p=8: 8x the work */
		{ "$7$DU..../6...SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9YDtcDdKvEqHJLV8D", false },
		/* yescrypt's WORM flavour with p=8, t=10: 10 s within each
		 * separate cap */
		{ "$y$/CT047$QWsmoRUHB5diAJ2hJ3FNI1$QU0cJxQfHrCl.OeZCahOusZ.kTX2jnDwxrVqW1TLQl/", false },
		{ "$7$C6.$short", false },
		/* yescrypt cost 5 (N=4096, r=32) and cost 8 (at the cap) */
		{ "$y$j9T$QWsmoRUHB5diAJ2hJ3FNI1$QU0cJxQfHrCl.OeZCahOusZ.kTX2jnDwxrVqW1TLQl/", true },
		{ "$y$jCT$S.dnajmdcHKw9MaFQOt2q.$L1nRCjXsGVqKN7d9TrLdugRiy8RMq5n/innm5swjLfD", true },
		/* cost 11: N=2^18, r=32, 1 GiB */
		{ "$y$jFT$fr0KrAHE9ORsGduQEIBkx1$qlvmEcw6RlYH/48pnNfs.qx.ulWE1ST8D2X5evh.eW3", false },
		/* a ROM (have bit 8) */
		{ "$y$j9T5.$QWsmoRUHB5diAJ2hJ3FNI1$QU0cJxQfHrCl.OeZCahOusZ.kTX2jnDwxrVqW1TLQl/", false },
		/* t = 63 (have bit 2, t digit 'z') */
		{ "$y$j9T0z$QWsmoRUHB5diAJ2hJ3FNI1$QU0cJxQfHrCl.OeZCahOusZ.kTX2jnDwxrVqW1TLQl/", false },
		{ "$y$j9", false },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		int rc = pa_hash_check(cases[i].hash, false, &why);

		if ((rc == 0) != cases[i].ok)
			fail_msg("%s: check %s (%s)", cases[i].hash, rc == 0 ? "accepted" : "refused",
				 why != NULL ? why : "");
		if (!cases[i].ok) {
			uint64_t t0 = pa_now_us();

			assert_int_equal(pa_hash_verify("pw", 2, cases[i].hash, false),
					 PA_HASH_UNSUPPORTED);
			assert_true(pa_now_us() - t0 < 100000);
		}
	}
	/* Within the caps they are real hashes that verify. */
	assert_int_equal(pa_hash_verify("pleaseletmein", 13, cases[0].hash, false),
			 PA_HASH_MATCH);
	assert_int_equal(pa_hash_verify("pleaseletmeim", 13, cases[0].hash, false),
			 PA_HASH_MISMATCH);
	assert_int_equal(pa_hash_verify("pw", 2, "$y$j9T$QWsmoRUHB5diAJ2hJ3FNI1$"
					 "QU0cJxQfHrCl.OeZCahOusZ.kTX2jnDwxrVqW1TLQl/", false),
			 PA_HASH_MATCH);
	/* What proxyauth-passwd makes at yescrypt's highest cost passes. */
	{
		char *out = NULL;
		const char *why = NULL;

		assert_int_equal(pa_hash_make("pw", "yescrypt", 8, &out, &why), 0);
		assert_int_equal(pa_hash_check(out, false, NULL), 0);
		free(out);
	}
}

/* Refusing an over-cap hash in pa_hash_verify is immediate. */
static void
test_argon2_caps_fast(void **state)
{
	char h[512];
	struct timespec start;
	double s;
	int i;

	(void)state;
	argon2_with(h, sizeof(h), "argon2id", "m=131073,t=10,p=8");
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < 10; i++)
		expect_verify("over the caps", FIXTURE_PW, h, true, PA_HASH_UNSUPPORTED);
	s = elapsed_s(&start);
	if (s > 0.2)
		fail_msg("10 refusals took %.3f s", s);
}

/* The password is the counted bytes: an embedded NUL or bytes past len
 * must never make a prefix or a longer string verify. */
static void
test_password_is_counted(void **state)
{
	static const char with_nul[] = FIXTURE_PW "\0tail";
	static const char longer[] = FIXTURE_PW "tail";
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		enum pa_hash_result r;

		r = pa_hash_verify(with_nul, sizeof(with_nul) - 1, fixtures[i].hash, true);
		if (r == PA_HASH_MATCH)
			fail_msg("%s: password with NUL matched its prefix", fixtures[i].desc);
		r = pa_hash_verify(longer, strlen(FIXTURE_PW), fixtures[i].hash, true);
		if (r != PA_HASH_MATCH)
			fail_msg("%s: counted password (len %zu of a longer buffer) gave %s",
				 fixtures[i].desc, strlen(FIXTURE_PW), result_name(r));
	}
}

/* The dummy verify must survive any reference and do real work. */
static void
test_dummy_verify(void **state)
{
	static const char *const refs[] = {
		NULL, "secret", "$2y$05$short",
		"$apr1$LRRnjvpk$zCsZXWuqEbFwiylqHHoK6/",
		"$2b$05$THaJmRhC1wvfSOMMxAmiJeRTHvd0FxTRTaMEYx1oJG3ydz85lvtli",
	};
	struct timespec start;
	size_t i;
	double s;

	(void)state;
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		pa_hash_dummy_verify(FIXTURE_PW, 10, refs[i]);
	pa_hash_dummy_verify("", 0, NULL);
	/* With no usable reference it costs a bcrypt at cost 12, not nothing:
	 * an unknown user must not answer measurably faster than a known. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	pa_hash_dummy_verify("anything", 8, NULL);
	s = elapsed_s(&start);
	if (s < 0.01)
		fail_msg("dummy verify took %.4f s: no hash work done", s);
}

/* bcrypt and SHA-crypt costs above the caps are refused without being
 * computed (a cost-31 bcrypt would take days); costs at the cap pass. */
static void
test_crypt_cost_caps(void **state)
{
	static const char *const refused[] = {
		"$2b$31$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"$2y$16$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
		"$6$rounds=999999999$saltsalt$x",
		"$5$rounds=1000001$saltsalt$x",
	};
	const char *why = NULL;
	size_t i;
	uint64_t t0;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		why = NULL;
		if (pa_hash_check(refused[i], false, &why) == 0)
			fail_msg("%s accepted", refused[i]);
		assert_non_null(why);
		t0 = pa_now_us();
		assert_int_equal(pa_hash_verify("pw", 2, refused[i], false), PA_HASH_UNSUPPORTED);
		assert_true(pa_now_us() - t0 < 100000);
	}
	assert_int_equal(pa_hash_check("$2b$15$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
				       false, &why), 0);
	assert_int_equal(pa_hash_check("$6$rounds=1000000$saltsalt$x", false, &why), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_tools),
		cmocka_unit_test(test_make_and_verify),
		cmocka_unit_test(test_make_refuses),
		cmocka_unit_test(test_never_supported),
		cmocka_unit_test(test_too_long_hash),
		cmocka_unit_test(test_weak_policy),
		cmocka_unit_test(test_argon2_caps),
		cmocka_unit_test(test_scrypt_caps),
		cmocka_unit_test(test_argon2_caps_fast),
		cmocka_unit_test(test_crypt_cost_caps),
		cmocka_unit_test(test_password_is_counted),
		cmocka_unit_test(test_dummy_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
