/*
 * Atomic edits of an htpasswd file for proxyauth-passwd: the new content
 * is written to a temporary file in the same folder, synced, checked (by
 * the caller's hook: proxyauth-passwd runs the daemon's own parser) and
 * renamed over the old one, so proxyauthd (which reloads on change) only
 * ever sees the old or the new file whole.  A symbolic link is followed:
 * its target is replaced and the link stays.  The new file keeps the old
 * one's mode, owner and group; a new file is 0640 in the group asked for
 * (by default the folder's).  Concurrent editors are serialised with
 * flock(2) on the file being replaced.  Lines other than the user's,
 * comments included, are kept byte for byte.
 */
#ifndef PA_PASSWD_FILE_H
#define PA_PASSWD_FILE_H

#include <sys/types.h>

#include "error.h"

enum pa_pwfile_op {
	PA_PWFILE_SET,		/* add or replace the user's hash (and groups) */
	PA_PWFILE_DISABLE,	/* prefix the hash with '!' */
	PA_PWFILE_ENABLE,	/* remove the '!' */
	PA_PWFILE_DELETE,	/* remove the user's line */
};

struct pa_pwfile_opts {
	/* Called with the new content written to tmp (not yet in place;
	 * shown is the name to use in messages): 0 puts it in place, -1 with
	 * err set leaves the file as it was.  May be NULL. */
	int (*check)(const char *tmp, const char *shown, void *arg, struct pa_error *err);
	void *check_arg;
	/* The group of a new file: (gid_t)-1 for its folder's group. */
	gid_t new_group;
};

/*
 * Applies op for user to the file at path (created for PA_PWFILE_SET when
 * missing).  hash is used by PA_PWFILE_SET; groups too, where NULL keeps
 * the user's current groups.  opts may be NULL (no check, the folder's
 * group).  Returns 0, or -1 with err set (unknown user for the other
 * operations, invalid name, refused by the check, an owner or group that
 * cannot be kept, I/O error).
 */
int pa_passwd_file_update(const char *path, const char *user, enum pa_pwfile_op op,
			  const char *hash, const char *groups,
			  const struct pa_pwfile_opts *opts, struct pa_error *err);

/* 0 when name is usable as a user (1..256 bytes, printable UTF-8, no ':'). */
int pa_passwd_check_user(const char *user, struct pa_error *err);

/* 0 when groups is usable as a group list (printable UTF-8, no ':'). */
int pa_passwd_check_groups(const char *groups, struct pa_error *err);

#endif
