/*
 * User name folding on libunistring.  Plain ASCII, the usual case, takes
 * a fast path (NFKC leaves it alone and case folding is tolower), so the
 * cached answer path pays for Unicode only when a name has some.  The
 * general path: NFKD, default-ignorable code points dropped, full case
 * folding with NFKC recomposition, then a walk that trims and collapses
 * spaces.  Nothing here keeps state; libunistring's buffers are freed
 * before returning.
 */
#include "fold.h"

#include <openssl/sha.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

/* Appends a code point's bytes, spaces trimmed and collapsed. */
struct sink {
	uint8_t *buf;
	size_t n, cap;
	bool space, any;
	bool overflow;
};

static void
put(struct sink *s, const uint8_t *p, size_t len, bool is_space)
{
	if (is_space) {
		s->space = s->n > 0;
		s->any = true;
		return;
	}
	if (s->space) {
		if (s->n + 1 > s->cap)
			s->overflow = true;
		else
			s->buf[s->n++] = ' ';
		s->space = false;
	}
	if (s->n + len > s->cap)
		s->overflow = true;
	else {
		memcpy(s->buf + s->n, p, len);
		s->n += len;
	}
}

static size_t
finish(struct sink *s, char *out, bool *hashed)
{
	if (hashed != NULL)
		*hashed = s->overflow;
	if (s->overflow) {
		unsigned char md[SHA256_DIGEST_LENGTH];
		int i;

		SHA256(s->buf, s->n, md);
		out[0] = '#';
		for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
			snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
		return 1 + 2 * SHA256_DIGEST_LENGTH;
	}
	if (s->n == 0 && s->any)
		s->buf[s->n++] = ' ';	/* a name of spaces only: one key of its own */
	memcpy(out, s->buf, s->n);
	out[s->n] = '\0';
	return s->n;
}

static size_t
fold_bytes(const char *in, size_t len, char *out, bool *hashed)
{
	uint8_t buf[PA_FOLD_MAX * 2];
	struct sink s = { buf, 0, sizeof(buf), false, false, false };
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)in[i];

		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c - 'A' + 'a');
		else if (c == '\0')
			c = '?';	/* never in a name; keeps the key a C string */
		put(&s, &c, 1, c == ' ');
	}
	if (s.n >= PA_FOLD_MAX)
		s.overflow = true;
	return finish(&s, out, hashed);
}

size_t
pa_fold_user(const char *in, size_t len, char *out)
{
	return pa_fold_user_hashed(in, len, out, NULL);
}

size_t
pa_fold_user_hashed(const char *in, size_t len, char *out, bool *hashed)
{
	uint8_t pre[PA_FOLD_MAX * 2], big[PA_FOLD_MAX * 2];
	uint8_t *nfkd = NULL, *folded = NULL;
	struct sink s = { big, 0, sizeof(big), false, false, false };
	size_t i, n = 0, nd = 0, nf = 0, ret;
	bool ascii = true;

	for (i = 0; i < len; i++)
		if ((unsigned char)in[i] >= 0x80)
			ascii = false;
	if (ascii || len > PA_FOLD_MAX || memchr(in, '\0', len) != NULL ||
	    u8_check((const uint8_t *)in, len) != NULL)
		return fold_bytes(in, len, out, hashed);
	/* U+0130 is "i" to slapd (simple lower-casing) but "i" + U+0307 to
	 * full case folding: take slapd's reading, the looser one. */
	for (i = 0; i < len; i++) {
		if ((unsigned char)in[i] == 0xc4 && i + 1 < len &&
		    (unsigned char)in[i + 1] == 0xb0) {
			pre[n++] = 'I';
			i++;
		} else {
			pre[n++] = (uint8_t)in[i];
		}
	}
	if ((nfkd = u8_normalize(UNINORM_NFKD, pre, n, NULL, &nd)) == NULL) {
		ret = fold_bytes(in, len, out, hashed);
		goto done;
	}
	/* Ignorable code points go before composing: dropped afterwards, one
	 * between two combining marks (U+034F) would leave them out of
	 * canonical order, and the fold would not be stable. */
	for (i = 0, n = 0; i < nd;) {
		ucs4_t uc;
		int k = u8_mbtouc(&uc, nfkd + i, nd - i);

		if (k <= 0)
			break;
		if (!uc_is_property_default_ignorable_code_point(uc)) {
			memmove(nfkd + n, nfkd + i, (size_t)k);
			n += (size_t)k;
		}
		i += (size_t)k;
	}
	if ((folded = u8_casefold(nfkd, n, NULL, UNINORM_NFKC, NULL, &nf)) == NULL) {
		ret = fold_bytes(in, len, out, hashed);
		goto done;
	}
	for (i = 0; i < nf;) {
		ucs4_t uc;
		int k = u8_mbtouc(&uc, folded + i, nf - i);

		if (k <= 0)
			break;
		put(&s, folded + i, (size_t)k, uc == ' ');
		i += (size_t)k;
	}
	if (s.n >= PA_FOLD_MAX)
		s.overflow = true;
	ret = finish(&s, out, hashed);
done:
	free(nfkd);
	free(folded);
	return ret;
}

