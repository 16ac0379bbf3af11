/*
 * SPEC sections 5 and 8 against the real daemon: the answer cache and its
 * invalidation by htpasswd reloads, coalescing of identical lookups,
 * brute-force lockouts per user and per client address (with and without
 * trusted proxies), authorisation rules on the forwarded host and path,
 * and the /metrics text.
 *
 * Every test starts its own daemon (lockouts and counters must start from
 * zero), in a per-test fixture whose teardown stops it even after a
 * failed assertion.  What the daemon did is read from two places only:
 * its decision log (the line is written before the answer is sent) and
 * /metrics, parsed strictly; the backend counter
 * proxyauthd_backend_requests_total is how a test knows whether a request
 * reached the htpasswd backend at all.
 */
#include "harness.h"

#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define CHALLENGE "Basic realm=\"proxyauthd\", charset=\"UTF-8\""

struct profile {
	const char *path, *name;
	long allow, deny;
};

static const struct profile profiles[] = {
	{ "/auth", "auth", 204, 407 },
	{ "/auth-request", "auth-request", 200, 401 },
	{ "/ext-authz", "ext-authz", 200, 407 },
};
#define NPROFILES 3

static const char *const outcomes[] = { "allow", "deny", "forbidden", "malformed", "locked",
					"unavailable" };
#define NOUTCOMES 6

/* An htpasswd file from "user", "password", "groups" (may be NULL)
 * triples ending in NULL, hashed with bcrypt at cost 4. */
static char *
htpasswd_of(const char *user, ...)
{
	char *all = strdup(""), *line, *next;
	va_list ap;

	va_start(ap, user);
	while (user != NULL) {
		const char *pw = va_arg(ap, const char *);
		const char *groups = va_arg(ap, const char *);

		if ((line = pa_htpasswd_line(user, pw, groups, 4)) == NULL)
			abort();
		next = pa_strdupf("%s%s", all, line);
		free(line);
		free(all);
		all = next;
		user = va_arg(ap, const char *);
	}
	va_end(ap);
	return all;
}

/* A request on path as user:password with up to three more raw headers
 * (NULL ends them).  Returns 0 when an answer came. */
static int
ask(const struct pa_daemon *d, const char *path, const char *user, const char *password,
    struct pa_resp *r, const char *h1, const char *h2, const char *h3)
{
	char auth[2200] = "Proxy-Authorization: ";
	struct pa_req req = { .path = path };
	int n = 0;

	if (user != NULL) {
		pa_basic(user, password, auth + strlen(auth), sizeof(auth) - strlen(auth));
		req.headers[n++] = auth;
	}
	req.headers[n++] = h1;
	if (h1 != NULL) {
		req.headers[n++] = h2;
		if (h2 != NULL)
			req.headers[n++] = h3;
	}
	return pa_request(d, &req, r);
}

/* The response a deny must be: the exact challenge and nothing else. */
static void
check_deny(const struct pa_resp *r, const struct profile *p, const char *ctx)
{
	EXPECT(r->status == p->deny, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_PROXY_AUTHENTICATE, CHALLENGE), r, "%s: the challenge", ctx);
	EXPECT(!r->hdr[H_WWW_AUTHENTICATE].present, r, "%s", ctx);
	EXPECT(HDR_IS(r, H_CACHE_CONTROL, "no-store"), r, "%s", ctx);
	EXPECT(!r->hdr[H_RETRY_AFTER].present, r, "%s", ctx);
	EXPECT(!r->hdr[H_X_AUTH_USER].present && !r->hdr[H_X_AUTH_GROUPS].present &&
	       !r->hdr[H_X_AUTH_BACKEND].present, r, "%s: no identity", ctx);
	EXPECT(r->body_len == 0, r, "%s: empty body", ctx);
}

static void
check_allow(const struct pa_resp *r, const struct profile *p, const char *user,
	    const char *ctx)
{
	EXPECT(r->status == p->allow, r, "%s on %s", ctx, p->path);
	EXPECT(HDR_IS(r, H_X_AUTH_USER, user), r, "%s: X-Auth-User %s", ctx, user);
	EXPECT(HDR_IS(r, H_X_AUTH_BACKEND, "htpasswd"), r, "%s", ctx);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s", ctx);
}

static void
check_forbidden(const struct pa_resp *r, const char *ctx)
{
	EXPECT(r->status == 403, r, "%s", ctx);
	EXPECT(!r->hdr[H_PROXY_AUTHENTICATE].present, r, "%s: no challenge", ctx);
	EXPECT(!r->hdr[H_X_AUTH_USER].present, r, "%s: no identity", ctx);
}

/* ---- the decision log ---------------------------------------------------- */

struct line {
	struct pa_log_kv kv[PA_LOG_FIELDS_MAX];
	int n;
	char text[8192];
};

/* The last decision line of d's log (the daemon writes it before the
 * answer leaves, so it belongs to the request just answered).  *count
 * (may be NULL) gets the number of decision lines so far. */
static void
last_decision(const struct pa_daemon *d, struct line *l, int *count)
{
	char *log = pa_daemon_log(d), *p, *nl, *found = NULL;
	int c = 0;

	for (p = log; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if (strstr(p, " outcome=") != NULL) {
			found = p;
			c++;
		}
	}
	if (found == NULL) {
		free(log);
		fail_msg("no decision line in the log");
	}
	snprintf(l->text, sizeof(l->text), "%s", found);
	free(log);
	l->n = pa_log_parse_text(l->text, l->kv, PA_LOG_FIELDS_MAX);
	if (l->n < 0)
		fail_msg("malformed decision line: %s", l->text);
	if (count != NULL)
		*count = c;
}

static void
expect_field(const struct line *l, const char *key, const char *want)
{
	int c;
	const char *v = pa_log_get(l->kv, l->n, key, &c);

	if (want == NULL ? c != 0 : c != 1 || strcmp(v, want) != 0)
		fail_msg("%s is '%s' (%d times), want '%s': %s", key, v ? v : "(absent)", c,
			 want ? want : "(absent)", l->text);
}

/* Checks the last decision line's fields: pairs of key, value (NULL:
 * absent), ended by a NULL key. */
static void
expect_decision(const struct pa_daemon *d, ...)
{
	struct line *l = calloc(1, sizeof(*l));
	const char *k, *v;
	va_list ap;

	assert_non_null(l);
	last_decision(d, l, NULL);
	va_start(ap, d);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		expect_field(l, k, v);
	}
	va_end(ap);
	free(l);
}

/* ---- /metrics ------------------------------------------------------------ */

#define MAX_SAMPLES 600
#define MAX_FAMILIES 64
#define MAX_LABELS 4

struct sample {
	char name[96];
	int nlabels;
	char lk[MAX_LABELS][32];
	char lv[MAX_LABELS][64];
	double value;
	char raw[160];
};

struct family {
	char name[96];
	char type[16];
	bool closed;		/* another family's samples came after its own */
};

struct scrape {
	struct sample s[MAX_SAMPLES];
	int n;
	struct family f[MAX_FAMILIES];
	int nf;
};

static struct family *
family_find(struct scrape *sc, const char *name)
{
	int i;

	for (i = 0; i < sc->nf; i++)
		if (strcmp(sc->f[i].name, name) == 0)
			return &sc->f[i];
	return NULL;
}

/* The family a sample name belongs to: itself, or a histogram's base for
 * _bucket, _sum and _count. */
static struct family *
family_of(struct scrape *sc, const char *name)
{
	static const char *const suffixes[] = { "_bucket", "_sum", "_count" };
	struct family *f = family_find(sc, name);
	char base[96];
	size_t i, n = strlen(name);

	if (f != NULL)
		return f;
	for (i = 0; i < 3; i++) {
		size_t sl = strlen(suffixes[i]);

		if (n > sl && strcmp(name + n - sl, suffixes[i]) == 0 && n - sl < sizeof(base)) {
			memcpy(base, name, n - sl);
			base[n - sl] = '\0';
			f = family_find(sc, base);
			if (f != NULL && (strcmp(f->type, "histogram") == 0 ||
					  (i > 0 && strcmp(f->type, "summary") == 0)))
				return f;
		}
	}
	return NULL;
}

