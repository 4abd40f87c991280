/*
 * services/sync/src/lease.c
 *    The lease on a run, kept in its sync.runs row: one holder at a time
 *    across replicas, an expiry that a heartbeat keeps pushing forward, and
 *    a fencing token that grows by one on every take. At most one run per
 *    source is PENDING or RUNNING (runs_one_active_key), so the holder of
 *    that run is the only worker that changes the source.
 */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roster/clock.h"

rs_status
sync_lease_lost(struct sync_job *job, struct rs_error *err)
{
    rs_error_set(err, RS_EABORTED, "LEASE_LOST",
                 "run \"%s\" of source \"%s\" lost its lease to another worker",
                 job->run_id, job->source_id);
    rs_error_meta(err, "run_id", job->run_id);
    return RS_EABORTED;
}

rs_status
sync_lease_take(rs_db_conn *conn, struct sync_service *svc, const char *run_id,
                int64_t *token, struct rs_error *err)
{
    char ms[16];
    const char *params[3];
    PGresult *res = NULL;
    rs_status rc;

    *token = 0;
    snprintf(ms, sizeof(ms), "%d", svc->settings.lease_ms);
    params[0] = run_id;
    params[1] = svc->holder;
    params[2] = ms;
    rc = rs_db_query(conn, "sync.lease_take",
                     "UPDATE sync.runs SET fencing_token = fencing_token + 1, "
                     "lease_holder = $2, "
                     "lease_expires_at = clock_timestamp() + $3::int * interval '1 millisecond' "
                     "WHERE id = $1 AND status IN (1, 2) AND (lease_expires_at IS NULL "
                     "OR lease_expires_at < clock_timestamp()) RETURNING fencing_token",
                     3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 1)
        *token = sync_col_int64(res, 0, 0);
    PQclear(res);
    return RS_OK;
}

rs_status
sync_lease_release(rs_db_conn *conn, struct sync_job *job, struct rs_error *err)
{
    char token[24];
    const char *params[2];

    snprintf(token, sizeof(token), "%lld", (long long)job->fencing_token);
    params[0] = job->run_id;
    params[1] = token;
    return rs_db_query(conn, "sync.lease_release",
                       "UPDATE sync.runs SET status = 1, lease_expires_at = NULL "
                       "WHERE id = $1 AND fencing_token = $2::bigint AND status = 2",
                       2, params, NULL, err);
}

#define FENCE_SQL                                                                  \
    "SELECT fencing_token = $2::bigint AND status = 2 FROM sync.runs WHERE id = $1"

/*
 * Reads the run's fence. With lock, the row stays locked until the
 * caller's transaction ends, so a take-over waits for its writes.
 */
static rs_status
check_fence(struct sync_job *job, rs_db_conn *conn, bool lock, struct rs_error *err)
{
    char token[24];
    const char *params[2];
    PGresult *res = NULL;
    bool ours;
    rs_status rc;

    snprintf(token, sizeof(token), "%lld", (long long)job->fencing_token);
    params[0] = job->run_id;
    params[1] = token;
    /* A run that another worker abandoned or finished is no longer RUNNING,
     * and its token was raised when that worker took it. */
    rc = rs_db_query(conn, lock ? "sync.lease_check" : "sync.lease_read",
                     lock ? FENCE_SQL " FOR NO KEY UPDATE" : FENCE_SQL, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    ours = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!ours) {
        atomic_store(&((struct sync_job_state *)job)->lost, true);
        return sync_lease_lost(job, err);
    }
    return RS_OK;
}

rs_status
sync_job_check_tx(struct sync_job *job, rs_db_conn *conn, struct rs_error *err)
{
    return check_fence(job, conn, true, err);
}

/* Reads the fence without the row lock, which would wait for a member chunk
 * being recorded. */
static rs_status
check_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    return check_fence(arg, conn, false, err);
}

rs_status
sync_job_check(struct sync_job *job, struct rs_error *err)
{
    struct sync_job_state *st = (struct sync_job_state *)job;

    if (atomic_load(&st->lost))
        return sync_lease_lost(job, err);
    if (sync_worker_stopping(job->svc))
        return rs_error_set(err, RS_ECANCELLED, "SERVICE_STOPPING",
                            "run \"%s\" stopped because the service is shutting down",
                            job->run_id);
    /* One statement needs no BEGIN and COMMIT, but rs_db_tx also retries
     * on another connection when the server closed an idle pooled one
     * (after a restart, for example), and a bare query would not. */
    return sync_tx(job->svc, check_body, job, err);
}

struct beat_op {
    struct sync_job *job;
    bool ours;
};

