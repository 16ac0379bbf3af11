/*
 * Kerberos single sign-on through `Negotiate` (RFC 4559): the [negotiate]
 * section, the acceptor credential from its keytab, and the verification
 * of one SPNEGO token with gss_accept_sec_context().  Verification may
 * read the keytab and the replay cache, so it runs on the worker pool,
 * never on the event loop (pipeline.c calls it from pa_decide_lookup()).
 *
 * A verified token yields the client principal; after the realm check it
 * becomes the name handed on (without the realm with strip_realm).  Only
 * single-round SPNEGO is accepted: a token that would need another round
 * is refused.  Where the mechanism returns a mutual-authentication reply,
 * it is given back in base64 for `Proxy-Authenticate: Negotiate <reply>`.
 *
 * A struct pa_negotiate is immutable once open and may be used from many
 * threads at once (MIT's acceptor credential locks itself).
 */
#ifndef PA_NEGOTIATE_H
#define PA_NEGOTIATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "error.h"
#include "log.h"

#define PA_NEGOTIATE_REPLY_MAX 2048

/* The keys of [negotiate]. */
extern const struct pa_conf_key pa_negotiate_keys[];

enum pa_negotiate_groups {
	PA_NEG_GROUPS_NONE,
	PA_NEG_GROUPS_LDAP,
};

struct pa_negotiate;

/* What one verified token says. */
struct pa_negotiate_answer {
	char principal[PA_USER_MAX + 1];	/* alice@EXAMPLE.ORG */
	char name[PA_USER_MAX + 1];		/* what is handed on */
	uint64_t lifetime_s;			/* the context's (ticket's) time left;
						 * UINT64_MAX: not known */
	char reply[PA_NEGOTIATE_REPLY_MAX];	/* "Negotiate <base64>" or "" */
	bool mutual;				/* the client asked for mutual
						 * authentication: reply is for it */
};

/*
 * Opens the [negotiate] section sec (not NULL): checks the keys, the
 * keytab (present, a regular file, not readable by group or others) and
 * acquires the acceptor credential from it, so that a keytab that cannot
 * be used is a start-up error (and one that proxyauthd -t reports).
 * Returns 0 and *out, or -1 with err set ("file:line: message").
 */
int pa_negotiate_open(const struct pa_section *sec, const struct pa_log *log,
		      struct pa_negotiate **out, struct pa_error *err);

/* Safe on NULL. */
void pa_negotiate_close(struct pa_negotiate *n);

/* After proxyauthd gave up root (`user`): 0 when the keytab, which every
 * worker reads when it first accepts, is still readable; else -1 with err
 * set, and proxyauthd refuses to run. */
int pa_negotiate_check_access(const struct pa_negotiate *n, struct pa_error *err);

/*
 * Verifies the SPNEGO token tok[0..len).  PA_GRANTED with a filled,
 * realm-checked, well-formed name; PA_DENIED with err holding the GSS
 * reason (bad token, wrong service principal, wrong realm, expired
 * ticket, replay, ...); PA_UNAVAILABLE when the keytab itself cannot be
 * used now.  Never logs; the token is not copied.
 */
enum pa_result pa_negotiate_accept(const struct pa_negotiate *n, const unsigned char *tok,
				   size_t len, struct pa_negotiate_answer *a, struct pa_error *err);

/* Where the groups come from, and the LDAP filter template for them (%u
 * the handed-on name, %p the whole principal). */
enum pa_negotiate_groups pa_negotiate_groups_from(const struct pa_negotiate *n);
const char *pa_negotiate_ldap_filter(const struct pa_negotiate *n);
/* name_case = exact: an entry found by a %u filter must carry the
 * principal's name exactly, case included (MIT principals are
 * case-sensitive; the directory's uid matching is not). */
bool pa_negotiate_name_exact(const struct pa_negotiate *n);

#endif
