/*
 * Small bounded string routines shared by the parsers and the logger:
 * UTF-8 validation, bounded copies that report truncation, comma lists,
 * and escaping of untrusted text for log lines.
 */
#ifndef PA_TEXT_H
#define PA_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (no overlongs, no surrogates,
 * nothing above U+10FFFF). */
bool pa_utf8_valid(const char *s, size_t len);

/* True when s[0..len) holds a C0 control, DEL, or a C1 control
 * (U+0080..U+009F) encoded in UTF-8.  Assumes valid UTF-8. */
bool pa_has_control(const char *s, size_t len);

/* Copies src into dst[dstlen] with NUL.  Returns 0, or -1 when src does
 * not fit (dst then holds the empty string, never a truncated copy). */
int pa_strlcpy(char *dst, const char *src, size_t dstlen);

/* Same for a counted source. */
int pa_strlcpy_n(char *dst, size_t dstlen, const char *src, size_t srclen);

/* Case-insensitive ASCII comparison of a counted string with a C string. */
bool pa_strieq_n(const char *a, size_t alen, const char *b);

/* Normalises a comma-separated list in place: names trimmed of spaces and
 * tabs, empty names dropped, joined with ",".  Returns the number of names. */
int pa_list_normalize(char *s);

/* Calls fn for every name of a normalised comma list; stops early and
 * returns fn's non-zero result. */
int pa_list_foreach(const char *list, int (*fn)(const char *name, size_t len, void *arg),
		    void *arg);

/* True when the comma list holds name (exact, case-sensitive). */
bool pa_list_contains(const char *list, const char *name, size_t namelen);

/* Appends src[0..len) to a log buffer with escaping: control characters,
 * DEL, backslash, double quote and invalid UTF-8 bytes become \n, \t,
 * \\, \", or \xNN, so a value can never start a new log line or close a
 * quoted field; U+2028, U+2029 and the bidi controls become \uNNNN, so
 * a value can neither split a line for a splitlines() reader nor show
 * reversed.  `json` selects JSON escapes (\u00NN) for controls.
 * Returns 0, or -1 when the buffer is full (the output then ends after
 * the last character that fitted whole; buf stays NUL-terminated). */
int pa_escape_append(char *buf, size_t size, size_t *pos, const char *src, size_t len,
		     bool json);

/* Appends src[0..len) whole, or nothing and returns -1 when it does not
 * fit.  buf[*pos] is NUL afterwards when *pos < size. */
int pa_buf_append(char *buf, size_t size, size_t *pos, const char *src, size_t len);

/* The value of a hexadecimal digit, or -1. */
int pa_hex_value(int c);

/* Parses a decimal integer within [min, max].  Returns 0 or -1. */
int pa_parse_long(const char *s, long min, long max, long *out);

#endif
