/*
 * A typed error with a fixed-size message buffer, passed down by callers
 * that want to know why something failed.  Functions that take a
 * `struct pa_error *` fill it on failure and leave it alone on success.
 * Messages never contain secrets: callers must not format a password or
 * a credentials header into one.
 */
#ifndef PA_ERROR_H
#define PA_ERROR_H

#include <stdarg.h>

struct pa_error {
	char msg[256];
};

/* Formats a message into err (NULL is allowed and ignored).  A message
 * that does not fit ends in "..." rather than being cut silently. */
void pa_error_set(struct pa_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
