/*
 * services/identity/src/users_batch.c
 *    CreateUsers: many users in one transaction, each with an optional
 *    external identity and user groups. The checks of CreateUser,
 *    BindExternalIdentity and AddUserGroupMembers run once per batch as set
 *    queries, so a batch costs a handful of statements, not a few per user.
 *    A refused entry gets its error in its result and the others go on.
 */
#include "identity_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lookups.h"
#include "roster/buf.h"
#include "roster/str.h"
#include "validate.h"

#define GROUPS_PER_USER_MAX 100
#define NICKNAME_FALLBACKS_MAX 8

struct entry {
    const Roster__Identity__V1__NewUser *in;
    Roster__Identity__V1__CreateUserRequest user; /* points into in */
    char id[RS_ID_LEN + 1];
    const char *nickname;   /* the candidate chosen by admit */
    unsigned nickname_used; /* bit k: candidate k is a nickname of a user already */
    struct rs_error invalid; /* found before the transaction */
    struct rs_error fail;    /* found inside it, and cleared when it is retried */
    Roster__Identity__V1__User *created;
};

struct batch {
    struct rs_call *call;
    const char *org_id;
    struct entry *e;
    size_t n;
    ProtobufCMessage *resp;
};

static bool
alive(const struct entry *e)
{
    return e->invalid.code == RS_OK && e->fail.code == RS_OK;
}

static const Roster__Identity__V1__ExternalIdentityKey *
key_of(const struct entry *e)
{
    return e->in->external_identity;
}

rs_status
identity_query_arrays(rs_db_conn *conn, rs_arena *arena, const char *name, const char *sql,
                      const char *const *scalars, int n_scalars, struct rs_buf *arrays,
                      int n_arrays, PGresult **res, struct rs_error *err)
{
    const char *params[12];
    int i;
    rs_status rc;

    if (n_scalars + n_arrays > (int)(sizeof(params) / sizeof(params[0]))) {
        rs_buf_arrays_free(arrays, (size_t)n_arrays);
        return rs_error_set(err, RS_EINTERNAL, "INTERNAL",
                            "query %s has %d parameters, above the maximum of %zu", name,
                            n_scalars + n_arrays, sizeof(params) / sizeof(params[0]));
    }
    if (!rs_buf_arrays_close(arrays, (size_t)n_arrays)) {
        rs_buf_arrays_free(arrays, (size_t)n_arrays);
        return identity_nomem(err);
    }
    for (i = 0; i < n_scalars; i++)
        params[i] = scalars[i];
    for (i = 0; i < n_arrays; i++)
        params[n_scalars + i] = arrays[i].data;
    rc = rs_db_query_arena(conn, arena, name, sql, n_scalars + n_arrays, params, res, err);
    rs_buf_arrays_free(arrays, (size_t)n_arrays);
    return rc;
}

/* identity_query_arrays with the organisation id as $1. */
static rs_status
query_arrays(rs_db_conn *conn, struct batch *b, const char *name, const char *sql,
             struct rs_buf *arrays, int n, PGresult **res, struct rs_error *err)
{
    return identity_query_arrays(conn, rs_call_arena(b->call), name, sql, &b->org_id, 1, arrays,
                                 n, res, err);
}

/* Adds the platform, corp id, platform user id and union id of e's key to arrays. */
static void
key_elems(struct rs_buf *arrays, const struct entry *e)
{
    char platform[4];

    snprintf(platform, sizeof(platform), "%d", (int)key_of(e)->platform);
    rs_buf_elem(&arrays[0], platform);
    rs_buf_elem(&arrays[1], key_of(e)->corp_id);
    rs_buf_elem(&arrays[2], key_of(e)->platform_user_id);
    rs_buf_elem(&arrays[3], key_of(e)->union_id);
}

/* Returns e's nickname candidate k: 0 is nickname, then the fallbacks. */
static const char *
candidate(const struct entry *e, size_t k)
{
    return k == 0 ? e->in->nickname : e->in->nickname_fallbacks[k - 1];
}

static size_t
n_candidates(const struct entry *e)
{
    return 1 + e->in->n_nickname_fallbacks;
}

/*
 * Notes the nickname candidates that users of the organisation already
 * have, and rejects account ids they have.
 */
