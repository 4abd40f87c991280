/*
 * services/identity/src/identity_int.h
 *    Declarations shared by the identity service's source files: the
 *    service context, actor checks, row conversion and the RPC handlers.
 */
#ifndef IDENTITY_INT_H
#define IDENTITY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "roster/arena.h"
#include "roster/buf.h"
#include "roster/db.h"
#include "roster/identity/v1/identity.pb-c.h"
#include "roster/rpc.h"
#include "roster/status.h"

#define IDENTITY_SCHEMA "identity"
#define IDENTITY_SERVICE_NAME "roster.identity.v1.IdentityService"

/* Passed to every handler as rs_call_user_data. */
struct identity_service {
    rs_db_pool *pool;             /* borrowed from main */
    struct identity_cache *cache; /* owned; NULL when off (ROSTER_IDENTITY_CACHE_ROWS=0) */
};

/*
 * Allocates the service context for pool (rs_service_def.init) and, unless
 * ROSTER_IDENTITY_CACHE_ROWS is 0 or conninfo is empty, its read cache
 * listening on conninfo. Free with identity_service_cleanup.
 */
RS_MUSTCHECK rs_status identity_service_init(rs_db_pool *pool, const char *conninfo,
                                             void **out, struct rs_error *err);
void identity_service_cleanup(void *svc);

/* migrations.c (generated at build time from migrations/NNNN_name.sql) */
extern const struct rs_db_migration identity_migrations[];
extern const size_t identity_n_migrations;

/* server.c */
extern const struct rs_rpc_service identity_rpc_service;

/* --- actor.c --- */

/* The acting user, checked against the request's organisation. */
struct identity_actor {
    char org_id[33];
    char user_id[33];
    char owner_id[33]; /* the organisation's owner */
};

#define IDENTITY_LOCK_ORG 0x1u   /* lock the organisation row FOR NO KEY UPDATE */
#define IDENTITY_NEED_ADMIN 0x2u /* the actor must be an organisation administrator */

/*
 * Checks that organization_id exists (ORGANIZATION_NOT_FOUND) and that the
 * call's actor is an enabled user of it (ACTOR_NOT_IN_ORGANIZATION,
 * ACTOR_DISABLED), and with IDENTITY_NEED_ADMIN an administrator
 * (NOT_ORGANIZATION_ADMIN). Fills *out. REQUIRES: org_id validated.
 */
RS_MUSTCHECK rs_status identity_authorize(rs_db_conn *conn, struct rs_call *call,
                                          const char *org_id, unsigned flags,
                                          struct identity_actor *out, struct rs_error *err);

/*
 * identity_authorize without a lock or the administrator check, served
 * from the read cache when it can be (a change made on another replica
 * shows once its notification arrives). For read-only handlers; a write
 * checks its actor inside its transaction with identity_authorize.
 */
RS_MUSTCHECK rs_status identity_authorize_read(struct rs_call *call, const char *org_id,
                                               struct identity_actor *out,
                                               struct rs_error *err);

/*
 * Sets *out to user_id of org_id, allocated from the call's arena, from
 * the read cache when it can be; USER_NOT_FOUND when absent.
 */
RS_MUSTCHECK rs_status identity_get_user_read(struct rs_call *call, const char *org_id,
                                              const char *user_id,
                                              Roster__Identity__V1__User **out,
                                              struct rs_error *err);

/* Sets RS_ENOTFOUND USER_NOT_FOUND (meta user_id) for user_id of org_id; returns it. */
rs_status identity_user_not_found(const char *org_id, const char *user_id,
                                  struct rs_error *err);

/* The service's pool, borrowed. */
rs_db_pool *identity_pool(struct rs_call *call);

/*
 * Takes a pooled connection, waiting at most min(time left before the
 * call's deadline, 5000 ms). Release with rs_db_release(identity_pool(call), conn).
 */
RS_MUSTCHECK rs_status identity_acquire(struct rs_call *call, rs_db_conn **out,
                                        struct rs_error *err);

/* Sets RS_ENOMEM with reason OUT_OF_MEMORY; returns RS_ENOMEM. */
rs_status identity_nomem(struct rs_error *err);

