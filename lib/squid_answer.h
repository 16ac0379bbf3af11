/*
 * The Squid helper's answer to a decided request (SPEC section 6): which
 * of OK / ERR / BH an outcome becomes, with which message.
 *
 *   allow        OK user="<canonical name>"
 *   forbidden    ERR message="not authorized"
 *   unavailable  BH message="authentication backend unavailable"
 *   deny, locked, malformed
 *                ERR message="authentication failed" (one answer, so that a
 *                guesser cannot tell them apart)
 *
 * Fail closed: an allow without a name (NULL), or one whose line would not
 * fit, becomes BH, never an OK for someone else or for nobody.
 */
#ifndef PA_SQUID_ANSWER_H
#define PA_SQUID_ANSWER_H

#include <stddef.h>

#include "pipeline.h"
#include "squid_line.h"

/*
 * Writes the answer line for outcome into buf (newline included,
 * NUL-terminated; PA_SQUID_ANSWER_MAX bytes are always enough), repeating
 * the channel id (NULL or "" for none).  user is the canonical name for
 * an allow.  Returns the line's length, or -1 when len is too small even
 * for the BH line (buf then holds "").
 */
int pa_squid_answer(char *buf, size_t len, const char *id, enum pa_outcome outcome,
		    const char *user);

#endif
