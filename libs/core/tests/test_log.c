/* logfmt output: fixed keys, quoting and level filtering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "roster/log.h"

/* Runs fn with stderr redirected to a pipe and returns what it wrote. */
static void
capture(void (*fn)(void), char *out, size_t out_size)
{
    int fds[2];
    int saved;
    ssize_t n;

    assert_int_equal(pipe(fds), 0);
    saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    n = read(fds[0], out, out_size - 1);
    close(fds[0]);
    out[n > 0 ? n : 0] = '\0';
}

static void
write_call_line(void)
{
    struct rs_log_ctx ctx = {"req1", "/roster.identity.v1.IdentityService/GetUser",
                             "ipv4:127.0.0.1:5"};

    rs_log_info(&ctx, "call finished", "code", "OK", "name", "张 \"伟\"", "empty", "", NULL);
}

static void
write_debug_line(void)
{
    rs_log_debug(NULL, "hidden", NULL);
    rs_log_warn(NULL, "shown", "detail", "line1\nline2", NULL);
}

static void
log_line_has_fixed_keys_and_quoting(void **state)
{
    char out[2048];

    RS_UNUSED(state);
    rs_log_init("identity", RS_LOG_INFO);
    capture(write_call_line, out, sizeof(out));
    assert_true(strncmp(out, "ts=", 3) == 0);
    assert_non_null(strstr(out, " level=info svc=identity pid="));
    assert_non_null(strstr(out, " req=req1 rpc=/roster.identity.v1.IdentityService/GetUser "
                                "peer=ipv4:127.0.0.1:5 msg=\"call finished\" code=OK"));
    assert_non_null(strstr(out, " name=\"张 \\\"伟\\\"\""));
    assert_non_null(strstr(out, " empty=\"\"\n"));
}

static void
log_level_filters_and_escapes_newlines(void **state)
{
    char out[2048];

    RS_UNUSED(state);
    rs_log_init("identity", RS_LOG_INFO);
    capture(write_debug_line, out, sizeof(out));
    assert_null(strstr(out, "hidden"));
    assert_non_null(strstr(out, "level=warn"));
    assert_non_null(strstr(out, "detail=\"line1\\nline2\"\n"));
}

static void
log_level_parse(void **state)
{
    enum rs_log_level level;

    RS_UNUSED(state);
    assert_int_equal(rs_log_level_parse("warn", &level), RS_OK);
    assert_int_equal(level, RS_LOG_WARN);
    assert_int_equal(rs_log_level_parse("verbose", &level), RS_EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_line_has_fixed_keys_and_quoting),
        cmocka_unit_test(log_level_filters_and_escapes_newlines),
        cmocka_unit_test(log_level_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
