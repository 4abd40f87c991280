/*
 * libs/core/src/cfg.c
 *    ROSTER_* environment variables, parsed strictly.
 */
#include "roster/cfg.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

rs_status
rs_cfg_string(const char *name, const char *def, const char **out)
{
    const char *v = getenv(name);

    *out = (v != NULL && v[0] != '\0') ? v : def;
    return RS_OK;
}

rs_status
rs_cfg_int(const char *name, long def, long min, long max, long *out, struct rs_error *err)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n;

    *out = def;
    if (v == NULL || v[0] == '\0')
        return RS_OK;
    errno = 0;
    n = strtol(v, &end, 10);
    /* strtol skips leading white space; trailing white space is refused, so both are. */
    if (errno != 0 || end == v || *end != '\0' || isspace((unsigned char)v[0]) || n < min ||
        n > max) {
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "invalid value for %s: \"%s\" (expected an integer from %ld to %ld)",
                            name, v, min, max);
    }
    *out = n;
    return RS_OK;
}

rs_status
rs_cfg_bool(const char *name, bool def, bool *out, struct rs_error *err)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *v = getenv(name);
    size_t i;

    *out = def;
    if (v == NULL || v[0] == '\0')
        return RS_OK;
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return RS_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return RS_OK;
        }
    }
    return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                        "invalid value for %s: \"%s\" (expected true or false)", name, v);
}

rs_status
rs_cfg_file(const char *name, const char **out, struct rs_error *err)
{
    const char *v = getenv(name);
    struct stat st;

    *out = NULL;
    if (v == NULL || v[0] == '\0')
        return RS_OK;
    if (stat(v, &st) != 0 || !S_ISREG(st.st_mode) || access(v, R_OK) != 0) {
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "invalid value for %s: \"%s\" is not a readable file", name, v);
    }
    *out = v;
    return RS_OK;
}
