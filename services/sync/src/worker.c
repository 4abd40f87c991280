/*
 * services/sync/src/worker.c
 *    The run threads of one replica. Each claims a PENDING run, or a
 *    RUNNING run whose lease expired because its holder died. A take-over
 *    resumes the run from its checkpoint with attempts + 1, or marks it
 *    ABANDONED after max_attempts. The thread takes the lease in the run's
 *    row and runs the executor while a heartbeat extends the lease. New
 *    runs are picked up at once through LISTEN/NOTIFY; polling every
 *    poll_ms covers lost notifications.
 *
 *    At shutdown a run in progress is handed back: the executor sees
 *    SERVICE_STOPPING at its next sync_job_check, the run goes back to
 *    PENDING with its checkpoint and without a lease, so the next replica
 *    resumes it at once instead of after the lease's expiry.
 */
#include "control.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "roster/clock.h"

struct sync_worker {
    struct sync_service *svc;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long wakeups;
    pthread_t *threads;
    int n_threads;
    rs_db_listener *listener;
};

bool
sync_worker_stopping(const struct sync_service *svc)
{
    return svc->worker != NULL && atomic_load(&svc->worker->stop);
}

static void
wake_all(struct sync_worker *w)
{
    pthread_mutex_lock(&w->mu);
    w->wakeups++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* --- claiming --- */

struct claim_op {
    struct sync_service *svc;
    struct sync_job_state *st; /* set when a run was claimed */
    bool abandoned;            /* a dead run was closed: look again at once */
};

/* Ends a run that no holder will finish. The caller has taken its lease,
 * and the raised token fences out a holder that is only slow. */
static rs_status
abandon(rs_db_conn *conn, struct claim_op *o, const PGresult *run, struct rs_error *err)
{
    char message[200];
    const char *params[2];
    int kind = (int)sync_col_int64(run, 0, 3);
    int attempts = (int)sync_col_int64(run, 0, 5);
    rs_status rc;

    if (kind == SYNC_KIND_DELETE || kind == SYNC_KIND_CLEAR)
        snprintf(message, sizeof(message),
                 "run abandoned: the request that ran it stopped before it finished");
    else
        snprintf(message, sizeof(message),
                 "run abandoned after %d attempts: each worker holding it stopped before "
                 "it finished",
                 attempts);
    params[0] = PQgetvalue(run, 0, 0);
    params[1] = message;
    rc = rs_db_query(conn, "sync.run_abandon",
                     "UPDATE sync.runs SET status = 6, finished_at = now(), "
                     "error_reason = 'RUN_ABANDONED', error_message = $2, "
                     "lease_expires_at = NULL WHERE id = $1",
                     2, params, NULL, err);
    if (rc == RS_OK) {
        struct rs_log_ctx log = { PQgetvalue(run, 0, 0), "abandon", NULL };

        rs_log_warn(&log, "run abandoned", "source_id", PQgetvalue(run, 0, 2), NULL);
        o->abandoned = true;
    }
    return rc;
}

static rs_status
claim_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct claim_op *o = arg;
    struct sync_job_state *st;
    const char *params[1];
    PGresult *run = NULL;
    PGresult *res = NULL;
    int64_t token = 0;
    bool takeover;
    int kind;
    rs_status rc;

    o->st = NULL;
    o->abandoned = false;
    rc = rs_db_query(conn, "sync.run_claim",
                     "SELECT r.id, r.organization_id, r.source_id, r.kind, r.status, "
                     "r.attempts, r.operator_user_id, r.request::text FROM sync.runs r "
                     "WHERE r.status IN (1, 2) AND (r.lease_expires_at IS NULL "
                     "OR r.lease_expires_at < clock_timestamp()) "
                     "ORDER BY r.created_at LIMIT 1 FOR UPDATE OF r SKIP LOCKED",
                     0, NULL, &run, err);
    if (rc != RS_OK || PQntuples(run) == 0)
        goto out;
    rc = sync_lease_take(conn, o->svc, PQgetvalue(run, 0, 0), &token, err);
    if (rc != RS_OK || token == 0)
        goto out;
    kind = (int)sync_col_int64(run, 0, 3);
    takeover = sync_col_int64(run, 0, 4) == SYNC_RUNNING;
    if (takeover && (kind == SYNC_KIND_DELETE || kind == SYNC_KIND_CLEAR ||
                     sync_col_int64(run, 0, 5) >= o->svc->settings.max_attempts)) {
        rc = abandon(conn, o, run, err);
        goto out;
    }
    params[0] = PQgetvalue(run, 0, 0);
    rc = rs_db_query(conn, "sync.run_start",
                     "UPDATE sync.runs SET status = 2, attempts = attempts + 1, "
                     "started_at = coalesce(started_at, now()) "
                     "WHERE id = $1 RETURNING attempts, checkpoint",
                     1, params, &res, err);
    if (rc != RS_OK)
        goto out;
    st = sync_job_alloc(o->svc, PQgetvalue(run, 0, 0), PQgetvalue(run, 0, 1),
                        PQgetvalue(run, 0, 2), PQgetvalue(run, 0, 6), kind,
                        PQgetvalue(run, 0, 7));
    if (st == NULL) {
        rc = sync_nomem(err);
        goto out;
    }
    st->job.fencing_token = token;
    st->job.attempt = (int)sync_col_int64(res, 0, 0);
    st->job.checkpoint = (int)sync_col_int64(res, 0, 1);
    o->st = st;
out:
    PQclear(res);
    PQclear(run);
    return rc;
}

