/*
 * The SQL admin layer (SPEC section 4, deploy/sql/schema.sql) against a
 * real PostgreSQL 15 (pg_server.h, which has already applied the schema
 * twice and checked that the second run said and changed nothing).
 *
 * Every admin function is called through psql as a login role that is a
 * member of proxyauth_admin, with its errors and their SQLSTATEs; the
 * privilege boundaries of proxyauth_admin and proxyauth_reader are read
 * from the catalogue (exactly which functions and relations each may use)
 * and tried; the audit rows name the real session user; every kind of
 * change, direct superuser edits included, sends NOTIFY proxyauth_changed
 * with the user name; and applying the schema again keeps every row.
 *
 * One server serves the whole program (group setup); each test uses user
 * names of its own.
 */
#include "harness.h"
#include "pg_server.h"
#include "redis_server.h"

#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pa_harness is built from harness.c alone (tests/CMakeLists.txt), so the
 * server helpers are compiled into this program here. */
#include "redis_server.c"
#include "pg_server.c"

static struct pa_pg pg;

static int
group_setup(void **state)
{
	(void)state;
	pa_scrub_environment();
	return pa_pg_start(&pg) == 0 ? 0 : (pa_pg_destroy(&pg), -1);
}

static int
group_teardown(void **state)
{
	(void)state;
	pa_pg_destroy(&pg);
	return 0;
}

static char out[65536], err[8192];

/* Runs sql as role; fails the test unless it succeeds.  Returns out. */
static const char *
sql_ok(const char *role, const char *sql)
{
	int rc = pa_pg_psql(&pg, role, sql, out, sizeof(out), err, sizeof(err));

	if (rc != 0)
		fail_msg("as %s: %s\nexit %d: %s", role, sql, rc, err);
	return out;
}

/* Runs sql as role; fails the test unless it fails with sqlstate and a
 * message holding needle. */
static void
sql_err(const char *role, const char *sql, const char *sqlstate, const char *needle)
{
	char want[64];
	int rc = pa_pg_psql(&pg, role, sql, out, sizeof(out), err, sizeof(err));

	snprintf(want, sizeof(want), "ERROR:  %s:", sqlstate);
	if (rc == 0 || strstr(err, want) == NULL || strstr(err, needle) == NULL)
		fail_msg("as %s: %s\nwant %s with '%s'; got exit %d, stdout '%s', stderr '%s'",
			 role, sql, sqlstate, needle, rc, out, err);
}

static void
expect_out(const char *role, const char *sql, const char *want)
{
	const char *got = sql_ok(role, sql);

	if (strcmp(got, want) != 0)
		fail_msg("as %s: %s\ngot  '%s'\nwant '%s'", role, sql, got, want);
}

/* ---- 1. the admin functions ---------------------------------------------- */

