/*
 * libs/rpc/tests/rpc_test_util.h
 *    Helpers for the rpc tests: checks, a test server with a fake Echo
 *    service, and raw gRPC C-core clients for what rs_rpc_client cannot do
 *    (streams, missing or undecodable payloads, request ids).
 */
#ifndef RS_RPC_TEST_UTIL_H
#define RS_RPC_TEST_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <grpc/grpc.h>

#include "roster/rpc.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#define CHECK_STR(a, b)                                                                 \
    do {                                                                                \
        const char *a_ = (a), *b_ = (b);                                                \
        if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                          \
            fprintf(stderr, "%s:%d: check failed: %s == %s (\"%s\" vs \"%s\")\n",       \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

#define TEST_TOKEN "test-token-0123456789"
#define TEST_ACTOR "0123456789abcdef0123456789abcdef"

struct test_server {
    rs_rpc_server *server;
    int port;
    char target[64];
    char tokens_path[64];
};

struct test_server_opts {
    bool auth;
    bool probe;
    int grace_ms;
    int workers;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_client_ca;
};

/* The fake probe's result; tests flip it. */
void test_probe_set(bool ok);
/* Makes the probe pass only while path exists (for the test server program). */
void test_probe_file(const char *path);

void test_server_start(struct test_server *ts, const struct test_server_opts *opts);
void test_server_stop(struct test_server *ts);
/* Writes text to a new temporary file; path receives its name. */
void test_write_file(char path[64], const char *text);

/* Unary call through rs_rpc_client to the Echo service with the given service field. */
rs_status test_echo(const char *target, const char *token, const char *path,
                    const char *service, const char *actor, int *serving,
                    struct rs_error *err);

struct raw_result {
    grpc_status_code status;
    char details[256];
    char reason[64];
    char request_id[80];
    bool got_message;
};

/* One unary call with raw bytes (or no message when body is NULL). */
void raw_unary(const char *target, const char *path, const void *body, size_t len,
               const char *request_id, struct raw_result *out);

struct raw_stream {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata_array initial;
    grpc_metadata_array trailing;
    grpc_status_code status;
    grpc_slice details;
    bool got_initial;
};

void raw_stream_open(struct raw_stream *rs, const char *target, const char *path);
void raw_stream_send(struct raw_stream *rs, const ProtobufCMessage *msg);
void raw_stream_half_close(struct raw_stream *rs);
/* Returns the next message (free with protobuf_c_message_free_unpacked) or NULL at the end. */
ProtobufCMessage *raw_stream_recv(struct raw_stream *rs, const ProtobufCMessageDescriptor *desc);
grpc_status_code raw_stream_finish(struct raw_stream *rs);
void raw_stream_close(struct raw_stream *rs);

/* Returns the milliseconds elapsed since start_ns, a reading of rs_clock_ns. */
long test_elapsed_ms(int64_t start_ns);

#endif /* RS_RPC_TEST_UTIL_H */
