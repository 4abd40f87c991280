/*
 * libs/rpc/src/call.c
 *    Accepted calls: accessors for handlers, the unary path (authenticate,
 *    decode, check the deadline, run the handler, reply in one batch) and the
 *    access-log line written when the reply batch completes.
 */
#include "roster/rpc.h"

#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "roster/str.h"
#include "rpc_int.h"

rs_arena *
rs_call_arena(struct rs_call *call)
{
    return call->arena;
}

int
rs_call_max_message_bytes(struct rs_call *call)
{
    return call->server->max_message_bytes;
}

rs_status
rs_response_too_large(size_t reply_bytes, int max_bytes, struct rs_error *err)
{
    char limit[24];

    snprintf(limit, sizeof(limit), "%d", max_bytes);
    rs_error_set(err, RS_ERESOURCE, "RESPONSE_TOO_LARGE",
                 "the reply needs %zu bytes, above the server's limit of %d bytes: raise "
                 "the server's ROSTER_MAX_MESSAGE_BYTES",
                 reply_bytes, max_bytes);
    rs_error_meta(err, "max_message_bytes", limit);
    return RS_ERESOURCE;
}

const struct rs_log_ctx *
rs_call_log(struct rs_call *call)
{
    return &call->log;
}

void *
rs_call_user_data(struct rs_call *call)
{
    return call->reg != NULL ? call->reg->user_data : NULL;
}

const char *
rs_call_request_id(struct rs_call *call)
{
    return call->request_id;
}

const char *
rs_call_actor(struct rs_call *call)
{
    return call->actor;
}

const char *
rs_call_caller(struct rs_call *call)
{
    return call->caller != NULL ? call->caller->name : NULL;
}

bool
rs_call_has_scope(struct rs_call *call, const char *scope)
{
    size_t i;

    if (call->caller == NULL || scope == NULL)
        return false;
    for (i = 0; i < call->caller->n_scopes; i++) {
        if (strcmp(call->caller->scopes[i], scope) == 0)
            return true;
    }
    return false;
}

int64_t
rs_call_remaining_ms(struct rs_call *call)
{
    gpr_timespec deadline, now;

    if (gpr_time_cmp(call->deadline, gpr_inf_future(call->deadline.clock_type)) == 0)
        return INT64_MAX;
    deadline = gpr_convert_clock_type(call->deadline, GPR_CLOCK_MONOTONIC);
    now = gpr_now(GPR_CLOCK_MONOTONIC);
    return gpr_time_to_millis(gpr_time_sub(deadline, now));
}

