/*
 * services/sync/src/apply_member.c
 *    Start Sync for a chunk of members. One query finds the chunk's Roster
 *    users. identity's CreateUsers creates, binds and groups the members
 *    without a user (apply_create.c). Members with a user are bound and
 *    given the batch's type and roles one by one, and their group
 *    memberships change in one batch per group. The chunk's items are
 *    recorded in plan order in one transaction, by a thread while the next
 *    chunk is applied. A failure of one member is its FAILED item, and the
 *    run goes on.
 */
#include "apply_member.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "roster/authz/v1/authz.pb-c.h"
#include "roster/identity/v1/identity.pb-c.h"

/* identity's AddUserGroupMembers takes at most 1000 users per call. */
#define GROUP_BATCH_MAX 1000

static bool
in_list(const char *const *list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

void
sync_dp_member_fail(struct member_work *w, const struct rs_error *e)
{
    if (w->fail.code == RS_OK)
        w->fail = *e;
}

static void
fail_with(struct member_work *w, rs_status code, const char *reason, const char *message)
{
    struct rs_error e;

    rs_error_set(&e, code, reason, "%s", message);
    sync_dp_member_fail(w, &e);
}

static rs_status
call_identity(struct member_chunk *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
              struct rs_error *err)
{
    return sync_dp_call(c->a->svc, false, c->a->job->operator_id, method, req, desc, c->arena,
                        resp, err);
}

/* Parses "{1,2}" and "a,b" column values of the state query into st. */
static rs_status
parse_state(struct member_chunk *c, const PGresult *res, int row, struct member_state *st,
            struct rs_error *err)
{
    const char *p;
    char *text;
    size_t i;

    st->found = true;
    snprintf(st->user_id, sizeof(st->user_id), "%s", PQgetvalue(res, row, 1));
    st->user_type = atoi(PQgetvalue(res, row, 2));
    st->email = PQgetvalue(res, row, 3);
    st->phone = PQgetvalue(res, row, 4);
    st->bound = PQgetvalue(res, row, 5)[0] == 't';
    for (p = PQgetvalue(res, row, 6); *p != '\0' && st->n_roles < 16;) {
        if (*p >= '0' && *p <= '9') {
            char *end;

            st->roles[st->n_roles++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    text = rs_arena_strdup(c->arena, PQgetvalue(res, row, 7));
    if (text == NULL)
        return sync_nomem(err);
    st->n_groups = text[0] != '\0' ? 1 : 0;
    for (p = text; *p != '\0'; p++)
        if (*p == ',')
            st->n_groups++;
    st->groups = rs_arena_alloc(c->arena, sizeof(char *) * (st->n_groups + 1));
    if (st->groups == NULL)
        return sync_nomem(err);
    for (i = 0; i < st->n_groups; i++) {
        st->groups[i] = text;
        text = strchr(text, ',');
        if (text != NULL)
            *text++ = '\0';
    }
    return RS_OK;
}

/* Finds the Roster user of every member of the chunk that is still to do,
 * in one query. The result rows stay in the chunk's arena. */
static rs_status
load_states(struct member_chunk *c, rs_db_conn *conn, struct rs_error *err)
{
    struct sync_dp_apply *a = c->a;
    struct rs_buf arr[4];
    char platform[8];
    const char *params[8];
    PGresult *res = NULL;
    size_t i;
    int r;
    int k;
    rs_status rc = RS_OK;

    rs_buf_arrays_open(arr, 4);
    for (i = 0; i < c->n; i++) {
        char idx[24];

        if (c->w[i].fail.code != RS_OK)
            continue;
        snprintf(idx, sizeof(idx), "%zu", i);
        rs_buf_elem(&arr[0], idx);
        rs_buf_elem(&arr[1], c->w[i].m->userid);
        rs_buf_elem(&arr[2], c->w[i].m->unionid);
        rs_buf_elem(&arr[3], c->w[i].m->stored_user);
    }
    snprintf(platform, sizeof(platform), "%d", a->src.platform);
    params[0] = a->src.org_id;
    params[1] = platform;
    params[2] = a->src.corp_id;
    params[3] = a->src.source_id;
    if (!rs_buf_arrays_close(arr, 4)) {
        rc = sync_nomem(err);
        goto out;
    }
    for (k = 0; k < 4; k++)
        params[4 + k] = arr[k].data;
    /* Lookup order: the binding of this enterprise's userid, the user this
     * member was synced to, and the same person from another enterprise by
     * unionid (one person is one user). Last comes a user that a holder of
     * an older version created for this member before it died, unbound. */
    rc = rs_db_query_arena(
        conn, c->arena, "sync.apply_member_states",
        "WITH x AS (SELECT * FROM unnest($5::int[], $6::text[], $7::text[], $8::text[]) "
        " AS x(i, userid, unionid, stored_user)), "
        "pick AS MATERIALIZED (SELECT x.i, x.userid, coalesce("
        " (SELECT e.user_id FROM identity.external_identities e WHERE e.organization_id = $1 "
        "  AND e.platform = $2::smallint AND e.corp_id = $3 AND e.platform_user_id = x.userid), "
        " (SELECT u.id FROM (SELECT u0.id, u0.organization_id FROM identity.users u0 "
        "  WHERE u0.id = x.stored_user OFFSET 0) u WHERE u.organization_id = $1), "
        " (SELECT e.user_id FROM identity.external_identities e WHERE e.organization_id = $1 "
        "  AND e.platform = $2::smallint AND e.union_id = x.unionid AND e.union_id <> '' "
        "  ORDER BY e.created_at LIMIT 1), "
        " (SELECT u.id FROM (SELECT sm.pending_nickname, sm.pending_at FROM sync.members sm "
        "  WHERE sm.source_id = $4 AND sm.userid = x.userid AND sm.pending_nickname <> '' "
        "  OFFSET 0) sm CROSS JOIN LATERAL (SELECT u0.id, u0.created_at FROM identity.users u0 "
        "  WHERE u0.organization_id = $1 AND u0.nickname = sm.pending_nickname OFFSET 0) u "
        "  WHERE u.created_at >= sm.pending_at AND NOT EXISTS (SELECT 1 FROM "
        "  identity.external_identities e WHERE e.user_id = u.id))) AS id FROM x) "
        "SELECT pick.i, u.id, u.user_type, u.email, u.phone, "
        " coalesce((SELECT e.user_id FROM identity.external_identities e "
        "  WHERE e.organization_id = $1 AND e.platform = $2::smallint AND e.corp_id = $3 "
        "  AND e.platform_user_id = pick.userid) = u.id, false), "
        " coalesce((SELECT array_agg(r.role_id ORDER BY r.role_id) FROM authz.user_org_roles r "
        "  WHERE r.user_id = u.id)::text, '{}'), "
        /* Scalar subqueries and OFFSET 0 keep the planner from flattening
         * these lookups. Right after a large sync the statistics are stale,
         * and a flattened plan probes every group of the organisation for
         * every user, or hashes every user and binding for every chunk.
         * Users are found by id and their organisation compared afterwards,
         * as in identity's actor check. */
        " coalesce((SELECT string_agg(gm.group_id, ',' ORDER BY gm.group_id) "
        "  FROM identity.user_group_members gm WHERE gm.user_id = u.id "
        "  AND (SELECT g.organization_id = $1 AND g.sync_platform = $2::smallint "
        "  AND g.sync_corp_id = $3 FROM identity.user_groups g WHERE g.id = gm.group_id)), '') "
        "FROM pick CROSS JOIN LATERAL (SELECT u0.id, u0.organization_id, u0.user_type, "
        " u0.email, u0.phone FROM identity.users u0 WHERE u0.id = pick.id OFFSET 0) u "
        "WHERE u.organization_id = $1",
        8, params, &res, err);
    for (r = 0; rc == RS_OK && r < PQntuples(res); r++) {
        size_t w = (size_t)atol(PQgetvalue(res, r, 0));

        if (w < c->n)
            rc = parse_state(c, res, r, &c->w[w].st, err);
    }
out:
    rs_buf_arrays_free(arr, 4);
    return rc;
}


static rs_status
bind(struct member_chunk *c, struct member_work *w, struct rs_error *err)
{
    struct sync_dp_apply *a = c->a;
    Roster__Identity__V1__BindExternalIdentityRequest req = ROSTER__IDENTITY__V1__BIND_EXTERNAL_IDENTITY_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;

    req.organization_id = a->src.org_id;
    req.user_id = w->user_id;
    req.platform = (Roster__Identity__V1__Platform)a->src.platform;
    req.corp_id = a->src.corp_id;
    req.platform_user_id = w->m->userid;
    req.union_id = w->m->unionid;
    w->sent = true;
    return call_identity(c, "BindExternalIdentity", &req.base,
                         &roster__identity__v1__external_identity__descriptor, &resp, err);
}

/* Type and the profile fields the directory provides ("last sync wins"). */
static rs_status
update_profile(struct member_chunk *c, struct member_work *w, const struct member_state *st, struct rs_error *err)
{
    struct sync_dp_apply *a = c->a;
    Roster__Identity__V1__UpdateUserRequest req = ROSTER__IDENTITY__V1__UPDATE_USER_REQUEST__INIT;
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    ProtobufCMessage *resp = NULL;
    char *paths[3];
    size_t n = 0;

    if (st->user_type != a->req.user_type)
        paths[n++] = "user_type";
    if (w->m->email[0] != '\0' && strcmp(w->m->email, st->email) != 0)
        paths[n++] = "email";
    if (w->m->mobile[0] != '\0' && strcmp(w->m->mobile, st->phone) != 0)
        paths[n++] = "phone";
    if (n == 0)
        return RS_OK;
    mask.paths = paths;
    mask.n_paths = n;
    req.organization_id = a->src.org_id;
    req.user_id = w->user_id;
    req.update_mask = &mask;
    req.user_type = (Roster__Identity__V1__UserType)a->req.user_type;
    req.email = w->m->email;
    req.phone = w->m->mobile;
    w->sent = true;
    return call_identity(c, "UpdateUser", &req.base, &roster__identity__v1__user__descriptor,
                         &resp, err);
}

static rs_status
assign_roles(struct member_chunk *c, struct member_work *w, const struct member_state *st, struct rs_error *err)
{
    struct sync_dp_apply *a = c->a;
    Roster__Authz__V1__UserOrgRolesRequest req = ROSTER__AUTHZ__V1__USER_ORG_ROLES_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    int64_t missing[SYNC_DP_MAX_ROLES];
    size_t n = 0;
    size_t i;
    size_t j;

    for (i = 0; i < a->req.n_roles; i++) {
        bool assigned = st->n_roles == 0 && a->req.roles[i] == SYNC_DP_REGULAR_USER;

        for (j = 0; j < st->n_roles && !assigned; j++)
            assigned = st->roles[j] == a->req.roles[i];
        if (!assigned)
            missing[n++] = a->req.roles[i];
    }
    if (n == 0)
        return RS_OK;
    req.organization_id = a->src.org_id;
    req.user_id = w->user_id;
    req.role_ids = missing;
    req.n_role_ids = n;
    w->sent = true;
    return sync_dp_call(a->svc, true, a->job->operator_id, "AssignOrgRoles", &req.base,
                        &roster__authz__v1__user_org_roles_response__descriptor, c->arena,
                        &resp, err);
}

/* Memberships to add and remove among this source's synced groups. */
static rs_status
plan_groups(struct member_chunk *c, struct member_work *w, const struct member_state *st, struct rs_error *err)
{
    const struct sync_dp_member *m = w->m;
    size_t i;

    w->want = rs_arena_alloc(c->arena, sizeof(char *) * (m->n_groups_of + 1));
    w->add = rs_arena_alloc(c->arena, sizeof(char *) * (m->n_groups_of + 1));
    w->remove = rs_arena_alloc(c->arena, sizeof(char *) * (st->n_groups + 1));
    if (w->want == NULL || w->add == NULL || w->remove == NULL)
        return sync_nomem(err);
    for (i = 0; i < m->n_groups_of; i++) {
        const char *g = sync_dp_group_of(c->a, m->groups_of[i]);

        /* Every department of the member is in the plan, so a missing
         * group is one whose item failed in this run. */
        if (g == NULL && w->group_missing == NULL) {
            w->group_missing = rs_arena_printf(c->arena,
                                               "the group of department %" PRId64
                                               " could not be synced, so the user is not "
                                               "in it. The member's other changes were "
                                               "applied.",
                                               m->groups_of[i]);
            if (w->group_missing == NULL)
                return sync_nomem(err);
        }
        if (g != NULL && !in_list(w->want, w->n_want, g))
            w->want[w->n_want++] = g;
    }
    for (i = 0; i < w->n_want; i++)
        if (!in_list((const char *const *)st->groups, st->n_groups, w->want[i]))
            w->add[w->n_add++] = w->want[i];
    for (i = 0; i < st->n_groups; i++)
        if (!in_list(w->want, w->n_want, st->groups[i]))
            w->remove[w->n_remove++] = st->groups[i];
    return RS_OK;
}

/* Sets the binding, profile and roles of a member whose user exists or was just created. */
static void
apply_user(struct member_chunk *c, struct member_work *w)
{
    struct rs_error e;

    if (w->st.found) {
        snprintf(w->user_id, sizeof(w->user_id), "%s", w->st.user_id);
        if (!w->st.bound && bind(c, w, &e) != RS_OK) {
            sync_dp_member_fail(w, &e);
            return;
        }
        if (update_profile(c, w, &w->st, &e) != RS_OK) {
            sync_dp_member_fail(w, &e);
            return;
        }
    }
    if (assign_roles(c, w, &w->st, &e) != RS_OK)
        sync_dp_member_fail(w, &e);
}

/* The AddUserGroupMembers or RemoveUserGroupMembers calls for one group. */
struct members_batch {
    struct sync_dp_apply *a;
    struct sync_dp_batch batch;
    Roster__Identity__V1__UserGroupMembersRequest req;
    struct member_work **targets;
    char **ids; /* ids[i] is the user of targets[i] */
};

static void
members_range(void *arg, size_t first, size_t n)
{
    struct members_batch *mb = arg;

    mb->req.user_ids = mb->ids + first;
    mb->req.n_user_ids = n;
}

/* Reads the outcome of one call for users [first, first + n). A rejected
 * batch is retried one user at a time, so the rejection lands on its member. */
static void
members_take(void *arg, size_t first, size_t n, const ProtobufCMessage *resp,
             const struct rs_error *err)
{
    struct members_batch *mb = arg;
    size_t i;

    RS_UNUSED(resp);
    for (i = first; i < first + n; i++) {
        if (err == NULL)
            mb->targets[i]->sent = true;
        else if (n == 1)
            sync_dp_member_fail(mb->targets[i], err);
        else
            sync_dp_batch_send(mb->a, &mb->batch, i, 1);
    }
}

/* Adds (or removes) users to one group in batches of at most GROUP_BATCH_MAX,
 * split while a message is too large for identity. */
static void
change_group(struct member_chunk *c, const char *group, bool add)
{
    struct members_batch mb;
    size_t n = 0;
    size_t i;

    mb.targets = rs_arena_alloc(c->arena, sizeof(*mb.targets) * (c->n + 1));
    mb.ids = rs_arena_alloc(c->arena, sizeof(*mb.ids) * (c->n + 1));
    if (mb.targets == NULL || mb.ids == NULL)
        return;
    for (i = 0; i < c->n; i++) {
        struct member_work *w = &c->w[i];

        if (w->fail.code != RS_OK || w->user_id[0] == '\0')
            continue;
        if (in_list(add ? w->add : w->remove, add ? w->n_add : w->n_remove, group)) {
            mb.targets[n] = w;
            mb.ids[n++] = w->user_id;
        }
    }
    mb.a = c->a;
    roster__identity__v1__user_group_members_request__init(&mb.req);
    mb.req.organization_id = c->a->src.org_id;
    mb.req.group_id = (char *)group;
    mb.batch.method = add ? "AddUserGroupMembers" : "RemoveUserGroupMembers";
    mb.batch.req = &mb.req.base;
    mb.batch.resp_desc = &roster__identity__v1__user_group_members_response__descriptor;
    mb.batch.arena = c->arena;
    mb.batch.range = members_range;
    mb.batch.take = members_take;
    mb.batch.arg = &mb;
    for (i = 0; i < n; i += GROUP_BATCH_MAX)
        sync_dp_batch_send(c->a, &mb.batch, i, n - i < GROUP_BATCH_MAX ? n - i : GROUP_BATCH_MAX);
}

static void
change_groups(struct member_chunk *c, bool add)
{
    const char **done;
    size_t n_done = 0;
    size_t i;
    size_t k;
    size_t total = 0;

    for (i = 0; i < c->n; i++)
        total += add ? c->w[i].n_add : c->w[i].n_remove;
    done = rs_arena_alloc(c->arena, sizeof(*done) * (total + 1));
    if (done == NULL)
        return;
    for (i = 0; i < c->n; i++) {
        const struct member_work *w = &c->w[i];
        size_t n = add ? w->n_add : w->n_remove;

        for (k = 0; k < n; k++) {
            const char *g = add ? w->add[k] : w->remove[k];

            if (in_list(done, n_done, g))
                continue;
            done[n_done++] = g;
            change_group(c, g, add);
        }
    }
}

struct member_links {
    const struct sync_dp_apply *a;
    /* userids and the users they are now synced to, then userids left
     * without a user */
    struct rs_buf arrays[3];
};

static rs_status
member_links_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct member_links *l = arg;
    const char *params[3] = { l->a->src.source_id, l->arrays[0].data, l->arrays[1].data };
    rs_status rc;

    /* = ANY keeps this on the primary key: right after Update Structure the
     * statistics are stale, and a join with the array hashed the source's
     * every member for each chunk. */
    rc = rs_db_query(conn, "sync.apply_members_user",
                     "UPDATE sync.members m SET "
                     "user_id = ($3::text[])[array_position($2::text[], m.userid)], "
                     "pending_nickname = '', pending_at = NULL, updated_at = now() "
                     "WHERE m.source_id = $1 AND m.userid = ANY ($2::text[]) "
                     "AND (m.user_id IS DISTINCT FROM ($3::text[])[array_position($2::text[], "
                     "m.userid)] OR m.pending_nickname <> '')",
                     3, params, NULL, err);
    params[1] = l->arrays[2].data;
    if (rc == RS_OK)
        rc = rs_db_query(conn, "sync.apply_members_unpend",
                         "UPDATE sync.members SET pending_nickname = '', pending_at = NULL "
                         "WHERE source_id = $1 AND userid = ANY ($2::text[]) "
                         "AND pending_nickname <> ''",
                         2, params, NULL, err);
    return rc;
}

/* Fills the item of w, or returns false when w is unchanged. */
static bool
item_of(const struct member_work *w, struct sync_item *item)
{
    bool link = w->user_id[0] != '\0' && strcmp(w->user_id, w->m->stored_user) != 0;

    memset(item, 0, sizeof(*item));
    item->seq = w->seq;
    item->node_kind = 1;
    item->external_id = w->m->userid;
    item->name = w->m->name;
    item->user_id = w->user_id;
    if (w->fail.code != RS_OK) {
        item->outcome = SYNC_FAILED_ITEM;
        item->reason = w->fail.reason[0] != '\0' ? w->fail.reason : rs_status_name(w->fail.code);
        item->message = w->fail.message;
    } else if (w->group_missing != NULL) {
        item->outcome = SYNC_FAILED_ITEM;
        item->reason = "DEPARTMENT_GROUP_MISSING";
        item->message = w->group_missing;
    } else if (w->created) {
        item->outcome = SYNC_CREATED;
    } else if (w->sent || link) {
        item->outcome = SYNC_UPDATED;
    } else {
        return false;
    }
    return true;
}

/* Records the chunk's items in plan order, with the users its members are synced to. */
static rs_status
record_chunk(struct member_chunk *c, struct rs_error *err)
{
    struct member_links links;
    struct sync_item *items;
    int *unchanged;
    size_t n_items = 0;
    size_t n_unchanged = 0;
    size_t i;
    rs_status rc;

    items = rs_arena_alloc(c->arena, sizeof(*items) * (c->n + 1));
    unchanged = rs_arena_alloc(c->arena, sizeof(*unchanged) * (c->n + 1));
    if (items == NULL || unchanged == NULL)
        return sync_nomem(err);
    memset(&links, 0, sizeof(links));
    links.a = c->a;
    rs_buf_arrays_open(links.arrays, 3);
    for (i = 0; i < c->n; i++) {
        const struct member_work *w = &c->w[i];

        if (!item_of(w, &items[n_items])) {
            unchanged[n_unchanged++] = w->seq;
            continue;
        }
        n_items++;
        if (w->user_id[0] != '\0') {
            rs_buf_elem(&links.arrays[0], w->m->userid);
            rs_buf_elem(&links.arrays[1], w->user_id);
        } else {
            rs_buf_elem(&links.arrays[2], w->m->userid);
        }
    }
    if (!rs_buf_arrays_close(links.arrays, 3))
        rc = sync_nomem(err);
    else
        rc = sync_dp_record(c->a, items, n_items, unchanged, n_unchanged, c->w[c->n - 1].seq,
                            member_links_tx, &links, err);
    rs_buf_arrays_free(links.arrays, 3);
    return rc;
}

/* A chunk whose items a thread records while the next chunk is applied. */
struct sync_dp_recording {
    pthread_t thread;
    struct member_chunk *c;
    rs_status rc;
    struct rs_error err;
};

static void *
record_main(void *arg)
{
    struct sync_dp_recording *r = arg;

    r->rc = record_chunk(r->c, &r->err);
    return NULL;
}

rs_status
sync_dp_members_recorded(struct sync_dp_apply *a, struct rs_error *err)
{
    struct sync_dp_recording *r = a->recording;
    rs_status rc;

    if (r == NULL)
        return RS_OK;
    pthread_join(r->thread, NULL);
    a->recording = NULL;
    rc = r->rc;
    if (rc != RS_OK && err != NULL)
        *err = r->err;
    rs_arena_destroy(r->c->arena); /* r is in that arena too */
    return rc;
}

void
sync_dp_member_chunk_free(struct member_chunk *c)
{
    if (c != NULL)
        rs_arena_destroy(c->arena); /* c is in its own arena */
}

rs_status
sync_dp_record_members(struct member_chunk *c, struct rs_error *err)
{
    struct sync_dp_recording *r;
    rs_status rc;

    if (c == NULL)
        return RS_OK;
    rc = sync_dp_members_recorded(c->a, err);
    if (rc != RS_OK)
        goto out;
    r = rs_arena_alloc(c->arena, sizeof(*r));
    if (r != NULL) {
        memset(r, 0, sizeof(*r));
        r->c = c;
        if (pthread_create(&r->thread, NULL, record_main, r) == 0) {
            c->a->recording = r;
            return RS_OK;
        }
    }
    rc = record_chunk(c, err);
out:
    sync_dp_member_chunk_free(c);
    return rc;
}

/* Waits for the turn of the chunk that starts at member from. */
static rs_status
enter_gate(const struct sync_dp_gate *gate, size_t from, struct rs_error *err)
{
    if (gate->enter(gate->arg))
        return RS_OK;
    return rs_error_set(err, RS_ECANCELLED, "EARLIER_CHUNK_FAILED",
                        "members from %zu were not applied: an earlier chunk failed", from);
}

rs_status
sync_dp_apply_members(struct sync_dp_apply *a, size_t from, size_t to,
                      const struct sync_dp_gate *gate, struct member_chunk **out,
                      struct rs_error *err)
{
    struct member_chunk *c;
    rs_arena *arena;
    rs_db_conn *conn = NULL;
    size_t i;
    rs_status rc = RS_OK;

    *out = NULL;
    arena = rs_arena_create();
    if (arena == NULL)
        return sync_nomem(err);
    c = rs_arena_alloc(arena, sizeof(*c));
    if (c == NULL) {
        rs_arena_destroy(arena);
        return sync_nomem(err);
    }
    memset(c, 0, sizeof(*c));
    c->a = a;
    c->arena = arena;
    c->w = rs_arena_alloc(arena, sizeof(*c->w) * (to - from + 1));
    if (c->w == NULL) {
        rc = sync_nomem(err);
        goto out;
    }
    for (i = from; i < to; i++) {
        int seq = (int)(a->n_depts + i);
        struct member_work *w = &c->w[c->n];

        if (seq < a->job->checkpoint)
            continue; /* recorded by an earlier holder */
        memset(w, 0, sizeof(*w));
        w->m = &a->members[i];
        w->seq = seq;
        c->n++;
        if (w->m->missing)
            fail_with(w, RS_ENOTFOUND, "MEMBER_NOT_FOUND",
                      "member is not in the stored structure of the source");
        else if (w->m->flag == SYNC_FLAG_TO_BE_DELETED)
            fail_with(w, RS_EPRECOND, "MEMBER_TO_BE_DELETED",
                      "member is marked to be deleted: it left the directory");
    }
    if (c->n == 0) {
        /* Nothing to apply, but the turn still passes through this chunk
         * on its way to the next one. */
        rc = enter_gate(gate, from, err);
        if (rc == RS_OK)
            gate->leave(gate->arg);
        goto out;
    }
    rc = sync_dp_acquire(a->svc, &conn, err);
    if (rc == RS_OK)
        rc = load_states(c, conn, err);
    rs_db_release(a->svc->pool, conn);
    for (i = 0; rc == RS_OK && i < c->n; i++) {
        struct member_work *w = &c->w[i];

        if (w->fail.code != RS_OK)
            continue;
        rc = plan_groups(c, w, &w->st, err);
        w->creating = !w->st.found;
    }
    if (rc == RS_OK)
        rc = enter_gate(gate, from, err);
    if (rc == RS_OK)
        rc = sync_dp_create_users(c, err);
    if (rc != RS_OK)
        goto out;
    for (i = 0; i < c->n; i++)
        if (c->w[i].fail.code == RS_OK)
            apply_user(c, &c->w[i]);
    gate->leave(gate->arg);
    change_groups(c, true);
    change_groups(c, false);
    *out = c;
    return RS_OK;
out:
    sync_dp_member_chunk_free(c);
    return rc;
}
