/*
 * Rule matching.  Hosts and paths are put in one canonical form before
 * they are compared, and whatever the proxy and the application could
 * read differently (dot segments, encoded separators, ';' parameters,
 * double encoding, a host that is not a plain name) is refused rather
 * than resolved, since applications disagree on how to resolve it.
 */
#include "rules.h"
#include "text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unicase.h>
#include <unistr.h>

static int check_host(const char *value, struct pa_error *err);
static int check_path_prefix(const char *value, struct pa_error *err);

const struct pa_conf_key pa_rule_keys[] = {
	{ "host", PA_CONF_STRING, 0, 0, NULL, NULL, check_host },
	{ "path_prefix", PA_CONF_STRING, 0, 0, NULL, NULL, check_path_prefix },
	{ "path_case", PA_CONF_ENUM, 0, 0, "insensitive", "insensitive|sensitive", NULL },
	{ "require_groups", PA_CONF_LIST, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

#define HOST_MAX 256
#define PATH_MAX_LEN 4096

/* A rule's host: "", a canonical host, or "*." and one. */
static int
rule_host(const char *value, char *out, size_t size, const char **why)
{
	size_t len = strlen(value);

	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	if (len > 2 && value[0] == '*' && value[1] == '.') {
		if (size < 3 || pa_host_canon(value + 2, len - 2, out + 2, size - 2, why) != 0)
			return -1;
		if (out[2] == '[' || strchr(out + 2, '.') == NULL) {
			*why = "a wildcard needs a domain with a dot under it";
			return -1;
		}
		out[0] = '*';
		out[1] = '.';
		return 0;
	}
	if ((strchr(value, ':') != NULL && value[0] != '[') ||
	    (value[0] == '[' && value[len - 1] != ']')) {
		*why = "a rule's host has no port";
		return -1;
	}
	return pa_host_canon(value, len, out, size, why);
}

/* A rule's path prefix: "", or a canonical path without its trailing '/'
 * (but "/"). */
static int
rule_path(const char *value, char *out, size_t size, const char **why)
{
	size_t len = strlen(value);

	if (len == 0) {
		out[0] = '\0';
		return 0;
	}
	if (value[0] != '/' || memchr(value, '?', len) != NULL) {
		*why = "must be a path starting with '/', without a query";
		return -1;
	}
	if (pa_path_canon(value, len, out, size, why) != 0)
		return -1;
	len = strlen(out);
	if (len > 1 && out[len - 1] == '/')
		out[len - 1] = '\0';
	return 0;
}

static int
check_host(const char *value, struct pa_error *err)
{
	char buf[HOST_MAX];
	const char *why = NULL;

	if (rule_host(value, buf, sizeof(buf), &why) != 0) {
		pa_error_set(err, "host: %s (want a host name, an address or *.domain)", why);
		return -1;
	}
	return 0;
}

static int
check_path_prefix(const char *value, struct pa_error *err)
{
	char buf[PATH_MAX_LEN];
	const char *why = NULL;

	if (rule_path(value, buf, sizeof(buf), &why) != 0) {
		pa_error_set(err, "path_prefix: %s", why);
		return -1;
	}
	return 0;
}

void
pa_rules_free(struct pa_rules *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->v[i].host);
		free(r->v[i].path_prefix);
		free(r->v[i].require_groups);
	}
	free(r->v);
	free(r->server_groups);
	memset(r, 0, sizeof(*r));
}

