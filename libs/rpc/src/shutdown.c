/*
 * libs/rpc/src/shutdown.c
 *    Signal handling and graceful shutdown. In gRPC core 1.51 the order is
 *    shutdown_and_notify, a wait with a deadline, cancelling the remaining
 *    calls and a second wait. Only then are the server and its queues
 *    destroyed. Without the deadline, open streams and idle C-core client
 *    connections (which ignore GOAWAY) keep the shutdown waiting forever.
 */
#include "roster/rpc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "roster/clock.h"
#include "rpc_int.h"

static void
termination_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

void
rs_rpc_block_signals(void)
{
    sigset_t set;

    termination_signals(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

void
rs_rpc_server_wait_for_signal(rs_rpc_server *server)
{
    sigset_t set;
    int sig = 0;

    termination_signals(&set);
    while (sigwait(&set, &sig) != 0)
        ;
    rs_log_info(NULL, "shutdown requested", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                NULL);
    rs_rpc_server_shutdown(server);
}

bool
rs_rpc__server_stopping(rs_rpc_server *server)
{
    bool stopping;

    pthread_mutex_lock(&server->health.mu);
    stopping = server->health.shutting_down;
    pthread_mutex_unlock(&server->health.mu);
    return stopping;
}

static bool
wait_shutdown_tag(rs_rpc_server *server, gpr_timespec deadline)
{
    grpc_event ev;

    for (;;) {
        ev = grpc_completion_queue_next(server->shutdown_cq, deadline, NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.tag == server)
            return true;
        if (ev.type == GRPC_QUEUE_TIMEOUT || ev.type == GRPC_QUEUE_SHUTDOWN)
            return false;
    }
}

void
rs_rpc_server_on_shutdown(rs_rpc_server *server, void (*fn)(void *arg), void *arg)
{
    server->on_shutdown = fn;
    server->on_shutdown_arg = arg;
}

void
rs_rpc_server_shutdown(rs_rpc_server *server)
{
    gpr_timespec deadline;
    int64_t start_ns;
    char elapsed[32];

    pthread_mutex_lock(&server->shutdown_mu);
    if (!server->started || server->shut_down) {
        pthread_mutex_unlock(&server->shutdown_mu);
        return;
    }
    server->shut_down = true;
    start_ns = rs_clock_ns();
    rs_log_info(NULL, "server shutting down", NULL);
    if (server->on_shutdown != NULL)
        server->on_shutdown(server->on_shutdown_arg);

    /* Health goes NOT_SERVING and stream threads start ending their calls. */
    rs_rpc__health_begin_shutdown(server);

    grpc_server_shutdown_and_notify(server->grpc, server->shutdown_cq, server);
    deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                            gpr_time_from_millis(server->grace_ms, GPR_TIMESPAN));
    if (!wait_shutdown_tag(server, deadline)) {
        char live[32];

        snprintf(live, sizeof(live), "%ld", rs_rpc_live_calls());
        rs_log_warn(NULL, "grace period over, cancelling calls", "live_calls", live, NULL);
        grpc_server_cancel_all_calls(server->grpc);
        wait_shutdown_tag(server, gpr_inf_future(GPR_CLOCK_MONOTONIC));
    }

    rs_rpc__streams_join(server);
    rs_rpc__health_stop(server);

    snprintf(elapsed, sizeof(elapsed), "%lld",
             (long long)((rs_clock_ns() - start_ns) / 1000000));
    rs_log_info(NULL, "server stopped", "duration_ms", elapsed, NULL);
    pthread_mutex_unlock(&server->shutdown_mu);
}
