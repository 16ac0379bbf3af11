/*
 * A private PostgreSQL 15 server for the integration tests, with the
 * schema of deploy/sql/schema.sql applied twice.
 *
 * pa_pg_start() makes a folder of its own, runs initdb there (C locale,
 * UTF8; trust for the unix socket, scram-sha-256 for 127.0.0.1) and
 * starts `postgres` on a free port of 127.0.0.1 with its socket in the
 * folder.  PostgreSQL refuses to run as root: when the test runs as root,
 * initdb and the server run as nobody:nogroup (the folder is then made
 * under /tmp, so that its parents are traversable, and given to nobody);
 * otherwise as the current user.  The server asks the kernel to SIGKILL
 * it when the test process dies (its own children follow when they see
 * it gone), so a crashed test never leaves one behind.
 *
 * It then creates the database proxyauth, applies the schema, applies it
 * a second time and fails unless that second run exits 0, writes nothing
 * to standard error (not even a notice) and leaves pg_dump --schema-only
 * and the proxyauth roles exactly as they were.  Finally it creates the
 * login roles the tests use:
 *
 *   postgres          the bootstrap superuser (socket, trust)
 *   pa_reader_login   PA_PG_READER_PASSWORD, member of proxyauth_reader:
 *                     what proxyauthd logs in as, over TCP with SCRAM
 *   alice_admin,      members of proxyauth_admin (socket, trust)
 *   bob_admin
 *
 * pa_pg_stop() stops the server (fast shutdown) and keeps its folder and
 * port, so pa_pg_restart() brings the same cluster back.  pa_pg_destroy()
 * stops it and removes the folder; it is safe on a zeroed struct and more
 * than once, which a cmocka teardown after a failed assertion needs.
 *
 * pa_pgbouncer_start() puts a private PgBouncer (Debian's 1.18) in front
 * of a running server, on a free port of 127.0.0.1 with its own folder,
 * configuration and log (no unix socket, no pid file): it serves database
 * proxyauth and lets PA_PG_READER_USER in with PA_PG_READER_PASSWORD over
 * SCRAM, logging in to the server with the same (its auth_file holds the
 * plain password).  It runs as the server does (nobody as root, since
 * pgbouncer refuses root; killed with the test) and is ready once a psql
 * SELECT 1 through it answers.  $PA_PGBOUNCER_BIN overrides
 * /usr/sbin/pgbouncer.  The system's pgbouncer service is never used.
 *
 * Helper programs are run argv-style through pa_run() (redis_server.c),
 * so a test program compiles both: #include "redis_server.c" and
 * "pg_server.c".  None of this is thread-safe; call it from the test's
 * main thread.
 */
#ifndef PA_PG_SERVER_H
#define PA_PG_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#define PA_PG_DB "proxyauth"
#define PA_PG_READER_USER "pa_reader_login"
#define PA_PG_READER_PASSWORD "reader-S3cret-5d1e"

struct pa_pg {
	pid_t pid;		/* the postmaster; 0 when not running */
	int port;		/* TCP port on 127.0.0.1; 0 before the first start */
	char dir[200];		/* its folder (socket here); "" before the first start */
	char data[260];		/* DIR/data */
	char log[260];		/* DIR/postgres.log */
	char bindir[200];	/* where initdb, postgres, psql, pg_dump are */
	char schema[300];	/* deploy/sql/schema.sql */
	/* What proxyauthd puts into conninfo (no password: that goes into a
	 * password_file). */
	char conninfo[300];
};

struct pa_pgbouncer {
	pid_t pid;		/* pgbouncer; 0 when not running */
	int port;		/* TCP port on 127.0.0.1 */
	char dir[200];		/* its folder; "" before the start */
	char log[260];		/* DIR/pgbouncer.log */
	/* Like pa_pg.conninfo, with pgbouncer's port. */
	char conninfo[300];
};

/* Starts a new server into s (which it zeroes first), as described above.
 * Returns 0, or -1 after printing why; s may then hold a folder, which
 * pa_pg_destroy() removes. */
int pa_pg_start(struct pa_pg *s);

/* Fast shutdown (SIGINT), waiting up to 10 s, then SIGKILL.  0 when it
 * exited on its own; 0 for a server not running. */
int pa_pg_stop(struct pa_pg *s);

/* Starts a stopped server again on the same cluster and port.  0 once it
 * answers, -1 otherwise. */
int pa_pg_restart(struct pa_pg *s);

/* Stops the server if it runs and removes its folder. */
void pa_pg_destroy(struct pa_pg *s);

/*
 * Runs sql with psql as role (over the unix socket, trust) in database
 * proxyauth: unaligned, tuples only, ON_ERROR_STOP, VERBOSITY verbose (so
 * errors carry their SQLSTATE: "ERROR:  P0002: ...").  Standard output
 * goes into out (trailing newline removed) and standard error into err;
 * either may be NULL.  Returns psql's exit status (0 when every statement
 * succeeded), or -1 when it could not run.
 */
int pa_pg_psql(const struct pa_pg *s, const char *role, const char *sql, char *out,
	       size_t outlen, char *err, size_t errlen);

/* Applies the schema file with psql as the superuser.  psql's exit
 * status; its standard error into err (may be NULL). */
int pa_pg_apply_schema(const struct pa_pg *s, char *err, size_t errlen);

/* pg_dump --schema-only of database proxyauth plus the proxyauth roles,
 * as text (caller frees), or NULL. */
char *pa_pg_catalog_dump(const struct pa_pg *s);

/*
 * Starts pgbouncer into b (which it zeroes first) in front of the running
 * server s, with pool_mode ("session", "transaction" or "statement") and
 * default_pool_size = server_pool_size, and waits up to 10 s until a
 * query through it answers.  Returns 0, or -1 after printing why (with
 * pgbouncer's log); b may then hold a folder, which
 * pa_pgbouncer_destroy() removes.
 */
int pa_pgbouncer_start(struct pa_pgbouncer *b, const struct pa_pg *s, const char *pool_mode,
		       int server_pool_size);

/* Stops pgbouncer (SIGTERM, immediate shutdown; SIGKILL after 5 s) and
 * removes its folder.  Safe on a zeroed struct and more than once. */
void pa_pgbouncer_destroy(struct pa_pgbouncer *b);

#endif
