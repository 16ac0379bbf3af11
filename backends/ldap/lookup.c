/*
 * LDAP backend (SPEC section 4) on OpenLDAP's libldap.
 *
 * Two modes.  Direct bind: the user's DN is user_dn_template with %u
 * DN-escaped (RFC 4514), and a simple bind with the password decides.
 * Search-then-bind: a service account (bind_dn, bind_password_file)
 * searches base_dn with user_filter (%u filter-escaped, RFC 4515); no
 * match is not found, more than one is a denial, one is bound as with the
 * password.  Groups come from group_attribute on the user's entry (the
 * first RDN value of each DN, e.g. memberOf), or from a search under
 * group_base_dn with group_filter (%d the user's DN, filter-escaped)
 * taking group_name_attribute.
 *
 * Connections: two pools of pool_size each.  Service connections are
 * bound as the service account when opened and never see any other bind;
 * user connections only ever carry user binds (and, in direct mode, the
 * user's own group lookups right after the bind, on the same loan).  So a
 * service search never runs on a connection bound as a user, whatever
 * happened before.  A kept connection that turns out closed (the server
 * restarted) is retried once on a fresh one; a connection that timed out
 * or failed in any other way is discarded, never reused.
 *
 * Time: one deadline of timeout_ms per lookup bounds everything in it,
 * the wait for a free connection, connect (LDAP_OPT_NETWORK_TIMEOUT), the
 * TLS handshake, StartTLS, binds and searches (asynchronous calls and
 * ldap_result() with what is left), so a server that accepts and never
 * answers gives PA_UNAVAILABLE after about timeout_ms.
 *
 * libldap's own configuration (ldap.conf, ldaprc, LDAP* variables) is
 * switched off with LDAPNOINIT before its first call; referrals are not
 * followed; TLS certificates must verify (DEMAND) against ca_file or the
 * system bundle.  An empty password is refused here too, whatever the
 * pipeline did: a simple bind without one is an anonymous bind that
 * succeeds.
 */
#include "backend.h"
#include "clock.h"
#include "connpool.h"
#include "fold.h"
#include "ldap_escape.h"
#include "secret.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define DN_MAX 2048
#define FILTER_MAX 4096

static const struct pa_conf_key ldap_keys[] = {
	{ "uri", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "starttls", PA_CONF_BOOL, 0, 0, "false", NULL, NULL },
	{ "ca_file", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "timeout_ms", PA_CONF_INT, 10, 60000, "3000", NULL, NULL },
	{ "pool_size", PA_CONF_INT, 1, 256, "8", NULL, NULL },
	{ "user_dn_template", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "bind_dn", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "bind_password_file", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "base_dn", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "user_filter", PA_CONF_STRING, 0, 0, "(&(objectClass=inetOrgPerson)(uid=%u))", NULL, NULL },
	{ "group_attribute", PA_CONF_STRING, 0, 0, "memberOf", NULL, NULL },
	{ "group_base_dn", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "group_filter", PA_CONF_STRING, 0, 0, "(member=%d)", NULL, NULL },
	{ "group_name_attribute", PA_CONF_STRING, 0, 0, "cn", NULL, NULL },
	{ "user_name_attribute", PA_CONF_STRING, 0, 0, "uid", NULL, NULL },
	{ "expiry_attribute", PA_CONF_STRING, 0, 0, "", NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

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

/* ---- one connection ---------------------------------------------------- */

static void
diag(LDAP *ld, int rc, const char *what, struct pa_error *err)
{
	char *msg = NULL;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg);
	pa_error_set(err, "%s: %s%s%s", what, rc == LDAP_TIMEOUT ?
		     "no answer within timeout_ms" : ldap_err2string(rc),
		     msg != NULL && msg[0] != '\0' ? ": " : "", msg != NULL ? msg : "");
	ldap_memfree(msg);
}

/* Waits for the whole answer to msgid.  Returns LDAP_SUCCESS with *res,
 * or an API error (LDAP_TIMEOUT, LDAP_SERVER_DOWN, ...). */
static int
wait_result(LDAP *ld, int msgid, const struct pa_deadline *dl, LDAPMessage **res)
{
	struct timeval tv;
	int rc, e = LDAP_SERVER_DOWN;

	*res = NULL;
	if (!pa_deadline_left_tv(dl, pa_now_us(), &tv))
		return LDAP_TIMEOUT;
	rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, res);
	if (rc == 0) {
		ldap_msgfree(*res);
		*res = NULL;
		return LDAP_TIMEOUT;
	}
	if (rc < 0) {
		(void)ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &e);
		ldap_msgfree(*res);
		*res = NULL;
		return e == LDAP_SUCCESS || !LDAP_API_ERROR(e) ? LDAP_SERVER_DOWN : e;
	}
	return LDAP_SUCCESS;
}

/* A simple bind.  Returns the server's result code (LDAP_SUCCESS,
 * LDAP_INVALID_CREDENTIALS, ...) or an API error. */
static int
simple_bind(LDAP *ld, const char *dn, const char *pw, size_t pwlen,
	    const struct pa_deadline *dl)
{
	struct berval cred = { (ber_len_t)pwlen, (char *)pw };
	LDAPMessage *res;
	int msgid, rc, code;

	if (pwlen == 0)
		return LDAP_INAPPROPRIATE_AUTH;	/* never an anonymous bind */
	if ((rc = ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid)) != 0)
		return rc;
	if ((rc = wait_result(ld, msgid, dl, &res)) != LDAP_SUCCESS)
		return rc;
	rc = ldap_parse_result(ld, res, &code, NULL, NULL, NULL, NULL, 1);
	return rc != LDAP_SUCCESS ? rc : code;
}

