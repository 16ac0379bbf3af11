/*
 * The compiled-in backends, in one static array (as curl lists its TLS
 * backends), each network backend under its build option (PA_WITH_LDAP,
 * PA_WITH_POSTGRES, PA_WITH_REDIS).  A backend is added here and in
 * CMakeLists.txt, nowhere else; the names shown to users are derived from
 * this array.
 */
#include "backend.h"

#include <pthread.h>
#include <string.h>

extern const struct pa_backend_ops pa_htpasswd_ops;
extern const struct pa_backend_ops pa_redis_ops;
extern const struct pa_backend_ops pa_postgres_ops;
extern const struct pa_backend_ops pa_ldap_ops;

static const struct pa_backend_ops *const backends[] = {
	&pa_htpasswd_ops,
#ifdef PA_WITH_REDIS
	&pa_redis_ops,
#endif
#ifdef PA_WITH_POSTGRES
	&pa_postgres_ops,
#endif
#ifdef PA_WITH_LDAP
	&pa_ldap_ops,
#endif
};

#define NBACKENDS (sizeof(backends) / sizeof(backends[0]))

/* Every backend proxyauthd knows, built in or not, for a clear message
 * when a configuration names one this build left out. */
static const char *const known[] = { "htpasswd", "redis", "postgres", "ldap" };

static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static char names[128];

static void
make_names(void)
{
	size_t i, pos = 0, n;

	for (i = 0; i < NBACKENDS; i++) {
		n = strlen(backends[i]->name);
		if (pos + n + 3 > sizeof(names))
			break;
		if (i > 0) {
			memcpy(names + pos, ", ", 2);
			pos += 2;
		}
		memcpy(names + pos, backends[i]->name, n);
		pos += n;
	}
	names[pos] = '\0';
}

const struct pa_backend_ops *
pa_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < NBACKENDS; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const char *
pa_backend_names(void)
{
	pthread_once(&names_once, make_names);
	return names;
}

bool
pa_backend_left_out(const char *name)
{
	size_t i;

	if (pa_backend_find(name) != NULL)
		return false;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i], name) == 0)
			return true;
	return false;
}
