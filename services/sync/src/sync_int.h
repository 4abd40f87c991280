/*
 * services/sync/src/sync_int.h
 *    Declarations shared inside roster-sync: the service context, the actor
 *    check, secrets, runs (records, lease, worker) and the run executors,
 *    and the RPC handlers.
 *
 *    Ownership of files:
 *      main.c server.c actor.c secrets.c sources.c runs.c run_rpc.c lease.c
 *      worker.c               - the control plane
 *      structure.c tree.c apply.c apply_*.c nodes.c preview.c
 *                             - the data plane (structure diff, reads,
 *                               Start Sync, deletion)
 *      dingtalk*.c            - the directory client (dingtalk.h)
 */
#ifndef SYNC_INT_H
#define SYNC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "dingtalk.h"
#include "roster/actor.h"
#include "roster/arena.h"
#include "roster/db.h"
#include "roster/log.h"
#include "roster/page.h"
#include "roster/rpc.h"
#include "roster/status.h"
#include "roster/sync/v1/sync.pb-c.h"

#define SYNC_SCHEMA "sync"
#define SYNC_SERVICE_NAME "roster.sync.v1.SyncService"
#define SYNC_MAX_SOURCES_PER_PLATFORM 5

/* Values stored in sync.runs / sync.run_items; equal to the proto enums. */
enum sync_run_kind { SYNC_KIND_STRUCTURE = 1, SYNC_KIND_SYNC = 2, SYNC_KIND_DELETE = 3,
                     SYNC_KIND_CLEAR = 4 };
enum sync_run_status { SYNC_PENDING = 1, SYNC_RUNNING = 2, SYNC_SUCCEEDED = 3,
                       SYNC_PARTIAL = 4, SYNC_FAILED = 5, SYNC_ABANDONED = 6 };
enum sync_outcome { SYNC_CREATED = 1, SYNC_UPDATED = 2, SYNC_FAILED_ITEM = 3,
                    SYNC_FLAGGED = 4, SYNC_DELETED = 5 };
enum sync_flag { SYNC_FLAG_NONE = 0, SYNC_FLAG_NAME_CHANGED = 1, SYNC_FLAG_TO_BE_DELETED = 2 };

/*
 * SQL expression for a source's structure time; source_id is the SQL of the
 * source's id. The value is the finish time of the source's latest Update
 * Structure that ended without a failure (SUCCEEDED or PARTIAL). It is NULL
 * before the first one, and when a Clear Structure ended without a failure
 * after it. It is read from the runs, so finishing a run writes no row
 * outside sync.runs. The partial index runs_structure_idx serves it.
 */
#define SYNC_STRUCTURE_AT(source_id)                                                     \
    "(SELECT CASE WHEN sr.kind = 1 THEN sr.finished_at END FROM sync.runs sr "          \
    "WHERE sr.source_id = " source_id " AND sr.kind IN (1, 4) AND sr.status IN (3, 4) " \
    "ORDER BY sr.finished_at DESC LIMIT 1)"

/* Decrypts and encrypts app secrets (AES-256-GCM); secrets.c. */
struct sync_keyring;

/* Settings from the environment (ROSTER_SYNC_*), read once at start. */
struct sync_settings {
    char *identity_addr;         /* ROSTER_SYNC_IDENTITY_ADDR, "127.0.0.1:50051" */
    char *authz_addr;            /* ROSTER_SYNC_AUTHZ_ADDR, "127.0.0.1:50052" */
    char *service_token;         /* ROSTER_SYNC_SERVICE_TOKEN(_FILE): sent to both */
    char **endpoints;            /* ROSTER_SYNC_DINGTALK_ENDPOINTS, comma-separated */
    size_t n_endpoints;
    int workers;                 /* ROSTER_SYNC_WORKERS, run threads per replica, 2 */
    int lease_ms;                /* ROSTER_SYNC_LEASE_MS, 15000 */
    int poll_ms;                 /* ROSTER_SYNC_POLL_MS, 1000 */
    int max_attempts;            /* ROSTER_SYNC_MAX_ATTEMPTS, 3: then ABANDONED */
    int deletion_guard_pct;      /* ROSTER_SYNC_DELETION_GUARD_PERCENT, 20 */
    int dingtalk_rate;           /* ROSTER_SYNC_DINGTALK_RATE, 18 calls/s per API */
    int dingtalk_concurrency;    /* ROSTER_SYNC_DINGTALK_CONCURRENCY, 4 requests in flight */
    int dingtalk_timeout_ms;     /* ROSTER_SYNC_DINGTALK_TIMEOUT_MS, 10000 */
    int dingtalk_ban_pause_ms;   /* ROSTER_SYNC_DINGTALK_BAN_PAUSE_MS, 300000 */
    int dingtalk_throttle_pause_ms; /* ROSTER_SYNC_DINGTALK_THROTTLE_PAUSE_MS, 1000 */
    int rpc_timeout_ms;          /* ROSTER_SYNC_RPC_TIMEOUT_MS, 10000 */
};

