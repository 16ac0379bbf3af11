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
#include "passwd_edit.h"
#include "passwd_file.h"
#include "passwd_redis.h"
#include "secret.h"
#include "text.h"

#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

struct redis_target {
	struct pa_redis_opts opts;
	const char *prefix;
	char password[1024];
};

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
	const char *alg = "bcrypt", *file = NULL;
	char password[PA_PASSWORD_MAX + 2];
	struct pa_error err = { { 0 } };
	char *hash = NULL;
	long cost = 0;
	int ch, ret = 1;
	struct redis_target rt = { .opts = { .timeout_ms = 5000 }, .prefix = "proxyauth:" };
	const char *redis_pwfile = NULL, *conf_path = NULL, *group = NULL;
	struct pa_passwd_check fc = { false, false, stderr };
	struct pa_pwfile_opts fopts = { pa_passwd_check_file, &fc, (gid_t)-1 };
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
	if (group != NULL && pa_passwd_group(group, &fopts.new_group, &err) != 0) {
		fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
		return 2;
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
		if (pa_passwd_read(stdin, stderr, password, sizeof(password), &err) != 0 ||
		    pa_passwd_make_hash(password, alg, (int)cost, &hash, &err) != 0) {
			fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
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
		if (pa_passwd_redis_update(&rt.opts, rt.prefix, argv[0], op, hash,
					   argc == 2 ? groups : NULL, &err) != 0) {
			fprintf(stderr, "proxyauth-passwd: %s\n", err.msg);
			goto done;
		}
		ret = 0;
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
