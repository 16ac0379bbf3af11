/*
 * Parsing of HTTP Basic credentials (RFC 7617) out of one header value,
 * exactly as SPEC section 3 lays it out.  The parser is a pure function:
 * no allocation, no logging, no global state, so it can be unit-tested
 * and fuzzed directly.  The decoded password lives only in the caller's
 * struct, which pa_credentials_clear() scrubs.
 */
#ifndef PA_CREDENTIALS_H
#define PA_CREDENTIALS_H

#include <stddef.h>

#define PA_HEADER_MAX	4096
#define PA_USER_MAX	256
#define PA_PASSWORD_MAX	1024

enum pa_cred_status {
	PA_CRED_OK,		/* user and password set */
	PA_CRED_MISSING,	/* no header, or a scheme other than Basic */
	PA_CRED_MALFORMED,	/* Basic, but not acceptable: never reaches a backend */
	PA_CRED_EMPTY_PASSWORD,	/* well-formed user, empty password: user is set */
};

struct pa_credentials {
	char	user[PA_USER_MAX + 1];
	char	password[PA_PASSWORD_MAX + 1];
	size_t	user_len;
	size_t	password_len;
};

/*
 * Parses one header value of length len (value may be NULL for "absent").
 * On PA_CRED_OK both fields are set; on PA_CRED_EMPTY_PASSWORD only the
 * user; otherwise both are empty.  *why (may be NULL) gets a short static
 * reason for the log, never containing input bytes.
 */
enum pa_cred_status pa_credentials_parse(const char *value, size_t len,
					 struct pa_credentials *out, const char **why);

/*
 * The same checks for a user and password that arrive already decoded (the
 * Squid helper's line): valid UTF-8, no control characters, a non-empty
 * user without ':', the length limits, and PA_CRED_EMPTY_PASSWORD for an
 * empty password (only the user set).  Never PA_CRED_MISSING.  out and
 * *why as for pa_credentials_parse(); the inputs are not scrubbed.
 */
enum pa_cred_status pa_credentials_from_pair(const char *user, size_t ulen,
					     const char *password, size_t plen,
					     struct pa_credentials *out, const char **why);

/* Strict RFC 4648 base64 (standard alphabet; padding optional but, if
 * present, exact; no whitespace; zero padding bits) of tok[0..len) into
 * out[outsize].  Returns the decoded length, or -1 (nothing written) when
 * the text is not canonical base64 or does not fit.  Shared by Basic and
 * Negotiate. */
int pa_base64_decode_strict(const char *tok, size_t len, unsigned char *out, size_t outsize);

/* Scrubs the password and user.  Safe on NULL. */
void pa_credentials_clear(struct pa_credentials *c);

#endif
