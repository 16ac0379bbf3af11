/*
 * Logging to standard error: one line per decision (SPEC section 7) and
 * operational messages, as logfmt text or JSON.  Each line is built in a
 * bounded buffer and written with a single write(2), so lines from many
 * threads never interleave.  Untrusted text (user names, URIs, hosts) is
 * escaped; nothing here ever takes a password or a credentials header.
 */
#ifndef PA_LOG_H
#define PA_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pa_log_level { PA_LOG_ERROR, PA_LOG_WARN, PA_LOG_INFO, PA_LOG_DEBUG };

struct pa_log {
	int fd;
	bool json;
	enum pa_log_level level;
};

/* Sets up a logger writing to fd with format "text"/"json" and a level name. */
void pa_log_init(struct pa_log *log, int fd, const char *format, const char *level);

/* An operational message.  fmt's output is escaped like any other value. */
void pa_log_msg(const struct pa_log *log, enum pa_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One field of a decision line; value NULL means "leave the field out". */
struct pa_log_field {
	const char *key;
	const char *value;
	size_t len;		/* SIZE_MAX: strlen(value) */
	bool number;		/* JSON: emit unquoted */
};

/* Writes one decision line: time first, then the fields in order. */
void pa_log_fields(const struct pa_log *log, enum pa_log_level level,
		   const struct pa_log_field *fields, int nfields);

#endif
