/*
 * proxyauth-check's check list: the requests it sends through the front
 * proxy (fetch.c) and the verdict each gets (lib/check_verdict.c).
 *
 * Invariants: the credentials header is built here and scrubbed after the
 * run; it is never printed, and the verdicts only look for its token.
 * Paths are sent as written (CURLOPT_PATH_AS_IS): the variants exist to
 * reach the proxy undecoded.  Every request has a timeout.
 */
#include "checks.h"
#include "fetch.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


/* Client headers that must neither change a decision nor reach the
 * upstream.  Every value holds MARK except X-Forwarded-For's (an address:
 * proxies append to it). */
#define MARK "pacheck-forged"
#define FORGED_XFF "192.0.2.66"
static const char *const forged_upstream[] = {
	"X-Auth-User: " MARK "-user", "X-Auth-Groups: " MARK "-groups",
	"X-Auth-Backend: " MARK, "X_Auth_User: " MARK "-underscore",
	"X_Auth_Groups: " MARK "-underscore", "X-Auth_User: " MARK "-underscore",
	"X.Auth.User: " MARK "-dot", "X.Auth.Groups: " MARK "-dot",
	"X-Forwarded-Host: " MARK ".invalid", "X-Forwarded-Uri: /" MARK,
	"X-Forwarded-Method: " MARK, "X-Forwarded-For: " FORGED_XFF,
	"X-Original-URI: /" MARK, "X-Original-URL: http://" MARK ".invalid/" MARK,
	"X-Original-Method: " MARK, "X-Forwarded-Prefix: /" MARK,
};
static const char *const markers[] = { MARK };

struct run {
	const struct chk_opts *o;
	char scheme[16], host[256], port[16];
	char token[TOKEN_MAX];
	char token2[TOKEN_MAX];
	struct pa_check_result *res;
	size_t n;
	struct pa_check_answer user2_at_target;	/* status only: the control */
	struct chk_fetch f;	/* how the next requests go */
};

static struct pa_check_result *
next(struct run *r, const char *name)
{
	struct pa_check_result *x = &r->res[r->n++];

	x->name = name;
	return x;
}

/* base64(user ":" password) into out. */
static int
make_token(const char *user, const char *password, char *out, size_t size)
{
	char plain[PA_USER_MAX + PA_PASSWORD_MAX + 2];
	int n = snprintf(plain, sizeof(plain), "%s:%s", user, password), ret = -1;

	if (n < 0 || (size_t)n >= sizeof(plain) || ((size_t)n + 2) / 3 * 4 + 1 > size)
		goto done;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)plain, n);
	ret = 0;
done:
	explicit_bzero(plain, sizeof(plain));
	return ret;
}

static void
url_with(const struct run *r, const char *host, const char *path, char *out, size_t size)
{
	snprintf(out, size, "%s://%s%s%s%s", r->scheme, host, r->port[0] ? ":" : "", r->port,
		 path);
}

/* The second user at the protected path through each variant: each must
 * be refused.  Fills one result; skipped without a second user. */
static int
variants(struct run *r, const char *name, const char *const (*v)[2], size_t nv,
	 bool host_variants)
{
	struct pa_check_result *x = next(r, name);
	struct chk_answer an;
	char url[2048];
	size_t i;

	if (r->o->user2 == NULL || r->o->protected_path == NULL || nv == 0) {
		pa_check_set(x, PA_CHECK_SKIP, "needs --second-user and --protected");
		return 0;
	}
	if (!pa_check_second_user_usable(&r->user2_at_target, x))
		return 0;
	for (i = 0; i < nv; i++) {
		if (host_variants)
			url_with(r, v[i][1], r->o->protected_path, url, sizeof(url));
		else
			url_with(r, r->host, v[i][1], url, sizeof(url));
		if (chk_fetch(&r->f, url, r->token2, 1, NULL, 0, &an) < 0)
			return -1;
		pa_check_refused(&an.a, v[i][0], x);
		chk_answer_free(&an);
		if (x->verdict == PA_CHECK_FAIL)
			return 0;
	}
	pa_check_set(x, PA_CHECK_PASS, "%zu variants, none gave the second user the page", nv);
	return 0;
}

