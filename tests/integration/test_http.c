/*
 * The HTTP contract (SPEC section 2 and 3) against the real daemon: every
 * row of the profile table for every profile, headers compared exactly;
 * methods and path suffixes; the other endpoints; keep-alive; many
 * clients at once; htpasswd reloads under load; SIGHUP; SIGTERM draining.
 *
 * Most tests share one daemon started in the group setup; tests that need
 * their own configuration or signal the daemon start their own in a
 * per-test fixture, whose teardown stops it even after a failed assertion.
 */
#include "harness.h"

#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHALLENGE "Basic realm=\"proxyauthd\", charset=\"UTF-8\""

struct profile {
	const char *path;
	long allow, deny;
	bool envoy;
};

static const struct profile profiles[] = {
	{ "/auth", 204, 407, false },
	{ "/auth-request", 200, 401, false },
	{ "/ext-authz", 200, 407, true },
};
#define NPROFILES 3

/* The standard users.  bob has no groups and colons in his password;
 * dave is disabled; jörg has a UTF-8 name. */
#define ALICE_PW "alice-S3cret!"
#define BOB_PW "b:o:b pass"
#define CAROL_PW "carol-pw-42"
#define JOERG_USER "j\xc3\xb6rg"
#define JOERG_PW "p\xc3\xa4ss w\xc3\xb6rd"
#define DAVE_PW "dave-disabled-pw"

static char *std_htpasswd;		/* made once in main() */
static struct pa_fixture *shared;	/* the group's fixture */
static struct pa_daemon *S;		/* the shared daemon */

static const char std_config[] =
	"[server]\n"
	"listen = 127.0.0.1:0\nmax_failures = 0\n"
	"threads = 2\n"
	"[htpasswd]\n"
	"file = @HTPASSWD@\n";

static char *
make_std_htpasswd(void)
{
	char *a = pa_htpasswd_line("alice", ALICE_PW, "admins,dev", 4);
	char *b = pa_htpasswd_line("bob", BOB_PW, NULL, 4);
	char *c = pa_htpasswd_line("carol", CAROL_PW, "dev", 4);
	char *j = pa_htpasswd_line(JOERG_USER, JOERG_PW, "dev", 4);
	char *d = pa_htpasswd_line("dave", DAVE_PW, "admins", 4);
	char *all;

	if (a == NULL || b == NULL || c == NULL || j == NULL || d == NULL)
		abort();
	/* "dave:HASH" -> "dave:!HASH": disabled. */
	all = pa_strdupf("# standard users\n%s%s\n%s%sdave:!%s", a, b, c, j, d + 5);
	free(a);
	free(b);
	free(c);
	free(j);
	free(d);
	return all;
}

static void
check_allow(const struct pa_resp *r, const struct profile *p, const char *user,
	    const char *groups, const char *ctx)
{
	EXPECT(r->status == p->allow, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_X_AUTH_USER, user), r, "%s on %s: X-Auth-User %s", ctx, p->path, user);
	EXPECT(r->hdr[H_X_AUTH_GROUPS].present, r, "%s on %s: X-Auth-Groups present", ctx,
	       p->path);
	EXPECT(HDR_IS(r, H_X_AUTH_GROUPS, groups), r, "%s on %s: X-Auth-Groups '%s'", ctx,
	       p->path, groups);
	EXPECT(HDR_IS(r, H_X_AUTH_BACKEND, "htpasswd"), r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s on %s", ctx, p->path);
	if (p->envoy)
		EXPECT(HDR_IS(r, H_ENVOY_REMOVE, "proxy-authorization"), r, "%s on %s", ctx,
		       p->path);
	else
		EXPECT(!r->hdr[H_ENVOY_REMOVE].present, r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_WWW_AUTHENTICATE].present, r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_RETRY_AFTER].present, r, "%s on %s", ctx, p->path);
	EXPECT(r->body_len == 0, r, "%s on %s: empty body", ctx, p->path);
}

static void
check_no_identity(const struct pa_resp *r, const char *ctx)
{
	EXPECT(!r->hdr[H_X_AUTH_USER].present, r, "%s", ctx);
	EXPECT(!r->hdr[H_X_AUTH_GROUPS].present, r, "%s", ctx);
	EXPECT(!r->hdr[H_X_AUTH_BACKEND].present, r, "%s", ctx);
	EXPECT(!r->hdr[H_ENVOY_REMOVE].present, r, "%s", ctx);
}

static void
check_deny_challenge(const struct pa_resp *r, const struct profile *p, const char *challenge,
		     const char *ctx)
{
	EXPECT(r->status == p->deny, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_PROXY_AUTHENTICATE, challenge), r, "%s on %s: challenge", ctx,
	       p->path);
	EXPECT(!r->hdr[H_WWW_AUTHENTICATE].present, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_RETRY_AFTER].present, r, "%s on %s", ctx, p->path);
	check_no_identity(r, ctx);
}

static void
check_deny(const struct pa_resp *r, const struct profile *p, const char *ctx)
{
	check_deny_challenge(r, p, CHALLENGE, ctx);
}

static void
check_forbidden(const struct pa_resp *r, const struct profile *p, const char *ctx)
{
	EXPECT(r->status == 403, r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s on %s: no challenge", ctx,
	       p->path);
	EXPECT(!r->hdr[H_WWW_AUTHENTICATE].present, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_RETRY_AFTER].present, r, "%s on %s", ctx, p->path);
	check_no_identity(r, ctx);
}

static void
check_unavailable(const struct pa_resp *r, const struct profile *p, const char *ctx)
{
	EXPECT(r->status == 503, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_RETRY_AFTER, "1"), r, "%s on %s", ctx, p->path);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s on %s: no challenge", ctx,
	       p->path);
	EXPECT(!r->hdr[H_WWW_AUTHENTICATE].present, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s on %s", ctx, p->path);
	check_no_identity(r, ctx);
}

/* "Proxy-Authorization: Basic base64(user:password)" into a new string. */
static char *
hdr_basic(const char *name, const char *user, const char *password)
{
	char tok[4096];

	pa_basic(user, password, tok, sizeof(tok));
	return pa_strdupf("%s: %s", name, tok);
}

/* The same into a caller's buffer (for threads, which must not fail). */
static void
basic_header(char *buf, size_t len, const char *user, const char *password)
{
	static const char name[] = "Proxy-Authorization: ";

	memcpy(buf, name, sizeof(name));
	pa_basic(user, password, buf + sizeof(name) - 1, len - (sizeof(name) - 1));
}

/* "Proxy-Authorization: Basic base64(raw bytes)". */
static char *
hdr_raw(const char *plain, size_t n)
{
	char tok[4096];

	pa_base64(plain, n, tok, sizeof(tok));
	return pa_strdupf("Proxy-Authorization: Basic %s", tok);
}

static int
group_setup(void **state)
{
	void *st = NULL;

	(void)state;
	if (pa_fixture_setup(&st) != 0)
		return -1;
	shared = st;
	S = pa_daemon_start(shared, std_config, std_htpasswd);
	return S != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	void *st = shared;
	int rc = 0;

	(void)state;
	if (S != NULL) {
		rc = pa_daemon_stop(S);
		if (rc != 0)
			fprintf(stderr, "shared daemon exited with %d\n", rc);
	}
	pa_fixture_teardown(&st);
	return rc == 0 ? 0 : -1;
}

