/*
 * What the files of the PostgreSQL backend share (backends/postgres/):
 * the backend's state and the calls one file makes into another.
 * Nothing here is used outside backends/postgres/; the backend itself is
 * pa_postgres_ops (backend.h), defined in config.c.
 *
 *   conn.c      one connection and its queries under a deadline, the
 *               prepared lookup, the pool driver
 *   listener.c  LISTEN proxyauth_changed, the cache invalidation
 *   lookup.c    verify and probe: the query, the policy on its row
 *   config.c    the [postgres] keys, open with its checks, close
 */
#ifndef PA_PGB_H
#define PA_PGB_H

#include "backend.h"
#include "connpool.h"
#include "deadline.h"
#include "hash.h"
#include "watcher.h"

#include <libpq-fe.h>
#include <stdatomic.h>

#define PG_CHANNEL "proxyauth_changed"

struct pg {
	char *conninfo;
	char password[1024];		/* "" when libpq finds it itself */
	long timeout_ms;
	char timeout_text[24];		/* statement_timeout, in ms */
	char connect_timeout[24];	/* libpq's, in whole seconds */
	const struct pa_backend_env *env;
	struct pa_connpool *pool;
	struct pa_watcher *listener;
	/* The last stored hash seen, for the dummy verification of unknown,
	 * disabled and expired users: it costs what the users here cost. */
	struct pa_hash_reference reference;
	/* The lookup's prepared statement, named after a digest of its text
	 * (two versions of proxyauthd on one server never run each other's);
	 * unprepared, for good, once a pooler was seen (conn.c). */
	char stmt[40];
	atomic_bool unprepared;
	atomic_bool closing;		/* set before the listener is stopped */
};

/* conn.c */

/* The pool's driver: opens with pgb_connect(); each pooled connection
 * prepares the lookup the first time it runs one. */
extern const struct pa_conn_driver pgb_driver;

/* Sets err to what failed and libpq's message up to its first newline. */
void pgb_set_error(struct pa_error *err, const char *what, const char *msg);

/* Runs sql with its text parameters on c before dl.  Returns the result
 * (PQclear() it), or NULL with err set and *st saying what that means for
 * the connection (PA_CONN_CLOSED_BY_SERVER is the one worth a retry). */
PGresult *pgb_exec(PGconn *c, const char *sql, int nparams, const char *const *params,
		   const struct pa_deadline *dl, struct pa_error *err, enum pa_conn_status *st);

/* A new non-blocking connection with statement_timeout set, before dl,
 * or NULL with err set; with prepare (one for lookups), preparing is given
 * up for good when a pooler answers for the server.  PQfinish() it. */
PGconn *pgb_connect(struct pg *g, bool prepare, const struct pa_deadline *dl,
		    struct pa_error *err);

/* Waits until fd is ready for events (poll()'s) or dl passes.  1 when
 * ready, 0 on timeout, -1 on a poll error. */
int pgb_wait_fd(int fd, short events, const struct pa_deadline *dl);

/* Closes a connection pgb_connect() made (ctx unused): the listener's. */
void pgb_close_conn(void *ctx, void *conn);

/* Runs sql on a pooled connection, all within one timeout_ms.  The
 * result (PQclear() it), or NULL with err set. */
PGresult *pgb_pool_exec(struct pg *g, const char *sql, int nparams, const char *const *params,
			struct pa_error *err);

/* The same before dl. */
PGresult *pgb_pool_exec_before(struct pg *g, const struct pa_deadline *dl, const char *sql,
			       int nparams, const char *const *params, struct pa_error *err);

/* Runs the lookup (pgb_lookup_sql) for user on a pooled connection, all
 * within one timeout_ms: prepared, unless that proved not to hold.  The
 * result (PQclear() it), or NULL with err set. */
PGresult *pgb_pool_lookup(struct pg *g, const char *user, struct pa_error *err);

/* Names g's prepared statement after a digest of the lookup's text. */
void pgb_name_statement(struct pg *g);

/* listener.c */

/* The listener, a source for lib/watcher.c. */
extern const struct pa_watch_source pgb_listener;

/* lookup.c */

/* The one query of a lookup: $1 is the user name. */
extern const char pgb_lookup_sql[];

/* The backend's verify and probe (pa_backend_ops). */
enum pa_result pgb_verify(void *ctx, const struct pa_credentials *cred,
			  struct pa_identity *who, struct pa_error *err);
int pgb_probe(void *ctx, struct pa_error *err);

#endif
