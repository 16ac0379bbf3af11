/*
 * PostgreSQL backend (SPEC section 4).  A user is the row of the view
 * proxyauth.credentials (deploy/sql/schema.sql) whose username equals the
 * login, read with one parameterised query, prepared on each connection
 * (conn.c): the user name is only ever a parameter, never SQL text.  The
 * stored hash is verified here, through lib/hash.c (pgcrypto's $2a$ by
 * libxcrypt), after the connection went back to the pool.
 *
 * Unknown, disabled and expired users, and more than one row, cost a
 * dummy verification of the last stored hash seen, as a real check costs.
 * See pgb.h for the other files.
 */
#include "pgb.h"
#include "text.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

/* disabled and expired are decided in SQL so that NULLs and the server's
 * clock mean what set_expiry meant, and so is the time left until expires_at
 * (milliseconds, NULL for none), which bounds a cached grant whatever this
 * host's clock says; bad_groups flags names that cannot go
 * into a comma list, so array_to_string() cannot blur two names into one. */
const char pgb_lookup_sql[] =
	"SELECT username, password_hash, disabled IS NOT FALSE, "
	"COALESCE(expires_at <= pg_catalog.now(), false), "
	"pg_catalog.array_to_string(groups, ','), "
	"EXISTS (SELECT 1 FROM pg_catalog.unnest(groups) AS g(name) "
	"WHERE g.name IS NULL OR g.name = '' OR g.name ~ '[,[:cntrl:]]'), "
	"CASE WHEN pg_catalog.isfinite(expires_at) THEN "
	"(pg_catalog.date_part('epoch', expires_at - pg_catalog.now()) * 1000)::bigint END "
	"FROM proxyauth.credentials WHERE username = $1";

static const char probe_sql[] = "SELECT 1 FROM proxyauth.credentials LIMIT 0";

static void
dummy_verify(struct pg *g, const struct pa_credentials *cred)
{
	pa_reference_dummy_verify(&g->reference, cred);
}

static bool
is_true(const PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

enum pa_result
pgb_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	   struct pa_error *err)
{
	struct pg *g = ctx;
	char name[PA_USER_MAX + 1], hash[600], groups[PA_GROUPS_MAX];
	enum pa_result res = PA_UNAVAILABLE;
	bool disabled, expired, bad_groups;
	long left_ms = 0;		/* until expires_at, when has_left */
	bool has_left = false;
	struct timespec wall;
	PGresult *r;
	int rows;

	name[0] = hash[0] = groups[0] = '\0';
	if ((r = pgb_pool_lookup(g, cred->user, err)) == NULL)
		goto done;
	if (PQnfields(r) != 7) {
		pa_error_set(err, "unexpected columns from proxyauth.credentials");
		goto done;
	}
	rows = PQntuples(r);
	if (rows == 0) {
		res = PA_NOT_FOUND;
		goto dummy;
	}
	disabled = rows != 1 || is_true(r, 2);
	expired = rows == 1 && is_true(r, 3);
	bad_groups = rows == 1 && is_true(r, 5);
	if (rows == 1) {
		if (pa_strlcpy(name, PQgetvalue(r, 0, 0), sizeof(name)) != 0)
			name[0] = '\0';
		if (!PQgetisnull(r, 0, 1) &&
		    pa_strlcpy(hash, PQgetvalue(r, 0, 1), sizeof(hash)) != 0)
			hash[0] = '\0';
		if (!PQgetisnull(r, 0, 6)) {
			has_left = true;
			if (pa_parse_long(PQgetvalue(r, 0, 6), LONG_MIN, LONG_MAX, &left_ms) != 0)
				expired = true;		/* not understood: refused */
		}
		if (!PQgetisnull(r, 0, 4) &&
		    pa_strlcpy(groups, PQgetvalue(r, 0, 4), sizeof(groups)) != 0) {
			pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: groups of %s too long; "
				   "denied", cred->user);
			bad_groups = true;
		}
	}
	PQclear(r);
	r = NULL;
	if (rows != 1)
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: %d rows for %s in "
			   "proxyauth.credentials; denied", rows, cred->user);
	else if (bad_groups)
		/* Refused rather than granted without a group a rule may need. */
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: user %s has a group name that "
			   "is empty or holds a comma or control character; denied", cred->user);
	res = PA_DENIED;
	if (disabled || expired || bad_groups || hash[0] == '\0' || name[0] == '\0')
		goto dummy;
	res = pa_backend_check_stored(g->env, "postgres", &g->reference, cred, hash, name, groups,
				      who);
	if (res == PA_GRANTED && has_left) {
		/* The server's time left, on this host's wall clock. */
		clock_gettime(CLOCK_REALTIME, &wall);
		who->expires_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 +
		    (left_ms > 0 ? left_ms : 1);
	}
	goto done;
dummy:
	/* Unknown, disabled or expired: cost what a real check costs. */
	dummy_verify(g, cred);
done:
	PQclear(r);	/* libpq's storage, which it says not to write to */
	OPENSSL_cleanse(hash, sizeof(hash));
	return res;
}

/* Can proxyauthd read the view now?  Also catches a role without rights. */
int
pgb_probe(void *ctx, struct pa_error *err)
{
	struct pg *g = ctx;
	PGresult *r = pgb_pool_exec(g, probe_sql, 0, NULL, err);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}
