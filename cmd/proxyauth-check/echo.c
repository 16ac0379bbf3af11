/*
 * proxyauth-check --echo-server ADDR: a target to put behind the front
 * proxy, so the header checks see what reached the upstream.  Every
 * request gets 200 and {"method": ..., "path": ..., "headers": [[name,
 * value], ...]}: the raw request target as it arrived (libmicrohttpd's URI
 * log callback sees it before any decoding) and the headers in order.
 *
 * Invariants: it answers only what the request carried; it keeps nothing
 * between requests; it listens only where it is told (loopback in tests).
 * A request body is read and thrown away.
 */
#include "checks.h"
#include "netaddr.h"
#include "text.h"

#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_MAX (64 * 1024)

struct echo_req {
	char *uri;
};

struct json_buf {
	char buf[ECHO_MAX];
	size_t pos;
	int full;
};

static void
add_raw(struct json_buf *j, const char *s)
{
	if (pa_buf_append(j->buf, sizeof(j->buf), &j->pos, s, strlen(s)) < 0)
		j->full = 1;
}

static void
add_str(struct json_buf *j, const char *s, size_t len)
{
	add_raw(j, "\"");
	if (pa_escape_append(j->buf, sizeof(j->buf), &j->pos, s, len, true) < 0)
		j->full = 1;
	add_raw(j, "\"");
}

static enum MHD_Result
on_header(void *arg, enum MHD_ValueKind kind, const char *key, size_t key_size,
	  const char *value, size_t value_size)
{
	struct json_buf *j = arg;

	(void)kind;
	add_raw(j, j->buf[j->pos - 1] == '[' ? "[" : ",[");
	add_str(j, key, key_size);
	add_raw(j, ",");
	add_str(j, value ? value : "", value ? value_size : 0);
	add_raw(j, "]");
	return j->full ? MHD_NO : MHD_YES;
}

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct echo_req *q = calloc(1, sizeof(*q));

	(void)cls;
	(void)conn;
	if (q != NULL)
		q->uri = strdup(uri ? uri : "");
	return q;
}

static void
on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
	enum MHD_RequestTerminationCode toe)
{
	struct echo_req *q = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (q != NULL) {
		free(q->uri);
		free(q);
		*con_cls = NULL;
	}
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct echo_req *q = *con_cls;
	struct json_buf *j = NULL;
	struct MHD_Response *resp;
	enum MHD_Result ret = MHD_NO;
	const char *path;

	(void)cls;
	(void)version;
	(void)upload;
	if (*upload_size > 0) {
		*upload_size = 0;	/* drop the body */
		return MHD_YES;
	}
	path = q != NULL && q->uri != NULL ? q->uri : url;
	if ((j = malloc(sizeof(*j))) == NULL)
		return MHD_NO;
	j->pos = 0;
	j->full = 0;
	j->buf[0] = '\0';
	add_raw(j, "{\"method\":");
	add_str(j, method, strlen(method));
	add_raw(j, ",\"path\":");
	add_str(j, path, strlen(path));
	add_raw(j, ",\"headers\":[");
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, on_header, j);
	add_raw(j, "]}\n");
	if (j->full) {
		j->pos = 0;
		add_raw(j, "{\"error\":\"request headers too large to echo\"}\n");
	}
	resp = MHD_create_response_from_buffer(j->pos, j->buf, MHD_RESPMEM_MUST_COPY);
	if (resp != NULL) {
		MHD_add_response_header(resp, "Content-Type", "application/json");
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
		MHD_destroy_response(resp);
	}
	free(j);
	return ret;
}

int
chk_echo_serve(const char *addr, struct pa_error *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *di;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	sigset_t set;
	int sig, ret = -1;

	if (pa_sockaddr_parse(addr, &ss, &sslen, err) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* Block the stop signals before MHD's thread starts, so it inherits
	 * the mask and sigwait() below receives them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
			     MHD_OPTION_END);
	if (d == NULL) {
		pa_error_set(err, "cannot listen on %s", addr);
		goto done;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "proxyauth-check: echo target listening on port %u\n",
		di ? (unsigned)di->port : 0u);
	fflush(stderr);
	sigwait(&set, &sig);
	ret = 0;
done:
	if (d != NULL)
		MHD_stop_daemon(d);
	return ret;
}
