/*
 * proxyauth-check: proves that a live front proxy is wired safely to
 * proxyauthd, by sending it the requests that broke forward-auth setups
 * elsewhere and printing PASS, FAIL or SKIP with a reason for each check.
 *
 *   proxyauth-check (-x PROXY_URL | --reverse HOST:PORT) --user NAME
 *       [--password-file FILE] [--second-user NAME
 *       [--second-password-file FILE]] [--protected PATH]
 *       [--other-host NAME] [--outage-cmd CMD] [--timeout S] [--json]
 *       TARGET_URL
 *   proxyauth-check --echo-server ADDR
 *
 * Passwords come from files (mode 0600) or from standard input, one line
 * each (the user's first), never from the command line; before they are
 * read, core dumps are turned off (RLIMIT_CORE 0, not dumpable).  Exit status: 0
 * when no check failed, 1 when one did, 2 on a usage or setup error.  The
 * checks themselves are in checks.c, their verdicts in lib/check_verdict.c.
 */
#include "checks.h"
#include "passwd_edit.h"
#include "privdrop.h"
#include "secret.h"
#include "text.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(void)
{
	fprintf(stderr,
		"usage: proxyauth-check (-x PROXY_URL | --reverse HOST:PORT) --user NAME\n"
		"           [--password-file FILE] [--second-user NAME]\n"
		"           [--second-password-file FILE] [--protected PATH]\n"
		"           [--other-host NAME] [--outage-cmd CMD] [--timeout S] [--json]\n"
		"           TARGET_URL\n"
		"       proxyauth-check --echo-server ADDR\n"
		"Passwords are read from the files or, one line each, from standard input.\n");
}

/* Reads a password from path, or from standard input when path is NULL. */
static int
read_password(const char *path, const char *who, char *buf, size_t size)
{
	struct pa_error err = { { 0 } };
	int rc;

	if (path != NULL)
		rc = pa_secret_read(path, buf, size, &err);
	else
		rc = pa_passwd_read(stdin, stderr, buf, size, &err);
	if (rc != 0)
		fprintf(stderr, "proxyauth-check: %s's password: %s\n", who, err.msg);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "reverse", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "second-user", required_argument, NULL, 'U' },
		{ "second-password-file", required_argument, NULL, 'P' },
		{ "protected", required_argument, NULL, 'a' },
		{ "other-host", required_argument, NULL, 'o' },
		{ "outage-cmd", required_argument, NULL, 'O' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "echo-server", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct chk_opts o;
	struct pa_check_result res[CHK_MAX];
	struct pa_error err = { { 0 } };
	const char *pwfile = NULL, *pwfile2 = NULL, *echo = NULL;
	bool json = false;
	size_t n = 0;
	long t;
	int ch, ret = 2;

	o.other_host = "proxyauth-check.invalid";
	o.timeout_s = 10;
	while ((ch = getopt_long(argc, argv, "x:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'x': o.proxy = optarg; break;
		case 'r': o.reverse = optarg; break;
		case 'u': o.user = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'U': o.user2 = optarg; break;
		case 'P': pwfile2 = optarg; break;
		case 'a': o.protected_path = optarg; break;
		case 'o': o.other_host = optarg; break;
		case 'O': o.outage_cmd = optarg; break;
		case 'j': json = true; break;
		case 'E': echo = optarg; break;
		case 't':
			if (pa_parse_long(optarg, 1, 300, &t) < 0) {
				fprintf(stderr, "proxyauth-check: --timeout: 1 to 300 seconds\n");
				return 2;
			}
			o.timeout_s = t;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (echo != NULL) {
		if (optind != argc) {
			usage();
			return 2;
		}
		if (chk_echo_serve(echo, &err) < 0) {
			fprintf(stderr, "proxyauth-check: %s\n", err.msg);
			return 2;
		}
		return 0;
	}
	if (optind + 1 != argc || o.user == NULL || (o.proxy == NULL) == (o.reverse == NULL)) {
		usage();
		return 2;
	}
	/* The passwords will be in this process's memory: no core file of
	 * it, and no ptrace or /proc/PID/mem by other processes of the user. */
	if (pa_forbid_core_dumps(&err) != 0) {
		fprintf(stderr, "proxyauth-check: %s\n", err.msg);
		return 2;
	}
	o.target = argv[optind];
	if (o.protected_path != NULL && (o.protected_path[0] != '/' ||
					 strlen(o.protected_path) < 2 ||
					 strlen(o.protected_path) > 400)) {
		fprintf(stderr, "proxyauth-check: --protected: a path of 2 to 400 bytes "
			"starting with '/'\n");
		return 2;
	}
	if (read_password(pwfile, o.user, o.password, sizeof(o.password)) != 0)
		goto done;
	if (o.user2 != NULL &&
	    read_password(pwfile2, o.user2, o.password2, sizeof(o.password2)) != 0)
		goto done;
	if (chk_run(&o, res, &n, &err) < 0) {
		fprintf(stderr, "proxyauth-check: %s\n", err.msg);
		goto done;
	}
	ret = pa_check_report(stdout, res, n, json);
done:
	explicit_bzero(&o, sizeof(o));
	return ret;
}
