/*
 * Unit tests for lib/squid_helper.c, the Squid helper's request loop, with
 * the chain faked: every request line gets exactly one answer line with
 * its own channel ID (cached and refused ones at once, lookups from the
 * workers); CR LF and a last line without a newline are read, empty lines
 * are skipped; an over-long line or one with a NUL is refused for its ID
 * and the next line is read normally; a line without a channel ID gets BH
 * naming -n; -n mode answers without IDs; an unavailable backend is BH;
 * no password reaches the log; a login that is not the canonical name the
 * backend returned gets ERR, never OK (Squid would hand on the login).
 */
#include "scratch.h"

#include <pthread.h>
#include <strings.h>

#include "cache.h"

#include "squid_helper.h"
#include "squid_line.h"

static enum pa_result
fake_verify(void *ctx, const struct pa_credentials *cred, struct pa_identity *who,
	    struct pa_error *err)
{
	(void)ctx;
	if (strcmp(cred->user, "down") == 0) {
		pa_error_set(err, "connection refused");
		return PA_UNAVAILABLE;
	}
	if (strcmp(cred->password, "right pw") != 0)
		return PA_DENIED;
	/* As a directory matching without case: "ALICE" binds as alice. */
	if (strcasecmp(cred->user, "alice") == 0)
		snprintf(who->user, sizeof(who->user), "alice");
	else
		snprintf(who->user, sizeof(who->user), "%s", cred->user);
	return PA_GRANTED;
}

static int
fake_probe(void *ctx, struct pa_error *err)
{
	(void)ctx;
	(void)err;
	return 0;
}

static const struct pa_backend_ops fake_ops = {
	.name = "fake", .verify = fake_verify, .probe = fake_probe,
};

struct fx {
	struct pa_squid_helper h;
	int logfd[2];
	char out[65536], log[65536];
};

static struct fx *
start(bool with_id)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	scratch_pipe(f->logfd);
	pa_log_init(&f->h.log, f->logfd[1], "text", "info");
	f->h.pipe.log = &f->h.log;
	f->h.pipe.chain.links[0].ops = &fake_ops;
	f->h.pipe.chain.n = 1;
	f->h.pipe.rules.server_groups = "";	/* no require_groups */
	f->h.with_id = with_id;
	f->h.out = tmpfile();
	assert_non_null(f->h.out);
	pthread_mutex_init(&f->h.out_lock, NULL);
	atomic_init(&f->h.out_broken, false);
	f->h.workq = pa_workq_start(with_id ? 3 : 1, 64);
	assert_non_null(f->h.workq);
	return f;
}

/* Feeds input (len bytes) on a pipe, reads to its end, drains the
 * workers, and collects the answers and the log. */
static void
run(struct fx *f, const char *input, size_t len)
{
	int in[2];
	size_t n;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(write(in[1], input, len), (ssize_t)len);
	close(in[1]);
	pa_squid_helper_read(&f->h, in[0]);
	close(in[0]);
	assert_int_equal(pa_workq_stop(f->h.workq, 10000), 0);
	pa_workq_free(f->h.workq);
	rewind(f->h.out);
	n = fread(f->out, 1, sizeof(f->out) - 1, f->h.out);
	f->out[n] = '\0';
	scratch_drain(f->logfd[0], f->log, sizeof(f->log));
}

static void
finish(struct fx *f)
{
	fclose(f->h.out);
	pthread_mutex_destroy(&f->h.out_lock);
	close(f->logfd[0]);
	close(f->logfd[1]);
	free(f);
}

/* The answer line for channel id, exactly once. */
static void
assert_answer(const char *out, const char *id, const char *rest)
{
	char want[512];
	const char *p;

	snprintf(want, sizeof(want), "%s %s\n", id, rest);
	p = out;
	if (strncmp(p, want, strlen(want)) != 0) {
		snprintf(want, sizeof(want), "\n%s %s\n", id, rest);
		p = strstr(out, want);
		if (p == NULL)
			fail_msg("no answer '%s %s' in:\n%s", id, rest, out);
		p++;
	}
	snprintf(want, sizeof(want), "\n%s ", id);
	assert_null(strstr(p + 1, want));	/* not twice */
}

