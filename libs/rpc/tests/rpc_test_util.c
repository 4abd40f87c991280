/*
 * libs/rpc/tests/rpc_test_util.c
 *    The test server (fake roster.test.v1.Echo service using the health
 *    messages) and raw C-core clients.
 */
#include "rpc_test_util.h"

#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "roster/clock.h"
#include "roster/str.h"

extern const unsigned char rs_rpc_test_echo_descriptors[];
extern const size_t rs_rpc_test_echo_descriptors_len;

static atomic_bool probe_ok;
static const char *probe_path;

void
test_probe_set(bool ok)
{
    atomic_store(&probe_ok, ok);
}

void
test_probe_file(const char *path)
{
    probe_path = path;
}

static rs_status
probe(void *arg, struct rs_error *err)
{
    (void)arg;
    if (probe_path != NULL ? access(probe_path, F_OK) == 0 : atomic_load(&probe_ok))
        return RS_OK;
    return rs_error_set(err, RS_EUNAVAIL, "DB_DOWN", "database unreachable");
}

long
test_elapsed_ms(int64_t start_ns)
{
    return (long)((rs_clock_ns() - start_ns) / 1000000);
}

/*
 * Echo: returns SERVING, or fails on request: service "fail" gives a
 * precondition error with a reason and metadata, "internal" an internal
 * error without a reason, "slow" sleeps 300 ms first.
 */
static rs_status
echo(struct rs_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
     struct rs_error *err)
{
    const Grpc__Health__V1__HealthCheckRequest *in = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse *out;

    CHECK(rs_call_request_id(call) != NULL);
    CHECK(rs_call_log(call)->rpc != NULL);
    CHECK(rs_call_remaining_ms(call) > 0);
    if (strcmp(in->service, "fail") == 0) {
        rs_error_set(err, RS_EPRECOND, "SEAT_LIMIT_REACHED", "seat limit reached");
        rs_error_meta(err, "limit", "10");
        return RS_EPRECOND;
    }
    if (strcmp(in->service, "internal") == 0) {
        rs_error_set(err, RS_EINTERNAL, NULL, "could not run query");
        rs_error_detail(err, "secret detail");
        return RS_EINTERNAL;
    }
    if (strcmp(in->service, "slow") == 0)
        usleep(300 * 1000);
    if (strcmp(in->service, "scope") == 0) {
        if (!rs_call_has_scope(call, "sync") || rs_call_has_scope(call, "admin") ||
            rs_call_caller(call) == NULL || strcmp(rs_call_caller(call), "tester") != 0)
            return rs_error_set(err, RS_EPERM, "SCOPE_MISSING", "missing scope");
    }
    if (strcmp(in->service, "actor") == 0) {
        if (rs_call_actor(call) == NULL || strcmp(rs_call_actor(call), TEST_ACTOR) != 0)
            return rs_error_set(err, RS_EPERM, "ACTOR_WRONG", "wrong actor");
    }
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    CHECK(out != NULL);
    grpc__health__v1__health_check_response__init(out);
    out->status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    *resp = &out->base;
    return RS_OK;
}

#define H_REQ &grpc__health__v1__health_check_request__descriptor
#define H_RESP &grpc__health__v1__health_check_response__descriptor

static const struct rs_rpc_method echo_methods[] = {
    {"/roster.test.v1.Echo/Echo", H_REQ, H_RESP, echo, 0},
    {"/roster.test.v1.Echo/Public", H_REQ, H_RESP, echo, RS_RPC_PUBLIC},
    {"/roster.test.v1.Echo/Actor", H_REQ, H_RESP, echo, RS_RPC_NEED_ACTOR},
};

static const struct rs_rpc_service echo_service = {
    "roster.test.v1.Echo",
    echo_methods,
    sizeof(echo_methods) / sizeof(echo_methods[0]),
};

void
test_write_file(char path[64], const char *text)
{
    FILE *fp;
    int fd;

    snprintf(path, 64, "/tmp/rs-rpc-test-XXXXXX");
    fd = mkstemp(path);
    CHECK(fd >= 0);
    fp = fdopen(fd, "w");
    CHECK(fp != NULL);
    fputs(text, fp);
    fclose(fp);
}

