/*
 * Scratch space for the unit tests: a private temporary folder per test,
 * files written with an exact mode, and a pipe standing in for standard
 * error so that a test can read back the log lines a module wrote.
 *
 * Everything is static inline so each test program takes only what it
 * uses; failures abort the test through cmocka's fail_msg(), since a test
 * that cannot set up its scratch space has nothing to say.
 */
#ifndef PA_TEST_SCRATCH_H
#define PA_TEST_SCRATCH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRATCH_PATH_MAX 256

/* Makes a new private folder under $TMPDIR (or /tmp) into dir[SCRATCH_PATH_MAX]. */
static inline void
scratch_mkdir(char *dir)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	snprintf(dir, SCRATCH_PATH_MAX, "%s/pa-unit-XXXXXX", base);
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp %s: %s", dir, strerror(errno));
}

/* Removes the files in dir (one level: tests make no subfolders) and dir. */
static inline void
scratch_rmdir(const char *dir)
{
	char path[SCRATCH_PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	if (dir == NULL || dir[0] == '\0' || (d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			rmdir(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Number of entries in dir other than "." and "..". */
static inline int
scratch_count(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	if ((d = opendir(dir)) == NULL)
		fail_msg("opendir %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Writes len bytes of data to path (replacing it in place) with mode. */
static inline void
scratch_write_n(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	if (fchmod(fd, mode) != 0 || (len > 0 && write(fd, data, len) != (ssize_t)len))
		fail_msg("write %s: %s", path, strerror(errno));
	close(fd);
}

static inline void
scratch_write(const char *path, const char *text, mode_t mode)
{
	scratch_write_n(path, text, strlen(text), mode);
}

/* Replaces path the way editors and proxyauth-passwd do: a new file
 * renamed over the old one (new inode). */
static inline void
scratch_replace(const char *path, const char *text, mode_t mode)
{
	char tmp[1024];

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	scratch_write(tmp, text, mode);
	if (rename(tmp, path) != 0)
		fail_msg("rename %s: %s", tmp, strerror(errno));
}

/* The whole file as a NUL-terminated string the caller frees. */
static inline char *
scratch_read(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = fopen(path, "re");

	if (fp == NULL)
		fail_msg("fopen %s: %s", path, strerror(errno));
	FILE *mem = open_memstream(&buf, &len);
	int c;

	if (mem == NULL)
		fail_msg("open_memstream: %s", strerror(errno));
	while ((c = fgetc(fp)) != EOF)
		fputc(c, mem);
	fclose(mem);
	fclose(fp);
	return buf;
}

/* A pipe whose read end does not block: fds[0] read, fds[1] write. */
static inline void
scratch_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		fail_msg("pipe: %s", strerror(errno));
	if (fcntl(fds[0], F_SETFL, O_NONBLOCK) != 0)
		fail_msg("fcntl: %s", strerror(errno));
}

/* Reads what is waiting in the pipe into buf[size] (NUL-terminated);
 * returns the length. */
static inline size_t
scratch_drain(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	return len;
}

/* Number of '\n' in s. */
static inline int
scratch_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

#endif
