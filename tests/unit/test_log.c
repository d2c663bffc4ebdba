/* test_log.c: the error log's journal prefixes, plain lines and levels. */
#include <check.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int	pfd[2] = { -1, -1 };	/* stderr goes into this pipe */
static int	saved_stderr = -1;
static int	evaluated;		/* how often an argument was computed */

/* Point stderr at a non-blocking pipe. */
static void
setup(void)
{
	ck_assert_int_eq(pipe2(pfd, O_NONBLOCK | O_CLOEXEC), 0);
	saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(pfd[1], STDERR_FILENO), STDERR_FILENO);
	evaluated = 0;
}

/* Put stderr back. */
static void
teardown(void)
{
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(pfd[0]);
	close(pfd[1]);
	unsetenv("JOURNAL_STREAM");
}

/* What was written to stderr since the last call, NUL-terminated. */
static const char *
captured(void)
{
	static char	buf[16384];
	ssize_t		n = read(pfd[0], buf, sizeof buf - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* An argument with a side effect, to see whether it was computed. */
static int
side_effect(void)
{
	return ++evaluated;
}

/* Whether s matches the extended regular expression re. */
static int
matches(const char *s, const char *re)
{
	regex_t	r;
	int	ok;

	ck_assert_int_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static const struct {
	enum config_log_level	 level;
	const char		*journal;	/* the whole line in the journal */
	const char		*plain;		/* the line after the time */
} levels[] = {
	{ CONFIG_LOG_CRIT, "<2>req 7: crit\n", " crit: req 7: crit\n" },
	{ CONFIG_LOG_ERR, "<3>req 7: error\n", " error: req 7: error\n" },
	{ CONFIG_LOG_WARNING, "<4>req 7: warning\n",
	    " warning: req 7: warning\n" },
	{ CONFIG_LOG_INFO, "<6>req 7: info\n", " info: req 7: info\n" },
	{ CONFIG_LOG_DEBUG, "<7>req 7: debug\n", " debug: req 7: debug\n" },
};
#define NLEVELS	((int)(sizeof levels / sizeof levels[0]))

START_TEST(test_journal_prefix)
{
	setenv("JOURNAL_STREAM", "8:12345", 1);
	log_init(CONFIG_LOG_DEBUG);
	log_write(levels[_i].level, "req %d: %s", 7,
	    log_level_name(levels[_i].level));
	ck_assert_str_eq(captured(), levels[_i].journal);
}
END_TEST

START_TEST(test_plain_level_name)
{
	const char	*line;

	unsetenv("JOURNAL_STREAM");
	log_init(CONFIG_LOG_DEBUG);
	log_write(levels[_i].level, "req %d: %s", 7,
	    log_level_name(levels[_i].level));
	line = captured();
	ck_assert_msg(matches(line, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "), "%s", line);
	ck_assert_str_eq(line + 24, levels[_i].plain);
}
END_TEST

START_TEST(test_empty_journal_stream_is_plain)
{
	setenv("JOURNAL_STREAM", "", 1);
	log_init(CONFIG_LOG_INFO);
	log_info("x");
	ck_assert(matches(captured(), "^[0-9]{4}-.*Z info: x\n$"));
}
END_TEST

START_TEST(test_level_filter)
{
	setenv("JOURNAL_STREAM", "8:12345", 1);
	log_init(CONFIG_LOG_WARNING);

	/* Above the level: the arguments are not even computed. */
	log_info("%d", side_effect());
	log_debug("%d", side_effect());
	ck_assert_int_eq(evaluated, 0);
	ck_assert_str_eq(captured(), "");

	/* At or below it: written. */
	log_warn("w%d", side_effect());
	log_err("e%d", side_effect());
	log_crit("c%d", side_effect());
	ck_assert_int_eq(evaluated, 3);
	ck_assert_str_eq(captured(), "<4>w1\n<3>e2\n<2>c3\n");

	/* A reload may raise the level. */
	log_set_level(CONFIG_LOG_DEBUG);
	log_debug("%d", side_effect());
	ck_assert_str_eq(captured(), "<7>4\n");
	log_set_level(CONFIG_LOG_CRIT);
	log_err("%d", side_effect());
	ck_assert_int_eq(evaluated, 4);
	ck_assert_str_eq(captured(), "");
}
END_TEST

START_TEST(test_long_line_kept_whole)
{
	static char	 msg[5000];
	const char	*line;

	memset(msg, 'm', sizeof msg - 1);
	setenv("JOURNAL_STREAM", "8:12345", 1);
	log_init(CONFIG_LOG_INFO);
	log_err("%s", msg);
	line = captured();
	ck_assert_uint_le(strlen(line), 2048);
	ck_assert_uint_gt(strlen(line), 2000);
	ck_assert_str_eq(strchr(line, '\n'), "\n");
	ck_assert_int_eq(strncmp(line, "<3>mmm", 6), 0);
}
END_TEST

/* The suite. */
static Suite *
log_suite(void)
{
	Suite	*s = suite_create("log");
	TCase	*tc = tcase_create("log");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_journal_prefix, 0, NLEVELS);
	tcase_add_loop_test(tc, test_plain_level_name, 0, NLEVELS);
	tcase_add_test(tc, test_empty_journal_stream_is_plain);
	tcase_add_test(tc, test_level_filter);
	tcase_add_test(tc, test_long_line_kept_whole);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(log_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
