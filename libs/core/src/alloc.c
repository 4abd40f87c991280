/*
 * libs/core/src/alloc.c
 *    Allocation wrappers; tests make the k-th allocation fail to exercise
 *    out-of-memory paths.
 */
#include "roster/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long fail_countdown;
static atomic_int fail_sticky;

void
rs_alloc_fail_after(long n, int sticky)
{
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_countdown, n);
}

static int
should_fail(void)
{
    long left = atomic_load(&fail_countdown);

    if (left <= 0)
        return 0;
    left = atomic_fetch_sub(&fail_countdown, 1);
    if (left == 1) {
        if (atomic_load(&fail_sticky))
            atomic_store(&fail_countdown, 1);
        return 1;
    }
    return 0;
}

void *
rs_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size == 0 ? 1 : size);
}

void *
rs_calloc(size_t n, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *
rs_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size == 0 ? 1 : size);
}

void
rs_free(void *ptr)
{
    free(ptr);
}

char *
rs_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *copy = rs_malloc(len);

    if (copy != NULL)
        memcpy(copy, s, len);
    return copy;
}