/* Parses the labels of a sample line the regex already accepted. */
static void
parse_labels(struct sample *s, const char *p, const char *line)
{
	while (*p != '}') {
		const char *eq = strchr(p, '='), *v;
		size_t kl, vl = 0;

		if (s->nlabels == MAX_LABELS)
			fail_msg("more than %d labels: %s", MAX_LABELS, line);
		kl = (size_t)(eq - p);
		if (kl >= sizeof(s->lk[0]))
			fail_msg("label name too long: %s", line);
		memcpy(s->lk[s->nlabels], p, kl);
		s->lk[s->nlabels][kl] = '\0';
		for (v = eq + 2; *v != '"'; v++) {
			char c = *v;

			if (c == '\\') {
				v++;
				c = *v == 'n' ? '\n' : *v;
			}
			if (vl + 1 >= sizeof(s->lv[0]))
				fail_msg("label value too long: %s", line);
			s->lv[s->nlabels][vl++] = c;
		}
		s->lv[s->nlabels][vl] = '\0';
		s->nlabels++;
		p = v + 1;
		if (*p == ',')
			p++;
	}
}

/*
 * Parses body strictly as the Prometheus text format: every line is a
 * "# HELP", a "# TYPE", another comment, or a sample `name value` /
 * `name{label="v",...} value`; every sample's family has had its TYPE
 * line first; a family's lines are not split; no series repeats.
 */
static void
parse_metrics(const char *body, struct scrape *sc)
{
	static const char sample_re[] =
		"^([a-zA-Z_:][a-zA-Z0-9_:]*)"
		"(\\{[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
		"(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\")*\\})?"
		" (-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|[-+]Inf|NaN)$";
	static const char type_re[] =
		"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$";
	static const char help_re[] = "^# HELP [a-zA-Z_:][a-zA-Z0-9_:]*( .*)?$";
	regex_t rs, rt, rh;
	regmatch_t m[3];
	struct family *cur = NULL;
	char *copy = strdup(body), *line, *nl;
	int i;

	assert_non_null(copy);
	assert_int_equal(regcomp(&rs, sample_re, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&rt, type_re, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&rh, help_re, REG_EXTENDED), 0);
	memset(sc, 0, sizeof(*sc));
	if (body[0] == '\0' || body[strlen(body) - 1] != '\n')
		fail_msg("the text does not end in a newline");
	for (line = copy; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (line[0] == '\0')
			continue;
		if (strncmp(line, "# TYPE", 6) == 0) {
			struct family *f;

			if (regexec(&rt, line, 3, m, 0) != 0)
				fail_msg("bad TYPE line: '%s'", line);
			line[m[1].rm_eo] = '\0';
			if (family_find(sc, line + m[1].rm_so) != NULL)
				fail_msg("a second TYPE line for %s", line + m[1].rm_so);
			if (sc->nf == MAX_FAMILIES)
				fail_msg("too many families");
			f = &sc->f[sc->nf++];
			snprintf(f->name, sizeof(f->name), "%s", line + m[1].rm_so);
			snprintf(f->type, sizeof(f->type), "%.*s", (int)(m[2].rm_eo - m[2].rm_so),
				 line + m[2].rm_so);
			continue;
		}
		if (strncmp(line, "# HELP", 6) == 0) {
			if (regexec(&rh, line, 0, NULL, 0) != 0)
				fail_msg("bad HELP line: '%s'", line);
			continue;
		}
		if (line[0] == '#')
			continue;
		if (regexec(&rs, line, 3, m, 0) != 0)
			fail_msg("not a Prometheus sample line: '%s'", line);
		{
			struct sample *s;
			struct family *f;
			const char *sp = strrchr(line, ' ');

			if (sc->n == MAX_SAMPLES)
				fail_msg("too many samples");
			s = &sc->s[sc->n];
			memset(s, 0, sizeof(*s));
			snprintf(s->raw, sizeof(s->raw), "%s", line);
			snprintf(s->name, sizeof(s->name), "%.*s", (int)m[1].rm_eo, line);
			if (line[m[1].rm_eo] == '{')
				parse_labels(s, line + m[1].rm_eo + 1, line);
			s->value = strtod(sp + 1, NULL);
			if ((f = family_of(sc, s->name)) == NULL)
				fail_msg("sample before its TYPE line: '%s'", line);
			if (f != cur) {
				if (f->closed)
					fail_msg("family %s split: '%s'", f->name, line);
				if (cur != NULL)
					cur->closed = true;
				cur = f;
			}
			for (i = 0; i < sc->n; i++) {
				int k, same = sc->s[i].nlabels == s->nlabels &&
					      strcmp(sc->s[i].name, s->name) == 0;

				for (k = 0; same && k < s->nlabels; k++)
					same = strcmp(sc->s[i].lk[k], s->lk[k]) == 0 &&
					       strcmp(sc->s[i].lv[k], s->lv[k]) == 0;
				if (same)
					fail_msg("series twice: '%s'", line);
			}
			sc->n++;
		}
	}
	regfree(&rs);
	regfree(&rt);
	regfree(&rh);
	free(copy);
}

/* The sample name{labels} with exactly the labels given as key, value
 * pairs (NULL-terminated, any order), or NULL. */
static const struct sample *
vfind(const struct scrape *sc, const char *name, va_list ap)
{
	const char *k[MAX_LABELS + 1], *v[MAX_LABELS + 1];
	int n = 0, i, j;

	while (n <= MAX_LABELS && (k[n] = va_arg(ap, const char *)) != NULL) {
		v[n] = va_arg(ap, const char *);
		n++;
	}
	for (i = 0; i < sc->n; i++) {
		const struct sample *s = &sc->s[i];
		int hits = 0;

		if (strcmp(s->name, name) != 0 || s->nlabels != n)
			continue;
		for (j = 0; j < n; j++) {
			int l;

			for (l = 0; l < s->nlabels; l++)
				if (strcmp(s->lk[l], k[j]) == 0 && strcmp(s->lv[l], v[j]) == 0)
					hits++;
		}
		if (hits == n)
			return s;
	}
	return NULL;
}

/* The value of a series that must exist. */
static double
metric(const struct scrape *sc, const char *name, ...)
{
	const struct sample *s;
	va_list ap;

	va_start(ap, name);
	s = vfind(sc, name, ap);
	va_end(ap);
	if (s == NULL)
		fail_msg("no series %s (with the labels asked for) in /metrics", name);
	return s->value;
}

/* GET /metrics: 200, text/plain, parsed strictly into sc. */
static void
scrape(const struct pa_daemon *d, struct scrape *sc)
{
	struct pa_resp r;
	const char *ct;

	assert_int_equal(pa_get(d, "GET", "/metrics", NULL, &r), 0);
	EXPECT(r.status == 200, &r, "/metrics");
	ct = strcasestr(r.raw_headers, "\r\nContent-Type:");
	EXPECT(ct != NULL, &r, "/metrics has a Content-Type");
	ct += strlen("\r\nContent-Type:");
	while (*ct == ' ')
		ct++;
	EXPECT(strncasecmp(ct, "text/plain", 10) == 0, &r, "/metrics is text/plain");
	parse_metrics(r.body, sc);
	pa_resp_free(&r);
}

static struct scrape *
scrape_new(const struct pa_daemon *d)
{
	struct scrape *sc = malloc(sizeof(*sc));

	assert_non_null(sc);
	scrape(d, sc);
	return sc;
}

static double
backend(const struct scrape *sc, const char *result)
{
	return metric(sc, "proxyauthd_backend_requests_total", "backend", "htpasswd", "result",
		      result, NULL);
}

/* Every backend answer of any result. */
static double
backend_total(const struct pa_daemon *d)
{
	struct scrape *sc = scrape_new(d);
	double t = backend(sc, "granted") + backend(sc, "denied") + backend(sc, "not_found") +
		   backend(sc, "unavailable");

	free(sc);
	return t;
}

static double
metric_now(const struct pa_daemon *d, const char *name, const char *k, const char *v)
{
	struct scrape *sc = scrape_new(d);
	double x = k != NULL ? metric(sc, name, k, v, NULL) : metric(sc, name, NULL);

	free(sc);
	return x;
}

/*
 * A histogram family with optional one extra label: buckets in
 * increasing le order ending in +Inf, cumulative counts never falling,
 * +Inf equal to _count, a _sum.  Returns _count.
 */
