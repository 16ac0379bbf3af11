/*
 * htpasswd file editor.  See passwd_file.h for the guarantees.
 */
#include "passwd_file.h"
#include "credentials.h"
#include "backend.h"
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

int
pa_passwd_file_update(const char *path, const char *user, enum pa_pwfile_op op,
		      const char *hash, const char *groups, struct pa_error *err)
{
	char *tmp = NULL, *dircopy = NULL, *line = NULL, *normgroups = NULL;
	size_t cap = 0, ulen = strlen(user);
	struct stat st;
	bool found = false, have_st = false;
	ssize_t n;
	FILE *in = NULL;
	int lockfd = -1, out = -1, dfd, ret = -1;

	if (pa_passwd_check_user(user, err) != 0)
		return -1;
	if (groups != NULL) {
		if (pa_passwd_check_groups(groups, err) != 0 || (normgroups = strdup(groups)) == NULL)
			return -1;
		pa_list_normalize(normgroups);
	}
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
	if (fchmod(out, have_st ? (st.st_mode & 07777) : 0640) != 0 ||
	    (have_st && geteuid() == 0 && fchown(out, st.st_uid, st.st_gid) != 0)) {
		pa_error_set(err, "%s: cannot set mode or owner: %s", tmp, strerror(errno));
		goto done;
	}
	while (in != NULL && (n = getline(&line, &cap, in)) >= 0) {
		size_t lu = line_user(line);
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
		if (write_entry(out, user, hash, normgroups) != 0)
			goto io;
	}
	if (fsync(out) != 0 || close(out) != 0) {
		out = -1;
		goto io;
	}
	out = -1;
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
	return ret;
}
