/*
 * One reconnecting watcher thread for a server's change notices
 * (PostgreSQL LISTEN, Redis SUBSCRIBE).  The source says how to open a
 * subscribed connection and how to read what arrived; the watcher keeps
 * it up.
 *
 * Invariants.  Notices sent while the watcher is not subscribed are lost.
 * The moment the connection is lost, every answer the source vouched for
 * is expired (expire(): asked again first, but a grant may still answer
 * stale while the server is down; without that hook, invalidate(NULL)
 * drops them), and each time it has (re)subscribed they are dropped
 * (invalidate(NULL)): notices were missed in between.  While it is not
 * subscribed (from the start until it first is, and from a loss on) the
 * source is deaf (deaf()): what it answers meanwhile is cached already
 * expired, since no notice would drop it.  Failed attempts back off from
 * 250 ms, doubling up to 2 s; a success starts again at 250 ms.  It logs "down" once when it goes down
 * and "up" once when it comes back.  pa_watcher_stop() returns at once
 * (it never waits out a back-off or a poll), except for an open already
 * under way, which its own timeout bounds.
 */
#ifndef PA_WATCHER_H
#define PA_WATCHER_H

#include <stdbool.h>

#include "deadline.h"
#include "error.h"
#include "log.h"

struct pa_watch_source {
	const char *name;	/* "postgres": logs and invalidate()'s backend */
	/* Opens a connection and subscribes, before dl.  The connection,
	 * or NULL with err set. */
	void *(*open)(void *ctx, const struct pa_deadline *dl, struct pa_error *err);
	/* The descriptor to poll for input. */
	int (*fd)(void *ctx, void *conn);
	/* Reads what arrived and acts on each notice (the source calls its
	 * own invalidate).  0, or -1 with err set when the connection is
	 * lost. */
	int (*read)(void *ctx, void *conn, struct pa_error *err);
	void (*close)(void *ctx, void *conn);	/* never called with NULL */
};

struct pa_watcher_config {
	const struct pa_watch_source *src;
	void *ctx;			/* the source's */
	/* For the logs: "listening on proxyauth_changed" (up), "cannot
	 * listen on proxyauth_changed" (down), "listening connection". */
	const char *up, *down, *conn_name;
	long open_timeout_ms;		/* bounds each open */
	long backoff_min_ms;		/* 0: 250 */
	long backoff_max_ms;		/* 0: 2000 */
	const struct pa_log *log;
	/* Drops the answers of backend src->name about user (NULL: all). */
	void (*invalidate)(void *arg, const char *backend, const char *user);
	/* Ends the TTL of the answers of backend src->name, keeping them
	 * for stale use (on loss).  May be NULL: invalidate(NULL) instead. */
	void (*expire)(void *arg, const char *backend);
	/* deaf(true) from the start until the first subscription and from a
	 * loss on; deaf(false) once (re)subscribed, after invalidate(NULL).
	 * May be NULL. */
	void (*deaf)(void *arg, const char *backend, bool deaf);
	void *invalidate_arg;
};

struct pa_watcher;

/* Starts the thread.  The watcher, or NULL with err set.  cfg is copied;
 * what it points to must outlive the watcher. */
struct pa_watcher *pa_watcher_start(const struct pa_watcher_config *cfg, struct pa_error *err);

/* Stops the thread, closes its connection and frees w.  Safe on NULL. */
void pa_watcher_stop(struct pa_watcher *w);

/* The back-off after one of ms (min and max as in the config). */
long pa_watcher_next_backoff(long ms, long max_ms);

#endif
