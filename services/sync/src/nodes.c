/*
 * services/sync/src/nodes.c
 *    DeleteNode and ClearStructure. Without a token they return the
 *    preview. With the token of an unchanged preview they delete through
 *    identity (groups deepest first, then users), remove the stored nodes
 *    and record the run. The run holds the source's lease, so no sync of
 *    the source runs meanwhile, and the preview is computed again under it.
 */
#include "dataplane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "roster/identity/v1/identity.pb-c.h"

/* Failures of single deletions, by node. */
struct failures {
    struct rs_buf ids, reasons, messages;
};

struct store_op {
    struct sync_job *job;
    int target;
    const char *external_id;
    struct failures *dept_fail;
    struct failures *member_fail;
};

static void
failures_init(struct failures *f)
{
    memset(f, 0, sizeof(*f));
    rs_buf_str(&f->ids, "{");
    rs_buf_str(&f->reasons, "{");
    rs_buf_str(&f->messages, "{");
}

static void
failures_add(struct failures *f, const char *id, const struct rs_error *e)
{
    rs_buf_elem(&f->ids, id);
    rs_buf_elem(&f->reasons, e->reason[0] != '\0' ? e->reason : rs_status_name(e->code));
    rs_buf_elem(&f->messages, e->message);
}

static bool
failures_close(struct failures *f)
{
    rs_buf_str(&f->ids, "}");
    rs_buf_str(&f->reasons, "}");
    rs_buf_str(&f->messages, "}");
    return !f->ids.oom && !f->reasons.oom && !f->messages.oom;
}

static void
failures_free(struct failures *f)
{
    rs_buf_free(&f->ids);
    rs_buf_free(&f->reasons);
    rs_buf_free(&f->messages);
}

static rs_status
preview_changed(struct rs_error *err)
{
    return rs_error_set(err, RS_EPRECOND, "PREVIEW_CHANGED",
                        "the confirmation token does not match the current preview: "
                        "something changed since it was shown; review the new preview and "
                        "confirm again");
}

/* Reads the organisation owner, who may delete any group. Identity lets
 * only the creator or the owner delete a group, and a synced group's
 * creator is the operator of the sync that mirrored it. */
