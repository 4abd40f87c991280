/* Arena allocation, cleanups and the protobuf-c allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "roster/alloc.h"
#include "roster/arena.h"

static int cleanup_order[4];
static int cleanup_count;

static void
record_cleanup(void *ptr)
{
    cleanup_order[cleanup_count++] = *(int *)ptr;
}

static void
arena_allocations_are_aligned_and_zeroed(void **state)
{
    rs_arena *arena = rs_arena_create();
    size_t i;

    RS_UNUSED(state);
    assert_non_null(arena);
    for (i = 1; i < 2000; i += 7) {
        unsigned char *p = rs_arena_alloc(arena, i);
        size_t j;

        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        for (j = 0; j < i; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xAB, i);
    }
    /* A block larger than the default block size. */
    assert_non_null(rs_arena_alloc(arena, 100000));
    assert_non_null(rs_arena_alloc(arena, 16));
    rs_arena_destroy(arena);
}

static void
arena_strings(void **state)
{
    rs_arena *arena = rs_arena_create();

    RS_UNUSED(state);
    assert_string_equal(rs_arena_strdup(arena, "研发中心"), "研发中心");
    assert_string_equal(rs_arena_strndup(arena, "abcdef", 3), "abc");
    assert_string_equal(rs_arena_printf(arena, "%s-%d", "g", 42), "g-42");
    rs_arena_destroy(arena);
}

static void
arena_cleanups_run_newest_first(void **state)
{
    static int values[3] = {1, 2, 3};
    rs_arena *arena = rs_arena_create();
    int i;

    RS_UNUSED(state);
    cleanup_count = 0;
    for (i = 0; i < 3; i++)
        assert_int_equal(rs_arena_defer(arena, record_cleanup, &values[i]), RS_OK);
    rs_arena_destroy(arena);
    assert_int_equal(cleanup_count, 3);
    assert_int_equal(cleanup_order[0], 3);
    assert_int_equal(cleanup_order[2], 1);
    rs_arena_destroy(NULL);
}

static void
arena_defer_out_of_memory_runs_cleanup(void **state)
{
    static int value = 9;
    rs_arena *arena = rs_arena_create();

    RS_UNUSED(state);
    cleanup_count = 0;
    rs_alloc_fail_after(1, 0);
    assert_int_equal(rs_arena_defer(arena, record_cleanup, &value), RS_ENOMEM);
    assert_int_equal(cleanup_count, 1);
    rs_alloc_fail_after(0, 0);
    rs_arena_destroy(arena);
    assert_int_equal(cleanup_count, 1);
}

static void
arena_pb_allocator_draws_from_arena(void **state)
{
    rs_arena *arena = rs_arena_create();
    ProtobufCAllocator *a = rs_arena_pb_allocator(arena);
    void *p;

    RS_UNUSED(state);
    p = a->alloc(a->allocator_data, 40);
    assert_non_null(p);
    a->free(a->allocator_data, p);
    rs_arena_destroy(arena);
}

static void
alloc_failure_injection(void **state)
{
    void *p;

    RS_UNUSED(state);
    rs_alloc_fail_after(2, 0);
    p = rs_malloc(8);
    assert_non_null(p);
    rs_free(p);
    assert_null(rs_malloc(8));
    p = rs_malloc(8);
    assert_non_null(p);
    rs_free(p);
    rs_alloc_fail_after(1, 1);
    assert_null(rs_malloc(8));
    assert_null(rs_calloc(1, 8));
    rs_alloc_fail_after(0, 0);
    p = rs_strdup("x");
    assert_non_null(p);
    RS_FREE(&p);
    assert_null(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_allocations_are_aligned_and_zeroed),
        cmocka_unit_test(arena_strings),
        cmocka_unit_test(arena_cleanups_run_newest_first),
        cmocka_unit_test(arena_defer_out_of_memory_runs_cleanup),
        cmocka_unit_test(arena_pb_allocator_draws_from_arena),
        cmocka_unit_test(alloc_failure_injection),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
