/*
 * Address parsing and matching.  Everything is numeric: no name lookups
 * happen on the request path.  IPv4-mapped IPv6 addresses are treated as
 * the IPv4 address they carry, so one rule covers both forms.
 */
#include "netaddr.h"
#include "text.h"

#include <arpa/inet.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
pa_sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		  struct pa_error *err)
{
	char host[PA_ADDR_MAX + 2];
	const char *colon, *hs, *he;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		hs = s + 1;
		if ((he = strchr(hs, ']')) == NULL || he[1] != ':')
			goto bad;
		colon = he + 1;
	} else {
		hs = s;
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		he = colon;
	}
	if (pa_strlcpy_n(host, sizeof(host), hs, (size_t)(he - hs)) != 0 ||
	    pa_parse_long(colon + 1, 0, 65535, &port) != 0)
		goto bad;
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1 && s[0] != '[') {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return 0;
	}
bad:
	pa_error_set(err, "listen must be ADDRESS:PORT with a numeric address "
		     "(127.0.0.1:9180, [::1]:9180)");
	return -1;
}

/* Parses a numeric address into a 16-byte buffer; returns its family or 0. */
static int
addr_parse(const char *s, size_t len, unsigned char *out)
{
	char buf[PA_ADDR_MAX];

	if (pa_strlcpy_n(buf, sizeof(buf), s, len) != 0)
		return 0;
	if (inet_pton(AF_INET, buf, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, buf, out) == 1) {
		static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(out, mapped, 12) == 0) {
			memmove(out, out + 12, 4);
			return AF_INET;
		}
		return AF_INET6;
	}
	return 0;
}

struct cidr_parse {
	struct pa_cidr_list *l;
	struct pa_error *err;
	size_t cap;
};

static int
cidr_one(const char *s, size_t len, void *arg)
{
	struct cidr_parse *cp = arg;
	const char *slash = memchr(s, '/', len);
	struct pa_cidr c = { 0 };
	long prefix;
	char pbuf[8];

	c.family = addr_parse(s, slash != NULL ? (size_t)(slash - s) : len, c.addr);
	if (c.family == 0)
		goto bad;
	c.prefix = c.family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (pa_strlcpy_n(pbuf, sizeof(pbuf), slash + 1, len - (size_t)(slash - s) - 1) != 0 ||
		    pa_parse_long(pbuf, 0, c.prefix, &prefix) != 0)
			goto bad;
		c.prefix = (int)prefix;
	}
	if (cp->l->n == cp->cap) {
		size_t ncap = cp->cap ? cp->cap * 2 : 4;
		struct pa_cidr *nv = realloc(cp->l->v, ncap * sizeof(*nv));
		if (nv == NULL) {
			pa_error_set(cp->err, "out of memory");
			return -1;
		}
		cp->l->v = nv;
		cp->cap = ncap;
	}
	cp->l->v[cp->l->n++] = c;
	return 0;
bad:
	pa_error_set(cp->err, "'%.*s' is not an address or CIDR range", (int)(len > 64 ? 64 : len), s);
	return -1;
}

int
pa_cidr_list_parse(const char *list, struct pa_cidr_list *out, struct pa_error *err)
{
	struct cidr_parse cp = { .l = out, .err = err };
	char *copy;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((copy = strdup(list)) == NULL) {
		pa_error_set(err, "out of memory");
		return -1;
	}
	pa_list_normalize(copy);
	rc = pa_list_foreach(copy, cidr_one, &cp);
	free(copy);
	if (rc != 0) {
		pa_cidr_list_free(out);
		return -1;
	}
	return 0;
}