/* ---- allow ---- */

static void
test_allow_every_profile(void **state)
{
	struct pa_resp r;
	int i;

	(void)state;
	for (i = 0; i < NPROFILES; i++) {
		const struct profile *p = &profiles[i];

		assert_int_equal(pa_get_basic(S, p->path, "alice", ALICE_PW, &r), 0);
		check_allow(&r, p, "alice", "admins,dev", "alice");
		pa_resp_free(&r);

		/* No groups: the header is still there, with an empty value. */
		assert_int_equal(pa_get_basic(S, p->path, "bob", BOB_PW, &r), 0);
		check_allow(&r, p, "bob", "", "bob (no groups, ':' in password)");
		pa_resp_free(&r);

		assert_int_equal(pa_get_basic(S, p->path, JOERG_USER, JOERG_PW, &r), 0);
		check_allow(&r, p, JOERG_USER, "dev", "UTF-8 user");
		pa_resp_free(&r);
	}
}

/* Allowed spellings: scheme case, several spaces, padding left out. */
static void
test_allow_token_variants(void **state)
{
	char tok[256], h[512];
	const char *b64;
	size_t n;
	struct pa_resp r;
	int i, v;

	(void)state;
	pa_basic("alice", ALICE_PW, tok, sizeof(tok));
	b64 = tok + 6;
	n = strlen(b64);
	assert_true(n > 2 && b64[n - 1] == '=');	/* "alice:alice-S3cret!" pads */
	for (v = 0; v < 5; v++) {
		switch (v) {
		case 0: snprintf(h, sizeof(h), "Proxy-Authorization: basic %s", b64); break;
		case 1: snprintf(h, sizeof(h), "Proxy-Authorization: BASIC %s", b64); break;
		case 2: snprintf(h, sizeof(h), "Proxy-Authorization: bAsIc    %s", b64); break;
		case 3: snprintf(h, sizeof(h), "Proxy-Authorization: Basic %.*s",
				 (int)(strcspn(b64, "=")), b64); break;
		default: snprintf(h, sizeof(h), "proxy-authorization: Basic %s", b64); break;
		}
		for (i = 0; i < NPROFILES; i++) {
			assert_int_equal(pa_get(S, "GET", profiles[i].path, h, &r), 0);
			check_allow(&r, &profiles[i], "alice", "admins,dev", h);
			pa_resp_free(&r);
		}
	}
}

/* ---- deny ---- */

struct dcase {
	const char *name;
	char *h[3];
};

static int
make_deny_cases(struct dcase *c)
{
	char tok[256], big[6000];
	char plain[2048];
	const char *b64;
	size_t m;
	int n = 0;

	pa_basic("alice", ALICE_PW, tok, sizeof(tok));
	b64 = tok + 6;
	m = strlen(b64) / 2;

	c[n++] = (struct dcase){ "no credentials", { NULL } };
	c[n++] = (struct dcase){ "wrong password", { hdr_basic("Proxy-Authorization",
								   "alice", "wrong") } };
	c[n++] = (struct dcase){ "password of another user",
				 { hdr_basic("Proxy-Authorization", "alice", BOB_PW) } };
	c[n++] = (struct dcase){ "unknown user", { hdr_basic("Proxy-Authorization",
								 "mallory", ALICE_PW) } };
	c[n++] = (struct dcase){ "user name case differs",
				 { hdr_basic("Proxy-Authorization", "Alice", ALICE_PW) } };
	c[n++] = (struct dcase){ "disabled user", { hdr_basic("Proxy-Authorization", "dave",
								  DAVE_PW) } };
	c[n++] = (struct dcase){ "empty password", { hdr_basic("Proxy-Authorization",
								   "alice", "") } };
	c[n++] = (struct dcase){ "not base64",
				 { pa_strdupf("Proxy-Authorization: Basic !!not*base64!!") } };
	c[n++] = (struct dcase){ "space inside the token",
				 { pa_strdupf("Proxy-Authorization: Basic %.*s %s", (int)m, b64,
					      b64 + m) } };
	c[n++] = (struct dcase){ "misplaced '='",
				 { pa_strdupf("Proxy-Authorization: Basic %.*s=%s", (int)m, b64,
					      b64 + m) } };
	c[n++] = (struct dcase){ "URL-safe alphabet",
				 /* base64url of "alice:a?>b"; standard is YT8+Yg */
				 { pa_strdupf("Proxy-Authorization: Basic YWxpY2U6YT8-Yg==") } };
	c[n++] = (struct dcase){ "non-zero padding bits",
				 { pa_strdupf("Proxy-Authorization: Basic YTpiYx==") } };
	c[n++] = (struct dcase){ "too much padding",
				 { pa_strdupf("Proxy-Authorization: Basic %s=", b64) } };
	c[n++] = (struct dcase){ "no colon", { hdr_raw("alice", 5) } };
	snprintf(plain, sizeof(plain), ":%s", ALICE_PW);
	c[n++] = (struct dcase){ "empty user", { hdr_raw(plain, strlen(plain)) } };
	c[n++] = (struct dcase){ "LF in user", { hdr_raw("al\nice:x", 8) } };
	c[n++] = (struct dcase){ "CR in password", { hdr_raw("alice:x\ry", 9) } };
	c[n++] = (struct dcase){ "NUL in password", { hdr_raw("alice:x\0y", 9) } };
	c[n++] = (struct dcase){ "DEL in user", { hdr_raw("alice\x7f:x", 8) } };
	c[n++] = (struct dcase){ "C1 control in user", { hdr_raw("alice\xc2\x85:x", 9) } };
	c[n++] = (struct dcase){ "invalid UTF-8", { hdr_raw("al\xffice:x", 8) } };
	c[n++] = (struct dcase){ "overlong UTF-8", { hdr_raw("a\xc0\xaf" "b:x", 6) } };
	c[n++] = (struct dcase){ "Bearer scheme",
				 { pa_strdupf("Proxy-Authorization: Bearer %s", b64) } };
	c[n++] = (struct dcase){ "Digest scheme",
				 { pa_strdupf("Proxy-Authorization: Digest username=\"alice\"") } };
	c[n++] = (struct dcase){ "scheme Basicx",
				 { pa_strdupf("Proxy-Authorization: Basicx %s", b64) } };
	c[n++] = (struct dcase){ "token without scheme",
				 { pa_strdupf("Proxy-Authorization: %s", b64) } };
	c[n++] = (struct dcase){ "empty header",
				 { pa_strdupf("Proxy-Authorization;") } };
	c[n++] = (struct dcase){ "Basic without token",
				 { pa_strdupf("Proxy-Authorization: Basic") } };
	c[n++] = (struct dcase){ "tab after scheme",
				 { pa_strdupf("Proxy-Authorization: Basic\t%s", b64) } };
	c[n++] = (struct dcase){ "comma after token",
				 { pa_strdupf("Proxy-Authorization: Basic %s, Basic %s", b64,
					      b64) } };
	c[n++] = (struct dcase){ "duplicate header",
				 { hdr_basic("Proxy-Authorization", "alice", ALICE_PW),
				   hdr_basic("Proxy-Authorization", "alice", ALICE_PW) } };
	c[n++] = (struct dcase){ "duplicate header, one wrong",
				 { hdr_basic("Proxy-Authorization", "alice", ALICE_PW),
				   hdr_basic("Proxy-Authorization", "alice", "wrong") } };
	memset(big, 'A', 5000);
	big[5000] = '\0';
	c[n++] = (struct dcase){ "header over 4096 bytes",
				 { pa_strdupf("Proxy-Authorization: Basic %s", big) } };
	memset(plain, 'u', 300);
	memcpy(plain + 300, ":pw", 4);
	c[n++] = (struct dcase){ "user over 256 bytes", { hdr_raw(plain, strlen(plain)) } };
	memcpy(plain, "alice:", 6);
	memset(plain + 6, 'p', 1100);
	plain[1106] = '\0';
	c[n++] = (struct dcase){ "password over 1024 bytes",
				 { hdr_raw(plain, strlen(plain)) } };
	/* Only Proxy-Authorization is read unless configured otherwise. */
	c[n++] = (struct dcase){ "right credentials in Authorization",
				 { hdr_basic("Authorization", "alice", ALICE_PW) } };
	return n;
}

