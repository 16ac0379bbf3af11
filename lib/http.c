/*
 * libmicrohttpd glue.
 *
 * Keep-alive depends on the two-call idiom: the first call for a request
 * only allocates its state and returns, and the response is queued on a
 * later call, once the request has been read whole.  Queuing on the first
 * call makes libmicrohttpd 0.9.75 answer "Connection: close".
 *
 * Responses that carry nothing per request (deny, forbidden, unavailable,
 * not found) are built once at start and shared: libmicrohttpd reference-
 * counts them under their own lock.  Allow responses carry the identity
 * and are made per request.
 *
 * Slow clients: every connection's socket context is its entry on the
 * slow-client list (slowclient.h), whose sweeper cuts a connection that
 * has not delivered a whole request within header_timeout.
 *
 * Locked answers are held back for about the time a verification takes
 * (pa_pipeline_locked_delay_us), so that their timing does not tell an
 * attacker that it is locked, without spending that time's CPU: the
 * connection stays suspended, and the hold queue's thread (holdq.h)
 * resumes it when its time comes.
 *
 * Invariants: a suspended connection is resumed exactly once, by the
 * worker that ran its lookup, or by the holder for a locked answer (or at
 * once when the queue or the holder refused it); the
 * request state is freed only in the completion callback, which
 * libmicrohttpd calls after the connection was resumed.
 */
#include "http.h"
#include "holdq.h"
#include "http_request.h"
#include "http_status.h"
#include "slowclient.h"
#include "text.h"
#include "workq.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CRED_HEADERS PA_HTTP_CRED_HEADERS

enum shared_resp {
	RESP_DENY_407,
	RESP_DENY_401,
	RESP_FORBIDDEN,
	RESP_UNAVAILABLE,
	RESP_NOT_FOUND,
	RESP_HEALTH,
	RESP_METHOD,
	RESP_COUNT,
};

struct pa_http {
	struct MHD_Daemon *mhd;
	const struct pa_pipeline *p;
	struct pa_workq *workq;
	struct MHD_Response *shared[RESP_COUNT];
	char challenge[512];
	char cred_names[MAX_CRED_HEADERS][64];
	int ncred_names;
	atomic_int in_flight;
	uint16_t port;
	struct pa_slowclients *conns;	/* every open connection (slow clients) */
	struct pa_holdq *held;		/* locked answers held back */
};

enum req_state { REQ_NEW, REQ_PENDING, REQ_DONE };

struct req {
	struct pa_job job;		/* first: the worker gets back to req from it */
	struct pa_http *h;
	struct MHD_Connection *conn;
	struct pa_slowclient *c;	/* its connection's context, or NULL */
	enum req_state state;
	bool ended;			/* pa_decide_end() ran: logged and scrubbed */
	struct pa_http_headers hd;	/* the header scan */
	struct pa_decision d;
};

