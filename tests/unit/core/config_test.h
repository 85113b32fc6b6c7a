/*
 * config_test.h -- what the efa-check.conf unit suites share (test_config.c,
 * test_config_nodename.c, test_config_values.c): parse text into a config and expect an
 * exact error. Include after <cmocka.h>; one suite per binary, so the definitions here are
 * the suite's own.
 */
#ifndef EFA_TESTS_CONFIG_TEST_H
#define EFA_TESTS_CONFIG_TEST_H

#include <string.h>

#include "core/config.h"

/* libslurm 22.05's hostlist_create leaks a strdup'd copy of the range when it rejects a
 * hostlist (inside libslurm, not ours). Used only by the ASan+UBSan build. */
const char *__lsan_default_suppressions(void);
__attribute__((used)) const char *__lsan_default_suppressions(void)
{
	return "leak:libslurm.so\n";
}

static char err[CONFIG_ERR_MAX];

static inline int parse(struct efa_config *c, const char *text, const char *node)
{
	config_defaults(c);
	return config_parse_text(c, text, "t.conf", node, err, sizeof(err));
}

/* Parse must fail with exactly this message. */
#define EXPECT_ERR(text, node, msg) do {                                 \
		struct efa_config c_;                                       \
		assert_int_equal(parse(&c_, (text), (node)), -1);           \
		assert_string_equal(err, (msg));                            \
		assert_null(c_.domains);                                    \
		assert_null(c_.env);                                        \
		config_free(&c_);                                           \
	} while (0)

/* Parse must fail with a message starting with this prefix. */
#define EXPECT_ERR_PREFIX(text, node, prefix) do {                       \
		struct efa_config c_;                                       \
		assert_int_equal(parse(&c_, (text), (node)), -1);           \
		if (strncmp(err, (prefix), strlen(prefix)))                 \
			fail_msg("error '%s' lacks prefix '%s'", err, (prefix)); \
		config_free(&c_);                                           \
	} while (0)

#endif
