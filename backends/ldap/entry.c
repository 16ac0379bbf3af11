/*
 * LDAP backend: what a user's entry says (see ldapb.h for the other
 * files).  Groups come from group_attribute on the entry (the first RDN
 * value of each DN, e.g. memberOf), or from a search under group_base_dn
 * with group_filter (%d the user's DN, filter-escaped) taking
 * group_name_attribute (its RDN's value when it has several); a name
 * that would break the comma list or the header is left out, and groups
 * that do not fit (or a search cut short by a size limit) set overflow,
 * which verify turns into a denial rather than a guess.  The canonical
 * name is user_name_attribute's value (the DN's, when it has several);
 * the expiry is expiry_attribute's, in the format its name says.
 */
#include "fold.h"
#include "ldap_escape.h"
#include "ldapb.h"
#include "text.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

void
ldapb_groups_reset(struct groups *g)
{
	if (g->len > 0)
		OPENSSL_cleanse(g->list, g->len);
	g->list[0] = '\0';
	g->len = 0;
	g->overflow = false;
}

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
void
ldapb_groups_from_entry(struct ldapb *b, LDAP *ld, LDAPMessage *entry, const char *attr,
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

/* The value of entry e's RDN when that RDN is attr alone ("cn=team7"
 * for cn), into buf[size] (NUL-terminated); returns its length, or -1
 * for another attribute, a multi-valued RDN, a binary or unfitting
 * value. */
static long
rdn_value(LDAP *ld, LDAPMessage *e, const char *attr, char *buf, size_t size)
{
	size_t alen = strlen(attr);
	char *text = ldap_get_dn(ld, e);
	LDAPDN dn = NULL;
	LDAPAVA *ava;
	long n = -1;

	if (text != NULL && ldap_str2dn(text, &dn, LDAP_DN_FORMAT_LDAPV3) == LDAP_SUCCESS &&
	    dn != NULL && dn[0] != NULL && (ava = dn[0][0]) != NULL && dn[0][1] == NULL &&
	    !(ava->la_flags & LDAP_AVA_BINARY) && ava->la_attr.bv_len == alen &&
	    strncasecmp(ava->la_attr.bv_val, attr, alen) == 0 && ava->la_value.bv_len < size) {
		memcpy(buf, ava->la_value.bv_val, ava->la_value.bv_len);
		buf[ava->la_value.bv_len] = '\0';
		n = (long)ava->la_value.bv_len;
	}
	ldap_dnfree(dn);
	ldap_memfree(text);
	return n;
}

/* A group entry the group search found, by its one value of
 * group_name_attribute or, when it has several, by its RDN's value (as
 * the directory, memberOf and SSSD name it): a second value is no second
 * group, or whoever may write the entry could name it after any group.
 * Several values and an RDN of another attribute: left out. */
static void
group_add_entry(struct ldapb *b, LDAP *ld, LDAPMessage *e, struct groups *g)
{
	struct berval **vals = ldap_get_values_len(ld, e, b->group_name_attribute);
	char rdn[1024];
	long n;

	if (vals != NULL && vals[0] != NULL && vals[1] == NULL)
		group_add(b, g, vals[0]->bv_val, vals[0]->bv_len);
	else if (vals != NULL && vals[0] != NULL &&
		 (n = rdn_value(ld, e, b->group_name_attribute, rdn, sizeof(rdn))) >= 0)
		group_add(b, g, rdn, (size_t)n);
	else if (vals != NULL && vals[0] != NULL)
		pa_log_msg(b->env->log, PA_LOG_WARN, "ldap: a group has several values of %s "
			   "and its DN is not named by one of them; left out",
			   b->group_name_attribute);
	ldap_value_free_len(vals);
}

/* Groups by search under group_base_dn for the user's dn. */
int
ldapb_groups_search(struct ldapb *b, LDAP *ld, const char *dn, const struct pa_deadline *dl,
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
	rc = ldapb_search(ld, b->group_base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, 0, dl, &chain);
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED)
		for (e = ldap_first_entry(ld, chain); e != NULL; e = ldap_next_entry(ld, e))
			group_add_entry(b, ld, e, g);
	ldap_msgfree(chain);
	if (rc == LDAP_SIZELIMIT_EXCEEDED)
		g->overflow = true;	/* incomplete: refused rather than guessed */
	else if (rc != LDAP_SUCCESS)
		ldapb_diag(ld, rc, "group search", err);
	return rc == LDAP_SIZELIMIT_EXCEEDED ? LDAP_SUCCESS : rc;
}

/* A value of user_name_attribute that could be a user name: printable
 * UTF-8 of at most PA_USER_MAX bytes, no ':'. */
static bool
name_value(const struct berval *v)
{
	return v->bv_len > 0 && v->bv_len <= PA_USER_MAX && pa_utf8_valid(v->bv_val, v->bv_len) &&
	       !pa_has_control(v->bv_val, v->bv_len) && memchr(v->bv_val, ':', v->bv_len) == NULL;
}

/* The value of attr on entry e into name: the one there is, or, when
 * there are several (aliases), the one in the entry's DN ("uid=alice"),
 * or, when the DN is of another attribute, the one that folds like the
 * typed name, which is the one the directory matched; else name stays "".
 * Not the alias typed when the DN names the entry: whoever may write
 * her own entry could add any name as an alias and log in under it. */
void
ldapb_entry_name(LDAP *ld, LDAPMessage *e, const char *attr, const struct pa_credentials *cred,
		 char name[PA_USER_MAX + 1])
{
	struct berval **v = ldap_get_values_len(ld, e, attr);
	char typed[PA_FOLD_MAX], folded[PA_FOLD_MAX], rdn[PA_USER_MAX + 1];
	const struct berval *pick = NULL;
	struct berval rv;
	long n;
	int i;

	if (v != NULL && v[0] != NULL && v[1] == NULL) {
		pick = v[0];
	} else if (v != NULL && v[0] != NULL &&
		   (n = rdn_value(ld, e, attr, rdn, sizeof(rdn))) >= 0) {
		rv.bv_val = rdn;
		rv.bv_len = (ber_len_t)n;
		pick = &rv;
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
void
ldapb_entry_expiry(struct ldapb *b, LDAP *ld, LDAPMessage *e, struct lookup *l)
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
