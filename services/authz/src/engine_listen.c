/*
 * services/authz/src/engine_listen.c
 *    The engine's hooks on the shared LISTEN thread (libs/db). A
 *    notification marks an organisation stale as its revision moves.
 *    Every (re)connection bumps the engine's epoch, because notifications
 *    sent while no connection listened are lost, so every earlier snapshot
 *    is stale.
 */
#include "engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Payload "<org>:<revision>" from authz.bump_revision. */
static void
on_notify(void *arg, const char *payload)
{
    struct authz_engine *engine = arg;
    const char *colon = strrchr(payload, ':');
    char org[33];
    char *end;
    long long rev;

    if (colon == NULL || colon - payload != 32)
        return;
    memcpy(org, payload, 32);
    org[32] = '\0';
    errno = 0;
    rev = strtoll(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1)
        return;
    engine_notify(engine, org, rev);
}

static void
on_listening(void *arg, bool on)
{
    struct authz_engine *engine = arg;

    if (on)
        atomic_fetch_add(&engine->epoch, 1);
    atomic_store(&engine->listening, on);
}

rs_status
engine_listen_start(struct authz_engine *engine, struct rs_error *err)
{
    const struct rs_db_listen_hooks hooks = { on_notify, on_listening, engine };

    if (engine->conninfo[0] == '\0')
        return RS_OK; /* no database to listen to (tests) */
    return rs_db_listen_start(engine->conninfo, ENGINE_CHANNEL, "roster-authz-listen", &hooks,
                              &engine->listener, err);
}

void
engine_listen_stop(struct authz_engine *engine)
{
    rs_db_listen_stop(engine->listener);
    engine->listener = NULL;
}
