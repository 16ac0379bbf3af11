/*
 * Unit tests for lib/netaddr.c: the listen address, trusted_proxies CIDR
 * lists (IPv4, IPv6 and IPv4-mapped IPv6), and the choice of the client
 * address (SPEC section 3): a peer that is not a trusted proxy can never
 * choose its address by header; behind trusted proxies the right-most
 * untrusted X-Forwarded-For entry is the client, because entries left of
 * it were written by the client itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "netaddr.h"

static void
test_sockaddr_parse(void **state)
{
	static const struct {
		const char *s;
		int family;		/* 0: refused */
		const char *addr;
		int port;
	} cases[] = {
		{ "127.0.0.1:9180", AF_INET, "127.0.0.1", 9180 },
		{ "0.0.0.0:0", AF_INET, "0.0.0.0", 0 },
		{ "10.1.2.3:65535", AF_INET, "10.1.2.3", 65535 },
		{ "localhost:80", AF_INET, "127.0.0.1", 80 },
		{ "[::1]:8080", AF_INET6, "::1", 8080 },
		{ "[::]:443", AF_INET6, "::", 443 },
		{ "[2001:db8::5]:1", AF_INET6, "2001:db8::5", 1 },
		{ "127.0.0.1", 0, NULL, 0 },
		{ "127.0.0.1:", 0, NULL, 0 },
		{ "127.0.0.1:65536", 0, NULL, 0 },
		{ "127.0.0.1:-1", 0, NULL, 0 },
		{ "127.0.0.1:http", 0, NULL, 0 },
		{ "127.0.0.1:80x", 0, NULL, 0 },
		{ "127.0.0.1:80 ", 0, NULL, 0 },
		{ "example.org:80", 0, NULL, 0 },
		{ "256.0.0.1:80", 0, NULL, 0 },
		{ ":80", 0, NULL, 0 },
		{ "", 0, NULL, 0 },
		{ "[::1]", 0, NULL, 0 },
		{ "[::1]80", 0, NULL, 0 },
		{ "[::1:80", 0, NULL, 0 },
		{ "[127.0.0.1]:80", 0, NULL, 0 },
		{ "[fe80::1%eth0]:80", 0, NULL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		struct pa_error err = { { 0 } };
		socklen_t len = 0;
		char text[PA_ADDR_MAX];
		int rc = pa_sockaddr_parse(cases[i].s, &ss, &len, &err);

		if (cases[i].family == 0) {
			if (rc != -1)
				fail_msg("'%s' accepted", cases[i].s);
			if (err.msg[0] == '\0')
				fail_msg("'%s': no message", cases[i].s);
			continue;
		}
		if (rc != 0)
			fail_msg("'%s' refused: %s", cases[i].s, err.msg);
		assert_int_equal(ss.ss_family, cases[i].family);
		if (cases[i].family == AF_INET) {
			const struct sockaddr_in *v4 = (const struct sockaddr_in *)&ss;
			assert_int_equal(len, sizeof(*v4));
			assert_int_equal(ntohs(v4->sin_port), cases[i].port);
		} else {
			const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&ss;
			assert_int_equal(len, sizeof(*v6));
			assert_int_equal(ntohs(v6->sin6_port), cases[i].port);
		}
		pa_sockaddr_text((const struct sockaddr *)&ss, text);
		assert_string_equal(text, cases[i].addr);
	}
}

static void
test_sockaddr_text(void **state)
{
	struct sockaddr_in6 v6;
	char text[PA_ADDR_MAX];

	(void)state;
	memset(&v6, 0, sizeof(v6));
	v6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.1", &v6.sin6_addr), 1);
	pa_sockaddr_text((const struct sockaddr *)&v6, text);
	assert_string_equal(text, "192.0.2.1");		/* mapped shown as IPv4 */
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", &v6.sin6_addr), 1);
	pa_sockaddr_text((const struct sockaddr *)&v6, text);
	assert_string_equal(text, "2001:db8::1");
	pa_sockaddr_text(NULL, text);
	assert_string_equal(text, "");
}

