/*
 * args.h -- the plugin's arguments from plugstack.conf (DESIGN §2): key=value words, strictly
 * parsed. An unknown key or a bad value is a load error naming it.
 */
#ifndef SPANK_EFA_CHECK_ARGS_H
#define SPANK_EFA_CHECK_ARGS_H

#include "context.h"

#include <stddef.h>

/* Fill a with the defaults, then apply argv. Returns 0, or -1 with err set. */
int plugin_args_parse(struct plugin_args *a, int argc, char **argv, char *err, size_t errlen);

#endif
