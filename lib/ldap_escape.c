/*
 * LDAP escaping (RFC 4514 DN values, RFC 4515 filter values) and template
 * expansion.  Every writer goes through put(), which refuses to write past
 * size - 1, so the NUL always fits and an overflow is reported, not cut.
 */
#include "ldap_escape.h"
#include "text.h"

#include <stdbool.h>
#include <string.h>

static const char hexdigits[] = "0123456789abcdef";

static bool
put(char *out, size_t size, size_t *pos, char c)
{
	if (*pos + 1 >= size)
		return false;
	out[(*pos)++] = c;
	return true;
}

static bool
put_hex(char *out, size_t size, size_t *pos, unsigned char c)
{
	return put(out, size, pos, '\\') && put(out, size, pos, hexdigits[c >> 4]) &&
	       put(out, size, pos, hexdigits[c & 0x0f]);
}

static int
finish(char *out, size_t size, size_t pos, bool ok)
{
	if (size == 0)
		return -1;
	if (!ok) {
		out[0] = '\0';
		return -1;
	}
	out[pos] = '\0';
	return (int)pos;
}

/* The byte of a "\XX" pair at in[i] (i points after the backslash), or -1. */
static int
hexpair(const char *in, size_t inlen, size_t i)
{
	int hi, lo;

	if (i + 1 >= inlen)
		return -1;
	if ((hi = pa_hex_value((unsigned char)in[i])) < 0 ||
	    (lo = pa_hex_value((unsigned char)in[i + 1])) < 0)
		return -1;
	return hi << 4 | lo;
}

static bool
dn_special(unsigned char c)
{
	return c != '\0' && strchr("\"+,;<=>\\#", c) != NULL;
}

int
pa_ldap_escape_dn(const char *in, size_t inlen, char *out, size_t size)
{
	size_t i, pos = 0;
	bool ok = true;

	for (i = 0; ok && i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || dn_special(c) ||
		    (c == ' ' && (i == 0 || i + 1 == inlen)))
			ok = put_hex(out, size, &pos, c);
		else
			ok = put(out, size, &pos, (char)c);
	}
	return finish(out, size, pos, ok);
}

int
pa_ldap_unescape_dn(const char *in, size_t inlen, char *out, size_t size)
{
	size_t i, pos = 0;
	bool ok = true;

	for (i = 0; ok && i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		int b;

		if (c == '\\') {
			if (i + 1 >= inlen) {
				ok = false;
			} else if ((b = hexpair(in, inlen, i + 1)) >= 0) {
				ok = put(out, size, &pos, (char)b);
				i += 2;
			} else if (dn_special((unsigned char)in[i + 1]) || in[i + 1] == ' ') {
				ok = put(out, size, &pos, in[i + 1]);
				i++;
			} else {
				ok = false;
			}
		} else if (c == '\0' || dn_special(c)) {
			ok = false;
		} else {
			ok = put(out, size, &pos, (char)c);
		}
	}
	return finish(out, size, pos, ok);
}

int
pa_ldap_escape_filter(const char *in, size_t inlen, char *out, size_t size)
{
	size_t i, pos = 0;
	bool ok = true;

	for (i = 0; ok && i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0')
			ok = put_hex(out, size, &pos, c);
		else
			ok = put(out, size, &pos, (char)c);
	}
	return finish(out, size, pos, ok);
}

int
pa_ldap_unescape_filter(const char *in, size_t inlen, char *out, size_t size)
{
	size_t i, pos = 0;
	bool ok = true;

	for (i = 0; ok && i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		int b;

		if (c == '\\') {
			if ((b = hexpair(in, inlen, i + 1)) < 0) {
				ok = false;
			} else {
				ok = put(out, size, &pos, (char)b);
				i += 2;
			}
		} else if (c == '*' || c == '(' || c == ')' || c == '\0') {
			ok = false;
		} else {
			ok = put(out, size, &pos, (char)c);
		}
	}
	return finish(out, size, pos, ok);
}

int
pa_ldap_expand(const char *tmpl, char code, const char *value, char *out, size_t size)
{
	size_t pos = 0;
	bool ok = true, used = false;
	const char *p, *v;

	for (p = tmpl; ok && *p != '\0'; p++) {
		if (*p != '%') {
			ok = put(out, size, &pos, *p);
		} else if (p[1] == '%') {
			ok = put(out, size, &pos, '%');
			p++;
		} else if (p[1] == code) {
			for (v = value; ok && *v != '\0'; v++)
				ok = put(out, size, &pos, *v);
			used = true;
			p++;
		} else {
			ok = false;
		}
	}
	return finish(out, size, pos, ok && used);
}