static double
check_histogram(const struct scrape *sc, const char *base, const char *lk, const char *lv)
{
	char bucket[128], count[128], sum[128];
	double last_le = -INFINITY, last = -1, inf = -1, c, s;
	int i, nb = 0;

	snprintf(bucket, sizeof(bucket), "%s_bucket", base);
	snprintf(count, sizeof(count), "%s_count", base);
	snprintf(sum, sizeof(sum), "%s_sum", base);
	for (i = 0; i < sc->n; i++) {
		const struct sample *x = &sc->s[i];
		const char *le = NULL;
		bool match = lk == NULL;
		int k;
		double lev;

		if (strcmp(x->name, bucket) != 0)
			continue;
		for (k = 0; k < x->nlabels; k++) {
			if (strcmp(x->lk[k], "le") == 0)
				le = x->lv[k];
			else if (lk != NULL && strcmp(x->lk[k], lk) == 0 &&
				 strcmp(x->lv[k], lv) == 0)
				match = true;
		}
		if (!match || x->nlabels != (lk != NULL ? 2 : 1))
			continue;
		if (le == NULL)
			fail_msg("a bucket without le: %s", x->raw);
		if (inf >= 0)
			fail_msg("a bucket after +Inf: %s", x->raw);
		lev = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
		if (!(lev > last_le))
			fail_msg("le not increasing: %s", x->raw);
		if (x->value < last)
			fail_msg("bucket count falls: %s", x->raw);
		last_le = lev;
		last = x->value;
		if (isinf(lev))
			inf = x->value;
		nb++;
	}
	if (nb < 2 || inf < 0)
		fail_msg("%s{%s=%s}: %d buckets, +Inf %s", base, lk ? lk : "", lv ? lv : "", nb,
			 inf < 0 ? "missing" : "present");
	c = lk != NULL ? metric(sc, count, lk, lv, NULL) : metric(sc, count, NULL);
	s = lk != NULL ? metric(sc, sum, lk, lv, NULL) : metric(sc, sum, NULL);
	if (c != inf)
		fail_msg("%s: +Inf bucket %g but _count %g", base, inf, c);
	if (s < 0)
		fail_msg("%s: negative _sum", base);
	return c;
}

/* ---- (a) cache ----------------------------------------------------------- */

static const char plain_config[] =
	"[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\ncache_ttl = 60\nnegative_ttl = 5\n"
	"[htpasswd]\nfile = @HTPASSWD@\n";

/* Polls user:password on /auth until the status is want; returns the ms
 * it took, or -1 after limit_ms. */
static long
wait_status(const struct pa_daemon *d, const char *user, const char *password, long want,
	    long limit_ms)
{
	long t0 = pa_now_ms();
	struct pa_resp r;

	for (;;) {
		long status = ask(d, "/auth", user, password, &r, NULL, NULL, NULL) == 0 ?
				      r.status : 0;

		pa_resp_free(&r);
		if (status == want)
			return pa_now_ms() - t0;
		if (pa_now_ms() - t0 > limit_ms)
			return -1;
		pa_sleep_ms(50);
	}
}

static void
test_cache_and_reload(void **state)
{
	struct pa_fixture *f = *state;
	/* bob's line is the same bytes in every version (a new hash of the
	 * same password would count as a change). */
	char *bob = htpasswd_of("bob", "bob-pw", NULL, NULL);
	char *a1 = htpasswd_of("alice", "first-pw", "dev", NULL);
	char *a2 = htpasswd_of("alice", "second-pw", "dev", NULL);
	char *a3 = htpasswd_of("alice", "third-pw", "dev", NULL);
	char *v1 = pa_strdupf("%s%s", a1, bob), *v2 = pa_strdupf("%s%s", a2, bob),
	     *v3 = pa_strdupf("%s%s", bob, a3);
	struct pa_daemon *d = pa_daemon_start(f, plain_config, v1);
	struct scrape *sc;
	struct pa_resp r;
	double granted, hits;
	long took_bg, took_req;

	assert_non_null(d);
	assert_int_equal(ask(d, "/auth", "alice", "first-pw", &r, NULL, NULL, NULL), 0);
	check_allow(&r, &profiles[0], "alice", "first allow");
	pa_resp_free(&r);
	expect_decision(d, "outcome", "allow", "cache", "miss", "user", "alice", NULL);
	sc = scrape_new(d);
	granted = backend(sc, "granted");
	hits = metric(sc, "proxyauthd_cache_hits_total", NULL);
	assert_true(granted == 1);
	free(sc);

	assert_int_equal(ask(d, "/auth", "alice", "first-pw", &r, NULL, NULL, NULL), 0);
	check_allow(&r, &profiles[0], "alice", "second allow");
	pa_resp_free(&r);
	expect_decision(d, "outcome", "allow", "cache", "hit", "backend", "htpasswd", NULL);
	sc = scrape_new(d);
	assert_true(backend(sc, "granted") == granted);
	assert_true(metric(sc, "proxyauthd_cache_hits_total", NULL) == hits + 1);
	assert_true(metric(sc, "proxyauthd_cache_entries", NULL) >= 1);
	free(sc);
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL), 0);
	check_allow(&r, &profiles[0], "bob", "bob");
	pa_resp_free(&r);

	/* The password changes (an atomic rewrite) while only the old one is
	 * asked for: every answer would come from the cache for 60 s, so
	 * only the reload (the readiness probe looks every 2 s) dropping
	 * alice's answers can make it fail. */
	assert_int_equal(pa_write_file_atomic(d->htpasswd, v2), 0);
	took_bg = wait_status(d, "alice", "first-pw", 407, 4000);
	if (took_bg < 0)
		fail_msg("the old password still works 4 s after the file changed "
			 "(cache_ttl is 60 s: the reload did not invalidate)");
	expect_decision(d, "outcome", "deny", "cache", "miss", NULL);
	assert_int_equal(ask(d, "/auth", "alice", "second-pw", &r, NULL, NULL, NULL), 0);
	check_allow(&r, &profiles[0], "alice", "the new password");
	pa_resp_free(&r);

	/* Again, this time asking for the new password until it works: the
	 * old one, whose grant was cached a moment ago, must fail at once
	 * after (the reload that let the new one in dropped it). */
	assert_int_equal(ask(d, "/auth", "alice", "second-pw", &r, NULL, NULL, NULL), 0);
	pa_resp_free(&r);
	expect_decision(d, "cache", "hit", NULL);
	assert_int_equal(pa_write_file_atomic(d->htpasswd, v3), 0);
	took_req = wait_status(d, "alice", "third-pw", 204, 3000);
	if (took_req < 0)
		fail_msg("the new password did not work within 3 s");
	assert_int_equal(ask(d, "/auth", "alice", "second-pw", &r, NULL, NULL, NULL), 0);
	check_deny(&r, &profiles[0], "the previous password, cached before the change");
	pa_resp_free(&r);

	/* bob did not change: his answer survived both reloads. */
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL), 0);
	check_allow(&r, &profiles[0], "bob", "bob after the reloads");
	pa_resp_free(&r);
	expect_decision(d, "cache", "hit", NULL);
	print_message("reloads took effect after %ld ms and %ld ms\n", took_bg, took_req);
	free(v1);
	free(v2);
	free(v3);
	free(a1);
	free(a2);
	free(a3);
	free(bob);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- (b) coalescing ------------------------------------------------------ */

#define NTHREADS 16
#define SLOW_PW "slow-but-sure-pw"

struct client {
	const struct pa_daemon *d;
	pthread_barrier_t *go;
	long status;
	char user[1024];
	int rc;
};

static void *
client_run(void *arg)
{
	struct client *c = arg;
	struct pa_resp r;

	pthread_barrier_wait(c->go);
	c->rc = ask(c->d, "/auth", "slow", SLOW_PW, &r, NULL, NULL, NULL);
	c->status = r.status;
	if (r.hdr[H_X_AUTH_USER].count == 1)
		snprintf(c->user, sizeof(c->user), "%s", r.hdr[H_X_AUTH_USER].value);
	pa_resp_free(&r);
	return NULL;
}