static void
test_cidr_parse(void **state)
{
	static const struct {
		const char *list;
		int n;		/* -1: refused */
	} cases[] = {
		{ "", 0 },
		{ " , ", 0 },
		{ "10.0.0.0/8", 1 },
		{ "10.0.0.0/8, 192.168.1.1, ::1, fd00::/8", 4 },
		{ "0.0.0.0/0,::/0", 2 },
		{ "10.0.0.0/32", 1 },
		{ "2001:db8::/128", 1 },
		{ "::ffff:10.0.0.1", 1 },
		{ "10.0.0.0/33", -1 },
		{ "::/129", -1 },
		{ "10.0.0.0/", -1 },
		{ "10.0.0.0/-1", -1 },
		{ "10.0.0.0/8/8", -1 },
		{ "10.0.0.0/x", -1 },
		{ "proxy.local", -1 },
		{ "10.0.0.0/8, banana", -1 },
		{ "1.2.3.4.5", -1 },
		{ "10.0.0", -1 },
		{ "/8", -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pa_cidr_list l;
		struct pa_error err = { { 0 } };
		int rc = pa_cidr_list_parse(cases[i].list, &l, &err);

		if (cases[i].n < 0) {
			if (rc != -1)
				fail_msg("'%s' accepted", cases[i].list);
			if (err.msg[0] == '\0')
				fail_msg("'%s': no message", cases[i].list);
			assert_int_equal(l.n, 0);
		} else {
			if (rc != 0)
				fail_msg("'%s' refused: %s", cases[i].list, err.msg);
			if ((int)l.n != cases[i].n)
				fail_msg("'%s': %zu ranges, want %d", cases[i].list, l.n, cases[i].n);
		}
		pa_cidr_list_free(&l);
	}
	pa_cidr_list_free(NULL);
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char *addr;
		bool in;
	} cases[] = {
		{ "10.0.0.0", true },
		{ "10.1.2.3", true },
		{ "10.255.255.255", true },
		{ "11.0.0.0", false },
		{ "9.255.255.255", false },
		{ "172.16.0.1", true },
		{ "172.31.255.255", true },	/* /12 ends here */
		{ "172.32.0.0", false },
		{ "172.15.255.255", false },
		{ "192.168.1.1", true },	/* a single address */
		{ "192.168.1.2", false },
		{ "::ffff:10.1.2.3", true },	/* IPv4-mapped IPv6 */
		{ "::FFFF:172.20.0.1", true },
		{ "::ffff:11.0.0.1", false },
		{ "fd12:3456::1", true },
		{ "fdff:ffff::1", true },
		{ "fe80::1", false },
		{ "::1", true },
		{ "::2", false },
		{ "2001:db8::1", false },
		{ "", false },
		{ "garbage", false },
		{ "10.0.0.1 ", false },
	};
	struct pa_cidr_list l;
	struct pa_error err = { { 0 } };
	size_t i;

	(void)state;
	assert_int_equal(pa_cidr_list_parse("10.0.0.0/8, 172.16.0.0/12, 192.168.1.1, fd00::/8, ::1",
					    &l, &err), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (pa_cidr_list_match_text(&l, cases[i].addr, strlen(cases[i].addr)) != cases[i].in)
			fail_msg("'%s': want %s", cases[i].addr, cases[i].in ? "in" : "out");
	/* The length is honoured. */
	assert_true(pa_cidr_list_match_text(&l, "10.0.0.1junk", 8));
	pa_cidr_list_free(&l);

	/* A mapped address in the list matches its IPv4 form too. */
	assert_int_equal(pa_cidr_list_parse("::ffff:192.0.2.1", &l, &err), 0);
	assert_true(pa_cidr_list_match_text(&l, "192.0.2.1", 9));
	assert_false(pa_cidr_list_match_text(&l, "192.0.2.2", 9));
	pa_cidr_list_free(&l);

	/* Families never mix: ::/0 is not 0.0.0.0/0. */
	assert_int_equal(pa_cidr_list_parse("::/0", &l, &err), 0);
	assert_true(pa_cidr_list_match_text(&l, "2001:db8::1", 11));
	assert_false(pa_cidr_list_match_text(&l, "1.2.3.4", 7));
	pa_cidr_list_free(&l);
	assert_int_equal(pa_cidr_list_parse("0.0.0.0/0", &l, &err), 0);
	assert_true(pa_cidr_list_match_text(&l, "1.2.3.4", 7));
	assert_false(pa_cidr_list_match_text(&l, "2001:db8::1", 11));
	pa_cidr_list_free(&l);

	/* An empty list, or none, matches nothing. */
	assert_int_equal(pa_cidr_list_parse("", &l, &err), 0);
	assert_false(pa_cidr_list_match_text(&l, "10.0.0.1", 8));
	pa_cidr_list_free(&l);
	assert_false(pa_cidr_list_match_text(NULL, "10.0.0.1", 8));
}

static const struct client_case {
	const char *desc;
	const char *trusted;	/* NULL: no list */
	const char *peer;
	const char *xff;	/* NULL: header absent */
	const char *xri;
	const char *want;
} client_cases[] = {
	{ "no trusted proxies", NULL, "203.0.113.9", "1.1.1.1", "2.2.2.2", "203.0.113.9" },
	{ "empty trusted list", "", "10.0.0.1", "1.1.1.1", NULL, "10.0.0.1" },
	{ "untrusted peer ignores XFF", "10.0.0.0/8", "203.0.113.9", "1.1.1.1", NULL,
	  "203.0.113.9" },
	{ "untrusted peer ignores X-Real-IP", "10.0.0.0/8", "203.0.113.9", NULL, "1.1.1.1",
	  "203.0.113.9" },
	{ "trusted peer, one entry", "10.0.0.0/8", "10.0.0.1", "1.1.1.1", NULL, "1.1.1.1" },
	{ "right-most untrusted", "10.0.0.0/8", "10.0.0.1", "1.1.1.1, 10.0.0.5", NULL, "1.1.1.1" },
	{ "spoofed entries on the left", "10.0.0.0/8", "10.0.0.1",
	  "6.6.6.6, 9.9.9.9, 1.1.1.1, 10.0.0.5", NULL, "1.1.1.1" },
	{ "all trusted: left-most", "10.0.0.0/8", "10.0.0.1", "10.0.0.7, 10.0.0.5", NULL,
	  "10.0.0.7" },
	/* An entry that is not an address is a client of its own (a label
	 * that never parses as an address), never the trusted proxy, and
	 * what stands left of it is not looked at. */
	{ "garbage stops the walk", "10.0.0.0/8", "10.0.0.1", "1.1.1.1, garbage, 10.0.0.5", NULL,
	  "xff:garbage" },
	{ "garbage right-most", "10.0.0.0/8", "10.0.0.1", "1.1.1.1, garbage", NULL, "xff:garbage" },
	{ "unknown", "10.0.0.0/8", "10.0.0.1", "unknown", NULL, "xff:unknown" },
	{ "obfuscated identifier", "10.0.0.0/8", "10.0.0.1", "1.1.1.1, _hidden , 10.0.0.5", NULL,
	  "xff:_hidden" },
	{ "empty entry stops the walk", "10.0.0.0/8", "10.0.0.1", "1.1.1.1,, 10.0.0.5", NULL,
	  "xff:-" },
	{ "not a token: hashed", "10.0.0.0/8", "10.0.0.1", "1.1.1.1, <script> x", NULL,
	  "xff:#37e0f6918af507f2" },
	{ "long entry: hashed", "10.0.0.0/8", "10.0.0.1",
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, "xff:#ffe054fe7ae0cb6d" },
	{ "address-like label is hashed", "10.0.0.0/8", "10.0.0.1", "10.0.0.5/8", NULL, "xff:#6be3e33eb62243c2" },
	/* Ports, as proxies write them (RFC 7239 section 6). */
	{ "IPv4:port", "10.0.0.0/8", "10.0.0.1", "203.0.113.9:5678", NULL, "203.0.113.9" },
	{ "IPv4:port, trusted skipped", "10.0.0.0/8", "10.0.0.1", "203.0.113.9:5678, 10.0.0.5:80",
	  NULL, "203.0.113.9" },
	{ "[IPv6]:port", "10.0.0.0/8", "10.0.0.1", "[2001:db8::1]:443", NULL, "2001:db8::1" },
	{ "[IPv6] without port", "10.0.0.0/8", "10.0.0.1", " [2001:DB8::1] ", NULL, "2001:db8::1" },
	{ "[IPv6]:port trusted skipped", "fd00::/8", "fd00::1", "[2001:db8::1]:443, [fd00::2]:80",
	  NULL, "2001:db8::1" },
	{ "IPv4: empty port", "10.0.0.0/8", "10.0.0.1", "203.0.113.9:", NULL, "xff:#e8d25948b4cc9828" },
	{ "IPv4: port too long", "10.0.0.0/8", "10.0.0.1", "203.0.113.9:123456", NULL, "xff:#63a84fb46e408fb0" },
	{ "IPv4: port not digits", "10.0.0.0/8", "10.0.0.1", "203.0.113.9:http", NULL, "xff:#d86a7c641871b133" },
	{ "[IPv6] junk after", "10.0.0.0/8", "10.0.0.1", "[2001:db8::1]x", NULL, "xff:#d0093260868ad74a" },
	{ "[IPv6 unclosed", "10.0.0.0/8", "10.0.0.1", "[2001:db8::1", NULL, "xff:#c74555494886611e" },
	{ "IPv6:port unbracketed is IPv6 garbage", "10.0.0.0/8", "10.0.0.1", "2001:db8::1:99999",
	  NULL, "xff:#15ed8a2b58ca8f0e" },
	{ "spaces and tabs", "10.0.0.0/8", "10.0.0.1", " \t1.1.1.1\t ,\t10.0.0.5 ", NULL,
	  "1.1.1.1" },
	{ "no spaces", "10.0.0.0/8", "10.0.0.1", "1.1.1.1,10.0.0.5", NULL, "1.1.1.1" },
	{ "IPv6 entry", "10.0.0.0/8", "10.0.0.1", "2001:db8::1, 10.0.0.5", NULL, "2001:db8::1" },
	{ "IPv6 entry canonicalised", "10.0.0.0/8", "10.0.0.1", "2001:DB8:0::1", NULL,
	  "2001:db8::1" },
	{ "mapped entry shown as IPv4", "10.0.0.0/8", "10.0.0.1", "::ffff:1.1.1.1", NULL,
	  "1.1.1.1" },
	{ "mapped trusted entry skipped", "10.0.0.0/8", "10.0.0.1", "1.1.1.1, ::ffff:10.0.0.5",
	  NULL, "1.1.1.1" },
	{ "IPv6 proxy", "fd00::/8", "fd00::1", "1.1.1.1, fd00::2", NULL, "1.1.1.1" },
	{ "mapped peer is trusted", "10.0.0.0/8", "::ffff:10.0.0.1", "1.1.1.1", NULL, "1.1.1.1" },
	{ "X-Real-IP when XFF absent", "10.0.0.0/8", "10.0.0.1", NULL, "1.1.1.1", "1.1.1.1" },
	{ "XFF wins over X-Real-IP", "10.0.0.0/8", "10.0.0.1", "5.5.5.5", "1.1.1.1", "5.5.5.5" },
	{ "XFF garbage: X-Real-IP not used", "10.0.0.0/8", "10.0.0.1", "garbage", "1.1.1.1",
	  "xff:garbage" },
	{ "X-Real-IP garbage", "10.0.0.0/8", "10.0.0.1", NULL, "not an address", "xff:#f8121aab13d54c46" },
	{ "X-Real-IP with port", "10.0.0.0/8", "10.0.0.1", NULL, "1.1.1.1:80", "1.1.1.1" },
	{ "X-Real-IP with spaces", "10.0.0.0/8", "10.0.0.1", NULL, " 1.1.1.1 ", "1.1.1.1" },
	{ "X-Real-IP list is garbage", "10.0.0.0/8", "10.0.0.1", NULL, "1.1.1.1, 2.2.2.2",
	  "xff:#8164f947952d83ea" },
};

static void
test_client_address(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(client_cases) / sizeof(client_cases[0]); i++) {
		const struct client_case *c = &client_cases[i];
		struct pa_cidr_list l = { 0, NULL };
		struct pa_error err = { { 0 } };
		char out[PA_ADDR_MAX];

		if (c->trusted != NULL && pa_cidr_list_parse(c->trusted, &l, &err) != 0)
			fail_msg("%s: %s", c->desc, err.msg);
		memset(out, 'X', sizeof(out));
		pa_client_address(c->trusted != NULL ? &l : NULL, c->peer, c->xff,
				  c->xff != NULL ? strlen(c->xff) : 0, c->xri,
				  c->xri != NULL ? strlen(c->xri) : 0, out);
		if (strcmp(out, c->want) != 0)
			fail_msg("%s: '%s', want '%s'", c->desc, out, c->want);
		pa_cidr_list_free(&l);
	}
}

