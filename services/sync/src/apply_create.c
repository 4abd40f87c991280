/*
 * services/sync/src/apply_create.c
 *    Start Sync's CreateUsers calls for the members of a chunk without a
 *    Roster user. Each entry creates, binds and groups one user in one
 *    identity transaction, so a member never has a user without its
 *    binding. Entries are packed into requests by size, and a request that
 *    is too large for identity is split (apply_batch.c).
 */
#include "apply_member.h"

#include <stdio.h>

#include "roster/identity/v1/identity.pb-c.h"

/* identity's CreateUsers takes at most 100 groups per entry. */
#define CREATE_GROUPS_MAX 100
/*
 * Requests stay well below the message limits identity normally runs with,
 * 4 MiB by default and 64 KiB in the tests. So an ordinary chunk fits in
 * one call, members in many departments are spread over several, and no
 * request is rejected. With a smaller limit, sync_dp_batch_send splits the
 * rejected calls.
 */
#define CREATE_REQUEST_BYTES (48 * 1024)

/* The CreateUsers calls of one chunk. */
struct create_batch {
    Roster__Identity__V1__CreateUsersRequest req;
    Roster__Identity__V1__NewUser **users;
    struct member_work **sent; /* sent[i] is the member of users[i] */
};

static void
creates_range(void *arg, size_t first, size_t n)
{
    struct create_batch *cb = arg;

    cb->req.users = cb->users + first;
    cb->req.n_users = n;
}

/* Reads the results of one CreateUsers call for entries [first, first + n). */
static void
creates_take(void *arg, size_t first, size_t n, const ProtobufCMessage *msg,
             const struct rs_error *err)
{
    struct create_batch *cb = arg;
    const Roster__Identity__V1__CreateUsersResponse *resp =
        (const Roster__Identity__V1__CreateUsersResponse *)msg;
    struct rs_error e;
    size_t i;

    sync_dp_batch_error(err, err == NULL ? resp->n_results : 0, n, "users", &e);
    /* A rejected call is the failure of every member in it. */
    for (i = 0; i < n; i++) {
        struct member_work *w = cb->sent[first + i];
        const Roster__Identity__V1__NewUser *u = cb->users[first + i];
        const Roster__Identity__V1__CreateUsersResult *r = e.code == RS_OK ? resp->results[i]
                                                                           : NULL;

        w->creating = false;
        if (r == NULL) {
            sync_dp_member_fail(w, &e);
        } else if (r->user != NULL) {
            snprintf(w->user_id, sizeof(w->user_id), "%s", r->user->user_id);
            w->created = true;
            /* The groups that went with the create are joined already. */
            w->add += u->n_group_ids;
            w->n_add -= u->n_group_ids;
        } else {
            sync_dp_entry_error(&w->fail, r->error);
        }
    }
}

/*
 * Builds the CreateUsers entry of w with its n nickname candidates, the
 * first as the nickname and the others as fallbacks, or returns NULL when
 * out of memory.
 */
static Roster__Identity__V1__NewUser *
new_user(struct member_chunk *c, struct member_work *w, char (*cand)[SYNC_DP_NICK_BYTES],
         size_t n)
{
    struct sync_dp_apply *a = c->a;
    Roster__Identity__V1__NewUser *u = rs_arena_alloc(c->arena, sizeof(*u));
    Roster__Identity__V1__ExternalIdentityKey *key = rs_arena_alloc(c->arena, sizeof(*key));
    size_t i;

    if (u == NULL || key == NULL)
        return NULL;
    roster__identity__v1__new_user__init(u);
    roster__identity__v1__external_identity_key__init(key);
    u->nickname = cand[0];
    u->nickname_fallbacks = rs_arena_alloc(c->arena, sizeof(*u->nickname_fallbacks) * n);
    if (u->nickname_fallbacks == NULL)
        return NULL;
    for (i = 1; i < n; i++)
        u->nickname_fallbacks[u->n_nickname_fallbacks++] = cand[i];
    u->user_type = (Roster__Identity__V1__UserType)a->req.user_type;
    u->email = w->m->email;
    u->phone = w->m->mobile;
    key->platform = (Roster__Identity__V1__Platform)a->src.platform;
    key->corp_id = a->src.corp_id;
    key->platform_user_id = w->m->userid;
    key->union_id = w->m->unionid;
    u->external_identity = key;
    /* plan_groups put every wanted group in add, in order. Groups past
     * identity's cap per entry are added afterwards like any other. */
    u->group_ids = (char **)w->add;
    u->n_group_ids = w->n_add < CREATE_GROUPS_MAX ? w->n_add : CREATE_GROUPS_MAX;
    return u;
}

/*
 * Sends the members marked creating, each with its nickname candidates, in
 * CreateUsers calls of at most CREATE_REQUEST_BYTES. identity takes the
 * first candidate that is free.
 */
rs_status
sync_dp_create_users(struct member_chunk *c, struct rs_error *err)
{
    struct create_batch cb;
    struct sync_dp_batch batch;
    size_t bytes = 0;
    size_t from = 0; /* the first entry not sent yet */
    size_t n = 0;
    size_t i;

    roster__identity__v1__create_users_request__init(&cb.req);
    cb.req.organization_id = c->a->src.org_id;
    cb.users = rs_arena_alloc(c->arena, sizeof(*cb.users) * (c->n + 1));
    cb.sent = rs_arena_alloc(c->arena, sizeof(*cb.sent) * (c->n + 1));
    if (cb.users == NULL || cb.sent == NULL)
        return sync_nomem(err);
    batch.method = "CreateUsers";
    batch.req = &cb.req.base;
    batch.resp_desc = &roster__identity__v1__create_users_response__descriptor;
    batch.arena = c->arena;
    batch.range = creates_range;
    batch.take = creates_take;
    batch.arg = &cb;
    for (i = 0; i < c->n; i++) {
        struct member_work *w = &c->w[i];
        char (*cand)[SYNC_DP_NICK_BYTES];
        Roster__Identity__V1__NewUser *u;
        size_t size;

        if (!w->creating)
            continue;
        cand = rs_arena_alloc(c->arena, sizeof(*cand) * SYNC_DP_NICKNAMES_MAX);
        if (cand == NULL)
            return sync_nomem(err);
        u = new_user(c, w, cand, sync_dp_nicknames(c->a, w->m, cand, SYNC_DP_NICKNAMES_MAX));
        if (u == NULL)
            return sync_nomem(err);
        size = protobuf_c_message_get_packed_size(&u->base) + 8;
        if (n > from && bytes + size > CREATE_REQUEST_BYTES) {
            sync_dp_batch_send(c->a, &batch, from, n - from);
            from = n;
            bytes = 0;
        }
        rs_error_clear(&w->fail);
        cb.users[n] = u;
        cb.sent[n++] = w;
        bytes += size;
    }
    sync_dp_batch_send(c->a, &batch, from, n - from);
    return RS_OK;
}
