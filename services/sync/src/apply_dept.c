/*
 * services/sync/src/apply_dept.c
 *    Start Sync for a chunk of departments. One query finds the chunk's
 *    existing synced groups, which are renamed or moved one by one. The
 *    new groups of one tree level are created by one identity
 *    CreateUserGroups call, because a child needs its parent's new id, and
 *    the call is split while a message is too large for identity. A
 *    name that a sibling has is retried once as "<name> (<department id>)".
 *    The chunk's items are recorded in plan order in one transaction.
 */
#include "dataplane.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"
#include "roster/identity/v1/identity.pb-c.h"

struct dept_work {
    struct sync_dp_dept *d;
    int seq;
    bool replay;      /* recorded by an earlier holder: only learn the group */
    char ext[24];     /* the department id as text */
    char *alt_name;   /* "<name> (<department id>)" */
    const char *parent_group;
    char *gid;        /* the existing group, or NULL */
    char *gname;
    char *gparent;
    bool creating;    /* waits for the CreateUserGroups call of its level */
    bool sent;
    struct rs_error fail; /* the item failed unless code is RS_OK */
};

/* The departments of one chunk, applied and recorded together. */
struct dept_chunk {
    struct sync_dp_apply *a;
    rs_arena *arena;
    struct dept_work w[SYNC_DP_DEPT_CHUNK];
    size_t n;
};

/* Finds the existing synced group, if any, of every department of dc in one query. */
static rs_status
find_groups(struct dept_chunk *dc, struct rs_error *err)
{
    struct sync_dp_apply *a = dc->a;
    struct rs_buf arr[3];
    char platform[8];
    const char *params[6];
    rs_db_conn *conn = NULL;
    PGresult *res = NULL;
    size_t i;
    int r;
    int k;
    rs_status rc = RS_OK;

    rs_buf_arrays_open(arr, 3);
    for (i = 0; i < dc->n; i++) {
        char num[24];

        snprintf(num, sizeof(num), "%zu", i);
        rs_buf_elem(&arr[0], num);
        rs_buf_elem(&arr[1], dc->w[i].ext);
        rs_buf_elem(&arr[2], dc->w[i].d->stored_group);
    }
    snprintf(platform, sizeof(platform), "%d", a->src.platform);
    params[0] = a->src.org_id;
    params[1] = platform;
    params[2] = a->src.corp_id;
    if (!rs_buf_arrays_close(arr, 3)) {
        rc = sync_nomem(err);
        goto out;
    }
    for (k = 0; k < 3; k++)
        params[3 + k] = arr[k].data;
    rc = sync_dp_acquire(a->svc, &conn, err);
    if (rc == RS_OK)
        rc = rs_db_query_arena(
            conn, dc->arena, "sync.apply_find_groups",
            "SELECT DISTINCT ON (x.k) x.k, g.id, g.name, coalesce(g.parent_id, '') "
            "FROM unnest($4::int[], $5::text[], $6::text[]) AS x(k, dept, stored) "
            "JOIN identity.user_groups g ON g.organization_id = $1 "
            "AND g.sync_platform = $2::smallint AND g.sync_corp_id = $3 "
            "AND g.sync_department_id = x.dept "
            "ORDER BY x.k, (g.id = x.stored) DESC, g.created_at",
            6, params, &res, err);
    rs_db_release(a->svc->pool, conn);
    for (r = 0; rc == RS_OK && r < PQntuples(res); r++) {
        struct dept_work *w;
        size_t at = (size_t)atol(PQgetvalue(res, r, 0));

        if (at >= dc->n)
            continue;
        w = &dc->w[at];
        w->gid = rs_arena_strdup(dc->arena, PQgetvalue(res, r, 1));
        w->gname = rs_arena_strdup(dc->arena, PQgetvalue(res, r, 2));
        w->gparent = rs_arena_strdup(dc->arena, PQgetvalue(res, r, 3));
        if (w->gid == NULL || w->gname == NULL || w->gparent == NULL)
            rc = sync_nomem(err);
        else
            snprintf(w->d->group_id, sizeof(w->d->group_id), "%s", w->gid);
    }
out:
    rs_buf_arrays_free(arr, 3);
    return rc;
}

/* The CreateUserGroups calls of one round of create_round. */
struct group_batch {
    Roster__Identity__V1__CreateUserGroupsRequest req;
    Roster__Identity__V1__CreateUserGroupRequest **entries;
    struct dept_work **sent; /* sent[i] is the department of entries[i] */
    bool alt;
};

static void
groups_range(void *arg, size_t first, size_t n)
{
    struct group_batch *gb = arg;

    gb->req.groups = gb->entries + first;
    gb->req.n_groups = n;
}

