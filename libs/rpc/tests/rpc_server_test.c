/*
 * libs/rpc/tests/rpc_server_test.c
 *    Server and client behaviour over loopback: unary calls, errors and their
 *    details, authentication, health, reflection and shutdown. Each test runs
 *    in its own process: "rpc_server_test NAME".
 */
#include "roster/rpc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "grpc/health/v1/health.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "roster/clock.h"
#include "roster/log.h"
#include "roster/str.h"
#include "rpc_test_util.h"

#define ECHO "/roster.test.v1.Echo/Echo"
#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

static const struct test_server_opts auth_opts = {true, false, 0, 0, NULL, NULL, NULL};

static void
test_unary_ok(void)
{
    struct test_server ts;
    struct rs_error err;
    int serving = -1;

    test_server_start(&ts, &auth_opts);
    CHECK(test_echo(ts.target, TEST_TOKEN, ECHO, "hello", NULL, &serving, &err) == RS_OK);
    CHECK(serving == SERVING);
    CHECK(test_echo(ts.target, TEST_TOKEN, ECHO, "scope", NULL, &serving, &err) == RS_OK);
    test_server_stop(&ts);
}

static void
test_handler_error(void)
{
    struct test_server ts;
    struct rs_error err;
    int serving = -1;

    test_server_start(&ts, &auth_opts);
    CHECK(test_echo(ts.target, TEST_TOKEN, ECHO, "fail", NULL, &serving, &err) == RS_EPRECOND);
    CHECK(err.code == RS_EPRECOND);
    CHECK_STR(err.reason, "SEAT_LIMIT_REACHED");
    CHECK_STR(err.message, "seat limit reached");
    CHECK(err.n_meta == 1);
    CHECK_STR(err.meta_key[0], "limit");
    CHECK_STR(err.meta_value[0], "10");

    /* Internal errors hide their text and get the reason from the status name. */
    CHECK(test_echo(ts.target, TEST_TOKEN, ECHO, "internal", NULL, &serving, &err) ==
          RS_EINTERNAL);
    CHECK_STR(err.reason, "INTERNAL");
    CHECK_STR(err.message, "internal error");
    test_server_stop(&ts);
}

static void
test_unknown_method(void)
{
    struct test_server ts;
    struct rs_error err;
    int serving = -1;
    int64_t start;

    test_server_start(&ts, &auth_opts);
    start = rs_clock_ns();
    CHECK(test_echo(ts.target, TEST_TOKEN, "/roster.test.v1.Echo/Nope", "x", NULL, &serving,
                    &err) == RS_EUNIMPL);
    CHECK(test_elapsed_ms(start) < 2000);
    CHECK_STR(err.reason, "METHOD_NOT_FOUND");
    CHECK(test_echo(ts.target, TEST_TOKEN, "/other.Svc/Call", "x", NULL, &serving, &err) ==
          RS_EUNIMPL);
    test_server_stop(&ts);
}

static void
test_auth(void)
{
    struct test_server ts;
    struct rs_error err;
    int serving = -1;

    test_server_start(&ts, &auth_opts);
    CHECK(test_echo(ts.target, NULL, ECHO, "x", NULL, &serving, &err) == RS_EUNAUTH);
    CHECK_STR(err.reason, "TOKEN_MISSING");
    CHECK(test_echo(ts.target, "wrong-token", ECHO, "x", NULL, &serving, &err) == RS_EUNAUTH);
    CHECK_STR(err.reason, "TOKEN_INVALID");
    CHECK_STR(err.message, "invalid bearer token");
    /* Public methods and health need no token. */
    CHECK(test_echo(ts.target, NULL, "/roster.test.v1.Echo/Public", "x", NULL, &serving, &err) ==
          RS_OK);
    CHECK(test_echo(ts.target, NULL, "/grpc.health.v1.Health/Check", "", NULL, &serving, &err) ==
          RS_OK);
    CHECK(serving == SERVING);
    test_server_stop(&ts);
}

