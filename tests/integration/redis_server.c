/*
 * A private redis-server for the integration tests.  See redis_server.h
 * for what it guarantees; the notes here are about how.
 *
 * Every child closes the descriptors it inherits before exec (a test may
 * hold keep-alive connections, a blackhole socket or another server's
 * pipes), and the server child asks the kernel to SIGKILL it when the test
 * process dies.  Outputs of helper programs are read with poll() from both
 * pipes at once, so a chatty standard error cannot block standard output.
 */
#include "redis_server.h"
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REDIS_ARGS_MAX 32

static void
redis_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

int
pa_run(const char *const *argv, char *out, size_t outlen, char *err, size_t errlen)
{
	int o[2], e[2], status;
	size_t on = 0, en = 0;
	struct pollfd pf[2];
	pid_t pid;

	if (out != NULL && outlen > 0)
		out[0] = '\0';
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (pipe2(o, O_CLOEXEC) != 0)
		return -1;
	if (pipe2(e, O_CLOEXEC) != 0) {
		close(o[0]);
		close(o[1]);
		return -1;
	}
	if ((pid = fork()) < 0) {
		close(o[0]);
		close(o[1]);
		close(e[0]);
		close(e[1]);
		return -1;
	}
	if (pid == 0) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd >= 0)
			dup2(fd, 0);
		dup2(o[1], 1);
		dup2(e[1], 2);
		closefrom(3);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	pf[0].fd = o[0];
	pf[1].fd = e[0];
	pf[0].events = pf[1].events = POLLIN;
	while (pf[0].fd >= 0 || pf[1].fd >= 0) {
		int i;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (i = 0; i < 2; i++) {
			char sink[1024], *buf = i == 0 ? out : err;
			size_t len = i == 0 ? outlen : errlen, *n = i == 0 ? &on : &en;
			ssize_t r;

			if (pf[i].fd < 0 || pf[i].revents == 0)
				continue;
			if (buf != NULL && *n + 1 < len)
				r = read(pf[i].fd, buf + *n, len - 1 - *n);
			else
				r = read(pf[i].fd, sink, sizeof(sink));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(pf[i].fd);
				pf[i].fd = -1;
				continue;
			}
			if (buf != NULL && *n + 1 < len) {
				*n += (size_t)r;
				buf[*n] = '\0';
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (pf[i].fd >= 0)
			close(pf[i].fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return status_code(status);
}


int
pa_blackhole_listen(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A long backlog: every connection proxyauthd opens (its pool, the
	 * subscriber, the probes) completes and then waits forever. */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 256) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int
pa_redis_cliv(const struct pa_redis *r, char *out, size_t outlen, const char *const *args)
{
	static const char *const errors[] = { "ERR", "WRONGTYPE", "NOPERM", "NOAUTH",
					      "WRONGPASS", "(error)" };
	const char *argv[REDIS_ARGS_MAX + 4];
	char local[256], err[512];
	char *buf = out != NULL ? out : local;
	size_t len = out != NULL ? outlen : sizeof(local), n, i;
	int rc;

	argv[0] = "redis-cli";
	argv[1] = "-s";
	argv[2] = r->sock;
	for (i = 0; args[i] != NULL; i++) {
		if (i == REDIS_ARGS_MAX)
			return -1;
		argv[i + 3] = args[i];
	}
	argv[i + 3] = NULL;
	rc = pa_run(argv, buf, len, err, sizeof(err));
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (rc != 0) {
		if (n == 0)
			snprintf(buf, len, "redis-cli exit %d: %s", rc, err);
		return -1;
	}
	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (strncmp(buf, errors[i], strlen(errors[i])) == 0)
			return -1;
	return 0;
}

int
pa_redis_cli(const struct pa_redis *r, char *out, size_t outlen, const char *arg, ...)
{
	const char *args[REDIS_ARGS_MAX + 1];
	va_list ap;
	int n = 0;

	va_start(ap, arg);
	while (arg != NULL) {
		if (n == REDIS_ARGS_MAX) {
			va_end(ap);
			return -1;
		}
		args[n++] = arg;
		arg = va_arg(ap, const char *);
	}
	va_end(ap);
	args[n] = NULL;
	return pa_redis_cliv(r, out, outlen, args);
}

long
pa_redis_int(const struct pa_redis *r, const char *arg, ...)
{
	const char *args[REDIS_ARGS_MAX + 1];
	char out[128], *end;
	va_list ap;
	long v;
	int n = 0;

	va_start(ap, arg);
	while (arg != NULL) {
		if (n == REDIS_ARGS_MAX) {
			va_end(ap);
			return -1;
		}
		args[n++] = arg;
		arg = va_arg(ap, const char *);
	}
	va_end(ap);
	args[n] = NULL;
	if (pa_redis_cliv(r, out, sizeof(out), args) != 0)
		return -1;
	errno = 0;
	v = strtol(out, &end, 10);
	if (errno != 0 || end == out || *end != '\0')
		return -1;
	return v;
}

/* Forks the server on r's existing config and waits for PONG. */
static int
redis_spawn(struct pa_redis *r)
{
	pid_t parent = getpid();
	char pong[256];
	int waited, status;

	if ((r->pid = fork()) < 0) {
		r->pid = 0;
		return -1;
	}
	if (r->pid == 0) {
		sigset_t none;
		int fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		dup2(fd, 2);
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0)
			dup2(fd, 0);
		closefrom(3);
		execlp("redis-server", "redis-server", r->conf, (char *)NULL);
		_exit(127);
	}
	for (waited = 0; waited <= 5000; waited += 20) {
		if (pa_redis_cli(r, pong, sizeof(pong), "PING", NULL) == 0 &&
		    strcmp(pong, "PONG") == 0)
			return 0;
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = 0;
			break;
		}
		redis_sleep_ms(20);
	}
	{
		char *log = pa_read_file(r->log, NULL);

		fprintf(stderr, "redis_server: redis-server on port %d did not come up; "
			"its log:\n%s\n", r->port, log != NULL ? log : "(none)");
		free(log);
	}
	(void)pa_redis_stop(r);
	return -1;
}

