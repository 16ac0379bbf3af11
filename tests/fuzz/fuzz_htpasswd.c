/*
 * libFuzzer target: the htpasswd parser on any file text (through a
 * memfd).  An accepted file must give a table sorted by user in which
 * every entry is found by its name (and by its folded name), with no
 * empty user and no field holding ':' or a newline.
 */
#include "htpasswd.h"

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
	struct pa_htpasswd_table *t = NULL;
	struct pa_error err = { { 0 } };
	char path[64];
	size_t i;
	int fd;

	if ((fd = memfd_create("fuzz.htpasswd", MFD_CLOEXEC)) < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (pa_htpasswd_parse(path, size > 0 && data[0] == 'w', &t, &err) == 0) {
		for (i = 0; i < t->n; i++) {
			const struct pa_htpasswd_entry *e = &t->v[i];

			if (e->user[0] == '\0' || strchr(e->user, ':') != NULL ||
			    strchr(e->user, '\n') != NULL || strchr(e->hash, '\n') != NULL ||
			    strchr(e->groups, '\n') != NULL)
				abort();
			if (i > 0 && strcmp(t->v[i - 1].user, e->user) >= 0)
				abort();
			if (pa_htpasswd_find(t, e->user) != e)
				abort();
			/* Found by its fold too: another spelling is denied. */
			if (pa_htpasswd_find_folded(t, e->user, strlen(e->user)) == NULL)
				abort();
		}
		pa_htpasswd_free(t);
	} else if (err.msg[0] == '\0' || strchr(err.msg, '\n') != NULL) {
		abort();	/* a refusal says why, on one line */
	}
	close(fd);
	return 0;
}