static rs_status
check_names(rs_db_conn *conn, struct batch *b, struct rs_error *err)
{
    struct rs_buf arrays[2];
    PGresult *res = NULL;
    size_t i;
    size_t k;
    int r;
    rs_status rc;

    rs_buf_arrays_open(arrays, 2);
    for (i = 0; i < b->n; i++) {
        if (!alive(&b->e[i]))
            continue;
        for (k = 0; k < n_candidates(&b->e[i]); k++)
            rs_buf_elem(&arrays[0], candidate(&b->e[i], k));
        if (b->e[i].in->account_id[0] != '\0')
            rs_buf_elem(&arrays[1], b->e[i].in->account_id);
    }
    /* One probe of the unique index per distinct candidate. */
    rc = query_arrays(conn, b, "identity.users_batch_taken",
                      "SELECT u.nickname, '' FROM (SELECT DISTINCT unnest($2::text[])) AS x(nickname) "
                      "CROSS JOIN LATERAL (SELECT u.nickname FROM identity.users u "
                      "WHERE u.organization_id = " IDENTITY_ORG_PARAM " "
                      "AND u.nickname = x.nickname OFFSET 0) u "
                      "UNION ALL SELECT '', u.account_id "
                      "FROM (SELECT DISTINCT unnest($3::text[])) AS x(account_id) "
                      "CROSS JOIN LATERAL (SELECT u.account_id FROM identity.users u "
                      "WHERE u.organization_id = " IDENTITY_ORG_PARAM " AND u.account_id <> '' "
                      "AND u.account_id = x.account_id OFFSET 0) u",
                      arrays, 2, &res, err);
    if (rc != RS_OK)
        return rc;
    for (r = 0; r < PQntuples(res); r++) {
        const char *nick = PQgetvalue(res, r, 0);
        const char *acct = PQgetvalue(res, r, 1);

        for (i = 0; i < b->n; i++) {
            struct entry *e = &b->e[i];

            if (!alive(e))
                continue;
            for (k = 0; nick[0] != '\0' && k < n_candidates(e); k++)
                if (strcmp(candidate(e, k), nick) == 0)
                    e->nickname_used |= 1u << k;
            if (acct[0] != '\0' && strcmp(e->in->account_id, acct) == 0)
                identity_account_id_taken(acct, &e->fail);
        }
    }
    return RS_OK;
}

static bool
same_key(const Roster__Identity__V1__ExternalIdentityKey *a,
         const Roster__Identity__V1__ExternalIdentityKey *b)
{
    return a->platform == b->platform && strcmp(a->corp_id, b->corp_id) == 0 &&
           strcmp(a->platform_user_id, b->platform_user_id) == 0;
}

static bool
same_union(const Roster__Identity__V1__ExternalIdentityKey *a,
           const Roster__Identity__V1__ExternalIdentityKey *b)
{
    return a->union_id[0] != '\0' && a->platform == b->platform &&
           strcmp(a->union_id, b->union_id) == 0;
}

/* Marks the entries whose key or union id is bound to owner, an existing user. */
static void
mark_bound(struct batch *b, int platform, const char *corp_id, const char *platform_user_id,
           const char *union_id, const char *owner)
{
    Roster__Identity__V1__ExternalIdentityKey bound_key = ROSTER__IDENTITY__V1__EXTERNAL_IDENTITY_KEY__INIT;
    size_t i;

    bound_key.platform = (Roster__Identity__V1__Platform)platform;
    bound_key.corp_id = (char *)corp_id;
    bound_key.platform_user_id = (char *)platform_user_id;
    bound_key.union_id = (char *)union_id;
    for (i = 0; i < b->n; i++) {
        struct entry *e = &b->e[i];

        if (!alive(e) || key_of(e) == NULL)
            continue;
        if (same_key(key_of(e), &bound_key))
            identity_external_bound(corp_id, platform_user_id, owner, &e->fail);
        else if (same_union(key_of(e), &bound_key))
            identity_union_id_bound(union_id, owner, &e->fail);
    }
}

