/*
 * Unit tests for lib/credentials.c: every rule of SPEC section 3 on how a
 * Basic credentials header is read.  Tokens are made with OpenSSL's
 * EVP_EncodeBlock (not with the parser's own decoder), so a bug shared by
 * encoder and decoder cannot hide.  Every case checks the status, and for
 * anything but OK / EMPTY_PASSWORD that the output struct stays empty:
 * what is not well-formed must never reach a backend.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credentials.h"

#define OK	PA_CRED_OK
#define MISSING	PA_CRED_MISSING
#define BAD	PA_CRED_MALFORMED
#define EMPTYPW	PA_CRED_EMPTY_PASSWORD

/* A string literal with its length, so cases may hold NUL bytes. */
#define T(s) s, sizeof(s) - 1

static const char *
status_name(enum pa_cred_status st)
{
	switch (st) {
	case PA_CRED_OK: return "OK";
	case PA_CRED_MISSING: return "MISSING";
	case PA_CRED_MALFORMED: return "MALFORMED";
	case PA_CRED_EMPTY_PASSWORD: return "EMPTY_PASSWORD";
	}
	return "?";
}

/*
 * Parses hdr[0..hlen) and checks the outcome.  The output struct is
 * filled with junk first, so a parser that forgets to clear it is caught.
 */
static void
expect(const char *desc, const char *hdr, size_t hlen, enum pa_cred_status want,
       const char *user, const char *password)
{
	struct pa_credentials c;
	const char *why = "(not set)";
	enum pa_cred_status st;

	memset(&c, 'X', sizeof(c));
	st = pa_credentials_parse(hdr, hlen, &c, &why);
	if (st != want)
		fail_msg("%s: got %s, want %s (why: %s)", desc, status_name(st),
			 status_name(want), why != NULL ? why : "NULL");
	switch (want) {
	case PA_CRED_OK:
		if (strcmp(c.user, user) != 0 || c.user_len != strlen(user))
			fail_msg("%s: user '%s' (%zu), want '%s'", desc, c.user, c.user_len, user);
		if (strcmp(c.password, password) != 0 || c.password_len != strlen(password))
			fail_msg("%s: password mismatch (len %zu, want %zu)", desc,
				 c.password_len, strlen(password));
		break;
	case PA_CRED_EMPTY_PASSWORD:
		if (strcmp(c.user, user) != 0 || c.user_len != strlen(user))
			fail_msg("%s: user '%s', want '%s'", desc, c.user, user);
		if (c.password[0] != '\0' || c.password_len != 0)
			fail_msg("%s: password not empty", desc);
		break;
	default:
		if (c.user[0] != '\0' || c.user_len != 0 || c.password[0] != '\0' ||
		    c.password_len != 0)
			fail_msg("%s: output not cleared on %s", desc, status_name(st));
		if (why == NULL || why[0] == '\0')
			fail_msg("%s: no reason given", desc);
		break;
	}
}

/* "<scheme><spaces x ' '><base64(text)>" into a new string; pad = false
 * strips the '=' padding.  *len gets its length. */
static char *
make_header(const char *scheme, size_t spaces, const void *text, size_t tlen, bool pad,
	    size_t *len)
{
	size_t slen = strlen(scheme), cap = slen + spaces + (tlen + 2) / 3 * 4 + 1;
	char *h = malloc(cap);
	int n;

	assert_non_null(h);
	memcpy(h, scheme, slen);
	memset(h + slen, ' ', spaces);
	n = EVP_EncodeBlock((unsigned char *)h + slen + spaces, text, (int)tlen);
	assert_true(n >= 0);
	*len = slen + spaces + (size_t)n;
	while (!pad && *len > 0 && h[*len - 1] == '=')
		(*len)--;
	h[*len] = '\0';
	return h;
}

