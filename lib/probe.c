/*
 * Readiness probes (probe.h).
 *
 * Invariants: the state per backend is read and written under one mutex;
 * a down or up line is logged only on a change (and a first probe that
 * fails); stopping wakes the thread out of its wait at once.
 */
#include "probe.h"
#include "deadline.h"
#include "clock.h"
#include "text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pa_probes {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, first_done;
	int interval_ms;
	const struct pa_chain *chain;
	const struct pa_log *log;
	pa_probe_hook hook;
	void *hook_arg;
	bool up[PA_CHAIN_MAX];
	bool probed[PA_CHAIN_MAX];
	char reason[PA_CHAIN_MAX][256];
};

static void
probe_once(struct pa_probes *ps)
{
	const struct pa_chain *c = ps->chain;
	int i;

	for (i = 0; i < c->n; i++) {
		struct pa_error err = { { 0 } };
		int rc = c->links[i].ops->probe(c->links[i].ctx, &err);

		pthread_mutex_lock(&ps->lock);
		if (rc == 0 && !ps->up[i] && ps->probed[i])
			pa_log_msg(ps->log, PA_LOG_INFO, "backend %s is up again",
				   c->links[i].ops->name);
		else if (rc != 0 && (ps->up[i] || !ps->probed[i]))
			pa_log_msg(ps->log, PA_LOG_WARN, "backend %s is down: %s",
				   c->links[i].ops->name, err.msg);
		ps->up[i] = rc == 0;
		ps->probed[i] = true;
		snprintf(ps->reason[i], sizeof(ps->reason[i]), "%s",
			 rc != 0 || (c->links[i].ops->reload_state != NULL && err.msg[0] != '\0')
				 ? err.msg : "ok");
		pthread_mutex_unlock(&ps->lock);
	}
}

static void *
probe_loop(void *arg)
{
	struct pa_probes *ps = arg;
	struct timespec until;

	pthread_mutex_lock(&ps->lock);
	while (!ps->stop) {
		pthread_mutex_unlock(&ps->lock);
		probe_once(ps);
		pthread_mutex_lock(&ps->lock);
		if (!ps->first_done) {
			ps->first_done = true;
			pthread_cond_broadcast(&ps->wake);
		}
		pthread_mutex_unlock(&ps->lock);
		if (ps->hook != NULL)
			ps->hook(ps->hook_arg, pa_now_us() / 1000);
		pthread_mutex_lock(&ps->lock);
		until = pa_deadline_ms(ps->interval_ms);
		if (!ps->stop)
			pthread_cond_timedwait(&ps->wake, &ps->lock, &until);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

struct pa_probes *
pa_probes_start(const struct pa_chain *chain, const struct pa_log *log, int interval_ms,
		pa_probe_hook hook, void *hook_arg)
{
	struct pa_probes *ps = calloc(1, sizeof(*ps));
	struct timespec until;

	if (ps == NULL)
		return NULL;
	pthread_mutex_init(&ps->lock, NULL);
	(void)pa_cond_init_monotonic(&ps->wake);
	ps->chain = chain;
	ps->log = log;
	ps->interval_ms = interval_ms;
	ps->hook = hook;
	ps->hook_arg = hook_arg;
	if (pthread_create(&ps->thread, NULL, probe_loop, ps) != 0) {
		pthread_cond_destroy(&ps->wake);
		pthread_mutex_destroy(&ps->lock);
		free(ps);
		return NULL;
	}
	until = pa_deadline_ms(1000);
	pthread_mutex_lock(&ps->lock);
	while (!ps->first_done)
		if (pthread_cond_timedwait(&ps->wake, &ps->lock, &until) != 0)
			break;
	pthread_mutex_unlock(&ps->lock);
	return ps;
}

void
pa_probes_stop(struct pa_probes *ps)
{
	if (ps == NULL)
		return;
	pthread_mutex_lock(&ps->lock);
	ps->stop = true;
	pthread_cond_signal(&ps->wake);
	pthread_mutex_unlock(&ps->lock);
	pthread_join(ps->thread, NULL);
	pthread_cond_destroy(&ps->wake);
	pthread_mutex_destroy(&ps->lock);
	free(ps);
}

int
pa_probes_ready(const struct pa_probes *ps, const struct pa_chain *chain, char *buf,
		size_t len)
{
	struct pa_probes *m = (struct pa_probes *)ps;	/* the lock only */
	size_t pos = 0;
	int i, ret = 0;

	buf[0] = '\0';
	for (i = 0; i < chain->n; i++) {
		char line[320];
		int n;

		if (ps == NULL) {
			n = snprintf(line, sizeof(line), "%s: not probed\n",
				     chain->links[i].ops->name);
			ret = -1;
		} else {
			pthread_mutex_lock(&m->lock);
			n = snprintf(line, sizeof(line), "%s: %s\n", chain->links[i].ops->name,
				     ps->probed[i] ? ps->reason[i] : "not probed yet");
			if (!ps->up[i])
				ret = -1;
			pthread_mutex_unlock(&m->lock);
		}
		if (n > 0)
			(void)pa_buf_append(buf, len, &pos, line, strlen(line));
	}
	return ret;
}

void
pa_probes_up(const struct pa_probes *ps, bool *up, int n)
{
	struct pa_probes *m = (struct pa_probes *)ps;
	int i;

	for (i = 0; i < n; i++)
		up[i] = false;
	if (ps == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < n && i < PA_CHAIN_MAX; i++)
		up[i] = ps->up[i];
	pthread_mutex_unlock(&m->lock);
}
