/*
 * LDAP timing (a benchmark, never a pass/fail test): on one private slapd
 * (tests/integration/ldap_server.h, the test fixture), the median time of
 *   - one raw simple bind on a kept libldap connection,
 *   - one raw search (as the service account) plus one simple bind, on two
 *     kept connections: what search-then-bind costs without proxyauthd,
 *   - one uncached /auth answer from proxyauthd (cache_ttl = 0) over a
 *     kept HTTP connection, in search-then-bind and in direct-bind mode.
 * Requests go one at a time, cycling over the fixture's users u01..u32.
 *
 * Usage (tests/bench/ldap_timing.sh builds and runs it):
 *   bench_ldap_timing [ROUNDS (400)]
 */
#include "harness.h"
#include "ldap_server.h"
#include "redis_server.h"

#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_server.c"
#include "ldap_server.c"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *t, int n)
{
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%-46s median %7.0f us   p90 %7.0f us   (n=%d)\n", what, t[n / 2], t[n * 9 / 10], n);
}

static LDAP *
connect_ldap(const char *uri)
{
	LDAP *ld;
	int v3 = LDAP_VERSION3;

	if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
		return NULL;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	return ld;
}

static int
bind_as(LDAP *ld, const char *dn, const char *pw)
{
	struct berval cred = { strlen(pw), (char *)pw };

	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

int
main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 400, i, rc = 1;
	double *t = calloc((size_t)rounds, sizeof(double));
	struct pa_fixture f = { 0 };
	struct pa_slapd s;
	LDAP *svc = NULL, *usr = NULL;
	CURL *c = NULL;
	char dn[128], pw[32], user[16];

	setenv("LDAPNOINIT", "1", 1);
	pa_scrub_environment();
	pa_harness_init();
	if (t == NULL || rounds < 10 || pa_tmpdir(f.dir, sizeof(f.dir)) != 0 ||
	    pa_slapd_start(&s) != 0)
		goto done;
	svc = connect_ldap(s.uri);
	usr = connect_ldap(s.uri);
	if (svc == NULL || usr == NULL || bind_as(svc, PA_LDAP_SVC_DN, PA_LDAP_SVC_PASSWORD) != 0)
		goto done;

	for (i = -20; i < rounds; i++) {
		int k = (i + 40) % 32 + 1;
		double t0;

		snprintf(dn, sizeof(dn), "uid=u%02d,ou=people," PA_LDAP_BASE, k);
		snprintf(pw, sizeof(pw), "pw-u%02d", k);
		t0 = now_us();
		if (bind_as(usr, dn, pw) != LDAP_SUCCESS)
			goto done;
		if (i >= 0)
			t[i] = now_us() - t0;
	}
	report("raw simple bind (libldap, kept connection)", t, rounds);

	for (i = -20; i < rounds; i++) {
		int k = (i + 40) % 32 + 1;
		char filter[64], *attrs[] = { "memberOf", NULL }, *edn;
		LDAPMessage *res = NULL, *e;
		double t0;

		snprintf(filter, sizeof(filter), "(&(objectClass=inetOrgPerson)(uid=u%02d))", k);
		snprintf(pw, sizeof(pw), "pw-u%02d", k);
		t0 = now_us();
		if (ldap_search_ext_s(svc, PA_LDAP_BASE, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
				      NULL, NULL, 2, &res) != LDAP_SUCCESS ||
		    (e = ldap_first_entry(svc, res)) == NULL || (edn = ldap_get_dn(svc, e)) == NULL) {
			ldap_msgfree(res);
			goto done;
		}
		rc = bind_as(usr, edn, pw);
		ldap_memfree(edn);
		ldap_msgfree(res);
		if (rc != LDAP_SUCCESS)
			goto done;
		if (i >= 0)
			t[i] = now_us() - t0;
	}
	report("raw search + simple bind (libldap)", t, rounds);

	for (int mode = 0; mode < 2; mode++) {
		char *conf = mode == 0 ?
			pa_strdupf("[server]\nlisten = 127.0.0.1:0\ncache_ttl = 0\nnegative_ttl = 0\n"
				   "max_failures = 0\nbackends = ldap\n[ldap]\n"
				   "uri = %s\nbind_dn = " PA_LDAP_SVC_DN "\nbind_password_file = %s\n"
				   "base_dn = " PA_LDAP_BASE "\npool_size = 2\n", s.uri, s.svc_secret) :
			pa_strdupf("[server]\nlisten = 127.0.0.1:0\ncache_ttl = 0\nnegative_ttl = 0\n"
				   "max_failures = 0\nbackends = ldap\n[ldap]\n"
				   "uri = %s\nuser_dn_template = uid=%%u,ou=people," PA_LDAP_BASE "\n"
				   "pool_size = 2\n", s.uri);
		struct pa_daemon *d = pa_daemon_start(&f, conf, NULL);

		free(conf);
		if (d == NULL || (c = curl_easy_init()) == NULL)
			goto done;
		for (i = -20; i < rounds; i++) {
			int k = (i + 40) % 32 + 1;
			char hdr[256], basic[200];
			struct pa_req req = { 0 };
			struct pa_resp r;
			double t0;

			snprintf(user, sizeof(user), "u%02d", k);
			snprintf(pw, sizeof(pw), "pw-u%02d", k);
			pa_basic(user, pw, basic, sizeof(basic));
			snprintf(hdr, sizeof(hdr), "Proxy-Authorization: %s", basic);
			req.path = "/auth";
			req.headers[0] = hdr;
			req.reuse = c;
			t0 = now_us();
			if (pa_request(d, &req, &r) != 0 || r.status != 204) {
				fprintf(stderr, "unexpected answer: %s\n", pa_resp_describe(&r));
				pa_resp_free(&r);
				goto done;
			}
			pa_resp_free(&r);
			if (i >= 0)
				t[i] = now_us() - t0;
		}
		report(mode == 0 ? "proxyauthd /auth, search-then-bind, uncached" :
		       "proxyauthd /auth, direct bind, uncached", t, rounds);
		/* Does the time tell whether a user exists?  Wrong passwords for
		 * existing users against unknown users, alternating. */
		{
			double *tu = calloc((size_t)rounds, sizeof(double));

			if (tu == NULL)
				goto done;
			for (i = -20; i < rounds; i++) {
				int k = (i + 40) % 32 + 1, which;

				for (which = 0; which < 2; which++) {
					char hdr[256], basic[200];
					struct pa_req req = { 0 };
					struct pa_resp r;
					double t0;

					snprintf(user, sizeof(user), which == 0 ? "u%02d" : "nobody%02d", k);
					pa_basic(user, "wrong-password", basic, sizeof(basic));
					snprintf(hdr, sizeof(hdr), "Proxy-Authorization: %s", basic);
					req.path = "/auth";
					req.headers[0] = hdr;
					req.reuse = c;
					t0 = now_us();
					if (pa_request(d, &req, &r) != 0 || r.status != 407) {
						fprintf(stderr, "unexpected answer: %s\n",
							pa_resp_describe(&r));
						pa_resp_free(&r);
						free(tu);
						goto done;
					}
					pa_resp_free(&r);
					if (i >= 0)
						(which == 0 ? t : tu)[i] = now_us() - t0;
				}
			}
			qsort(t, (size_t)rounds, sizeof(double), cmp);
			qsort(tu, (size_t)rounds, sizeof(double), cmp);
			printf("%-46s existing %7.0f us   unknown %7.0f us   ratio %.2f\n",
			       mode == 0 ? "wrong password, search-then-bind" :
					   "wrong password, direct bind",
			       t[rounds / 2], tu[rounds / 2], tu[rounds / 2] / t[rounds / 2]);
			free(tu);
		}
		curl_easy_cleanup(c);
		c = NULL;
		pa_daemon_stop(d);
	}
	rc = 0;
done:
	if (rc != 0)
		fprintf(stderr, "ldap_timing: failed\n");
	if (c != NULL)
		curl_easy_cleanup(c);
	if (svc != NULL)
		ldap_unbind_ext(svc, NULL, NULL);
	if (usr != NULL)
		ldap_unbind_ext(usr, NULL, NULL);
	{
		void *fs = calloc(1, sizeof(f));

		if (fs != NULL) {
			memcpy(fs, &f, sizeof(f));
			pa_fixture_teardown(&fs);
		}
	}
	pa_slapd_destroy(&s);
	free(t);
	return rc;
}
