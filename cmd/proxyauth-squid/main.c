/*
 * proxyauth-squid: a Squid basic-auth helper on proxyauthd's configuration
 * and decision pipeline (cache, coalescing, lockout, rules, logs).
 *
 *   proxyauth-squid [-c FILE] [-n] [-m basic|negotiate]
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
 * then the helper exits 0.  SIGHUP reloads the backends' files.  The
 * backends are probed every 2 s as in proxyauthd: a backend going down or
 * coming back is logged, and each round sweeps the lockout counters.
 *
 * The client address for the per-address lockout and the log comes from
 * the first key_extras field when it is an address (squid.conf:
 * `auth_param basic key_extras "%>a"`); without it the client is logged as
 * "squid" and only the per-user lockout applies.
 */
#include "backend.h"
#include "config.h"
#include "holdq.h"
#include "log.h"
#include "pipeline.h"
#include "privdrop.h"
#include "squid_helper.h"
#include "workq.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_CONFIG "/etc/proxyauthd/proxyauthd.conf"
#define DRAIN_MS 10000

extern char **environ;

static void
usage(void)
{
	fprintf(stderr, "usage: proxyauth-squid [-c FILE] [-n] [-m basic|negotiate]\n"
		"  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -n       lines carry no channel ID (Squid concurrency=0)\n"
		"  -m MODE  basic (default: auth_param basic) or negotiate (auth_param\n"
		"           negotiate: Kerberos tokens, needs [negotiate])\n");
}

static void *
signal_loop(void *arg)
{
	struct pa_squid_helper *h = arg;
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
	static struct pa_squid_helper h;
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
	h.out = stdout;
	while ((ch = getopt(argc, argv, "c:m:nh")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 'n':
			h.with_id = false;
			break;
		case 'm':
			if (strcmp(optarg, "basic") != 0 && strcmp(optarg, "negotiate") != 0) {
				usage();
				return 2;
			}
			h.negotiate = strcmp(optarg, "negotiate") == 0;
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

	if (pa_forbid_core_dumps(&err) != 0) {
		fprintf(stderr, "proxyauth-squid: %s\n", err.msg);
		return 1;
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
	if (h.negotiate && h.pipe.negotiate == NULL) {
		pa_log_msg(&h.log, PA_LOG_ERROR, "-m negotiate needs a [negotiate] section in %s",
			   conf_path);
		goto done;
	}
	/* No /readyz here, but the probes log a backend going down and coming
	 * back, and their round sweeps the lockout counters. */
	if (pa_pipeline_start_probes(&h.pipe, 2000, pa_pipeline_sweep, &h.pipe) != 0) {
		pa_log_msg(&h.log, PA_LOG_ERROR, "cannot start the readiness probes");
		goto done;
	}
	/* Without channel IDs Squid sends the next line only after the answer
	 * to the last one, so one worker is all that can be busy. */
	workers = h.with_id ? (int)pa_conf_int(srv, pa_server_keys, "workers") : 1;
	if ((h.workq = pa_workq_start(workers, 4096)) == NULL) {
		pa_log_msg(&h.log, PA_LOG_ERROR, "cannot start worker threads");
		goto done;
	}
	h.held = pa_holdq_start(pa_squid_helper_fire_held);	/* NULL: locked answers go at once */
	if (pthread_create(&sig_thread, NULL, signal_loop, &h) == 0)
		pthread_detach(sig_thread);
	pa_log_msg(&h.log, PA_LOG_INFO, "proxyauth-squid %s ready (%s, %s channel IDs)",
		   PA_VERSION, h.negotiate ? "negotiate" : "basic", h.with_id ? "with" : "without");

	pa_squid_helper_read(&h, STDIN_FILENO);
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