/* A search whose whole answer comes into *chain (freed by the caller with
 * ldap_msgfree, also on failure).  Returns the result code. */
static int
search(LDAP *ld, const char *base, int scope, const char *filter, char **attrs, int sizelimit,
       const struct pa_deadline *dl, LDAPMessage **chain)
{
	struct timeval tv;
	LDAPMessage *r;
	int msgid, rc, code;

	*chain = NULL;
	if (!pa_deadline_left_tv(dl, pa_now_us(), &tv))
		return LDAP_TIMEOUT;
	rc = ldap_search_ext(ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, sizelimit, &msgid);
	if (rc != LDAP_SUCCESS)
		return rc;
	if ((rc = wait_result(ld, msgid, dl, chain)) != LDAP_SUCCESS)
		return rc;
	if ((r = ldap_first_message(ld, *chain)) == NULL)
		return LDAP_DECODING_ERROR;
	while (r != NULL && ldap_msgtype(r) != LDAP_RES_SEARCH_RESULT)
		r = ldap_next_message(ld, r);
	if (r == NULL)
		return LDAP_DECODING_ERROR;
	rc = ldap_parse_result(ld, r, &code, NULL, NULL, NULL, NULL, 0);
	return rc != LDAP_SUCCESS ? rc : code;
}

static int
set_opt(LDAP *ld, int opt, const void *value, const char *name, struct pa_error *err)
{
	if (ldap_set_option(ld, opt, value) != LDAP_OPT_SUCCESS) {
		pa_error_set(err, "cannot set %s", name);
		return -1;
	}
	return 0;
}

/*
 * libldap bounds a TLS handshake by LDAP_OPT_NETWORK_TIMEOUT only in its
 * "asynchronous connect" mode; otherwise it turns the socket non-blocking
 * and retries the handshake in a busy loop, forever when the server never
 * answers.  So the handshake runs in that mode: for ldaps:// this
 * callback switches it on right after the TCP connect (still synchronous,
 * so failover to the next URI keeps working), for StartTLS start_tls()
 * does, and open_conn() switches it off again once the handshake is done.
 */
