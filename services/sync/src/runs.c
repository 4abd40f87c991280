/*
 * services/sync/src/runs.c
 *    Run records: reading a run as a message, and the fenced writes of a
 *    run in progress (items, counts, checkpoint, warnings, the end).
 *    Every write first locks the run's row and compares the fencing
 *    token, so a holder that lost the lease writes nothing.
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "roster/buf.h"
#include "roster/str.h"

const char sync_run_columns[] =
    "r.id, r.organization_id, r.source_id, r.kind, r.status, r.trigger, "
    "r.operator_user_id, " SYNC_US("r.created_at") ", " SYNC_US("r.started_at") ", "
    SYNC_US("r.finished_at") ", r.total_items, r.done_items, r.n_created, r.n_updated, "
    "r.n_unchanged, r.n_failed, r.n_flagged, r.n_deleted, r.error_reason, "
    "r.error_message, array_to_json(r.warnings)::text, r.attempts, r.fencing_token, "
    "coalesce((r.request->>'force')::boolean, false)";

static char **
parse_warnings(rs_arena *arena, const char *text, size_t *n)
{
    json_t *arr = json_loads(text, 0, NULL);
    char **out = NULL;
    size_t i;

    *n = 0;
    if (arr == NULL || !json_is_array(arr) || json_array_size(arr) == 0)
        goto out;
    out = rs_arena_alloc(arena, json_array_size(arr) * sizeof(char *));
    if (out == NULL)
        goto out;
    for (i = 0; i < json_array_size(arr); i++) {
        const char *w = json_string_value(json_array_get(arr, i));

        out[*n] = rs_arena_strdup(arena, w != NULL ? w : "");
        if (out[*n] != NULL)
            (*n)++;
    }
out:
    json_decref(arr);
    return out;
}

Roster__Sync__V1__Run *
sync_run_from_row(rs_arena *arena, const PGresult *res, int row)
{
    Roster__Sync__V1__Run *run = rs_arena_alloc(arena, sizeof(*run));
    Roster__Sync__V1__RunCounts *c = rs_arena_alloc(arena, sizeof(*c));

    if (run == NULL || c == NULL)
        return NULL;
    roster__sync__v1__run__init(run);
    roster__sync__v1__run_counts__init(c);
    run->run_id = sync_col_str(arena, res, row, 0);
    run->organization_id = sync_col_str(arena, res, row, 1);
    run->source_id = sync_col_str(arena, res, row, 2);
    run->kind = (Roster__Sync__V1__RunKind)sync_col_int64(res, row, 3);
    run->status = (Roster__Sync__V1__RunStatus)sync_col_int64(res, row, 4);
    run->trigger = (Roster__Sync__V1__RunTrigger)sync_col_int64(res, row, 5);
    run->operator_user_id = sync_col_str(arena, res, row, 6);
    run->create_time = sync_col_time(arena, res, row, 7);
    run->start_time = sync_col_time(arena, res, row, 8);
    run->finish_time = sync_col_time(arena, res, row, 9);
    if (!PQgetisnull(res, row, 8) && !PQgetisnull(res, row, 9))
        run->duration_ms = (sync_col_int64(res, row, 9) - sync_col_int64(res, row, 8)) / 1000;
    run->total_items = (int32_t)sync_col_int64(res, row, 10);
    run->done_items = (int32_t)sync_col_int64(res, row, 11);
    c->created = (int32_t)sync_col_int64(res, row, 12);
    c->updated = (int32_t)sync_col_int64(res, row, 13);
    c->unchanged = (int32_t)sync_col_int64(res, row, 14);
    c->failed = (int32_t)sync_col_int64(res, row, 15);
    c->flagged = (int32_t)sync_col_int64(res, row, 16);
    c->deleted = (int32_t)sync_col_int64(res, row, 17);
    run->counts = c;
    run->error_reason = sync_col_str(arena, res, row, 18);
    run->error_message = sync_col_str(arena, res, row, 19);
    run->warnings = parse_warnings(arena, PQgetvalue(res, row, 20), &run->n_warnings);
    run->attempts = (int32_t)sync_col_int64(res, row, 21);
    run->fencing_token = sync_col_int64(res, row, 22);
    run->forced = strcmp(PQgetvalue(res, row, 23), "t") == 0;
    if (run->run_id == NULL || run->organization_id == NULL || run->source_id == NULL ||
        run->operator_user_id == NULL || run->error_reason == NULL ||
        run->error_message == NULL)
        return NULL;
    return run;
}

rs_status
sync_run_load(rs_db_conn *conn, rs_arena *arena, const char *org_id, const char *run_id,
              Roster__Sync__V1__Run **out, struct rs_error *err)
{
    char sql[1024];
    const char *params[2] = { run_id, org_id };
    PGresult *res = NULL;
    rs_status rc;

    rc = rs_validate_id("run_id", run_id, err);
    if (rc != RS_OK)
        return rc;
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM sync.runs r WHERE r.id = $1 AND r.organization_id = $2",
             sync_run_columns);
    rc = rs_db_query_arena(conn, arena, "sync.run_load", sql, 2, params, &res, err);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) == 0) {
        rs_error_set(err, RS_ENOTFOUND, "RUN_NOT_FOUND", "run \"%s\" not found", run_id);
        rs_error_meta(err, "run_id", run_id);
        return RS_ENOTFOUND;
    }
    *out = sync_run_from_row(arena, res, 0);
    return *out == NULL ? sync_nomem(err) : RS_OK;
}

static const char *
count_column(int outcome)
{
    switch (outcome) {
    case SYNC_CREATED:
        return "n_created";
    case SYNC_UPDATED:
        return "n_updated";
    case SYNC_FAILED_ITEM:
        return "n_failed";
    case SYNC_FLAGGED:
        return "n_flagged";
    case SYNC_DELETED:
        return "n_deleted";
    default:
        return NULL;
    }
}

static const char *
or_empty(const char *s)
{
    return s != NULL ? s : "";
}

rs_status
sync_job_item_tx(struct sync_job *job, rs_db_conn *conn, const struct sync_item *item,
                 struct rs_error *err)
{
    rs_status rc;

    rc = sync_job_check_tx(job, conn, err);
    if (rc != RS_OK)
        return rc;
    return sync_job_items_tx(job, conn, item, 1, 0, item->seq + 1, err);
}

rs_status
sync_job_items_tx(struct sync_job *job, rs_db_conn *conn, const struct sync_item *items,
                  size_t n, int n_unchanged, int next_seq, struct rs_error *err)
{
    struct rs_buf col[9];
    char unchanged[16];
    char next[16];
    const char *params[12];
    size_t i;
    int k;
    rs_status rc = RS_OK;

    rs_buf_arrays_open(col, 9);
    for (i = 0; i < n; i++) {
        const struct sync_item *it = &items[i];
        char num[3][16];

        if (count_column(it->outcome) == NULL || (it->node_kind != 1 && it->node_kind != 2)) {
            rc = rs_error_set(err, RS_EINTERNAL, "INTERNAL",
                              "invalid run item: outcome %d, node kind %d", it->outcome,
                              it->node_kind);
            goto out;
        }
        snprintf(num[0], sizeof(num[0]), "%d", it->seq);
        snprintf(num[1], sizeof(num[1]), "%d", it->node_kind);
        snprintf(num[2], sizeof(num[2]), "%d", it->outcome);
        rs_buf_elem(&col[0], num[0]);
        rs_buf_elem(&col[1], num[1]);
        rs_buf_elem(&col[2], or_empty(it->external_id));
        rs_buf_elem(&col[3], or_empty(it->name));
        rs_buf_elem(&col[4], num[2]);
        rs_buf_elem(&col[5], or_empty(it->user_id));
        rs_buf_elem(&col[6], or_empty(it->group_id));
        rs_buf_elem(&col[7], or_empty(it->reason));
        rs_buf_elem(&col[8], or_empty(it->message));
    }
    if (!rs_buf_arrays_close(col, 9)) {
        rc = sync_nomem(err);
        goto out;
    }
    params[0] = job->run_id;
    for (k = 0; k < 9; k++)
        params[k + 1] = col[k].data;
    snprintf(unchanged, sizeof(unchanged), "%d", n_unchanged);
    snprintf(next, sizeof(next), "%d", next_seq);
    params[10] = unchanged;
    params[11] = next;
    rc = rs_db_query(
        conn, "sync.items_record",
        "WITH ins AS (INSERT INTO sync.run_items (run_id, seq, node_kind, external_id, name, "
        "outcome, user_id, group_id, reason, message) SELECT $1, x.* FROM unnest($2::int[], "
        "$3::smallint[], $4::text[], $5::text[], $6::smallint[], $7::text[], $8::text[], "
        "$9::text[], $10::text[]) AS x ON CONFLICT (run_id, seq) DO NOTHING RETURNING outcome), "
        "c AS (SELECT count(*) FILTER (WHERE outcome = 1) AS c1, "
        "count(*) FILTER (WHERE outcome = 2) AS c2, count(*) FILTER (WHERE outcome = 3) AS c3, "
        "count(*) FILTER (WHERE outcome = 4) AS c4, count(*) FILTER (WHERE outcome = 5) AS c5, "
        "count(*) AS n FROM ins) "
        "UPDATE sync.runs r SET n_created = n_created + c.c1, n_updated = n_updated + c.c2, "
        "n_failed = n_failed + c.c3, n_flagged = n_flagged + c.c4, "
        "n_deleted = n_deleted + c.c5, n_unchanged = n_unchanged + $11::int, "
        "done_items = done_items + c.n + $11::int, "
        "checkpoint = greatest(checkpoint, $12::int) FROM c WHERE r.id = $1",
        12, params, NULL, err);
out:
    rs_buf_arrays_free(col, 9);
    return rc;
}

struct item_op {
    struct sync_job *job;
    const struct sync_item *item;
};

static rs_status
item_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct item_op *o = arg;

    return sync_job_item_tx(o->job, conn, o->item, err);
}

rs_status
sync_job_item(struct sync_job *job, const struct sync_item *item, struct rs_error *err)
{
    struct item_op o = { job, item };

    return sync_tx(job->svc, item_body, &o, err);
}

/* One fenced UPDATE of the run: sql with $1 = run id and $2 = arg. */
struct update_op {
    struct sync_job *job;
    const char *stmt;
    const char *sql;
    const char *arg1;
    const char *arg2;
};

