/*
 * libs/rpc/src/server.c
 *    Server creation, method registration, worker threads and the dispatch of
 *    completion-queue events. All workers poll one shared completion queue,
 *    so a worker busy in a slow handler does not hold up a call that an idle
 *    worker can take. With a queue per worker, gRPC also matches new calls to
 *    the busy worker's outstanding requests, and those calls wait. The queue
 *    keeps one request per worker outstanding for every method and for
 *    unknown methods.
 */
#include "roster/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "rpc_int.h"

/* An outstanding grpc_server_request_*call; the tag of its completion. */
struct request {
    enum rs_rpc__tag_kind kind;
    struct rs_rpc__worker *worker;
    const struct rs_rpc__reg *reg; /* NULL for the generic request */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_call_details details;       /* generic request only */
    grpc_completion_queue *call_cq;  /* streaming request only: the call's own queue */
};

atomic_long rs_rpc__live_calls;

static const char *const code_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

const char *
rs_rpc__code_name(grpc_status_code code)
{
    if ((int)code < 0 || (size_t)code >= sizeof(code_names) / sizeof(code_names[0]))
        return "UNKNOWN";
    return code_names[code];
}

long
rs_rpc_live_calls(void)
{
    return atomic_load(&rs_rpc__live_calls);
}

static void
request_free(struct request *req)
{
    if (req == NULL)
        return;
    if (req->payload != NULL)
        grpc_byte_buffer_destroy(req->payload);
    grpc_metadata_array_destroy(&req->md);
    if (req->kind == RS_RPC_TAG_GENERIC_REQUEST)
        grpc_call_details_destroy(&req->details);
    if (req->call_cq != NULL) {
        grpc_completion_queue_shutdown(req->call_cq);
        grpc_completion_queue_destroy(req->call_cq);
    }
    rs_free(req);
}

/*
 * Posts one request for reg (NULL: unknown methods) on worker's queue.
 * Returns false when the server no longer accepts or the request failed.
 * The request is freed then, because a request that fails synchronously
 * never produces a queue event.
 */
static bool
request_post(struct rs_rpc__worker *worker, const struct rs_rpc__reg *reg)
{
    rs_rpc_server *server = worker->server;
    struct request *req;
    grpc_call_error gerr = GRPC_CALL_OK;
    bool accepting;

    req = rs_calloc(1, sizeof(*req));
    if (req == NULL) {
        rs_log_error(NULL, "could not post a call request", "reason", "out of memory", NULL);
        return false;
    }
    req->worker = worker;
    req->reg = reg;
    grpc_metadata_array_init(&req->md);
    if (reg == NULL) {
        req->kind = RS_RPC_TAG_GENERIC_REQUEST;
        grpc_call_details_init(&req->details);
    } else if (reg->stream != RS_RPC_STREAM_NONE) {
        req->kind = RS_RPC_TAG_STREAM_REQUEST;
        req->call_cq = grpc_completion_queue_create_for_pluck(NULL);
    } else {
        req->kind = RS_RPC_TAG_UNARY_REQUEST;
    }

    pthread_rwlock_rdlock(&server->request_lock);
    accepting = server->accepting;
    if (accepting) {
        if (req->kind == RS_RPC_TAG_GENERIC_REQUEST)
            gerr = grpc_server_request_call(server->grpc, &req->call, &req->details,
                                            &req->md, worker->cq, worker->cq, req);
        else if (req->kind == RS_RPC_TAG_STREAM_REQUEST)
            gerr = grpc_server_request_registered_call(server->grpc, reg->handle, &req->call,
                                                       &req->deadline, &req->md, NULL,
                                                       req->call_cq, worker->cq, req);
        else
            gerr = grpc_server_request_registered_call(server->grpc, reg->handle, &req->call,
                                                       &req->deadline, &req->md,
                                                       &req->payload, worker->cq,
                                                       worker->cq, req);
    }
    pthread_rwlock_unlock(&server->request_lock);

    if (!accepting || gerr != GRPC_CALL_OK) {
        if (accepting) {
            char code[16];

            snprintf(code, sizeof(code), "%d", (int)gerr);
            rs_log_error(NULL, "could not post a call request", "grpc_call_error", code, NULL);
        }
        request_free(req);
        return false;
    }
    return true;
}