static void
test_every_line_answered_once(void **state)
{
	static const char input[] =
		"1 alice right%20pw\n"
		"2 alice wrong\n"
		"3 al%22ice right%20pw\n"
		"4 alice\n"
		"\n"
		"5 alice right%20pw\r\n"
		"6 down right%20pw\n"
		"alice right%20pw\n"
		"7 alice ri\0ght\n"
		"8 alice right%20pw";	/* no newline at the end */
	struct fx *f = start(true);

	(void)state;
	run(f, input, sizeof(input) - 1);
	assert_answer(f->out, "1", "OK user=\"alice\"");
	assert_answer(f->out, "2", "ERR message=\"authentication failed\"");
	assert_answer(f->out, "3", "OK user=\"al\\\"ice\"");
	assert_answer(f->out, "4", "ERR message=\"authentication failed\"");
	assert_answer(f->out, "5", "OK user=\"alice\"");
	assert_answer(f->out, "6", "BH message=\"authentication backend unavailable\"");
	assert_answer(f->out, "7", "ERR message=\"authentication failed\"");
	assert_answer(f->out, "8", "OK user=\"alice\"");
	assert_non_null(strstr(f->out, "BH message=\"no channel ID: with concurrency=0 run "
				       "proxyauth-squid -n\"\n"));
	assert_int_equal(scratch_lines(f->out), 9);	/* the empty line got none */
	assert_non_null(strstr(f->log, "reason=\"NUL in request line\""));
	assert_null(strstr(f->log, "right pw"));
	assert_null(strstr(f->log, "right%20pw"));
	assert_null(strstr(f->log, "wrong"));
	finish(f);
}

/* A line longer than PA_SQUID_LINE_MAX is refused for its ID; the next
 * one is read whole. */
static void
test_long_line(void **state)
{
	size_t len = PA_SQUID_LINE_MAX + 5000;
	char *input = malloc(len + 64);
	struct fx *f = start(true);
	size_t n;

	(void)state;
	assert_non_null(input);
	memcpy(input, "9 alice ", 8);
	memset(input + 8, 'x', len - 8);
	n = len;
	n += (size_t)sprintf(input + n, "\n10 alice right%%20pw\n");
	run(f, input, n);
	assert_answer(f->out, "9", "ERR message=\"authentication failed\"");
	assert_answer(f->out, "10", "OK user=\"alice\"");
	assert_int_equal(scratch_lines(f->out), 2);
	assert_non_null(strstr(f->log, "reason=\"request line too long\""));
	free(input);
	finish(f);
}

/* -n: no channel IDs, answers in order. */
static void
test_without_ids(void **state)
{
	static const char input[] = "alice right%20pw\nalice nope\n42 x\n";
	struct fx *f = start(false);

	(void)state;
	run(f, input, sizeof(input) - 1);
	assert_string_equal(f->out, "OK user=\"alice\"\n"
				    "ERR message=\"authentication failed\"\n"
				    "ERR message=\"authentication failed\"\n");
	finish(f);
}

/*
 * Squid keeps a Basic login as the client typed it: the user= of an OK
 * does not replace it in %ul (the X-Auth-User the shipped squid.conf
 * sends), proxy_auth ACLs, external ACLs or the access log (seen with
 * Squid 5.7).  "ALICE" that the directory binds as alice would reach the
 * app as "ALICE", and a proxy_auth ACL naming alice would not see it:
 * only the canonical spelling may get OK, from the backend and from the
 * cache alike.
 */
static void
test_login_not_canonical(void **state)
{
	/* First from the backend (one worker: answers in order), then, in a
	 * second read, "ALICE" again from the cache, which the reading thread
	 * answers at once, before the next line is read. */
	static const char first[] = "ALICE right%20pw\n"
				    "alice right%20pw\n";
	static const char second[] = "ALICE right%20pw\n"
				     "ALICE wrong\n";
	struct fx *f = start(false);

	(void)state;
	/* room enough that no shard holds only one entry */
	f->h.pipe.cache = pa_cache_new(4096, NULL);
	f->h.pipe.ttl_ms = 60000;
	assert_non_null(f->h.pipe.cache);
	run(f, first, sizeof(first) - 1);
	assert_string_equal(f->out, "ERR message=\"not authorized\"\n"
				    "OK user=\"alice\"\n");
	/* logged under the user it is, with why */
	assert_non_null(strstr(f->log, "user=alice profile=squid outcome=forbidden"));
	assert_non_null(strstr(f->log, "the login is not the canonical user name"));
	assert_null(strstr(f->log, "cache=hit"));

	f->h.workq = pa_workq_start(1, 64);
	assert_non_null(f->h.workq);
	run(f, second, sizeof(second) - 1);
	/* the answers of both reads: the output file is not truncated */
	assert_string_equal(f->out, "ERR message=\"not authorized\"\n"
				    "OK user=\"alice\"\n"
				    "ERR message=\"not authorized\"\n"
				    "ERR message=\"authentication failed\"\n");
	assert_non_null(strstr(f->log, "outcome=forbidden backend=fake cache=hit"));
	assert_non_null(strstr(f->log, "user=ALICE profile=squid outcome=deny"));
	pa_cache_free(f->h.pipe.cache);
	finish(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_line_answered_once),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_without_ids),
		cmocka_unit_test(test_login_not_canonical),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
