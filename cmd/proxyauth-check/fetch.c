/*
 * One request of proxyauth-check through the front proxy (fetch.h):
 * libcurl, one easy handle per request and no connection reuse, so no
 * answer depends on the one before.
 *
 * Invariants: the credentials header lines are scrubbed before they are
 * freed; a 101 or a CONNECT's header block ends the transfer, so no
 * request ever waits on a tunnel; every request has a timeout.
 */
#include "fetch.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_MAX (256 * 1024)

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct chk_answer *an = arg;
	size_t len = size * nmemb, room = BODY_MAX - an->len;
	char *p;

	if (len > room)
		len = room;
	if (len > 0) {
		p = realloc(an->body, an->len + len);
		if (p == NULL)
			return 0;
		an->body = p;
		memcpy(an->body + an->len, data, len);
		an->len += len;
	}
	return size * nmemb;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct chk_answer *an = arg;
	size_t len = size * nmemb;
	const char *v;

	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new header block (after a 100 Continue): start again. */
		an->a.challenge_basic = false;
		an->a.no_store = false;
		v = memchr(data, ' ', len);
		an->hdr_status = v != NULL && data + len - v >= 4 ? strtol(v + 1, NULL, 10) : 0;
		/* A 101 makes the connection a tunnel: nothing more to read. */
		if (an->hdr_status == 101) {
			an->stopped = true;
			return 0;
		}
	} else if ((len == 2 && memcmp(data, "\r\n", 2) == 0) || (len == 1 && *data == '\n')) {
		/* The end of a CONNECT's answer: a 2xx has no body, the rest
		 * of the connection would be the tunnel. */
		if (an->connect && an->hdr_status >= 200) {
			an->stopped = true;
			return 0;
		}
	} else if (len > 19 && strncasecmp(data, "Proxy-Authenticate:", 19) == 0) {
		for (v = data + 19; v < data + len && (*v == ' ' || *v == '\t'); v++)
			;
		if (data + len - v >= 5 && strncasecmp(v, "Basic", 5) == 0 &&
		    (data + len - v == 5 || v[5] == ' ' || v[5] == '\r'))
			an->a.challenge_basic = true;
	} else if (len > 14 && strncasecmp(data, "Cache-Control:", 14) == 0) {
		if (memmem(data, len, "no-store", 8) != NULL)
			an->a.no_store = true;
	}
	return len;
}

int
chk_fetch(const struct chk_fetch *r, const char *url, const char *token, int copies,
      const char *const *extra, size_t nextra, struct chk_answer *an)
{
	struct curl_slist *h = NULL, *t;
	char line[TOKEN_MAX + 40], connect_to[600];
	struct curl_slist *ct = NULL;
	CURL *c;
	CURLcode rc;
	int i, ret = -1;
	size_t k;

	memset(an, 0, sizeof(*an));
	an->connect = r->connect != NULL;
	if ((c = curl_easy_init()) == NULL)
		return -1;
	snprintf(line, sizeof(line), "Proxy-Authorization: Basic %s", token ? token : "");
	for (i = 0; i < copies; i++) {
		if ((t = curl_slist_append(h, line)) == NULL)
			goto done;
		h = t;
	}
	for (k = 0; k < nextra; k++) {
		if ((t = curl_slist_append(h, extra[k])) == NULL)
			goto done;
		h = t;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->cap_ms > 0 && r->cap_ms < r->o->timeout_s * 1000
			 ? r->cap_ms : r->o->timeout_s * 1000);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, an);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, an);
	if (r->connect != NULL) {
		/* "CONNECT host:port HTTP/1.1" as an ordinary request, to the
		 * forward proxy or to the reverse proxy's address alike. */
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "CONNECT");
		curl_easy_setopt(c, CURLOPT_REQUEST_TARGET, r->connect);
	}
	/* CONNECT's authority form and Upgrade are HTTP/1.1's. */
	if (r->http11)
		curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	if (r->o->proxy != NULL) {
		curl_easy_setopt(c, CURLOPT_PROXY, r->o->proxy);
	} else {
		/* Every host of the variants goes to the proxy, as DNS would
		 * send it there in front of a reverse proxy. */
		curl_easy_setopt(c, CURLOPT_PROXY, "");
		snprintf(connect_to, sizeof(connect_to), "::%s", r->o->reverse);
		if ((ct = curl_slist_append(NULL, connect_to)) == NULL)
			goto done;
		curl_easy_setopt(c, CURLOPT_CONNECT_TO, ct);
	}
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &an->a.status);
	else if (an->stopped || an->connect)
		an->a.status = an->hdr_status;	/* a CONNECT's status line is what counts */
	else
		an->a.status = 0;
	an->a.body = an->body;
	an->a.body_len = an->len;
	an->a.echo = an->a.status != 0 && pa_echo_is_echo(an->body, an->len);
	ret = 0;
done:
	explicit_bzero(line, sizeof(line));
	for (t = h; t != NULL; t = t->next)
		explicit_bzero(t->data, strlen(t->data));
	curl_slist_free_all(h);
	curl_slist_free_all(ct);
	curl_easy_cleanup(c);
	return ret;
}

void
chk_answer_free(struct chk_answer *an)
{
	free(an->body);
	memset(an, 0, sizeof(*an));
}