/* Passed to every handler as rs_call_user_data and to every run. */
struct sync_service {
    rs_db_pool *pool;              /* borrowed from libs/service */
    struct sync_settings settings; /* owned */
    struct sync_keyring *keys;     /* owned */
    rs_rpc_client *identity;       /* owned; token with the "sync" scope */
    rs_rpc_client *authz;          /* owned */
    struct sync_worker *worker;    /* owned; run threads and the lease heartbeat */
    char holder[96];               /* this replica: "host:pid:random" */
};

/* migrations.c (generated at build time from migrations/NNNN_name.sql) */
extern const struct rs_db_migration sync_migrations[];
extern const size_t sync_n_migrations;

/* server.c */
extern const struct rs_rpc_service sync_rpc_service;

/* main.c: rs_service_def.init / cleanup; init starts the worker threads. */
RS_MUSTCHECK rs_status sync_service_init(rs_db_pool *pool, const char *conninfo, void **out,
                                         struct rs_error *err);
void sync_service_cleanup(void *svc);

/* --- actor.c --- */

struct sync_actor {
    char org_id[33];
    char user_id[33];
    bool org_admin;
};

#define SYNC_NEED_ADMIN 0x1u

/*
 * Checks the organisation id (INVALID_ID, ORGANIZATION_NOT_FOUND), that the
 * actor is an enabled user of it (ACTOR_NOT_IN_ORGANIZATION,
 * ACTOR_DISABLED) and, with SYNC_NEED_ADMIN, an organisation administrator
 * (NOT_ORGANIZATION_ADMIN, through authz.is_org_admin). Fills *out.
 */
RS_MUSTCHECK rs_status sync_authorize(rs_db_conn *conn, struct rs_call *call,
                                      const char *org_id, unsigned flags,
                                      struct sync_actor *out, struct rs_error *err);

/* INVALID_ARGUMENT FIELD_INVALID naming field; returns RS_EINVAL. */
rs_status sync_field_invalid(struct rs_error *err, const char *field, const char *fmt, ...)
    RS_PRINTF(3, 4);

/* Sets err to RS_ENOMEM with reason OUT_OF_MEMORY and returns RS_ENOMEM. */
rs_status sync_nomem(struct rs_error *err);

/* Runs fn in a READ COMMITTED transaction on the service's pool. */
RS_MUSTCHECK rs_status sync_tx(struct sync_service *svc, rs_db_tx_fn fn, void *arg,
                               struct rs_error *err);

/*
 * Loads a source of org_id (INVALID_ID, SOURCE_NOT_FOUND) and builds a
 * DingTalk client with its decrypted secret. *out owned by the caller.
 */
RS_MUSTCHECK rs_status sync_source_client(struct sync_service *svc, rs_db_conn *conn,
                                          const char *org_id, const char *source_id,
                                          const struct rs_log_ctx *log,
                                          struct dt_client **out, struct rs_error *err);

/* --- runs.c, lease.c, worker.c: one run in progress --- */

/*
 * A run being executed, by a worker thread (UPDATE_STRUCTURE, SYNC) or
 * inline by a handler (DELETE_NODE, CLEAR_STRUCTURE). Every write through
 * the sync_job_* functions is fenced: it fails with RS_EABORTED /
 * LEASE_LOST once another holder took the run's lease.
 */
struct sync_job {
    struct sync_service *svc;
    char run_id[33];
    char org_id[33];
    char source_id[33];
    char operator_id[33];
    int kind;               /* enum sync_run_kind */
    int attempt;            /* 1 for the first holder */
    int64_t fencing_token;
    int checkpoint;         /* plan entries already done by an earlier holder */
    char *request_json;     /* sync.runs.request, owned */
    struct rs_log_ctx log;  /* run_id, source_id bound */
};

/* One per-item record. Strings are borrowed; NULL means "". */
struct sync_item {
    int seq;                /* the item's index in the run's plan */
    int node_kind;          /* 1 member, 2 department */
    const char *external_id;
    const char *name;
    int outcome;            /* enum sync_outcome */
    const char *user_id;
    const char *group_id;
    const char *reason;
    const char *message;
};

/* Records an item and its count and moves the checkpoint past item->seq,
 * in one fenced transaction. A seq already recorded is not counted twice. */
RS_MUSTCHECK rs_status sync_job_item(struct sync_job *job, const struct sync_item *item,
                                     struct rs_error *err);
/* Same, inside the caller's transaction (conn), for executors that write
 * their own rows in the same transaction. */
RS_MUSTCHECK rs_status sync_job_item_tx(struct sync_job *job, rs_db_conn *conn,
                                        const struct sync_item *item, struct rs_error *err);
/*
 * Records n items and n_unchanged unchanged items, counts them and moves
 * the checkpoint to next_seq, in one statement inside the caller's
 * transaction. Items already recorded (a take-over repeating committed
 * work) are not counted twice. REQUIRES: sync_job_check_tx in the same
 * transaction; the items' seqs are below next_seq.
 */
