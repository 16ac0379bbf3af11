/*
 * The Squid helper's request loop (proxyauth-squid): reads request lines,
 * takes each through the decision pipeline and writes one answer line per
 * request (squid_line.h, squid_answer.h).
 *
 * With channel IDs (Squid's concurrency > 0) answers may go out of order:
 * the reading thread parses, writes cached and refused answers at once,
 * and hands backend lookups to the worker pool; without them (-n) the
 * caller gives the pool one worker, which keeps the order.  Locked answers
 * are held back about a verification's time (holdq), as the HTTP front
 * does.
 *
 * Invariants: every request line gets exactly one answer line, written
 * whole under one lock; a Basic OK goes only to a login that is the
 * canonical name (Squid hands on the login, never user=); a line without
 * a usable channel ID gets BH rather than silence; the input is read into
 * buffers of our own that are scrubbed as they are used, and every
 * password is scrubbed by pa_decide_end() or here.
 */
#include "squid_helper.h"
#include "clock.h"
#include "squid_answer.h"
#include "squid_line.h"
#include "squid_negotiate.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Room for "Negotiate " and the longest token a request line holds. */
#define NEG_HEADER_MAX (PA_SQUID_LINE_MAX + 16)

/* One request, owned by whoever answers it. */
struct request {
	struct pa_job job;	/* first: the workq hands back &job */
	struct pa_squid_helper *h;
	char id[PA_SQUID_ID_MAX + 1];
	char *neg_header;	/* negotiate mode: "Negotiate <token>", or NULL */
	struct pa_decision d;
};

/* Writes one answer line whole and flushes it. */
static void
write_answer(struct pa_squid_helper *h, const char *line, size_t len)
{
	pthread_mutex_lock(&h->out_lock);
	if (!atomic_load(&h->out_broken) &&
	    (fwrite(line, 1, len, h->out) != len || fflush(h->out) != 0))
		atomic_store(&h->out_broken, true);
	pthread_mutex_unlock(&h->out_lock);
}

/* Answers a decided request, logs it and frees it. */
static void
finish(struct request *r)
{
	char line[PA_SQUID_ANSWER_MAX + sizeof(((struct pa_neg_req *)0)->reply)];
	const char *token = NULL;
	int n;

	if (r->d.neg != NULL && strncmp(r->d.neg->reply, "Negotiate ", 10) == 0)
		token = r->d.neg->reply + 10;	/* the acceptance's final token */
	/* Squid keeps a Basic login as the client typed it: an OK's user=
	 * does not replace it in %ul, proxy_auth ACLs, external ACLs or its
	 * logs (Squid 5.7).  A login the backend matched loosely ("ALICE"
	 * bound as alice) would reach the app and Squid's ACLs under a name
	 * that is not the user's, so only the canonical spelling gets OK. */
	if (!r->h->negotiate && r->d.outcome == PA_OUT_ALLOW &&
	    strcmp(r->d.who.user, r->d.cred.user) != 0) {
		r->d.outcome = PA_OUT_FORBIDDEN;
		pa_error_set(&r->d.why, "the login is not the canonical user name, which Squid "
			     "would not hand on");
	}
	if (r->h->negotiate)
		n = pa_squid_negotiate_answer(line, sizeof(line), r->id, r->d.outcome,
					      r->d.who.user, token);
	else
		n = pa_squid_answer(line, sizeof(line), r->id, r->d.outcome, r->d.who.user);
	if (n > 0)
		write_answer(r->h, line, (size_t)n);
	pa_decide_end(&r->h->pipe, &r->d);
	if (r->neg_header != NULL)	/* a token is a credential, if a short-lived one */
		explicit_bzero(r->neg_header, NEG_HEADER_MAX);
	free(r->neg_header);
	free(r);
}

void
pa_squid_helper_fire_held(void *item)
{
	finish(item);
}

/* Answers r: a locked answer after about a verification's time (see
 * pa_pipeline_locked_delay_us), anything else at once.  Without channel
 * IDs Squid waits for each answer, so holding one keeps the order. */
static void
answer(struct request *r)
{
	uint64_t delay;

	if (r->d.outcome == PA_OUT_LOCKED && r->h->held != NULL &&
	    (delay = pa_pipeline_locked_delay_us(&r->h->pipe, &r->d, arc4random())) > 0 &&
	    pa_holdq_add(r->h->held, r, delay))
		return;
	finish(r);
}

static void
run_lookup(struct pa_job *job)
{
	struct request *r = (struct request *)job;

	pa_decide_lookup(&r->h->pipe, &r->d);
	answer(r);
}

/* Decided at once, or queued for a worker.  A locked answer waits its
 * turn for a worker like the lookup it stands for (see lib/http.c),
 * unless it would have been cached. */
static void
decide(struct pa_squid_helper *h, struct request *r)
{
	if (pa_decide_begin(&h->pipe, &r->d) &&
	    (r->d.outcome != PA_OUT_LOCKED || r->d.locked_cached)) {
		answer(r);
		return;
	}
	r->d.why.msg[0] = '\0';	/* a lock is decided again by the worker */
	r->job.run = run_lookup;
	if (pa_workq_submit(h->workq, &r->job) != 0) {
		r->d.outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&r->d.why, "too many requests waiting for a backend");
		finish(r);
	}
}

/* A negotiate-mode line (squid_negotiate.h): the token goes through the
 * pipeline as a Negotiate credentials header would. */
