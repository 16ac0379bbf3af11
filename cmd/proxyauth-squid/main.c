/*
 * proxyauth-squid: a Squid basic-auth helper on proxyauthd's configuration
 * and decision pipeline (cache, coalescing, lockout, rules, logs).
 *
 *   proxyauth-squid [-c FILE] [-n]
 *
 * Reads one request per line on standard input (lib/squid_line.h), answers
 * one line per request on standard output, flushed at once.  With Squid's
 * concurrency > 0 (the default this helper expects) every line starts with
 * a channel ID and answers may come back out of order: the main thread
 * reads and parses, cached and refused answers are written at once, and
 * backend lookups run on the worker pool ([server] workers).  -n is for
 * `concurrency=0`: lines carry no channel ID and are answered in order
 * (a single worker).  Logs go to standard error, which Squid writes to its
 * cache.log.  At the end of input every request in flight is answered,
 * then the helper exits 0.  SIGHUP reloads the backends' files.
 *
 * The client address for the per-address lockout and the log comes from
 * the first key_extras field when it is an address (squid.conf:
 * `auth_param basic key_extras "%>a"`); without it the client is logged as
 * "squid" and only the per-user lockout applies.
 */
#include "backend.h"
#include "clock.h"
#include "config.h"
#include "holdq.h"
#include "log.h"
#include "pipeline.h"
#include "squid_line.h"
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/proxyauthd/proxyauthd.conf"
#define DRAIN_MS 10000

extern char **environ;

struct helper {
	struct pa_pipeline pipe;
	struct pa_workq *workq;
	struct pa_holdq *held;	/* locked answers held back, as the HTTP front does */
	struct pa_log log;
	pthread_mutex_t out_lock;
	bool with_id;
	atomic_bool out_broken;	/* stdout failed: Squid is gone */
};

/* One request, owned by whoever answers it. */
struct request {
	struct pa_job job;	/* first: the workq hands back &job */
	struct helper *h;
	char id[PA_SQUID_ID_MAX + 1];
	struct pa_decision d;
};

static void
usage(void)
{
	fprintf(stderr, "usage: proxyauth-squid [-c FILE] [-n]\n"
		"  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -n       lines carry no channel ID (Squid concurrency=0)\n");
}

/* Writes one answer line whole and flushes it. */
static void
write_answer(struct helper *h, const char *line, size_t len)
{
	pthread_mutex_lock(&h->out_lock);
	if (!atomic_load(&h->out_broken) &&
	    (fwrite(line, 1, len, stdout) != len || fflush(stdout) != 0))
		atomic_store(&h->out_broken, true);
	pthread_mutex_unlock(&h->out_lock);
}

/* Answers a decided request, logs it and frees it. */
static void
finish(struct request *r)
{
	char line[PA_SQUID_ANSWER_MAX];
	struct pa_decision *d = &r->d;
	enum pa_squid_answer kind;
	const char *msg;
	int n;

	switch (d->outcome) {
	case PA_OUT_ALLOW:
		kind = PA_SQUID_OK;
		msg = NULL;
		break;
	case PA_OUT_UNAVAILABLE:
		kind = PA_SQUID_BH;
		msg = "authentication backend unavailable";
		break;
	case PA_OUT_FORBIDDEN:
		kind = PA_SQUID_ERR;
		msg = "not authorized";
		break;
	default:	/* deny, locked, malformed: the same answer */
		kind = PA_SQUID_ERR;
		msg = "authentication failed";
		break;
	}
	n = pa_squid_format(line, sizeof(line), r->id, kind, d->who.user, msg);
	if (n < 0)	/* cannot happen with the bounded name; never an OK then */
		n = pa_squid_format(line, sizeof(line), r->id, PA_SQUID_BH, NULL,
				    "answer too long");
	if (n > 0)
		write_answer(r->h, line, (size_t)n);
	pa_decide_end(&r->h->pipe, d);
	free(r);
}

static void
fire_held(void *item)
{
	finish(item);
}

/* Answers r: a locked answer after about a verification's time (see
 * pa_pipeline_locked_delay_us), anything else at once.  Without channel
 * IDs Squid waits for each answer, so holding one keeps the order. */
