/*
 * libs/rpc/tests/rpc_test_server.c
 *    The test server as a program, for outside clients (buf curl, grpcio):
 *    prints "port=N" and the bearer token, then serves until SIGTERM or
 *    SIGINT. With "--probe-file PATH" the health probe passes only while
 *    PATH exists.
 */
#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>

#include "roster/log.h"
#include "rpc_test_util.h"

int
main(int argc, char **argv)
{
    struct test_server ts;
    struct test_server_opts opts;

    rs_rpc_block_signals();
    rs_log_init("rpc-test-server", RS_LOG_INFO);
    memset(&opts, 0, sizeof(opts));
    opts.auth = true;
    opts.grace_ms = 2000;
    if (argc > 2 && strcmp(argv[1], "--probe-file") == 0) {
        opts.probe = true;
        test_probe_file(argv[2]);
    }
    grpc_init();
    test_server_start(&ts, &opts);
    printf("port=%d token=%s actor=%s\n", ts.port, TEST_TOKEN, TEST_ACTOR);
    fflush(stdout);
    rs_rpc_server_wait_for_signal(ts.server);
    test_server_stop(&ts);
    grpc_shutdown();
    return 0;
}
