/*
 * libFuzzer target: proxyauth-check's reader of the echo target's JSON and
 * the upstream verdict built on it (lib/check_verdict.h).  The input is an
 * answer body as a front proxy might hand it back (the proxy or the app
 * behind it may be anything).  Beyond "no crash, no read past the body":
 *   - every name and value read is NUL-terminated within its buffer;
 *   - the walk ends (each header read moves forward);
 *   - the verdict's reason never holds the secret token, whatever headers
 *     carry it.
 */
#include "check_verdict.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const markers[] = { "pacheck-forged" };
	static const char secret[] = "c2VjcmV0OnNlY3JldA==";
	struct pa_check_answer a = { .status = 200 };
	struct pa_check_result r;
	char name[16], value[16];
	size_t pos = 0, last = 0, n = 0;
	char *body = malloc(size ? size : 1);
	int rc;

	if (body == NULL)
		return 0;
	memcpy(body, data, size);
	while ((rc = pa_echo_next_header(body, size, &pos, name, sizeof(name), value,
					 sizeof(value))) == 1) {
		if (memchr(name, '\0', sizeof(name)) == NULL ||
		    memchr(value, '\0', sizeof(value)) == NULL)
			abort();
		if (n++ > 0 && pos <= last)
			abort();
		last = pos;
		if (pos > size)
			abort();
	}
	a.body = body;
	a.body_len = size;
	a.echo = pa_echo_is_echo(body, size);
	/* Echo (the whole layout) implies a headers list that reads whole;
	 * not the other way round. */
	if (a.echo && rc != 0)
		abort();
	pa_check_upstream_clean(&a, markers, 1, secret, "192.0.2.66", "fuzz", &r);
	if (strstr(r.reason, secret) != NULL)
		abort();
	free(body);
	return 0;
}
