/*
 * The problem reporter of proxyauthd -t (SPEC section 6): every problem
 * as "where:line: message", or "where: message" without a line.  The
 * config loader and the backends' checks record what they find here, so
 * that -t lists every problem, once, in the order found.
 *
 * Two ways to hold the last problem.  With err set (a backend's open(),
 * whose caller prints the error it returns), each problem replaces the
 * one in err and the one it replaces is printed to report; the caller
 * prints the last.  With err NULL (the config loader, which returns a
 * count), each problem is printed to report at once.  Without a report
 * (a start-up, not -t) nothing is printed and the first problem is the
 * one to stop at.
 */
#ifndef PA_PROBLEMS_H
#define PA_PROBLEMS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include "error.h"

struct pa_problems {
	FILE *report;		/* -t's stream, or NULL */
	struct pa_error *err;	/* holds the last problem, or NULL: print each */
	int n;			/* problems recorded */
};

/* Records a problem at where (a file name, "environment: ...", or a
 * "file:line" already), line (0: none).  Returns true when the caller
 * should stop (no report: the first problem is all anyone will see). */
bool pa_problem(struct pa_problems *p, const char *where, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
bool pa_problemv(struct pa_problems *p, const char *where, int line, const char *fmt,
		 va_list ap) __attribute__((format(printf, 4, 0)));

#endif
