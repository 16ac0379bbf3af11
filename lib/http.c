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
 * Slow clients: libmicrohttpd's connection_timeout is an idle timeout, which
 * a client sending one byte a second never reaches.  So every connection
 * is also on a list (struct conn) with the time it became ready for a
 * request (opened, or its last answer sent); a sweeper thread shuts down
 * the socket of any that has not delivered a whole request (header and
 * any body) within header_timeout of that, and libmicrohttpd then closes
 * it as it would any broken connection.  A connection whose request is being answered is
 * never cut.
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
#include "text.h"
#include "workq.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CRED_HEADERS 4

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
	/* slow clients (see the top of this file) */
	uint64_t header_timeout_us;	/* 0: no sweeper */
	pthread_mutex_t conns_lock;
	pthread_cond_t sweep_cond;
	struct conn *conns;		/* every open connection */
	pthread_t sweeper;
	bool sweeper_running, sweeper_stop;
	struct pa_holdq *held;		/* locked answers held back */
};

/* One connection: its socket context. */
struct conn {
	char peer[PA_ADDR_MAX];		/* the peer address in text form */
	int fd;
	atomic_bool busy;		/* a request's header is in: never cut */
	_Atomic uint64_t ready_us;	/* opened, or its last answer sent */
	bool cut;			/* shut down by the sweeper */
	struct conn *prev, *next;	/* on pa_http.conns, under conns_lock */
};

enum req_state { REQ_NEW, REQ_PENDING, REQ_DONE };

struct req {
	struct pa_job job;		/* first: the worker gets back to req from it */
	struct pa_http *h;
	struct MHD_Connection *conn;
	struct conn *c;			/* its connection's context, or NULL */
	enum req_state state;
	bool ended;			/* pa_decide_end() ran: logged and scrubbed */
	/* header scan */
	const char *cred_value[MAX_CRED_HEADERS];
	size_t cred_len[MAX_CRED_HEADERS];
	int cred_count[MAX_CRED_HEADERS];
	/* libmicrohttpd (0.9.75) parses header lines in place and hands a
	 * value's length as strlen(): a NUL inside a value cuts it there, so
	 * "Basic <token>\0junk" would look well-formed.  In its buffer a line
	 * ends in "\0\0" (CRLF) or "\0" (LF) right before the next line: a
	 * value whose terminator is followed by anything else went on past a
	 * NUL.  cred_end is the last credentials value's end, checked against
	 * the next header's name (or, for the last header, its own bytes). */
	const char *cred_end;
	bool cred_nul;
	const char *xff, *x_real_ip;
	size_t xff_len, x_real_ip_len;
	const char *orig_uri, *orig_url, *orig_method, *fwd_host, *fwd_uri, *fwd_method;
	size_t orig_uri_len, orig_url_len, orig_method_len, fwd_host_len, fwd_uri_len,
	    fwd_method_len;
	struct pa_decision d;
};

