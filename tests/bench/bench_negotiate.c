/*
 * Helpers for tests/bench/negotiate.sh (not part of the daemon):
 *
 *   bench_negotiate tokens CCACHE TARGET N
 *       prints N distinct SPNEGO tokens (base64, one a line) for the
 *       service principal TARGET from the tickets in CCACHE: each
 *       gss_init_sec_context() makes a new authenticator.
 *   bench_negotiate accept-loop KEYTAB THREADS SECONDS TOKENFILE
 *       accepts the tokens of TOKENFILE round-robin with
 *       gss_accept_sec_context() against KEYTAB (replay cache off, so a
 *       token may be accepted again) on THREADS threads for SECONDS;
 *       prints acceptances per second (the ceiling for uncached
 *       Negotiate) and the CPU microseconds (user + system) per acceptance.
 */
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static gss_OID_desc spnego = { 6, (void *)"\x2b\x06\x01\x05\x05\x02" };
static gss_cred_id_t acceptor = GSS_C_NO_CREDENTIAL;
static unsigned char **tok;
static size_t *tok_len, ntok;
static atomic_long done;
static atomic_int stop;

static void
die(const char *what, OM_uint32 major, OM_uint32 minor)
{
	OM_uint32 m, ctx = 0;
	gss_buffer_desc b;

	fprintf(stderr, "%s failed:", what);
	gss_display_status(&m, major, GSS_C_GSS_CODE, GSS_C_NO_OID, &ctx, &b);
	fprintf(stderr, " %.*s", (int)b.length, (char *)b.value);
	gss_release_buffer(&m, &b);
	ctx = 0;
	gss_display_status(&m, minor, GSS_C_MECH_CODE, GSS_C_NO_OID, &ctx, &b);
	fprintf(stderr, "; %.*s\n", (int)b.length, (char *)b.value);
	gss_release_buffer(&m, &b);
	exit(1);
}

static int
tokens(const char *ccache, const char *target, long n)
{
	gss_key_value_element_desc el = { "ccache", ccache };
	gss_key_value_set_desc store = { 1, &el };
	gss_buffer_desc nb = { strlen(target), (void *)target };
	gss_cred_id_t cred;
	gss_name_t name;
	OM_uint32 major, minor;
	char *out = malloc(65536);
	long i;

	major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, GSS_C_NO_OID_SET,
				      GSS_C_INITIATE, &store, &cred, NULL, NULL);
	if (GSS_ERROR(major))
		die("gss_acquire_cred_from", major, minor);
	major = gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
	if (GSS_ERROR(major))
		die("gss_import_name", major, minor);
	for (i = 0; i < n; i++) {
		gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
		gss_buffer_desc t = { 0, NULL };

		major = gss_init_sec_context(&minor, cred, &ctx, name, &spnego, 0, 0,
					     GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER, NULL, &t,
					     NULL, NULL);
		if (GSS_ERROR(major))
			die("gss_init_sec_context", major, minor);
		EVP_EncodeBlock((unsigned char *)out, t.value, (int)t.length);
		puts(out);
		gss_release_buffer(&minor, &t);
		gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
	}
	free(out);
	return 0;
}

static void
read_tokens(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (fp == NULL) {
		perror(path);
		exit(1);
	}
	while ((n = getline(&line, &cap, fp)) > 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		tok = realloc(tok, (ntok + 1) * sizeof(*tok));
		tok_len = realloc(tok_len, (ntok + 1) * sizeof(*tok_len));
		tok[ntok] = malloc((size_t)n);
		tok_len[ntok] = (size_t)EVP_DecodeBlock(tok[ntok], (unsigned char *)line, (int)n);
		while (n > 0 && line[n - 1] == '=') {	/* DecodeBlock counts padding */
			tok_len[ntok]--;
			n--;
		}
		ntok++;
	}
	free(line);
	fclose(fp);
}

static void *
accept_loop(void *arg)
{
	size_t i = (size_t)(long)arg;
	OM_uint32 major, minor;

	while (!atomic_load(&stop)) {
		gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
		gss_buffer_desc in = { tok_len[i % ntok], tok[i % ntok] }, out = { 0, NULL };
		gss_name_t src = GSS_C_NO_NAME;

		major = gss_accept_sec_context(&minor, &ctx, acceptor, &in,
					       GSS_C_NO_CHANNEL_BINDINGS, &src, NULL, &out, NULL,
					       NULL, NULL);
		if (GSS_ERROR(major))
			die("gss_accept_sec_context", major, minor);
		gss_release_buffer(&minor, &out);
		gss_release_name(&minor, &src);
		gss_delete_sec_context(&minor, &ctx, GSS_C_NO_BUFFER);
		atomic_fetch_add(&done, 1);
		i += 7;
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "tokens") == 0)
		return tokens(argv[2], argv[3], atol(argv[4]));
	if (argc == 6 && strcmp(argv[1], "accept-loop") == 0) {
		gss_key_value_element_desc el[2] = { { "keytab", argv[2] }, { "rcache", "none:" } };
		gss_key_value_set_desc store = { 2, el };
		gss_OID_desc krb5 = *gss_mech_krb5;
		gss_OID_set_desc set = { 1, &krb5 };
		int threads = atoi(argv[3]), secs = atoi(argv[4]), i;
		pthread_t *t = calloc((size_t)threads, sizeof(*t));
		OM_uint32 major, minor;

		read_tokens(argv[5]);
		if (ntok == 0)
			return 1;
		major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE,
					      GSS_C_NO_OID_SET, GSS_C_ACCEPT, &store, &acceptor,
					      NULL, NULL);
		if (GSS_ERROR(major))
			die("gss_acquire_cred_from", major, minor);
		gss_set_neg_mechs(&minor, acceptor, &set);
		for (i = 0; i < threads; i++)
			pthread_create(&t[i], NULL, accept_loop, (void *)(long)i);
		sleep((unsigned)secs);
		atomic_store(&stop, 1);
		for (i = 0; i < threads; i++)
			pthread_join(t[i], NULL);
		{
			struct rusage ru;
			double cpu;

			getrusage(RUSAGE_SELF, &ru);
			cpu = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec +
			      ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
			printf("%.0f %.1f\n", (double)atomic_load(&done) / secs,
			       cpu / (double)atomic_load(&done));
		}
		return 0;
	}
	fprintf(stderr, "usage: bench_negotiate tokens CCACHE TARGET N\n"
		"       bench_negotiate accept-loop KEYTAB THREADS SECONDS TOKENFILE\n");
	return 2;
}
