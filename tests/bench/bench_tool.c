/*
 * Helpers for tests/bench/run.sh (not part of the daemon):
 *
 *   bench_tool crypt-loop THREADS SECONDS HASH PASSWORD
 *       verifies PASSWORD against HASH with crypt_rn in a tight loop on
 *       THREADS threads for SECONDS; prints verifications per second: the
 *       machine's ceiling for uncached lookups of that hash.
 *   bench_tool sha512crypt ROUNDS PASSWORD
 *       prints a $6$ hash with that many rounds.
 *   bench_tool free-port
 *       prints a free TCP port on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *hash, *password;
static atomic_long done;
static atomic_int stop;

static void *
loop(void *arg)
{
	struct crypt_data *cd = calloc(1, sizeof(*cd));

	(void)arg;
	while (!atomic_load(&stop)) {
		const char *out = crypt_rn(password, hash, cd, sizeof(*cd));
		if (out == NULL || strcmp(out, hash) != 0) {
			fprintf(stderr, "crypt_rn does not reproduce the hash\n");
			exit(1);
		}
		atomic_fetch_add(&done, 1);
	}
	free(cd);
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "crypt-loop") == 0) {
		int n = atoi(argv[2]), secs = atoi(argv[3]), i;
		pthread_t t[64];

		hash = argv[4];
		password = argv[5];
		if (n < 1 || n > 64 || secs < 1)
			return 2;
		for (i = 0; i < n; i++)
			pthread_create(&t[i], NULL, loop, NULL);
		sleep((unsigned)secs);
		atomic_store(&stop, 1);
		for (i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		printf("%.1f\n", (double)atomic_load(&done) / secs);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "sha512crypt") == 0) {
		char setting[CRYPT_GENSALT_OUTPUT_SIZE];
		struct crypt_data cd;

		memset(&cd, 0, sizeof(cd));
		if (crypt_gensalt_rn("$6$", strtoul(argv[2], NULL, 10), NULL, 0, setting,
				     sizeof(setting)) == NULL)
			return 1;
		puts(crypt_rn(argv[3], setting, &cd, sizeof(cd)));
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "free-port") == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t len = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
			return 1;
		printf("%u\n", ntohs(sa.sin_port));
		close(fd);
		return 0;
	}
	fprintf(stderr, "usage: see the comment at the top of bench_tool.c\n");
	return 2;
}
