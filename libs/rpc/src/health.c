/*
 * libs/rpc/src/health.c
 *    grpc.health.v1.Health: Check (unary), Watch (server stream) and the
 *    probe thread. Every service reports SERVING only while the server runs
 *    and the probe passes. A change wakes all Watch streams at once.
 */
#include "roster/rpc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grpc/health/v1/health.pb-c.h"
#include "roster/alloc.h"
#include "roster/clock.h"
#include "rpc_int.h"

#define HEALTH_SERVICE "grpc.health.v1.Health"
#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;

static rs_status health_check(struct rs_call *call, const ProtobufCMessage *req,
                              ProtobufCMessage **resp, struct rs_error *err);

static const struct rs_rpc_method check_method = {
    "/" HEALTH_SERVICE "/Check",
    &grpc__health__v1__health_check_request__descriptor,
    &grpc__health__v1__health_check_response__descriptor,
    health_check,
    RS_RPC_PUBLIC,
};

void
rs_rpc__health_init(struct rs_rpc__health *health)
{
    memset(health, 0, sizeof(*health));
    pthread_mutex_init(&health->mu, NULL);
    rs_cond_init_monotonic(&health->cond);
    health->probe_ok = true;
}

void
rs_rpc__health_cleanup(struct rs_rpc__health *health)
{
    pthread_cond_destroy(&health->cond);
    pthread_mutex_destroy(&health->mu);
}

rs_status
rs_rpc__health_register(rs_rpc_server *server, struct rs_error *err)
{
    rs_status rc;

    rc = rs_rpc__add_reg(server, &check_method, check_method.path, server, RS_RPC_STREAM_NONE,
                         err);
    if (rc != RS_OK)
        return rc;
    return rs_rpc__add_reg(server, NULL, "/" HEALTH_SERVICE "/Watch", server,
                           RS_RPC_STREAM_HEALTH_WATCH, err);
}

/* Returns the status of service ("" is the whole server). REQUIRES: health.mu held. */
static serving_status
status_locked(rs_rpc_server *server, const char *service)
{
    size_t i;
    bool known = service[0] == '\0';

    for (i = 0; i < server->n_services && !known; i++)
        known = strcmp(server->service_names[i], service) == 0;
    if (!known)
        return SERVICE_UNKNOWN;
    if (server->health.started && server->health.probe_ok && !server->health.shutting_down)
        return SERVING;
    return NOT_SERVING;
}

static const char *
status_name(serving_status st)
{
    switch (st) {
    case SERVING:
        return "SERVING";
    case NOT_SERVING:
        return "NOT_SERVING";
    case SERVICE_UNKNOWN:
        return "SERVICE_UNKNOWN";
    default:
        return "UNKNOWN";
    }
}

static rs_status
health_check(struct rs_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
             struct rs_error *err)
{
    const Grpc__Health__V1__HealthCheckRequest *in = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse *out;
    rs_rpc_server *server = rs_call_user_data(call);
    const char *service = in->service != NULL ? in->service : "";
    serving_status st;

    pthread_mutex_lock(&server->health.mu);
    st = status_locked(server, service);
    pthread_mutex_unlock(&server->health.mu);
    if (st == SERVICE_UNKNOWN)
        return rs_error_set(err, RS_ENOTFOUND, "SERVICE_NOT_FOUND", "unknown service \"%.128s\"",
                            service);
    out = rs_arena_alloc(rs_call_arena(call), sizeof(*out));
    if (out == NULL)
        return rs_error_set(err, RS_ENOMEM, NULL, "out of memory");
    grpc__health__v1__health_check_response__init(out);
    out->status = st;
    *resp = &out->base;
    return RS_OK;
}

static bool
send_status(struct rs_call *call, serving_status st)
{
    Grpc__Health__V1__HealthCheckResponse out = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

    out.status = st;
    return rs_rpc__stream_send(call, &out.base);
}

static void
finish(struct rs_call *call, grpc_status_code code, const char *reason, const char *message)
{
    struct rs_rpc__status st = {code, message, reason, NULL};

    rs_rpc__stream_finish(call, &st);
}

/*
 * Serves one Watch stream: the current status at once, then every change,
 * until the client goes away or the server shuts down.
 */
