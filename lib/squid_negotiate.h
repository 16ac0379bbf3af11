/*
 * Squid's negotiate helper protocol (auth_param negotiate), as pure
 * functions for proxyauth-squid -m negotiate.
 *
 * A request line is "[channel-ID ]YR <token>" (a new exchange) or
 * "[channel-ID ]KK <token>" (a further round of one); the token is the
 * client's base64 SPNEGO token.  Both are taken as one-round Kerberos
 * (a KK token, SPNEGO's continuation, is refused by the token parser).
 * Answers:
 *
 *   allow        AF <final token> <user>
 *   unavailable  BH message
 *   any other    NA message   (Squid challenges again)
 *
 * A user name that would not survive Squid's word splitting (a space, a
 * quote, a backslash, a control character) makes the allow a BH, never
 * an AF for a different name.
 */
#ifndef PA_SQUID_NEGOTIATE_H
#define PA_SQUID_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline.h"
#include "squid_line.h"

/* The answer for a grant whose acceptance made no token (a cached
 * verdict): SPNEGO's bare accept-completed for Kerberos. */
#define PA_SQUID_NEG_DONE "oRQwEqADCgEAoQsGCSqGSIb3EgECAg=="

/*
 * Parses line[0..len): the channel ID (with_id) into id, and the token
 * as a header value "Negotiate <token>" into header[hlen] (its length in
 * *hout).  Returns 0, or -1 with *why set (no channel ID, not YR/KK, no
 * token, too long); id is filled whenever the line had one.
 */
int pa_squid_negotiate_parse(const char *line, size_t len, bool with_id,
			     char id[PA_SQUID_ID_MAX + 1], char *header, size_t hlen,
			     size_t *hout, const char **why);

/*
 * The answer line for outcome into buf[len] (newline included), with
 * channel id (NULL or "": none), the canonical user and the acceptance's
 * final token (base64, NULL or "" for PA_SQUID_NEG_DONE).  Returns its
 * length, or -1 when len is too small even for a BH.
 */
int pa_squid_negotiate_answer(char *buf, size_t len, const char *id, enum pa_outcome outcome,
			      const char *user, const char *token);

#endif