static rs_status
update_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct update_op *o = arg;
    const char *params[3] = { o->job->run_id, o->arg1, o->arg2 };
    rs_status rc;

    rc = sync_job_check_tx(o->job, conn, err);
    if (rc != RS_OK)
        return rc;
    return rs_db_query(conn, o->stmt, o->sql, o->arg2 != NULL ? 3 : 2, params, NULL, err);
}

rs_status
sync_job_unchanged(struct sync_job *job, int n, int next_seq, struct rs_error *err)
{
    char n_text[16];
    char seq_text[16];
    struct update_op o = { job, "sync.job_unchanged",
                           "UPDATE sync.runs SET n_unchanged = n_unchanged + $2::int, "
                           "done_items = done_items + $2::int, "
                           "checkpoint = greatest(checkpoint, $3::int) WHERE id = $1",
                           n_text, seq_text };

    snprintf(n_text, sizeof(n_text), "%d", n);
    snprintf(seq_text, sizeof(seq_text), "%d", next_seq);
    return sync_tx(job->svc, update_body, &o, err);
}

rs_status
sync_job_set_total(struct sync_job *job, int total, struct rs_error *err)
{
    char text[16];
    struct update_op o = { job, "sync.job_total",
                           "UPDATE sync.runs SET total_items = $2::int WHERE id = $1", text,
                           NULL };

    snprintf(text, sizeof(text), "%d", total);
    return sync_tx(job->svc, update_body, &o, err);
}