/* Checks the rules of BindExternalIdentity for every entry with a key at once. */
static rs_status
check_externals(rs_db_conn *conn, struct batch *b, struct rs_error *err)
{
    struct rs_buf arrays[4];
    bool locked[4] = { false, false, false, false };
    PGresult *res = NULL;
    size_t i;
    int r;
    rs_status rc = RS_OK;

    /* Locks in platform order, so two batches cannot wait on each other. */
    for (r = 1; r <= 3 && rc == RS_OK; r++) {
        for (i = 0; i < b->n && !locked[r]; i++)
            locked[r] = alive(&b->e[i]) && key_of(&b->e[i]) != NULL &&
                        (int)key_of(&b->e[i])->platform == r;
        if (locked[r])
            rc = identity_lock_externals(conn, rs_call_arena(b->call), b->org_id, r, err);
    }
    if (rc != RS_OK || !(locked[1] || locked[2] || locked[3]))
        return rc;
    /*
     * OFFSET 0 makes each lookup an index probe per key. As a plain join,
     * stale statistics after a large import make the planner hash every
     * binding of the organisation.
     */
    rs_buf_arrays_open(arrays, 4);
    for (i = 0; i < b->n; i++)
        if (alive(&b->e[i]) && key_of(&b->e[i]) != NULL)
            key_elems(arrays, &b->e[i]);
    rc = query_arrays(conn, b, "identity.users_batch_bound",
                      "WITH x AS (SELECT * FROM unnest($2::smallint[], $3::text[], "
                      "$4::text[], $5::text[]) AS x(platform, corp_id, platform_user_id, "
                      "union_id)) "
                      "SELECT e.platform, e.corp_id, e.platform_user_id, e.union_id, e.user_id "
                      "FROM x CROSS JOIN LATERAL (SELECT * FROM identity.external_identities e "
                      "WHERE e.organization_id = $1 AND e.platform = x.platform "
                      "AND e.corp_id = x.corp_id AND e.platform_user_id = x.platform_user_id "
                      "OFFSET 0) e "
                      "UNION ALL "
                      "SELECT e.platform, e.corp_id, e.platform_user_id, e.union_id, e.user_id "
                      "FROM x CROSS JOIN LATERAL (SELECT * FROM identity.external_identities e "
                      "WHERE e.organization_id = $1 AND e.platform = x.platform "
                      "AND e.union_id <> '' AND e.union_id = x.union_id OFFSET 0) e "
                      "WHERE x.union_id <> ''",
                      arrays, 4, &res, err);
    if (rc != RS_OK)
        return rc;
    for (r = 0; r < PQntuples(res); r++)
        mark_bound(b, atoi(PQgetvalue(res, r, 0)), PQgetvalue(res, r, 1),
                   PQgetvalue(res, r, 2), PQgetvalue(res, r, 3), PQgetvalue(res, r, 4));
    return RS_OK;
}