static void
test_coalescing(void **state)
{
	struct pa_fixture *f = *state;
	char *slow = pa_htpasswd_line("slow", SLOW_PW, "dev", 12);
	struct pa_daemon *d;
	struct client c[NTHREADS];
	pthread_t t[NTHREADS];
	pthread_barrier_t go;
	struct scrape *before, *after;
	char *log;
	int i, lines, misses;

	assert_non_null(slow);
	d = pa_daemon_start(f, plain_config, slow);
	free(slow);
	assert_non_null(d);
	before = scrape_new(d);
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (i = 0; i < NTHREADS; i++) {
		c[i] = (struct client){ .d = d, .go = &go };
		assert_int_equal(pthread_create(&t[i], NULL, client_run, &c[i]), 0);
	}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NTHREADS; i++)
		if (c[i].rc != 0 || c[i].status != 204 || strcmp(c[i].user, "slow") != 0)
			fail_msg("client %d: rc %d, status %ld, X-Auth-User '%s'", i, c[i].rc,
				 c[i].status, c[i].user);

	after = scrape_new(d);
	if (backend(after, "granted") != backend(before, "granted") + 1)
		fail_msg("%d identical requests made %g backend verifications, not 1", NTHREADS,
			 backend(after, "granted") - backend(before, "granted"));
	assert_true(backend(after, "denied") == backend(before, "denied"));
	assert_true(check_histogram(after, "proxyauthd_backend_duration_seconds", "backend",
				    "htpasswd") ==
		    check_histogram(before, "proxyauthd_backend_duration_seconds", "backend",
				    "htpasswd") + 1);
	assert_true(metric(after, "proxyauthd_requests_total", "profile", "auth", "outcome",
			   "allow", NULL) == NTHREADS);

	/* Not served one after another from the cache: several waited for
	 * the one lookup (they log cache=miss, the lookup being theirs too). */
	log = pa_daemon_log(d);
	lines = pa_count(log, "user=slow profile=auth outcome=allow");
	misses = pa_count(log, "cache=miss");
	free(log);
	assert_int_equal(lines, NTHREADS);
	if (misses < 2)
		fail_msg("only %d of %d requests overlapped the lookup", misses, NTHREADS);
	free(before);
	free(after);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- (c) lockouts -------------------------------------------------------- */

static const char lockout_trusted_config[] =
	"[server]\nlisten = 127.0.0.1:0\ncache_ttl = 60\n"
	"max_failures = 3\nfailure_window = 60\nlockout = 2\nlockout_store = memory\n"
	"trusted_proxies = 127.0.0.1/32\n"
	"[htpasswd]\nfile = @HTPASSWD@\n";

static const char lockout_untrusted_config[] =
	"[server]\nlisten = 127.0.0.1:0\ncache_ttl = 60\ntrusted_proxies =\n"
	"max_failures = 3\nfailure_window = 60\nlockout = 2\n"
	"[htpasswd]\nfile = @HTPASSWD@\n";

static char *lockout_users;	/* alice, bob, carol; made once in main() */

static double
lockouts(const struct pa_daemon *d, const char *kind)
{
	return metric_now(d, "proxyauthd_lockouts_total", "kind", kind);
}

/* Two deny responses an observer cannot tell apart. */
static void
expect_same_deny(const struct pa_resp *a, const struct pa_resp *b)
{
	EXPECT(a->status == b->status && a->body_len == b->body_len &&
	       strcmp(a->hdr[H_PROXY_AUTHENTICATE].value, b->hdr[H_PROXY_AUTHENTICATE].value) ==
		       0 &&
	       a->hdr[H_CONTENT_LENGTH].present == b->hdr[H_CONTENT_LENGTH].present &&
	       strcmp(a->hdr[H_CONTENT_LENGTH].value, b->hdr[H_CONTENT_LENGTH].value) == 0,
	       a, "a lockout looks like a wrong password:\n%s", pa_resp_describe(b));
}

static void
test_lockout_user(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f, lockout_trusted_config, lockout_users);
	struct pa_resp r, wrong;
	struct scrape *sc;
	double flat;
	long t_lock, took;
	int i;

	assert_non_null(d);
	/* A grant in the cache first: a lockout must stop it too. */
	assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r, "X-Forwarded-For: 203.0.113.1",
			     NULL, NULL), 0);
	check_allow(&r, &profiles[0], "alice", "before any failure");
	pa_resp_free(&r);

	/* Three failures under three spellings from three addresses: only
	 * the user's count (case folded) reaches max_failures. */
	assert_int_equal(ask(d, "/auth", "Alice", "wrong-1", &r, "X-Forwarded-For: 203.0.113.2",
			     NULL, NULL), 0);
	check_deny(&r, &profiles[0], "Alice, wrong password");
	pa_resp_free(&r);
	assert_int_equal(ask(d, "/auth", "alice", "wrong-2", &r, "X-Forwarded-For: 203.0.113.3",
			     NULL, NULL), 0);
	check_deny(&r, &profiles[0], "alice, wrong password");
	pa_resp_free(&r);
	assert_true(lockouts(d, "user") == 0);
	t_lock = pa_now_ms();
	assert_int_equal(ask(d, "/auth", "ALICE", "wrong-3", &wrong,
			     "X-Forwarded-For: 203.0.113.4", NULL, NULL), 0);
	check_deny(&wrong, &profiles[0], "ALICE, wrong password");
	assert_true(lockouts(d, "user") == 1);
	assert_true(lockouts(d, "address") == 0);
	flat = backend_total(d);

	/* The right password now gets what a wrong one gets. */
	assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r, "X-Forwarded-For: 203.0.113.5",
			     NULL, NULL), 0);
	check_deny(&r, &profiles[0], "alice locked, right password");
	expect_same_deny(&r, &wrong);
	pa_resp_free(&r);
	expect_decision(d, "outcome", "locked", "user", "alice", "client", "203.0.113.5",
			"level", "warn", NULL);
	assert_int_equal(ask(d, "/auth-request", "aLiCe", "alice-pw", &r,
			     "X-Forwarded-For: 203.0.113.6", NULL, NULL), 0);
	check_deny(&r, &profiles[1], "aLiCe locked on /auth-request");
	pa_resp_free(&r);
	assert_int_equal(ask(d, "/ext-authz", "alice", "wrong-4", &r,
			     "X-Forwarded-For: 203.0.113.6", NULL, NULL), 0);
	check_deny(&r, &profiles[2], "alice locked, wrong password");
	pa_resp_free(&r);
	expect_decision(d, "outcome", "locked", NULL);
	assert_true(backend_total(d) == flat);
	assert_true(lockouts(d, "user") == 1);	/* locked attempts start no new one */
	sc = scrape_new(d);
	for (i = 0; i < NPROFILES; i++)
		assert_true(metric(sc, "proxyauthd_requests_total", "profile", profiles[i].name,
				   "outcome", "locked", NULL) == 1);
	free(sc);

	/* Others are not locked. */
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, "X-Forwarded-For: 203.0.113.7",
			     NULL, NULL), 0);
	check_allow(&r, &profiles[0], "bob", "bob while alice is locked");
	pa_resp_free(&r);

	/* lockout = 2: then the right password works again. */
	took = -1;
	while (pa_now_ms() - t_lock < 5000) {
		assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r,
				     "X-Forwarded-For: 203.0.113.5", NULL, NULL), 0);
		if (r.status == 204) {
			took = pa_now_ms() - t_lock;
			pa_resp_free(&r);
			break;
		}
		check_deny(&r, &profiles[0], "alice while locked");
		pa_resp_free(&r);
		pa_sleep_ms(100);
	}
	if (took < 1900 || took > 4000)
		fail_msg("alice was allowed again %ld ms after the lockout began, want about 2000",
			 took);
	expect_decision(d, "outcome", "allow", "user", "alice", NULL);
	pa_resp_free(&wrong);
	assert_int_equal(pa_daemon_stop(d), 0);
}