int
pa_rules_load(const struct pa_config *cfg, struct pa_rules *out, struct pa_error *err)
{
	const struct pa_section *srv = pa_config_section(cfg, "server");
	char hbuf[HOST_MAX], *pbuf = NULL;
	const char *why = NULL;
	int i;

	memset(out, 0, sizeof(*out));
	if ((pbuf = malloc(PATH_MAX_LEN)) == NULL)
		goto oom;
	if ((out->server_groups = strdup(pa_conf_str(srv, pa_server_keys, "require_groups"))) == NULL)
		goto oom;
	for (i = 0; i < cfg->nsections; i++) {
		const struct pa_section *s = &cfg->sections[i];
		struct pa_rule *nv, *r;

		if (strncmp(s->name, "rule ", 5) != 0)
			continue;
		if ((nv = realloc(out->v, (out->n + 1) * sizeof(*nv))) == NULL)
			goto oom;
		out->v = nv;
		r = &out->v[out->n];
		memset(r, 0, sizeof(*r));
		out->n++;
		snprintf(r->name, sizeof(r->name), "%s", s->name + 5);
		/* The config checked both; an override cannot skip that. */
		if (rule_host(pa_conf_str(s, pa_rule_keys, "host"), hbuf, sizeof(hbuf), &why) != 0 ||
		    rule_path(pa_conf_str(s, pa_rule_keys, "path_prefix"), pbuf, PATH_MAX_LEN,
			      &why) != 0) {
			pa_error_set(err, "[rule %s]: %s", r->name, why);
			goto fail;
		}
		r->host = strdup(hbuf);
		r->path_prefix = strdup(pbuf);
		r->require_groups = strdup(pa_conf_str(s, pa_rule_keys, "require_groups"));
		r->path_sensitive = strcmp(pa_conf_str(s, pa_rule_keys, "path_case"),
					   "sensitive") == 0;
		if (r->host == NULL || r->path_prefix == NULL || r->require_groups == NULL)
			goto oom;
	}
	free(pbuf);
	return 0;
oom:
	pa_error_set(err, "out of memory");
fail:
	free(pbuf);
	pa_rules_free(out);
	return -1;
}

size_t
pa_url_scheme_len(const char *in, size_t len)
{
	size_t k = 1;

	if (len == 0 || !isalpha((unsigned char)in[0]))
		return 0;
	while (k < len && (isalnum((unsigned char)in[k]) || in[k] == '+' || in[k] == '-' ||
			   in[k] == '.'))
		k++;
	if (k + 2 < len && in[k] == ':' && in[k + 1] == '/' && in[k + 2] == '/')
		return k + 3;
	return 0;
}

#define REFUSE(reason)		\
	do {			\
		*why = (reason);	\
		return -1;	\
	} while (0)

int
pa_path_canon(const char *in, size_t len, char *out, size_t size, const char **why)
{
	size_t i, o = 0, seg;

	/* An absolute URL ("https://host/path", X-Original-URL): keep only
	 * its path. */
	if ((i = pa_url_scheme_len(in, len)) > 0) {
		const char *p = in + i, *stop = in + len;

		while (p < stop && *p != '/' && *p != '?' && *p != '#')
			p++;
		len = (size_t)(stop - p);
		in = p;
		if (len == 0 || in[0] == '?')	/* "http://h" and "http://h?q" are "/" */
			in = "/", len = 1;
	}
	/* Browsers never send a fragment: a '#' anywhere is a trick. */
	if (memchr(in, '#', len) != NULL)
		REFUSE("'#' in the URI");
	for (i = 0; i < len && in[i] != '?'; i++)
		;
	len = i;
	if (len == 0)
		REFUSE("empty path");
	if (in[0] != '/')
		REFUSE("path does not start with '/'");
	/* Node's new URL(req.url, base), Java's URI and others read "//h/x"
	 * as the host h and the path /x. */
	if (len > 1 && in[1] == '/')
		REFUSE("path starts with '//'");
	if (size < 2)
		REFUSE("path too long");
	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i];
		bool encoded = false;

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				REFUSE("bad percent escape");
			if ((hi = pa_hex_value((unsigned char)in[i + 1])) < 0 ||
			    (lo = pa_hex_value((unsigned char)in[i + 2])) < 0)
				REFUSE("bad percent escape");
			c = hi * 16 + lo;
			i += 2;
			encoded = true;
			if (c == '%')
				REFUSE("double encoding (%25)");
			if (c == '/')
				REFUSE("encoded '/' (%2F)");
			if (c == '\\')
				REFUSE("encoded '\\' (%5C)");
		}
		if (c == '\\')
			REFUSE("'\\' in the path");
		if (c == ';')
			REFUSE("';' parameter in the path");
		if (c == '#' || (c == '?' && encoded))
			REFUSE("encoded '#' or '?' in the path");
		if (c < 0x20 || c == 0x7f)
			REFUSE("control character or NUL in the path");
		if (c == '/' && !encoded && o > 0 && out[o - 1] == '/')
			continue;	/* "//" is "/", as nginx's merge_slashes */
		if (o + 1 >= size)
			REFUSE("path too long");
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (!pa_utf8_valid(out, o))
		REFUSE("invalid UTF-8 in the path");
	/* No encoded '/' got through, so these are the application's segments. */
	for (i = 1; i <= o; i += seg + 1) {
		seg = strcspn(out + i, "/");
		if ((seg == 1 && out[i] == '.') || (seg == 2 && out[i] == '.' && out[i + 1] == '.'))
			REFUSE("dot segment in the path");
	}
	return 0;
}

