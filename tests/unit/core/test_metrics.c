/*
 * test_metrics.c -- the Prometheus textfile: format, label escaping, atomic write.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/metrics.h"
#include "core/report.h"
#include "core/strutil.h"

static void sample_report(struct report *r)
{
	struct check_result c;

	report_init(r, "prolog", "n1");
	check_init(&c, "devices", NULL);
	c.duration_ms = 2;
	report_add(r, &c);
	check_init(&c, "loopback", "lo");
	c.duration_ms = 1250;
	check_metric(&c, "write_gbps", 9.5);
	check_metric(&c, "latency_us", 21.25);
	report_add(r, &c);
	check_init(&c, "loopback", "rdmap16s27");
	check_fail(&c, "rdmap16s27: RMA write data mismatch");
	check_metric(&c, "write_gbps", 0);
	report_add(r, &c);
	check_init(&c, "gpu", NULL);
	check_skip(&c, "no GPUs");
	report_add(r, &c);
	r->duration_ms = 1300;
	report_finalize(r);
}

static char *format(const struct report *r)
{
	static char buf[65536];

	assert_true(metrics_format(r, 1700000000.5, 7, buf, sizeof(buf)) > 0);
	return buf;
}

/* Base units, cross links and slow nodes, flapping; and promtool's lint when it exists. */
static void test_format_gray(void **s)
{
	struct report r;
	struct report_link l1 = { .a = "n1", .b = "n2", .ok = true, .gbps = 0.1, .latency_us = 500 };
	struct report_link l2 = { .a = "n1", .b = "n3", .ok = true, .gbps = 8, .latency_us = 20 };
	struct report_link l3 = { .a = "n2", .b = "n3", .ok = true, .gbps = 0.1, .latency_us = 400 };
	struct check_result c;
	char *t;
	FILE *f;

	(void)s;
	sample_report(&r);
	r.flapping = 1;
	report_add_link(&r, &l1);
	report_add_link(&r, &l2);
	l3.slow = true;
	report_add_link(&r, &l3);
	report_add_slow_node(&r, "n2");
	check_init(&c, "loopback", "dev1");       /* one device slow against its siblings */
	check_metric(&c, "write_gbps", 0.2);
	c.slow = true;
	report_add(&r, &c);
	t = format(&r);
	assert_non_null(strstr(t, "\nefa_check_device_slow{domain=\"dev1\"} 1\n"));
	assert_non_null(strstr(t, "\nefa_check_device_slow{domain=\"lo\"} 0\n"));
	assert_non_null(strstr(t, "\nefa_check_loopback_write_bytes_per_second{domain=\"lo\"} 1.1875e+09\n"));
	assert_non_null(strstr(t, "\nefa_check_loopback_latency_seconds{domain=\"lo\"} 2.125e-05\n"));
	assert_non_null(strstr(t, "\nefa_check_link_bytes_per_second{a=\"n1\",b=\"n3\"} 1e+09\n"));
	assert_non_null(strstr(t, "\nefa_check_link_slow{a=\"n2\",b=\"n3\"} 1\n"));
	assert_non_null(strstr(t, "\nefa_check_link_slow{a=\"n1\",b=\"n2\"} 0\n"));
	assert_non_null(strstr(t, "\nefa_check_node_slow{node=\"n2\"} 1\n"));
	assert_non_null(strstr(t, "\nefa_check_node_slow{node=\"n1\"} 0\n"));
	assert_non_null(strstr(t, "\nefa_check_node_slow{node=\"n3\"} 0\n"));
	assert_null(strstr(strstr(t, "efa_check_node_slow{node=\"n3\"}") + 1, "efa_check_node_slow{node=\"n3\"}"));
	assert_non_null(strstr(t, "\nefa_check_flapping 1\n"));
	/* promtool check metrics (Debian's prometheus package) when installed: no lint problems */
	if (access("/usr/bin/promtool", X_OK) == 0 && (f = popen("/usr/bin/promtool check metrics", "w"))) {
		fputs(t, f);
		assert_int_equal(pclose(f), 0);
	}
	report_free(&r);
}

static void test_format_lines(void **s)
{
	struct report r;
	char *t;

	sample_report(&r);
	t = format(&r);
	assert_non_null(strstr(t, "\nefa_check_ok 0\n"));
	assert_non_null(strstr(t, "efa_check_check_ok{check=\"devices\",target=\"\"} 1\n"));
	assert_non_null(strstr(t, "efa_check_check_ok{check=\"loopback\",target=\"lo\"} 1\n"));
	assert_non_null(strstr(t, "efa_check_check_ok{check=\"loopback\",target=\"rdmap16s27\"} 0\n"));
	assert_non_null(strstr(t, "efa_check_check_ok{check=\"gpu\",target=\"\"} 1\n"));
	assert_non_null(strstr(t, "efa_check_check_skipped{check=\"gpu\",target=\"\"} 1\n"));
	assert_non_null(strstr(t, "efa_check_check_duration_seconds{check=\"loopback\",target=\"lo\"} 1.250\n"));
	assert_non_null(strstr(t, "efa_check_loopback_write_bytes_per_second{domain=\"lo\"} 1.1875e+09\n"));
	assert_non_null(strstr(t, "efa_check_loopback_write_bytes_per_second{domain=\"rdmap16s27\"} 0\n"));
	assert_non_null(strstr(t, "efa_check_loopback_latency_seconds{domain=\"lo\"} 2.125e-05\n"));
	assert_non_null(strstr(t, "efa_check_last_run_timestamp_seconds 1700000000.500\n"));
	assert_non_null(strstr(t, "efa_check_runs_total 7\n"));
	assert_non_null(strstr(t, "# TYPE efa_check_ok gauge\n"));
	report_free(&r);
}

