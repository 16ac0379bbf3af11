/*
 * Line logger.  The buffer is fixed (8 KiB); a field that does not fit is
 * dropped and the line is marked truncated=true, so a line is always
 * whole and parseable.
 */
#include "log.h"
#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

void
pa_log_init(struct pa_log *log, int fd, const char *format, const char *level)
{
	log->fd = fd;
	log->json = format != NULL && strcmp(format, "json") == 0;
	log->level = PA_LOG_INFO;
	if (level == NULL)
		return;
	if (strcmp(level, "error") == 0)
		log->level = PA_LOG_ERROR;
	else if (strcmp(level, "warn") == 0)
		log->level = PA_LOG_WARN;
	else if (strcmp(level, "debug") == 0)
		log->level = PA_LOG_DEBUG;
}

static const char *level_names[] = { "error", "warn", "info", "debug" };

static _Thread_local time_t ts_sec = -1;
static _Thread_local char ts_date[64];

static bool
needs_quotes(const char *v, size_t len)
{
	size_t i;

	if (len == 0)
		return true;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f)
			return true;
	}
	return false;
}

static void
write_line(const struct pa_log *log, enum pa_log_level level,
	   const struct pa_log_field *fields, int nfields)
{
	char buf[LOG_LINE_MAX], ts[96];
	size_t pos = 0;
	struct timeval tv;
	struct tm tm;
	bool truncated = false;
	int i;

	gettimeofday(&tv, NULL);
	/* The date part changes once a second: format it then, per thread. */
	if (tv.tv_sec != ts_sec) {
		gmtime_r(&tv.tv_sec, &tm);
		snprintf(ts_date, sizeof(ts_date), "%04d-%02d-%02dT%02d:%02d:%02d",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec);
		ts_sec = tv.tv_sec;
	}
	{
		size_t dl = strlen(ts_date);
		long us = (long)tv.tv_usec;
		int k;

		memcpy(ts, ts_date, dl);
		ts[dl] = '.';
		for (k = 6; k >= 1; k--, us /= 10)
			ts[dl + (size_t)k] = (char)('0' + us % 10);
		ts[dl + 7] = 'Z';
		ts[dl + 8] = '\0';
	}
	buf[0] = '\0';
	if (log->json)
		pos = (size_t)snprintf(buf, sizeof(buf), "{\"time\":\"%s\",\"level\":\"%s\"", ts,
				       level_names[level]);
	else
		pos = (size_t)snprintf(buf, sizeof(buf), "time=%s level=%s", ts,
				       level_names[level]);
	for (i = 0; i < nfields; i++) {
		const struct pa_log_field *f = &fields[i];
		size_t len, save = pos;
		int rc = 0;

		if (f->value == NULL)
			continue;
		len = f->len == SIZE_MAX ? strlen(f->value) : f->len;
		if (log->json) {
			rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, ",\"", 2);
			rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, f->key, strlen(f->key));
			rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, f->number ? "\":" : "\":\"",
					    f->number ? 2 : 3);
			rc |= pa_escape_append(buf, sizeof(buf) - 2, &pos, f->value, len, true);
			if (!f->number)
				rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, "\"", 1);
		} else {
			bool q = needs_quotes(f->value, len);
			rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, " ", 1);
			rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, f->key, strlen(f->key));
			rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, q ? "=\"" : "=", q ? 2 : 1);
			rc |= pa_escape_append(buf, sizeof(buf) - 2, &pos, f->value, len, false);
			if (q)
				rc |= pa_buf_append(buf, sizeof(buf) - 2, &pos, "\"", 1);
		}
		if (rc != 0) {
			pos = save;
			buf[pos] = '\0';
			truncated = true;
		}
	}
	if (truncated) {
		const char *t = log->json ? ",\"truncated\":true" : " truncated=true";
		if (pa_buf_append(buf, sizeof(buf) - 2, &pos, t, strlen(t)) != 0)
			truncated = false;
	}
	if (log->json)
		buf[pos++] = '}';
	buf[pos++] = '\n';
	(void)!write(log->fd, buf, pos);
}

void
pa_log_fields(const struct pa_log *log, enum pa_log_level level,
	      const struct pa_log_field *fields, int nfields)
{
	if (level > log->level)
		return;
	write_line(log, level, fields, nfields);
}

void
pa_log_msg(const struct pa_log *log, enum pa_log_level level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	struct pa_log_field f = { "msg", msg, SIZE_MAX, false };

	if (level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_line(log, level, &f, 1);
}
