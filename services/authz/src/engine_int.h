/*
 * services/authz/src/engine_int.h
 *    The engine's internals shared by engine.c (snapshot cache and
 *    freshness), engine_listen.c (change notifications) and
 *    check_handlers.c (the RPC handlers).
 */
#ifndef AUTHZ_ENGINE_INT_H
#define AUTHZ_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "snapshot.h"

#define ENGINE_BUCKETS 1024

/* The channel authz.bump_revision notifies, with payload "<org>:<revision>". */
#define ENGINE_CHANNEL "roster_authz_changes"

/*
 * While the listener is disconnected, notifications are lost; a snapshot
 * older than this is then reloaded even in MINIMIZE_LATENCY mode.
 */
#define ENGINE_UNLISTENED_MAX_AGE_US INT64_C(1000000)

/* An unknown user triggers at most one reload per this interval per organisation. */
#define ENGINE_UNKNOWN_USER_RELOAD_US INT64_C(1000000)

enum engine_consistency {
    ENGINE_MINIMIZE_LATENCY = 0,
    ENGINE_AT_LEAST_AS_FRESH = 1,
    ENGINE_FULLY_CONSISTENT = 2,
};

struct org_entry {
    char org_id[33];
    pthread_mutex_t load_mu; /* one load at a time per organisation */
    pthread_mutex_t mu;      /* guards snap */
    struct authz_snapshot *snap;
    atomic_llong notified;   /* highest revision seen in a notification */
    struct org_entry *next;  /* bucket chain */
};

struct authz_engine {
    rs_db_pool *pool;
    char *conninfo;
    pthread_rwlock_t orgs_lock;
    struct org_entry *buckets[ENGINE_BUCKETS];
    atomic_ullong epoch;      /* bumped each time the listener (re)connects */
    atomic_bool listening;    /* the listener holds a live LISTEN */
    atomic_long loads;        /* snapshots loaded, for tests and logs */
    rs_db_listener *listener; /* NULL without a database (tests) */
};

/*
 * Returns a snapshot of org_id fresh enough for mode (min_rev applies to
 * AT_LEAST_AS_FRESH; also honoured in MINIMIZE_LATENCY when > 0). With
 * force_older_us > 0, a snapshot loaded longer ago than that is reloaded.
 * *out holds one reference for the caller (snap_release).
 */
RS_MUSTCHECK rs_status engine_snapshot(struct authz_engine *engine, const char *org_id,
                                       enum engine_consistency mode, int64_t min_rev,
                                       int64_t force_older_us, struct authz_snapshot **out,
                                       struct rs_error *err);

/* Records a notified revision for org_id (unknown organisations are ignored). */
void engine_notify(struct authz_engine *engine, const char *org_id, int64_t revision);

/* engine_listen.c: starts and stops the engine's LISTEN thread. */
RS_MUSTCHECK rs_status engine_listen_start(struct authz_engine *engine, struct rs_error *err);
void engine_listen_stop(struct authz_engine *engine);

#endif /* AUTHZ_ENGINE_INT_H */
