/*
 * The HTTP front's header scan: the credentials header(s), the client
 * address headers (X-Forwarded-For, X-Real-IP, taken from trusted proxies
 * only) and the forwarded context (X-Original-*, X-Forwarded-*), from
 * libmicrohttpd's parsed request into a decision's inputs.
 */
#ifndef PA_HTTP_REQUEST_H
#define PA_HTTP_REQUEST_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "netaddr.h"
#include "pipeline.h"

#define PA_HTTP_CRED_HEADERS 4	/* credentials_header: at most this many names */

/* The scan's state, per request; all zero before the scan. */
struct pa_http_headers {
	const char (*names)[64];	/* the credentials header names */
	int nnames;
	struct pa_decision *d;
	const char *cred_value[PA_HTTP_CRED_HEADERS];
	size_t cred_len[PA_HTTP_CRED_HEADERS];
	int cred_count[PA_HTTP_CRED_HEADERS];
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
};

/*
 * Fills d's client, peer_trusted, host, uri, method and credentials from
 * conn's headers.  names[0..nnames) are the credentials headers in order
 * of preference; peer is the TCP peer's address in text form; trusted is
 * trusted_proxies; with have_rules, context headers that disagree are
 * noted in d->dup_context (a 403).  r must be all zero and live as long
 * as d's pointers into the headers (the request).
 */
void pa_http_read_headers(struct MHD_Connection *conn, const char (*names)[64], int nnames,
			  const char *peer, const struct pa_cidr_list *trusted, bool have_rules,
			  struct pa_http_headers *r, struct pa_decision *d);

#endif
