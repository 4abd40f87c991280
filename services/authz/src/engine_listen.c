/*
 * services/authz/src/engine_listen.c
 *    The LISTEN thread: one libpq connection of its own listening on
 *    roster_authz_changes, marking organisations stale as their revisions
 *    move. It reconnects with backoff; every (re)connection bumps the
 *    engine's epoch, because notifications sent while no connection
 *    listened are lost, which makes every earlier snapshot stale.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <libpq-fe.h>

#include "roster/log.h"

/* How often the thread wakes to see whether it should stop. */
#define LISTEN_POLL_MS 200
#define LISTEN_BACKOFF_MIN_MS 100
#define LISTEN_BACKOFF_MAX_MS 5000

/* Sleeps ms in LISTEN_POLL_MS steps; returns false if asked to stop. */
static bool
sleep_unless_stopped(struct authz_engine *engine, int ms)
{
    while (ms > 0 && !atomic_load(&engine->stop)) {
        int step = ms < LISTEN_POLL_MS ? ms : LISTEN_POLL_MS;
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000L };

        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !atomic_load(&engine->stop);
}

/* Server notices on this connection (the FATAL of a terminated backend) go to the log. */
static void
log_notice(void *arg, const char *message)
{
    (void)arg;
    rs_log_debug(NULL, "notice on the change-notification connection", "detail", message, NULL);
}

static PGconn *
listen_connect(struct authz_engine *engine)
{
    const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
    const char *values[] = { engine->conninfo, "5", "roster-authz-listen", NULL };
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    PGresult *res;

    if (conn == NULL)
        return NULL;
    PQsetNoticeProcessor(conn, log_notice, NULL);
    if (PQstatus(conn) != CONNECTION_OK) {
        rs_log_warn(NULL, "could not connect to listen for changes", "detail",
                    PQerrorMessage(conn), NULL);
        PQfinish(conn);
        return NULL;
    }
    res = PQexec(conn, "LISTEN " ENGINE_CHANNEL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rs_log_warn(NULL, "could not listen for changes", "detail", PQerrorMessage(conn), NULL);
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    return conn;
}

/* Payload "<org>:<revision>" from authz.bump_revision. */
static void
handle_notify(struct authz_engine *engine, const PGnotify *n)
{
    const char *colon = strrchr(n->extra, ':');
    char org[33];
    char *end;
    long long rev;

    if (colon == NULL || colon - n->extra != 32)
        return;
    memcpy(org, n->extra, 32);
    org[32] = '\0';
    errno = 0;
    rev = strtoll(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1)
        return;
    engine_notify(engine, org, rev);
}

/* Serves one connection until it breaks or the engine stops. */
static void
listen_loop(struct authz_engine *engine, PGconn *conn)
{
    while (!atomic_load(&engine->stop)) {
        int sock = PQsocket(conn);
        fd_set rd;
        struct timeval tv = { .tv_sec = 0, .tv_usec = LISTEN_POLL_MS * 1000 };
        PGnotify *n;
        int ready;

        if (sock < 0)
            return;
        FD_ZERO(&rd);
        FD_SET(sock, &rd);
        ready = select(sock + 1, &rd, NULL, NULL, &tv);
        if (ready < 0 && errno != EINTR)
            return;
        if (ready <= 0)
            continue;
        if (!PQconsumeInput(conn)) {
            rs_log_warn(NULL, "lost the change-notification connection", "detail",
                        PQerrorMessage(conn), NULL);
            return;
        }
        while ((n = PQnotifies(conn)) != NULL) {
            handle_notify(engine, n);
            PQfreemem(n);
        }
        if (PQstatus(conn) != CONNECTION_OK)
            return;
    }
}

static void *
listen_main(void *arg)
{
    struct authz_engine *engine = arg;
    int backoff = LISTEN_BACKOFF_MIN_MS;

    while (!atomic_load(&engine->stop)) {
        PGconn *conn = listen_connect(engine);

        if (conn == NULL) {
            if (!sleep_unless_stopped(engine, backoff))
                break;
            backoff = backoff * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = LISTEN_BACKOFF_MIN_MS;
        atomic_fetch_add(&engine->epoch, 1);
        atomic_store(&engine->listening, true);
        rs_log_info(NULL, "listening for changes", "channel", ENGINE_CHANNEL, NULL);
        listen_loop(engine, conn);
        atomic_store(&engine->listening, false);
        PQfinish(conn);
    }
    return NULL;
}

rs_status
engine_listen_start(struct authz_engine *engine, struct rs_error *err)
{
    int e;

    if (engine->conninfo[0] == '\0')
        return RS_OK; /* no database to listen to (tests) */
    e = pthread_create(&engine->listener, NULL, listen_main, engine);
    if (e != 0)
        return rs_error_set(err, RS_EINTERNAL, "THREAD_FAILED",
                            "could not start the change-notification thread: %s", strerror(e));
    engine->listener_started = true;
    return RS_OK;
}

void
engine_listen_stop(struct authz_engine *engine)
{
    atomic_store(&engine->stop, true);
    if (engine->listener_started) {
        pthread_join(engine->listener, NULL);
        engine->listener_started = false;
    }
}
