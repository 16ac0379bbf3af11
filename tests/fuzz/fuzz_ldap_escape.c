/*
 * libFuzzer target: the RFC 4514 (DN) and RFC 4515 (filter) escapers of
 * lib/ldap_escape.h, checked against their inverses on any input:
 *   - escaping then unescaping gives the input back, byte for byte
 *     (NUL bytes included);
 *   - the escaped form holds no special character outside an escape: for
 *     a filter none of "*()\\" or NUL, for a DN none of "\"+,;<=>#" or
 *     control characters, no leading or trailing space, and every '\\'
 *     starts a hex pair;
 *   - expanding a template with the escaped value keeps the template's
 *     shape (the same number of parentheses in a filter).
 * The inverses are fuzzed on their own too: whatever they accept,
 * escaped again, unescapes to the same bytes.
 */
#include "ldap_escape.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXIN 1024

static void
check_hex_escapes(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] != '\\')
			continue;
		if (i + 2 >= n)
			abort();	/* a lone or trailing '\\' */
		if (!isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
			abort();
		i += 2;
	}
}

static void
check_filter(const char *in, size_t len)
{
	static char esc[3 * MAXIN + 1], back[MAXIN + 1], tmpl[3 * MAXIN + 64];
	int n, m, i, open = 0, close = 0;

	if ((n = pa_ldap_escape_filter(in, len, esc, sizeof(esc))) < 0)
		abort();	/* 3 bytes per input byte always fit */
	if (strlen(esc) != (size_t)n)
		abort();	/* no NUL inside */
	for (i = 0; i < n; i++)
		if (esc[i] == '*' || esc[i] == '(' || esc[i] == ')')
			abort();
	check_hex_escapes(esc, (size_t)n);
	if ((m = pa_ldap_unescape_filter(esc, (size_t)n, back, sizeof(back))) != (int)len ||
	    memcmp(back, in, len) != 0)
		abort();
	/* The value cannot add a parenthesis to the filter it lands in. */
	if (pa_ldap_expand("(&(objectClass=inetOrgPerson)(uid=%u))", 'u', esc, tmpl,
			   sizeof(tmpl)) < 0)
		abort();
	for (i = 0; tmpl[i] != '\0'; i++) {
		open += tmpl[i] == '(';
		close += tmpl[i] == ')';
	}
	if (open != 3 || close != 3)
		abort();
}

static void
check_dn(const char *in, size_t len)
{
	static char esc[3 * MAXIN + 1], back[MAXIN + 1];
	int n, m, i;

	if ((n = pa_ldap_escape_dn(in, len, esc, sizeof(esc))) < 0)
		abort();
	if (strlen(esc) != (size_t)n)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)esc[i];

		if (strchr("\"+,;<=>#", c) != NULL || c < 0x20 || c == 0x7f)
			abort();
	}
	if (n > 0 && (esc[0] == ' ' || esc[n - 1] == ' '))
		abort();
	check_hex_escapes(esc, (size_t)n);
	if ((m = pa_ldap_unescape_dn(esc, (size_t)n, back, sizeof(back))) != (int)len ||
	    memcmp(back, in, len) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char back[MAXIN + 1];
	const char *in = (const char *)data;
	int n;

	if (size > MAXIN)
		return 0;
	check_filter(in, size);
	check_dn(in, size);
	/* The inverses on arbitrary input: what they accept round-trips. */
	if ((n = pa_ldap_unescape_filter(in, size, back, sizeof(back))) >= 0)
		check_filter(back, (size_t)n);
	if ((n = pa_ldap_unescape_dn(in, size, back, sizeof(back))) >= 0)
		check_dn(back, (size_t)n);
	return 0;
}
