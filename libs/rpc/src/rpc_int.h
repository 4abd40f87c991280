/*
 * libs/rpc/src/rpc_int.h
 *    Internal structures shared by the files of libs/rpc: the server, its
 *    workers, accepted calls, streams, health state, tokens and reflection.
 */
#ifndef RS_RPC_INT_H
#define RS_RPC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "roster/rpc.h"

#define RS_RPC_DEFAULT_MAX_MESSAGE (4 * 1024 * 1024)
#define RS_RPC_DEFAULT_GRACE_MS 10000
#define RS_RPC_MAX_STREAMS 64
/* How often a stream thread wakes up to notice a server shutdown. */
#define RS_RPC_STREAM_POLL_MS 100
#define RS_RPC_REQUEST_ID_MAX 64
#define RS_RPC_TOKEN_NAME_MAX 64

/* Kind of struct a completion-queue tag points at; every tag struct starts with it. */
enum rs_rpc__tag_kind {
    RS_RPC_TAG_UNARY_REQUEST,   /* outstanding request for a registered unary method */
    RS_RPC_TAG_GENERIC_REQUEST, /* outstanding request for an unknown method */
    RS_RPC_TAG_STREAM_REQUEST,  /* outstanding request for a streaming method */
    RS_RPC_TAG_CALL_DONE,       /* the reply batch of an accepted call finished */
};

enum rs_rpc__stream_kind {
    RS_RPC_STREAM_NONE = 0,
    RS_RPC_STREAM_HEALTH_WATCH,
    RS_RPC_STREAM_REFLECTION,
};

/* One method known to the gRPC server, with the handle from registration. */
struct rs_rpc__reg {
    const struct rs_rpc_method *method; /* borrowed; NULL for streaming methods */
    const char *path;
    void *user_data;
    void *handle; /* grpc_server_register_method result */
    enum rs_rpc__stream_kind stream;
};

struct rs_rpc__token {
    char name[RS_RPC_TOKEN_NAME_MAX];
    unsigned char hash[32];
    char **scopes; /* rs_malloc'ed; n_scopes entries */
    size_t n_scopes;
};

/* Health state; guarded by mu, changes signalled on cond. */
struct rs_rpc__health {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool started;
    bool probe_ok;     /* last probe result; true when there is no probe */
    bool shutting_down;
    uint64_t version;  /* bumped on every change so watchers notice */
    rs_rpc_health_probe_fn probe;
    void *probe_arg;
    int interval_ms;
    pthread_t probe_thread;
    bool probe_thread_started;
};

/* Parsed descriptors for reflection. */
struct rs_rpc__refl_file {
    char *name;
    unsigned char *bytes; /* serialized FileDescriptorProto */
    size_t len;
    char **deps;
    size_t n_deps;
};

struct rs_rpc__refl_symbol {
    char *name; /* fully qualified, without a leading dot */
    size_t file;
    bool is_message; /* all_extension_numbers_of_type accepts only messages */
};

struct rs_rpc__reflection {
    struct rs_rpc__refl_file *files;
    size_t n_files;
    struct rs_rpc__refl_symbol *symbols;
    size_t n_symbols;
    size_t cap_symbols;
};

struct rs_rpc__worker {
    rs_rpc_server *server;
    int index;
    grpc_completion_queue *cq; /* the server's shared queue */
    pthread_t thread;
    bool thread_started;
};

/* A streaming call handed to its own thread; linked on server->streams. */
struct rs_rpc__stream {
    struct rs_rpc__stream *next;
    rs_rpc_server *server;
    struct rs_call *call;
    pthread_t thread;
    bool done; /* set by the thread when it is ready to be joined */
};

struct rs_rpc_server {
    char *service_name;
    char *listen_addr;
    int n_workers;
    int max_message_bytes;
    int grace_ms;
    /*
     * Unary and unknown-method calls not yet finished. Their replies are
     * sent on the workers' queue, so it may only shut down once this is 0.
     */
    atomic_long worker_calls;

    struct rs_rpc__token *tokens;
    size_t n_tokens;
    bool auth_enabled;

