/*
 * proxyauth-check's verdicts: what each check concludes from the answers a
 * front proxy gave, with a one-line reason, and the report (text or JSON).
 * Pure functions of observed answers, so they are unit-tested without a
 * proxy; cmd/proxyauth-check/ makes the requests.
 *
 * Invariants: a reason never holds a password or a credentials header
 * value (the token of the credentials is only looked for, never
 * printed); a check that needs the page passes only on a 2xx, and one that
 * needs a refusal fails on a 2xx or on any upstream content, so a missing
 * answer can never be taken for the page.
 */
#ifndef PA_CHECK_VERDICT_H
#define PA_CHECK_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum pa_check_verdict { PA_CHECK_PASS, PA_CHECK_FAIL, PA_CHECK_SKIP };

/* One check's outcome.  name is a static string ("no-credentials"). */
struct pa_check_result {
	const char *name;
	enum pa_check_verdict verdict;
	char reason[240];
};

/* One answer of the proxy, as observed. */
struct pa_check_answer {
	long status;		/* 0: no answer (connection failed or timed out) */
	bool challenge_basic;	/* a Proxy-Authenticate whose scheme is Basic */
	bool no_store;		/* a Cache-Control holding no-store */
	bool echo;		/* the body is the echo target's JSON */
	const char *body;	/* the body (may be NULL), not NUL-terminated */
	size_t body_len;
};

/* Sets r to verdict v with a printf-formatted reason (cut with "..."). */
void pa_check_set(struct pa_check_result *r, enum pa_check_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A request that must be refused with the challenge (no, wrong or forged
 * credentials): PASS only for 407 with a Basic Proxy-Authenticate and no
 * upstream content; 401, 500, 200 and the rest are named in the reason. */
void pa_check_denied(const struct pa_check_answer *a, struct pa_check_result *r);

/* A request that must get the page: PASS for 2xx. */
void pa_check_allowed(const struct pa_check_answer *a, struct pa_check_result *r);

/* A request that must not get the page (duplicate credentials headers, the
 * second user at the protected path): PASS unless 2xx or upstream content;
 * `what` names the request in the reason. */
void pa_check_refused(const struct pa_check_answer *a, const char *what,
		      struct pa_check_result *r);

/* The second user at the target (a page it may see), asked before the
 * checks that expect the second user to be refused: a refusal proves
 * something only when that user does get in elsewhere.  Returns true for
 * a 2xx; otherwise sets r to FAIL naming the answer (a wrong second
 * password, a locked or unknown user would make every such check PASS
 * without having tested anything) and returns false. */
bool pa_check_second_user_usable(const struct pa_check_answer *a, struct pa_check_result *r);

/* The auth service is down: PASS only for 5xx without upstream content. */
void pa_check_outage(const struct pa_check_answer *a, struct pa_check_result *r);

/* Every answer in a[0..n) carries Cache-Control: no-store (missing answers
 * are left out; SKIP when none came). */
void pa_check_no_store(const struct pa_check_answer *a, size_t n, struct pa_check_result *r);

/*
 * Walks the "headers" list of the echo target's JSON ({"method": ...,
 * "path": ..., "headers": [["Name", "Value"], ...]}, the layout of
 * proxyauth-check --echo-server and of tests/integration/echo_upstream.py).
 * *pos is 0 on the first call.  Writes the next name and value (decoded,
 * NUL-terminated, cut to the buffers) and returns 1; 0 at the end; -1 when
 * the text is not in that layout.
 */
int pa_echo_next_header(const char *body, size_t len, size_t *pos, char *name, size_t namesz,
			char *value, size_t valuesz);

/* True when body is the echo target's JSON: the whole document is
 * {"method": ..., "path": ..., "headers": [...]} in that order, the list
 * reading whole. */
bool pa_echo_is_echo(const char *body, size_t len);

/*
 * What reached the upstream, from the echo target's JSON: FAIL when any
 * header value holds one of markers[0..n) (naming the header, never the
 * value), when a header named proxy-authorization arrived, when one holds
 * `secret` (the credentials token: named, never printed), or when the
 * right-most X-Forwarded-For entry is `forged_xff` (a proxy must append
 * the peer or replace the header; an earlier entry is the client's own
 * claim, which the right-most-untrusted rule skips).  `what` names the
 * request.  SKIP when the body is not echo JSON.
 */
void pa_check_upstream_clean(const struct pa_check_answer *a, const char *const *markers,
			     size_t n, const char *secret, const char *forged_xff,
			     const char *what, struct pa_check_result *r);

/*
 * The tunnels check, from two requests with the main user's valid
 * credentials.  connect_status: the proxy's answer to `CONNECT authority`
 * (the target's host:port; 0 when no answer came or the connection was
 * refused or closed); forward: the proxy is a forward proxy (-x), where
 * authority is the app's plain-HTTP port.  h2c: the answer to a GET of the
 * target with `Upgrade: h2c` and `HTTP2-Settings` (status 101 when the
 * proxy passed a 101 on).  FAIL on a 2xx to the CONNECT (a tunnel to the
 * app, where later requests pass unjudged), on a 101, on no answer to the
 * upgrade request, and, behind the echo target (which never answers 101),
 * when an Upgrade header reached it (an h2c-capable app would have
 * switched; the reason names HTTP2-Settings too if it came along).
 * HTTP2-Settings alone cannot make an app switch: named in a PASS.  Else
 * PASS.
 */
void pa_check_tunnels(long connect_status, bool forward, const char *authority,
		      const struct pa_check_answer *h2c, struct pa_check_result *r);

/* Prints one line per result ("PASS  name  reason") and the summary line
 * "proxyauth-check: N passed, M failed, K skipped", or with json one JSON
 * object.  Returns the exit status: 0 when nothing failed, else 1. */
int pa_check_report(FILE *out, const struct pa_check_result *res, size_t n, bool json);

#endif
