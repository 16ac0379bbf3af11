/*
 * libFuzzer target: the credentials parser (SPEC section 3) on any header
 * value.  Beyond "no crash, no sanitizer report", every accepted value must
 * keep the parser's promises: a non-empty user without ':' or control
 * characters, valid UTF-8, within the limits, and the same answer again
 * for the canonical encoding of what was decoded.
 */
#include "credentials.h"
#include "text.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pa_credentials c, again;
	const char *why = NULL;
	enum pa_cred_status st;
	unsigned char plain[PA_USER_MAX + 1 + PA_PASSWORD_MAX];
	char header[8 + 4 * sizeof(plain) / 3 + 8];
	int n;

	st = pa_credentials_parse((const char *)data, size, &c, &why);
	if (st == PA_CRED_MISSING || st == PA_CRED_MALFORMED) {
		if (c.user_len != 0 || c.password_len != 0 || c.user[0] != '\0' ||
		    c.password[0] != '\0')
			abort();	/* a refused value leaves nothing behind */
		return 0;
	}
	if (c.user_len == 0 || c.user_len > PA_USER_MAX || c.password_len > PA_PASSWORD_MAX ||
	    strlen(c.user) != c.user_len || strlen(c.password) != c.password_len ||
	    memchr(c.user, ':', c.user_len) != NULL || pa_has_control(c.user, c.user_len) ||
	    pa_has_control(c.password, c.password_len) || !pa_utf8_valid(c.user, c.user_len) ||
	    !pa_utf8_valid(c.password, c.password_len))
		abort();
	if ((st == PA_CRED_EMPTY_PASSWORD) != (c.password_len == 0))
		abort();
	/* The canonical form of what was decoded parses to the same. */
	memcpy(plain, c.user, c.user_len);
	plain[c.user_len] = ':';
	memcpy(plain + c.user_len + 1, c.password, c.password_len);
	memcpy(header, "Basic ", 6);
	n = EVP_EncodeBlock((unsigned char *)header + 6, plain,
			    (int)(c.user_len + 1 + c.password_len));
	if (6 + (size_t)n > PA_HEADER_MAX)
		return 0;	/* the input had dropped padding: canonical is longer */
	if (pa_credentials_parse(header, 6 + (size_t)n, &again, NULL) != st ||
	    again.user_len != c.user_len || again.password_len != c.password_len ||
	    memcmp(again.user, c.user, c.user_len) != 0 ||
	    memcmp(again.password, c.password, c.password_len) != 0)
		abort();
	pa_credentials_clear(&c);
	pa_credentials_clear(&again);
	return 0;
}
