/*
 * Raw directory rates for tests/bench/uncached.sh (not part of the daemon):
 * what the server does without proxyauthd, with the same number of
 * connections and the same distinct users u0..u<USERS-1>.
 *
 *   bench_raw ldap-bind URI CONNS SECONDS USERS BASE PASSWORD
 *       CONNS threads, each with one kept libldap connection, simple-bind
 *       as uid=u<i>,BASE in a loop; prints binds per second.
 *   bench_raw ldap-search-bind URI CONNS SECONDS USERS BASE PASSWORD SVC_DN SVC_PW
 *       the same, each step a subtree search for (uid=u<i>) under BASE on a
 *       kept connection bound as SVC_DN, then a simple bind as the DN found
 *       on a second kept connection; prints pairs per second.
 *   bench_raw ldap-bind-read URI CONNS SECONDS USERS BASE PASSWORD
 *       the floor of a direct-bind answer's directory work: each step a
 *       bind as uid=u<i>,BASE, then a read of that entry (base scope; uid
 *       and memberOf), on CONNS threads with blocking calls, the way
 *       proxyauthd's workers make them; prints pairs per second.
 *   bench_raw ldap-bind-read-async URI CONNS SECONDS USERS BASE PASSWORD
 *       the same pairs on one thread with all CONNS connections, an
 *       operation in flight on each at all times, driven by epoll and
 *       ldap_result() with a zero timeout: the way an event loop would.
 *   The LDAP modes print the rate and this client's own CPU (user +
 *   system, all threads) per step.
 *   bench_raw crypt-cpu HASH PASSWORD N
 *       verifies PASSWORD against HASH N times on one thread; prints the
 *       CPU time of one verification in microseconds (getrusage).
 *   bench_raw crypt PREFIX ROUNDS PASSWORD
 *       prints a hash of PASSWORD ("$5$" 1000 gives sha256crypt, 1000 rounds).
 *
 * Any failed operation stops the run with exit status 1: a rate is only
 * printed when every step succeeded.
 */
#include <crypt.h>
#include <ldap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum mode { BIND, SEARCH_BIND, BIND_READ };

static const char *uri, *base, *password, *svc_dn, *svc_pw;
static int users;
static enum mode mode;
static atomic_long done;
static atomic_int stop, failed;
static char *read_attrs[] = { "uid", "memberOf", NULL };

