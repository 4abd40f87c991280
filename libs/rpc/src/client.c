/*
 * libs/rpc/src/client.c
 *    A unary gRPC client for services and tests: one channel, a pluck queue
 *    per call, bearer token and actor metadata, retries on UNAVAILABLE with
 *    jittered exponential backoff, and the server's ErrorInfo reason decoded
 *    into the returned error.
 */
#include "roster/rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "rpc_int.h"

#define BACKOFF_FIRST_MS 50
#define DEFAULT_ATTEMPTS 3

struct rs_rpc_client {
    grpc_channel *channel;
    char *auth_value; /* "Bearer <token>", wiped on destroy; NULL without a token */
    int max_attempts;
};

/* Result of one attempt; its metadata slices stay valid until the call is unref'ed. */
struct attempt {
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array initial;
    grpc_metadata_array trailing;
    grpc_byte_buffer *resp;
};

static grpc_channel_credentials *
client_credentials(const struct rs_rpc_client_config *cfg, struct rs_error *err, rs_status *rc)
{
    grpc_channel_credentials *creds = NULL;
    grpc_ssl_pem_key_cert_pair pair;
    char *ca = NULL, *cert = NULL, *key = NULL;

    *rc = RS_OK;
    if (cfg == NULL || cfg->tls_ca == NULL)
        return grpc_insecure_credentials_create();
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
        *rc = rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                           "a client certificate needs both a certificate and a key file");
        return NULL;
    }
    *rc = rs_rpc__read_file(cfg->tls_ca, "TLS CA", &ca, err);
    if (*rc == RS_OK && cfg->tls_cert != NULL)
        *rc = rs_rpc__read_file(cfg->tls_cert, "TLS certificate", &cert, err);
    if (*rc == RS_OK && cfg->tls_key != NULL)
        *rc = rs_rpc__read_file(cfg->tls_key, "TLS key", &key, err);
    if (*rc == RS_OK) {
        pair.private_key = key;
        pair.cert_chain = cert;
        creds = grpc_ssl_credentials_create(ca, cert != NULL ? &pair : NULL, NULL, NULL);
        if (creds == NULL)
            *rc = rs_error_set(err, RS_EINVAL, "TLS_INVALID",
                               "could not create TLS client credentials");
    }
    rs_free(ca);
    rs_free(cert);
    rs_rpc__free_secret(&key);
    return creds;
}

rs_status
rs_rpc_client_create(const char *target, const struct rs_rpc_client_config *cfg,
                     rs_rpc_client **out, struct rs_error *err)
{
    rs_rpc_client *client = NULL;
    grpc_channel_credentials *creds = NULL;
    grpc_arg args[2];
    grpc_channel_args channel_args;
    size_t len;
    rs_status rc = RS_OK;

    *out = NULL;
    if (target == NULL || target[0] == '\0')
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID", "missing target address");
    client = rs_calloc(1, sizeof(*client));
    if (client == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    grpc_init();
    client->max_attempts =
        cfg != NULL && cfg->max_attempts > 0 ? cfg->max_attempts : DEFAULT_ATTEMPTS;
    if (cfg != NULL && cfg->token != NULL) {
        len = strlen(cfg->token);
        client->auth_value = rs_malloc(len + 8);
        if (client->auth_value == NULL) {
            rc = rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
            goto out;
        }
        memcpy(client->auth_value, "Bearer ", 7);
        memcpy(client->auth_value + 7, cfg->token, len + 1);
    }

    creds = client_credentials(cfg, err, &rc);
    if (rc != RS_OK)
        goto out;
    /* Separate clients must not share one TCP connection behind the scenes. */
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[0].value.integer = 1;
    channel_args.num_args = 1;
    channel_args.args = args;
    if (cfg != NULL && cfg->tls_ca != NULL && cfg->tls_server_name != NULL) {
        args[1].type = GRPC_ARG_STRING;
        args[1].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        args[1].value.string = (char *)cfg->tls_server_name;
        channel_args.num_args = 2;
    }
    client->channel = grpc_channel_create(target, creds, &channel_args);
    if (client->channel == NULL) {
        rc = rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                          "could not create a channel to \"%s\"", target);
        goto out;
    }
    *out = client;
    client = NULL;
out:
    if (creds != NULL)
        grpc_channel_credentials_release(creds);
    rs_rpc_client_destroy(client);
    return rc;
}

void
rs_rpc_client_destroy(rs_rpc_client *client)
{
    if (client == NULL)
        return;
    if (client->channel != NULL)
        grpc_channel_destroy(client->channel);
    rs_rpc__free_secret(&client->auth_value);
    rs_free(client);
    grpc_shutdown();
}

static void
copy_slice(char *dst, size_t size, grpc_slice s)
{
    size_t len = GRPC_SLICE_LENGTH(s);

    if (len >= size)
        len = size - 1;
    memcpy(dst, GRPC_SLICE_START_PTR(s), len);
    dst[len] = '\0';
}

/* Fills err from a failed attempt: status, message and the server's reason. */
static rs_status
error_from_attempt(const struct attempt *at, struct rs_error *err)
{
    rs_status rc = rs_status_from_grpc((int)at->status);
    char message[256];
    char reason[64];
    const char *value;
    size_t len;

    copy_slice(message, sizeof(message), at->details);
    if (message[0] == '\0')
        snprintf(message, sizeof(message), "%s", rs_status_str(rc));
    snprintf(reason, sizeof(reason), "%s", rs_rpc__code_name(at->status));
    value = rs_rpc__metadata_get(&at->trailing, "x-roster-reason", &len);
    if (value != NULL && len > 0 && len < sizeof(reason)) {
        memcpy(reason, value, len);
        reason[len] = '\0';
    }
    rs_error_set(err, rc, reason, "%s", message);
    value = rs_rpc__metadata_get(&at->trailing, "grpc-status-details-bin", &len);
    if (value != NULL && err != NULL)
        rs_rpc__status_details_unpack((const unsigned char *)value, len, err);
    return rc;
}

