/*
 * Bounded string helpers.  Everything here works on counted buffers and
 * never writes past the size it is given; every truncation is reported.
 */
#include "text.h"
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
pa_error_set(struct pa_error *err, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		snprintf(err->msg, sizeof(err->msg), "(unformattable error)");
	else if ((size_t)n >= sizeof(err->msg))
		memcpy(err->msg + sizeof(err->msg) - 4, "...", 4);
}

/* Length of the UTF-8 sequence at s, or 0 when it is malformed. */
static size_t
utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		if (len >= 2 && (s[1] & 0xc0) == 0x80)
			return 2;
		return 0;
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (len < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;		/* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;		/* surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (len < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;		/* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;		/* above U+10FFFF */
		return 4;
	}
	return 0;
}

bool
pa_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_seq(p + i, len - i)) == 0)
			return false;
		i += n;
	}
	return true;
}

bool
pa_has_control(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f)
			return true;
		/* U+0080..U+009F are encoded as C2 80..C2 9F. */
		if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
			return true;
	}
	return false;
}

int
pa_strlcpy_n(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	if (dstlen == 0)
		return -1;
	if (srclen >= dstlen) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, srclen);
	dst[srclen] = '\0';
	return 0;
}

int
pa_strlcpy(char *dst, const char *src, size_t dstlen)
{
	return pa_strlcpy_n(dst, dstlen, src, strlen(src));
}

bool
pa_strieq_n(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

int
pa_list_normalize(char *s)
{
	char *r = s, *w = s;
	int count = 0;

	while (*r != '\0') {
		char *start, *end;

		while (*r == ' ' || *r == '\t' || *r == ',')
			r++;
		if (*r == '\0')
			break;
		start = r;
		while (*r != '\0' && *r != ',')
			r++;
		end = r;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (count > 0)
			*w++ = ',';
		memmove(w, start, (size_t)(end - start));
		w += end - start;
		count++;
	}
	*w = '\0';
	return count;
}

int
pa_list_foreach(const char *list, int (*fn)(const char *, size_t, void *), void *arg)
{
	const char *p = list, *c;
	int rc;

	while (p != NULL && *p != '\0') {
		c = strchr(p, ',');
		size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
		if (n > 0 && (rc = fn(p, n, arg)) != 0)
			return rc;
		p = c != NULL ? c + 1 : NULL;
	}
	return 0;
}

bool
pa_list_contains(const char *list, const char *name, size_t namelen)
{
	const char *p = list, *c;

	while (p != NULL && *p != '\0') {
		c = strchr(p, ',');
		size_t n = c != NULL ? (size_t)(c - p) : strlen(p);
		if (n == namelen && memcmp(p, name, n) == 0)
			return true;
		p = c != NULL ? c + 1 : NULL;
	}
	return false;
}

int
pa_buf_append(char *buf, size_t size, size_t *pos, const char *src, size_t len)
{
	if (*pos >= size || size - *pos <= len)
		return -1;	/* all or nothing: never half an escape */
	memcpy(buf + *pos, src, len);
	*pos += len;
	buf[*pos] = '\0';
	return 0;
}

/* The code point of a valid sequence of n (2 or 3) bytes. */
static unsigned
utf8_decode(const unsigned char *s, size_t n)
{
	if (n == 2)
		return (unsigned)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	return (unsigned)(s[0] & 0x0f) << 12 | (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
}

/*
 * U+2028 and U+2029 end a line for Python's str.splitlines() and for
 * JavaScript before ES2019; the bidi controls (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069) make a terminal or a web log viewer
 * show a value's text reversed, so "user=wolla=emoctuo" preceded by
 * U+202E reads as outcome=allow.  Neither is a control character to a
 * byte check, so they are named here.
 */
static bool
line_or_bidi(const unsigned char *s, size_t n)
{
	unsigned cp;

	if (n != 2 && n != 3)
		return false;
	cp = utf8_decode(s, n);
	return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

int
pa_escape_append(char *buf, size_t size, size_t *pos, const char *src, size_t len,
		 bool json)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t i = 0, n;
	char tmp[8];

	while (i < len) {
		const char *out = tmp;
		size_t outlen, run;

		/* Plain printable ASCII needs no escape: copy runs of it whole. */
		for (run = i; run < len && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '"' &&
			      p[run] != '\\'; run++)
			;
		if (run > i) {
			if (pa_buf_append(buf, size, pos, (const char *)p + i, run - i) != 0)
				return -1;
			i = run;
			continue;
		}
		n = utf8_seq(p + i, len - i);
		if (n == 0) {
			/* JSON has no byte escape: the text "\xNN" goes in with its
			 * backslash escaped; logfmt takes it as it is. */
			outlen = (size_t)snprintf(tmp, sizeof(tmp), json ? "\\\\x%02X" : "\\x%02X",
						  p[i]);
			n = 1;
		} else if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == '"' ||
				      p[i] == '\\')) {
			switch (p[i]) {
			case '"':  out = "\\\""; outlen = 2; break;
			case '\\': out = "\\\\"; outlen = 2; break;
			case '\n': out = "\\n"; outlen = 2; break;
			case '\r': out = "\\r"; outlen = 2; break;
			case '\t': out = "\\t"; outlen = 2; break;
			default:
				outlen = (size_t)snprintf(tmp, sizeof(tmp),
				    json ? "\\u%04X" : "\\x%02X", p[i]);
			}
		} else if (n == 2 && p[i] == 0xc2 && p[i + 1] <= 0x9f) {
			/* C1 controls are escaped too: some terminals act on them. */
			outlen = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04X", p[i + 1]);
		} else if (n >= 2 && line_or_bidi(p + i, n)) {
			outlen = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04X", utf8_decode(p + i, n));
		} else {
			out = (const char *)p + i;
			outlen = n;
		}
		if (pa_buf_append(buf, size, pos, out, outlen) != 0)
			return -1;
		i += n;
	}
	return 0;
}

int
pa_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
pa_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}
