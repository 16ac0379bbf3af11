/*
 * libFuzzer target: the path and host canonicalisers of lib/rules.h.  The
 * first byte picks which ('h' the host, anything else the path); the rest
 * is the header value.  Invariants:
 *   - an accepted path starts with '/', holds no "." or ".." segment, no
 *     "//", no '%' (so no encoded separator is left), no ';', '\\', '#'
 *     or control character, is valid UTF-8, and is its own canonical
 *     form (accepted again, unchanged), unless it holds a '?' (cut again);
 *   - an accepted path lies under itself, and under "/" and "";
 *   - a value agrees with itself (pa_paths_agree, pa_hosts_agree) exactly
 *     when it is accepted;
 *   - an accepted host is lowercase letters, digits, '-' and '.' (or a
 *     bracketed IPv6 address), without a port, an empty label or a
 *     trailing dot, and is its own canonical form.
 */
#include "rules.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const char *in, size_t len)
{
	char out[4096], again[4096];
	const char *why = NULL;
	size_t n, i, seg;

	if (pa_path_canon(in, len, out, sizeof(out), &why) != 0) {
		if (why == NULL)
			abort();	/* a refusal always says why */
		if (pa_paths_agree(in, len, in, len))
			abort();
		return;
	}
	if (!pa_paths_agree(in, len, in, len))
		abort();
	n = strlen(out);
	if (n == 0 || out[0] != '/' || strstr(out, "//") != NULL || !pa_utf8_valid(out, n))
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '%' || c == ';' || c == '\\' || c == '#' || c < 0x20 || c == 0x7f)
			abort();
	}
	for (i = 1; i <= n; i += seg + 1) {
		seg = strcspn(out + i, "/");
		if ((seg == 1 && out[i] == '.') || (seg == 2 && out[i] == '.' && out[i + 1] == '.'))
			abort();
	}
	if (memchr(out, '?', n) == NULL &&
	    (pa_path_canon(out, n, again, sizeof(again), &why) != 0 || strcmp(out, again) != 0))
		abort();
	if (!pa_path_under(out, out, false) || !pa_path_under(out, out, true) ||
	    !pa_path_under(out, "/", false) || !pa_path_under(out, "", true))
		abort();
}

static void
check_host(const char *in, size_t len)
{
	char out[256], again[256];
	const char *why = NULL;
	size_t n, i;

	if (pa_host_canon(in, len, out, sizeof(out), &why) != 0) {
		if (why == NULL)
			abort();
		if (pa_hosts_agree(in, len, in, len))
			abort();
		return;
	}
	if (!pa_hosts_agree(in, len, in, len))
		abort();
	n = strlen(out);
	if (n == 0)
		abort();
	if (out[0] == '[') {
		if (out[n - 1] != ']' || strspn(out + 1, "0123456789abcdef:.") != n - 2)
			abort();
	} else {
		if (strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789-.") != n || out[0] == '.' ||
		    out[n - 1] == '.' || strstr(out, "..") != NULL)
			abort();
	}
	for (i = 0; i < n; i++)
		if (out[i] == ':' && out[0] != '[')
			abort();
	if (pa_host_canon(out, n, again, sizeof(again), &why) != 0 || strcmp(out, again) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in;

	if (size == 0 || size > 8192)
		return 0;
	/* A copy of exactly the value, so that ASan sees any read past it. */
	if ((in = malloc(size > 1 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(in, data + 1, size - 1);
	if (data[0] == 'h')
		check_host(in, size - 1);
	else
		check_path(in, size - 1);
	free(in);
	return 0;
}
