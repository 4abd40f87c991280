/*
 * fuzz/fuzz.h
 *    What every fuzz target shares. A target defines LLVMFuzzerTestOneInput;
 *    with RS_FUZZ=ON libFuzzer calls it, otherwise replay.c does, once per
 *    corpus file, so CI runs the same code on the committed inputs.
 */
#ifndef RS_FUZZ_H
#define RS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts with a message: a broken invariant is a finding, like a crash. */
#define FUZZ_ASSERT(cond)                                                               \
    do {                                                                                \
        if (!(cond))                                                                    \
            fuzz_fail(__FILE__, __LINE__, #cond);                                       \
    } while (0)

void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

/* Returns data[0..size) as a NUL-terminated malloc'ed copy; the caller frees it. */
char *fuzz_cstr(const uint8_t *data, size_t size);

#endif /* RS_FUZZ_H */
