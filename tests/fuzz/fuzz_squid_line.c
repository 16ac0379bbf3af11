/*
 * libFuzzer target: the Squid helper's line parser and answer formatter
 * (lib/squid_line.h).  The first input byte chooses the mode (with or
 * without channel IDs); the rest is one request line.  Beyond "no crash":
 *   - accepted credentials are a non-empty user without control
 *     characters and valid UTF-8 on both sides;
 *   - re-escaping what was decoded (every byte as %XX) and parsing again
 *     gives the same ID, user and password;
 *   - every answer the formatter makes from it is exactly one line that
 *     starts with the channel ID, and its quoted value unquotes to the
 *     user name.
 */
#include "squid_line.h"
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
escape_all(char *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		out[n++] = '%';
		out[n++] = hex[(unsigned char)s[i] >> 4];
		out[n++] = hex[(unsigned char)s[i] & 15];
	}
	return n;
}

static void
check_answer(const struct pa_squid_request *r, const char *user)
{
	char buf[PA_SQUID_ANSWER_MAX], value[PA_SQUID_ANSWER_MAX];
	const char *p, *nl;
	size_t n = 0;
	int len;

	len = pa_squid_format(buf, sizeof(buf), r->id, PA_SQUID_OK, user, NULL);
	if (len < 0)
		abort();	/* a parsed user always fits */
	nl = memchr(buf, '\n', (size_t)len);
	if (nl == NULL || nl != buf + len - 1 || strlen(buf) != (size_t)len)
		abort();
	if (r->id[0] != '\0' && (strncmp(buf, r->id, strlen(r->id)) != 0 ||
				 buf[strlen(r->id)] != ' '))
		abort();
	if ((p = strstr(buf, "OK user=\"")) == NULL)
		abort();
	for (p += 9; *p != '"'; p++) {
		if (*p == '\n' || *p == '\0')
			abort();
		if (*p == '\\')
			p++;
		value[n++] = *p;
	}
	value[n] = '\0';
	if (strcmp(value, user) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[3 * (PA_USER_MAX + PA_PASSWORD_MAX) + PA_SQUID_ID_MAX + 8];
	struct pa_squid_request r, again;
	bool with_id;
	size_t n = 0;

	if (size < 1)
		return 0;
	with_id = data[0] & 1;
	if (pa_squid_parse((const char *)data + 1, size - 1, with_id, &r) != 0) {
		if (!with_id || r.status != PA_CRED_MALFORMED)
			abort();
		return 0;
	}
	if (r.status == PA_CRED_MISSING)
		abort();
	if (r.status != PA_CRED_OK && r.status != PA_CRED_EMPTY_PASSWORD)
		return 0;
	if (r.cred.user_len == 0 || pa_has_control(r.cred.user, r.cred.user_len) ||
	    pa_has_control(r.cred.password, r.cred.password_len) ||
	    !pa_utf8_valid(r.cred.user, r.cred.user_len) ||
	    !pa_utf8_valid(r.cred.password, r.cred.password_len))
		abort();
	if (r.status == PA_CRED_EMPTY_PASSWORD) {
		pa_credentials_clear(&r.cred);
		return 0;
	}
	/* The same request, every byte escaped. */
	if (r.id[0] != '\0') {
		memcpy(line, r.id, strlen(r.id));
		n = strlen(r.id);
		line[n++] = ' ';
	}
	n += escape_all(line + n, r.cred.user, r.cred.user_len);
	line[n++] = ' ';
	n += escape_all(line + n, r.cred.password, r.cred.password_len);
	if (n <= PA_SQUID_LINE_MAX) {
		if (pa_squid_parse(line, n, with_id, &again) != 0 || again.status != PA_CRED_OK ||
		    strcmp(again.id, r.id) != 0 || again.cred.user_len != r.cred.user_len ||
		    again.cred.password_len != r.cred.password_len ||
		    memcmp(again.cred.user, r.cred.user, r.cred.user_len) != 0 ||
		    memcmp(again.cred.password, r.cred.password, r.cred.password_len) != 0)
			abort();
		pa_credentials_clear(&again.cred);
	}
	check_answer(&r, r.cred.user);
	pa_credentials_clear(&r.cred);
	return 0;
}