/* Every line is a comment or "name{labels} value" / "name value"; each metric family has
 * exactly one TYPE line, before its samples. */
static void test_format_grammar(void **s)
{
	struct report r;
	char *t, *save = NULL, *line, seen[64][80];
	int nseen = 0;

	sample_report(&r);
	t = strdup(format(&r));
	assert_int_equal(t[strlen(t) - 1], '\n');
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[80];
		double v;

		if (!strncmp(line, "# TYPE ", 7)) {
			assert_int_equal(sscanf(line + 7, "%79s", name), 1);
			for (int i = 0; i < nseen; i++)
				assert_string_not_equal(seen[i], name);
			str_copy(seen[nseen++], sizeof(seen[0]), name);
			continue;
		}
		if (line[0] == '#')
			continue;
		assert_int_equal(sscanf(line, "%79[a-z_]", name), 1);
		assert_true(nseen > 0);
		assert_string_equal(seen[nseen - 1], name);
		assert_int_equal(sscanf(strrchr(line, ' ') + 1, "%lf", &v), 1);
	}
	free(t);
	report_free(&r);
}

static void test_label_escaping(void **s)
{
	struct report r;
	struct check_result c;
	char *t;

	report_init(&r, "health", "n1");
	check_init(&c, "loopback", "we\"ird\\dom\nain");
	check_metric(&c, "write_gbps", 1);
	report_add(&r, &c);
	t = format(&r);
	assert_non_null(strstr(t, "target=\"we\\\"ird\\\\dom\\nain\""));
	assert_non_null(strstr(t, "efa_check_loopback_write_bytes_per_second{domain=\"we\\\"ird\\\\dom\\nain\"} 1.25e+08\n"));
	assert_non_null(strstr(t, "\nefa_check_ok 1\n"));
	report_free(&r);
}

static void test_small_buffer(void **s)
{
	struct report r;
	char buf[64];

	sample_report(&r);
	assert_int_equal(metrics_format(&r, 1, 1, buf, sizeof(buf)), -1);
	report_free(&r);
}

static void test_write_atomic(void **s)
{
	char dir[] = "/tmp/efa-metrics.XXXXXX", path[128], buf[65536], err[512];
	struct report r;
	struct dirent *e;
	FILE *f;
	size_t n;
	DIR *d;
	int files = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/efa_check.prom", dir);
	sample_report(&r);
	assert_int_equal(metrics_write(path, &r, 5, 1, err, sizeof(err)), 0);
	assert_int_equal(metrics_write(path, &r, 6, 2, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(buf, "efa_check_runs_total 2\n"));
	d = opendir(dir);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' || strstr(e->d_name, ".tmp"))
			files++;
	closedir(d);
	assert_int_equal(files, 1);  /* no temp file left behind */
	unlink(path);
	rmdir(dir);
	report_free(&r);
}

/* Issue 15 hostile: a symlink at the metrics path is replaced and its target untouched; a
 * symlink among the directory's parents is refused (MetricsFile's directory is walked from /). */
static void test_write_no_follow(void **s)
{
	char dir[] = "/tmp/efa-metrics.XXXXXX", path[256], victim[160], linkdir[160], err[512];
	char buf[16] = "";
	struct report r;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	chmod(dir, 0755);
	sample_report(&r);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	fputs("keep", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/efa_check.prom", dir);
	assert_int_equal(symlink(victim, path), 0);
	assert_int_equal(metrics_write(path, &r, 5, 1, err, sizeof(err)), 0);
	f = fopen(victim, "r");
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "keep");
	snprintf(linkdir, sizeof(linkdir), "%s/link", dir);
	assert_int_equal(symlink(dir, linkdir), 0);
	snprintf(path, sizeof(path), "%s/x.prom", linkdir);
	assert_int_equal(metrics_write(path, &r, 5, 1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symlink"));
	snprintf(path, sizeof(path), "%s/x.prom", dir);
	assert_int_equal(access(path, F_OK), -1);
	unlink(linkdir);
	unlink(victim);
	snprintf(path, sizeof(path), "%s/efa_check.prom", dir);
	unlink(path);
	rmdir(dir);
	report_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_lines),
		cmocka_unit_test(test_format_gray),
		cmocka_unit_test(test_format_grammar),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_write_atomic),
		cmocka_unit_test(test_write_no_follow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
