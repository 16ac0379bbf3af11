/*
 * Structural checks of one log line for the unit tests, strict enough to
 * catch a forged field: a logfmt line is parsed into key=value pairs
 * (bare values end at a space; quoted ones at an unescaped '"'), a JSON
 * line as one flat object of string keys and string / number / boolean
 * values.  A value that smuggles in " outcome=allow" or "\",\"outcome\":"
 * then shows up as an extra key, which the tests look for.
 */
#ifndef PA_TEST_LOGCHECK_H
#define PA_TEST_LOGCHECK_H

#include <ctype.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define LOGCHECK_MAX_FIELDS 32

struct logcheck {
	int n;
	char key[LOGCHECK_MAX_FIELDS][32];
	char value[LOGCHECK_MAX_FIELDS][1024];	/* raw, still escaped */
};

/* Copies s[0..len) into dst[size] (cut short if needed). */
static inline void
logcheck_copy(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* A quoted string at p (JSON rules when json, else logfmt's backslash
 * escapes).  Returns the character after the closing quote, or NULL. */
static inline const char *
logcheck_string(const char *p, bool json)
{
	if (*p++ != '"')
		return NULL;
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c == '\0' || c < 0x20 || c == 0x7f)
			return NULL;
		if (c == '\\') {
			p++;
			if (json && *p == 'u') {
				int k;
				for (k = 1; k <= 4; k++)
					if (!isxdigit((unsigned char)p[k]))
						return NULL;
				p += 5;
				continue;
			}
			if (*p == '\0' || (json && strchr("\"\\/bfnrt", *p) == NULL))
				return NULL;
		}
		p++;
	}
	return p + 1;
}

static inline bool
logcheck_add(struct logcheck *lc, const char *k, size_t kl, const char *v, size_t vl)
{
	if (lc->n == LOGCHECK_MAX_FIELDS)
		return false;
	logcheck_copy(lc->key[lc->n], sizeof(lc->key[0]), k, kl);
	logcheck_copy(lc->value[lc->n], sizeof(lc->value[0]), v, vl);
	lc->n++;
	return true;
}

static inline bool
logcheck_json(const char *p, struct logcheck *lc)
{
	if (*p++ != '{')
		return false;
	if (*p == '}')
		return p[1] == '\0';
	for (;;) {
		const char *k = p, *v;

		if ((p = logcheck_string(p, true)) == NULL || *p++ != ':')
			return false;
		v = p;
		if (*p == '"') {
			if ((p = logcheck_string(p, true)) == NULL)
				return false;
		} else if (strncmp(p, "true", 4) == 0) {
			p += 4;
		} else if (strncmp(p, "false", 5) == 0) {
			p += 5;
		} else {
			const char *start = p;
			if (*p == '-')
				p++;
			while (isdigit((unsigned char)*p))
				p++;
			if (p == start)
				return false;
		}
		/* Keys and string values without their quotes. */
		if (!logcheck_add(lc, k + 1, (size_t)(v - k) - 3,
				  *v == '"' ? v + 1 : v, (size_t)(p - v) - (*v == '"' ? 2 : 0)))
			return false;
		if (*p == ',') {
			p++;
			continue;
		}
		return *p == '}' && p[1] == '\0';
	}
}

static inline bool
logcheck_logfmt(const char *p, struct logcheck *lc)
{
	while (*p != '\0') {
		const char *k = p, *v;

		while (*p == '_' || islower((unsigned char)*p) || isdigit((unsigned char)*p))
			p++;
		if (p == k || *p++ != '=')
			return false;
		v = p;
		if (*p == '"') {
			if ((p = logcheck_string(p, false)) == NULL)
				return false;
		} else {
			while (*p != '\0' && *p != ' ') {
				if (*p == '"' || *p == '=' || (unsigned char)*p < 0x20)
					return false;
				p++;
			}
		}
		if (!logcheck_add(lc, k, (size_t)(v - k) - 1, *v == '"' ? v + 1 : v,
				  (size_t)(p - v) - (*v == '"' ? 2 : 0)))
			return false;
		if (*p == ' ')
			p++;
		else if (*p != '\0')
			return false;
	}
	return lc->n > 0;
}

/*
 * Parses line, which must end in exactly one '\n' and hold no other line
 * break.  Returns true when it is well-formed in that format.
 */
static inline bool
logcheck_parse(const char *line, bool json, struct logcheck *lc)
{
	char buf[32768];
	size_t n = strlen(line);

	memset(lc, 0, sizeof(*lc));
	if (n == 0 || n >= sizeof(buf) || line[n - 1] != '\n' || memchr(line, '\n', n - 1) != NULL)
		return false;
	memcpy(buf, line, n - 1);
	buf[n - 1] = '\0';
	return json ? logcheck_json(buf, lc) : logcheck_logfmt(buf, lc);
}

/* How many times key occurs. */
static inline int
logcheck_count(const struct logcheck *lc, const char *key)
{
	int i, c = 0;

	for (i = 0; i < lc->n; i++)
		if (strcmp(lc->key[i], key) == 0)
			c++;
	return c;
}

/* The raw value of key, or NULL. */
static inline const char *
logcheck_get(const struct logcheck *lc, const char *key)
{
	int i;

	for (i = 0; i < lc->n; i++)
		if (strcmp(lc->key[i], key) == 0)
			return lc->value[i];
	return NULL;
}

/* True when no key occurs twice. */
static inline bool
logcheck_unique(const struct logcheck *lc)
{
	int i;

	for (i = 0; i < lc->n; i++)
		if (logcheck_count(lc, lc->key[i]) != 1)
			return false;
	return true;
}

#endif