    char *tls_cert_pem;
    char *tls_key_pem;
    char *tls_ca_pem;

    const unsigned char *descriptor_set;
    size_t descriptor_set_len;
    struct rs_rpc__reflection refl;

    grpc_server *grpc;
    struct rs_rpc__reg *regs; /* registered methods, unary and streaming */
    size_t n_regs;
    size_t cap_regs;
    char **service_names; /* registered services, for health and reflection */
    size_t n_services;

    struct rs_rpc__worker *workers;
    grpc_completion_queue *cq; /* polled by every worker */
    grpc_completion_queue *shutdown_cq;
    struct rs_rpc__health health;

    /* Guards accepting: re-requests take it shared, destroy takes it exclusive. */
    pthread_rwlock_t request_lock;
    bool accepting;

    pthread_mutex_t streams_mu;
    struct rs_rpc__stream *streams;
    int n_streams_live;

    pthread_mutex_t shutdown_mu;
    bool started;
    bool shut_down;
    void (*on_shutdown)(void *arg);
    void *on_shutdown_arg;
};

/*
 * One accepted call, used as the tag of its reply batch. The reply fields
 * stay alive until that batch completes.
 */
struct rs_call {
    enum rs_rpc__tag_kind kind; /* RS_RPC_TAG_CALL_DONE */
    rs_rpc_server *server;
    const struct rs_rpc__reg *reg; /* NULL for an unknown method */
    grpc_call *call;
    grpc_completion_queue *cq; /* bound to the call: the workers' or the stream's own */
    bool owns_cq;              /* a stream's pluck queue, destroyed with the call */
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    rs_arena *arena;
    struct rs_log_ctx log;
    char request_id[RS_RPC_REQUEST_ID_MAX + 1];
    char *peer;    /* from grpc_call_get_peer, gpr_free'd */
    char *path;    /* rs_malloc'ed copy of the method path */
    char *actor;   /* rs_malloc'ed copy, or NULL */
    const struct rs_rpc__token *caller;
    int64_t start_ns;

    /* Reply state; released in rs_rpc__call_free. */
    grpc_status_code code;
    char reason[64];
    char log_detail[512];
    grpc_byte_buffer *send_buf;
    grpc_metadata initial_md[1];
    size_t n_initial;
    grpc_metadata trailing_md[2];
    size_t n_trailing;
    grpc_slice status_slice;
    bool status_slice_set;
    int cancelled;
    bool initial_sent;  /* streams: initial metadata already went out */
    bool close_started; /* streams: RECV_CLOSE_ON_SERVER is pending, tagged &cancelled */
    bool close_done;
    bool cancel_sent;   /* streams: cancelled because the server is stopping */
};

/* Status details to send; the strings are borrowed. */
struct rs_rpc__status {
    grpc_status_code code;
    const char *message;
    const char *reason;
    const struct rs_error *meta_from; /* ErrorInfo metadata source; may be NULL */
};

extern atomic_long rs_rpc__live_calls;

/* server.c */
const char *rs_rpc__code_name(grpc_status_code code);
rs_status rs_rpc__add_reg(rs_rpc_server *server, const struct rs_rpc_method *method,
                          const char *path, void *user_data,
                          enum rs_rpc__stream_kind stream, struct rs_error *err);
rs_status rs_rpc__add_service_name(rs_rpc_server *server, const char *name,
                                   struct rs_error *err);

/* call.c */
struct rs_call *rs_rpc__call_new(rs_rpc_server *server, const struct rs_rpc__reg *reg,
                                 grpc_call *gcall, grpc_completion_queue *cq,
                                 const char *path, gpr_timespec deadline);
void rs_rpc__call_take_metadata(struct rs_call *call, grpc_metadata_array *md);
void rs_rpc__call_free(struct rs_call *call);
void rs_rpc__handle_unary(struct rs_call *call);
void rs_rpc__reply_error(struct rs_call *call, const struct rs_rpc__status *st);
void rs_rpc__call_finished(struct rs_call *call);
void rs_rpc__set_initial_metadata(struct rs_call *call);
void rs_rpc__log_call(struct rs_call *call);
const char *rs_rpc__metadata_get(const grpc_metadata_array *md, const char *key,
                                 size_t *len);
