/*
 * services/identity/src/groups_batch.c
 *    CreateUserGroups: many groups in one transaction. The checks of
 *    CreateUserGroup run once per batch as set queries, so a batch costs
 *    the same few statements for 1 or 1000 entries. A rejected entry gets
 *    its error in its result and the others go on.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookups.h"
#include "roster/buf.h"
#include "roster/str.h"
#include "validate.h"

struct group_entry {
    const Roster__Identity__V1__CreateUserGroupRequest *in;
    Roster__Identity__V1__CreateUserGroupRequest req; /* in, under the request's organisation */
    char id[RS_ID_LEN + 1];
    struct rs_error invalid; /* found before the transaction */
    struct rs_error fail;    /* found inside it, and cleared when it is retried */
    int depth;               /* of the new group, set by check_parents */
    Roster__Identity__V1__UserGroup *created;
};

struct group_batch {
    struct rs_call *call;
    const char *org_id;
    struct group_entry *e;
    size_t n;
    ProtobufCMessage *resp; /* built inside the transaction */
};

static bool
alive(const struct group_entry *e)
{
    return e->invalid.code == RS_OK && e->fail.code == RS_OK;
}

static bool
any_alive(const struct group_batch *b)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (alive(&b->e[i]))
            return true;
    return false;
}

static rs_status
query_arrays(rs_db_conn *conn, struct group_batch *b, const char *name, const char *sql,
             struct rs_buf *arrays, int n, PGresult **res, struct rs_error *err)
{
    return identity_query_arrays(conn, rs_call_arena(b->call), name, sql, &b->org_id, 1, arrays,
                                 n, res, err);
}

/*
 * Loads the groups whose ids are in arrays[0], sorted by id so that
 * identity_find_row can search the rows. lock takes the parent lock of
 * CreateUserGroup on each.
 */
static rs_status
load_groups(rs_db_conn *conn, struct group_batch *b, struct rs_buf *arrays, bool lock,
            PGresult **res, struct rs_error *err)
{
    return query_arrays(conn, b, lock ? "identity.groups_batch_parents"
                                      : "identity.groups_batch_read_back",
                        lock ? IDENTITY_SQL_GROUPS_BATCH_PARENTS
                             : IDENTITY_SQL_GROUPS_BATCH_READ_BACK,
                        arrays, 1, res, err);
}

/*
 * Loads and locks every parent in one query, then rejects the entries whose
 * parent is missing, synchronized or too deep, as CreateUserGroup does.
 */
static rs_status
check_parents(rs_db_conn *conn, struct group_batch *b, struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(b->call);
    Roster__Identity__V1__UserGroup **parents;
    struct rs_buf arrays[1];
    PGresult *res = NULL;
    bool any = false;
    size_t i;
    int r;
    rs_status rc;

    rs_buf_arrays_open(arrays, 1);
    for (i = 0; i < b->n; i++) {
        b->e[i].depth = 1;
        if (alive(&b->e[i]) && b->e[i].req.parent_group_id[0] != '\0') {
            rs_buf_elem(&arrays[0], b->e[i].req.parent_group_id);
            any = true;
        }
    }
    if (!any) {
        rs_buf_arrays_free(arrays, 1);
        return RS_OK;
    }
    rc = load_groups(conn, b, arrays, true, &res, err);
    if (rc != RS_OK)
        return rc;
    parents = rs_arena_alloc(arena, sizeof(*parents) * (size_t)(PQntuples(res) + 1));
    if (parents == NULL)
        return identity_nomem(err);
    for (r = 0; r < PQntuples(res); r++) {
        parents[r] = identity_group_from_row(arena, res, r);
        if (parents[r] == NULL)
            return identity_nomem(err);
    }
    for (i = 0; i < b->n; i++) {
        struct group_entry *e = &b->e[i];

        if (!alive(e) || e->req.parent_group_id[0] == '\0')
            continue;
        r = identity_find_row(res, e->req.parent_group_id);
        if (r < 0) {
            identity_group_not_found(b->org_id, e->req.parent_group_id, &e->fail);
            continue;
        }
        if (identity_check_group_parent(b->call, parents[r], &e->depth, &e->fail) != RS_OK)
            continue; /* e->fail contains the reason */
    }
    return RS_OK;
}

