/*
 * libs/core/include/roster/cfg.h
 *    Typed reads of ROSTER_* environment variables. Each error message names
 *    the variable and the accepted values, so main can print it and exit.
 */
#ifndef RS_CFG_H
#define RS_CFG_H

#include <stdbool.h>

#include "roster/status.h"

/*
 * Sets *out to the variable's value, or to def when it is unset or empty.
 * *out is borrowed from the environment or def. Always RS_OK.
 */
rs_status rs_cfg_string(const char *name, const char *def, const char **out);

/* Parses a decimal integer in [min, max]; RS_EINVAL (message names it) otherwise. */
RS_MUSTCHECK rs_status rs_cfg_int(const char *name, long def, long min, long max,
                                  long *out, struct rs_error *err);

/* Parses true/false/1/0/yes/no/on/off; RS_EINVAL otherwise. */
RS_MUSTCHECK rs_status rs_cfg_bool(const char *name, bool def, bool *out,
                                   struct rs_error *err);

/* Requires a readable regular file when the variable is set; RS_EINVAL otherwise. */
RS_MUSTCHECK rs_status rs_cfg_file(const char *name, const char **out,
                                   struct rs_error *err);

#endif /* RS_CFG_H */