static void
test_actor(void)
{
    struct test_server ts;
    struct rs_error err;
    int serving = -1;
    const char *path = "/roster.test.v1.Echo/Actor";

    test_server_start(&ts, &auth_opts);
    CHECK(test_echo(ts.target, TEST_TOKEN, path, "actor", NULL, &serving, &err) == RS_EUNAUTH);
    CHECK_STR(err.reason, "ACTOR_REQUIRED");
    CHECK(test_echo(ts.target, TEST_TOKEN, path, "actor", "ABC", &serving, &err) == RS_EINVAL);
    CHECK_STR(err.reason, "ACTOR_INVALID");
    CHECK(test_echo(ts.target, TEST_TOKEN, path, "actor", TEST_ACTOR, &serving, &err) == RS_OK);
    /* The token is checked before the actor. */
    CHECK(test_echo(ts.target, NULL, path, "actor", TEST_ACTOR, &serving, &err) == RS_EUNAUTH);
    CHECK_STR(err.reason, "TOKEN_MISSING");
    test_server_stop(&ts);
}

static void
test_payload_errors(void)
{
    struct test_server ts;
    struct test_server_opts opts = {false, false, 0, 0, NULL, NULL, NULL};
    struct raw_result r;
    static const unsigned char garbage[] = {0x0a, 0xff, 0xff};

    test_server_start(&ts, &opts);
    raw_unary(ts.target, ECHO, NULL, 0, NULL, &r);
    CHECK(r.status == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_STR(r.reason, "MISSING_PAYLOAD");
    raw_unary(ts.target, ECHO, garbage, sizeof(garbage), NULL, &r);
    CHECK(r.status == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_STR(r.reason, "MALFORMED_MESSAGE");
    test_server_stop(&ts);
}

static void
test_request_id(void)
{
    struct test_server ts;
    struct test_server_opts opts = {false, false, 0, 0, NULL, NULL, NULL};
    struct raw_result r;
    char first[sizeof(r.request_id)];
    static const unsigned char empty[1];

    test_server_start(&ts, &opts);
    raw_unary(ts.target, ECHO, empty, 0, "abc.DEF_12-3", &r);
    CHECK(r.status == GRPC_STATUS_OK);
    CHECK(r.got_message);
    CHECK_STR(r.request_id, "abc.DEF_12-3");
    raw_unary(ts.target, ECHO, empty, 0, "bad id!", &r);
    CHECK(r.status == GRPC_STATUS_OK);
    CHECK(rs_id_valid(r.request_id));
    memcpy(first, r.request_id, sizeof(first));
    raw_unary(ts.target, "/roster.test.v1.Echo/Nope", empty, 0, NULL, &r);
    CHECK(r.status == GRPC_STATUS_UNIMPLEMENTED);
    CHECK(rs_id_valid(r.request_id));
    CHECK(strcmp(r.request_id, first) != 0);
    test_server_stop(&ts);
}

static int
health_check(const char *target, const char *service, rs_status *rc_out)
{
    struct rs_error err;
    int serving = -1;

    *rc_out = test_echo(target, NULL, "/grpc.health.v1.Health/Check", service, NULL, &serving,
                        &err);
    return serving;
}

/* Polls Check until it returns want or 2 s pass. */
static bool
wait_health(const char *target, const char *service, int want)
{
    int64_t start = rs_clock_ns();
    rs_status rc;

    while (test_elapsed_ms(start) < 2000) {
        if (health_check(target, service, &rc) == want && rc == RS_OK)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

static void
test_health_check(void)
{
    struct test_server ts;
    struct test_server_opts opts = {true, true, 0, 0, NULL, NULL, NULL};
    rs_status rc;

    test_probe_set(true);
    test_server_start(&ts, &opts);
    CHECK(wait_health(ts.target, "", SERVING));
    CHECK(wait_health(ts.target, "roster.test.v1.Echo", SERVING));
    test_probe_set(false);
    CHECK(wait_health(ts.target, "", NOT_SERVING));
    CHECK(wait_health(ts.target, "roster.test.v1.Echo", NOT_SERVING));
    test_probe_set(true);
    CHECK(wait_health(ts.target, "", SERVING));
    health_check(ts.target, "no.such.Service", &rc);
    CHECK(rc == RS_ENOTFOUND);
    test_server_stop(&ts);
}

static Grpc__Health__V1__HealthCheckResponse *
watch_next(struct raw_stream *rs)
{
    return (Grpc__Health__V1__HealthCheckResponse *)raw_stream_recv(
        rs, &grpc__health__v1__health_check_response__descriptor);
}

static void
watch_open(struct raw_stream *rs, const char *target, const char *service)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;

    raw_stream_open(rs, target, "/grpc.health.v1.Health/Watch");
    req.service = (char *)service;
    raw_stream_send(rs, &req.base);
    raw_stream_half_close(rs);
}

static void
test_health_watch(void)
{
    struct test_server ts;
    struct test_server_opts opts = {false, true, 0, 0, NULL, NULL, NULL};
    struct raw_stream rs, unknown;
    Grpc__Health__V1__HealthCheckResponse *resp;
    int64_t start;

    test_probe_set(true);
    test_server_start(&ts, &opts);
    CHECK(wait_health(ts.target, "", SERVING));
    watch_open(&rs, ts.target, "");
    resp = watch_next(&rs);
    CHECK(resp != NULL);
    CHECK(resp->status == SERVING);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    start = rs_clock_ns();
    test_probe_set(false);
    resp = watch_next(&rs);
    CHECK(resp != NULL);
    CHECK(resp->status == NOT_SERVING);
    CHECK(test_elapsed_ms(start) < 1000);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    test_probe_set(true);
    resp = watch_next(&rs);
    CHECK(resp != NULL);
    CHECK(resp->status == SERVING);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* An unknown service gets SERVICE_UNKNOWN and the stream stays open. */
    watch_open(&unknown, ts.target, "no.such.Service");
    resp = watch_next(&unknown);
    CHECK(resp != NULL);
    CHECK(resp->status == SERVICE_UNKNOWN);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* A client that cancels its watch frees the stream on the server. */
    grpc_call_cancel(unknown.call, NULL);
    CHECK(raw_stream_finish(&unknown) == GRPC_STATUS_CANCELLED);
    raw_stream_close(&unknown);
    start = rs_clock_ns();
    while (rs_rpc_live_calls() > 1 && test_elapsed_ms(start) < 2000)
        usleep(10 * 1000);
    CHECK(rs_rpc_live_calls() == 1);

    rs_rpc_server_shutdown(ts.server);
    resp = watch_next(&rs);
    CHECK(resp != NULL);
    CHECK(resp->status == NOT_SERVING);
    protobuf_c_message_free_unpacked(&resp->base, NULL);
    CHECK(watch_next(&rs) == NULL);
    CHECK(raw_stream_finish(&rs) == GRPC_STATUS_UNAVAILABLE);
    raw_stream_close(&rs);
    test_server_stop(&ts);
}

struct echo_worker {
    rs_rpc_client *client;
    int calls;
    int ok;
};

static void *
echo_worker_main(void *arg)
{
    struct echo_worker *w = arg;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp;
    struct rs_error err;
    int i;

    req.service = (char *)"x";
    for (i = 0; i < w->calls; i++) {
        resp = NULL;
        if (rs_rpc_client_call(w->client, ECHO, &req.base,
                               &grpc__health__v1__health_check_response__descriptor, NULL, NULL,
                               5000, &resp, &err) == RS_OK)
            w->ok++;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return NULL;
}

/* One client shared by several threads against a multi-worker server. */
static void
test_concurrent_calls(void)
{
    enum { THREADS = 4, CALLS = 200 };
    struct test_server ts;
    struct test_server_opts opts = {true, false, 0, 3, NULL, NULL, NULL};
    struct rs_rpc_client_config cfg;
    struct echo_worker workers[THREADS];
    pthread_t threads[THREADS];
    rs_rpc_client *client = NULL;
    struct rs_error err;
    int i;

    test_server_start(&ts, &opts);
    memset(&cfg, 0, sizeof(cfg));
    cfg.token = TEST_TOKEN;
    CHECK(rs_rpc_client_create(ts.target, &cfg, &client, &err) == RS_OK);
    for (i = 0; i < THREADS; i++) {
        workers[i].client = client;
        workers[i].calls = CALLS;
        workers[i].ok = 0;
        CHECK(pthread_create(&threads[i], NULL, echo_worker_main, &workers[i]) == 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(workers[i].ok == CALLS);
    }
    rs_rpc_client_destroy(client);
    test_server_stop(&ts);
}

/* Shutdown while clients keep calling ends cleanly with no call left behind. */
static void
test_shutdown_under_load(void)
{
    enum { THREADS = 4, CALLS = 300 };
    struct test_server ts;
    struct test_server_opts opts = {false, false, 2000, 2, NULL, NULL, NULL};
    struct rs_rpc_client_config cfg;
    struct echo_worker workers[THREADS];
    pthread_t threads[THREADS];
    rs_rpc_client *client = NULL;
    struct rs_error err;
    int64_t start;
    int i, ok = 0;

    test_server_start(&ts, &opts);
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_attempts = 1;
    CHECK(rs_rpc_client_create(ts.target, &cfg, &client, &err) == RS_OK);
    for (i = 0; i < THREADS; i++) {
        workers[i].client = client;
        workers[i].calls = CALLS;
        workers[i].ok = 0;
        CHECK(pthread_create(&threads[i], NULL, echo_worker_main, &workers[i]) == 0);
    }
    usleep(30 * 1000);
    start = rs_clock_ns();
    rs_rpc_server_shutdown(ts.server);
    /* An idle C-core client connection ignores GOAWAY, so the shutdown may
     * use the whole 2 s grace period before it cancels. It must not hang. */
    CHECK(test_elapsed_ms(start) < 2000 + 1000);
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        ok += workers[i].ok;
    }
    fprintf(stderr, "%d of %d calls succeeded\n", ok, THREADS * CALLS);
    CHECK(ok > 0);
    rs_rpc_client_destroy(client);
    test_server_stop(&ts);
}

/* Streams beyond the cap are rejected with RESOURCE_EXHAUSTED, and freed slots are reused. */
static void
test_stream_cap(void)
{
    enum { CAP = 64 };
    static struct raw_stream streams[CAP + 1];
    struct test_server ts;
    Grpc__Health__V1__HealthCheckResponse *resp;
    int64_t start;
    int i;

    test_server_start(&ts, &auth_opts);
    for (i = 0; i < CAP; i++) {
        watch_open(&streams[i], ts.target, "");
        resp = watch_next(&streams[i]);
        if (resp == NULL) {
            raw_stream_finish(&streams[i]);
            fprintf(stderr, "stream %d ended with status %d: %.*s\n", i,
                    (int)streams[i].status, (int)GRPC_SLICE_LENGTH(streams[i].details),
                    (const char *)GRPC_SLICE_START_PTR(streams[i].details));
        }
        CHECK(resp != NULL);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
    }
    watch_open(&streams[CAP], ts.target, "");
    CHECK(watch_next(&streams[CAP]) == NULL);
    CHECK(raw_stream_finish(&streams[CAP]) == GRPC_STATUS_RESOURCE_EXHAUSTED);
    raw_stream_close(&streams[CAP]);

    grpc_call_cancel(streams[0].call, NULL);
    CHECK(raw_stream_finish(&streams[0]) == GRPC_STATUS_CANCELLED);
    raw_stream_close(&streams[0]);
    start = rs_clock_ns();
    while (rs_rpc_live_calls() > CAP - 1 && test_elapsed_ms(start) < 2000)
        usleep(10 * 1000);
    watch_open(&streams[0], ts.target, "");
    resp = watch_next(&streams[0]);
    CHECK(resp != NULL);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    rs_rpc_server_shutdown(ts.server);
    for (i = 0; i < CAP; i++) {
        resp = watch_next(&streams[i]);
        CHECK(resp != NULL);
        CHECK(resp->status == NOT_SERVING);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        CHECK(raw_stream_finish(&streams[i]) == GRPC_STATUS_UNAVAILABLE);
        raw_stream_close(&streams[i]);
    }
    test_server_stop(&ts);
}

/*
 * Shutdown with an open Watch stream and an idle client connection ends
 * within the grace period and leaves no call behind.
 */
static void
test_shutdown(void)
{
    struct test_server ts;
    struct test_server_opts opts = {false, false, 1500, 0, NULL, NULL, NULL};
    struct rs_rpc_client_config cfg;
    rs_rpc_client *idle = NULL;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct raw_stream rs;
    struct rs_error err;
    int64_t start;
    long elapsed;

    test_server_start(&ts, &opts);
    memset(&cfg, 0, sizeof(cfg));
    CHECK(rs_rpc_client_create(ts.target, &cfg, &idle, &err) == RS_OK);
    req.service = (char *)"x";
    CHECK(rs_rpc_client_call(idle, ECHO, &req.base,
                             &grpc__health__v1__health_check_response__descriptor, NULL, NULL,
                             5000, &resp, &err) == RS_OK);
    protobuf_c_message_free_unpacked(resp, NULL);

    watch_open(&rs, ts.target, "");
    resp = (ProtobufCMessage *)watch_next(&rs);
    CHECK(resp != NULL);
    protobuf_c_message_free_unpacked(resp, NULL);

    start = rs_clock_ns();
    rs_rpc_server_shutdown(ts.server);
    elapsed = test_elapsed_ms(start);
    fprintf(stderr, "shutdown took %ld ms\n", elapsed);
    CHECK(elapsed < 1500 + 1000);
    rs_rpc_server_shutdown(ts.server); /* idempotent */

    resp = (ProtobufCMessage *)watch_next(&rs);
    CHECK(resp != NULL);
    protobuf_c_message_free_unpacked(resp, NULL);
    CHECK(watch_next(&rs) == NULL);
    CHECK(raw_stream_finish(&rs) == GRPC_STATUS_UNAVAILABLE);
    raw_stream_close(&rs);

    test_server_stop(&ts);
    CHECK(rs_rpc_live_calls() == 0);
    /* Calls after shutdown fail as UNAVAILABLE after the retries. */
    cfg.max_attempts = 2;
    CHECK(rs_rpc_client_call(idle, ECHO, &req.base,
                             &grpc__health__v1__health_check_response__descriptor, NULL, NULL,
                             2000, &resp, &err) == RS_EUNAVAIL);
    rs_rpc_client_destroy(idle);
}

struct slow_call {
    const char *target;
    unsigned char buf[16];
    size_t len;
    struct raw_result result;
};

static void *
slow_call_main(void *arg)
{
    struct slow_call *sc = arg;

    raw_unary(sc->target, ECHO, sc->buf, sc->len, NULL, &sc->result);
    return NULL;
}

/* A slow handler must not delay calls that another, idle worker can take. */
static void
test_slow_handler_isolated(void)
{
    struct test_server ts;
    struct test_server_opts opts = {false, false, 0, 2, NULL, NULL, NULL};
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    struct rs_error err;
    struct slow_call sc;
    pthread_t thread;
    int64_t start;
    long slowest = 0, elapsed;
    int i, serving;

    test_server_start(&ts, &opts);
    memset(&sc, 0, sizeof(sc));
    sc.target = ts.target;
    req.service = (char *)"slow";
    sc.len = grpc__health__v1__health_check_request__pack(&req, sc.buf);
    CHECK(pthread_create(&thread, NULL, slow_call_main, &sc) == 0);
    usleep(50 * 1000);
    for (i = 0; i < 6; i++) {
        start = rs_clock_ns();
        CHECK(test_echo(ts.target, TEST_TOKEN, ECHO, "x", NULL, &serving, &err) == RS_OK);
        elapsed = test_elapsed_ms(start);
        if (elapsed > slowest)
            slowest = elapsed;
    }
    fprintf(stderr, "slowest fast call: %ld ms\n", slowest);
    CHECK(slowest < 150);
    pthread_join(thread, NULL);
    CHECK(sc.result.status == GRPC_STATUS_OK);
    test_server_stop(&ts);
}

/* Shutdown lets a call in flight finish inside the grace period. */
static void
test_shutdown_in_flight(void)
{
    struct test_server ts;
    struct test_server_opts opts = {false, false, 3000, 0, NULL, NULL, NULL};
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    struct slow_call sc;
    pthread_t thread;
    int64_t start;

    test_server_start(&ts, &opts);
    memset(&sc, 0, sizeof(sc));
    sc.target = ts.target;
    req.service = (char *)"slow";
    sc.len = grpc__health__v1__health_check_request__pack(&req, sc.buf);
    CHECK(pthread_create(&thread, NULL, slow_call_main, &sc) == 0);
    usleep(150 * 1000);
    start = rs_clock_ns();
    rs_rpc_server_shutdown(ts.server);
    CHECK(test_elapsed_ms(start) < 3000);
    pthread_join(thread, NULL);
    CHECK(sc.result.status == GRPC_STATUS_OK);
    CHECK(sc.result.got_message);
    test_server_stop(&ts);
}

/* A second server on a bound port must fail, not share it (SO_REUSEPORT off). */
static void
test_bind_conflict(void)
{
    struct test_server ts;
    struct rs_rpc_server_config cfg;
    rs_rpc_server *second = NULL;
    struct rs_error err;
    char addr[64];
    int port = 0;

    test_server_start(&ts, &auth_opts);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ts.port);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_addr = addr;
    CHECK(rs_rpc_server_create(&cfg, &second, &err) == RS_OK);
    CHECK(rs_rpc_server_start(second, &port, &err) == RS_EUNAVAIL);
    CHECK_STR(err.reason, "BIND_FAILED");
    CHECK(strstr(err.message, addr) != NULL);
    rs_rpc_server_destroy(second);
    test_server_stop(&ts);
}

static rs_status
call_unbound(int max_attempts, int timeout_ms, long *elapsed_ms)
{
    struct rs_rpc_client_config cfg;
    rs_rpc_client *client = NULL;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rs_error err;
    int64_t start;
    rs_status rc;

    memset(&cfg, 0, sizeof(cfg));
    cfg.max_attempts = max_attempts;
    /* Port 1 on loopback has no listener, so every attempt is UNAVAILABLE. */
    CHECK(rs_rpc_client_create("127.0.0.1:1", &cfg, &client, &err) == RS_OK);
    start = rs_clock_ns();
    rc = rs_rpc_client_call(client, ECHO, &req.base,
                            &grpc__health__v1__health_check_response__descriptor, NULL, NULL,
                            timeout_ms, &resp, &err);
    *elapsed_ms = test_elapsed_ms(start);
    CHECK(resp == NULL);
    rs_rpc_client_destroy(client);
    return rc;
}

/* Retries back off (25-50 ms, then 50-100 ms) and stop at the attempts or the deadline. */
static void
test_client_retry(void)
{
    long elapsed;

    CHECK(call_unbound(3, 5000, &elapsed) == RS_EUNAVAIL);
    fprintf(stderr, "3 attempts took %ld ms\n", elapsed);
    CHECK(elapsed >= 75);
    CHECK(elapsed < 2000);
    CHECK(call_unbound(1, 5000, &elapsed) == RS_EUNAVAIL);
    CHECK(elapsed < 1000);
    CHECK(call_unbound(50, 300, &elapsed) != RS_OK);
    fprintf(stderr, "50 attempts within 300 ms took %ld ms\n", elapsed);
    CHECK(elapsed < 1000);
}

static void
expect_tokens_error(const char *text, const char *needle)
{
    struct rs_rpc_server_config cfg;
    rs_rpc_server *server = NULL;
    struct rs_error err;
    char path[64];

    test_write_file(path, text);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_addr = "127.0.0.1:0";
    cfg.tokens_file = path;
    rs_error_clear(&err);
    CHECK(rs_rpc_server_create(&cfg, &server, &err) == RS_EINVAL);
    CHECK(server == NULL);
    fprintf(stderr, "expected error: %s\n", err.message);
    CHECK(strstr(err.message, path) != NULL);
    CHECK(strstr(err.message, needle) != NULL);
    unlink(path);
}

static void
test_tokens_file(void)
{
    static const char *const hash =
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    struct rs_rpc_server_config cfg;
    rs_rpc_server *server = NULL;
    struct rs_error err;
    char text[512], path[64];

    snprintf(text, sizeof(text), "# c\n\n  a %s\nb %s [x,y]\nc %s sync\n", hash, hash, hash);
    test_write_file(path, text);
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_addr = "127.0.0.1:0";
    cfg.tokens_file = path;
    CHECK(rs_rpc_server_create(&cfg, &server, &err) == RS_OK);
    rs_rpc_server_destroy(server);
    unlink(path);

    snprintf(text, sizeof(text), "a %s\n\nb sha256:1234\n", hash);
    expect_tokens_error(text, "line 3");
    snprintf(text, sizeof(text), "a %s x y\n", hash);
    expect_tokens_error(text, "line 1");
    snprintf(text, sizeof(text), "# x\nbad/name %s\n", hash);
    expect_tokens_error(text, "line 2");
    snprintf(text, sizeof(text), "a %s\na %s\n", hash, hash);
    expect_tokens_error(text, "duplicate");
    snprintf(text, sizeof(text), "a %s x,,y\n", hash);
    expect_tokens_error(text, "line 1");
    expect_tokens_error("onlyname\n", "line 1");

    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_addr = "127.0.0.1:0";
    cfg.tokens_file = "/nonexistent/tokens";
    CHECK(rs_rpc_server_create(&cfg, &server, &err) == RS_EINVAL);
    CHECK(strstr(err.message, "/nonexistent/tokens") != NULL);
    cfg.tokens_file = NULL;
    cfg.tls_cert = "/nonexistent/cert.pem";
    cfg.tls_key = "/nonexistent/key.pem";
    CHECK(rs_rpc_server_create(&cfg, &server, &err) == RS_EINVAL);
    CHECK(strstr(err.message, "/nonexistent/cert.pem") != NULL);
}

static void
test_token_hash(void)
{
    char out[72];

    CHECK(rs_rpc_token_hash("abc", out) == RS_OK);
    CHECK_STR(out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(rs_rpc_token_hash("", out) == RS_EINVAL);
    CHECK(rs_rpc_token_hash(NULL, out) == RS_EINVAL);
}

static Grpc__Reflection__V1__ServerReflectionResponse *
reflect(struct raw_stream *rs, Grpc__Reflection__V1__ServerReflectionRequest *req)
{
    raw_stream_send(rs, &req->base);
    return (Grpc__Reflection__V1__ServerReflectionResponse *)raw_stream_recv(
        rs, &grpc__reflection__v1__server_reflection_response__descriptor);
}

static void
reflection_session(const char *target, const char *path)
{
    Grpc__Reflection__V1__ServerReflectionRequest req =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    Grpc__Reflection__V1__ServerReflectionResponse *resp;
    struct raw_stream rs;
    size_t i;
    bool health = false, echo_svc = false, v1alpha = false;

    raw_stream_open(&rs, target, path);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    req.list_services = (char *)"";
    resp = reflect(&rs, &req);
    CHECK(resp != NULL);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
    for (i = 0; i < resp->list_services_response->n_service; i++) {
        const char *name = resp->list_services_response->service[i]->name;

        health |= strcmp(name, "grpc.health.v1.Health") == 0;
        echo_svc |= strcmp(name, "roster.test.v1.Echo") == 0;
        v1alpha |= strcmp(name, "grpc.reflection.v1alpha.ServerReflection") == 0;
    }
    CHECK(health);
    CHECK(echo_svc);
    CHECK(v1alpha);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = (char *)"grpc.health.v1.Health.Watch";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    CHECK(resp->file_descriptor_response->n_file_descriptor_proto == 1);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.file_containing_symbol = (char *)"grpc.health.v1.HealthCheckResponse.ServingStatus";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    /* The Echo service's file comes with its dependency, health.proto. */
    req.file_containing_symbol = (char *)"roster.test.v1.Echo.Echo";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    CHECK(resp->file_descriptor_response->n_file_descriptor_proto == 2);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.file_containing_symbol = (char *)".google.rpc.ErrorInfo";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.file_containing_symbol = (char *)"no.such.Symbol";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    CHECK(resp->error_response->error_code == GRPC_STATUS_NOT_FOUND);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    req.file_by_filename = (char *)"grpc/reflection/v1/reflection.proto";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = (char *)"grpc.health.v1.HealthCheckRequest";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
    CHECK(resp->all_extension_numbers_response->n_extension_number == 0);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    req.all_extension_numbers_of_type = (char *)"no.such.Type";
    resp = reflect(&rs, &req);
    CHECK(resp->message_response_case ==
          GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    protobuf_c_message_free_unpacked(&resp->base, NULL);

    raw_stream_half_close(&rs);
    CHECK(raw_stream_recv(&rs, &grpc__reflection__v1__server_reflection_response__descriptor) ==
          NULL);
    CHECK(raw_stream_finish(&rs) == GRPC_STATUS_OK);
    raw_stream_close(&rs);
}

static void
test_reflection(void)
{
    struct test_server ts;

    test_server_start(&ts, &auth_opts);
    reflection_session(ts.target, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
    reflection_session(ts.target,
                       "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
    test_server_stop(&ts);
}

/* Runs a shell command for test fixtures; fails the test when it fails. */
static void
run(const char *cmd)
{
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        abort();
    }
}

/* Creates a CA, a server certificate for localhost/127.0.0.1 and a client certificate in dir. */
static void
make_certs(const char *dir)
{
    char cmd[1024];
    static const char *const names[] = {"server", "client"};
    size_t i;

    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=rs-test-ca 2>/dev/null && "
             "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext.cnf",
             dir);
    run(cmd);
    for (i = 0; i < 2; i++) {
        snprintf(cmd, sizeof(cmd),
                 "cd %s && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
                 "-keyout %s.key -out %s.csr -subj /CN=%s 2>/dev/null && "
                 "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                 "-out %s.pem -days 2 -extfile ext.cnf 2>/dev/null",
                 dir, names[i], names[i], names[i], names[i], names[i]);
        run(cmd);
    }
}

static rs_status
tls_echo(const char *target, const char *dir, bool tls, bool client_cert, struct rs_error *err)
{
    struct rs_rpc_client_config cfg;
    rs_rpc_client *client = NULL;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char ca[256], cert[256], key[256];
    rs_status rc;

    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    snprintf(cert, sizeof(cert), "%s/client.pem", dir);
    snprintf(key, sizeof(key), "%s/client.key", dir);
    memset(&cfg, 0, sizeof(cfg));
    cfg.token = TEST_TOKEN;
    cfg.max_attempts = 1;
    if (tls) {
        cfg.tls_ca = ca;
        cfg.tls_server_name = "localhost";
    }
    if (client_cert) {
        cfg.tls_cert = cert;
        cfg.tls_key = key;
    }
    CHECK(rs_rpc_client_create(target, &cfg, &client, err) == RS_OK);
    req.service = (char *)"x";
    rc = rs_rpc_client_call(client, ECHO, &req.base,
                            &grpc__health__v1__health_check_response__descriptor, NULL, NULL,
                            3000, &resp, err);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    rs_rpc_client_destroy(client);
    return rc;
}

static void
test_tls(void)
{
    char dir[] = "/tmp/rs-rpc-tls-XXXXXX";
    char cert[256], key[256], ca[256], cmd[300];
    struct test_server ts;
    struct test_server_opts opts = {true, false, 0, 0, cert, key, NULL};
    struct rs_rpc_server_config cfg;
    rs_rpc_server *server = NULL;
    struct rs_error err;

    CHECK(mkdtemp(dir) != NULL);
    make_certs(dir);
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);

    test_server_start(&ts, &opts);
    CHECK(tls_echo(ts.target, dir, true, false, &err) == RS_OK);
    CHECK(tls_echo(ts.target, dir, false, false, &err) == RS_EUNAVAIL);
    test_server_stop(&ts);

    /* Mutual TLS: a client without a certificate cannot connect. */
    opts.tls_client_ca = ca;
    test_server_start(&ts, &opts);
    CHECK(tls_echo(ts.target, dir, true, true, &err) == RS_OK);
    CHECK(tls_echo(ts.target, dir, true, false, &err) == RS_EUNAVAIL);
    test_server_stop(&ts);

    memset(&cfg, 0, sizeof(cfg));
    cfg.listen_addr = "127.0.0.1:0";
    cfg.tls_cert = cert;
    cfg.tls_key = "/nonexistent/server.key";
    CHECK(rs_rpc_server_create(&cfg, &server, &err) == RS_EINVAL);
    CHECK(strstr(err.message, "/nonexistent/server.key") != NULL);

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    run(cmd);
}

static const struct {
    const char *name;
    void (*fn)(void);
} tests[] = {
    {"unary_ok", test_unary_ok},
    {"handler_error", test_handler_error},
    {"unknown_method", test_unknown_method},
    {"auth", test_auth},
    {"actor", test_actor},
    {"payload_errors", test_payload_errors},
    {"request_id", test_request_id},
    {"health_check", test_health_check},
    {"health_watch", test_health_watch},
    {"shutdown", test_shutdown},
    {"shutdown_in_flight", test_shutdown_in_flight},
    {"tokens_file", test_tokens_file},
    {"token_hash", test_token_hash},
    {"reflection", test_reflection},
    {"tls", test_tls},
    {"bind_conflict", test_bind_conflict},
    {"stream_cap", test_stream_cap},
    {"concurrent_calls", test_concurrent_calls},
    {"client_retry", test_client_retry},
    {"slow_handler_isolated", test_slow_handler_isolated},
    {"shutdown_under_load", test_shutdown_under_load},
};

int
main(int argc, char **argv)
{
    size_t i;
    int ran = 0;

    rs_rpc_block_signals();
    rs_log_init("rpc-test", RS_LOG_INFO);
    grpc_init();
    for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (argc < 2 || strcmp(argv[1], tests[i].name) == 0) {
            fprintf(stderr, "--- %s\n", tests[i].name);
            tests[i].fn();
            ran++;
        }
    }
    grpc_shutdown();
    if (ran == 0) {
        fprintf(stderr, "unknown test \"%s\"\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    return 0;
}
