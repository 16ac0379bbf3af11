/*
 * A private slapd for the integration tests (Debian's slapd and
 * ldap-utils), in the manner of redis_server.h.
 *
 * pa_slapd_start() makes a folder of its own (mkdtemp) and in it a
 * throwaway CA, a server certificate from it for 127.0.0.1 and localhost,
 * and a second, unrelated CA (bad-ca.crt) for the cases where a
 * certificate must not verify; writes a slapd.conf (an mdb database for
 * dc=example,dc=org, the memberof overlay, TLS, and ACLs under which a
 * user may read only its own entry and the groups, while the service
 * account cn=svc,ou=services may read everything but passwords); starts
 * `slapd -d 0` (it stays in the foreground, as our child, with
 * PR_SET_PDEATHSIG) listening on ldap:// and ldaps:// at free ports of
 * 127.0.0.1; waits until the root DSE answers; and loads
 * tests/ldap/fixture.ldif with ldapadd as the rootdn, so that memberof
 * fills in memberOf.  The service account's password is in DIR/svc.secret
 * (mode 0600).
 *
 * pa_slapd_stop() stops it and keeps its folder and ports, so that
 * pa_slapd_restart() brings the same directory back on the same
 * addresses.  pa_slapd_destroy() stops it and removes its folder; safe on
 * a zeroed struct and more than once (cmocka teardown after a failure).
 *
 * Needs redis_server.c's pa_run() and pa_free_port(): a test program
 * #includes "redis_server.c" and then "ldap_server.c".  Not thread-safe.
 */
#ifndef PA_LDAP_SERVER_H
#define PA_LDAP_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#define PA_LDAP_BASE "dc=example,dc=org"
#define PA_LDAP_SVC_DN "cn=svc,ou=services,dc=example,dc=org"
#define PA_LDAP_SVC_PASSWORD "svc-S3cret-4a1"
#define PA_LDAP_ROOT_DN "cn=admin,dc=example,dc=org"
#define PA_LDAP_ROOT_PASSWORD "admin-S3cret-77e"

struct pa_slapd {
	pid_t pid;		/* 0 when not running */
	int port, tls_port;	/* ldap:// and ldaps:// on 127.0.0.1 */
	char dir[200];		/* "" before the first start */
	char conf[260], log[260];
	char ca[260];		/* the CA that signed the server certificate */
	char bad_ca[260];	/* an unrelated CA */
	char svc_secret[260];	/* DIR/svc.secret: the service password, 0600 */
	char uri[64];		/* "ldap://127.0.0.1:PORT" */
	char uris[64];		/* "ldaps://127.0.0.1:TLS_PORT" */
};

/* Starts a new server into s (zeroed first) with the fixture loaded.
 * 0, or -1 after printing why (and its log). */
int pa_slapd_start(struct pa_slapd *s);

/* SIGTERM, up to 5 s, then SIGKILL.  0 when it exited on its own. */
int pa_slapd_stop(struct pa_slapd *s);

/* Starts a stopped server again, same folder, data and ports.  0 or -1. */
int pa_slapd_restart(struct pa_slapd *s);

/* Stops it if it runs and removes its folder. */
void pa_slapd_destroy(struct pa_slapd *s);

/* Runs ldapsearch/ldapwhoami/...: argv[0] and its arguments, NULL-ended.
 * Exit status as pa_run(). */
int pa_ldap_tool(const char *const *argv, char *out, size_t outlen);

#endif
