/*
 * libFuzzer target: the client address chosen from X-Forwarded-For and
 * X-Real-IP (SPEC section 3) behind a trusted proxy.  The input is split
 * at its first NUL into the two header values (counted, not terminated).
 * Beyond "no crash, no sanitizer report": the result is a NUL-terminated
 * printable string within PA_ADDR_MAX, never the trusted proxy's own
 * address unless every entry was trusted, and either an address that
 * parses back to itself or an "xff:" label that is no address at all.
 */
#include "netaddr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pa_cidr_list trusted, any;
	static int ready;
	const char *xff = (const char *)data, *xri = NULL;
	const unsigned char *nul = memchr(data, '\0', size);
	size_t xff_len = size, xri_len = 0, n, i;
	char out[PA_ADDR_MAX + 8];

	if (!ready) {
		struct pa_error err = { { 0 } };

		if (pa_cidr_list_parse("10.0.0.0/8, fd00::/8", &trusted, &err) != 0 ||
		    pa_cidr_list_parse("0.0.0.0/0, ::/0", &any, &err) != 0)
			abort();
		ready = 1;
	}
	if (nul != NULL) {
		xff_len = (size_t)(nul - data);
		xri = (const char *)nul + 1;
		xri_len = size - xff_len - 1;
	}
	memset(out, 'X', sizeof(out));
	pa_client_address(&trusted, "10.0.0.1", xff_len > 0 ? xff : NULL, xff_len, xri, xri_len,
			  out);
	n = strnlen(out, sizeof(out));
	if (n == 0 || n >= PA_ADDR_MAX)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x21 || (unsigned char)out[i] > 0x7e)
			abort();	/* goes into logs and lockout keys */
	/* A label is no address (so never a trusted one); anything else is. */
	if (pa_cidr_list_match_text(&any, out, n) == (strncmp(out, "xff:", 4) == 0))
		abort();
	return 0;
}
