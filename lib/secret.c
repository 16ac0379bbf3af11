/*
 * Secret file reader.  The permission check uses fstat() on the opened
 * descriptor, so a symlink (Kubernetes mounts secrets through them) is
 * judged by the file it points to, and there is no race between the check
 * and the read.  Files are opened non-blocking: a FIFO or a terminal
 * named by mistake is refused as not regular instead of waiting for a
 * writer forever (a regular file reads the same either way).
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
pa_secret_read(const char *path, char *buf, size_t size, struct pa_error *err)
{
	struct stat st;
	ssize_t n;
	size_t len = 0;
	bool newline_read = false;
	int fd, ret = -1;

	if (size == 0) {
		pa_error_set(err, "%s: no room for the secret", path);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0) {
		pa_error_set(err, "%s: cannot open: %s", path, strerror(errno));
		/* Scrubbed here too: a caller re-reading into the buffer of
		 * an old secret must not be left with the old one. */
		OPENSSL_cleanse(buf, size);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		pa_error_set(err, "%s: not a regular file", path);
		goto done;
	}
	if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
		pa_error_set(err, "%s: readable or writable by group or others (mode %04o); "
			     "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
		goto done;
	}
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	/* A full buffer may still hold the whole secret: the file can end
	 * here, or with only the newline that is removed anyway. */
	if (len + 1 >= size) {
		char extra[2];
		ssize_t more = read(fd, extra, sizeof(extra));

		newline_read = more == 1 && extra[0] == '\n';
		OPENSSL_cleanse(extra, sizeof(extra));	/* may hold part of it */
		if (!newline_read && more != 0) {
			pa_error_set(err, "%s: longer than %zu bytes", path, size - 1);
			goto done;
		}
	}
	buf[len] = '\0';
	if (!newline_read && len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0 || memchr(buf, '\0', len) != NULL) {
		pa_error_set(err, "%s: empty or binary", path);
		goto done;
	}
	ret = 0;
done:
	if (ret != 0)
		OPENSSL_cleanse(buf, size);
	close(fd);
	return ret;
}

int
pa_secret_check(const char *path, struct pa_error *err)
{
	struct stat st;
	int fd, ret = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0) {
		pa_error_set(err, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		pa_error_set(err, "%s: not a regular file", path);
	else if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH))
		pa_error_set(err, "%s: readable or writable by group or others (mode %04o); "
			     "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
	else
		ret = 0;
	close(fd);
	return ret;
}