/* Returns true if err came from the database with this SQLSTATE. */
bool identity_sqlstate_is(const struct rs_error *err, const char *sqlstate);

/*
 * Runs fn in a READ COMMITTED transaction on the service's pool, then
 * makes org_id's cached rows stale (org_id may be NULL: a new organisation).
 */
RS_MUSTCHECK rs_status identity_tx(struct rs_call *call, const char *org_id, rs_db_tx_fn fn,
                                   void *arg, struct rs_error *err);

/* --- admin.c --- */

/*
 * Returns RS_OK if the actor administers its organisation, otherwise
 * PERMISSION_DENIED with reason NOT_ORGANIZATION_ADMIN. The only place that
 * decides who is an administrator. REQUIRES: actor filled by identity_authorize.
 */
RS_MUSTCHECK rs_status identity_actor_is_org_admin(rs_db_conn *conn,
                                                   const struct identity_actor *actor,
                                                   struct rs_error *err);

/* --- authz_rules.c: authz's caps on type changes and deletions --- */

/*
 * Applies authz's caps to a change of user_id's type to new_type: a
 * workspace owner is refused (FAILED_PRECONDITION
 * WORKSPACE_OWNER_TYPE_CONFLICT, meta workspace_id); other conflicts are
 * refused (FAILED_PRECONDITION TYPE_CHANGE_CONFLICT, meta conflicts,
 * first_kind, first_id) unless demote, which removes them. REQUIRES:
 * inside the type change's transaction, the user row locked FOR UPDATE.
 */
RS_MUSTCHECK rs_status identity_authz_type_change(rs_db_conn *conn, rs_arena *arena,
                                                  const char *org_id, const char *user_id,
                                                  int new_type, bool demote,
                                                  struct rs_error *err);

/*
 * Refuses to delete a workspace owner (FAILED_PRECONDITION
 * CANNOT_DELETE_WORKSPACE_OWNER, meta workspace_id). The user's other
 * authz rows go with the user through authz's ON DELETE CASCADE.
 * REQUIRES: inside the deletion's transaction, the user row locked.
 */
RS_MUSTCHECK rs_status identity_authz_check_deletable(rs_db_conn *conn, rs_arena *arena,
                                                      const char *org_id,
                                                      const char *user_id,
                                                      struct rs_error *err);

/* --- convert.c: row -> message; every result is allocated from arena --- */

/* Microseconds since the epoch, exact for timestamptz. */
#define IDENTITY_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

#define IDENTITY_USER_COLS                                                              \
    "u.id, u.organization_id, u.nickname, u.user_type, u.email, u.phone, u.account_id, " \
    "u.enabled, EXISTS (SELECT 1 FROM identity.organizations o "                        \
    "WHERE o.id = u.organization_id AND o.owner_user_id = u.id), " IDENTITY_US(         \
        "u.created_at") ", " IDENTITY_US("u.updated_at")
#define IDENTITY_USER_CREATED_COL 9
#define IDENTITY_USER_NCOLS 11

#define IDENTITY_ORG_COLS                                                               \
    "o.id, o.name, o.edition, o.seat_total, o.seat_developers, o.seat_analysts, "        \
    "o.seat_visitors, o.owner_user_id, " IDENTITY_US("o.created_at") ", " IDENTITY_US( \
        "o.updated_at") ", "                                                            \
    "(SELECT c.developers + c.analysts + c.visitors FROM identity.seat_counts c "       \
    "WHERE c.organization_id = o.id), "                                                 \
    "(SELECT c.developers FROM identity.seat_counts c WHERE c.organization_id = o.id), " \
    "(SELECT c.analysts FROM identity.seat_counts c WHERE c.organization_id = o.id), "   \
    "(SELECT c.visitors FROM identity.seat_counts c WHERE c.organization_id = o.id)"

#define IDENTITY_GROUP_COLS                                                             \
    "g.id, g.organization_id, coalesce(g.parent_id, ''), g.name, g.description, "        \
    "g.depth, identity.group_path(g.id), g.sync_platform, g.sync_corp_id, "             \
    "g.sync_department_id, (SELECT count(*) FROM identity.user_group_members m "       \
    "WHERE m.group_id = g.id), g.creator_user_id, " IDENTITY_US("g.created_at")
