/* test_accesslog.c: the access-log writer: formats, escaping, buffering. */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accesslog.h"

#define S(x)	(x), sizeof(x) - 1
#define LOGFMT	CONFIG_LOG_LOGFMT
#define JSON	CONFIG_LOG_JSON
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define HEXDIGITS	"0123456789abcdef"

static char tmpdir[64];
static char path[128];

/* Make a fresh directory for the test's files. */
static void
setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/hg-accesslog.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof path, "%s/access.log", tmpdir);
}

/* Remove the test's directory and everything in it. */
static void
teardown(void)
{
	char	cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The size of a file, 0 if it does not exist. */
static off_t
file_size(const char *p)
{
	struct stat	st;

	return stat(p, &st) == 0 ? st.st_size : 0;
}

/* Read a whole file into a NUL-terminated malloc'd buffer. */
static char *
slurp(const char *p, size_t *lenp)
{
	FILE	*f = fopen(p, "r");
	char	*buf = malloc((size_t)file_size(p) + 1);

	ck_assert_ptr_nonnull(f);
	*lenp = fread(buf, 1, (size_t)file_size(p), f);
	buf[*lenp] = '\0';
	fclose(f);
	return buf;
}

/* Give an entry the id v, as 16 hex digits (in a buffer of this thread's,
 * good until the next call: accesslog_write() formats at once). */
static void
set_id(struct accesslog_entry *e, uint64_t v)
{
	static __thread char buf[17];

	snprintf(buf, sizeof buf, "%016llx", (unsigned long long)v);
	e->id = buf;
	e->id_len = 16;
}

/* The request of the example line in the README, 2026-11-24T12:00:00.123456Z. */
static const struct accesslog_entry fixed = {
	.time_us = 1795521600123456LL, .id = S("000000000000002a"),
	.client = S("127.0.0.1:40312"), .method = S("GET"),
	.target = S("/delay/5000"), .route = "/",
	.upstream = S("127.0.0.1:9000"), .status = 504,
	.outcome = OUTCOME_TIMEOUT + SCOPE_UPSTREAM_HEADER, .tries = 2,
	.hedged = true, .won = 2,
	.deadline_ms = 60000, .bytes_in = 84, .bytes_out = 120,
	.head_us = 51, .connect_us = 210, .upstream_header_us = 3000301,
	.total_us = 3000420, .tls = "TLSv1.3",
};

/* A request rejected before anything was parsed or connected, a second
 * later: the time is cut, not rounded, to milliseconds. */
static const struct accesslog_entry absent = {
	.time_us = 1795521601999999LL, .id = S("ffffffffffffffff"),
	.client = S("[::1]:5555"), .outcome = OUTCOME_REJECT_BAD_REQUEST,
	.deadline_ms = -1,
	.bytes_in = UINT64_MAX, .head_us = -1, .connect_us = -1,
	.upstream_header_us = -1, .total_us = INT64_MAX,
};

/*
 * Format one entry, NUL-terminated, with one writer per format that writes
 * nothing and lives as long as the test, so its cached second is reused.
 */
static const char *
fmt_line(enum config_log_format f, const struct accesslog_entry *e,
    size_t *lenp)
{
	static struct accesslog	*al[2];
	static char		 buf[ACCESSLOG_LINE_MAX + 1];
	char			 err[256];
	size_t			 n;

	if (al[f] == NULL)
		al[f] = accesslog_open(NULL, "off", f, err, sizeof err);
	ck_assert_ptr_nonnull(al[f]);
	n = accesslog_format(al[f], e, buf);
	ck_assert_uint_le(n, ACCESSLOG_LINE_MAX);
	buf[n] = '\0';
	if (lenp != NULL)
		*lenp = n;
	return buf;
}

/* An independent UTF-8 check by decoding: the length of the well-formed
 * sequence at s, or 0. */
static size_t
t_utf8(const unsigned char *s, size_t n)
{
	uint32_t	cp;
	size_t		len, k;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0)
		len = 2, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (k = 1; k < len; k++) {
		if (k >= n || (s[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[k] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * What a faithful decoder gives for JSON: invalid bytes become U+FFFD.
 * Return the length; with out NULL only count, so that a result of len
 * means the input is valid UTF-8.
 */
static size_t
json_expect(const char *in, size_t len, char *out)
{
	size_t	i = 0, n, o = 0;

	while (i < len) {
		if ((n = t_utf8((const unsigned char *)in + i, len - i)) == 0) {
			if (out != NULL)
				memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			if (out != NULL)
				memcpy(out + o, in + i, n);
			o += n;
			i += n;
		}
	}
	return o;
}

static const char *const keys[] = {
	"time", "id", "client", "method", "target", "route", "status",
	"outcome", "upstream", "tries", "hedged", "won", "deadline_ms", "bytes_in", "bytes_out",
	"head_ms", "connect_ms", "upstream_header_ms", "total_ms", "tls",
};
#define NKEYS	((int)nitems(keys))

/* One parsed value. */
struct kv {
	int	 type;		/* 's' string, 'n' number, '-' absent */
	char	*val;		/* decoded and NUL-terminated, in scratch */
	size_t	 len;
};

/* The last line parsed, a value for each key. */
static struct {
	struct kv kv[NKEYS];
	char	 scratch[ACCESSLOG_LINE_MAX + 64];
} parsed;

/*
 * Decode the quoted string at s[*ip] into *outp.  logfmt allows \" \\ \n
 * \r \t \xHH; JSON its own short escapes, and of the \u ones only those
 * the writer uses (\u00XX below 0x80 and \ufffd).  No raw control bytes.
 */
static int
dec_quoted(const char *s, size_t len, size_t *ip, char **outp, int json)
{
	const char	*from = json ? "\"\\/bfnrt" : "\"\\nrt";
	const char	*to = json ? "\"\\/\b\f\n\r\t" : "\"\\\n\r\t";
	const char	*e;
	char		*out = *outp, hex[5];
	size_t		 i = *ip + 1, n;
	unsigned	 c, v;

	for (;;) {
		if (i >= len)
			return -1;
		if ((c = (unsigned char)s[i++]) == '"')
			break;
		if (c < 0x20 || (c == 0x7f && !json))
			return -1;
		if (c != '\\') {
			*out++ = (char)c;
			continue;
		}
		if (i >= len)
			return -1;
		c = (unsigned char)s[i++];
		if (c == (json ? 'u' : 'x')) {
			n = json ? 4 : 2;
			if (len - i < n || strspn(s + i, HEXDIGITS) < n)
				return -1;
			memcpy(hex, s + i, n);
			hex[n] = '\0';
			v = (unsigned)strtoul(hex, NULL, 16);
			i += n;
			if (!json || v < 0x80)
				*out++ = (char)v;
			else if (v == 0xfffd)
				out = mempcpy(out, "\xef\xbf\xbd", 3);
			else
				return -1;
		} else if (c != 0 && (e = strchr(from, (int)c)) != NULL)
			*out++ = to[e - from];
		else
			return -1;
	}
	*ip = i;
	*outp = out;
	return 0;
}

/* Check a JSON number strictly and copy it; the writer's are unsigned,
 * without exponent, and followed by ',' or '}'. */
static int
json_number(const char *s, size_t *ip, char **outp)
{
	size_t	i = *ip, n = strspn(s + i, "0123456789");

	if (n == 0 || (n > 1 && s[i] == '0') || (s[i += n] == '.' &&
	    (n = strspn(s + i + 1, "0123456789")) == 0))
		return -1;
	if (s[i] == '.')
		i += n + 1;
	memcpy(*outp, s + *ip, i - *ip);
	*outp += i - *ip;
	*ip = i;
	return 0;
}

/*
 * Parse one line strictly into parsed: the expected keys in order, as logfmt
 * key=value pairs split by one space, bare values free of space, '=', '"',
 * '\' and control bytes; or as a flat JSON object of strings, numbers and
 * nulls without whitespace.  The line must be valid UTF-8 and end in its
 * only newline.
 */
static int
parse_line(enum config_log_format f, const char *s, size_t len)
{
	int		 json = f == JSON, k;
	char		*out = parsed.scratch, key[40];
	struct kv	*kv;
	size_t		 i = 0, n;

	if (len < 3 || s[len - 1] != '\n' || json_expect(s, len, NULL) != len)
		return -1;
	len--;
	if (json && (s[i++] != '{' || s[--len] != '}'))
		return -1;
	for (k = 0; k < NKEYS; k++) {
		kv = &parsed.kv[k];
		n = (size_t)snprintf(key, sizeof key, json ? "%s\"%s\":" :
		    "%s%s=", k == 0 ? "" : json ? "," : " ", keys[k]);
		if (len - i < n || memcmp(s + i, key, n) != 0)
			return -1;
		i += n;
		kv->val = out;
		kv->type = 's';
		if (i < len && s[i] == '"') {
			if (dec_quoted(s, len, &i, &out, json) == -1)
				return -1;
		} else if (json && strncmp(s + i, "null", 4) == 0) {
			kv->type = '-';
			i += 4;
		} else if (json) {
			kv->type = 'n';
			if (json_number(s, &i, &out) == -1)
				return -1;
		} else {
			for (n = i; i < len && s[i] != ' '; i++) {
				if ((unsigned char)s[i] < 0x20 ||
				    strchr("\"=\\\x7f", s[i]) != NULL)
					return -1;
				*out++ = s[i];
			}
			if (i == n)
				return -1;
			if (i - n == 1 && s[n] == '-')
				kv->type = '-';
		}
		kv->len = (size_t)(out - kv->val);
		*out++ = '\0';
	}
	return i == len ? 0 : -1;
}

/* The parsed value of a key. */
static const struct kv *
field(const char *key)
{
	int	k;

	for (k = 0; k < NKEYS && strcmp(keys[k], key) != 0; k++)
		;
	ck_assert_int_lt(k, NKEYS);
	return &parsed.kv[k];
}

/* Parse every line of a buffer, and return how many there are. */
static size_t
parse_all(enum config_log_format f, const char *buf, size_t len,
    void (*each)(size_t))
{
	const char	*line = buf, *nl;
	size_t		 n = 0;

	while (line < buf + len) {
		nl = memchr(line, '\n', len - (size_t)(line - buf));
		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(parse_line(f, line, (size_t)(nl - line) + 1) == 0,
		    "line %zu: %.*s", n, (int)(nl - line), line);
		if (each != NULL)
			each(n);
		n++;
		line = nl + 1;
	}
	return n;
}

/* Check that line n has id n. */
static void
id_is_index(size_t n)
{
	ck_assert_uint_eq(strtoull(field("id")->val, NULL, 16), n);
}

/* Whole lines for fixed entries. */
static const struct {
	const struct accesslog_entry *entry;
	enum config_log_format f;
	const char	*want;
} exact_cases[] = {
	{ &fixed, LOGFMT, "time=2026-11-24T12:00:00.123Z "
	    "id=000000000000002a client=127.0.0.1:40312 method=GET "
	    "target=/delay/5000 route=/ status=504 "
	    "outcome=timeout:upstream_header upstream=127.0.0.1:9000 "
	    "tries=2 hedged=1 won=2 deadline_ms=60000 bytes_in=84 bytes_out=120 "
	    "head_ms=0.051 connect_ms=0.210 upstream_header_ms=3000.301 "
	    "total_ms=3000.420 tls=TLSv1.3\n" },
	{ &fixed, JSON, "{\"time\":\"2026-11-24T12:00:00.123Z\","
	    "\"id\":\"000000000000002a\",\"client\":\"127.0.0.1:40312\","
	    "\"method\":\"GET\",\"target\":\"/delay/5000\",\"route\":\"/\","
	    "\"status\":504,\"outcome\":\"timeout:upstream_header\","
	    "\"upstream\":\"127.0.0.1:9000\",\"tries\":2,\"hedged\":1,\"won\":2,"
	    "\"deadline_ms\":60000,\"bytes_in\":84,\"bytes_out\":120,"
	    "\"head_ms\":0.051,\"connect_ms\":0.210,"
	    "\"upstream_header_ms\":3000.301,\"total_ms\":3000.420,"
	    "\"tls\":\"TLSv1.3\"}\n" },
	{ &absent, LOGFMT, "time=2026-11-24T12:00:01.999Z "
	    "id=ffffffffffffffff client=[::1]:5555 method=- target=- "
	    "route=- status=- outcome=reject:bad_request upstream=- tries=0 "
	    "hedged=0 won=- deadline_ms=- bytes_in=18446744073709551615 bytes_out=0 "
	    "head_ms=- connect_ms=- upstream_header_ms=- "
	    "total_ms=9223372036854775.807 tls=-\n" },
	{ &absent, JSON, "{\"time\":\"2026-11-24T12:00:01.999Z\","
	    "\"id\":\"ffffffffffffffff\",\"client\":\"[::1]:5555\","
	    "\"method\":null,\"target\":null,\"route\":null,\"status\":null,"
	    "\"outcome\":\"reject:bad_request\",\"upstream\":null,"
	    "\"tries\":0,\"hedged\":0,\"won\":null,\"deadline_ms\":null,"
	    "\"bytes_in\":18446744073709551615,\"bytes_out\":0,"
	    "\"head_ms\":null,\"connect_ms\":null,\"upstream_header_ms\":null,"
	    "\"total_ms\":9223372036854775.807,\"tls\":null}\n" },
};

START_TEST(test_exact)
{
	const char		*line;
	size_t			 len, k;
	enum config_log_format	 f;

	/* Twice round, so that each line replaces the cached second. */
	for (k = 0; k < 8; k++) {
		f = exact_cases[k % 4].f;
		line = fmt_line(f, exact_cases[k % 4].entry, &len);
		ck_assert_str_eq(line, exact_cases[k % 4].want);
		ck_assert_int_eq(parse_line(f, line, len), 0);
	}
}
END_TEST

/* Escaping cases: input bytes, logfmt value, JSON value. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*logfmt;
	const char	*json;
} esc_cases[] = {
	{ S("/plain/path"), "/plain/path", "\"/plain/path\"" },
	{ S(""), "\"\"", "\"\"" },
	{ S("-"), "\"-\"", "\"-\"" },
	{ S("a b"), "\"a b\"", "\"a b\"" },
	{ S("/q?a=1"), "\"/q?a=1\"", "\"/q?a=1\"" },
	{ S("a\"b"), "\"a\\\"b\"", "\"a\\\"b\"" },
	{ S("a\\b"), "\"a\\\\b\"", "\"a\\\\b\"" },
	{ S("\n\r\t"), "\"\\n\\r\\t\"", "\"\\n\\r\\t\"" },
	{ S("\x01\x1f\x1b"), "\"\\x01\\x1f\\x1b\"",
	    "\"\\u0001\\u001f\\u001b\"" },
	{ S("del\x7f"), "\"del\\x7f\"", "\"del\\u007f\"" },
	{ S("a\0b"), "\"a\\x00b\"", "\"a\\u0000b\"" },
	/* invalid UTF-8, one byte at a time */
	{ S("\x80"), "\"\\x80\"", "\"\\ufffd\"" },
	{ S("a\xbf" "b"), "\"a\\xbfb\"", "\"a\\ufffdb\"" },
	{ S("\xe2\x82" "x"), "\"\\xe2\\x82x\"", "\"\\ufffd\\ufffdx\"" },
	{ S("\xf0\x9d\x84"), "\"\\xf0\\x9d\\x84\"",
	    "\"\\ufffd\\ufffd\\ufffd\"" },
	{ S("\xc0\x80"), "\"\\xc0\\x80\"", "\"\\ufffd\\ufffd\"" },
	{ S("\xe0\x80\xaf"), "\"\\xe0\\x80\\xaf\"",
	    "\"\\ufffd\\ufffd\\ufffd\"" },
	{ S("\xf0\x8f\xbf\xbf"), "\"\\xf0\\x8f\\xbf\\xbf\"",
	    "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	{ S("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"",
	    "\"\\ufffd\\ufffd\\ufffd\"" },
	{ S("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\"",
	    "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	{ S("\xfe\xff"), "\"\\xfe\\xff\"", "\"\\ufffd\\ufffd\"" },
	/* valid 2-, 3- and 4-byte sequences, at the edges, pass through */
	{ S("/caf\xc3\xa9"), "/caf\xc3\xa9", "\"/caf\xc3\xa9\"" },
	{ S("\xc2\x80\xdf\xbf"), "\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\"" },
	{ S("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"),
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80",
	    "\"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\"" },
	{ S("\xf0\x9d\x84\x9e"), "\xf0\x9d\x84\x9e", "\"\xf0\x9d\x84\x9e\"" },
	{ S("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"),
	    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
	    "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"" },
	{ S("\xc3\xa9\xff"), "\"\xc3\xa9\\xff\"", "\"\xc3\xa9\\ufffd\"" },
};

/* Check escaping case _i in both formats, in the whole line. */
START_TEST(test_escape)
{
	struct accesslog_entry	 e = fixed;
	const char		*line, *t;
	char			 want[512];
	size_t			 len;
	int			 f, q;

	e.target = esc_cases[_i].in;
	e.target_len = esc_cases[_i].len;
	for (f = JSON; f >= LOGFMT; f--) {
		q = f == JSON;	/* the fixed line's target is quoted */
		t = strstr(exact_cases[f].want, "/delay/5000");
		snprintf(want, sizeof want, "%.*s%s%s",
		    (int)(t - exact_cases[f].want) - q, exact_cases[f].want,
		    q ? esc_cases[_i].json : esc_cases[_i].logfmt, t + 11 + q);
		line = fmt_line(f, &e, &len);
		ck_assert_str_eq(line, want);
		ck_assert_int_eq(parse_line(f, line, len), 0);
	}
	/* logfmt decodes back to the very bytes */
	ck_assert_uint_eq(field("target")->len, esc_cases[_i].len);
	ck_assert_mem_eq(field("target")->val, esc_cases[_i].in,
	    esc_cases[_i].len);
}
END_TEST

/* A small deterministic generator. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A random byte string mixing the awkward cases; return its length. */
static size_t
rnd_string(uint64_t *seed, char *buf)
{
	static const char *const seqs[] = {
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
		"\xf4\x8f\xbf\xbf", "\xe2\x82",
	};
	size_t	n = 0, count = rnd(seed) % 40, k;
	int	c;

	for (k = 0; k < count; k++) {
		if ((c = (int)(rnd(seed) % 8)) < 3)	/* space to DEL */
			buf[n++] = (char)(0x20 + rnd(seed) % 96);
		else if (c == 3)
			buf[n++] = (char)(rnd(seed) % 0x20);
		else if (c == 4)
			buf[n++] = (char)(0x80 + rnd(seed) % 0x80);
		else
			n = (size_t)(stpcpy(buf + n, seqs[rnd(seed) % 5]) -
			    buf);
	}
	return n;
}

START_TEST(test_escape_random)
{
	struct accesslog_entry	 e = fixed;
	uint64_t		 seed = 0x9e3779b97f4a7c15ULL;
	const char		*line;
	char			 in[256], want[1024];
	size_t			 len, n, wn;
	int			 k;

	/* Every byte-string field is escaped; route ends at NUL. */
	e.target = e.client = e.method = e.upstream = e.route = in;
	for (k = 0; k < 3000; k++) {
		n = rnd_string(&seed, in);
		in[n] = '\0';
		e.target_len = e.client_len = e.upstream_len = n;
		e.method_len = n < 10 ? n : 10;
		line = fmt_line(LOGFMT, &e, &len);
		ck_assert_msg(parse_line(LOGFMT, line, len) == 0, "%s", line);
		ck_assert_uint_eq(field("target")->len, n);
		ck_assert_mem_eq(field("target")->val, in, n);
		ck_assert_mem_eq(field("upstream")->val, in, n);
		ck_assert_str_eq(field("route")->val, in);
		line = fmt_line(JSON, &e, &len);
		ck_assert_msg(parse_line(JSON, line, len) == 0, "%s", line);
		wn = json_expect(in, n, want);
		ck_assert_uint_eq(field("target")->len, wn);
		ck_assert_mem_eq(field("target")->val, want, wn);
	}
}
END_TEST

/* Open a writer that must open. */
static struct accesslog *
open_ok(struct event_base *base, const char *dest, enum config_log_format f)
{
	struct accesslog	*al;
	char			 err[256];

	al = accesslog_open(base, dest, f, err, sizeof err);
	ck_assert_msg(al != NULL, "%s", err);
	return al;
}

/* Parse every line of a file; return how many there are. */
static size_t
file_lines(const char *p, enum config_log_format f, void (*each)(size_t))
{
	size_t	 len, n;
	char	*buf = slurp(p, &len);

	n = parse_all(f, buf, len, each);
	free(buf);
	return n;
}

static uint64_t	ids[8];

/* Remember the id of line n. */
static void
record_id(size_t n)
{
	if (n < 8)
		ids[n] = strtoull(field("id")->val, NULL, 16);
}

START_TEST(test_truncate)
{
	static const char *const fills[] = { "a", "\x01", "\xc3\xa9", "\xff" };
	struct accesslog_entry	 e = fixed;
	struct accesslog	*al;
	const struct kv		*kv;
	const char		*line;
	char			*big = malloc(100000), *want = malloc(300000);
	size_t			 len, i, k, fl;
	int			 f;

	for (k = 0; k < 4; k++) {
		fl = strlen(fills[k]);
		for (i = 0; i + fl <= 100000; i += fl)
			memcpy(big + i, fills[k], fl);
		e.target = e.client = e.method = e.upstream = big;
		e.target_len = e.client_len = e.method_len = e.upstream_len = i;
		json_expect(big, i, want);
		for (f = LOGFMT; f <= JSON; f++) {
			line = fmt_line(f, &e, &len);
			ck_assert_msg(parse_line(f, line, len) == 0,
			    "fill %zu format %d", k, f);
			kv = field("target");
			ck_assert_uint_gt(kv->len, k == 0 ? 12000 : 2000);
			ck_assert_mem_eq(kv->val + kv->len - 3, "...", 3);
			ck_assert_mem_eq(kv->val, f == JSON ? want : big,
			    kv->len - 3);
		}
	}
	/* Such lines go through the buffer whole, too. */
	al = open_ok(NULL, path, JSON);
	for (k = 0; k < 50; k++)
		accesslog_write(al, &e);
	accesslog_close(al);
	ck_assert_uint_eq(file_lines(path, JSON, NULL), 50);
	free(big);
	free(want);
}
END_TEST

START_TEST(test_timer_flush)
{
	struct accesslog_entry	 e = fixed;
	struct event_base	*base = event_base_new();
	struct accesslog	*al = open_ok(base, path, LOGFMT);
	struct timeval		 tv = { 0, 10000 };
	int64_t			 t0 = now_ms(), seen = -1;
	off_t			 sz;
	int			 i;

	/* A line every 10 ms: the timer armed by the first is not pushed back
	 * by the others, and accesslog_write() itself never writes. */
	for (i = 0; i < 40; i++) {
		sz = file_size(path);
		set_id(&e, (uint64_t)i);
		accesslog_write(al, &e);
		ck_assert_int_eq(file_size(path), sz);
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		if (seen < 0 && file_size(path) > 0)
			seen = now_ms() - t0;
	}
	ck_assert_int_ge(seen, 40);
	ck_assert_int_lt(seen, 300);
	tv.tv_usec = 100000;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_uint_eq(file_lines(path, LOGFMT, id_is_index), 40);
	accesslog_close(al);
	event_base_free(base);
}
END_TEST

START_TEST(test_buffer_full)
{
	struct accesslog_entry	 e = fixed;
	struct event_base	*base = event_base_new();
	struct accesslog	*al = open_ok(base, path, LOGFMT);
	char			 target[300];
	size_t			 linelen, n = 0;

	memset(target, 'x', sizeof target);
	e.target = target;
	e.target_len = sizeof target;
	fmt_line(LOGFMT, &e, &linelen);
	while (file_size(path) == 0 && n < 1000) {
		set_id(&e, n++);
		accesslog_write(al, &e);
	}
	/* The buffer went out whole, once it could not take another line. */
	ck_assert_uint_eq(file_lines(path, LOGFMT, id_is_index), n - 1);
	ck_assert_uint_ge((size_t)file_size(path), 56 * 1024);
	ck_assert_uint_le((size_t)file_size(path), 64 * 1024);
	accesslog_flush(al);
	ck_assert_uint_eq(file_lines(path, LOGFMT, id_is_index), n);
	ck_assert_uint_eq(accesslog_dropped(al), 0);
	/* Closing flushes too. */
	accesslog_write(al, &e);
	ck_assert_uint_eq((size_t)file_size(path), n * linelen);
	accesslog_close(al);
	ck_assert_uint_eq((size_t)file_size(path), (n + 1) * linelen);
	event_base_free(base);
}
END_TEST

#define THREAD_LINES	10000

static int		thread_done;	/* a worker returns it on success */
static unsigned char	thread_seen[2][THREAD_LINES];

/* One worker: its own loop and writer on the shared file. */
static void *
thread_main(void *arg)
{
	static const char	 pad[700] = { [0 ... 699] = 'p' };
	struct event_base	*base = event_base_new();
	struct accesslog_entry	 e = fixed;
	struct accesslog	*al = open_ok(base, path, LOGFMT);
	uint64_t		 w = (uint64_t)(intptr_t)arg, i;

	e.target = pad;
	for (i = 0; i < THREAD_LINES; i++) {
		set_id(&e, w << 32 | i);
		e.target_len = i * 37 % 700;
		accesslog_write(al, &e);
		if (i % 500 == 0)
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	accesslog_close(al);
	event_base_free(base);
	return &thread_done;
}

/* Check that a line from the workers is whole and seen once. */
static void
thread_line(size_t n)
{
	uint64_t	id = strtoull(field("id")->val, NULL, 16);
	uint64_t	w = id >> 32, i = id & 0xffffffff;

	(void)n;
	ck_assert(w < 2 && i < THREAD_LINES);
	ck_assert_int_eq(thread_seen[w][i]++, 0);
	ck_assert_uint_eq(field("target")->len, i * 37 % 700);
}

START_TEST(test_whole_lines_threads)
{
	pthread_t	 th[2];
	void		*ret;
	int		 w;

	for (w = 0; w < 2; w++)
		pthread_create(&th[w], NULL, thread_main, (void *)(intptr_t)w);
	for (w = 0; w < 2; w++) {
		pthread_join(th[w], &ret);
		ck_assert_ptr_eq(ret, &thread_done);
	}
	ck_assert_uint_eq(file_lines(path, LOGFMT, thread_line),
	    2 * THREAD_LINES);
}
END_TEST

/* Read what a non-blocking pipe holds, appending to buf at *len. */
static void
drain_pipe(int fd, char *buf, size_t size, size_t *len)
{
	ssize_t	r;

	while (*len < size && (r = read(fd, buf + *len, size - *len)) > 0)
		*len += (size_t)r;
}

START_TEST(test_stderr_and_off)
{
	struct accesslog_entry	 e = fixed;
	struct event_base	*base = event_base_new();
	struct accesslog	*al = open_ok(base, "off", LOGFMT);
	struct timeval		 tv = { 0, 20000 };
	char			*buf = malloc(1 << 20), err[256];
	size_t			 len = 0, linelen, i;
	int64_t			 t0;
	int			 p[2], saved = dup(STDERR_FILENO);

	/* stderr is a non-blocking pipe that holds 4 KiB */
	ck_assert_int_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	ck_assert_int_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	ck_assert_int_ge(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);

	/* "off" writes nothing, arms nothing, and NULL is "off" too. */
	for (i = 0; i < 1000; i++)
		accesslog_write(al, &e);
	accesslog_write(NULL, &e);
	accesslog_flush(al);
	ck_assert_int_eq(accesslog_reopen(al, err, sizeof err), 0);
	ck_assert_int_eq(event_base_get_num_events(base,
	    EVENT_BASE_COUNT_ADDED), 0);
	accesslog_close(al);
	ck_assert_int_eq(read(p[0], buf, 1 << 20), -1);
	ck_assert_int_eq(errno, EAGAIN);

	/* "stderr": the pipe takes whole lines, a little; the rest waits ... */
	al = open_ok(base, "stderr", JSON);
	for (i = 0; i < 100; i++) {
		set_id(&e, i);
		accesslog_write(al, &e);
	}
	accesslog_flush(al);
	drain_pipe(p[0], buf, 1 << 20, &len);
	ck_assert_uint_gt(len, 0);
	ck_assert_uint_le(len, 4096);
	ck_assert_int_eq(buf[len - 1], '\n');
	/* ... and the timer retries until the reader has everything. */
	fmt_line(JSON, &e, &linelen);
	t0 = now_ms();
	while (len < 100 * linelen && now_ms() - t0 < 5000) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		drain_pipe(p[0], buf, 1 << 20, &len);
	}
	ck_assert_uint_eq(accesslog_dropped(al), 0);
	ck_assert_uint_eq(parse_all(JSON, buf, len, id_is_index), 100);
	accesslog_close(al);
	ck_assert_int_ne(fcntl(STDERR_FILENO, F_GETFD), -1);	/* not ours */
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[0]);
	close(p[1]);
	free(buf);
	event_base_free(base);
}
END_TEST

START_TEST(test_reopen)
{
	struct accesslog_entry	 e = fixed;
	struct event_base	*base = event_base_new();
	struct accesslog	*al;
	struct stat		 st;
	char			 err[512] = "", old[256], dir[128], moved[128];
	char			 p[256];

	snprintf(dir, sizeof dir, "%s/d", tmpdir);
	snprintf(moved, sizeof moved, "%s/moved", tmpdir);
	snprintf(p, sizeof p, "%s/access.log", dir);
	snprintf(old, sizeof old, "%s/access.log.1", dir);
	ck_assert_ptr_null(accesslog_open(base, p, LOGFMT, err, sizeof err));
	ck_assert_ptr_nonnull(strstr(err, p));
	ck_assert_ptr_nonnull(strstr(err, strerror(ENOENT)));
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	umask(0);
	al = open_ok(base, p, LOGFMT);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640);

	/* logrotate renames; the buffered line still goes to the old file */
	set_id(&e, 1);
	accesslog_write(al, &e);
	ck_assert_int_eq(rename(p, old), 0);
	ck_assert_int_eq(accesslog_reopen(al, err, sizeof err), 0);
	set_id(&e, 2);
	accesslog_write(al, &e);
	accesslog_flush(al);
	ck_assert_uint_eq(file_lines(old, LOGFMT, record_id), 1);
	ck_assert_uint_eq(ids[0], 1);
	ck_assert_uint_eq(file_lines(p, LOGFMT, record_id), 1);
	ck_assert_uint_eq(ids[0], 2);

	/* A failed reopen keeps writing to the file it had. */
	ck_assert_int_eq(rename(dir, moved), 0);
	set_id(&e, 3);
	accesslog_write(al, &e);
	ck_assert_int_eq(accesslog_reopen(al, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, p));
	ck_assert_ptr_nonnull(strstr(err, strerror(ENOENT)));
	set_id(&e, 4);
	accesslog_write(al, &e);
	accesslog_close(al);
	snprintf(p, sizeof p, "%s/access.log", moved);
	ck_assert_uint_eq(file_lines(p, LOGFMT, record_id), 3);
	ck_assert(ids[0] == 2 && ids[1] == 3 && ids[2] == 4);
	event_base_free(base);
}
END_TEST

static int	err_calls;
static char	err_msg[1024];

/* Record a write-failure report. */
static void
err_cb(void *arg, const char *msg)
{
	ck_assert_ptr_eq(arg, err_msg);
	err_calls++;
	snprintf(err_msg, sizeof err_msg, "%s", msg);
}

START_TEST(test_dev_full)
{
	struct accesslog_entry	 e = fixed;
	struct event_base	*base = event_base_new();
	struct accesslog	*al = open_ok(base, "/dev/full", LOGFMT);
	struct timeval		 tv = { 0, 150000 };
	int			 i;

	accesslog_set_error_cb(al, err_cb, err_msg);
	for (i = 0; i < 3; i++)
		accesslog_write(al, &e);
	ck_assert_uint_eq(accesslog_dropped(al), 0);
	accesslog_flush(al);
	ck_assert_uint_eq(accesslog_dropped(al), 3);
	ck_assert_int_eq(err_calls, 1);
	ck_assert_msg(strstr(err_msg, "access log /dev/full: write failed: ") ==
	    err_msg, "%s", err_msg);
	ck_assert_ptr_nonnull(strstr(err_msg, strerror(ENOSPC)));
	ck_assert_ptr_nonnull(strstr(err_msg, "; 3 lines dropped since "));

	/* The rest of the burst is counted, not reported again ... */
	for (i = 0; i < 5; i++)
		accesslog_write(al, &e);
	accesslog_flush(al);
	ck_assert_uint_eq(accesslog_dropped(al), 8);
	/* ... on the timer path ... */
	accesslog_write(al, &e);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	ck_assert_uint_eq(accesslog_dropped(al), 9);
	/* ... or when the buffer fills; the writer goes on working. */
	for (i = 0; i < 1000; i++)
		accesslog_write(al, &e);
	accesslog_flush(al);
	ck_assert_uint_eq(accesslog_dropped(al), 1009);
	ck_assert_int_eq(err_calls, 1);
	accesslog_close(al);
	event_base_free(base);
}
END_TEST

/* The suite. */
static Suite *
accesslog_suite(void)
{
	Suite	*s = suite_create("accesslog");
	TCase	*tc = tcase_create("format");

	tcase_add_test(tc, test_exact);
	tcase_add_loop_test(tc, test_escape, 0, (int)nitems(esc_cases));
	tcase_add_test(tc, test_escape_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("writer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_truncate);
	tcase_add_test(tc, test_timer_flush);
	tcase_add_test(tc, test_buffer_full);
	tcase_add_test(tc, test_whole_lines_threads);
	tcase_add_test(tc, test_stderr_and_off);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_dev_full);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(accesslog_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
