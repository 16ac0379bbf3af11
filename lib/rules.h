/*
 * Authorisation rules (SPEC section 5): [server] require_groups, and
 * [rule NAME] sections matched in file order against the forwarded host
 * and path.  The first rule that matches decides; none matching falls back
 * to [server].  Rules apply after authentication, cached answers included.
 *
 * While rules exist, a host or path that the proxy and the application
 * could read differently is refused (403) instead of guessed at: see
 * pa_path_canon() and pa_host_canon().
 */
#ifndef PA_RULES_H
#define PA_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct pa_rule {
	char name[64];
	char *host;		/* "" any, "app.example.org" or "*.example.org" */
	char *path_prefix;	/* "" any; canonical, no trailing '/' but "/" */
	char *require_groups;	/* normalised comma list; "" any authenticated user */
	bool path_sensitive;	/* path_case = sensitive */
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
 * host and path are the raw header values (may be NULL: a rule naming a
 * host or a path prefix then does not match).  Returns NULL when rules
 * exist and the host or path is ambiguous (answer 403); *why (may be
 * NULL) then gets the reason.  *rule (may be NULL) gets the matching
 * rule's name or NULL.
 */
const char *pa_rules_required(const struct pa_rules *r, const char *host, size_t host_len,
			      const char *path, size_t path_len, const char **rule,
			      const char **why);

/* True when required is empty or groups holds one of its names. */
bool pa_groups_satisfy(const char *required, const char *groups);

/*
 * The path of a request URI (an origin-form path, or an absolute URL as
 * in X-Original-URL) as the rules compare it: the query cut at the first
 * '?' before decoding, percent-decoded once, "//" merged into "/".
 * Returns 0 with the path in out[size], or -1 and a static reason in *why
 * for what applications read differently: a '#', an empty or relative
 * path, a path starting with "//", a bad escape, "%25" (double
 * encoding), an encoded '/', '\', '?', a '\', a ';' (path parameters), a
 * "." or ".." segment, a control character or NUL, invalid UTF-8 after
 * decoding, or a path too long.
 * An accepted path never holds any of them.
 */
int pa_path_canon(const char *in, size_t len, char *out, size_t size, const char **why);

/*
 * A Host or X-Forwarded-Host value as the rules compare it: lowercased,
 * without its port and without one trailing dot.  Returns 0 with the
 * host in out[size], or -1 and a static reason in *why when it is not a
 * plain DNS name (letters, digits, '-', '.'; IDNA A-labels are such
 * names), a dotted-quad IPv4 address or a bracketed IPv6 address:
 * empty, whitespace, '@', a list, two trailing dots, a bad port, an
 * IPv4 address in another notation.
 */
int pa_host_canon(const char *in, size_t len, char *out, size_t size, const char **why);

/*
 * True when the canonical path lies under prefix, whole segments only:
 * "/admin" covers "/admin", "/admin/" and "/admin/x" but not
 * "/administrator" or "/admin-tools"; a segment followed by a suffix
 * that starts with '.', ' ' or ':' is that segment ("/admin.json",
 * "/admin./x", "/admin::$DATA": Rails formats, Spring suffix patterns,
 * Windows paths and NTFS streams).  Unless
 * sensitive, letters compare without case (every letter, by the C.UTF-8
 * case mappings).
 */
bool pa_path_under(const char *path, const char *prefix, bool sensitive);

/*
 * True when two context header values name the same path (the path of
 * each, as pa_path_canon() gives it, byte for byte) or the same host (as
 * pa_host_canon() gives it).  False when either is refused.  A request
 * whose X-Forwarded-Uri, X-Original-URI and X-Original-URL disagree is
 * ambiguous: a proxy that sets one may pass the client's other.
 */
bool pa_paths_agree(const char *a, size_t alen, const char *b, size_t blen);
bool pa_hosts_agree(const char *a, size_t alen, const char *b, size_t blen);

/* The length of the "scheme://" that begins an absolute URL (RFC 3986
 * scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), or 0. */
size_t pa_url_scheme_len(const char *in, size_t len);

#endif
