/*
 * LDAP backend: one connection and the pools (see ldapb.h for the other
 * files).  A connection is opened before the lookup's deadline: connect
 * trying each URI of uri in turn (each its share of the time left), the
 * TLS handshake (certificates must verify, DEMAND, against ca_file or the
 * system bundle), StartTLS when asked, and the service bind on service
 * connections.  libldap's own configuration is off (LDAPNOINIT, set in
 * config.c before its first call); referrals are not followed.
 *
 * Two pools of pool_size each (lib/connpool.c).  Service connections are
 * bound as the service account when opened and never see any other bind;
 * user connections only ever carry user binds.  A kept connection that
 * turns out closed (the server restarted) is retried once on a fresh one;
 * a connection that timed out or failed in any other way is discarded,
 * never reused.  Binds and searches are asynchronous calls waited on with
 * ldap_result() and what is left of the deadline, so a server that
 * accepts and never answers costs about timeout_ms.
 */
#include "clock.h"
#include "ldapb.h"

#include <fcntl.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

void
ldapb_diag(LDAP *ld, int rc, const char *what, struct pa_error *err)
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
int
ldapb_simple_bind(LDAP *ld, const char *dn, const char *pw, size_t pwlen,
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
int
ldapb_search(LDAP *ld, const char *base, int scope, const char *filter, char **attrs, int sizelimit,
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
 * does, and ldapb_open_conn() switches it off again once the handshake is done.
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

/*
 * libldap reads each message in two read(2)s, its header and then the
 * rest, and polls before each message.  liblber's read-ahead layer, put
 * on top of the TCP layer (and under TLS, which sits a level higher),
 * takes what the kernel holds in one read(2): one system call a message
 * fewer, and a search's entry and result, which slapd writes back to
 * back, usually in one read with no second poll (libldap asks the
 * sockbuf whether data is ready before it polls).
 */
static int
read_ahead(LDAP *ld)
{
	ber_len_t size = 16384;
	Sockbuf *sb = NULL;
	ber_socket_t fd = -1;

	if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL)
		return 0;
	if (ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER,
			       NULL) != 0) {
		if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead) != 1)
			return -1;	/* nothing linked: the handle unbinds as usual */
		/* Linked without its state: unbinding would run the layer's
		 * close and remove hooks on NULL.  Close the socket and leave
		 * the handle behind (memory is short anyway). */
		if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS && fd >= 0)
			(void)close(fd);
		return -2;
	}
	/* liblber ignores a failed buffer allocation in the layer's setup
	 * (every read would then look like the server's close): ask for the
	 * buffer again, which says whether it could be had. */
	return ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_READAHEAD, &size) < 0 ? -1 : 0;
}

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
LDAP *
ldapb_open_conn(const struct ldapb *b, bool service, const struct pa_deadline *dl,
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
		ldapb_diag(ld, rc, "cannot connect", err);
		goto fail;
	}
	switch (read_ahead(ld)) {
	case 0:
		break;
	case -1:
		pa_error_set(err, "out of memory (read-ahead buffer)");
		goto fail;
	default:
		pa_error_set(err, "out of memory (read-ahead buffer)");
		return NULL;	/* its socket closed, the handle abandoned */
	}
	if (b->starttls) {
		if (!pa_deadline_left_tv(dl, pa_now_us(), &tv)) {
			ldapb_diag(ld, LDAP_TIMEOUT, "StartTLS", err);
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
			ldapb_diag(ld, rc, "StartTLS", err);
			goto fail;
		}
	}
	if (service) {
		rc = ldapb_simple_bind(ld, b->bind_dn, b->bind_pw, strlen(b->bind_pw), dl);
		if (rc != LDAP_SUCCESS) {
			ldapb_diag(ld, rc, "service account bind (bind_dn)", err);
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
	return ldapb_open_conn(ctx, true, dl, err);
}

static void *
open_user(void *ctx, const struct pa_deadline *dl, struct pa_error *err)
{
	return ldapb_open_conn(ctx, false, dl, err);
}

static void
close_conn(void *ctx, void *conn)
{
	(void)ctx;
	ldap_unbind_ext(conn, NULL, NULL);
}

const struct pa_conn_driver ldapb_service_driver = { "ldap", open_service, close_conn };
const struct pa_conn_driver ldapb_user_driver = { "ldap", open_user, close_conn };

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
int
ldapb_pool_run(struct ldapb *b, struct pa_connpool *p, const struct pa_deadline *dl, step_fn fn,
	       void *arg, struct pa_error *err)
{
	struct step s = { b, fn, arg, LDAP_TIMEOUT };
	enum pa_conn_status st = pa_connpool_run(p, dl, run_step, &s, err);

	if (st == PA_CONN_OPEN_FAILED)
		return LDAP_CONNECT_ERROR;
	return st == PA_CONN_TIMEOUT ? LDAP_TIMEOUT : s.rc;
}

/* Up when a fresh connection opens (with the service bind in search
 * mode), or, in direct mode, when the root DSE answers. */
int
ldapb_probe(void *ctx, struct pa_error *err)
{
	struct ldapb *b = ctx;
	struct pa_deadline deadline = pa_deadline_in(b->timeout_ms, pa_now_us());
	const struct pa_deadline *dl = &deadline;
	char *attrs[2] = { LDAP_NO_ATTRS, NULL };
	LDAPMessage *chain;
	LDAP *ld;
	int rc = LDAP_SUCCESS;

	if ((ld = ldapb_open_conn(b, b->search_mode, dl, err)) == NULL)
		return -1;
	if (!b->search_mode) {
		rc = ldapb_search(ld, "", LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, dl, &chain);
		ldap_msgfree(chain);
		if (LDAP_API_ERROR(rc))
			ldapb_diag(ld, rc, "reading the root DSE", err);
	}
	ldap_unbind_ext(ld, NULL, NULL);
	return LDAP_API_ERROR(rc) ? -1 : 0;
}
