/*
 * Integration test harness: runs the real proxyauthd binary and talks to
 * it over HTTP with libcurl, in the manner of libmicrohttpd's testcurl.
 *
 * A daemon is started from a configuration text in its own temporary
 * folder (mkdtemp), with `listen = 127.0.0.1:0`; its standard error (the
 * log) goes to a file in that folder, which the harness polls for the
 * "listening on 127.0.0.1:PORT" line.  Every daemon and every folder the
 * harness makes is recorded, so a cmocka teardown (which runs also after a
 * failed assertion) can stop and remove them: pa_fixture_teardown() does
 * that.  As a last resort the child asks the kernel to SIGKILL it when the
 * test process dies (PR_SET_PDEATHSIG), so a crashed test never leaves a
 * daemon behind.
 *
 * The request helper is thread-safe (one CURL handle per call, or the
 * caller's own handle); nothing else in here is, and no cmocka assertion
 * may run outside the main thread: worker threads record what they saw
 * and the main thread asserts on it.
 */
#ifndef PA_HARNESS_H
#define PA_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#define PA_MAX_DAEMONS 8

/* Response headers the tests look at, by index into pa_resp.hdr. */
enum pa_hdr {
	H_PROXY_AUTHENTICATE,
	H_X_AUTH_USER,
	H_X_AUTH_GROUPS,
	H_X_AUTH_BACKEND,
	H_CACHE_CONTROL,
	H_RETRY_AFTER,
	H_ENVOY_REMOVE,		/* x-envoy-auth-headers-to-remove */
	H_CONNECTION,
	H_CONTENT_LENGTH,
	H_WWW_AUTHENTICATE,
	H_COUNT,
};

struct pa_header {
	bool present;
	int count;		/* how many times it came (a duplicate is a bug) */
	char value[1024];	/* the first one, without surrounding whitespace */
};

struct pa_resp {
	long status;			/* 0 when no answer came */
	CURLcode curl_code;		/* CURLE_OK when an answer came */
	long num_connects;		/* CURLINFO_NUM_CONNECTS */
	struct pa_header hdr[H_COUNT];
	char raw_headers[8192];		/* the whole header block, for messages */
	char *body;			/* NUL-terminated; freed by pa_resp_free */
	size_t body_len;
};

/* A request.  Zero-initialise, then set what matters. */
struct pa_req {
	const char *method;		/* NULL: GET */
	const char *path;		/* "/auth" */
	const char *headers[16];	/* raw "Name: value" lines, NULL-terminated */
	const char *body;		/* sent when non-NULL */
	size_t body_len;		/* SIZE_MAX: strlen(body) */
	CURL *reuse;			/* a handle to reuse (keep-alive), or NULL */
};

struct pa_daemon {
	pid_t pid;			/* 0 when not running */
	int port;
	char dir[256];			/* the temporary folder */
	char conf[300];			/* DIR/proxyauthd.conf */
	char log[300];			/* DIR/daemon.log */
	char htpasswd[300];		/* DIR/htpasswd */
};

/* What a test owns; its teardown stops and removes everything in it. */
struct pa_fixture {
	struct pa_daemon d[PA_MAX_DAEMONS];
	int n;
	char dir[200];			/* a scratch folder for the test */
};

/* Drops every PROXYAUTHD_* variable from this process's environment: the
 * daemon takes them as configuration overrides, so one left over from a
 * developer's shell would change what a test runs. */
void pa_scrub_environment(void);

/* Sets up libcurl once; safe to call from many threads. */
void pa_harness_init(void);

/* cmocka setup/teardown that allocate and clean a struct pa_fixture. */
int pa_fixture_setup(void **state);
int pa_fixture_teardown(void **state);

/* Makes a temporary folder (under $TMPDIR or /tmp) into dir.  0 or -1. */
int pa_tmpdir(char *dir, size_t len);

/* Removes a folder tree.  Best effort. */
void pa_rmtree(const char *dir);