/* Header strings written out by hand: scheme, separator, alphabet, padding. */
static const struct header_case {
	const char *desc;
	const char *hdr;
	enum pa_cred_status want;
	const char *user, *password;
} header_cases[] = {
	{ "Basic", "Basic YWxpY2U6c2VjcmV0", OK, "alice", "secret" },
	{ "lower-case scheme", "basic YWxpY2U6c2VjcmV0", OK, "alice", "secret" },
	{ "upper-case scheme", "BASIC YWxpY2U6c2VjcmV0", OK, "alice", "secret" },
	{ "mixed-case scheme", "BaSiC YWxpY2U6c2VjcmV0", OK, "alice", "secret" },
	{ "two spaces", "Basic  YWxpY2U6c2VjcmV0", OK, "alice", "secret" },
	{ "seven spaces", "Basic       YWxpY2U6c2VjcmV0", OK, "alice", "secret" },
	{ "tab for space", "Basic\tYWxpY2U6c2VjcmV0", BAD, NULL, NULL },
	{ "space then tab", "Basic \tYWxpY2U6c2VjcmV0", BAD, NULL, NULL },
	{ "comma for space", "Basic,YWxpY2U6c2VjcmV0", BAD, NULL, NULL },
	{ "no separator", "BasicYWxpY2U6c2VjcmV0", MISSING, NULL, NULL },

	/* Padding may be left out, but what is there must be right. */
	{ "one '=' present", "Basic YWxpY2U6c2VjcmU=", OK, "alice", "secre" },
	{ "one '=' left out", "Basic YWxpY2U6c2VjcmU", OK, "alice", "secre" },
	{ "two '=' present", "Basic YWxpY2U6c2Vjcg==", OK, "alice", "secr" },
	{ "two '=' left out", "Basic YWxpY2U6c2Vjcg", OK, "alice", "secr" },
	{ "one of two '='", "Basic YWxpY2U6c2Vjcg=", BAD, NULL, NULL },
	{ "'=' on a full group", "Basic YWxpY2U6c2VjcmV0=", BAD, NULL, NULL },
	{ "'==' on a full group", "Basic YWxpY2U6c2VjcmV0==", BAD, NULL, NULL },
	{ "'====' on a full group", "Basic YWxpY2U6c2VjcmV0====", BAD, NULL, NULL },
	{ "'==' where one is due", "Basic YWxpY2U6c2VjcmU==", BAD, NULL, NULL },
	{ "'===' where two are due", "Basic YWxpY2U6c2Vjcg===", BAD, NULL, NULL },
	{ "'=' inside a group", "Basic YWxp=Y2U6c2VjcmV0", BAD, NULL, NULL },
	{ "'=' between groups", "Basic YWxpY2U6=c2VjcmV0", BAD, NULL, NULL },
	{ "'=' first", "Basic =YWxpY2U6c2VjcmV0", BAD, NULL, NULL },
	{ "data after padding", "Basic YWxpY2U6c2Vjcg==YWxp", BAD, NULL, NULL },
	{ "padding only", "Basic ==", BAD, NULL, NULL },
	{ "four '='", "Basic ====", BAD, NULL, NULL },
	{ "one char", "Basic Y", BAD, NULL, NULL },
	{ "5 chars (4n+1)", "Basic YWxpY", BAD, NULL, NULL },

	/* Non-zero padding bits: another encoding of the same bytes. */
	{ "zero bits, 2 left", "Basic dTpwdw==", OK, "u", "pw" },
	{ "zero bits, 2 left, no '='", "Basic dTpwdw", OK, "u", "pw" },
	{ "non-zero bits, 2 left", "Basic dTpwdx==", BAD, NULL, NULL },
	{ "non-zero bits, 2 left, no '='", "Basic dTpwdx", BAD, NULL, NULL },
	{ "zero bits, 3 left", "Basic dTpwd2Q=", OK, "u", "pwd" },
	{ "zero bits, 3 left, no '='", "Basic dTpwd2Q", OK, "u", "pwd" },
	{ "non-zero bits, 3 left", "Basic dTpwd2R=", BAD, NULL, NULL },
	{ "non-zero bits, 3 left, no '='", "Basic dTpwd2R", BAD, NULL, NULL },
	{ "YR== (bits set)", "Basic YR==", BAD, NULL, NULL },

	/* The standard alphabet only. */
	{ "'+' and '/'", "Basic dTo+Pj4/", OK, "u", ">>>?" },
	{ "URL-safe '-' and '_'", "Basic dTo-Pj4_", BAD, NULL, NULL },
	{ "URL-safe '-'", "Basic dTo-Pj4/", BAD, NULL, NULL },
	{ "URL-safe '_'", "Basic dTo+Pj4_", BAD, NULL, NULL },
	{ "'.'", "Basic YWxpY2U6c2VjcmV0.", BAD, NULL, NULL },
	{ "'*'", "Basic YWxpY2U6*2VjcmV0", BAD, NULL, NULL },
	{ "non-ASCII byte", "Basic YWxpY2U6c2Vjcm\xc3\xa9", BAD, NULL, NULL },

	/* Whitespace inside or after the token. */
	{ "space inside", "Basic YWxp Y2U6c2VjcmV0", BAD, NULL, NULL },
	{ "space before '='", "Basic YWxpY2U6c2Vjcg ==", BAD, NULL, NULL },
	{ "trailing space", "Basic YWxpY2U6c2VjcmV0 ", BAD, NULL, NULL },
	{ "trailing tab", "Basic YWxpY2U6c2VjcmV0\t", BAD, NULL, NULL },
	{ "trailing CRLF", "Basic YWxpY2U6c2VjcmV0\r\n", BAD, NULL, NULL },
	{ "trailing LF", "Basic YWxpY2U6c2VjcmV0\n", BAD, NULL, NULL },
	{ "second token", "Basic YWxpY2U6c2VjcmV0 YWxpY2U6c2VjcmV0", BAD, NULL, NULL },

	/* Other schemes are no credentials at all (deny with challenge). */
	{ "Bearer", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", MISSING, NULL, NULL },
	{ "Digest", "Digest username=\"alice\", realm=\"r\", nonce=\"n\"", MISSING, NULL, NULL },
	{ "Basicx", "Basicx YWxpY2U6c2VjcmV0", MISSING, NULL, NULL },
	{ "Basi", "Basi YWxpY2U6c2VjcmV0", MISSING, NULL, NULL },
	{ "Negotiate", "Negotiate YWxpY2U6c2VjcmV0", MISSING, NULL, NULL },
	{ "empty value", "", MISSING, NULL, NULL },

	/* Basic without a usable token. */
	{ "Basic alone", "Basic", BAD, NULL, NULL },
	{ "Basic and a space", "Basic ", BAD, NULL, NULL },
	{ "Basic and spaces", "Basic    ", BAD, NULL, NULL },

	/* The decoded text. */
	{ "no colon", "Basic YWxpY2U=", BAD, NULL, NULL },
	{ "empty user", "Basic OnNlY3JldA==", BAD, NULL, NULL },
	{ "colon only", "Basic Og==", BAD, NULL, NULL },
	{ "colons in the password", "Basic YTpiOmM=", OK, "a", "b:c" },
	{ "empty password", "Basic YWxpY2U6", EMPTYPW, "alice", NULL },
};

static void
test_header_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		const struct header_case *c = &header_cases[i];
		expect(c->desc, c->hdr, strlen(c->hdr), c->want, c->user, c->password);
	}
}

