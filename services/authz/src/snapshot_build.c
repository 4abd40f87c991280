/*
 * services/authz/src/snapshot_build.c
 *    The snapshot builder: collects rows in any order, then resolves ids to
 *    indexes, drops rows whose target is gone, precomputes each user's
 *    group closure and builds the hash indexes the evaluation uses.
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roster/alloc.h"
#include "roster/str.h"

/* Strings copied into a builder: offsets into one growing buffer. */
struct strbuf {
    char *data;
    size_t len, cap;
};

struct raw_user { uint32_t id; uint8_t type; bool enabled; };
struct raw_group { uint32_t id, parent; bool has_parent; };
struct raw_pair { uint32_t a, b; };
struct raw_role_row { uint32_t user; int64_t role; };
struct raw_key { int64_t role; uint32_t key; };
struct raw_workspace { uint32_t id, owner; uint8_t mode; };
struct raw_member { uint32_t ws, principal, roles_off; uint16_t n_roles; uint8_t type; };
struct raw_resource { uint32_t id, ws, owner; uint8_t type; bool has_owner; };
struct raw_grant {
    uint8_t id[16];
    uint32_t rid, sid;
    uint8_t type, subject_type, level;
    int64_t expires_us;
};

#define RAW_VEC(T, name) T *name; uint32_t n_##name, cap_##name

struct snap_builder {
    char org_id[33];
    int64_t revision;
    uint32_t owner;
    bool has_owner;
    struct strbuf keep; /* ids that live on in the snapshot */
    struct strbuf temp; /* references resolved at build time */
    RAW_VEC(struct raw_user, users);
    RAW_VEC(struct raw_group, groups);
    RAW_VEC(struct raw_pair, group_members); /* a = group, b = user (temp) */
    RAW_VEC(struct raw_role_row, user_roles); /* user in temp */
    RAW_VEC(struct raw_key, role_keys);       /* key in keep */
    RAW_VEC(struct raw_workspace, workspaces); /* owner in temp */
    RAW_VEC(struct snap_ws_role, ws_roles);
    RAW_VEC(struct raw_member, members);      /* ws, principal in temp */
    RAW_VEC(int64_t, member_roles);
    RAW_VEC(struct raw_resource, resources);  /* ws, owner in temp */
    RAW_VEC(struct raw_grant, grants);        /* rid, sid in temp */
    uint8_t ceilings[4][16];
};

static rs_status
vec_reserve(void **data, uint32_t *cap, uint32_t need, size_t elem)
{
    uint32_t ncap;
    void *p;

    if (need <= *cap)
        return RS_OK;
    ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > UINT32_MAX / 2)
            return RS_ENOMEM;
        ncap *= 2;
    }
    p = rs_realloc(*data, (size_t)ncap * elem);
    if (p == NULL)
        return RS_ENOMEM;
    *data = p;
    *cap = ncap;
    return RS_OK;
}

