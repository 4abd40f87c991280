/*
 * services/authz/src/snapshot_index.c
 *    Snapshot lookups over the hash indexes, and reference counting.
 */
#include "snapshot.h"

#include <string.h>

#include "roster/alloc.h"
#include "roster/str.h"

uint64_t
snap_hash_ints(uint32_t a, uint32_t b, uint32_t c)
{
    uint64_t h = ((uint64_t)a << 32 | b) * UINT64_C(0x9E3779B97F4A7C15);

    h ^= (uint64_t)c * UINT64_C(0xC2B2AE3D27D4EB4F);
    h ^= h >> 29;
    h *= UINT64_C(0xBF58476D1CE4E5B9);
    h ^= h >> 32;
    return h;
}

#define PROBE(hash_table, hash, var)                                                      \
    for (uint32_t slot_ = (uint32_t)(hash) & (hash_table).mask, var;                     \
         (hash_table).slots != NULL && (var = (hash_table).slots[slot_]) != 0;           \
         slot_ = (slot_ + 1) & (hash_table).mask)

uint32_t
snap_find_user(const struct authz_snapshot *s, const char *id)
{
    PROBE(s->user_idx, rs_hash_str(id), v) {
        if (strcmp(s->users[v - 1].id, id) == 0)
            return v - 1;
    }
    return SNAP_NONE;
}

uint32_t
snap_find_group(const struct authz_snapshot *s, const char *id)
{
    PROBE(s->group_idx, rs_hash_str(id), v) {
        if (strcmp(s->groups[v - 1].id, id) == 0)
            return v - 1;
    }
    return SNAP_NONE;
}

uint32_t
snap_find_workspace(const struct authz_snapshot *s, const char *id)
{
    PROBE(s->workspace_idx, rs_hash_str(id), v) {
        if (strcmp(s->workspaces[v - 1].id, id) == 0)
            return v - 1;
    }
    return SNAP_NONE;
}

uint32_t
snap_find_resource(const struct authz_snapshot *s, int type, const char *id)
{
    uint64_t h = rs_hash_str(id) ^ ((uint64_t)(type + 1) * UINT64_C(0x9E3779B97F4A7C15));

    PROBE(s->resource_idx, h, v) {
        const struct snap_resource *r = &s->resources[v - 1];

        if (r->type == type && strcmp(r->id, id) == 0)
            return v - 1;
    }
    return SNAP_NONE;
}

uint32_t
snap_find_member(const struct authz_snapshot *s, uint32_t workspace, int principal_type,
                 uint32_t principal)
{
    PROBE(s->member_idx, snap_hash_ints(workspace, (uint32_t)principal_type, principal), v) {
        const struct snap_member *m = &s->members[v - 1];

        if (m->workspace == workspace && m->principal == principal &&
            m->principal_type == principal_type)
            return v - 1;
    }
    return SNAP_NONE;
}

uint32_t
snap_find_grant(const struct authz_snapshot *s, uint32_t resource, int subject_type,
                uint32_t subject)
{
    PROBE(s->grant_idx, snap_hash_ints(resource, (uint32_t)subject_type, subject), v) {
        const struct snap_grant *g = &s->grants[v - 1];

        if (g->resource == resource && g->subject == subject &&
            g->subject_type == subject_type)
            return v - 1;
    }
    return SNAP_NONE;
}

uint32_t
snap_resource_lower_bound(const struct authz_snapshot *s, int type, const char *after_id)
{
    uint32_t lo = 0, hi = s->n_resources;

    /* First index whose (type, id) sorts strictly after (type, after_id). */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct snap_resource *r = &s->resources[mid];
        int c;

        if (r->type != type)
            c = r->type < type ? -1 : 1;
        else
            c = strcmp(r->id, after_id);
        if (c <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int
snap_resource_type(const char *type)
{
    size_t i;

    for (i = 0; i < authz_n_resource_types; i++)
        if (strcmp(authz_resource_types[i], type) == 0)
            return (int)i;
    return -1;
}

void
snap_grant_id_hex(const struct snap_grant *g, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    int i;

    for (i = 0; i < 16; i++) {
        out[2 * i] = digits[g->id[i] >> 4];
        out[2 * i + 1] = digits[g->id[i] & 0xf];
    }
    out[32] = '\0';
}

void
snap_retain(struct authz_snapshot *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void
snap_release(struct authz_snapshot *s)
{
    if (s == NULL || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    rs_free(s->users);
    rs_free(s->groups);
    rs_free(s->org_roles);
    rs_free(s->workspaces);
    rs_free(s->ws_roles);
    rs_free(s->members);
    rs_free(s->resources);
    rs_free(s->grants);
    rs_free(s->user_roles);
    rs_free(s->closure);
    rs_free(s->org_role_keys);
    rs_free(s->member_roles);
    rs_free(s->other_grants);
    rs_free(s->user_idx.slots);
    rs_free(s->group_idx.slots);
    rs_free(s->workspace_idx.slots);
    rs_free(s->member_idx.slots);
    rs_free(s->resource_idx.slots);
    rs_free(s->grant_idx.slots);
    rs_free(s->strings);
    rs_free(s);
}