void
pa_cidr_list_free(struct pa_cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool
cidr_match(const struct pa_cidr *c, int family, const unsigned char *a)
{
	int full = c->prefix / 8, rest = c->prefix % 8;

	if (c->family != family)
		return false;
	if (memcmp(c->addr, a, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (a[full] & mask);
}

bool
pa_cidr_list_match_text(const struct pa_cidr_list *l, const char *addr, size_t len)
{
	unsigned char a[16];
	int family = addr_parse(addr, len, a);
	size_t i;

	if (family == 0 || l == NULL)
		return false;
	for (i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], family, a))
			return true;
	return false;
}

/* Copies a trimmed entry's address in canonical text form: a bare IPv4
 * or IPv6 address, "IPv4:port" or "[IPv6]:port" (the forms proxies write,
 * RFC 7239 section 6).  False if it is not one of them. */
static bool
addr_canonical(const char *s, size_t len, char *out)
{
	unsigned char a[16];
	const char *colon, *close;
	size_t i, alen;
	int family;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	alen = len;
	if (len > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', len)) == NULL)
			return false;
		colon = close + 1;
		s++;
		alen = (size_t)(close - s);
		len -= alen + 2;	/* what follows ']' */
	} else if ((colon = memchr(s, ':', len)) != NULL &&
		   memchr(colon + 1, ':', len - (size_t)(colon - s) - 1) == NULL) {
		alen = (size_t)(colon - s);	/* one colon: IPv4:port */
		len -= alen;
	} else {
		colon = NULL;
		len = 0;
	}
	if (colon != NULL && len > 0) {		/* ":port", 1 to 5 digits */
		if (*colon != ':' || len < 2 || len > 6)
			return false;
		for (i = 1; i < len; i++)
			if (colon[i] < '0' || colon[i] > '9')
				return false;
	}
	if ((family = addr_parse(s, alen, a)) == 0)
		return false;
	return inet_ntop(family, a, out, PA_ADDR_MAX) != NULL;
}

/* The client label of an entry that is not an address ("unknown", an
 * RFC 7239 obfuscated "_hidden", garbage): "xff:" and the entry when it is
 * a short token ("xff:-" when empty), else "xff:#" and 16 hex digits of
 * its SHA-256.  It never
 * parses as an address, so it never matches trusted_proxies, and each
 * such entry is a client of its own for the lockout. */
static void
addr_label(const char *s, size_t len, char *out)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t i;
	bool token = len <= 24;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	for (i = 0; i < len && token; i++)
		token = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.';
	if (token) {
		if (len == 0)
			snprintf(out, PA_ADDR_MAX, "xff:-");
		else
			snprintf(out, PA_ADDR_MAX, "xff:%.*s", (int)len, s);
		return;
	}
	if (EVP_Digest(s, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 8) {
		snprintf(out, PA_ADDR_MAX, "xff:#");
		return;
	}
	snprintf(out, PA_ADDR_MAX, "xff:#%02x%02x%02x%02x%02x%02x%02x%02x", md[0], md[1], md[2],
		 md[3], md[4], md[5], md[6], md[7]);
}

void
pa_client_address(const struct pa_cidr_list *trusted, const char *peer, const char *xff,
		  size_t xff_len, const char *x_real_ip, size_t x_real_ip_len, char *out)
{
	char cand[PA_ADDR_MAX];
	size_t end;

	snprintf(out, PA_ADDR_MAX, "%s", peer);
	if (trusted == NULL || trusted->n == 0 ||
	    !pa_cidr_list_match_text(trusted, peer, strlen(peer)))
		return;
	if (xff != NULL && xff_len > 0) {
		end = xff_len;
		while (end > 0) {
			size_t start = end;
			while (start > 0 && xff[start - 1] != ',')
				start--;
			if (!addr_canonical(xff + start, end - start, cand)) {
				/* Not an address: a client of its own, and what
				 * stands left of it was chosen by that client. */
				addr_label(xff + start, end - start, out);
				return;
			}
			snprintf(out, PA_ADDR_MAX, "%s", cand);
			if (!pa_cidr_list_match_text(trusted, cand, strlen(cand)))
				return;
			end = start > 0 ? start - 1 : 0;
		}
		return;
	}
	if (x_real_ip != NULL && x_real_ip_len > 0) {
		if (addr_canonical(x_real_ip, x_real_ip_len, cand))
			snprintf(out, PA_ADDR_MAX, "%s", cand);
		else
			addr_label(x_real_ip, x_real_ip_len, out);
	}
}

void
pa_sockaddr_text(const struct sockaddr *sa, char *out)
{
	unsigned char a[16];

	out[0] = '\0';
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, PA_ADDR_MAX);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
			memcpy(a, v6->sin6_addr.s6_addr + 12, 4);
			inet_ntop(AF_INET, a, out, PA_ADDR_MAX);
		} else {
			inet_ntop(AF_INET6, &v6->sin6_addr, out, PA_ADDR_MAX);
		}
	}
}