static void
handshake_mode(LDAP *ld, ber_socket_t fd, bool on)
{
	int fl;

	if (on && fd >= 0 && (fl = fcntl(fd, F_GETFL)) >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	(void)ldap_set_option(ld, LDAP_OPT_CONNECT_ASYNC, on ? LDAP_OPT_ON : LDAP_OPT_OFF);
}

static int
conn_added(LDAP *ld, Sockbuf *sb, LDAPURLDesc *srv, struct sockaddr *addr,
	   struct ldap_conncb *ctx)
{
	ber_socket_t fd = -1;

	(void)addr;
	(void)ctx;
	if (srv != NULL && srv->lud_scheme != NULL && strcasecmp(srv->lud_scheme, "ldaps") == 0) {
		(void)ber_sockbuf_ctrl(sb, LBER_SB_OPT_GET_FD, &fd);
		handshake_mode(ld, fd, true);
	}
	return 0;
}

static void
conn_deleted(LDAP *ld, Sockbuf *sb, struct ldap_conncb *ctx)
{
	(void)ld;
	(void)sb;
	(void)ctx;
}

static struct ldap_conncb conn_callbacks = { conn_added, conn_deleted, NULL };

/* A handle on uri with every option set, not yet connected. */
static LDAP *
new_handle(const struct ldapb *b, struct timeval tv, struct pa_error *err)
{
	const int v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND;
	const int tls12 = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2, client = 0;
	LDAP *ld = NULL;
	int rc;

	if ((rc = ldap_initialize(&ld, b->uri)) != LDAP_SUCCESS) {
		pa_error_set(err, "uri: %s", ldap_err2string(rc));
		return NULL;
	}
	if (set_opt(ld, LDAP_OPT_PROTOCOL_VERSION, &v3, "protocol version", err) != 0 ||
	    set_opt(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF, "referrals", err) != 0 ||
	    set_opt(ld, LDAP_OPT_RESTART, LDAP_OPT_ON, "restart", err) != 0 ||
	    set_opt(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv, "network timeout", err) != 0 ||
	    set_opt(ld, LDAP_OPT_TIMEOUT, &tv, "timeout", err) != 0 ||
	    set_opt(ld, LDAP_OPT_CONNECT_CB, &conn_callbacks, "connect callback", err) != 0)
		goto fail;
	/* TLS settings of this handle only (a context of its own), and only
	 * when TLS is used: a host without a CA bundle can still use ldap://. */
	if (b->tls &&
	    (set_opt(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand, "TLS require cert", err) != 0 ||
	     set_opt(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tls12, "TLS minimum", err) != 0 ||
	     set_opt(ld, LDAP_OPT_X_TLS_CACERTFILE, b->ca_file[0] != '\0' ? b->ca_file :
		     DEFAULT_CA_BUNDLE, "ca_file", err) != 0 ||
	     set_opt(ld, LDAP_OPT_X_TLS_NEWCTX, &client, "TLS context (ca_file)", err) != 0))
		goto fail;
	return ld;
fail:
	ldap_unbind_ext(ld, NULL, NULL);
	return NULL;
}

/*
 * Opens a connection before dl: connect (trying each URI in turn),
 * StartTLS when asked, and the service bind when service is true.
 * Returns the handle or NULL with err set.
 */
static LDAP *
open_conn(const struct ldapb *b, bool service, const struct pa_deadline *dl,
	  struct pa_error *err)
{
	struct timeval tv;
	LDAP *ld;
	int rc;

	if (!pa_deadline_left_tv(dl, pa_now_us(), &tv)) {
		pa_error_set(err, "no answer within timeout_ms");
		return NULL;
	}
	if ((ld = new_handle(b, tv, err)) == NULL)
		return NULL;
	/* libldap gives each URI in turn the whole network timeout: a first
	 * server that drops packets would use up the deadline before the
	 * second is tried.  Each gets its share. */
	if (b->n_uris > 1) {
		uint64_t us = ((uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec) /
			      (uint64_t)b->n_uris;
		struct timeval share = { (time_t)(us / 1000000u), (suseconds_t)(us % 1000000u) };

		(void)ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &share);
	}
	rc = ldap_connect(ld);
	handshake_mode(ld, -1, false);
	if (rc != LDAP_SUCCESS) {
		diag(ld, rc, "cannot connect", err);
		goto fail;
	}
	if (b->starttls) {
		if (!pa_deadline_left_tv(dl, pa_now_us(), &tv)) {
			diag(ld, LDAP_TIMEOUT, "StartTLS", err);
			goto fail;
		}
		(void)ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
		(void)ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
		ber_socket_t fd = -1;
		(void)ldap_get_option(ld, LDAP_OPT_DESC, &fd);
		handshake_mode(ld, fd, true);
		rc = ldap_start_tls_s(ld, NULL, NULL);
		handshake_mode(ld, -1, false);
		if (rc != LDAP_SUCCESS) {
			diag(ld, rc, "StartTLS", err);
			goto fail;
		}
	}
	if (service) {
		rc = simple_bind(ld, b->bind_dn, b->bind_pw, strlen(b->bind_pw), dl);
		if (rc != LDAP_SUCCESS) {
			diag(ld, rc, "service account bind (bind_dn)", err);
			goto fail;
		}
	}
	return ld;
fail:
	ldap_unbind_ext(ld, NULL, NULL);
	return NULL;
}

/* ---- pools (lib/connpool.c) --------------------------------------------- */

static void *
open_service(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	return open_conn(ctx, true, dl, err);
}

static void *
open_user(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	return open_conn(ctx, false, dl, err);
}

static void
close_conn(void *ctx, void *conn)
{
	(void)ctx;
	ldap_unbind_ext(conn, NULL, NULL);
}

static const struct pa_conn_driver service_driver = { "ldap", open_service, close_conn };
static const struct pa_conn_driver user_driver = { "ldap", open_user, close_conn };

typedef int (*step_fn)(struct ldapb *, LDAP *, const struct pa_deadline *, void *,
		       struct pa_error *);

struct step {
	struct ldapb *b;
	step_fn fn;
	void *arg;
	int rc;
};

/* Runs a step and says what its result code means for the connection. */
static enum pa_conn_status
run_step(void *conn, const struct pa_deadline *dl, void *arg, struct pa_error *err)
{
	struct step *s = arg;

	s->rc = s->fn(s->b, conn, dl, s->arg, err);
	if (s->rc == LDAP_SUCCESS)
		return PA_CONN_OK;
	if (s->rc == LDAP_SERVER_DOWN)
		return PA_CONN_CLOSED_BY_SERVER;
	if (s->rc == LDAP_TIMEOUT)
		return PA_CONN_TIMEOUT;
	return LDAP_API_ERROR(s->rc) ? PA_CONN_BROKEN : PA_CONN_REFUSED;
}

/*
 * Runs fn on a connection of pool p before dl (see lib/connpool.h: one
 * retry on a fresh connection when the server had closed a kept one).
 * Returns what fn returned, LDAP_TIMEOUT when no connection came free in
 * time, or LDAP_CONNECT_ERROR when none could be opened, with err set.
 * fn must start from scratch each time it is called.
 */
static int
pool_run(struct ldapb *b, struct pa_connpool *p, const struct pa_deadline *dl, step_fn fn,
	 void *arg, struct pa_error *err)
{
	struct step s = { b, fn, arg, LDAP_TIMEOUT };
	enum pa_conn_status st = pa_connpool_run(p, dl, run_step, &s, err);

	if (st == PA_CONN_OPEN_FAILED)
		return LDAP_CONNECT_ERROR;
	return st == PA_CONN_TIMEOUT ? LDAP_TIMEOUT : s.rc;
}

/* ---- groups -------------------------------------------------------------- */

struct groups {
	char list[PA_GROUPS_MAX];
	size_t len;
	bool overflow;
};

/* Adds one group name (len bytes) to g, refusing names that would break
 * the comma list or the header. */
static void
group_add(struct ldapb *b, struct groups *g, const char *name, size_t len)
{
	if (len == 0)
		return;
	if (!pa_utf8_valid(name, len) || pa_has_control(name, len) ||
	    memchr(name, ',', len) != NULL) {
		pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: a group name holds a comma, a "
			   "control character or invalid UTF-8; left out");
		return;
	}
	if ((g->len > 0 && pa_buf_append(g->list, sizeof(g->list), &g->len, ",", 1) != 0) ||
	    pa_buf_append(g->list, sizeof(g->list), &g->len, name, len) != 0)
		g->overflow = true;
}

/* A group from a DN value of group_attribute: its first RDN's value
 * ("cn=admins,ou=groups,..." gives "admins"); a value that is not a DN is
 * taken as the name itself. */
