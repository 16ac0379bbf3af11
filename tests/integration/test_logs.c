/*
 * The decision log (SPEC section 7) as the real daemon writes it: every
 * outcome in text (logfmt) and JSON, at every log_level.
 *
 * For each request the test knows what it sent and what line it expects;
 * after the daemons stop it parses every line of the log and checks:
 * exactly one decision line per decision request (none for /healthz or a
 * 404); time first, then the client, before anything a client chose; the
 * user only for well-formed credentials; the forwarded host and URI; that
 * a URI with a quote, an escape character and invalid UTF-8 or a user
 * name with quotes and "key=value" inside cannot forge a line or a field;
 * and, above all, that no password, no credentials header value, no
 * base64 token and no decoded "user:password" appears anywhere in the
 * file.
 */
#include "harness.h"

#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALICE_PW "Pw-alice-5e1f0c2b"
#define CAROL_PW "Pw-carol-77aa3d90"
#define WRONG_PW "Pw-wrong-0b9d4e61"
#define MALLORY_PW "Pw-mallory-c3c3a1"
#define EVIL_PW "Pw-evil-91f2e7d8"

#define MAX_REQS 32
#define MAX_SECRETS 128

/* The header with the attack URI: a quote, invalid UTF-8, an escape
 * sequence and text that looks like more fields. */
#define ATTACK_URI "/a\"b\xff\xfe c\x1b[31m level=error msg=forged"

struct expect {
	char uri[256];		/* decoded, as the log must show it */
	char host[64];
	const char *outcome;
	const char *user;	/* NULL: no user field */
	const char *profile;
	const char *backend;	/* NULL: not checked */
	bool repeat;		/* same credentials sent to this daemon before */
	bool seen;
};

struct run {
	struct pa_daemon *d;
	bool json;
	struct expect e[MAX_REQS];
	int n;
	char *secrets[MAX_SECRETS];
	int nsecrets;
	/* credentials already sent, per daemon: a later answer may come
	 * from the cache */
	char *sent[MAX_REQS];
	const struct pa_daemon *sent_to[MAX_REQS];
	int nsent;
};

static char *std_htpasswd;


static void
secret(struct run *r, char *s)
{
	if (r->nsecrets == MAX_SECRETS)
		fail_msg("too many secrets");
	r->secrets[r->nsecrets++] = s;
}

/* A credentials header for user:password; records the password, the
 * header value, the token and the decoded text as secrets. */
static char *
cred(struct run *r, const char *header, const char *user, const char *password)
{
	char tok[2048];

	pa_basic(user, password, tok, sizeof(tok));
	secret(r, strdup(password));
	secret(r, pa_strdupf("%s:%s", user, password));
	secret(r, strdup(tok));		/* "Basic xxx" */
	secret(r, strdup(tok + 6));	/* the token alone */
	return pa_strdupf("%s: %s", header, tok);
}

/* A raw header whose whole value is a secret too. */
static char *
raw(struct run *r, const char *header, const char *value)
{
	secret(r, strdup(value));
	return pa_strdupf("%s: %s", header, value);
}

/*
 * Sends one request on path with up to two extra headers (freed here),
 * adds X-Original-URI (uri_header NULL: a unique plain one) and
 * X-Forwarded-Host, checks the status and records what the log must say.
 */
