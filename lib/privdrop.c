#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

int
pa_drop_privileges(const char *user, struct pa_error *err)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (getpwnam_r(user, &pw, buf, sizeof(buf), &found) != 0 || found == NULL) {
		pa_error_set(err, "user = %.64s: no such user", user);
		return -1;
	}
	if (pw.pw_uid == 0) {
		pa_error_set(err, "user = %.64s: that is root", user);
		return -1;
	}
	/* glibc applies each of these to every thread of the process. */
	if (initgroups(pw.pw_name, pw.pw_gid) != 0) {
		pa_error_set(err, "user = %.64s: initgroups: %s", user, strerror(errno));
		return -1;
	}
	if (setgid(pw.pw_gid) != 0) {
		pa_error_set(err, "user = %.64s: setgid: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(pw.pw_uid) != 0) {
		pa_error_set(err, "user = %.64s: setuid: %s", user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0 || getegid() != pw.pw_gid) {
		pa_error_set(err, "user = %.64s: root could be taken back", user);
		return -1;
	}
	return 0;
}

int
pa_forbid_core_dumps(struct pa_error *err)
{
	const struct rlimit none = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		pa_error_set(err, "cannot turn core dumps off: %s", strerror(errno));
		return -1;
	}
	return 0;
}
