/*
 * Configuration loader.
 *
 * libinih does the INI syntax; this file owns the meaning: which sections
 * and keys exist (tables), what values they accept, the environment
 * overrides, and the cross-checks between keys.  libinih does not pass line
 * numbers to the handler in Debian's build, so the reader callback counts
 * lines itself; it also turns a line longer than the parser's buffer into
 * an error instead of letting it be split in two.
 */
#include "config.h"
#include "backend.h"
#include "netaddr.h"
#include "problems.h"
#include "rules.h"
#ifdef PA_WITH_NEGOTIATE
#include "negotiate.h"
#endif
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int
check_listen(const char *value, struct pa_error *err)
{
	struct sockaddr_storage ss;
	socklen_t len;

	return pa_sockaddr_parse(value, &ss, &len, err);
}

static int
check_cidrs(const char *value, struct pa_error *err)
{
	struct pa_cidr_list l = { 0 };
	int rc = pa_cidr_list_parse(value, &l, err);

	pa_cidr_list_free(&l);
	return rc;
}

static int
check_realm(const char *value, struct pa_error *err)
{
	if (!pa_utf8_valid(value, strlen(value)) || pa_has_control(value, strlen(value))) {
		pa_error_set(err, "realm must be printable UTF-8");
		return -1;
	}
	return 0;
}

static int
header_name_len(const char *name, size_t len, void *arg)
{
	(void)name;
	(void)arg;
	return len > 63 ? -1 : 0;
}

/* One to four header names of letters, digits, '-' and '_' (the HTTP
 * front keeps at most four, of up to 63 characters). */
static int
check_header_names(const char *value, struct pa_error *err)
{
	char copy[512];
	const char *p;
	int n;

	for (p = value; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != ',' &&
		    *p != ' ' && *p != '\t') {
			pa_error_set(err, "header names may hold only letters, digits, '-' and '_'");
			return -1;
		}
	}
	if (pa_strlcpy(copy, value, sizeof(copy)) != 0 || (n = pa_list_normalize(copy)) < 1 ||
	    n > 4 || pa_list_foreach(copy, header_name_len, NULL) != 0) {
		pa_error_set(err, "credentials_header needs one to four header names of up to "
			     "63 characters");
		return -1;
	}
	return 0;
}

/* The account to run as after start (nginx's `user`): it must exist. */
static int
check_user(const char *value, struct pa_error *err)
{
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (value[0] == '\0')
		return 0;
	if (getpwnam_r(value, &pw, buf, sizeof(buf), &found) != 0 || found == NULL) {
		pa_error_set(err, "no such user '%.64s'", value);
		return -1;
	}
	return 0;
}