static void
send_one(struct run *r, struct pa_daemon *d, const char *path, char *h1, char *h2,
	 long status, const char *outcome, const char *user, const char *uri_header,
	 const char *uri_logged)
{
	struct pa_req req = { .path = path };
	struct pa_resp resp;
	struct expect *e = &r->e[r->n];
	char uri[300], host[100];

	assert_true(r->n < MAX_REQS);
	snprintf(e->uri, sizeof(e->uri), "%s", uri_logged != NULL ? uri_logged : "");
	if (uri_header == NULL) {
		snprintf(e->uri, sizeof(e->uri), "/log/%s/%d?q=%d", r->json ? "json" : "text",
			 r->n, r->n);
		snprintf(uri, sizeof(uri), "X-Original-URI: %s", e->uri);
		uri_header = uri;
	}
	snprintf(e->host, sizeof(e->host), "h%d.example.org", r->n);
	snprintf(host, sizeof(host), "X-Forwarded-Host: %s", e->host);
	e->outcome = outcome;
	e->user = user;
	e->profile = strncmp(path, "/auth-request", 13) == 0 ? "auth-request" :
		     strncmp(path, "/ext-authz", 10) == 0 ? "ext-authz" : "auth";
	e->backend = strcmp(outcome, "allow") == 0 || strcmp(outcome, "forbidden") == 0 ||
			     strcmp(outcome, "unavailable") == 0 ? "htpasswd" : NULL;
	if (h1 != NULL && strchr(h1, ':') != NULL) {
		const char *value = strchr(h1, ':') + 1;
		int i;

		for (i = 0; i < r->nsent; i++)
			if (r->sent_to[i] == d && strcmp(r->sent[i], value) == 0)
				e->repeat = true;
		if (!e->repeat && r->nsent < MAX_REQS) {
			r->sent_to[r->nsent] = d;
			r->sent[r->nsent++] = strdup(value);
		}
	}
	r->n++;
	req.headers[0] = uri_header;
	req.headers[1] = host;
	req.headers[2] = h1;
	req.headers[3] = h1 != NULL ? h2 : NULL;
	if (pa_request(d, &req, &resp) != 0 || resp.status != status) {
		char msg[9100];

		snprintf(msg, sizeof(msg), "%s", pa_resp_describe(&resp));
		pa_resp_free(&resp);
		free(h1);
		free(h2);
		fail_msg("request %d (%s, %s): expected status %ld, got %s", r->n - 1, outcome,
			 path, status, msg);
	}
	pa_resp_free(&resp);
	free(h1);
	free(h2);
}

/* Every byte is printable ASCII, '\n' or part of valid UTF-8 without C1
 * controls: nothing a terminal or a log shipper could act on. */
static void
check_bytes(const char *log, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)log[i];
		size_t n = 0, k;

		if (c == '\n' || (c >= 0x20 && c < 0x7f)) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4;
		if (n == 0 || i + n > len)
			fail_msg("raw byte 0x%02x at offset %zu of the log", c, i);
		for (k = 1; k < n; k++)
			if (((unsigned char)log[i + k] & 0xc0) != 0x80)
				fail_msg("invalid UTF-8 at offset %zu of the log", i);
		if (c == 0xc2 && (unsigned char)log[i + 1] < 0xa0)
			fail_msg("C1 control at offset %zu of the log", i);
		i += n;
	}
}

static bool
client_chosen(const char *key)
{
	static const char *const keys[] = { "user", "method", "host", "uri", "reason",
					    "profile", "outcome" };
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(key, keys[i]) == 0)
			return true;
	return false;
}

static void
check_decision(struct run *r, const struct pa_log_kv *kv, int n, const char *line)
{
	const char *uri, *v;
	struct expect *e = NULL;
	int i, count, client_at = -1;

	uri = pa_log_get(kv, n, "uri", &count);
	if (uri == NULL || count != 1)
		fail_msg("decision line without exactly one uri: %s", line);
	for (i = 0; i < r->n; i++) {
		if (strcmp(r->e[i].uri, uri) == 0) {
			e = &r->e[i];
			break;
		}
	}
	if (e == NULL)
		fail_msg("decision line for a request not sent (uri '%s'): %s", uri, line);
	if (e->seen)
		fail_msg("a second decision line for uri '%s': %s", uri, line);
	e->seen = true;

	/* Time first; then the client, before anything a client chose. */
	if (strcmp(kv[0].key, "time") != 0)
		fail_msg("time is not first: %s", line);
	for (i = 1; i < n; i++) {
		if (strcmp(kv[i].key, "client") == 0) {
			client_at = i;
			break;
		}
		if (strcmp(kv[i].key, "level") != 0)
			fail_msg("'%s' comes before client: %s", kv[i].key, line);
	}
	if (client_at < 0 || strcmp(kv[client_at].value, "127.0.0.1") != 0)
		fail_msg("client is not 127.0.0.1: %s", line);
	for (i = 0; i < client_at; i++)
		if (client_chosen(kv[i].key))
			fail_msg("'%s' before client: %s", kv[i].key, line);

	v = pa_log_get(kv, n, "outcome", &count);
	if (v == NULL || count != 1 || strcmp(v, e->outcome) != 0)
		fail_msg("outcome: expected %s: %s", e->outcome, line);
	v = pa_log_get(kv, n, "user", &count);
	if (e->user == NULL && v != NULL)
		fail_msg("a user field where the credentials were not well-formed: %s", line);
	if (e->user != NULL && (v == NULL || count != 1 || strcmp(v, e->user) != 0))
		fail_msg("user: expected exactly one '%s': %s", e->user, line);
	v = pa_log_get(kv, n, "profile", &count);
	if (v == NULL || count != 1 || strcmp(v, e->profile) != 0)
		fail_msg("profile: expected %s: %s", e->profile, line);
	v = pa_log_get(kv, n, "host", &count);
	if (v == NULL || count != 1 || strcmp(v, e->host) != 0)
		fail_msg("host: expected %s: %s", e->host, line);
	if (e->backend != NULL) {
		v = pa_log_get(kv, n, "backend", &count);
		if (v == NULL || count != 1 || strcmp(v, e->backend) != 0)
			fail_msg("backend: expected %s: %s", e->backend, line);
		/* The first lookup of some credentials is a miss; a repeat
		 * may be answered from the cache. */
		v = pa_log_get(kv, n, "cache", &count);
		if (v == NULL || count != 1 ||
		    (strcmp(v, "miss") != 0 && !(e->repeat && strcmp(v, "hit") == 0)))
			fail_msg("cache: expected miss%s: %s", e->repeat ? " or hit" : "", line);
	}
	for (i = 0; i < n; i++) {
		if (strcmp(kv[i].key, "latency_us") == 0) {
			char *end;
			(void)strtoull(kv[i].value, &end, 10);
			if (kv[i].value[0] == '\0' || *end != '\0')
				fail_msg("latency_us is not a number: %s", line);
			if (r->json && kv[i].quoted)
				fail_msg("latency_us is a string in JSON: %s", line);
			break;
		}
	}
	if (i == n)
		fail_msg("no latency_us: %s", line);
}