int
pa_redis_start(struct pa_redis *r)
{
	char *conf;
	int rc;

	memset(r, 0, sizeof(*r));
	if (pa_tmpdir(r->dir, sizeof(r->dir)) != 0) {
		r->dir[0] = '\0';
		return -1;
	}
	snprintf(r->conf, sizeof(r->conf), "%s/redis.conf", r->dir);
	snprintf(r->sock, sizeof(r->sock), "%s/redis.sock", r->dir);
	snprintf(r->log, sizeof(r->log), "%s/redis.log", r->dir);
	if ((r->port = pa_free_port()) <= 0)
		return -1;
	snprintf(r->addr, sizeof(r->addr), "127.0.0.1:%d", r->port);
	conf = pa_strdupf(
		"port %d\n"
		"bind 127.0.0.1\n"
		"unixsocket %s\n"
		"unixsocketperm 700\n"
		"save \"\"\n"
		"appendonly no\n"
		"dir %s\n"
		"daemonize no\n"
		"protected-mode yes\n"
		"loglevel notice\n"
		"logfile \"\"\n"
		"user default on nopass ~* &* +@all\n"
		"user " PA_REDIS_PA_USER " on >" PA_REDIS_PA_PASSWORD " resetkeys "
		"~proxyauth:user:* resetchannels &proxyauth:invalidate -@all "
		"+hmget +ping +subscribe +auth +select\n"
		"user " PA_REDIS_ADMIN_USER " on >" PA_REDIS_ADMIN_PASSWORD " resetkeys "
		"~proxyauth:* resetchannels &proxyauth:* +@all\n",
		r->port, r->sock, r->dir);
	rc = pa_write_file(r->conf, conf);
	free(conf);
	if (rc != 0)
		return -1;
	return redis_spawn(r);
}

int
pa_child_stop(pid_t *pid, int sig, int timeout_ms, const char *what)
{
	int status, waited;
	pid_t w;

	if (*pid <= 0)
		return 0;
	(void)kill(*pid, sig);
	(void)kill(*pid, SIGCONT);	/* a frozen server must see the signal */
	for (waited = 0; waited < timeout_ms; waited += 10) {
		w = waitpid(*pid, &status, WNOHANG);
		if (w == *pid) {
			*pid = 0;
			return status_code(status) == 0 ? 0 : -1;
		}
		if (w < 0 && errno != EINTR) {
			*pid = 0;
			return -1;
		}
		redis_sleep_ms(10);
	}
	fprintf(stderr, "harness: %s (pid %d) did not exit within %d ms; killing it\n", what,
		(int)*pid, timeout_ms);
	(void)kill(*pid, SIGKILL);
	(void)waitpid(*pid, &status, 0);
	*pid = 0;
	return -1;
}

int
pa_redis_stop(struct pa_redis *r)
{
	return pa_child_stop(&r->pid, SIGTERM, 5000, "redis-server");
}

int
pa_redis_freeze(struct pa_redis *r, bool frozen)
{
	if (r->pid <= 0)
		return -1;
	return kill(r->pid, frozen ? SIGSTOP : SIGCONT);
}

int
pa_redis_restart(struct pa_redis *r)
{
	if (r->pid > 0 || r->dir[0] == '\0')
		return -1;
	return redis_spawn(r);
}

void
pa_redis_destroy(struct pa_redis *r)
{
	(void)pa_redis_stop(r);
	if (r->dir[0] != '\0')
		pa_rmtree(r->dir);
	memset(r, 0, sizeof(*r));
}
