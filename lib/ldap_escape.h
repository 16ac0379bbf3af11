/*
 * Escaping values for LDAP, as pure functions with bounded outputs, and
 * their inverses.  A user name is only ever put into a DN through
 * pa_ldap_escape_dn() (RFC 4514) and into a search filter through
 * pa_ldap_escape_filter() (RFC 4515), so no name can change the shape of
 * the DN or the filter it lands in.
 *
 * Every function takes an input of known length (it may hold NUL bytes),
 * writes a NUL-terminated result into out[size] and returns the length
 * written without the NUL, or -1 when the result does not fit (out is then
 * ""), or, for the inverses, when the input is not a valid escaped form.
 * Nothing is cut silently.
 */
#ifndef PA_LDAP_ESCAPE_H
#define PA_LDAP_ESCAPE_H

#include <stddef.h>

/*
 * RFC 4514 attribute value: every character of "\"+,;<=>\\" and '#' as
 * "\XX" hex pairs, as are NUL, other control characters and DEL; a space
 * as "\20" at the start or the end.  UTF-8 (and any other byte >= 0x80)
 * passes as it is.  Hex pairs are used rather than "\," so the result
 * contains no special character outside an escape.
 */
int pa_ldap_escape_dn(const char *in, size_t inlen, char *out, size_t size);

/* The inverse: "\XX" hex pairs and "\" before any one of the RFC 4514
 * specials (" # + , ; < = > \ and space).  An unescaped special, a lone
 * or trailing "\", or a bad hex pair is -1. */
int pa_ldap_unescape_dn(const char *in, size_t inlen, char *out, size_t size);

/* RFC 4515 assertion value: '*', '(', ')', '\' and NUL as "\2a" "\28"
 * "\29" "\5c" "\00"; every other byte as it is. */
int pa_ldap_escape_filter(const char *in, size_t inlen, char *out, size_t size);

/* The inverse: "\XX" hex pairs only; an unescaped '*', '(', ')' or NUL, a
 * lone "\" or a bad hex pair is -1. */
int pa_ldap_unescape_filter(const char *in, size_t inlen, char *out, size_t size);

/*
 * Copies tmpl into out with every "%<code>" replaced by value (already
 * escaped by the caller for where it goes) and "%%" by "%".  Any other
 * '%' sequence, or a template without "%<code>", is -1, as is a result
 * that does not fit.  Returns the length written.
 */
int pa_ldap_expand(const char *tmpl, char code, const char *value, char *out, size_t size);

#endif