int
pa_host_canon(const char *in, size_t len, char *out, size_t size, const char **why)
{
	char tmp[64];
	size_t i, n, label, last;
	bool digits_only = true;

	if (len == 0)
		REFUSE("empty host");
	if (in[0] == '[') {	/* "[v6]" or "[v6]:port" */
		const char *e = memchr(in, ']', len);
		struct in6_addr a6;

		if (e == NULL || (size_t)(e - in) - 1 >= sizeof(tmp))
			REFUSE("not a plain IPv6 address");
		n = (size_t)(e - in) - 1;
		memcpy(tmp, in + 1, n);
		tmp[n] = '\0';
		if (strspn(tmp, "0123456789abcdefABCDEF:.") != n || inet_pton(AF_INET6, tmp, &a6) != 1)
			REFUSE("not a plain IPv6 address");
		i = (size_t)(e - in) + 1;
		if (i < len && (in[i] != ':' || len - i - 1 == 0 || len - i - 1 > 5))
			REFUSE("bad port");
		for (i++; i < len; i++)
			if (!isdigit((unsigned char)in[i]))
				REFUSE("bad port");
		/* One spelling per address, as inet_ntop() writes it ("[0::1]"
		 * is "[::1]"); an IPv4-mapped address is its IPv4 host. */
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			if (inet_ntop(AF_INET, &a6.s6_addr[12], tmp, sizeof(tmp)) == NULL ||
			    strlen(tmp) >= size)
				REFUSE("host too long");
			memcpy(out, tmp, strlen(tmp) + 1);
			return 0;
		}
		if (inet_ntop(AF_INET6, &a6, tmp, sizeof(tmp)) == NULL ||
		    (n = strlen(tmp)) + 3 > size)
			REFUSE("host too long");
		out[0] = '[';
		memcpy(out + 1, tmp, n);
		out[n + 1] = ']';
		out[n + 2] = '\0';
		return 0;
	}
	for (i = 0; i < len && in[i] != ':'; i++)
		;
	if (i < len) {	/* a port: 1 to 5 digits, nothing after */
		size_t p = len - i - 1, k;

		if (p == 0 || p > 5)
			REFUSE("bad port");
		for (k = i + 1; k < len; k++)
			if (!isdigit((unsigned char)in[k]))
				REFUSE("bad port");
		len = i;
	}
	if (len > 0 && in[len - 1] == '.')
		len--;	/* "app.example.org." is "app.example.org" */
	if (len == 0)
		REFUSE("empty host");
	if (in[len - 1] == '.')
		REFUSE("two trailing dots");
	if (len > 253 || len >= size)
		REFUSE("host too long");
	label = 0;
	last = 0;
	for (i = 0; i < len; i++) {
		int c = tolower((unsigned char)in[i]);

		if (c == '.') {
			if (label == 0)
				REFUSE("empty label in the host");
			label = 0;
			last = i + 1;
			digits_only = true;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
			if (++label > 63)
				REFUSE("host label too long");
			if (!isdigit(c))
				digits_only = false;
		} else {
			REFUSE("not a plain host name or address");
		}
		out[i] = (char)c;
	}
	if (label == 0)
		REFUSE("empty label in the host");
	out[len] = '\0';
	/* A numeric last label is an IPv4 address, and only the dotted quad
	 * of four decimal bytes is taken: "127.1", "0177.0.0.1" and
	 * "0x7f.0.0.1" name the same machine to some clients. */
	if (digits_only || (len - last > 1 && out[last] == '0' && out[last + 1] == 'x')) {
		struct in_addr a4;

		if (inet_pton(AF_INET, out, &a4) != 1)
			REFUSE("not a plain IPv4 address");
	}
	return 0;
}

/* The next code point of s (advanced past it), folded for comparing
 * without case: every letter to the lower case of its upper case, as
 * .NET's OrdinalIgnoreCase, Java's equalsIgnoreCase and JavaScript's /i
 * compare ("\u00c9" is "\u00e9"; U+0130 and U+0131 are 'i', U+017F 's',
 * U+212A KELVIN SIGN 'k').  The simple case mappings are libunistring's,
 * the same on every system and in every locale.  s is valid UTF-8
 * (pa_path_canon refused anything else). */
