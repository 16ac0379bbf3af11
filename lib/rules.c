/*
 * Rule matching.  The path is normalised the way the proxy will resolve
 * it before it is compared, so "/public/../admin" or "/%61dmin" cannot
 * slip past a rule written for "/admin".
 */
#include "rules.h"
#include "text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const struct pa_conf_key pa_rule_keys[] = {
	{ "host", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "path_prefix", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "require_groups", PA_CONF_LIST, 0, 0, NULL, NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

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
	int i;

	memset(out, 0, sizeof(*out));
	if ((out->server_groups = strdup(pa_conf_str(srv, pa_server_keys, "require_groups"))) == NULL)
		goto oom;
	for (i = 0; i < cfg->nsections; i++) {
		const struct pa_section *s = &cfg->sections[i];
		struct pa_rule *nv, *r;
		size_t k;

		if (strncmp(s->name, "rule ", 5) != 0)
			continue;
		if ((nv = realloc(out->v, (out->n + 1) * sizeof(*nv))) == NULL)
			goto oom;
		out->v = nv;
		r = &out->v[out->n];
		memset(r, 0, sizeof(*r));
		out->n++;
		snprintf(r->name, sizeof(r->name), "%s", s->name + 5);
		r->host = strdup(pa_conf_str(s, pa_rule_keys, "host"));
		r->path_prefix = strdup(pa_conf_str(s, pa_rule_keys, "path_prefix"));
		r->require_groups = strdup(pa_conf_str(s, pa_rule_keys, "require_groups"));
		if (r->host == NULL || r->path_prefix == NULL || r->require_groups == NULL)
			goto oom;
		for (k = 0; r->host[k] != '\0'; k++)
			r->host[k] = (char)tolower((unsigned char)r->host[k]);
	}
	return 0;
oom:
	pa_error_set(err, "out of memory");
	pa_rules_free(out);
	return -1;
}

int
pa_path_normalize(const char *in, size_t len, char *out, size_t size)
{
	size_t i, o = 0;

	if (size < 2)
		return -1;
	/* An absolute URL ("https://host/path", X-Original-URL): keep only
	 * its path.  Only when the value does not start with '/' and begins
	 * with a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )),
	 * so a "://" later in a path or query never cuts the path short. */
	if (len > 0 && in[0] != '/' && isalpha((unsigned char)in[0])) {
		size_t k = 1;

		while (k < len && (isalnum((unsigned char)in[k]) || in[k] == '+' || in[k] == '-' ||
				   in[k] == '.'))
			k++;
		if (k + 2 < len && in[k] == ':' && in[k + 1] == '/' && in[k + 2] == '/') {
			const char *p = in + k + 3, *stop = in + len;

			while (p < stop && *p != '/' && *p != '?' && *p != '#')
				p++;
			len = (size_t)(stop - p);
			in = p;
		}
	}
	out[o++] = '/';
	for (i = 0; i < len && in[i] != '?' && in[i] != '#'; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len || (hi = pa_hex_value((unsigned char)in[i + 1])) < 0 ||
			    (lo = pa_hex_value((unsigned char)in[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (c == '/') {
			if (out[o - 1] == '/')
				continue;	/* "//" is "/" */
		}
		if (o + 1 >= size)
			return -1;
		out[o++] = (char)c;
		/* Resolve "/./" and "/../" as soon as a segment ends. */
		if (c == '/' || i + 1 == len || in[i + 1] == '?' || in[i + 1] == '#') {
			size_t end = c == '/' ? o - 1 : o;	/* end of the segment */
			size_t start = end;
			while (start > 0 && out[start - 1] != '/')
				start--;
			size_t seg = end - start;
			if (seg == 1 && out[start] == '.') {
				o = start;
			} else if (seg == 2 && out[start] == '.' && out[start + 1] == '.') {
				o = start > 1 ? start - 1 : 1;
				while (o > 1 && out[o - 1] != '/')
					o--;
				if (o == 0)
					o = 1;
			}
		}
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	if (!pa_utf8_valid(out, o))
		return -1;
	return 0;
}

/* Host without port, lowercased, into out; false if empty or too long. */
static bool
host_clean(const char *host, size_t len, char *out, size_t size)
{
	size_t i, n = 0;

	/* The first of a "a, b" list is the original host. */
	for (i = 0; i < len && host[i] != ','; i++)
		;
	len = i;
	while (len > 0 && host[0] == ' ') {
		host++;
		len--;
	}
	while (len > 0 && host[len - 1] == ' ')
		len--;
	if (len > 0 && host[0] == '[') {	/* [v6]:port */
		const char *e = memchr(host, ']', len);
		len = e != NULL ? (size_t)(e - host + 1) : len;
	} else {
		const char *c = memchr(host, ':', len);
		if (c != NULL)
			len = (size_t)(c - host);
	}
	if (len == 0 || len >= size)
		return false;
	for (n = 0; n < len; n++)
		out[n] = (char)tolower((unsigned char)host[n]);
	out[n] = '\0';
	return true;
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
		  const char *path, size_t path_len, const char **rule)
{
	char hbuf[256], pbuf[4096];
	const char *h = NULL, *p = NULL;
	size_t i;

	if (rule != NULL)
		*rule = NULL;
	if (r->n == 0)
		return r->server_groups;
	if (host != NULL && host_clean(host, host_len, hbuf, sizeof(hbuf)))
		h = hbuf;
	if (path != NULL) {
		if (pa_path_normalize(path, path_len, pbuf, sizeof(pbuf)) != 0)
			return NULL;
		p = pbuf;
	}
	for (i = 0; i < r->n; i++) {
		const struct pa_rule *ru = &r->v[i];
		if (!host_matches(ru->host, h))
			continue;
		if (ru->path_prefix[0] != '\0' &&
		    (p == NULL || strncmp(p, ru->path_prefix, strlen(ru->path_prefix)) != 0))
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
pa_groups_satisfy(const char *required, const char *groups)
{
	if (required[0] == '\0')
		return true;
	return pa_list_foreach(required, group_member, (void *)groups) != 0;
}
