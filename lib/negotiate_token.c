/*
 * Negotiate header parser (negotiate_token.h).
 *
 * Invariants: the token is decoded with the same strict base64 rules as
 * Basic (pa_base64_decode_strict); the DER lengths are checked against
 * the bytes actually present, so nothing past the decoded token is read;
 * only a well-formed SPNEGO InitialContextToken comes out as PA_NEG_OK.
 */
#include "negotiate_token.h"
#include "credentials.h"
#include "text.h"

#include <string.h>

static const unsigned char spnego_oid[] = { 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02 };
static const unsigned char krb5_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02 };

bool
pa_negotiate_scheme(const char *value, size_t len)
{
	return value != NULL && len >= 9 && pa_strieq_n(value, 9, "negotiate") &&
	       (len == 9 || value[9] == ' ');
}

/* A DER length at t[*pos..n): sets *out and moves *pos past it.  0, or
 * -1 when it is not a definite length that fits in what is left. */
static int
der_length(const unsigned char *t, size_t n, size_t *pos, size_t *out)
{
	size_t len = 0, k, i;

	if (*pos >= n)
		return -1;
	if (t[*pos] < 0x80) {
		len = t[(*pos)++];
	} else {
		k = t[(*pos)++] & 0x7f;
		if (k == 0 || k > 3 || n - *pos < k)
			return -1;	/* indefinite, or more than 16 MiB */
		for (i = 0; i < k; i++)
			len = len << 8 | t[(*pos)++];
		if (len < 0x80)
			return -1;	/* not the shortest form */
	}
	if (len > n - *pos)
		return -1;
	*out = len;
	return 0;
}

enum pa_neg_status
pa_negotiate_parse(const char *value, size_t len, unsigned char *out, size_t outsize,
		   size_t *out_len, const char **why)
{
	const char *reason = NULL;
	enum pa_neg_status st = PA_NEG_REFUSED;
	size_t i, pos = 0, inner, oid_len;
	int n;

	*out_len = 0;
	if (!pa_negotiate_scheme(value, len)) {
		st = PA_NEG_NOT_NEGOTIATE;
		goto done;
	}
	if (len > PA_NEGOTIATE_HEADER_MAX) {
		reason = "Negotiate header too long";
		goto done;
	}
	for (i = 9; i < len && value[i] == ' '; i++)
		;
	if (i == len) {
		reason = "Negotiate without token";
		goto done;
	}
	n = pa_base64_decode_strict(value + i, len - i, out, outsize);
	if (n < 0) {
		reason = "bad base64 in Negotiate token";
		goto done;
	}
	*out_len = (size_t)n;
	if (*out_len >= 8 && memcmp(out, "NTLMSSP\0", 8) == 0) {
		reason = "NTLM token (NTLM is tied to one connection and cannot work "
			 "through an auth subrequest)";
		goto done;
	}
	if (out[0] == 0xa1) {
		reason = "SPNEGO continuation token (only one-round SPNEGO is supported)";
		goto done;
	}
	if (out[0] != 0x60 || (pos = 1, der_length(out, *out_len, &pos, &inner) != 0) ||
	    pos + inner != *out_len) {
		reason = "not a GSS-API initial token";
		goto done;
	}
	if (pos + 2 > *out_len || out[pos] != 0x06 || out[pos + 1] >= 0x80 ||
	    (oid_len = out[pos + 1]) > *out_len - pos - 2) {
		reason = "GSS-API token without a mechanism OID";
		goto done;
	}
	pos += 2;
	if (oid_len == sizeof(krb5_oid) && memcmp(out + pos, krb5_oid, oid_len) == 0) {
		reason = "raw Kerberos token, not SPNEGO";
		goto done;
	}
	if (oid_len != sizeof(spnego_oid) || memcmp(out + pos, spnego_oid, oid_len) != 0) {
		reason = "GSS-API token of a mechanism other than SPNEGO";
		goto done;
	}
	if (pos + oid_len == *out_len) {
		reason = "SPNEGO token without content";
		goto done;
	}
	st = PA_NEG_OK;
done:
	if (st != PA_NEG_OK)
		*out_len = 0;
	if (why != NULL)
		*why = reason;
	return st;
}