static void
free_cases(struct dcase *c, int n)
{
	int i, k;

	for (i = 0; i < n; i++)
		for (k = 0; k < 3; k++)
			free(c[i].h[k]);
}

static void
test_deny_every_profile(void **state)
{
	struct dcase c[64];
	int n, i, k;

	(void)state;
	memset(c, 0, sizeof(c));
	n = make_deny_cases(c);
	for (i = 0; i < n; i++) {
		for (k = 0; k < NPROFILES; k++) {
			struct pa_req req = { .path = profiles[k].path };
			struct pa_resp r;

			memcpy(req.headers, c[i].h, sizeof(c[i].h));
			if (pa_request(S, &req, &r) != 0) {
				free_cases(c, n);
				fail_msg("%s: %s", c[i].name, pa_resp_describe(&r));
			}
			check_deny(&r, &profiles[k], c[i].name);
			pa_resp_free(&r);
		}
	}
	free_cases(c, n);
}

/* ---- a NUL inside the credentials header ---- */

/* Sends the raw request (n bytes, NULs included) on its own connection and
 * returns the status of the answer, or -1.  curl refuses to send a NUL. */
static long
raw_status(const struct pa_daemon *d, const char *req, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)d->port) };
	struct timeval tv = { .tv_sec = 5 };
	char buf[512];
	ssize_t got;
	long status = -1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    write(fd, req, n) == (ssize_t)n && (got = read(fd, buf, sizeof(buf) - 1)) > 12) {
		buf[got] = '\0';
		if (strncmp(buf, "HTTP/1.1 ", 9) == 0)
			status = strtol(buf + 9, NULL, 10);
	}
	close(fd);
	return status;
}

/* SPEC 3: any character outside the token is malformed, a NUL included.
 * libmicrohttpd cuts a value at a NUL, so "Basic <valid token>\0junk" was
 * granted; it must be denied wherever the header stands and whatever the
 * line ends are, while the same request without the NUL is granted. */
static void
test_nul_in_credentials(void **state)
{
	static const char *const eols[] = { "\r\n", "\n" };
	static const char *const tails[] = { "\0junk", "\0:x", " \0" "AAAA" };
	static const size_t tail_len[] = { 5, 3, 6 };
	char tok[128], req[512];
	int e, t, last;
	size_t n;

	(void)state;
	pa_base64("alice:" ALICE_PW, strlen("alice:" ALICE_PW), tok, sizeof(tok));
	for (e = 0; e < 2; e++) {
		for (last = 0; last < 2; last++) {
			for (t = -1; t < 3; t++) {
				const char *eol = eols[e];
				char cred[256];
				size_t cl;
				long st;

				cl = (size_t)snprintf(cred, sizeof(cred), "Proxy-Authorization: Basic %s",
						      tok);
				if (t >= 0) {
					memcpy(cred + cl, tails[t], tail_len[t]);
					cl += tail_len[t];
				}
				n = (size_t)snprintf(req, sizeof(req), "GET /auth HTTP/1.1%sHost: x%s", eol,
						     eol);
				if (!last) {
					memcpy(req + n, cred, cl);
					n += cl;
					n += (size_t)snprintf(req + n, sizeof(req) - n, "%s", eol);
				}
				n += (size_t)snprintf(req + n, sizeof(req) - n, "Connection: close%s", eol);
				if (last) {
					memcpy(req + n, cred, cl);
					n += cl;
					n += (size_t)snprintf(req + n, sizeof(req) - n, "%s", eol);
				}
				n += (size_t)snprintf(req + n, sizeof(req) - n, "%s", eol);
				st = raw_status(S, req, n);
				if (st != (t < 0 ? 204 : 407))
					fail_msg("line ends %s, credentials header %s, tail %d: status %ld",
						 e == 0 ? "CRLF" : "LF", last ? "last" : "first", t, st);
			}
		}
	}
}

/* ---- X-Forwarded-For entries that are not bare addresses ---- */

/* One request from the trusted proxy (127.0.0.1) on behalf of xff. */
static long
via_proxy(const struct pa_daemon *d, const char *xff, const char *user, const char *password)
{
	char auth[512], fwd[256];
	struct pa_req req = { .path = "/auth", .headers = { auth, fwd, NULL } };
	struct pa_resp r;
	long st;

	basic_header(auth, sizeof(auth), user, password);
	snprintf(fwd, sizeof(fwd), "X-Forwarded-For: %s", xff);
	if (pa_request(d, &req, &r) != 0)
		fail_msg("%s", pa_resp_describe(&r));
	st = r.status;
	pa_resp_free(&r);
	return st;
}

/* A client behind the trusted proxy whose entry carries a port, or is no
 * address at all ("unknown"), is counted as a client of its own: three
 * failures from it, each for another user name (so no user is locked),
 * lock that client, and alice's right password from it is then refused,
 * while the same password through the same proxy for another client is
 * granted.  Before, such entries ended the walk at the proxy's own
 * address, which is counted per user only: the client was never locked. */
static void
test_xff_forms_locked(void **state)
{
	static const struct {
		const char *attacker[3], *then, *other;
	} runs[] = {
		{ { "203.0.113.7:1111", "203.0.113.7:2222", "203.0.113.7" }, "203.0.113.7:4444",
		  "203.0.113.8:1111" },
		{ { "[2001:db8::7]:443", "2001:db8::7", "[2001:db8::7]:80" }, "[2001:db8::7]:1",
		  "[2001:db8:1::8]:443" },
		{ { "unknown", "1.1.1.1, unknown", "6.6.6.6, unknown" }, "unknown", "_other" },
		{ { "_hidden", "_hidden", "_hidden" }, "9.9.9.9, _hidden", "203.0.113.9" },
	};
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	char users[64];
	size_t i;
	int k;

	d = pa_daemon_start(f,
			    "[server]\nlisten = 127.0.0.1:0\nthreads = 2\n"
			    "trusted_proxies = 127.0.0.1/32\n"
			    "max_failures = 3\nfailure_window = 60\nlockout = 60\n"
			    "[htpasswd]\nfile = @HTPASSWD@\n",
			    std_htpasswd);
	assert_non_null(d);
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		for (k = 0; k < 3; k++) {
			snprintf(users, sizeof(users), "nobody-%zu-%d", i, k);
			if (via_proxy(d, runs[i].attacker[k], users, "wrong") != 407)
				fail_msg("run %zu: failure %d not denied", i, k);
		}
		if (via_proxy(d, runs[i].then, "alice", ALICE_PW) != 407)
			fail_msg("run %zu: client '%s' was not locked after 3 failures", i,
				 runs[i].then);
		if (via_proxy(d, runs[i].other, "alice", ALICE_PW) != 204)
			fail_msg("run %zu: another client '%s' behind the proxy was refused", i,
				 runs[i].other);
	}
	assert_true(pa_daemon_wait_log(d, "outcome=locked", 4, 2000));
	assert_int_equal(pa_daemon_stop(d), 0);
}

