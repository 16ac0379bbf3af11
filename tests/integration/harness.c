/*
 * Integration test harness.  See harness.h for what it guarantees; the
 * notes here are about how.
 *
 * Daemons run in a folder of their own under the fixture's folder, so
 * removing the fixture's folder removes everything.  The child closes
 * every inherited descriptor before exec: a test may hold keep-alive
 * sockets to another daemon, and a copy of them in a child would keep
 * those connections open behind the test's back.
 */
#include "harness.h"

#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "harness: curl_global_init failed\n");
		abort();
	}
	/* A daemon that dies mid-request must not kill the test with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
}

void
pa_harness_init(void)
{
	pthread_once(&curl_once, curl_init_once);
}

void
pa_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *
env_or_die(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0') {
		fprintf(stderr, "harness: %s is not set (run the tests through ctest)\n", name);
		abort();
	}
	return v;
}

char *
pa_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

int
pa_tmpdir(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	if ((size_t)snprintf(dir, len, "%s/pa-it.XXXXXX", base) >= len)
		return -1;
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	(void)remove(path);
	return 0;
}

void
pa_rmtree(const char *dir)
{
	if (dir == NULL || dir[0] == '\0')
		return;
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int
write_fd_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int
pa_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc;

	if (fd < 0)
		return -1;
	rc = write_fd_all(fd, text, strlen(text));
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

int
pa_write_file_atomic(const char *path, const char *text)
{
	char tmp[512];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	if (pa_write_file(tmp, text) != 0)
		return -1;
	return rename(tmp, path);
}

char *
pa_read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (fp == NULL)
		return NULL;
	for (;;) {
		if (cap - n < 4097) {
			char *nb = realloc(buf, cap + 65536);
			if (nb == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		r = fread(buf + n, 1, cap - n - 1, fp);
		n += r;
		if (r == 0)
			break;
	}
	fclose(fp);
	buf[n] = '\0';
	if (len != NULL)
		*len = n;
	return buf;
}

int
pa_count(const char *haystack, const char *needle)
{
	size_t nl = strlen(needle);
	int n = 0;
	const char *p = haystack;

	if (nl == 0)
		return 0;
	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += nl;
	}
	return n;
}

/* ---- fixtures ---- */

