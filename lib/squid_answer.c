/*
 * The Squid helper's outcome-to-answer mapping (squid_answer.h), on top of
 * squid_line.c's line formatting.
 */
#include "squid_answer.h"

int
pa_squid_answer(char *buf, size_t len, const char *id, enum pa_outcome outcome,
		const char *user)
{
	enum pa_squid_answer kind;
	const char *msg = NULL;
	int n;

	switch (outcome) {
	case PA_OUT_ALLOW:
		kind = PA_SQUID_OK;
		break;
	case PA_OUT_UNAVAILABLE:
		kind = PA_SQUID_BH;
		msg = "authentication backend unavailable";
		break;
	case PA_OUT_FORBIDDEN:
		kind = PA_SQUID_ERR;
		msg = "not authorized";
		break;
	default:	/* deny, locked, malformed: the same answer */
		kind = PA_SQUID_ERR;
		msg = "authentication failed";
		break;
	}
	n = pa_squid_format(buf, len, id, kind, user, msg);
	if (n < 0)	/* no name, or too long: never an OK then */
		n = pa_squid_format(buf, len, id, PA_SQUID_BH, NULL, "answer too long");
	return n;
}