/* Writes text to path (mode 0600) directly, truncating.  0 or -1. */
int pa_write_file(const char *path, const char *text);

/* Writes text to path+".tmp" and renames it over path.  0 or -1. */
int pa_write_file_atomic(const char *path, const char *text);

/* Reads a whole file (NUL-terminated, caller frees), or NULL. */
char *pa_read_file(const char *path, size_t *len);

/* snprintf into a malloc'd string (caller frees); aborts on no memory. */
char *pa_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Runs PROXYAUTH_PASSWD_BIN with args (NULL-terminated, without argv[0]),
 * the password and a newline on standard input (no newline when password
 * is NULL: empty input).  Captures standard output into out (may be NULL)
 * and standard error into err_out (may be NULL).  Returns the exit status,
 * or -1 when it could not run.
 */
int pa_passwd_run(const char *const *args, const char *password, char *out, size_t outlen,
		  char *err_out, size_t errlen);

/* Adds USER with PASSWORD (and GROUPS, may be NULL) to file using bcrypt
 * at cost (4 keeps tests fast).  0 or -1. */
int pa_passwd_add(const char *file, const char *user, const char *password,
		  const char *groups, int cost);

/* The hash line "user:hash[:groups]\n" for writing files by hand.  Caller
 * frees; NULL on failure. */
char *pa_htpasswd_line(const char *user, const char *password, const char *groups, int cost);

/*
 * Starts a daemon in fixture f.  config is the configuration text; every
 * "@DIR@" in it becomes the daemon's folder (made here) and every "@HTPASSWD@"
 * DIR/htpasswd.  htpasswd, when non-NULL, is written to DIR/htpasswd first.
 * Waits up to 5 s for the listening line.  Returns the daemon, or NULL
 * (after printing the log) when it did not come up.
 */
struct pa_daemon *pa_daemon_start(struct pa_fixture *f, const char *config,
				  const char *htpasswd);

/* Sends a signal to a running daemon.  0 or -1. */
int pa_daemon_signal(const struct pa_daemon *d, int sig);

/*
 * Sends SIGTERM and waits up to 15 s.  Returns the exit status (0..255),
 * 128+N when killed by signal N, or -1 when it did not exit in time (it is
 * then killed with SIGKILL).  Safe to call twice: returns 0 for a daemon
 * that is not running.
 */
int pa_daemon_stop(struct pa_daemon *d);

/* True while the daemon process has not exited (reaps it if it has). */
bool pa_daemon_alive(struct pa_daemon *d);

/* The whole log so far (caller frees); "" when it cannot be read. */
char *pa_daemon_log(const struct pa_daemon *d);

/* Waits up to timeout_ms for the log to hold needle at least count times.
 * Returns true when it does. */
bool pa_daemon_wait_log(const struct pa_daemon *d, const char *needle, int count,
			int timeout_ms);

/* Occurrences of needle in haystack. */
int pa_count(const char *haystack, const char *needle);

/* Fails the test, with the response attached, unless cond holds; the
 * rest is a printf message saying what was checked.  Needs cmocka.h. */
#define EXPECT(cond, resp, ...)							\
	do {									\
		if (!(cond)) {							\
			char m_[512];						\
			snprintf(m_, sizeof(m_), __VA_ARGS__);			\
			fail_msg("%s: expected %s\n%s", m_, #cond,		\
				 pa_resp_describe(resp));			\
		}								\
	} while (0)

/* Header h came exactly once, with value v. */
#define HDR_IS(r, h, v) ((r)->hdr[h].count == 1 && strcmp((r)->hdr[h].value, (v)) == 0)

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
 * released), or -1. */
int pa_free_port(void);

/* Monotonic milliseconds, and a sleep that resumes after signals. */
long pa_now_ms(void);
void pa_sleep_ms(int ms);

/* GET /readyz: the status, and the body into body (cut at len). */
long pa_readyz(const struct pa_daemon *d, char *body, size_t len);