const struct pa_conf_key pa_server_keys[] = {
	{ "listen", PA_CONF_STRING, 0, 0, "127.0.0.1:9180", NULL, check_listen },
	{ "threads", PA_CONF_INT, 0, 256, "0", NULL, NULL },
	{ "workers", PA_CONF_INT, 1, 1024, "16", NULL, NULL },
	{ "max_connections", PA_CONF_INT, 16, 1000000, "10000", NULL, NULL },
	{ "connection_timeout", PA_CONF_INT, 1, 3600, "60", NULL, NULL },
	{ "max_header_bytes", PA_CONF_INT, 8192, 1048576, "16384", NULL, NULL },
	{ "header_timeout", PA_CONF_INT, 0, 3600, "10", NULL, NULL },
	{ "max_connections_per_address", PA_CONF_INT, 0, 1000000, "0", NULL, NULL },
	{ "user", PA_CONF_STRING, 0, 64, NULL, NULL, check_user },
	{ "realm", PA_CONF_STRING, 1, 200, "proxyauthd", NULL, check_realm },
	{ "credentials_header", PA_CONF_LIST, 0, 0, "Proxy-Authorization", NULL,
	  check_header_names },
	{ "trusted_proxies", PA_CONF_LIST, 0, 0, "127.0.0.1/32,::1/128", NULL, check_cidrs },
	{ "backends", PA_CONF_LIST, 0, 0, "htpasswd", NULL, NULL },
	{ "fallthrough_unavailable", PA_CONF_BOOL, 0, 0, "false", NULL, NULL },
	{ "allow_weak_hashes", PA_CONF_BOOL, 0, 0, "false", NULL, NULL },
	{ "require_groups", PA_CONF_LIST, 0, 0, NULL, NULL, NULL },
	{ "cache_ttl", PA_CONF_INT, 0, 86400, "60", NULL, NULL },
	{ "negative_ttl", PA_CONF_INT, 0, 86400, "5", NULL, NULL },
	{ "cache_size", PA_CONF_INT, 0, 10000000, "100000", NULL, NULL },
	{ "stale_grace", PA_CONF_INT, 0, 86400, "0", NULL, NULL },
	{ "max_failures", PA_CONF_INT, 0, 1000000, "10", NULL, NULL },
	{ "failure_window", PA_CONF_INT, 1, 86400, "60", NULL, NULL },
	{ "lockout", PA_CONF_INT, 1, 86400, "300", NULL, NULL },
	{ "lockout_store", PA_CONF_ENUM, 0, 0, "memory", "memory|redis", NULL },
	{ "known_client_ttl", PA_CONF_INT, 0, 31536000, "604800", NULL, NULL },
	{ "lockout_ipv6_prefix", PA_CONF_INT, 32, 128, "64", NULL, NULL },
	{ "locked_delay_min_ms", PA_CONF_INT, 0, 10000, "0", NULL, NULL },
	{ "locked_delay_max_ms", PA_CONF_INT, 0, 10000, "2000", NULL, NULL },
	{ "log_format", PA_CONF_ENUM, 0, 0, "text", "text|json", NULL },
	{ "log_level", PA_CONF_ENUM, 0, 0, "info", "error|warn|info|debug", NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

struct load {
	struct pa_config *cfg;
	FILE *fp;
	struct pa_problems pr;		/* each printed at once (no err) */
	int line;
};

static void
problem(struct load *ld, const char *where, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
problem(struct load *ld, const char *where, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)pa_problemv(&ld->pr, where, line, fmt, ap);
	va_end(ap);
}

static const struct pa_conf_key *
section_keys(const char *name)
{
	const struct pa_backend_ops *ops;

	if (strcmp(name, "server") == 0)
		return pa_server_keys;
	if ((ops = pa_backend_find(name)) != NULL)
		return ops->keys;
#ifdef PA_WITH_NEGOTIATE
	if (strcmp(name, "negotiate") == 0)
		return pa_negotiate_keys;
#endif
	/* "[rule NAME]": a name of letters, digits, '-', '_' and '.'. */
	if (strncmp(name, "rule ", 5) == 0 && name[5] != '\0' &&
	    strspn(name + 5, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789-_.") == strlen(name + 5))
		return pa_rule_keys;
	return NULL;
}

static int
key_index(const struct pa_conf_key *keys, const char *name)
{
	int i;

	for (i = 0; keys[i].name != NULL; i++)
		if (strcmp(keys[i].name, name) == 0)
			return i;
	return -1;
}

static struct pa_section *
section_get(struct pa_config *cfg, const char *name, const struct pa_conf_key *keys)
{
	struct pa_section *s;
	int i, n;

	for (i = 0; i < cfg->nsections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	if (cfg->nsections == PA_CONF_MAX_SECTIONS)
		return NULL;
	s = &cfg->sections[cfg->nsections];
	for (n = 0; keys[n].name != NULL; n++)
		;
	s->values = calloc((size_t)n + 1, sizeof(*s->values));
	s->lines = calloc((size_t)n + 1, sizeof(*s->lines));
	if (s->values == NULL || s->lines == NULL) {
		free(s->values);
		free(s->lines);
		s->values = NULL;
		s->lines = NULL;
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->keys = keys;
	s->file = cfg->file;
	cfg->nsections++;
	return s;
}

/* Checks value against key; on success stores a normalised copy. */
static int
value_check(const struct pa_conf_key *k, const char *value, char **out, struct pa_error *err)
{
	long n;
	char *copy;
	size_t i;

	/* The environment can carry a newline into any value (a file line cannot). */
	for (i = 0; value[i] != '\0'; i++)
		if (((unsigned char)value[i] < 0x20 && value[i] != '\t') || value[i] == 0x7f) {
			pa_error_set(err, "%s holds a control character", k->name);
			return -1;
		}
	switch (k->type) {
	case PA_CONF_INT:
		if (pa_parse_long(value, k->min, k->max, &n) != 0) {
			pa_error_set(err, "%s must be an integer from %ld to %ld", k->name,
				     k->min, k->max);
			return -1;
		}
		break;
	case PA_CONF_BOOL:
		if (strcasecmp(value, "true") != 0 && strcasecmp(value, "false") != 0 &&
		    strcasecmp(value, "yes") != 0 && strcasecmp(value, "no") != 0 &&
		    strcasecmp(value, "on") != 0 && strcasecmp(value, "off") != 0 &&
		    strcmp(value, "1") != 0 && strcmp(value, "0") != 0) {
			pa_error_set(err, "%s must be true or false", k->name);
			return -1;
		}
		break;
	case PA_CONF_ENUM: {
		const char *c = k->choices;
		size_t vl = strlen(value);
		bool ok = false;

		while (c != NULL && *c != '\0') {
			const char *bar = strchr(c, '|');
			size_t cl = bar != NULL ? (size_t)(bar - c) : strlen(c);
			if (cl == vl && strncmp(c, value, vl) == 0)
				ok = true;
			c = bar != NULL ? bar + 1 : NULL;
		}
		if (!ok) {
			pa_error_set(err, "%s must be one of %s", k->name, k->choices);
			return -1;
		}
		break;
	}
	case PA_CONF_STRING:
		if (k->max > 0 && (strlen(value) < (size_t)k->min || strlen(value) > (size_t)k->max)) {
			pa_error_set(err, "%s must be %ld to %ld characters long", k->name, k->min,
				     k->max);
			return -1;
		}
		break;
	case PA_CONF_LIST:
		break;
	}
	if (k->check != NULL && k->check(value, err) != 0)
		return -1;
	if ((copy = strdup(value)) == NULL) {
		pa_error_set(err, "out of memory");
		return -1;
	}
	if (k->type == PA_CONF_LIST)
		pa_list_normalize(copy);
	*out = copy;
	return 0;
}

static void
value_set(struct load *ld, struct pa_section *s, const char *key, const char *value,
	  const char *where, int line)
{
	struct pa_error err = { { 0 } };
	char *copy = NULL;
	int i = key_index(s->keys, key);

	if (i < 0) {
		problem(ld, where, line, "unknown key '%s' in [%s]", key, s->name);
		return;
	}
	if (line > 0 && s->lines[i] > 0) {
		problem(ld, where, line, "duplicate key '%s' in [%s] (first on line %d)", key,
			s->name, s->lines[i]);
		return;
	}
	if (value_check(&s->keys[i], value, &copy, &err) != 0) {
		problem(ld, where, line, "%s", err.msg);
		return;
	}
	free(s->values[i]);
	s->values[i] = copy;
	s->lines[i] = line;
	if (s->line == 0)
		s->line = line;
}

static int
on_value(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	const struct pa_conf_key *keys;
	struct pa_section *s;

	if (section[0] == '\0') {
		problem(ld, ld->cfg->file, ld->line, "key '%s' outside a section", name);
		return 1;
	}
	if (strlen(section) >= sizeof(ld->cfg->sections[0].name)) {
		problem(ld, ld->cfg->file, ld->line, "section name too long");
		return 1;
	}
	if ((keys = section_keys(section)) == NULL) {
		problem(ld, ld->cfg->file, ld->line, pa_backend_left_out(section)
			? "section [%s]: that backend is not in this build" : "unknown section [%s]",
			section);
		return 1;
	}
	if ((s = section_get(ld->cfg, section, keys)) == NULL) {
		problem(ld, ld->cfg->file, ld->line, "too many sections");
		return 1;
	}
	value_set(ld, s, name, value, ld->cfg->file, ld->line);
	return 1;
}

/* fgets-like reader that counts lines and refuses lines that do not fit. */
static char *
reader(char *str, int num, void *stream)
{
	struct load *ld = stream;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, ld->fp);

	if (n < 0) {
		free(line);
		return NULL;
	}
	ld->line++;
	if (n > num - 1) {
		problem(ld, ld->cfg->file, ld->line, "line longer than %d characters", num - 2);
		snprintf(str, (size_t)num, "\n");
	} else {
		memcpy(str, line, (size_t)n + 1);
	}
	free(line);
	return str;
}

/* Applies PROXYAUTHD_<SECTION>_<KEY> variables. */
static void
apply_env(struct load *ld, char *const *envp)
{
	static const char prefix[] = "PROXYAUTHD_";
	char *const *e;

	for (e = envp; e != NULL && *e != NULL; e++) {
		const char *var = *e, *eq = strchr(var, '=');
		char name[128], section[64], key[64];
		const struct pa_conf_key *keys = NULL;
		struct pa_section *s;
		size_t nl, i;

		if (strncmp(var, prefix, sizeof(prefix) - 1) != 0 || eq == NULL)
			continue;
		nl = (size_t)(eq - var);
		if (pa_strlcpy_n(name, sizeof(name), var, nl) != 0) {
			problem(ld, "environment", 0, "variable name too long");
			continue;
		}
		/* The section is the longest known name that fits the prefix. */
		section[0] = '\0';
		for (i = sizeof(prefix) - 1; i < nl; i++) {
			if (name[i] != '_')
				continue;
			char cand[64];
			size_t j, cl = i - (sizeof(prefix) - 1);
			if (cl == 0 || cl >= sizeof(cand))
				continue;
			for (j = 0; j < cl; j++)
				cand[j] = (char)tolower((unsigned char)name[sizeof(prefix) - 1 + j]);
			cand[cl] = '\0';
			if (section_keys(cand) != NULL) {
				memcpy(section, cand, cl + 1);
				keys = section_keys(cand);
				if (pa_strlcpy(key, name + i + 1, sizeof(key)) != 0)
					key[0] = '\0';
			}
		}
		if (keys == NULL || key[0] == '\0') {
			problem(ld, "environment", 0, "%s: no such section or key", name);
			continue;
		}
		for (i = 0; key[i] != '\0'; i++)
			key[i] = (char)tolower((unsigned char)key[i]);
		if (key_index(keys, key) < 0) {
			problem(ld, "environment", 0, "%s: unknown key '%s' in [%s]", name, key,
				section);
			continue;
		}
		if ((s = section_get(ld->cfg, section, keys)) == NULL) {
			problem(ld, "environment", 0, "too many sections");
			continue;
		}
		char where[160];
		snprintf(where, sizeof(where), "environment: %s", name);
		value_set(ld, s, key, eq + 1, where, 0);
	}
}

struct backends_check {
	struct load *ld;
	char where[512];
	int line;
	char seen[8][32];
	int n;
};

static int
check_backend_name(const char *name, size_t len, void *arg)
{
	struct backends_check *bc = arg;
	char buf[32];
	int i;

	if (pa_strlcpy_n(buf, sizeof(buf), name, len) == 0 && pa_backend_left_out(buf)) {
		problem(bc->ld, bc->where, bc->line, "backend '%s' is not in this build (built "
			"without it; available: %s)", buf, pa_backend_names());
		return 0;
	}
	if (pa_strlcpy_n(buf, sizeof(buf), name, len) != 0 || pa_backend_find(buf) == NULL) {
		problem(bc->ld, bc->where, bc->line, "unknown backend '%.*s' (available: %s)",
			(int)len, name, pa_backend_names());
		return 0;
	}
	for (i = 0; i < bc->n; i++) {
		if (strcmp(bc->seen[i], buf) == 0) {
			problem(bc->ld, bc->where, bc->line, "backend '%s' listed twice", buf);
			return 0;
		}
	}
	if (bc->n < 8)
		snprintf(bc->seen[bc->n++], sizeof(bc->seen[0]), "%s", buf);
	return 0;
}

int
pa_config_load(const char *path, char *const *envp, struct pa_config *cfg, FILE *report)
{
	struct load ld = { .cfg = cfg, .pr = { .report = report } };
	const struct pa_section *srv;
	struct backends_check bc = { .ld = &ld };
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if ((cfg->file = strdup(path)) == NULL) {
		fprintf(report, "%s: out of memory\n", path);
		return 1;
	}
	if ((ld.fp = fopen(path, "r")) == NULL) {
		problem(&ld, path, 0, "cannot open: %s", strerror(errno));
		return ld.pr.n;
	}
	rc = ini_parse_stream(reader, &ld, on_value, &ld);
	fclose(ld.fp);
	if (rc > 0)
		problem(&ld, path, rc, "syntax error (expected [section] or key = value)");
	else if (rc < 0)
		problem(&ld, path, 0, "cannot read");
	apply_env(&ld, envp);

	/* The server section always exists, so that getters see one. */
	if (section_get(cfg, "server", pa_server_keys) == NULL)
		problem(&ld, path, 0, "out of memory");
	srv = pa_config_section(cfg, "server");
	pa_conf_where(srv, "backends", bc.where, sizeof(bc.where));
	bc.line = 0;		/* already in where */
	if (srv != NULL) {
		const char *list = pa_conf_str(srv, pa_server_keys, "backends");
		if (list[0] == '\0')
			problem(&ld, bc.where, 0, "backends must name at least one backend");
		pa_list_foreach(list, check_backend_name, &bc);
	}
	return ld.pr.n;
}

void
pa_config_free(struct pa_config *cfg)
{
	int i, k;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nsections; i++) {
		struct pa_section *s = &cfg->sections[i];
		for (k = 0; s->keys != NULL && s->keys[k].name != NULL; k++)
			free(s->values[k]);
		free(s->values);
		free(s->lines);
	}
	free(cfg->file);
	memset(cfg, 0, sizeof(*cfg));
}

const struct pa_section *
pa_config_section(const struct pa_config *cfg, const char *name)
{
	int i;

	for (i = 0; i < cfg->nsections; i++)
		if (strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

const char *
pa_conf_str(const struct pa_section *sec, const struct pa_conf_key *keys, const char *key)
{
	int i;

	if (sec != NULL)
		keys = sec->keys;
	if ((i = key_index(keys, key)) < 0) {
		fprintf(stderr, "proxyauthd: internal error: undeclared key %s\n", key);
		abort();
	}
	if (sec != NULL && sec->values[i] != NULL)
		return sec->values[i];
	return keys[i].def != NULL ? keys[i].def : "";
}

long
pa_conf_int(const struct pa_section *sec, const struct pa_conf_key *keys, const char *key)
{
	long v = 0;

	(void)pa_parse_long(pa_conf_str(sec, keys, key), LONG_MIN, LONG_MAX, &v);
	return v;
}

bool
pa_conf_bool(const struct pa_section *sec, const struct pa_conf_key *keys, const char *key)
{
	const char *v = pa_conf_str(sec, keys, key);

	return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
	    strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;
}

void
pa_conf_where(const struct pa_section *sec, const char *key, char *buf, size_t len)
{
	int i = sec != NULL ? key_index(sec->keys, key) : -1;

	if (sec == NULL || i < 0)
		snprintf(buf, len, "%s", sec != NULL && sec->file != NULL ? sec->file : "config");
	else if (sec->lines[i] > 0)
		snprintf(buf, len, "%s:%d", sec->file, sec->lines[i]);
	else if (sec->values[i] != NULL) {
		size_t j, n = (size_t)snprintf(buf, len, "environment: PROXYAUTHD_%s_%s",
					       sec->name, key);
		for (j = 13; j < n && j < len; j++)
			buf[j] = (char)toupper((unsigned char)buf[j]);
	}
	else
		snprintf(buf, len, "%s", sec->file);
}
