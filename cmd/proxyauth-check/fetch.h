/*
 * One request through the front proxy (fetch.c), for the check list.
 */
#ifndef PA_CHECK_FETCH_H
#define PA_CHECK_FETCH_H

#include "checks.h"

#include <stdbool.h>
#include <stddef.h>

/* base64 of "user:password", with room to spare */
#define TOKEN_MAX (((PA_USER_MAX + PA_PASSWORD_MAX + 3) / 3) * 4 + 8)

/* The answer to one request: what the verdicts read (a), and the body
 * behind a.body. */
struct chk_answer {
	struct pa_check_answer a;
	char *body;
	size_t len;
	long hdr_status;	/* the last status line's code */
	bool connect;		/* a CONNECT: stop after its header block */
	bool stopped;		/* the header callback ended the transfer */
};

/* How requests go: the proxy and timeout of o, and for the tunnel check
 * a CONNECT or HTTP/1.1 only. */
struct chk_fetch {
	const struct chk_opts *o;
	long cap_ms;		/* > 0: a request's timeout is at most this */
	const char *connect;	/* non-NULL: send CONNECT with this authority */
	bool http11;		/* the tunnel requests: HTTP/1.1 only */
};

/* Sends GET url through the proxy with `copies` credentials headers
 * holding token (0: none) and the extra header lines.  Fills an; a
 * transport failure is status 0.  Returns 0, or -1 when libcurl fails. */
int chk_fetch(const struct chk_fetch *f, const char *url, const char *token, int copies,
	      const char *const *extra, size_t nextra, struct chk_answer *an);

/* Frees what an holds. */
void chk_answer_free(struct chk_answer *an);

#endif
