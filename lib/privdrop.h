/*
 * Dropping root after start, as nginx's and Squid's `user` do: the
 * listening socket is open and the secret files are read, then the
 * process takes the named account's uid, gid and supplementary groups
 * for good (setgroups, setgid, setuid, in that order, and a check that
 * root cannot be taken back).
 */
#ifndef PA_PRIVDROP_H
#define PA_PRIVDROP_H

#include "error.h"

/* Switches every thread of the process to user.  Returns 0, or -1 with
 * err set; on failure the process must not go on serving. */
int pa_drop_privileges(const char *user, struct pa_error *err);

/* Passwords pass through the process's memory: no core file of it
 * (RLIMIT_CORE 0, soft and hard), and not dumpable, so that other
 * processes of the same user cannot ptrace it or read /proc/PID/mem.
 * Returns 0, or -1 with err set. */
int pa_forbid_core_dumps(struct pa_error *err);

#endif