static void
test_realm_escaped(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(
		f,
		"[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
		"realm = Zone \"A\" \\ B\n"
		"[htpasswd]\nfile = @HTPASSWD@\n",
		std_htpasswd);
	struct pa_resp r;
	int i;

	assert_non_null(d);
	for (i = 0; i < NPROFILES; i++) {
		assert_int_equal(pa_get_basic(d, profiles[i].path, "alice", "nope", &r), 0);
		check_deny_challenge(&r, &profiles[i],
				     "Basic realm=\"Zone \\\"A\\\" \\\\ B\", charset=\"UTF-8\"",
				     "escaped realm");
		pa_resp_free(&r);
	}
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- forbidden ---- */

static void
test_forbidden(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(
		f,
		"[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\nrequire_groups = admins\n"
		"[htpasswd]\nfile = @HTPASSWD@\n",
		std_htpasswd);
	struct pa_resp r;
	int i;

	assert_non_null(d);
	for (i = 0; i < NPROFILES; i++) {
		const struct profile *p = &profiles[i];

		assert_int_equal(pa_get_basic(d, p->path, "alice", ALICE_PW, &r), 0);
		check_allow(&r, p, "alice", "admins,dev", "alice is in admins");
		pa_resp_free(&r);
		assert_int_equal(pa_get_basic(d, p->path, "carol", CAROL_PW, &r), 0);
		check_forbidden(&r, p, "carol is only in dev");
		pa_resp_free(&r);
		assert_int_equal(pa_get_basic(d, p->path, "bob", BOB_PW, &r), 0);
		check_forbidden(&r, p, "bob has no groups");
		pa_resp_free(&r);
		/* Authentication comes first: a wrong password is a deny. */
		assert_int_equal(pa_get_basic(d, p->path, "carol", "wrong", &r), 0);
		check_deny(&r, p, "carol, wrong password");
		pa_resp_free(&r);
		assert_int_equal(pa_get(d, "GET", p->path, NULL, &r), 0);
		check_deny(&r, p, "no credentials");
		pa_resp_free(&r);
	}
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- unavailable ---- */

static void
test_unavailable_then_recovers(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(
		f,
		"[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
		"[htpasswd]\nfile = @DIR@/later.htpasswd\n",
		NULL);
	struct pa_resp r;
	char path[400];
	long t0, t_allow = -1, t_ready = -1;
	int i;

	assert_non_null(d);
	for (i = 0; i < NPROFILES; i++) {
		const struct profile *p = &profiles[i];

		assert_int_equal(pa_get_basic(d, p->path, "alice", ALICE_PW, &r), 0);
		check_unavailable(&r, p, "file missing, right password");
		pa_resp_free(&r);
		assert_int_equal(pa_get_basic(d, p->path, "alice", "wrong", &r), 0);
		check_unavailable(&r, p, "file missing, wrong password");
		pa_resp_free(&r);
		/* Nothing to ask a backend about: the client must be asked
		 * for credentials. */
		assert_int_equal(pa_get(d, "GET", p->path, NULL, &r), 0);
		check_deny(&r, p, "file missing, no credentials");
		pa_resp_free(&r);
	}
	assert_int_equal(pa_get(d, "GET", "/readyz", NULL, &r), 0);
	EXPECT(r.status == 503, &r, "readyz while the file is missing");
	EXPECT(strstr(r.body, "htpasswd") != NULL, &r, "readyz names htpasswd: '%s'", r.body);
	EXPECT(HDR_IS(&r, H_CACHE_CONTROL, "no-store"), &r, "readyz");
	pa_resp_free(&r);
	assert_int_equal(pa_get(d, "GET", "/healthz", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "healthz while a backend is down");
	pa_resp_free(&r);

	snprintf(path, sizeof(path), "%s/later.htpasswd", d->dir);
	assert_int_equal(pa_write_file_atomic(path, std_htpasswd), 0);
	t0 = pa_now_ms();
	while (pa_now_ms() - t0 < 3000 && (t_allow < 0 || t_ready < 0)) {
		if (t_allow < 0) {
			assert_int_equal(pa_get_basic(d, "/auth", "alice", ALICE_PW, &r), 0);
			EXPECT(r.status == 204 || r.status == 503, &r, "while the file appears");
			if (r.status == 204)
				t_allow = pa_now_ms() - t0;
			pa_resp_free(&r);
		}
		if (t_ready < 0) {
			assert_int_equal(pa_get(d, "GET", "/readyz", NULL, &r), 0);
			if (r.status == 200)
				t_ready = pa_now_ms() - t0;
			pa_resp_free(&r);
		}
		pa_sleep_ms(50);
	}
	if (t_allow < 0 || t_ready < 0)
		fail_msg("not recovered within 3 s of the file appearing (allow %ld ms, "
			 "ready %ld ms)", t_allow, t_ready);
	for (i = 0; i < NPROFILES; i++) {
		assert_int_equal(pa_get_basic(d, profiles[i].path, "alice", ALICE_PW, &r), 0);
		check_allow(&r, &profiles[i], "alice", "admins,dev", "after recovery");
		pa_resp_free(&r);
	}
	assert_int_equal(pa_get(d, "GET", "/readyz", NULL, &r), 0);
	EXPECT(r.status == 200 && strstr(r.body, "htpasswd") != NULL, &r, "readyz: '%s'",
	       r.body);
	pa_resp_free(&r);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- a reload the daemon refuses ---- */

#define APR1_LINE "legacy:$apr1$dl2MZTAj$jrIW6Cyc6xPw5rWBud1v.0\n"

/* alice is deleted in a file that also holds an $apr1$ line (Apache's
 * htpasswd -m), which the daemon refuses without allow_weak_hashes: the
 * daemon keeps its old table (alice still answers, as documented), but it
 * says so: /readyz stays 200 and names the file and line, /metrics shows
 * the table stale and one failed reload, and the log has one error line,
 * not one a second for the same failure (a second refused version is
 * counted and logged again).  Once the file is fixed, all is
 * back to normal and alice is gone.  Before, /readyz said "ok" and
 * /metrics said nothing. */
static void
test_stale_table(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d;
	struct pa_resp r;
	char *broken, *fixed, want[600], body[2048], *log;
	const char *no_alice;
	long waited;

	d = pa_daemon_start(f,
			    "[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\ncache_size = 0\n"
			    "[htpasswd]\nfile = @HTPASSWD@\n",
			    std_htpasswd);
	assert_non_null(d);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_stale") == 0);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_reload_failures_total") == 0);
	assert_int_equal(pa_get_basic(d, "/auth", "alice", ALICE_PW, &r), 0);
	EXPECT(r.status == 204, &r, "alice before the change");
	pa_resp_free(&r);

	/* The standard file without alice's line (line 2), and the $apr1$
	 * line last: line 7 (the file has a blank line). */
	no_alice = strchr(strchr(std_htpasswd, '\n') + 1, '\n') + 1;
	broken = pa_strdupf("# standard users\n%s%s", no_alice, APR1_LINE);
	fixed = pa_strdupf("# standard users\n%s", no_alice);
	assert_int_equal(pa_write_file_atomic(d->htpasswd, broken), 0);
	snprintf(want, sizeof(want), "htpasswd: stale: %s:7: user 'legacy': weak hash",
		 d->htpasswd);
	waited = -1;
	for (long t0 = pa_now_ms(); pa_now_ms() - t0 < 5000; pa_sleep_ms(100)) {
		long st = pa_readyz(d, body, sizeof(body));

		if (st != 200)
			fail_msg("/readyz %ld while the old table still answers: %s", st, body);
		if (strstr(body, want) != NULL) {
			waited = pa_now_ms() - t0;
			break;
		}
	}
	if (waited < 0)
		fail_msg("/readyz never named the refused line '%s': '%s'", want, body);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_stale") == 1);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_reload_failures_total") == 1);
	assert_true(pa_daemon_wait_log(d, "level=error", 1, 2000));
	/* The old table answers: alice is still there. */
	assert_int_equal(pa_get_basic(d, "/auth", "alice", ALICE_PW, &r), 0);
	EXPECT(r.status == 204, &r, "alice from the old table");
	pa_resp_free(&r);
	/* The same failure is not counted or logged again every second. */
	pa_sleep_ms(2500);
	assert_int_equal(pa_readyz(d, body, sizeof(body)), 200);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_reload_failures_total") == 1);
	log = pa_daemon_log(d);
	if (pa_count(log, "level=error") != 1 || pa_count(log, ":7: ") < 1) {
		fprintf(stderr, "%s", log);
		free(log);
		fail_msg("want exactly one error line naming line 7");
	}
	free(log);
	/* Another refused version is counted and logged again. */
	{
		char *dup = pa_strdupf("%sbob:x\n", broken);

		assert_int_equal(pa_write_file_atomic(d->htpasswd, dup), 0);
		free(dup);
	}
	if (!pa_daemon_wait_log(d, "level=error", 2, 5000))
		fail_msg("a second refused version was not logged");
	assert_true(pa_metric(d, "proxyauthd_htpasswd_reload_failures_total") == 2);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_stale") == 1);

	assert_int_equal(pa_write_file_atomic(d->htpasswd, fixed), 0);
	for (long t0 = pa_now_ms(); pa_now_ms() - t0 < 5000 && strstr(body, "htpasswd: ok") == NULL;
	     pa_sleep_ms(100))
		(void)pa_readyz(d, body, sizeof(body));
	if (strstr(body, "htpasswd: ok") == NULL || strstr(body, "stale") != NULL)
		fail_msg("/readyz after the fix: '%s'", body);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_stale") == 0);
	assert_true(pa_metric(d, "proxyauthd_htpasswd_reload_failures_total") == 2);
	assert_int_equal(pa_get_basic(d, "/auth", "alice", ALICE_PW, &r), 0);
	EXPECT(r.status == 407, &r, "alice after the fixed file is loaded");
	pa_resp_free(&r);
	free(broken);
	free(fixed);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- methods, paths, other endpoints ---- */

static void
test_any_method(void **state)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "HEAD", "DELETE",
					       "PATCH", "OPTIONS" };
	char *good = hdr_basic("Proxy-Authorization", "alice", ALICE_PW);
	char *bad = hdr_basic("Proxy-Authorization", "alice", "wrong");
	char *big = malloc(200000);
	size_t mi;
	int i;

	(void)state;
	assert_non_null(big);
	memset(big, 'x', 199999);
	big[199999] = '\0';
	for (mi = 0; mi < sizeof(methods) / sizeof(methods[0]); mi++) {
		for (i = 0; i < NPROFILES; i++) {
			struct pa_req req = { .method = methods[mi], .path = profiles[i].path };
			struct pa_resp r;
			bool body = strcmp(methods[mi], "GET") != 0 &&
				    strcmp(methods[mi], "HEAD") != 0;

			req.body = body ? "some=body&more=1" : NULL;
			req.headers[0] = good;
			assert_int_equal(pa_request(S, &req, &r), 0);
			check_allow(&r, &profiles[i], "alice", "admins,dev", methods[mi]);
			pa_resp_free(&r);
			req.headers[0] = bad;
			assert_int_equal(pa_request(S, &req, &r), 0);
			check_deny(&r, &profiles[i], methods[mi]);
			pa_resp_free(&r);
		}
	}
	/* A large body is read and thrown away. */
	{
		struct pa_req req = { .method = "POST", .path = "/auth", .body = big };
		struct pa_resp r;

		req.headers[0] = good;
		assert_int_equal(pa_request(S, &req, &r), 0);
		check_allow(&r, &profiles[0], "alice", "admins,dev", "POST with 200 kB body");
		pa_resp_free(&r);
	}
	/* HEAD never gets a body, even where GET does. */
	{
		struct pa_resp r;

		assert_int_equal(pa_get(S, "GET", "/nope", NULL, &r), 0);
		EXPECT(r.status == 404 && r.body_len > 0, &r, "GET /nope has a body");
		pa_resp_free(&r);
		assert_int_equal(pa_get(S, "HEAD", "/nope", NULL, &r), 0);
		EXPECT(r.status == 404 && r.body_len == 0, &r, "HEAD /nope has none");
		pa_resp_free(&r);
		assert_int_equal(pa_get(S, "HEAD", "/healthz", NULL, &r), 0);
		EXPECT(r.status == 200 && r.body_len == 0, &r, "HEAD /healthz");
		pa_resp_free(&r);
		assert_int_equal(pa_get(S, "HEAD", "/auth-request", bad, &r), 0);
		check_deny(&r, &profiles[1], "HEAD deny");
		EXPECT(r.body_len == 0, &r, "HEAD deny body");
		pa_resp_free(&r);
	}
	free(big);
	free(good);
	free(bad);
}

