/*
 * A private PostgreSQL server for the integration tests.  See pg_server.h
 * for what it guarantees; the notes here are about how.
 *
 * As root, initdb runs through setpriv (a short-lived program: no
 * PDEATHSIG needed), while the server child drops to nobody itself and
 * only then sets PR_SET_PDEATHSIG, since a change of credentials clears
 * it.  The child closes every inherited descriptor before exec, as the
 * Redis helper's children do.
 */
#include "pg_server.h"
#include "harness.h"
#include "redis_server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PG_NOBODY_UID 65534
#define PG_NOGROUP_GID 65534

static void
pg_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void
pg_print_log(const struct pa_pg *s, const char *why)
{
	char *log = pa_read_file(s->log, NULL);
	size_t n = log != NULL ? strlen(log) : 0;

	fprintf(stderr, "pg_server: %s; the server log:\n%s\n", why,
		log == NULL ? "(none)" : n > 4000 ? log + n - 4000 : log);
	free(log);
}

int
pa_pg_psql(const struct pa_pg *s, const char *role, const char *sql, char *out, size_t outlen,
	   char *err, size_t errlen)
{
	char psql[260], port[16];
	const char *argv[] = { psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v",
			       "VERBOSITY=verbose", "-h", s->dir, "-p", port, "-U", role, "-d",
			       PA_PG_DB, "-c", sql, NULL };
	int rc;
	size_t n;

	snprintf(psql, sizeof(psql), "%s/psql", s->bindir);
	snprintf(port, sizeof(port), "%d", s->port);
	rc = pa_run(argv, out, outlen, err, errlen);
	if (out != NULL && (n = strlen(out)) > 0 && out[n - 1] == '\n')
		out[n - 1] = '\0';
	return rc;
}

int
pa_pg_apply_schema(const struct pa_pg *s, char *err, size_t errlen)
{
	char psql[260], port[16];
	const char *argv[] = { psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", s->dir, "-p", port,
			       "-U", "postgres", "-d", PA_PG_DB, "-f", s->schema, NULL };

	snprintf(psql, sizeof(psql), "%s/psql", s->bindir);
	snprintf(port, sizeof(port), "%d", s->port);
	return pa_run(argv, NULL, 0, err, errlen);
}

char *
pa_pg_catalog_dump(const struct pa_pg *s)
{
	char dump[260], port[16], roles[4096], err[2048];
	const char *argv[] = { dump, "--schema-only", "-h", s->dir, "-p", port, "-U", "postgres",
			       "-d", PA_PG_DB, NULL };
	size_t size = 1 << 20;
	char *out = malloc(size);

	if (out == NULL)
		return NULL;
	snprintf(dump, sizeof(dump), "%s/pg_dump", s->bindir);
	snprintf(port, sizeof(port), "%d", s->port);
	if (pa_run(argv, out, size, err, sizeof(err)) != 0 || strlen(out) + 1 >= size) {
		fprintf(stderr, "pg_server: pg_dump failed: %s\n", err);
		free(out);
		return NULL;
	}
	/* pg_dump since 15.14 brackets its output with \restrict KEY and
	 * \unrestrict KEY, a random key per run: not part of the catalogue. */
	{
		char *line = out, *w = out, *nl;

		while (*line != '\0') {
			size_t n = (nl = strchr(line, '\n')) != NULL ? (size_t)(nl - line) + 1
							       : strlen(line);

			if (strncmp(line, "\\restrict ", 10) != 0 &&
			    strncmp(line, "\\unrestrict ", 12) != 0) {
				memmove(w, line, n);
				w += n;
			}
			line += n;
		}
		*w = '\0';
	}
	if (pa_pg_psql(s, "postgres", "SELECT r.rolname, r.rolcanlogin, r.rolsuper, "
		       "r.rolinherit, r.rolcreaterole, r.rolbypassrls, "
		       "ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members m "
		       "WHERE m.member = r.oid ORDER BY 1) "
		       "FROM pg_roles r WHERE r.rolname LIKE 'proxyauth%' ORDER BY 1",
		       roles, sizeof(roles), err, sizeof(err)) != 0) {
		fprintf(stderr, "pg_server: listing roles failed: %s\n", err);
		free(out);
		return NULL;
	}
	if (strlen(out) + strlen(roles) + 2 >= size) {
		free(out);
		return NULL;
	}
	strcat(out, "\n");
	strcat(out, roles);
	return out;
}

