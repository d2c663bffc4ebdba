/*
 * test_fmt.c: lib/fmt.h, the decimal writer and the UTF-8 check that the
 * HTTP head writers, the access log and the metrics text share.  Numbers
 * are checked against snprintf(); the UTF-8 check against a decoder
 * written here from RFC 3629's definition, over every sequence of up to
 * three bytes and every four-byte lead with each kind of follower.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"

/* A guard byte around what a writer may touch. */
#define GUARD	0x5a

/* An assertion for the long loops: check's own record each pass. */
#define REQUIRE(cond, ...) do {						\
	if (!(cond))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

/* Check fmt_u64() and fmt_u64_len() of v against snprintf(). */
static void
check_u64(uint64_t v)
{
	char want[32], buf[FMT_U64_MAX + 2], *end;
	int n = snprintf(want, sizeof want, "%" PRIu64, v);

	memset(buf, GUARD, sizeof buf);
	end = fmt_u64(buf + 1, v);
	REQUIRE(end - (buf + 1) == n, "%s: length %td", want,
	    end - (buf + 1));
	REQUIRE(fmt_u64_len(v) == (size_t)n, "%s: fmt_u64_len %zu", want,
	    fmt_u64_len(v));
	REQUIRE(memcmp(buf + 1, want, (size_t)n) == 0, "%s: %.*s", want, n,
	    buf + 1);
	REQUIRE(buf[0] == GUARD && buf[1 + n] == GUARD, "%s: wrote outside",
	    want);
}

/* 0, every power of ten and its neighbours, UINT64_MAX. */
START_TEST(test_u64_edges)
{
	uint64_t p = 1;

	check_u64(0);
	check_u64(UINT64_MAX);
	check_u64(UINT64_MAX - 1);
	check_u64((uint64_t)INT64_MAX);
	check_u64((uint64_t)INT64_MAX + 1);
	check_u64(UINT32_MAX);
	check_u64((uint64_t)UINT32_MAX + 1);
	for (int i = 0; i < 20; i++, p *= 10) {
		check_u64(p - 1);
		check_u64(p);
		check_u64(p + 1);
	}
	ck_assert_uint_eq(fmt_u64_len(UINT64_MAX), FMT_U64_MAX);
}
END_TEST

/* Every number below 100,000 and a spread of larger ones. */
START_TEST(test_u64_many)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (uint64_t v = 0; v < 100000; v++)
		check_u64(v);
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check_u64(x >> (i % 64));
	}
}
END_TEST

/* Padded numbers: exactly n digits, zeros in front, nothing past them. */
START_TEST(test_u32_pad)
{
	static const struct {
		uint32_t	 v;
		size_t		 n;
		const char	*want;
	} cases[] = {
		{ 0, 1, "0" }, { 7, 1, "7" }, { 0, 2, "00" }, { 5, 2, "05" },
		{ 42, 2, "42" }, { 0, 3, "000" }, { 7, 3, "007" },
		{ 42, 3, "042" }, { 200, 3, "200" }, { 999, 3, "999" },
		{ 1, 6, "000001" }, { 2500, 6, "002500" },
		{ 999999, 6, "999999" }, { 0, 6, "000000" },
		{ UINT32_MAX, 10, "4294967295" },
		{ 1, 10, "0000000001" },
	};
	char buf[32], *end;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(buf, GUARD, sizeof buf);
		end = fmt_u32_pad(buf + 1, cases[i].v, cases[i].n);
		ck_assert_ptr_eq(end, buf + 1 + cases[i].n);
		ck_assert_msg(memcmp(buf + 1, cases[i].want, cases[i].n) == 0,
		    "%s: %.*s", cases[i].want, (int)cases[i].n, buf + 1);
		ck_assert_int_eq(buf[0], GUARD);
		ck_assert_int_eq(buf[1 + cases[i].n], GUARD);
	}
	/* Every three-digit value, as a status code or milliseconds. */
	for (unsigned v = 0; v < 1000; v++) {
		char want[8];

		snprintf(want, sizeof want, "%03u", v);
		fmt_u32_pad(buf, v, 3);
		REQUIRE(memcmp(buf, want, 3) == 0, "%s: %.3s", want, buf);
	}
}
END_TEST

/*
 * The reference: decode a sequence by its lead's length, then refuse what
 * RFC 3629 refuses by code point: overlongs, surrogates, past U+10FFFF.
 */
static size_t
ref_utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* fmt_utf8_len() of the n bytes of a literal. */
#define U8(lit)	fmt_utf8_len((const unsigned char *)(lit), sizeof(lit) - 1)

