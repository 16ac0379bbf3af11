/*
 * htpasswd file editor.  See passwd_file.h for the guarantees.
 */
#include "passwd_file.h"
#include "credentials.h"
#include "backend.h"
#include "fold.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int
pa_passwd_check_user(const char *user, struct pa_error *err)
{
	size_t n = strlen(user);

	if (n == 0 || n > PA_USER_MAX || strchr(user, ':') != NULL || !pa_utf8_valid(user, n) ||
	    pa_has_control(user, n)) {
		pa_error_set(err, "user must be 1 to %d bytes of printable UTF-8 without ':'",
			     PA_USER_MAX);
		return -1;
	}
	return 0;
}

int
pa_passwd_check_new_user(const char *user, struct pa_error *err)
{
	const char *unsafe;

	if (pa_passwd_check_user(user, err) != 0)
		return -1;
	if ((unsafe = pa_name_unsafe(user)) != NULL) {
		pa_error_set(err, "the user name %s, which an application may read as another "
			     "name; proxyauthd would refuse it", unsafe);
		return -1;
	}
	return 0;
}

int
pa_passwd_check_groups(const char *groups, struct pa_error *err)
{
	size_t n = strlen(groups);

	if (n >= PA_GROUPS_MAX || strchr(groups, ':') != NULL || !pa_utf8_valid(groups, n) ||
	    pa_has_control(groups, n)) {
		pa_error_set(err, "groups must be printable UTF-8 without ':'");
		return -1;
	}
	return 0;
}

/* Opens and locks path, making sure the lock is on the file that path
 * names now (a concurrent editor may have renamed a new one over it).
 * Returns the fd, -1 with errno ENOENT when missing, or -1 on error. */
