/*
 * Squid's negotiate helper protocol (squid_negotiate.h).
 */
#include "squid_negotiate.h"

#include <stdio.h>
#include <string.h>

int
pa_squid_negotiate_parse(const char *line, size_t len, bool with_id,
			 char id[PA_SQUID_ID_MAX + 1], char *header, size_t hlen,
			 size_t *hout, const char **why)
{
	size_t i = 0;
	int n;

	id[0] = '\0';
	*hout = 0;
	if (with_id) {
		if ((n = pa_squid_channel_id(line, len, id)) < 0) {
			*why = "no channel ID";
			return -1;
		}
		i = (size_t)n;
	}
	if (len - i < 3 || (memcmp(line + i, "YR ", 3) != 0 && memcmp(line + i, "KK ", 3) != 0)) {
		*why = "not a YR or KK request";
		return -1;
	}
	i += 3;
	while (i < len && line[i] == ' ')
		i++;
	if (i == len) {
		*why = "no token";
		return -1;
	}
	if (len - i + 10 + 1 > hlen) {
		*why = "token too long";
		return -1;
	}
	memcpy(header, "Negotiate ", 10);
	memcpy(header + 10, line + i, len - i);
	header[10 + len - i] = '\0';
	*hout = 10 + len - i;
	return 0;
}

/* A name Squid's word splitting returns as it is. */
static bool
plain_word(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '\\' || *s == 0x7f)
			return false;
	return true;
}

int
pa_squid_negotiate_answer(char *buf, size_t len, const char *id, enum pa_outcome outcome,
			  const char *user, const char *token)
{
	const char *sp = id != NULL && id[0] != '\0' ? " " : "";
	int n;

	if (id == NULL)
		id = "";
	if (token == NULL || token[0] == '\0')
		token = PA_SQUID_NEG_DONE;
	switch (outcome) {
	case PA_OUT_ALLOW:
		if (!plain_word(user)) {
			n = snprintf(buf, len, "%s%sBH user name not representable\n", id, sp);
			break;
		}
		n = snprintf(buf, len, "%s%sAF %s %s\n", id, sp, token, user);
		if (n >= 0 && (size_t)n < len)
			return n;
		n = snprintf(buf, len, "%s%sBH answer too long\n", id, sp);
		break;
	case PA_OUT_UNAVAILABLE:
		n = snprintf(buf, len, "%s%sBH authentication backend unavailable\n", id, sp);
		break;
	case PA_OUT_FORBIDDEN:
		n = snprintf(buf, len, "%s%sNA not authorized\n", id, sp);
		break;
	default:
		n = snprintf(buf, len, "%s%sNA authentication failed\n", id, sp);
		break;
	}
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return -1;
	}
	return n;
}