static ucs4_t
next_folded(const unsigned char **s, bool sensitive)
{
	ucs4_t c;
	int n = u8_strmbtouc(&c, *s);

	*s += n > 0 ? n : 1;
	return sensitive ? c : uc_tolower(uc_toupper(c));
}

/* At the end of a segment that matched the prefix's: a suffix that starts
 * with '.', ' ' or ':' leaves it the same segment to some applications
 * (Rails formats and Spring suffix patterns: "/admin.json" is "/admin";
 * Windows paths drop trailing dots and spaces: "/admin./x" is "/admin/x";
 * NTFS names a stream after ':': "/admin::$DATA" is "/admin" on IIS). */
static const unsigned char *
skip_suffix(const unsigned char *p)
{
	if (*p == '.' || *p == ' ' || *p == ':')
		while (*p != '\0' && *p != '/')
			p++;
	return p;
}

bool
pa_path_under(const char *path, const char *prefix, bool sensitive)
{
	const unsigned char *p = (const unsigned char *)path, *q = (const unsigned char *)prefix;

	if (strcmp(prefix, "/") == 0 || prefix[0] == '\0')
		return true;
	while (*q != '\0') {
		if (*q == '/' && q != (const unsigned char *)prefix)
			p = skip_suffix(p);
		if (*p == '\0' || next_folded(&p, sensitive) != next_folded(&q, sensitive))
			return false;
	}
	p = skip_suffix(p);
	return *p == '\0' || *p == '/';
}

static bool
host_matches(const char *pattern, const char *host)
{
	size_t pl, hl;

	if (pattern[0] == '\0')
		return true;
	if (host == NULL)
		return false;
	if (strncmp(pattern, "*.", 2) == 0) {
		pl = strlen(pattern + 1);	/* ".example.org" */
		hl = strlen(host);
		return hl > pl && strcmp(host + hl - pl, pattern + 1) == 0;
	}
	return strcmp(pattern, host) == 0;
}

const char *
pa_rules_required(const struct pa_rules *r, const char *host, size_t host_len,
		  const char *path, size_t path_len, const char **rule, const char **why)
{
	char hbuf[HOST_MAX], pbuf[PATH_MAX_LEN];
	const char *h = NULL, *p = NULL, *reason = NULL;
	size_t i;

	if (rule != NULL)
		*rule = NULL;
	if (why == NULL)
		why = &reason;
	*why = NULL;
	if (r->n == 0)
		return r->server_groups;
	if (host != NULL) {
		if (pa_host_canon(host, host_len, hbuf, sizeof(hbuf), why) != 0)
			return NULL;
		h = hbuf;
	}
	if (path != NULL) {
		if (pa_path_canon(path, path_len, pbuf, sizeof(pbuf), why) != 0)
			return NULL;
		p = pbuf;
	}
	for (i = 0; i < r->n; i++) {
		const struct pa_rule *ru = &r->v[i];

		if (!host_matches(ru->host, h))
			continue;
		if (ru->path_prefix[0] != '\0' &&
		    (p == NULL || !pa_path_under(p, ru->path_prefix, ru->path_sensitive)))
			continue;
		if (rule != NULL)
			*rule = ru->name;
		return ru->require_groups;
	}
	return r->server_groups;
}

static int
group_member(const char *name, size_t len, void *arg)
{
	return pa_list_contains(arg, name, len) ? 1 : 0;
}

bool
pa_paths_agree(const char *a, size_t alen, const char *b, size_t blen)
{
	char *pa = malloc(PATH_MAX_LEN), *pb = malloc(PATH_MAX_LEN);
	const char *why;
	bool same = false;

	if (pa != NULL && pb != NULL && pa_path_canon(a, alen, pa, PATH_MAX_LEN, &why) == 0 &&
	    pa_path_canon(b, blen, pb, PATH_MAX_LEN, &why) == 0)
		same = strcmp(pa, pb) == 0;
	free(pa);
	free(pb);
	return same;
}

bool
pa_hosts_agree(const char *a, size_t alen, const char *b, size_t blen)
{
	char ha[HOST_MAX], hb[HOST_MAX];
	const char *why;

	return pa_host_canon(a, alen, ha, sizeof(ha), &why) == 0 &&
	       pa_host_canon(b, blen, hb, sizeof(hb), &why) == 0 && strcmp(ha, hb) == 0;
}

bool
pa_groups_satisfy(const char *required, const char *groups)
{
	if (required[0] == '\0')
		return true;
	return pa_list_foreach(required, group_member, (void *)groups) != 0;
}
