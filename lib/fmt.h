/*
 * fmt.h: the small helpers every text writer shares: decimal numbers and
 * the UTF-8 check.  The HTTP head writers, the access log and the metrics
 * text use these and no other.
 *
 * The number writers write into a buffer the caller has checked has room
 * (FMT_U64_MAX bytes do for any uint64_t); they write no NUL.  Digits go
 * two at a time from a table, from the last one, in place: the length is
 * known first.  Everything here is inline, as the head writers run it on
 * every request.
 */
#ifndef HG_FMT_H
#define HG_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The most digits a uint64_t has (18446744073709551615). */
#define FMT_U64_MAX	20

#define FMT_INLINE	inline __attribute__((always_inline))

/* The decimal digits of 0 to 99, two by two. */
static const char fmt_digits[200] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* The number of decimal digits of v (1 for 0). */
static FMT_INLINE size_t
fmt_u64_len(uint64_t v)
{
	size_t n = 1;

	for (; v >= 100; v /= 100)
		n += 2;
	return n + (v >= 10);
}

/* Write v in decimal into p[0 .. n), where n is fmt_u64_len(v). */
static FMT_INLINE void
fmt_u64_in(char *p, size_t n, uint64_t v)
{
	for (p += n; v >= 100; v /= 100) {
		p -= 2;
		memcpy(p, fmt_digits + v % 100 * 2, 2);
	}
	if (v >= 10)
		memcpy(p - 2, fmt_digits + v * 2, 2);
	else
		p[-1] = (char)('0' + v);
}

/* Write v in decimal at p; return the end. */
static FMT_INLINE char *
fmt_u64(char *p, uint64_t v)
{
	size_t n = fmt_u64_len(v);

	fmt_u64_in(p, n, v);
	return p + n;
}

/*
 * Write v as exactly n digits, zeros in front, at p; return the end.  v must
 * be below 10^n: a status code is 3 digits, a fraction of a second in
 * milliseconds 3, in microseconds 6.  (32 bits: cheaper to divide.)
 */
static FMT_INLINE char *
fmt_u32_pad(char *p, uint32_t v, size_t n)
{
	char *end = p + n;

	for (p = end; n >= 2; n -= 2, v /= 100) {
		p -= 2;
		memcpy(p, fmt_digits + v % 100 * 2, 2);
	}
	if (n == 1)
		p[-1] = (char)('0' + v);
	return end;
}

/* The 8 lowercase hex digits of v, most significant first, as the bytes of
 * a word in memory order: each nibble spread to a byte, then turned into
 * '0'-'9' or 'a'-'f' without a branch. */
static inline uint64_t
fmt_hex32_word(uint32_t v)
{
	uint64_t x = v, gt9;

	x = (x | (x << 16)) & 0x0000ffff0000ffffULL;
	x = (x | (x << 8)) & 0x00ff00ff00ff00ffULL;
	x = (x | (x << 4)) & 0x0f0f0f0f0f0f0f0fULL;
	gt9 = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
	x += 0x3030303030303030ULL + gt9 * ('a' - '0' - 10);
	return __builtin_bswap64(x);
}

/* Write v as 16 lowercase hex digits; returns the end. */
static inline char *
fmt_hex64(char *p, uint64_t v)
{
	uint64_t hi = fmt_hex32_word((uint32_t)(v >> 32));
	uint64_t lo = fmt_hex32_word((uint32_t)v);

	memcpy(p, &hi, 8);
	memcpy(p + 8, &lo, 8);
	return p + 16;
}

/*
 * The length of the well-formed UTF-8 sequence that starts at s, which has
 * n >= 1 bytes, or 0 when there is none: a byte below 0x80 is one; else
 * the RFC 3629 forms only, so no continuation byte first, no overlong form
 * (C0, C1, E0 80-9F, F0 80-8F), no surrogate (ED A0-BF), nothing above
 * U+10FFFF (F4 90-BF, F5-FF), and no sequence cut short by the end.
 */
static inline size_t
fmt_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (c == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;	/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return len;
}

#endif