rs_status
sync_job_warn(struct sync_job *job, const char *warning, struct rs_error *err)
{
    /* A resumed run may repeat a warning of the holder before it: keep one. */
    struct update_op o = { job, "sync.job_warn",
                           "UPDATE sync.runs SET warnings = warnings || $2::text "
                           "WHERE id = $1 AND NOT ($2::text = ANY (warnings))",
                           warning, NULL };

    return sync_tx(job->svc, update_body, &o, err);
}

struct inline_op {
    struct sync_service *svc;
    const char *org_id;
    const char *source_id;
    int kind;
    const char *operator_id;
    const char *request_json;
    char run_id[33];
    int64_t token;
};

static rs_status
inline_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct inline_op *o = arg;
    char kind[8];
    char ms[16];
    const char *params[8];
    PGresult *res = NULL;
    bool inserted;
    rs_status rc;

    rs_id_new(o->run_id);
    snprintf(kind, sizeof(kind), "%d", o->kind);
    snprintf(ms, sizeof(ms), "%d", o->svc->settings.lease_ms);
    params[0] = o->run_id;
    params[1] = o->org_id;
    params[2] = o->source_id;
    params[3] = kind;
    params[4] = o->operator_id;
    params[5] = o->request_json != NULL ? o->request_json : "{}";
    params[6] = o->svc->holder;
    params[7] = ms;
    /* Inserted with its lease taken (fencing token 1), like a claimed run. */
    rc = rs_db_query(conn, "sync.run_insert_inline",
                     "INSERT INTO sync.runs (id, organization_id, source_id, kind, status, "
                     "operator_user_id, request, started_at, attempts, fencing_token, "
                     "lease_holder, lease_expires_at) VALUES ($1, $2, $3, $4, 2, $5, "
                     "$6::jsonb, now(), 1, 1, $7, "
                     "clock_timestamp() + $8::int * interval '1 millisecond') "
                     "ON CONFLICT (source_id) WHERE status IN (1, 2) DO NOTHING "
                     "RETURNING fencing_token",
                     8, params, &res, err);
    if (rc != RS_OK)
        return rc;
    inserted = PQntuples(res) == 1;
    if (inserted)
        o->token = sync_col_int64(res, 0, 0);
    PQclear(res);
    if (!inserted) {
        rs_error_set(err, RS_EPRECOND, "SYNC_RUNNING",
                     "another run of source \"%s\" is pending or running; try again when "
                     "it has finished",
                     o->source_id);
        rs_error_meta(err, "source_id", o->source_id);
        return RS_EPRECOND;
    }
    return RS_OK;
}