static void
check_log(struct run *r, const char *log, size_t len, int decisions_expected)
{
	static struct pa_log_kv kv[PA_LOG_FIELDS_MAX];
	const char *p = log;
	int decisions = 0, lines = 0, i;
	char *line;

	check_bytes(log, len);
	if (len == 0 || log[len - 1] != '\n')
		fail_msg("the log does not end with a whole line");
	if ((line = malloc(len + 1)) == NULL)
		abort();
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t l = (size_t)(nl - p);
		int n;

		memcpy(line, p, l);
		line[l] = '\0';
		p = nl + 1;
		lines++;
		n = r->json ? pa_log_parse_json(line, kv, PA_LOG_FIELDS_MAX) :
			      pa_log_parse_text(line, kv, PA_LOG_FIELDS_MAX);
		if (n < 2 || strcmp(kv[0].key, "time") != 0 || strcmp(kv[1].key, "level") != 0) {
			free(line);
			fail_msg("line %d is not a well-formed %s record:\n%s", lines,
				 r->json ? "JSON" : "logfmt", line);
		}
		if (pa_log_get(kv, n, "outcome", NULL) != NULL) {
			decisions++;
			check_decision(r, kv, n, line);
		}
	}
	free(line);
	if (decisions != decisions_expected)
		fail_msg("%d decision lines for %d decision requests", decisions,
			 decisions_expected);
	for (i = 0; i < r->n; i++)
		if (!r->e[i].seen)
			fail_msg("no decision line for request %d (uri '%s')", i, r->e[i].uri);
}

static void
check_secrets(const struct run *r, const char *log, size_t len, const char *name)
{
	int i;

	for (i = 0; i < r->nsecrets; i++)
		if (r->secrets[i][0] != '\0' &&
		    memmem(log, len, r->secrets[i], strlen(r->secrets[i])) != NULL)
			fail_msg("%s: the log holds a secret: '%s'", name, r->secrets[i]);
}