/* Reads the results of one CreateUserGroups call for entries [first, first + n). */
static void
groups_take(void *arg, size_t first, size_t n, const ProtobufCMessage *msg,
            const struct rs_error *err)
{
    struct group_batch *gb = arg;
    const Roster__Identity__V1__CreateUserGroupsResponse *resp =
        (const Roster__Identity__V1__CreateUserGroupsResponse *)msg;
    struct rs_error e;
    size_t i;

    sync_dp_batch_error(err, err == NULL ? resp->n_results : 0, n, "groups", &e);
    /* A rejected call is the failure of every department in it. */
    for (i = 0; i < n; i++) {
        struct dept_work *w = gb->sent[first + i];
        const Roster__Identity__V1__CreateUserGroupsResult *r = e.code == RS_OK
                                                                    ? resp->results[i]
                                                                    : NULL;

        w->creating = false;
        if (r == NULL) {
            w->fail = e;
        } else if (r->group != NULL) {
            snprintf(w->d->group_id, sizeof(w->d->group_id), "%s", r->group->group_id);
            w->sent = true;
        } else {
            sync_dp_entry_error(&w->fail, r->error);
            if (!gb->alt && strcmp(w->fail.reason, "GROUP_NAME_TAKEN") == 0) {
                rs_error_clear(&w->fail);
                w->creating = true;
            }
        }
    }
}

/*
 * Creates the groups of the departments of dc waiting to be created, under
 * their names, or under their alternative names when alt is set, in one
 * CreateUserGroups call, split while a message is too large for identity.
 * Without alt, a name that a sibling has keeps the department waiting for
 * the retry. Any other rejection is the item's failure.
 */
static void
create_round(struct dept_chunk *dc, bool alt)
{
    struct sync_dp_apply *a = dc->a;
    Roster__Identity__V1__CreateUserGroupRequest *entries;
    Roster__Identity__V1__CreateUserGroupRequest **ptrs;
    Roster__Identity__V1__SyncSource *sources;
    struct dept_work *sent[SYNC_DP_DEPT_CHUNK];
    struct group_batch gb;
    struct sync_dp_batch batch;
    struct rs_error e;
    size_t n = 0;
    size_t i;

    entries = rs_arena_alloc(dc->arena, sizeof(*entries) * (dc->n + 1));
    ptrs = rs_arena_alloc(dc->arena, sizeof(*ptrs) * (dc->n + 1));
    sources = rs_arena_alloc(dc->arena, sizeof(*sources) * (dc->n + 1));
    rs_error_clear(&e);
    if (entries == NULL || ptrs == NULL || sources == NULL)
        (void)sync_nomem(&e);
    for (i = 0; i < dc->n; i++) {
        struct dept_work *w = &dc->w[i];

        if (!w->creating)
            continue;
        if (e.code != RS_OK) {
            w->fail = e;
            w->creating = false;
            continue;
        }
        roster__identity__v1__create_user_group_request__init(&entries[n]);
        roster__identity__v1__sync_source__init(&sources[n]);
        sources[n].platform = (Roster__Identity__V1__Platform)a->src.platform;
        sources[n].corp_id = a->src.corp_id;
        sources[n].department_id = w->ext;
        entries[n].parent_group_id = (char *)w->parent_group;
        entries[n].name = alt ? w->alt_name : w->d->name;
        entries[n].sync_source = &sources[n];
        ptrs[n] = &entries[n];
        sent[n++] = w;
    }
    roster__identity__v1__create_user_groups_request__init(&gb.req);
    gb.req.organization_id = a->src.org_id;
    gb.entries = ptrs;
    gb.sent = sent;
    gb.alt = alt;
    batch.method = "CreateUserGroups";
    batch.req = &gb.req.base;
    batch.resp_desc = &roster__identity__v1__create_user_groups_response__descriptor;
    batch.arena = dc->arena;
    batch.range = groups_range;
    batch.take = groups_take;
    batch.arg = &gb;
    sync_dp_batch_send(a, &batch, 0, n);
}

/* Creates the groups of every department waiting, then retries name clashes. */
static void
create_groups(struct dept_chunk *dc)
{
    create_round(dc, false);
    create_round(dc, true);
}

static rs_status
rename_group(struct sync_dp_apply *a, rs_arena *arena, struct sync_dp_dept *d,
             const char *name, struct rs_error *err)
{
    Roster__Identity__V1__RenameUserGroupRequest req = ROSTER__IDENTITY__V1__RENAME_USER_GROUP_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.organization_id = a->src.org_id;
    req.group_id = d->group_id;
    req.name = (char *)name;
    return sync_dp_call(a->svc, false, a->job->operator_id, "RenameUserGroup", &req.base,
                        &roster__identity__v1__user_group__descriptor, arena, &resp, err);
}

