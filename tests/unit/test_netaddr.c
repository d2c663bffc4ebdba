/* test_netaddr.c: unit tests for lib/netaddr.c. */
#include <check.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include "netaddr.h"

/* A config address with host and port. */
static struct config_addr
addr(const char *host, unsigned port)
{
	struct config_addr a;

	memset(&a, 0, sizeof a);
	a.host = (char *)host;
	a.port = (uint16_t)port;
	return a;
}

START_TEST(test_from_config)
{
	struct sockaddr_storage ss;
	struct config_addr a;
	socklen_t len;
	char text[NETADDR_TEXT_MAX];
	uint8_t iplen;

	a = addr("127.0.0.1", 8080);
	ck_assert_int_eq(netaddr_from_config(&a, &ss, &len), 0);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	netaddr_format((struct sockaddr *)&ss, text, sizeof text, &iplen);
	ck_assert_str_eq(text, "127.0.0.1:8080");
	ck_assert_uint_eq(iplen, 9);

	a = addr("*", 80);
	ck_assert_int_eq(netaddr_from_config(&a, &ss, &len), 0);
	netaddr_format((struct sockaddr *)&ss, text, sizeof text, &iplen);
	ck_assert_str_eq(text, "0.0.0.0:80");

	a = addr("::1", 443);
	ck_assert_int_eq(netaddr_from_config(&a, &ss, &len), 0);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	netaddr_format((struct sockaddr *)&ss, text, sizeof text, &iplen);
	ck_assert_str_eq(text, "[::1]:443");
	ck_assert_uint_eq(iplen, 3);

	a = addr("localhost", 80);
	ck_assert_int_eq(netaddr_from_config(&a, &ss, &len), -1);
	a = addr("1.2.3", 80);
	ck_assert_int_eq(netaddr_from_config(&a, &ss, &len), -1);
}
END_TEST

START_TEST(test_format_bounds)
{
	struct sockaddr_in6 in6;
	struct sockaddr_un_like { sa_family_t f; } other = { AF_UNIX };
	char text[NETADDR_TEXT_MAX], small[8];
	uint8_t iplen;
	size_t n;

	memset(&in6, 0, sizeof in6);
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(65535);
	ck_assert_int_eq(inet_pton(AF_INET6,
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &in6.sin6_addr), 1);
	n = netaddr_format((struct sockaddr *)&in6, text, sizeof text, &iplen);
	ck_assert_uint_eq(n, strlen(text));
	ck_assert_uint_lt(n, sizeof text);
	n = netaddr_format((struct sockaddr *)&in6, small, sizeof small, NULL);
	ck_assert_uint_eq(n, sizeof small - 1);
	ck_assert_uint_eq(strlen(small), sizeof small - 1);
	netaddr_format((struct sockaddr *)&other, text, sizeof text, &iplen);
	ck_assert_str_eq(text, "unknown");
	ck_assert_uint_eq(iplen, 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("netaddr");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_from_config);
	tcase_add_test(tc, test_format_bounds);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
