/*
 * LDAP backend: the [ldap] keys, open and close (see ldapb.h for the
 * other files).  Open reads the keys, checks them all (with proxyauthd -t
 * every problem is listed, each at its place in the file, not just the
 * first), reads the service password from bind_password_file, and makes
 * the two pools; nothing connects yet.  The mode is direct bind when
 * user_dn_template is set, else search-then-bind, and mixing the keys of
 * both is refused.  Before libldap's first call, LDAPNOINIT switches off
 * ldap.conf, ldaprc and LDAP* variables.  Close scrubs the service
 * password.
 */
#include "ldap_escape.h"
#include "ldapb.h"
#include "problems.h"
#include "secret.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

struct problems {
	const struct pa_section *conf;
	struct pa_problems pr;		/* the last in err: open() returns it */
};

static void
problem(struct problems *p, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records a problem at key's place.  With a report (proxyauthd -t) the
 * previous one is printed, so that every problem is listed. */
static void
problem(struct problems *p, const char *key, const char *fmt, ...)
{
	char where[256];
	va_list ap;

	pa_conf_where(p->conf, key, where, sizeof(where));
	va_start(ap, fmt);
	(void)pa_problemv(&p->pr, where, 0, fmt, ap);
	va_end(ap);
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
	struct problems p = { conf, { env->report, err, 0 } };
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
	    (b->svc = pa_connpool_new(&ldapb_service_driver, b, n, env->log)) == NULL ||
	    (b->usr = pa_connpool_new(&ldapb_user_driver, b, n, env->log)) == NULL) {
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
	if (p.pr.n > 0) {
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
	.verify = ldapb_verify,
	.probe = ldapb_probe,
	.reload = NULL,
	.close = ldap_close,
};
