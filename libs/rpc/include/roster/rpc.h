/*
 * libs/rpc/include/roster/rpc.h
 *    gRPC server and client over the gRPC C core, with protobuf-c messages:
 *    method tables, worker threads, health, reflection, bearer-token
 *    authentication, TLS, graceful shutdown and error details.
 */
#ifndef RS_RPC_H
#define RS_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "roster/arena.h"
#include "roster/log.h"
#include "roster/status.h"

typedef struct rs_rpc_server rs_rpc_server;
typedef struct rs_rpc_client rs_rpc_client;

/* One accepted call; opaque. Valid only inside the handler that receives it. */
struct rs_call;

/*
 * A unary handler. req is decoded into the call's arena. On RS_OK the
 * handler sets *resp to a message of the method's output type, allocated from
 * rs_call_arena(call) (or static); the server packs it and releases the arena.
 * On failure it fills err (code, reason, message) and the server answers with
 * that status, an ErrorInfo detail and the "x-roster-reason" trailer.
 * THREAD-SAFETY: called concurrently from worker threads.
 */
typedef rs_status (*rs_rpc_unary_fn)(struct rs_call *call, const ProtobufCMessage *req,
                                     ProtobufCMessage **resp, struct rs_error *err);

/* Method flags. */
#define RS_RPC_PUBLIC 0x1u      /* no bearer token needed (health, reflection) */
#define RS_RPC_NEED_ACTOR 0x2u  /* refuse with UNAUTHENTICATED/ACTOR_REQUIRED without x-roster-actor */

struct rs_rpc_method {
    const char *path; /* "/roster.identity.v1.IdentityService/GetUser" */
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    rs_rpc_unary_fn handler;
    unsigned flags;
};

struct rs_rpc_service {
    const char *name; /* fully qualified, e.g. "roster.identity.v1.IdentityService" */
    const struct rs_rpc_method *methods;
    size_t n_methods;
};

struct rs_rpc_server_config {
    const char *service_name;   /* short name for logs: "identity" */
    const char *listen_addr;    /* "0.0.0.0:50051"; port 0 picks a free port */
    int workers;                /* worker threads; <= 0 means the CPU count */
    int max_message_bytes;      /* receive and send limit; <= 0 means 4 MiB */
    int grace_ms;               /* shutdown grace period; <= 0 means 10000 */
    const char *tokens_file;    /* NULL disables authentication (tests only) */
    const char *tls_cert;       /* PEM files; NULL for plaintext */
    const char *tls_key;
    const char *tls_client_ca;  /* set: clients must present a certificate (mTLS) */
    /* FileDescriptorSet (with imports) served by reflection; borrowed, static. */
    const unsigned char *descriptor_set;
    size_t descriptor_set_len;
};

/*
 * Reports whether the service can serve; called by the health thread every
 * interval. Returning RS_OK means SERVING. err->message is logged on change.
 */
typedef rs_status (*rs_rpc_health_probe_fn)(void *arg, struct rs_error *err);

/*
 * Creates a server (calls grpc_init). Returns RS_OK and *out owned by the
 * caller (free with rs_rpc_server_destroy), or an error naming the bad input
 * (unreadable tokens file, bad TLS files ...).
 */
RS_MUSTCHECK rs_status rs_rpc_server_create(const struct rs_rpc_server_config *cfg,
                                            rs_rpc_server **out, struct rs_error *err);

/*
 * Registers a service; svc and its methods are borrowed for the server's
 * life. user_data is returned by rs_call_user_data. Also adds the service
 * name to health (NOT_SERVING until the probe passes).
 * REQUIRES: before rs_rpc_server_start.
 */
RS_MUSTCHECK rs_status rs_rpc_server_add_service(rs_rpc_server *server,
                                                 const struct rs_rpc_service *svc,
                                                 void *user_data, struct rs_error *err);

/*
 * Installs the readiness probe, run every interval_ms on its own thread.
 * Without a probe every service is SERVING once started.
 * REQUIRES: before rs_rpc_server_start.
 */
void rs_rpc_server_set_health_probe(rs_rpc_server *server, rs_rpc_health_probe_fn probe,
                                    void *arg, int interval_ms);

/*
 * Installs fn, called with arg once when the shutdown begins, before the
 * grace period: background work can start winding down while calls in
 * flight finish. fn must not block.
 * REQUIRES: before rs_rpc_server_start.
 */
void rs_rpc_server_on_shutdown(rs_rpc_server *server, void (*fn)(void *arg), void *arg);