static rs_status
owner_of(struct sync_service *svc, const char *org_id, char out[33], struct rs_error *err)
{
    const char *params[1] = { org_id };
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    rs_status rc;

    out[0] = '\0';
    rc = sync_dp_acquire(svc, &conn, err);
    if (rc != RS_OK)
        return rc;
    rc = rs_db_query(conn, "sync.nodes_owner",
                     "SELECT owner_user_id FROM identity.organizations WHERE id = $1", 1, params,
                     &res, err);
    rs_db_release(svc->pool, conn);
    if (rc != RS_OK)
        return rc;
    if (PQntuples(res) > 0)
        snprintf(out, 33, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return RS_OK;
}

static void
delete_groups(struct sync_job *job, rs_arena *arena, const struct sync_dp_preview *p,
              struct failures *fail)
{
    Roster__Identity__V1__DeleteUserGroupRequest req = ROSTER__IDENTITY__V1__DELETE_USER_GROUP_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    char owner[33] = "";
    struct rs_error e;
    size_t i;
    rs_status rc;

    req.organization_id = job->org_id;
    for (i = 0; i < p->msg.n_group_ids; i++) {
        req.group_id = p->msg.group_ids[i];
        rc = sync_dp_call(job->svc, false, job->operator_id, "DeleteUserGroup", &req.base,
                          &roster__identity__v1__delete_user_group_response__descriptor, arena,
                          &resp, &e);
        if (rc != RS_OK && strcmp(e.reason, "NOT_GROUP_CREATOR") == 0 &&
            (owner[0] != '\0' || owner_of(job->svc, job->org_id, owner, &e) == RS_OK) &&
            owner[0] != '\0')
            rc = sync_dp_call(job->svc, false, owner, "DeleteUserGroup", &req.base,
                              &roster__identity__v1__delete_user_group_response__descriptor,
                              arena, &resp, &e);
        if (rc != RS_OK && strcmp(e.reason, "GROUP_NOT_FOUND") != 0)
            failures_add(fail, p->group_depts[i], &e);
    }
}

static void
delete_users(struct sync_job *job, rs_arena *arena, const struct sync_dp_preview *p,
             const char *userid, struct failures *fail)
{
    Roster__Identity__V1__DeleteUserRequest req = ROSTER__IDENTITY__V1__DELETE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rs_error e;
    size_t i;

    req.organization_id = job->org_id;
    for (i = 0; i < p->msg.n_user_ids; i++) {
        req.user_id = p->msg.user_ids[i];
        if (sync_dp_call(job->svc, false, job->operator_id, "DeleteUser", &req.base,
                         &roster__identity__v1__delete_user_response__descriptor, arena, &resp,
                         &e) != RS_OK &&
            strcmp(e.reason, "USER_NOT_FOUND") != 0)
            failures_add(fail, userid, &e);
    }
}

/* Records the items and removes the stored nodes that went, in one fenced
 * transaction; a node whose deletion failed stays stored. */
static rs_status
store_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct store_op *op = arg;
    struct sync_job *job = op->job;
    const char *params[8];
    rs_status rc;

    params[0] = job->source_id;
    params[1] = op->target == SYNC_DP_DEPARTMENT ? op->external_id : NULL;
    params[2] = op->dept_fail->ids.data;
    params[3] = op->dept_fail->reasons.data;
    params[4] = op->dept_fail->messages.data;
    params[5] = op->target == SYNC_DP_MEMBER ? op->external_id : NULL;
    params[6] = op->member_fail->ids.data;
    params[7] = op->member_fail->reasons.data;
    rc = sync_job_check_tx(job, conn, err);
    if (rc == RS_OK)
        rc = sync_dp_items_table(conn, err);
    if (rc == RS_OK && op->target != SYNC_DP_MEMBER)
        rc = rs_db_query(conn, "sync.nodes_items_depts",
                         "WITH RECURSIVE t (dept_id) AS ("
                         " SELECT dept_id FROM sync.departments WHERE source_id = $1 "
                         " AND ($2::bigint IS NULL OR dept_id = $2::bigint) "
                         " UNION SELECT d.dept_id FROM sync.departments d "
                         " JOIN t ON d.parent_id = t.dept_id "
                         " WHERE d.source_id = $1 AND $2::bigint IS NOT NULL), "
                         "f AS (SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) "
                         " AS f (id, reason, message)) "
                         "INSERT INTO sync_dp_items SELECT 2, d.dept_id::text, d.name, "
                         "CASE WHEN f.id IS NULL THEN 5 ELSE 3 END, NULL, d.group_id, "
                         "f.reason, f.message, d.dept_id, '' FROM t JOIN sync.departments d "
                         "ON d.source_id = $1 AND d.dept_id = t.dept_id "
                         "LEFT JOIN f ON f.id = d.dept_id::text",
                         5, params, NULL, err);
    if (rc == RS_OK && op->target != SYNC_DP_DEPARTMENT) {
        const char *mp[5] = { params[0], params[5], params[6], params[7],
                              op->member_fail->messages.data };

        rc = rs_db_query(conn, "sync.nodes_items_members",
                         "WITH f AS (SELECT * FROM unnest($3::text[], $4::text[], $5::text[]) "
                         " AS f (id, reason, message)) "
                         "INSERT INTO sync_dp_items SELECT 1, m.userid, m.name, "
                         "CASE WHEN f.id IS NULL THEN 5 ELSE 3 END, m.user_id, NULL, "
                         "f.reason, f.message, 0, m.userid FROM sync.members m "
                         "LEFT JOIN f ON f.id = m.userid WHERE m.source_id = $1 "
                         "AND ($2::text IS NULL OR m.userid = $2)",
                         5, mp, NULL, err);
    }
    if (rc == RS_OK)
        rc = rs_db_query(conn, "sync.nodes_remove",
                         "WITH gone_d AS (SELECT k1 FROM sync_dp_items WHERE node_kind = 2 "
                         " AND outcome = 5), "
                         "gone_m AS (SELECT k2 FROM sync_dp_items WHERE node_kind = 1 "
                         " AND outcome = 5), "
                         "md AS (DELETE FROM sync.member_departments x USING gone_d "
                         " WHERE x.source_id = $1 AND x.dept_id = gone_d.k1), "
                         "mm AS (DELETE FROM sync.member_departments x USING gone_m "
                         " WHERE x.source_id = $1 AND x.userid = gone_m.k2), "
                         "d AS (DELETE FROM sync.departments x USING gone_d "
                         " WHERE x.source_id = $1 AND x.dept_id = gone_d.k1) "
                         "DELETE FROM sync.members x USING gone_m "
                         "WHERE x.source_id = $1 AND x.userid = gone_m.k2",
                         1, params, NULL, err);
    if (rc == RS_OK)
        rc = sync_dp_record_items(job, conn, 0, 0, NULL, err);
    return rc;
}

static char *
request_json(int target, const char *external_id)
{
    json_t *o = json_pack("{s:i,s:s}", "node_kind", target,
                          "external_id", external_id != NULL ? external_id : "");
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

    json_decref(o);
    return s;
}