void
rs_rpc__health_watch(struct rs_call *call)
{
    rs_rpc_server *server = call->server;
    struct rs_rpc__health *h = &server->health;
    Grpc__Health__V1__HealthCheckRequest *req = NULL;
    ProtobufCMessage *msg = NULL;
    serving_status st, last;
    uint64_t seen;
    bool stopping;
    struct timespec until;
    rs_status rc;

    rc = rs_rpc__stream_recv(call, &grpc__health__v1__health_check_request__descriptor, &msg);
    if (rc == RS_ECANCELLED) {
        call->code = GRPC_STATUS_CANCELLED;
        return;
    }
    if (rc != RS_OK || msg == NULL) {
        finish(call, GRPC_STATUS_INVALID_ARGUMENT, rc != RS_OK ? "MALFORMED_MESSAGE"
                                                               : "MISSING_PAYLOAD",
               "missing or invalid request message");
        return;
    }
    req = (Grpc__Health__V1__HealthCheckRequest *)msg;

    pthread_mutex_lock(&h->mu);
    last = status_locked(server, req->service);
    seen = h->version;
    stopping = h->shutting_down;
    pthread_mutex_unlock(&h->mu);
    if (!send_status(call, last) || !rs_rpc__stream_start_close(call))
        goto cancelled;

    while (!stopping) {
        until = rs_clock_deadline_ms(RS_RPC_STREAM_POLL_MS);
        pthread_mutex_lock(&h->mu);
        while (h->version == seen && !h->shutting_down) {
            if (pthread_cond_timedwait(&h->cond, &h->mu, &until) == ETIMEDOUT)
                break;
        }
        seen = h->version;
        st = status_locked(server, req->service);
        stopping = h->shutting_down;
        pthread_mutex_unlock(&h->mu);

        if (rs_rpc__stream_closed(call))
            goto cancelled;
        if (st != last) {
            if (!send_status(call, st))
                goto cancelled;
            last = st;
        }
    }
    finish(call, GRPC_STATUS_UNAVAILABLE, "SHUTTING_DOWN", "server is shutting down");
    goto out;

cancelled:
    /* The client left or the call failed; only the close remains to collect. */
    finish(call, GRPC_STATUS_CANCELLED, NULL, "call cancelled");
    call->code = GRPC_STATUS_CANCELLED;
out:
    protobuf_c_message_free_unpacked(msg, NULL);
}

static void *
probe_main(void *arg)
{
    rs_rpc_server *server = arg;
    struct rs_rpc__health *h = &server->health;
    struct rs_error err;
    struct timespec until;
    bool ok, changed, first = true;
    rs_status rc;

    pthread_mutex_lock(&h->mu);
    while (!h->shutting_down) {
        pthread_mutex_unlock(&h->mu);
        rs_error_clear(&err);
        rc = h->probe(h->probe_arg, &err);
        ok = rc == RS_OK;

        pthread_mutex_lock(&h->mu);
        changed = first || ok != h->probe_ok;
        first = false;
        if (changed && !h->shutting_down) {
            h->probe_ok = ok;
            h->version++;
            pthread_cond_broadcast(&h->cond);
        }
        pthread_mutex_unlock(&h->mu);
        if (changed && ok)
            rs_log_info(NULL, "health changed", "status", "SERVING", NULL);
        else if (changed)
            rs_log_warn(NULL, "health changed", "status", "NOT_SERVING", "reason",
                        err.message[0] != '\0' ? err.message : rs_status_str(rc), NULL);

        until = rs_clock_deadline_ms(h->interval_ms);
        pthread_mutex_lock(&h->mu);
        while (!h->shutting_down) {
            if (pthread_cond_timedwait(&h->cond, &h->mu, &until) == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

rs_status
rs_rpc__health_start(rs_rpc_server *server, struct rs_error *err)
{
    struct rs_rpc__health *h = &server->health;
    int prc;

    pthread_mutex_lock(&h->mu);
    h->started = true;
    /* With a probe, services stay NOT_SERVING until its first pass. */
    h->probe_ok = h->probe == NULL;
    h->version++;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
    if (h->probe == NULL)
        return RS_OK;
    prc = pthread_create(&h->probe_thread, NULL, probe_main, server);
    if (prc != 0)
        return rs_error_set(err, RS_EINTERNAL, NULL, "could not start the health thread: %s",
                            strerror(prc));
    h->probe_thread_started = true;
    return RS_OK;
}

void
rs_rpc__health_begin_shutdown(rs_rpc_server *server)
{
    struct rs_rpc__health *h = &server->health;

    pthread_mutex_lock(&h->mu);
    h->shutting_down = true;
    h->version++;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
    rs_log_info(NULL, "health changed", "status", status_name(NOT_SERVING), "reason",
                "server is shutting down", NULL);
}

void
rs_rpc__health_stop(rs_rpc_server *server)
{
    if (server->health.probe_thread_started) {
        pthread_join(server->health.probe_thread, NULL);
        server->health.probe_thread_started = false;
    }
}
