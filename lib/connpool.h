/*
 * The one connection layer under the network backends (LDAP, PostgreSQL,
 * Redis and the Redis lockout store), after Dovecot's sql-api: a driver is
 * a small struct of function pointers that opens and closes one
 * connection to its server; the pool lends connections to one thread at
 * a time and runs an operation on them.
 *
 * Invariants.  Everything a pa_connpool_run() does, the wait for a free
 * slot, opening a connection when the slot is empty, the operation and
 * its one retry, happens before the one deadline the caller passes in.  A
 * connection is retried once, on a fresh connection, only when a KEPT
 * connection turns out closed by the server (a restart, an idle timeout):
 * never after a timeout (it would only double the wait on a server that
 * does not answer) nor after a failed open.  A connection whose
 * operation did not end cleanly is closed, never lent again.  Waits are
 * on CLOCK_MONOTONIC.
 */
#ifndef PA_CONNPOOL_H
#define PA_CONNPOOL_H

#include "deadline.h"
#include "error.h"
#include "log.h"

/* How an operation (or the pool itself) ended. */
enum pa_conn_status {
	PA_CONN_OK,		/* done; the connection is kept */
	PA_CONN_REFUSED,	/* the server answered with an error (an SQL error,
				 * an error reply): the answer stands, the
				 * connection is kept */
	PA_CONN_CLOSED_BY_SERVER, /* the server had closed it: dropped, and
				 * retried once when it was a kept one */
	PA_CONN_BROKEN,		/* protocol or other trouble: dropped */
	PA_CONN_TIMEOUT,	/* the deadline passed (waiting for a slot or
				 * for the server); a connection is dropped */
	PA_CONN_OPEN_FAILED,	/* no connection could be made */
};

/* A short name for logs and tests ("closed by the server", ...). */
const char *pa_conn_status_name(enum pa_conn_status st);

/* True when the connection must not be used again after st. */
static inline int
pa_conn_status_drops(enum pa_conn_status st)
{
	return st == PA_CONN_CLOSED_BY_SERVER || st == PA_CONN_BROKEN || st == PA_CONN_TIMEOUT;
}

/* One kind of server connection.  Both functions may be called from many
 * threads at once, each with its own connection. */
struct pa_conn_driver {
	const char *name;	/* "ldap", "redis": for logs and errors */
	/* Opens one ready-to-use connection (connected, authenticated)
	 * before dl.  The connection, or NULL with err set. */
	void *(*open)(void *ctx, const struct pa_deadline *dl, struct pa_error *err);
	/* Closes a connection open() made; never called with NULL. */
	void (*close)(void *ctx, void *conn);
};

/* An operation on a lent connection, to finish before dl.  It must start
 * from scratch each time it is called (a retry calls it again) and say in
 * its result whether the connection can be kept. */
typedef enum pa_conn_status (*pa_conn_op)(void *conn, const struct pa_deadline *dl, void *arg,
					  struct pa_error *err);

struct pa_connpool;

/* A pool of size slots (connections made on first use) of drv with ctx
 * (both must outlive the pool).  log (may be NULL) gets a debug line on a
 * retry.  NULL when out of memory. */
struct pa_connpool *pa_connpool_new(const struct pa_conn_driver *drv, void *ctx, int size,
				    const struct pa_log *log);

/* Closes every connection and frees p.  Safe on NULL; no run may be in
 * progress. */
void pa_connpool_free(struct pa_connpool *p);

/* Runs op(conn, dl, arg, err) on a connection of p, all before dl (see
 * above).  Returns op's status, or PA_CONN_TIMEOUT when no slot came free
 * in time, or PA_CONN_OPEN_FAILED; err says why whenever it is not
 * PA_CONN_OK. */
enum pa_conn_status pa_connpool_run(struct pa_connpool *p, const struct pa_deadline *dl,
				    pa_conn_op op, void *arg, struct pa_error *err);

#endif
