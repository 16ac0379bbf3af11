/*
 * Unit tests for lib/negotiate_token.c: which Negotiate header values
 * reach GSS-API (only a base64 SPNEGO InitialContextToken), and the
 * reason given for each that does not.  Tokens are built here byte by
 * byte and encoded with OpenSSL's EVP_EncodeBlock, not with the parser's
 * own decoder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "negotiate_token.h"

static unsigned char buf[PA_NEGOTIATE_TOKEN_MAX];

/* "<scheme> <base64 of der[0..n)>" into out. */
static size_t
header(const char *scheme, const unsigned char *der, size_t n, char *out, size_t len)
{
	size_t k = (size_t)snprintf(out, len, "%s", scheme);

	assert_true(k + (n + 2) / 3 * 4 + 1 <= len);
	return k + (size_t)EVP_EncodeBlock((unsigned char *)out + k, der, (int)n);
}

static enum pa_neg_status
parse(const char *v, size_t n, size_t *len, const char **why)
{
	return pa_negotiate_parse(v, n, buf, sizeof(buf), len, why);
}

static const unsigned char spnego_min[] = { 0x60, 0x0f, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05,
					    0x05, 0x02, 0xa0, 0x05, 0x30, 0x03, 0xa0, 0x01,
					    0x00 };

static void
test_spnego_accepted(void **state)
{
	char h[256];
	size_t n, len = 0;
	const char *why = "x";

	(void)state;
	n = header("Negotiate ", spnego_min, sizeof(spnego_min), h, sizeof(h));
	assert_int_equal(parse(h, n, &len, &why), PA_NEG_OK);
	assert_int_equal(len, sizeof(spnego_min));
	assert_memory_equal(buf, spnego_min, sizeof(spnego_min));
	n = header("nEGOTIATE   ", spnego_min, sizeof(spnego_min), h, sizeof(h));
	assert_int_equal(parse(h, n, &len, NULL), PA_NEG_OK);
	/* padding left out is accepted, as for Basic */
	assert_int_equal(h[n - 1], '=');
	assert_int_equal(parse(h, n - 1, &len, NULL), PA_NEG_OK);
	assert_int_equal(len, sizeof(spnego_min));
}

static void
test_other_schemes(void **state)
{
	size_t len = 5;

	(void)state;
	assert_int_equal(parse(NULL, 0, &len, NULL), PA_NEG_NOT_NEGOTIATE);
	assert_int_equal(len, 0);
	assert_int_equal(parse("Basic YTpi", 10, &len, NULL), PA_NEG_NOT_NEGOTIATE);
	assert_int_equal(parse("NegotiateX abc", 14, &len, NULL), PA_NEG_NOT_NEGOTIATE);
	assert_int_equal(parse("Negotiate\tYA==", 14, &len, NULL), PA_NEG_NOT_NEGOTIATE);
	assert_int_equal(parse("Negotiat", 8, &len, NULL), PA_NEG_NOT_NEGOTIATE);
}

static void
expect_refused(const char *v, size_t n, const char *want)
{
	size_t len = 5;
	const char *why = NULL;

	assert_int_equal(parse(v, n, &len, &why), PA_NEG_REFUSED);
	assert_int_equal(len, 0);
	assert_non_null(why);
	if (strstr(why, want) == NULL)
		fail_msg("reason '%s' lacks '%s'", why, want);
}

static void
test_refused(void **state)
{
	unsigned char der[64];
	char h[256], *big;
	size_t n;

	(void)state;
	expect_refused("Negotiate", 9, "without token");
	expect_refused("Negotiate    ", 13, "without token");
	expect_refused("Negotiate YA8G*", 15, "bad base64");
	expect_refused("Negotiate YA8G BisG", 19, "bad base64");
	expect_refused("Negotiate TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==", 66,
		       "NTLM");
	/* negTokenResp: a second round */
	expect_refused("Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==", 42, "continuation");
	/* the Kerberos OID instead of SPNEGO's */
	memcpy(der, "\x60\x12\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x01\x00\x6e\x03\x30\x01\x00",
	       20);
	n = header("Negotiate ", der, 20, h, sizeof(h));
	expect_refused(h, n, "raw Kerberos");
	/* an unknown mechanism */
	memcpy(der, spnego_min, sizeof(spnego_min));
	der[9] = 0x03;
	n = header("Negotiate ", der, sizeof(spnego_min), h, sizeof(h));
	expect_refused(h, n, "other than SPNEGO");
	/* outer length one too long, one too short, trailing byte */
	memcpy(der, spnego_min, sizeof(spnego_min));
	der[1] = 0x10;
	n = header("Negotiate ", der, sizeof(spnego_min), h, sizeof(h));
	expect_refused(h, n, "initial token");
	der[1] = 0x0e;
	n = header("Negotiate ", der, sizeof(spnego_min), h, sizeof(h));
	expect_refused(h, n, "initial token");
	/* a long-form length that is not the shortest */
	memcpy(der, "\x60\x81\x0f", 3);
	memcpy(der + 3, spnego_min + 2, sizeof(spnego_min) - 2);
	n = header("Negotiate ", der, sizeof(spnego_min) + 1, h, sizeof(h));
	expect_refused(h, n, "initial token");
	/* only the OID */
	memcpy(der, "\x60\x08\x06\x06\x2b\x06\x01\x05\x05\x02", 10);
	n = header("Negotiate ", der, 10, h, sizeof(h));
	expect_refused(h, n, "without content");
	/* an OID length past the end */
	memcpy(der, "\x60\x03\x06\x7f\x2b", 5);
	n = header("Negotiate ", der, 5, h, sizeof(h));
	expect_refused(h, n, "mechanism OID");
	/* over-long header */
	big = malloc(PA_NEGOTIATE_HEADER_MAX + 2);
	assert_non_null(big);
	memcpy(big, "Negotiate ", 10);
	memset(big + 10, 'A', PA_NEGOTIATE_HEADER_MAX - 8);
	expect_refused(big, PA_NEGOTIATE_HEADER_MAX + 2, "too long");
	free(big);
}

static void
test_long_token(void **state)
{
	/* A token of several KiB (an AD ticket with a PAC) with a three-byte
	 * long-form length. */
	size_t total = 9000, hl = 4, n, len = 0;
	unsigned char *der = calloc(1, total);
	char *h = malloc(total * 2);

	(void)state;
	assert_non_null(der);
	assert_non_null(h);
	der[0] = 0x60;
	der[1] = 0x82;
	der[2] = (unsigned char)((total - hl) >> 8);
	der[3] = (unsigned char)((total - hl) & 0xff);
	memcpy(der + hl, "\x06\x06\x2b\x06\x01\x05\x05\x02", 8);
	der[hl + 8] = 0xa0;
	n = header("Negotiate ", der, total, h, total * 2);
	assert_int_equal(parse(h, n, &len, NULL), PA_NEG_OK);
	assert_int_equal(len, total);
	free(der);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spnego_accepted),
		cmocka_unit_test(test_other_schemes),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_long_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
