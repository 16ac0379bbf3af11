/*
 * HTTP Basic credentials parser.
 *
 * Invariants: nothing that is not strictly well-formed comes out as
 * PA_CRED_OK; the scratch buffer that held the decoded text is scrubbed
 * before return on every path; only the RFC 4648 standard alphabet is
 * accepted, padding may be left out but a misplaced '=' or non-zero
 * padding bits are malformed.
 */
#include "credentials.h"
#include "text.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <string.h>

/* Each base64 character's value plus one, 0 for any other byte: a table,
 * since Negotiate tokens are kilobytes long. */
static const unsigned char b64_table[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
	['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
	['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
	['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
	['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
	['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
	['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
	['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int
b64_value(unsigned char c)
{
	return (int)b64_table[c] - 1;
}

/* RFC 7230 tchar: the characters a scheme name is made of. */
static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Decodes tok[0..len) into out (room for 3 bytes per 4 chars).  Returns
 * the decoded length or -1 when the token is not canonical base64.
 */
int
pa_base64_decode_strict(const char *tok, size_t len, unsigned char *out, size_t outsize)
{
	size_t data = 0, pad = 0, rem, i, o = 0;
	unsigned int acc = 0;
	int last, bits = 0;

	while (data < len && tok[data] != '=') {
		if (b64_value((unsigned char)tok[data]) < 0)
			return -1;
		data++;
	}
	for (i = data; i < len; i++) {
		if (tok[i] != '=')
			return -1;	/* data after padding, or junk */
		pad++;
	}
	rem = data % 4;
	if (data == 0 || rem == 1 || pad > 2)
		return -1;
	if (pad > 0 && (rem == 0 || rem + pad != 4))
		return -1;		/* misplaced or wrong amount of '=' */
	last = b64_value((unsigned char)tok[data - 1]);
	if ((rem == 2 && (last & 0x0f) != 0) || (rem == 3 && (last & 0x03) != 0))
		return -1;		/* non-zero padding bits */
	if (data / 4 * 3 + (rem == 0 ? 0 : rem - 1) > outsize || data > (size_t)INT_MAX)
		return -1;
	for (i = 0; i < data; i++) {
		acc = (acc << 6 | (unsigned int)b64_value((unsigned char)tok[i])) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	acc = 0;
	return (int)o;
}

enum pa_cred_status
pa_credentials_from_pair(const char *user, size_t ulen, const char *password, size_t plen,
			 struct pa_credentials *out, const char **why)
{
	const char *reason = NULL;
	enum pa_cred_status st = PA_CRED_MALFORMED;

	out->user[0] = out->password[0] = '\0';
	out->user_len = out->password_len = 0;
	/* The same order as for a header: encoding first, then the shape. */
	if (!pa_utf8_valid(user, ulen) || !pa_utf8_valid(password, plen)) {
		reason = "not UTF-8";
		goto done;
	}
	if (pa_has_control(user, ulen) || pa_has_control(password, plen)) {
		reason = "control character";
		goto done;
	}
	if (ulen == 0) {
		reason = "empty user";
		goto done;
	}
	if (memchr(user, ':', ulen) != NULL) {
		reason = "colon in user";	/* Basic could never carry it */
		goto done;
	}
	if (ulen > PA_USER_MAX) {
		reason = "user too long";
		goto done;
	}
	if (plen > PA_PASSWORD_MAX) {
		reason = "password too long";
		goto done;
	}
	memcpy(out->user, user, ulen);
	out->user[ulen] = '\0';
	out->user_len = ulen;
	if (plen == 0) {
		reason = "empty password";
		st = PA_CRED_EMPTY_PASSWORD;
		goto done;
	}
	memcpy(out->password, password, plen);
	out->password[plen] = '\0';
	out->password_len = plen;
	st = PA_CRED_OK;
done:
	if (why != NULL)
		*why = reason;
	return st;
}

enum pa_cred_status
pa_credentials_parse(const char *value, size_t len, struct pa_credentials *out,
		     const char **why)
{
	unsigned char decoded[PA_HEADER_MAX];
	const char *reason = NULL;
	enum pa_cred_status st = PA_CRED_MALFORMED;
	size_t i, scheme_len, ulen, plen, used = 0;
	const unsigned char *colon;
	int n;

	/* Only the starts are cleared: the whole struct is 1.3 KiB and this
	 * runs on every request.  Nothing past a NUL or a length is read. */
	out->user[0] = out->password[0] = '\0';
	out->user_len = out->password_len = 0;
	if (value == NULL) {
		reason = "no credentials";
		st = PA_CRED_MISSING;
		goto done;
	}
	if (len > PA_HEADER_MAX) {
		reason = "header too long";
		goto done;
	}
	for (scheme_len = 0; scheme_len < len && is_tchar((unsigned char)value[scheme_len]);
	     scheme_len++)
		;
	if (!pa_strieq_n(value, scheme_len, "basic")) {
		reason = "not Basic";
		st = PA_CRED_MISSING;
		goto done;
	}
	i = scheme_len;
	if (i == len) {
		reason = "Basic without token";
		goto done;
	}
	if (value[i] != ' ') {
		reason = "bad separator after scheme";
		goto done;
	}
	while (i < len && value[i] == ' ')
		i++;
	if (i == len) {
		reason = "Basic without token";
		goto done;
	}
	n = pa_base64_decode_strict(value + i, len - i, decoded, sizeof(decoded));
	/* What the decoder wrote: the text, or nothing when it refused. */
	used = n >= 0 ? (size_t)n : 0;
	if (n < 0) {
		reason = "bad base64";
		goto done;
	}
	colon = memchr(decoded, ':', (size_t)n);
	if (colon == NULL) {
		/* Reported by its worst problem, as a split text would be. */
		if (!pa_utf8_valid((const char *)decoded, (size_t)n))
			reason = "not UTF-8";
		else if (pa_has_control((const char *)decoded, (size_t)n))
			reason = "control character";
		else
			reason = "no colon";
		goto done;
	}
	ulen = (size_t)(colon - decoded);
	plen = (size_t)n - ulen - 1;
	st = pa_credentials_from_pair((const char *)decoded, ulen, (const char *)colon + 1, plen,
				      out, &reason);
done:
	OPENSSL_cleanse(decoded, used);
	if (why != NULL)
		*why = reason;
	return st;
}

void
pa_credentials_clear(struct pa_credentials *c)
{
	if (c == NULL)
		return;
	OPENSSL_cleanse(c, sizeof(*c));
}