#define IDENTITY_GROUP_CREATED_COL 12

/*
 * Organisation $1, hidden from the planner, for lookups that need an index
 * that starts with the organisation (nickname, account id). Statistics
 * taken before a large import rate a new organisation at one row, and then
 * favour scanning it through another such index.
 */
#define IDENTITY_ORG_PARAM "(SELECT $1::text)"

#define IDENTITY_EXTERNAL_COLS                                                          \
    "e.organization_id, e.user_id, e.platform, e.corp_id, e.platform_user_id, "          \
    "e.union_id, " IDENTITY_US("e.created_at")

Roster__Identity__V1__User *identity_user_from_row(rs_arena *arena, const PGresult *res,
                                                   int row);
Roster__Identity__V1__Organization *identity_org_from_row(rs_arena *arena,
                                                          const PGresult *res, int row);
Roster__Identity__V1__UserGroup *identity_group_from_row(rs_arena *arena,
                                                         const PGresult *res, int row);
Roster__Identity__V1__ExternalIdentity *identity_external_from_row(rs_arena *arena,
                                                                   const PGresult *res,
                                                                   int row);

/* rs_page_row_fn adapters of identity_user_from_row and identity_group_from_row. */
void *identity_user_row(rs_arena *arena, const PGresult *res, int row);
void *identity_group_row(rs_arena *arena, const PGresult *res, int row);

/*
 * Converts the n rows of res into an array allocated from arena (at least
 * one slot, so an empty list is not NULL). Returns NULL when out of memory.
 */
Roster__Identity__V1__ExternalIdentity **identity_externals_from_rows(rs_arena *arena,
                                                                      const PGresult *res,
                                                                      int n);

/* Parses a bigint column; 0 for NULL. */
int64_t identity_col_int64(const PGresult *res, int row, int col);

/* Formats v in decimal into an arena string (SQL parameters). */
char *identity_int_param(rs_arena *arena, long long v);

/* --- handlers (one file per concept) --- */

#define IDENTITY_HANDLER(name)                                                          \
    rs_status name(struct rs_call *call, const ProtobufCMessage *req,                    \
                   ProtobufCMessage **resp, struct rs_error *err)

/* org.c */
IDENTITY_HANDLER(identity_create_organization);
IDENTITY_HANDLER(identity_get_organization);
IDENTITY_HANDLER(identity_update_organization);

/* users.c */
IDENTITY_HANDLER(identity_create_user);
IDENTITY_HANDLER(identity_get_user);
IDENTITY_HANDLER(identity_list_users);
IDENTITY_HANDLER(identity_update_user);
IDENTITY_HANDLER(identity_disable_user);
IDENTITY_HANDLER(identity_enable_user);
IDENTITY_HANDLER(identity_delete_user);

/*
 * Inserts a user after checking the nickname, account id and seats; used by
 * CreateUser and CreateOrganization. REQUIRES: inside a transaction that
 * has locked the organisation row FOR NO KEY UPDATE; fields already validated.
 * user_id is the new id (32 hex). *out is allocated from arena.
 */
RS_MUSTCHECK rs_status identity_insert_user(rs_db_conn *conn, rs_arena *arena,
                                            const char *org_id, const char *user_id,
                                            const Roster__Identity__V1__CreateUserRequest *u,
                                            Roster__Identity__V1__User **out,
                                            struct rs_error *err);

/* Validates the profile fields of a CreateUserRequest (not organization_id). */
RS_MUSTCHECK rs_status identity_validate_new_user(
    const Roster__Identity__V1__CreateUserRequest *u, struct rs_error *err);

/* Seat caps and usage of an organisation; types index 1 to 3. */
struct identity_seats {
    long long cap_total;
    long long used_total;
    bool capped[4];
    long long cap[4];
    long long used[4];
};

/*
 * Reads the caps and usage into *out. REQUIRES: the organisation row is
 * locked FOR NO KEY UPDATE, so the counts stay true until commit.
 */
RS_MUSTCHECK rs_status identity_seat_usage(rs_db_conn *conn, rs_arena *arena,
                                           const char *org_id, struct identity_seats *out,
                                           struct rs_error *err);

