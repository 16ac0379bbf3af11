/*
 * The backends' hooks into the answer cache (backend.h's env): a user, or
 * all of a backend's answers, changed outside; a LISTEN/SUBSCRIBE lost; a
 * watcher deaf or hearing again.  The pipeline hands them to every
 * backend it opens (pipeline.c).
 */
#include "pipeline.h"

#include <stddef.h>

/* The backends' hook into the cache: a user (or all of a backend's
 * answers) changed outside. */
void
pa_pipeline_invalidate(void *arg, const char *backend, const char *user)
{
	struct pa_pipeline *p = arg;
	size_t n;

	if (p->cache == NULL)
		return;
	if (user != NULL)
		n = pa_cache_invalidate_user(p->cache, user);
	else
		n = pa_cache_invalidate_backend(p->cache, backend);
	if (n > 0)
		pa_log_msg(p->log, PA_LOG_DEBUG, "cache: %s dropped %zu answer(s)%s%s", backend, n,
			   user != NULL ? " for " : "", user != NULL ? user : "");
}

/* The backends' hook for a lost LISTEN/SUBSCRIBE: asked again first, a
 * grant kept for stale_grace. */
void
pa_pipeline_expire(void *arg, const char *backend)
{
	struct pa_pipeline *p = arg;
	size_t n;

	if (p->cache == NULL)
		return;
	n = pa_cache_expire_backend(p->cache, backend, pa_now_us() / 1000);
	if (n > 0)
		pa_log_msg(p->log, PA_LOG_DEBUG, "cache: %s expired %zu answer(s)", backend, n);
}

/* The backends' hook for a watcher down or up again. */
void
pa_pipeline_deaf(void *arg, const char *backend, bool on)
{
	struct pa_pipeline *p = arg;

	if (p->cache != NULL)
		pa_cache_set_deaf(p->cache, backend, on);
}