static void
answer(struct request *r)
{
	uint64_t delay;

	if (r->d.outcome == PA_OUT_LOCKED && r->h->held != NULL &&
	    (delay = pa_pipeline_locked_delay_us(&r->h->pipe, &r->d, arc4random())) > 0 &&
	    pa_holdq_add(r->h->held, r, delay))
		return;
	finish(r);
}

static void
run_lookup(struct pa_job *job)
{
	struct request *r = (struct request *)job;

	pa_decide_lookup(&r->h->pipe, &r->d);
	answer(r);
}

/*
 * Takes one request line through the pipeline: decided at once, or queued
 * for a worker.  refuse, when not NULL, is why the line cannot be read (too
 * long, a NUL byte): only its channel ID is taken from it, and it is
 * answered as malformed.
 */
static void
handle_line(struct helper *h, const char *line, size_t len, const char *refuse)
{
	struct pa_squid_request req;
	struct request *r;
	int rc;

	if ((r = malloc(sizeof(*r))) == NULL) {
		write_answer(h, "BH message=\"out of memory\"\n", 27);
		return;
	}
	pa_decision_init(&r->d);
	r->h = h;
	r->d.start_us = pa_now_us();
	r->d.profile = PA_PROFILE_SQUID;
	if (refuse != NULL) {
		memset(&req, 0, offsetof(struct pa_squid_request, cred));
		req.client[0] = '\0';
		rc = h->with_id ? pa_squid_channel_id(line, len, req.id) : 0;
		req.status = PA_CRED_MALFORMED;
		req.why = refuse;
	} else {
		rc = pa_squid_parse(line, len, h->with_id, &req);
	}
	if (h->with_id && req.id[0] == '\0') {
		/* No channel ID: Squid with concurrency on never sends such a
		 * line; with concurrency=0 the helper must run with -n.  BH
		 * says so, rather than leave Squid waiting for an answer. */
		static const char bh[] = "BH message=\"no channel ID: with concurrency=0 run "
					 "proxyauth-squid -n\"\n";

		pa_log_msg(&h->log, PA_LOG_WARN, "a request line without a channel ID: answered "
			   "BH (with Squid's concurrency=0, run proxyauth-squid -n)");
		if (refuse == NULL)
			pa_credentials_clear(&req.cred);
		free(r);
		write_answer(h, bh, sizeof(bh) - 1);
		return;
	}
	memcpy(r->id, req.id, sizeof(r->id));
	if (req.client[0] != '\0') {
		memcpy(r->d.client, req.client, sizeof(r->d.client));
	} else {
		snprintf(r->d.client, sizeof(r->d.client), "squid");
		r->d.no_address = true;
	}
	r->d.cred_status = rc < 0 ? PA_CRED_MALFORMED : req.status;
	r->d.cred_why = req.why;
	if (r->d.cred_status == PA_CRED_OK || r->d.cred_status == PA_CRED_EMPTY_PASSWORD)
		r->d.cred = req.cred;
	if (refuse == NULL)
		pa_credentials_clear(&req.cred);

	/* A locked answer waits its turn for a worker like the lookup it
	 * stands for (see lib/http.c), unless it would have been cached. */
	if (pa_decide_begin(&h->pipe, &r->d) &&
	    (r->d.outcome != PA_OUT_LOCKED || r->d.locked_cached)) {
		answer(r);
		return;
	}
	r->d.why.msg[0] = '\0';	/* a lock is decided again by the worker */
	r->job.run = run_lookup;
	if (pa_workq_submit(h->workq, &r->job) != 0) {
		r->d.outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&r->d.why, "too many requests waiting for a backend");
		finish(r);
	}
}

/* Reads lines until the end of input.  A line is kept up to
 * PA_SQUID_LINE_MAX bytes; the rest of a longer one is read and dropped.
 * A last line without a newline still counts; an empty line is skipped.
 * Input is read with read(2) into buffers of our own, scrubbed as they
 * are used, so no password lingers in a stdio buffer. */
