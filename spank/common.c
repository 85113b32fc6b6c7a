/*
 * common.c -- helpers shared by the contexts (model: pyxis common.c).
 */
#include "plugin.h"
#include "core/strutil.h"

#include <ctype.h>
#include <string.h>

int efa_check_argv(const struct plugin_context *ctx, const char *sub, const char **extra, size_t nextra,
		   char **argv, size_t max)
{
	size_t n = 0;

	if (max < 8 + nextra)
		return -1;
	argv[n++] = (char *)ctx->args.efa_check;
	argv[n++] = (char *)sub;
	if (ctx->node[0]) {
		argv[n++] = (char *)"--node";
		argv[n++] = (char *)ctx->node;
	}
	if (ctx->args.config_given) {
		argv[n++] = (char *)"--config";
		argv[n++] = (char *)ctx->args.config;
	}
	for (size_t i = 0; i < nextra; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	return (int)n;
}

void reason_from_stderr(const char *err, char *out, size_t size)
{
	static const char prefix[] = PLUGIN_PREFIX ": ";
	const char *best = NULL, *p = err;
	size_t n = 0;

	out[0] = '\0';
	if (!err)
		return;
	while (p && *p) {
		if (!strncmp(p, prefix, sizeof(prefix) - 1) && strncmp(p + sizeof(prefix) - 1, "warning:", 8))
			best = p + sizeof(prefix) - 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!best) {
		/* no efa-check line: the last non-empty line, whatever it is */
		for (p = err; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
			if (*p != '\n')
				best = p;
	}
	if (!best)
		return;
	for (; *best && *best != '\n' && n + 1 < size; best++)
		out[n++] = isprint((unsigned char)*best) ? *best : '?';
	out[n] = '\0';
}
