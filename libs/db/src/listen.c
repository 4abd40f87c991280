/*
 * libs/db/src/listen.c
 *    A LISTEN thread on a libpq connection of its own. It reconnects with
 *    backoff and calls its owner's hook each time it starts and stops
 *    listening. Notifications sent while no connection listened are lost,
 *    so whatever the owner derived from earlier ones is stale after a gap.
 */
#include "roster/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "roster/log.h"
#include "db_int.h"

/* How often the thread wakes to see whether it should stop. */
#define LISTEN_POLL_MS 200
#define LISTEN_BACKOFF_MIN_MS 100
#define LISTEN_BACKOFF_MAX_MS 5000
/*
 * LISTEN_PING_MS after the previous reply the thread sends a query, and the
 * connection counts as lost unless the reply comes within
 * LISTEN_PING_TIMEOUT_MS. A peer or middlebox that drops the connection
 * silently leaves the socket open and quiet, and notifications are lost.
 */
#define LISTEN_PING_MS 5000
#define LISTEN_PING_TIMEOUT_MS 5000
/* Channel and application names are SQL identifiers of at most 63 bytes. */
#define LISTEN_NAME_MAX 63

struct rs_db_listener {
    char *conninfo;
    char channel[LISTEN_NAME_MAX + 1];
    char app_name[LISTEN_NAME_MAX + 1];
    struct rs_db_listen_hooks hooks;
    atomic_bool stop;
    pthread_t thread;
};

/* Sleeps ms in LISTEN_POLL_MS steps; returns false if asked to stop. */
static bool
sleep_unless_stopped(struct rs_db_listener *l, int ms)
{
    while (ms > 0 && !atomic_load(&l->stop)) {
        int step = ms < LISTEN_POLL_MS ? ms : LISTEN_POLL_MS;
        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)step * 1000000L };

        nanosleep(&ts, NULL);
        ms -= step;
    }
    return !atomic_load(&l->stop);
}

/* Server notices on this connection (the FATAL of a terminated backend) go to the log. */
static void
log_notice(void *arg, const char *message)
{
    const struct rs_db_listener *l = arg;

    rs_log_debug(NULL, "notice on the change-notification connection", "channel",
                 l->channel, "detail", message, NULL);
}

static PGconn *
listen_connect(struct rs_db_listener *l)
{
    const char *keys[] = { "dbname", "connect_timeout", "application_name", NULL };
    const char *values[] = { l->conninfo, "5", l->app_name, NULL };
    char sql[LISTEN_NAME_MAX + 8];
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    PGresult *res;
    struct rs_error err;

    if (conn == NULL)
        return NULL;
    PQsetNoticeProcessor(conn, log_notice, l);
    if (PQstatus(conn) != CONNECTION_OK) {
        rs_log_warn(NULL, "could not connect to listen for changes", "channel", l->channel,
                    "detail", PQerrorMessage(conn), NULL);
        PQfinish(conn);
        return NULL;
    }
    rs_error_clear(&err);
    if (rs_db__jit_off(conn, &err) != RS_OK) {
        rs_log_warn(NULL, "could not turn JIT off on the change-notification connection",
                    "channel", l->channel, "detail", err.detail, NULL);
        PQfinish(conn);
        return NULL;
    }
    snprintf(sql, sizeof(sql), "LISTEN %s", l->channel);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rs_log_warn(NULL, "could not listen for changes", "channel", l->channel, "detail",
                    PQerrorMessage(conn), NULL);
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    return conn;
}

/*
 * Reads the results of the pending ping that have arrived. Returns true
 * once its last result was read, and sets *failed if it did not succeed.
 */
static bool
ping_replied(PGconn *conn, bool *failed)
{
    PGresult *res;

    while (!PQisBusy(conn)) {
        res = PQgetResult(conn);
        if (res == NULL)
            return true;
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            *failed = true;
        PQclear(res);
    }
    return false;
}