static void
group_add_dn(struct ldapb *b, struct groups *g, const struct berval *v)
{
	char buf[1024];
	LDAPDN dn = NULL;

	if (v->bv_len == 0 || v->bv_len >= sizeof(buf) || memchr(v->bv_val, '\0', v->bv_len))
		return;
	memcpy(buf, v->bv_val, v->bv_len);
	buf[v->bv_len] = '\0';
	if (strchr(buf, '=') != NULL && ldap_str2dn(buf, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
	    dn != NULL && dn[0] != NULL && dn[0][0] != NULL &&
	    !(dn[0][0]->la_flags & LDAP_AVA_BINARY)) {
		group_add(b, g, dn[0][0]->la_value.bv_val, dn[0][0]->la_value.bv_len);
	} else if (strchr(buf, '=') == NULL) {
		group_add(b, g, buf, v->bv_len);
	}
	ldap_dnfree(dn);
}

/* Every value of attr in entry, as DNs (dn_values) or names. */
static void
groups_from_entry(struct ldapb *b, LDAP *ld, LDAPMessage *entry, const char *attr,
		  bool dn_values, struct groups *g)
{
	struct berval **vals = ldap_get_values_len(ld, entry, attr);
	int i;

	for (i = 0; vals != NULL && vals[i] != NULL; i++) {
		if (dn_values)
			group_add_dn(b, g, vals[i]);
		else if (memchr(vals[i]->bv_val, '\0', vals[i]->bv_len) == NULL)
			group_add(b, g, vals[i]->bv_val, vals[i]->bv_len);
	}
	ldap_value_free_len(vals);
}

/* Groups by search under group_base_dn for the user's dn. */
static int
groups_search(struct ldapb *b, LDAP *ld, const char *dn, const struct pa_deadline *dl,
	      struct groups *g, struct pa_error *err)
{
	char esc[DN_MAX * 3], filter[FILTER_MAX];
	char *attrs[2] = { b->group_name_attribute, NULL };
	LDAPMessage *chain, *e;
	int rc;

	if (pa_ldap_escape_filter(dn, strlen(dn), esc, sizeof(esc)) < 0 ||
	    pa_ldap_expand(b->group_filter, 'd', esc, filter, sizeof(filter)) < 0) {
		pa_error_set(err, "group filter too long");
		return LDAP_FILTER_ERROR;
	}
	rc = search(ld, b->group_base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 0, dl, &chain);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED)
		for (e = ldap_first_entry(ld, chain); e != NULL; e = ldap_next_entry(ld, e))
			groups_from_entry(b, ld, e, b->group_name_attribute, false, g);
	ldap_msgfree(chain);
	if (rc == LDAP_SIZELIMIT_EXCEEDED)
		g->overflow = true;	/* incomplete: refused rather than guessed */
	else if (rc != LDAP_SUCCESS)
		diag(ld, rc, "group search", err);
	return rc == LDAP_SIZELIMIT_EXCEEDED ? LDAP_SUCCESS : rc;
}

/* ---- the steps of a lookup, each run on a pooled connection -------------- */

struct lookup {
	const struct pa_credentials *cred;
	char name[PA_USER_MAX + 1];	/* the entry's user_name_attribute, or "" */
	int64_t expires_ms;		/* expiry_attribute, Unix ms; 0: none */
	bool expiry_bad;		/* expiry_attribute not understood */
	char dn[DN_MAX];
	int entries;			/* search: how many matched */
	struct groups g;
};

/* A value of user_name_attribute that could be a user name: printable
 * UTF-8 of at most PA_USER_MAX bytes, no ':'. */
static bool
name_value(const struct berval *v)
{
	return v->bv_len > 0 && v->bv_len <= PA_USER_MAX && pa_utf8_valid(v->bv_val, v->bv_len) &&
	       !pa_has_control(v->bv_val, v->bv_len) && memchr(v->bv_val, ':', v->bv_len) == NULL;
}

/* The value of attr on entry e into name: the one there is, or, when
 * there are several (aliases), the one that folds like the typed name,
 * which is the one the directory matched; else name stays "". */
static void
entry_name(LDAP *ld, LDAPMessage *e, const char *attr, const struct pa_credentials *cred,
	   char name[PA_USER_MAX + 1])
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char typed[PA_FOLD_MAX], folded[PA_FOLD_MAX];
	const struct berval *pick = NULL;
	int i;

	if (v != NULL && v[0] != NULL && v[1] == NULL) {
		pick = v[0];
	} else if (v != NULL && v[0] != NULL) {
		pa_fold_user(cred->user, cred->user_len, typed);
		for (i = 0; v[i] != NULL; i++) {
			if (!name_value(v[i]))
				continue;
			pa_fold_user(v[i]->bv_val, v[i]->bv_len, folded);
			if (strcmp(folded, typed) != 0)
				continue;
			if (pick != NULL) {
				pick = NULL;	/* two such values: no way to choose */
				break;
			}
			pick = v[i];
		}
	}
	if (pick != NULL && name_value(pick)) {
		memcpy(name, pick->bv_val, pick->bv_len);
		name[pick->bv_len] = '\0';
	}
	ldap_value_free_len(v);
}

/* RFC 4517 GeneralizedTime, "YYYYMMDDHH[MM[SS]][.f](Z|+hhmm|-hhmm)", as
 * Unix milliseconds; -1 when it is not one. */
