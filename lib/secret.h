/*
 * Reading secrets from files (bind_password_file, password_file).  A file
 * readable by group or others is refused, as OpenSSH and relayd do, so a
 * secret is never used from a place where others could read it too.
 */
#ifndef PA_SECRET_H
#define PA_SECRET_H

#include <stddef.h>

#include "error.h"

/* Reads path into buf[size] as a NUL-terminated string with one trailing
 * newline removed.  Returns 0, or -1 with err set (mode too open, missing,
 * too big, empty).  On failure buf is scrubbed. */
int pa_secret_read(const char *path, char *buf, size_t size, struct pa_error *err);

/* The same checks for a secret that another library reads itself (a
 * Kerberos keytab): path opens, is a regular file, and is not readable or
 * writable by group or others.  0, or -1 with err set. */
int pa_secret_check(const char *path, struct pa_error *err);

#endif
