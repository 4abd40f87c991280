/*
 * libs/rpc/src/stream.c
 *    Streaming calls (health Watch, reflection). Each runs on its own thread
 *    with its own pluck queue, so a slow or idle stream does not occupy a
 *    worker. Every wait polls, so that a server shutdown can cancel streams
 *    that are waiting for a client message.
 */
#include "roster/rpc.h"

#include <stdio.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/support/time.h>

#include "roster/alloc.h"
#include "rpc_int.h"

static gpr_timespec
poll_deadline(void)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(RS_RPC_STREAM_POLL_MS, GPR_TIMESPAN));
}

/* Cancels the call once when the server is stopping, so pending ops complete. */
static void
cancel_if_stopping(struct rs_call *call)
{
    if (call->cancel_sent || !rs_rpc__server_stopping(call->server))
        return;
    call->cancel_sent = true;
    grpc_call_cancel_with_status(call->call, GRPC_STATUS_UNAVAILABLE, "server is shutting down",
                                 NULL);
}

/*
 * Waits for tag on the call's own queue and returns the op's success. With
 * cancel_on_stop, a server shutdown cancels the call: that ends a wait for a
 * client that may never send. Sends and the final status are not cancelled,
 * so the last NOT_SERVING reaches Watch clients; the grace period bounds them.
 */