int
identity_find_row(const PGresult *res, const char *id)
{
    int lo = 0;
    int hi = PQntuples(res);

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int cmp = strcmp(PQgetvalue(res, mid, 0), id);

        if (cmp == 0)
            return mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Checks that every group an entry joins is in the organisation and writable. */
static rs_status
check_groups(rs_db_conn *conn, struct batch *b, struct rs_error *err)
{
    struct rs_buf arrays[1];
    PGresult *res = NULL;
    bool any = false;
    size_t i;
    size_t k;
    int r;
    rs_status rc;

    rs_buf_arrays_open(arrays, 1);
    for (i = 0; i < b->n; i++) {
        if (!alive(&b->e[i]))
            continue;
        for (k = 0; k < b->e[i].in->n_group_ids; k++) {
            rs_buf_elem(&arrays[0], b->e[i].in->group_ids[k]);
            any = true;
        }
    }
    if (!any) {
        rs_buf_arrays_free(arrays, 1);
        return RS_OK;
    }
    rc = query_arrays(conn, b, "identity.users_batch_groups", IDENTITY_SQL_USERS_BATCH_GROUPS,
                      arrays, 1, &res, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < b->n; i++) {
        struct entry *e = &b->e[i];

        for (k = 0; k < e->in->n_group_ids && alive(e); k++) {
            const char *g = e->in->group_ids[k];

            r = identity_find_row(res, g);
            if (r < 0)
                identity_group_not_found(b->org_id, g, &e->fail);
            else if (identity_group_writable(b->call, g, PQgetvalue(res, r, 1)[0] == 't',
                                             &e->fail) != RS_OK)
                continue; /* the entry is rejected, and alive(e) ends the loop */
        }
    }
    return RS_OK;
}

/* Returns true if an accepted entry before e has chosen nickname. */
static bool
chosen_before(const struct entry *e, const struct batch *b, const char *nickname)
{
    const struct entry *prev;

    for (prev = b->e; prev < e; prev++)
        if (alive(prev) && strcmp(prev->nickname, nickname) == 0)
            return true;
    return false;
}

/* Chooses e's first nickname candidate that no user and no earlier accepted entry has. */
static void
choose_nickname(struct entry *e, const struct batch *b)
{
    size_t k;

    for (k = 0; k < n_candidates(e); k++) {
        if (!(e->nickname_used & (1u << k)) && !chosen_before(e, b, candidate(e, k))) {
            e->nickname = candidate(e, k);
            return;
        }
    }
    identity_nickname_taken(e->in->nickname, &e->fail);
}

/*
 * Checks what depends on the other entries, in entry order: a nickname,
 * account id, key or union id of an earlier accepted entry, then a seat.
 * Only accepted entries count, so a rejected entry blocks nothing.
 */
static void
admit(struct entry *e, const struct batch *b, struct identity_seats *seats)
{
    const struct entry *prev;

    if (alive(e))
        choose_nickname(e, b);
    for (prev = b->e; prev < e && alive(e); prev++) {
        if (!alive(prev))
            continue;
        if (e->in->account_id[0] != '\0' &&
                 strcmp(e->in->account_id, prev->in->account_id) == 0)
            identity_account_id_taken(e->in->account_id, &e->fail);
        else if (key_of(e) != NULL && key_of(prev) != NULL && same_key(key_of(e), key_of(prev)))
            identity_external_bound(key_of(e)->corp_id, key_of(e)->platform_user_id, prev->id,
                                    &e->fail);
        else if (key_of(e) != NULL && key_of(prev) != NULL &&
                 same_union(key_of(e), key_of(prev)))
            identity_union_id_bound(key_of(e)->union_id, prev->id, &e->fail);
    }
    if (alive(e) && identity_seat_take(seats, e->in->user_type, 0, &e->fail) != RS_OK)
        return; /* rejected, so the seat stays free for later entries */
}

static rs_status
admit_all(rs_db_conn *conn, struct batch *b, struct rs_error *err)
{
    struct identity_seats seats;
    size_t i;
    rs_status rc;

    rc = identity_seat_usage(conn, rs_call_arena(b->call), b->org_id, &seats, err);
    for (i = 0; rc == RS_OK && i < b->n; i++)
        admit(&b->e[i], b, &seats);
    return rc;
}

static struct entry *
entry_by_id(struct batch *b, const char *id)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (strcmp(b->e[i].id, id) == 0)
            return &b->e[i];
    return NULL;
}