static rs_status
move_group(struct sync_dp_apply *a, rs_arena *arena, struct sync_dp_dept *d,
           const char *parent_group, struct rs_error *err)
{
    Roster__Identity__V1__MoveUserGroupRequest req = ROSTER__IDENTITY__V1__MOVE_USER_GROUP_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.organization_id = a->src.org_id;
    req.group_id = d->group_id;
    req.new_parent_group_id = (char *)parent_group;
    return sync_dp_call(a->svc, false, a->job->operator_id, "MoveUserGroup", &req.base,
                        &roster__identity__v1__user_group__descriptor, arena, &resp, err);
}

static rs_status
update_group(struct sync_dp_apply *a, rs_arena *arena, struct sync_dp_dept *d,
             const char *name, const char *parent, const char *parent_group,
             const char *alt_name, bool *sent, struct rs_error *err)
{
    struct rs_error undo;
    rs_status rc;

    if (strcmp(name, d->name) != 0 && strcmp(name, alt_name) != 0) {
        *sent = true;
        name = d->name;
        rc = rename_group(a, arena, d, name, err);
        if (rc != RS_OK && strcmp(err->reason, "GROUP_NAME_TAKEN") == 0) {
            name = alt_name;
            rc = rename_group(a, arena, d, name, err);
        }
        if (rc != RS_OK)
            return rc;
    }
    /* A moved department moves its group; not when the new parent failed. */
    if (parent_group != NULL && strcmp(parent, parent_group) != 0 &&
        (parent_group[0] != '\0' || d->parent_id == 0)) {
        *sent = true;
        rc = move_group(a, arena, d, parent_group, err);
        /* The new parent has a child of this name: move under the
         * alternative name, as a new group there would be named. */
        if (rc != RS_OK && strcmp(err->reason, "GROUP_NAME_TAKEN") == 0 &&
            strcmp(name, alt_name) != 0) {
            rs_error_clear(err);
            rc = rename_group(a, arena, d, alt_name, err);
            if (rc == RS_OK) {
                rc = move_group(a, arena, d, parent_group, err);
                /* Not moved after all: the group stays where it is, under its old name. */
                rs_error_clear(&undo);
                if (rc != RS_OK && rename_group(a, arena, d, name, &undo) != RS_OK)
                    rs_log_warn(&a->job->log, "restoring a group name failed", "group_id",
                                d->group_id, "reason", undo.reason, NULL);
            }
        }
        if (rc != RS_OK)
            return rc;
    }
    return RS_OK;
}

/*
 * Decides what w's department needs: a failure when its parent's group is
 * missing, a rename or move of its existing group (sent now), or a new
 * group (created later with its level).
 */
static void
prepare(struct dept_chunk *dc, struct dept_work *w)
{
    struct sync_dp_apply *a = dc->a;
    struct sync_dp_dept *d = w->d;

    w->parent_group = "";
    if (d->parent_id != 0) {
        w->parent_group = sync_dp_group_of(a, d->parent_id);
        if (w->parent_group == NULL) {
            rs_error_set(&w->fail, RS_EPRECOND, "PARENT_GROUP_MISSING",
                         "the group of parent department %" PRId64 " could not be synced",
                         d->parent_id);
            return;
        }
    }
    /* A failed rename or move leaves the group as it was, and its members
     * and children keep using it. */
    if (w->gid == NULL)
        w->creating = true;
    else
        (void)update_group(a, dc->arena, d, w->gname, w->gparent, w->parent_group,
                           w->alt_name, &w->sent, &w->fail);
}

/* Fills the item of w, or returns false when w is unchanged. */
static bool
item_of(struct dept_work *w, struct sync_item *item)
{
    struct sync_dp_dept *d = w->d;

    memset(item, 0, sizeof(*item));
    item->seq = w->seq;
    item->node_kind = 2;
    item->external_id = w->ext;
    item->name = d->name;
    item->group_id = d->group_id;
    if (w->fail.code != RS_OK) {
        item->outcome = SYNC_FAILED_ITEM;
        item->reason = w->fail.reason[0] != '\0' ? w->fail.reason : rs_status_name(w->fail.code);
        item->message = w->fail.message;
    } else if (w->gid == NULL) {
        item->outcome = SYNC_CREATED;
    } else if (w->sent || strcmp(d->stored_group, d->group_id) != 0 ||
               d->flag == SYNC_FLAG_NAME_CHANGED) {
        item->outcome = SYNC_UPDATED;
        if (d->flag == SYNC_FLAG_NAME_CHANGED)
            item->reason = "NAME_CHANGED";
    } else {
        return false;
    }
    return true;
}

