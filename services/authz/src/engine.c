/*
 * services/authz/src/engine.c
 *    The snapshot cache: one entry per organisation holding the current
 *    snapshot, and the freshness rules of the three consistency modes.
 *
 * A snapshot is stale when a notification named a newer revision, when
 * the listener reconnected after it was loaded (notifications may have
 * been lost), or, while the listener is down, when it is older than
 * ENGINE_UNLISTENED_MAX_AGE_US. Readers take a reference under a short
 * mutex; a reload swaps the pointer, and the old snapshot is freed when
 * its last reader drops it.
 */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"
#include "roster/clock.h"
#include "roster/log.h"
#include "roster/str.h"

/* Maximum wait for a pooled connection when reading the current revision. */
#define ENGINE_ACQUIRE_MS 5000

rs_status
authz_engine_create(rs_db_pool *pool, const char *conninfo, struct authz_engine **out,
                    struct rs_error *err)
{
    struct authz_engine *engine;
    rs_status rc;

    *out = NULL;
    engine = rs_calloc(1, sizeof(*engine));
    if (engine == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    engine->pool = pool;
    engine->conninfo = rs_strdup(conninfo ? conninfo : "");
    if (engine->conninfo == NULL) {
        rs_free(engine);
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    }
    pthread_rwlock_init(&engine->orgs_lock, NULL);
    atomic_init(&engine->epoch, 0);
    atomic_init(&engine->listening, false);
    atomic_init(&engine->loads, 0);
    rc = engine_listen_start(engine, err);
    if (rc != RS_OK) {
        authz_engine_destroy(engine);
        return rc;
    }
    *out = engine;
    return RS_OK;
}

void
authz_engine_destroy(struct authz_engine *engine)
{
    size_t i;

    if (engine == NULL)
        return;
    engine_listen_stop(engine);
    for (i = 0; i < ENGINE_BUCKETS; i++) {
        struct org_entry *e = engine->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            snap_release(e->snap);
            pthread_mutex_destroy(&e->mu);
            pthread_mutex_destroy(&e->load_mu);
            rs_free(e);
        }
    }
    pthread_rwlock_destroy(&engine->orgs_lock);
    rs_free(engine->conninfo);
    rs_free(engine);
}

static struct org_entry *
find_entry(struct authz_engine *engine, const char *org_id, size_t bucket)
{
    struct org_entry *e;

    for (e = engine->buckets[bucket]; e != NULL; e = e->next)
        if (strcmp(e->org_id, org_id) == 0)
            return e;
    return NULL;
}

/* Entries live as long as the engine, so the pointer stays valid without a lock. */
static struct org_entry *
get_entry(struct authz_engine *engine, const char *org_id)
{
    size_t bucket = rs_hash_str(org_id) % ENGINE_BUCKETS;
    struct org_entry *e;

    pthread_rwlock_rdlock(&engine->orgs_lock);
    e = find_entry(engine, org_id, bucket);
    pthread_rwlock_unlock(&engine->orgs_lock);
    if (e != NULL)
        return e;

    pthread_rwlock_wrlock(&engine->orgs_lock);
    e = find_entry(engine, org_id, bucket);
    if (e == NULL) {
        e = rs_calloc(1, sizeof(*e));
        if (e != NULL) {
            snprintf(e->org_id, sizeof(e->org_id), "%s", org_id);
            pthread_mutex_init(&e->mu, NULL);
            pthread_mutex_init(&e->load_mu, NULL);
            atomic_init(&e->notified, 0);
            e->next = engine->buckets[bucket];
            engine->buckets[bucket] = e;
        }
    }
    pthread_rwlock_unlock(&engine->orgs_lock);
    return e;
}

void
engine_notify(struct authz_engine *engine, const char *org_id, int64_t revision)
{
    size_t bucket = rs_hash_str(org_id) % ENGINE_BUCKETS;
    struct org_entry *e;
    long long seen;

    pthread_rwlock_rdlock(&engine->orgs_lock);
    e = find_entry(engine, org_id, bucket);
    pthread_rwlock_unlock(&engine->orgs_lock);
    if (e == NULL)
        return; /* never loaded: the first question loads current state anyway */
    seen = atomic_load(&e->notified);
    while (seen < revision && !atomic_compare_exchange_weak(&e->notified, &seen, revision))
        ;
}

