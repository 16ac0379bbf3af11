/*
 * The htpasswd backend: Apache/nginx htpasswd files, user:hash[:groups].
 * The parser is exposed for unit tests and for proxyauthd -t.
 */
#ifndef PA_HTPASSWD_H
#define PA_HTPASSWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

struct pa_htpasswd_entry {
	char *user;
	char *hash;		/* without the '!' of a disabled user */
	char *groups;		/* normalised comma list, may be "" */
	bool disabled;		/* hash was prefixed with '!' */
	int line;
};

/* A user's folded name (fold.h), for finding another spelling. */
struct pa_htpasswd_fold {
	char *fold;
	const struct pa_htpasswd_entry *e;
};

struct pa_htpasswd_table {
	size_t n;
	struct pa_htpasswd_entry *v;	/* sorted by user */
	struct pa_htpasswd_fold *folds;	/* sorted by fold, then line */
	size_t nfolds;			/* n, or fewer out of memory */
	char *reference;	/* a hash from the file, for dummy verifies */
	int refs;		/* owned by the backend's lock */
};

/* Parses the file at path.  Returns 0 and a new table, or -1 with err set
 * to "path:line: message" (or "path: message"). */
int pa_htpasswd_parse(const char *path, bool allow_weak, struct pa_htpasswd_table **out,
		      struct pa_error *err);

/* Checks the file at path exactly as the daemon loads it (one parser for
 * both), naming it shown in messages ("shown:line: message").  Returns 0,
 * or -1 with err set; with report, every problem but the last (which stays
 * in err) is also printed there, one a line. */
int pa_htpasswd_check(const char *path, const char *shown, bool allow_weak, FILE *report,
		      struct pa_error *err);

/* Opens the file at path for reading, refusing anything but a regular
 * file (a FIFO, a device) at once.  Returns the stream, or NULL with err
 * set to "shown: message". */
FILE *pa_htpasswd_fopen(const char *path, const char *shown, struct pa_error *err);

/* The entry for user, or NULL. */
const struct pa_htpasswd_entry *pa_htpasswd_find(const struct pa_htpasswd_table *t,
						 const char *user);

/* An entry whose name folds like user[0..len) (any of them when several
 * do), or NULL. */
const struct pa_htpasswd_entry *pa_htpasswd_find_folded(const struct pa_htpasswd_table *t,
							const char *user, size_t len);

void pa_htpasswd_free(struct pa_htpasswd_table *t);

#endif