static void
test_path_suffixes(void **state)
{
	static const struct {
		const char *path;
		int profile;
	} ok[] = {
		{ "/ext-authz/some/original/path?q=1", 2 },
		{ "/ext-authz/", 2 },
		{ "/ext-authz?x=y", 2 },
		{ "/auth/anything", 0 },
		{ "/auth/anything/deeper?a=b&c", 0 },
		{ "/auth?x=1", 0 },
		{ "/auth-request/foo?x=1", 1 },
		{ "/auth-request/", 1 },
	};
	static const char *const missing[] = {
		"/authx", "/", "/metrics-not-a-thing", "/auth-requestx", "/ext-authzz",
		"/ext-auth", "/aut", "/healthzx", "/healthz/more", "/readyz/more",
		"/x/auth", "//auth",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		const struct profile *p = &profiles[ok[i].profile];
		struct profile at = *p;
		struct pa_resp r;

		at.path = ok[i].path;
		assert_int_equal(pa_get_basic(S, ok[i].path, "alice", ALICE_PW, &r), 0);
		check_allow(&r, &at, "alice", "admins,dev", "suffix");
		pa_resp_free(&r);
		assert_int_equal(pa_get_basic(S, ok[i].path, "alice", "wrong", &r), 0);
		check_deny(&r, &at, "suffix");
		pa_resp_free(&r);
	}
	for (i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		struct pa_resp r;

		assert_int_equal(pa_get_basic(S, missing[i], "alice", ALICE_PW, &r), 0);
		EXPECT(r.status == 404, &r, "%s", missing[i]);
		check_no_identity(&r, missing[i]);
		EXPECT(!r.hdr[H_PROXY_AUTHENTICATE].present, &r, "%s", missing[i]);
		pa_resp_free(&r);
	}
}