void
test_server_start(struct test_server *ts, const struct test_server_opts *opts)
{
    struct rs_rpc_server_config cfg;
    struct rs_error err;
    char hash[72], text[256];

    memset(ts, 0, sizeof(*ts));
    memset(&cfg, 0, sizeof(cfg));
    cfg.service_name = "rpc-test";
    cfg.listen_addr = "127.0.0.1:0";
    cfg.workers = opts->workers > 0 ? opts->workers : 2;
    cfg.grace_ms = opts->grace_ms > 0 ? opts->grace_ms : 2000;
    cfg.descriptor_set = rs_rpc_test_echo_descriptors;
    cfg.descriptor_set_len = rs_rpc_test_echo_descriptors_len;
    cfg.tls_cert = opts->tls_cert;
    cfg.tls_key = opts->tls_key;
    cfg.tls_client_ca = opts->tls_client_ca;
    if (opts->auth) {
        CHECK(rs_rpc_token_hash(TEST_TOKEN, hash) == RS_OK);
        snprintf(text, sizeof(text), "# test tokens\n\ntester %s sync,read\nother %s\n", hash,
                 "sha256:0000000000000000000000000000000000000000000000000000000000000000");
        test_write_file(ts->tokens_path, text);
        cfg.tokens_file = ts->tokens_path;
    }
    rs_error_clear(&err);
    if (rs_rpc_server_create(&cfg, &ts->server, &err) != RS_OK) {
        fprintf(stderr, "create: %s\n", err.message);
        abort();
    }
    CHECK(rs_rpc_server_add_service(ts->server, &echo_service, ts, &err) == RS_OK);
    if (opts->probe)
        rs_rpc_server_set_health_probe(ts->server, probe, NULL, 50);
    if (rs_rpc_server_start(ts->server, &ts->port, &err) != RS_OK) {
        fprintf(stderr, "start: %s\n", err.message);
        abort();
    }
    CHECK(ts->port > 0);
    snprintf(ts->target, sizeof(ts->target), "127.0.0.1:%d", ts->port);
}

void
test_server_stop(struct test_server *ts)
{
    rs_rpc_server_destroy(ts->server);
    ts->server = NULL;
    CHECK(rs_rpc_live_calls() == 0);
    if (ts->tokens_path[0] != '\0')
        unlink(ts->tokens_path);
}

rs_status
test_echo(const char *target, const char *token, const char *path, const char *service,
          const char *actor, int *serving, struct rs_error *err)
{
    struct rs_rpc_client_config cfg;
    rs_rpc_client *client = NULL;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    rs_status rc;

    memset(&cfg, 0, sizeof(cfg));
    cfg.token = token;
    CHECK(rs_rpc_client_create(target, &cfg, &client, err) == RS_OK);
    req.service = (char *)service;
    rc = rs_rpc_client_call(client, path, &req.base, H_RESP, NULL, actor, 5000, &resp, err);
    if (rc == RS_OK) {
        *serving = ((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    rs_rpc_client_destroy(client);
    return rc;
}

static grpc_channel *
raw_channel(const char *target)
{
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_arg arg;
    grpc_channel_args args;
    grpc_channel *ch;

    arg.type = GRPC_ARG_INTEGER;
    arg.key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    arg.value.integer = 1;
    args.num_args = 1;
    args.args = &arg;
    ch = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    return ch;
}

static void
copy_md(const grpc_metadata_array *md, const char *key, char *out, size_t size)
{
    size_t i, len;

    out[0] = '\0';
    for (i = 0; i < md->count; i++) {
        if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0) {
            len = GRPC_SLICE_LENGTH(md->metadata[i].value);
            if (len >= size)
                len = size - 1;
            memcpy(out, GRPC_SLICE_START_PTR(md->metadata[i].value), len);
            out[len] = '\0';
        }
    }
}

static void
drain_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
}

void
raw_unary(const char *target, const char *path, const void *body, size_t len,
          const char *request_id, struct raw_result *out)
{
    grpc_channel *ch = raw_channel(target);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice method = grpc_slice_from_copied_string(path);
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(5000, GPR_TIMESPAN));
    grpc_call *call;
    grpc_metadata md;
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *send = NULL, *recv = NULL;
    grpc_slice details, slice;
    grpc_op ops[6], *op = ops;
    grpc_event ev;

    memset(out, 0, sizeof(*out));
    memset(ops, 0, sizeof(ops));
    memset(&md, 0, sizeof(md));
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                    deadline, NULL);
    grpc_slice_unref(method);
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    if (request_id != NULL) {
        md.key = grpc_slice_from_static_string("x-request-id");
        md.value = grpc_slice_from_static_string(request_id);
        op->data.send_initial_metadata.count = 1;
        op->data.send_initial_metadata.metadata = &md;
    }
    op++;
    if (body != NULL) {
        slice = grpc_slice_from_copied_buffer(body, len);
        send = grpc_raw_byte_buffer_create(&slice, 1);
        grpc_slice_unref(slice);
        op->op = GRPC_OP_SEND_MESSAGE;
        op->data.send_message.send_message = send;
        op++;
    }
    op->op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    op++;
    op->op = GRPC_OP_RECV_INITIAL_METADATA;
    op->data.recv_initial_metadata.recv_initial_metadata = &initial;
    op++;
    op->op = GRPC_OP_RECV_MESSAGE;
    op->data.recv_message.recv_message = &recv;
    op++;
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &trailing;
    op->data.recv_status_on_client.status = &out->status;
    op->data.recv_status_on_client.status_details = &details;
    op++;
    CHECK(grpc_call_start_batch(call, ops, (size_t)(op - ops), out, NULL) == GRPC_CALL_OK);
    ev = grpc_completion_queue_pluck(cq, out, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    CHECK(ev.type == GRPC_OP_COMPLETE);

    len = GRPC_SLICE_LENGTH(details);
    if (len >= sizeof(out->details))
        len = sizeof(out->details) - 1;
    memcpy(out->details, GRPC_SLICE_START_PTR(details), len);
    copy_md(&trailing, "x-roster-reason", out->reason, sizeof(out->reason));
    copy_md(&initial, "x-request-id", out->request_id, sizeof(out->request_id));
    out->got_message = recv != NULL;

    grpc_slice_unref(details);
    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    if (send != NULL)
        grpc_byte_buffer_destroy(send);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    drain_destroy(cq);
    grpc_channel_destroy(ch);
}

