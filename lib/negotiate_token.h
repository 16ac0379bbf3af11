/*
 * Parsing of a `Negotiate` credentials header (RFC 4559) before GSS-API
 * sees it: the scheme, the base64 token and the outer shape of what it
 * decodes to.  Only a SPNEGO initial token (an RFC 2743 InitialContextToken
 * carrying the SPNEGO OID, 1.3.6.1.5.5.2) goes on to gss_accept_sec_context;
 * NTLM messages, raw Kerberos tokens and SPNEGO continuation tokens are
 * refused here with a reason for the log, because a subrequest-based
 * sidecar can only do a single-round exchange.  Pure: no allocation, no
 * logging, no global state, so it is unit-tested and fuzzed directly.
 */
#ifndef PA_NEGOTIATE_TOKEN_H
#define PA_NEGOTIATE_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Longest header value taken for Negotiate: Active Directory tickets with
 * large PACs make tokens of several KiB (libmicrohttpd's max_header_bytes
 * bounds the whole request anyway). */
#define PA_NEGOTIATE_HEADER_MAX 16384
#define PA_NEGOTIATE_TOKEN_MAX (PA_NEGOTIATE_HEADER_MAX / 4 * 3)

enum pa_neg_status {
	PA_NEG_NOT_NEGOTIATE,	/* another scheme (or no value): not ours */
	PA_NEG_OK,		/* a SPNEGO initial token, decoded into out */
	PA_NEG_REFUSED,		/* Negotiate, but unusable: challenge again */
};

/* True when value[0..len) starts with the scheme Negotiate (any case)
 * followed by a space or its end. */
bool pa_negotiate_scheme(const char *value, size_t len);

/*
 * Parses one header value.  On PA_NEG_OK the decoded token is in
 * out[0..*out_len); outsize should be PA_NEGOTIATE_TOKEN_MAX.  On
 * PA_NEG_REFUSED *why (may be NULL) is a short static reason, never
 * holding input bytes ("NTLM token", "raw Kerberos token, not SPNEGO",
 * ...).  out is scrubbed by the caller.
 */
enum pa_neg_status pa_negotiate_parse(const char *value, size_t len, unsigned char *out,
				      size_t outsize, size_t *out_len, const char **why);

#endif