static rs_status
beat_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct beat_op *o = arg;
    char token[24];
    char ms[16];
    const char *params[3];
    PGresult *res = NULL;
    rs_status rc;

    snprintf(token, sizeof(token), "%lld", (long long)o->job->fencing_token);
    snprintf(ms, sizeof(ms), "%d", o->job->svc->settings.lease_ms);
    params[0] = o->job->run_id;
    params[1] = token;
    params[2] = ms;
    rc = rs_db_query(conn, "sync.lease_beat",
                     "UPDATE sync.runs SET lease_expires_at = clock_timestamp() + "
                     "$3::int * interval '1 millisecond' "
                     "WHERE id = $1 AND fencing_token = $2::bigint AND status = 2 RETURNING 1",
                     3, params, &res, err);
    if (rc != RS_OK)
        return rc;
    o->ours = PQntuples(res) == 1;
    PQclear(res);
    return RS_OK;
}

static void *
beat_main(void *arg)
{
    struct sync_job_state *st = arg;
    struct sync_job *job = &st->job;
    int period = job->svc->settings.lease_ms / 3;
    struct timespec until;
    struct rs_error err;
    struct beat_op o;

    pthread_mutex_lock(&st->beat_mu);
    while (!atomic_load(&st->stop_beat)) {
        until = rs_clock_deadline_ms(period);
        while (!atomic_load(&st->stop_beat) &&
               pthread_cond_timedwait(&st->beat_cv, &st->beat_mu, &until) != ETIMEDOUT)
            ;
        if (atomic_load(&st->stop_beat))
            break;
        pthread_mutex_unlock(&st->beat_mu);
        rs_error_clear(&err);
        o.job = job;
        o.ours = true;
        if (sync_tx(job->svc, beat_body, &o, &err) != RS_OK) {
            /* Keep trying: the lease may still be ours when the database is back. */
            rs_log_warn(&job->log, "could not extend the run's lease", "error", err.message,
                        NULL);
        } else if (!o.ours) {
            rs_log_warn(&job->log, "run lost its lease to another worker", NULL);
            atomic_store(&st->lost, true);
            pthread_mutex_lock(&st->beat_mu);
            break;
        }
        pthread_mutex_lock(&st->beat_mu);
    }
    pthread_mutex_unlock(&st->beat_mu);
    return NULL;
}

rs_status
sync_lease_beat_start(struct sync_job *job, struct rs_error *err)
{
    struct sync_job_state *st = (struct sync_job_state *)job;

    if (pthread_create(&st->beat, NULL, beat_main, st) != 0)
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL",
                            "could not start the lease heartbeat thread");
    st->beating = true;
    return RS_OK;
}

struct sync_job_state *
sync_job_alloc(struct sync_service *svc, const char *run_id, const char *org_id,
               const char *source_id, const char *operator_id, int kind,
               const char *request_json)
{
    static const char *const names[] = { "run", "update_structure", "sync", "delete_node",
                                         "clear_structure" };
    struct sync_job_state *st = calloc(1, sizeof(*st));
    struct sync_job *job;

    if (st == NULL)
        return NULL;
    job = &st->job;
    job->svc = svc;
    snprintf(job->run_id, sizeof(job->run_id), "%s", run_id);
    snprintf(job->org_id, sizeof(job->org_id), "%s", org_id);
    snprintf(job->source_id, sizeof(job->source_id), "%s", source_id);
    snprintf(job->operator_id, sizeof(job->operator_id), "%s", operator_id);
    job->kind = kind;
    job->request_json = strdup(request_json != NULL ? request_json : "{}");
    if (job->request_json == NULL) {
        free(st);
        return NULL;
    }
    snprintf(st->kind_name, sizeof(st->kind_name), "%s",
             kind >= 1 && kind <= 4 ? names[kind] : names[0]);
    atomic_init(&st->lost, false);
    atomic_init(&st->stop_beat, false);
    pthread_mutex_init(&st->beat_mu, NULL);
    rs_cond_init_monotonic(&st->beat_cv);
    job->log.req = job->run_id;
    job->log.rpc = st->kind_name;
    return st;
}

void
sync_lease_beat_stop(struct sync_job *job)
{
    struct sync_job_state *st = (struct sync_job_state *)job;

    if (!st->beating)
        return;
    pthread_mutex_lock(&st->beat_mu);
    atomic_store(&st->stop_beat, true);
    pthread_cond_broadcast(&st->beat_cv);
    pthread_mutex_unlock(&st->beat_mu);
    pthread_join(st->beat, NULL);
    st->beating = false;
}

void
sync_job_free(struct sync_job *job)
{
    struct sync_job_state *st = (struct sync_job_state *)job;

    if (job == NULL)
        return;
    sync_lease_beat_stop(job);
    pthread_cond_destroy(&st->beat_cv);
    pthread_mutex_destroy(&st->beat_mu);
    free(job->request_json);
    free(st);
}