/* Binds, starts workers and the health thread. Returns the bound port in *port. */
RS_MUSTCHECK rs_status rs_rpc_server_start(rs_rpc_server *server, int *port,
                                           struct rs_error *err);

/*
 * Blocks until SIGTERM or SIGINT, then shuts down gracefully: stop accepting,
 * let calls in flight finish within the grace period, cancel the rest.
 * REQUIRES: rs_rpc_block_signals() was called before any thread started.
 */
void rs_rpc_server_wait_for_signal(rs_rpc_server *server);

/* Graceful shutdown as above, without waiting for a signal. Idempotent. */
void rs_rpc_server_shutdown(rs_rpc_server *server);

/* Frees the server (shutting it down first if needed) and calls grpc_shutdown. NULL is a no-op. */
void rs_rpc_server_destroy(rs_rpc_server *server);

/* Blocks SIGTERM and SIGINT in the calling thread; call first thing in main. */
void rs_rpc_block_signals(void);

/*
 * Writes "sha256:<64 lower-case hex>" of token into out, the form a tokens
 * file line stores ("NAME sha256:HEX [scope1,scope2]"). Returns RS_OK,
 * RS_EINVAL for a NULL or empty token, or RS_EINTERNAL if hashing fails.
 * Never logs the token.
 */
RS_MUSTCHECK rs_status rs_rpc_token_hash(const char *token, char out[72]);

/* Number of calls accepted and not yet finished, process-wide. */
long rs_rpc_live_calls(void);

/* Call accessors; returned pointers are borrowed for the handler's duration. */
rs_arena *rs_call_arena(struct rs_call *call);
const struct rs_log_ctx *rs_call_log(struct rs_call *call);
void *rs_call_user_data(struct rs_call *call);
const char *rs_call_request_id(struct rs_call *call);
/* The x-roster-actor metadata value, or NULL when absent. */
const char *rs_call_actor(struct rs_call *call);
/* The name of the service token the caller presented, or NULL (public method). */
const char *rs_call_caller(struct rs_call *call);
/* Returns true if the caller's token carries scope (e.g. "sync"). */
bool rs_call_has_scope(struct rs_call *call, const char *scope);
/*
 * Returns the largest message the server sends or receives, in bytes. Always
 * positive, because the server maps a configured value <= 0 to 4 MiB.
 */
int rs_call_max_message_bytes(struct rs_call *call);
/*
 * Sets err for a reply of reply_bytes above the server's limit of
 * max_bytes: RS_ERESOURCE with reason RESPONSE_TOO_LARGE and metadata
 * max_message_bytes. Returns RS_ERESOURCE.
 */
rs_status rs_response_too_large(size_t reply_bytes, int max_bytes, struct rs_error *err);
/* Milliseconds left before the call's deadline; INT64_MAX when none. */
int64_t rs_call_remaining_ms(struct rs_call *call);

/* --- client --- */

struct rs_rpc_client_config {
    const char *token;          /* bearer token; NULL sends none; copied */
    const char *tls_ca;         /* PEM file; set to use TLS */
    const char *tls_cert;       /* client certificate and key for mTLS */
    const char *tls_key;
    const char *tls_server_name; /* overrides the name checked in the certificate */
    int max_attempts;           /* tries on UNAVAILABLE; <= 0 means 3 */
};

/* Creates a client for target ("127.0.0.1:50051"). *out owned by the caller. */
RS_MUSTCHECK rs_status rs_rpc_client_create(const char *target,
                                            const struct rs_rpc_client_config *cfg,
                                            rs_rpc_client **out, struct rs_error *err);

void rs_rpc_client_destroy(rs_rpc_client *client);

/*
 * Makes a unary call to path with req, retrying UNAVAILABLE with backoff
 * while attempts and the deadline (timeout_ms from now) allow. actor may be
 * NULL. On RS_OK *resp is unpacked with alloc (NULL: the default allocator,
 * free with protobuf_c_message_free_unpacked). On failure err carries the
 * status, message and the ErrorInfo reason sent by the server.
 * THREAD-SAFETY: a client may be used from several threads.
 */
RS_MUSTCHECK rs_status rs_rpc_client_call(rs_rpc_client *client, const char *path,
                                          const ProtobufCMessage *req,
                                          const ProtobufCMessageDescriptor *resp_desc,
                                          ProtobufCAllocator *alloc, const char *actor,
                                          int timeout_ms, ProtobufCMessage **resp,
                                          struct rs_error *err);

#endif /* RS_RPC_H */
