/*
 * LDAP backend (SPEC section 4) on OpenLDAP's libldap: verify, the
 * lookup policy (see ldapb.h for the other files).
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
 * Time: one deadline of timeout_ms per lookup bounds everything in it,
 * the wait for a free connection, connect (LDAP_OPT_NETWORK_TIMEOUT), the
 * TLS handshake, StartTLS, binds and searches (asynchronous calls and
 * ldap_result() with what is left), so a server that accepts and never
 * answers gives PA_UNAVAILABLE after about timeout_ms.
 *
 * The service search (and group search) runs on service connections,
 * the user's bind on user connections, so a service search never runs on
 * a connection bound as a user.  An empty password is refused here too,
 * whatever the pipeline did: a simple bind without one is an anonymous
 * bind that succeeds.
 */
#include "clock.h"
#include "ldap_escape.h"
#include "ldapb.h"
#include "ldap_identity.h"
#include "fold.h"
#include "text.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <time.h>

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
	ldapb_groups_reset(&l->g);
	if (l->filter != NULL) {
		if (pa_strlcpy(filter, l->filter, sizeof(filter)) != 0) {
			pa_error_set(err, "user filter too long");
			return LDAP_FILTER_ERROR;
		}
	} else if (pa_ldap_escape_filter(l->cred->user, strlen(l->cred->user), esc,
					 sizeof(esc)) < 0 ||
		   pa_ldap_expand(b->user_filter, 'u', esc, filter, sizeof(filter)) < 0) {
		pa_error_set(err, "user filter too long");
		return LDAP_FILTER_ERROR;
	}
	rc = ldapb_search(ld, b->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 2, dl, &chain);
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
				ldapb_groups_from_entry(b, ld, e, b->group_attribute, true, &l->g);
			if (b->user_name_attribute[0] != '\0')
				ldapb_entry_name(ld, e, b->user_name_attribute, l->cred, l->name);
			if (b->expiry_attribute[0] != '\0')
				ldapb_entry_expiry(b, ld, e, l);
		}
		rc = LDAP_SUCCESS;
	} else {
		ldapb_diag(ld, rc, "user search", err);
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
	return ldapb_groups_search(b, ld, l->dn, dl, &l->g, err);
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

	rc = ldapb_simple_bind(ld, l->dn, l->cred->password, l->cred->password_len, dl);
	if (rc != LDAP_SUCCESS) {
		if (LDAP_API_ERROR(rc))
			ldapb_diag(ld, rc, "user bind", err);
		return rc;
	}
	if (b->search_mode)
		return rc;
	ldapb_groups_reset(&l->g);
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
		rc = ldapb_search(ld, l->dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, dl,
			    &chain);
		if (rc == LDAP_SUCCESS && (e = ldap_first_entry(ld, chain)) != NULL) {
			if (attr_groups)
				ldapb_groups_from_entry(b, ld, e, b->group_attribute, true, &l->g);
			if (b->user_name_attribute[0] != '\0')
				ldapb_entry_name(ld, e, b->user_name_attribute, l->cred, l->name);
			if (b->expiry_attribute[0] != '\0')
				ldapb_entry_expiry(b, ld, e, l);
		} else if (rc == LDAP_NO_SUCH_OBJECT) {
			rc = LDAP_SUCCESS;	/* bound, but may not read its own entry */
		} else if (rc != LDAP_SUCCESS) {
			ldapb_diag(ld, rc, "reading the user's own entry", err);
		}
		ldap_msgfree(chain);
	}
	if (rc == LDAP_SUCCESS && b->group_base_dn[0] != '\0')
		rc = ldapb_groups_search(b, ld, l->dn, dl, &l->g, err);
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
	rc = ldapb_simple_bind(ld, dn, dummy_pw, sizeof(dummy_pw) - 1, dl);
	return LDAP_API_ERROR(rc) ? rc : LDAP_SUCCESS;
}

