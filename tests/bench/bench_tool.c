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
 *   bench_tool timing PORT N USERS PASSWORD KNOWN_PREFIX UNKNOWN_PREFIX
 *       sends N pairs of requests to 127.0.0.1:PORT/auth on one kept-alive
 *       connection, one after the other: KNOWN_PREFIX<i> and then
 *       UNKNOWN_PREFIX<i> (i cycling through 0..USERS-1), all with
 *       PASSWORD; prints the median latency of each kind in microseconds,
 *       their ratio, and the statuses seen.  Alternating request by
 *       request keeps drift in the machine's load out of the ratio.
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
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

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* One GET /auth for user:password on fd; returns the status, or -1. */
static int
one_request(int fd, const char *user, const char *pw)
{
	char plain[512], tok[1024], req[2048], resp[4096];
	size_t have = 0;
	ssize_t n;
	int len;

	snprintf(plain, sizeof(plain), "%s:%s", user, pw);
	EVP_EncodeBlock((unsigned char *)tok, (const unsigned char *)plain, (int)strlen(plain));
	len = snprintf(req, sizeof(req), "GET /auth HTTP/1.1\r\nHost: bench\r\n"
		       "Proxy-Authorization: Basic %s\r\n\r\n", tok);
	if (write(fd, req, (size_t)len) != len)
		return -1;
	/* Every answer of /auth has an empty body: the header is all. */
	while (have < sizeof(resp) - 1) {
		if ((n = read(fd, resp + have, sizeof(resp) - 1 - have)) <= 0)
			return -1;
		have += (size_t)n;
		resp[have] = '\0';
		if (strstr(resp, "\r\n\r\n") != NULL)
			return atoi(resp + 9);
	}
	return -1;
}

static int
timing(int port, int n, int users, const char *pw, const char *known, const char *unknown)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	uint64_t *a = calloc((size_t)n, sizeof(*a)), *b = calloc((size_t)n, sizeof(*b)), t;
	int fd = socket(AF_INET, SOCK_STREAM, 0), i, one = 1, sa_st = 0, sb_st = 0;
	char user[128];

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (a == NULL || b == NULL || fd < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		return 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (i = 0; i < n; i++) {
		snprintf(user, sizeof(user), "%s%d", known, i % users);
		t = now_us();
		sa_st = one_request(fd, user, pw);
		a[i] = now_us() - t;
		snprintf(user, sizeof(user), "%s%d", unknown, i % users);
		t = now_us();
		sb_st = one_request(fd, user, pw);
		b[i] = now_us() - t;
		if (sa_st < 0 || sb_st < 0)
			return 1;
	}
	qsort(a, (size_t)n, sizeof(*a), cmp_u64);
	qsort(b, (size_t)n, sizeof(*b), cmp_u64);
	printf("known_wrong_us=%llu unknown_us=%llu ratio=%.3f statuses=%d/%d\n",
	       (unsigned long long)a[n / 2], (unsigned long long)b[n / 2],
	       (double)b[n / 2] / (double)a[n / 2], sa_st, sb_st);
	free(a);
	free(b);
	close(fd);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 8 && strcmp(argv[1], "timing") == 0)
		return timing(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), argv[5], argv[6],
			      argv[7]);
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
