/*
 * proxyauth-check's verdicts and report (check_verdict.h).
 *
 * The echo reader understands only the layout the echo target writes (an
 * object whose "headers" member is a list of [name, value] string pairs);
 * anything else reads as "not echo", which makes the upstream checks SKIP
 * rather than guess.
 */
#include "check_verdict.h"
#include "text.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

void
pa_check_set(struct pa_check_result *r, enum pa_check_verdict v, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->verdict = v;
	va_start(ap, fmt);
	n = vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	if (n < 0)
		r->reason[0] = '\0';
	else if ((size_t)n >= sizeof(r->reason))
		memcpy(r->reason + sizeof(r->reason) - 4, "...", 4);
}

static bool
is_2xx(const struct pa_check_answer *a)
{
	return a->status >= 200 && a->status <= 299;
}

void
pa_check_denied(const struct pa_check_answer *a, struct pa_check_result *r)
{
	if (a->status == 0)
		pa_check_set(r, PA_CHECK_FAIL, "no answer from the proxy");
	else if (a->echo || is_2xx(a))
		pa_check_set(r, PA_CHECK_FAIL, "%ld with the page: the request was let through",
			     a->status);
	else if (a->status == 401)
		pa_check_set(r, PA_CHECK_FAIL, "401 instead of 407, proxy clients answer only "
			     "407 (nginx: no error_page 401 to a 407 location?)");
	else if (a->status == 500)
		pa_check_set(r, PA_CHECK_FAIL, "500 instead of 407 (nginx auth_request turns an "
			     "auth service's 407 into 500: use /auth-request, map its 401)");
	else if (a->status != 407)
		pa_check_set(r, PA_CHECK_FAIL, "%ld instead of 407", a->status);
	else if (!a->challenge_basic)
		pa_check_set(r, PA_CHECK_FAIL, "407 without a Basic Proxy-Authenticate challenge");
	else
		pa_check_set(r, PA_CHECK_PASS, "407 with a Basic challenge, no upstream content");
}

void
pa_check_allowed(const struct pa_check_answer *a, struct pa_check_result *r)
{
	if (is_2xx(a))
		pa_check_set(r, PA_CHECK_PASS, "%ld with the page%s", a->status,
			     a->echo ? " (echo target)" : "");
	else if (a->status == 0)
		pa_check_set(r, PA_CHECK_FAIL, "no answer from the proxy");
	else if (a->status == 407 && !a->challenge_basic)
		pa_check_set(r, PA_CHECK_FAIL, "407 without a challenge: the credentials did not "
			     "reach the auth service (Caddy: header_up X-Proxy-Authorization?)");
	else
		pa_check_set(r, PA_CHECK_FAIL, "%ld instead of the page", a->status);
}

void
pa_check_refused(const struct pa_check_answer *a, const char *what, struct pa_check_result *r)
{
	if (a->echo || is_2xx(a))
		pa_check_set(r, PA_CHECK_FAIL, "%s: %ld with the page", what, a->status);
	else if (a->status == 0)
		pa_check_set(r, PA_CHECK_PASS, "%s: connection refused or closed", what);
	else
		pa_check_set(r, PA_CHECK_PASS, "%s: %ld", what, a->status);
}

bool
pa_check_second_user_usable(const struct pa_check_answer *a, struct pa_check_result *r)
{
	if (is_2xx(a))
		return true;
	if (a->status == 0)
		pa_check_set(r, PA_CHECK_FAIL, "the second user got no answer at the target, "
			     "so its refusals prove nothing");
	else
		pa_check_set(r, PA_CHECK_FAIL, "the second user gets %ld at the target, not the "
			     "page (wrong password? the target must be a page it may see), so its "
			     "refusals prove nothing", a->status);
	return false;
}

void
pa_check_outage(const struct pa_check_answer *a, struct pa_check_result *r)
{
	if (a->echo || is_2xx(a))
		pa_check_set(r, PA_CHECK_FAIL, "auth service down: %ld with the page", a->status);
	else if (a->status >= 500 && a->status <= 599)
		pa_check_set(r, PA_CHECK_PASS, "auth service down: %ld", a->status);
	else if (a->status == 0)
		pa_check_set(r, PA_CHECK_FAIL, "auth service down: no answer from the proxy");
	else
		pa_check_set(r, PA_CHECK_FAIL, "auth service down: %ld instead of a 5xx",
			     a->status);
}

