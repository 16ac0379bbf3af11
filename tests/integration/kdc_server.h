/*
 * A private MIT Kerberos KDC for the integration tests (Debian's krb5-kdc,
 * krb5-admin-server and krb5-user), in the manner of ldap_server.h.
 *
 * pa_kdc_start() makes a folder of its own (mkdtemp) and in it a krb5.conf
 * and a kdc.conf naming realm EXAMPLE.ORG on a free port of 127.0.0.1,
 * points KRB5_CONFIG and KRB5_KDC_PROFILE of this process at them (so the
 * tools, the daemons it starts and the GSS-API calls of the test all see
 * this KDC and nothing else), makes the realm with `kdb5_util create -s`,
 * and starts `krb5kdc -n` (foreground, our child, PR_SET_PDEATHSIG).
 * Principals and keytabs are made with kadmin.local; users get tickets
 * with kinit from a keytab into a ccache of their own (KRB5CCNAME is never
 * set: the test names the ccache in every call).
 *
 * pa_kdc_destroy() stops the KDC by its PID, removes the folder and
 * unsets the two variables; safe on a zeroed struct and more than once.
 * Needs redis_server.c's pa_run() and pa_free_port(): a test program
 * #includes "redis_server.c" and then "kdc_server.c".  Not thread-safe.
 */
#ifndef PA_KDC_SERVER_H
#define PA_KDC_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#define PA_KDC_REALM "EXAMPLE.ORG"
/* The clock skew the KDC's krb5.conf allows, in seconds: a ticket is
 * refused this long after its end, and a token this long after it was
 * made. */
#define PA_KDC_CLOCKSKEW 3
#define PA_KDC_CLOCKSKEW_TEXT "3"

struct pa_kdc {
	pid_t pid;		/* 0 when not running */
	int port;
	char dir[200];
	char krb5_conf[260], kdc_conf[260], log[260];
};

/* Starts a new KDC into k (zeroed first).  0, or -1 after printing why. */
int pa_kdc_start(struct pa_kdc *k);

/* Stops it if it runs, removes its folder, unsets the variables. */
void pa_kdc_destroy(struct pa_kdc *k);

/* Runs one kadmin.local query ("addprinc -randkey alice").  0 or -1. */
int pa_kdc_admin(struct pa_kdc *k, const char *query);

/* Adds principal with a random key and writes its keys to keytab (a path;
 * appended to when it exists).  0 or -1. */
int pa_kdc_add_keytab(struct pa_kdc *k, const char *principal, const char *keytab);

/* kinit principal from keytab into ccache (a path), for lifetime (kinit's
 * -l syntax: "10h", "8s"; NULL for the default).  0 or -1. */
int pa_kdc_kinit(struct pa_kdc *k, const char *principal, const char *keytab,
		 const char *ccache, const char *lifetime);

/*
 * A Negotiate token from ccache for target (a principal such as
 * "HTTP/proxy.example.org@EXAMPLE.ORG"), in base64 into out: SPNEGO
 * wrapped when spnego is true, else the raw Kerberos token; mutual asks
 * for mutual authentication.  0, or -1 after printing the GSS error.
 */
int pa_kdc_token(const char *ccache, const char *target, int spnego, int mutual, char *out,
		 size_t len);

#endif
