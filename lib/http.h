/*
 * The HTTP front on libmicrohttpd: routes by path prefix to the three
 * response profiles of SPEC section 2, plus /healthz and /readyz.  Fast
 * decisions are answered on libmicrohttpd's event-loop threads; anything
 * that needs a backend suspends the connection and runs on the worker
 * pool, so a slow backend never stalls other connections.
 */
#ifndef PA_HTTP_H
#define PA_HTTP_H

#include <stdint.h>

#include "config.h"
#include "pipeline.h"

struct pa_http;

/* Starts serving on [server] listen with the given pipeline (which must
 * outlive the server).  Returns 0 and *out, or -1 with err set. */
int pa_http_start(struct pa_http **out, const struct pa_pipeline *p, const struct pa_config *cfg,
		  struct pa_error *err);

/* The port actually bound (useful with listen = 127.0.0.1:0). */
uint16_t pa_http_port(const struct pa_http *h);

/* Stops accepting, lets requests in flight finish for up to drain_ms, then
 * stops and frees.  Returns 0, or -1 when a backend lookup was still
 * running at the deadline: nothing is freed then, and the caller should
 * exit the process.  Safe on NULL. */
int pa_http_stop(struct pa_http *h, int drain_ms);

#endif