static int64_t
generalized_time(const char *s)
{
	struct tm tm = { 0 };
	int v[7] = { 0, 0, 0, 0, 0, 0, 0 }, n = 0, sign, off;
	time_t t;

	while (n < 7 && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9') {
		v[n++] = (s[0] - '0') * 10 + s[1] - '0';
		s += 2;
	}
	if (n < 5)
		return -1;		/* at least YYYYMMDDHH */
	if (*s == '.' || *s == ',')
		for (s++; *s >= '0' && *s <= '9'; s++)
			;		/* a fraction: whole seconds are enough */
	tm.tm_year = v[0] * 100 + v[1] - 1900;
	tm.tm_mon = v[2] - 1;
	tm.tm_mday = v[3];
	tm.tm_hour = v[4];
	tm.tm_min = v[5];
	tm.tm_sec = v[6];
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	if (*s == 'Z' && s[1] == '\0')
		return (int64_t)t * 1000;
	if ((*s != '+' && *s != '-') || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9')
		return -1;
	sign = *s == '+' ? 1 : -1;
	off = ((s[1] - '0') * 10 + s[2] - '0') * 60;
	s += 3;
	if (*s >= '0' && *s <= '9' && s[1] >= '0' && s[1] <= '9') {
		off += (s[0] - '0') * 10 + s[1] - '0';
		s += 2;
	}
	if (*s != '\0')
		return -1;
	return ((int64_t)t - sign * (int64_t)off * 60) * 1000;
}

/* expiry_attribute on entry e into l: none (0), or when the account
 * expires in Unix ms, read by the attribute's name: accountExpires (Active
 * Directory: 100 ns since 1601, 0 or the largest value for never),
 * shadowExpire (days since 1970; -1 for never), else GeneralizedTime
 * (pwdEndTime).  Several values or one not understood: expiry_bad. */
static void
entry_expiry(struct ldapb *b, LDAP *ld, LDAPMessage *e, struct lookup *l)
{
	struct berval **v = ldap_get_values_len(ld, e, b->expiry_attribute);
	char buf[64], *end;
	long long n;

	l->expires_ms = 0;
	if (v == NULL || v[0] == NULL)
		goto done;
	if (v[1] != NULL || v[0]->bv_len == 0 || v[0]->bv_len >= sizeof(buf)) {
		l->expiry_bad = true;
		goto done;
	}
	memcpy(buf, v[0]->bv_val, v[0]->bv_len);
	buf[v[0]->bv_len] = '\0';
	if (strcasecmp(b->expiry_attribute, "accountExpires") == 0 ||
	    strcasecmp(b->expiry_attribute, "shadowExpire") == 0) {
		errno = 0;
		n = strtoll(buf, &end, 10);
		if (errno != 0 || *end != '\0' || end == buf)
			l->expiry_bad = true;
		else if (strcasecmp(b->expiry_attribute, "shadowExpire") == 0)
			l->expires_ms = n == -1 ? 0 : n <= 0 ? 1 : n > 106751991167LL ? 0 :
			    (int64_t)n * 86400000;
		else if (n != 0 && n != INT64_MAX)
			l->expires_ms = n / 10000 > 11644473600000LL ?
			    (int64_t)(n / 10000 - 11644473600000LL) : 1;
	} else if ((l->expires_ms = generalized_time(buf)) < 0) {
		l->expires_ms = 0;
		l->expiry_bad = true;
	} else if (l->expires_ms == 0) {
		l->expires_ms = 1;	/* 0 means none */
	}
done:
	ldap_value_free_len(v);
}

/* Search-then-bind, step 1 (service connection): find the user. */
static int
step_find(struct ldapb *b, LDAP *ld, const struct pa_deadline *dl, void *arg,
	struct pa_error *err)
{
	struct lookup *l = arg;
	char esc[PA_USER_MAX * 3 + 1], filter[FILTER_MAX];
	bool attr_groups = b->group_base_dn[0] == '\0' && b->group_attribute[0] != '\0';
	char *attrs[4] = { NULL, NULL, NULL, NULL };
	LDAPMessage *chain, *e;
	char *dn;
	int rc, na = 0;

	if (attr_groups)
		attrs[na++] = b->group_attribute;
	if (b->user_name_attribute[0] != '\0')
		attrs[na++] = b->user_name_attribute;
	if (b->expiry_attribute[0] != '\0')
		attrs[na++] = b->expiry_attribute;
	if (na == 0)
		attrs[na++] = LDAP_NO_ATTRS;
	l->dn[0] = '\0';
	l->name[0] = '\0';
	l->entries = 0;
	memset(&l->g, 0, sizeof(l->g));
	if (pa_ldap_escape_filter(l->cred->user, strlen(l->cred->user), esc, sizeof(esc)) < 0 ||
	    pa_ldap_expand(b->user_filter, 'u', esc, filter, sizeof(filter)) < 0) {
		pa_error_set(err, "user filter too long");
		return LDAP_FILTER_ERROR;
	}
	rc = search(ld, b->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 2, dl, &chain);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
		l->entries = ldap_count_entries(ld, chain);
		if (rc == LDAP_SIZELIMIT_EXCEEDED && l->entries < 2)
			l->entries = 2;
		if (l->entries == 1 && (e = ldap_first_entry(ld, chain)) != NULL &&
		    (dn = ldap_get_dn(ld, e)) != NULL) {
			if (pa_strlcpy(l->dn, dn, sizeof(l->dn)) != 0)
				l->dn[0] = '\0';
			ldap_memfree(dn);
			if (attr_groups)
				groups_from_entry(b, ld, e, b->group_attribute, true, &l->g);
			if (b->user_name_attribute[0] != '\0')
				entry_name(ld, e, b->user_name_attribute, l->cred, l->name);
			if (b->expiry_attribute[0] != '\0')
				entry_expiry(b, ld, e, l);
		}
		rc = LDAP_SUCCESS;
	} else {
		diag(ld, rc, "user search", err);
	}
	ldap_msgfree(chain);
	return rc;
}

/* Search-then-bind, step 3 (service connection): the groups by search. */
static int
step_groups(struct ldapb *b, LDAP *ld, const struct pa_deadline *dl, void *arg,
	struct pa_error *err)
{
	struct lookup *l = arg;

