/*
 * The floor of the directory work behind one uncached direct-bind answer,
 * for tests/bench/uncached.sh (not part of the daemon): bind as
 * uid=u<i>,BASE, then read that entry (base scope; uid and memberOf), the
 * two operations proxyauthd's direct bind makes per answer, on CONNS kept
 * libldap connections:
 *
 *   ldap_floor sync URI CONNS SECONDS USERS BASE PASSWORD
 *       CONNS threads, each with its connection and blocking calls
 *       (ldap_sasl_bind_s, ldap_search_ext_s): the way proxyauthd's
 *       workers run them.
 *   ldap_floor async URI CONNS SECONDS USERS BASE PASSWORD
 *       one thread with all CONNS connections, an operation in flight on
 *       each at all times, driven by epoll and ldap_result() with a zero
 *       timeout: the way an event loop would run them.
 *
 * Prints pairs per second and this client's own CPU (user + system, all
 * threads) per pair.  Any failed operation stops the run with status 1.
 */
#include <ldap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *uri, *base, *password;
static int users;
static atomic_long done;
static atomic_int stop, failed;
static char *attrs[] = { "uid", "memberOf", NULL };

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

static void
user_dn(char *dn, size_t len, int u)
{
	snprintf(dn, len, "uid=u%d,%s", u, base);
}

/* One answer's directory work, blocking: bind, then read the own entry. */
static int
pair_sync(LDAP *ld, int u)
{
	struct berval cred = { strlen(password), (char *)password };
	LDAPMessage *res = NULL;
	char dn[256];
	int ok;

	user_dn(dn, sizeof(dn), u);
	if (ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) != LDAP_SUCCESS)
		return -1;
	ok = ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL,
			       NULL, 1, &res) == LDAP_SUCCESS &&
	     ldap_first_entry(ld, res) != NULL;
	ldap_msgfree(res);
	return ok ? 0 : -1;
}

static void *
worker(void *arg)
{
	long i = (long)(size_t)arg * 7919;
	LDAP *ld = open_ld();

	if (ld == NULL)
		atomic_store(&failed, 1);
	while (!atomic_load(&failed) && !atomic_load(&stop)) {
		if (pair_sync(ld, (int)(i++ % users)) != 0) {
			atomic_store(&failed, 1);
			break;
		}
		atomic_fetch_add(&done, 1);
	}
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	return NULL;
}

struct conn {
	LDAP *ld;
	int msgid;
	int reading;		/* 0: the bind is in flight; 1: the read */
	int user;
	char dn[256];
};

static int
start_bind(struct conn *c)
{
	struct berval cred = { strlen(password), (char *)password };

	user_dn(c->dn, sizeof(c->dn), c->user);
	c->reading = 0;
	return ldap_sasl_bind(c->ld, c->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &c->msgid);
}

static int
start_read(struct conn *c)
{
	c->reading = 1;
	return ldap_search_ext(c->ld, c->dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL,
			       NULL, NULL, 1, &c->msgid);
}

/* Takes c's answer if it is whole, and starts its next operation.  0 when
 * there is nothing (more) to take, -1 on a failure. */
static int
step(struct conn *c, long *next_user)
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
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
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
	int n, secs, i, async;
	pthread_t t[64];
	struct rusage ru;
	long d;

	if (argc != 8 || (strcmp(argv[1], "sync") != 0 && strcmp(argv[1], "async") != 0)) {
		fprintf(stderr, "usage: see the comment at the top of ldap_floor.c\n");
		return 2;
	}
	async = strcmp(argv[1], "async") == 0;
	uri = argv[2];
	n = atoi(argv[3]);
	secs = atoi(argv[4]);
	users = atoi(argv[5]);
	base = argv[6];
	password = argv[7];
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
		fprintf(stderr, "ldap_floor: an LDAP operation failed\n");
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	d = atomic_load(&done) > 0 ? atomic_load(&done) : 1;
	printf("%.0f %.1f\n", (double)atomic_load(&done) / secs,
	       ((double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
		(double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec) / (double)d);
	return 0;
}
