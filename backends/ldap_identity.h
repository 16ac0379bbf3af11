/*
 * The LDAP backend's "who is this name" entry point, for identities
 * proven another way (Kerberos Negotiate): the user's entry found by a
 * filter with the service account (search-then-bind only), its canonical
 * name, groups and expiry read as for a password login, and no bind as
 * the user.  Declared apart from backend.h because only the Negotiate
 * path uses it; defined in backends/ldap/lookup.c.
 */
#ifndef PA_LDAP_IDENTITY_H
#define PA_LDAP_IDENTITY_H

#include "backend.h"

#include <stdbool.h>

/*
 * ctx is the LDAP backend's (pa_ldap_ops.open).  filter_template holds
 * %u (replaced by name) or %p (by principal), each filter-escaped.
 * PA_GRANTED fills who (the entry's user_name_attribute or name, groups,
 * expiry); PA_NOT_FOUND when nothing matches; PA_DENIED (err says why)
 * for several matches, an expired account, groups that do not fit, or,
 * with exact_name and a %u filter, an entry whose user_name_attribute is
 * not name byte for byte (the directory matched it ignoring case);
 * PA_UNAVAILABLE when the server did not answer.  Thread-safe.
 */
enum pa_result pa_ldap_identity_for(void *ctx, const char *filter_template, const char *name,
				    const char *principal, bool exact_name,
				    struct pa_identity *who, struct pa_error *err);

/*
 * At start: 0 when the backend can find entries for principals with
 * filter_template (search-then-bind) and, with exact_name, when every %u
 * of the filter is matched as (user_name_attribute=%u), the attribute the
 * exact comparison reads; else -1 with err saying what to change.
 */
int pa_ldap_identity_check(const void *ctx, const char *filter_template, bool exact_name,
			   struct pa_error *err);

#endif