	memset(&l->g, 0, sizeof(l->g));
	return groups_search(b, ld, l->dn, dl, &l->g, err);
}

/* The user's bind (user connection); in direct mode also, on the
 * connection just bound as that user, one base-scope read of the user's
 * own entry for user_name_attribute and group_attribute at once (so an
 * answer is two operations, bind and read, as search mode's is after its
 * search), and the group search when group_base_dn is set.  Returns the
 * bind's result code, or the lookup's failure. */
static int
step_bind(struct ldapb *b, LDAP *ld, const struct pa_deadline *dl, void *arg,
	struct pa_error *err)
{
	struct lookup *l = arg;
	bool attr_groups = b->group_base_dn[0] == '\0' && b->group_attribute[0] != '\0';
	char *attrs[4] = { NULL, NULL, NULL, NULL };
	LDAPMessage *chain, *e;
	int rc, na = 0;

	rc = simple_bind(ld, l->dn, l->cred->password, l->cred->password_len, dl);
	if (rc != LDAP_SUCCESS) {
		if (LDAP_API_ERROR(rc))
			diag(ld, rc, "user bind", err);
		return rc;
	}
	if (b->search_mode)
		return rc;
	memset(&l->g, 0, sizeof(l->g));
	l->name[0] = '\0';
	if (attr_groups)
		attrs[na++] = b->group_attribute;
	if (b->user_name_attribute[0] != '\0')
		attrs[na++] = b->user_name_attribute;
	if (b->expiry_attribute[0] != '\0')
		attrs[na++] = b->expiry_attribute;
	if (na > 0) {
		/* The DN was built from the typed name: "ALICE" or a fullwidth
		 * "ａｌｉｃｅ" binds as alice, and the entry says who that is. */
		rc = search(ld, l->dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, dl,
			    &chain);
		if (rc == LDAP_SUCCESS && (e = ldap_first_entry(ld, chain)) != NULL) {
			if (attr_groups)
				groups_from_entry(b, ld, e, b->group_attribute, true, &l->g);
			if (b->user_name_attribute[0] != '\0')
				entry_name(ld, e, b->user_name_attribute, l->cred, l->name);
			if (b->expiry_attribute[0] != '\0')
				entry_expiry(b, ld, e, l);
		} else if (rc == LDAP_NO_SUCH_OBJECT) {
			rc = LDAP_SUCCESS;	/* bound, but may not read its own entry */
		} else if (rc != LDAP_SUCCESS) {
			diag(ld, rc, "reading the user's own entry", err);
		}
		ldap_msgfree(chain);
	}
	if (rc == LDAP_SUCCESS && b->group_base_dn[0] != '\0')
		rc = groups_search(b, ld, l->dn, dl, &l->g, err);
	/* A failed group lookup after a good bind is no statement about the
	 * user (not "no such user", not "wrong password"): the caller must
	 * see it as an error, while API errors keep their meaning for the
	 * pool (retry on a closed connection, drop a timed-out one). */
	return rc == LDAP_SUCCESS || LDAP_API_ERROR(rc) ? rc : LDAP_OTHER;
}

/* Search-then-bind for a name that matched nothing: one failed bind on a
 * user connection, as a known user's wrong password costs, so that the
 * time of the answer does not tell which names exist (the counterpart of
 * the dummy hash verify of the other backends).  The DN names no entry
 * (a random RDN value under base_dn) and the password is a fixed dummy:
 * the client's password is never sent for any DN but the user's own. */
static int
step_dummy_bind(struct ldapb *b, LDAP *ld, const struct pa_deadline *dl, void *arg,
	struct pa_error *err)
{
	static const char dummy_pw[] = "proxyauthd-dummy-password";
	char dn[DN_MAX];
	unsigned char rnd[8];
	int rc;

	(void)arg;
	(void)err;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	snprintf(dn, sizeof(dn), "cn=proxyauthd-no-such-entry-%02x%02x%02x%02x%02x%02x%02x%02x,%s",
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], b->base_dn);
	rc = simple_bind(ld, dn, dummy_pw, sizeof(dummy_pw) - 1, dl);
	return LDAP_API_ERROR(rc) ? rc : LDAP_SUCCESS;
}

/* ---- verify -------------------------------------------------------------- */

