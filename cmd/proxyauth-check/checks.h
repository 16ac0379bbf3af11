/*
 * proxyauth-check's check list (checks.c) and echo target (echo.c).
 */
#ifndef PA_CHECK_CHECKS_H
#define PA_CHECK_CHECKS_H

#include "check_verdict.h"
#include "credentials.h"
#include "error.h"

#define CHK_MAX 16

struct chk_opts {
	const char *proxy;		/* -x URL: a forward proxy */
	const char *reverse;		/* --reverse URL: the proxy as an origin */
	const char *target;		/* the URL behind the proxy */
	const char *user;
	char password[PA_PASSWORD_MAX + 2];
	const char *user2;		/* optional: lacks the protected path's group */
	char password2[PA_PASSWORD_MAX + 2];
	const char *protected_path;	/* optional: e.g. /admin/ */
	const char *other_host;		/* a host the proxy must not serve */
	const char *outage_cmd;		/* optional: run with "stop", then "start" */
	long timeout_s;
};

/* Runs every check against the proxy; writes up to CHK_MAX results into
 * res and their count into *n.  Returns 0, or -1 with err set when the
 * checks cannot run at all (bad URL, libcurl failing to start). */
int chk_run(const struct chk_opts *o, struct pa_check_result *res, size_t *n,
	    struct pa_error *err);

/* Serves the echo target on addr ("127.0.0.1:8081"; port 0 picks one)
 * until SIGINT or SIGTERM: every request gets 200 and a JSON body with
 * its method, raw path and headers in order.  Returns 0, or -1 with err
 * set when it cannot listen. */
int chk_echo_serve(const char *addr, struct pa_error *err);

#endif
