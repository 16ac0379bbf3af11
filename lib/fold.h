/*
 * The folded form of a user name, the key under which the lockout counts
 * it (SPEC section 5).  Directories match names loosely: slapd's
 * caseIgnoreMatch decomposes compatibility characters, lower-cases and
 * drops insignificant spaces, so "ALICE", fullwidth "ａｌｉｃｅ" and
 * "alice " all bind as alice.  Every such variant must share one counter,
 * so the fold is at least as loose: Unicode NFKC with full case folding
 * (libunistring), default-ignorable code points dropped, U+0130 (İ) taken
 * as "i" as slapd's simple lower-casing does, leading and trailing spaces
 * trimmed and inner runs of spaces made one.  Folding more loosely than a
 * backend is safe (two names share a counter); less loosely is a bypass.
 */
#ifndef PA_FOLD_H
#define PA_FOLD_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a folded name with its NUL.  A fold longer than this (NFKC can
 * grow a string elevenfold) is replaced by "#" and the hex SHA-256 of the
 * fold, so the key stays bounded and still one per name. */
#define PA_FOLD_MAX 512

/* Folds in[0..len) into out[PA_FOLD_MAX] (NUL-terminated) and returns its
 * length.  A name of spaces only folds to " "; text that is not UTF-8
 * or holds NUL (never passed by the credentials parser) is folded as
 * ASCII bytes, NUL as '?'. */
size_t pa_fold_user(const char *in, size_t len, char *out);

/* The same; *hashed (may be NULL) says whether out is the "#" digest of a
 * fold too long to keep rather than the fold itself. */
size_t pa_fold_user_hashed(const char *in, size_t len, char *out, bool *hashed);

/* Why the canonical name s must not go upstream as X-Auth-User, or NULL
 * when it may.  The fold above makes blanks at the ends, runs of blanks,
 * other Unicode blanks (U+00A0, U+3000...) and invisible (default-
 * ignorable) code points vanish, and so do the next components: proxies
 * strip the blanks around a header value, Go's strings.TrimSpace and
 * NFKC-normalising applications the Unicode ones, displays the invisible
 * ones.  A name holding any of them would read as someone else's
 * ("alice ", "alice\u00a0", "ali\u00adce", "john  smith"), so it is
 * refused; so is a combining mark first or after a blank ("\u0301admin"
 * shows its accent on what precedes the name, and MySQL's accent-
 * insensitive collations take it for admin).  Allowed: one U+0020 between two other characters, and the
 * joiners U+200C and U+200D inside a name (Persian and Indic scripts
 * need them).  Bytes that are not UTF-8 are checked as ASCII. */
const char *pa_name_unsafe(const char *s);

#endif
