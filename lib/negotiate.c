/*
 * Kerberos Negotiate acceptor (negotiate.h) on MIT krb5's GSS-API.
 *
 * The acceptor credential is acquired once, at open, from the configured
 * keytab with gss_acquire_cred_from() (no KRB5_KTNAME, so nothing else in
 * the process is affected), limited to the Kerberos mechanism under
 * SPNEGO with gss_set_neg_mechs(): NTLM through a GSS plugin is never
 * negotiated.  replay_cache names the replay cache (the cred store's
 * "rcache"); empty keeps MIT's default, which honours KRB5RCACHETYPE and
 * KRB5RCACHEDIR.
 *
 * MIT's acceptor credential holds a mutex that every acceptance with it
 * takes, so one credential shared by all workers makes them queue (and
 * sleep and wake) on it: each worker thread acquires its own on first
 * use (a pthread key), from the same keytab; they are all released at
 * close, when no worker runs any more.
 *
 * Invariants: a context is made and deleted inside one call, so nothing
 * is shared between requests but the thread's credential; every GSS buffer and
 * name is released on every path; a name that is not printable UTF-8 or
 * does not fit is a denial, never cut.
 */
#include "negotiate.h"
#include "secret.h"
#include "fold.h"
#include "text.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
check_groups_filter(const char *value, struct pa_error *err)
{
	if ((strstr(value, "%u") == NULL) == (strstr(value, "%p") == NULL)) {
		pa_error_set(err, "ldap_user_filter must hold one of %%u (the name handed on) "
			     "or %%p (the whole principal)");
		return -1;
	}
	return 0;
}