/* Turns a completed request into a call, posts its replacement and runs it. */
static void
on_request(struct rs_rpc__worker *worker, struct request *req, int success)
{
    struct rs_call *call = NULL;
    char *path = NULL;
    gpr_timespec deadline;

    if (!success) {
        /* The server is shutting down: the request is cancelled without a call. */
        request_free(req);
        return;
    }
    atomic_fetch_add(&rs_rpc__live_calls, 1);
    request_post(worker, req->reg);

    if (req->kind == RS_RPC_TAG_GENERIC_REQUEST) {
        path = grpc_slice_to_c_string(req->details.method);
        deadline = req->details.deadline;
    } else {
        deadline = req->deadline;
    }
    call = rs_rpc__call_new(worker->server, req->reg, req->call,
                            req->kind == RS_RPC_TAG_STREAM_REQUEST ? req->call_cq : worker->cq,
                            path != NULL ? path : req->reg->path, deadline);
    if (path != NULL)
        gpr_free(path);
    if (call == NULL) {
        /* Out of memory: nothing can be sent, so drop the call. */
        grpc_call_cancel_with_status(req->call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                     "out of memory", NULL);
        grpc_call_unref(req->call);
        atomic_fetch_sub(&rs_rpc__live_calls, 1);
        request_free(req);
        return;
    }
    req->call = NULL;
    if (req->kind != RS_RPC_TAG_STREAM_REQUEST)
        atomic_fetch_add(&worker->server->worker_calls, 1);
    rs_rpc__call_take_metadata(call, &req->md);
    call->payload = req->payload;
    req->payload = NULL;
    if (req->kind == RS_RPC_TAG_STREAM_REQUEST) {
        call->owns_cq = true;
        req->call_cq = NULL;
    }

    switch (req->kind) {
    case RS_RPC_TAG_GENERIC_REQUEST: {
        struct rs_rpc__status st = {GRPC_STATUS_UNIMPLEMENTED, NULL, "METHOD_NOT_FOUND", NULL};
        char message[256];

        snprintf(message, sizeof(message), "unknown method \"%s\"", call->path);
        st.message = message;
        rs_rpc__reply_error(call, &st);
        break;
    }
    case RS_RPC_TAG_STREAM_REQUEST:
        rs_rpc__stream_accepted(worker->server, call);
        break;
    default:
        rs_rpc__handle_unary(call);
        break;
    }
    request_free(req);
}

static void *
worker_main(void *arg)
{
    struct rs_rpc__worker *worker = arg;
    grpc_event ev;
    enum rs_rpc__tag_kind kind;

    for (;;) {
        ev = grpc_completion_queue_next(worker->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        kind = *(enum rs_rpc__tag_kind *)ev.tag;
        if (kind == RS_RPC_TAG_CALL_DONE)
            rs_rpc__call_finished(ev.tag);
        else
            on_request(worker, ev.tag, ev.success);
    }
    return NULL;
}

rs_status
rs_rpc__add_reg(rs_rpc_server *server, const struct rs_rpc_method *method, const char *path,
                void *user_data, enum rs_rpc__stream_kind stream, struct rs_error *err)
{
    struct rs_rpc__reg *reg;
    void *handle;

    if (server->started)
        return rs_error_set(err, RS_EINVAL, "SERVER_STARTED",
                            "cannot register method \"%s\" after the server started", path);
    if (server->n_regs == server->cap_regs) {
        size_t cap = server->cap_regs == 0 ? 16 : server->cap_regs * 2;
        struct rs_rpc__reg *regs = rs_realloc(server->regs, cap * sizeof(*regs));

        if (regs == NULL)
            return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
        server->regs = regs;
        server->cap_regs = cap;
    }
    handle = grpc_server_register_method(server->grpc, path, NULL,
                                         stream == RS_RPC_STREAM_NONE
                                             ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER
                                             : GRPC_SRM_PAYLOAD_NONE,
                                         0);
    if (handle == NULL)
        return rs_error_set(err, RS_EINVAL, "METHOD_DUPLICATE",
                            "could not register method \"%s\": invalid or already registered",
                            path);
    reg = &server->regs[server->n_regs++];
    reg->method = method;
    reg->path = path;
    reg->user_data = user_data;
    reg->handle = handle;
    reg->stream = stream;
    return RS_OK;
}

rs_status
rs_rpc__add_service_name(rs_rpc_server *server, const char *name, struct rs_error *err)
{
    char **names;
    size_t i;

    for (i = 0; i < server->n_services; i++) {
        if (strcmp(server->service_names[i], name) == 0)
            return rs_error_set(err, RS_EEXIST, "SERVICE_DUPLICATE",
                                "service \"%s\" is already registered", name);
    }
    names = rs_realloc(server->service_names, (server->n_services + 1) * sizeof(*names));
    if (names == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    server->service_names = names;
    names[server->n_services] = rs_strdup(name);
    if (names[server->n_services] == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    server->n_services++;
    return RS_OK;
}

static int
default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < 1)
        return 1;
    return n > 64 ? 64 : (int)n;
}

static rs_status
copy_config(rs_rpc_server *server, const struct rs_rpc_server_config *cfg,
            struct rs_error *err)
{
    if (cfg->listen_addr == NULL || cfg->listen_addr[0] == '\0')
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID", "missing listen address");
    if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL))
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "TLS needs both a certificate and a key file");
    if (cfg->tls_client_ca != NULL && cfg->tls_cert == NULL)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID",
                            "a client CA file needs a server certificate and key");
    server->service_name = rs_strdup(cfg->service_name != NULL ? cfg->service_name : "rpc");
    server->listen_addr = rs_strdup(cfg->listen_addr);
    if (server->service_name == NULL || server->listen_addr == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    server->n_workers = cfg->workers > 0 ? cfg->workers : default_workers();
    server->max_message_bytes = cfg->max_message_bytes > 0 ? cfg->max_message_bytes
                                                            : RS_RPC_DEFAULT_MAX_MESSAGE;
    server->grace_ms = cfg->grace_ms > 0 ? cfg->grace_ms : RS_RPC_DEFAULT_GRACE_MS;
    server->descriptor_set = cfg->descriptor_set;
    server->descriptor_set_len = cfg->descriptor_set_len;
    return RS_OK;
}