int
pa_fixture_setup(void **state)
{
	struct pa_fixture *f = calloc(1, sizeof(*f));

	pa_harness_init();
	if (f == NULL || pa_tmpdir(f->dir, sizeof(f->dir)) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int
pa_fixture_teardown(void **state)
{
	struct pa_fixture *f = *state;
	int i, ret = 0;

	if (f == NULL)
		return 0;
	for (i = 0; i < f->n; i++) {
		char *log;

		if (f->d[i].pid > 0) {
			/* Reached only when the test did not stop it itself, so
			 * it already failed; the status matters no more. */
			(void)pa_daemon_stop(&f->d[i]);
		}
		/* A sanitizer report in any daemon's log (AddressSanitizer,
		 * LeakSanitizer at exit, UndefinedBehaviorSanitizer) fails the
		 * test, whatever its assertions saw. */
		if (f->d[i].log[0] != '\0' && (log = pa_daemon_log(&f->d[i])) != NULL) {
			if (strstr(log, "Sanitizer") != NULL || strstr(log, "runtime error:") != NULL) {
				fprintf(stderr, "harness: a sanitizer report in %s:\n%s\n", f->d[i].log,
					log);
				ret = -1;
			}
			free(log);
		}
	}
	pa_rmtree(f->dir);
	free(f);
	*state = NULL;
	return ret;
}

/* ---- proxyauth-passwd ---- */

static void
read_into(int fd, char *buf, size_t len)
{
	size_t n = 0;
	char sink[512];

	for (;;) {
		ssize_t r;
		if (buf != NULL && n + 1 < len)
			r = read(fd, buf + n, len - 1 - n);
		else
			r = read(fd, sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (buf != NULL && n + 1 < len)
			n += (size_t)r;
	}
	if (buf != NULL && len > 0)
		buf[n] = '\0';
}

int
pa_passwd_run(const char *const *args, const char *password, char *out, size_t outlen,
	      char *err_out, size_t errlen)
{
	const char *bin = env_or_die("PROXYAUTH_PASSWD_BIN");
	const char *argv[32];
	int in[2], o[2], e[2], status, i;
	pid_t pid;

	argv[0] = "proxyauth-passwd";
	for (i = 0; args[i] != NULL && i < 30; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe2(in, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(o, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	close(e[1]);
	if (password != NULL) {
		(void)write_fd_all(in[1], password, strlen(password));
		(void)write_fd_all(in[1], "\n", 1);
	}
	close(in[1]);
	/* Outputs are a line or two: reading one pipe after the other cannot
	 * fill the other's buffer. */
	read_into(o[0], out, outlen);
	read_into(e[0], err_out, errlen);
	close(o[0]);
	close(e[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
pa_passwd_add(const char *file, const char *user, const char *password, const char *groups,
	      int cost)
{
	char c[16], err[512];
	const char *args[8] = { "-C", c, "-f", file, user, groups, NULL };
	int rc;

	snprintf(c, sizeof(c), "%d", cost);
	rc = pa_passwd_run(args, password, NULL, 0, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "harness: proxyauth-passwd -f %s %s: %d: %s\n", file, user, rc,
			err);
	return rc == 0 ? 0 : -1;
}

char *
pa_htpasswd_line(const char *user, const char *password, const char *groups, int cost)
{
	char c[16], out[512], err[512];
	const char *args[4] = { "-C", c, NULL };
	size_t n;

	snprintf(c, sizeof(c), "%d", cost);
	if (pa_passwd_run(args, password, out, sizeof(out), err, sizeof(err)) != 0) {
		fprintf(stderr, "harness: proxyauth-passwd: %s\n", err);
		return NULL;
	}
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
		out[--n] = '\0';
	if (groups != NULL)
		return pa_strdupf("%s:%s:%s\n", user, out, groups);
	return pa_strdupf("%s:%s\n", user, out);
}

/* ---- daemons ---- */

/* Replaces every "@DIR@" and "@HTPASSWD@" in config. */
static char *
substitute(const char *config, const struct pa_daemon *d)
{
	size_t cap = strlen(config) * 2 + 4096, n = 0;
	char *out = malloc(cap);
	const char *p = config;

	if (out == NULL)
		abort();
	while (*p != '\0') {
		const char *rep = NULL;
		size_t skip = 0, rl;

		if (strncmp(p, "@DIR@", 5) == 0) {
			rep = d->dir;
			skip = 5;
		} else if (strncmp(p, "@HTPASSWD@", 10) == 0) {
			rep = d->htpasswd;
			skip = 10;
		}
		rl = rep != NULL ? strlen(rep) : 1;
		if (n + rl + 1 >= cap) {
			cap = cap * 2 + rl;
			if ((out = realloc(out, cap)) == NULL)
				abort();
		}
		if (rep != NULL) {
			memcpy(out + n, rep, rl);
			p += skip;
		} else {
			out[n] = *p++;
		}
		n += rl;
	}
	out[n] = '\0';
	return out;
}

/* The daemon takes every PROXYAUTHD_* variable for a configuration
 * override (PROXYAUTHD_<SECTION>_<KEY>); one left in the developer's
 * environment would change what a test runs, so the child drops them all
 * before exec. */
void
pa_scrub_environment(void)
{
	extern char **environ;
	char name[256];
	bool again = true;
	int i;

	while (again) {
		again = false;
		for (i = 0; environ != NULL && environ[i] != NULL; i++) {
			const char *eq = strchr(environ[i], '=');
			size_t n = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);

			if (strncmp(environ[i], "PROXYAUTHD_", 11) != 0 || n >= sizeof(name))
				continue;
			memcpy(name, environ[i], n);
			name[n] = '\0';
			unsetenv(name);
			again = true;
			break;
		}
	}
}

/* True when something accepts connections on 127.0.0.1:port. */
static bool
port_open(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

struct pa_daemon *
pa_daemon_start(struct pa_fixture *f, const char *config, const char *htpasswd)
{
	const char *bin = env_or_die("PA_DAEMON_BIN");
	struct pa_daemon *d;
	pid_t parent = getpid();
	char dir[sizeof(d->dir)];
	char *text, *log;
	int waited, status, fixed_port;
	/* A daemon under valgrind on a loaded machine takes longer to come up. */
	const char *start_env = getenv("PA_DAEMON_START_MS");
	int start_ms = start_env != NULL && atoi(start_env) > 0 ? atoi(start_env) : 5000;

	if (f->n == PA_MAX_DAEMONS)
		return NULL;
	d = &f->d[f->n];
	memset(d, 0, sizeof(*d));
	snprintf(dir, sizeof(dir), "%s/d%d", f->dir, f->n);
	f->n++;
	memcpy(d->dir, dir, sizeof(dir));
	snprintf(d->conf, sizeof(d->conf), "%s/proxyauthd.conf", dir);
	snprintf(d->log, sizeof(d->log), "%s/daemon.log", dir);
	snprintf(d->htpasswd, sizeof(d->htpasswd), "%s/htpasswd", dir);
	if (mkdir(d->dir, 0700) != 0)
		return NULL;
	if (htpasswd != NULL && pa_write_file(d->htpasswd, htpasswd) != 0)
		return NULL;
	text = substitute(config, d);
	if (pa_write_file(d->conf, text) != 0) {
		free(text);
		return NULL;
	}
	free(text);

	if ((d->pid = fork()) < 0) {
		d->pid = 0;
		return NULL;
	}
	if (d->pid == 0) {
		sigset_t none;
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		fd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		closefrom(3);
		pa_scrub_environment();
		execl(bin, "proxyauthd", "-c", d->conf, (char *)NULL);
		_exit(127);
	}

	/* A fixed port (for log levels that do not print the listening
	 * line) is ready when it takes a connection. */
	{
		const char *p = strstr(config, "listen = 127.0.0.1:");

		fixed_port = p != NULL ? atoi(p + strlen("listen = 127.0.0.1:")) : 0;
	}
	for (waited = 0; waited <= start_ms; waited += 10) {
		const char *p;

		log = pa_daemon_log(d);
		p = strstr(log, "listening on 127.0.0.1:");
		if (p != NULL) {
			d->port = atoi(p + strlen("listening on 127.0.0.1:"));
			free(log);
			if (d->port > 0 && d->port < 65536)
				return d;
			break;
		}
		free(log);
		if (fixed_port > 0 && fixed_port < 65536 && port_open(fixed_port)) {
			d->port = fixed_port;
			return d;
		}
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			break;
		}
		pa_sleep_ms(10);
	}
	log = pa_daemon_log(d);
	fprintf(stderr, "harness: proxyauthd did not come up; its log:\n%s\n", log);
	free(log);
	if (d->pid > 0)
		(void)pa_daemon_stop(d);
	return NULL;
}

int
pa_daemon_signal(const struct pa_daemon *d, int sig)
{
	if (d->pid <= 0)
		return -1;
	return kill(d->pid, sig);
}

bool
pa_daemon_alive(struct pa_daemon *d)
{
	int status;

	if (d->pid <= 0)
		return false;
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->pid = 0;
		return false;
	}
	return true;
}

int
pa_daemon_stop(struct pa_daemon *d)
{
	int status, waited;
	pid_t r;

	if (d->pid <= 0)
		return 0;
	(void)kill(d->pid, SIGTERM);
	for (waited = 0; waited < 15000; waited += 10) {
		r = waitpid(d->pid, &status, WNOHANG);
		if (r == d->pid) {
			d->pid = 0;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
			return -1;
		}
		if (r < 0 && errno != EINTR) {
			d->pid = 0;
			return -1;
		}
		pa_sleep_ms(10);
	}
	fprintf(stderr, "harness: proxyauthd (pid %d) did not exit within 15 s of SIGTERM; "
		"killing it\n", (int)d->pid);
	(void)kill(d->pid, SIGKILL);
	(void)waitpid(d->pid, &status, 0);
	d->pid = 0;
	return -1;
}

char *
pa_daemon_log(const struct pa_daemon *d)
{
	char *s = pa_read_file(d->log, NULL);

	if (s == NULL && (s = strdup("")) == NULL)
		abort();
	return s;
}

bool
pa_daemon_wait_log(const struct pa_daemon *d, const char *needle, int count, int timeout_ms)
{
	int waited;

	for (waited = 0;; waited += 10) {
		char *log = pa_daemon_log(d);
		bool ok = pa_count(log, needle) >= count;

		free(log);
		if (ok)
			return true;
		if (waited >= timeout_ms)
			return false;
		pa_sleep_ms(10);
	}
}

/* ---- HTTP ---- */

void
pa_base64(const void *data, size_t n, char *out, size_t len)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i, o = 0;

	if (len < (n + 2) / 3 * 4 + 1)
		abort();
	for (i = 0; i + 2 < n; i += 3) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = a[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		out[o++] = a[p[i + 2] & 63];
	}
	if (n - i == 1) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[(p[i] & 3) << 4];
		out[o++] = '=';
		out[o++] = '=';
	} else if (n - i == 2) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		out[o++] = a[(p[i + 1] & 15) << 2];
		out[o++] = '=';
	}
	out[o] = '\0';
}

void
pa_basic(const char *user, const char *password, char *out, size_t len)
{
	char plain[2048];
	int n = snprintf(plain, sizeof(plain), "%s:%s", user, password);

	if (n < 0 || (size_t)n >= sizeof(plain) || len < 7)
		abort();
	memcpy(out, "Basic ", 6);
	pa_base64(plain, (size_t)n, out + 6, len - 6);
}

static const char *const hdr_names[H_COUNT] = {
	[H_PROXY_AUTHENTICATE] = "Proxy-Authenticate",
	[H_X_AUTH_USER] = "X-Auth-User",
	[H_X_AUTH_GROUPS] = "X-Auth-Groups",
	[H_X_AUTH_BACKEND] = "X-Auth-Backend",
	[H_CACHE_CONTROL] = "Cache-Control",
	[H_RETRY_AFTER] = "Retry-After",
	[H_ENVOY_REMOVE] = "x-envoy-auth-headers-to-remove",
	[H_CONNECTION] = "Connection",
	[H_CONTENT_LENGTH] = "Content-Length",
	[H_WWW_AUTHENTICATE] = "WWW-Authenticate",
};

static size_t
on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct pa_resp *r = arg;
	size_t n = size * nitems, rl = strlen(r->raw_headers), nl, vl;
	const char *colon, *v, *end;
	int i;

	/* A new status line (after a 100 Continue) starts a new header set. */
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		memset(r->hdr, 0, sizeof(r->hdr));
		r->raw_headers[0] = '\0';
		rl = 0;
	}
	if (rl + n < sizeof(r->raw_headers)) {
		memcpy(r->raw_headers + rl, data, n);
		r->raw_headers[rl + n] = '\0';
	}
	if ((colon = memchr(data, ':', n)) == NULL)
		return n;
	nl = (size_t)(colon - data);
	v = colon + 1;
	end = data + n;
	/* RFC 9110: whitespace around a field value is not part of it. */
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
			   end[-1] == '\t'))
		end--;
	vl = (size_t)(end - v);
	for (i = 0; i < H_COUNT; i++) {
		if (strlen(hdr_names[i]) == nl && strncasecmp(data, hdr_names[i], nl) == 0) {
			if (r->hdr[i].count++ == 0) {
				r->hdr[i].present = true;
				if (vl >= sizeof(r->hdr[i].value))
					vl = sizeof(r->hdr[i].value) - 1;
				memcpy(r->hdr[i].value, v, vl);
				r->hdr[i].value[vl] = '\0';
			}
		}
	}
	return n;
}