/* Orders entries by parent id, then name, then position in the batch. */
static int
compare_siblings(const void *a, const void *b)
{
    const struct group_entry *x = *(const struct group_entry *const *)a;
    const struct group_entry *y = *(const struct group_entry *const *)b;
    int cmp = strcmp(x->req.parent_group_id, y->req.parent_group_id);

    if (cmp == 0)
        cmp = strcmp(x->req.name, y->req.name);
    if (cmp == 0)
        cmp = (x > y) - (x < y);
    return cmp;
}

/*
 * Rejects a name that a sibling in the organisation already has, and a
 * name that an earlier accepted entry under the same parent takes.
 * Rejected entries take no name, so they block nothing.
 */
static rs_status
check_names(rs_db_conn *conn, struct group_batch *b, struct rs_error *err)
{
    struct group_entry **sorted;
    struct rs_buf arrays[3];
    PGresult *res = NULL;
    size_t n_sorted = 0;
    size_t i;
    int r;
    rs_status rc;

    rs_buf_arrays_open(arrays, 3);
    for (i = 0; i < b->n; i++) {
        char index[24];

        if (!alive(&b->e[i]))
            continue;
        snprintf(index, sizeof(index), "%zu", i);
        rs_buf_elem(&arrays[0], b->e[i].req.parent_group_id);
        rs_buf_elem(&arrays[1], b->e[i].req.name);
        rs_buf_elem(&arrays[2], index);
    }
    /* The predicate is that of check_sibling_name in groups.c, and it
     * matches the expressions of the unique index user_groups_sibling_name_key. */
    rc = query_arrays(conn, b, "identity.groups_batch_names_taken",
                      "SELECT x.i FROM unnest($2::text[], $3::text[], $4::int[]) "
                      "AS x(parent_id, name, i) WHERE EXISTS (SELECT 1 "
                      "FROM identity.user_groups g WHERE g.organization_id = $1 "
                      "AND coalesce(g.parent_id, '') = x.parent_id AND g.name = x.name)",
                      arrays, 3, &res, err);
    if (rc != RS_OK)
        return rc;
    for (r = 0; r < PQntuples(res); r++) {
        size_t k = strtoul(PQgetvalue(res, r, 0), NULL, 10);

        if (k < b->n)
            identity_group_name_taken(b->e[k].req.name, &b->e[k].fail);
    }

    /* Every check before this one depends on the entry alone, so in each
     * run of equal (parent, name) pairs sorted by position, the first entry
     * still alive is accepted and takes the name from the rest. */
    sorted = rs_arena_alloc(rs_call_arena(b->call), sizeof(*sorted) * b->n);
    if (sorted == NULL)
        return identity_nomem(err);
    for (i = 0; i < b->n; i++)
        if (alive(&b->e[i]))
            sorted[n_sorted++] = &b->e[i];
    qsort(sorted, n_sorted, sizeof(*sorted), compare_siblings);
    for (i = 1; i < n_sorted; i++)
        if (strcmp(sorted[i]->req.parent_group_id, sorted[i - 1]->req.parent_group_id) == 0 &&
            strcmp(sorted[i]->req.name, sorted[i - 1]->req.name) == 0)
            identity_group_name_taken(sorted[i]->req.name, &sorted[i]->fail);
    return RS_OK;
}

/*
 * Inserts every accepted entry in one statement. A unique violation fails
 * the whole call rather than one entry, because check_names ran under the
 * group tree lock and so none is expected.
 */