static void
test_lockout_address_trusted(void **state)
{
	static const struct {
		const char *h1, *h2;
		long status;
		const char *client;
	} after[] = {
		{ "X-Forwarded-For: 198.51.100.7", NULL, 407, "198.51.100.7" },
		{ "X-Forwarded-For: 198.51.100.8", NULL, 204, "198.51.100.8" },
		/* through one more trusted proxy */
		{ "X-Forwarded-For: 198.51.100.7, 127.0.0.1", NULL, 407, "198.51.100.7" },
		/* the client adds an address of its choice in front */
		{ "X-Forwarded-For: 198.51.100.8, 198.51.100.7", NULL, 407, "198.51.100.7" },
		{ "X-Real-IP: 198.51.100.7", NULL, 407, "198.51.100.7" },
		{ NULL, NULL, 204, "127.0.0.1" },
	};
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f, lockout_trusted_config, lockout_users);
	static const char *const users[] = { "alice", "carol", "nobody" };
	struct pa_resp r;
	double flat;
	size_t i;

	assert_non_null(d);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ask(d, "/auth", users[i], "wrong-pw", &r,
				     "X-Forwarded-For: 198.51.100.7", NULL, NULL), 0);
		check_deny(&r, &profiles[0], users[i]);
		pa_resp_free(&r);
		expect_decision(d, "client", "198.51.100.7", "outcome", "deny", NULL);
	}
	assert_true(lockouts(d, "address") == 1);
	assert_true(lockouts(d, "user") == 0);
	flat = backend_total(d);
	for (i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, after[i].h1, after[i].h2,
				     NULL), 0);
		if (after[i].status == 204)
			check_allow(&r, &profiles[0], "bob", after[i].h1 ? after[i].h1 : "no XFF");
		else
			check_deny(&r, &profiles[0], after[i].h1);
		pa_resp_free(&r);
		expect_decision(d, "client", after[i].client, "outcome",
				after[i].status == 204 ? "allow" : "locked", NULL);
	}
	/* The locked requests asked no backend; the allowed ones came from
	 * the cache after the first. */
	assert_true(backend_total(d) == flat + 1);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* With the default trusted_proxies (loopback), a local proxy that sends no
 * forwarded address is the "client" of every request: its address is never
 * locked (that would lock everyone out), while each user still is. */
static void
test_lockout_proxy_address_never_locked(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\nmax_failures = 3\nfailure_window = 60\n"
		"lockout = 60\n[htpasswd]\nfile = @HTPASSWD@\n", lockout_users);
	static const char *const users[] = { "alice", "carol", "nobody" };
	struct pa_resp r;
	size_t i, k;

	assert_non_null(d);
	char pw[32];

	for (i = 0; i < 3; i++) {
		for (k = 0; k < 3; k++) {
			/* distinct wrong passwords: a repeated one counts once */
			snprintf(pw, sizeof(pw), "wrong-pw-%zu", k);
			assert_int_equal(ask(d, "/auth", users[i], pw, &r, NULL, NULL, NULL), 0);
			assert_int_equal(r.status, 407);
			pa_resp_free(&r);
		}
	}
	/* Nine failures from 127.0.0.1: the users are locked, the address not. */
	assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r, NULL, NULL, NULL), 0);
	assert_int_equal(r.status, 407);
	pa_resp_free(&r);
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL), 0);
	assert_int_equal(r.status, 204);
	pa_resp_free(&r);
	assert_true(lockouts(d, "address") == 0);
	assert_true(lockouts(d, "user") == 3);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* Without trusted_proxies nobody can choose the address it is counted
 * under: failures spread over three X-Forwarded-For values all count
 * against the TCP peer, 127.0.0.1, which is then locked. */
static void
test_lockout_address_untrusted(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f, lockout_untrusted_config, lockout_users);
	static const char *const users[] = { "alice", "carol", "nobody" };
	struct pa_resp r;
	char xff[64];
	size_t i;

	assert_non_null(d);
	for (i = 0; i < 3; i++) {
		snprintf(xff, sizeof(xff), "X-Forwarded-For: 10.0.0.%zu", i + 1);
		assert_int_equal(ask(d, "/auth", users[i], "wrong-pw", &r, xff, NULL, NULL), 0);
		check_deny(&r, &profiles[0], users[i]);
		pa_resp_free(&r);
		expect_decision(d, "client", "127.0.0.1", NULL);
	}
	assert_true(lockouts(d, "address") == 1);
	assert_true(lockouts(d, "user") == 0);
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, "X-Forwarded-For: 10.9.9.9",
			     "X-Real-IP: 10.8.8.8", NULL), 0);
	check_deny(&r, &profiles[0], "bob from a locked 127.0.0.1 claiming 10.9.9.9");
	pa_resp_free(&r);
	expect_decision(d, "client", "127.0.0.1", "outcome", "locked", "user", "bob", NULL);
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL), 0);
	check_deny(&r, &profiles[0], "bob from a locked 127.0.0.1");
	pa_resp_free(&r);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- (d) rules ----------------------------------------------------------- */

static const char rules_config[] =
	"[server]\nlisten = 127.0.0.1:0\nmax_failures = 0\ncache_ttl = 60\n"
	"require_groups = staff\ntrusted_proxies = 192.0.2.1/32\n"
	"[rule admin]\nhost = app.example.org\npath_prefix = /admin\nrequire_groups = admins\n"
	"[rule open]\npath_prefix = /public\nrequire_groups =\n"
	"[rule wiki]\nhost = wiki.example.org\nrequire_groups =\n"
	"[htpasswd]\nfile = @HTPASSWD@\n";

/* root: staff and admins; sam: staff; ada: admins only; otto: none. */
enum { ROOT = 1, SAM = 2, ADA = 4, OTTO = 8, ALL = 15 };

static const char *const rule_users[] = { "root", "sam", "ada", "otto" };

