/*
 * Decision pipeline.
 *
 * Invariants: no path turns an unavailable backend into an allow; the
 * password is scrubbed in pa_decide_end() on every path; the log line is
 * written exactly once per decision and never holds a password or a
 * credentials header.
 */
#include "pipeline.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pa_probe_state {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, started;
	int interval_ms;
	const struct pa_pipeline *p;
	bool up[PA_CHAIN_MAX];
	bool probed[PA_CHAIN_MAX];
	char reason[PA_CHAIN_MAX][256];
};

uint64_t
pa_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static const char *const profile_names[] = { "auth", "auth-request", "ext-authz", "squid" };
static const char *const outcome_names[] = { "allow", "deny", "forbidden", "malformed",
					     "locked", "unavailable" };

const char *
pa_profile_name(enum pa_profile profile)
{
	return profile_names[profile];
}

const char *
pa_outcome_name(enum pa_outcome outcome)
{
	return outcome_names[outcome];
}

int
pa_pipeline_open(struct pa_pipeline *p, const struct pa_config *cfg,
		 const struct pa_backend_env *env, struct pa_error *err)
{
	const struct pa_section *srv = pa_config_section(cfg, "server");

	memset(p, 0, sizeof(*p));
	p->log = env->log;
	p->require_groups = strdup(pa_conf_str(srv, pa_server_keys, "require_groups"));
	p->cred_headers = strdup(pa_conf_str(srv, pa_server_keys, "credentials_header"));
	p->realm = strdup(pa_conf_str(srv, pa_server_keys, "realm"));
	if (p->require_groups == NULL || p->cred_headers == NULL || p->realm == NULL) {
		pa_error_set(err, "out of memory");
		goto fail;
	}
	if (p->cred_headers[0] == '\0') {
		pa_error_set(err, "credentials_header must name at least one header");
		goto fail;
	}
	if (pa_cidr_list_parse(pa_conf_str(srv, pa_server_keys, "trusted_proxies"),
			       &p->trusted, err) != 0)
		goto fail;
	if (pa_chain_open(&p->chain, cfg, env, err) != 0)
		goto fail;
	return 0;
fail:
	pa_pipeline_close(p);
	return -1;
}

static int
group_member(const char *name, size_t len, void *arg)
{
	const struct pa_identity *who = arg;

	return pa_list_contains(who->groups, name, len) ? 1 : 0;
}

/* True when who may pass: require_groups empty, or one of them held. */
static bool
authorized(const struct pa_pipeline *p, const struct pa_identity *who)
{
	if (p->require_groups[0] == '\0')
		return true;
	return pa_list_foreach(p->require_groups, group_member, (void *)who) != 0;
}

bool
pa_decide_begin(const struct pa_pipeline *p, struct pa_decision *d)
{
	(void)p;
	d->cache = NULL;
	switch (d->cred_status) {
	case PA_CRED_OK:
		return false;
	case PA_CRED_MISSING:
	case PA_CRED_EMPTY_PASSWORD:
		d->outcome = PA_OUT_DENY;
		return true;
	case PA_CRED_MALFORMED:
		d->outcome = PA_OUT_MALFORMED;
		return true;
	}
	d->outcome = PA_OUT_MALFORMED;
	return true;
}

void
pa_decide_lookup(const struct pa_pipeline *p, struct pa_decision *d)
{
	struct pa_chain_answer ans;

	d->cache = "miss";
	pa_chain_verify(&p->chain, &d->cred, &d->who, &ans);
	d->backend = ans.backend;
	switch (ans.result) {
	case PA_GRANTED:
		d->granted_after_unavailable = ans.after_unavailable;
		d->outcome = authorized(p, &d->who) ? PA_OUT_ALLOW : PA_OUT_FORBIDDEN;
		break;
	case PA_DENIED:
	case PA_NOT_FOUND:
		d->outcome = PA_OUT_DENY;
		break;
	case PA_UNAVAILABLE:
		d->outcome = PA_OUT_UNAVAILABLE;
		d->why = ans.err;
		break;
	}
	if (d->outcome != PA_OUT_ALLOW && d->outcome != PA_OUT_FORBIDDEN)
		memset(&d->who, 0, sizeof(d->who));
}