static void
read_loop(struct helper *h)
{
	static char buf[PA_SQUID_LINE_MAX], chunk[16384];
	size_t len = 0, i;
	bool too_long = false, nul = false;
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n; i++) {
			char c = chunk[i];

			if (c != '\n') {
				if (len < sizeof(buf))
					buf[len++] = c;
				else
					too_long = true;
				nul |= c == '\0';
				continue;
			}
			if (!too_long && len > 0 && buf[len - 1] == '\r')
				len--;
			if (len > 0 || too_long)
				handle_line(h, buf, len, too_long ? "request line too long" :
						 nul ? "NUL in request line" : NULL);
			explicit_bzero(buf, sizeof(buf));
			len = 0;
			too_long = nul = false;
			if (atomic_load(&h->out_broken))
				break;
		}
		explicit_bzero(chunk, (size_t)n);
		if (atomic_load(&h->out_broken))
			return;
	}
	if (len > 0 || too_long)
		handle_line(h, buf, len, too_long ? "request line too long" :
				 nul ? "NUL in request line" : NULL);
	explicit_bzero(buf, sizeof(buf));
}

static void *
signal_loop(void *arg)
{
	struct helper *h = arg;
	sigset_t sigs;
	int sig;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	for (;;) {
		if (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
			pa_log_msg(&h->log, PA_LOG_INFO, "SIGHUP: reloading");
			pa_chain_reload(&h->pipe.chain);
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	static struct helper h;
	const char *conf_path = DEFAULT_CONFIG;
	struct pa_config cfg;
	struct pa_backend_env env;
	struct pa_error err = { { 0 } };
	const struct pa_section *srv;
	bool pipe_open = false, cfg_loaded = false;
	sigset_t sigs;
	pthread_t sig_thread;
	int ch, workers, ret = 1;

	h.with_id = true;
	while ((ch = getopt(argc, argv, "c:nh")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			h.with_id = false;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind != argc) {
		usage();
		return 2;
	}

	cfg_loaded = true;
	if (pa_config_load(conf_path, environ, &cfg, stderr) != 0)
		goto done;
	srv = pa_config_section(&cfg, "server");
	pa_log_init(&h.log, STDERR_FILENO, pa_conf_str(srv, pa_server_keys, "log_format"),
		    pa_conf_str(srv, pa_server_keys, "log_level"));
	memset(&env, 0, sizeof(env));
	env.log = &h.log;
	env.allow_weak_hashes = pa_conf_bool(srv, pa_server_keys, "allow_weak_hashes");

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&h.out_lock, NULL);

	if (pa_pipeline_open(&h.pipe, &cfg, &env, &err) != 0) {
		pa_log_msg(&h.log, PA_LOG_ERROR, "%s", err.msg);
		goto done;
	}
	pipe_open = true;
	/* Without channel IDs Squid sends the next line only after the answer
	 * to the last one, so one worker is all that can be busy. */
	workers = h.with_id ? (int)pa_conf_int(srv, pa_server_keys, "workers") : 1;
	if ((h.workq = pa_workq_start(workers, 4096)) == NULL) {
		pa_log_msg(&h.log, PA_LOG_ERROR, "cannot start worker threads");
		goto done;
	}
	h.held = pa_holdq_start(fire_held);	/* NULL: locked answers go at once */
	if (pthread_create(&sig_thread, NULL, signal_loop, &h) == 0)
		pthread_detach(sig_thread);
	pa_log_msg(&h.log, PA_LOG_INFO, "proxyauth-squid %s ready (%s channel IDs)", PA_VERSION,
		   h.with_id ? "with" : "without");

	read_loop(&h);
	ret = 0;
done:
	if (pa_workq_stop(h.workq, DRAIN_MS) != 0) {
		pa_log_msg(&h.log, PA_LOG_WARN, "a backend lookup was still running after %d s; "
			   "exiting without waiting for it", DRAIN_MS / 1000);
		fflush(stdout);
		_exit(ret);
	}
	pa_workq_free(h.workq);
	pa_holdq_free(h.held);	/* answers what it still holds */
	if (pipe_open)
		pa_pipeline_close(&h.pipe);
	if (cfg_loaded)
		pa_config_free(&cfg);
	return ret;
}
