/*
 * test_strutil.c -- the bounded string helpers every error message goes through.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/strutil.h"

static void test_printf_fits(void **state)
{
	char buf[32];

	(void)state;
	assert_true(str_printf(buf, sizeof(buf), "%s: %s", "rdmap16s27", "fi_domain"));
	assert_string_equal(buf, "rdmap16s27: fi_domain");
}

static void test_printf_truncates_terminated(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_false(str_printf(buf, sizeof(buf), "%s", "rdmap16s27-rdm"));
	assert_string_equal(buf, "rdmap16");
}

static void test_printf_null_or_empty_destination(void **state)
{
	char buf[4] = "abc";

	(void)state;
	assert_false(str_printf(NULL, 16, "%d", 1));
	assert_false(str_printf(buf, 0, "%d", 1));
	assert_string_equal(buf, "abc");
}

static void test_appendf_appends_and_truncates(void **state)
{
	char buf[12] = "a";

	(void)state;
	assert_true(str_appendf(buf, sizeof(buf), "%s", "bc"));
	assert_string_equal(buf, "abc");
	assert_false(str_appendf(buf, sizeof(buf), "%s", "defghijklmn"));
	assert_string_equal(buf, "abcdefghijk");
	assert_false(str_appendf(buf, sizeof(buf), "%s", "z"));
	assert_string_equal(buf, "abcdefghijk");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printf_fits),
		cmocka_unit_test(test_printf_truncates_terminated),
		cmocka_unit_test(test_printf_null_or_empty_destination),
		cmocka_unit_test(test_appendf_appends_and_truncates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