/* True when url is prefix or starts with prefix followed by '/'. */
static bool
path_is(const char *url, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(url, prefix, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

/* Fills the decision's inputs from the request headers. */
static void
read_request(struct req *r, enum pa_profile profile)
{
	const union MHD_ConnectionInfo *ci;
	char peer[PA_ADDR_MAX] = "";

	r->d.profile = profile;
	/* The peer's text form is made once per connection (on_connection). */
	if (r->c != NULL) {
		memcpy(peer, r->c->peer, sizeof(peer));
	} else {
		ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL)
			pa_sockaddr_text(ci->client_addr, peer);
	}
	pa_http_read_headers(r->conn, (const char (*)[64])r->h->cred_names, r->h->ncred_names,
			     peer, &r->h->p->trusted, r->h->p->rules.n > 0, &r->hd, &r->d);
}

static enum MHD_Result
queue_shared(struct req *r, unsigned int status, enum shared_resp which)
{
	return MHD_queue_response(r->conn, status, r->h->shared[which]);
}

static enum MHD_Result
respond_decision(struct req *r)
{
	struct pa_http *h = r->h;
	struct pa_decision *d = &r->d;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	unsigned int status;

	switch (d->outcome) {
	case PA_OUT_ALLOW:
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp == NULL) {
			ret = queue_shared(r, MHD_HTTP_SERVICE_UNAVAILABLE, RESP_UNAVAILABLE);
			break;
		}
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		/* An allow always carries X-Auth-Groups, empty for a user
		 * without groups.  libmicrohttpd 0.9.75 refuses an empty
		 * value (which turned such allows into 503s), so send one
		 * space: RFC 9110 section 5.5 strips whitespace around a
		 * field value, and proxies read it as empty. */
		if (MHD_add_response_header(resp, "X-Auth-User", d->who.user) != MHD_YES ||
		    MHD_add_response_header(resp, "X-Auth-Groups",
					    d->who.groups[0] != '\0' ? d->who.groups : " ") !=
			MHD_YES ||
		    MHD_add_response_header(resp, "X-Auth-Backend", d->backend) != MHD_YES) {
			/* A value libmicrohttpd refuses (it checks for CR/LF): never
			 * allow without the identity the proxy relies on. */
			MHD_destroy_response(resp);
			d->outcome = PA_OUT_UNAVAILABLE;
			pa_error_set(&d->why, "identity not representable in a header");
			ret = queue_shared(r, MHD_HTTP_SERVICE_UNAVAILABLE, RESP_UNAVAILABLE);
			break;
		}
		/* Kerberos mutual authentication: the acceptor's reply. */
		if (d->neg != NULL && d->neg->mutual && d->neg->reply[0] != '\0')
			MHD_add_response_header(resp, "Proxy-Authenticate", d->neg->reply);
		if (d->profile == PA_PROFILE_EXT_AUTHZ)
			MHD_add_response_header(resp, "x-envoy-auth-headers-to-remove",
						"proxy-authorization");
		status = d->profile == PA_PROFILE_AUTH ? MHD_HTTP_NO_CONTENT : MHD_HTTP_OK;
		ret = MHD_queue_response(r->conn, status, resp);
		MHD_destroy_response(resp);
		break;
	case PA_OUT_FORBIDDEN:
		ret = queue_shared(r, MHD_HTTP_FORBIDDEN, RESP_FORBIDDEN);
		break;
	case PA_OUT_UNAVAILABLE:
		ret = queue_shared(r, MHD_HTTP_SERVICE_UNAVAILABLE, RESP_UNAVAILABLE);
		break;
	default:
		if (d->profile == PA_PROFILE_AUTH_REQUEST)
			ret = queue_shared(r, MHD_HTTP_UNAUTHORIZED, RESP_DENY_401);
		else
			ret = queue_shared(r, MHD_HTTP_PROXY_AUTHENTICATION_REQUIRED, RESP_DENY_407);
		break;
	}
	pa_decide_end(h->p, d);
	r->ended = true;
	return ret;
}

static void
resume_held(void *conn)
{
	MHD_resume_connection(conn);
}

/* A locked answer, decided and its connection suspended: held back, or
 * resumed at once when it cannot be. */
static void
hold_locked(struct req *r)
{
	uint64_t delay = pa_pipeline_locked_delay_us(r->h->p, &r->d, arc4random());

	if (delay == 0 || r->h->held == NULL || !pa_holdq_add(r->h->held, r->conn, delay))
		MHD_resume_connection(r->conn);
}