static LDAP *
open_ld(void)
{
	LDAP *ld = NULL;
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

static void *
worker(void *arg)
{
	long i = (long)(size_t)arg * 7919;
	bool search = mode == SEARCH_BIND;
	LDAP *usr = open_ld(), *svc = search ? open_ld() : NULL;
	char dn[256], filter[64];

	if (usr == NULL || (search && (svc == NULL || bind_as(svc, svc_dn, svc_pw) != 0)))
		atomic_store(&failed, 1);
	while (!atomic_load(&failed) && !atomic_load(&stop)) {
		int u = (int)(i++ % users);

		if (search) {
			char *attrs[] = { "memberOf", NULL }, *edn;
			LDAPMessage *res = NULL, *e;

			snprintf(filter, sizeof(filter), "(uid=u%d)", u);
			if (ldap_search_ext_s(svc, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
					      NULL, NULL, 2, &res) != LDAP_SUCCESS ||
			    (e = ldap_first_entry(svc, res)) == NULL ||
			    (edn = ldap_get_dn(svc, e)) == NULL) {
				ldap_msgfree(res);
				atomic_store(&failed, 1);
				break;
			}
			snprintf(dn, sizeof(dn), "%s", edn);
			ldap_memfree(edn);
			ldap_msgfree(res);
		} else
			snprintf(dn, sizeof(dn), "uid=u%d,%s", u, base);
		if (bind_as(usr, dn, password) != LDAP_SUCCESS) {
			atomic_store(&failed, 1);
			break;
		}
		if (mode == BIND_READ) {
			LDAPMessage *res = NULL;
			bool ok = ldap_search_ext_s(usr, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
						    read_attrs, 0, NULL, NULL, NULL, 1,
						    &res) == LDAP_SUCCESS &&
				  ldap_first_entry(usr, res) != NULL;

			ldap_msgfree(res);
			if (!ok) {
				atomic_store(&failed, 1);
				break;
			}
		}
		atomic_fetch_add(&done, 1);
	}
	if (usr != NULL)
		ldap_unbind_ext(usr, NULL, NULL);
	if (svc != NULL)
		ldap_unbind_ext(svc, NULL, NULL);
	return NULL;
}

/* One connection of the event loop (ldap-bind-read-async). */
struct aconn {
	LDAP *ld;
	int msgid;
	bool reading;		/* the read is in flight, else the bind */
	int user;
	char dn[256];
};

static int
start_bind(struct aconn *c)
{
	struct berval cred = { strlen(password), (char *)password };

	snprintf(c->dn, sizeof(c->dn), "uid=u%d,%s", c->user, base);
	c->reading = false;
	return ldap_sasl_bind(c->ld, c->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &c->msgid);
}

static int
start_read(struct aconn *c)
{
	c->reading = true;
	return ldap_search_ext(c->ld, c->dn, LDAP_SCOPE_BASE, "(objectClass=*)", read_attrs, 0,
			       NULL, NULL, NULL, 1, &c->msgid);
}

/* Takes c's answer if it is whole and starts its next operation.  0 when
 * there is nothing (more) to take, -1 on a failure. */
static int
step(struct aconn *c, long *next_user)
{
	struct timeval zero = { 0, 0 };
	LDAPMessage *res = NULL;
	int rc, err = -1;

	rc = ldap_result(c->ld, c->msgid, LDAP_MSG_ALL, &zero, &res);
	if (rc == 0)
		return 0;
	if (rc < 0)
		return -1;
	if (!c->reading) {
		if (ldap_parse_result(c->ld, res, &err, NULL, NULL, NULL, NULL, 1) != LDAP_SUCCESS ||
		    err != LDAP_SUCCESS)
			return -1;
		return start_read(c) == LDAP_SUCCESS ? 0 : -1;
	}
	rc = ldap_first_entry(c->ld, res) != NULL;
	ldap_msgfree(res);
	if (!rc)
		return -1;
	atomic_fetch_add(&done, 1);
	c->user = (int)((*next_user)++ % users);
	return start_bind(c) == LDAP_SUCCESS ? 0 : -1;
}

static int
run_async(int n, int secs)
{
	struct aconn *cs = calloc((size_t)n, sizeof(*cs));
	struct epoll_event ev, evs[64];
	time_t end = time(NULL) + secs;
	long next_user = 0;
	int ep = epoll_create1(0), i, fd, rc = -1;

	if (cs == NULL || ep < 0)
		goto out;
	for (i = 0; i < n; i++) {
		cs[i].user = (int)(next_user++ % users);
		if ((cs[i].ld = open_ld()) == NULL || start_bind(&cs[i]) != LDAP_SUCCESS ||
		    ldap_get_option(cs[i].ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS)
			goto out;
		ev.events = EPOLLIN;
		ev.data.ptr = &cs[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
			goto out;
	}
	while (time(NULL) < end) {
		int k = epoll_wait(ep, evs, 64, 1000);

		for (i = 0; i < k; i++)
			if (step(evs[i].data.ptr, &next_user) != 0)
				goto out;
	}
	rc = 0;
out:
	for (i = 0; cs != NULL && i < n; i++)
		if (cs[i].ld != NULL)
			ldap_unbind_ext(cs[i].ld, NULL, NULL);
	free(cs);
	if (ep >= 0)
		close(ep);
	return rc;
}

int
main(int argc, char **argv)
{
	if ((argc == 8 && (strcmp(argv[1], "ldap-bind") == 0 ||
			   strcmp(argv[1], "ldap-bind-read") == 0 ||
			   strcmp(argv[1], "ldap-bind-read-async") == 0)) ||
	    (argc == 10 && strcmp(argv[1], "ldap-search-bind") == 0)) {
		int n = atoi(argv[3]), secs = atoi(argv[4]), i;
		bool async = strcmp(argv[1], "ldap-bind-read-async") == 0;
		pthread_t t[64];
		struct rusage ru;

		mode = argc == 10 ? SEARCH_BIND : strcmp(argv[1], "ldap-bind") == 0 ? BIND :
									      BIND_READ;
		uri = argv[2];
		users = atoi(argv[5]);
		base = argv[6];
		password = argv[7];
		svc_dn = mode == SEARCH_BIND ? argv[8] : NULL;
		svc_pw = mode == SEARCH_BIND ? argv[9] : NULL;
		if (n < 1 || n > 64 || secs < 1 || users < 1)
			return 2;
		if (async) {
			if (run_async(n, secs) != 0)
				atomic_store(&failed, 1);
		} else {
			for (i = 0; i < n; i++)
				pthread_create(&t[i], NULL, worker, (void *)(size_t)i);
			sleep((unsigned)secs);
			atomic_store(&stop, 1);
			for (i = 0; i < n; i++)
				pthread_join(t[i], NULL);
		}
		if (atomic_load(&failed)) {
			fprintf(stderr, "bench_raw: an LDAP operation failed\n");
			return 1;
		}
		/* The rate, and this client's own CPU (user + system, all its
		 * threads) per step: what the same directory work costs a bare
		 * libldap client, next to proxyauthd's. */
		getrusage(RUSAGE_SELF, &ru);
		printf("%.0f %.1f\n", (double)atomic_load(&done) / secs,
		       ((double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
			(double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec) /
			       (double)(atomic_load(&done) > 0 ? atomic_load(&done) : 1));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "crypt-cpu") == 0) {
		struct crypt_data cd;
		struct rusage r0, r1;
		int n = atoi(argv[4]), i;
		const char *out;

		memset(&cd, 0, sizeof(cd));
		getrusage(RUSAGE_SELF, &r0);
		for (i = 0; i < n; i++)
			if ((out = crypt_rn(argv[3], argv[2], &cd, sizeof(cd))) == NULL ||
			    strcmp(out, argv[2]) != 0)
				return 1;
		getrusage(RUSAGE_SELF, &r1);
		printf("%.0f\n", ((r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
				  (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
				  (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
				  (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec)) / (n > 0 ? n : 1));
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "crypt") == 0) {
		char setting[CRYPT_GENSALT_OUTPUT_SIZE];
		struct crypt_data cd;

		memset(&cd, 0, sizeof(cd));
		if (crypt_gensalt_rn(argv[2], strtoul(argv[3], NULL, 10), NULL, 0, setting,
				     sizeof(setting)) == NULL)
			return 1;
		puts(crypt_rn(argv[4], setting, &cd, sizeof(cd)));
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of bench_raw.c\n");
	return 2;
}