static void
upper(char *s)
{
	for (; *s; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

static int
path_variants(struct run *r)
{
	const char *p = r->o->protected_path;
	char up[512] = "", in[600] = "", enc_in[600] = "", dbl[600] = "", letter[600] = "",
	     dletter[600] = "", semi[600] = "", suffix[600] = "";
	size_t n = p ? strlen(p) : 0;
	int trail = n > 1 && p[n - 1] == '/';
	const char *const v[][2] = {
		{ "plain", p }, { "upper-case", up }, { "dotdot-in", in },
		{ "encoded-dotdot-in", enc_in }, { "double-slash", dbl },
		{ "encoded-letter", letter }, { "double-encoded-letter", dletter },
		{ "semicolon", semi }, { "format-suffix", suffix },
	};

	/* main() lets only such paths through; anything else is skipped. */
	if (p != NULL && (n < 2 || p[0] != '/' || n > 400))
		return variants(r, "path-variants", NULL, 0, false);
	if (p != NULL) {
		snprintf(up, sizeof(up), "%s", p);
		upper(up);
		snprintf(in, sizeof(in), "/pacheck/..%s", p);
		snprintf(enc_in, sizeof(enc_in), "/pacheck/%%2e%%2e%s", p);
		snprintf(dbl, sizeof(dbl), "/%s", p);
		snprintf(letter, sizeof(letter), "/%%%02X%s", (unsigned char)p[1], p + 2);
		snprintf(dletter, sizeof(dletter), "/%%25%02X%s", (unsigned char)p[1], p + 2);
		snprintf(semi, sizeof(semi), "%.*s;pacheck%s", (int)(n - (size_t)trail), p,
			 trail ? "/" : "");
		snprintf(suffix, sizeof(suffix), "%.*s.json", (int)(n - (size_t)trail), p);
	}
	return variants(r, "path-variants", v, sizeof(v) / sizeof(v[0]), false);
}

static int
host_variants(struct run *r)
{
	char dot[300], up[300];
	const char *const v[][2] = {
		{ "other host", r->o->other_host }, { "trailing-dot host", dot },
		{ "upper-case host", up },
	};

	snprintf(dot, sizeof(dot), "%s.", r->host);
	snprintf(up, sizeof(up), "%s", r->host);
	upper(up);
	return variants(r, "other-hosts", v, sizeof(v) / sizeof(v[0]), true);
}

/* No tunnel to the app, with the main user's valid credentials: a
 * CONNECT to the target's host:port, and a GET of the target asking for
 * an h2c upgrade (pa_check_tunnels judges both). */
static int
tunnels(struct run *r)
{
	static const char *const h2c[] = {
		"Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
	};
	struct chk_answer con, up;
	char authority[sizeof(r->host) + sizeof(r->port) + 2], url[2048];
	int ret = -1;

	memset(&con, 0, sizeof(con));
	memset(&up, 0, sizeof(up));
	snprintf(authority, sizeof(authority), "%s:%s", r->host,
		 r->port[0] ? r->port : strcmp(r->scheme, "https") == 0 ? "443" : "80");
	/* The URL only picks the connection (and, with --reverse, the TLS
	 * name); the request line is the authority. */
	url_with(r, r->host, "/", url, sizeof(url));
	r->f.http11 = true;
	r->f.connect = authority;
	if (chk_fetch(&r->f, url, r->token, 1, NULL, 0, &con) < 0)
		goto done;
	r->f.connect = NULL;
	if (chk_fetch(&r->f, r->o->target, r->token, 1, h2c, sizeof(h2c) / sizeof(h2c[0]), &up) < 0)
		goto done;
	pa_check_tunnels(con.a.status, r->o->proxy != NULL, authority, &up.a,
			 next(r, "tunnels"));
	ret = 0;
done:
	r->f.connect = NULL;
	r->f.http11 = false;
	chk_answer_free(&con);
	chk_answer_free(&up);
	return ret;
}

/* Runs "sh -c CMD sh stop|start" (CMD sees the word as $1); true when
 * it exits 0. */
static bool
outage_cmd(const char *cmd, const char *arg)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", arg, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Milliseconds since *t0 (CLOCK_MONOTONIC). */
static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static int
outage(struct run *r)
{
	struct pa_check_result *x = next(r, "outage");
	struct chk_answer an;
	struct timespec t0;
	long status, left;
	int rc;

	if (r->o->outage_cmd == NULL) {
		pa_check_set(x, PA_CHECK_SKIP, "needs --outage-cmd");
		return 0;
	}
	if (!outage_cmd(r->o->outage_cmd, "stop")) {
		pa_check_set(x, PA_CHECK_FAIL, "the outage command failed to stop the service");
		outage_cmd(r->o->outage_cmd, "start");
		return 0;
	}
	if (chk_fetch(&r->f, r->o->target, r->token, 1, NULL, 0, &an) < 0)
		return -1;
	pa_check_outage(&an.a, x);
	chk_answer_free(&an);
	if (!outage_cmd(r->o->outage_cmd, "start")) {
		pa_check_set(x, PA_CHECK_FAIL, "the outage command failed to start the service");
		return 0;
	}
	/* Back up within timeout seconds in all, or the check says so (each
	 * try's timeout is what is left, so a proxy that hangs after the
	 * restart cannot stretch the wait). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((left = r->o->timeout_s * 1000 - elapsed_ms(&t0)) > 0) {
		r->f.cap_ms = left;
		rc = chk_fetch(&r->f, r->o->target, r->token, 1, NULL, 0, &an);
		r->f.cap_ms = 0;
		if (rc < 0)
			return -1;
		status = an.a.status;
		chk_answer_free(&an);
		if (status >= 200 && status <= 299)
			return 0;
		usleep(100 * 1000);
	}
	if (x->verdict == PA_CHECK_PASS)
		pa_check_set(x, PA_CHECK_FAIL, "the page did not come back after the restart");
	return 0;
}

/* The second user at the target, kept for the checks that expect it to
 * be refused elsewhere (pa_check_second_user_usable). */
static int
second_user_control(struct run *r)
{
	struct chk_answer an;

	if (chk_fetch(&r->f, r->o->target, r->token2, 1, NULL, 0, &an) < 0)
		return -1;
	r->user2_at_target.status = an.a.status;
	chk_answer_free(&an);
	return 0;
}

/* The checks that need only the target and the user. */
static int
basic_checks(struct run *r)
{
	static const char *const o_forged_decision[] = {
		"X-Auth-User: pacheck-forged", "X-Forwarded-Uri: /", "X-Original-URI: /",
		"X-Forwarded-Host: pacheck-forged.invalid", "X-Original-URL: http://pacheck-forged.invalid/",
	};
	struct chk_answer none, wrong, right, dup, forged, fright;
	struct pa_check_answer refusals[2];
	char wtok[sizeof(r->token)];
	int ret = -1;

	memset(&none, 0, sizeof(none));
	wrong = right = dup = forged = fright = none;
	if (make_token(r->o->user, "proxyauth-check: not the password", wtok, sizeof(wtok)) < 0)
		goto done;
	if (chk_fetch(&r->f, r->o->target, NULL, 0, NULL, 0, &none) < 0 ||
	    chk_fetch(&r->f, r->o->target, wtok, 1, NULL, 0, &wrong) < 0 ||
	    chk_fetch(&r->f, r->o->target, r->token, 1, NULL, 0, &right) < 0 ||
	    chk_fetch(&r->f, r->o->target, r->token, 2, NULL, 0, &dup) < 0 ||
	    chk_fetch(&r->f, r->o->target, NULL, 0, forged_upstream,
		  sizeof(forged_upstream) / sizeof(forged_upstream[0]), &forged) < 0 ||
	    chk_fetch(&r->f, r->o->target, r->token, 1, forged_upstream,
		  sizeof(forged_upstream) / sizeof(forged_upstream[0]), &fright) < 0)
		goto done;
	pa_check_denied(&none.a, next(r, "no-credentials"));
	pa_check_denied(&wrong.a, next(r, "wrong-credentials"));
	pa_check_allowed(&right.a, next(r, "right-credentials"));
	pa_check_refused(&dup.a, "two Proxy-Authorization headers",
			 next(r, "duplicate-proxy-authorization"));
	pa_check_denied(&forged.a, next(r, "forged-headers-no-credentials"));
	pa_check_upstream_clean(&right.a, NULL, 0, r->token, NULL, "right credentials",
				next(r, "proxy-authorization-upstream"));
	pa_check_upstream_clean(&fright.a, markers, 1, r->token, FORGED_XFF,
				"client X-Auth-*, aliases and context headers",
				next(r, "forged-headers-upstream"));
	if (fright.a.status < 200 || fright.a.status > 299)
		pa_check_set(&r->res[r->n - 1], right.a.echo ? PA_CHECK_FAIL : PA_CHECK_SKIP,
			     "right credentials with forged client headers: %ld instead of the page",
			     fright.a.status);
	refusals[0] = none.a;
	refusals[1] = wrong.a;
	pa_check_no_store(refusals, 2, next(r, "no-store"));

	{
		struct pa_check_result *x = next(r, "forged-headers-second-user");
		struct chk_answer an;
		char url[2048];

		if (r->o->user2 == NULL || r->o->protected_path == NULL) {
			pa_check_set(x, PA_CHECK_SKIP, "needs --second-user and --protected");
		} else if (pa_check_second_user_usable(&r->user2_at_target, x)) {
			url_with(r, r->host, r->o->protected_path, url, sizeof(url));
			if (chk_fetch(&r->f, url, r->token2, 1, o_forged_decision,
				  sizeof(o_forged_decision) / sizeof(o_forged_decision[0]), &an) < 0)
				goto done;
			pa_check_refused(&an.a, "second user at the protected path with forged "
					 "context headers", x);
			chk_answer_free(&an);
		}
	}
	ret = 0;
done:
	explicit_bzero(wtok, sizeof(wtok));
	chk_answer_free(&none);
	chk_answer_free(&wrong);
	chk_answer_free(&right);
	chk_answer_free(&dup);
	chk_answer_free(&forged);
	chk_answer_free(&fright);
	return ret;
}

static int
split_target(struct run *r, struct pa_error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	int ret = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, r->o->target, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		pa_error_set(err, "the target is not a URL");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) != CURLUE_OK)
		port = NULL;
	if (snprintf(r->scheme, sizeof(r->scheme), "%s", scheme) >= (int)sizeof(r->scheme) ||
	    snprintf(r->host, sizeof(r->host), "%s", host) >= (int)sizeof(r->host) ||
	    snprintf(r->port, sizeof(r->port), "%s", port ? port : "") >= (int)sizeof(r->port)) {
		pa_error_set(err, "the target's host is too long");
		goto done;
	}
	ret = 0;
done:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

int
chk_run(const struct chk_opts *o, struct pa_check_result *res, size_t *n,
	struct pa_error *err)
{
	struct run r;
	int ret = -1;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.f.o = o;
	r.res = res;
	*n = 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		pa_error_set(err, "libcurl failed to start");
		return -1;
	}
	if (split_target(&r, err) < 0)
		goto done;
	/* Through a forward proxy an https target is a CONNECT tunnel, which
	 * none of these checks is about. */
	if (o->proxy != NULL && strcmp(r.scheme, "http") != 0) {
		pa_error_set(err, "with -x the target must be an http:// URL");
		goto done;
	}
	if (make_token(o->user, o->password, r.token, sizeof(r.token)) < 0 ||
	    (o->user2 != NULL && make_token(o->user2, o->password2, r.token2,
					    sizeof(r.token2)) < 0)) {
		pa_error_set(err, "user name and password too long");
		goto done;
	}
	if (o->user2 != NULL && second_user_control(&r) < 0) {
		pa_error_set(err, "libcurl failed");
		goto done;
	}
	if (basic_checks(&r) < 0 || host_variants(&r) < 0 || path_variants(&r) < 0 ||
	    tunnels(&r) < 0 || outage(&r) < 0) {
		pa_error_set(err, "libcurl failed");
		goto done;
	}
	ret = 0;
done:
	*n = r.n;
	explicit_bzero(&r, sizeof(r));
	curl_global_cleanup();
	return ret;
}