rs_status
sync_job_begin_inline(struct sync_service *svc, const char *org_id, const char *source_id,
                      int kind, const char *operator_id, const char *request_json,
                      struct sync_job **out, struct rs_error *err)
{
    struct inline_op o = { svc, org_id, source_id, kind, operator_id, request_json, "", 0 };
    struct sync_job_state *st;
    rs_status rc;

    *out = NULL;
    rc = sync_tx(svc, inline_body, &o, err);
    if (rc != RS_OK)
        return rc;
    st = sync_job_alloc(svc, o.run_id, org_id, source_id, operator_id, kind, request_json);
    if (st == NULL)
        return sync_nomem(err);
    st->job.attempt = 1;
    st->job.fencing_token = o.token;
    rc = sync_lease_beat_start(&st->job, err);
    if (rc != RS_OK) {
        sync_job_free(&st->job);
        return rc;
    }
    *out = &st->job;
    return RS_OK;
}

struct finish_op {
    struct sync_job *job;
    const struct rs_error *failure;
    rs_arena *arena;
    Roster__Sync__V1__Run *run;
};

static rs_status
finish_body(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct finish_op *o = arg;
    struct sync_job *job = o->job;
    const char *params[4];
    rs_status rc;

    rc = sync_job_check_tx(job, conn, err);
    if (rc != RS_OK)
        return rc;
    params[0] = job->run_id;
    params[1] = o->failure != NULL ? "1" : "0";
    params[2] = o->failure != NULL ? o->failure->reason : "";
    params[3] = o->failure != NULL ? o->failure->message : "";
    /* The status and finish time written here are also the source's
     * structure time (SYNC_STRUCTURE_AT), so nothing else is written. */
    rc = rs_db_query(conn, "sync.run_finish",
                     "UPDATE sync.runs SET status = CASE WHEN $2 = '1' THEN 5 "
                     "WHEN n_failed > 0 THEN 4 ELSE 3 END, finished_at = now(), "
                     "error_reason = $3, error_message = $4, lease_expires_at = NULL "
                     "WHERE id = $1",
                     4, params, NULL, err);
    if (rc == RS_OK && o->arena != NULL)
        rc = sync_run_load(conn, o->arena, job->org_id, job->run_id, &o->run, err);
    return rc;
}

rs_status
sync_job_finish(struct sync_job *job, const struct rs_error *failure, rs_arena *arena,
                Roster__Sync__V1__Run **run, struct rs_error *err)
{
    struct finish_op o = { job, failure, run != NULL ? arena : NULL, NULL };
    rs_status rc;

    sync_lease_beat_stop(job);
    rc = sync_tx(job->svc, finish_body, &o, err);
    if (rc == RS_OK) {
        rs_log_info(&job->log, "run finished", "outcome",
                    failure != NULL ? failure->reason : "ok", NULL);
        if (run != NULL)
            *run = o.run;
    }
    sync_job_free(job);
    return rc;
}