/* The confirmed deletion, holding the lease. */
static rs_status
confirm(struct rs_call *call, const struct sync_actor *actor,
        const struct sync_dp_source *src, int target, const char *external_id,
        const char *token, Roster__Sync__V1__DeleteNodeResponse *out, struct rs_error *err)
{
    struct sync_service *svc = rs_call_user_data(call);
    rs_arena *arena = rs_call_arena(call);
    struct failures dept_fail;
    struct failures member_fail;
    struct sync_dp_preview *p;
    struct sync_job *job = NULL;
    struct store_op op;
    struct rs_error failure;
    rs_db_conn *conn = NULL;
    char *req_json;
    rs_status rc;

    failures_init(&dept_fail);
    failures_init(&member_fail);
    rs_error_clear(&failure);
    p = rs_arena_alloc(arena, sizeof(*p));
    req_json = request_json(target, external_id);
    if (p == NULL || req_json == NULL) {
        free(req_json);
        rc = sync_nomem(err);
        goto out;
    }
    rc = sync_job_begin_inline(svc, src->org_id, src->source_id,
                               target == SYNC_DP_CLEAR ? SYNC_KIND_CLEAR : SYNC_KIND_DELETE,
                               actor->user_id, req_json, &job, err);
    free(req_json);
    if (rc != RS_OK)
        goto out;
    rc = sync_dp_acquire(svc, &conn, &failure);
    if (rc == RS_OK)
        rc = sync_dp_preview(conn, arena, src, target, external_id, p, &failure);
    rs_db_release(svc->pool, conn);
    if (rc == RS_OK && strcmp(p->msg.confirmation_token, token) != 0)
        rc = preview_changed(&failure);
    if (rc == RS_OK) {
        delete_groups(job, arena, p, &dept_fail);
        delete_users(job, arena, p, external_id, &member_fail);
        if (!failures_close(&dept_fail) || !failures_close(&member_fail))
            rc = sync_nomem(&failure);
    }
    if (rc == RS_OK) {
        op.job = job;
        op.target = target;
        op.external_id = external_id;
        op.dept_fail = &dept_fail;
        op.member_fail = &member_fail;
        rc = sync_tx(svc, store_tx, &op, &failure);
    }
    if (rc == RS_OK) {
        out->preview = &p->msg;
        rc = sync_job_finish(job, NULL, arena, &out->run, err);
    } else {
        struct rs_error finish_err;

        *err = failure;
        rs_error_clear(&finish_err);
        /* After LEASE_LOST the run belongs to another holder, so the fenced
         * finish writes nothing. It still frees the job and its heartbeat. */
        if (sync_job_finish(job, &failure, arena, NULL, &finish_err) != RS_OK &&
            strcmp(failure.reason, "LEASE_LOST") != 0)
            rs_log_warn(rs_call_log(call), "could not finish a deletion run", "reason",
                        finish_err.reason, NULL);
    }
out:
    failures_free(&dept_fail);
    failures_free(&member_fail);
    return rc;
}

static rs_status
delete_or_preview(struct rs_call *call, const char *org_id, const char *source_id,
                  int target, const char *external_id, const char *token,
                  ProtobufCMessage **resp, struct rs_error *err)
{
    struct sync_service *svc = rs_call_user_data(call);
    rs_arena *arena = rs_call_arena(call);
    Roster__Sync__V1__DeleteNodeResponse *out;
    struct sync_dp_preview *p;
    struct sync_dp_source src;
    struct sync_actor actor;
    rs_db_conn *conn = NULL;
    rs_status rc;

    out = rs_arena_alloc(arena, sizeof(*out));
    p = rs_arena_alloc(arena, sizeof(*p));
    if (out == NULL || p == NULL)
        return sync_nomem(err);
    roster__sync__v1__delete_node_response__init(out);
    rc = sync_dp_acquire(svc, &conn, err);
    if (rc == RS_OK)
        rc = sync_authorize(conn, call, org_id, SYNC_NEED_ADMIN, &actor, err);
    if (rc == RS_OK)
        rc = sync_dp_load_source(conn, org_id, source_id, false, &src, err);
    if (rc == RS_OK)
        rc = sync_dp_preview(conn, arena, &src, target, external_id, p, err);
    rs_db_release(svc->pool, conn);
    if (rc != RS_OK)
        return rc;
    if (token[0] == '\0') {
        out->preview = &p->msg;
        *resp = &out->base;
        return RS_OK;
    }
    /* Checked before the run starts, so a stale token leaves no record. */
    if (strcmp(p->msg.confirmation_token, token) != 0)
        return preview_changed(err);
    rc = confirm(call, &actor, &src, target, external_id, token, out, err);
    if (rc == RS_OK)
        *resp = &out->base;
    return rc;
}

rs_status
sync_delete_node(struct rs_call *call, const ProtobufCMessage *msg, ProtobufCMessage **resp,
                 struct rs_error *err)
{
    const Roster__Sync__V1__DeleteNodeRequest *req = (const void *)msg;
    int target;

    if (req->node_kind == ROSTER__SYNC__V1__NODE_KIND__NODE_KIND_MEMBER)
        target = SYNC_DP_MEMBER;
    else if (req->node_kind == ROSTER__SYNC__V1__NODE_KIND__NODE_KIND_DEPARTMENT)
        target = SYNC_DP_DEPARTMENT;
    else {
        rs_error_set(err, RS_EINVAL, "FIELD_INVALID",
                     "invalid node_kind: expected MEMBER or DEPARTMENT");
        rs_error_meta(err, "field", "node_kind");
        return RS_EINVAL;
    }
    return delete_or_preview(call, req->organization_id, req->source_id, target,
                             req->external_id, req->confirmation_token, resp, err);
}

rs_status
sync_clear_structure(struct rs_call *call, const ProtobufCMessage *msg,
                     ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Sync__V1__ClearStructureRequest *req = (const void *)msg;

    return delete_or_preview(call, req->organization_id, req->source_id, SYNC_DP_CLEAR, NULL,
                             req->confirmation_token, resp, err);
}