static void
test_functions(void **state)
{
	(void)state;
	sql_ok("alice_admin", "SELECT proxyauth.add_user('fred', 'fred-pw-1')");
	/* Hashed in the database with bcrypt cost 12 (pgcrypto's $2a$). */
	expect_out("postgres", "SELECT password_hash LIKE '$2a$12$%' AND "
		   "password_hash = proxyauth_crypto.crypt('fred-pw-1', password_hash) "
		   "FROM proxyauth.credentials WHERE username = 'fred'", "t");
	expect_out("postgres", "SELECT disabled, expires_at IS NULL, groups FROM "
		   "proxyauth.credentials WHERE username = 'fred'", "f|t|{}");
	expect_out("postgres", "SELECT created_at = updated_at FROM proxyauth.users "
		   "WHERE username = 'fred'", "t");

	sql_ok("alice_admin", "SELECT proxyauth.set_password('fred', 'fred-pw-2')");
	expect_out("postgres", "SELECT password_hash = proxyauth_crypto.crypt('fred-pw-2', "
		   "password_hash), password_hash = proxyauth_crypto.crypt('fred-pw-1', "
		   "password_hash), updated_at > created_at FROM proxyauth.users "
		   "WHERE username = 'fred'", "t|f|t");

	sql_ok("alice_admin", "SELECT proxyauth.disable_user('fred')");
	expect_out("postgres", "SELECT disabled FROM proxyauth.credentials WHERE username = 'fred'",
		   "t");
	sql_ok("alice_admin", "SELECT proxyauth.enable_user('fred')");
	expect_out("postgres", "SELECT disabled FROM proxyauth.credentials WHERE username = 'fred'",
		   "f");

	sql_ok("alice_admin", "SELECT proxyauth.set_expiry('fred', '2031-02-03 04:05:06+00')");
	expect_out("postgres", "SELECT expires_at = '2031-02-03 04:05:06+00' FROM "
		   "proxyauth.credentials WHERE username = 'fred'", "t");
	sql_ok("alice_admin", "SELECT proxyauth.set_expiry('fred', NULL)");
	expect_out("postgres", "SELECT expires_at IS NULL FROM proxyauth.credentials "
		   "WHERE username = 'fred'", "t");

	sql_ok("alice_admin", "SELECT proxyauth.grant_group('fred', 'ops')");
	sql_ok("alice_admin", "SELECT proxyauth.grant_group('fred', 'dev')");
	sql_ok("alice_admin", "SELECT proxyauth.grant_group('fred', 'dev')");	/* twice: fine */
	expect_out("postgres", "SELECT groups FROM proxyauth.credentials WHERE username = 'fred'",
		   "{dev,ops}");
	sql_ok("alice_admin", "SELECT proxyauth.revoke_group('fred', 'ops')");
	expect_out("postgres", "SELECT groups FROM proxyauth.credentials WHERE username = 'fred'",
		   "{dev}");
	/* Not a member: a notice, not an error. */
	if (pa_pg_psql(&pg, "alice_admin", "SELECT proxyauth.revoke_group('fred', 'ops')", out,
		       sizeof(out), err, sizeof(err)) != 0 || strstr(err, "not in group") == NULL)
		fail_msg("revoke_group of a group fred is not in: exit non-zero or no notice: %s",
			 err);

	/* What an admin sees instead of the tables: no hash. */
	expect_out("alice_admin", "SELECT username, disabled, expires_at IS NULL, groups FROM "
		   "proxyauth.list_users() WHERE username = 'fred'", "fred|f|t|{dev}");
	expect_out("alice_admin", "SELECT count(*) FROM pg_catalog.pg_proc p, "
		   "pg_catalog.unnest(p.proargnames) AS a(n) "
		   "WHERE p.proname = 'list_users' AND a.n LIKE '%hash%'", "0");

	sql_ok("alice_admin", "SELECT proxyauth.delete_user('fred')");
	expect_out("postgres", "SELECT count(*) FROM proxyauth.credentials WHERE username = 'fred'",
		   "0");
	expect_out("postgres", "SELECT count(*) FROM proxyauth.memberships m LEFT JOIN "
		   "proxyauth.users u ON u.id = m.user_id WHERE u.id IS NULL", "0");
	/* The name is free again. */
	sql_ok("alice_admin", "SELECT proxyauth.add_user('fred', 'fred-pw-3')");
	expect_out("postgres", "SELECT groups FROM proxyauth.credentials WHERE username = 'fred'",
		   "{}");
}

