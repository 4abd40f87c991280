/*
 * libs/db/src/listen.c
 *    A LISTEN thread on a libpq connection of its own. It reconnects with
 *    backoff and calls its owner's hook each time it starts and stops
 *    listening. Notifications sent while no connection listened are lost,
 *    so whatever the owner derived from earlier ones is stale after a gap.
 */
#include "roster/db.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "roster/alloc.h"
#include "roster/log.h"

/* How often the thread wakes to see whether it should stop. */
#define LISTEN_POLL_MS 200
#define LISTEN_BACKOFF_MIN_MS 100
#define LISTEN_BACKOFF_MAX_MS 5000
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

    if (conn == NULL)
        return NULL;
    PQsetNoticeProcessor(conn, log_notice, l);
    if (PQstatus(conn) != CONNECTION_OK) {
        rs_log_warn(NULL, "could not connect to listen for changes", "channel", l->channel,
                    "detail", PQerrorMessage(conn), NULL);
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

/* Serves one connection until it breaks or the listener stops. */
static void
listen_loop(struct rs_db_listener *l, PGconn *conn)
{
    while (!atomic_load(&l->stop)) {
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
            rs_log_warn(NULL, "lost the change-notification connection", "channel",
                        l->channel, "detail", PQerrorMessage(conn), NULL);
            return;
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
