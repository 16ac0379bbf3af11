/*
 * The operator endpoints of the HTTP front (http_status.h): /readyz from
 * the readiness probes, /metrics in the Prometheus text format.  Both are
 * answered on libmicrohttpd's thread, never cached (Cache-Control:
 * no-store).
 */
#include "http_status.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result
pa_http_respond_ready(struct MHD_Connection *conn, const struct pa_pipeline *p)
{
	char body[2048];
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int rc = pa_pipeline_ready(p, body, sizeof(body));

	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, rc == 0 ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
				 resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result
pa_http_respond_metrics(struct MHD_Connection *conn, const struct pa_pipeline *p,
			struct MHD_Response *unavailable)
{
	size_t size = 256 * 1024, n;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *body = malloc(size);

	if (body == NULL)
		return MHD_NO;
	if ((n = pa_pipeline_metrics(p, body, size)) == 0) {
		free(body);
		return MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE, unavailable);
	}
	resp = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}