static void
test_errors(void **state)
{
	static const char *const unknown[] = {
		"SELECT proxyauth.set_password('ghost', 'x-pw')",
		"SELECT proxyauth.disable_user('ghost')",
		"SELECT proxyauth.enable_user('ghost')",
		"SELECT proxyauth.delete_user('ghost')",
		"SELECT proxyauth.set_expiry('ghost', now())",
		"SELECT proxyauth.grant_group('ghost', 'dev')",
		"SELECT proxyauth.revoke_group('ghost', 'dev')",
		"SELECT proxyauth.set_password(NULL, 'x-pw')",
	};
	size_t i;

	(void)state;
	sql_ok("alice_admin", "SELECT proxyauth.add_user('gina', 'gina-pw')");
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		sql_err("alice_admin", unknown[i], "P0002", "no user");
	sql_err("alice_admin", "SELECT proxyauth.add_user('gina', 'other-pw')", "23505",
		"user 'gina' already exists");
	/* Names differing only in case are one user (one lockout count). */
	sql_err("alice_admin", "SELECT proxyauth.add_user('GINA', 'other-pw')", "23505",
		"already exists");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank', '')", "22023",
		"the password is empty");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank', NULL)", "22023",
		"the password is empty");
	sql_err("alice_admin", "SELECT proxyauth.set_password('gina', '')", "22023",
		"the password is empty");
	sql_err("alice_admin", "SELECT proxyauth.set_password('gina', NULL)", "22023",
		"the password is empty");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank', repeat('x', 73))", "22023",
		"72 bytes");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank', E'a\\tb')", "22023",
		"control characters");
	sql_err("alice_admin", "SELECT proxyauth.add_user('', 'x-pw')", "22023",
		"the user name is empty");
	sql_err("alice_admin", "SELECT proxyauth.add_user('a:b', 'x-pw')", "22023",
		"not a valid user name");
	sql_err("alice_admin", "SELECT proxyauth.add_user(E'a\\nb', 'x-pw')", "22023",
		"not a valid user name");
	/* Beyond ASCII too, whatever the database's locale (this one is C,
	 * where lower() folds ASCII only): the lockout folds with NFKC and
	 * case folding, and an application comparing names loosely would
	 * take JÖRG for jörg, fullwidth ｇｉｎａ for gina. */
	sql_ok("alice_admin", "SELECT proxyauth.add_user('j\xc3\xb6rg', 'joerg-pw')");
	sql_err("alice_admin", "SELECT proxyauth.add_user('J\xc3\x96RG', 'other-pw')", "23505",
		"already exists");
	sql_err("alice_admin", "SELECT proxyauth.add_user('jo\xcc\x88rg', 'other-pw')", "23505",
		"already exists");
	sql_err("alice_admin", "SELECT proxyauth.add_user('\xef\xbd\x87\xef\xbd\x89"
		"\xef\xbd\x8e\xef\xbd\x81', 'other-pw')", "23505", "already exists");
	/* Names that read as another, which proxyauthd refuses at login
	 * (pa_name_unsafe): refused when added, not at the first login. */
	sql_err("alice_admin", "SELECT proxyauth.add_user('gina\xc2\xa0', 'other-pw')", "22023",
		"reads as another name");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank\xe3\x80\x80', 'x-pw')", "22023",
		"reads as another name");
	sql_err("alice_admin", "SELECT proxyauth.add_user('ha\xc2\xad" "nk', 'x-pw')", "22023",
		"reads as another name");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank\xe2\x80\x8c', 'x-pw')", "22023",
		"reads as another name");
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank  x', 'x-pw')", "22023",
		"reads as another name");
	/* A joiner between Latin letters, a mark with no letter under it. */
	sql_err("alice_admin", "SELECT proxyauth.add_user('ha\xe2\x80\x8dnk', 'x-pw')", "22023",
		"reads as another name");
	sql_err("alice_admin", "SELECT proxyauth.add_user('\xcc\x81hank', 'x-pw')", "22023",
		"reads as another name");
	sql_err("alice_admin", "SELECT proxyauth.add_user('h \xe2\x83\x9d" "ank', 'x-pw')", "22023",
		"reads as another name");
	/* A ZWNJ inside a Persian name is part of its spelling. */
	sql_ok("alice_admin", "SELECT proxyauth.add_user('\xd9\x85\xdb\x8c\xe2\x80\x8c"
	       "\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85', 'x-pw')");
	sql_ok("alice_admin", "SELECT proxyauth.delete_user('\xd9\x85\xdb\x8c\xe2\x80\x8c"
	       "\xd8\xae\xd9\x88\xd8\xa7\xd9\x87\xd9\x85')");
	sql_err("postgres", "INSERT INTO proxyauth.users (username, password_hash) "
		"VALUES ('J\xc3\x96RG', 'x')", "23505", "users_username_");
	sql_ok("alice_admin", "SELECT proxyauth.delete_user('j\xc3\xb6rg')");
	/* Proxies strip the blanks around X-Auth-User: "hank " would reach
	 * the application as hank. */
	sql_err("alice_admin", "SELECT proxyauth.add_user('hank ', 'x-pw')", "22023",
		"not a valid user name");
	sql_err("alice_admin", "SELECT proxyauth.add_user(' hank', 'x-pw')", "22023",
		"not a valid user name");
	sql_err("postgres", "INSERT INTO proxyauth.users (username, password_hash) "
		"VALUES ('hank ', 'x')", "23514", "users_username_");
	sql_ok("alice_admin", "SELECT proxyauth.add_user('gina x', 'gina-x-pw')");
	sql_ok("alice_admin", "SELECT proxyauth.delete_user('gina x')");
	sql_err("alice_admin", "SELECT proxyauth.grant_group('gina', 'a,b')", "22023",
		"not a valid group name");
	sql_err("alice_admin", "SELECT proxyauth.grant_group('gina', '')", "22023",
		"the group name is empty");
	/* Nothing of the failed calls stayed. */
	expect_out("postgres", "SELECT count(*) FROM proxyauth.users WHERE lower(username) IN "
		   "('hank', 'a:b') OR username = ''", "0");
	expect_out("postgres", "SELECT password_hash = proxyauth_crypto.crypt('gina-pw', "
		   "password_hash) FROM proxyauth.users WHERE username = 'gina'", "t");
	expect_out("postgres", "SELECT groups FROM proxyauth.credentials WHERE username = 'gina'",
		   "{}");
	/* The server logs the statement of a failed call (it logged the
	 * errors above): never one that carries a password. */
	{
		char *log = pa_read_file(pg.log, NULL);

		assert_non_null(log);
		assert_non_null(strstr(log, "already exists"));
		if (strstr(log, "other-pw") != NULL || strstr(log, "x-pw") != NULL)
			fail_msg("a password is in the server log:\n%s", log);
		free(log);
	}
}