/*
 * Takes a seat of user_type in *s (giving back one of old_type when
 * old_type > 0), or refuses with RESOURCE_EXHAUSTED SEAT_LIMIT_REACHED or
 * TOTAL_SEAT_LIMIT_REACHED and leaves *s as it was.
 */
RS_MUSTCHECK rs_status identity_seat_take(struct identity_seats *s, int user_type,
                                          int old_type, struct rs_error *err);

/* Fill err with ALREADY_EXISTS NICKNAME_TAKEN or ACCOUNT_ID_TAKEN; return its code. */
rs_status identity_nickname_taken(const char *nickname, struct rs_error *err);
rs_status identity_account_id_taken(const char *account_id, struct rs_error *err);

/*
 * Rejects with RESOURCE_EXHAUSTED when one more user of user_type (leaving
 * a user of old_type when old_type > 0) exceeds a seat cap.
 * REQUIRES: the organisation row is locked FOR NO KEY UPDATE.
 */
RS_MUSTCHECK rs_status identity_check_seats(rs_db_conn *conn, rs_arena *arena,
                                            const char *org_id, int user_type, int old_type,
                                            struct rs_error *err);

/* groups.c */
IDENTITY_HANDLER(identity_create_user_group);
IDENTITY_HANDLER(identity_get_user_group);
IDENTITY_HANDLER(identity_list_user_groups);
IDENTITY_HANDLER(identity_rename_user_group);
IDENTITY_HANDLER(identity_move_user_group);
IDENTITY_HANDLER(identity_delete_user_group);

/*
 * Serialises structure changes of one organisation's group tree (advisory
 * transaction lock), so depth and cycle checks see a stable tree.
 */
RS_MUSTCHECK rs_status identity_lock_group_tree(rs_db_conn *conn, const char *org_id,
                                                struct rs_error *err);

/*
 * Loads a group of org_id into *out (from arena), optionally locked FOR NO KEY UPDATE.
 * NOT_FOUND GROUP_NOT_FOUND when absent.
 */
RS_MUSTCHECK rs_status identity_load_group(rs_db_conn *conn, rs_arena *arena,
                                           const char *org_id, const char *group_id,
                                           bool for_update,
                                           Roster__Identity__V1__UserGroup **out,
                                           struct rs_error *err);

/*
 * Inserts the group of req (fields validated) under a new id, after the
 * parent, depth and sibling-name checks, and reads it back into *out
 * (from the call's arena). REQUIRES: inside a transaction that holds the
 * group tree lock, the actor authorised as an administrator.
 */
RS_MUSTCHECK rs_status identity_insert_group(
    rs_db_conn *conn, struct rs_call *call,
    const Roster__Identity__V1__CreateUserGroupRequest *req, const char *creator_id,
    const char *new_id, Roster__Identity__V1__UserGroup **out, struct rs_error *err);

/* Validates a CreateUserGroupRequest's fields other than organization_id. */
RS_MUSTCHECK rs_status identity_validate_new_group(
    struct rs_call *call, const Roster__Identity__V1__CreateUserGroupRequest *req,
    struct rs_error *err);

/* Fills err with NOT_FOUND GROUP_NOT_FOUND for group_id; returns its code. */
rs_status identity_group_not_found(const char *org_id, const char *group_id,
                                   struct rs_error *err);

/*
 * Rejects with FAILED_PRECONDITION GROUP_SYNCHRONIZED a change to a synced
 * group unless the caller has the "sync" scope.
 */
RS_MUSTCHECK rs_status identity_group_writable(struct rs_call *call, const char *group_id,
                                               bool synced, struct rs_error *err);

/* Rejects changes to a synced group unless the caller has the "sync" scope. */
RS_MUSTCHECK rs_status identity_check_group_writable(struct rs_call *call,
                                                     const Roster__Identity__V1__UserGroup *g,
                                                     struct rs_error *err);

/*
 * Checks that a new group may go under parent: GROUP_SYNCHRONIZED as
 * identity_check_group_writable, then FAILED_PRECONDITION
 * GROUP_DEPTH_EXCEEDED when the child would nest too deep. Sets *depth to
 * the child's depth once the parent is writable.
 */
