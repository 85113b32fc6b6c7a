/* libFuzzer target: the efa-check.conf parser (strict Key=Value, NodeName hostlists). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct efa_config c;
	char err[CONFIG_ERR_MAX];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	config_defaults(&c);
	if (config_parse_text(&c, text, "fuzz.conf", "n17", err, sizeof(err)) < 0) {
		/* every error is "file:line: message", bounded and terminated */
		if (strncmp(err, "fuzz.conf:", 10) != 0 || strlen(err) >= sizeof(err))
			abort();
	}
	config_free(&c);
	free(text);
	return 0;
}