static void
run_lookup(struct pa_job *job)
{
	struct req *r = (struct req *)job;

	pa_decide_lookup(r->h->p, &r->d);
	r->state = REQ_DONE;
	if (r->d.outcome == PA_OUT_LOCKED)
		hold_locked(r);
	else
		MHD_resume_connection(r->conn);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload_data, size_t *upload_data_size,
	   void **con_cls)
{
	struct pa_http *h = cls;
	struct req *r = *con_cls;
	const union MHD_ConnectionInfo *ci;
	enum pa_profile profile;

	(void)version;
	(void)upload_data;
	if (r == NULL) {
		/* Not calloc: the decision holds 6 KiB of buffers that need only
		 * their first bytes cleared (pa_decision_init). */
		if ((r = malloc(sizeof(*r))) == NULL)
			return MHD_NO;
		memset(r, 0, offsetof(struct req, d));
		pa_decision_init(&r->d);
		r->h = h;
		r->conn = conn;
		r->d.start_us = pa_now_us();
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		if (ci != NULL && ci->socket_context != NULL)
			r->c = ci->socket_context;
		*con_cls = r;
		atomic_fetch_add(&h->in_flight, 1);
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		*upload_data_size = 0;	/* a body is never needed: discard it */
		return MHD_YES;
	}
	/* The whole request is in (a body too): from here on the sweeper
	 * leaves the connection alone.  Not before, or a body sent a byte at
	 * a time would hold it forever. */
	if (r->c != NULL)
		pa_slowclient_busy(r->c);
	if (r->state == REQ_DONE)
		return respond_decision(r);
	if (r->state == REQ_PENDING)
		return MHD_YES;		/* cannot happen while suspended */

	if (path_is(url, "/auth"))
		profile = PA_PROFILE_AUTH;
	else if (path_is(url, "/auth-request"))
		profile = PA_PROFILE_AUTH_REQUEST;
	else if (path_is(url, "/ext-authz"))
		profile = PA_PROFILE_EXT_AUTHZ;
	else if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
		 strcmp(url, "/metrics") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return queue_shared(r, MHD_HTTP_METHOD_NOT_ALLOWED, RESP_METHOD);
		if (strcmp(url, "/healthz") == 0)
			return queue_shared(r, MHD_HTTP_OK, RESP_HEALTH);
		if (strcmp(url, "/metrics") == 0)
			return pa_http_respond_metrics(conn, h->p, h->shared[RESP_UNAVAILABLE]);
		return pa_http_respond_ready(conn, h->p);
	} else {
		return queue_shared(r, MHD_HTTP_NOT_FOUND, RESP_NOT_FOUND);
	}

	read_request(r, profile);
	if (pa_decide_begin(h->p, &r->d)) {
		if (r->d.outcome != PA_OUT_LOCKED)
			return respond_decision(r);
		if (r->d.locked_cached) {
			r->state = REQ_DONE;
			MHD_suspend_connection(conn);
			hold_locked(r);
			return MHD_YES;
		}
		/* Otherwise the locked answer waits its turn for a worker, as
		 * the lookup it stands for would (the worker checks the lock
		 * again and holds it, spending no verification): answered
		 * from here, it would skip the queue and be fast whenever the
		 * workers are busy. */
		r->d.why.msg[0] = '\0';	/* the worker decides again */
	}

	r->state = REQ_PENDING;
	r->job.run = run_lookup;
	MHD_suspend_connection(conn);
	if (pa_workq_submit(h->workq, &r->job) != 0) {
		r->d.outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&r->d.why, "too many requests waiting for a backend");
		r->state = REQ_DONE;
		MHD_resume_connection(conn);
	}
	return MHD_YES;
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct pa_http *h = cls;
	struct req *r = *con_cls;

	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	if (!r->ended) {
		pa_credentials_clear(&r->d.cred);
		pa_decision_release(&r->d);
	}
	if (r->c != NULL)
		pa_slowclient_ready(r->c, pa_now_us());
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&h->in_flight, 1);
}

/* Keeps the peer address of a connection in text form for its requests,
 * and the connection on the slow-client list.  libmicrohttpd calls CLOSED
 * before it closes the socket, so the sweeper never touches a descriptor
 * that was reused. */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	      enum MHD_ConnectionNotificationCode code)
{
	struct pa_http *h = cls;
	const union MHD_ConnectionInfo *ci, *fd;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		pa_slowclient_close(h->conns, *socket_context);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || fd == NULL)
		return;		/* read_request() falls back to the address itself */
	*socket_context = pa_slowclient_open(h->conns, ci->client_addr, fd->connect_fd,
					     pa_now_us());
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	const struct pa_pipeline *p = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	pa_log_msg(p->log, PA_LOG_WARN, "libmicrohttpd: %s", msg);
}