/* Puts an interrupted run back to PENDING without a lease (shutdown) and
 * notifies the other replicas, whose idle run threads would otherwise find
 * it only at their next poll. */
static rs_status
hand_back_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct sync_job *job = arg;
    const char *params[2] = { SYNC_NOTIFY_CHANNEL, job->run_id };
    rs_status rc;

    rc = sync_job_check_tx(job, conn, err);
    if (rc == RS_OK)
        rc = sync_lease_release(conn, job, err);
    if (rc == RS_OK)
        rc = rs_db_query(conn, "sync.run_hand_back_notify", "SELECT pg_notify($1, $2)", 2,
                         params, NULL, err);
    return rc;
}

static void
execute(struct sync_service *svc, struct sync_job_state *st)
{
    struct sync_job *job = &st->job;
    struct rs_error err;
    struct rs_error fin;
    char attempt[16];
    char checkpoint[16];
    rs_status rc;

    rs_error_clear(&err);
    rs_error_clear(&fin);
    snprintf(attempt, sizeof(attempt), "%d", job->attempt);
    snprintf(checkpoint, sizeof(checkpoint), "%d", job->checkpoint);
    rs_log_info(&job->log, job->attempt > 1 ? "run resumed" : "run started", "attempt",
                attempt, "checkpoint", checkpoint, "source_id", job->source_id, NULL);
    rc = sync_lease_beat_start(job, &err);
    if (rc == RS_OK) {
        if (job->kind == SYNC_KIND_STRUCTURE)
            rc = sync_exec_structure(job, &err);
        else if (job->kind == SYNC_KIND_SYNC)
            rc = sync_exec_sync(job, &err);
        else
            rc = rs_error_set(&err, RS_EINTERNAL, "INTERNAL",
                              "run kind %d is not run by workers", job->kind);
    }
    if (rc != RS_OK && (atomic_load(&st->lost) || strcmp(err.reason, "LEASE_LOST") == 0)) {
        rs_log_warn(&job->log, "run stopped: its lease was taken over by another worker", NULL);
        sync_job_free(job);
        return;
    }
    if (rc != RS_OK && sync_worker_stopping(svc)) {
        sync_lease_beat_stop(job);
        if (sync_tx(svc, hand_back_body, job, &fin) == RS_OK)
            rs_log_info(&job->log, "run handed back for another replica to resume", NULL);
        else
            rs_log_warn(&job->log, "could not hand the run back; it resumes when its lease "
                                   "expires",
                        "error", fin.message, NULL);
        sync_job_free(job);
        return;
    }
    if (rc != RS_OK)
        rs_log_warn(&job->log, "run failed", "reason", err.reason, "error", err.message, NULL);
    if (sync_job_finish(job, rc == RS_OK ? NULL : &err, NULL, NULL, &fin) != RS_OK)
        rs_log_warn(NULL, "could not record the end of a run", "error", fin.message, NULL);
}