/* Forks argv (argv[0] a full path) as the server's user, with standard
 * output and error appended to log and the SIGKILL-on-parent-death
 * request.  The child's pid, or -1. */
static pid_t
spawn_as_server_user(const char *log, const char *const *argv)
{
	pid_t parent = getpid(), pid;
	bool root = geteuid() == 0;

	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		sigset_t none;
		int fd;

		if (root && (setgroups(0, NULL) != 0 || setgid(PG_NOGROUP_GID) != 0 ||
			     setuid(PG_NOBODY_UID) != 0))
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		closefrom(3);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Forks the server on s's cluster and waits until it answers. */
static int
pg_spawn(struct pa_pg *s)
{
	char bin[260], port[16], out[64], err[512];
	/* argv[0] the full path: postgres finds its installation from it,
	 * and /usr/lib/postgresql/15/bin is not on PATH. */
	const char *argv[] = { bin, "-D", s->data, "-p", port, "-k", s->dir,
			       "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
			       "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			       "-c", "shared_buffers=16MB", "-c", "max_connections=60",
			       "-c", "log_min_messages=warning", NULL };
	int waited, status;

	snprintf(bin, sizeof(bin), "%s/postgres", s->bindir);
	snprintf(port, sizeof(port), "%d", s->port);
	if ((s->pid = spawn_as_server_user(s->log, argv)) < 0) {
		s->pid = 0;
		return -1;
	}
	for (waited = 0; waited <= 20000; waited += 50) {
		if (pa_pg_psql(s, "postgres", "SELECT 1", out, sizeof(out), err, sizeof(err)) == 0 &&
		    strcmp(out, "1") == 0)
			return 0;
		/* Before the database exists (the first start), template1
		 * answers instead: psql says the database does not exist. */
		if (strstr(err, "database \"" PA_PG_DB "\" does not exist") != NULL)
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		pg_sleep_ms(50);
	}
	pg_print_log(s, "postgres did not come up");
	(void)pa_pg_stop(s);
	return -1;
}

/* Runs argv (initdb) as the server's user. */
static int
run_as_server_user(const char *const *argv, char *err, size_t errlen)
{
	const char *full[32];
	int i = 0, j;

	if (geteuid() == 0) {
		full[i++] = "setpriv";
		full[i++] = "--reuid=65534";
		full[i++] = "--regid=65534";
		full[i++] = "--clear-groups";
	}
	for (j = 0; argv[j] != NULL && i < 31; j++)
		full[i++] = argv[j];
	full[i] = NULL;
	return pa_run(full, NULL, 0, err, errlen);
}

/* A folder for a server run as nobody: from tmpl under /tmp as root. */
static int
make_dir(char *dir, size_t len, const char *tmpl)
{
	if (geteuid() != 0)
		return pa_tmpdir(dir, len);
	snprintf(dir, len, "%s", tmpl);
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		return -1;
	}
	if (chown(dir, PG_NOBODY_UID, PG_NOGROUP_GID) != 0) {
		fprintf(stderr, "pg_server: chown %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int
pa_pg_start(struct pa_pg *s)
{
	static char err[16384];
	char initdb[260], out[256];
	const char *bindir = getenv("PA_PG_BINDIR"), *deploy = getenv("PA_DEPLOY_DIR");
	const char *argv[] = { initdb, "-D", s->data, "-U", "postgres", "--locale=C", "-E", "UTF8",
			       "--auth-local=trust", "--auth-host=scram-sha-256", "-N", NULL };
	char *before = NULL, *after = NULL;
	int rc = -1;

	memset(s, 0, sizeof(*s));
	snprintf(s->bindir, sizeof(s->bindir), "%s",
		 bindir != NULL && bindir[0] != '\0' ? bindir : "/usr/lib/postgresql/15/bin");
	snprintf(s->schema, sizeof(s->schema), "%s/sql/schema.sql",
		 deploy != NULL ? deploy : "deploy");
	/* A developer's PG* settings must not reach the servers or psql. */
	unsetenv("PGOPTIONS");
	unsetenv("PGSERVICE");
	unsetenv("PGDATABASE");
	unsetenv("PGTZ");
	if (make_dir(s->dir, sizeof(s->dir), "/tmp/pa-pg.XXXXXX") != 0) {
		fprintf(stderr, "pg_server: cannot make a folder\n");
		return -1;
	}
	snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/postgres.log", s->dir);
	snprintf(initdb, sizeof(initdb), "%s/initdb", s->bindir);
	if ((s->port = pa_free_port()) <= 0)
		return -1;
	snprintf(s->conninfo, sizeof(s->conninfo),
		 "host=127.0.0.1 port=%d dbname=" PA_PG_DB " user=" PA_PG_READER_USER, s->port);
	if (run_as_server_user(argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "pg_server: initdb failed:\n%s\n", err);
		return -1;
	}
	if (pg_spawn(s) != 0)
		return -1;
	{
		char psql[260], port[16];
		const char *cdb[] = { psql, "-X", "-q", "-h", s->dir, "-p", port, "-U", "postgres",
				      "-d", "postgres", "-c", "CREATE DATABASE " PA_PG_DB, NULL };

		snprintf(psql, sizeof(psql), "%s/psql", s->bindir);
		snprintf(port, sizeof(port), "%d", s->port);
		if (pa_run(cdb, NULL, 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "pg_server: CREATE DATABASE failed: %s\n", err);
			return -1;
		}
	}
	if (pa_pg_apply_schema(s, err, sizeof(err)) != 0) {
		fprintf(stderr, "pg_server: applying %s failed:\n%s\n", s->schema, err);
		return -1;
	}
	if ((before = pa_pg_catalog_dump(s)) == NULL)
		goto done;
	/* The second application: no error, no notice, no change. */
	if (pa_pg_apply_schema(s, err, sizeof(err)) != 0 || err[0] != '\0') {
		fprintf(stderr, "pg_server: applying %s a second time failed or said something:"
			"\n%s\n", s->schema, err);
		goto done;
	}
	if ((after = pa_pg_catalog_dump(s)) == NULL)
		goto done;
	if (strcmp(before, after) != 0) {
		fprintf(stderr, "pg_server: the second application of %s changed the catalogue;"
			"\nbefore:\n%s\nafter:\n%s\n", s->schema, before, after);
		goto done;
	}
	if (pa_pg_psql(s, "postgres",
		       "CREATE ROLE " PA_PG_READER_USER " LOGIN PASSWORD '" PA_PG_READER_PASSWORD
		       "' IN ROLE proxyauth_reader; "
		       "CREATE ROLE alice_admin LOGIN IN ROLE proxyauth_admin; "
		       "CREATE ROLE bob_admin LOGIN IN ROLE proxyauth_admin",
		       out, sizeof(out), err, sizeof(err)) != 0) {
		fprintf(stderr, "pg_server: creating the login roles failed: %s\n", err);
		goto done;
	}
	rc = 0;
done:
	free(before);
	free(after);
	return rc;
}

int
pa_pg_stop(struct pa_pg *s)
{
	/* SIGINT: fast shutdown, ending every session */
	return pa_child_stop(&s->pid, SIGINT, 10000, "postgres");
}

int
pa_pg_restart(struct pa_pg *s)
{
	if (s->pid > 0 || s->dir[0] == '\0')
		return -1;
	return pg_spawn(s);
}

void
pa_pg_destroy(struct pa_pg *s)
{
	(void)pa_pg_stop(s);
	if (s->dir[0] != '\0')
		pa_rmtree(s->dir);
	memset(s, 0, sizeof(*s));
}

/* ---- PgBouncer ------------------------------------------------------------ */

/* Writes text to path (0600) and, as root, gives it to nobody, who runs
 * pgbouncer. */
static int
write_server_file(const char *path, const char *text)
{
	if (pa_write_file(path, text) != 0)
		return -1;
	if (geteuid() == 0 && chown(path, PG_NOBODY_UID, PG_NOGROUP_GID) != 0) {
		fprintf(stderr, "pg_server: chown %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Asks pgbouncer for SELECT 1 as the reader over TCP: the whole path a
 * client takes (its SCRAM, then its SCRAM to the server).  0 when it
 * answered, -1 otherwise; psql's standard error into err. */
static int
pgbouncer_select1(const struct pa_pgbouncer *b, const struct pa_pg *s, char *err, size_t errlen)
{
	char psql[260], conn[600], out[64];
	const char *argv[] = { psql, "-X", "-q", "-A", "-t", "-d", conn, "-c", "SELECT 1", NULL };

	snprintf(psql, sizeof(psql), "%s/psql", s->bindir);
	snprintf(conn, sizeof(conn), "%s passfile=%s/pgpass connect_timeout=2", b->conninfo,
		 b->dir);
	if (pa_run(argv, out, sizeof(out), err, errlen) != 0)
		return -1;
	return strcmp(out, "1\n") == 0 ? 0 : -1;
}

int
pa_pgbouncer_start(struct pa_pgbouncer *b, const struct pa_pg *s, const char *pool_mode,
		   int server_pool_size)
{
	const char *bin = getenv("PA_PGBOUNCER_BIN");
	char exe[260], ini[260], path[300], err[1024];
	const char *argv[] = { exe, ini, NULL };
	char *text;
	int rc, waited, status;

	memset(b, 0, sizeof(*b));
	if (s->pid <= 0 || server_pool_size < 1 || pool_mode == NULL ||
	    (strcmp(pool_mode, "session") != 0 && strcmp(pool_mode, "transaction") != 0 &&
	     strcmp(pool_mode, "statement") != 0)) {
		fprintf(stderr, "pg_server: pgbouncer needs a running server, a pool mode and a "
			"pool size of at least 1\n");
		return -1;
	}
	snprintf(exe, sizeof(exe), "%s", bin != NULL && bin[0] != '\0' ? bin
					  : "/usr/sbin/pgbouncer");
	if (make_dir(b->dir, sizeof(b->dir), "/tmp/pa-pgb.XXXXXX") != 0) {
		fprintf(stderr, "pg_server: cannot make a folder for pgbouncer\n");
		return -1;
	}
	snprintf(ini, sizeof(ini), "%s/pgbouncer.ini", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/pgbouncer.log", b->dir);
	if ((b->port = pa_free_port()) <= 0)
		return -1;
	snprintf(b->conninfo, sizeof(b->conninfo),
		 "host=127.0.0.1 port=%d dbname=" PA_PG_DB " user=" PA_PG_READER_USER, b->port);

	/* The plain password in auth_file lets pgbouncer answer the client's
	 * SCRAM and do its own SCRAM to the server.  No unix socket, no pid
	 * file, the log on standard error: nothing outside the folder, so the
	 * package's own service (port 6432, /var/run/postgresql) is never
	 * touched. */
	snprintf(path, sizeof(path), "%s/userlist.txt", b->dir);
	if (write_server_file(path, "\"" PA_PG_READER_USER "\" \"" PA_PG_READER_PASSWORD "\"\n")
	    != 0)
		return -1;
	text = pa_strdupf("[databases]\n"
			  PA_PG_DB " = host=127.0.0.1 port=%d dbname=" PA_PG_DB "\n"
			  "[pgbouncer]\n"
			  "listen_addr = 127.0.0.1\n"
			  "listen_port = %d\n"
			  "unix_socket_dir =\n"
			  "auth_type = scram-sha-256\n"
			  "auth_file = %s\n"
			  "pool_mode = %s\n"
			  "default_pool_size = %d\n"
			  "min_pool_size = 0\n"
			  "reserve_pool_size = 0\n"
			  "max_client_conn = 100\n"
			  "log_stats = 0\n",
			  s->port, b->port, path, pool_mode, server_pool_size);
	rc = write_server_file(ini, text);
	free(text);
	if (rc != 0)
		return -1;
	/* For the readiness check's psql, which runs as this process. */
	snprintf(path, sizeof(path), "%s/pgpass", b->dir);
	text = pa_strdupf("127.0.0.1:%d:" PA_PG_DB ":" PA_PG_READER_USER ":"
			  PA_PG_READER_PASSWORD "\n", b->port);
	rc = pa_write_file(path, text);
	free(text);
	if (rc != 0)
		return -1;

	if ((b->pid = spawn_as_server_user(b->log, argv)) < 0) {
		b->pid = 0;
		return -1;
	}
	for (waited = 0; waited <= 10000; waited += 50) {
		if (pgbouncer_select1(b, s, err, sizeof(err)) == 0)
			return 0;
		if (waitpid(b->pid, &status, WNOHANG) == b->pid) {
			b->pid = 0;
			break;
		}
		pg_sleep_ms(50);
	}
	{
		char *log = pa_read_file(b->log, NULL);

		fprintf(stderr, "pg_server: pgbouncer on port %d did not answer: %s\n"
			"its log:\n%s\n", b->port, err, log != NULL ? log : "(none)");
		free(log);
	}
	(void)pa_child_stop(&b->pid, SIGKILL, 5000, "pgbouncer");
	return -1;
}

void
pa_pgbouncer_destroy(struct pa_pgbouncer *b)
{
	/* SIGTERM: immediate shutdown, not waiting for clients to leave */
	(void)pa_child_stop(&b->pid, SIGTERM, 5000, "pgbouncer");
	if (b->dir[0] != '\0')
		pa_rmtree(b->dir);
	memset(b, 0, sizeof(*b));
}