const struct pa_conf_key pa_negotiate_keys[] = {
	{ "keytab", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "service_principal", PA_CONF_STRING, 0, 0, "", NULL, NULL },
	{ "realms", PA_CONF_LIST, 0, 0, "", NULL, NULL },
	{ "strip_realm", PA_CONF_BOOL, 0, 0, "true", NULL, NULL },
	{ "groups_from", PA_CONF_ENUM, 0, 0, "none", "none|ldap", NULL },
	{ "ldap_user_filter", PA_CONF_STRING, 0, 0, "(&(objectClass=inetOrgPerson)(uid=%u))",
	  NULL, check_groups_filter },
	{ "name_case", PA_CONF_ENUM, 0, 0, "exact", "exact|ignore", NULL },
	{ "replay_cache", PA_CONF_STRING, 0, 0, "", NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

struct thread_cred {
	gss_cred_id_t cred;
	struct thread_cred *next;
};

struct pa_negotiate {
	gss_cred_id_t cred;		/* the one acquired at open (checks, -t) */
	gss_name_t name;		/* service_principal, or GSS_C_NO_NAME */
	char *keytab, *rcache;
	pthread_key_t key;		/* this thread's struct thread_cred */
	bool key_made;
	pthread_mutex_t lock;		/* creds */
	struct thread_cred *creds;	/* every thread's, for close */
	char *realms;		/* normalised comma list, never empty */
	char *ldap_filter;
	bool name_exact;		/* name_case = exact */
	bool strip_realm;
	enum pa_negotiate_groups groups;
};

/* "major: minor" text of a GSS failure into err, prefixed with what. */
static void
gss_reason(const char *what, OM_uint32 major, OM_uint32 minor, gss_OID mech,
	   struct pa_error *err)
{
	char text[400] = "";
	size_t pos = 0;
	OM_uint32 m, ctx;
	gss_buffer_desc b;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		ctx = 0;
		do {
			b.length = 0;
			b.value = NULL;
			if (gss_display_status(&m, pass == 0 ? major : minor,
					       pass == 0 ? GSS_C_GSS_CODE : GSS_C_MECH_CODE,
					       pass == 0 ? GSS_C_NO_OID : mech, &ctx, &b) !=
			    GSS_S_COMPLETE)
				break;
			if (b.length > 0 && !(pass == 1 && minor == 0)) {
				if (pos > 0)
					(void)pa_buf_append(text, sizeof(text), &pos, ": ", 2);
				(void)pa_buf_append(text, sizeof(text), &pos, b.value,
						    b.length);
			}
			gss_release_buffer(&m, &b);
		} while (ctx != 0);
	}
	pa_error_set(err, "%s: %s", what, text[0] != '\0' ? text : "unknown GSS-API error");
}

static void
where_err(const struct pa_section *sec, const char *key, struct pa_error *err, const char *msg)
{
	char where[256];

	pa_conf_where(sec, key, where, sizeof(where));
	pa_error_set(err, "%s: %s", where, msg);
}

/* An acceptor credential from n's keytab, limited to Kerberos under
 * SPNEGO.  0, or -1 with err set. */
static int
acquire(const struct pa_negotiate *n, gss_cred_id_t *cred, struct pa_error *err)
{
	gss_key_value_element_desc elems[2];
	gss_key_value_set_desc store = { 0, elems };
	gss_OID_desc krb5 = *gss_mech_krb5;
	gss_OID_set_desc krb5_set = { 1, &krb5 };
	OM_uint32 major, minor;

	elems[store.count].key = "keytab";
	elems[store.count++].value = n->keytab;
	if (n->rcache[0] != '\0') {
		elems[store.count].key = "rcache";
		elems[store.count++].value = n->rcache;
	}
	major = gss_acquire_cred_from(&minor, n->name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
				      GSS_C_ACCEPT, &store, cred, NULL, NULL);
	if (GSS_ERROR(major)) {
		gss_reason("cannot use the keytab", major, minor, &krb5, err);
		return -1;
	}
	major = gss_set_neg_mechs(&minor, *cred, &krb5_set);
	if (GSS_ERROR(major)) {
		gss_reason("cannot limit SPNEGO to Kerberos", major, minor, GSS_C_NO_OID, err);
		gss_release_cred(&minor, cred);
		return -1;
	}
	return 0;
}

/* This thread's credential, acquired on its first call; NULL with err set
 * when it cannot be. */
static gss_cred_id_t
thread_cred(const struct pa_negotiate *cn, struct pa_error *err)
{
	struct pa_negotiate *n = (struct pa_negotiate *)cn;	/* the list only */
	struct thread_cred *t = pthread_getspecific(n->key);

	if (t != NULL)
		return t->cred;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		pa_error_set(err, "out of memory");
		return GSS_C_NO_CREDENTIAL;
	}
	if (acquire(n, &t->cred, err) != 0) {
		free(t);
		return GSS_C_NO_CREDENTIAL;
	}
	pthread_mutex_lock(&n->lock);
	t->next = n->creds;
	n->creds = t;
	pthread_mutex_unlock(&n->lock);
	pthread_setspecific(n->key, t);
	return t->cred;
}

int
pa_negotiate_open(const struct pa_section *sec, const struct pa_log *log,
		  struct pa_negotiate **out, struct pa_error *err)
{
	const char *keytab = pa_conf_str(sec, pa_negotiate_keys, "keytab");
	const char *sp = pa_conf_str(sec, pa_negotiate_keys, "service_principal");
	const char *rcache = pa_conf_str(sec, pa_negotiate_keys, "replay_cache");
	const char *realms = pa_conf_str(sec, pa_negotiate_keys, "realms");
	gss_name_t name = GSS_C_NO_NAME;
	gss_buffer_desc nb;
	struct pa_negotiate *n = NULL;
	struct pa_error e2 = { { 0 } };
	krb5_context kc = NULL;
	char *def_realm = NULL;
	OM_uint32 major, minor;
	int ret = -1;

