/*
 * The htpasswd file format (htpasswd.h): user:hash[:groups], one a line,
 * with blank and '#' comment lines, CRLF taken as LF.  One parser serves
 * the backend's loads and reloads (htpasswd.c), proxyauthd -t and the
 * unit tests, so a file -t accepts is a file the daemon loads.  A table is
 * built whole or not at all: any bad line, or a user listed twice, fails
 * the parse with path:line, and the table is sorted by user for
 * pa_htpasswd_find().  Hashes are checked for a known, accepted scheme
 * (weak ones only with allow_weak) but never verified here.
 */
#include "htpasswd.h"
#include "backend.h"
#include "fold.h"
#include "hash.h"
#include "problems.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pa_htpasswd_entry *)a)->user,
		      ((const struct pa_htpasswd_entry *)b)->user);
}

void
pa_htpasswd_free(struct pa_htpasswd_table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->v[i].user);
		free(t->v[i].hash);
		free(t->v[i].groups);
	}
	for (i = 0; i < t->nfolds; i++)
		free(t->folds[i].fold);
	free(t->folds);
	free(t->v);
	free(t->reference);
	free(t);
}

static int
fold_cmp(const void *a, const void *b)
{
	const struct pa_htpasswd_fold *x = a, *y = b;
	int c = strcmp(x->fold, y->fold);

	return c != 0 ? c : x->e->line - y->e->line;
}

/* Indexes t's users by folded name.  Out of memory the index is partial
 * (another spelling may go unseen, as before there was one). */
static void
index_folds(struct pa_htpasswd_table *t)
{
	char buf[PA_FOLD_MAX];
	size_t i;

	if (t->n == 0 || (t->folds = calloc(t->n, sizeof(*t->folds))) == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		pa_fold_user(t->v[i].user, strlen(t->v[i].user), buf);
		if ((t->folds[t->nfolds].fold = strdup(buf)) != NULL)
			t->folds[t->nfolds++].e = &t->v[i];
	}
	qsort(t->folds, t->nfolds, sizeof(*t->folds), fold_cmp);
}

static int
fold_key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pa_htpasswd_fold *)elem)->fold);
}

const struct pa_htpasswd_entry *
pa_htpasswd_find_folded(const struct pa_htpasswd_table *t, const char *user, size_t len)
{
	char buf[PA_FOLD_MAX];
	const struct pa_htpasswd_fold *f;

	if (t == NULL || t->nfolds == 0)
		return NULL;
	pa_fold_user(user, len, buf);
	f = bsearch(buf, t->folds, t->nfolds, sizeof(*t->folds), fold_key_cmp);
	return f != NULL ? f->e : NULL;
}

/* Parses one line into e.  Returns 1 for an entry, 0 for a blank or
 * comment line, -1 with err set. */
static int
parse_line(char *line, bool allow_weak, struct pa_htpasswd_entry *e, struct pa_error *err)
{
	char *p = line, *hash, *groups;
	const char *why;
	size_t ulen;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return 0;
	if ((hash = strchr(line, ':')) == NULL) {
		pa_error_set(err, "expected user:hash[:groups]");
		return -1;
	}
	*hash++ = '\0';
	ulen = strlen(line);
	if (ulen == 0 || ulen > PA_USER_MAX || !pa_utf8_valid(line, ulen) ||
	    pa_has_control(line, ulen)) {
		pa_error_set(err, "user name must be 1 to %d bytes of printable UTF-8",
			     PA_USER_MAX);
		return -1;
	}
	if ((groups = strchr(hash, ':')) != NULL)
		*groups++ = '\0';
	memset(e, 0, sizeof(*e));
	if (hash[0] == '!') {
		e->disabled = true;
		hash++;
	}
	if (!(e->disabled && hash[0] == '\0') && pa_hash_check(hash, allow_weak, &why) != 0) {
		pa_error_set(err, "user '%s': %s", line, why);
		return -1;
	}
	if (groups != NULL && (strlen(groups) >= PA_GROUPS_MAX ||
			       !pa_utf8_valid(groups, strlen(groups)) ||
			       pa_has_control(groups, strlen(groups)))) {
		pa_error_set(err, "user '%s': groups must be printable UTF-8 under %d bytes",
			     line, PA_GROUPS_MAX);
		return -1;
	}
	e->user = strdup(line);
	e->hash = strdup(hash);
	e->groups = strdup(groups != NULL ? groups : "");
	if (e->user == NULL || e->hash == NULL || e->groups == NULL) {
		free(e->user);
		free(e->hash);
		free(e->groups);
		pa_error_set(err, "out of memory");
		return -1;
	}
	pa_list_normalize(e->groups);
	return 1;
}