static struct MHD_Response *
make_shared(const char *body, const char *h1, const char *v1)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return NULL;
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (body[0] != '\0')
		MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	if (h1 != NULL && MHD_add_response_header(resp, h1, v1) != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* The challenge of a denial.  With [negotiate], `Negotiate` first and
 * then Basic, as two Proxy-Authenticate fields, and Basic once more in
 * X-Auth-Challenge-Basic: nginx's auth_request_set sees only the first
 * field of a name, so the shipped nginx config adds the second from
 * there (README, Kerberos). */
static struct MHD_Response *
make_deny(const char *basic, bool negotiate)
{
	struct MHD_Response *resp;

	if (!negotiate)
		return make_shared("", "Proxy-Authenticate", basic);
	if ((resp = make_shared("", "Proxy-Authenticate", "Negotiate")) == NULL)
		return NULL;
	if (MHD_add_response_header(resp, "Proxy-Authenticate", basic) != MHD_YES ||
	    MHD_add_response_header(resp, "X-Auth-Challenge-Basic", basic) != MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

/* Builds `Basic realm="...", charset="UTF-8"` with '"' and '\' escaped. */
static int
make_challenge(const char *realm, char *out, size_t len)
{
	size_t pos = 0;
	const char *c;

	out[0] = '\0';
	if (pa_buf_append(out, len, &pos, "Basic realm=\"", 13) != 0)
		return -1;
	for (c = realm; *c != '\0'; c++) {
		if ((*c == '"' || *c == '\\') && pa_buf_append(out, len, &pos, "\\", 1) != 0)
			return -1;
		if (pa_buf_append(out, len, &pos, c, 1) != 0)
			return -1;
	}
	return pa_buf_append(out, len, &pos, "\", charset=\"UTF-8\"", 18);
}

static int
add_cred_name(const char *name, size_t len, void *arg)
{
	struct pa_http *h = arg;

	if (h->ncred_names == MAX_CRED_HEADERS)
		return -1;
	if (pa_strlcpy_n(h->cred_names[h->ncred_names], sizeof(h->cred_names[0]), name, len) != 0)
		return -1;
	h->ncred_names++;
	return 0;
}

int
pa_http_start(struct pa_http **out, const struct pa_pipeline *p, const struct pa_config *cfg,
	      struct pa_error *err)
{
	const struct pa_section *srv = pa_config_section(cfg, "server");
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct pa_http *h;
	const union MHD_DaemonInfo *di;
	long threads = pa_conf_int(srv, pa_server_keys, "threads");
	unsigned int flags;
	int i;

	*out = NULL;
	if (pa_sockaddr_parse(pa_conf_str(srv, pa_server_keys, "listen"), &ss, &sslen, err) != 0)
		return -1;
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		pa_error_set(err, "out of memory");
		return -1;
	}
	h->p = p;
	atomic_init(&h->in_flight, 0);
	h->conns = pa_slowclients_start(p->log, (uint64_t)pa_conf_int(srv, pa_server_keys,
								       "header_timeout") * 1000000u);
	if (h->conns == NULL) {
		pa_error_set(err, "cannot start the connection sweeper");
		goto fail;
	}
	if (pa_list_foreach(p->cred_headers, add_cred_name, h) != 0) {
		pa_error_set(err, "credentials_header: at most %d names of up to 63 characters",
			     MAX_CRED_HEADERS);
		goto fail;
	}
	if (make_challenge(p->realm, h->challenge, sizeof(h->challenge)) != 0) {
		pa_error_set(err, "realm too long");
		goto fail;
	}
	h->shared[RESP_DENY_407] = make_deny(h->challenge, p->negotiate != NULL);
	h->shared[RESP_DENY_401] = make_deny(h->challenge, p->negotiate != NULL);
	h->shared[RESP_FORBIDDEN] = make_shared("", NULL, NULL);
	h->shared[RESP_UNAVAILABLE] = make_shared("", "Retry-After", "1");
	h->shared[RESP_NOT_FOUND] = make_shared("not found\n", NULL, NULL);
	h->shared[RESP_HEALTH] = make_shared("ok\n", NULL, NULL);
	h->shared[RESP_METHOD] = make_shared("method not allowed\n", "Allow", "GET, HEAD");
	for (i = 0; i < RESP_COUNT; i++) {
		if (h->shared[i] == NULL) {
			pa_error_set(err, "cannot build responses");
			goto fail;
		}
	}
	if ((h->held = pa_holdq_start(resume_held)) == NULL) {
		pa_error_set(err, "cannot start the locked-answer hold queue");
		goto fail;
	}
	h->workq = pa_workq_start((int)pa_conf_int(srv, pa_server_keys, "workers"),
				  (size_t)pa_conf_int(srv, pa_server_keys, "max_connections"));
	if (h->workq == NULL) {
		pa_error_set(err, "cannot start worker threads");
		goto fail;
	}
	if (threads == 0)
		threads = pa_usable_cpus();
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)p,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned int)pa_conf_int(srv, pa_server_keys, "max_connections"),
		MHD_OPTION_CONNECTION_TIMEOUT,
		(unsigned int)pa_conf_int(srv, pa_server_keys, "connection_timeout"),
		/* The per-connection pool holds the request headers and the
		 * answer; libmicrohttpd zeroes all of it for every request on a
		 * kept-alive connection, so it costs time in proportion. */
		MHD_OPTION_CONNECTION_MEMORY_LIMIT,
		(size_t)pa_conf_int(srv, pa_server_keys, "max_header_bytes"),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		/* 0 is libmicrohttpd's "no limit" too */
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned int)pa_conf_int(srv, pa_server_keys, "max_connections_per_address"),
		MHD_OPTION_END);
	if (h->mhd == NULL) {
		pa_error_set(err, "cannot listen on %s (address in use, or not allowed)",
			     pa_conf_str(srv, pa_server_keys, "listen"));
		goto fail;
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di != NULL ? di->port : 0;
	*out = h;
	return 0;
fail:
	pa_http_stop(h, 0);
	return -1;
}

