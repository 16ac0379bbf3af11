/*
 * A private MIT KDC for the integration tests (kdc_server.h).
 */
#include "kdc_server.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int
kdc_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL)
		return -1;
	fputs(text, fp);
	return fclose(fp) == 0 ? 0 : -1;
}

int
pa_kdc_start(struct pa_kdc *k)
{
	char path[300], text[2048], out[4096], err[4096];
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	int i;

	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "%s/pa-kdc-XXXXXX", tmp);
	if (mkdtemp(k->dir) == NULL) {
		k->dir[0] = '\0';
		return -1;
	}
	k->port = pa_free_port();
	snprintf(k->krb5_conf, sizeof(k->krb5_conf), "%s/krb5.conf", k->dir);
	snprintf(k->kdc_conf, sizeof(k->kdc_conf), "%s/kdc.conf", k->dir);
	snprintf(k->log, sizeof(k->log), "%s/kdc.log", k->dir);
	snprintf(text, sizeof(text),
		 "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n"
		 " dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n"
		 " udp_preference_limit = 1\n ticket_lifetime = 10h\n"
		 /* expired tickets must fail within seconds, not 5 minutes
		  * (PA_KDC_CLOCKSKEW; a token must then be used within it) */
		 " clockskew = " PA_KDC_CLOCKSKEW_TEXT "\n"
		 "[realms]\n %s = {\n  kdc = 127.0.0.1:%d\n }\n"
		 "[logging]\n default = FILE:%s\n",
		 PA_KDC_REALM, PA_KDC_REALM, k->port, k->log);
	if (kdc_write(k->krb5_conf, text) != 0)
		return -1;
	snprintf(text, sizeof(text),
		 "[kdcdefaults]\n kdc_listen = 127.0.0.1:%d\n kdc_tcp_listen = 127.0.0.1:%d\n"
		 "[realms]\n %s = {\n  database_name = %s/principal\n"
		 "  key_stash_file = %s/stash\n  acl_file = %s/kadm5.acl\n"
		 "  max_life = 10h\n  max_renewable_life = 0\n"
		 "  supported_enctypes = aes256-cts-hmac-sha1-96:normal\n }\n"
		 "[logging]\n kdc = FILE:%s\n",
		 k->port, k->port, PA_KDC_REALM, k->dir, k->dir, k->dir, k->log);
	if (kdc_write(k->kdc_conf, text) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/kadm5.acl", k->dir);
	if (kdc_write(path, "") != 0)
		return -1;
	setenv("KRB5_CONFIG", k->krb5_conf, 1);
	setenv("KRB5_KDC_PROFILE", k->kdc_conf, 1);
	/* MIT's default replay caches go to /var/tmp: keep them here. */
	setenv("KRB5RCACHEDIR", k->dir, 1);
	{
		const char *argv[] = { "kdb5_util", "-r", PA_KDC_REALM, "create", "-s", "-P",
				       "master-pw-for-tests", NULL };
		if (pa_run(argv, out, sizeof(out), err, sizeof(err)) != 0) {
			fprintf(stderr, "kdb5_util create failed: %s%s\n", out, err);
			return -1;
		}
	}
	if ((k->pid = fork()) < 0) {
		k->pid = 0;
		return -1;
	}
	if (k->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("krb5kdc", "krb5kdc", "-n", "-r", PA_KDC_REALM, (char *)NULL);
		_exit(127);
	}
	/* Ready when it has bound its port: the log says so. */
	for (i = 0; i < 100; i++) {
		size_t n = 0;
		char *log = pa_read_file(k->log, &n);
		int up = log != NULL && strstr(log, "commencing operation") != NULL;

		free(log);
		if (up)
			return 0;
		if (waitpid(k->pid, NULL, WNOHANG) == k->pid) {
			k->pid = 0;
			break;
		}
		redis_sleep_ms(50);
	}
	fprintf(stderr, "krb5kdc did not come up (log %s)\n", k->log);
	return -1;
}

void
pa_kdc_destroy(struct pa_kdc *k)
{
	int i;

	if (k->pid > 0) {
		kill(k->pid, SIGTERM);
		for (i = 0; i < 100 && waitpid(k->pid, NULL, WNOHANG) == 0; i++)
			redis_sleep_ms(50);
		if (i == 100) {
			kill(k->pid, SIGKILL);
			waitpid(k->pid, NULL, 0);
		}
		k->pid = 0;
	}
	if (k->dir[0] != '\0') {
		pa_rmtree(k->dir);
		k->dir[0] = '\0';
		unsetenv("KRB5_CONFIG");
		unsetenv("KRB5_KDC_PROFILE");
		unsetenv("KRB5RCACHEDIR");
	}
}