static void
test_rules(void **state)
{
	static const struct {
		const char *h[3];
		int allowed;		/* users allowed; the rest get 403 */
		const char *rule;	/* the rule logged for sam */
	} cases[] = {
		{ { NULL }, ROOT | SAM, NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /admin/users" },
		  ROOT | ADA, "admin" },
		{ { "X-Forwarded-Host: App.Example.ORG:8443", "X-Forwarded-Uri: /admin" },
		  ROOT | ADA, "admin" },
		{ { "X-Forwarded-Host: other.example.org", "X-Forwarded-Uri: /admin" },
		  ROOT | SAM, NULL },
		{ { "X-Forwarded-Uri: /public/x" }, ALL, "open" },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /public/x?a=1" }, ALL,
		  "open" },
		{ { "X-Original-URL: https://app.example.org/admin/x" }, ROOT | ADA, "admin" },
		{ { "X-Original-URL: http://app.example.org:8080/admin?x=1" }, ROOT | ADA,
		  "admin" },
		{ { "X-Original-URL: https://other.example.org/admin/x" }, ROOT | SAM, NULL },
		{ { "X-Original-URL: https://app.example.org/public/a" }, ALL, "open" },
		{ { "X-Forwarded-Host: app.example.org", "X-Original-URI: /admin" }, ROOT | ADA,
		  "admin" },
		/* host from X-Original-URL, path from X-Original-URI */
		{ { "X-Original-URL: https://app.example.org/%61dmin/", "X-Original-URI: /admin/" },
		  ROOT | ADA, "admin" },
		/* X-Forwarded-Uri, X-Original-URI and X-Original-URL must agree:
		 * a proxy that sets one may pass the client's other */
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /public/x",
		    "X-Original-URI: /admin" }, 0, NULL },
		{ { "X-Forwarded-Uri: /public/x", "X-Original-URL: https://app.example.org/admin" },
		  0, NULL },
		{ { "X-Original-URI: /public/x", "X-Original-URL: https://app.example.org/admin" },
		  0, NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /admin/x?a=1",
		    "X-Original-URI: /%61dmin/x?a=2" }, ROOT | ADA, "admin" },
		/* X-Forwarded-Host and the host of X-Original-URL disagree */
		{ { "X-Forwarded-Host: other.example.org",
		    "X-Original-URL: https://app.example.org/admin" }, 0, NULL },
		{ { "X-Forwarded-Host: App.example.org:443",
		    "X-Original-URL: http://app.example.org./admin/x" }, ROOT | ADA, "admin" },
		/* an X-Original-URL that is not absolute names no host, even
		 * when its path holds "x://host" */
		{ { "X-Original-URL: /admin/x://wiki.example.org/" }, ROOT | SAM, NULL },
		/* paths that applications read differently (issue 12): refused */
		{ { "X-Forwarded-Host: app.example.org", "X-Original-URI: /public/../admin" }, 0,
		  NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /public/../admin" }, 0,
		  NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /public/%2e%2e/admin" },
		  0, NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /./admin/./x" }, 0,
		  NULL },
		{ { "X-Original-URL: https://app.example.org/public/../admin" }, 0, NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /admin;x/y" }, 0, NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /%2561dmin/" }, 0, NULL },
		/* the same path spelt differently: the rule decides */
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /%61dmin" }, ROOT | ADA,
		  "admin" },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: //x/admin" }, 0, NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /admin//" }, ROOT | ADA,
		  "admin" },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /ADMIN/x" }, ROOT | ADA,
		  "admin" },
		{ { "X-Forwarded-Host: app.example.org.", "X-Forwarded-Uri: /admin/x" }, ROOT | ADA,
		  "admin" },
		/* whole segments: /administrator is not under /admin */
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /administrator" },
		  ROOT | SAM, NULL },
		/* hosts that are not plain names, and context headers sent twice */
		{ { "X-Forwarded-Host: other.example.org, app.example.org",
		    "X-Forwarded-Uri: /admin/x" }, 0, NULL },
		{ { "X-Forwarded-Host: bob@app.example.org", "X-Forwarded-Uri: /public/x" }, 0,
		  NULL },
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /admin/x",
		    "X-Forwarded-Uri: /public/x" }, 0, NULL },
		{ { "X-Forwarded-Host: other.example.org", "X-Forwarded-Host: app.example.org",
		    "X-Forwarded-Uri: /public/x" }, 0, NULL },
		/* cannot be normalised while rules exist: nobody */
		{ { "X-Forwarded-Host: app.example.org", "X-Forwarded-Uri: /a%zz" }, 0, NULL },
		{ { "X-Forwarded-Uri: /public/%zz" }, 0, NULL },
		{ { "X-Original-URI: /public/%00x" }, 0, NULL },
	};
	struct pa_fixture *f = *state;
	char *users = htpasswd_of("root", "root-pw", "staff,admins", "sam", "sam-pw", "staff",
				  "ada", "ada-pw", "admins", "otto", "otto-pw", NULL, NULL);
	struct pa_daemon *d = pa_daemon_start(f, rules_config, users);
	struct pa_resp r;
	char pw[32], ctx[512];
	size_t i;
	int u, k;

	assert_non_null(d);
	/* A grant for sam in the cache, then the rule says no to it. */
	assert_int_equal(ask(d, "/auth", "sam", "sam-pw", &r, NULL, NULL, NULL), 0);
	check_allow(&r, &profiles[0], "sam", "sam, no context");
	pa_resp_free(&r);
	expect_decision(d, "cache", "miss", "outcome", "allow", NULL);
	assert_int_equal(ask(d, "/auth", "sam", "sam-pw", &r, "X-Forwarded-Host: app.example.org",
			     "X-Forwarded-Uri: /admin", NULL), 0);
	check_forbidden(&r, "sam's cached grant on /admin");
	pa_resp_free(&r);
	expect_decision(d, "cache", "hit", "outcome", "forbidden", "rule", "admin", "host",
			"app.example.org", "uri", "/admin", NULL);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (u = 0; u < 4; u++) {
			for (k = 0; k < NPROFILES; k++) {
				const struct profile *p = &profiles[k];

				snprintf(pw, sizeof(pw), "%s-pw", rule_users[u]);
				snprintf(ctx, sizeof(ctx), "case %zu (%s | %s | %s), %s", i,
					 cases[i].h[0] ? cases[i].h[0] : "-",
					 cases[i].h[1] ? cases[i].h[1] : "-",
					 cases[i].h[2] ? cases[i].h[2] : "-", rule_users[u]);
				assert_int_equal(ask(d, p->path, rule_users[u], pw, &r,
						     cases[i].h[0], cases[i].h[1],
						     cases[i].h[2]), 0);
				if (cases[i].allowed & (1 << u))
					check_allow(&r, p, rule_users[u], ctx);
				else
					check_forbidden(&r, ctx);
				pa_resp_free(&r);
				if (u == 1 && k == 0)
					expect_decision(d, "rule", cases[i].rule, NULL);
			}
		}
		/* Authentication comes first: a wrong password is a deny. */
		assert_int_equal(ask(d, "/auth", "root", "wrong-pw", &r, cases[i].h[0],
				     cases[i].h[1], cases[i].h[2]), 0);
		check_deny(&r, &profiles[0], "wrong password");
		pa_resp_free(&r);
	}
	{
		/* The peer (this test) is not in trusted_proxies: one warning
		 * for hundreds of requests; each refusal says why. */
		char *log = pa_daemon_log(d);

		assert_int_equal(pa_count(log, "not in trusted_proxies"), 1);
		assert_true(pa_count(log, "ambiguous: X-Forwarded-Uri sent twice") > 0);
		assert_true(pa_count(log, "ambiguous: X-Forwarded-Host sent twice") > 0);
		assert_true(pa_count(log, "ambiguous: X-Forwarded-Uri and X-Original-URI "
				     "disagree") > 0);
		assert_true(pa_count(log, "ambiguous: dot segment in the path") > 0);
		free(log);
	}
	free(users);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- (e) metrics --------------------------------------------------------- */

