/*
 * proxyauth-passwd's testable steps (passwd_edit.h).
 *
 * Invariants: the password is never echoed nor written anywhere but buf;
 * a password proxyauthd would refuse never gets a hash.
 */
#include "passwd_edit.h"
#include "credentials.h"
#include "hash.h"
#include "htpasswd.h"
#include "text.h"

#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int
pa_passwd_read(FILE *in, FILE *prompt, char *buf, size_t size, struct pa_error *err)
{
	struct termios old, quiet;
	int fd = fileno(in);
	bool tty = fd >= 0 && isatty(fd);
	size_t n;

	if (tty) {
		fprintf(prompt, "Password: ");
		fflush(prompt);
		if (tcgetattr(fd, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(fd, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	if (fgets(buf, (int)size, in) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(fd, TCSAFLUSH, &old);
		fputc('\n', prompt);
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n') {
		buf[--n] = '\0';
	} else if (n == size - 1) {
		pa_error_set(err, "password longer than %zu bytes", size - 2);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if (n == 0) {
		pa_error_set(err, "empty password");
		return -1;
	}
	if (!pa_utf8_valid(buf, n) || pa_has_control(buf, n)) {
		pa_error_set(err, "the password must be UTF-8 without control characters");
		return -1;
	}
	return 0;
}

int
pa_passwd_make_hash(const char *password, const char *alg, int cost, char **hash,
		    struct pa_error *err)
{
	const char *why = NULL;

	*hash = NULL;
	if (strcmp(alg, "bcrypt") == 0 && strlen(password) > 72) {
		pa_error_set(err, "bcrypt uses only the first 72 bytes of a password; use "
			     "-a yescrypt or -a argon2id for longer ones");
		return -1;
	}
	if (pa_hash_make(password, alg, cost, hash, &why) != 0) {
		pa_error_set(err, "%s", why);
		*hash = NULL;
		return -1;
	}
	return 0;
}

int
pa_passwd_check_file(const char *tmp, const char *shown, void *arg, struct pa_error *err)
{
	const struct pa_passwd_check *pc = arg;

	if (pa_htpasswd_check(tmp, shown, pc->allow_weak, pc->report, err) == 0)
		return 0;
	if (pc->force) {
		fprintf(pc->report, "%s\nproxyauth-passwd: warning: written with --force; "
			"proxyauthd refuses this file and keeps the table it loaded before\n",
			err->msg);
		return 0;
	}
	fprintf(pc->report, "%s\n", err->msg);
	pa_error_set(err, "%s: proxyauthd would refuse the new file (and keep serving its "
		     "old table); nothing was written: fix what is named above, or use "
		     "--force", shown);
	return -1;
}

int
pa_passwd_group(const char *name, gid_t *gid, struct pa_error *err)
{
	struct group *gr = getgrnam(name);
	long id;

	if (gr != NULL) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (pa_parse_long(name, 0, 2147483647L, &id) == 0) {
		*gid = (gid_t)id;
		return 0;
	}
	pa_error_set(err, "no group '%s'", name);
	return -1;
}