static struct authz_snapshot *
entry_current(struct org_entry *e)
{
    struct authz_snapshot *s;

    pthread_mutex_lock(&e->mu);
    s = e->snap;
    if (s != NULL)
        snap_retain(s);
    pthread_mutex_unlock(&e->mu);
    return s;
}

static bool
is_stale(struct authz_engine *engine, struct org_entry *e, const struct authz_snapshot *s)
{
    if (atomic_load(&e->notified) > s->revision)
        return true;
    if (s->epoch != atomic_load(&engine->epoch))
        return true;
    return !atomic_load(&engine->listening) &&
           rs_clock_us() - s->loaded_us > ENGINE_UNLISTENED_MAX_AGE_US;
}

/* want_rev: the revision a FULLY_CONSISTENT read found in the database, or -1. */
static bool
usable(struct authz_engine *engine, struct org_entry *e, const struct authz_snapshot *s,
       int64_t min_rev, int64_t want_rev, int64_t force_older_us)
{
    if (s == NULL)
        return false;
    if (force_older_us > 0 && rs_clock_us() - s->loaded_us > force_older_us)
        return false;
    if (want_rev >= 0)
        return s->revision >= want_rev && s->epoch == atomic_load(&engine->epoch);
    if (min_rev > 0 && s->revision >= min_rev)
        return true;
    return min_rev <= 0 && !is_stale(engine, e, s);
}

static rs_status
read_revision(struct authz_engine *engine, const char *org_id, int64_t *rev,
              struct rs_error *err)
{
    const char *params[1] = { org_id };
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    rs_status rc;

    *rev = 0;
    rc = rs_db_acquire(engine->pool, ENGINE_ACQUIRE_MS, &conn, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query(conn, "authz_read_revision",
                     "SELECT revision FROM authz.org_revisions WHERE organization_id = $1", 1,
                     params, &res, err);
    if (rc == RS_OK && PQntuples(res) > 0)
        *rev = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    rs_db_release(engine->pool, conn);
    return rc;
}

rs_status
engine_snapshot(struct authz_engine *engine, const char *org_id, enum engine_consistency mode,
                int64_t min_rev, int64_t force_older_us, struct authz_snapshot **out,
                struct rs_error *err)
{
    struct org_entry *e;
    struct authz_snapshot *s, *fresh = NULL, *old;
    int64_t want_rev = -1;
    uint64_t epoch;
    rs_status rc;

    *out = NULL;
    e = get_entry(engine, org_id);
    if (e == NULL)
        return rs_error_set(err, RS_ENOMEM, "OUT_OF_MEMORY", "out of memory");
    if (mode == ENGINE_FULLY_CONSISTENT) {
        rc = read_revision(engine, org_id, &want_rev, err);
        if (rc != RS_OK)
            return rc;
    }

    s = entry_current(e);
    if (usable(engine, e, s, min_rev, want_rev, force_older_us)) {
        *out = s;
        return RS_OK;
    }

    /*
     * Whoever holds load_mu loads; the others wait and then reuse its
     * snapshot. A MINIMIZE_LATENCY reader that finds a load already running
     * answers from the previous snapshot instead of waiting, so its
     * staleness is bounded by one load's duration.
     */
    if (mode == ENGINE_MINIMIZE_LATENCY && min_rev <= 0 && force_older_us <= 0 && s != NULL) {
        if (pthread_mutex_trylock(&e->load_mu) != 0) {
            *out = s;
            return RS_OK;
        }
    } else {
        pthread_mutex_lock(&e->load_mu);
    }
    snap_release(s);
    s = entry_current(e);
    if (usable(engine, e, s, min_rev, want_rev, force_older_us)) {
        pthread_mutex_unlock(&e->load_mu);
        *out = s;
        return RS_OK;
    }
    snap_release(s);
    epoch = atomic_load(&engine->epoch);
    rc = snap_load(engine->pool, org_id, &fresh, err);
    if (rc != RS_OK) {
        pthread_mutex_unlock(&e->load_mu);
        return rc;
    }
    fresh->epoch = epoch;
    atomic_fetch_add(&engine->loads, 1);
    snap_retain(fresh);
    pthread_mutex_lock(&e->mu);
    old = e->snap;
    e->snap = fresh;
    pthread_mutex_unlock(&e->mu);
    pthread_mutex_unlock(&e->load_mu);
    snap_release(old);
    /*
     * NOTE: a min_rev above the loaded revision cannot come from this
     * database's writes (the token was returned after the commit), so it is
     * answered from the newest state rather than refused.
     */
    *out = fresh;
    return RS_OK;
}
