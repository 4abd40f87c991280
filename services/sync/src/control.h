/*
 * services/sync/src/control.h
 *    Declarations private to the control plane of roster-sync: the secret
 *    keyring, the settings, the worker and lease internals, and the small
 *    helpers its handlers share.
 */
#ifndef SYNC_CONTROL_H
#define SYNC_CONTROL_H

#include <pthread.h>
#include <stdatomic.h>

#include "sync_int.h"

#define SYNC_KEY_LEN 32
#define SYNC_KEY_ID_LEN 16

/* Channel the run handlers notify and the workers listen on. */
#define SYNC_NOTIFY_CHANNEL "roster_sync_runs"

/* --- secrets.c --- */

/*
 * Reads the data key from ROSTER_SYNC_SECRET_KEY (base64 of 32 bytes) or
 * ROSTER_SYNC_SECRET_KEY_FILE, and the optional previous key from
 * ROSTER_SYNC_SECRET_KEY_PREVIOUS(_FILE). RS_EINVAL SECRET_KEY_MISSING
 * when neither is set, RS_EINVAL SECRET_KEY_INVALID when one is
 * malformed; the message names the variable. *out owned by the caller.
 */
RS_MUSTCHECK rs_status sync_keyring_load(struct sync_keyring **out, struct rs_error *err);

/* Builds a keyring from raw keys (previous may be NULL). *out owned by the caller. */
RS_MUSTCHECK rs_status sync_keyring_create(const unsigned char current[SYNC_KEY_LEN],
                                           const unsigned char *previous,
                                           struct sync_keyring **out, struct rs_error *err);
void sync_keyring_free(struct sync_keyring *keys);

/* The id of the current key: the first 16 hex digits of its SHA-256. Static to keys. */
const char *sync_keyring_key_id(const struct sync_keyring *keys);

/*
 * Seals secret[0..len) under the current key with aad (the source id)
 * bound to it: nonce || ciphertext || tag in *out (malloc, owned by the
 * caller), *out_len bytes.
 */
RS_MUSTCHECK rs_status sync_secret_seal(const struct sync_keyring *keys, const char *aad,
                                        const char *secret, size_t len, unsigned char **out,
                                        size_t *out_len, struct rs_error *err);

/*
 * Opens a sealed secret made under the key named key_id (current or
 * previous). RS_EPRECOND SECRET_UNREADABLE when the key is unknown or the
 * tag does not verify; nothing of the plaintext is left behind then.
 * *out (malloc, NUL-terminated, owned by the caller; free it with
 * sync_secret_free, which wipes it).
 */
RS_MUSTCHECK rs_status sync_secret_open(const struct sync_keyring *keys, const char *key_id,
                                        const char *aad, const unsigned char *sealed,
                                        size_t len, char **out, struct rs_error *err);
void sync_secret_free(char *secret);

/*
 * Re-seals under the current key every source secret sealed under the
 * previous one. *n_resealed (may be NULL) receives the count. Sources
 * whose key is neither are left alone and logged.
 */
RS_MUSTCHECK rs_status sync_keyring_reseal(const struct sync_keyring *keys, rs_db_pool *pool,
                                           int *n_resealed, struct rs_error *err);

/* Hex of a bytea parameter ("\\x..."), malloc'd; NULL when out of memory. */
char *sync_bytea_param(const unsigned char *data, size_t len);
/* Decodes a text-format bytea column ("\\x..."); *out malloc'd. */
RS_MUSTCHECK rs_status sync_bytea_value(const char *text, unsigned char **out, size_t *len,
                                        struct rs_error *err);

/* --- main.c --- */

/* Reads every ROSTER_SYNC_* setting except the key; messages name the variable. */
RS_MUSTCHECK rs_status sync_settings_load(struct sync_settings *out, struct rs_error *err);
void sync_settings_free(struct sync_settings *s);

/* --- actor.c --- */



/* rs_db_query_arena on the call's arena. */
RS_MUSTCHECK rs_status sync_query(rs_db_conn *conn, struct rs_call *call, const char *stmt,
                                  const char *sql, int n_params, const char *const *params,
                                  PGresult **out, struct rs_error *err);