/* The header values are counted, not NUL-terminated (they point into the
 * request): bytes past the length are not part of them. */
static void
test_client_address_counted(void **state)
{
	static const char xff[] = "1.1.1.1, 10.0.0.5, 7.7.7.7";
	struct pa_cidr_list l;
	struct pa_error err = { { 0 } };
	char out[PA_ADDR_MAX];

	(void)state;
	assert_int_equal(pa_cidr_list_parse("10.0.0.0/8", &l, &err), 0);
	pa_client_address(&l, "10.0.0.1", xff, strlen("1.1.1.1, 10.0.0.5"), NULL, 0, out);
	assert_string_equal(out, "1.1.1.1");
	pa_client_address(&l, "10.0.0.1", NULL, 0, "2.2.2.2garbage", 7, out);
	assert_string_equal(out, "2.2.2.2");
	/* An over-long entry cannot overflow out: it becomes a hashed label. */
	{
		char longxff[512];
		memset(longxff, '1', sizeof(longxff));
		pa_client_address(&l, "10.0.0.1", longxff, sizeof(longxff), NULL, 0, out);
		assert_int_equal(strncmp(out, "xff:#", 5), 0);
		assert_int_equal(strlen(out), 5 + 16);
	}
	pa_cidr_list_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sockaddr_parse),
		cmocka_unit_test(test_sockaddr_text),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_client_address),
		cmocka_unit_test(test_client_address_counted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
