/*
 * test_config_nodename.c -- NodeName= scoping in efa-check.conf (prolog/core/config.c): which
 * lines apply to which node, the two passes, hostlist syntax and libslurm's matching (never
 * expanded: a 10-million-host hostlist stays small in memory).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/resource.h>

#include "core/config_test.h"

static const char node_text[] =
	"ExpectedDevices=4\n"
	"NodeName=p5-[001-002] ExpectedDevices=32 Timeout=60\n"
	"NodeName=p5-002 ExpectedDevices=16\n"
	"ExpectedDevices=8 Timeout=20\n";

static void test_nodename_match(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, node_text, "p5-001"), 0);
	assert_int_equal(c.expected_devices, 32);   /* global after node line doesn't override */
	assert_int_equal(c.timeout_s, 60);
	config_free(&c);
}

static void test_nodename_later_node_line_wins(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, node_text, "p5-002"), 0);
	assert_int_equal(c.expected_devices, 16);
	assert_int_equal(c.timeout_s, 60);
	config_free(&c);
}

static void test_nodename_no_match(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, node_text, "p4-001"), 0);
	assert_int_equal(c.expected_devices, 8);
	assert_int_equal(c.timeout_s, 20);
	config_free(&c);
	/* NULL node: NodeName lines never match (but are still validated) */
	assert_int_equal(parse(&c, node_text, NULL), 0);
	assert_int_equal(c.expected_devices, 8);
	config_free(&c);
	assert_int_equal(parse(&c, node_text, ""), 0);
	assert_int_equal(c.expected_devices, 8);
	config_free(&c);
}

static void test_nodename_ranges(void **state)
{
	static const char text[] = "NodeName=n[1-4,7],gpu[01-02] CrossPeers=9\n";
	static const char *const yes[] = { "n1", "n3", "n4", "n7", "gpu01", "gpu02" };
	static const char *const no[] = { "n0", "n5", "n6", "n8", "n10", "gpu1", "gpu03", "n",
					  "xn1" };
	struct efa_config c;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		assert_int_equal(parse(&c, text, yes[i]), 0);
		if (c.cross_peers != 9)
			fail_msg("%s should match", yes[i]);
		config_free(&c);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		assert_int_equal(parse(&c, text, no[i]), 0);
		if (c.cross_peers != 0)
			fail_msg("%s should not match", no[i]);
		config_free(&c);
	}
}

static void test_nodename_all(void **state)
{
	struct efa_config c;

	assert_int_equal(parse(&c, "NodeName=ALL Timeout=9\nTimeout=8\n", "anything"), 0);
	assert_int_equal(c.timeout_s, 9);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=all Timeout=9\nTimeout=8\n", "n1"), 0);
	assert_int_equal(c.timeout_s, 9);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=ALL Timeout=9\nTimeout=8\n", NULL), 0);
	assert_int_equal(c.timeout_s, 8);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=ALL Timeout=9\nTimeout=8\n", ""), 0);
	assert_int_equal(c.timeout_s, 8);
	config_free(&c);
}

static void test_nodename_validated_when_not_matching(void **state)
{
	EXPECT_ERR("Timeout=5\nNodeName=other Timout=5\n", "n1", "t.conf:2: unknown key 'Timout'");
	EXPECT_ERR("NodeName=other Timeout=0\n", "n1",
		   "t.conf:1: Timeout=0: out of range (expected 1..3600)");
	EXPECT_ERR("NodeName=other Timeout=5\nNodeName=n[1-2 Timeout=5\n", NULL,
		   "t.conf:2: NodeName=n[1-2: unbalanced brackets in hostlist");
}

static void test_nodename_errors(void **state)
{
	EXPECT_ERR("NodeName=n1\n", "n1", "t.conf:1: NodeName=n1: no keys on the line");
	EXPECT_ERR("NodeName=n1   # only a comment\n", "n1",
		   "t.conf:1: NodeName=n1: no keys on the line");
	EXPECT_ERR("Timeout=5 NodeName=n1\n", "n1",
		   "t.conf:1: NodeName= must be the first word of its line");
	EXPECT_ERR("NodeName=n1 NodeName=n2 Timeout=5\n", "n1",
		   "t.conf:1: NodeName= must be the first word of its line");
	EXPECT_ERR("NodeName= Timeout=5\n", "n1", "t.conf:1: NodeName: empty hostlist");
}

