/*
 * User name folding: every spelling a directory binds as one account
 * folds to one key (NFKC, fullwidth, full case folding with ß and İ,
 * combining marks, ignorable code points, spaces), names that differ stay
 * apart, an overlong fold stays bounded, and names that fold away a
 * blank or an invisible character are refused as X-Auth-User.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fold.h"

static const char *
fold(const char *s)
{
	static char out[PA_FOLD_MAX];

	pa_fold_user(s, strlen(s), out);
	return out;
}

static void
test_table(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "alice", "alice" },
		{ "ALICE", "alice" },
		{ "Alice", "alice" },
		{ "\xef\xbd\x81\xef\xbd\x8c\xef\xbd\x89\xef\xbd\x83\xef\xbd\x85", "alice" }, /* ａｌｉｃｅ */
		{ "\xef\xbc\xa1lice", "alice" },		/* Ａlice */
		{ "AL\xc4\xb0" "CE", "alice" },			/* ALİCE */
		{ "alice ", "alice" },
		{ "  alice", "alice" },
		{ "al  ice", "al ice" },
		{ "al\xc2\xa0ice", "al ice" },			/* NBSP: NFKC space */
		{ "al\xe3\x80\x80ice", "al ice" },		/* ideographic space */
		{ "ali\xc2\xad" "ce", "alice" },		/* soft hyphen: ignorable */
		{ "ali\xe2\x80\x8b" "ce", "alice" },		/* zero-width space */
		{ "Stra\xc3\x9f" "e", "strasse" },		/* ß: full folding */
		{ "STRASSE", "strasse" },
		{ "\xe1\xba\x9e", "ss" },			/* ẞ capital sharp s */
		{ "Jos\xc3\xa9", "jos\xc3\xa9" },		/* é precomposed */
		{ "JOSE\xcc\x81", "jos\xc3\xa9" },		/* E + combining acute */
		{ "\xef\xac\x81" "fi", "fifi" },		/* ﬁ ligature */
		{ "\xe2\x84\xab", "\xc3\xa5" },			/* Angstrom sign: å */
		{ "\xc4\xb1", "\xc4\xb1" },			/* dotless ı stays itself */
		{ "\xce\xa3\xce\x99\xce\xa3", "\xcf\x83\xce\xb9\xcf\x83" }, /* ΣΙΣ: σισ */
		{ "   ", " " },
		{ "", "" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (strcmp(fold(t[i].in), t[i].want) != 0)
			fail_msg("fold(\"%s\") = \"%s\", want \"%s\"", t[i].in, fold(t[i].in),
				 t[i].want);
	}
}

static void
test_distinct_names_stay_apart(void **state)
{
	char a[PA_FOLD_MAX];

	(void)state;
	strcpy(a, fold("alice"));
	assert_string_not_equal(a, fold("alic"));
	assert_string_not_equal(a, fold("al ice"));
	strcpy(a, fold("\xc4\xb1"));
	assert_string_not_equal(a, fold("i"));		/* ı is not i */
	strcpy(a, fold("jos\xc3\xa9"));
	assert_string_not_equal(a, fold("jose"));
}

/* Folding a fold changes nothing, also where an ignorable code point
 * stood between two combining marks (found by fuzz_fold). */
static void
test_fold_is_stable(void **state)
{
	static const char *const in[] = {
		"\xcd\x8f\xcd\xaf\xcd\x8f\xcd\x87",	/* CGJ U+036F CGJ U+0347 */
		"AL\xc4\xb0" "CE", "Stra\xc3\x9f" "e", " a  b ", "\xef\xb7\xba",
		"x\x00y",
	};
	char a[PA_FOLD_MAX], b[PA_FOLD_MAX];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		n = pa_fold_user(in[i], i == 5 ? 3 : strlen(in[i]), a);
		assert_int_equal(strlen(a), n);
		pa_fold_user(a, n, b);
		assert_string_equal(a, b);
	}
}

static void
test_long_fold_is_bounded(void **state)
{
	char in[257], out[PA_FOLD_MAX], again[PA_FOLD_MAX];
	size_t i, n;
	bool hashed;

	(void)state;
	/* U+FDFA (3 bytes) decomposes to 33 bytes: 85 of them fold to
	 * 2805 bytes, which become "#" and a hex digest. */
	for (i = 0; i + 3 <= 255; i += 3)
		memcpy(in + i, "\xef\xb7\xba", 3);
	in[i] = '\0';
	n = pa_fold_user_hashed(in, i, out, &hashed);
	assert_int_equal(n, 65);
	assert_int_equal(out[0], '#');
	assert_true(hashed);
	/* A name of that shape is a fold of its own, not a digest. */
	memset(in, 'A', 65);
	in[0] = '#';
	in[65] = '\0';
	assert_int_equal(pa_fold_user_hashed(in, 65, again, &hashed), 65);
	assert_false(hashed);
	assert_int_equal(again[1], 'a');
	for (i = 0; i + 3 <= 255; i += 3)
		memcpy(in + i, "\xef\xb7\xba", 3);
	in[i] = '\0';
	pa_fold_user(in, i, again);
	assert_string_equal(out, again);
	in[0] = 'x';
	pa_fold_user(in, i, again);
	assert_string_not_equal(out, again);
}

