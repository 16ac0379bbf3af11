/*
 * PostgreSQL backend: the [postgres] keys, open and close (see pgb.h for
 * the other files).  conninfo must not hold the password (password_file
 * does, handed to libpq as its own keyword); open warns once when a
 * remote server's certificate is not verified, makes the pool (nothing
 * connects yet) and, unless only checking (-t), starts the listener.
 * Close stops the listener, closes the pool and scrubs the password.
 */
#include "pgb.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
check_conninfo(const char *value, struct pa_error *err)
{
	PQconninfoOption *opts, *o;
	char *msg = NULL;
	int rc = 0;

	if ((opts = PQconninfoParse(value, &msg)) == NULL) {
		size_t n = msg != NULL ? strcspn(msg, "\n") : 0;

		pa_error_set(err, "conninfo: %.*s", (int)n, msg != NULL ? msg : "out of memory");
		PQfreemem(msg);
		return -1;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL) {
			pa_error_set(err, "conninfo must not hold the password: put it into "
				     "password_file (or a PGPASSFILE)");
			rc = -1;
		}
	}
	PQconninfoFree(opts);
	return rc;
}

static const struct pa_conf_key pg_keys[] = {
	{ "conninfo", PA_CONF_STRING, 0, 0, "", NULL, check_conninfo },
	{ "password_file", PA_CONF_STRING, 0, 0, NULL, NULL, NULL },
	{ "timeout_ms", PA_CONF_INT, 10, 60000, "2000", NULL, NULL },
	{ "pool_size", PA_CONF_INT, 1, 256, "8", NULL, NULL },
	{ "prepare", PA_CONF_BOOL, 0, 0, "true", NULL, NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

static void pg_close(void *ctx);

/* True for a unix socket path or a loopback host name or address. */
static bool
local_host(const char *h)
{
	return h[0] == '/' || h[0] == '@' || strcmp(h, "localhost") == 0 ||
	       strncmp(h, "127.", 4) == 0 || strcmp(h, "::1") == 0;
}

/* libpq's default sslmode (prefer) takes any certificate, or none: on a
 * network, whoever sits on the path can pose as the server and answer for
 * any user.  Said once at start when the server is not on this host and
 * its certificate is not verified. */
static void
warn_unverified_tls(const struct pg *g)
{
	PQconninfoOption *opts = PQconninfoParse(g->conninfo, NULL), *o;
	const char *mode = NULL, *host = NULL, *addr = NULL;
	bool remote = false;

	for (o = opts; o != NULL && o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "sslmode") == 0)
			mode = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			addr = o->val;
	}
	if (mode == NULL)
		mode = getenv("PGSSLMODE");
	if (host == NULL && addr == NULL)
		host = getenv("PGHOST");
	/* a comma list of hosts: remote when any is */
	for (const char *list = addr != NULL ? addr : host; list != NULL && *list != '\0';) {
		char one[256];
		size_t n = strcspn(list, ",");

		snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) ? n : sizeof(one) - 1),
			 list);
		remote = remote || !local_host(one);
		list += n + (list[n] == ',');
	}
	if (remote && (mode == NULL || (strcmp(mode, "verify-full") != 0 &&
					strcmp(mode, "verify-ca") != 0)))
		pa_log_msg(g->env->log, PA_LOG_WARN, "postgres: the server's certificate is not "
			   "verified (sslmode=%s): whoever sits on the network path can pose as "
			   "the server and answer for any user; set sslmode=verify-full in "
			   "conninfo", mode != NULL ? mode : "prefer");
	PQconninfoFree(opts);
}

static int
pg_open(const struct pa_section *conf, const struct pa_backend_env *env, void **ctx,
	struct pa_error *err)
{
	struct pg *g;
	long size;

	*ctx = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		goto oom;
	g->env = env;
	pa_reference_init(&g->reference);
	pgb_name_statement(g);
	/* false: behind a pooler that passes the server's process id on */
	atomic_init(&g->unprepared, !pa_conf_bool(conf, pg_keys, "prepare"));
	g->timeout_ms = pa_conf_int(conf, pg_keys, "timeout_ms");
	snprintf(g->timeout_text, sizeof(g->timeout_text), "%ld", g->timeout_ms);
	/* libpq counts whole seconds and takes less than 2 as 2; the poll()
	 * deadline is what bounds a connect. */
	snprintf(g->connect_timeout, sizeof(g->connect_timeout), "%ld",
		 (g->timeout_ms + 999) / 1000 < 2 ? 2 : (g->timeout_ms + 999) / 1000);
	size = pa_conf_int(conf, pg_keys, "pool_size");
	g->pool = pa_connpool_new(&pgb_driver, g, (int)size, env->log);
	if ((g->conninfo = strdup(pa_conf_str(conf, pg_keys, "conninfo"))) == NULL ||
	    g->pool == NULL) {
		pg_close(g);
		goto oom;
	}
	if (pa_backend_read_secret(conf, pg_keys, "password_file", g->password, sizeof(g->password),
				   err) != 0) {
		pg_close(g);
		return -1;
	}
	if (!env->check_only)
		warn_unverified_tls(g);
	if (!env->check_only && env->invalidate != NULL) {
		struct pa_watcher_config wc = {
			.src = &pgb_listener, .ctx = g, .up = "listening on " PG_CHANNEL,
			.down = "cannot listen on " PG_CHANNEL, .conn_name = "listening connection",
			.open_timeout_ms = g->timeout_ms, .log = env->log,
			.invalidate = env->invalidate, .expire = env->expire, .deaf = env->deaf,
			.invalidate_arg = env->invalidate_arg,
		};

		if ((g->listener = pa_watcher_start(&wc, err)) == NULL) {
			pg_close(g);
			return -1;
		}
	}
	*ctx = g;
	return 0;
oom:
	pa_error_set(err, "out of memory");
	return -1;
}

static void
pg_close(void *ctx)
{
	struct pg *g = ctx;

	if (g == NULL)
		return;
	atomic_store(&g->closing, true);
	pa_watcher_stop(g->listener);
	pa_connpool_free(g->pool);
	free(g->conninfo);
	OPENSSL_cleanse(g->password, sizeof(g->password));
	pa_reference_destroy(&g->reference);
	free(g);
}

const struct pa_backend_ops pa_postgres_ops = {
	.name = "postgres",
	.keys = pg_keys,
	.open = pg_open,
	.verify = pgb_verify,
	.probe = pgb_probe,
	.reload = NULL,
	.close = pg_close,
};
