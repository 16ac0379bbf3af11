/*
 * Authorisation rules (SPEC section 5): [server] require_groups, and
 * [rule NAME] sections matched in file order against the forwarded host
 * and path.  The first rule that matches decides; none matching falls back
 * to [server].  Rules apply after authentication, cached answers included.
 */
#ifndef PA_RULES_H
#define PA_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct pa_rule {
	char name[64];
	char *host;		/* "" any, "app.example.org" or "*.example.org" */
	char *path_prefix;	/* "" any */
	char *require_groups;	/* normalised comma list; "" any authenticated user */
};

struct pa_rules {
	size_t n;
	struct pa_rule *v;
	char *server_groups;
};

extern const struct pa_conf_key pa_rule_keys[];

/* Builds the rules from cfg.  Returns 0, or -1 with err set. */
int pa_rules_load(const struct pa_config *cfg, struct pa_rules *out, struct pa_error *err);
void pa_rules_free(struct pa_rules *r);

/*
 * The groups a request needs: the first matching rule's, else [server]'s.
 * host and path are the raw header values (may be NULL); the host loses
 * its port and case, the path its query and is normalised (percent-
 * decoding, "//", "." and ".." resolved) before matching.  Returns NULL
 * when rules exist and the path cannot be normalised (answer 403).
 * *rule (may be NULL) gets the matching rule's name or NULL.
 */
const char *pa_rules_required(const struct pa_rules *r, const char *host, size_t host_len,
			      const char *path, size_t path_len, const char **rule);

/* True when required is empty or groups holds one of its names. */
bool pa_groups_satisfy(const char *required, const char *groups);

/* Normalises an URI's path into out[size]; 0 or -1 (bad escape, control
 * character, too long).  Exposed for tests. */
int pa_path_normalize(const char *in, size_t len, char *out, size_t size);

#endif
