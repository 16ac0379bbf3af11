/*
 * proxyauth-passwd: makes password hashes and edits htpasswd files.
 *
 *   proxyauth-passwd [-a bcrypt|yescrypt|argon2id] [-C COST]
 *       reads a password from standard input, prints its hash
 *   proxyauth-passwd [-a ALG] [-C COST] -f FILE USER [GROUPS]
 *       adds or updates USER in FILE (atomically); GROUPS replaces the
 *       user's groups, leaving it out keeps them
 *   proxyauth-passwd -f FILE --disable|--enable|--delete USER
 *       the file is checked whole with the daemon's own parser before it
 *       is put in place: one the daemon would refuse is not written
 *       (FILE:LINE: why, exit 1) unless --force; -c CONF reads
 *       allow_weak_hashes (and the file, without -f) from proxyauthd's
 *       configuration; a symbolic link is written through; owner, group
 *       and mode are kept, a new file is 0640 in -g GROUP (default: the
 *       folder's group)
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
#include "config.h"
#include "credentials.h"
#include "hash.h"
#include "htpasswd.h"
#include "passwd_file.h"
#include "redisconn.h"
#include "secret.h"
#include "text.h"

#include <getopt.h>
#include <grp.h>
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
		"  File options: -c CONF (proxyauthd's: allow_weak_hashes, and [htpasswd]\n"
		"                file when -f is left out) -g GROUP (of a new file)\n"
		"                --force (write a file proxyauthd would refuse)\n"
		"       proxyauth-passwd [-a ALG] [-C COST] --redis ADDRESS USER [GROUPS]\n"
		"       proxyauth-passwd --redis ADDRESS --disable|--enable|--delete USER\n"
		"  Redis options: --redis-user NAME --redis-password-file FILE\n"
		"                 --redis-db N --redis-prefix PREFIX (default proxyauth:)\n"
		"The password is read from standard input.\n");
}

struct file_check {
	bool allow_weak;
	bool force;
};

/* The new file, checked as proxyauthd will load it: every problem is
 * named FILE:LINE.  Refused unless --force. */
static int
check_new_file(const char *tmp, const char *shown, void *arg, struct pa_error *err)
{
	const struct file_check *fc = arg;

	if (pa_htpasswd_check(tmp, shown, fc->allow_weak, stderr, err) == 0)
		return 0;
	if (fc->force) {
		fprintf(stderr, "%s\nproxyauth-passwd: warning: written with --force; proxyauthd "
			"refuses this file and keeps the table it loaded before\n", err->msg);
		return 0;
	}
	fprintf(stderr, "%s\n", err->msg);
	pa_error_set(err, "%s: proxyauthd would refuse the new file (and keep serving its "
		     "old table); nothing was written: fix what is named above, or use "
		     "--force", shown);
	return -1;
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
	enum pa_conn_status st;
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

		if ((r = pa_redis_command(c, 2, ex, &err, &st)) == NULL)
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
			r = pa_redis_command(c, groups != NULL ? 6 : 4, set, &err, &st);
			if (r != NULL) {
				freeReplyObject(r);
				r = pa_redis_command(c, 3, hdel, &err, &st);
			}
			break;
		case PA_PWFILE_ENABLE:
			r = pa_redis_command(c, 3, hdel, &err, &st);
			break;
		case PA_PWFILE_DISABLE:
			r = pa_redis_command(c, 4, dis, &err, &st);
			break;
		case PA_PWFILE_DELETE:
		default:
			r = pa_redis_command(c, 2, del, &err, &st);
			break;
		}
		if (r == NULL)
			goto fail;
		freeReplyObject(r);
	}
	{
		const char *pub[3] = { "PUBLISH", channel, user };

		if ((r = pa_redis_command(c, 3, pub, &err, &st)) == NULL)
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
		{ "force", no_argument, NULL, 'O' },
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
	const char *redis_pwfile = NULL, *conf_path = NULL, *group = NULL;
	struct file_check fc = { false, false };
	struct pa_pwfile_opts fopts = { check_new_file, &fc, (gid_t)-1 };
	struct pa_config cfg;
	char conf_file[4096] = "";

	memset(&cfg, 0, sizeof(cfg));
	while ((ch = getopt_long(argc, argv, "a:c:C:f:g:h", longopts, NULL)) != -1) {
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
		case 'c':
			conf_path = optarg;
			break;
		case 'g':
			group = optarg;
			break;
		case 'O':
			fc.force = true;
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
	if (conf_path != NULL) {
		const struct pa_section *ht;

		/* The daemon's own reading of it: what it would accept. */
		if (pa_config_load(conf_path, environ, &cfg, stderr) != 0) {
			fprintf(stderr, "proxyauth-passwd: %s: not a usable proxyauthd "
				"configuration\n", conf_path);
			pa_config_free(&cfg);
			return 2;
		}
		fc.allow_weak = pa_conf_bool(pa_config_section(&cfg, "server"), pa_server_keys,
					     "allow_weak_hashes");
		if (file == NULL && rt.opts.address == NULL &&
		    (ht = pa_config_section(&cfg, "htpasswd")) != NULL) {
			snprintf(conf_file, sizeof(conf_file), "%s",
				 pa_conf_str(ht, pa_backend_find("htpasswd")->keys, "file"));
			if (conf_file[0] != '\0')
				file = conf_file;
		}
		pa_config_free(&cfg);
	}
	if (group != NULL) {
		struct group *gr = getgrnam(group);
		long gid;

		if (gr != NULL)
			fopts.new_group = gr->gr_gid;
		else if (pa_parse_long(group, 0, 2147483647L, &gid) == 0)
			fopts.new_group = (gid_t)gid;
		else {
			fprintf(stderr, "proxyauth-passwd: no group '%s'\n", group);
			return 2;
		}
	}
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
	if (pa_passwd_file_update(file, argv[0], op, hash, argc == 2 ? argv[1] : NULL, &fopts,
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