/* Decoded texts, each encoded here with and without padding and after one
 * or three spaces: the verdict must not depend on the encoding. */
static const struct text_case {
	const char *desc;
	const char *text;
	size_t len;
	enum pa_cred_status want;
	const char *user, *password;
} text_cases[] = {
	{ "plain", T("alice:secret"), OK, "alice", "secret" },
	{ "split at the first colon", T("a:b:c"), OK, "a", "b:c" },
	{ "password of colons", T("u:::"), OK, "u", "::" },
	{ "spaces kept", T(" a b : c d "), OK, " a b ", " c d " },
	{ "empty password", T("alice:"), EMPTYPW, "alice", NULL },
	{ "no colon", T("alice"), BAD, NULL, NULL },
	{ "empty user", T(":secret"), BAD, NULL, NULL },
	{ "empty user and password", T(":"), BAD, NULL, NULL },
	{ "empty text", T(""), BAD, NULL, NULL },

	/* Valid multibyte UTF-8 is a name like any other. */
	{ "jürgen", T("j\xc3\xbcrgen:pw"), OK, "j\xc3\xbcrgen", "pw" },
	{ "日本", T("\xe6\x97\xa5\xe6\x9c\xac:pw"), OK, "\xe6\x97\xa5\xe6\x9c\xac", "pw" },
	{ "emoji password", T("u:\xf0\x9f\x98\x80"), OK, "u", "\xf0\x9f\x98\x80" },
	{ "U+10FFFF", T("u:\xf4\x8f\xbf\xbf"), OK, "u", "\xf4\x8f\xbf\xbf" },
	{ "no-break space U+00A0", T("a\xc2\xa0" "b:pw"), OK, "a\xc2\xa0" "b", "pw" },

	/* Control characters, anywhere. */
	{ "NUL in user", T("al\0ce:pw"), BAD, NULL, NULL },
	{ "NUL in password", T("alice:p\0w"), BAD, NULL, NULL },
	{ "NUL at the end", T("alice:pw\0"), BAD, NULL, NULL },
	{ "CR in password", T("alice:pw\r"), BAD, NULL, NULL },
	{ "LF in user", T("ali\nce:pw"), BAD, NULL, NULL },
	{ "CRLF log forgery", T("x\r\nlevel=error:pw"), BAD, NULL, NULL },
	{ "SOH", T("alice:\x01pw"), BAD, NULL, NULL },
	{ "tab", T("alice:p\tw"), BAD, NULL, NULL },
	{ "ESC", T("\x1b[31malice:pw"), BAD, NULL, NULL },
	{ "US 0x1f", T("alice\x1f:pw"), BAD, NULL, NULL },
	{ "DEL", T("alice:p\x7fw"), BAD, NULL, NULL },
	{ "C1 U+0085 in user", T("alice\xc2\x85:pw"), BAD, NULL, NULL },
	{ "C1 U+0080 in password", T("alice:pw\xc2\x80"), BAD, NULL, NULL },
	{ "C1 U+009F", T("alice:\xc2\x9fpw"), BAD, NULL, NULL },

	/* Not UTF-8. */
	{ "lone 0xff in user", T("alice\xff:pw"), BAD, NULL, NULL },
	{ "lone 0xff in password", T("alice:pw\xff"), BAD, NULL, NULL },
	{ "Latin-1 ü", T("j\xfcrgen:pw"), BAD, NULL, NULL },
	{ "overlong '/' C0 AF", T("\xc0\xaf:pw"), BAD, NULL, NULL },
	{ "overlong E0 80 AF", T("u:\xe0\x80\xafpw"), BAD, NULL, NULL },
	{ "surrogate ED A0 80", T("\xed\xa0\x80:pw"), BAD, NULL, NULL },
	{ "above U+10FFFF", T("u:\xf4\x90\x80\x80"), BAD, NULL, NULL },
	{ "truncated sequence", T("\xe6\x97:pw"), BAD, NULL, NULL },
	{ "truncated at the end", T("u:pw\xe6\x97"), BAD, NULL, NULL },
	{ "lone continuation", T("\x80:pw"), BAD, NULL, NULL },
	{ "five-byte form", T("\xf8\x88\x80\x80\x80:pw"), BAD, NULL, NULL },
};