static bool
wait_tag(struct rs_call *call, void *tag, bool cancel_on_stop)
{
    grpc_event ev;

    for (;;) {
        ev = grpc_completion_queue_pluck(call->cq, tag, poll_deadline(), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            return ev.success != 0;
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return false;
        if (cancel_on_stop)
            cancel_if_stopping(call);
    }
}

static bool
run_batch(struct rs_call *call, const grpc_op *ops, size_t n_ops, bool cancel_on_stop)
{
    grpc_call_error gerr;
    int tag;

    gerr = grpc_call_start_batch(call->call, ops, n_ops, &tag, NULL);
    if (gerr != GRPC_CALL_OK)
        return false;
    return wait_tag(call, &tag, cancel_on_stop);
}

/*
 * Receives one message. Returns RS_OK with *out (free with
 * protobuf_c_message_free_unpacked), or with *out NULL when the client
 * half-closed; RS_ECANCELLED when the call failed; RS_EINVAL when the
 * message does not decode.
 */
rs_status
rs_rpc__stream_recv(struct rs_call *call, const ProtobufCMessageDescriptor *desc,
                    ProtobufCMessage **out)
{
    grpc_op op;
    grpc_byte_buffer *bb = NULL;
    rs_status rc;

    *out = NULL;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    if (!run_batch(call, &op, 1, true)) {
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
        return RS_ECANCELLED;
    }
    if (bb == NULL)
        return RS_OK;
    rc = rs_rpc__decode_message(NULL, bb, desc, out, NULL);
    grpc_byte_buffer_destroy(bb);
    return rc;
}

/* Sends msg, preceded by the initial metadata on the first send. */
bool
rs_rpc__stream_send(struct rs_call *call, const ProtobufCMessage *msg)
{
    grpc_op ops[2];
    size_t n = 0;
    grpc_byte_buffer *bb;
    bool ok;

    bb = rs_rpc__encode_message(msg);
    if (bb == NULL)
        return false;
    memset(ops, 0, sizeof(ops));
    if (!call->initial_sent) {
        rs_rpc__set_initial_metadata(call);
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = call->n_initial;
        ops[n].data.send_initial_metadata.metadata = call->initial_md;
        n++;
        call->initial_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    ok = run_batch(call, ops, n, false);
    grpc_byte_buffer_destroy(bb);
    return ok;
}

/* Starts RECV_CLOSE_ON_SERVER, which completes once the call is over or cancelled. */
bool
rs_rpc__stream_start_close(struct rs_call *call)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &call->cancelled;
    if (grpc_call_start_batch(call->call, &op, 1, &call->cancelled, NULL) != GRPC_CALL_OK)
        return false;
    call->close_started = true;
    return true;
}

/* Returns true once the pending RECV_CLOSE_ON_SERVER reported a cancelled call. */
bool
rs_rpc__stream_closed(struct rs_call *call)
{
    grpc_event ev;

    if (call->close_started && !call->close_done) {
        ev = grpc_completion_queue_pluck(call->cq, &call->cancelled,
                                         gpr_time_0(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            call->close_done = true;
    }
    return call->close_done && call->cancelled;
}

/* Sends the final status (with details for errors) and waits for the call to close. */
void
rs_rpc__stream_finish(struct rs_call *call, const struct rs_rpc__status *st)
{
    grpc_op ops[3];
    size_t n = 0;

    memset(ops, 0, sizeof(ops));
    rs_rpc__encode_trailers(call, st);
    if (!call->initial_sent) {
        rs_rpc__set_initial_metadata(call);
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = call->n_initial;
        ops[n].data.send_initial_metadata.metadata = call->initial_md;
        n++;
        call->initial_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = call->code;
    ops[n].data.send_status_from_server.trailing_metadata_count = call->n_trailing;
    ops[n].data.send_status_from_server.trailing_metadata = call->trailing_md;
    ops[n].data.send_status_from_server.status_details = &call->status_slice;
    n++;
    if (!call->close_started) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n].data.recv_close_on_server.cancelled = &call->cancelled;
        n++;
    }
    run_batch(call, ops, n, false);
    if (call->close_started && !call->close_done) {
        wait_tag(call, &call->cancelled, false);
        call->close_done = true;
    }
}

static void *
stream_main(void *arg)
{
    struct rs_rpc__stream *stream = arg;
    rs_rpc_server *server = stream->server;
    struct rs_call *call = stream->call;

    if (call->reg->stream == RS_RPC_STREAM_HEALTH_WATCH)
        rs_rpc__health_watch(call);
    else
        rs_rpc__reflection_stream(call);
    rs_rpc__log_call(call);
    rs_rpc__call_free(call);
    stream->call = NULL;

    pthread_mutex_lock(&server->streams_mu);
    stream->done = true;
    server->n_streams_live--;
    pthread_mutex_unlock(&server->streams_mu);
    return NULL;
}

/* Joins and frees finished stream threads. REQUIRES: streams_mu held. */
static void
reap_finished(rs_rpc_server *server)
{
    struct rs_rpc__stream **link = &server->streams, *s;

    while ((s = *link) != NULL) {
        if (s->done) {
            *link = s->next;
            pthread_join(s->thread, NULL);
            rs_free(s);
        } else {
            link = &s->next;
        }
    }
}

static void
refuse_stream(struct rs_call *call, grpc_status_code code, const char *reason,
              const char *message)
{
    struct rs_rpc__status st = {code, message, reason, NULL};

    rs_rpc__stream_finish(call, &st);
    rs_rpc__log_call(call);
    rs_rpc__call_free(call);
}

/*
 * Hands a newly accepted streaming call to a thread of its own, or rejects it
 * with RESOURCE_EXHAUSTED when RS_RPC_MAX_STREAMS streams are already open.
 */
void
rs_rpc__stream_accepted(rs_rpc_server *server, struct rs_call *call)
{
    struct rs_rpc__stream *stream;
    int prc;

    pthread_mutex_lock(&server->streams_mu);
    reap_finished(server);
    if (server->n_streams_live >= RS_RPC_MAX_STREAMS) {
        pthread_mutex_unlock(&server->streams_mu);
        refuse_stream(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS",
                      "too many open streams, try again later");
        return;
    }
    stream = rs_calloc(1, sizeof(*stream));
    if (stream == NULL) {
        pthread_mutex_unlock(&server->streams_mu);
        refuse_stream(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED",
                      "out of memory");
        return;
    }
    stream->server = server;
    stream->call = call;
    prc = pthread_create(&stream->thread, NULL, stream_main, stream);
    if (prc != 0) {
        pthread_mutex_unlock(&server->streams_mu);
        rs_free(stream);
        refuse_stream(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED",
                      "could not start a stream thread");
        return;
    }
    stream->next = server->streams;
    server->streams = stream;
    server->n_streams_live++;
    pthread_mutex_unlock(&server->streams_mu);
}

/* Joins every stream thread; called during shutdown, when streams are ending. */
void
rs_rpc__streams_join(rs_rpc_server *server)
{
    struct rs_rpc__stream *list, *next;

    pthread_mutex_lock(&server->streams_mu);
    list = server->streams;
    server->streams = NULL;
    pthread_mutex_unlock(&server->streams_mu);
    for (; list != NULL; list = next) {
        next = list->next;
        pthread_join(list->thread, NULL);
        rs_free(list);
    }
}