/* Runs fn in a READ COMMITTED transaction, refusing a call already past its deadline. */
RS_MUSTCHECK rs_status sync_call_tx(struct rs_call *call, rs_db_tx_fn fn, void *arg,
                                    struct rs_error *err);

/* Microseconds since the epoch of a timestamptz column, for SELECT lists. */
#define SYNC_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

int64_t sync_col_int64(const PGresult *res, int row, int col);
char *sync_col_str(rs_arena *arena, const PGresult *res, int row, int col);
/* A Timestamp from the arena; NULL for a NULL column. */
Google__Protobuf__Timestamp *sync_col_time(rs_arena *arena, const PGresult *res, int row,
                                           int col);

/* --- runs.c / lease.c / worker.c --- */

/* A job with the worker's bookkeeping; struct sync_job stays first. */
struct sync_job_state {
    struct sync_job job;
    atomic_bool lost;          /* the heartbeat saw another holder */
    atomic_bool stop_beat;
    bool beating;
    pthread_t beat;
    pthread_mutex_t beat_mu;
    pthread_cond_t beat_cv;
    char kind_name[24];
};

/* SELECT list of a run; sync_run_from_row reads it. */
extern const char sync_run_columns[];
/* Converts a row of sync_run_columns; NULL when out of memory. */
Roster__Sync__V1__Run *sync_run_from_row(rs_arena *arena, const PGresult *res, int row);

/* Allocates a job (its state) for a run; job->request_json copied. */
struct sync_job_state *sync_job_alloc(struct sync_service *svc, const char *run_id,
                                      const char *org_id, const char *source_id,
                                      const char *operator_id, int kind,
                                      const char *request_json);
/* Stops the heartbeat and frees the job; leaves the run and lease as they are. */
void sync_job_free(struct sync_job *job);

/* Sets RS_EABORTED LEASE_LOST on err for job; returns RS_EABORTED. */
rs_status sync_lease_lost(struct sync_job *job, struct rs_error *err);

/*
 * Takes the lease on run_id, a PENDING run or a RUNNING run whose lease
 * expired, for svc->holder for lease_ms, and raises the run's fencing
 * token by one. *token is the new token, or 0 when the run is not free
 * (another holder's lease is live, or the run has ended).
 * REQUIRES: inside a transaction.
 */
RS_MUSTCHECK rs_status sync_lease_take(rs_db_conn *conn, struct sync_service *svc,
                                       const char *run_id, int64_t *token,
                                       struct rs_error *err);
/*
 * Hands the run back when job still holds it: PENDING again with no lease,
 * so any replica claims it at once. REQUIRES: in a transaction.
 */
RS_MUSTCHECK rs_status sync_lease_release(rs_db_conn *conn, struct sync_job *job,
                                          struct rs_error *err);
/* Starts the heartbeat thread that extends the lease every lease_ms / 3. */
RS_MUSTCHECK rs_status sync_lease_beat_start(struct sync_job *job, struct rs_error *err);
/*
 * Stops and joins the heartbeat thread, if it runs. Called before the
 * transaction that ends or hands back the run, so that a heartbeat after
 * it cannot report the ended run as a lost lease.
 */
void sync_lease_beat_stop(struct sync_job *job);

/* True once the replica is shutting down (the worker's stop flag). */
bool sync_worker_stopping(const struct sync_service *svc);

/* Starts the LISTEN thread and svc->settings.workers run threads. */
RS_MUSTCHECK rs_status sync_worker_start(struct sync_service *svc, const char *conninfo,
                                         struct rs_error *err);
/*
 * Sets the stop flag without waiting, when the shutdown begins (arg is the
 * struct sync_service). Runs in progress start winding down while the
 * server's grace period runs, so they are handed back at once rather than
 * after it.
 */
void sync_worker_request_stop(void *arg);
/*
 * Stops the threads. A run in progress is handed back: set PENDING again
 * with its checkpoint and without a lease, so the next replica resumes it
 * at once.
 */
void sync_worker_stop(struct sync_service *svc);

#endif /* SYNC_CONTROL_H */
