/*
 * Coalescing ("single flight"): concurrent lookups of the same credentials
 * wait for one backend verification instead of each doing one.  The first
 * caller for a key leads and runs the chain; the others block until it
 * publishes the answer, and take a copy of it, unavailable answers
 * included, so a down backend is not asked N times either.
 */
#ifndef PA_FLIGHT_H
#define PA_FLIGHT_H

#include "chain.h"
#include "lru.h"

struct pa_flight_result {
	struct pa_chain_answer ans;
	struct pa_identity who;
};

struct pa_flights;
struct pa_flight;

struct pa_flights *pa_flights_new(void);
void pa_flights_free(struct pa_flights *f);	/* no flight may be open; safe on NULL */

/*
 * Joins the flight for key.  Returns a handle when the caller leads: it
 * must run the lookup and call pa_flights_finish() with the handle.
 * Returns NULL when another caller led: *out then holds its result.
 */
struct pa_flight *pa_flights_join(struct pa_flights *f, const unsigned char key[PA_LRU_KEY],
				  struct pa_flight_result *out);

/* Publishes the leader's result, wakes the waiters and ends the flight. */
void pa_flights_finish(struct pa_flights *f, struct pa_flight *flight,
		       const struct pa_flight_result *res);

#endif
