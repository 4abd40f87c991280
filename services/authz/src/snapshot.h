/*
 * services/authz/src/snapshot.h
 *    An organisation's authorisation state as one immutable, indexed
 *    in-memory snapshot, the builder that makes it (from the database or,
 *    in tests, from code) and the evaluation of questions against it.
 *
 * Every table is an array; rows refer to each other by uint32 index and
 * SNAP_NONE marks "no row". Hash indexes are open-addressed arrays of
 * (index + 1), 0 meaning an empty slot, so a lookup touches no allocator.
 */
#ifndef AUTHZ_SNAPSHOT_H
#define AUTHZ_SNAPSHOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "roster/arena.h"
#include "roster/db.h"
#include "roster/status.h"

#include "model.h"

#define SNAP_NONE UINT32_MAX

/* Grant subject types (authz.grants.subject_type). */
#define SNAP_SUBJECT_USER 1
#define SNAP_SUBJECT_GROUP 2
#define SNAP_SUBJECT_ORGANIZATION 3
#define SNAP_SUBJECT_WORKSPACE 4

/* Workspace member principal types (authz.workspace_members.principal_type). */
#define SNAP_PRINCIPAL_USER 1
#define SNAP_PRINCIPAL_GROUP 2

/* Workspace modes (authz.workspaces.mode). */
#define SNAP_MODE_COLLABORATIVE 1
#define SNAP_MODE_PRIVATE 2

/* Bit for one action on one module in a workspace permission mask. */
#define SNAP_PERM_BIT(module, act_bit) ((uint32_t)(act_bit) << ((unsigned)(module) * 3u))

struct snap_user {
    const char *id;
    uint8_t type;        /* AUTHZ_USER_* */
    bool enabled;
    bool org_admin;      /* the owner or a holder of 111111111 */
    bool perm_admin;     /* a holder of 111111112 */
    uint8_t n_roles;     /* explicit role rows; none means Regular User */
    uint32_t roles_off;  /* into snapshot.user_roles */
    uint32_t closure_off; /* into snapshot.closure */
    uint32_t closure_len; /* groups the user is in, with all their ancestors */
};

struct snap_group {
    const char *id;
    uint32_t parent; /* group index or SNAP_NONE */
};

struct snap_org_role {
    int64_t id;
    uint32_t keys_off; /* into snapshot.org_role_keys */
    uint32_t n_keys;
};

struct snap_workspace {
    const char *id;
    uint8_t mode;   /* SNAP_MODE_* */
    uint32_t owner; /* user index or SNAP_NONE */
};

struct snap_ws_role {
    int64_t id;
    uint32_t mask;  /* SNAP_PERM_BIT bits */
    bool manages_members;
};

struct snap_member {
    uint32_t workspace;
    uint32_t principal; /* user or group index */
    uint8_t principal_type;
    bool manages_members; /* any role manages members (before type caps) */
    uint16_t n_roles;
    uint32_t mask;      /* union of the roles' masks (before type caps) */
    uint32_t roles_off; /* into snapshot.member_roles */
};

struct snap_resource {
    const char *id;
    uint8_t type;       /* index into authz_resource_types */
    uint32_t workspace; /* workspace index */
    uint32_t owner;     /* user index or SNAP_NONE */
    uint32_t others_off; /* ORGANIZATION and WORKSPACE grants, into snapshot.other_grants */
    uint32_t n_others;
};

struct snap_grant {
    uint8_t id[16];     /* the 32-hex id, as bytes */
    uint32_t resource;
    uint32_t subject;   /* user, group or workspace index; 0 (unused) for the organisation */
    uint8_t subject_type;
    uint8_t level;
    int64_t expires_us; /* Unix microseconds; 0 = never */
};

struct snap_hash {
    uint32_t *slots; /* index + 1; 0 = empty */
    uint32_t mask;   /* capacity - 1; capacity is a power of two */
};

struct authz_snapshot {
    atomic_long refs;
    int64_t revision;
    uint64_t epoch;      /* listener epoch read before the load began */
    int64_t loaded_us;   /* monotonic time of the load */
    char org_id[33];
    uint32_t owner;      /* user index or SNAP_NONE */

    struct snap_user *users;
    uint32_t n_users;
    struct snap_group *groups;
    uint32_t n_groups;
    struct snap_org_role *org_roles;
    uint32_t n_org_roles;
    struct snap_workspace *workspaces;
    uint32_t n_workspaces;
    struct snap_ws_role *ws_roles; /* custom roles only */
    uint32_t n_ws_roles;
    struct snap_member *members;
    uint32_t n_members;
    struct snap_resource *resources; /* sorted by (type, id) in byte order */
    uint32_t n_resources;
    struct snap_grant *grants;
    uint32_t n_grants;

    int64_t *user_roles;
    uint32_t *closure;
    const char **org_role_keys;
    int64_t *member_roles;
    uint32_t *other_grants;
    uint8_t ceilings[4][16]; /* [user type][resource type index] = max level */

    struct snap_hash user_idx, group_idx, workspace_idx, member_idx, resource_idx, grant_idx;

    char *strings; /* every id string, one block */
};

/* --- building --- */

struct snap_builder;

/* Returns a new builder owned by the caller (free with snap_builder_destroy), or NULL. */
struct snap_builder *snap_builder_create(const char *org_id);
void snap_builder_destroy(struct snap_builder *b);

/*
 * Row adders; every string is copied. They return RS_OK or RS_ENOMEM.
 * Rows may come in any order because snap_builder_build resolves the
 * references. It drops a row that names a missing user, group, workspace
 * or resource, so a grant to a deleted group no longer counts.
 */
