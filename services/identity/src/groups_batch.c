/*
 * services/identity/src/groups_batch.c
 *    CreateUserGroups: many groups in one transaction. Each entry runs the
 *    checks and insert of CreateUserGroup in turn. A rejected entry leaves
 *    nothing behind and the others go on, and the whole batch costs one
 *    call and one transaction.
 */
#include "identity_int.h"

#include <stdio.h>
#include <string.h>

#include "roster/str.h"
#include "validate.h"

struct group_entry {
    const Roster__Identity__V1__CreateUserGroupRequest *in;
    Roster__Identity__V1__CreateUserGroupRequest req; /* in, under the request's organisation */
    char id[RS_ID_LEN + 1];
    struct rs_error invalid; /* found before the transaction */
    struct rs_error fail;    /* found inside it, and cleared when it is retried */
    Roster__Identity__V1__UserGroup *created;
};

struct group_batch {
    struct rs_call *call;
    const char *org_id;
    struct group_entry *e;
    size_t n;
    ProtobufCMessage *resp; /* built inside the transaction */
};

static rs_status
build_response(struct group_batch *b, struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(b->call);
    Roster__Identity__V1__CreateUserGroupsResponse *out = rs_arena_alloc(arena, sizeof(*out));
    size_t i;

    if (out == NULL)
        return identity_nomem(err);
    roster__identity__v1__create_user_groups_response__init(out);
    out->results = rs_arena_alloc(arena, sizeof(*out->results) * b->n);
    if (out->results == NULL)
        return identity_nomem(err);
    for (i = 0; i < b->n; i++) {
        const struct group_entry *e = &b->e[i];
        Roster__Identity__V1__CreateUserGroupsResult *r = rs_arena_alloc(arena, sizeof(*r));

        if (r == NULL)
            return identity_nomem(err);
        roster__identity__v1__create_user_groups_result__init(r);
        if (e->created != NULL) {
            r->group = e->created;
        } else {
            r->error = identity_entry_error(arena, e->invalid.code != RS_OK ? &e->invalid
                                                                            : &e->fail);
            if (r->error == NULL)
                return identity_nomem(err);
        }
        out->results[out->n_results++] = r;
    }
    b->resp = &out->base;
    return RS_OK;
}

/*
 * Returns true when err rejects the entry rather than failing the
 * transaction: one of the checks that run before the insert, with the
 * transaction still usable.
 */
static bool
entry_rejected(rs_db_conn *conn, const struct rs_error *err)
{
    static const char *const reasons[] = { "GROUP_NOT_FOUND", "GROUP_SYNCHRONIZED",
                                           "GROUP_DEPTH_EXCEEDED", "GROUP_NAME_TAKEN" };
    size_t i;

    if (PQtransactionStatus(rs_db_conn_pg(conn)) != PQTRANS_INTRANS)
        return false;
    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(err->reason, reasons[i]) == 0)
            return true;
    return false;
}

static rs_status
create_groups_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct group_batch *b = arg;
    struct identity_actor actor;
    size_t i;
    rs_status rc;

    for (i = 0; i < b->n; i++) {
        rs_error_clear(&b->e[i].fail);
        b->e[i].created = NULL;
    }
    rc = identity_authorize(conn, b->call, b->org_id, IDENTITY_NEED_ADMIN, &actor, err);
    if (rc == RS_OK)
        rc = identity_lock_group_tree(conn, b->org_id, err);
    for (i = 0; rc == RS_OK && i < b->n; i++) {
        struct group_entry *e = &b->e[i];

        if (e->invalid.code != RS_OK)
            continue;
        /* Every group tree change holds the tree lock, so a check that
         * passed still holds at the insert, and a rejected entry has
         * written nothing: no savepoint is needed. */
        if (identity_insert_group(conn, b->call, &e->req, actor.user_id, e->id, &e->created,
                                  &e->fail) == RS_OK)
            continue;
        e->created = NULL;
        if (!entry_rejected(conn, &e->fail)) {
            *err = e->fail;
            return err->code;
        }
    }
    if (rc == RS_OK)
        rc = build_response(b, err);
    if (rc == RS_OK)
        rc = identity_check_reply_size(b->call, b->resp, b->n, err);
    return rc;
}

rs_status
identity_create_user_groups(struct rs_call *call, const ProtobufCMessage *msg,
                            ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__CreateUserGroupsRequest *req = (const void *)msg;
    struct group_batch b;
    size_t i;
    size_t n_created = 0;
    rs_status rc;

    rc = identity_validate_batch(req->organization_id, req->n_groups, "groups", err);
    if (rc != RS_OK)
        return rc;
    memset(&b, 0, sizeof(b));
    b.call = call;
    b.org_id = req->organization_id;
    b.n = req->n_groups;
    b.e = rs_arena_alloc(rs_call_arena(call), sizeof(*b.e) * b.n);
    if (b.e == NULL)
        return identity_nomem(err);
    for (i = 0; i < b.n; i++) {
        struct group_entry *e = &b.e[i];

        memset(e, 0, sizeof(*e));
        e->in = req->groups[i];
        e->req = *e->in;
        e->req.organization_id = req->organization_id;
        rs_error_clear(&e->invalid);
        rs_error_clear(&e->fail);
        rs_id_new(e->id);
        if (e->in->organization_id[0] != '\0' &&
            strcmp(e->in->organization_id, req->organization_id) != 0) {
            rs_error_set(&e->invalid, RS_EINVAL, "FIELD_INVALID",
                         "organization_id of an entry must be empty or the request's");
            rs_error_meta(&e->invalid, "field", "groups.organization_id");
            continue;
        }
        if (identity_validate_new_group(call, &e->req, &e->invalid) != RS_OK)
            continue; /* reported in the entry's result */
    }
    rc = identity_tx(call, b.org_id, create_groups_tx, &b, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < b.n; i++)
        n_created += b.e[i].created != NULL;
    identity_log_batch(call, "user groups created", b.org_id, n_created, b.n);
    *resp = b.resp;
    return RS_OK;
}