/* True when url is prefix or starts with prefix followed by '/'. */
static bool
path_is(const char *url, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(url, prefix, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

static bool
hdr_is(const char *key, size_t key_len, const char *name)
{
	return pa_strieq_n(key, key_len, name);
}

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_len,
	    const char *value, size_t value_len)
{
	struct req *r = cls;
	int i;

	(void)kind;
	if (r->cred_end != NULL) {
		if (key != r->cred_end + 1 && (key != r->cred_end + 2 || r->cred_end[1] != '\0'))
			r->cred_nul = true;
		r->cred_end = NULL;
	}
	if (value == NULL)
		return MHD_YES;
	for (i = 0; i < r->h->ncred_names; i++) {
		if (hdr_is(key, key_len, r->h->cred_names[i])) {
			r->cred_value[i] = value;
			r->cred_len[i] = value_len;
			r->cred_count[i]++;
			r->cred_end = value + value_len;
			return MHD_YES;
		}
	}
#define TAKE(name, field)						\
	if (hdr_is(key, key_len, name)) {				\
		r->field = value;					\
		r->field##_len = value_len;				\
		return MHD_YES;						\
	}
	TAKE("X-Forwarded-For", xff)
	TAKE("X-Real-IP", x_real_ip)
#undef TAKE
	/* Context headers: one each, since rules decide on them; a second
	 * one is noted for a 403 (a proxy that adds its own would otherwise
	 * leave the client's in play). */
#define CONTEXT(name, field)						\
	if (hdr_is(key, key_len, name)) {				\
		if (r->field != NULL)					\
			r->d.dup_context = name " sent twice";		\
		r->field = value;					\
		r->field##_len = value_len;				\
		return MHD_YES;						\
	}
	CONTEXT("X-Original-URI", orig_uri)
	CONTEXT("X-Original-URL", orig_url)
	CONTEXT("X-Original-Method", orig_method)
	CONTEXT("X-Forwarded-Host", fwd_host)
	CONTEXT("X-Forwarded-Uri", fwd_uri)
	CONTEXT("X-Forwarded-Method", fwd_method)
#undef CONTEXT
	return MHD_YES;
}

/* Points *host at the authority of an absolute URL ("https://h:1/x" gives
 * "h:1"); leaves it alone when the URL has none. */
static void
url_host(const char *url, size_t len, const char **host, size_t *host_len)
{
	const char *p = url + pa_url_scheme_len(url, len), *end, *stop = url + len;

	if (p == url)
		return;
	for (end = p; end < stop && *end != '/' && *end != '?' && *end != '#'; end++)
		;
	if (end > p) {
		*host = p;
		*host_len = (size_t)(end - p);
	}
}

/* While rules exist, the context headers that name the path or the host
 * twice must agree: a proxy that sets one may pass the client's other. */
static const char *
context_conflict(const struct req *r)
{
	const char *uri = r->fwd_uri != NULL ? r->fwd_uri : r->orig_uri, *uh = NULL;
	size_t uri_len = r->fwd_uri != NULL ? r->fwd_uri_len : r->orig_uri_len, uh_len = 0;

	if (r->h->p->rules.n == 0)
		return NULL;
	if (r->fwd_uri != NULL && r->orig_uri != NULL &&
	    !pa_paths_agree(r->fwd_uri, r->fwd_uri_len, r->orig_uri, r->orig_uri_len))
		return "X-Forwarded-Uri and X-Original-URI disagree";
	if (r->orig_url == NULL)
		return NULL;
	if (uri != NULL && !pa_paths_agree(uri, uri_len, r->orig_url, r->orig_url_len))
		return "X-Original-URL disagrees with X-Forwarded-Uri or X-Original-URI";
	url_host(r->orig_url, r->orig_url_len, &uh, &uh_len);
	if (r->fwd_host != NULL && uh != NULL &&
	    !pa_hosts_agree(r->fwd_host, r->fwd_host_len, uh, uh_len))
		return "X-Forwarded-Host and the host of X-Original-URL disagree";
	return NULL;
}

/* Fills the decision's inputs from the request headers. */
static void
read_request(struct req *r, enum pa_profile profile)
{
	const union MHD_ConnectionInfo *ci;
	char peer[PA_ADDR_MAX] = "";
	struct pa_decision *d = &r->d;
	int i;

	d->profile = profile;
	MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, scan_header, r);
	if (r->cred_end != NULL && r->cred_end[0] == '\0' && r->cred_end[1] != '\0')
		r->cred_nul = true;	/* the last header: its end is followed by the empty line */
	/* The peer's text form is made once per connection (on_connection). */
	if (r->c != NULL) {
		memcpy(peer, r->c->peer, sizeof(peer));
	} else {
		ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		if (ci != NULL)
			pa_sockaddr_text(ci->client_addr, peer);
	}
	pa_client_address(&r->h->p->trusted, peer, r->xff, r->xff_len, r->x_real_ip,
			  r->x_real_ip_len, d->client);
	d->peer_trusted = pa_cidr_list_match_text(&r->h->p->trusted, peer, strlen(peer));

	d->host = r->fwd_host;
	d->host_len = r->fwd_host_len;
	if (d->host == NULL && r->orig_url != NULL)
		url_host(r->orig_url, r->orig_url_len, &d->host, &d->host_len);
	if (r->fwd_uri != NULL) {
		d->uri = r->fwd_uri;
		d->uri_len = r->fwd_uri_len;
	} else if (r->orig_uri != NULL) {
		d->uri = r->orig_uri;
		d->uri_len = r->orig_uri_len;
	} else {
		d->uri = r->orig_url;
		d->uri_len = r->orig_url_len;
	}
	if (d->dup_context == NULL)
		d->dup_context = context_conflict(r);
	d->method = r->fwd_method != NULL ? r->fwd_method : r->orig_method;
	d->method_len = r->fwd_method != NULL ? r->fwd_method_len : r->orig_method_len;

	d->cred_status = PA_CRED_MISSING;
	d->cred_why = "no credentials";
	for (i = 0; i < r->h->ncred_names; i++) {
		if (r->cred_count[i] > 1) {
			d->cred_status = PA_CRED_MALFORMED;
			d->cred_why = "duplicate credentials header";
			return;
		}
		if (r->cred_count[i] == 1 && r->cred_nul) {
			d->cred_status = PA_CRED_MALFORMED;
			d->cred_why = "NUL in credentials header";
			return;
		}
		if (r->cred_count[i] == 1) {
			d->cred_status = pa_credentials_parse(r->cred_value[i], r->cred_len[i],
							      &d->cred, &d->cred_why);
			return;
		}
	}
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
respond_ready(struct req *r)
{
	char body[2048];
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int rc = pa_pipeline_ready(r->h->p, body, sizeof(body));

	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(r->conn, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				 resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
respond_metrics(struct req *r)
{
	size_t size = 256 * 1024, n;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body = malloc(size);

	if (body == NULL)
		return MHD_NO;
	if ((n = pa_pipeline_metrics(r->h->p, body, size)) == 0) {
		free(body);
		return queue_shared(r, MHD_HTTP_SERVICE_UNAVAILABLE, RESP_UNAVAILABLE);
	}
	resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
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
		atomic_store_explicit(&r->c->busy, true, memory_order_relaxed);
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
			return respond_metrics(r);
		return respond_ready(r);
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
	if (!r->ended)
		pa_credentials_clear(&r->d.cred);
	if (r->c != NULL) {
		atomic_store_explicit(&r->c->ready_us, pa_now_us(), memory_order_relaxed);
		atomic_store_explicit(&r->c->busy, false, memory_order_release);
	}
	free(r);
	*con_cls = NULL;
	atomic_fetch_sub(&h->in_flight, 1);
}

/* Keeps the peer address of a connection in text form for its requests,
 * and the connection on the sweeper's list.  libmicrohttpd calls CLOSED
 * before it closes the socket, so the sweeper (which shuts sockets down
 * under conns_lock) never touches a descriptor that was reused. */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	      enum MHD_ConnectionNotificationCode code)
{
	struct pa_http *h = cls;
	const union MHD_ConnectionInfo *ci, *fd;
	struct conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c == NULL)
			return;
		pthread_mutex_lock(&h->conns_lock);
		if (c->prev != NULL)
			c->prev->next = c->next;
		else if (h->conns == c)
			h->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		pthread_mutex_unlock(&h->conns_lock);
		free(c);
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	fd = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || fd == NULL || (c = calloc(1, sizeof(*c))) == NULL)
		return;		/* read_request() falls back to the address itself */
	pa_sockaddr_text(ci->client_addr, c->peer);
	c->fd = fd->connect_fd;
	atomic_init(&c->busy, false);
	atomic_init(&c->ready_us, pa_now_us());
	*socket_context = c;
	pthread_mutex_lock(&h->conns_lock);
	c->next = h->conns;
	if (h->conns != NULL)
		h->conns->prev = c;
	h->conns = c;
	pthread_mutex_unlock(&h->conns_lock);
}