RS_MUSTCHECK rs_status snap_add_owner(struct snap_builder *b, const char *user_id);
RS_MUSTCHECK rs_status snap_add_revision(struct snap_builder *b, int64_t revision);
RS_MUSTCHECK rs_status snap_add_user(struct snap_builder *b, const char *id, int type,
                                     bool enabled);
RS_MUSTCHECK rs_status snap_add_group(struct snap_builder *b, const char *id,
                                      const char *parent_id);
RS_MUSTCHECK rs_status snap_add_group_member(struct snap_builder *b, const char *group_id,
                                             const char *user_id);
RS_MUSTCHECK rs_status snap_add_user_org_role(struct snap_builder *b, const char *user_id,
                                              int64_t role_id);
RS_MUSTCHECK rs_status snap_add_org_role_key(struct snap_builder *b, int64_t role_id,
                                             const char *key);
RS_MUSTCHECK rs_status snap_add_workspace(struct snap_builder *b, const char *id, int mode,
                                          const char *owner_id);
RS_MUSTCHECK rs_status snap_add_ws_role(struct snap_builder *b, int64_t id,
                                        const struct authz_ws_perms *perms);
/* role_ids[0..n) as stored; ids of no preset or custom role grant nothing. */
RS_MUSTCHECK rs_status snap_add_member(struct snap_builder *b, const char *workspace_id,
                                       int principal_type, const char *principal_id,
                                       const int64_t *role_ids, size_t n);
RS_MUSTCHECK rs_status snap_add_resource(struct snap_builder *b, const char *type,
                                         const char *id, const char *workspace_id,
                                         const char *owner_id);
RS_MUSTCHECK rs_status snap_add_grant(struct snap_builder *b, const char *grant_id,
                                      const char *type, const char *resource_id,
                                      int subject_type, const char *subject_id, int level,
                                      int64_t expires_us);
/* Overrides one ceiling; the builder starts from authz_type_ceiling(). */
void snap_set_ceiling(struct snap_builder *b, int user_type, const char *type, int level);

/*
 * Resolves and indexes the rows into a snapshot with one reference, owned
 * by the caller (drop it with snap_release). The builder is left empty.
 */
RS_MUSTCHECK rs_status snap_builder_build(struct snap_builder *b, struct authz_snapshot **out,
                                          struct rs_error *err);

/*
 * Loads organisation org_id in one REPEATABLE READ transaction from pool.
 * RS_ENOTFOUND (ORGANIZATION_NOT_FOUND) when it does not exist. *out has
 * one reference, owned by the caller.
 */
RS_MUSTCHECK rs_status snap_load(rs_db_pool *pool, const char *org_id,
                                 struct authz_snapshot **out, struct rs_error *err);

void snap_retain(struct authz_snapshot *s);
/* Drops one reference, freeing the snapshot with the last. NULL is a no-op. */
void snap_release(struct authz_snapshot *s);

/* --- lookups (O(1) expected) --- */

uint64_t snap_hash_ints(uint32_t a, uint32_t b, uint32_t c);

uint32_t snap_find_user(const struct authz_snapshot *s, const char *id);
uint32_t snap_find_group(const struct authz_snapshot *s, const char *id);
uint32_t snap_find_workspace(const struct authz_snapshot *s, const char *id);
uint32_t snap_find_resource(const struct authz_snapshot *s, int type, const char *id);
uint32_t snap_find_member(const struct authz_snapshot *s, uint32_t workspace,
                          int principal_type, uint32_t principal);
uint32_t snap_find_grant(const struct authz_snapshot *s, uint32_t resource, int subject_type,
                         uint32_t subject);
/* Index of the first resource of type whose id sorts after after_id ("" for all). */
uint32_t snap_resource_lower_bound(const struct authz_snapshot *s, int type,
                                   const char *after_id);
/* Work type index (into authz_resource_types), or -1. */
int snap_resource_type(const char *type);
/* Writes the 32-hex form of a grant id into out[33]. */
void snap_grant_id_hex(const struct snap_grant *g, char out[33]);

/* --- evaluation (check.c) --- */

struct authz_contribution {
    const char *kind;   /* ORG_ROLE, WORKSPACE_ROLE, GRANT, TYPE_CEILING, MEMBERSHIP, OWNER */
    const char *id;
    const char *via_group_id; /* "" when direct */
    const char *allows;
    const char *detail;
};

/* Explain's output; contributions come from arena. */
struct authz_explain {
    rs_arena *arena;
    struct authz_contribution *items;
    size_t n, cap;
    const char *effective_level; /* "view", "export", "edit" or "" */
};

struct authz_question {
    const char *user_id;     /* the subject; already resolved from the actor */
    const char *permission;
    const char *resource_type;
    const char *resource_id;
    const char *workspace_id; /* of a work that is not registered */
    int64_t now_us;          /* Unix microseconds, for grant expiry */
};

struct authz_answer {
    bool allowed;
    const char *reason; /* static UPPER_SNAKE */
};

/*
 * Decides q against s. Errors (unknown user, workspace, malformed
 * permission) are returned with err filled; a decision is RS_OK.
 * ex may be NULL; when set, every contributing fact is appended to it.
 */
RS_MUSTCHECK rs_status authz_evaluate(const struct authz_snapshot *s,
                                      const struct authz_question *q, struct authz_answer *out,
                                      struct authz_explain *ex, struct rs_error *err);

/* Returns true if the user may ask about other users: an org or permission admin. */
bool authz_user_may_check_others(const struct authz_snapshot *s, uint32_t user);

#endif /* AUTHZ_SNAPSHOT_H */
