/*
 * A private slapd for the integration tests.  See ldap_server.h for what
 * it guarantees; the notes here are about how.
 *
 * slapd runs as the current user (root in CI, where it must not switch to
 * the openldap user: no -u is passed) with -d 0, which keeps it in the
 * foreground as our child, so PR_SET_PDEATHSIG reaches it.  Certificates
 * are made with the openssl command at every start (EC keys: fast).
 */
#include "ldap_server.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
slapd_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
pa_ldap_tool(const char *const *argv, char *out, size_t outlen)
{
	char err[1024];
	int rc = pa_run(argv, out, outlen, err, sizeof(err));

	if (rc != 0 && out != NULL && outlen > 0 && out[0] == '\0')
		snprintf(out, outlen, "%s", err);
	return rc;
}

/* Runs one openssl command; prints what it said when it fails. */
static int
openssl(const char *const *argv)
{
	char out[2048], err[2048];
	int rc = pa_run(argv, out, sizeof(out), err, sizeof(err));

	if (rc != 0)
		fprintf(stderr, "ldap_server: %s %s: exit %d: %s%s\n", argv[0], argv[1], rc, out, err);
	return rc;
}

/* A CA (name.crt, name.key) in dir. */
static int
make_ca(const char *dir, const char *name, const char *cn)
{
	char *crt = pa_strdupf("%s/%s.crt", dir, name), *key = pa_strdupf("%s/%s.key", dir, name);
	char *subj = pa_strdupf("/CN=%s", cn);
	const char *argv[] = { "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
			       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
			       crt, "-days", "2", "-subj", subj, "-addext",
			       "basicConstraints=critical,CA:TRUE", "-addext",
			       "keyUsage=critical,keyCertSign,cRLSign", NULL };
	int rc = openssl(argv);

	free(crt);
	free(key);
	free(subj);
	return rc;
}

static int
make_certs(struct pa_slapd *s)
{
	char *key = pa_strdupf("%s/server.key", s->dir), *csr = pa_strdupf("%s/server.csr", s->dir);
	char *crt = pa_strdupf("%s/server.crt", s->dir), *cakey = pa_strdupf("%s/ca.key", s->dir);
	char *ext = pa_strdupf("%s/server.ext", s->dir), *serial = pa_strdupf("%s/ca.srl", s->dir);
	const char *req[] = { "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
			      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
			      "-subj", "/CN=127.0.0.1", NULL };
	const char *sign[] = { "openssl", "x509", "-req", "-in", csr, "-CA", s->ca, "-CAkey", cakey,
			       "-CAcreateserial", "-CAserial", serial, "-out", crt, "-days", "2",
			       "-extfile", ext, NULL };
	int rc = -1;

	if (make_ca(s->dir, "ca", "proxyauthd test CA") != 0 ||
	    make_ca(s->dir, "bad-ca", "unrelated test CA") != 0)
		goto done;
	if (pa_write_file(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
			  "basicConstraints=critical,CA:FALSE\n"
			  "keyUsage=critical,digitalSignature,keyEncipherment\n"
			  "extendedKeyUsage=serverAuth\n") != 0)
		goto done;
	if (openssl(req) != 0 || openssl(sign) != 0)
		goto done;
	rc = 0;
done:
	free(key);
	free(csr);
	free(crt);
	free(cakey);
	free(ext);
	free(serial);
	return rc;
}

/* 0 once an anonymous read of the root DSE answers. */
static int
slapd_ping(const struct pa_slapd *s)
{
	const char *argv[] = { "ldapsearch", "-x", "-LLL", "-o", "nettimeout=2", "-H", s->uri, "-b",
			       "", "-s", "base", "(objectClass=*)", "1.1", NULL };
	char out[256], err[256];

	return pa_run(argv, out, sizeof(out), err, sizeof(err)) == 0 ? 0 : -1;
}

static int
slapd_spawn(struct pa_slapd *s)
{
	pid_t parent = getpid();
	char *listen = pa_strdupf("ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", s->port, s->tls_port);
	int waited, status;

	if ((s->pid = fork()) < 0) {
		s->pid = 0;
		free(listen);
		return -1;
	}
	if (s->pid == 0) {
		sigset_t none;
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if ((fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600)) < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		if ((fd = open("/dev/null", O_RDONLY)) >= 0)
			dup2(fd, 0);
		closefrom(3);
		execl("/usr/sbin/slapd", "slapd", "-f", s->conf, "-h", listen, "-d", "0",
		      (char *)NULL);
		_exit(127);
	}
	free(listen);
	for (waited = 0; waited <= 10000; waited += 25) {
		if (slapd_ping(s) == 0)
			return 0;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			break;
		}
		slapd_sleep_ms(25);
	}
	{
		char *log = pa_read_file(s->log, NULL);

		fprintf(stderr, "ldap_server: slapd on port %d did not come up; its log:\n%s\n",
			s->port, log != NULL ? log : "(none)");
		free(log);
	}
	(void)pa_slapd_stop(s);
	return -1;
}