static void
test_metrics(void **state)
{
	struct pa_fixture *f = *state;
	char *users = htpasswd_of("alice", "alice-pw", "dev", "bob", "bob-pw", NULL, NULL);
	struct pa_daemon *d = pa_daemon_start(f, plain_config, users);
	struct scrape *s0, *s1;
	struct pa_resp r;
	double want[NPROFILES][NOUTCOMES] = { { 0 } };
	int i, k;

	assert_non_null(d);
	s0 = scrape_new(d);

	/* Every series SPEC section 8 names. */
	for (i = 0; i < NPROFILES; i++)
		for (k = 0; k < NOUTCOMES; k++)
			assert_true(metric(s0, "proxyauthd_requests_total", "profile",
					   profiles[i].name, "outcome", outcomes[k], NULL) == 0);
	assert_true(check_histogram(s0, "proxyauthd_request_duration_seconds", NULL, NULL) == 0);
	assert_true(backend(s0, "granted") == 0);
	assert_true(backend(s0, "denied") == 0);
	assert_true(backend(s0, "not_found") == 0);
	assert_true(backend(s0, "unavailable") == 0);
	assert_true(check_histogram(s0, "proxyauthd_backend_duration_seconds", "backend",
				    "htpasswd") == 0);
	assert_true(metric(s0, "proxyauthd_cache_hits_total", NULL) == 0);
	assert_true(metric(s0, "proxyauthd_cache_misses_total", NULL) == 0);
	assert_true(metric(s0, "proxyauthd_cache_entries", NULL) == 0);
	assert_true(metric(s0, "proxyauthd_lockouts_total", "kind", "user", NULL) == 0);
	assert_true(metric(s0, "proxyauthd_lockouts_total", "kind", "address", NULL) == 0);
	assert_true(metric(s0, "proxyauthd_backend_up", "backend", "htpasswd", NULL) == 1);
	assert_string_equal(family_find(s0, "proxyauthd_requests_total")->type, "counter");
	assert_string_equal(family_find(s0, "proxyauthd_request_duration_seconds")->type,
			    "histogram");
	assert_string_equal(family_find(s0, "proxyauthd_backend_requests_total")->type,
			    "counter");
	assert_string_equal(family_find(s0, "proxyauthd_backend_duration_seconds")->type,
			    "histogram");
	assert_string_equal(family_find(s0, "proxyauthd_cache_hits_total")->type, "counter");
	assert_string_equal(family_find(s0, "proxyauthd_cache_misses_total")->type, "counter");
	assert_string_equal(family_find(s0, "proxyauthd_cache_entries")->type, "gauge");
	assert_string_equal(family_find(s0, "proxyauthd_lockouts_total")->type, "counter");
	assert_string_equal(family_find(s0, "proxyauthd_backend_up")->type, "gauge");

	/* Known traffic: three allows (one lookup, two hits), a wrong
	 * password, an unknown user, a malformed header, none at all. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r, NULL, NULL, NULL), 0);
		check_allow(&r, &profiles[0], "alice", "allow");
		pa_resp_free(&r);
	}
	want[0][0] = 3;
	assert_int_equal(ask(d, "/auth-request", "bob", "wrong-pw", &r, NULL, NULL, NULL), 0);
	check_deny(&r, &profiles[1], "bob, wrong password");
	pa_resp_free(&r);
	want[1][1] = 1;
	assert_int_equal(ask(d, "/ext-authz", "mallory", "any-pw", &r, NULL, NULL, NULL), 0);
	check_deny(&r, &profiles[2], "unknown user");
	pa_resp_free(&r);
	want[2][1] = 1;
	assert_int_equal(pa_get(d, "GET", "/auth", "Proxy-Authorization: Basic !!!", &r), 0);
	check_deny(&r, &profiles[0], "malformed");
	pa_resp_free(&r);
	want[0][3] = 1;
	assert_int_equal(pa_get(d, "GET", "/auth", NULL, &r), 0);
	check_deny(&r, &profiles[0], "no credentials");
	pa_resp_free(&r);
	want[0][1] = 1;
	/* Not decisions: they count nowhere. */
	assert_int_equal(pa_get(d, "GET", "/healthz", NULL, &r), 0);
	pa_resp_free(&r);
	assert_int_equal(pa_get(d, "GET", "/nope", NULL, &r), 0);
	pa_resp_free(&r);

	s1 = scrape_new(d);
	for (i = 0; i < NPROFILES; i++) {
		for (k = 0; k < NOUTCOMES; k++) {
			double got = metric(s1, "proxyauthd_requests_total", "profile",
					    profiles[i].name, "outcome", outcomes[k], NULL);

			if (got != want[i][k])
				fail_msg("requests_total{profile=%s,outcome=%s} is %g, want %g",
					 profiles[i].name, outcomes[k], got, want[i][k]);
		}
	}
	assert_true(check_histogram(s1, "proxyauthd_request_duration_seconds", NULL, NULL) == 7);
	assert_true(backend(s1, "granted") == 1);
	assert_true(backend(s1, "denied") == 1);
	assert_true(backend(s1, "not_found") == 1);
	assert_true(backend(s1, "unavailable") == 0);
	assert_true(check_histogram(s1, "proxyauthd_backend_duration_seconds", "backend",
				    "htpasswd") == 3);
	assert_true(metric(s1, "proxyauthd_cache_hits_total", NULL) == 2);
	assert_true(metric(s1, "proxyauthd_cache_misses_total", NULL) == 3);
	assert_true(metric(s1, "proxyauthd_cache_entries", NULL) == 3);
	assert_true(metric(s1, "proxyauthd_lockouts_total", "kind", "user", NULL) == 0);
	assert_true(metric(s1, "proxyauthd_backend_up", "backend", "htpasswd", NULL) == 1);

	/* A scrape is not a decision either. */
	free(s0);
	s0 = scrape_new(d);
	assert_true(check_histogram(s0, "proxyauthd_request_duration_seconds", NULL, NULL) == 7);

	/* Only GET and HEAD. */
	assert_int_equal(pa_get(d, "POST", "/metrics", NULL, &r), 0);
	EXPECT(r.status == 405, &r, "POST /metrics");
	pa_resp_free(&r);
	free(s0);
	free(s1);
	free(users);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* ---- (d) the lockout model of issue 16 ----------------------------------- */

/* A GET /auth as user from client, through the trusted loopback proxy;
 * returns the status. */
static long
ask_from(const struct pa_daemon *d, const char *user, const char *password, const char *client)
{
	char xff[128];
	struct pa_resp r;
	long status;

	snprintf(xff, sizeof(xff), "X-Forwarded-For: %s", client);
	assert_int_equal(ask(d, "/auth", user, password, &r, xff, NULL, NULL), 0);
	status = r.status;
	pa_resp_free(&r);
	return status;
}

/* Guesses from rotating addresses while the owner keeps succeeding from
 * its own (cache hits included): the owner's successes no longer erase
 * them, so the user locks for every other address and stays open for the
 * owner's known-good one. */
static void
test_lockout_distributed_guessing(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\ntrusted_proxies = 127.0.0.1/32\n"
		"max_failures = 5\nfailure_window = 60\nlockout = 60\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", lockout_users);
	char client[32], pw[32], outcome[32];
	int i, locked = 0;

	assert_non_null(d);
	for (i = 0; i < 24; i++) {
		if (ask_from(d, "alice", "alice-pw", "192.0.2.10") != 204)
			fail_msg("the owner was refused before guess %d", i);
		snprintf(client, sizeof(client), "198.51.100.%d", i + 1);
		snprintf(pw, sizeof(pw), "guess-%d", i);
		assert_int_equal(ask_from(d, "alice", pw, client), 407);
		pa_last_decision_field(d, "outcome", outcome, sizeof(outcome));
		locked += strcmp(outcome, "locked") == 0;
	}
	/* Five counted, the other nineteen refused unasked. */
	assert_int_equal(locked, 19);
	assert_true(lockouts(d, "user") == 1);
	assert_int_equal(ask_from(d, "alice", "alice-pw", "203.0.113.50"), 407);
	pa_expect_last_decision(d, "outcome", "locked");
	assert_int_equal(ask_from(d, "alice", "alice-pw", "192.0.2.10"), 204);
	/* The exemption is the exact name's: "ALICE" never succeeded from
	 * there, so it is locked like any other variant. */
	assert_int_equal(ask_from(d, "ALICE", "alice-pw", "192.0.2.10"), 407);
	pa_expect_last_decision(d, "outcome", "locked");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* htpasswd keeps "Alice" and "alice" apart, the lockout counts them as one
 * folded user.  The attacker owns "Alice" and logs in as it from each of
 * ten addresses, then again between two guesses at "alice" there (under the
 * per-address threshold): his successes neither clear alice's failures
 * nor exempt him, so three guesses are asked and the rest are locked,
 * while the real alice still gets in from its own known-good address. */
static void
test_lockout_folded_namesake(void **state)
{
	struct pa_fixture *f = *state;
	char *users = htpasswd_of("alice", "alice-pw", NULL, "Alice", "Alice-pw", NULL, NULL);
	struct pa_daemon *d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\ntrusted_proxies = 127.0.0.1/32\n"
		"max_failures = 3\nfailure_window = 60\nlockout = 60\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", users);
	char client[32], pw[32], outcome[32];
	int i, j, asked = 0;

	assert_non_null(d);
	/* Loading the file warned of the pair. */
	assert_true(pa_daemon_wait_log(d, "(line 1) and \\\"Alice\\\" (line 2) fold alike", 1,
				       2000));
	assert_int_equal(ask_from(d, "alice", "alice-pw", "192.0.2.10"), 204);
	for (i = 0; i < 10; i++) {
		snprintf(client, sizeof(client), "198.51.100.%d", i + 1);
		assert_int_equal(ask_from(d, "Alice", "Alice-pw", client), 204);
	}
	for (i = 0; i < 10; i++) {
		snprintf(client, sizeof(client), "198.51.100.%d", i + 1);
		for (j = 0; j < 2; j++) {
			assert_int_equal(ask_from(d, "Alice", "Alice-pw", client), 204);
			snprintf(pw, sizeof(pw), "guess-%d-%d", i, j);
			assert_int_equal(ask_from(d, "alice", pw, client), 407);
			pa_last_decision_field(d, "outcome", outcome, sizeof(outcome));
			asked += strcmp(outcome, "deny") == 0;
		}
	}
	assert_int_equal(asked, 3);
	assert_true(lockouts(d, "user") == 1);
	assert_int_equal(ask_from(d, "alice", "alice-pw", "198.51.100.10"), 407);
	pa_expect_last_decision(d, "outcome", "locked");
	assert_int_equal(ask_from(d, "alice", "alice-pw", "192.0.2.10"), 204);
	assert_int_equal(pa_daemon_stop(d), 0);
	free(users);
}

/* A client retrying one stale password counts once, from the cache or
 * not; distinct wrong passwords still add up. */
static void
test_lockout_stale_password_counts_once(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\ntrusted_proxies = 127.0.0.1/32\n"
		"max_failures = 3\nfailure_window = 60\nlockout = 60\nnegative_ttl = 1\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", lockout_users);
	int i;

	assert_non_null(d);
	for (i = 0; i < 20; i++) {
		assert_int_equal(ask_from(d, "alice", "old-saved-password", "192.0.2.7"), 407);
		pa_expect_last_decision(d, "outcome", "deny");
		if (i == 10)
			pa_sleep_ms(1100);	/* past negative_ttl: asked again */
	}
	assert_true(lockouts(d, "user") == 0 && lockouts(d, "address") == 0);
	assert_int_equal(ask_from(d, "alice", "alice-pw", "198.51.100.1"), 204);
	/* One stale password and two new guesses are three. */
	assert_int_equal(ask_from(d, "alice", "guess-1", "198.51.100.2"), 407);
	assert_int_equal(ask_from(d, "alice", "guess-2", "198.51.100.3"), 407);
	assert_int_equal(ask_from(d, "alice", "alice-pw", "198.51.100.4"), 407);
	pa_expect_last_decision(d, "outcome", "locked");
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* IPv6 clients are counted per /64 (lockout_ipv6_prefix): one host
 * rotating through its prefix is one address. */