/* ---- 2. privileges ------------------------------------------------------- */

static void
test_privileges(void **state)
{
	(void)state;
	sql_ok("alice_admin", "SELECT proxyauth.add_user('ivy', 'ivy-pw')");

	/* Exactly what each role may execute in schema proxyauth. */
	expect_out("postgres", "SELECT string_agg(p.proname, ',' ORDER BY p.proname) FROM "
		   "pg_proc p WHERE p.pronamespace = 'proxyauth'::regnamespace AND "
		   "has_function_privilege('proxyauth_admin', p.oid, 'EXECUTE')",
		   "add_user,delete_user,disable_user,enable_user,grant_group,list_users,"
		   "revoke_group,set_expiry,set_password");
	expect_out("postgres", "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = "
		   "'proxyauth'::regnamespace AND (has_function_privilege('proxyauth_reader', "
		   "p.oid, 'EXECUTE') OR has_function_privilege('public', p.oid, 'EXECUTE'))",
		   "0");
	/* Every admin function runs as its owner with a fixed search_path. */
	expect_out("postgres", "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = "
		   "'proxyauth'::regnamespace AND has_function_privilege('proxyauth_admin', "
		   "p.oid, 'EXECUTE') AND p.prosecdef AND "
		   "p.proconfig[1] = 'search_path=pg_catalog, pg_temp'", "9");
	/* Exactly what each may read or write: the reader the view, the
	 * admin nothing. */
	expect_out("postgres", "SELECT string_agg(c.relname || ':' || p, ',' ORDER BY c.relname, p) "
		   "FROM pg_class c, unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE','TRUNCATE',"
		   "'REFERENCES','TRIGGER']) p WHERE c.relnamespace = 'proxyauth'::regnamespace "
		   "AND c.relkind IN ('r','v','S') AND has_table_privilege('proxyauth_reader', "
		   "c.oid, p)", "credentials:SELECT");
	expect_out("postgres", "SELECT count(*) FROM pg_class c, unnest(ARRAY['SELECT','INSERT',"
		   "'UPDATE','DELETE','TRUNCATE','REFERENCES','TRIGGER']) p WHERE c.relnamespace = "
		   "'proxyauth'::regnamespace AND c.relkind IN ('r','v','S') AND "
		   "(has_table_privilege('proxyauth_admin', c.oid, p) OR "
		   "has_table_privilege('public', c.oid, p))", "0");
	expect_out("postgres", "SELECT has_schema_privilege('proxyauth_admin', 'proxyauth_crypto', "
		   "'USAGE'), has_schema_privilege('proxyauth_reader', 'proxyauth_crypto', 'USAGE'),"
		   " has_schema_privilege('public', 'proxyauth', 'USAGE')", "f|f|f");

	/* And tried. */
	expect_out(PA_PG_READER_USER, "SELECT username, disabled, groups FROM "
		   "proxyauth.credentials WHERE username = 'ivy'", "ivy|f|{}");
	sql_err(PA_PG_READER_USER, "SELECT proxyauth.add_user('x1', 'x-pw')", "42501",
		"permission denied for function add_user");
	sql_err(PA_PG_READER_USER, "SELECT proxyauth.set_password('ivy', 'x-pw')", "42501",
		"permission denied");
	sql_err(PA_PG_READER_USER, "SELECT proxyauth.list_users()", "42501", "permission denied");
	sql_err(PA_PG_READER_USER, "SELECT proxyauth.hash_password('x')", "42501",
		"permission denied");
	sql_err(PA_PG_READER_USER, "SELECT * FROM proxyauth.users", "42501",
		"permission denied for table users");
	sql_err(PA_PG_READER_USER, "SELECT * FROM proxyauth.groups", "42501", "permission denied");
	sql_err(PA_PG_READER_USER, "SELECT * FROM proxyauth.memberships", "42501",
		"permission denied");
	sql_err(PA_PG_READER_USER, "SELECT * FROM proxyauth.audit", "42501", "permission denied");
	sql_err(PA_PG_READER_USER, "UPDATE proxyauth.credentials SET disabled = false", "42501",
		"permission denied");

	sql_err("alice_admin", "SELECT password_hash FROM proxyauth.credentials", "42501",
		"permission denied for view credentials");
	sql_err("alice_admin", "SELECT password_hash FROM proxyauth.users", "42501",
		"permission denied for table users");
	sql_err("alice_admin", "SELECT * FROM proxyauth.audit", "42501", "permission denied");
	sql_err("alice_admin", "UPDATE proxyauth.users SET disabled = true", "42501",
		"permission denied");
	sql_err("alice_admin", "INSERT INTO proxyauth.users (username, password_hash) VALUES "
		"('x2', 'x')", "42501", "permission denied");
	sql_err("alice_admin", "SELECT proxyauth.hash_password('x')", "42501",
		"permission denied");
	sql_err("alice_admin", "SELECT proxyauth.user_id('ivy')", "42501", "permission denied");
	sql_err("alice_admin", "SELECT proxyauth_crypto.crypt('x', 'y')", "42501",
		"permission denied for schema proxyauth_crypto");
	/* A function's search_path cannot be turned against it: a shadowing
	 * table in the caller's temp schema is never looked at. */
	sql_ok("alice_admin", "CREATE TEMP TABLE users (id bigint); "
	       "SELECT proxyauth.disable_user('ivy')");
	expect_out("postgres", "SELECT disabled FROM proxyauth.users WHERE username = 'ivy'", "t");
}