void
pa_check_no_store(const struct pa_check_answer *a, size_t n, struct pa_check_result *r)
{
	size_t i, seen = 0;

	for (i = 0; i < n; i++) {
		if (a[i].status == 0)
			continue;
		seen++;
		if (!a[i].no_store) {
			pa_check_set(r, PA_CHECK_FAIL, "a %ld answer without Cache-Control: no-store",
				     a[i].status);
			return;
		}
	}
	if (seen == 0)
		pa_check_set(r, PA_CHECK_SKIP, "no answer to look at");
	else
		pa_check_set(r, PA_CHECK_PASS, "the refusals carry Cache-Control: no-store");
}

static void
skip_ws(const char *s, size_t len, size_t *p)
{
	while (*p < len && (s[*p] == ' ' || s[*p] == '\t' || s[*p] == '\n' || s[*p] == '\r'))
		(*p)++;
}

/* Appends one byte to out[size] unless full (the value is then cut). */
static void
put(char *out, size_t size, size_t *o, unsigned c)
{
	if (*o + 1 < size)
		out[(*o)++] = (char)c;
}

/* Reads a JSON string at s[*p] into out[size] (UTF-8, cut to fit, NUL).
 * Returns 0, or -1 when it is not a well-formed string. */
static int
read_string(const char *s, size_t len, size_t *p, char *out, size_t size)
{
	size_t o = 0;
	unsigned cp;
	int i, h;

	if (*p >= len || s[*p] != '"')
		return -1;
	for ((*p)++; *p < len && s[*p] != '"'; (*p)++) {
		if (s[*p] != '\\') {
			put(out, size, &o, (unsigned char)s[*p]);
			continue;
		}
		if (++(*p) >= len)
			return -1;
		switch (s[*p]) {
		case 'n': put(out, size, &o, '\n'); break;
		case 't': put(out, size, &o, '\t'); break;
		case 'r': put(out, size, &o, '\r'); break;
		case 'b': put(out, size, &o, '\b'); break;
		case 'f': put(out, size, &o, '\f'); break;
		case '"': case '\\': case '/': put(out, size, &o, (unsigned char)s[*p]); break;
		case 'u':
			for (cp = 0, i = 0; i < 4; i++) {
				if (++(*p) >= len || (h = pa_hex_value((unsigned char)s[*p])) < 0)
					return -1;
				cp = cp * 16 + (unsigned)h;
			}
			/* Surrogates are kept as '?': the checks look for ASCII. */
			if (cp < 0x80) {
				put(out, size, &o, cp);
			} else if (cp < 0x800) {
				put(out, size, &o, 0xC0 | (cp >> 6));
				put(out, size, &o, 0x80 | (cp & 0x3F));
			} else if (cp >= 0xD800 && cp <= 0xDFFF) {
				put(out, size, &o, '?');
			} else {
				put(out, size, &o, 0xE0 | (cp >> 12));
				put(out, size, &o, 0x80 | ((cp >> 6) & 0x3F));
				put(out, size, &o, 0x80 | (cp & 0x3F));
			}
			break;
		default:
			return -1;
		}
	}
	if (*p >= len)
		return -1;
	(*p)++;
	if (size > 0)
		out[o] = '\0';
	return 0;
}

int
pa_echo_next_header(const char *body, size_t len, size_t *pos, char *name, size_t namesz,
		    char *value, size_t valuesz)
{
	static const char key[] = "\"headers\"";
	size_t p = *pos;
	const char *k;

	if (body == NULL)
		return -1;
	if (p == 0) {
		k = memmem(body, len, key, sizeof(key) - 1);
		if (k == NULL)
			return -1;
		p = (size_t)(k - body) + sizeof(key) - 1;
		skip_ws(body, len, &p);
		if (p >= len || body[p++] != ':')
			return -1;
		skip_ws(body, len, &p);
		if (p >= len || body[p++] != '[')
			return -1;
	} else {
		skip_ws(body, len, &p);
		if (p < len && body[p] == ',')
			p++;
	}
	skip_ws(body, len, &p);
	if (p < len && body[p] == ']') {
		*pos = p;
		return 0;
	}
	if (p >= len || body[p++] != '[')
		return -1;
	skip_ws(body, len, &p);
	if (read_string(body, len, &p, name, namesz) < 0)
		return -1;
	skip_ws(body, len, &p);
	if (p >= len || body[p++] != ',')
		return -1;
	skip_ws(body, len, &p);
	if (read_string(body, len, &p, value, valuesz) < 0)
		return -1;
	skip_ws(body, len, &p);
	if (p >= len || body[p++] != ']')
		return -1;
	*pos = p;
	return 1;
}

/* Reads `"key"` and a ':' at s[*p] (with whitespace around). */
static bool
read_key(const char *s, size_t len, size_t *p, const char *key)
{
	char k[16];

	skip_ws(s, len, p);
	if (read_string(s, len, p, k, sizeof(k)) < 0 || strcmp(k, key) != 0)
		return false;
	skip_ws(s, len, p);
	return *p < len && s[(*p)++] == ':';
}