static void
run_format(void **state, const char *format, const char *level)
{
	struct pa_fixture *f = *state;
	struct run *r = calloc(1, sizeof(*r));
	char *conf, *conf_down, *log_a, *log_b;
	size_t len_a, len_b;
	struct pa_daemon *a, *b;
	struct pa_resp resp;
	int i, first_b;
	char evil_user[] = "ev\"il user=root level=error";
	bool quiet;
	char name[64];

	assert_non_null(r);
	snprintf(name, sizeof(name), "%s/%s", format, level);
	r->json = strcmp(format, "json") == 0;
	/* At warn and error the listening line is not printed: fixed ports
	 * (the harness then waits for them to take connections). */
	quiet = strcmp(level, "warn") == 0 || strcmp(level, "error") == 0;
	conf = pa_strdupf("[server]\nlisten = 127.0.0.1:%d\nmax_failures = 0\nlog_format = %s\n"
			  "log_level = %s\nrequire_groups = admins\n"
			  "credentials_header = Proxy-Authorization, X-Proxy-Credentials\n"
			  "[htpasswd]\nfile = @HTPASSWD@\n", quiet ? pa_free_port() : 0, format,
			  level);
	conf_down = pa_strdupf("[server]\nlisten = 127.0.0.1:%d\nmax_failures = 0\nlog_format = %s\n"
			       "log_level = %s\n[htpasswd]\nfile = @DIR@/missing\n",
			       quiet ? pa_free_port() : 0, format, level);
	a = pa_daemon_start(f, conf, std_htpasswd);
	b = pa_daemon_start(f, conf_down, NULL);
	free(conf);
	free(conf_down);
	assert_non_null(a);
	assert_non_null(b);
	r->d = a;

	/* allow, on every profile and through the second header */
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", "alice", ALICE_PW), NULL, 204,
		 "allow", "alice", NULL, NULL);
	send_one(r, a, "/auth-request", cred(r, "Proxy-Authorization", "alice", ALICE_PW), NULL,
		 200, "allow", "alice", NULL, NULL);
	send_one(r, a, "/ext-authz/x/y?z=1", cred(r, "Proxy-Authorization", "alice", ALICE_PW),
		 NULL, 200, "allow", "alice", NULL, NULL);
	send_one(r, a, "/auth", cred(r, "X-Proxy-Credentials", "alice", ALICE_PW), NULL, 204,
		 "allow", "alice", NULL, NULL);
	/* The Authorization header is not read, but must not be logged
	 * either; the request is allowed through Proxy-Authorization. */
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", "alice", ALICE_PW),
		 cred(r, "Authorization", "alice", WRONG_PW), 204, "allow", "alice", NULL, NULL);
	/* deny */
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", "alice", WRONG_PW), NULL, 407,
		 "deny", "alice", NULL, NULL);
	send_one(r, a, "/auth-request", cred(r, "Proxy-Authorization", "mallory", MALLORY_PW),
		 NULL, 401, "deny", "mallory", NULL, NULL);
	send_one(r, a, "/auth", NULL, NULL, 407, "deny", NULL, NULL, NULL);
	send_one(r, a, "/auth", cred(r, "Authorization", "alice", ALICE_PW), NULL, 407, "deny",
		 NULL, NULL, NULL);
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", "alice", ""), NULL, 407, "deny",
		 "alice", NULL, NULL);
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", evil_user, EVIL_PW), NULL, 407,
		 "deny", evil_user, NULL, NULL);
	/* forbidden */
	send_one(r, a, "/ext-authz", cred(r, "Proxy-Authorization", "carol", CAROL_PW), NULL,
		 403, "forbidden", "carol", NULL, NULL);
	/* malformed: no user field, whatever the bytes held */
	send_one(r, a, "/auth", raw(r, "Proxy-Authorization", "Basic !!tok-3f9e2a!!"), NULL, 407,
		 "malformed", NULL, NULL, NULL);
	{
		char tok[256], *h;
		const char evil[] = "evil\nlevel=error msg=forged:" EVIL_PW;

		pa_base64(evil, strlen(evil), tok, sizeof(tok));
		h = pa_strdupf("Proxy-Authorization: Basic %s", tok);
		secret(r, strdup(tok));
		secret(r, strdup("evil"));	/* not even the user part */
		send_one(r, a, "/auth", h, NULL, 407, "malformed", NULL, NULL, NULL);
	}
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", "alice", ALICE_PW),
		 cred(r, "Proxy-Authorization", "alice", WRONG_PW), 407, "malformed", NULL, NULL,
		 NULL);
	/* The attack URI: logged, but escaped and on its own line. */
	send_one(r, a, "/auth", cred(r, "Proxy-Authorization", "alice", WRONG_PW), NULL, 407,
		 "deny", "alice", "X-Original-URI: " ATTACK_URI,
		 r->json ? "/a\"b\\xFF\\xFE c\x1b[31m level=error msg=forged" : ATTACK_URI);
	/* X-Original-URL is used when X-Original-URI is missing. */
	{
		struct pa_req req = { .path = "/auth" };
		char *h = cred(r, "Proxy-Authorization", "alice", ALICE_PW);
		struct expect *e = &r->e[r->n++];

		snprintf(e->uri, sizeof(e->uri), "https://app.example.org/from-url/%s", format);
		snprintf(e->host, sizeof(e->host), "app.example.org");
		e->outcome = "allow";
		e->user = "alice";
		e->profile = "auth";
		e->backend = "htpasswd";
		e->repeat = true;	/* alice's right password was sent before */
		req.headers[0] = h;
		req.headers[1] = "X-Forwarded-Host: app.example.org";
		char u[512];
		snprintf(u, sizeof(u), "X-Original-URL: %.400s", e->uri);
		req.headers[2] = u;
		assert_int_equal(pa_request(a, &req, &resp), 0);
		assert_int_equal(resp.status, 204);
		pa_resp_free(&resp);
		free(h);
	}
	/* No decision, no decision line. */
	assert_int_equal(pa_get(a, "GET", "/healthz", NULL, &resp), 0);
	pa_resp_free(&resp);
	assert_int_equal(pa_get(a, "GET", "/nope", NULL, &resp), 0);
	pa_resp_free(&resp);

	/* unavailable, on the daemon whose file is missing */
	first_b = r->n;
	send_one(r, b, "/auth", cred(r, "Proxy-Authorization", "alice", ALICE_PW), NULL, 503,
		 "unavailable", "alice", NULL, NULL);
	send_one(r, b, "/auth-request", cred(r, "Proxy-Authorization", "alice", WRONG_PW), NULL,
		 503, "unavailable", "alice", NULL, NULL);
	send_one(r, b, "/auth", NULL, NULL, 407, "deny", NULL, NULL, NULL);

	assert_int_equal(pa_daemon_stop(a), 0);
	assert_int_equal(pa_daemon_stop(b), 0);
	log_a = pa_read_file(a->log, &len_a);
	log_b = pa_read_file(b->log, &len_b);
	assert_non_null(log_a);
	assert_non_null(log_b);

	check_secrets(r, log_a, len_a, name);
	check_secrets(r, log_b, len_b, name);
	if (quiet) {
		/* Only "unavailable" decisions are warnings; at error none is
		 * logged at all. */
		const char *key = r->json ? "\"outcome\":" : "outcome=";
		int unavailable = 0;

		for (i = 0; i < r->n; i++)
			unavailable += strcmp(r->e[i].outcome, "unavailable") == 0;
		assert_int_equal(pa_count(log_a, key), 0);
		assert_int_equal(pa_count(log_b, key),
				 strcmp(level, "warn") == 0 ? unavailable : 0);
		check_bytes(log_a, len_a);
		check_bytes(log_b, len_b);
	} else {
		/* Split the expectations between the two daemons' logs. */
		struct run *rb = calloc(1, sizeof(*rb));

		assert_non_null(rb);
		rb->json = r->json;
		for (i = first_b; i < r->n; i++)
			rb->e[rb->n++] = r->e[i];
		r->n = first_b;
		check_log(r, log_a, len_a, first_b);
		check_log(rb, log_b, len_b, rb->n);
		free(rb);
	}
	/* The escapes are where they must be in the raw text. */
	if (quiet) {
		/* no decision line to look at */
	} else if (r->json) {
		if (strstr(log_a, "\"uri\":\"/a\\\"b\\\\xFF\\\\xFE c\\u001B[31m") == NULL)
			fail_msg("%s: the attack URI is not escaped as expected:\n%s", name, log_a);
	} else {
		if (strstr(log_a, "uri=\"/a\\\"b\\xFF\\xFE c\\x1B[31m level=error "
				  "msg=forged\"") == NULL)
			fail_msg("%s: the attack URI is not escaped as expected:\n%s", name, log_a);
	}
	free(log_a);
	free(log_b);
	for (i = 0; i < r->nsecrets; i++)
		free(r->secrets[i]);
	for (i = 0; i < r->nsent; i++)
		free(r->sent[i]);
	free(r);
}

static void
test_text_info(void **state)
{
	run_format(state, "text", "info");
}

static void
test_text_debug(void **state)
{
	run_format(state, "text", "debug");
}

static void
test_json_info(void **state)
{
	run_format(state, "json", "info");
}

static void
test_json_debug(void **state)
{
	run_format(state, "json", "debug");
}

static void
test_text_warn(void **state)
{
	run_format(state, "text", "warn");
}

static void
test_json_error(void **state)
{
	run_format(state, "json", "error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_text_info, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_text_debug, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_json_info, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_json_debug, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_text_warn, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_json_error, pa_fixture_setup,
						pa_fixture_teardown),
	};
	char *a, *c;
	int rc;

	pa_harness_init();
	a = pa_htpasswd_line("alice", ALICE_PW, "admins,dev", 4);
	c = pa_htpasswd_line("carol", CAROL_PW, "dev", 4);
	if (a == NULL || c == NULL)
		return 1;
	std_htpasswd = pa_strdupf("%s%s", a, c);
	free(a);
	free(c);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(std_htpasswd);
	return rc;
}