rs_status
rs_rpc_server_create(const struct rs_rpc_server_config *cfg, rs_rpc_server **out,
                     struct rs_error *err)
{
    rs_rpc_server *server = NULL;
    grpc_arg args[3];
    grpc_channel_args channel_args;
    rs_status rc;

    *out = NULL;
    if (cfg == NULL)
        return rs_error_set(err, RS_EINVAL, "CONFIG_INVALID", "missing server configuration");
    server = rs_calloc(1, sizeof(*server));
    if (server == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    grpc_init();
    pthread_rwlock_init(&server->request_lock, NULL);
    pthread_mutex_init(&server->streams_mu, NULL);
    pthread_mutex_init(&server->shutdown_mu, NULL);
    rs_rpc__health_init(&server->health);

    rc = copy_config(server, cfg, err);
    if (rc != RS_OK)
        goto out;
    if (cfg->tokens_file != NULL) {
        rc = rs_rpc__tokens_load(server, cfg->tokens_file, err);
        if (rc != RS_OK)
            goto out;
        server->auth_enabled = true;
    }
    if (cfg->tls_cert != NULL) {
        rc = rs_rpc__read_file(cfg->tls_cert, "TLS certificate", &server->tls_cert_pem, err);
        if (rc == RS_OK)
            rc = rs_rpc__read_file(cfg->tls_key, "TLS key", &server->tls_key_pem, err);
        if (rc == RS_OK && cfg->tls_client_ca != NULL)
            rc = rs_rpc__read_file(cfg->tls_client_ca, "TLS client CA", &server->tls_ca_pem,
                                   err);
        if (rc != RS_OK)
            goto out;
    }

    /* A second server on the same port must fail to bind, not share it. */
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
    args[0].value.integer = 0;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = server->max_message_bytes;
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[2].value.integer = server->max_message_bytes;
    channel_args.num_args = 3;
    channel_args.args = args;
    server->grpc = grpc_server_create(&channel_args, NULL);
    if (server->grpc == NULL) {
        rc = rs_error_set(err, RS_EINTERNAL, NULL, "could not create the gRPC server");
        goto out;
    }

    rc = rs_rpc__health_register(server, err);
    if (rc != RS_OK)
        goto out;
    rc = rs_rpc__reflection_register(server, err);
    if (rc != RS_OK)
        goto out;
    rc = rs_rpc__reflection_build(server, err);
    if (rc != RS_OK)
        goto out;

    *out = server;
    server = NULL;
out:
    rs_rpc_server_destroy(server);
    return rc;
}

rs_status
rs_rpc_server_add_service(rs_rpc_server *server, const struct rs_rpc_service *svc,
                          void *user_data, struct rs_error *err)
{
    size_t i, name_len;
    const struct rs_rpc_method *m;
    rs_status rc;

    if (svc == NULL || svc->name == NULL || svc->name[0] == '\0')
        return rs_error_set(err, RS_EINVAL, "SERVICE_INVALID", "missing service name");
    name_len = strlen(svc->name);
    for (i = 0; i < svc->n_methods; i++) {
        m = &svc->methods[i];
        if (m->path == NULL || m->path[0] != '/' ||
            strncmp(m->path + 1, svc->name, name_len) != 0 || m->path[name_len + 1] != '/' ||
            m->path[name_len + 2] == '\0')
            return rs_error_set(err, RS_EINVAL, "METHOD_INVALID",
                                "invalid method path \"%s\" for service \"%s\"",
                                m->path != NULL ? m->path : "", svc->name);
        if (m->input == NULL || m->output == NULL || m->handler == NULL)
            return rs_error_set(err, RS_EINVAL, "METHOD_INVALID",
                                "method \"%s\" lacks a message type or handler", m->path);
    }
    rc = rs_rpc__add_service_name(server, svc->name, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < svc->n_methods; i++) {
        m = &svc->methods[i];
        rc = rs_rpc__add_reg(server, m, m->path, user_data, RS_RPC_STREAM_NONE, err);
        if (rc != RS_OK)
            return rc;
    }
    return RS_OK;
}

void
rs_rpc_server_set_health_probe(rs_rpc_server *server, rs_rpc_health_probe_fn probe,
                               void *arg, int interval_ms)
{
    pthread_mutex_lock(&server->health.mu);
    server->health.probe = probe;
    server->health.probe_arg = arg;
    server->health.interval_ms = interval_ms > 0 ? interval_ms : 5000;
    pthread_mutex_unlock(&server->health.mu);
}

static rs_status
start_workers(rs_rpc_server *server, struct rs_error *err)
{
    size_t j;
    int i, prc;

    for (i = 0; i < server->n_workers; i++) {
        struct rs_rpc__worker *w = &server->workers[i];

        for (j = 0; j < server->n_regs; j++)
            request_post(w, &server->regs[j]);
        request_post(w, NULL);
    }
    for (i = 0; i < server->n_workers; i++) {
        prc = pthread_create(&server->workers[i].thread, NULL, worker_main,
                             &server->workers[i]);
        if (prc != 0)
            return rs_error_set(err, RS_EINTERNAL, NULL, "could not start worker thread: %s",
                                strerror(prc));
        server->workers[i].thread_started = true;
    }
    return RS_OK;
}

rs_status
rs_rpc_server_start(rs_rpc_server *server, int *port, struct rs_error *err)
{
    grpc_server_credentials *creds;
    char port_text[16], workers_text[16];
    int bound, i;
    rs_status rc;

    *port = 0;
    if (server->started)
        return rs_error_set(err, RS_EINVAL, "SERVER_STARTED", "the server is already started");
    server->workers = rs_calloc((size_t)server->n_workers, sizeof(*server->workers));
    if (server->workers == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    server->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server->grpc, server->cq, NULL);
    for (i = 0; i < server->n_workers; i++) {
        server->workers[i].server = server;
        server->workers[i].index = i;
        server->workers[i].cq = server->cq;
    }
    server->shutdown_cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(server->grpc, server->shutdown_cq, NULL);

    creds = rs_rpc__server_credentials(server);
    if (creds == NULL)
        return rs_error_set(err, RS_EINVAL, "TLS_INVALID",
                            "could not create TLS server credentials");
    bound = grpc_server_add_http2_port(server->grpc, server->listen_addr, creds);
    grpc_server_credentials_release(creds);
    if (bound == 0)
        return rs_error_set(err, RS_EUNAVAIL, "BIND_FAILED",
                            "could not listen on \"%s\": address invalid or in use",
                            server->listen_addr);

    grpc_server_start(server->grpc);
    server->started = true;
    pthread_rwlock_wrlock(&server->request_lock);
    server->accepting = true;
    pthread_rwlock_unlock(&server->request_lock);

    rc = start_workers(server, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_rpc__health_start(server, err);
    if (rc != RS_OK)
        return rc;

    *port = bound;
    snprintf(port_text, sizeof(port_text), "%d", bound);
    snprintf(workers_text, sizeof(workers_text), "%d", server->n_workers);
    rs_log_info(NULL, "server started", "addr", server->listen_addr, "port", port_text,
                "workers", workers_text, "tls", server->tls_cert_pem != NULL ? "on" : "off",
                "auth", server->auth_enabled ? "on" : "off", NULL);
    return RS_OK;
}

/*
 * Stops the worker threads after the server is destroyed: shutting the queue
 * down lets the workers drain the remaining events, then return.
 */
/*
 * Waits until every unary call has finished, for at most the grace period
 * once more: a handler the cancellation could not stop (say, one waiting
 * on a database lock) still sends its reply on the workers' queue when it
 * returns. Returns false if one is still running.
 */
static bool
wait_worker_calls(rs_rpc_server *server)
{
    int64_t deadline = rs_clock_ns() + (int64_t)server->grace_ms * 1000000;
    struct timespec pause = {0, 10 * 1000000};
    char live[32];

    while (atomic_load(&server->worker_calls) > 0) {
        if (rs_clock_ns() >= deadline) {
            snprintf(live, sizeof(live), "%ld", atomic_load(&server->worker_calls));
            rs_log_error(NULL, "handlers still running after shutdown; leaving them to exit",
                         "live_calls", live, NULL);
            return false;
        }
        nanosleep(&pause, NULL);
    }
    return true;
}

static bool
stop_workers(rs_rpc_server *server)
{
    bool any_started = false;
    grpc_event ev;
    int i;

    if (server->cq == NULL) {
        RS_FREE(&server->workers);
        return true;
    }
    if (!wait_worker_calls(server)) {
        /* A handler is still running and will send on this queue. */
        return false;
    }
    grpc_completion_queue_shutdown(server->cq);
    for (i = 0; server->workers != NULL && i < server->n_workers; i++) {
        if (server->workers[i].thread_started) {
            pthread_join(server->workers[i].thread, NULL);
            any_started = true;
        }
    }
    if (!any_started) {
        /* No worker ran, so only unanswered requests can be left in the queue. */
        do {
            ev = grpc_completion_queue_next(server->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                            NULL);
            if (ev.type == GRPC_OP_COMPLETE)
                request_free(ev.tag);
        } while (ev.type != GRPC_QUEUE_SHUTDOWN);
    }
    grpc_completion_queue_destroy(server->cq);
    server->cq = NULL;
    RS_FREE(&server->workers);
    return true;
}

void
rs_rpc_server_destroy(rs_rpc_server *server)
{
    char live[32];
    size_t i;
    long n;

    if (server == NULL)
        return;
    rs_rpc_server_shutdown(server);

    if (server->grpc != NULL) {
        pthread_rwlock_wrlock(&server->request_lock);
        server->accepting = false;
        grpc_server_destroy(server->grpc);
        server->grpc = NULL;
        pthread_rwlock_unlock(&server->request_lock);
    }
    if (!stop_workers(server)) {
        /*
         * Freeing the queue under a running handler would crash it; the
         * process is exiting, so leave the server to the exit instead.
         */
        return;
    }
    /* A worker may have started a stream just before the server stopped. */
    rs_rpc__streams_join(server);
    if (server->shutdown_cq != NULL) {
        grpc_completion_queue_shutdown(server->shutdown_cq);
        while (grpc_completion_queue_next(server->shutdown_cq,
                                          gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
                   .type != GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(server->shutdown_cq);
    }

    n = rs_rpc_live_calls();
    if (server->started && n != 0) {
        snprintf(live, sizeof(live), "%ld", n);
        rs_log_warn(NULL, "calls still live after server shutdown", "count", live, NULL);
    }

    rs_rpc__reflection_free(&server->refl);
    rs_rpc__tokens_free(server);
    rs_rpc__free_secret(&server->tls_key_pem);
    rs_free(server->tls_cert_pem);
    rs_free(server->tls_ca_pem);
    for (i = 0; i < server->n_services; i++)
        rs_free(server->service_names[i]);
    rs_free(server->service_names);
    rs_free(server->regs);
    rs_rpc__health_cleanup(&server->health);
    pthread_mutex_destroy(&server->shutdown_mu);
    pthread_mutex_destroy(&server->streams_mu);
    pthread_rwlock_destroy(&server->request_lock);
    rs_free(server->service_name);
    rs_free(server->listen_addr);
    rs_free(server);
    grpc_shutdown();
}