static void
handle_negotiate(struct pa_squid_helper *h, struct request *r, const char *line, size_t len,
		 const char *refuse)
{
	const char *why = refuse;
	size_t hl = 0;

	snprintf(r->d.client, sizeof(r->d.client), "squid");
	r->d.no_address = true;
	r->d.cred_status = PA_CRED_MISSING;
	r->d.cred_why = "no credentials";
	r->id[0] = '\0';
	if ((r->neg_header = malloc(NEG_HEADER_MAX)) == NULL) {
		r->d.outcome = PA_OUT_UNAVAILABLE;
		pa_error_set(&r->d.why, "out of memory");
		finish(r);
		return;
	}
	if (refuse != NULL) {
		if (h->with_id)
			(void)pa_squid_channel_id(line, len, r->id);
	} else if (pa_squid_negotiate_parse(line, len, h->with_id, r->id, r->neg_header,
					    NEG_HEADER_MAX, &hl, &why) == 0) {
		r->d.cred_value = r->neg_header;
		r->d.cred_value_len = hl;
		decide(h, r);
		return;
	}
	r->d.cred_status = PA_CRED_MALFORMED;
	r->d.cred_why = why;
	decide(h, r);
}

/*
 * Takes one request line through the pipeline: decided at once, or queued
 * for a worker.  refuse, when not NULL, is why the line cannot be read (too
 * long, a NUL byte): only its channel ID is taken from it, and it is
 * answered as malformed.
 */
static void
handle_line(struct pa_squid_helper *h, const char *line, size_t len, const char *refuse)
{
	struct pa_squid_request req;
	struct request *r;
	int rc;

	if ((r = malloc(sizeof(*r))) == NULL) {
		write_answer(h, "BH message=\"out of memory\"\n", 27);
		return;
	}
	pa_decision_init(&r->d);
	r->h = h;
	r->neg_header = NULL;
	r->d.start_us = pa_now_us();
	r->d.profile = PA_PROFILE_SQUID;
	if (h->negotiate) {
		handle_negotiate(h, r, line, len, refuse);
		return;
	}
	if (refuse != NULL) {
		memset(&req, 0, offsetof(struct pa_squid_request, cred));
		req.client[0] = '\0';
		rc = h->with_id ? pa_squid_channel_id(line, len, req.id) : 0;
		req.status = PA_CRED_MALFORMED;
		req.why = refuse;
	} else {
		rc = pa_squid_parse(line, len, h->with_id, &req);
	}
	if (h->with_id && req.id[0] == '\0') {
		/* No channel ID: Squid with concurrency on never sends such a
		 * line; with concurrency=0 the helper must run with -n.  BH
		 * says so, rather than leave Squid waiting for an answer. */
		static const char bh[] = "BH message=\"no channel ID: with concurrency=0 run "
					 "proxyauth-squid -n\"\n";

		pa_log_msg(&h->log, PA_LOG_WARN, "a request line without a channel ID: answered "
			   "BH (with Squid's concurrency=0, run proxyauth-squid -n)");
		if (refuse == NULL)
			pa_credentials_clear(&req.cred);
		free(r);
		write_answer(h, bh, sizeof(bh) - 1);
		return;
	}
	memcpy(r->id, req.id, sizeof(r->id));
	if (req.client[0] != '\0') {
		memcpy(r->d.client, req.client, sizeof(r->d.client));
	} else {
		snprintf(r->d.client, sizeof(r->d.client), "squid");
		r->d.no_address = true;
	}
	r->d.cred_status = rc < 0 ? PA_CRED_MALFORMED : req.status;
	r->d.cred_why = req.why;
	if (r->d.cred_status == PA_CRED_OK || r->d.cred_status == PA_CRED_EMPTY_PASSWORD)
		r->d.cred = req.cred;
	if (refuse == NULL)
		pa_credentials_clear(&req.cred);

	decide(h, r);
}

/* Reads lines from fd until the end of input.  A line is kept up to
 * PA_SQUID_LINE_MAX bytes; the rest of a longer one is read and dropped.
 * A last line without a newline still counts; an empty line is skipped.
 * Input is read with read(2) into buffers of our own, scrubbed as they
 * are used, so no password lingers in a stdio buffer. */
void
pa_squid_helper_read(struct pa_squid_helper *h, int fd)
{
	static char buf[PA_SQUID_LINE_MAX], chunk[16384];
	size_t len = 0, i;
	bool too_long = false, nul = false;
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < (size_t)n; i++) {
			char c = chunk[i];

			if (c != '\n') {
				if (len < sizeof(buf))
					buf[len++] = c;
				else
					too_long = true;
				nul |= c == '\0';
				continue;
			}
			if (!too_long && len > 0 && buf[len - 1] == '\r')
				len--;
			if (len > 0 || too_long)
				handle_line(h, buf, len, too_long ? "request line too long" :
						 nul ? "NUL in request line" : NULL);
			explicit_bzero(buf, sizeof(buf));
			len = 0;
			too_long = nul = false;
			if (atomic_load(&h->out_broken))
				break;
		}
		explicit_bzero(chunk, (size_t)n);
		if (atomic_load(&h->out_broken))
			return;
	}
	if (len > 0 || too_long)
		handle_line(h, buf, len, too_long ? "request line too long" :
				 nul ? "NUL in request line" : NULL);
	explicit_bzero(buf, sizeof(buf));
}