/*
 * Returns how many entries md has for key. Credentials sent twice are
 * rejected, because a proxy that appends its own header must not be
 * overridden by the one the client put first.
 */
size_t rs_rpc__metadata_count(const grpc_metadata_array *md, const char *key);
rs_status rs_rpc__encode_trailers(struct rs_call *call, const struct rs_rpc__status *st);
/*
 * Checks every string field of the wire message data[0..len) of type desc,
 * nested messages included: valid UTF-8 (INVALID_UTF8) and no NUL byte
 * (INVALID_STRING), with meta "field". RS_EINVAL fills err.
 */
rs_status rs_rpc__check_strings(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                size_t len, struct rs_error *err);

/*
 * Decodes buf as desc into *out (from arena, or the default allocator when
 * arena is NULL) after rs_rpc__check_strings. RS_EINVAL fills err with
 * MALFORMED_MESSAGE, INVALID_UTF8 or INVALID_STRING.
 */
rs_status rs_rpc__decode_message(rs_arena *arena, grpc_byte_buffer *buf,
                                 const ProtobufCMessageDescriptor *desc,
                                 ProtobufCMessage **out, struct rs_error *err);
grpc_byte_buffer *rs_rpc__encode_message(const ProtobufCMessage *msg);

/* details.c */
rs_status rs_rpc__status_details_pack(const struct rs_rpc__status *st,
                                      unsigned char **out, size_t *out_len);
void rs_rpc__status_details_unpack(const unsigned char *data, size_t len,
                                   struct rs_error *err);

/* auth.c */
rs_status rs_rpc__tokens_load(rs_rpc_server *server, const char *path,
                              struct rs_error *err);
void rs_rpc__tokens_free(rs_rpc_server *server);
/* Fills st and returns false when the call may not proceed. */
bool rs_rpc__authenticate(struct rs_call *call, struct rs_rpc__status *st);

/* health.c */
void rs_rpc__health_init(struct rs_rpc__health *health);
void rs_rpc__health_cleanup(struct rs_rpc__health *health);
rs_status rs_rpc__health_register(rs_rpc_server *server, struct rs_error *err);
rs_status rs_rpc__health_start(rs_rpc_server *server, struct rs_error *err);
void rs_rpc__health_begin_shutdown(rs_rpc_server *server);
void rs_rpc__health_stop(rs_rpc_server *server);
void rs_rpc__health_watch(struct rs_call *call);

/* reflection.c */
rs_status rs_rpc__reflection_register(rs_rpc_server *server, struct rs_error *err);
rs_status rs_rpc__reflection_build(rs_rpc_server *server, struct rs_error *err);
void rs_rpc__reflection_free(struct rs_rpc__reflection *refl);
void rs_rpc__reflection_stream(struct rs_call *call);

/* stream.c */
void rs_rpc__stream_accepted(rs_rpc_server *server, struct rs_call *call);
rs_status rs_rpc__stream_recv(struct rs_call *call, const ProtobufCMessageDescriptor *desc,
                              ProtobufCMessage **out);
bool rs_rpc__stream_send(struct rs_call *call, const ProtobufCMessage *msg);
bool rs_rpc__stream_start_close(struct rs_call *call);
bool rs_rpc__stream_closed(struct rs_call *call);
void rs_rpc__stream_finish(struct rs_call *call, const struct rs_rpc__status *st);
void rs_rpc__streams_join(rs_rpc_server *server);

/* shutdown.c */
bool rs_rpc__server_stopping(rs_rpc_server *server);

/* Generated from the health and reflection protos (see CMakeLists.txt). */
extern const unsigned char rs_rpc__builtin_descriptors[];
extern const size_t rs_rpc__builtin_descriptors_len;

/* tls.c */
rs_status rs_rpc__read_file(const char *path, const char *what, char **out,
                            struct rs_error *err);
void rs_rpc__free_secret(char **pem);
grpc_server_credentials *rs_rpc__server_credentials(rs_rpc_server *server);

#endif /* RS_RPC_INT_H */