static size_t
on_body(char *data, size_t size, size_t nitems, void *arg)
{
	struct pa_resp *r = arg;
	size_t n = size * nitems;
	char *nb = realloc(r->body, r->body_len + n + 1);

	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
	return n;
}

int
pa_request(const struct pa_daemon *d, const struct pa_req *req, struct pa_resp *resp)
{
	CURL *c = req->reuse != NULL ? req->reuse : curl_easy_init();
	struct curl_slist *hl = NULL;
	const char *method = req->method != NULL ? req->method : "GET";
	char url[2048];
	int i;

	memset(resp, 0, sizeof(*resp));
	if ((resp->body = calloc(1, 1)) == NULL || c == NULL)
		abort();
	pa_harness_init();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d->port, req->path);
	if (req->reuse != NULL) {
		/* Forget the previous request's method and body but keep the
		 * connection cache. */
		curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
	for (i = 0; i < 15 && req->headers[i] != NULL; i++) {
		struct curl_slist *n = curl_slist_append(hl, req->headers[i]);
		if (n == NULL)
			abort();
		hl = n;
	}
	/* Never wait for a 100 Continue: the daemon does not need the body. */
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (req->body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(req->body_len == SIZE_MAX || req->body_len == 0 ?
					      strlen(req->body) : req->body_len));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	}
	resp->curl_code = curl_easy_perform(c);
	if (resp->curl_code == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &resp->num_connects);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hl);
	if (req->reuse == NULL)
		curl_easy_cleanup(c);
	return resp->curl_code == CURLE_OK ? 0 : -1;
}