static enum pa_result
ldap_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	    struct pa_error *err)
{
	struct ldapb *b = ctx;
	struct pa_deadline deadline = pa_deadline_in(b->timeout_ms, pa_now_us());
	const struct pa_deadline *dl = &deadline;
	struct lookup *l;
	enum pa_result res = PA_UNAVAILABLE;
	char esc[PA_USER_MAX * 3 + 1];
	int rc;

	if (cred->password_len == 0)
		return PA_DENIED;	/* never an anonymous bind (SPEC section 3) */
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		pa_error_set(err, "out of memory");
		return PA_UNAVAILABLE;
	}
	l->cred = cred;
	if (b->search_mode) {
		rc = pool_run(b, b->svc, dl, step_find, l, err);
		if (rc != LDAP_SUCCESS) {
			if (rc == LDAP_NO_SUCH_OBJECT)
				pa_error_set(err, "base_dn %s does not exist", b->base_dn);
			goto done;
		}
		if (l->entries == 0) {
			struct pa_error ignored = { { 0 } };

			/* The search answered: whatever the dummy bind meets,
			 * the answer is "not found". */
			(void)pool_run(b, b->usr, dl, step_dummy_bind, NULL,
				       &ignored);
			res = PA_NOT_FOUND;
			goto done;
		}
		if (l->entries > 1) {
			pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: user_filter matches more than "
				   "one entry for %s; denied", cred->user);
			res = PA_DENIED;
			goto done;
		}
		if (l->dn[0] == '\0') {
			pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: the entry of %s has an empty "
				   "or over-long DN; denied", cred->user);
			res = PA_DENIED;
			goto done;
		}
	} else if (pa_ldap_escape_dn(cred->user, strlen(cred->user), esc, sizeof(esc)) < 0 ||
		   pa_ldap_expand(b->user_dn_template, 'u', esc, l->dn, sizeof(l->dn)) < 0) {
		pa_error_set(err, "user DN too long");
		goto done;
	}

	rc = pool_run(b, b->usr, dl, step_bind, l, err);
	if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
	    rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_CONSTRAINT_VIOLATION ||
	    rc == LDAP_INVALID_DN_SYNTAX) {
		/* Wrong password, or (direct mode) no such DN: slapd and AD
		 * answer both with invalidCredentials.  unwillingToPerform and
		 * constraintViolation are how password policies refuse a
		 * locked or expired account. */
		res = PA_DENIED;
		goto done;
	}
	if (rc == LDAP_NO_SUCH_OBJECT && !b->search_mode) {
		res = PA_NOT_FOUND;
		goto done;
	}
	if (rc != LDAP_SUCCESS) {
		if (!LDAP_API_ERROR(rc) && rc != LDAP_OTHER)	/* else err says it */
			pa_error_set(err, "user bind: %s", ldap_err2string(rc));
		goto done;
	}
	if (b->search_mode && b->group_base_dn[0] != '\0' &&
	    pool_run(b, b->svc, dl, step_groups, l, err) != LDAP_SUCCESS)
		goto done;
	if (l->g.overflow) {
		pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: the groups of %s do not fit in %d "
			   "bytes or are incomplete; denied", cred->user, PA_GROUPS_MAX);
		res = PA_DENIED;
		goto done;
	}
	/* Checked here too: slapd does not enforce shadowExpire, nor
	 * pwdEndTime without a password policy. */
	if (l->expiry_bad) {
		pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: %s of %s is not understood; denied",
			   b->expiry_attribute, cred->user);
		res = PA_DENIED;
		goto done;
	}
	if (l->expires_ms > 0) {
		struct timespec wall;

		clock_gettime(CLOCK_REALTIME, &wall);
		if ((int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 >= l->expires_ms) {
			res = PA_DENIED;
			goto done;
		}
		who->expires_ms = l->expires_ms;
	}
	/* The canonical name is the entry's, when it has one: "ALICE" and
	 * " alice" find and bind as alice, and must be alice upstream. */
	if (pa_strlcpy(who->user, l->name[0] != '\0' ? l->name : cred->user,
		       sizeof(who->user)) != 0 ||
	    pa_strlcpy(who->groups, l->g.list, sizeof(who->groups)) != 0) {
		res = PA_DENIED;
		goto done;
	}
	res = PA_GRANTED;
done:
	free(l);
	return res;
}

/* Up when a fresh connection opens (with the service bind in search
 * mode), or, in direct mode, when the root DSE answers. */
static int
ldap_probe(void *ctx, struct pa_error *err)
{
	struct ldapb *b = ctx;
	struct pa_deadline deadline = pa_deadline_in(b->timeout_ms, pa_now_us());
	const struct pa_deadline *dl = &deadline;
	char *attrs[2] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *chain;
	LDAP *ld;
	int rc = LDAP_SUCCESS;

	if ((ld = open_conn(b, b->search_mode, dl, err)) == NULL)
		return -1;
	if (!b->search_mode) {
		rc = search(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, dl, &chain);
		ldap_msgfree(chain);
		if (LDAP_API_ERROR(rc))
			diag(ld, rc, "reading the root DSE", err);
	}
	ldap_unbind_ext(ld, NULL, NULL);
	return LDAP_API_ERROR(rc) ? -1 : 0;
}

/* ---- configuration ------------------------------------------------------- */

struct problems {
	const struct pa_section *conf;
	FILE *report;
	struct pa_error *err;
	int n;
};

static void
problem(struct problems *p, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records a problem at key's place.  With a report (proxyauthd -t) the
 * previous one is printed, so that every problem is listed. */
static void
problem(struct problems *p, const char *key, const char *fmt, ...)
{
	char where[256], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->report != NULL && p->n > 0)
		fprintf(p->report, "%s\n", p->err->msg);
	p->n++;
	pa_conf_where(p->conf, key, where, sizeof(where));
	pa_error_set(p->err, "%s: %s", where, msg);
}

/* The servers in a uri list (separated by spaces or commas, as libldap
 * takes them). */
static int
count_uris(const char *list)
{
	int n = 0;
	bool in = false;

	for (; *list != '\0'; list++) {
		bool sep = *list == ' ' || *list == '\t' || *list == ',';

		n += !sep && !in;
		in = !sep;
	}
	return n;
}

static char *
dup_key(const struct pa_section *conf, const char *key)
{
	return strdup(pa_conf_str(conf, ldap_keys, key));
}

static void ldap_close(void *ctx);

static int
ldap_open(const struct pa_section *conf, const struct pa_backend_env *env, void **ctx,
	  struct pa_error *err)
{
	struct problems p = { conf, env->report, err, 0 };
	const char *pwfile = pa_conf_str(conf, ldap_keys, "bind_password_file");
	char test[FILTER_MAX];
	struct ldapb *b;
	LDAP *ld = NULL;
	int n;

