/*
 * Reading a request's inputs for the decision from libmicrohttpd's parsed
 * headers (http_request.h).
 *
 * Invariants: a credentials header that came twice, or whose value went
 * on past a NUL, is malformed, never parsed; the context headers point
 * into libmicrohttpd's copy of the request, which lives as long as the
 * request.
 */
#include "http_request.h"
#include "text.h"

#include <string.h>

static bool
hdr_is(const char *key, size_t key_len, const char *name)
{
	return pa_strieq_n(key, key_len, name);
}

static enum MHD_Result
scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_len,
	    const char *value, size_t value_len)
{
	struct pa_http_headers *r = cls;
	int i;

	(void)kind;
	if (r->cred_end != NULL) {
		if (key != r->cred_end + 1 && (key != r->cred_end + 2 || r->cred_end[1] != '\0'))
			r->cred_nul = true;
		r->cred_end = NULL;
	}
	if (value == NULL)
		return MHD_YES;
	for (i = 0; i < r->nnames; i++) {
		if (hdr_is(key, key_len, r->names[i])) {
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
			r->d->dup_context = name " sent twice";		\
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
context_conflict(const struct pa_http_headers *r)
{
	const char *uri = r->fwd_uri != NULL ? r->fwd_uri : r->orig_uri, *uh = NULL;
	size_t uri_len = r->fwd_uri != NULL ? r->fwd_uri_len : r->orig_uri_len, uh_len = 0;

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

void
pa_http_read_headers(struct MHD_Connection *conn, const char (*names)[64], int nnames,
		     const char *peer, const struct pa_cidr_list *trusted, bool have_rules,
		     struct pa_http_headers *r, struct pa_decision *d)
{
	int i;

	r->names = names;
	r->nnames = nnames;
	r->d = d;
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_header, r);
	if (r->cred_end != NULL && r->cred_end[0] == '\0' && r->cred_end[1] != '\0')
		r->cred_nul = true;	/* the last header: its end is followed by the empty line */
	pa_client_address(trusted, peer, r->xff, r->xff_len, r->x_real_ip,
			  r->x_real_ip_len, d->client);
	d->peer_trusted = pa_cidr_list_match_text(trusted, peer, strlen(peer));

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
	if (d->dup_context == NULL && have_rules)
		d->dup_context = context_conflict(r);
	d->method = r->fwd_method != NULL ? r->fwd_method : r->orig_method;
	d->method_len = r->fwd_method != NULL ? r->fwd_method_len : r->orig_method_len;

	d->cred_status = PA_CRED_MISSING;
	d->cred_why = "no credentials";
	for (i = 0; i < nnames; i++) {
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
			d->cred_value = r->cred_value[i];
			d->cred_value_len = r->cred_len[i];
			d->cred_status = pa_credentials_parse(r->cred_value[i], r->cred_len[i],
							      &d->cred, &d->cred_why);
			return;
		}
	}
}

