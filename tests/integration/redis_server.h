/*
 * A private redis-server for the integration tests, and redis-cli and other
 * helper programs run argv-style (fork and exec, never a shell).
 *
 * pa_redis_start() makes a folder of its own (mkdtemp), writes a config
 * there that listens on 127.0.0.1 at a free port and on DIR/redis.sock
 * (mode 0700), keeps nothing on disk, and declares three ACL users:
 *
 *   default  no password, every key, channel and command (for the tests'
 *            own redis-cli calls);
 *   pa       PA_REDIS_PA_PASSWORD; the least-privilege ACL the README
 *            gives for proxyauthd: only keys proxyauth:user:*, only the
 *            channel proxyauth:invalidate, only HMGET PING SUBSCRIBE AUTH
 *            SELECT;
 *   admin    PA_REDIS_ADMIN_PASSWORD; keys proxyauth:* and channels
 *            proxyauth:*, any command (for proxyauth-passwd --redis-user).
 *
 * It then waits (up to 5 s) for `redis-cli ping` to answer PONG.  The
 * server runs as the current user, with PR_SET_PDEATHSIG so that a
 * crashed test never leaves one behind.  pa_redis_stop() stops it and
 * keeps its folder, port and socket path, so pa_redis_restart() brings it
 * back on the same addresses (empty: nothing is saved).  pa_redis_destroy()
 * stops it and removes its folder; it is safe on a server never started or
 * already destroyed, which is what a cmocka teardown needs after a failed
 * assertion.  pa_redis_freeze() makes a running server hang (SIGSTOP)
 * and answer again (SIGCONT); stopping a frozen server thaws it first.
 *
 * None of this is thread-safe; call it from the test's main thread.
 *
 * tests/CMakeLists.txt builds pa_harness from harness.c alone, so the
 * definitions (redis_server.c) are compiled by #including them into each
 * test program that uses them.
 */
#ifndef PA_REDIS_SERVER_H
#define PA_REDIS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define PA_REDIS_PA_USER "pa"
#define PA_REDIS_PA_PASSWORD "pa-acl-S3cret-7f3c"
#define PA_REDIS_ADMIN_USER "admin"
#define PA_REDIS_ADMIN_PASSWORD "admin-acl-S3cret-91b2"

struct pa_redis {
	pid_t pid;		/* 0 when not running */
	int port;		/* TCP port on 127.0.0.1; 0 before the first start */
	char dir[200];		/* its folder; "" before the first start */
	char conf[260];		/* DIR/redis.conf */
	char sock[260];		/* DIR/redis.sock */
	char log[260];		/* DIR/redis.log */
	char addr[64];		/* "127.0.0.1:PORT" */
};

/*
 * Starts a new server into r (which it zeroes first).  Returns 0 once it
 * answers PONG, or -1 after printing why (and its log); r may then hold a
 * folder, which pa_redis_destroy() removes.
 */
int pa_redis_start(struct pa_redis *r);

/* Sends SIGTERM and waits up to 5 s (then SIGKILL).  Returns 0 when it
 * exited on its own, -1 otherwise; 0 for a server not running. */
int pa_redis_stop(struct pa_redis *r);

/* Starts a stopped server again with the same config, port and socket.
 * 0 once it answers PONG, -1 otherwise. */
int pa_redis_restart(struct pa_redis *r);

/* Freezes the running server (SIGSTOP) or thaws it (SIGCONT).  While
 * frozen, new connections still complete in the kernel's backlog and
 * nothing is ever answered: a hung server.  0 or -1. */
int pa_redis_freeze(struct pa_redis *r, bool frozen);

/* Stops the server if it runs and removes its folder.  Safe to call on a
 * zeroed struct and more than once. */
void pa_redis_destroy(struct pa_redis *r);

/*
 * Runs `redis-cli -s SOCKET ARG...` (the arguments go to Redis as they
 * are: no shell, no quoting).  Standard output (redis-cli's raw format:
 * one line per reply element, nil as an empty line) goes into out, without
 * the trailing newline; out may be NULL.  Returns 0 when redis-cli ran
 * and the reply was not an error (it does not start with ERR, WRONGTYPE,
 * NOPERM, NOAUTH or WRONGPASS, and redis-cli exited 0); -1 otherwise,
 * with what came in out.  The last argument must be NULL.
 */
int pa_redis_cli(const struct pa_redis *r, char *out, size_t outlen, const char *arg, ...)
	__attribute__((sentinel));

/* The same with an argument vector (NULL-terminated). */
int pa_redis_cliv(const struct pa_redis *r, char *out, size_t outlen, const char *const *args);

/* An integer reply (DBSIZE, EXISTS, PUBLISH, ...), or -1 on any error. */
long pa_redis_int(const struct pa_redis *r, const char *arg, ...) __attribute__((sentinel));

/*
 * Runs argv[0] (a path, or a name looked up in PATH) with argv, standard
 * input from /dev/null.  Standard output goes into out and standard error
 * into err (each may be NULL; both NUL-terminated, cut at their size).
 * Returns the exit status (0..255), 128+N when killed by signal N, or -1
 * when it could not run.
 */
int pa_run(const char *const *argv, char *out, size_t outlen, char *err, size_t errlen);

/* Sends sig to *pid (and SIGCONT, in case it is stopped), waits up to
 * timeout_ms for it to exit, then SIGKILLs it.  0 when it exited on its
 * own with status 0, else -1; *pid is 0 afterwards.  0 for *pid <= 0. */
int pa_child_stop(pid_t *pid, int sig, int timeout_ms, const char *what);

/* pa_free_port() is in harness.h. */

/*
 * A TCP socket listening on 127.0.0.1 that never accepts: connections
 * complete in the kernel's backlog and then hear nothing, like a hung
 * server.  Returns the descriptor (the caller closes it) and the port in
 * *port, or -1.
 */
int pa_blackhole_listen(int *port);

#endif
