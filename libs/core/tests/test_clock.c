/*
 * Monotonic clock readings, deadlines and condition variables. The bounds
 * are loose on purpose: a loaded CI machine may stall the test for seconds
 * between two readings.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "roster/clock.h"
#include "roster/status.h"

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)
/* Upper bound on the stall between two readings taken back to back. */
#define SLACK_NS (30 * NS_PER_S)

static int64_t
timespec_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * NS_PER_S + ts->tv_nsec;
}

static void
clock_never_goes_back(void **state)
{
    int64_t prev, now;
    int i;

    RS_UNUSED(state);
    prev = rs_clock_ns();
    for (i = 0; i < 10000; i++) {
        now = rs_clock_ns();
        assert_true(now >= prev);
        prev = now;
    }
}

static void
clock_matches_clock_gettime(void **state)
{
    struct timespec ts;
    int64_t before, after;

    RS_UNUSED(state);
    before = rs_clock_ns();
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    after = rs_clock_ns();
    assert_true(timespec_ns(&ts) >= before);
    assert_true(timespec_ns(&ts) <= after);
}

static void
clock_units_agree(void **state)
{
    int64_t ns0, us, ms, ns1;

    RS_UNUSED(state);
    ns0 = rs_clock_ns();
    us = rs_clock_us();
    ms = rs_clock_ms();
    ns1 = rs_clock_ns();
    /* Each coarser reading lies between the two fine ones, rounded down. */
    assert_true(us >= ns0 / 1000);
    assert_true(us <= ns1 / 1000);
    assert_true(ms >= ns0 / NS_PER_MS);
    assert_true(ms <= ns1 / NS_PER_MS);
    assert_true(ms >= us / 1000);
}

static void
clock_measures_a_sleep(void **state)
{
    struct timespec nap = { .tv_sec = 0, .tv_nsec = 20 * NS_PER_MS };
    int64_t start, elapsed;

    RS_UNUSED(state);
    start = rs_clock_ms();
    assert_int_equal(nanosleep(&nap, NULL), 0);
    elapsed = rs_clock_ms() - start;
    assert_true(elapsed >= 20);
    assert_true(elapsed < 20 + SLACK_NS / NS_PER_MS);
}

/* Checks that rs_clock_deadline_ms(ms) is normalised and ms ahead. */
static void
check_deadline(int64_t ms)
{
    struct timespec deadline;
    int64_t before, after, at;

    before = rs_clock_ns();
    deadline = rs_clock_deadline_ms(ms);
    after = rs_clock_ns();

    assert_true(deadline.tv_nsec >= 0);
    assert_true(deadline.tv_nsec < NS_PER_S);
    at = timespec_ns(&deadline);
    assert_true(at >= before + ms * NS_PER_MS);
    assert_true(at <= after + ms * NS_PER_MS);
}

static void
deadline_is_normalised_and_ahead(void **state)
{
    /*
     * 999 and 1999 ms carry tv_nsec past a second unless it starts below
     * 1 ms, and 2500 ms carries it for half of all start times.
     */
    static const int64_t cases[] = {
        0, 1, 100, 999, 1000, 1001, 1999, 2500, 60000, 86400000,
    };
    size_t i;

    RS_UNUSED(state);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_deadline(cases[i]);
}

static void
deadline_in_past_is_normalised(void **state)
{
    RS_UNUSED(state);
    /* -999 ms borrows a second unless tv_nsec starts above 999 ms. */
    check_deadline(-1);
    check_deadline(-999);
    check_deadline(-1500);
}

static void
cond_times_out_by_monotonic_deadline(void **state)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    struct timespec deadline;
    int64_t start, elapsed;
    int rc;

    RS_UNUSED(state);
    assert_int_equal(rs_cond_init_monotonic(&cv), 0);

    start = rs_clock_ms();
    deadline = rs_clock_deadline_ms(50);
    pthread_mutex_lock(&mu);
    do
        rc = pthread_cond_timedwait(&cv, &mu, &deadline);
    while (rc == 0);
    pthread_mutex_unlock(&mu);
    elapsed = rs_clock_ms() - start;

    assert_int_equal(rc, ETIMEDOUT);
    /*
     * A condition variable on CLOCK_REALTIME would read this deadline as a
     * time in 1970 and time out at once.
     */
    assert_true(elapsed >= 50);
    assert_true(elapsed < 50 + SLACK_NS / NS_PER_MS);

    pthread_cond_destroy(&cv);
    pthread_mutex_destroy(&mu);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clock_never_goes_back),
        cmocka_unit_test(clock_matches_clock_gettime),
        cmocka_unit_test(clock_units_agree),
        cmocka_unit_test(clock_measures_a_sleep),
        cmocka_unit_test(deadline_is_normalised_and_ahead),
        cmocka_unit_test(deadline_in_past_is_normalised),
        cmocka_unit_test(cond_times_out_by_monotonic_deadline),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