enum pa_result
ldapb_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	     struct pa_error *err)
{
	struct ldapb *b = ctx;
	struct pa_deadline deadline = pa_deadline_in(b->timeout_ms, pa_now_us());
	const struct pa_deadline *dl = &deadline;
	struct lookup *l = NULL;
	enum pa_result res = PA_UNAVAILABLE;
	char esc[PA_USER_MAX * 3 + 1];
	const char *unsafe;
	int rc;

	if (cred->password_len == 0) {
		res = PA_DENIED;	/* never an anonymous bind (SPEC section 3) */
		goto done;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	l->cred = cred;
	if (b->search_mode) {
		rc = ldapb_pool_run(b, b->svc, dl, step_find, l, err);
		if (rc != LDAP_SUCCESS) {
			if (rc == LDAP_NO_SUCH_OBJECT)
				pa_error_set(err, "base_dn %s does not exist", b->base_dn);
			goto done;
		}
		if (l->entries == 0) {
			struct pa_error ignored = { { 0 } };

			/* The search answered: whatever the dummy bind meets,
			 * the answer is "not found". */
			(void)ldapb_pool_run(b, b->usr, dl, step_dummy_bind, NULL,
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

	rc = ldapb_pool_run(b, b->usr, dl, step_bind, l, err);
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
	    ldapb_pool_run(b, b->svc, dl, step_groups, l, err) != LDAP_SUCCESS)
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
	/* LDAP matches "bob" to a stored "bob " (surrounding blanks are
	 * insignificant), which would go upstream as bob: someone else's. */
	if ((unsafe = pa_name_unsafe(who->user)) != NULL) {
		pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: the name of %s %s, which the "
			   "application may read as another name; denied", cred->user, unsafe);
		res = PA_DENIED;
		goto done;
	}
	res = PA_GRANTED;
done:
	/* The user's DN, name and groups: no trace left in freed memory
	 * (the name and the DN whole, since a write cut short may leave
	 * bytes past the NUL). */
	if (l != NULL) {
		OPENSSL_cleanse(l->name, sizeof(l->name));
		OPENSSL_cleanse(l->dn, sizeof(l->dn));
		ldapb_groups_reset(&l->g);
	}
	free(l);
	return res;
}

/* The attribute before "=%u" at t[at] (at indexes the '%'), into attr;
 * -1 when %u is not a plain equality's whole value. */
static int
u_attribute(const char *t, size_t at, char *attr, size_t len)
{
	size_t end, start;

	if (at < 2 || t[at - 1] != '=' || (t[at + 2] != ')' && t[at + 2] != '\0'))
		return -1;
	end = at - 1;
	start = end;
	while (start > 0 && (isalnum((unsigned char)t[start - 1]) || t[start - 1] == '-' ||
			     t[start - 1] == '.' || t[start - 1] == ';'))
		start--;
	if (start == end || (start > 0 && t[start - 1] != '(') || end - start >= len)
		return -1;
	memcpy(attr, t + start, end - start);
	attr[end - start] = '\0';
	return 0;
}

int
pa_ldap_identity_check(const void *ctx, const char *filter_template, bool exact_name,
		       struct pa_error *err)
{
	const struct ldapb *b = ctx;
	const char *u;
	char attr[128];

	if (!b->search_mode) {
		pa_error_set(err, "finding an entry for a principal needs the [ldap] backend in "
			     "search-then-bind mode (bind_dn, bind_password_file, base_dn)");
		return -1;
	}
	if (!exact_name || strstr(filter_template, "%u") == NULL)
		return 0;
	/* The check compares user_name_attribute's value with the name: it
	 * means something only when that is the attribute %u was matched
	 * against, everywhere in the filter. */
	for (u = strstr(filter_template, "%u"); u != NULL; u = strstr(u + 2, "%u")) {
		if (u_attribute(filter_template, (size_t)(u - filter_template), attr,
				sizeof(attr)) != 0 ||
		    b->user_name_attribute[0] == '\0' ||
		    strcasecmp(attr, b->user_name_attribute) != 0) {
			pa_error_set(err, "name_case = exact needs ldap_user_filter to match %%u only "
				     "as (%s=%%u), the user_name_attribute it compares; or set "
				     "name_case = ignore", b->user_name_attribute[0] != '\0'
							     ? b->user_name_attribute : "ATTR");
			return -1;
		}
	}
	return 0;
}

enum pa_result
pa_ldap_identity_for(void *ctx, const char *filter_template, const char *name,
		     const char *principal, bool exact_name, struct pa_identity *who,
		     struct pa_error *err)
{
	struct ldapb *b = ctx;
	struct pa_deadline deadline = pa_deadline_in(b->timeout_ms, pa_now_us());
	const struct pa_deadline *dl = &deadline;
	struct lookup *l = NULL;
	struct pa_credentials *cred = NULL;
	enum pa_result res = PA_UNAVAILABLE;
	char esc[PA_USER_MAX * 3 + 1], *filter = NULL;
	bool by_principal = strstr(filter_template, "%p") != NULL;
	const char *value = by_principal ? principal : name, *unsafe;

	if (!b->search_mode) {
		pa_error_set(err, "ldap: looking a name up needs search-then-bind (bind_dn)");
		goto done;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL || (cred = calloc(1, sizeof(*cred))) == NULL ||
	    (filter = malloc(FILTER_MAX)) == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	if (pa_strlcpy(cred->user, name, sizeof(cred->user)) != 0 ||
	    pa_ldap_escape_filter(value, strlen(value), esc, sizeof(esc)) < 0 ||
	    pa_ldap_expand(filter_template, by_principal ? 'p' : 'u', esc, filter,
			   FILTER_MAX) < 0) {
		pa_error_set(err, "ldap: identity filter too long or not understood");
		goto done;
	}
	cred->user_len = strlen(cred->user);
	l->cred = cred;
	l->filter = filter;
	if (ldapb_pool_run(b, b->svc, dl, step_find, l, err) != LDAP_SUCCESS)
		goto done;
	if (l->entries == 0) {
		res = PA_NOT_FOUND;
		goto done;
	}
	if (l->entries > 1 || l->dn[0] == '\0') {
		pa_error_set(err, "ldap: the filter matches more than one entry or an unusable DN");
		res = PA_DENIED;
		goto done;
	}
	/* uid matching ignores case, MIT principals do not: ALICE@REALM is
	 * another principal than alice@REALM, and must not get her entry. */
	if (exact_name && !by_principal && strcmp(l->name, name) != 0) {
		pa_error_set(err, "ldap: the entry found for %s has %s \"%s\", not the same name "
			     "exactly (name_case = exact)", name, b->user_name_attribute, l->name);
		res = PA_DENIED;
		goto done;
	}
	if (b->group_base_dn[0] != '\0' &&
	    ldapb_pool_run(b, b->svc, dl, step_groups, l, err) != LDAP_SUCCESS)
		goto done;
	res = PA_DENIED;
	if (l->g.overflow) {
		pa_error_set(err, "ldap: the groups do not fit in %d bytes", PA_GROUPS_MAX);
		goto done;
	}
	if (l->expiry_bad) {
		pa_error_set(err, "ldap: %s is not understood", b->expiry_attribute);
		goto done;
	}
	if (l->expires_ms > 0) {
		struct timespec wall;

		clock_gettime(CLOCK_REALTIME, &wall);
		if ((int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 >= l->expires_ms) {
			pa_error_set(err, "ldap: the account has expired");
			goto done;
		}
		who->expires_ms = l->expires_ms;
	}
	if (pa_strlcpy(who->user, l->name[0] != '\0' ? l->name : name, sizeof(who->user)) != 0 ||
	    pa_strlcpy(who->groups, l->g.list, sizeof(who->groups)) != 0) {
		pa_error_set(err, "ldap: name or groups too long");
		goto done;
	}
	if ((unsafe = pa_name_unsafe(who->user)) != NULL) {
		pa_error_set(err, "ldap: the entry's name %s", unsafe);
		goto done;
	}
	res = PA_GRANTED;
done:
	if (l != NULL)
		OPENSSL_cleanse(l, sizeof(*l));
	free(l);
	free(cred);
	free(filter);
	return res;
}
