/*
 * Squid's basic-auth helper protocol (SPEC section 6), as pure functions:
 * no allocation, no I/O, no global state, so that they can be unit-tested
 * and fuzzed directly.
 *
 * A request line is "[channel-ID ]user password[ extras...]": with Squid's
 * concurrency > 0 every line starts with a numeric channel ID, which the
 * answer must repeat; user and password are URL-escaped (RFC 1738 %XX;
 * '+' is a literal plus); the optional extras are what squid.conf's
 * `auth_param basic key_extras` adds, of which the first is taken as the
 * client address when it is one (key_extras "%>a").
 *
 * An answer is "[channel-ID ]OK user=\"name\"", "... ERR message=\"...\""
 * or "... BH message=\"...\"", values as quoted strings ('"' and '\'
 * escaped with a backslash, as Squid's helper protocol documents).
 */
#ifndef PA_SQUID_LINE_H
#define PA_SQUID_LINE_H

#include <stdbool.h>
#include <stddef.h>

#include "credentials.h"
#include "netaddr.h"

/* The longest request line read whole (newline excluded); a longer one is
 * refused as too long.  Squid's bundled helpers read 8 KiB lines too
 * (HELPER_INPUT_BUFFER); a real request is far shorter. */
#define PA_SQUID_LINE_MAX	8192
#define PA_SQUID_ID_MAX		20	/* digits of a channel ID */
#define PA_SQUID_ANSWER_MAX	(64 + 2 * PA_USER_MAX + 2 * 256)

struct pa_squid_request {
	char id[PA_SQUID_ID_MAX + 1];	/* the channel ID, "" without one */
	enum pa_cred_status status;	/* as pa_credentials_from_pair() */
	const char *why;		/* static reason when not PA_CRED_OK */
	struct pa_credentials cred;
	char client[PA_ADDR_MAX];	/* the first extra when an address, else "" */
};

/*
 * Reads the channel ID at the start of line[0..len) into id: 1 to
 * PA_SQUID_ID_MAX digits followed by a space or the end.  Returns the
 * number of bytes it took (ID and spaces after it), or -1 with id "" when
 * the line does not start with one.  Works on a prefix of a line too
 * (for an over-long line, whose ID is all that is kept).
 */
int pa_squid_channel_id(const char *line, size_t len, char id[PA_SQUID_ID_MAX + 1]);

/*
 * Parses one request line (without its newline).  with_id: the line
 * starts with a channel ID (Squid's concurrency > 0).  Returns 0 with out
 * filled (out->status says whether the credentials are usable: anything
 * but PA_CRED_OK must be denied without asking a backend), or -1 when
 * with_id is set and the line has no channel ID (out->status is then
 * PA_CRED_MALFORMED, out->why set).  Never PA_CRED_MISSING.  The decoded
 * password lives only in out->cred: scrub it with pa_credentials_clear();
 * the scratch copies made here are scrubbed before return.
 */
int pa_squid_parse(const char *line, size_t len, bool with_id, struct pa_squid_request *out);

enum pa_squid_answer {
	PA_SQUID_OK,
	PA_SQUID_ERR,
	PA_SQUID_BH,
};

/*
 * Writes one answer line, newline included and NUL-terminated, into buf:
 * "[id ]OK user=\"<user>\"" for PA_SQUID_OK (user required), else
 * "[id ]ERR message=\"<message>\"" or "BH ..." (message may be NULL: no
 * message).  id may be NULL or "" for none.  Control characters in the
 * values become '?', so one answer is always one line.  Returns the
 * length, or -1 when it does not fit (buf then holds "").
 */
int pa_squid_format(char *buf, size_t len, const char *id, enum pa_squid_answer kind,
		    const char *user, const char *message);

#endif