static int
open_locked(const char *path)
{
	struct stat a, b;
	int fd;

	for (;;) {
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return -1;
		if (flock(fd, LOCK_EX) != 0 || fstat(fd, &a) != 0) {
			close(fd);
			return -1;
		}
		if (stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			return fd;
		close(fd);
	}
}

/* Length of the user field if line is an entry, else 0. */
static size_t
line_user(const char *line)
{
	const char *c;

	if (line[0] == '#' || line[0] == '\0' || line[0] == '\n')
		return 0;
	c = strchr(line, ':');
	return c != NULL ? (size_t)(c - line) : 0;
}

static int
write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes the replacement line for the user into fd. */
static int
write_entry(int fd, const char *user, const char *hash, const char *groups)
{
	if (write_all(fd, user, strlen(user)) != 0 || write_all(fd, ":", 1) != 0 ||
	    write_all(fd, hash, strlen(hash)) != 0)
		return -1;
	if (groups != NULL && groups[0] != '\0' &&
	    (write_all(fd, ":", 1) != 0 || write_all(fd, groups, strlen(groups)) != 0))
		return -1;
	return write_all(fd, "\n", 1);
}

/* Gives the temporary file out the owner, group and mode the file will
 * have: the old file's (st) or, for a new one, 0640 in group (or the
 * folder's group).  0 or -1 with err set. */
static int
set_owner(int out, const char *tmp, const char *real, const struct stat *st, gid_t group,
	  struct pa_error *err)
{
	struct stat cur, dir;
	char *dircopy;
	int rc;

	if (fstat(out, &cur) != 0) {
		pa_error_set(err, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (st == NULL) {
		if (group == (gid_t)-1) {
			if ((dircopy = strdup(real)) == NULL) {
				pa_error_set(err, "out of memory");
				return -1;
			}
			rc = stat(dirname(dircopy), &dir);
			free(dircopy);
			if (rc != 0) {
				pa_error_set(err, "%s: folder: %s", real, strerror(errno));
				return -1;
			}
			group = dir.st_gid;
		}
		if (group != cur.st_gid && fchown(out, (uid_t)-1, group) != 0) {
			pa_error_set(err, "%s: cannot give the new file group %ld: %s", real,
				     (long)group, strerror(errno));
			return -1;
		}
		if (fchmod(out, 0640) != 0) {
			pa_error_set(err, "%s: cannot set mode: %s", tmp, strerror(errno));
			return -1;
		}
		return 0;
	}
	/* Owner and group first: chown may clear set-id bits that the mode
	 * then puts back. */
	if ((st->st_uid != cur.st_uid || st->st_gid != cur.st_gid) &&
	    fchown(out, st->st_uid != cur.st_uid ? st->st_uid : (uid_t)-1,
		   st->st_gid != cur.st_gid ? st->st_gid : (gid_t)-1) != 0) {
		pa_error_set(err, "%s: cannot keep its owner %ld and group %ld (%s): run as "
			     "root or as its owner", real, (long)st->st_uid, (long)st->st_gid,
			     strerror(errno));
		return -1;
	}
	if (fchmod(out, st->st_mode & 07777) != 0) {
		pa_error_set(err, "%s: cannot keep its mode: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
}

int
pa_passwd_file_update(const char *path, const char *user, enum pa_pwfile_op op,
		      const char *hash, const char *groups, const struct pa_pwfile_opts *opts,
		      struct pa_error *err)
{
	char *tmp = NULL, *dircopy = NULL, *line = NULL, *normgroups = NULL, *real = NULL;
	const char *given = path;
	size_t cap = 0, ulen = strlen(user);
	struct stat st;
	bool found = false, have_st = false;
	char fold[PA_FOLD_MAX], alike[PA_USER_MAX + 1] = "", other[PA_FOLD_MAX];
	ssize_t n;
	FILE *in = NULL;
	int lockfd = -1, out = -1, dfd, ret = -1;

	if ((op == PA_PWFILE_SET ? pa_passwd_check_new_user(user, err)
				 : pa_passwd_check_user(user, err)) != 0)
		return -1;
	if (op == PA_PWFILE_SET && user[0] == '#') {
		pa_error_set(err, "%s: a line beginning with '#' is a comment: '%s' cannot be "
			     "a user in an htpasswd file", path, user);
		return -1;
	}
	if (op == PA_PWFILE_SET)
		pa_fold_user(user, ulen, fold);
	if (groups != NULL) {
		if (pa_passwd_check_groups(groups, err) != 0 || (normgroups = strdup(groups)) == NULL)
			return -1;
		pa_list_normalize(normgroups);
	}
	/* Through a symbolic link to the file it names: that file is replaced
	 * (the daemon may read it by either name) and the link stays. */
	if ((real = realpath(path, NULL)) == NULL) {
		struct stat lst;

		if (errno != ENOENT || op != PA_PWFILE_SET) {
			pa_error_set(err, "%s: %s", path, strerror(errno));
			goto done;
		}
		if (lstat(path, &lst) == 0) {
			pa_error_set(err, "%s: a symbolic link to a missing file: create the "
				     "file it names first", path);
			goto done;
		}
		if ((real = strdup(path)) == NULL) {
			pa_error_set(err, "out of memory");
			goto done;
		}
	}
	path = real;
	if ((lockfd = open_locked(path)) < 0) {
		if (errno != ENOENT || op != PA_PWFILE_SET) {
			pa_error_set(err, "%s: %s", path, strerror(errno));
			goto done;
		}
	} else {
		if (fstat(lockfd, &st) == 0)
			have_st = true;
		if ((in = fdopen(dup(lockfd), "r")) == NULL) {
			pa_error_set(err, "%s: %s", path, strerror(errno));
			goto done;
		}
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		pa_error_set(err, "out of memory");
		goto done;
	}
	if ((out = mkstemp(tmp)) < 0) {
		pa_error_set(err, "%s: cannot create a temporary file: %s", tmp, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	if (set_owner(out, tmp, path, have_st ? &st : NULL,
		      opts != NULL ? opts->new_group : (gid_t)-1, err) != 0)
		goto done;
	while (in != NULL && (n = getline(&line, &cap, in)) >= 0) {
		size_t lu = line_user(line);

		/* Another user whose name folds like the new one ("alice" for
		 * "Alice"): an application comparing names without regard to
		 * case would take one for the other. */
		if (op == PA_PWFILE_SET && alike[0] == '\0' && lu > 0 && lu <= PA_USER_MAX &&
		    !(lu == ulen && strncmp(line, user, ulen) == 0)) {
			pa_fold_user(line, lu, other);
			if (strcmp(other, fold) == 0)
				pa_strlcpy_n(alike, sizeof(alike), line, lu);
		}
		if (lu == ulen && strncmp(line, user, ulen) == 0) {
			char *h = line + ulen + 1, *g, *nl;
			found = true;
			if ((nl = strchr(h, '\n')) != NULL)
				*nl = '\0';
			if ((nl = strchr(h, '\r')) != NULL)
				*nl = '\0';
			g = strchr(h, ':');
			if (g != NULL)
				*g++ = '\0';
			if (op == PA_PWFILE_DELETE)
				continue;
			if (op == PA_PWFILE_SET) {
				if (write_entry(out, user, hash, normgroups != NULL ? normgroups : g) != 0)
					goto io;
				continue;
			}
			if (op == PA_PWFILE_DISABLE && h[0] != '!') {
				/* The '!' goes in front of the hash: "user:!hash". */
				if (write_all(out, user, ulen) != 0 || write_all(out, ":!", 2) != 0 ||
				    write_all(out, h, strlen(h)) != 0 ||
				    (g != NULL && g[0] != '\0' &&
				     (write_all(out, ":", 1) != 0 || write_all(out, g, strlen(g)) != 0)) ||
				    write_all(out, "\n", 1) != 0)
					goto io;
				continue;
			}
			if (op == PA_PWFILE_ENABLE && h[0] == '!')
				h++;
			if (write_entry(out, user, h, g) != 0)
				goto io;
			continue;
		}
		if (write_all(out, line, (size_t)n) != 0)
			goto io;
		if (n > 0 && line[n - 1] != '\n' && write_all(out, "\n", 1) != 0)
			goto io;
	}
	if (!found) {
		if (op != PA_PWFILE_SET) {
			pa_error_set(err, "%s: no user '%s'", path, user);
			goto done;
		}
		if (alike[0] != '\0') {
			pa_error_set(err, "%s: '%s' folds like the user '%s' there (case, width or "
				     "blanks): an application comparing names loosely would take "
				     "one for the other; refused", path, user, alike);
			goto done;
		}
		if (write_entry(out, user, hash, normgroups) != 0)
			goto io;
	}
	if (fsync(out) != 0 || close(out) != 0) {
		out = -1;
		goto io;
	}
	out = -1;
	if (opts != NULL && opts->check != NULL && opts->check(tmp, given, opts->check_arg, err) != 0)
		goto done;
	if (rename(tmp, path) != 0)
		goto io;
	free(tmp);
	tmp = NULL;
	if ((dircopy = strdup(path)) != NULL &&
	    (dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	ret = 0;
	goto done;
io:
	pa_error_set(err, "%s: write failed: %s", path, strerror(errno));
done:
	if (out >= 0)
		close(out);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	if (in != NULL)
		fclose(in);
	if (lockfd >= 0)
		close(lockfd);
	free(line);
	free(dircopy);
	free(normgroups);
	free(real);
	return ret;
}