/* ---- 3. the audit trail -------------------------------------------------- */

static void
test_audit(void **state)
{
	(void)state;
	sql_ok("alice_admin", "SELECT proxyauth.add_user('judy', 'judy-secret-pw')");
	sql_ok("bob_admin", "SELECT proxyauth.set_password('judy', 'judy-secret-pw-2')");
	sql_ok("bob_admin", "SELECT proxyauth.grant_group('judy', 'audit-team')");
	sql_ok("alice_admin", "SELECT proxyauth.revoke_group('judy', 'audit-team')");
	sql_ok("alice_admin", "SELECT proxyauth.disable_user('judy')");
	sql_ok("bob_admin", "SELECT proxyauth.enable_user('judy')");
	sql_ok("alice_admin", "SELECT proxyauth.set_expiry('judy', '2030-01-01 00:00:00+00')");
	sql_ok("bob_admin", "SELECT proxyauth.delete_user('judy')");
	/* A failed call leaves no row. */
	sql_err("bob_admin", "SELECT proxyauth.delete_user('judy')", "P0002", "no user");
	expect_out("postgres", "SELECT string_agg(session_user_name || ' ' || action || ' ' || "
		   "coalesce(detail, '-'), ';' ORDER BY id) FROM proxyauth.audit "
		   "WHERE target_user = 'judy'",
		   "alice_admin add_user -;bob_admin set_password -;"
		   "bob_admin grant_group audit-team;alice_admin revoke_group audit-team;"
		   "alice_admin disable_user -;bob_admin enable_user -;"
		   "alice_admin set_expiry 2030-01-01T00:00:00Z;bob_admin delete_user -");
	expect_out("postgres", "SELECT bool_and(at <= now() AND at > now() - interval '5 min') "
		   "FROM proxyauth.audit WHERE target_user = 'judy'", "t");
	/* The password is nowhere in clear. */
	expect_out("postgres", "SELECT count(*) FROM proxyauth.audit a WHERE a::text LIKE "
		   "'%judy-secret%'", "0");
}