/* Names that must not go upstream as X-Auth-User: each reads as
 * another, safe name (the fold says so; proxies, TrimSpace, NFKC and
 * displays agree), and names that are safe as they are. */
static const struct {
	const char *name, *reads_as;	/* reads_as NULL: the name is safe */
} unsafe_cases[] = {
	{ "alice ", "alice" },
	{ " alice", "alice" },
	{ " ", NULL },
	{ "alice\xc2\xa0", "alice" },		/* U+00A0 at the end */
	{ "\xe3\x80\x80" "alice", "alice" },	/* U+3000 ideographic space */
	{ "alice\xe2\x80\x8b", "alice" },	/* U+200B zero-width space */
	{ "\xef\xbb\xbf" "alice", "alice" },	/* U+FEFF BOM */
	{ "alice\xe2\x80\x8d", "alice" },	/* a joiner at the end */
	{ "ali\xc2\xad" "ce", "alice" },		/* U+00AD soft hyphen inside */
	{ "ali\xe2\x81\xa0" "ce", "alice" },	/* U+2060 word joiner */
	{ "john  smith", "john smith" },	/* a run of blanks */
	{ "john\xc2\xa0smith", "john smith" },	/* U+00A0 inside */
	{ "john\xe2\x80\x89smith", "john smith" },	/* U+2009 thin space */
	/* Joiners out of context (RFC 5892 CONTEXTJ) change nothing a
	 * reader sees, and the fold drops them. */
	{ "ad\xe2\x80\x8dmin", "admin" },		/* ZWJ between Latin letters */
	{ "ali\xe2\x80\x8c" "ce", "alice" },		/* ZWNJ between Latin letters */
	{ "x \xe2\x80\x8c y", "x y" },		/* a run of blanks, split by ZWNJ */
	{ "a \xe2\x80\x8c\xcc\x81" "b", NULL },	/* ZWNJ, then a mark with no letter */
	/* A combining mark with no letter under it: it shows on whatever
	 * comes before the name (a quote, a label's colon), and MySQL's
	 * accent-insensitive collations (utf8mb4_0900_ai_ci, the default;
	 * utf8mb4_general_ci) give it no weight, so an application looking
	 * the name up there finds admin.  The fold keeps it (NFKC does). */
	{ "\xcc\x81" "admin", NULL },		/* U+0301 first */
	{ "\xe2\x83\x9d" "admin", NULL },	/* U+20DD enclosing circle (Me) */
	{ "\xe0\xa4\x83" "admin", NULL },	/* U+0903 (Mc) */
	{ "john \xcc\x81smith", NULL },		/* on the blank */
};

static const char *safe_names[] = {
	"alice", "john smith", "a b c", "J\xc3\xb6rg", "\xe5\xb1\xb1\xe7\x94\xb0",
	"\xd9\x85\xdb\x8c\xe2\x80\x8c\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85",	/* ZWNJ inside */
	"", "bad\xff\xfe" "bytes",
	"Jo\xcc\x88rg", "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\x82\xe0\xa4\xa6\xe0\xa5\x80",	/* marks on letters: NFD, Hindi */
	"\xe0\xa4\x95\xe0\xa5\x8d\xe2\x80\x8d\xe0\xa4\xb7",	/* ZWJ after a virama */
};

static void
test_name_unsafe(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(unsafe_cases) / sizeof(unsafe_cases[0]); i++) {
		if (pa_name_unsafe(unsafe_cases[i].name) == NULL)
			fail_msg("case %zu: \"%s\" passed", i, unsafe_cases[i].name);
		if (unsafe_cases[i].reads_as != NULL) {
			char a[PA_FOLD_MAX];

			snprintf(a, sizeof(a), "%s", fold(unsafe_cases[i].name));
			assert_string_equal(a, fold(unsafe_cases[i].reads_as));
			assert_null(pa_name_unsafe(unsafe_cases[i].reads_as));
		}
	}
	for (i = 0; i < sizeof(safe_names) / sizeof(safe_names[0]); i++)
		if (pa_name_unsafe(safe_names[i]) != NULL)
			fail_msg("safe name %zu refused: %s", i, pa_name_unsafe(safe_names[i]));
	/* Not UTF-8: still no blank at the ends. */
	assert_non_null(pa_name_unsafe("bad\xff "));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_distinct_names_stay_apart),
		cmocka_unit_test(test_fold_is_stable),
		cmocka_unit_test(test_long_fold_is_bounded),
		cmocka_unit_test(test_name_unsafe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
