/*
 * services/sync/src/apply_member.c
 *    Start Sync for a chunk of members. Each member's Roster user is found
 *    or created, bound to the external identity and given the batch's type
 *    and roles. Group memberships then change in one batch per group for
 *    the whole chunk, and the items are recorded in plan order. A failure
 *    of one member is its FAILED item, and the run goes on.
 */
#include "dataplane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "google/protobuf/field_mask.pb-c.h"
#include "roster/authz/v1/authz.pb-c.h"
#include "roster/identity/v1/identity.pb-c.h"

#define GROUP_BATCH_MAX 1000
#define RANDOM_SUFFIX_TRIES 5
#define NICK_BYTES (4 * SYNC_DP_NICKNAME_MAX + 1)

struct work {
    struct sync_dp_member *m;
    int seq;
    char user_id[33];
    bool created;
    bool sent;
    struct rs_error fail; /* the item failed unless code is RS_OK */
    const char **want;    /* the groups of the member's departments */
    size_t n_want;
    const char **add;
    size_t n_add;
    const char **remove;
    size_t n_remove;
};

struct chunk {
    struct sync_dp_apply *a;
    rs_arena *arena;
    struct work *w;
    size_t n;
};

static bool
in_list(const char *const *list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static void
fail(struct work *w, const struct rs_error *e)
{
    if (w->fail.code == RS_OK)
        w->fail = *e;
}

static void
fail_with(struct work *w, rs_status code, const char *reason, const char *message)
{
    struct rs_error e;

    rs_error_set(&e, code, reason, "%s", message);
    fail(w, &e);
}

static rs_status
call_identity(struct chunk *c, const char *method, const ProtobufCMessage *req,
              const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp,
              struct rs_error *err)
{
    return sync_dp_call(c->a->svc, false, c->a->job->operator_id, method, req, desc, c->arena,
                        resp, err);
}

/* The Roster user of w's member, with its type, profile, roles and groups. */
struct state {
    bool found;
    char user_id[33];
    int user_type;
    char *email;
    char *phone;
    bool bound;
    int64_t roles[16];
    size_t n_roles;
    char **groups;
    size_t n_groups;
};

static rs_status
load_state(struct chunk *c, rs_db_conn *conn, struct work *w, struct state *st,
           struct rs_error *err)
{
    struct sync_dp_apply *a = c->a;
    char platform[8];
    const char *params[7] = { a->src.org_id, platform,      a->src.corp_id,
                              w->m->userid,  w->m->unionid, w->m->stored_user,
                              a->src.source_id };
    PGresult *res = NULL;
    const char *p;
    char *text;
    size_t i;
    rs_status rc;

    memset(st, 0, sizeof(*st));
    snprintf(platform, sizeof(platform), "%d", a->src.platform);
    /* Lookup order: the binding of this enterprise's userid, the user this
     * member was synced to, and the same person from another enterprise by
     * unionid (one person is one user). Last comes a user that an earlier
     * holder created for this member before it died, unbound. */
    rc = rs_db_query_arena(
        conn, c->arena, "sync.apply_member_state",
        "WITH pick AS (SELECT coalesce("
        " (SELECT e.user_id FROM identity.external_identities e WHERE e.organization_id = $1 "
        "  AND e.platform = $2::smallint AND e.corp_id = $3 AND e.platform_user_id = $4), "
        " (SELECT u.id FROM identity.users u WHERE u.organization_id = $1 AND u.id = $6), "
        " (SELECT e.user_id FROM identity.external_identities e WHERE e.organization_id = $1 "
        "  AND e.platform = $2::smallint AND e.union_id = $5 AND $5 <> '' "
        "  ORDER BY e.created_at LIMIT 1), "
        " (SELECT u.id FROM sync.members sm JOIN identity.users u "
        "  ON u.organization_id = $1 AND u.nickname = sm.pending_nickname "
        "  AND u.created_at >= sm.pending_at WHERE sm.source_id = $7 AND sm.userid = $4 "
        "  AND sm.pending_nickname <> '' AND NOT EXISTS (SELECT 1 FROM "
        "  identity.external_identities e WHERE e.user_id = u.id))) AS id) "
        "SELECT u.id, u.user_type, u.email, u.phone, "
        " EXISTS (SELECT 1 FROM identity.external_identities e WHERE e.organization_id = $1 "
        "  AND e.platform = $2::smallint AND e.corp_id = $3 AND e.platform_user_id = $4 "
        "  AND e.user_id = u.id), "
        " coalesce((SELECT array_agg(r.role_id ORDER BY r.role_id) FROM authz.user_org_roles r "
        "  WHERE r.user_id = u.id)::text, '{}'), "
        " coalesce((SELECT string_agg(g.id, ',' ORDER BY g.id) FROM "
        "  identity.user_group_members gm JOIN identity.user_groups g ON g.id = gm.group_id "
        "  WHERE gm.user_id = u.id AND g.organization_id = $1 "
        "  AND g.sync_platform = $2::smallint AND g.sync_corp_id = $3), '') "
        "FROM pick JOIN identity.users u ON u.id = pick.id AND u.organization_id = $1",
        7, params, &res, err);
    if (rc != RS_OK || PQntuples(res) == 0)
        return rc;
    st->found = true;
    snprintf(st->user_id, sizeof(st->user_id), "%s", PQgetvalue(res, 0, 0));
    st->user_type = atoi(PQgetvalue(res, 0, 1));
    st->email = PQgetvalue(res, 0, 2);
    st->phone = PQgetvalue(res, 0, 3);
    st->bound = PQgetvalue(res, 0, 4)[0] == 't';
    for (p = PQgetvalue(res, 0, 5); *p != '\0' && st->n_roles < 16;) {
        if (*p >= '0' && *p <= '9') {
            char *end;

            st->roles[st->n_roles++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    text = rs_arena_strdup(c->arena, PQgetvalue(res, 0, 6));
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

/* Nickname candidates: the name, then the source's suffix rule, then
 * random four-digit suffixes; each cut to 50 code points. */
static size_t
nicknames(const struct sync_dp_apply *a, const struct sync_dp_member *m,
          char out[][NICK_BYTES], size_t max)
{
    char local[128];
    const char *rule = NULL;
    size_t n = 0;
    int i;

    sync_dp_nickname(m->name, NULL, out[n++], NICK_BYTES);
    switch (a->src.nickname_suffix) {
    case ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_JOB_NUMBER:
        rule = m->job_number;
        break;
    case ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_MOBILE:
        rule = m->mobile;
        break;
    case ROSTER__SYNC__V1__NICKNAME_SUFFIX__NICKNAME_SUFFIX_EMAIL:
        sync_dp_email_local(m->email, local, sizeof(local));
        rule = local;
        break;
    default:
        break;
    }
    if (rule != NULL && rule[0] != '\0' && n < max)
        sync_dp_nickname(m->name, rule, out[n++], NICK_BYTES);
    for (i = 0; i < RANDOM_SUFFIX_TRIES && n < max; i++) {
        unsigned char r[2];
        char digits[8];

        if (RAND_bytes(r, sizeof(r)) != 1)
            r[0] = r[1] = (unsigned char)(i * 37);
        snprintf(digits, sizeof(digits), "%04u", ((unsigned)r[0] << 8 | r[1]) % 10000u);
        sync_dp_nickname(m->name, digits, out[n++], NICK_BYTES);
    }
    return n;
}

struct pending {
    struct sync_dp_apply *a;
    const struct sync_dp_member *m;
    const char *nickname;
};

static rs_status
pending_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct pending *p = arg;
    const char *params[3] = { p->a->src.source_id, p->m->userid, p->nickname };
    rs_status rc;

    rc = sync_job_check_tx(p->a->job, conn, err);
    if (rc == RS_OK)
        rc = rs_db_query(conn, "sync.apply_member_pending",
                         "UPDATE sync.members SET pending_nickname = $3, "
                         "pending_at = clock_timestamp() WHERE source_id = $1 AND userid = $2",
                         3, params, NULL, err);
    return rc;
}

/* Creates the member's user under the first free nickname candidate. A
 * refusal is the item's failure; only a lost lease or the database is an
 * error of the run. */
static rs_status
create_user(struct chunk *c, struct work *w, struct rs_error *err)
{
    struct sync_dp_apply *a = c->a;
    Roster__Identity__V1__CreateUserRequest req = ROSTER__IDENTITY__V1__CREATE_USER_REQUEST__INIT;
    Roster__Identity__V1__User *u = NULL;
    char cand[2 + RANDOM_SUFFIX_TRIES][NICK_BYTES];
    struct pending pending;
    struct rs_error e;
    size_t n;
    size_t i;
    rs_status rc = RS_EEXIST;

    n = nicknames(a, w->m, cand, 2 + RANDOM_SUFFIX_TRIES);
    req.organization_id = a->src.org_id;
    req.user_type = (Roster__Identity__V1__UserType)a->req.user_type;
    req.email = w->m->email;
    req.phone = w->m->mobile;
    pending.a = a;
    pending.m = w->m;
    rs_error_clear(&e);
    for (i = 0; i < n; i++) {
        /* Noted first, so a holder that dies before binding leaves a user
         * the next holder can recognise. */
        pending.nickname = cand[i];
        rc = sync_tx(a->svc, pending_tx, &pending, err);
        if (rc != RS_OK)
            return rc;
        req.nickname = cand[i];
        rc = call_identity(c, "CreateUser", &req.base, &roster__identity__v1__user__descriptor,
                           (ProtobufCMessage **)&u, &e);
        if (rc == RS_OK || strcmp(e.reason, "NICKNAME_TAKEN") != 0)
            break;
    }
    if (rc != RS_OK) {
        fail(w, &e);
        return RS_OK;
    }
    snprintf(w->user_id, sizeof(w->user_id), "%s", u->user_id);
    w->created = true;
    return RS_OK;
}

static rs_status
bind(struct chunk *c, struct work *w, struct rs_error *err)
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

/* A user created in this run whose binding failed is removed again, so a
 * retry does not find a stray user holding the nickname. */
static void
undo_create(struct chunk *c, struct work *w)
{
    Roster__Identity__V1__DeleteUserRequest req = ROSTER__IDENTITY__V1__DELETE_USER_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct rs_error e;

    req.organization_id = c->a->src.org_id;
    req.user_id = w->user_id;
    if (call_identity(c, "DeleteUser", &req.base,
                      &roster__identity__v1__delete_user_response__descriptor, &resp,
                      &e) != RS_OK)
        rs_log_warn(&c->a->job->log, "could not remove a user whose binding failed",
                    "user_id", w->user_id, "reason", e.reason, NULL);
    w->user_id[0] = '\0';
    w->created = false;
}

/* Type and the profile fields the directory provides ("last sync wins"). */
static rs_status
update_profile(struct chunk *c, struct work *w, const struct state *st, struct rs_error *err)
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
assign_roles(struct chunk *c, struct work *w, const struct state *st, struct rs_error *err)
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
plan_groups(struct chunk *c, struct work *w, const struct state *st, struct rs_error *err)
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

/* Everything but group membership, for one member. */
static rs_status
apply_one(struct chunk *c, rs_db_conn *conn, struct work *w, struct rs_error *err)
{
    struct state st;
    struct rs_error e;
    rs_status rc;

    if (w->m->missing) {
        fail_with(w, RS_ENOTFOUND, "MEMBER_NOT_FOUND",
                  "member is not in the stored structure of the source");
        return RS_OK;
    }
    if (w->m->flag == SYNC_FLAG_TO_BE_DELETED) {
        fail_with(w, RS_EPRECOND, "MEMBER_TO_BE_DELETED",
                  "member is marked to be deleted: it left the directory");
        return RS_OK;
    }
    rc = load_state(c, conn, w, &st, err);
    if (rc != RS_OK)
        return rc;
    rs_error_clear(&e);
    if (!st.found) {
        rc = create_user(c, w, err);
        if (rc != RS_OK || w->fail.code != RS_OK)
            return rc;
        if (bind(c, w, &e) != RS_OK) {
            fail(w, &e);
            undo_create(c, w);
            return RS_OK;
        }
        st.user_type = c->a->req.user_type;
        st.email = w->m->email;
        st.phone = w->m->mobile;
    } else {
        snprintf(w->user_id, sizeof(w->user_id), "%s", st.user_id);
        if (!st.bound && bind(c, w, &e) != RS_OK) {
            fail(w, &e);
            return RS_OK;
        }
        if (update_profile(c, w, &st, &e) != RS_OK) {
            fail(w, &e);
            return RS_OK;
        }
    }
    if (assign_roles(c, w, &st, &e) != RS_OK) {
        fail(w, &e);
        return RS_OK;
    }
    return plan_groups(c, w, &st, err);
}

/* Adds (or removes) users to one group in batches. A refused batch is
 * retried one user at a time, so the refusal lands on its member. */
static void
change_group(struct chunk *c, const char *group, bool add)
{
    Roster__Identity__V1__UserGroupMembersRequest req = ROSTER__IDENTITY__V1__USER_GROUP_MEMBERS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    struct work **targets;
    char **ids;
    struct rs_error e;
    size_t n = 0;
    size_t i;
    size_t j;

    targets = rs_arena_alloc(c->arena, sizeof(*targets) * (c->n + 1));
    ids = rs_arena_alloc(c->arena, sizeof(*ids) * (c->n + 1));
    if (targets == NULL || ids == NULL)
        return;
    for (i = 0; i < c->n; i++) {
        struct work *w = &c->w[i];

        if (w->fail.code != RS_OK || w->user_id[0] == '\0')
            continue;
        if (in_list(add ? w->add : w->remove, add ? w->n_add : w->n_remove, group)) {
            targets[n] = w;
            ids[n++] = w->user_id;
        }
    }
    req.organization_id = c->a->src.org_id;
    req.group_id = (char *)group;
    for (i = 0; i < n; i += GROUP_BATCH_MAX) {
        req.user_ids = ids + i;
        req.n_user_ids = n - i < GROUP_BATCH_MAX ? n - i : GROUP_BATCH_MAX;
        if (call_identity(c, add ? "AddUserGroupMembers" : "RemoveUserGroupMembers",
                          &req.base, &roster__identity__v1__user_group_members_response__descriptor,
                          &resp, &e) == RS_OK) {
            for (j = i; j < i + req.n_user_ids; j++)
                targets[j]->sent = true;
            continue;
        }
        for (j = i; j < i + req.n_user_ids; j++) {
            req.user_ids = ids + j;
            req.n_user_ids = 1;
            if (call_identity(c, add ? "AddUserGroupMembers" : "RemoveUserGroupMembers",
                              &req.base,
                              &roster__identity__v1__user_group_members_response__descriptor,
                              &resp, &e) == RS_OK)
                targets[j]->sent = true;
            else
                fail(targets[j], &e);
        }
        req.n_user_ids = 0;
    }
}

static void
change_groups(struct chunk *c, bool add)
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
        const struct work *w = &c->w[i];
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

struct member_record {
    struct sync_dp_apply *a;
    struct work *w;
    struct sync_item *item;
};

static rs_status
member_record_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct member_record *r = arg;
    const char *params[3] = { r->a->src.source_id, r->w->m->userid, r->w->user_id };
    rs_status rc = RS_OK;

    rc = sync_job_check_tx(r->a->job, conn, err);
    if (rc == RS_OK && r->w->user_id[0] != '\0')
        rc = rs_db_query(conn, "sync.apply_member_user",
                         "UPDATE sync.members SET user_id = $3, pending_nickname = '', "
                         "pending_at = NULL, updated_at = now() "
                         "WHERE source_id = $1 AND userid = $2 "
                         "AND (user_id IS DISTINCT FROM $3 OR pending_nickname <> '')",
                         3, params, NULL, err);
    else if (rc == RS_OK)
        rc = rs_db_query(conn, "sync.apply_member_unpend",
                         "UPDATE sync.members SET pending_nickname = '', pending_at = NULL "
                         "WHERE source_id = $1 AND userid = $2 AND pending_nickname <> ''",
                         2, params, NULL, err);
    if (rc == RS_OK)
        rc = sync_job_item_tx(r->a->job, conn, r->item, err);
    return rc;
}

static rs_status
record(struct chunk *c, struct work *w, struct rs_error *err)
{
    struct sync_item item;
    struct member_record rec;
    bool link = w->user_id[0] != '\0' && strcmp(w->user_id, w->m->stored_user) != 0;
    rs_status rc;

    memset(&item, 0, sizeof(item));
    item.seq = w->seq;
    item.node_kind = 1;
    item.external_id = w->m->userid;
    item.name = w->m->name;
    item.user_id = w->user_id;
    if (w->fail.code != RS_OK) {
        item.outcome = SYNC_FAILED_ITEM;
        item.reason = w->fail.reason[0] != '\0' ? w->fail.reason : rs_status_name(w->fail.code);
        item.message = w->fail.message;
    } else if (w->created) {
        item.outcome = SYNC_CREATED;
    } else if (w->sent || link) {
        item.outcome = SYNC_UPDATED;
    } else {
        return sync_dp_unchanged(c->a, w->seq, err);
    }
    rc = sync_dp_flush_unchanged(c->a, err);
    if (rc != RS_OK)
        return rc;
    rec.a = c->a;
    rec.w = w;
    rec.item = &item;
    return sync_tx(c->a->svc, member_record_tx, &rec, err);
}

rs_status
sync_dp_apply_members(struct sync_dp_apply *a, size_t from, size_t to, struct rs_error *err)
{
    struct chunk c;
    rs_db_conn *conn = NULL;
    size_t i;
    rs_status rc = RS_OK;

    memset(&c, 0, sizeof(c));
    c.a = a;
    c.arena = rs_arena_create();
    if (c.arena == NULL)
        return sync_nomem(err);
    c.w = rs_arena_alloc(c.arena, sizeof(*c.w) * (to - from + 1));
    if (c.w == NULL) {
        rc = sync_nomem(err);
        goto out;
    }
    for (i = from; i < to; i++) {
        int seq = (int)(a->n_depts + i);

        if (seq < a->job->checkpoint)
            continue; /* recorded by an earlier holder */
        memset(&c.w[c.n], 0, sizeof(c.w[c.n]));
        c.w[c.n].m = &a->members[i];
        c.w[c.n].seq = seq;
        c.n++;
    }
    if (c.n == 0)
        goto out;
    rc = sync_dp_acquire(a->svc, &conn, err);
    for (i = 0; rc == RS_OK && i < c.n; i++)
        rc = apply_one(&c, conn, &c.w[i], err);
    rs_db_release(a->svc->pool, conn);
    if (rc != RS_OK)
        goto out;
    change_groups(&c, true);
    change_groups(&c, false);
    for (i = 0; rc == RS_OK && i < c.n; i++)
        rc = record(&c, &c.w[i], err);
out:
    rs_arena_destroy(c.arena);
    return rc;
}