int
pa_get(const struct pa_daemon *d, const char *method, const char *path, const char *header,
       struct pa_resp *resp)
{
	struct pa_req req = { .method = method, .path = path };

	req.headers[0] = header;
	return pa_request(d, &req, resp);
}

int
pa_get_basic(const struct pa_daemon *d, const char *path, const char *user,
	     const char *password, struct pa_resp *resp)
{
	char h[2200] = "Proxy-Authorization: ";

	pa_basic(user, password, h + strlen(h), sizeof(h) - strlen(h));
	return pa_get(d, "GET", path, h, resp);
}

long
pa_auth_status(const struct pa_daemon *d, const char *user, const char *password)
{
	struct pa_resp r;
	long status = pa_get_basic(d, "/auth", user, password, &r) == 0 ? r.status : 0;

	pa_resp_free(&r);
	return status;
}

void
pa_resp_free(struct pa_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

const char *
pa_resp_describe(const struct pa_resp *resp)
{
	static _Thread_local char buf[9000];

	if (resp->curl_code != CURLE_OK)
		snprintf(buf, sizeof(buf), "no answer: %s", curl_easy_strerror(resp->curl_code));
	else
		snprintf(buf, sizeof(buf), "status %ld; headers:\n%s", resp->status,
			 resp->raw_headers);
	return buf;
}

/* ---- log line parsers ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Appends one code point as UTF-8. */
static int
put_utf8(char *out, size_t len, size_t *pos, unsigned cp)
{
	char tmp[4];
	size_t n;

	if (cp < 0x80) {
		tmp[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		tmp[0] = (char)(0xc0 | (cp >> 6));
		tmp[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else {
		tmp[0] = (char)(0xe0 | (cp >> 12));
		tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		tmp[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	}
	if (*pos + n >= len)
		return -1;
	memcpy(out + *pos, tmp, n);
	*pos += n;
	return 0;
}

static int
put_byte(char *out, size_t len, size_t *pos, char c)
{
	if (*pos + 1 >= len)
		return -1;
	out[(*pos)++] = c;
	return 0;
}

/* Reads a JSON string at *p (on the opening quote) into out. */
static int
json_string(const char **pp, char *out, size_t len)
{
	const char *p = *pp;
	size_t pos = 0;

	if (*p++ != '"')
		return -1;
	for (;;) {
		unsigned char c = (unsigned char)*p++;

		if (c == '\0' || c < 0x20)
			return -1;	/* unterminated, or a raw control char */
		if (c == '"')
			break;
		if (c != '\\') {
			if (put_byte(out, len, &pos, (char)c) != 0)
				return -1;
			continue;
		}
		c = (unsigned char)*p++;
		switch (c) {
		case '"': case '\\': case '/':
			if (put_byte(out, len, &pos, (char)c) != 0)
				return -1;
			break;
		case 'b': if (put_byte(out, len, &pos, '\b') != 0) return -1; break;
		case 'f': if (put_byte(out, len, &pos, '\f') != 0) return -1; break;
		case 'n': if (put_byte(out, len, &pos, '\n') != 0) return -1; break;
		case 'r': if (put_byte(out, len, &pos, '\r') != 0) return -1; break;
		case 't': if (put_byte(out, len, &pos, '\t') != 0) return -1; break;
		case 'u': {
			unsigned cp = 0;
			int i;
			for (i = 0; i < 4; i++) {
				int h = hexval(p[i]);
				if (h < 0)
					return -1;
				cp = cp * 16 + (unsigned)h;
			}
			p += 4;
			if (put_utf8(out, len, &pos, cp) != 0)
				return -1;
			break;
		}
		default:
			return -1;
		}
	}
	out[pos] = '\0';
	*pp = p;
	return 0;
}

int
pa_log_parse_json(const char *line, struct pa_log_kv *kv, int max)
{
	const char *p = line;
	int n = 0;

	if (*p++ != '{')
		return -1;
	if (*p == '}')
		return p[1] == '\0' || p[1] == '\n' ? 0 : -1;
	for (;;) {
		struct pa_log_kv *f;

		if (n == max)
			return -1;
		f = &kv[n];
		memset(f, 0, sizeof(*f));
		if (json_string(&p, f->key, sizeof(f->key)) != 0 || *p++ != ':')
			return -1;
		if (*p == '"') {
			if (json_string(&p, f->value, sizeof(f->value)) != 0)
				return -1;
			f->quoted = true;
		} else {
			size_t pos = 0;
			if (strncmp(p, "true", 4) != 0 && strncmp(p, "false", 5) != 0 &&
			    !(*p == '-' || (*p >= '0' && *p <= '9')))
				return -1;
			while (*p != ',' && *p != '}' && *p != '\0') {
				if (!(*p == '-' || *p == '.' || (*p >= '0' && *p <= '9') ||
				      (*p >= 'a' && *p <= 'z')))
					return -1;
				if (put_byte(f->value, sizeof(f->value), &pos, *p++) != 0)
					return -1;
			}
			f->value[pos] = '\0';
		}
		n++;
		if (*p == ',') {
			p++;
			continue;
		}
		if (*p++ != '}')
			return -1;
		break;
	}
	return *p == '\0' || (*p == '\n' && p[1] == '\0') ? n : -1;
}

/* Reads a quoted logfmt value at *pp (on the opening quote) into out:
 * \" \\ \n \r \t \xHH (a byte) and \uHHHH (a code point).  A raw control
 * character inside is an error: the daemon must have escaped it. */
static int
text_quoted(const char **pp, char *out, size_t len)
{
	const char *p = *pp + 1;
	size_t pos = 0;

	for (;;) {
		unsigned char c = (unsigned char)*p++;

		if (c == '\0' || c < 0x20 || c == 0x7f)
			return -1;
		if (c == '"')
			break;
		if (c == '\\') {
			c = (unsigned char)*p++;
			if (c == 'x' && hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
				c = (unsigned char)(hexval(p[0]) * 16 + hexval(p[1]));
				p += 2;
			} else if (c == 'n') {
				c = '\n';
			} else if (c == 'r') {
				c = '\r';
			} else if (c == 't') {
				c = '\t';
			} else if (c == 'u') {
				unsigned cp = 0;
				int i;

				for (i = 0; i < 4; i++) {
					if (hexval(p[i]) < 0)
						return -1;
					cp = cp * 16 + (unsigned)hexval(p[i]);
				}
				p += 4;
				if (put_utf8(out, len, &pos, cp) != 0)
					return -1;
				continue;
			} else if (c != '"' && c != '\\') {
				return -1;
			}
		}
		if (put_byte(out, len, &pos, (char)c) != 0)
			return -1;
	}
	out[pos] = '\0';
	*pp = p;
	return 0;
}

int
pa_log_parse_text(const char *line, struct pa_log_kv *kv, int max)
{
	const char *p = line;
	int n = 0;

	while (*p != '\0' && *p != '\n') {
		struct pa_log_kv *f;
		size_t pos = 0;

		if (n == max)
			return -1;
		f = &kv[n];
		memset(f, 0, sizeof(*f));
		while (*p != '=' && *p != ' ' && *p != '"' && *p != '\0' && *p != '\n') {
			if (put_byte(f->key, sizeof(f->key), &pos, *p++) != 0)
				return -1;
		}
		if (pos == 0 || *p++ != '=')
			return -1;
		f->key[pos] = '\0';
		pos = 0;
		if (*p == '"') {
			if (text_quoted(&p, f->value, sizeof(f->value)) != 0)
				return -1;
			f->quoted = true;
			pos = strlen(f->value);
		} else {
			while (*p != ' ' && *p != '\0' && *p != '\n') {
				unsigned char c = (unsigned char)*p;
				if (c < 0x20 || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
					return -1;	/* such a value must be quoted */
				if (put_byte(f->value, sizeof(f->value), &pos, *p++) != 0)
					return -1;
			}
		}
		f->value[pos] = '\0';
		n++;
		if (*p == ' ') {
			p++;
			if (*p == ' ' || *p == '\0' || *p == '\n')
				return -1;
		} else if (*p != '\0' && *p != '\n') {
			return -1;
		}
	}
	if (*p == '\n' && p[1] != '\0')
		return -1;
	return n;
}

const char *
pa_log_get(const struct pa_log_kv *kv, int n, const char *key, int *count)
{
	const char *v = NULL;
	int i, c = 0;

	for (i = 0; i < n; i++) {
		if (strcmp(kv[i].key, key) == 0) {
			if (c++ == 0)
				v = kv[i].value;
		}
	}
	if (count != NULL)
		*count = c;
	return v;
}

long
pa_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long
pa_readyz(const struct pa_daemon *d, char *body, size_t len)
{
	struct pa_resp r;
	long s;

	assert_int_equal(pa_get(d, "GET", "/readyz", NULL, &r), 0);
	s = r.status;
	snprintf(body, len, "%s", r.body != NULL ? r.body : "");
	pa_resp_free(&r);
	return s;
}

long
pa_wait_readyz(const struct pa_daemon *d, long want, long limit_ms, char *body, size_t len)
{
	long t0 = pa_now_ms();

	for (;;) {
		if (pa_readyz(d, body, len) == want)
			return pa_now_ms() - t0;
		if (pa_now_ms() - t0 > limit_ms)
			return -1;
		pa_sleep_ms(50);
	}
}

double
pa_metric(const struct pa_daemon *d, const char *series)
{
	struct pa_resp r;
	size_t n = strlen(series);
	const char *p;
	double v = -1;

	if (pa_get(d, "GET", "/metrics", NULL, &r) != 0 || r.status != 200 || r.body == NULL) {
		pa_resp_free(&r);
		return -1;
	}
	for (p = r.body; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	pa_resp_free(&r);
	return v;
}

int64_t
pa_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
pa_watch_expiry(const struct pa_daemon *d, const char *user, const char *password,
		int64_t expires_ms, struct pa_expiry_seen *seen)
{
	struct pa_resp r;
	int64_t t0, t1;

	memset(seen, 0, sizeof(*seen));
	while ((t0 = pa_wall_ms()) < expires_ms + 1500) {
		if (pa_get_basic(d, "/auth", user, password, &r) != 0)
			fail_msg("/auth: %s", pa_resp_describe(&r));
		t1 = pa_wall_ms();
		if (r.status == 204 && t0 < expires_ms) {
			seen->allows_before++;
		} else if (r.status == 204) {
			seen->allowed_after = true;
			seen->last_allow = (long)(t0 - expires_ms);
		} else if (!seen->denied) {
			seen->denied = true;
			seen->first_deny = (long)(t1 - expires_ms);
		}
		pa_resp_free(&r);
		pa_sleep_ms(100);
	}
}

void
pa_last_decision_field(const struct pa_daemon *d, const char *key, char *out, size_t len)
{
	static struct pa_log_kv kv[PA_LOG_FIELDS_MAX];
	char *log = pa_daemon_log(d), *p, *nl, *found = NULL, line[8192];
	const char *v;
	int n;

	for (p = log; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		*nl = '\0';
		if (strstr(p, " outcome=") != NULL)
			found = p;
	}
	if (found == NULL) {
		free(log);
		fail_msg("no decision line in the log");
	}
	snprintf(line, sizeof(line), "%s", found);
	free(log);
	if ((n = pa_log_parse_text(line, kv, PA_LOG_FIELDS_MAX)) < 0)
		fail_msg("malformed decision line: %s", line);
	v = pa_log_get(kv, n, key, NULL);
	snprintf(out, len, "%s", v != NULL ? v : "");
}

void
pa_expect_last_decision(const struct pa_daemon *d, const char *key, const char *want)
{
	char v[512];

	pa_last_decision_field(d, key, v, sizeof(v));
	if (strcmp(v, want) != 0) {
		char *log = pa_daemon_log(d);
		const char *tail = strlen(log) > 1500 ? log + strlen(log) - 1500 : log;

		fail_msg("last decision has %s='%s', want '%s'; log tail:\n%s", key, v, want,
			 tail);
	}
}

int
pa_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}
