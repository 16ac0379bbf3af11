/*
 * What the files of the LDAP backend share (backends/ldap/): the
 * backend's state, the shape of one lookup, and the few calls one file
 * makes into another.  Nothing here is used outside backends/ldap/; the
 * backend itself is pa_ldap_ops (backend.h), defined in config.c.
 *
 *   conn.c    one connection (connect, TLS, StartTLS, failover), the
 *             operations on it under a deadline, the pool drivers, probe
 *   entry.c   what a user's entry says: groups, canonical name, expiry
 *   lookup.c  verify: search-then-bind, direct bind, the dummy bind
 *   config.c  the [ldap] keys, open with its -t checks, close
 */
#ifndef PA_LDAPB_H
#define PA_LDAPB_H

#include "backend.h"
#include "connpool.h"
#include "deadline.h"

#include <ldap.h>
#include <stdbool.h>
#include <stdint.h>

#define DN_MAX 2048
#define FILTER_MAX 4096

struct ldapb {
	const struct pa_backend_env *env;
	char *uri, *ca_file, *user_dn_template, *bind_dn, *base_dn, *user_filter;
	char *group_attribute, *group_base_dn, *group_filter, *group_name_attribute;
	char *user_name_attribute;	/* X-Auth-User from the entry (both modes) */
	char *expiry_attribute;		/* when the account expires; "" for none */
	char bind_pw[1024];
	bool starttls, search_mode;
	bool tls;			/* starttls or an ldaps:// URI */
	int n_uris;			/* how many servers uri lists */
	long timeout_ms;
	struct pa_connpool *svc;	/* bound as the service account, nothing else */
	struct pa_connpool *usr;	/* user binds only */
};

/* A comma list of group names.  Only appended to (pa_buf_append: all or
 * nothing, NUL at len), so list[0..len] is all it ever held since it was
 * last reset: that is what a reset or the end of a lookup scrubs. */
struct groups {
	char list[PA_GROUPS_MAX];
	size_t len;
	bool overflow;
};

struct lookup {
	const struct pa_credentials *cred;
	const char *filter;		/* a whole user filter to search with, or
					 * NULL: user_filter with cred's user */
	char name[PA_USER_MAX + 1];	/* the entry's user_name_attribute, or "" */
	int64_t expires_ms;		/* expiry_attribute, Unix ms; 0: none */
	bool expiry_bad;		/* expiry_attribute not understood */
	char dn[DN_MAX];
	int entries;			/* search: how many matched */
	struct groups g;
};

/* One step of a lookup, run on a pooled connection by ldapb_pool_run(). */
typedef int (*step_fn)(struct ldapb *, LDAP *, const struct pa_deadline *, void *,
		       struct pa_error *);

/* conn.c */

/* The pools' drivers: service connections are bound as bind_dn when
 * opened, user connections are opened unbound. */
extern const struct pa_conn_driver ldapb_service_driver;
extern const struct pa_conn_driver ldapb_user_driver;

/* Sets err to what failed, rc's meaning and the server's diagnostic. */
void ldapb_diag(LDAP *ld, int rc, const char *what, struct pa_error *err);

/* A simple bind before dl.  Returns the server's result code
 * (LDAP_SUCCESS, LDAP_INVALID_CREDENTIALS, ...) or an API error; an empty
 * password is LDAP_INAPPROPRIATE_AUTH, never an anonymous bind. */
int ldapb_simple_bind(LDAP *ld, const char *dn, const char *pw, size_t pwlen,
		      const struct pa_deadline *dl);

/* A search before dl whose whole answer comes into *chain (freed by the
 * caller with ldap_msgfree, also on failure).  Returns the result code. */
int ldapb_search(LDAP *ld, const char *base, int scope, const char *filter, char **attrs,
		 int sizelimit, const struct pa_deadline *dl, LDAPMessage **chain);

/* A new connection before dl (bound as bind_dn when service is true), or
 * NULL with err set.  The caller unbinds it. */
LDAP *ldapb_open_conn(const struct ldapb *b, bool service, const struct pa_deadline *dl,
		      struct pa_error *err);

/* Runs fn on a connection of pool p before dl, retried once on a fresh
 * connection when the server had closed a kept one.  Returns what fn
 * returned, LDAP_TIMEOUT or LDAP_CONNECT_ERROR, with err set. */
int ldapb_pool_run(struct ldapb *b, struct pa_connpool *p, const struct pa_deadline *dl,
		   step_fn fn, void *arg, struct pa_error *err);

/* The backend's probe (pa_backend_ops.probe). */
int ldapb_probe(void *ctx, struct pa_error *err);

/* entry.c */

/* Empties g, scrubbing what it held.  Also makes a fresh one (its len 0). */
void ldapb_groups_reset(struct groups *g);

/* Adds the values of attr on entry to g, as DNs (dn_values: the first
 * RDN's value) or as names; bad names are left out, overflow noted. */
void ldapb_groups_from_entry(struct ldapb *b, LDAP *ld, LDAPMessage *entry, const char *attr,
			     bool dn_values, struct groups *g);

/* Adds the groups found under group_base_dn for dn to g.  Returns the
 * search's result code (a size limit hit is success with g->overflow). */
int ldapb_groups_search(struct ldapb *b, LDAP *ld, const char *dn,
			const struct pa_deadline *dl, struct groups *g, struct pa_error *err);

/* The canonical name from attr on entry e into name, or name untouched
 * when the entry has no single fitting value. */
void ldapb_entry_name(LDAP *ld, LDAPMessage *e, const char *attr,
		      const struct pa_credentials *cred, char name[PA_USER_MAX + 1]);

/* expiry_attribute on entry e into l->expires_ms (0: none), or
 * l->expiry_bad when it is not understood. */
void ldapb_entry_expiry(struct ldapb *b, LDAP *ld, LDAPMessage *e, struct lookup *l);

/* lookup.c */

/* The backend's verify (pa_backend_ops.verify). */
enum pa_result ldapb_verify(void *ctx, const struct pa_credentials *cred,
			    struct pa_identity *who, struct pa_error *err);

#endif