int
pa_kdc_admin(struct pa_kdc *k, const char *query)
{
	char out[4096], err[4096];
	const char *argv[] = { "kadmin.local", "-r", PA_KDC_REALM, "-q", query, NULL };

	(void)k;
	if (pa_run(argv, out, sizeof(out), err, sizeof(err)) != 0 ||
	    strstr(err, "rror") != NULL) {
		fprintf(stderr, "kadmin.local -q '%s' failed: %s%s\n", query, out, err);
		return -1;
	}
	return 0;
}

int
pa_kdc_add_keytab(struct pa_kdc *k, const char *principal, const char *keytab)
{
	char q[600];

	snprintf(q, sizeof(q), "addprinc -randkey %s", principal);
	if (pa_kdc_admin(k, q) != 0)
		return -1;
	snprintf(q, sizeof(q), "ktadd -k %s %s", keytab, principal);
	return pa_kdc_admin(k, q);
}

int
pa_kdc_kinit(struct pa_kdc *k, const char *principal, const char *keytab, const char *ccache,
	     const char *lifetime)
{
	char out[2048], err[2048], cc[300];
	const char *argv[10];
	int n = 0;

	(void)k;
	snprintf(cc, sizeof(cc), "FILE:%s", ccache);
	argv[n++] = "kinit";
	argv[n++] = "-k";
	argv[n++] = "-t";
	argv[n++] = keytab;
	argv[n++] = "-c";
	argv[n++] = cc;
	if (lifetime != NULL) {
		argv[n++] = "-l";
		argv[n++] = lifetime;
	}
	argv[n++] = principal;
	argv[n] = NULL;
	if (pa_run(argv, out, sizeof(out), err, sizeof(err)) != 0) {
		fprintf(stderr, "kinit %s failed: %s%s\n", principal, out, err);
		return -1;
	}
	return 0;
}

static void
kdc_gss_print(const char *what, OM_uint32 major, OM_uint32 minor)
{
	OM_uint32 m, ctx = 0;
	gss_buffer_desc b;

	fprintf(stderr, "%s:", what);
	do {
		if (gss_display_status(&m, major, GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx, &b) != 0)
			break;
		fprintf(stderr, " %.*s", (int)b.length, (char *)b.value);
		gss_release_buffer(&m, &b);
	} while (ctx != 0);
	do {
		if (gss_display_status(&m, minor, GSS_C_MECH_CODE, GSS_C_NO_OID, &ctx, &b) != 0)
			break;
		fprintf(stderr, "; %.*s", (int)b.length, (char *)b.value);
		gss_release_buffer(&m, &b);
	} while (ctx != 0);
	fputc('\n', stderr);
}

int
pa_kdc_token(const char *ccache, const char *target, int spnego, int mutual, char *out,
	     size_t len)
{
	static gss_OID_desc spnego_oid = { 6, (void *)"\x2b\x06\x01\x05\x05\x02" };
	gss_key_value_element_desc el = { "ccache", ccache };
	gss_key_value_set_desc store = { 1, &el };
	gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
	gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
	gss_name_t name = GSS_C_NO_NAME;
	gss_buffer_desc nb = { strlen(target), (void *)target }, tok = { 0, NULL };
	OM_uint32 major, minor;
	int ret = -1;

	major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
				      GSS_C_INITIATE, &store, &cred, NULL, NULL);
	if (GSS_ERROR(major)) {
		kdc_gss_print("gss_acquire_cred_from", major, minor);
		goto done;
	}
	major = gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
	if (GSS_ERROR(major)) {
		kdc_gss_print("gss_import_name", major, minor);
		goto done;
	}
	major = gss_init_sec_context(&minor, cred, &ctx, name,
				     spnego ? &spnego_oid : (gss_OID)gss_mech_krb5,
				     mutual ? GSS_C_MUTUAL_FLAG : 0, 0, GSS_C_NO_CHANNEL_BINDINGS,
				     GSS_C_NO_BUFFER, NULL, &tok, NULL, NULL);
	if (GSS_ERROR(major)) {
		kdc_gss_print("gss_init_sec_context", major, minor);
		goto done;
	}
	if ((tok.length + 2) / 3 * 4 + 1 > len)
		goto done;
	EVP_EncodeBlock((unsigned char *)out, tok.value, (int)tok.length);
	ret = 0;
done:
	gss_release_buffer(&minor, &tok);
	if (ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
	if (name != GSS_C_NO_NAME)
		gss_release_name(&minor, &name);
	if (cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &cred);
	return ret;
}
