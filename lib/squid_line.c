/*
 * Squid basic-auth helper lines: parsing requests, formatting answers.
 *
 * Invariants: a request field is split at spaces only (Squid escapes
 * every space inside a field as %20), decoded with strict RFC 1738 %XX
 * (a '%' not followed by two hex digits is malformed, since Squid always
 * escapes '%' itself), bounded by the same limits as a Basic header, and
 * checked by pa_credentials_from_pair(); the scratch buffer that held a
 * decoded password is scrubbed on every path.  An answer is one line.
 */
#include "squid_line.h"
#include "text.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <string.h>

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Decodes src[0..n) into out (room for cap bytes).  Returns the decoded
 * length, -1 for a bad escape, -2 when it does not fit. */
static long
url_decode(const char *src, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		char c = src[i];

		if (c == '%') {
			if (n - i < 3)
				return -1;
			hi = pa_hex_value((unsigned char)src[i + 1]);
			lo = pa_hex_value((unsigned char)src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o == cap)
			return -2;
		out[o++] = c;
	}
	return (long)o;
}

/* The next space-separated token of line[*pos..len): start and length,
 * or false at the end. */
static bool
next_token(const char *line, size_t len, size_t *pos, const char **tok, size_t *tlen)
{
	size_t i = *pos;

	while (i < len && is_space(line[i]))
		i++;
	if (i == len)
		return false;
	*tok = line + i;
	while (i < len && !is_space(line[i]))
		i++;
	*tlen = (size_t)(line + i - *tok);
	*pos = i;
	return true;
}

int
pa_squid_channel_id(const char *line, size_t len, char id[PA_SQUID_ID_MAX + 1])
{
	size_t i = 0;

	id[0] = '\0';
	while (i < len && line[i] >= '0' && line[i] <= '9')
		i++;
	if (i == 0 || i > PA_SQUID_ID_MAX || (i < len && !is_space(line[i])))
		return -1;
	memcpy(id, line, i);
	id[i] = '\0';
	while (i < len && is_space(line[i]))
		i++;
	return (int)i;
}

/* The client address among the extras: the first, when it is one. */
static void
read_client(const char *tok, size_t tlen, char *out)
{
	char text[PA_ADDR_MAX];
	unsigned char bin[16];
	long n = url_decode(tok, tlen, text, sizeof(text) - 1);

	out[0] = '\0';
	if (n <= 0)
		return;
	text[n] = '\0';
	if (inet_pton(AF_INET, text, bin) == 1 || inet_pton(AF_INET6, text, bin) == 1)
		memcpy(out, text, (size_t)n + 1);
}

int
pa_squid_parse(const char *line, size_t len, bool with_id, struct pa_squid_request *out)
{
	char user[PA_USER_MAX + 1], password[PA_PASSWORD_MAX + 1];
	const char *utok, *ptok, *xtok;
	size_t pos = 0, ulen_tok, plen_tok, xlen;
	long ulen, plen = -1;
	int took;

	out->id[0] = '\0';
	out->client[0] = '\0';
	out->status = PA_CRED_MALFORMED;
	out->why = NULL;
	out->cred.user[0] = out->cred.password[0] = '\0';
	out->cred.user_len = out->cred.password_len = 0;

	if (with_id) {
		if ((took = pa_squid_channel_id(line, len, out->id)) < 0) {
			out->why = "no channel ID";
			return -1;
		}
		pos = (size_t)took;
	}
	if (!next_token(line, len, &pos, &utok, &ulen_tok)) {
		out->why = "no user";
		goto done;
	}
	if (!next_token(line, len, &pos, &ptok, &plen_tok)) {
		out->why = "no password";
		goto done;
	}
	if (next_token(line, len, &pos, &xtok, &xlen))
		read_client(xtok, xlen, out->client);

	ulen = url_decode(utok, ulen_tok, user, PA_USER_MAX + 1);
	if (ulen == -1) {
		out->why = "bad escape in user";
		goto done;
	}
	if (ulen == -2) {
		out->why = "user too long";
		goto done;
	}
	plen = url_decode(ptok, plen_tok, password, PA_PASSWORD_MAX + 1);
	if (plen == -1) {
		out->why = "bad escape in password";
		goto done;
	}
	if (plen == -2) {
		out->why = "password too long";
		goto done;
	}
	out->status = pa_credentials_from_pair(user, (size_t)ulen, password, (size_t)plen,
					       &out->cred, &out->why);
done:
	/* Whatever the decoder may have written: all of it after a failure. */
	OPENSSL_cleanse(password, plen >= 0 ? (size_t)plen : sizeof(password));
	return 0;
}

/* Appends value as the inside of a quoted string. */
static int
append_quoted(char *buf, size_t len, size_t *pos, const char *value)
{
	const unsigned char *p = (const unsigned char *)value;

	for (; *p != '\0'; p++) {
		unsigned char c = *p;

		if (*pos + 3 > len)
			return -1;
		if (c == '"' || c == '\\')
			buf[(*pos)++] = '\\';
		buf[(*pos)++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	return 0;
}

static int
append(char *buf, size_t len, size_t *pos, const char *s)
{
	size_t n = strlen(s);

	if (*pos + n + 1 > len)
		return -1;
	memcpy(buf + *pos, s, n);
	*pos += n;
	return 0;
}

int
pa_squid_format(char *buf, size_t len, const char *id, enum pa_squid_answer kind,
		const char *user, const char *message)
{
	static const char *const words[] = { "OK", "ERR", "BH" };
	size_t pos = 0;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (id != NULL && id[0] != '\0' &&
	    (append(buf, len, &pos, id) != 0 || append(buf, len, &pos, " ") != 0))
		goto fail;
	if (append(buf, len, &pos, words[kind]) != 0)
		goto fail;
	if (kind == PA_SQUID_OK) {
		if (user == NULL || append(buf, len, &pos, " user=\"") != 0 ||
		    append_quoted(buf, len, &pos, user) != 0 || append(buf, len, &pos, "\"") != 0)
			goto fail;
	} else if (message != NULL) {
		if (append(buf, len, &pos, " message=\"") != 0 ||
		    append_quoted(buf, len, &pos, message) != 0 ||
		    append(buf, len, &pos, "\"") != 0)
			goto fail;
	}
	if (append(buf, len, &pos, "\n") != 0)
		goto fail;
	buf[pos] = '\0';
	return (int)pos;
fail:
	buf[0] = '\0';
	return -1;
}