/* Inserts the users that passed every check, then their keys and groups. */
static rs_status
insert_all(rs_db_conn *conn, struct batch *b, struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(b->call);
    struct rs_buf arrays[6];
    PGresult *res = NULL;
    size_t i;
    size_t k;
    int r;
    rs_status rc;

    rs_buf_arrays_open(arrays, 6);
    for (i = 0; i < b->n; i++) {
        const struct entry *e = &b->e[i];
        char type[4];

        if (!alive(e))
            continue;
        snprintf(type, sizeof(type), "%d", (int)e->in->user_type);
        rs_buf_elem(&arrays[0], e->id);
        rs_buf_elem(&arrays[1], e->nickname);
        rs_buf_elem(&arrays[2], type);
        rs_buf_elem(&arrays[3], e->in->email);
        rs_buf_elem(&arrays[4], e->in->phone);
        rs_buf_elem(&arrays[5], e->in->account_id);
    }
    /* A clash that the checks could not see (a rename that committed since)
     * skips the row rather than failing the batch.
     * NOTE: such a row would be reported as NICKNAME_TAKEN even when its
     * account id clashed, and keep its seat. Today every user write holds
     * the organisation row lock, so no such clash can happen. */
    rc = query_arrays(conn, b, "identity.users_batch_insert",
                      "INSERT INTO identity.users AS u (id, organization_id, nickname, "
                      "user_type, email, phone, account_id) "
                      "SELECT x.id, $1, x.nickname, x.user_type, x.email, x.phone, "
                      "x.account_id FROM unnest($2::text[], $3::text[], $4::smallint[], "
                      "$5::text[], $6::text[], $7::text[]) WITH ORDINALITY "
                      "AS x(id, nickname, user_type, email, phone, account_id, n) "
                      "ORDER BY x.n ON CONFLICT DO NOTHING RETURNING " IDENTITY_USER_COLS,
                      arrays, 6, &res, err);
    if (rc != RS_OK)
        return rc;
    for (r = 0; r < PQntuples(res); r++) {
        struct entry *e = entry_by_id(b, PQgetvalue(res, r, 0));

        if (e == NULL)
            continue;
        e->created = identity_user_from_row(arena, res, r);
        if (e->created == NULL)
            return identity_nomem(err);
    }
    for (i = 0; i < b->n; i++)
        if (alive(&b->e[i]) && b->e[i].created == NULL)
            identity_nickname_taken(b->e[i].nickname, &b->e[i].fail);

    rs_buf_arrays_open(arrays, 5);
    for (i = 0; i < b->n; i++) {
        if (!alive(&b->e[i]) || key_of(&b->e[i]) == NULL)
            continue;
        key_elems(arrays, &b->e[i]);
        rs_buf_elem(&arrays[4], b->e[i].id);
    }
    rc = query_arrays(conn, b, "identity.users_batch_bind",
                      "INSERT INTO identity.external_identities (organization_id, platform, "
                      "corp_id, platform_user_id, union_id, user_id) "
                      "SELECT $1, x.* FROM unnest($2::smallint[], $3::text[], $4::text[], "
                      "$5::text[], $6::text[]) AS x",
                      arrays, 5, NULL, err);
    if (rc != RS_OK)
        return rc;

    rs_buf_arrays_open(arrays, 2);
    for (i = 0; i < b->n; i++)
        for (k = 0; alive(&b->e[i]) && k < b->e[i].in->n_group_ids; k++) {
            rs_buf_elem(&arrays[0], b->e[i].in->group_ids[k]);
            rs_buf_elem(&arrays[1], b->e[i].id);
        }
    /* $1 is not needed here, but query_arrays always passes it. */
    rc = query_arrays(conn, b, "identity.users_batch_join",
                      "INSERT INTO identity.user_group_members (group_id, user_id) "
                      "SELECT DISTINCT x.group_id, x.user_id FROM unnest($2::text[], "
                      "$3::text[]) AS x(group_id, user_id) WHERE $1::text IS NOT NULL "
                      "ON CONFLICT DO NOTHING",
                      arrays, 2, NULL, err);
    return rc;
}

rs_status
identity_validate_batch(const char *org_id, size_t n, const char *field, struct rs_error *err)
{
    rs_status rc;

    rc = rs_validate_id("organization_id", org_id, err);
    if (rc != RS_OK)
        return rc;
    if (n >= 1 && n <= IDENTITY_BATCH_MAX)
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "BATCH_SIZE_INVALID",
                 "invalid number of %s %zu: expected 1 to %d", field, n, IDENTITY_BATCH_MAX);
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}

rs_status
identity_check_reply_size(struct rs_call *call, const ProtobufCMessage *reply, size_t n,
                          struct rs_error *err)
{
    size_t size = protobuf_c_message_get_packed_size(reply);
    int max = rs_call_max_message_bytes(call);

    if (size <= (size_t)max)
        return RS_OK;
    rs_error_set(err, RS_ERESOURCE, "RESPONSE_TOO_LARGE",
                 "the reply for %zu entries would be %zu bytes, above the server's limit of "
                 "%d bytes: send fewer entries per call",
                 n, size, max);
    return RS_ERESOURCE;
}

void
identity_log_batch(struct rs_call *call, const char *msg, const char *org_id,
                   size_t n_created, size_t n)
{
    char created[24];
    char rejected[24];

    snprintf(created, sizeof(created), "%zu", n_created);
    snprintf(rejected, sizeof(rejected), "%zu", n - n_created);
    rs_log_info(rs_call_log(call), msg, "organization_id", org_id, "created", created,
                "rejected", rejected, NULL);
}

