/*
 * libFuzzer target: the configuration loader (libinih with our line
 * reader, every key check, [rule] sections) on any file text.  The text
 * goes through a memfd, since the loader reads a path as proxyauthd does.
 * Every problem must be reported as "path:line: message" on one line.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const no_env[] = { NULL };
	struct pa_config cfg;
	char path[64], *report = NULL;
	size_t report_len = 0;
	FILE *rp;
	int fd, problems;

	if ((fd = memfd_create("fuzz.conf", MFD_CLOEXEC)) < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((rp = open_memstream(&report, &report_len)) == NULL)
		abort();
	problems = pa_config_load(path, no_env, &cfg, rp);
	fclose(rp);
	/* Each reported problem is one line that starts with the path. */
	if (problems > 0) {
		char *line = report, *nl;

		if (report_len == 0)
			abort();
		while (line < report + report_len) {
			nl = memchr(line, '\n', (size_t)(report + report_len - line));
			if (nl == NULL || strncmp(line, path, strlen(path)) != 0)
				abort();
			line = nl + 1;
		}
	}
	/* Whatever was accepted can be read back. */
	if (problems == 0) {
		const struct pa_section *srv = pa_config_section(&cfg, "server");

		(void)pa_conf_str(srv, pa_server_keys, "listen");
		(void)pa_conf_int(srv, pa_server_keys, "cache_ttl");
	}
	pa_config_free(&cfg);
	free(report);
	close(fd);
	return 0;
}