bool
pa_echo_is_echo(const char *body, size_t len)
{
	static const char *const strings[] = { "method", "path" };
	char name[256], value[1024], sep = '{';
	size_t pos = 0, p = 0, i;
	int rc;

	/* The whole document is {"method": S, "path": S, "headers": [...]}:
	 * a page that merely holds a "headers" list somewhere is not taken
	 * for the echo target (its upstream checks would pass on nothing). */
	if (body == NULL)
		return false;
	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++, sep = ',') {
		skip_ws(body, len, &p);
		if (p >= len || body[p++] != sep || !read_key(body, len, &p, strings[i]))
			return false;
		skip_ws(body, len, &p);
		if (read_string(body, len, &p, value, sizeof(value)) < 0)
			return false;
	}
	skip_ws(body, len, &p);
	if (p >= len || body[p++] != ',' || !read_key(body, len, &p, "headers"))
		return false;
	while ((rc = pa_echo_next_header(body, len, &pos, name, sizeof(name), value,
					 sizeof(value))) == 1)
		;
	if (rc != 0)
		return false;
	p = pos + 1;	/* past the list's ']' */
	skip_ws(body, len, &p);
	if (p >= len || body[p++] != '}')
		return false;
	skip_ws(body, len, &p);
	return p == len;
}

/* The right-most comma-separated entry of an X-Forwarded-For value, trimmed. */
static void
last_entry(const char *v, char *out, size_t size)
{
	const char *c = strrchr(v, ',');
	size_t n;

	v = c ? c + 1 : v;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strlen(v);
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (pa_strlcpy_n(out, size, v, n) < 0)
		out[0] = '\0';
}

/* Adds name to the comma list of offending headers; a list too long for
 * the buffer ends in "...". */
static void
note(char *list, size_t size, const char *name, const char *secret)
{
	size_t pos = strlen(list);

	/* A header named with the credentials is not printed either. */
	if (secret != NULL && secret[0] != '\0' && strstr(name, secret) != NULL)
		name = "(a header named with the credentials)";

	if ((pos > 0 && pa_buf_append(list, size, &pos, ", ", 2) < 0) ||
	    pa_escape_append(list, size, &pos, name, strlen(name), false) < 0)
		memcpy(list + size - 4, "...", 4);
}

void
pa_check_upstream_clean(const struct pa_check_answer *a, const char *const *markers,
			size_t n, const char *secret, const char *forged_xff,
			const char *what, struct pa_check_result *r)
{
	char name[256], value[8192], last[256], bad[160] = "";
	bool pa = false, cred = false;
	size_t pos = 0, i;
	int rc;

	if (!a->echo) {
		pa_check_set(r, PA_CHECK_SKIP, "%s: the target does not echo request headers "
			     "(use proxyauth-check --echo-server)", what);
		return;
	}
	while ((rc = pa_echo_next_header(a->body, a->body_len, &pos, name, sizeof(name),
					 value, sizeof(value))) == 1) {
		if (strcasecmp(name, "Proxy-Authorization") == 0) {
			pa = true;
			continue;
		}
		if (secret != NULL && secret[0] != '\0' && strstr(value, secret) != NULL) {
			cred = true;
			note(bad, sizeof(bad), name, secret);
			continue;
		}
		if (forged_xff != NULL && strcasecmp(name, "X-Forwarded-For") == 0) {
			last_entry(value, last, sizeof(last));
			if (strcmp(last, forged_xff) == 0)
				note(bad, sizeof(bad), "X-Forwarded-For (right-most entry)", NULL);
			continue;
		}
		for (i = 0; i < n; i++)
			if (strstr(value, markers[i]) != NULL)
				note(bad, sizeof(bad), name, secret);
	}
	if (pa)
		pa_check_set(r, PA_CHECK_FAIL, "%s: Proxy-Authorization reached the upstream", what);
	else if (cred)
		pa_check_set(r, PA_CHECK_FAIL, "%s: the credentials reached the upstream in %s",
			     what, bad);
	else if (bad[0] != '\0')
		pa_check_set(r, PA_CHECK_FAIL, "%s: reached the upstream: %s", what, bad);
	else if (rc < 0)
		pa_check_set(r, PA_CHECK_FAIL, "%s: the echo target's answer does not read", what);
	else
		pa_check_set(r, PA_CHECK_PASS, "%s: nothing of it reached the upstream", what);
	explicit_bzero(value, sizeof(value));
}

