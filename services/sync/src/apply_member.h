/*
 * services/sync/src/apply_member.h
 *    The member chunk of Start Sync, shared by apply_member.c (lookup,
 *    profiles, roles, group memberships and records) and apply_create.c
 *    (the CreateUsers calls for members without a user).
 */
#ifndef SYNC_APPLY_MEMBER_H
#define SYNC_APPLY_MEMBER_H

#include "dataplane.h"

/* The Roster user of a member, with its type, profile, roles and groups. */
struct member_state {
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

struct member_work {
    struct sync_dp_member *m;
    int seq;
    struct member_state st;
    char user_id[33];
    bool created;
    bool creating; /* waits for its CreateUsers call */
    bool sent;
    struct rs_error fail; /* the item failed unless code is RS_OK */
    const char **want;    /* the groups of the member's departments */
    size_t n_want;
    const char **add;
    size_t n_add;
    const char **remove;
    size_t n_remove;
    const char *group_missing; /* why a department's group is left out, or NULL */
};

struct member_chunk {
    struct sync_dp_apply *a;
    rs_arena *arena;
    struct member_work *w;
    size_t n;
};

/* Sets the item of w failed with e, unless it failed already. */
void sync_dp_member_fail(struct member_work *w, const struct rs_error *e);

/*
 * Creates, binds and groups the users of the members of c marked creating,
 * with CreateUsers calls (apply_create.c). A rejection is the member's
 * failure. Returns an error only when out of memory.
 */
RS_MUSTCHECK rs_status sync_dp_create_users(struct member_chunk *c, struct rs_error *err);

#endif /* SYNC_APPLY_MEMBER_H */
