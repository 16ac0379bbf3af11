/*
 * proxyauth-passwd: makes password hashes and edits htpasswd files.
 *
 *   proxyauth-passwd [-a bcrypt|yescrypt|argon2id] [-C COST]
 *       reads a password from standard input, prints its hash
 *   proxyauth-passwd [-a ALG] [-C COST] -f FILE USER [GROUPS]
 *       adds or updates USER in FILE (atomically); GROUPS replaces the
 *       user's groups, leaving it out keeps them
 *   proxyauth-passwd -f FILE --disable|--enable|--delete USER
 *   proxyauth-passwd [-a ALG] [-C COST] --redis ADDRESS USER [GROUPS]
 *   proxyauth-passwd --redis ADDRESS --disable|--enable|--delete USER
 *       the same for a Redis user (<prefix>user:USER), each change
 *       announced on <prefix>invalidate so every proxyauthd drops the
 *       user's cached answers; --redis-user, --redis-password-file,
 *       --redis-db and --redis-prefix as in the daemon's [redis] section
 *
 * The password is read from standard input, without echo on a terminal,
 * and never taken from the command line, where other users could see it.
 */
#include "backend.h"
#include "credentials.h"
#include "hash.h"
#include "passwd_file.h"
#include "redisconn.h"
#include "secret.h"
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
		"       proxyauth-passwd [-a ALG] [-C COST] --redis ADDRESS USER [GROUPS]\n"
		"       proxyauth-passwd --redis ADDRESS --disable|--enable|--delete USER\n"
		"  Redis options: --redis-user NAME --redis-password-file FILE\n"
		"                 --redis-db N --redis-prefix PREFIX (default proxyauth:)\n"
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

struct redis_target {
	struct pa_redis_opts opts;
	const char *prefix;
	char password[1024];
};

/* Applies op to a Redis user and publishes the change.  Returns 0 or -1. */
static int
redis_update(const struct redis_target *t, const char *user, enum pa_pwfile_op op,
	     const char *hash, const char *groups)
{
	struct pa_error err = { { 0 } };
	char key[PA_USER_MAX + 256], channel[256];
	redisContext *c;
	redisReply *r;
	int broken, ret = -1;

	if ((size_t)snprintf(key, sizeof(key), "%suser:%s", t->prefix, user) >= sizeof(key) ||
	    (size_t)snprintf(channel, sizeof(channel), "%sinvalidate", t->prefix) >=
		    sizeof(channel)) {
		fprintf(stderr, "proxyauth-passwd: key prefix too long\n");
		return -1;
	}
	if ((c = pa_redis_connect(&t->opts, &err)) == NULL) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		return -1;
	}
	if (op != PA_PWFILE_SET) {
		const char *ex[2] = { "EXISTS", key };

		if ((r = pa_redis_command(c, 2, ex, &err, &broken)) == NULL)
			goto fail;
		broken = r->type != REDIS_REPLY_INTEGER || r->integer != 1;
		freeReplyObject(r);
		if (broken) {
			fprintf(stderr, "proxyauth-passwd: no user '%s' in redis\n", user);
			goto done;
		}
	}
	{
		const char *set[6] = { "HSET", key, "hash", hash, "groups", groups };
		const char *hdel[3] = { "HDEL", key, "disabled" };
		const char *dis[4] = { "HSET", key, "disabled", "1" };
		const char *del[2] = { "DEL", key };

		switch (op) {
		case PA_PWFILE_SET:
			r = pa_redis_command(c, groups != NULL ? 6 : 4, set, &err, &broken);
			if (r != NULL) {
				freeReplyObject(r);
				r = pa_redis_command(c, 3, hdel, &err, &broken);
			}
			break;
		case PA_PWFILE_ENABLE:
			r = pa_redis_command(c, 3, hdel, &err, &broken);
			break;
		case PA_PWFILE_DISABLE:
			r = pa_redis_command(c, 4, dis, &err, &broken);
			break;
		case PA_PWFILE_DELETE:
		default:
			r = pa_redis_command(c, 2, del, &err, &broken);
			break;
		}
		if (r == NULL)
			goto fail;
		freeReplyObject(r);
	}
	{
		const char *pub[3] = { "PUBLISH", channel, user };

		if ((r = pa_redis_command(c, 3, pub, &err, &broken)) == NULL)
			goto fail;
		freeReplyObject(r);
	}
	ret = 0;
	goto done;
fail:
	fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
done:
	redisFree(c);
	return ret;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "disable", no_argument, NULL, 'D' },
		{ "enable", no_argument, NULL, 'E' },
		{ "delete", no_argument, NULL, 'X' },
		{ "redis", required_argument, NULL, 'R' },
		{ "redis-user", required_argument, NULL, 'U' },
		{ "redis-password-file", required_argument, NULL, 'P' },
		{ "redis-db", required_argument, NULL, 'B' },
		{ "redis-prefix", required_argument, NULL, 'F' },
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
	struct redis_target rt = { .opts = { .timeout_ms = 5000 }, .prefix = "proxyauth:" };
	const char *redis_pwfile = NULL;

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
		case 'R':
			rt.opts.address = optarg;
			break;
		case 'U':
			rt.opts.username = optarg;
			break;
		case 'P':
			redis_pwfile = optarg;
			break;
		case 'B':
			if (pa_parse_long(optarg, 0, 1023, &rt.opts.db) != 0) {
				fprintf(stderr, "proxyauth-passwd: bad --redis-db\n");
				return 2;
			}
			break;
		case 'F':
			rt.prefix = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	bool target = file != NULL || rt.opts.address != NULL;
	if ((file != NULL && rt.opts.address != NULL) ||
	    (!target && (argc != 0 || op != PA_PWFILE_SET)) ||
	    (target && op == PA_PWFILE_SET && (argc < 1 || argc > 2)) ||
	    (target && op != PA_PWFILE_SET && argc != 1)) {
		usage();
		return 2;
	}
	if (rt.opts.address != NULL && pa_redis_check_address(rt.opts.address, &err) != 0) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		return 2;
	}
	if (redis_pwfile != NULL &&
	    pa_secret_read(redis_pwfile, rt.password, sizeof(rt.password), &err) != 0) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		return 2;
	}
	rt.opts.password = rt.password;
	if (argc == 2 && pa_passwd_check_groups(argv[1], &err) != 0) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		return 2;
	}
	if (target && pa_passwd_check_user(argv[0], &err) != 0) {
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
	if (!target) {
		printf("%s\n", hash);
		ret = 0;
		goto done;
	}
	if (rt.opts.address != NULL) {
		char groups[PA_GROUPS_MAX];

		if (argc == 2) {
			snprintf(groups, sizeof(groups), "%s", argv[1]);
			pa_list_normalize(groups);
		}
		ret = redis_update(&rt, argv[0], op, hash, argc == 2 ? groups : NULL) == 0 ? 0 : 1;
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
	OPENSSL_cleanse(rt.password, sizeof(rt.password));
	free(hash);
	return ret;
}