/* Cuts connections that hold no whole request header header_timeout
 * after they became ready for one (the slow-loris defence). */
static void *
sweeper(void *arg)
{
	struct pa_http *h = arg;
	struct timespec ts;
	struct conn *c;
	uint64_t now, ready;

	pthread_mutex_lock(&h->conns_lock);
	while (!h->sweeper_stop) {
		now = pa_now_us();
		for (c = h->conns; c != NULL; c = c->next) {
			if (c->cut || atomic_load_explicit(&c->busy, memory_order_acquire))
				continue;
			ready = atomic_load_explicit(&c->ready_us, memory_order_relaxed);
			if (ready > now || now - ready < h->header_timeout_us)
				continue;
			(void)shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			pa_log_msg(h->p->log, PA_LOG_DEBUG, "closed a connection from %s: no "
				   "whole request header within header_timeout", c->peer);
		}
		ts = pa_deadline_ms(500);
		(void)pthread_cond_timedwait(&h->sweep_cond, &h->conns_lock, &ts);
	}
	pthread_mutex_unlock(&h->conns_lock);
	return NULL;
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
	pthread_mutex_init(&h->conns_lock, NULL);
	pthread_cond_init(&h->sweep_cond, NULL);
	h->header_timeout_us = (uint64_t)pa_conf_int(srv, pa_server_keys, "header_timeout") *
			       1000000u;
	if (pa_list_foreach(p->cred_headers, add_cred_name, h) != 0) {
		pa_error_set(err, "credentials_header: at most %d names of up to 63 characters",
			     MAX_CRED_HEADERS);
		goto fail;
	}
	if (make_challenge(p->realm, h->challenge, sizeof(h->challenge)) != 0) {
		pa_error_set(err, "realm too long");
		goto fail;
	}
	h->shared[RESP_DENY_407] = make_shared("", "Proxy-Authenticate", h->challenge);
	h->shared[RESP_DENY_401] = make_shared("", "Proxy-Authenticate", h->challenge);
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
		threads = sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
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
	if (h->header_timeout_us > 0) {
		if (pthread_create(&h->sweeper, NULL, sweeper, h) != 0) {
			pa_error_set(err, "cannot start the connection sweeper");
			goto fail;
		}
		h->sweeper_running = true;
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
	if (h->sweeper_running) {
		pthread_mutex_lock(&h->conns_lock);
		h->sweeper_stop = true;
		pthread_cond_signal(&h->sweep_cond);
		pthread_mutex_unlock(&h->conns_lock);
		pthread_join(h->sweeper, NULL);
	}
	if (h->mhd != NULL)
		MHD_stop_daemon(h->mhd);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	pa_workq_free(h->workq);
	pa_holdq_free(h->held);
	for (i = 0; i < RESP_COUNT; i++)
		if (h->shared[i] != NULL)
			MHD_destroy_response(h->shared[i]);
	pthread_cond_destroy(&h->sweep_cond);
	pthread_mutex_destroy(&h->conns_lock);
	free(h);
	return 0;
}
