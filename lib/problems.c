/*
 * The problem reporter of proxyauthd -t (see problems.h).  A message is
 * formatted once; with err it is cut to err's size (pa_error_set marks a
 * cut), without it printed whole.
 */
#include "problems.h"

#include <stdio.h>

bool
pa_problemv(struct pa_problems *p, const char *where, int line, const char *fmt, va_list ap)
{
	char msg[1024];		/* longer than err: pa_error_set marks a cut */

	if (p->err == NULL) {
		if (p->report != NULL) {
			if (line > 0)
				fprintf(p->report, "%s:%d: ", where, line);
			else
				fprintf(p->report, "%s: ", where);
			vfprintf(p->report, fmt, ap);
			fputc('\n', p->report);
		}
	} else {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		if (p->report != NULL && p->n > 0)
			fprintf(p->report, "%s\n", p->err->msg);
		if (line > 0)
			pa_error_set(p->err, "%s:%d: %s", where, line, msg);
		else
			pa_error_set(p->err, "%s: %s", where, msg);
	}
	p->n++;
	return p->report == NULL;
}

bool
pa_problem(struct pa_problems *p, const char *where, int line, const char *fmt, ...)
{
	va_list ap;
	bool stop;

	va_start(ap, fmt);
	stop = pa_problemv(p, where, line, fmt, ap);
	va_end(ap);
	return stop;
}