static void
test_text_table(void **state)
{
	static const struct {
		size_t spaces;
		bool pad;
	} forms[] = { { 1, true }, { 1, false }, { 3, true }, { 3, false } };
	char desc[160];
	size_t i, f, hlen;

	(void)state;
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		const struct text_case *c = &text_cases[i];
		for (f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
			char *h = make_header("Basic", forms[f].spaces, c->text, c->len,
					      forms[f].pad, &hlen);
			snprintf(desc, sizeof(desc), "%s (%zu space(s), %s)", c->desc,
				 forms[f].spaces, forms[f].pad ? "padded" : "unpadded");
			expect(desc, h, hlen, c->want, c->user, c->password);
			free(h);
		}
	}
}

/* Builds user (ulen bytes of uc) ':' password (plen bytes of pc). */
static char *
make_text(char uc, size_t ulen, char pc, size_t plen, size_t *len)
{
	char *t = malloc(ulen + 1 + plen + 1);

	assert_non_null(t);
	memset(t, uc, ulen);
	t[ulen] = ':';
	memset(t + ulen + 1, pc, plen);
	t[ulen + 1 + plen] = '\0';
	*len = ulen + 1 + plen;
	return t;
}

static void
size_case(const char *desc, size_t ulen, size_t plen, enum pa_cred_status want)
{
	size_t tlen, hlen;
	char *text = make_text('u', ulen, 'p', plen, &tlen);
	char *h = make_header("Basic", 1, text, tlen, true, &hlen);

	text[ulen] = '\0';
	expect(desc, h, hlen, want, text, text + ulen + 1);
	free(h);
	free(text);
}

