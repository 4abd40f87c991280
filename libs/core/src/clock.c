/*
 * libs/core/src/clock.c
 *    CLOCK_MONOTONIC readings, deadlines and condition variables.
 */
#include "roster/clock.h"

int64_t
rs_clock_ns(void)
{
    struct timespec ts;

    /*
     * clock_gettime(2) lists only EINVAL (unknown clock) and EFAULT (bad
     * pointer) as errors here, and neither can occur, so the result is not
     * checked here or in rs_clock_deadline_ms.
     */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
rs_clock_us(void)
{
    return rs_clock_ns() / 1000;
}

int64_t
rs_clock_ms(void)
{
    return rs_clock_ns() / 1000000;
}

struct timespec
rs_clock_deadline_ms(int64_t ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    } else if (ts.tv_nsec < 0) {
        ts.tv_sec--;
        ts.tv_nsec += 1000000000L;
    }
    return ts;
}

int
rs_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    int rc;

    rc = pthread_condattr_init(&attr);
    if (rc != 0)
        return rc;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc != 0)
        goto out;
    rc = pthread_cond_init(cv, &attr);
out:
    pthread_condattr_destroy(&attr);
    return rc;
}
