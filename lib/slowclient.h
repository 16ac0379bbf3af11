/*
 * Slow clients (the slow-loris defence of the HTTP front).
 *
 * libmicrohttpd's connection_timeout is an idle timeout, which a client
 * sending one byte a second never reaches.  So every connection is also
 * on a list here with the time it became ready for a request (opened, or
 * its last answer sent); a sweeper thread shuts down the socket of any
 * that has not delivered a whole request (header and any body) within
 * header_timeout of that, and the HTTP library then closes it as it would
 * any broken connection.  A connection whose request is being answered
 * (busy) is never cut.
 *
 * Invariants: the list and the cut flags change only under the list's
 * lock, and a connection leaves the list (pa_slowclient_close) before its
 * socket is closed, so the sweeper never shuts down a descriptor that was
 * reused.  busy and ready_us are atomics, set from the HTTP threads
 * without the lock.
 */
#ifndef PA_SLOWCLIENT_H
#define PA_SLOWCLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"
#include "netaddr.h"

/* One connection, owned by the list from open to close. */
struct pa_slowclient {
	char peer[PA_ADDR_MAX];		/* the peer address in text form */
	int fd;
	atomic_bool busy;		/* a request's header is in: never cut */
	_Atomic uint64_t ready_us;	/* opened, or its last answer sent */
	bool cut;			/* shut down by the sweeper */
	struct pa_slowclient *prev, *next;	/* under the list's lock */
};

struct pa_slowclients;

/*
 * A list whose sweeper cuts connections that hold no whole request
 * header_timeout_us after they became ready for one; 0 starts no sweeper
 * (connections are still tracked, for their peer address).  Cuts are
 * logged at debug level on log.  Returns NULL when out of memory or
 * threads.
 */
struct pa_slowclients *pa_slowclients_start(const struct pa_log *log,
					    uint64_t header_timeout_us);

/* Stops the sweeper (at once); the list stays usable, so that the HTTP
 * library can still close its connections.  Safe on NULL. */
void pa_slowclients_stop(struct pa_slowclients *s);

/* Frees the list once no connection can open or close any more (after the
 * HTTP library has stopped); stops the sweeper if need be.  Safe on NULL. */
void pa_slowclients_free(struct pa_slowclients *s);

/* Tracks a new connection from addr on fd, ready since now_us.  Returns
 * it, or NULL when out of memory (the connection then is not tracked). */
struct pa_slowclient *pa_slowclient_open(struct pa_slowclients *s, const struct sockaddr *addr,
					 int fd, uint64_t now_us);

/* Forgets c and frees it; call before its socket is closed.  Safe on NULL. */
void pa_slowclient_close(struct pa_slowclients *s, struct pa_slowclient *c);

/* A whole request is in: c is not cut while it is answered. */
static inline void
pa_slowclient_busy(struct pa_slowclient *c)
{
	atomic_store_explicit(&c->busy, true, memory_order_relaxed);
}

/* c's answer went out at now_us: its next request has header_timeout. */
static inline void
pa_slowclient_ready(struct pa_slowclient *c, uint64_t now_us)
{
	atomic_store_explicit(&c->ready_us, now_us, memory_order_relaxed);
	atomic_store_explicit(&c->busy, false, memory_order_release);
}

#endif
