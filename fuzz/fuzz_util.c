/*
 * fuzz/fuzz_util.c
 *    Helpers shared by the fuzz targets.
 */
#include "fuzz.h"

#include <stdio.h>
#include <string.h>

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
    abort();
}

char *
fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}