	(void)log;
	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	n->cred = GSS_C_NO_CREDENTIAL;
	n->name = GSS_C_NO_NAME;
	pthread_mutex_init(&n->lock, NULL);
	if (pthread_key_create(&n->key, NULL) != 0) {
		pa_error_set(err, "out of thread keys");
		goto done;
	}
	n->key_made = true;
	n->strip_realm = pa_conf_bool(sec, pa_negotiate_keys, "strip_realm");
	n->groups = strcmp(pa_conf_str(sec, pa_negotiate_keys, "groups_from"), "ldap") == 0
			    ? PA_NEG_GROUPS_LDAP : PA_NEG_GROUPS_NONE;
	n->name_exact = strcmp(pa_conf_str(sec, pa_negotiate_keys, "name_case"), "exact") == 0;
	if ((n->ldap_filter = strdup(pa_conf_str(sec, pa_negotiate_keys, "ldap_user_filter"))) ==
	    NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	if (keytab[0] == '\0') {
		where_err(sec, "keytab", err, "[negotiate] needs keytab = FILE");
		goto done;
	}
	if (pa_secret_check(keytab, &e2) != 0) {
		where_err(sec, "keytab", err, e2.msg);
		goto done;
	}
	/* No realms: the default realm of krb5.conf only, never every realm
	 * a cross-realm trust would let in. */
	if (realms[0] == '\0') {
		if (krb5_init_context(&kc) != 0 || krb5_get_default_realm(kc, &def_realm) != 0) {
			where_err(sec, "realms", err, "realms is empty and krb5.conf names no "
				  "default_realm");
			goto done;
		}
		n->realms = strdup(def_realm);
	} else {
		n->realms = strdup(realms);
	}
	if (n->realms == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	if (sp[0] != '\0') {
		nb.value = (void *)sp;
		nb.length = strlen(sp);
		major = gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
		if (GSS_ERROR(major)) {
			gss_reason("service_principal", major, minor, GSS_C_NO_OID, &e2);
			where_err(sec, "service_principal", err, e2.msg);
			goto done;
		}
	}
	n->keytab = strdup(keytab);
	n->rcache = strdup(strcmp(rcache, "none") == 0 ? "none:" : rcache);
	if (n->keytab == NULL || n->rcache == NULL) {
		pa_error_set(err, "out of memory");
		goto done;
	}
	n->name = name;
	name = GSS_C_NO_NAME;
	if (acquire(n, &n->cred, &e2) != 0) {
		where_err(sec, "keytab", err, e2.msg);
		goto done;
	}
	*out = n;
	n = NULL;
	ret = 0;
done:
	if (name != GSS_C_NO_NAME)
		gss_release_name(&minor, &name);
	if (def_realm != NULL)
		krb5_free_default_realm(kc, def_realm);
	if (kc != NULL)
		krb5_free_context(kc);
	pa_negotiate_close(n);
	return ret;
}

void
pa_negotiate_close(struct pa_negotiate *n)
{
	struct thread_cred *t;
	OM_uint32 minor;

	if (n == NULL)
		return;
	if (n->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &n->cred);
	while ((t = n->creds) != NULL) {
		n->creds = t->next;
		gss_release_cred(&minor, &t->cred);
		free(t);
	}
	if (n->key_made)
		pthread_key_delete(n->key);
	pthread_mutex_destroy(&n->lock);
	if (n->name != GSS_C_NO_NAME)
		gss_release_name(&minor, &n->name);
	free(n->keytab);
	free(n->rcache);
	free(n->realms);
	free(n->ldap_filter);
	free(n);
}

int
pa_negotiate_check_access(const struct pa_negotiate *n, struct pa_error *err)
{
	int fd = open(n->keytab, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		pa_error_set(err, "negotiate: keytab %s is not readable by this user: %s "
			     "(make it owned by the user proxyauthd runs as, mode 0600)",
			     n->keytab, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

enum pa_negotiate_groups
pa_negotiate_groups_from(const struct pa_negotiate *n)
{
	return n->groups;
}

const char *
pa_negotiate_ldap_filter(const struct pa_negotiate *n)
{
	return n->ldap_filter;
}

bool
pa_negotiate_name_exact(const struct pa_negotiate *n)
{
	return n->name_exact;
}

/* The realm of a principal: what follows its last unescaped '@'. */
static const char *
principal_realm(const char *p)
{
	const char *at = NULL, *c;

	for (c = p; *c != '\0'; c++) {
		if (*c == '\\' && c[1] != '\0')
			c++;
		else if (*c == '@')
			at = c;
	}
	return at;
}

enum pa_result
pa_negotiate_accept(const struct pa_negotiate *n, const unsigned char *tok, size_t len,
		    struct pa_negotiate_answer *a, struct pa_error *err)
{
	gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
	gss_buffer_desc in = { len, (void *)tok }, outb = { 0, NULL }, nb = { 0, NULL };
	gss_name_t src = GSS_C_NO_NAME;
	gss_OID mech = GSS_C_NO_OID;
	OM_uint32 major, minor, flags = 0, time_rec = 0;
	enum pa_result res = PA_DENIED;
	gss_cred_id_t cred;
	const char *at, *unsafe;
	size_t plen;

	a->principal[0] = a->name[0] = a->reply[0] = '\0';
	a->mutual = false;
	a->lifetime_s = 0;
	if ((cred = thread_cred(n, err)) == GSS_C_NO_CREDENTIAL) {
		res = PA_UNAVAILABLE;
		goto done;
	}
	major = gss_accept_sec_context(&minor, &ctx, cred, &in, GSS_C_NO_CHANNEL_BINDINGS,
				       &src, &mech, &outb, &flags, &time_rec, NULL);
	if (major == GSS_S_CONTINUE_NEEDED) {
		pa_error_set(err, "gss: SPNEGO needs another round (only one-round SPNEGO is "
			     "supported)");
		goto done;
	}
	if (GSS_ERROR(major)) {
		gss_reason("gss", major, minor, mech != GSS_C_NO_OID ? mech : gss_mech_krb5, err);
		if (GSS_ROUTINE_ERROR(major) == GSS_S_NO_CRED)
			res = PA_UNAVAILABLE;
		goto done;
	}
	major = gss_display_name(&minor, src, &nb, NULL);
	if (GSS_ERROR(major)) {
		gss_reason("gss: client name", major, minor, gss_mech_krb5, err);
		goto done;
	}
	plen = nb.length;
	if (plen == 0 || plen > PA_USER_MAX || !pa_utf8_valid(nb.value, plen) ||
	    pa_has_control(nb.value, plen) || memchr(nb.value, '\0', plen) != NULL) {
		pa_error_set(err, "client principal is not a usable name");
		goto done;
	}
	memcpy(a->principal, nb.value, plen);
	a->principal[plen] = '\0';
	at = principal_realm(a->principal);
	if (at == NULL || at == a->principal || at[1] == '\0' ||
	    !pa_list_contains(n->realms, at + 1, strlen(at + 1))) {
		pa_error_set(err, "realm of %s is not in realms", a->principal);
		a->principal[0] = '\0';
		goto done;
	}
	if (n->strip_realm)
		(void)pa_strlcpy_n(a->name, sizeof(a->name), a->principal,
				   (size_t)(at - a->principal));
	else
		(void)pa_strlcpy(a->name, a->principal, sizeof(a->name));
	if (strchr(a->name, ',') != NULL || strchr(a->name, ':') != NULL) {
		pa_error_set(err, "client principal %s holds ',' or ':'", a->principal);
		goto done;
	}
	/* X-Auth-User "alice " would reach the application as alice. */
	if ((unsafe = pa_name_unsafe(a->name)) != NULL) {
		pa_error_set(err, "client principal %s %s", a->principal, unsafe);
		goto done;
	}
	a->lifetime_s = time_rec == GSS_C_INDEFINITE ? UINT64_MAX : time_rec;
	/* The final SPNEGO token: the mutual-authentication reply when the
	 * client asked for one (HTTP sends it only then), else a bare
	 * "accept-completed", which Squid's helper protocol still wants. */
	a->mutual = (flags & GSS_C_MUTUAL_FLAG) != 0;
	if (outb.length > 0 && 10 + (outb.length + 2) / 3 * 4 < sizeof(a->reply)) {
		memcpy(a->reply, "Negotiate ", 10);
		EVP_EncodeBlock((unsigned char *)a->reply + 10, outb.value, (int)outb.length);
	}
	res = PA_GRANTED;
done:
	if (nb.value != NULL)
		gss_release_buffer(&minor, &nb);
	if (outb.value != NULL)
		gss_release_buffer(&minor, &outb);
	if (src != GSS_C_NO_NAME)
		gss_release_name(&minor, &src);
	if (ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
	return res;
}