/* ---- 4. NOTIFY on every change ------------------------------------------- */

/* Runs sql as role in a session that LISTENs, and checks the payloads
 * received, in order, joined with '|' ("" for none). */
static void
expect_notices(const char *role, const char *sql, const char *want)
{
	char *full = pa_strdupf("LISTEN proxyauth_changed; %s", sql), got[1024] = "";
	const char *p, *key = "Asynchronous notification \"proxyauth_changed\" ";
	int rc = pa_pg_psql(&pg, role, full, out, sizeof(out), err, sizeof(err));

	if (rc != 0)
		fail_msg("as %s: %s\nexit %d: %s", role, full, rc, err);
	free(full);
	for (p = out; (p = strstr(p, key)) != NULL; p += strlen(key)) {
		const char *q = p + strlen(key);
		char one[300] = "";

		if (strncmp(q, "with payload \"", 14) == 0)
			sscanf(q + 14, "%299[^\"]", one);
		if (got[0] != '\0')
			strcat(got, "|");
		strncat(got, one, sizeof(got) - strlen(got) - 1);
	}
	if (strcmp(got, want) != 0)
		fail_msg("as %s: %s\nnotices '%s', want '%s'\n%s", role, sql, got, want, out);
}

static void
test_notify(void **state)
{
	(void)state;
	expect_notices("alice_admin", "SELECT proxyauth.add_user('kim', 'kim-pw')", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.set_password('kim', 'kim-pw-2')", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.disable_user('kim')", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.enable_user('kim')", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.set_expiry('kim', now())", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.grant_group('kim', 'n-team')", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.revoke_group('kim', 'n-team')", "kim");
	expect_notices("alice_admin", "SELECT proxyauth.grant_group('kim', 'n-team')", "kim");
	/* Direct edits by a superuser, table by table. */
	expect_notices("postgres", "UPDATE proxyauth.users SET disabled = true WHERE "
		       "username = 'kim'", "kim");
	expect_notices("postgres", "UPDATE proxyauth.users SET username = 'kim2' WHERE "
		       "username = 'kim'", "kim|kim2");
	expect_notices("postgres", "UPDATE proxyauth.users SET username = 'kim' WHERE "
		       "username = 'kim2'", "kim2|kim");
	expect_notices("postgres", "UPDATE proxyauth.groups SET name = 'n-team-2' WHERE "
		       "name = 'n-team'", "kim");
	expect_notices("postgres", "DELETE FROM proxyauth.memberships m USING proxyauth.users u "
		       "WHERE u.id = m.user_id AND u.username = 'kim'", "kim");
	expect_notices("postgres", "INSERT INTO proxyauth.memberships (user_id, group_id) "
		       "SELECT u.id, g.id FROM proxyauth.users u, proxyauth.groups g WHERE "
		       "u.username = 'kim' AND g.name = 'n-team-2'", "kim");
	expect_notices("postgres", "DELETE FROM proxyauth.groups WHERE name = 'n-team-2'", "kim");
	expect_notices("postgres", "INSERT INTO proxyauth.users (username, password_hash) "
		       "VALUES ('lou', 'x')", "lou");
	expect_notices("postgres", "DELETE FROM proxyauth.users WHERE username = 'lou'", "lou");
	expect_notices("alice_admin", "SELECT proxyauth.delete_user('kim')", "kim");
	/* A change that touches nobody sends nothing. */
	expect_notices("postgres", "UPDATE proxyauth.users SET disabled = false WHERE false", "");
}

/* ---- 5. applying the schema again keeps everything ----------------------- */