static void
stream_batch(struct raw_stream *rs, grpc_op *ops, size_t n)
{
    int tag;
    grpc_event ev;

    CHECK(grpc_call_start_batch(rs->call, ops, n, &tag, NULL) == GRPC_CALL_OK);
    ev = grpc_completion_queue_pluck(rs->cq, &tag, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    CHECK(ev.type == GRPC_OP_COMPLETE);
}

void
raw_stream_open(struct raw_stream *rs, const char *target, const char *path)
{
    grpc_slice method = grpc_slice_from_copied_string(path);
    grpc_op ops[2];

    memset(rs, 0, sizeof(*rs));
    memset(ops, 0, sizeof(ops));
    rs->channel = raw_channel(target);
    rs->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_metadata_array_init(&rs->initial);
    grpc_metadata_array_init(&rs->trailing);
    rs->call = grpc_channel_create_call(rs->channel, NULL, GRPC_PROPAGATE_DEFAULTS, rs->cq,
                                        method, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    grpc_slice_unref(method);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    stream_batch(rs, ops, 1);
    /* The status op stays pending until the server ends the call. */
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &rs->trailing;
    ops[0].data.recv_status_on_client.status = &rs->status;
    ops[0].data.recv_status_on_client.status_details = &rs->details;
    CHECK(grpc_call_start_batch(rs->call, ops, 1, &rs->status, NULL) == GRPC_CALL_OK);
}

void
raw_stream_send(struct raw_stream *rs, const ProtobufCMessage *msg)
{
    grpc_op op;
    grpc_slice slice = grpc_slice_malloc(protobuf_c_message_get_packed_size(msg));
    grpc_byte_buffer *bb;

    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
    bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    stream_batch(rs, &op, 1);
    grpc_byte_buffer_destroy(bb);
}

void
raw_stream_half_close(struct raw_stream *rs)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    stream_batch(rs, &op, 1);
}

ProtobufCMessage *
raw_stream_recv(struct raw_stream *rs, const ProtobufCMessageDescriptor *desc)
{
    grpc_op ops[2];
    size_t n = 0;
    grpc_byte_buffer *bb = NULL;
    grpc_byte_buffer_reader reader;
    grpc_slice slice;
    ProtobufCMessage *msg;

    memset(ops, 0, sizeof(ops));
    if (!rs->got_initial) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n].data.recv_initial_metadata.recv_initial_metadata = &rs->initial;
        n++;
        rs->got_initial = true;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = &bb;
    n++;
    stream_batch(rs, ops, n);
    if (bb == NULL)
        return NULL;
    CHECK(grpc_byte_buffer_reader_init(&reader, bb));
    slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
                                    GRPC_SLICE_START_PTR(slice));
    grpc_slice_unref(slice);
    grpc_byte_buffer_destroy(bb);
    CHECK(msg != NULL);
    return msg;
}

grpc_status_code
raw_stream_finish(struct raw_stream *rs)
{
    grpc_event ev;

    ev = grpc_completion_queue_pluck(rs->cq, &rs->status, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                     NULL);
    CHECK(ev.type == GRPC_OP_COMPLETE);
    return rs->status;
}

void
raw_stream_close(struct raw_stream *rs)
{
    grpc_slice_unref(rs->details);
    grpc_metadata_array_destroy(&rs->initial);
    grpc_metadata_array_destroy(&rs->trailing);
    grpc_call_unref(rs->call);
    drain_destroy(rs->cq);
    grpc_channel_destroy(rs->channel);
}