Roster__Identity__V1__EntryError *
identity_entry_error(rs_arena *arena, const struct rs_error *e)
{
    Roster__Identity__V1__EntryError *out = rs_arena_alloc(arena, sizeof(*out));
    int i;

    if (out == NULL)
        return NULL;
    roster__identity__v1__entry_error__init(out);
    out->code = rs_status_to_grpc(e->code);
    out->reason = rs_arena_strdup(arena, e->reason[0] != '\0' ? e->reason
                                                              : rs_status_name(e->code));
    out->message = rs_arena_strdup(arena, e->message);
    out->metadata = rs_arena_alloc(arena, sizeof(*out->metadata) * (size_t)(e->n_meta + 1));
    if (out->reason == NULL || out->message == NULL || out->metadata == NULL)
        return NULL;
    for (i = 0; i < e->n_meta; i++) {
        Roster__Identity__V1__EntryError__MetadataEntry *m = rs_arena_alloc(arena, sizeof(*m));

        if (m == NULL)
            return NULL;
        roster__identity__v1__entry_error__metadata_entry__init(m);
        m->key = rs_arena_strdup(arena, e->meta_key[i]);
        m->value = rs_arena_strdup(arena, e->meta_value[i]);
        if (m->key == NULL || m->value == NULL)
            return NULL;
        out->metadata[out->n_metadata++] = m;
    }
    return out;
}

static rs_status
build_response(struct batch *b, struct rs_error *err)
{
    rs_arena *arena = rs_call_arena(b->call);
    Roster__Identity__V1__CreateUsersResponse *out = rs_arena_alloc(arena, sizeof(*out));
    size_t i;

    if (out == NULL)
        return identity_nomem(err);
    roster__identity__v1__create_users_response__init(out);
    out->results = rs_arena_alloc(arena, sizeof(*out->results) * b->n);
    if (out->results == NULL)
        return identity_nomem(err);
    for (i = 0; i < b->n; i++) {
        const struct entry *e = &b->e[i];
        Roster__Identity__V1__CreateUsersResult *r = rs_arena_alloc(arena, sizeof(*r));

        if (r == NULL)
            return identity_nomem(err);
        roster__identity__v1__create_users_result__init(r);
        if (e->created != NULL) {
            r->user = e->created;
        } else {
            r->error = identity_entry_error(arena, e->invalid.code != RS_OK ? &e->invalid : &e->fail);
            if (r->error == NULL)
                return identity_nomem(err);
        }
        out->results[out->n_results++] = r;
    }
    b->resp = &out->base;
    return RS_OK;
}

static rs_status
create_users_tx(rs_db_conn *conn, void *arg, struct rs_error *err)
{
    struct batch *b = arg;
    struct identity_actor actor;
    size_t i;
    rs_status rc;

    for (i = 0; i < b->n; i++) {
        rs_error_clear(&b->e[i].fail);
        b->e[i].created = NULL;
        b->e[i].nickname = b->e[i].in->nickname;
        b->e[i].nickname_used = 0;
    }
    /* The organisation row lock serialises seat counting across creates. */
    rc = identity_authorize(conn, b->call, b->org_id, IDENTITY_LOCK_ORG | IDENTITY_NEED_ADMIN,
                            &actor, err);
    if (rc == RS_OK)
        rc = check_names(conn, b, err);
    if (rc == RS_OK)
        rc = check_externals(conn, b, err);
    if (rc == RS_OK)
        rc = check_groups(conn, b, err);
    if (rc == RS_OK)
        rc = admit_all(conn, b, err);
    if (rc == RS_OK)
        rc = insert_all(conn, b, err);
    if (rc == RS_OK)
        rc = build_response(b, err);
    if (rc != RS_OK)
        return rc;
    return identity_check_reply_size(b->call, b->resp, b->n, err);
}

/* Normalises the nickname and its fallbacks of in, decoded into arena, to NFC. */
static rs_status
normalize_entry(rs_arena *arena, Roster__Identity__V1__NewUser *in, struct rs_error *err)
{
    size_t k;
    rs_status rc;

    rc = rs_name_normalize(arena, &in->nickname, err);
    for (k = 0; rc == RS_OK && k < in->n_nickname_fallbacks; k++)
        rc = rs_name_normalize(arena, &in->nickname_fallbacks[k], err);
    return rc;
}

