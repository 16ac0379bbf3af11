/*
 * libFuzzer target: user name folding (lib/fold.h) on any input:
 *   - the fold is NUL-terminated, shorter than PA_FOLD_MAX, and its
 *     length is what was returned;
 *   - it has no leading, trailing or doubled space (a name of spaces only
 *     folds to exactly " ");
 *   - for valid UTF-8 it is valid UTF-8, and folding it again changes
 *     nothing (one account, one key, however often it is folded).
 */
#include "fold.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[PA_FOLD_MAX], again[PA_FOLD_MAX];
	size_t n, m;

	if (size > 256)
		return 0;	/* the credentials parser's bound */
	n = pa_fold_user((const char *)data, size, out);
	if (n >= PA_FOLD_MAX || strlen(out) != n)
		abort();
	if (n > 1 && (out[0] == ' ' || out[n - 1] == ' ' || strstr(out, "  ") != NULL))
		abort();
	if (!pa_utf8_valid((const char *)data, size) || memchr(data, 0, size) != NULL)
		return 0;
	if (!pa_utf8_valid(out, n))
		abort();
	m = pa_fold_user(out, n, again);
	if (m != n || memcmp(out, again, n) != 0)
		abort();
	return 0;
}