static void
test_user_and_password_sizes(void **state)
{
	(void)state;
	size_case("user of 256 bytes", PA_USER_MAX, 8, OK);
	size_case("user of 257 bytes", PA_USER_MAX + 1, 8, BAD);
	size_case("password of 1024 bytes", 5, PA_PASSWORD_MAX, OK);
	size_case("password of 1025 bytes", 5, PA_PASSWORD_MAX + 1, BAD);
	size_case("both at their maximum", PA_USER_MAX, PA_PASSWORD_MAX, OK);
	size_case("both one over", PA_USER_MAX + 1, PA_PASSWORD_MAX + 1, BAD);
}

/* The user limit counts bytes, not characters: 128 x "ü" is 256 bytes. */
static void
test_user_limit_is_bytes(void **state)
{
	char text[600], *h;
	size_t i, pos = 0, hlen;

	(void)state;
	for (i = 0; i < 128; i++) {
		memcpy(text + pos, "\xc3\xbc", 2);
		pos += 2;
	}
	text[pos] = '\0';
	memcpy(text + pos, ":pw", 4);
	h = make_header("Basic", 1, text, pos + 3, true, &hlen);
	text[pos] = '\0';
	expect("128 x ü (256 bytes)", h, hlen, OK, text, "pw");
	free(h);

	memcpy(text + pos, "a:pw", 5);
	h = make_header("Basic", 1, text, pos + 4, true, &hlen);
	expect("128 x ü + 'a' (257 bytes)", h, hlen, BAD, NULL, NULL);
	free(h);
}

/*
 * A header of exactly PA_HEADER_MAX bytes is read; one more byte is
 * malformed.  The token for "u:" + 1024 bytes of password is 1368 chars
 * (1026 bytes, 342 groups); the rest is made up with spaces after the
 * scheme, which the parser must skip however many there are.
 */
static void
test_header_size_limit(void **state)
{
	size_t tlen, hlen, token;
	char *text = make_text('u', 1, 'p', PA_PASSWORD_MAX, &tlen);
	char *h;

	(void)state;
	token = (tlen + 2) / 3 * 4;
	assert_int_equal(token, 1368);

	h = make_header("Basic", PA_HEADER_MAX - 5 - token, text, tlen, true, &hlen);
	assert_int_equal(hlen, PA_HEADER_MAX);
	text[1] = '\0';
	expect("header of exactly 4096 bytes", h, hlen, OK, "u", text + 2);
	free(h);

	text[1] = ':';
	h = make_header("Basic", PA_HEADER_MAX - 5 - token + 1, text, tlen, true, &hlen);
	assert_int_equal(hlen, PA_HEADER_MAX + 1);
	expect("header of 4097 bytes", h, hlen, BAD, NULL, NULL);
	free(h);

	/* Over the limit is refused before anything else is looked at. */
	h = make_header("Basic", PA_HEADER_MAX, text, tlen, true, &hlen);
	expect("header far over the limit", h, hlen, BAD, NULL, NULL);
	free(h);
	free(text);
}

