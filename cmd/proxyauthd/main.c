/*
 * proxyauthd: options, configuration, signals and start-up.  Everything a
 * test would want to reach lives in lib/.
 *
 *   proxyauthd [-c FILE] [-t] [-v]
 *
 * SIGHUP reloads the backends' files; SIGTERM and SIGINT stop accepting,
 * let requests in flight finish (up to 10 s) and exit 0.
 */
#include "backend.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "pipeline.h"
#include "privdrop.h"

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
	fprintf(stderr, "usage: proxyauthd [-c FILE] [-t] [-v]\n"
		"  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -t       check the configuration and exit\n"
		"  -v       print the version and exit\n");
}

static void *
watchdog(void *arg)
{
	const struct pa_log *log = arg;

	usleep((DRAIN_MS + 500) * 1000);
	pa_log_msg(log, PA_LOG_WARN, "shutdown still waiting on a backend after %d s; exiting",
		   DRAIN_MS / 1000);
	_exit(0);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *conf_path = DEFAULT_CONFIG;
	struct pa_config cfg;
	struct pa_pipeline pipe;
	struct pa_http *http = NULL;
	struct pa_log log;
	struct pa_backend_env env;
	struct pa_error err = { { 0 } };
	const struct pa_section *srv;
	const char *run_as;
	bool check_only = false, pipe_open = false;
	sigset_t sigs;
	int ch, sig, problems, ret = 1;

	while ((ch = getopt(argc, argv, "c:tvh")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'v':
			printf("proxyauthd %s\n", PA_VERSION);
			return 0;
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
		fprintf(stderr, "proxyauthd: %s\n", err.msg);
		return 1;
	}
	/* -t reports every problem: a configuration that was read but holds
	 * problems still has its backends opened below (with defaults where a
	 * value was refused), so that their problems are printed too.  One
	 * that could not be read at all has no [server] section. */
	problems = pa_config_load(conf_path, environ, &cfg, stderr);
	if (problems != 0 && !(check_only && pa_config_section(&cfg, "server") != NULL))
		goto done;
	srv = pa_config_section(&cfg, "server");
	pa_log_init(&log, STDERR_FILENO, pa_conf_str(srv, pa_server_keys, "log_format"),
		    pa_conf_str(srv, pa_server_keys, "log_level"));
	memset(&env, 0, sizeof(env));
	env.log = &log;
	env.allow_weak_hashes = pa_conf_bool(srv, pa_server_keys, "allow_weak_hashes");
	env.check_only = check_only;
	env.report = stderr;

	if (check_only) {
		if (pa_pipeline_open(&pipe, &cfg, &env, &err) != 0) {
			fprintf(stderr, "%s\n", err.msg);
			goto done;
		}
		pa_pipeline_close(&pipe);
		if (problems != 0)
			goto done;
		printf("configuration OK\n");
		ret = 0;
		goto done;
	}

	/* Signals are taken by sigwait() below, so every thread blocks them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	run_as = pa_conf_str(srv, pa_server_keys, "user");
	if (geteuid() == 0 && run_as[0] == '\0')
		pa_log_msg(&log, PA_LOG_WARN, "running as root; set user = NAME in [server], "
			   "or start proxyauthd as an unprivileged user (see deploy/systemd)");
	else if (geteuid() != 0 && run_as[0] != '\0')
		pa_log_msg(&log, PA_LOG_WARN, "user = %s ignored: not started as root", run_as);
	if (env.allow_weak_hashes)
		pa_log_msg(&log, PA_LOG_WARN, "allow_weak_hashes is on: $apr1$, $1$ and {SHA} "
			   "hashes are accepted");
	if (pa_pipeline_open(&pipe, &cfg, &env, &err) != 0) {
		pa_log_msg(&log, PA_LOG_ERROR, "%s", err.msg);
		goto done;
	}
	pipe_open = true;
	if (pa_pipeline_start_probes(&pipe, 2000, pa_pipeline_sweep, &pipe) != 0) {
		pa_log_msg(&log, PA_LOG_ERROR, "cannot start the readiness probes");
		goto done;
	}
	if (pa_http_start(&http, &pipe, &cfg, &err) != 0) {
		pa_log_msg(&log, PA_LOG_ERROR, "%s", err.msg);
		goto done;
	}
	/* Root is given up once the socket is bound and every secret file
	 * has been read (by the backends' open, above). */
	if (geteuid() == 0 && run_as[0] != '\0') {
		if (pa_drop_privileges(run_as, &err) != 0 ||
		    pa_chain_check_access(&pipe.chain, &err) != 0 ||
		    pa_pipeline_negotiate_check_access(&pipe, &err) != 0) {
			pa_log_msg(&log, PA_LOG_ERROR, "%s", err.msg);
			goto done;
		}
		pa_log_msg(&log, PA_LOG_INFO, "running as user %s (uid %u, gid %u)", run_as,
			   (unsigned)getuid(), (unsigned)getgid());
	}
	{
		const char *listen = pa_conf_str(srv, pa_server_keys, "listen");
		const char *colon = strrchr(listen, ':');
		pa_log_msg(&log, PA_LOG_INFO, "proxyauthd %s listening on %.*s:%u", PA_VERSION,
			   (int)(colon - listen), listen, pa_http_port(http));
	}

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			pa_log_msg(&log, PA_LOG_INFO, "SIGHUP: reloading");
			pa_chain_reload(&pipe.chain);
			continue;
		}
		pa_log_msg(&log, PA_LOG_INFO, "signal %d: draining requests in flight", sig);
		break;
	}
	ret = 0;
	/* Whatever hangs in the shutdown (a lookup, a probe or a subscriber
	 * stuck on a backend that accepts and never answers), the process
	 * ends DRAIN_MS after the signal, with 0. */
	{
		pthread_t wd;
		static struct pa_log wd_log;

		wd_log = log;
		if (pthread_create(&wd, NULL, watchdog, &wd_log) == 0)
			pthread_detach(wd);
	}
done:
	if (pa_http_stop(http, DRAIN_MS) != 0) {
		/* A backend lookup still hangs after the drain time (a server
		 * that accepts and never answers, with a long timeout_ms): its
		 * thread cannot be stopped, so leave without tearing down what
		 * it uses.  Everything in flight has had its 10 s. */
		pa_log_msg(&log, PA_LOG_WARN, "a backend lookup was still running after %d s; "
			   "exiting without waiting for it", DRAIN_MS / 1000);
		_exit(ret);
	}
	if (pipe_open)
		pa_pipeline_close(&pipe);
	if (ret == 0 && !check_only)
		pa_log_msg(&log, PA_LOG_INFO, "stopped");
	pa_config_free(&cfg);
	return ret;
}
