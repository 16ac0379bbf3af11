/*
 * proxyauth-passwd: makes password hashes and edits htpasswd files.
 *
 *   proxyauth-passwd [-a bcrypt|yescrypt|argon2id] [-C COST]
 *       reads a password from standard input, prints its hash
 *   proxyauth-passwd [-a ALG] [-C COST] -f FILE USER [GROUPS]
 *       adds or updates USER in FILE (atomically); GROUPS replaces the
 *       user's groups, leaving it out keeps them
 *   proxyauth-passwd -f FILE --disable|--enable|--delete USER
 *
 * The password is read from standard input, without echo on a terminal,
 * and never taken from the command line, where other users could see it.
 */
#include "credentials.h"
#include "hash.h"
#include "passwd_file.h"
#include "text.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void
usage(void)
{
	fprintf(stderr,
		"usage: proxyauth-passwd [-a bcrypt|yescrypt|argon2id] [-C COST]\n"
		"       proxyauth-passwd [-a ALG] [-C COST] -f FILE USER [GROUPS]\n"
		"       proxyauth-passwd -f FILE --disable|--enable|--delete USER\n"
		"The password is read from standard input.\n");
}

/* Reads one line (the password) from stdin into buf; no echo on a tty. */
static int
read_password(char *buf, size_t size)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "Password: ");
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	if (fgets(buf, (int)size, stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	else if (n == size - 1) {
		fprintf(stderr, "proxyauth-passwd: password longer than %d bytes\n",
			PA_PASSWORD_MAX);
		return -1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "proxyauth-passwd: empty password\n");
		return -1;
	}
	/* proxyauthd refuses such passwords as malformed before any hash is
	 * looked at: a hash of one could never be used. */
	if (!pa_utf8_valid(buf, n) || pa_has_control(buf, n)) {
		fprintf(stderr, "proxyauth-passwd: the password must be UTF-8 without control "
			"characters\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "disable", no_argument, NULL, 'D' },
		{ "enable", no_argument, NULL, 'E' },
		{ "delete", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum pa_pwfile_op op = PA_PWFILE_SET;
	const char *alg = "bcrypt", *file = NULL, *why = NULL;
	char password[PA_PASSWORD_MAX + 2];
	struct pa_error err = { { 0 } };
	char *hash = NULL;
	long cost = 0;
	int ch, ret = 1;

	while ((ch = getopt_long(argc, argv, "a:C:f:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			alg = optarg;
			break;
		case 'C':
			cost = strtol(optarg, NULL, 10);
			if (cost <= 0 || cost > 31) {
				fprintf(stderr, "proxyauth-passwd: bad cost\n");
				return 2;
			}
			break;
		case 'f':
			file = optarg;
			break;
		case 'D':
			op = PA_PWFILE_DISABLE;
			break;
		case 'E':
			op = PA_PWFILE_ENABLE;
			break;
		case 'X':
			op = PA_PWFILE_DELETE;
			break;
		default:
			usage();
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if ((file == NULL && (argc != 0 || op != PA_PWFILE_SET)) ||
	    (file != NULL && op == PA_PWFILE_SET && (argc < 1 || argc > 2)) ||
	    (file != NULL && op != PA_PWFILE_SET && argc != 1)) {
		usage();
		return 2;
	}
	if (file != NULL && pa_passwd_check_user(argv[0], &err) != 0) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		return 2;
	}
	if (op == PA_PWFILE_SET) {
		if (read_password(password, sizeof(password)) != 0)
			goto done;
		/* bcrypt reads 72 bytes and ignores the rest, so a longer password
		 * would be accepted on its first 72 bytes alone. */
		if (strcmp(alg, "bcrypt") == 0 && strlen(password) > 72) {
			fprintf(stderr, "proxyauth-passwd: bcrypt uses only the first 72 bytes of "
				"a password; use -a yescrypt or -a argon2id for longer ones\n");
			goto done;
		}
		if (pa_hash_make(password, alg, (int)cost, &hash, &why) != 0) {
			fprintf(stderr, "proxyauth-passwd: %s\n", why);
			goto done;
		}
	}
	if (file == NULL) {
		printf("%s\n", hash);
		ret = 0;
		goto done;
	}
	if (pa_passwd_file_update(file, argv[0], op, hash, argc == 2 ? argv[1] : NULL,
				  &err) != 0) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		goto done;
	}
	ret = 0;
done:
	OPENSSL_cleanse(password, sizeof(password));
	free(hash);
	return ret;
}
