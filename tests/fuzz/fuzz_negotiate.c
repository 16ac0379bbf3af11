/*
 * libFuzzer target: the Negotiate header parser (negotiate_token.h), the
 * step before GSS-API.  Beyond "no crash, no sanitizer report": an
 * accepted value decodes to a SPNEGO InitialContextToken whose outer DER
 * length covers exactly the decoded bytes and that fits the buffer; a
 * refused value leaves no length and names a reason; and the verdict does
 * not depend on the scheme's case.
 */
#include "negotiate_token.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char out[PA_NEGOTIATE_TOKEN_MAX];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char flipped[PA_NEGOTIATE_HEADER_MAX + 64];
	const char *why = NULL;
	size_t len = 99, len2 = 99, i;
	enum pa_neg_status st, st2;

	st = pa_negotiate_parse((const char *)data, size, out, sizeof(out), &len, &why);
	switch (st) {
	case PA_NEG_NOT_NEGOTIATE:
		if (len != 0 || pa_negotiate_scheme((const char *)data, size))
			abort();
		return 0;
	case PA_NEG_REFUSED:
		if (len != 0 || why == NULL)
			abort();
		break;
	case PA_NEG_OK:
		if (len < 10 || len > sizeof(out) || out[0] != 0x60 ||
		    memcmp(out + 2 + (out[1] & 0x80 ? (out[1] & 0x7f) : 0),
			   "\x06\x06\x2b\x06\x01\x05\x05\x02", 8) != 0)
			abort();
		break;
	}
	/* The scheme in another case gives the same verdict. */
	if (size > sizeof(flipped))
		return 0;
	memcpy(flipped, data, size);
	for (i = 0; i < 9 && i < size; i++)
		flipped[i] = (char)(isupper((unsigned char)flipped[i])
					    ? tolower((unsigned char)flipped[i])
					    : toupper((unsigned char)flipped[i]));
	st2 = pa_negotiate_parse(flipped, size, out, sizeof(out), &len2, NULL);
	if (st2 != st || len2 != len)
		abort();
	return 0;
}