/* Serves one connection until it breaks, stops replying, or the listener stops. */
static void
listen_loop(struct rs_db_listener *l, PGconn *conn)
{
    int64_t replied_at = rs_clock_ms(), ping_sent = 0;
    bool pinging = false, ping_failed = false;

    while (!atomic_load(&l->stop)) {
        /* poll, because select cannot watch a descriptor above FD_SETSIZE (1024). */
        struct pollfd pfd = { .fd = PQsocket(conn), .events = POLLIN, .revents = 0 };
        PGnotify *n;
        int ready;

        if (pfd.fd < 0)
            return;
        if (!pinging && rs_clock_ms() - replied_at >= LISTEN_PING_MS) {
            if (!PQsendQuery(conn, "SELECT 1")) {
                rs_log_warn(NULL, "lost the change-notification connection", "channel",
                            l->channel, "detail", PQerrorMessage(conn), NULL);
                return;
            }
            pinging = true;
            ping_sent = rs_clock_ms();
        }
        if (pinging && rs_clock_ms() - ping_sent >= LISTEN_PING_TIMEOUT_MS) {
            char timeout[16];

            snprintf(timeout, sizeof(timeout), "%d", LISTEN_PING_TIMEOUT_MS);
            rs_log_warn(NULL, "change-notification connection timed out", "channel",
                        l->channel, "timeout_ms", timeout, NULL);
            return;
        }
        ready = poll(&pfd, 1, LISTEN_POLL_MS);
        if (ready < 0 && errno != EINTR)
            return;
        if (ready <= 0)
            continue;
        if (!PQconsumeInput(conn)) {
            rs_log_warn(NULL, "lost the change-notification connection", "channel",
                        l->channel, "detail", PQerrorMessage(conn), NULL);
            return;
        }
        if (pinging && ping_replied(conn, &ping_failed)) {
            if (ping_failed) {
                rs_log_warn(NULL, "could not query the change-notification connection",
                            "channel", l->channel, "detail", PQerrorMessage(conn), NULL);
                return;
            }
            pinging = false;
            replied_at = rs_clock_ms();
        }
        while ((n = PQnotifies(conn)) != NULL) {
            l->hooks.notify(l->hooks.arg, n->extra);
            PQfreemem(n);
        }
        if (PQstatus(conn) != CONNECTION_OK)
            return;
    }
}

static void *
listen_main(void *arg)
{
    struct rs_db_listener *l = arg;
    int backoff = LISTEN_BACKOFF_MIN_MS;

    while (!atomic_load(&l->stop)) {
        PGconn *conn = listen_connect(l);

        if (conn == NULL) {
            if (!sleep_unless_stopped(l, backoff))
                break;
            backoff = backoff * 2 > LISTEN_BACKOFF_MAX_MS ? LISTEN_BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        backoff = LISTEN_BACKOFF_MIN_MS;
        l->hooks.listening(l->hooks.arg, true);
        rs_log_info(NULL, "listening for changes", "channel", l->channel, NULL);
        listen_loop(l, conn);
        l->hooks.listening(l->hooks.arg, false);
        PQfinish(conn);
    }
    return NULL;
}

static bool
valid_name(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 0 || n > LISTEN_NAME_MAX)
        return false;
    for (i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || (i > 0 && s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

rs_status
rs_db_listen_start(const char *conninfo, const char *channel, const char *app_name,
                   const struct rs_db_listen_hooks *hooks, rs_db_listener **out,
                   struct rs_error *err)
{
    struct rs_db_listener *l;
    int e;

    *out = NULL;
    if (!valid_name(channel) || strlen(app_name) > LISTEN_NAME_MAX)
        return rs_error_set(err, RS_EINVAL, "INVALID_CHANNEL",
                            "invalid notification channel \"%s\"", channel);
    l = rs_calloc(1, sizeof(*l));
    if (l == NULL || (l->conninfo = rs_strdup(conninfo)) == NULL) {
        rs_free(l);
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    }
    snprintf(l->channel, sizeof(l->channel), "%s", channel);
    snprintf(l->app_name, sizeof(l->app_name), "%s", app_name);
    l->hooks = *hooks;
    atomic_init(&l->stop, false);
    e = pthread_create(&l->thread, NULL, listen_main, l);
    if (e != 0) {
        rs_free(l->conninfo);
        rs_free(l);
        return rs_error_set(err, RS_EINTERNAL, "THREAD_FAILED",
                            "could not start the change-notification thread: %s", strerror(e));
    }
    *out = l;
    return RS_OK;
}

void
rs_db_listen_stop(rs_db_listener *l)
{
    if (l == NULL)
        return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    rs_free(l->conninfo);
    rs_free(l);
}