void
pa_decide_end(const struct pa_pipeline *p, struct pa_decision *d)
{
	char latency[24];
	bool has_user = d->cred_status == PA_CRED_OK || d->cred_status == PA_CRED_EMPTY_PASSWORD;
	struct pa_log_field f[] = {
		{ "client", d->client, SIZE_MAX, false },
		{ "user", has_user ? d->cred.user : NULL, d->cred.user_len, false },
		{ "profile", pa_profile_name(d->profile), SIZE_MAX, false },
		{ "outcome", pa_outcome_name(d->outcome), SIZE_MAX, false },
		{ "backend", d->backend, SIZE_MAX, false },
		{ "cache", d->cache, SIZE_MAX, false },
		{ "latency_us", latency, SIZE_MAX, true },
		{ "method", d->method, d->method_len, false },
		{ "host", d->host, d->host_len, false },
		{ "uri", d->uri, d->uri_len, false },
		{ "reason", d->outcome == PA_OUT_MALFORMED ? d->cred_why :
			    d->outcome == PA_OUT_UNAVAILABLE ? d->why.msg :
			    d->granted_after_unavailable ? "granted after an unavailable backend" :
			    d->cred_status == PA_CRED_EMPTY_PASSWORD ? "empty password" : NULL,
		  SIZE_MAX, false },
	};

	snprintf(latency, sizeof(latency), "%llu",
		 (unsigned long long)(pa_now_us() - d->start_us));
	pa_log_fields(p->log, d->outcome == PA_OUT_UNAVAILABLE ? PA_LOG_WARN : PA_LOG_INFO, f,
		      (int)(sizeof(f) / sizeof(f[0])));
	pa_credentials_clear(&d->cred);
}

static void
probe_once(struct pa_probe_state *ps)
{
	const struct pa_chain *c = &ps->p->chain;
	int i;

	for (i = 0; i < c->n; i++) {
		struct pa_error err = { { 0 } };
		int rc = c->links[i].ops->probe(c->links[i].ctx, &err);

		pthread_mutex_lock(&ps->lock);
		if (rc == 0 && !ps->up[i] && ps->probed[i])
			pa_log_msg(ps->p->log, PA_LOG_INFO, "backend %s is up again",
				   c->links[i].ops->name);
		else if (rc != 0 && (ps->up[i] || !ps->probed[i]))
			pa_log_msg(ps->p->log, PA_LOG_WARN, "backend %s is down: %s",
				   c->links[i].ops->name, err.msg);
		ps->up[i] = rc == 0;
		ps->probed[i] = true;
		snprintf(ps->reason[i], sizeof(ps->reason[i]), "%s", rc == 0 ? "ok" : err.msg);
		pthread_mutex_unlock(&ps->lock);
	}
}

static void *
probe_loop(void *arg)
{
	struct pa_probe_state *ps = arg;
	struct timespec until;

	pthread_mutex_lock(&ps->lock);
	while (!ps->stop) {
		pthread_mutex_unlock(&ps->lock);
		probe_once(ps);
		pthread_mutex_lock(&ps->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += ps->interval_ms / 1000;
		until.tv_nsec += (long)(ps->interval_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!ps->stop)
			pthread_cond_timedwait(&ps->wake, &ps->lock, &until);
	}
	pthread_mutex_unlock(&ps->lock);
	return NULL;
}

int
pa_pipeline_start_probes(struct pa_pipeline *p, int interval_ms)
{
	struct pa_probe_state *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return -1;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_cond_init(&ps->wake, NULL);
	ps->p = p;
	ps->interval_ms = interval_ms;
	probe_once(ps);		/* so /readyz is right from the first request */
	if (pthread_create(&ps->thread, NULL, probe_loop, ps) != 0) {
		pthread_cond_destroy(&ps->wake);
		pthread_mutex_destroy(&ps->lock);
		free(ps);
		return -1;
	}
	ps->started = true;
	p->probes = ps;
	return 0;
}

int
pa_pipeline_ready(const struct pa_pipeline *p, char *buf, size_t len)
{
	struct pa_probe_state *ps = p->probes;
	size_t pos = 0;
	int i, ret = 0;

	buf[0] = '\0';
	for (i = 0; i < p->chain.n; i++) {
		char line[320];
		int n;

		if (ps == NULL) {
			n = snprintf(line, sizeof(line), "%s: not probed\n",
				     p->chain.links[i].ops->name);
			ret = -1;
		} else {
			pthread_mutex_lock(&ps->lock);
			n = snprintf(line, sizeof(line), "%s: %s\n", p->chain.links[i].ops->name,
				     ps->reason[i]);
			if (!ps->up[i])
				ret = -1;
			pthread_mutex_unlock(&ps->lock);
		}
		if (n > 0)
			(void)pa_buf_append(buf, len, &pos, line, strlen(line));
	}
	return ret;
}

void
pa_pipeline_close(struct pa_pipeline *p)
{
	struct pa_probe_state *ps;

	if (p == NULL)
		return;
	if ((ps = p->probes) != NULL) {
		pthread_mutex_lock(&ps->lock);
		ps->stop = true;
		pthread_cond_signal(&ps->wake);
		pthread_mutex_unlock(&ps->lock);
		pthread_join(ps->thread, NULL);
		pthread_cond_destroy(&ps->wake);
		pthread_mutex_destroy(&ps->lock);
		free(ps);
		p->probes = NULL;
	}
	pa_chain_close(&p->chain);
	pa_cidr_list_free(&p->trusted);
	free(p->require_groups);
	free(p->cred_headers);
	free(p->realm);
	memset(p, 0, sizeof(*p));
}
