/*
 * The compiled-in backends, in one static array (as curl lists its TLS
 * backends).  A backend is added here and in CMakeLists.txt, nowhere else.
 */
#include "backend.h"

#include <string.h>

extern const struct pa_backend_ops pa_htpasswd_ops;
extern const struct pa_backend_ops pa_redis_ops;
extern const struct pa_backend_ops pa_postgres_ops;
extern const struct pa_backend_ops pa_ldap_ops;

static const struct pa_backend_ops *const backends[] = {
	&pa_htpasswd_ops,
	&pa_redis_ops,
	&pa_postgres_ops,
	&pa_ldap_ops,
};

const struct pa_backend_ops *
pa_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

const char *
pa_backend_names(void)
{
	return "htpasswd, redis, postgres, ldap";
}
