/*
 * libs/core/include/roster/clock.h
 *    Readings of CLOCK_MONOTONIC, deadlines on it and condition variables
 *    that wait by it, so that a step of the wall clock neither stretches
 *    nor cuts short a timeout.
 */
#ifndef RS_CLOCK_H
#define RS_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/*
 * Returns CLOCK_MONOTONIC in nanoseconds. The origin is unspecified (boot
 * on Linux), so only differences between two readings mean anything.
 * THREAD-SAFETY: thread-safe.
 */
int64_t rs_clock_ns(void);

/* Returns rs_clock_ns() converted to microseconds or milliseconds, rounded down. */
int64_t rs_clock_us(void);
int64_t rs_clock_ms(void);

/*
 * Returns the absolute CLOCK_MONOTONIC time ms milliseconds from now, with
 * tv_nsec in [0, 1e9), for pthread_cond_timedwait on a condition variable
 * made by rs_cond_init_monotonic. A negative ms gives a time already past.
 * THREAD-SAFETY: thread-safe.
 */
struct timespec rs_clock_deadline_ms(int64_t ms);

/*
 * Initialises *cv to measure pthread_cond_timedwait deadlines on
 * CLOCK_MONOTONIC. The caller owns *cv and destroys it with
 * pthread_cond_destroy. Returns 0, or the errno value of the pthread call
 * that failed, and then *cv is not initialised. In the glibc 2.29 nptl
 * sources none of these calls can fail with CLOCK_MONOTONIC on Linux, so
 * a caller without an error path may ignore the result.
 */
int rs_cond_init_monotonic(pthread_cond_t *cv);

#endif /* RS_CLOCK_H */