static void
test_health_and_ready(void **state)
{
	struct pa_resp r;

	(void)state;
	assert_int_equal(pa_get(S, "GET", "/healthz", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "healthz");
	EXPECT(HDR_IS(&r, H_CACHE_CONTROL, "no-store"), &r, "healthz");
	pa_resp_free(&r);
	assert_int_equal(pa_get(S, "GET", "/healthz?probe=1", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "healthz with a query");
	pa_resp_free(&r);
	assert_int_equal(pa_get(S, "GET", "/readyz", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "readyz");
	EXPECT(strstr(r.body, "htpasswd") != NULL, &r, "readyz names htpasswd: '%s'", r.body);
	pa_resp_free(&r);
}

/* ---- credentials_header ---- */

static void
test_credentials_header(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(
		f,
		"[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\n"
		"credentials_header = X-Proxy-Credentials, Proxy-Authorization\n"
		"[htpasswd]\nfile = @HTPASSWD@\n",
		std_htpasswd);
	char *xa = hdr_basic("X-Proxy-Credentials", "alice", ALICE_PW);
	char *xb = hdr_basic("X-Proxy-Credentials", "bob", BOB_PW);
	char *xw = hdr_basic("X-Proxy-Credentials", "alice", "wrong");
	char *pa = hdr_basic("Proxy-Authorization", "alice", ALICE_PW);
	char *pw = hdr_basic("Proxy-Authorization", "alice", "wrong");
	char *au = hdr_basic("Authorization", "alice", ALICE_PW);
	struct {
		const char *name;
		const char *h[3];
		const char *user;	/* NULL: deny */
		const char *groups;
	} c[] = {
		{ "only X-Proxy-Credentials", { xa }, "alice", "admins,dev" },
		{ "only Proxy-Authorization", { pa }, "alice", "admins,dev" },
		{ "first right, second wrong", { pw, xa }, "alice", "admins,dev" },
		{ "first wrong, second right", { xw, pa }, NULL, NULL },
		{ "first names the user", { pa, xb }, "bob", "" },
		{ "duplicate first header", { xa, xa }, NULL, NULL },
		{ "Authorization is not listed", { au }, NULL, NULL },
	};
	size_t i;
	int k;

	assert_non_null(d);
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		for (k = 0; k < NPROFILES; k++) {
			struct pa_req req = { .path = profiles[k].path };
			struct pa_resp r;

			memcpy(req.headers, c[i].h, sizeof(c[i].h));
			assert_int_equal(pa_request(d, &req, &r), 0);
			if (c[i].user != NULL)
				check_allow(&r, &profiles[k], c[i].user, c[i].groups, c[i].name);
			else
				check_deny(&r, &profiles[k], c[i].name);
			pa_resp_free(&r);
		}
	}
	free(xa);
	free(xb);
	free(xw);
	free(pa);
	free(pw);
	free(au);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- keep-alive ---- */

static void
test_keep_alive(void **state)
{
	CURL *c = curl_easy_init();
	char *good = hdr_basic("Proxy-Authorization", "alice", ALICE_PW);
	char *bob = hdr_basic("Proxy-Authorization", "bob", BOB_PW);
	char *bad = hdr_basic("Proxy-Authorization", "alice", "wrong");
	char *malformed = pa_strdupf("Proxy-Authorization: Basic ***");
	struct {
		const char *method, *path, *h;
		const char *body;
		long status;
	} seq[] = {
		{ "GET", "/auth", good, NULL, 204 },
		{ "GET", "/auth", bad, NULL, 407 },
		{ "GET", "/auth-request", bad, NULL, 401 },
		{ "GET", "/ext-authz/x", good, NULL, 200 },
		{ "GET", "/auth-request", bob, NULL, 200 },
		{ "POST", "/auth", good, "a=b", 204 },
		{ "GET", "/auth", malformed, NULL, 407 },
		{ "GET", "/auth", NULL, NULL, 407 },
		{ "HEAD", "/auth", good, NULL, 204 },
		{ "GET", "/nope", NULL, NULL, 404 },
		{ "GET", "/healthz", NULL, NULL, 200 },
		{ "GET", "/readyz", NULL, NULL, 200 },
		{ "GET", "/auth", good, NULL, 204 },
	};
	size_t i;

	(void)state;
	assert_non_null(c);
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		struct pa_req req = { .method = seq[i].method, .path = seq[i].path,
				      .body = seq[i].body, .reuse = c };
		struct pa_resp r;

		req.headers[0] = seq[i].h;
		if (pa_request(S, &req, &r) != 0)
			break;
		EXPECT(r.status == seq[i].status, &r, "request %zu (%s %s)", i, seq[i].method,
		       seq[i].path);
		EXPECT(r.num_connects == (i == 0 ? 1 : 0), &r,
		       "request %zu (%s %s) reuses the connection: %ld new", i, seq[i].method,
		       seq[i].path, r.num_connects);
		EXPECT(!r.hdr[H_CONNECTION].present ||
		       strcasestr(r.hdr[H_CONNECTION].value, "close") == NULL, &r,
		       "request %zu: no Connection: close", i);
		pa_resp_free(&r);
	}
	curl_easy_cleanup(c);
	free(good);
	free(bob);
	free(bad);
	free(malformed);
	assert_int_equal(i, sizeof(seq) / sizeof(seq[0]));
}

/* ---- concurrency ---- */

#define NTHREADS 16
#define PER_THREAD 50

struct hammer {
	const struct pa_daemon *d;
	int id;
	atomic_int *failures;
	atomic_int *done;
	pthread_mutex_t *lock;
	char *first_failure;		/* 2 KiB, guarded by lock */
};

static void
note_failure(struct hammer *h, const char *what, const struct pa_resp *r)
{
	if (atomic_fetch_add(h->failures, 1) == 0) {
		pthread_mutex_lock(h->lock);
		snprintf(h->first_failure, 2048, "%s: %s", what, pa_resp_describe(r));
		pthread_mutex_unlock(h->lock);
	}
}

static void *
hammer_run(void *arg)
{
	struct hammer *h = arg;
	CURL *c = curl_easy_init();
	int i;

	for (i = 0; i < PER_THREAD && c != NULL; i++) {
		int kind = (h->id * 7 + i) % 6;
		const struct profile *p = &profiles[(h->id + i) % NPROFILES];
		struct pa_req req = { .path = p->path, .reuse = c };
		struct pa_resp r;
		char hdr[512];
		const char *user = NULL, *groups = NULL;
		bool ok;

		switch (kind) {
		case 0:
			user = "alice";
			groups = "admins,dev";
			basic_header(hdr, sizeof(hdr), "alice", ALICE_PW);
			break;
		case 1:
			user = "bob";
			groups = "";
			basic_header(hdr, sizeof(hdr), "bob", BOB_PW);
			break;
		case 2:
			user = JOERG_USER;
			groups = "dev";
			basic_header(hdr, sizeof(hdr), JOERG_USER, JOERG_PW);
			break;
		case 3:
			basic_header(hdr, sizeof(hdr), "alice", BOB_PW);
			break;
		case 4:
			basic_header(hdr, sizeof(hdr), "nobody", ALICE_PW);
			break;
		default:
			hdr[0] = '\0';	/* no credentials */
			break;
		}
		req.headers[0] = hdr[0] != '\0' ? hdr : NULL;
		if (pa_request(h->d, &req, &r) != 0) {
			note_failure(h, "no answer", &r);
			pa_resp_free(&r);
			continue;
		}
		if (user != NULL)
			ok = r.status == p->allow && HDR_IS(&r, H_X_AUTH_USER, user) &&
			     HDR_IS(&r, H_X_AUTH_GROUPS, groups) &&
			     HDR_IS(&r, H_CACHE_CONTROL, "no-store") &&
			     !r.hdr[H_PROXY_AUTHENTICATE].present;
		else
			ok = r.status == p->deny && HDR_IS(&r, H_PROXY_AUTHENTICATE, CHALLENGE) &&
			     !r.hdr[H_X_AUTH_USER].present;
		if (!ok) {
			char what[128];
			snprintf(what, sizeof(what), "thread %d request %d kind %d on %s", h->id,
				 i, kind, p->path);
			note_failure(h, what, &r);
		}
		atomic_fetch_add(h->done, 1);
		pa_resp_free(&r);
	}
	if (c != NULL)
		curl_easy_cleanup(c);
	return NULL;
}

static void
test_concurrent_clients(void **state)
{
	pthread_t t[NTHREADS];
	struct hammer h[NTHREADS];
	atomic_int failures, done;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char first[2048] = "";
	struct pa_resp r;
	int i;

	(void)state;
	atomic_init(&failures, 0);
	atomic_init(&done, 0);
	for (i = 0; i < NTHREADS; i++) {
		h[i] = (struct hammer){ S, i, &failures, &done, &lock, first };
		assert_int_equal(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	if (atomic_load(&failures) != 0)
		fail_msg("%d of %d answers wrong; first: %s", atomic_load(&failures),
			 NTHREADS * PER_THREAD, first);
	assert_int_equal(atomic_load(&done), NTHREADS * PER_THREAD);
	assert_true(pa_daemon_alive(S));
	assert_int_equal(pa_get(S, "GET", "/healthz", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	pa_resp_free(&r);
}

/* ---- reloads ---- */

struct reload_load {
	const struct pa_daemon *d;
	atomic_bool stop;
	atomic_int phase;		/* 1: atomic rewrites; 2: in-place */
	atomic_int bad, requests;
	pthread_mutex_t lock;
	char first[2048];
	const char *pw[3];		/* alice's passwords over time */
};

static void
reload_note(struct reload_load *l, const char *what, const struct pa_resp *r)
{
	if (atomic_fetch_add(&l->bad, 1) == 0) {
		pthread_mutex_lock(&l->lock);
		snprintf(l->first, sizeof(l->first), "%s: %s", what, pa_resp_describe(r));
		pthread_mutex_unlock(&l->lock);
	}
}

static void *
reload_run(void *arg)
{
	struct reload_load *l = arg;
	CURL *c = curl_easy_init();
	int i = 0;

	while (c != NULL && !atomic_load(&l->stop)) {
		struct pa_req req = { .path = "/auth", .reuse = c };
		struct pa_resp r;
		char hdr[512];
		bool bob = i % 4 == 3;
		int before = atomic_load(&l->phase), after;

		if (bob)
			basic_header(hdr, sizeof(hdr), "bob", BOB_PW);
		else
			basic_header(hdr, sizeof(hdr), "alice", l->pw[i % 3]);
		req.headers[0] = hdr;
		i++;
		atomic_fetch_add(&l->requests, 1);
		if (pa_request(l->d, &req, &r) != 0) {
			reload_note(l, "no answer during a reload", &r);
			pa_resp_free(&r);
			continue;
		}
		after = atomic_load(&l->phase);
		/* Never anything but an allow or a deny; bob, whose line never
		 * changes, must always pass while the file is replaced by
		 * rename (an in-place rewrite may be read half-written, which
		 * may deny for a moment but never allow wrongly). */
		if (r.status != 204 && r.status != 407)
			reload_note(l, "unexpected status during a reload", &r);
		else if (r.status == 204 && !bob && !HDR_IS(&r, H_X_AUTH_USER, "alice"))
			reload_note(l, "wrong user", &r);
		else if (bob && before == 1 && after == 1 && r.status != 204)
			reload_note(l, "bob denied during an atomic rewrite", &r);
		pa_resp_free(&r);
	}
	if (c != NULL)
		curl_easy_cleanup(c);
	return NULL;
}

/* Polls until alice's password want is allowed; returns the ms it took. */
static long
wait_for_password(const struct pa_daemon *d, const char *want, long limit_ms)
{
	long t0 = pa_now_ms();
	struct pa_resp r;

	while (pa_now_ms() - t0 < limit_ms) {
		if (pa_get_basic(d, "/auth", "alice", want, &r) == 0 && r.status == 204) {
			pa_resp_free(&r);
			return pa_now_ms() - t0;
		}
		pa_resp_free(&r);
		pa_sleep_ms(25);
	}
	return -1;
}

static char *
file_with_alice(const char *pw)
{
	char *a = pa_htpasswd_line("alice", pw, "admins,dev", 4);
	char *b = pa_htpasswd_line("bob", BOB_PW, NULL, 4);
	char *all;

	if (a == NULL || b == NULL)
		abort();
	all = pa_strdupf("%s%s", a, b);
	free(a);
	free(b);
	return all;
}

static void
test_reload_under_load(void **state)
{
	struct pa_fixture *f = *state;
	static struct reload_load l;
	char *v1 = file_with_alice("first-pw"), *v2 = file_with_alice("second-pw"),
	     *v3 = file_with_alice("third-pw");
	struct pa_daemon *d = pa_daemon_start(f, std_config, v1);
	struct pa_resp r;
	pthread_t t[4];
	long took;
	int i;

	assert_non_null(d);
	memset(&l, 0, sizeof(l));
	l.d = d;
	pthread_mutex_init(&l.lock, NULL);
	atomic_init(&l.stop, false);
	atomic_init(&l.phase, 1);
	atomic_init(&l.bad, 0);
	atomic_init(&l.requests, 0);
	l.pw[0] = "first-pw";
	l.pw[1] = "second-pw";
	l.pw[2] = "third-pw";
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reload_run, &l), 0);
	pa_sleep_ms(300);

	/* Replaced atomically (write a new file, rename it over). */
	assert_int_equal(pa_write_file_atomic(d->htpasswd, v2), 0);
	took = wait_for_password(d, "second-pw", 3000);
	if (took < 0) {
		atomic_store(&l.stop, true);
		for (i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		fail_msg("the renamed file was not picked up within 3 s");
	}
	assert_int_equal(pa_get_basic(d, "/auth", "alice", "first-pw", &r), 0);
	EXPECT(r.status == 407, &r, "old password after the rename (new one took %ld ms)", took);
	pa_resp_free(&r);

	/* Rewritten in place (truncate and write, as Apache's htpasswd does). */
	atomic_store(&l.phase, 2);
	assert_int_equal(pa_write_file(d->htpasswd, v3), 0);
	took = wait_for_password(d, "third-pw", 3000);
	atomic_store(&l.stop, true);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	if (took < 0)
		fail_msg("the file rewritten in place was not picked up within 3 s");
	assert_int_equal(pa_get_basic(d, "/auth", "alice", "second-pw", &r), 0);
	EXPECT(r.status == 407, &r, "old password after the in-place rewrite");
	pa_resp_free(&r);
	if (atomic_load(&l.bad) != 0)
		fail_msg("%d of %d answers wrong during reloads; first: %s", atomic_load(&l.bad),
			 atomic_load(&l.requests), l.first);
	assert_true(atomic_load(&l.requests) > 50);
	assert_true(pa_daemon_alive(d));
	free(v1);
	free(v2);
	free(v3);
	pthread_mutex_destroy(&l.lock);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* SIGHUP reloads at once, even when the file looks unchanged to stat(). */
static void
test_sighup_reloads(void **state)
{
	struct pa_fixture *f = *state;
	char *v1 = file_with_alice("hup-one-pw"), *v2 = file_with_alice("hup-two-pw");
	struct pa_daemon *d;
	struct pa_resp r;
	struct stat st;
	struct timespec times[2];
	char *log;
	int fd, loaded;
	long t0, took;

	/* Same length, so the in-place write leaves the size alone. */
	assert_int_equal(strlen(v1), strlen(v2));
	d = pa_daemon_start(f, std_config, v1);
	assert_non_null(d);
	assert_int_equal(pa_get_basic(d, "/auth", "alice", "hup-one-pw", &r), 0);
	EXPECT(r.status == 204, &r, "before SIGHUP");
	pa_resp_free(&r);

	/* Rewrite in place and put the old times back: same inode, size and
	 * mtime, so only SIGHUP can make the daemon see it. */
	assert_int_equal(stat(d->htpasswd, &st), 0);
	fd = open(d->htpasswd, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, v2, strlen(v2)), (ssize_t)strlen(v2));
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	assert_int_equal(futimens(fd, times), 0);
	assert_int_equal(close(fd), 0);

	log = pa_daemon_log(d);
	loaded = pa_count(log, "htpasswd: loaded");
	free(log);
	t0 = pa_now_ms();
	assert_int_equal(pa_daemon_signal(d, SIGHUP), 0);
	assert_true(pa_daemon_wait_log(d, "htpasswd: loaded", loaded + 1, 2000));
	took = wait_for_password(d, "hup-two-pw", 2000);
	assert_true(took >= 0);
	assert_true(pa_now_ms() - t0 < 1000);
	assert_int_equal(pa_get_basic(d, "/auth", "alice", "hup-one-pw", &r), 0);
	EXPECT(r.status == 407, &r, "old password after SIGHUP");
	pa_resp_free(&r);
	log = pa_daemon_log(d);
	if (strstr(log, "SIGHUP") == NULL)
		fail_msg("no SIGHUP line in the log:\n%s", log);
	free(log);
	free(v1);
	free(v2);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- SIGTERM drains ---- */

struct slow_req {
	const struct pa_daemon *d;
	struct pa_resp r;
	int rc;
	long started;
	atomic_long finished;		/* read by the main thread meanwhile */
};

static void *
slow_run(void *arg)
{
	struct slow_req *s = arg;

	s->started = pa_now_ms();
	s->rc = pa_get_basic(s->d, "/auth", "slow", "slow-user-pw", &s->r);
	atomic_store(&s->finished, pa_now_ms());
	return NULL;
}

static void
test_sigterm_drains(void **state)
{
	struct pa_fixture *f = *state;
	char *slow = pa_htpasswd_line("slow", "slow-user-pw", "dev", 13);
	struct pa_daemon *d;
	struct slow_req s;
	struct pa_resp r;
	pthread_t t;
	long sent;
	char *log;
	int status;

	assert_non_null(slow);
	d = pa_daemon_start(f, std_config, slow);
	free(slow);
	assert_non_null(d);
	memset(&s, 0, sizeof(s));
	atomic_init(&s.finished, 0);
	s.d = d;
	assert_int_equal(pthread_create(&t, NULL, slow_run, &s), 0);
	pa_sleep_ms(50);
	sent = pa_now_ms();
	assert_int_equal(pa_daemon_signal(d, SIGTERM), 0);
	/* Once it drains, it takes no new connections. */
	if (pa_daemon_wait_log(d, "draining", 1, 2000)) {
		pa_sleep_ms(100);
		if (atomic_load(&s.finished) == 0) {
			pa_get(d, "GET", "/healthz", NULL, &r);
			EXPECT(r.curl_code == CURLE_COULDNT_CONNECT, &r,
			       "a new connection while draining");
			pa_resp_free(&r);
		}
	}
	pthread_join(t, NULL);
	EXPECT(s.rc == 0 && s.r.status == 204 && HDR_IS(&s.r, H_X_AUTH_USER, "slow"), &s.r,
	       "the request in flight at SIGTERM");
	EXPECT(atomic_load(&s.finished) > sent, &s.r, "the request was still in flight at SIGTERM");
	pa_resp_free(&s.r);
	status = pa_daemon_stop(d);	/* it is exiting already; this waits */
	assert_int_equal(status, 0);
	log = pa_daemon_log(d);
	if (strstr(log, "stopped") == NULL)
		fail_msg("no 'stopped' line:\n%s", log);
	free(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_every_profile),
		cmocka_unit_test(test_allow_token_variants),
		cmocka_unit_test(test_deny_every_profile),
		cmocka_unit_test(test_any_method),
		cmocka_unit_test(test_path_suffixes),
		cmocka_unit_test(test_health_and_ready),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_concurrent_clients),
		cmocka_unit_test(test_nul_in_credentials),
		cmocka_unit_test_setup_teardown(test_realm_escaped, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_forbidden, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_xff_forms_locked, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_unavailable_then_recovers, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_credentials_header, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_reload_under_load, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sighup_reloads, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_stale_table, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_drains, pa_fixture_setup,
						pa_fixture_teardown),
	};
	int rc;

	pa_harness_init();
	std_htpasswd = make_std_htpasswd();
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	free(std_htpasswd);
	return rc;
}