/* Reserves one more element of vector name in b and points slot at it. */
#define VEC_PUSH(b, name, slot)                                                           \
    do {                                                                                  \
        if (vec_reserve((void **)&(b)->name, &(b)->cap_##name, (b)->n_##name + 1,         \
                        sizeof(*(b)->name)) != RS_OK)                                     \
            return RS_ENOMEM;                                                             \
        (slot) = &(b)->name[(b)->n_##name++];                                             \
        memset((slot), 0, sizeof(*(slot)));                                               \
    } while (0)

static rs_status
strbuf_add(struct strbuf *sb, const char *s, uint32_t *off)
{
    size_t n = strlen(s) + 1;

    if (sb->len + n > UINT32_MAX)
        return RS_ENOMEM;
    if (sb->len + n > sb->cap) {
        size_t ncap = sb->cap ? sb->cap : 4096;
        char *p;

        while (ncap < sb->len + n)
            ncap *= 2;
        p = rs_realloc(sb->data, ncap);
        if (p == NULL)
            return RS_ENOMEM;
        sb->data = p;
        sb->cap = ncap;
    }
    memcpy(sb->data + sb->len, s, n);
    *off = (uint32_t)sb->len;
    sb->len += n;
    return RS_OK;
}

struct snap_builder *
snap_builder_create(const char *org_id)
{
    struct snap_builder *b = rs_calloc(1, sizeof(*b));
    int t;
    size_t r;

    if (b == NULL)
        return NULL;
    snprintf(b->org_id, sizeof(b->org_id), "%s", org_id);
    for (t = 1; t <= 3; t++)
        for (r = 0; r < authz_n_resource_types; r++)
            b->ceilings[t][r] = (uint8_t)authz_type_ceiling(t, authz_resource_types[r]);
    return b;
}

static void
builder_reset(struct snap_builder *b)
{
    RS_FREE(&b->keep.data);
    RS_FREE(&b->temp.data);
    RS_FREE(&b->users);
    RS_FREE(&b->groups);
    RS_FREE(&b->group_members);
    RS_FREE(&b->user_roles);
    RS_FREE(&b->role_keys);
    RS_FREE(&b->workspaces);
    RS_FREE(&b->ws_roles);
    RS_FREE(&b->members);
    RS_FREE(&b->member_roles);
    RS_FREE(&b->resources);
    RS_FREE(&b->grants);
}

void
snap_builder_destroy(struct snap_builder *b)
{
    if (b == NULL)
        return;
    builder_reset(b);
    rs_free(b);
}

rs_status
snap_add_owner(struct snap_builder *b, const char *user_id)
{
    b->has_owner = true;
    return strbuf_add(&b->temp, user_id, &b->owner);
}

rs_status
snap_add_revision(struct snap_builder *b, int64_t revision)
{
    b->revision = revision;
    return RS_OK;
}

rs_status
snap_add_user(struct snap_builder *b, const char *id, int type, bool enabled)
{
    struct raw_user *u;

    VEC_PUSH(b, users, u);
    u->type = (uint8_t)type;
    u->enabled = enabled;
    return strbuf_add(&b->keep, id, &u->id);
}

rs_status
snap_add_group(struct snap_builder *b, const char *id, const char *parent_id)
{
    struct raw_group *g;

    VEC_PUSH(b, groups, g);
    if (strbuf_add(&b->keep, id, &g->id) != RS_OK)
        return RS_ENOMEM;
    if (parent_id == NULL || parent_id[0] == '\0')
        return RS_OK;
    g->has_parent = true;
    return strbuf_add(&b->temp, parent_id, &g->parent);
}

rs_status
snap_add_group_member(struct snap_builder *b, const char *group_id, const char *user_id)
{
    struct raw_pair *p;

    VEC_PUSH(b, group_members, p);
    if (strbuf_add(&b->temp, group_id, &p->a) != RS_OK)
        return RS_ENOMEM;
    return strbuf_add(&b->temp, user_id, &p->b);
}

rs_status
snap_add_user_org_role(struct snap_builder *b, const char *user_id, int64_t role_id)
{
    struct raw_role_row *r;

    VEC_PUSH(b, user_roles, r);
    r->role = role_id;
    return strbuf_add(&b->temp, user_id, &r->user);
}

rs_status
snap_add_org_role_key(struct snap_builder *b, int64_t role_id, const char *key)
{
    struct raw_key *k;

    VEC_PUSH(b, role_keys, k);
    k->role = role_id;
    return strbuf_add(&b->keep, key, &k->key);
}

rs_status
snap_add_workspace(struct snap_builder *b, const char *id, int mode, const char *owner_id)
{
    struct raw_workspace *w;

    VEC_PUSH(b, workspaces, w);
    w->mode = (uint8_t)mode;
    if (strbuf_add(&b->keep, id, &w->id) != RS_OK)
        return RS_ENOMEM;
    return strbuf_add(&b->temp, owner_id ? owner_id : "", &w->owner);
}

static uint32_t
perms_mask(const struct authz_ws_perms *perms)
{
    uint32_t mask = 0;
    int m;

    for (m = 0; m < AUTHZ_N_MODULES; m++)
        mask |= SNAP_PERM_BIT(m, perms->actions[m] & AUTHZ_ACT_ALL);
    return mask;
}

rs_status
snap_add_ws_role(struct snap_builder *b, int64_t id, const struct authz_ws_perms *perms)
{
    struct snap_ws_role *r;

    VEC_PUSH(b, ws_roles, r);
    r->id = id;
    r->mask = perms_mask(perms);
    r->manages_members = perms->manages_members;
    return RS_OK;
}

rs_status
snap_add_member(struct snap_builder *b, const char *workspace_id, int principal_type,
                const char *principal_id, const int64_t *role_ids, size_t n)
{
    struct raw_member *m;
    size_t i;

    if (n > UINT16_MAX)
        n = UINT16_MAX;
    VEC_PUSH(b, members, m);
    m->type = (uint8_t)principal_type;
    m->n_roles = (uint16_t)n;
    m->roles_off = b->n_member_roles;
    if (vec_reserve((void **)&b->member_roles, &b->cap_member_roles,
                    b->n_member_roles + (uint32_t)n, sizeof(int64_t)) != RS_OK)
        return RS_ENOMEM;
    for (i = 0; i < n; i++)
        b->member_roles[b->n_member_roles++] = role_ids[i];
    if (strbuf_add(&b->temp, workspace_id, &m->ws) != RS_OK)
        return RS_ENOMEM;
    return strbuf_add(&b->temp, principal_id, &m->principal);
}

rs_status
snap_add_resource(struct snap_builder *b, const char *type, const char *id,
                  const char *workspace_id, const char *owner_id)
{
    struct raw_resource *r;
    int t = snap_resource_type(type);

    if (t < 0)
        return RS_OK; /* not a work type: nothing can be asked about it */
    VEC_PUSH(b, resources, r);
    r->type = (uint8_t)t;
    if (strbuf_add(&b->keep, id, &r->id) != RS_OK)
        return RS_ENOMEM;
    if (strbuf_add(&b->temp, workspace_id, &r->ws) != RS_OK)
        return RS_ENOMEM;
    if (owner_id == NULL || owner_id[0] == '\0')
        return RS_OK;
    r->has_owner = true;
    return strbuf_add(&b->temp, owner_id, &r->owner);
}

rs_status
snap_add_grant(struct snap_builder *b, const char *grant_id, const char *type,
               const char *resource_id, int subject_type, const char *subject_id, int level,
               int64_t expires_us)
{
    struct raw_grant *g;
    int t = snap_resource_type(type);
    int i;

    if (t < 0 || !authz_level_valid(level) || subject_type < SNAP_SUBJECT_USER ||
        subject_type > SNAP_SUBJECT_WORKSPACE)
        return RS_OK;
    VEC_PUSH(b, grants, g);
    for (i = 0; i < 16 && grant_id[2 * i] != '\0' && grant_id[2 * i + 1] != '\0'; i++) {
        int hi = rs_hex_value(grant_id[2 * i]), lo = rs_hex_value(grant_id[2 * i + 1]);

        g->id[i] = (uint8_t)((hi < 0 ? 0 : hi) << 4 | (lo < 0 ? 0 : lo));
    }
    g->type = (uint8_t)t;
    g->subject_type = (uint8_t)subject_type;
    g->level = (uint8_t)level;
    g->expires_us = expires_us;
    if (strbuf_add(&b->temp, resource_id, &g->rid) != RS_OK)
        return RS_ENOMEM;
    return strbuf_add(&b->temp, subject_id ? subject_id : "", &g->sid);
}

void
snap_set_ceiling(struct snap_builder *b, int user_type, const char *type, int level)
{
    int t = snap_resource_type(type);

    if (t >= 0 && user_type >= 1 && user_type <= 3)
        b->ceilings[user_type][t] = (uint8_t)level;
}

/* --- building --- */

static rs_status
hash_init(struct snap_hash *h, uint32_t n)
{
    uint32_t cap = 16;

    while (cap < n * 2u) {
        if (cap > UINT32_MAX / 4)
            return RS_ENOMEM;
        cap *= 2;
    }
    h->slots = rs_calloc(cap, sizeof(uint32_t));
    if (h->slots == NULL)
        return RS_ENOMEM;
    h->mask = cap - 1;
    return RS_OK;
}

static void
hash_put(struct snap_hash *h, uint64_t hash, uint32_t index)
{
    uint32_t i = (uint32_t)hash & h->mask;

    while (h->slots[i] != 0)
        i = (i + 1) & h->mask;
    h->slots[i] = index + 1;
}

static int
cmp_resource(const void *pa, const void *pb)
{
    const struct snap_resource *a = pa, *b = pb;

    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int
cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

    return a < b ? -1 : a > b;
}

static int
cmp_ws_role(const void *pa, const void *pb)
{
    return cmp_i64(&((const struct snap_ws_role *)pa)->id,
                   &((const struct snap_ws_role *)pb)->id);
}

static int
cmp_key(const void *pa, const void *pb)
{
    return cmp_i64(&((const struct raw_key *)pa)->role, &((const struct raw_key *)pb)->role);
}

static const struct snap_ws_role *
find_ws_role(const struct authz_snapshot *s, int64_t id)
{
    struct snap_ws_role key = { .id = id };

    if (s->n_ws_roles == 0)
        return NULL;
    return bsearch(&key, s->ws_roles, s->n_ws_roles, sizeof(key), cmp_ws_role);
}


#define TMP(b, off) ((b)->temp.data + (off))

static rs_status
build_users(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t i;

    s->users = rs_calloc(b->n_users + 1, sizeof(*s->users));
    if (s->users == NULL || hash_init(&s->user_idx, b->n_users) != RS_OK)
        return RS_ENOMEM;
    for (i = 0; i < b->n_users; i++) {
        struct snap_user *u = &s->users[i];

        u->id = s->strings + b->users[i].id;
        u->type = b->users[i].type;
        u->enabled = b->users[i].enabled;
        hash_put(&s->user_idx, rs_hash_str(u->id), i);
    }
    s->n_users = b->n_users;
    s->owner = b->has_owner ? snap_find_user(s, TMP(b, b->owner)) : SNAP_NONE;
    return RS_OK;
}

static rs_status
build_groups(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t i;

    s->groups = rs_calloc(b->n_groups + 1, sizeof(*s->groups));
    if (s->groups == NULL || hash_init(&s->group_idx, b->n_groups) != RS_OK)
        return RS_ENOMEM;
    for (i = 0; i < b->n_groups; i++) {
        s->groups[i].id = s->strings + b->groups[i].id;
        hash_put(&s->group_idx, rs_hash_str(s->groups[i].id), i);
    }
    s->n_groups = b->n_groups;
    for (i = 0; i < b->n_groups; i++)
        s->groups[i].parent = b->groups[i].has_parent
                                  ? snap_find_group(s, TMP(b, b->groups[i].parent))
                                  : SNAP_NONE;
    return RS_OK;
}

/*
 * Each user's closure: the groups the user is in and all their ancestors,
 * because a grant or membership given to a group reaches the members of
 * its descendant groups. Depth is at most 5; the step guard only stops a
 * corrupt cycle.
 */
static rs_status
build_closure(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t *count = NULL, *start = NULL, *direct = NULL;
    uint32_t i, n_closure = 0, cap_closure = 0;
    rs_status rc = RS_ENOMEM;

    count = rs_calloc(s->n_users + 1, sizeof(uint32_t));
    start = rs_calloc(s->n_users + 1, sizeof(uint32_t));
    direct = rs_calloc(b->n_group_members + 1, sizeof(uint32_t));
    if (count == NULL || start == NULL || direct == NULL)
        goto out;
    /* Resolve in place: a = group index, b = user index, SNAP_NONE when gone. */
    for (i = 0; i < b->n_group_members; i++) {
        struct raw_pair *p = &b->group_members[i];

        p->a = snap_find_group(s, TMP(b, p->a));
        p->b = snap_find_user(s, TMP(b, p->b));
        if (p->a != SNAP_NONE && p->b != SNAP_NONE)
            count[p->b]++;
    }
    for (i = 1; i <= s->n_users; i++)
        start[i] = start[i - 1] + count[i - 1];
    memset(count, 0, (s->n_users + 1) * sizeof(uint32_t));
    for (i = 0; i < b->n_group_members; i++) {
        struct raw_pair *p = &b->group_members[i];

        if (p->a != SNAP_NONE && p->b != SNAP_NONE)
            direct[start[p->b] + count[p->b]++] = p->a;
    }
    for (i = 0; i < s->n_users; i++) {
        uint32_t k, first = n_closure;

        for (k = 0; k < count[i]; k++) {
            uint32_t g = direct[start[i] + k];
            int steps;

            for (steps = 0; g != SNAP_NONE && steps < 16; steps++, g = s->groups[g].parent) {
                uint32_t j;
                bool seen = false;

                for (j = first; j < n_closure && !seen; j++)
                    seen = s->closure[j] == g;
                if (seen)
                    continue;
                if (vec_reserve((void **)&s->closure, &cap_closure, n_closure + 1,
                                sizeof(uint32_t)) != RS_OK)
                    goto out;
                s->closure[n_closure++] = g;
            }
        }
        s->users[i].closure_off = first;
        s->users[i].closure_len = n_closure - first;
    }
    rc = RS_OK;
out:
    rs_free(count);
    rs_free(start);
    rs_free(direct);
    return rc;
}

static rs_status
build_org_roles(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t *users = NULL;
    uint32_t i, n = 0;

    users = rs_calloc(b->n_user_roles + 1, sizeof(uint32_t));
    s->user_roles = rs_calloc(b->n_user_roles + 1, sizeof(int64_t));
    if (users == NULL || s->user_roles == NULL) {
        rs_free(users);
        return RS_ENOMEM;
    }
    for (i = 0; i < b->n_user_roles; i++) {
        users[i] = snap_find_user(s, TMP(b, b->user_roles[i].user));
        if (users[i] != SNAP_NONE && s->users[users[i]].n_roles < UINT8_MAX)
            s->users[users[i]].n_roles++;
    }
    for (i = 0; i < s->n_users; i++) {
        s->users[i].roles_off = n;
        n += s->users[i].n_roles;
        s->users[i].n_roles = 0;
    }
    for (i = 0; i < b->n_user_roles; i++) {
        struct snap_user *u;
        int64_t role = b->user_roles[i].role;

        if (users[i] == SNAP_NONE)
            continue;
        u = &s->users[users[i]];
        if (u->n_roles == UINT8_MAX)
            continue;
        s->user_roles[u->roles_off + u->n_roles++] = role;
        if (role == AUTHZ_ORG_ADMIN)
            u->org_admin = true;
        if (role == AUTHZ_PERMISSION_ADMIN)
            u->perm_admin = true;
    }
    rs_free(users);
    if (s->owner != SNAP_NONE)
        s->users[s->owner].org_admin = true;

    /* Custom roles' keys, grouped by role id. */
    if (b->n_role_keys > 0)
        qsort(b->role_keys, b->n_role_keys, sizeof(*b->role_keys), cmp_key);
    s->org_role_keys = rs_calloc(b->n_role_keys + 1, sizeof(char *));
    s->org_roles = rs_calloc(b->n_role_keys + 1, sizeof(*s->org_roles));
    if (s->org_role_keys == NULL || s->org_roles == NULL)
        return RS_ENOMEM;
    for (i = 0; i < b->n_role_keys; i++) {
        struct snap_org_role *r = s->n_org_roles ? &s->org_roles[s->n_org_roles - 1] : NULL;

        if (r == NULL || r->id != b->role_keys[i].role) {
            r = &s->org_roles[s->n_org_roles++];
            r->id = b->role_keys[i].role;
            r->keys_off = i;
        }
        s->org_role_keys[i] = s->strings + b->role_keys[i].key;
        r->n_keys++;
    }
    return RS_OK;
}

static rs_status
build_workspaces(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t i;

    s->workspaces = rs_calloc(b->n_workspaces + 1, sizeof(*s->workspaces));
    if (s->workspaces == NULL || hash_init(&s->workspace_idx, b->n_workspaces) != RS_OK)
        return RS_ENOMEM;
    for (i = 0; i < b->n_workspaces; i++) {
        struct snap_workspace *w = &s->workspaces[i];

        w->id = s->strings + b->workspaces[i].id;
        w->mode = b->workspaces[i].mode;
        w->owner = snap_find_user(s, TMP(b, b->workspaces[i].owner));
        hash_put(&s->workspace_idx, rs_hash_str(w->id), i);
    }
    s->n_workspaces = b->n_workspaces;

    /* Custom workspace roles, sorted for bsearch. */
    s->ws_roles = b->ws_roles;
    s->n_ws_roles = b->n_ws_roles;
    b->ws_roles = NULL;
    b->n_ws_roles = b->cap_ws_roles = 0;
    if (s->n_ws_roles > 0)
        qsort(s->ws_roles, s->n_ws_roles, sizeof(*s->ws_roles), cmp_ws_role);
    return RS_OK;
}

static rs_status
build_members(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t i;

    s->members = rs_calloc(b->n_members + 1, sizeof(*s->members));
    if (s->members == NULL || hash_init(&s->member_idx, b->n_members) != RS_OK)
        return RS_ENOMEM;
    s->member_roles = b->member_roles;
    b->member_roles = NULL;
    b->n_member_roles = b->cap_member_roles = 0;
    for (i = 0; i < b->n_members; i++) {
        const struct raw_member *raw = &b->members[i];
        struct snap_member *m = &s->members[s->n_members];
        uint16_t k;

        m->workspace = snap_find_workspace(s, TMP(b, raw->ws));
        if (raw->type == SNAP_PRINCIPAL_USER)
            m->principal = snap_find_user(s, TMP(b, raw->principal));
        else if (raw->type == SNAP_PRINCIPAL_GROUP)
            m->principal = snap_find_group(s, TMP(b, raw->principal));
        else
            m->principal = SNAP_NONE;
        /* A membership of a deleted group stays in the table but no longer counts. */
        if (m->workspace == SNAP_NONE || m->principal == SNAP_NONE)
            continue;
        m->principal_type = raw->type;
        m->n_roles = raw->n_roles;
        m->roles_off = raw->roles_off;
        for (k = 0; k < raw->n_roles; k++) {
            int64_t id = s->member_roles[raw->roles_off + k];
            const struct authz_ws_preset *preset = authz_ws_preset_find(id);
            const struct snap_ws_role *custom;

            if (preset != NULL) {
                m->mask |= perms_mask(&preset->perms);
                m->manages_members |= preset->perms.manages_members;
            } else if ((custom = find_ws_role(s, id)) != NULL) {
                m->mask |= custom->mask;
                m->manages_members |= custom->manages_members;
            }
        }
        hash_put(&s->member_idx, snap_hash_ints(m->workspace, m->principal_type, m->principal),
                 s->n_members);
        s->n_members++;
    }
    return RS_OK;
}

static uint64_t
resource_hash(int type, const char *id)
{
    return rs_hash_str(id) ^ ((uint64_t)(type + 1) * UINT64_C(0x9E3779B97F4A7C15));
}

static rs_status
build_resources(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t i;

    s->resources = rs_calloc(b->n_resources + 1, sizeof(*s->resources));
    if (s->resources == NULL || hash_init(&s->resource_idx, b->n_resources) != RS_OK)
        return RS_ENOMEM;
    for (i = 0; i < b->n_resources; i++) {
        const struct raw_resource *raw = &b->resources[i];
        struct snap_resource *r = &s->resources[s->n_resources];

        r->workspace = snap_find_workspace(s, TMP(b, raw->ws));
        if (r->workspace == SNAP_NONE)
            continue;
        r->id = s->strings + raw->id;
        r->type = raw->type;
        r->owner = raw->has_owner ? snap_find_user(s, TMP(b, raw->owner)) : SNAP_NONE;
        s->n_resources++;
    }
    qsort(s->resources, s->n_resources, sizeof(*s->resources), cmp_resource);
    for (i = 0; i < s->n_resources; i++)
        hash_put(&s->resource_idx, resource_hash(s->resources[i].type, s->resources[i].id), i);
    return RS_OK;
}

static rs_status
build_grants(struct snap_builder *b, struct authz_snapshot *s)
{
    uint32_t i, n_others = 0;

    s->grants = rs_calloc(b->n_grants + 1, sizeof(*s->grants));
    if (s->grants == NULL || hash_init(&s->grant_idx, b->n_grants) != RS_OK)
        return RS_ENOMEM;
    for (i = 0; i < b->n_grants; i++) {
        const struct raw_grant *raw = &b->grants[i];
        struct snap_grant *g = &s->grants[s->n_grants];
        const char *sid = TMP(b, raw->sid);

        g->resource = snap_find_resource(s, raw->type, TMP(b, raw->rid));
        if (g->resource == SNAP_NONE)
            continue;
        switch (raw->subject_type) {
        case SNAP_SUBJECT_USER:
            g->subject = snap_find_user(s, sid);
            break;
        case SNAP_SUBJECT_GROUP:
            g->subject = snap_find_group(s, sid);
            break;
        case SNAP_SUBJECT_WORKSPACE:
            g->subject = snap_find_workspace(s, sid);
            break;
        default:
            g->subject = 0;
            break;
        }
        /* A grant to a deleted group or workspace no longer counts. */
        if (g->subject == SNAP_NONE)
            continue;
        memcpy(g->id, raw->id, sizeof(g->id));
        g->subject_type = raw->subject_type;
        g->level = raw->level;
        g->expires_us = raw->expires_us;
        if (g->subject_type == SNAP_SUBJECT_USER || g->subject_type == SNAP_SUBJECT_GROUP)
            hash_put(&s->grant_idx, snap_hash_ints(g->resource, g->subject_type, g->subject),
                     s->n_grants);
        else {
            s->resources[g->resource].n_others++;
            n_others++;
        }
        s->n_grants++;
    }
    s->other_grants = rs_calloc(n_others + 1, sizeof(uint32_t));
    if (s->other_grants == NULL)
        return RS_ENOMEM;
    n_others = 0;
    for (i = 0; i < s->n_resources; i++) {
        s->resources[i].others_off = n_others;
        n_others += s->resources[i].n_others;
        s->resources[i].n_others = 0;
    }
    for (i = 0; i < s->n_grants; i++) {
        struct snap_grant *g = &s->grants[i];
        struct snap_resource *r;

        if (g->subject_type == SNAP_SUBJECT_USER || g->subject_type == SNAP_SUBJECT_GROUP)
            continue;
        r = &s->resources[g->resource];
        s->other_grants[r->others_off + r->n_others++] = i;
    }
    return RS_OK;
}

rs_status
snap_builder_build(struct snap_builder *b, struct authz_snapshot **out, struct rs_error *err)
{
    struct authz_snapshot *s;
    rs_status rc = RS_ENOMEM;

    *out = NULL;
    s = rs_calloc(1, sizeof(*s));
    if (s == NULL)
        goto out;
    atomic_init(&s->refs, 1);
    s->revision = b->revision;
    s->owner = SNAP_NONE;
    memcpy(s->org_id, b->org_id, sizeof(s->org_id));
    memcpy(s->ceilings, b->ceilings, sizeof(s->ceilings));
    if (b->keep.data == NULL && strbuf_add(&b->keep, "", &(uint32_t){ 0 }) != RS_OK)
        goto out;
    s->strings = b->keep.data;
    b->keep.data = NULL;
    b->keep.len = b->keep.cap = 0;
    if (b->temp.data == NULL && strbuf_add(&b->temp, "", &(uint32_t){ 0 }) != RS_OK)
        goto out;

    if ((rc = build_users(b, s)) != RS_OK || (rc = build_groups(b, s)) != RS_OK ||
        (rc = build_closure(b, s)) != RS_OK || (rc = build_org_roles(b, s)) != RS_OK ||
        (rc = build_workspaces(b, s)) != RS_OK || (rc = build_members(b, s)) != RS_OK ||
        (rc = build_resources(b, s)) != RS_OK || (rc = build_grants(b, s)) != RS_OK)
        goto out;
    *out = s;
    s = NULL;
    rc = RS_OK;
out:
    if (rc != RS_OK)
        rs_error_set(err, rc, "OUT_OF_MEMORY", "out of memory while building a snapshot");
    snap_release(s);
    builder_reset(b);
    b->n_users = b->n_groups = b->n_group_members = b->n_user_roles = b->n_role_keys = 0;
    b->n_workspaces = b->n_ws_roles = b->n_members = b->n_member_roles = 0;
    b->n_resources = b->n_grants = 0;
    b->cap_users = b->cap_groups = b->cap_group_members = b->cap_user_roles = 0;
    b->cap_role_keys = b->cap_workspaces = b->cap_ws_roles = b->cap_members = 0;
    b->cap_member_roles = b->cap_resources = b->cap_grants = 0;
    b->keep.len = b->keep.cap = b->temp.len = b->temp.cap = 0;
    return rc;
}