/* The parser reads only value[0..len): no NUL terminator is needed, and
 * bytes past len are never looked at. */
static void
test_counted_value(void **state)
{
	static const char buf[] = "Basic YWxpY2U6c2VjcmV0 trailing junk past len";
	static const char nul[] = "Basic YWxp\0Y2U6c2VjcmV0";
	char exact[22];

	(void)state;
	expect("len stops before junk", buf, 22, OK, "alice", "secret");
	memcpy(exact, buf, sizeof(exact));	/* not NUL-terminated */
	expect("unterminated buffer", exact, sizeof(exact), OK, "alice", "secret");
	expect("NUL inside the token", nul, sizeof(nul) - 1, BAD, NULL, NULL);
	/* A NUL anywhere in the counted value is malformed (SPEC 3): after a
	 * whole valid token, as the last byte, or in the scheme. */
	expect("NUL and junk after a valid token", T("Basic YWxpY2U6c2VjcmV0\0junk"), BAD, NULL,
	       NULL);
	expect("NUL as the last byte", T("Basic YWxpY2U6c2VjcmV0\0"), BAD, NULL, NULL);
	expect("NUL after padding", T("Basic YWxpY2U6c2Vjcg==\0"), BAD, NULL, NULL);
	expect("NUL between scheme and token", T("Basic \0YWxpY2U6c2VjcmV0"), BAD, NULL, NULL);
	expect("NUL in the scheme", T("Ba\0sic YWxpY2U6c2VjcmV0"), MISSING, NULL, NULL);
	expect("len cuts the scheme", buf, 3, MISSING, NULL, NULL);
	expect("len cuts after the scheme", buf, 5, BAD, NULL, NULL);
}

static void
test_null_value_is_missing(void **state)
{
	struct pa_credentials c;
	const char *why = NULL;

	(void)state;
	memset(&c, 'X', sizeof(c));
	assert_int_equal(pa_credentials_parse(NULL, 0, &c, &why), PA_CRED_MISSING);
	assert_non_null(why);
	assert_int_equal(c.user[0], '\0');
	assert_int_equal(c.password[0], '\0');
	assert_int_equal(c.user_len, 0);
	assert_int_equal(c.password_len, 0);
	/* why may be NULL. */
	assert_int_equal(pa_credentials_parse(NULL, 0, &c, NULL), PA_CRED_MISSING);
	assert_int_equal(pa_credentials_parse("Basic YWxpY2U6c2VjcmV0", 22, &c, NULL), PA_CRED_OK);
	assert_int_equal(pa_credentials_parse("Basic !", 7, &c, NULL), PA_CRED_MALFORMED);
}

/* The reason never echoes input bytes (it goes to the log). */
static void
test_reason_is_static(void **state)
{
	static const char *const hdrs[] = {
		"Basic cGFzc3dvcmQ=",			/* "password": no colon */
		"Basic OnNlY3JldHBhc3N3b3Jk",		/* ":secretpassword" */
		"Basic c2VjcmV0cGFzc3dvcmQ6\xff",	/* bad base64 */
	};
	struct pa_credentials c;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		why = NULL;
		assert_int_equal(pa_credentials_parse(hdrs[i], strlen(hdrs[i]), &c, &why),
				 PA_CRED_MALFORMED);
		assert_non_null(why);
		assert_null(strstr(why, "password"));
		assert_null(strstr(why, "secret"));
		assert_null(strstr(why, "cGFz"));
	}
}