/* Validates the fields of one entry, the checks that need no database, into e->invalid. */
static void
validate_entry(struct entry *e)
{
    const Roster__Identity__V1__NewUser *in = e->in;
    const Roster__Identity__V1__ExternalIdentityKey *key = in->external_identity;
    struct rs_error *err = &e->invalid;
    size_t k;
    rs_status rc;

    e->user.nickname = in->nickname;
    e->user.user_type = in->user_type;
    e->user.email = in->email;
    e->user.phone = in->phone;
    e->user.account_id = in->account_id;
    rc = identity_validate_new_user(&e->user, err);
    if (rc == RS_OK && in->n_nickname_fallbacks > NICKNAME_FALLBACKS_MAX) {
        rs_error_set(err, RS_EINVAL, "BATCH_SIZE_INVALID",
                     "invalid number of nickname_fallbacks %zu: expected at most %d",
                     in->n_nickname_fallbacks, NICKNAME_FALLBACKS_MAX);
        rs_error_meta(err, "field", "nickname_fallbacks");
        rc = RS_EINVAL;
    }
    for (k = 0; rc == RS_OK && k < in->n_nickname_fallbacks; k++) {
        struct rs_error bad;
        char index[24];

        rs_error_clear(&bad);
        if (identity_validate_nickname(in->nickname_fallbacks[k], &bad) == RS_OK)
            continue;
        snprintf(index, sizeof(index), "%zu", k);
        rc = rs_error_set(err, bad.code, bad.reason, "nickname_fallbacks[%zu]: %s", k,
                          bad.message);
        rs_error_meta(err, "field", "nickname_fallbacks");
        rs_error_meta(err, "index", index);
    }
    if (rc == RS_OK && key != NULL)
        rc = identity_validate_external_key(key->platform, key->corp_id,
                                            key->platform_user_id, err);
    if (rc == RS_OK && key != NULL)
        rc = identity_validate_text("union_id", key->union_id, IDENTITY_EXTERNAL_ID_MAX, true,
                                    "EXTERNAL_ID_INVALID", err);
    if (rc == RS_OK && in->n_group_ids > GROUPS_PER_USER_MAX) {
        rs_error_set(err, RS_EINVAL, "BATCH_SIZE_INVALID",
                     "invalid number of group_ids %zu: expected at most %d", in->n_group_ids,
                     GROUPS_PER_USER_MAX);
        rs_error_meta(err, "field", "group_ids");
        rc = RS_EINVAL;
    }
    for (k = 0; rc == RS_OK && k < in->n_group_ids; k++)
        rc = rs_validate_id("group_ids", in->group_ids[k], err);
}

rs_status
identity_create_users(struct rs_call *call, const ProtobufCMessage *msg,
                      ProtobufCMessage **resp, struct rs_error *err)
{
    const Roster__Identity__V1__CreateUsersRequest *req = (const void *)msg;
    struct batch b;
    size_t i;
    size_t n_created = 0;
    rs_status rc;

    rc = identity_validate_batch(req->organization_id, req->n_users, "users", err);
    if (rc != RS_OK)
        return rc;
    memset(&b, 0, sizeof(b));
    b.call = call;
    b.org_id = req->organization_id;
    b.n = req->n_users;
    b.e = rs_arena_alloc(rs_call_arena(call), sizeof(*b.e) * b.n);
    if (b.e == NULL)
        return identity_nomem(err);
    for (i = 0; i < b.n; i++) {
        struct entry *e = &b.e[i];

        memset(e, 0, sizeof(*e));
        roster__identity__v1__create_user_request__init(&e->user);
        e->in = req->users[i];
        rs_error_clear(&e->invalid);
        rs_error_clear(&e->fail);
        rs_id_new(e->id);
        rc = normalize_entry(rs_call_arena(call), req->users[i], err);
        if (rc != RS_OK)
            return rc;
        validate_entry(e);
    }
    rc = identity_tx(call, b.org_id, create_users_tx, &b, err);
    if (rc != RS_OK)
        return rc;
    for (i = 0; i < b.n; i++)
        n_created += b.e[i].created != NULL;
    identity_log_batch(call, "users created", b.org_id, n_created, b.n);
    *resp = b.resp;
    return RS_OK;
}
