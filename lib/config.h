/*
 * Configuration: an INI file read with libinih, then PROXYAUTHD_<SECTION>_<KEY>
 * environment overrides.  Every accepted key is declared in a table (the
 * [server] table here, each backend's in its own file) with its type,
 * bounds and default, so unknown keys and out-of-range values are errors
 * reported as "file:line: message" and never silently ignored.
 *
 * A loaded pa_config is immutable and may be read from any thread.
 */
#ifndef PA_CONFIG_H
#define PA_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "error.h"

enum pa_conf_type {
	PA_CONF_STRING,
	PA_CONF_INT,		/* decimal, within [min, max] */
	PA_CONF_BOOL,		/* true/false, yes/no, on/off, 1/0 */
	PA_CONF_ENUM,		/* one of the '|'-separated words in choices */
	PA_CONF_LIST,		/* comma-separated names, normalised */
};

struct pa_conf_key {
	const char *name;
	enum pa_conf_type type;
	long min, max;
	const char *def;	/* NULL: no default (empty) */
	const char *choices;	/* PA_CONF_ENUM only */
	/* Optional extra check; returns 0 or -1 with err set. */
	int (*check)(const char *value, struct pa_error *err);
};

struct pa_section {
	char name[64];			/* "server", "htpasswd", ... */
	const struct pa_conf_key *keys;	/* terminated by a NULL name */
	char **values;			/* parallel to keys; NULL = default */
	int *lines;			/* line of each value; 0 = default or environment */
	int line;			/* line of the first key seen, 0 if none */
	const char *file;
};

#define PA_CONF_MAX_SECTIONS 64

struct pa_config {
	char *file;
	struct pa_section sections[PA_CONF_MAX_SECTIONS];
	int nsections;
};

/* The keys of [server]. */
extern const struct pa_conf_key pa_server_keys[];

/*
 * Loads path (and the overrides found in envp, which may be NULL) into cfg.
 * Every problem is written to report as one "file:line: message" line.
 * Returns the number of problems (0 on success).  cfg must be freed with
 * pa_config_free() whatever the result.
 */
int pa_config_load(const char *path, char *const *envp, struct pa_config *cfg, FILE *report);

/* Frees what pa_config_load() allocated.  Safe on a zeroed or NULL cfg. */
void pa_config_free(struct pa_config *cfg);

/* The section of that name, or NULL when the file did not name it and no
 * override created it. */
const struct pa_section *pa_config_section(const struct pa_config *cfg, const char *name);

/* Typed getters.  sec may be NULL (defaults are returned).  The key must be
 * declared in the section's table; asking for an undeclared key aborts,
 * since that is a programming error, not a configuration one. */
const char *pa_conf_str(const struct pa_section *sec, const struct pa_conf_key *keys,
			const char *key);
long pa_conf_int(const struct pa_section *sec, const struct pa_conf_key *keys, const char *key);
bool pa_conf_bool(const struct pa_section *sec, const struct pa_conf_key *keys, const char *key);

/* "file:line" of a key for messages, or "file" / "environment". */
void pa_conf_where(const struct pa_section *sec, const char *key, char *buf, size_t len);

#endif