FILE *
pa_htpasswd_fopen(const char *path, const char *shown, struct pa_error *err)
{
	struct stat st;
	FILE *fp;
	int fd;

	/* Non-blocking, so that a FIFO is refused instead of awaited; a
	 * regular file reads the same either way. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)) < 0) {
		pa_error_set(err, "%s: cannot open: %s", shown, strerror(errno));
		return NULL;
	}
	/* /dev/null, the usual "no users" (Negotiate only), reads empty. */
	if (fstat(fd, &st) != 0 ||
	    !(S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)))) {
		pa_error_set(err, "%s: not a regular file", shown);
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		pa_error_set(err, "%s: cannot open: %s", shown, strerror(errno));
		close(fd);
	}
	return fp;
}

/* Parses the file at path; messages name it as shown. */
static int
parse_file(const char *path, const char *shown, bool allow_weak, struct pa_htpasswd_table **out,
	   struct pa_error *err, FILE *report)
{
	struct pa_htpasswd_table *t;
	struct pa_error lerr = { { 0 } };
	size_t cap = 0, i;
	char *line = NULL;
	size_t linecap = 0;
	ssize_t len;
	int lineno = 0, rc;
	/* With report (proxyauthd -t) parsing goes on past a broken line,
	 * so that every one is listed; the last stays in err. */
	struct pa_problems pr = { report, err, 0 };
	FILE *fp;

	*out = NULL;
	if ((fp = pa_htpasswd_fopen(path, shown, err)) == NULL)
		return -1;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		fclose(fp);
		pa_error_set(err, "out of memory");
		return -1;
	}
	while ((len = getline(&line, &linecap, fp)) >= 0) {
		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if ((size_t)len != strlen(line)) {
			/* A problem like any broken line: -t lists it with the
			 * others (setting err here dropped the one held). */
			if (pa_problem(&pr, shown, lineno, "NUL byte in line"))
				goto fail;
			continue;
		}
		if (t->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct pa_htpasswd_entry *nv = realloc(t->v, ncap * sizeof(*nv));
			if (nv == NULL) {
				pa_error_set(err, "%s:%d: out of memory", shown, lineno);
				goto fail;
			}
			t->v = nv;
			cap = ncap;
		}
		rc = parse_line(line, allow_weak, &t->v[t->n], &lerr);
		if (rc < 0) {
			if (pa_problem(&pr, shown, lineno, "%s", lerr.msg))
				goto fail;
			continue;
		}
		if (rc == 1) {
			t->v[t->n].line = lineno;
			if (t->reference == NULL && !t->v[t->n].disabled &&
			    (t->reference = strdup(t->v[t->n].hash)) == NULL) {
				t->n++;
				pa_error_set(err, "out of memory");
				goto fail;
			}
			t->n++;
		}
	}
	if (ferror(fp)) {
		pa_error_set(err, "%s: read error", shown);
		goto fail;
	}
	if (t->n > 0)
		qsort(t->v, t->n, sizeof(t->v[0]), entry_cmp);
	for (i = 1; i < t->n; i++) {
		if (strcmp(t->v[i - 1].user, t->v[i].user) == 0) {
			int a = t->v[i - 1].line, b = t->v[i].line;
			if (pa_problem(&pr, shown, a > b ? a : b,
				       "duplicate user '%s' (also on line %d)", t->v[i].user,
				       a > b ? b : a))
				goto fail;
		}
	}
	if (pr.n > 0)
		goto fail;
	index_folds(t);
	free(line);
	fclose(fp);
	*out = t;
	return 0;
fail:
	free(line);
	fclose(fp);
	pa_htpasswd_free(t);
	return -1;
}

int
pa_htpasswd_parse(const char *path, bool allow_weak, struct pa_htpasswd_table **out,
		  struct pa_error *err)
{
	return parse_file(path, path, allow_weak, out, err, NULL);
}

int
pa_htpasswd_check(const char *path, const char *shown, bool allow_weak, FILE *report,
		  struct pa_error *err)
{
	struct pa_htpasswd_table *t = NULL;
	int rc = parse_file(path, shown, allow_weak, &t, err, report);

	pa_htpasswd_free(t);
	return rc;
}

const struct pa_htpasswd_entry *
pa_htpasswd_find(const struct pa_htpasswd_table *t, const char *user)
{
	struct pa_htpasswd_entry key = { .user = (char *)user };

	if (t == NULL || t->n == 0)
		return NULL;
	return bsearch(&key, t->v, t->n, sizeof(t->v[0]), entry_cmp);
}