/* A code point the fold makes vanish or turns into a blank. */
static bool
vanishes(ucs4_t uc)
{
	return uc_is_property_white_space(uc) || uc_is_property_default_ignorable_code_point(uc);
}

/* RFC 5892's CONTEXTJ rules, as IDNA and PRECIS use them: a zero-width
 * joiner (U+200D) only after a virama; a non-joiner (U+200C) after a
 * virama or between letters that join (Arabic, Syriac...: joining type L
 * or D before, R or D after, transparent marks skipped).  Anywhere else
 * it changes nothing a reader sees: "ad" U+200D "min" is admin. */
static bool
joiner_in_context(const uint8_t *p, size_t n, size_t i, size_t k, ucs4_t uc)
{
	const uint8_t *q = p + i;
	ucs4_t b = 0;
	size_t j;
	int jt;

	if ((q = u8_prev(&b, q, p)) != NULL && uc_combining_class(b) == UC_CCC_VR)
		return true;
	if (uc != 0x200c)
		return false;
	while (q != NULL && uc_joining_type(b) == UC_JOINING_TYPE_T)
		q = u8_prev(&b, q, p);
	if (q == NULL || ((jt = uc_joining_type(b)) != UC_JOINING_TYPE_L && jt != UC_JOINING_TYPE_D))
		return false;
	for (j = i + k; j < n;) {
		ucs4_t a;
		int m = u8_mbtouc(&a, p + j, n - j);

		if (m <= 0)
			return false;
		if ((jt = uc_joining_type(a)) != UC_JOINING_TYPE_T)
			return jt == UC_JOINING_TYPE_R || jt == UC_JOINING_TYPE_D;
		j += (size_t)m;
	}
	return false;
}

const char *
pa_name_unsafe(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), i = 0;
	bool utf8 = u8_check(p, n) == NULL, prev_space = false;

	while (i < n) {
		ucs4_t uc = p[i];
		int k = 1;

		if (utf8 && (k = u8_mbtouc(&uc, p + i, n - i)) <= 0)
			break;	/* cannot happen after u8_check */
		if (uc == ' ' || (utf8 && vanishes(uc))) {
			bool edge = i == 0 || i + (size_t)k == n;

			if (edge)
				return "begins or ends with a blank or an invisible character";
			if (uc == ' ' && prev_space)
				return "holds a run of blanks";
			if (uc != ' ' && ((uc != 0x200c && uc != 0x200d) ||
					  !joiner_in_context(p, n, i, (size_t)k, uc)))
				return "holds a Unicode blank or an invisible character";
		}
		/* A mark with no letter under it shows on what comes before,
		 * and accent-insensitive collations (MySQL's default) ignore it. */
		if (utf8 && (i == 0 || prev_space) && uc_is_general_category(uc, UC_CATEGORY_M))
			return "holds a combining mark with no letter under it";
		prev_space = uc == ' ';
		i += (size_t)k;
	}
	return NULL;
}
