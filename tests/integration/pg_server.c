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

/* Forks the server on s's cluster and waits until it answers. */
static int
pg_spawn(struct pa_pg *s)
{
	pid_t parent = getpid();
	bool root = geteuid() == 0;
	char out[64], err[512];
	int waited, status;

	if ((s->pid = fork()) < 0) {
		s->pid = 0;
		return -1;
	}
	if (s->pid == 0) {
		char bin[260], port[16];
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
		fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		closefrom(3);
		snprintf(bin, sizeof(bin), "%s/postgres", s->bindir);
		snprintf(port, sizeof(port), "%d", s->port);
		/* argv[0] the full path: postgres finds its installation from
		 * it, and /usr/lib/postgresql/15/bin is not on PATH. */
		execl(bin, bin, "-D", s->data, "-p", port, "-k", s->dir,
		      "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
		      "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		      "-c", "shared_buffers=16MB", "-c", "max_connections=60",
		      "-c", "log_min_messages=warning", (char *)NULL);
		_exit(127);
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

static int
make_dir(struct pa_pg *s)
{
	if (geteuid() != 0)
		return pa_tmpdir(s->dir, sizeof(s->dir));
	snprintf(s->dir, sizeof(s->dir), "/tmp/pa-pg.XXXXXX");
	if (mkdtemp(s->dir) == NULL) {
		s->dir[0] = '\0';
		return -1;
	}
	if (chown(s->dir, PG_NOBODY_UID, PG_NOGROUP_GID) != 0) {
		fprintf(stderr, "pg_server: chown %s: %s\n", s->dir, strerror(errno));
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
	if (make_dir(s) != 0) {
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