	*ctx = NULL;
	/* Before libldap's first call: ignore ldap.conf, ldaprc and LDAP*. */
	setenv("LDAPNOINIT", "1", 1);
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		pa_error_set(err, "out of memory");
		return -1;
	}
	b->env = env;
	b->uri = dup_key(conf, "uri");
	b->ca_file = dup_key(conf, "ca_file");
	b->user_dn_template = dup_key(conf, "user_dn_template");
	b->bind_dn = dup_key(conf, "bind_dn");
	b->base_dn = dup_key(conf, "base_dn");
	b->user_filter = dup_key(conf, "user_filter");
	b->group_attribute = dup_key(conf, "group_attribute");
	b->group_base_dn = dup_key(conf, "group_base_dn");
	b->group_filter = dup_key(conf, "group_filter");
	b->group_name_attribute = dup_key(conf, "group_name_attribute");
	b->user_name_attribute = dup_key(conf, "user_name_attribute");
	b->expiry_attribute = dup_key(conf, "expiry_attribute");
	b->starttls = pa_conf_bool(conf, ldap_keys, "starttls");
	b->timeout_ms = pa_conf_int(conf, ldap_keys, "timeout_ms");
	n = (int)pa_conf_int(conf, ldap_keys, "pool_size");
	if (b->uri == NULL || b->ca_file == NULL || b->user_dn_template == NULL ||
	    b->bind_dn == NULL || b->base_dn == NULL || b->user_filter == NULL ||
	    b->group_attribute == NULL || b->group_base_dn == NULL || b->group_filter == NULL ||
	    b->group_name_attribute == NULL || b->user_name_attribute == NULL ||
	    b->expiry_attribute == NULL ||
	    (b->svc = pa_connpool_new(&service_driver, b, n, env->log)) == NULL ||
	    (b->usr = pa_connpool_new(&user_driver, b, n, env->log)) == NULL) {
		ldap_close(b);
		pa_error_set(err, "out of memory");
		return -1;
	}
	b->search_mode = b->user_dn_template[0] == '\0';
	b->tls = b->starttls || strcasestr(b->uri, "ldaps://") != NULL;
	b->n_uris = count_uris(b->uri);

	if (b->uri[0] == '\0')
		problem(&p, "uri", "[ldap] needs uri (for example ldaps://ldap.example.org)");
	else if (ldap_initialize(&ld, b->uri) != LDAP_SUCCESS)
		problem(&p, "uri", "uri is not a list of ldap://, ldaps:// or ldapi:// URIs");
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	if (b->starttls && strcasestr(b->uri, "ldaps://") != NULL)
		problem(&p, "starttls", "starttls with an ldaps:// uri: use one or the other");
	if (b->ca_file[0] != '\0' && access(b->ca_file, R_OK) != 0)
		problem(&p, "ca_file", "cannot read %s: %s", b->ca_file, strerror(errno));
	if (!b->search_mode) {
		if (b->bind_dn[0] != '\0' || b->base_dn[0] != '\0' || pwfile[0] != '\0')
			problem(&p, "user_dn_template", "use either user_dn_template (direct "
				"bind) or bind_dn, bind_password_file and base_dn "
				"(search-then-bind), not both");
		if (pa_ldap_expand(b->user_dn_template, 'u', "x", test, sizeof(test)) < 0)
			problem(&p, "user_dn_template", "user_dn_template must hold %%u (and "
				"no other %% but %%%%)");
	} else {
		if (b->bind_dn[0] == '\0' || b->base_dn[0] == '\0' || pwfile[0] == '\0')
			problem(&p, b->bind_dn[0] == '\0' ? "bind_dn" : b->base_dn[0] == '\0' ?
				"base_dn" : "bind_password_file", "[ldap] needs either "
				"user_dn_template, or bind_dn, bind_password_file and base_dn");
		if (pa_ldap_expand(b->user_filter, 'u', "x", test, sizeof(test)) < 0 ||
		    b->user_filter[0] != '(')
			problem(&p, "user_filter", "user_filter must be a filter in parentheses "
				"holding %%u (and no other %% but %%%%)");
	}
	if (b->group_base_dn[0] != '\0' &&
	    (pa_ldap_expand(b->group_filter, 'd', "x", test, sizeof(test)) < 0 ||
	     b->group_filter[0] != '('))
		problem(&p, "group_filter", "group_filter must be a filter in parentheses "
			"holding %%d (and no other %% but %%%%)");
	if (b->group_base_dn[0] != '\0' && b->group_name_attribute[0] == '\0')
		problem(&p, "group_name_attribute", "group_name_attribute may not be empty");
	if (pwfile[0] != '\0' && b->search_mode) {
		struct pa_error e = { { 0 } };

		if (pa_secret_read(pwfile, b->bind_pw, sizeof(b->bind_pw), &e) != 0)
			problem(&p, "bind_password_file", "%s", e.msg);
	}
	if (p.n > 0) {
		ldap_close(b);
		return -1;
	}
	*ctx = b;
	return 0;
}

static void
ldap_close(void *ctx)
{
	struct ldapb *b = ctx;

	if (b == NULL)
		return;
	pa_connpool_free(b->svc);
	pa_connpool_free(b->usr);
	free(b->uri);
	free(b->ca_file);
	free(b->user_dn_template);
	free(b->bind_dn);
	free(b->base_dn);
	free(b->user_filter);
	free(b->group_attribute);
	free(b->group_base_dn);
	free(b->group_filter);
	free(b->group_name_attribute);
	free(b->user_name_attribute);
	free(b->expiry_attribute);
	OPENSSL_cleanse(b->bind_pw, sizeof(b->bind_pw));
	free(b);
}

const struct pa_backend_ops pa_ldap_ops = {
	.name = "ldap",
	.keys = ldap_keys,
	.open = ldap_open,
	.verify = ldap_verify,
	.probe = ldap_probe,
	.reload = NULL,
	.close = ldap_close,
};