const char *
rs_rpc__metadata_get(const grpc_metadata_array *md, const char *key, size_t *len)
{
    size_t i, key_len = strlen(key);

    for (i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;

        if (GRPC_SLICE_LENGTH(*k) == key_len &&
            memcmp(GRPC_SLICE_START_PTR(*k), key, key_len) == 0) {
            *len = GRPC_SLICE_LENGTH(md->metadata[i].value);
            return (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
        }
    }
    *len = 0;
    return NULL;
}

size_t
rs_rpc__metadata_count(const grpc_metadata_array *md, const char *key)
{
    size_t i, n = 0, key_len = strlen(key);

    for (i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;

        if (GRPC_SLICE_LENGTH(*k) == key_len &&
            memcmp(GRPC_SLICE_START_PTR(*k), key, key_len) == 0)
            n++;
    }
    return n;
}

static bool
request_id_valid(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > RS_RPC_REQUEST_ID_MAX)
        return false;
    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/*
 * Request ids come from OpenSSL's per-thread generator. libuuid reseeds
 * glibc's random() under a process-wide lock for each id, so workers would
 * wait on each other.
 */
static void
request_id_new(char out[RS_RPC_REQUEST_ID_MAX + 1])
{
    unsigned char r[16];

    if (RAND_bytes(r, sizeof(r)) != 1) {
        /* Leaves no stale error for the next OpenSSL caller on this thread. */
        ERR_clear_error();
        rs_id_new(out);
        return;
    }
    rs_hex_encode(out, r, sizeof(r));
}

struct rs_call *
rs_rpc__call_new(rs_rpc_server *server, const struct rs_rpc__reg *reg, grpc_call *gcall,
                 grpc_completion_queue *cq, const char *path, gpr_timespec deadline)
{
    struct rs_call *call;

    call = rs_calloc(1, sizeof(*call));
    if (call == NULL)
        return NULL;
    call->kind = RS_RPC_TAG_CALL_DONE;
    call->server = server;
    call->reg = reg;
    call->cq = cq;
    call->deadline = deadline;
    call->start_ns = rs_clock_ns();
    call->code = GRPC_STATUS_OK;
    grpc_metadata_array_init(&call->md);
    call->arena = rs_arena_create();
    call->path = rs_strdup(path);
    if (call->arena == NULL || call->path == NULL) {
        rs_arena_destroy(call->arena);
        rs_free(call->path);
        grpc_metadata_array_destroy(&call->md);
        rs_free(call);
        return NULL;
    }
    call->call = gcall;
    call->peer = grpc_call_get_peer(gcall);
    call->log.rpc = call->path;
    call->log.peer = call->peer;
    if (call->peer != NULL) {
        if (strncmp(call->peer, "ipv4:", 5) == 0 || strncmp(call->peer, "ipv6:", 5) == 0)
            call->log.peer = call->peer + 5;
    }
    call->log.req = call->request_id;
    return call;
}

/* Moves md into call; the request id and actor are read from it here. */
void
rs_rpc__call_take_metadata(struct rs_call *call, grpc_metadata_array *md)
{
    const char *value;
    size_t len;

    grpc_metadata_array_destroy(&call->md);
    call->md = *md;
    grpc_metadata_array_init(md);

    value = rs_rpc__metadata_get(&call->md, "x-request-id", &len);
    if (value != NULL && request_id_valid(value, len)) {
        memcpy(call->request_id, value, len);
        call->request_id[len] = '\0';
    } else {
        request_id_new(call->request_id);
    }

    value = rs_rpc__metadata_get(&call->md, "x-roster-actor", &len);
    if (value != NULL) {
        call->actor = rs_malloc(len + 1);
        if (call->actor != NULL) {
            memcpy(call->actor, value, len);
            call->actor[len] = '\0';
        }
    }
}

void
rs_rpc__call_free(struct rs_call *call)
{
    size_t i;

    if (call->payload != NULL)
        grpc_byte_buffer_destroy(call->payload);
    if (call->send_buf != NULL)
        grpc_byte_buffer_destroy(call->send_buf);
    if (call->n_initial > 0)
        grpc_slice_unref(call->initial_md[0].value);
    for (i = 0; i < call->n_trailing; i++)
        grpc_slice_unref(call->trailing_md[i].value);
    if (call->status_slice_set)
        grpc_slice_unref(call->status_slice);
    grpc_metadata_array_destroy(&call->md);
    rs_arena_destroy(call->arena);
    if (call->call != NULL) {
        grpc_call_unref(call->call);
        atomic_fetch_sub(&rs_rpc__live_calls, 1);
    }
    if (call->owns_cq) {
        grpc_completion_queue_shutdown(call->cq);
        while (grpc_completion_queue_pluck(call->cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                           NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(call->cq);
    }
    if (call->peer != NULL)
        gpr_free(call->peer);
    rs_free(call->actor);
    rs_free(call->path);
    rs_free(call);
}

void
rs_rpc__log_call(struct rs_call *call)
{
    char duration[32];
    int64_t elapsed_us = (rs_clock_ns() - call->start_ns) / 1000;
    const char *code = rs_rpc__code_name(call->code);
    const char *reason = call->reason[0] != '\0' ? call->reason : NULL;

    /*
     * A client that resets the stream before its message arrives leaves the
     * handler without a payload. Its refusal never reached the client, and
     * the cause is the cancellation, so the call is logged as cancelled.
     */
    if (call->cancelled && reason != NULL && strcmp(reason, "MISSING_PAYLOAD") == 0) {
        code = rs_rpc__code_name(GRPC_STATUS_CANCELLED);
        reason = NULL;
    }

    snprintf(duration, sizeof(duration), "%lld.%03lld", (long long)(elapsed_us / 1000),
             (long long)(elapsed_us % 1000));
    if (call->code == GRPC_STATUS_INTERNAL || call->code == GRPC_STATUS_UNKNOWN ||
        call->code == GRPC_STATUS_DATA_LOSS) {
        rs_log_error(&call->log, "call finished", "code", code, "duration_ms", duration,
                     "reason", reason != NULL ? reason : "", "detail", call->log_detail,
                     NULL);
    } else if (reason == NULL && call->cancelled) {
        rs_log_info(&call->log, "call finished", "code", code, "duration_ms", duration,
                    "cancelled", "true", NULL);
    } else if (reason == NULL) {
        rs_log_info(&call->log, "call finished", "code", code, "duration_ms", duration, NULL);
    } else if (call->log_detail[0] != '\0') {
        rs_log_info(&call->log, "call finished", "code", code, "duration_ms", duration,
                    "reason", reason, "detail", call->log_detail, NULL);
    } else {
        rs_log_info(&call->log, "call finished", "code", code, "duration_ms", duration,
                    "reason", reason, NULL);
    }
}

/* Runs when the reply batch of a worker call completes: log, then release. */
void
rs_rpc__call_finished(struct rs_call *call)
{
    rs_rpc_server *server = call->server;

    rs_rpc__log_call(call);
    rs_rpc__call_free(call);
    atomic_fetch_sub(&server->worker_calls, 1);
}

rs_status
rs_rpc__decode_message(rs_arena *arena, grpc_byte_buffer *buf,
                       const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
                       struct rs_error *err)
{
    grpc_byte_buffer_reader reader;
    grpc_slice slice;
    rs_status rc;

    *out = NULL;
    if (!grpc_byte_buffer_reader_init(&reader, buf)) {
        return rs_error_set(err, RS_EINVAL, "MALFORMED_MESSAGE",
                            "invalid request message: could not decode \"%s\"", desc->name);
    }
    slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *out = protobuf_c_message_unpack(desc, arena != NULL ? rs_arena_pb_allocator(arena) : NULL,
                                     GRPC_SLICE_LENGTH(slice), GRPC_SLICE_START_PTR(slice));
    if (*out == NULL) {
        rc = rs_error_set(err, RS_EINVAL, "MALFORMED_MESSAGE",
                          "invalid request message: could not decode \"%s\"", desc->name);
    } else {
        rc = rs_rpc__check_strings(desc, GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice),
                                   err);
        if (rc != RS_OK && arena == NULL)
            protobuf_c_message_free_unpacked(*out, NULL);
        if (rc != RS_OK)
            *out = NULL;
    }
    grpc_slice_unref(slice);
    return rc;
}

/* Returns a new byte buffer holding msg (destroy after its batch), or NULL. */
grpc_byte_buffer *
rs_rpc__encode_message(const ProtobufCMessage *msg)
{
    grpc_byte_buffer *bb;
    grpc_slice slice;
    size_t len;

    len = protobuf_c_message_get_packed_size(msg);
    slice = grpc_slice_malloc(len);
    if (protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice)) != len) {
        grpc_slice_unref(slice);
        return NULL;
    }
    bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

/* Prepares initial metadata: the request id is echoed on every reply. */
void
rs_rpc__set_initial_metadata(struct rs_call *call)
{
    if (call->n_initial > 0)
        return;
    call->n_initial = 1;
    call->initial_md[0].key = grpc_slice_from_static_string("x-request-id");
    call->initial_md[0].value = grpc_slice_from_copied_string(call->request_id);
}

static void
start_reply(struct rs_call *call, bool with_message)
{
    grpc_op ops[4];
    grpc_op *op = ops;
    grpc_call_error gerr;

    memset(ops, 0, sizeof(ops));
    rs_rpc__set_initial_metadata(call);
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = 1;
    op->data.send_initial_metadata.metadata = call->initial_md;
    op++;
    if (with_message) {
        op->op = GRPC_OP_SEND_MESSAGE;
        op->data.send_message.send_message = call->send_buf;
        op++;
    }
    op->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    op->data.send_status_from_server.status = call->code;
    op->data.send_status_from_server.trailing_metadata_count = call->n_trailing;
    op->data.send_status_from_server.trailing_metadata = call->trailing_md;
    op->data.send_status_from_server.status_details =
        call->status_slice_set ? &call->status_slice : NULL;
    op++;
    op->op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op->data.recv_close_on_server.cancelled = &call->cancelled;
    op++;

    gerr = grpc_call_start_batch(call->call, ops, (size_t)(op - ops), call, NULL);
    if (gerr != GRPC_CALL_OK) {
        char text[16];

        /* A batch that fails to start never produces its event. */
        snprintf(text, sizeof(text), "%d", (int)gerr);
        rs_log_error(&call->log, "could not start reply batch", "grpc_call_error", text, NULL);
        rs_rpc__call_finished(call);
    }
}

rs_status
rs_rpc__encode_trailers(struct rs_call *call, const struct rs_rpc__status *st)
{
    unsigned char *details = NULL;
    size_t len = 0;
    rs_status rc;

    call->code = st->code;
    snprintf(call->reason, sizeof(call->reason), "%s", st->reason != NULL ? st->reason : "");
    call->status_slice = grpc_slice_from_copied_string(st->message != NULL ? st->message : "");
    call->status_slice_set = true;
    if (st->code == GRPC_STATUS_OK)
        return RS_OK;

    rc = rs_rpc__status_details_pack(st, &details, &len);
    if (rc == RS_OK) {
        call->trailing_md[call->n_trailing].key =
            grpc_slice_from_static_string("grpc-status-details-bin");
        call->trailing_md[call->n_trailing].value =
            grpc_slice_from_copied_buffer((const char *)details, len);
        call->n_trailing++;
        rs_free(details);
    }
    if (st->reason != NULL && st->reason[0] != '\0') {
        call->trailing_md[call->n_trailing].key = grpc_slice_from_static_string("x-roster-reason");
        call->trailing_md[call->n_trailing].value = grpc_slice_from_copied_string(st->reason);
        call->n_trailing++;
    }
    return rc;
}

void
rs_rpc__reply_error(struct rs_call *call, const struct rs_rpc__status *st)
{
    rs_rpc__encode_trailers(call, st);
    start_reply(call, false);
}

static void
reply_internal(struct rs_call *call, const char *detail)
{
    struct rs_rpc__status st = {GRPC_STATUS_INTERNAL, "internal error", "INTERNAL", NULL};

    snprintf(call->log_detail, sizeof(call->log_detail), "%s", detail);
    rs_rpc__reply_error(call, &st);
}

/* Sends a handler's error; internal errors reach the client only as "internal error". */
static void
reply_handler_error(struct rs_call *call, rs_status rc, const struct rs_error *err)
{
    struct rs_rpc__status st;

    st.code = (grpc_status_code)rs_status_to_grpc(rc);
    st.message = err->message[0] != '\0' ? err->message : rs_status_str(rc);
    st.reason = err->reason[0] != '\0' ? err->reason : rs_rpc__code_name(st.code);
    st.meta_from = err;
    if (rc == RS_EINTERNAL) {
        snprintf(call->log_detail, sizeof(call->log_detail), "%.250s%s%.250s", st.message,
                 err->detail[0] != '\0' ? ": " : "", err->detail);
        st.message = "internal error";
    } else {
        snprintf(call->log_detail, sizeof(call->log_detail), "%s", err->detail);
    }
    rs_rpc__reply_error(call, &st);
}

/*
 * Sends resp. A reply larger than the server's message limit would make
 * gRPC fail the call with its own RESOURCE_EXHAUSTED and no reason, so it
 * is turned into RESPONSE_TOO_LARGE here. Paged lists end their pages
 * before that (rs_page_rows); this catches the unpaged ones.
 */
static void
reply_ok(struct rs_call *call, const ProtobufCMessage *resp)
{
    struct rs_rpc__status st = {GRPC_STATUS_OK, NULL, NULL, NULL};
    int max_bytes = rs_call_max_message_bytes(call);
    struct rs_error err;
    size_t len;

    call->send_buf = rs_rpc__encode_message(resp);
    if (call->send_buf == NULL) {
        reply_internal(call, "could not serialize the response");
        return;
    }
    len = grpc_byte_buffer_length(call->send_buf);
    if (max_bytes > 0 && len > (size_t)max_bytes) {
        grpc_byte_buffer_destroy(call->send_buf);
        call->send_buf = NULL;
        rs_error_clear(&err);
        reply_handler_error(call, rs_response_too_large(len, max_bytes, &err), &err);
        return;
    }
    rs_rpc__encode_trailers(call, &st);
    start_reply(call, true);
}

void
rs_rpc__handle_unary(struct rs_call *call)
{
    const struct rs_rpc_method *method = call->reg->method;
    struct rs_rpc__status st = {GRPC_STATUS_OK, NULL, NULL, NULL};
    struct rs_error err;
    ProtobufCMessage *req = NULL, *resp = NULL;
    rs_status rc;

    if (!rs_rpc__authenticate(call, &st)) {
        rs_rpc__reply_error(call, &st);
        return;
    }
    if (call->payload == NULL) {
        st.code = GRPC_STATUS_INVALID_ARGUMENT;
        st.message = "missing request message";
        st.reason = "MISSING_PAYLOAD";
        rs_rpc__reply_error(call, &st);
        return;
    }
    rs_error_clear(&err);
    rc = rs_rpc__decode_message(call->arena, call->payload, method->input, &req, &err);
    if (rc != RS_OK) {
        reply_handler_error(call, rc, &err);
        return;
    }
    grpc_byte_buffer_destroy(call->payload);
    call->payload = NULL;
    if (rs_call_remaining_ms(call) <= 0) {
        st.code = GRPC_STATUS_DEADLINE_EXCEEDED;
        st.message = "deadline exceeded before the call started";
        st.reason = "DEADLINE_EXCEEDED";
        rs_rpc__reply_error(call, &st);
        return;
    }

    rs_error_clear(&err);
    rc = method->handler(call, req, &resp, &err);
    if (rc != RS_OK) {
        reply_handler_error(call, rc, &err);
        return;
    }
    if (resp == NULL || resp->descriptor != method->output) {
        reply_internal(call, "handler returned no response or one of the wrong type");
        return;
    }
    reply_ok(call, resp);
}