static void
test_lockout_ipv6_prefix(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\ntrusted_proxies = 127.0.0.1/32\n"
		"max_failures = 3\nfailure_window = 60\nlockout = 60\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", lockout_users);

	assert_non_null(d);
	assert_int_equal(ask_from(d, "u1", "x", "2001:db8:1:2::1"), 407);
	assert_int_equal(ask_from(d, "u2", "x", "2001:db8:1:2::2"), 407);
	assert_int_equal(ask_from(d, "u3", "x", "2001:db8:1:2:ffff:0:0:3"), 407);
	assert_true(lockouts(d, "address") == 1);
	assert_int_equal(ask_from(d, "bob", "bob-pw", "2001:db8:1:2::99"), 407);
	pa_expect_last_decision(d, "outcome", "locked");
	assert_int_equal(ask_from(d, "bob", "bob-pw", "2001:db8:1:3::1"), 204);
	assert_int_equal(pa_daemon_stop(d), 0);
	/* With /128 each address counts alone. */
	d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\ntrusted_proxies = 127.0.0.1/32\n"
		"max_failures = 3\nfailure_window = 60\nlockout = 60\nlockout_ipv6_prefix = 128\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", lockout_users);
	assert_non_null(d);
	assert_int_equal(ask_from(d, "u1", "x", "2001:db8:1:2::1"), 407);
	assert_int_equal(ask_from(d, "u2", "x", "2001:db8:1:2::2"), 407);
	assert_int_equal(ask_from(d, "u3", "x", "2001:db8:1:2::3"), 407);
	assert_int_equal(ask_from(d, "bob", "bob-pw", "2001:db8:1:2::99"), 204);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* A locked answer is held back, not sent at once: with
 * locked_delay_min_ms = 300 it takes at least that long (a lower bound
 * only; how close locked and wrong answers come is tests/bench's job). */
static void
test_lockout_answer_held_back(void **state)
{
	struct pa_fixture *f = *state;
	struct pa_daemon *d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\nmax_failures = 2\nfailure_window = 60\n"
		"lockout = 60\nlocked_delay_min_ms = 300\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", lockout_users);
	struct pa_resp r;
	long t0, took;

	assert_non_null(d);
	assert_int_equal(ask(d, "/auth", "alice", "wrong-1", &r, NULL, NULL, NULL), 0);
	pa_resp_free(&r);
	assert_int_equal(ask(d, "/auth", "alice", "wrong-2", &r, NULL, NULL, NULL), 0);
	pa_resp_free(&r);
	t0 = pa_now_ms();
	assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r, NULL, NULL, NULL), 0);
	took = pa_now_ms() - t0;
	check_deny(&r, &profiles[0], "locked");
	pa_resp_free(&r);
	pa_expect_last_decision(d, "outcome", "locked");
	if (took < 300)
		fail_msg("a locked answer came after %ld ms, before locked_delay_min_ms", took);
	/* Held answers do not hold up the rest. */
	assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL), 0);
	assert_int_equal(r.status, 204);
	pa_resp_free(&r);
	assert_int_equal(pa_daemon_stop(d), 0);
}

/* Review of issue 16: a locked answer decided at once (on the event loop)
 * skipped the queue of lookups waiting for a worker, while a wrong
 * password waits its turn there.  With the workers busy (here one worker
 * and eight verifications queued ahead), a wrong password took the queue's
 * time and a locked one only the verification's: a clear tell.  A locked
 * answer must wait its turn as well.  Medians of seven probes of each,
 * compared as a ratio (about 0.2 when the locked answer jumps the queue,
 * about 1 when it does not). */
#define BUSY 8		/* verifications queued ahead of each probe */
#define PROBES 7	/* of each kind */

struct busy {
	const struct pa_daemon *d;
};

static void *
busy_run(void *arg)
{
	struct busy *b = arg;
	struct pa_resp r;

	if (ask(b->d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL) == 0)
		pa_resp_free(&r);
	return NULL;
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static void
test_lockout_answer_waits_its_turn(void **state)
{
	struct pa_fixture *f = *state;
	char *users = NULL, *line, *next;
	const char *names[] = { "alice", "bob", "w0", "w1", "w2", "w3", "w4", "w5", "w6" };
	struct pa_daemon *d;
	struct busy b;
	struct pa_resp r;
	pthread_t t[BUSY];
	long locked[PROBES], wrong[PROBES], t0;
	size_t i, k;

	users = strdup("");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *pw = pa_strdupf("%s-pw", names[i]);

		line = pa_htpasswd_line(names[i], pw, NULL, 8);
		assert_non_null(line);
		next = pa_strdupf("%s%s", users, line);
		free(line);
		free(pw);
		free(users);
		users = next;
	}
	d = pa_daemon_start(f,
		"[server]\nlisten = 127.0.0.1:0\nworkers = 1\ncache_size = 0\n"
		"max_failures = 2\nfailure_window = 600\nlockout = 600\n"
		"[htpasswd]\nfile = @HTPASSWD@\n", users);
	free(users);
	assert_non_null(d);
	b.d = d;
	for (i = 0; i < 2; i++) {
		char pw[16];

		snprintf(pw, sizeof(pw), "wrong-%zu", i);
		assert_int_equal(ask(d, "/auth", "alice", pw, &r, NULL, NULL, NULL), 0);
		pa_resp_free(&r);
	}
	for (i = 0; i < 3; i++) {	/* the verification time is known */
		assert_int_equal(ask(d, "/auth", "bob", "bob-pw", &r, NULL, NULL, NULL), 0);
		assert_int_equal(r.status, 204);
		pa_resp_free(&r);
	}
	for (i = 0; i < 2 * PROBES; i++) {
		for (k = 0; k < BUSY; k++)
			assert_int_equal(pthread_create(&t[k], NULL, busy_run, &b), 0);
		usleep(30000);	/* queued behind the one worker */
		t0 = pa_now_ms();
		if (i % 2 == 0) {
			assert_int_equal(ask(d, "/auth", "alice", "alice-pw", &r, NULL, NULL, NULL), 0);
			locked[i / 2] = pa_now_ms() - t0;
			check_deny(&r, &profiles[0], "locked");
			pa_resp_free(&r);
			pa_expect_last_decision(d, "outcome", "locked");
		} else {
			assert_int_equal(ask(d, "/auth", names[2 + i / 2], "wrong", &r, NULL, NULL,
					     NULL), 0);
			wrong[i / 2] = pa_now_ms() - t0;
			check_deny(&r, &profiles[0], "wrong");
			pa_resp_free(&r);
		}
		for (k = 0; k < BUSY; k++)
			pthread_join(t[k], NULL);
	}
	qsort(locked, PROBES, sizeof(long), cmp_long);
	qsort(wrong, PROBES, sizeof(long), cmp_long);
	print_message("median ms with the worker busy: locked %ld, wrong %ld\n", locked[PROBES / 2],
		      wrong[PROBES / 2]);
	/* A locked answer that jumps the queue takes one verification of
	 * nine (a ratio of 0.1-0.2); queued, about 1.  Below 1/3, not 1/2:
	 * on a loaded CI machine the ratio was once 0.47 (locked 103 ms,
	 * wrong 219 ms) with the locked answer queued as it should be. */
	if (locked[PROBES / 2] * 3 < wrong[PROBES / 2])
		fail_msg("a locked answer (median %ld ms) jumps the queue a wrong password "
			 "waits in (median %ld ms)", locked[PROBES / 2], wrong[PROBES / 2]);
	assert_int_equal(pa_daemon_stop(d), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cache_and_reload, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_user, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_address_trusted, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_proxy_address_never_locked, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_address_untrusted, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_distributed_guessing, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_folded_namesake, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_stale_password_counts_once,
						pa_fixture_setup, pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_ipv6_prefix, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_answer_waits_its_turn,
						pa_fixture_setup, pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_lockout_answer_held_back, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_rules, pa_fixture_setup,
						pa_fixture_teardown),
		cmocka_unit_test_setup_teardown(test_metrics, pa_fixture_setup,
						pa_fixture_teardown),
	};
	int rc;

	pa_harness_init();
	lockout_users = htpasswd_of("alice", "alice-pw", "dev", "bob", "bob-pw", NULL, "carol",
				    "carol-pw", "dev", NULL);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(lockout_users);
	return rc;
}