struct dept_groups {
    const char *source_id;
    struct rs_buf arrays[2]; /* department ids and the groups they now have */
};

static rs_status
dept_groups_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct dept_groups *g = arg;
    const char *params[3] = { g->source_id, g->arrays[0].data, g->arrays[1].data };

    /* = ANY keeps this on the primary key, even with stale statistics. */
    return rs_db_query(conn, "sync.apply_dept_groups",
                       "UPDATE sync.departments d SET "
                       "group_id = ($3::text[])[array_position($2::bigint[], d.dept_id)], "
                       "flag = CASE WHEN d.flag = 1 THEN 0 ELSE d.flag END, "
                       "previous_name = CASE WHEN d.flag = 1 THEN '' ELSE d.previous_name END, "
                       "updated_at = now() WHERE d.source_id = $1 "
                       "AND d.dept_id = ANY ($2::bigint[]) "
                       "AND (d.group_id IS DISTINCT FROM ($3::text[])[array_position("
                       "$2::bigint[], d.dept_id)] OR d.flag = 1)",
                       3, params, NULL, err);
}

/* Records the chunk's items in plan order, with the groups its departments now have. */
static rs_status
record_depts(struct dept_chunk *dc, struct rs_error *err)
{
    struct sync_item items[SYNC_DP_DEPT_CHUNK];
    int unchanged[SYNC_DP_DEPT_CHUNK];
    struct dept_groups groups;
    size_t n_items = 0;
    size_t n_unchanged = 0;
    int last_seq = -1;
    size_t i;
    rs_status rc;

    groups.source_id = dc->a->src.source_id;
    rs_buf_arrays_open(groups.arrays, 2);
    for (i = 0; i < dc->n; i++) {
        struct dept_work *w = &dc->w[i];

        if (w->replay)
            continue;
        last_seq = w->seq;
        if (!item_of(w, &items[n_items])) {
            unchanged[n_unchanged++] = w->seq;
            continue;
        }
        n_items++;
        /* A failed rename keeps its flag and stored group until it succeeds. */
        if (w->d->group_id[0] != '\0' && w->fail.code == RS_OK) {
            rs_buf_elem(&groups.arrays[0], w->ext);
            rs_buf_elem(&groups.arrays[1], w->d->group_id);
        }
    }
    if (!rs_buf_arrays_close(groups.arrays, 2))
        rc = sync_nomem(err);
    else if (last_seq < 0)
        rc = RS_OK;
    else
        rc = sync_dp_record(dc->a, items, n_items, unchanged, n_unchanged, last_seq,
                            dept_groups_tx, &groups, err);
    rs_buf_arrays_free(groups.arrays, 2);
    return rc;
}

rs_status
sync_dp_apply_depts(struct sync_dp_apply *a, size_t from, size_t to, struct rs_error *err)
{
    struct dept_chunk *dc = rs_calloc(1, sizeof(*dc));
    int level = -1;
    size_t i;
    rs_status rc = RS_OK;

    if (dc == NULL || (dc->arena = rs_arena_create()) == NULL) {
        rs_free(dc);
        return sync_nomem(err);
    }
    dc->a = a;
    for (i = from; i < to && dc->n < SYNC_DP_DEPT_CHUNK; i++) {
        struct dept_work *w = &dc->w[dc->n++];

        w->d = &a->depts[i];
        w->seq = (int)i;
        w->replay = w->seq < a->job->checkpoint;
        rs_error_clear(&w->fail);
        snprintf(w->ext, sizeof(w->ext), "%" PRId64, w->d->dept_id);
        w->alt_name = rs_arena_printf(dc->arena, "%s (%s)", w->d->name, w->ext);
        if (w->alt_name == NULL)
            rc = sync_nomem(err);
    }
    if (rc == RS_OK)
        rc = find_groups(dc, err);
    /* The plan runs in level order: a level's groups exist before its children's. */
    for (i = 0; rc == RS_OK && i < dc->n; i++) {
        struct dept_work *w = &dc->w[i];

        if (w->replay)
            continue;
        if (w->d->level != level) {
            create_groups(dc);
            level = w->d->level;
        }
        prepare(dc, w);
    }
    if (rc == RS_OK)
        create_groups(dc);
    /* A lost lease ends the run rather than failing an item. */
    for (i = 0; rc == RS_OK && i < dc->n; i++) {
        if (dc->w[i].fail.code == RS_EABORTED &&
            strcmp(dc->w[i].fail.reason, "LEASE_LOST") == 0) {
            *err = dc->w[i].fail;
            rc = err->code;
        }
    }
    if (rc == RS_OK)
        rc = record_depts(dc, err);
    rs_arena_destroy(dc->arena);
    rs_free(dc);
    return rc;
}