void
pa_check_tunnels(long connect_status, bool forward, const char *authority,
		 const struct pa_check_answer *h2c, struct pa_check_result *r)
{
	char name[256], value[256], seen[160] = "";
	const char *h2c_note = ", no 101";
	bool upgrade = false, settings = false;
	size_t pos = 0;
	int rc = 0;

	/* What of the upgrade reached the echo target (it never answers 101).
	 * HTTP2-Settings without Upgrade cannot make an app switch (RFC 9113
	 * 3.2 needs both), so alone it is only named. */
	if (h2c->echo) {
		while ((rc = pa_echo_next_header(h2c->body, h2c->body_len, &pos, name,
						 sizeof(name), value, sizeof(value))) == 1) {
			if (strcasecmp(name, "Upgrade") == 0)
				upgrade = true;
			else if (strcasecmp(name, "HTTP2-Settings") == 0)
				settings = true;
			else
				continue;
			note(seen, sizeof(seen), name, NULL);
		}
		h2c_note = settings ? ", Upgrade not forwarded (HTTP2-Settings was, which alone "
			   "cannot switch)" : ", Upgrade not forwarded";
	}

	if (connect_status >= 200 && connect_status <= 299 && forward)
		pa_check_set(r, PA_CHECK_FAIL, "CONNECT %s (the app's plain-HTTP port): %ld, a "
			     "tunnel to the app that later requests pass unjudged (refuse CONNECT, "
			     "or allow it to 443 only, as Squid's deny CONNECT !SSL_ports)",
			     authority, connect_status);
	else if (connect_status >= 200 && connect_status <= 299)
		pa_check_set(r, PA_CHECK_FAIL, "CONNECT %s: %ld, a tunnel to the app that later "
			     "requests pass unjudged (answer CONNECT with 405)", authority,
			     connect_status);
	else if (h2c->status == 101)
		pa_check_set(r, PA_CHECK_FAIL, "h2c upgrade: 101, the connection became a tunnel "
			     "to the app that later requests pass unjudged (remove Upgrade and "
			     "HTTP2-Settings)");
	else if (h2c->status == 0)
		pa_check_set(r, PA_CHECK_FAIL, "h2c upgrade: no answer from the proxy");
	else if (upgrade)
		pa_check_set(r, PA_CHECK_FAIL, "h2c upgrade: %s reached the upstream, so an "
			     "h2c-capable app would answer 101 and open a tunnel (remove Upgrade "
			     "and HTTP2-Settings)", seen);
	else if (rc < 0)
		pa_check_set(r, PA_CHECK_FAIL, "h2c upgrade: the echo target's answer does not "
			     "read");
	else if (connect_status == 0)
		pa_check_set(r, PA_CHECK_PASS, "CONNECT %s: refused or closed; h2c upgrade: "
			     "%ld%s", authority, h2c->status, h2c_note);
	else
		pa_check_set(r, PA_CHECK_PASS, "CONNECT %s: %ld; h2c upgrade: %ld%s", authority,
			     connect_status, h2c->status, h2c_note);
}

static const char *
verdict_word(enum pa_check_verdict v)
{
	return v == PA_CHECK_PASS ? "PASS" : v == PA_CHECK_FAIL ? "FAIL" : "SKIP";
}

int
pa_check_report(FILE *out, const struct pa_check_result *res, size_t n, bool json)
{
	size_t i, count[3] = { 0, 0, 0 };
	char buf[sizeof(res->reason) * 7];
	size_t pos;

	for (i = 0; i < n; i++)
		count[res[i].verdict]++;
	if (json)
		fputs("{\"checks\":[", out);
	for (i = 0; i < n; i++) {
		if (!json) {
			fprintf(out, "%s  %-30s %s\n", verdict_word(res[i].verdict), res[i].name,
				res[i].reason);
			continue;
		}
		pos = 0;
		buf[0] = '\0';
		pa_escape_append(buf, sizeof(buf), &pos, res[i].reason, strlen(res[i].reason),
				 true);
		fprintf(out, "%s{\"name\":\"%s\",\"result\":\"%s\",\"reason\":\"%s\"}",
			i ? "," : "", res[i].name, verdict_word(res[i].verdict), buf);
	}
	if (json)
		fprintf(out, "],\"passed\":%zu,\"failed\":%zu,\"skipped\":%zu}\n",
			count[PA_CHECK_PASS], count[PA_CHECK_FAIL], count[PA_CHECK_SKIP]);
	else
		fprintf(out, "proxyauth-check: %zu passed, %zu failed, %zu skipped\n",
			count[PA_CHECK_PASS], count[PA_CHECK_FAIL], count[PA_CHECK_SKIP]);
	fflush(out);
	return count[PA_CHECK_FAIL] ? 1 : 0;
}