static void
test_reapply(void **state)
{
	char *before, *after, counts[256];

	(void)state;
	sql_ok("alice_admin", "SELECT proxyauth.add_user('max', 'max-pw')");
	sql_ok("alice_admin", "SELECT proxyauth.grant_group('max', 'keep')");
	sql_ok("alice_admin", "SELECT proxyauth.disable_user('max')");
	snprintf(counts, sizeof(counts), "%s", sql_ok("postgres",
		 "SELECT (SELECT count(*) FROM proxyauth.users) || ' ' || "
		 "(SELECT count(*) FROM proxyauth.groups) || ' ' || "
		 "(SELECT count(*) FROM proxyauth.memberships) || ' ' || "
		 "(SELECT count(*) FROM proxyauth.audit) || ' ' || "
		 "(SELECT string_agg(password_hash, ',' ORDER BY username) FROM proxyauth.users)"));
	before = pa_pg_catalog_dump(&pg);
	assert_non_null(before);
	if (pa_pg_apply_schema(&pg, err, sizeof(err)) != 0 || err[0] != '\0')
		fail_msg("applying the schema with data in it: %s", err);
	after = pa_pg_catalog_dump(&pg);
	assert_non_null(after);
	if (strcmp(before, after) != 0)
		fail_msg("applying the schema again changed the catalogue:\n%s\n---\n%s", before,
			 after);
	free(before);
	free(after);
	expect_out("postgres", "SELECT (SELECT count(*) FROM proxyauth.users) || ' ' || "
		   "(SELECT count(*) FROM proxyauth.groups) || ' ' || "
		   "(SELECT count(*) FROM proxyauth.memberships) || ' ' || "
		   "(SELECT count(*) FROM proxyauth.audit) || ' ' || "
		   "(SELECT string_agg(password_hash, ',' ORDER BY username) FROM proxyauth.users)",
		   counts);
	expect_out("postgres", "SELECT disabled, groups FROM proxyauth.credentials WHERE "
		   "username = 'max'", "t|{keep}");
	/* And the grants still hold. */
	sql_ok("alice_admin", "SELECT proxyauth.enable_user('max')");
	sql_err("alice_admin", "SELECT * FROM proxyauth.users", "42501", "permission denied");
	expect_out(PA_PG_READER_USER, "SELECT disabled FROM proxyauth.credentials WHERE "
		   "username = 'max'", "f");
}

/* ---- 6. a database made by an older schema -------------------------------- */

/* Its only case index was lower(username), which let JÖRG beside jörg.
 * Applying the schema keeps it, and says so, while such a pair exists;
 * once one of them is renamed, the folded index replaces it. */
static void
test_fold_index_upgrade(void **state)
{
	char e2[8192];

	(void)state;
	sql_ok("postgres", "DROP INDEX proxyauth.users_username_folded; "
	       "CREATE UNIQUE INDEX users_username_lower ON proxyauth.users (lower(username)); "
	       "INSERT INTO proxyauth.users (username, password_hash) VALUES "
	       "('p\xc3\xa9ter', 'x'), ('P\xc3\x89TER', 'x')");
	if (pa_pg_apply_schema(&pg, e2, sizeof(e2)) != 0 || strstr(e2, "WARNING") == NULL ||
	    strstr(e2, "differ only in case") == NULL)
		fail_msg("applying over a fold-alike pair: '%s'", e2);
	expect_out("postgres", "SELECT to_regclass('proxyauth.users_username_folded') IS NULL, "
		   "to_regclass('proxyauth.users_username_lower') IS NOT NULL", "t|t");
	sql_ok("postgres", "UPDATE proxyauth.users SET username = 'peter2' WHERE "
	       "username = 'P\xc3\x89TER'");
	if (pa_pg_apply_schema(&pg, e2, sizeof(e2)) != 0 || e2[0] != '\0')
		fail_msg("applying after the rename: '%s'", e2);
	expect_out("postgres", "SELECT to_regclass('proxyauth.users_username_folded') IS NOT NULL, "
		   "to_regclass('proxyauth.users_username_lower') IS NULL", "t|t");
	sql_err("postgres", "INSERT INTO proxyauth.users (username, password_hash) VALUES "
		"('P\xc3\x89TER', 'x')", "23505", "users_username_folded");
	sql_ok("postgres", "DELETE FROM proxyauth.users WHERE username IN ('p\xc3\xa9ter', "
	       "'peter2')");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_functions),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_privileges),
		cmocka_unit_test(test_audit),
		cmocka_unit_test(test_notify),
		cmocka_unit_test(test_reapply),
		cmocka_unit_test(test_fold_index_upgrade),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