/* Polls /readyz every 50 ms until it answers want: the milliseconds it
 * took, or -1 after limit_ms. */
long pa_wait_readyz(const struct pa_daemon *d, long want, long limit_ms, char *body,
		    size_t len);

/* The value of the /metrics sample whose line starts with series (a name,
 * with its {labels} if any) followed by a space, or -1 when there is none. */
double pa_metric(const struct pa_daemon *d, const char *series);

/* Wall-clock (CLOCK_REALTIME) milliseconds since 1970. */
int64_t pa_wall_ms(void);

/* What pa_watch_expiry() saw, in wall-clock ms relative to the expiry. */
struct pa_expiry_seen {
	int allows_before;	/* allows that began before the expiry */
	bool denied;		/* a deny came at all */
	long first_deny;	/* when the first deny had been answered */
	bool allowed_after;	/* an allow came for a request begun after it */
	long last_allow;	/* when the last allowed request began */
};

/* Asks user:password on /auth every 100 ms from now until 1.5 s after
 * expires_ms (Unix milliseconds) and records when answers changed (an
 * allow by the time its request began, a deny by the time it arrived:
 * both err towards a late revocation). */
void pa_watch_expiry(const struct pa_daemon *d, const char *user, const char *password,
		     int64_t expires_ms, struct pa_expiry_seen *seen);

/* The value of key in the daemon's last decision line (text log format);
 * fails the test when there is none. */
void pa_last_decision_field(const struct pa_daemon *d, const char *key, char *out, size_t len);

/* Fails the test, with the log's tail, unless the last decision line has
 * key=want. */
void pa_expect_last_decision(const struct pa_daemon *d, const char *key, const char *want);

/* Makes "Basic base64(user:password)" into out. */
void pa_basic(const char *user, const char *password, char *out, size_t len);

/* Standard base64 with padding of n bytes into out. */
void pa_base64(const void *data, size_t n, char *out, size_t len);

/*
 * Sends req to the daemon and fills resp (which it zeroes first).  Returns
 * 0 when an HTTP answer came, -1 otherwise (resp->curl_code says why).
 * Call pa_resp_free() afterwards in either case.
 */
int pa_request(const struct pa_daemon *d, const struct pa_req *req, struct pa_resp *resp);

/* Shorthand: METHOD path with one optional raw header line. */
int pa_get(const struct pa_daemon *d, const char *method, const char *path,
	   const char *header, struct pa_resp *resp);

/* Shorthand: path with "Proxy-Authorization: Basic user:password". */
int pa_get_basic(const struct pa_daemon *d, const char *path, const char *user,
		 const char *password, struct pa_resp *resp);

/* The status of GET /auth with user:password (0 when no answer came). */
long pa_auth_status(const struct pa_daemon *d, const char *user, const char *password);

void pa_resp_free(struct pa_resp *resp);

/* A short description of a response for failure messages (static buffer
 * per thread). */
const char *pa_resp_describe(const struct pa_resp *resp);

/*
 * Minimal parsers for one log line, enough to check what the daemon wrote:
 * a flat JSON object of strings, numbers and booleans, or logfmt
 * key=value / key="quoted" pairs.  Values are decoded (JSON escapes; in
 * logfmt \" \\ and \xHH).  Returns the number of fields, or -1 when the
 * line is not well-formed.
 */
#define PA_LOG_FIELDS_MAX 32
struct pa_log_kv {
	char key[64];
	char value[4096];
	bool quoted;
};
int pa_log_parse_json(const char *line, struct pa_log_kv *kv, int max);
int pa_log_parse_text(const char *line, struct pa_log_kv *kv, int max);

/* The value of key among n parsed fields, or NULL; *count gets how many
 * times key occurs (may be NULL). */
const char *pa_log_get(const struct pa_log_kv *kv, int n, const char *key, int *count);

#endif
