/*
 * The Squid helper's request loop: request lines in, one answer line per
 * request out (see squid_helper.c for the order of answers).  The
 * program (cmd/proxyauth-squid) opens the pipeline, the worker pool and
 * the hold queue and fills struct pa_squid_helper; this reads.
 */
#ifndef PA_SQUID_HELPER_H
#define PA_SQUID_HELPER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "holdq.h"
#include "log.h"
#include "pipeline.h"
#include "workq.h"

struct pa_squid_helper {
	struct pa_pipeline pipe;
	struct pa_workq *workq;
	struct pa_holdq *held;	/* locked answers held back; NULL: at once */
	struct pa_log log;
	FILE *out;		/* answers go here, flushed per line */
	pthread_mutex_t out_lock;
	bool with_id;		/* lines start with a channel ID */
	bool negotiate;		/* Squid's negotiate protocol (YR/KK, AF/NA/BH) */
	atomic_bool out_broken;	/* out failed: Squid is gone */
};

/*
 * Reads request lines from fd until the end of input (or until out
 * fails), answering each.  Lookups still running on the workers when it
 * returns are answered as they finish: stop the pool (pa_workq_stop) and
 * free the hold queue to answer them all.
 */
void pa_squid_helper_read(struct pa_squid_helper *h, int fd);

/* The hold queue's fire function: answers a held request. */
void pa_squid_helper_fire_held(void *item);

#endif