static rs_status
insert_all(rs_db_conn *conn, struct group_batch *b, const char *creator_id,
           struct rs_error *err)
{
    const char *scalars[2] = { b->org_id, creator_id };
    struct rs_buf arrays[8];
    size_t i;

    rs_buf_arrays_open(arrays, 8);
    for (i = 0; i < b->n; i++) {
        const struct group_entry *e = &b->e[i];
        const Roster__Identity__V1__SyncSource *src = e->req.sync_source;
        char depth[12];
        char platform[12];

        if (!alive(e))
            continue;
        snprintf(depth, sizeof(depth), "%d", e->depth);
        snprintf(platform, sizeof(platform), "%d", src != NULL ? (int)src->platform : 0);
        rs_buf_elem(&arrays[0], e->id);
        rs_buf_elem(&arrays[1], e->req.parent_group_id[0] != '\0' ? e->req.parent_group_id
                                                                  : NULL);
        rs_buf_elem(&arrays[2], e->req.name);
        rs_buf_elem(&arrays[3], e->req.description);
        rs_buf_elem(&arrays[4], depth);
        rs_buf_elem(&arrays[5], src != NULL ? platform : NULL);
        rs_buf_elem(&arrays[6], src != NULL ? src->corp_id : NULL);
        rs_buf_elem(&arrays[7], src != NULL ? src->department_id : NULL);
    }
    return identity_query_arrays(
        conn, rs_call_arena(b->call), "identity.groups_batch_insert",
        "INSERT INTO identity.user_groups (id, organization_id, parent_id, name, "
        "description, depth, sync_platform, sync_corp_id, sync_department_id, "
        "creator_user_id) "
        "SELECT x.id, $1, x.parent_id, x.name, x.description, x.depth, x.sync_platform, "
        "x.sync_corp_id, x.sync_department_id, $2 "
        "FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], "
        "$8::smallint[], $9::text[], $10::text[]) WITH ORDINALITY AS x(id, parent_id, name, "
        "description, depth, sync_platform, sync_corp_id, sync_department_id, n) "
        "ORDER BY x.n",
        scalars, 2, arrays, 8, NULL, err);
}

/*
 * Reads the inserted groups back into each entry's result. This needs a
 * statement of its own because group_path() reads the table, and the
 * snapshot of the INSERT does not contain the rows it inserts.
 */
static rs_status
read_back(rs_db_conn *conn, struct group_batch *b, struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(b->call);
    struct rs_buf arrays[1];
    PGresult *res = NULL;
    size_t i;
    int r;
    rs_status rc;

    rs_buf_arrays_open(arrays, 1);
    for (i = 0; i < b->n; i++)
        if (alive(&b->e[i]))
            rs_buf_elem(&arrays[0], b->e[i].id);
    rc = load_groups(conn, b, arrays, false, &res, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < b->n; i++) {
        struct group_entry *e = &b->e[i];

        if (!alive(e))
            continue;
        r = identity_find_row(res, e->id);
        if (r < 0)
            return rs_error_set(err, RS_EINTERNAL, "INTERNAL",
                                "user group \"%s\" was inserted but not read back", e->id);
        e->created = identity_group_from_row(arena, res, r);
        if (e->created == NULL)
            return identity_nomem(err);
    }
    return RS_OK;
}

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
    /* Every group tree change takes the tree lock, so the tree that the
     * checks read stays unchanged until commit. */
    if (rc == RS_OK)
        rc = identity_lock_group_tree(conn, b->org_id, err);
    if (rc == RS_OK)
        rc = check_parents(conn, b, err);
    if (rc == RS_OK && any_alive(b))
        rc = check_names(conn, b, err);
    if (rc == RS_OK && any_alive(b)) {
        rc = insert_all(conn, b, actor.user_id, err);
        if (rc == RS_OK)
            rc = read_back(conn, b, err);
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
        rc = rs_name_normalize(rs_call_arena(call), &e->req.name, err);
        if (rc != RS_OK)
            return rc;
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