RS_MUSTCHECK rs_status sync_job_items_tx(struct sync_job *job, rs_db_conn *conn,
                                         const struct sync_item *items, size_t n,
                                         int n_unchanged, int next_seq,
                                         struct rs_error *err);
/* Counts n unchanged items and moves the checkpoint to next_seq (batched by
 * the caller; nothing else is written). */
RS_MUSTCHECK rs_status sync_job_unchanged(struct sync_job *job, int n, int next_seq,
                                          struct rs_error *err);
RS_MUSTCHECK rs_status sync_job_set_total(struct sync_job *job, int total,
                                          struct rs_error *err);
RS_MUSTCHECK rs_status sync_job_warn(struct sync_job *job, const char *warning,
                                     struct rs_error *err);
/*
 * RS_OK while the lease is ours; RS_EABORTED / LEASE_LOST otherwise. It
 * reads the run's row in a transaction of its own, without locking it.
 */
RS_MUSTCHECK rs_status sync_job_check(struct sync_job *job, struct rs_error *err);
/* Checks the fence inside the caller's transaction (SELECT ... FOR NO KEY
 * UPDATE of the run's row, held until commit). */
RS_MUSTCHECK rs_status sync_job_check_tx(struct sync_job *job, rs_db_conn *conn,
                                         struct rs_error *err);

/*
 * Starts a run that the calling handler executes itself (DELETE_NODE,
 * CLEAR_STRUCTURE): inserts it RUNNING and takes the lease. Refused with
 * RS_EPRECOND / SYNC_RUNNING while another run of the source is active.
 * *out owned by the caller; end it with sync_job_finish.
 */
RS_MUSTCHECK rs_status sync_job_begin_inline(struct sync_service *svc, const char *org_id,
                                             const char *source_id, int kind,
                                             const char *operator_id, const char *request_json,
                                             struct sync_job **out, struct rs_error *err);

/*
 * Ends a run: SUCCEEDED or PARTIAL (failed items) when failure is NULL,
 * FAILED with failure's reason and message otherwise; releases the lease
 * and frees job. When run is non-NULL, *run is the final record, allocated
 * from arena.
 */
RS_MUSTCHECK rs_status sync_job_finish(struct sync_job *job, const struct rs_error *failure,
                                       rs_arena *arena, Roster__Sync__V1__Run **run,
                                       struct rs_error *err);

/* Loads a run of org_id as a message allocated from arena (RUN_NOT_FOUND). */
RS_MUSTCHECK rs_status sync_run_load(rs_db_conn *conn, rs_arena *arena, const char *org_id,
                                     const char *run_id, Roster__Sync__V1__Run **out,
                                     struct rs_error *err);

/* --- executors (data plane), called by a worker holding the lease --- */

/*
 * Update Structure: fetch, diff with the stored structure, flag, guard,
 * store. RS_OK finishes the run (SUCCEEDED); an error fails it with
 * err's reason (DELETION_GUARD_TRIPPED, DINGTALK_PERMISSION_DENIED ...).
 */
RS_MUSTCHECK rs_status sync_exec_structure(struct sync_job *job, struct rs_error *err);

/* Start Sync: apply the run's selection to identity and authz, from
 * job->checkpoint on. Per-item failures are items, not errors. */
RS_MUSTCHECK rs_status sync_exec_sync(struct sync_job *job, struct rs_error *err);

/* --- handlers --- */

/* sources.c */
rs_status sync_create_source(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                             struct rs_error *);
rs_status sync_get_source(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                          struct rs_error *);
rs_status sync_list_sources(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                            struct rs_error *);
rs_status sync_update_source(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                             struct rs_error *);
rs_status sync_delete_source(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                             struct rs_error *);
rs_status sync_test_connection(struct rs_call *, const ProtobufCMessage *,
                               ProtobufCMessage **, struct rs_error *);

/* run_rpc.c */
rs_status sync_update_structure(struct rs_call *, const ProtobufCMessage *,
                                ProtobufCMessage **, struct rs_error *);
rs_status sync_start_sync(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                          struct rs_error *);
rs_status sync_get_run(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                       struct rs_error *);
rs_status sync_list_runs(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                         struct rs_error *);
rs_status sync_list_run_items(struct rs_call *, const ProtobufCMessage *,
                              ProtobufCMessage **, struct rs_error *);

/* tree.c */
rs_status sync_list_departments(struct rs_call *, const ProtobufCMessage *,
                                ProtobufCMessage **, struct rs_error *);
rs_status sync_list_members(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                            struct rs_error *);
rs_status sync_search_structure(struct rs_call *, const ProtobufCMessage *,
                                ProtobufCMessage **, struct rs_error *);

/* nodes.c */
rs_status sync_delete_node(struct rs_call *, const ProtobufCMessage *, ProtobufCMessage **,
                           struct rs_error *);
rs_status sync_clear_structure(struct rs_call *, const ProtobufCMessage *,
                               ProtobufCMessage **, struct rs_error *);

#endif /* SYNC_INT_H */
