/*
 * libs/core/include/roster/alloc.h
 *    Allocation wrappers with a fault-injection hook for out-of-memory tests.
 */
#ifndef RS_ALLOC_H
#define RS_ALLOC_H

#include <stddef.h>

void *rs_malloc(size_t size);
void *rs_calloc(size_t n, size_t size);
void *rs_realloc(void *ptr, size_t size);
void rs_free(void *ptr);
char *rs_strdup(const char *s);

/* Frees *pp and sets it to NULL. */
#define RS_FREE(pp) do { rs_free(*(pp)); *(pp) = NULL; } while (0)

/*
 * Makes the n-th allocation from now (1-based) fail, and every one after it
 * if sticky is non-zero; n == 0 disables injection. For tests only.
 */
void rs_alloc_fail_after(long n, int sticky);

#endif /* RS_ALLOC_H */