static void
wait_for_work(struct sync_worker *w, unsigned long seen)
{
    struct timespec until = rs_clock_deadline_ms(w->svc->settings.poll_ms);

    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop) && w->wakeups == seen)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->mu);
}

/*
 * Returns freed heap pages to the system, so a replica between runs
 * shrinks toward its idle size (glibc keeps them otherwise). It locks each
 * malloc arena in turn, which may briefly delay allocations of other threads.
 */
static void
give_back_memory(void)
{
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
}

static void *
worker_main(void *arg)
{
    struct sync_worker *w = arg;
    struct sync_service *svc = w->svc;

    while (!atomic_load(&w->stop)) {
        struct claim_op o = { svc, NULL, false };
        struct rs_error err;
        unsigned long seen;

        pthread_mutex_lock(&w->mu);
        seen = w->wakeups;
        pthread_mutex_unlock(&w->mu);
        rs_error_clear(&err);
        if (sync_tx(svc, claim_body, &o, &err) != RS_OK) {
            rs_log_warn(NULL, "could not look for runs", "error", err.message, NULL);
            wait_for_work(w, seen);
            continue;
        }
        if (o.st != NULL) {
            execute(svc, o.st);
            give_back_memory();
            continue;
        }
        if (!o.abandoned)
            wait_for_work(w, seen);
    }
    return NULL;
}

/* --- LISTEN --- */

static void
on_notify(void *arg, const char *payload)
{
    (void)payload;
    wake_all(arg);
}

static void
on_listening(void *arg, bool on)
{
    /* Notifications sent while no connection listened are lost, so look now. */
    if (on)
        wake_all(arg);
}

rs_status
sync_worker_start(struct sync_service *svc, const char *conninfo, struct rs_error *err)
{
    struct sync_worker *w = calloc(1, sizeof(*w));
    struct rs_db_listen_hooks hooks = { on_notify, on_listening, NULL };
    rs_status rc;
    int i;

    if (w == NULL)
        return sync_nomem(err);
    w->svc = svc;
    w->threads = calloc((size_t)svc->settings.workers, sizeof(pthread_t));
    if (w->threads == NULL) {
        free(w);
        return sync_nomem(err);
    }
    atomic_init(&w->stop, false);
    pthread_mutex_init(&w->mu, NULL);
    rs_cond_init_monotonic(&w->cv);
    svc->worker = w;
    hooks.arg = w;
    rc = rs_db_listen_start(conninfo, SYNC_NOTIFY_CHANNEL, "roster-sync-listen", &hooks,
                            &w->listener, err);
    if (rc != RS_OK) {
        sync_worker_stop(svc);
        return rc;
    }
    for (i = 0; i < svc->settings.workers; i++) {
        if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
            break;
        w->n_threads++;
    }
    if (w->n_threads == 0) {
        sync_worker_stop(svc);
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL", "could not start run threads");
    }
    return RS_OK;
}

void
sync_worker_request_stop(void *arg)
{
    struct sync_service *svc = arg;

    if (svc->worker == NULL)
        return;
    atomic_store(&svc->worker->stop, true);
    wake_all(svc->worker);
}

void
sync_worker_stop(struct sync_service *svc)
{
    struct sync_worker *w = svc->worker;
    int i;

    if (w == NULL)
        return;
    atomic_store(&w->stop, true);
    wake_all(w);
    for (i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    rs_db_listen_stop(w->listener);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->threads);
    free(w);
    svc->worker = NULL;
}