static void test_bad_hostlists(void **state)
{
	EXPECT_ERR("NodeName=n[5-1] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[5-1]: libslurm rejects this hostlist (bad range, or a "
		   "range too large; expected e.g. n[1-4,7] or ALL)");
	EXPECT_ERR_PREFIX("NodeName=n[a-b] Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n[a-b]: libslurm rejects this hostlist");
	/* Host suffixes: rejected by efa-check itself with one message on every Slurm release
	 * (libslurm 22.05 rejects them, 23.11+ accepts and expands them: see hostlist_syntax) */
	EXPECT_ERR("NodeName=n[1-2]x Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[1-2]x: text after ']' (host suffixes like n[1-2]x are not "
		   "supported; list such names, e.g. n1-ib,n2-ib)");
	EXPECT_ERR_PREFIX("NodeName=n1,n[1-2]-ib,n7 Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n1,n[1-2]-ib,n7: text after ']'");
	EXPECT_ERR_PREFIX("NodeName=n[1-2].x Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n[1-2].x: text after ']'");
	/* libslurm 22.05 caps one bracket range at 65536 hosts: a clear error, no allocation */
	EXPECT_ERR_PREFIX("NodeName=n[1-10000000] Timeout=5\n", "n1",
			  "t.conf:1: NodeName=n[1-10000000]: libslurm rejects this hostlist");
	EXPECT_ERR("NodeName=n1] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1]: unbalanced brackets in hostlist");
	EXPECT_ERR("NodeName=n[[1]] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[[1]]: unbalanced brackets in hostlist");
	EXPECT_ERR("NodeName=n1,,n2 Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1,,n2: empty entry in hostlist");
	EXPECT_ERR("NodeName=n1, Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1,: empty entry in hostlist");
	EXPECT_ERR("NodeName=n[] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n[]: empty entry in hostlist");
	EXPECT_ERR("NodeName=[1-2] Timeout=5\n", "n1",
		   "t.conf:1: NodeName=[1-2]: bracket without a name prefix");
	EXPECT_ERR("NodeName=n1;n2 Timeout=5\n", "n1",
		   "t.conf:1: NodeName=n1;n2: bad character ';' in hostlist");
}

static long maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* 10 million hosts (10000 ranges of 1000): matched with hostlist_find, never expanded. The
 * proof is memory, not time (which depends on the machine's load): 10M expanded names would
 * need well over 100 MB (1.15 GB with libslurm 24.11's suffix expansion); the peak RSS may
 * grow by at most 32 MiB over the three parses (measured: under 1 MiB with 22.05). */
static void test_huge_hostlist(void **state)
{
	static const char text[] = "NodeName=n[0000-9999][000-999] Timeout=77\n";
	struct efa_config c;
	long before = maxrss_kib();

	(void)before;
	assert_int_equal(parse(&c, text, "n9999999"), 0);
	assert_int_equal(c.timeout_s, 77);
	config_free(&c);
	assert_int_equal(parse(&c, text, "n0000000"), 0);
	assert_int_equal(c.timeout_s, 77);
	config_free(&c);
	assert_int_equal(parse(&c, text, "n10000000"), 0);
	assert_int_equal(c.timeout_s, 30);
	config_free(&c);
#ifndef __SANITIZE_ADDRESS__
	/* (not under ASan: its quarantine keeps libslurm's freed temporaries, ~100 MB of churn) */
	if (maxrss_kib() - before > 32 * 1024)
		fail_msg("huge hostlist: peak RSS grew by %ld KiB (expanded?)", maxrss_kib() - before);
#endif
}

/* The same 10 million hosts with a suffix: libslurm 23.11+ would expand them (2.2 s, 1.15 GB
 * with 24.11); efa-check rejects the suffix before libslurm sees the hostlist. */
static void test_huge_hostlist_suffix(void **state)
{
	struct efa_config c;

	/* the message is efa-check's own: libslurm never saw the hostlist */
	EXPECT_ERR_PREFIX("NodeName=n[0000-9999][000-999]-ib Timeout=77\n", "n0000000-ib",
			  "t.conf:1: NodeName=n[0000-9999][000-999]-ib: text after ']'");
	/* names with a suffix still match when listed, and a prefix before a range still works */
	assert_int_equal(parse(&c, "NodeName=n1-ib,n2-ib Timeout=9\n", "n2-ib"), 0);
	assert_int_equal(c.timeout_s, 9);
	config_free(&c);
	assert_int_equal(parse(&c, "NodeName=ib-n[1-2] Timeout=8\n", "ib-n2"), 0);
	assert_int_equal(c.timeout_s, 8);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodename_match),
		cmocka_unit_test(test_nodename_later_node_line_wins),
		cmocka_unit_test(test_nodename_no_match),
		cmocka_unit_test(test_nodename_ranges),
		cmocka_unit_test(test_nodename_all),
		cmocka_unit_test(test_nodename_validated_when_not_matching),
		cmocka_unit_test(test_nodename_errors),
		cmocka_unit_test(test_bad_hostlists),
		cmocka_unit_test(test_huge_hostlist),
		cmocka_unit_test(test_huge_hostlist_suffix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
