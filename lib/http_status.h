/*
 * The HTTP front's operator endpoints: /readyz (200 when every backend
 * answered its last probe, else 503, one "name: reason" line per backend)
 * and /metrics (the Prometheus text of pa_pipeline_metrics).
 */
#ifndef PA_HTTP_STATUS_H
#define PA_HTTP_STATUS_H

#include <microhttpd.h>

#include "pipeline.h"

/* Queues p's readiness on conn.  MHD_NO when out of memory. */
enum MHD_Result pa_http_respond_ready(struct MHD_Connection *conn, const struct pa_pipeline *p);

/* Queues p's metrics on conn; when they do not fit, the shared
 * unavailable response with 503.  MHD_NO when out of memory. */
enum MHD_Result pa_http_respond_metrics(struct MHD_Connection *conn, const struct pa_pipeline *p,
					struct MHD_Response *unavailable);

#endif
