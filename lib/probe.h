/*
 * Readiness probes: a background thread that asks every backend of a
 * chain its probe() every interval, remembers the last answer per backend
 * for /readyz and /metrics, and logs a backend going down or coming back
 * once per change.
 *
 * After each round it calls an optional hook with the monotonic time in
 * milliseconds: periodic housekeeping that wants the same rhythm (the
 * daemons sweep the lockout counters there) without the probe loop
 * knowing what it is.  The hook runs on the probe thread, never
 * concurrently with itself.
 *
 * The chain and the log must outlive the probes; pa_probes_stop() returns
 * only once the thread has finished, so a chain may be closed after it.
 */
#ifndef PA_PROBE_H
#define PA_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "log.h"

struct pa_probes;

/* Called after every probe round with now_ms on the monotonic clock. */
typedef void (*pa_probe_hook)(void *arg, uint64_t now_ms);

/*
 * Starts probing chain every interval_ms, calling hook(hook_arg, now_ms)
 * after each round (hook may be NULL).  Waits up to a second for the first
 * round, so that readiness is right from the first request without a
 * hanging backend holding up the start.  Returns the probes, or NULL when
 * out of memory or threads.
 */
struct pa_probes *pa_probes_start(const struct pa_chain *chain, const struct pa_log *log,
				  int interval_ms, pa_probe_hook hook, void *hook_arg);

/* Stops the thread at once (it finishes the probe it is in) and frees
 * everything.  Safe on NULL. */
void pa_probes_stop(struct pa_probes *ps);

/*
 * Readiness of chain, whose probes are ps (NULL: never started): 0 when
 * every backend answered its last probe, else -1.  buf gets one
 * "name: reason" line per backend ("ok", the probe's error, "not probed
 * yet", or "not probed" without probes), truncated to len.
 */
int pa_probes_ready(const struct pa_probes *ps, const struct pa_chain *chain,
		    char *buf, size_t len);

/* Copies whether each of the first n backends is up into up[]; all false
 * when ps is NULL. */
void pa_probes_up(const struct pa_probes *ps, bool *up, int n);

#endif