int
pa_slapd_start(struct pa_slapd *s)
{
	const char *tests = getenv("PA_TESTS_DIR");
	char *conf, *db, *fixture, out[4096];
	int rc;

	memset(s, 0, sizeof(*s));
	if (pa_tmpdir(s->dir, sizeof(s->dir)) != 0) {
		s->dir[0] = '\0';
		return -1;
	}
	snprintf(s->conf, sizeof(s->conf), "%s/slapd.conf", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/slapd.log", s->dir);
	snprintf(s->ca, sizeof(s->ca), "%s/ca.crt", s->dir);
	snprintf(s->bad_ca, sizeof(s->bad_ca), "%s/bad-ca.crt", s->dir);
	snprintf(s->svc_secret, sizeof(s->svc_secret), "%s/svc.secret", s->dir);
	if ((s->port = pa_free_port()) <= 0 || (s->tls_port = pa_free_port()) <= 0 ||
	    s->tls_port == s->port)
		return -1;
	snprintf(s->uri, sizeof(s->uri), "ldap://127.0.0.1:%d", s->port);
	snprintf(s->uris, sizeof(s->uris), "ldaps://127.0.0.1:%d", s->tls_port);
	if (make_certs(s) != 0 || pa_write_file(s->svc_secret, PA_LDAP_SVC_PASSWORD "\n") != 0)
		return -1;
	db = pa_strdupf("%s/db", s->dir);
	if (mkdir(db, 0700) != 0) {
		free(db);
		return -1;
	}
	conf = pa_strdupf(
		"include /etc/ldap/schema/core.schema\n"
		"include /etc/ldap/schema/cosine.schema\n"
		"include /etc/ldap/schema/inetorgperson.schema\n"
		"modulepath /usr/lib/ldap\n"
		"moduleload back_mdb\n"
		"moduleload memberof\n"
		/* For its schema only (pwdEndTime): no overlay, no policy. */
		"moduleload ppolicy\n"
		"pidfile %s/slapd.pid\n"
		"argsfile %s/slapd.args\n"
		"TLSCACertificateFile %s\n"
		"TLSCertificateFile %s/server.crt\n"
		"TLSCertificateKeyFile %s/server.key\n"
		"database mdb\n"
		"maxsize 16777216\n"
		"suffix \"" PA_LDAP_BASE "\"\n"
		"rootdn \"" PA_LDAP_ROOT_DN "\"\n"
		"rootpw " PA_LDAP_ROOT_PASSWORD "\n"
		"directory %s\n"
		"index objectClass eq\n"
		"index uid eq\n"
		"index member eq\n"
		"overlay memberof\n"
		"access to attrs=userPassword by * auth\n"
		"access to dn.base=\"\" by * read\n"
		"access to dn.subtree=\"ou=groups," PA_LDAP_BASE "\" by dn.exact=\""
		PA_LDAP_SVC_DN "\" read by users read by * none\n"
		"access to * by dn.exact=\"" PA_LDAP_SVC_DN "\" read by self read by * none\n",
		s->dir, s->dir, s->ca, s->dir, s->dir, db);
	free(db);
	rc = pa_write_file(s->conf, conf);
	free(conf);
	if (rc != 0 || slapd_spawn(s) != 0)
		return -1;
	fixture = pa_strdupf("%s/ldap/fixture.ldif", tests != NULL ? tests : "tests");
	{
		const char *argv[] = { "ldapadd", "-x", "-H", s->uri, "-D", PA_LDAP_ROOT_DN, "-w",
				       PA_LDAP_ROOT_PASSWORD, "-f", fixture, NULL };

		rc = pa_ldap_tool(argv, out, sizeof(out));
	}
	free(fixture);
	if (rc != 0) {
		fprintf(stderr, "ldap_server: ldapadd of the fixture: exit %d: %s\n", rc, out);
		return -1;
	}
	return 0;
}

int
pa_slapd_stop(struct pa_slapd *s)
{
	return pa_child_stop(&s->pid, SIGTERM, 5000, "slapd");
}

int
pa_slapd_restart(struct pa_slapd *s)
{
	if (s->pid > 0 || s->dir[0] == '\0')
		return -1;
	return slapd_spawn(s);
}

void
pa_slapd_destroy(struct pa_slapd *s)
{
	(void)pa_slapd_stop(s);
	if (s->dir[0] != '\0')
		pa_rmtree(s->dir);
	memset(s, 0, sizeof(*s));
}