RS_MUSTCHECK rs_status identity_check_group_parent(
    struct rs_call *call, const Roster__Identity__V1__UserGroup *parent, int *depth,
    struct rs_error *err);

/* Fills err with ALREADY_EXISTS GROUP_NAME_TAKEN (meta name); returns its code. */
rs_status identity_group_name_taken(const char *name, struct rs_error *err);

/* members.c */
IDENTITY_HANDLER(identity_add_user_group_members);
IDENTITY_HANDLER(identity_remove_user_group_members);
IDENTITY_HANDLER(identity_list_user_group_members);
IDENTITY_HANDLER(identity_list_groups_of_user);

/* external.c */
IDENTITY_HANDLER(identity_bind_external_identity);
IDENTITY_HANDLER(identity_unbind_external_identity);
IDENTITY_HANDLER(identity_list_external_identities);
IDENTITY_HANDLER(identity_lookup_external_identity);

/* Validates the platform, corp_id and platform_user_id of an external identity. */
RS_MUSTCHECK rs_status identity_validate_external_key(int platform, const char *corp_id,
                                                      const char *platform_user_id,
                                                      struct rs_error *err);

/*
 * Takes the transaction-scoped lock under which binds of one organisation
 * and platform check the union id rule. REQUIRES: inside a transaction.
 */
RS_MUSTCHECK rs_status identity_lock_externals(rs_db_conn *conn, rs_arena *arena,
                                               const char *org_id, int platform,
                                               struct rs_error *err);

/* Fill err with ALREADY_EXISTS EXTERNAL_IDENTITY_BOUND or UNION_ID_BOUND
 * (meta user_id: the owner); return its code. */
rs_status identity_external_bound(const char *corp_id, const char *platform_user_id,
                                  const char *owner_id, struct rs_error *err);
rs_status identity_union_id_bound(const char *union_id, const char *owner_id,
                                  struct rs_error *err);

/* users_batch.c */
IDENTITY_HANDLER(identity_create_users);

/*
 * Validates the organisation id of a batch call and its number of entries
 * n: 1 to IDENTITY_BATCH_MAX, or INVALID_ARGUMENT BATCH_SIZE_INVALID with
 * meta field.
 */
RS_MUSTCHECK rs_status identity_validate_batch(const char *org_id, size_t n,
                                               const char *field, struct rs_error *err);

/*
 * Rejects with RESOURCE_EXHAUSTED RESPONSE_TOO_LARGE a reply to n entries
 * that the server could not send. Batch calls check it before commit, so
 * nothing is created that the caller could not learn about.
 */
RS_MUSTCHECK rs_status identity_check_reply_size(struct rs_call *call,
                                                 const ProtobufCMessage *reply, size_t n,
                                                 struct rs_error *err);

/* Logs the outcome of a batch call: msg, the organisation, created and rejected counts. */
void identity_log_batch(struct rs_call *call, const char *msg, const char *org_id,
                        size_t n_created, size_t n);

/*
 * Ends the n_arrays array literals in arrays and runs sql with the
 * n_scalars scalars, then the arrays, as $1, $2, ... (at most 12 in all).
 * Frees the arrays, also on failure. *res, when res is not NULL, lives as
 * long as arena.
 */
RS_MUSTCHECK rs_status identity_query_arrays(rs_db_conn *conn, rs_arena *arena,
                                             const char *name, const char *sql,
                                             const char *const *scalars, int n_scalars,
                                             struct rs_buf *arrays, int n_arrays,
                                             PGresult **res, struct rs_error *err);

/*
 * Returns the row of res whose first column is id, or -1. REQUIRES: rows
 * sorted by that column in byte order (ORDER BY ... COLLATE "C").
 */
int identity_find_row(const PGresult *res, const char *id);

/* Converts e into a batch entry's error, allocated from arena; NULL when out of memory. */
Roster__Identity__V1__EntryError *identity_entry_error(rs_arena *arena,
                                                      const struct rs_error *e);

/* groups_batch.c */
IDENTITY_HANDLER(identity_create_user_groups);

#endif /* IDENTITY_INT_H */