static void
test_clear_zeroes(void **state)
{
	struct pa_credentials c;
	const unsigned char *p = (const unsigned char *)&c;
	size_t i;

	(void)state;
	assert_int_equal(pa_credentials_parse("Basic YWxpY2U6c2VjcmV0", 22, &c, NULL), PA_CRED_OK);
	pa_credentials_clear(&c);
	for (i = 0; i < sizeof(c); i++)
		if (p[i] != 0)
			fail_msg("byte %zu not zero after clear", i);

	memset(&c, 0xa5, sizeof(c));
	pa_credentials_clear(&c);
	for (i = 0; i < sizeof(c); i++)
		if (p[i] != 0)
			fail_msg("byte %zu not zero after clear of junk", i);
	pa_credentials_clear(NULL);	/* safe on NULL */
}

/* pa_credentials_from_pair(): the checks for already decoded text (the
 * Squid helper), with the same limits and reasons as for a header. */
static void
pair(const char *u, size_t ul, const char *pw, size_t pl, enum pa_cred_status want,
     const char *want_why)
{
	struct pa_credentials c;
	const char *why = "(not set)";
	enum pa_cred_status st;

	memset(&c, 'X', sizeof(c));
	st = pa_credentials_from_pair(u, ul, pw, pl, &c, &why);
	if (st != want)
		fail_msg("pair %.*s: got %s, want %s (why: %s)", (int)(ul > 40 ? 40 : ul), u,
			 status_name(st), status_name(want), why != NULL ? why : "NULL");
	if (want_why == NULL)
		assert_null(why);
	else
		assert_string_equal(why, want_why);
	if (st == PA_CRED_OK) {
		assert_int_equal(c.user_len, ul);
		assert_memory_equal(c.user, u, ul);
		assert_int_equal(c.user[ul], '\0');
		assert_int_equal(c.password_len, pl);
		assert_memory_equal(c.password, pw, pl);
		assert_int_equal(c.password[pl], '\0');
	} else if (st == PA_CRED_EMPTY_PASSWORD) {
		assert_int_equal(c.user_len, ul);
		assert_string_equal(c.password, "");
	} else {
		assert_string_equal(c.user, "");
		assert_string_equal(c.password, "");
		assert_int_equal(c.user_len, 0);
		assert_int_equal(c.password_len, 0);
	}
}

static void
test_from_pair(void **state)
{
	char big[PA_PASSWORD_MAX + 2];

	(void)state;
	pair(T("alice"), T("s3cret"), OK, NULL);
	pair(T("J\xc3\xbcrgen"), T("p w%:x"), OK, NULL);
	pair(T("alice"), T("a:b:c"), OK, NULL);
	pair(T("alice"), T(""), EMPTYPW, "empty password");
	pair(T(""), T("x"), BAD, "empty user");
	pair(T("a:b"), T("x"), BAD, "colon in user");
	pair(T("al\0ce"), T("x"), BAD, "control character");
	pair(T("alice"), T("x\ny"), BAD, "control character");
	pair(T("alice"), T("x\x7f"), BAD, "control character");
	pair(T("\xc3"), T("x"), BAD, "not UTF-8");
	pair(T("alice"), T("\xff"), BAD, "not UTF-8");
	memset(big, 'u', sizeof(big));
	pair(big, PA_USER_MAX, T("x"), OK, NULL);
	pair(big, PA_USER_MAX + 1, T("x"), BAD, "user too long");
	pair(T("alice"), big, PA_PASSWORD_MAX, OK, NULL);
	pair(T("alice"), big, PA_PASSWORD_MAX + 1, BAD, "password too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_table),
		cmocka_unit_test(test_text_table),
		cmocka_unit_test(test_user_and_password_sizes),
		cmocka_unit_test(test_user_limit_is_bytes),
		cmocka_unit_test(test_header_size_limit),
		cmocka_unit_test(test_counted_value),
		cmocka_unit_test(test_null_value_is_missing),
		cmocka_unit_test(test_reason_is_static),
		cmocka_unit_test(test_clear_zeroes),
		cmocka_unit_test(test_from_pair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