/* Each length at its ends; each kind of ill-formed sequence. */
START_TEST(test_utf8_cases)
{
	/* One byte, the whole ASCII range, NUL and DEL included. */
	ck_assert_uint_eq(fmt_utf8_len((const unsigned char *)"", 1), 1);
	ck_assert_uint_eq(U8("\x7f"), 1);
	ck_assert_uint_eq(U8("a\xff"), 1);
	/* Two bytes: U+0080 to U+07FF. */
	ck_assert_uint_eq(U8("\xc2\x80"), 2);
	ck_assert_uint_eq(U8("\xdf\xbf"), 2);
	ck_assert_uint_eq(U8("\xc3\xa9z"), 2);
	/* Three bytes: U+0800 to U+FFFF but the surrogates. */
	ck_assert_uint_eq(U8("\xe0\xa0\x80"), 3);
	ck_assert_uint_eq(U8("\xed\x9f\xbf"), 3);	/* U+D7FF */
	ck_assert_uint_eq(U8("\xee\x80\x80"), 3);	/* U+E000 */
	ck_assert_uint_eq(U8("\xef\xbf\xbf"), 3);
	/* Four bytes: U+10000 to U+10FFFF. */
	ck_assert_uint_eq(U8("\xf0\x90\x80\x80"), 4);
	ck_assert_uint_eq(U8("\xf4\x8f\xbf\xbf"), 4);
	/* Overlong forms. */
	ck_assert_uint_eq(U8("\xc0\x80"), 0);
	ck_assert_uint_eq(U8("\xc1\xbf"), 0);
	ck_assert_uint_eq(U8("\xe0\x80\x80"), 0);
	ck_assert_uint_eq(U8("\xe0\x9f\xbf"), 0);
	ck_assert_uint_eq(U8("\xf0\x80\x80\x80"), 0);
	ck_assert_uint_eq(U8("\xf0\x8f\xbf\xbf"), 0);
	/* Surrogates, U+D800 to U+DFFF. */
	ck_assert_uint_eq(U8("\xed\xa0\x80"), 0);
	ck_assert_uint_eq(U8("\xed\xbf\xbf"), 0);
	/* Past U+10FFFF, and leads that no sequence has. */
	ck_assert_uint_eq(U8("\xf4\x90\x80\x80"), 0);
	ck_assert_uint_eq(U8("\xf5\x80\x80\x80"), 0);
	ck_assert_uint_eq(U8("\xf8\x88\x80\x80\x80"), 0);
	ck_assert_uint_eq(U8("\xfe"), 0);
	ck_assert_uint_eq(U8("\xff"), 0);
	/* A continuation byte first. */
	ck_assert_uint_eq(U8("\x80"), 0);
	ck_assert_uint_eq(U8("\xbf\x80"), 0);
	/* Cut short by the end of the string ... */
	ck_assert_uint_eq(U8("\xc2"), 0);
	ck_assert_uint_eq(U8("\xe0\xa0"), 0);
	ck_assert_uint_eq(U8("\xf0\x90\x80"), 0);
	/* ... by the length given, though the bytes go on ... */
	ck_assert_uint_eq(fmt_utf8_len((const unsigned char *)"\xe2\x82\xac",
	    2), 0);
	ck_assert_uint_eq(fmt_utf8_len((const unsigned char *)
	    "\xf0\x9f\x98\x80", 3), 0);
	/* ... or by a byte that is not a continuation. */
	ck_assert_uint_eq(U8("\xc2\x41"), 0);
	ck_assert_uint_eq(U8("\xe2\x82\x41"), 0);
	ck_assert_uint_eq(U8("\xe2\xc2\xa9"), 0);
	ck_assert_uint_eq(U8("\xf0\x9f\x98\xc0"), 0);
}
END_TEST

/* Every sequence of one to three bytes, and every four-byte lead and
 * second byte with each kind of third and fourth, agree with the reference. */
START_TEST(test_utf8_exhaustive)
{
	static const unsigned char tail[] = { 0x00, 0x7f, 0x80, 0xbf, 0xc0,
	    0xff };
	unsigned char s[4];

	for (unsigned a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		REQUIRE(fmt_utf8_len(s, 1) == ref_utf8_len(s, 1), "%02x", a);
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			REQUIRE(fmt_utf8_len(s, 2) == ref_utf8_len(s, 2),
			    "%02x %02x", a, b);
			for (unsigned c = 0; c < 256; c++) {
				s[2] = (unsigned char)c;
				REQUIRE(fmt_utf8_len(s, 3) ==
				    ref_utf8_len(s, 3), "%02x %02x %02x", a,
				    b, c);
			}
			for (size_t i = 0; i < sizeof tail; i++) {
				for (size_t j = 0; j < sizeof tail; j++) {
					s[2] = tail[i];
					s[3] = tail[j];
					REQUIRE(fmt_utf8_len(s, 4) ==
					    ref_utf8_len(s, 4),
					    "%02x %02x %02x %02x", a, b,
					    s[2], s[3]);
				}
			}
		}
	}
}
END_TEST

/* The suite. */
static Suite *
fmt_suite(void)
{
	Suite *s = suite_create("fmt");
	TCase *tc = tcase_create("fmt");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_u64_edges);
	tcase_add_test(tc, test_u64_many);
	tcase_add_test(tc, test_u32_pad);
	tcase_add_test(tc, test_utf8_cases);
	tcase_add_test(tc, test_utf8_exhaustive);
	suite_add_tcase(s, tc);
	return s;
}

/* Run the suite; the exit status is the verdict. */
int
main(void)
{
	SRunner *sr = srunner_create(fmt_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
