/* libFuzzer target: the instance-profile table parser and lookup. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "env/profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile_table t = { 0 };
	struct instance_profile p;
	char err[256];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (profiles_parse(&t, text, "fuzz", err, sizeof(err)) == 0) {
		profiles_lookup(&t, "p5.48xlarge", &p);
		profiles_lookup(&t, "", &p);
	} else if (strncmp(err, "fuzz:", 5) != 0) {
		abort();
	}
	profiles_free(&t);
	free(text);
	return 0;
}
