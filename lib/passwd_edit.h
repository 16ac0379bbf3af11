/*
 * proxyauth-passwd's steps that a test wants to reach, apart from its
 * option parsing: reading the password, making its hash, the check that
 * refuses an htpasswd file proxyauthd would refuse, and the group of a new
 * file.  Messages are set in struct pa_error without the program's name;
 * the program prints them.
 */
#ifndef PA_PASSWD_EDIT_H
#define PA_PASSWD_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "error.h"

/*
 * Reads one line, the password, from in into buf (size bytes; a password
 * up to size - 2 bytes fits), without echo when in is a terminal (the
 * prompt then goes to prompt).  A final CR LF or LF is dropped.  Returns
 * 0, or -1 with err set for an empty password, one too long for buf, or
 * one that is not UTF-8 without control characters (proxyauthd refuses
 * such passwords before looking at any hash, so a hash of one could never
 * be used).  buf may hold password bytes on any return: scrub it.
 */
int pa_passwd_read(FILE *in, FILE *prompt, char *buf, size_t size, struct pa_error *err);

/*
 * Makes the hash of password with alg and cost (as pa_hash_make) into
 * *hash (the caller frees it).  Refuses a password longer than 72 bytes
 * for bcrypt, which reads only the first 72 and would accept it on those
 * alone.  Returns 0, or -1 with err set and *hash NULL.
 */
int pa_passwd_make_hash(const char *password, const char *alg, int cost, char **hash,
			struct pa_error *err);

/* How the new htpasswd file is checked (pa_passwd_check_file). */
struct pa_passwd_check {
	bool allow_weak;	/* [server] allow_weak_hashes */
	bool force;		/* write it even when proxyauthd would refuse it */
	FILE *report;		/* every problem, one a line ("FILE:LINE: why") */
};

/*
 * A struct pa_pwfile_opts check hook (arg: struct pa_passwd_check): the
 * new file at tmp, checked with the daemon's own parser as shown.
 * Returns 0 when proxyauthd would load it, or when forced (a warning then
 * goes to report); else -1 with err saying nothing was written.
 */
int pa_passwd_check_file(const char *tmp, const char *shown, void *arg, struct pa_error *err);

/* The group id for name, a group name or number.  0, or -1 with err set. */
int pa_passwd_group(const char *name, gid_t *gid, struct pa_error *err);

#endif
