/* libFuzzer target: the report reader and writer (a cached or worker-sent report is input). */
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void assert_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	struct report r;
	FILE *null = fopen("/dev/null", "w");

	if (!tok || !null)
		goto out;
	o = json_tokener_parse_ex(tok, (const char *)data, (int)(size > 1 << 20 ? 1 << 20 : size));
	if (o && report_from_json(o, &r) == 0) {
		report_finalize(&r);
		assert_printable(r.reason);  /* a drain reason is printable ASCII */
		report_write_json(&r, null);
		report_write_human(&r, null);
		report_free(&r);
	}
	json_object_put(o);
out:
	if (null)
		fclose(null);
	if (tok)
		json_tokener_free(tok);
	return 0;
}