/* Runs one attempt; on RS_OK *resp is decoded with alloc. */
static rs_status
call_once(rs_rpc_client *client, const char *path, grpc_slice payload, gpr_timespec deadline,
          const char *actor, const ProtobufCMessageDescriptor *resp_desc,
          ProtobufCAllocator *alloc, ProtobufCMessage **resp, struct rs_error *err)
{
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_slice method;
    grpc_metadata md[2];
    grpc_op ops[6];
    grpc_byte_buffer *send_bb;
    struct attempt at;
    grpc_event ev;
    grpc_slice resp_slice;
    grpc_byte_buffer_reader reader;
    size_t n_md = 0;
    rs_status rc;

    memset(&at, 0, sizeof(at));
    memset(md, 0, sizeof(md));
    memset(ops, 0, sizeof(ops));
    grpc_metadata_array_init(&at.initial);
    grpc_metadata_array_init(&at.trailing);
    at.details = grpc_empty_slice();

    cq = grpc_completion_queue_create_for_pluck(NULL);
    method = grpc_slice_from_copied_string(path);
    call = grpc_channel_create_call(client->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                                    NULL, deadline, NULL);
    grpc_slice_unref(method);
    if (client->auth_value != NULL) {
        md[n_md].key = grpc_slice_from_static_string("authorization");
        md[n_md].value = grpc_slice_from_static_string(client->auth_value);
        n_md++;
    }
    if (actor != NULL) {
        md[n_md].key = grpc_slice_from_static_string("x-roster-actor");
        md[n_md].value = grpc_slice_from_static_string(actor);
        n_md++;
    }
    send_bb = grpc_raw_byte_buffer_create(&payload, 1);

    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = n_md;
    ops[0].data.send_initial_metadata.metadata = md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &at.initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &at.resp;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &at.trailing;
    ops[5].data.recv_status_on_client.status = &at.status;
    ops[5].data.recv_status_on_client.status_details = &at.details;

    if (grpc_call_start_batch(call, ops, 6, &at, NULL) != GRPC_CALL_OK) {
        rc = rs_error_set(err, RS_EINTERNAL, "INTERNAL", "could not start the call");
        goto out;
    }
    ev = grpc_completion_queue_pluck(cq, &at, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        rc = rs_error_set(err, RS_EINTERNAL, "INTERNAL", "the call failed to complete");
        goto out;
    }
    if (at.status != GRPC_STATUS_OK) {
        rc = error_from_attempt(&at, err);
        goto out;
    }
    if (at.resp == NULL || !grpc_byte_buffer_reader_init(&reader, at.resp)) {
        rc = rs_error_set(err, RS_EINTERNAL, "MISSING_RESPONSE",
                          "the server sent no response message");
        goto out;
    }
    resp_slice = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    *resp = protobuf_c_message_unpack(resp_desc, alloc, GRPC_SLICE_LENGTH(resp_slice),
                                      GRPC_SLICE_START_PTR(resp_slice));
    grpc_slice_unref(resp_slice);
    if (*resp == NULL) {
        rc = rs_error_set(err, RS_EINTERNAL, "MALFORMED_MESSAGE",
                          "could not decode the response as \"%s\"", resp_desc->name);
        goto out;
    }
    rc = RS_OK;
out:
    if (at.resp != NULL)
        grpc_byte_buffer_destroy(at.resp);
    grpc_byte_buffer_destroy(send_bb);
    grpc_slice_unref(at.details);
    grpc_metadata_array_destroy(&at.initial);
    grpc_metadata_array_destroy(&at.trailing);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    return rc;
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

rs_status
rs_rpc_client_call(rs_rpc_client *client, const char *path, const ProtobufCMessage *req,
                   const ProtobufCMessageDescriptor *resp_desc, ProtobufCAllocator *alloc,
                   const char *actor, int timeout_ms, ProtobufCMessage **resp,
                   struct rs_error *err)
{
    static _Thread_local unsigned int seed;
    grpc_slice payload;
    gpr_timespec deadline;
    int64_t backoff_ms = BACKOFF_FIRST_MS, wait_ms, deadline_ns = INT64_MAX;
    size_t len;
    int attempt;
    rs_status rc = RS_EINTERNAL;

    *resp = NULL;
    if (seed == 0)
        seed = (unsigned int)rs_clock_ns() ^ (unsigned int)(uintptr_t)&seed;
    len = protobuf_c_message_get_packed_size(req);
    payload = grpc_slice_malloc(len);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(payload));
    if (timeout_ms > 0) {
        deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
        deadline_ns = rs_clock_ns() + (int64_t)timeout_ms * 1000000;
    } else {
        deadline = gpr_inf_future(GPR_CLOCK_MONOTONIC);
    }

    for (attempt = 1;; attempt++) {
        rs_error_clear(err);
        rc = call_once(client, path, payload, deadline, actor, resp_desc, alloc, resp, err);
        if (rc != RS_EUNAVAIL || attempt >= client->max_attempts)
            break;
        /* Wait a random time in [backoff/2, backoff] so clients do not retry in step. */
        wait_ms = backoff_ms / 2 + rand_r(&seed) % (backoff_ms / 2 + 1);
        if (rs_clock_ns() + wait_ms * 1000000 >= deadline_ns)
            break;
        sleep_ms(wait_ms);
        backoff_ms *= 2;
    }
    grpc_slice_unref(payload);
    return rc;
}