uint16_t
pa_http_port(const struct pa_http *h)
{
	return h->port;
}

int
pa_http_stop(struct pa_http *h, int drain_ms)
{
	MHD_socket fd = MHD_INVALID_SOCKET;
	int i, waited = 0;

	if (h == NULL)
		return 0;
	if (h->mhd != NULL) {
		/* The listening socket must stay open until MHD_stop_daemon()
		 * in the threaded modes (microhttpd.h, MHD_quiesce_daemon), but
		 * new connections must be refused at once, not left waiting in
		 * the backlog: shutdown() does the second without the first. */
		fd = MHD_quiesce_daemon(h->mhd);
		if (fd != MHD_INVALID_SOCKET)
			(void)shutdown(fd, SHUT_RDWR);
		while (atomic_load(&h->in_flight) > 0 && waited < drain_ms) {
			usleep(10000);
			waited += 10;
		}
	}
	/* Finish the queued lookups (they resume their connections); a
	 * lookup asked for after this gets 503 from the refusing queue, which
	 * stays valid while libmicrohttpd's threads may still call it. */
	if (pa_workq_stop(h->workq, drain_ms - waited > 100 ? drain_ms - waited : 100) != 0)
		return -1;	/* a lookup hangs past the drain time: leave it all */
	/* Held answers go out now; later ones are not held. */
	pa_holdq_stop(h->held);
	pa_slowclients_stop(h->conns);
	if (h->mhd != NULL)
		MHD_stop_daemon(h->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	pa_workq_free(h->workq);
	pa_holdq_free(h->held);
	for (i = 0; i < RESP_COUNT; i++)
		if (h->shared[i] != NULL)
			MHD_destroy_response(h->shared[i]);
	pa_slowclients_free(h->conns);
	free(h);
	return 0;
}
