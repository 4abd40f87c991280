/*
 * services/authz/src/authz_int.h
 *    Declarations shared by the authz service's write and read handlers:
 *    the service context, actor checks, lookups of identity rows, the
 *    revision bump and the RPC handlers.
 */
#ifndef AUTHZ_INT_H
#define AUTHZ_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "engine.h"
#include "model.h"
#include "roster/actor.h"
#include "roster/arena.h"
#include "roster/authz/v1/authz.pb-c.h"
#include "roster/db.h"
#include "roster/name.h"
#include "roster/page.h"
#include "roster/rpc.h"
#include "roster/status.h"

#define AUTHZ_SCHEMA "authz"
#define AUTHZ_SERVICE_NAME "roster.authz.v1.AuthzService"

/*
 * Passed to every handler as rs_call_user_data. engine stays the first
 * member: the engine's handlers find it there (engine.h).
 */
struct authz_service {
    struct authz_engine *engine; /* owned */
    rs_db_pool *pool;            /* borrowed from libs/service */
};

/* migrations.c (generated at build time from migrations/NNNN_name.sql) */
extern const struct rs_db_migration authz_migrations[];
extern const size_t authz_n_migrations;

/* server.c */
extern const struct rs_rpc_service authz_rpc_service;

/* Builds the context and its engine (rs_service_def.init); free with authz_service_cleanup. */
RS_MUSTCHECK rs_status authz_service_init(rs_db_pool *pool, const char *conninfo, void **out,
                                          struct rs_error *err);
void authz_service_cleanup(void *svc);

/* --- actor.c --- */

/* The acting user, checked against the request's organisation. */
struct authz_actor {
    char org_id[33];
    char user_id[33];
    char owner_id[33]; /* the organisation's owner */
    int user_type;
    bool org_admin;         /* owner or holder of 111111111 */
    bool permission_admin;  /* holder of 111111112 */
};

#define AUTHZ_NEED_ADMIN 0x1u /* the actor must be an organisation administrator */

/*
 * Checks the organisation id (INVALID_ID, ORGANIZATION_NOT_FOUND) and that
 * the call's actor is an enabled user of it (ACTOR_NOT_IN_ORGANIZATION,
 * ACTOR_DISABLED), and with AUTHZ_NEED_ADMIN an organisation administrator
 * (NOT_ORGANIZATION_ADMIN). Fills *out.
 */
RS_MUSTCHECK rs_status authz_authorize(rs_db_conn *conn, struct rs_call *call,
                                       const char *org_id, unsigned flags,
                                       struct authz_actor *out, struct rs_error *err);

/* Runs fn in a READ COMMITTED transaction on the service's pool. */
RS_MUSTCHECK rs_status authz_tx(struct rs_call *call, rs_db_tx_fn fn, void *arg,
                                struct rs_error *err);

/*
 * Runs one read for any user of org_id: authz_authorize without flags,
 * then the query, in one transaction. *out is owned by the call's arena.
 */
RS_MUSTCHECK rs_status authz_read(struct rs_call *call, const char *org_id, const char *stmt,
                                  const char *sql, int n_params, const char *const *params,
                                  PGresult **out, struct rs_error *err);

/* Sets RS_ENOMEM with reason OUT_OF_MEMORY; returns RS_ENOMEM. */
rs_status authz_nomem(struct rs_error *err);

/* rs_db_query_arena on the call's arena. */
RS_MUSTCHECK rs_status authz_query(rs_db_conn *conn, struct rs_call *call, const char *stmt,
                                   const char *sql, int n_params, const char *const *params,
                                   PGresult **out, struct rs_error *err);


/*
 * A display name of 1 to max_len code points without control characters,
 * not only spaces; INVALID_ARGUMENT reason (meta field) otherwise.
 */
RS_MUSTCHECK rs_status authz_validate_name(const char *field, const char *value,
                                           size_t max_len, const char *reason,
                                           struct rs_error *err);

/* Returns true if err came from the database with this SQLSTATE. */
bool authz_sqlstate_is(const struct rs_error *err, const char *sqlstate);

/* Rejects a malformed min_revision token (INVALID_ARGUMENT REVISION_INVALID). */
RS_MUSTCHECK rs_status authz_validate_min_revision(const char *token, struct rs_error *err);

/*
 * Bumps the organisation's revision (authz.bump_revision) as the last
 * statement of a write and stores the token in *token (from the call's arena).
 */
RS_MUSTCHECK rs_status authz_bump(rs_db_conn *conn, struct rs_call *call, const char *org_id,
                                  char **token, struct rs_error *err);

/*
 * Reads the type of user user_id of org_id FOR SHARE, so that a concurrent
 * type change in identity waits for this transaction. *enabled (may be
 * NULL) receives whether the user is enabled. NOT_FOUND USER_NOT_FOUND
 * when the user is not in the organisation.
 */
RS_MUSTCHECK rs_status authz_user_type(rs_db_conn *conn, struct rs_call *call,
                                       const char *org_id, const char *user_id, int *type,
                                       bool *enabled, struct rs_error *err);

/* Requires group_id to be a group of org_id (read FOR SHARE); NOT_FOUND GROUP_NOT_FOUND. */
RS_MUSTCHECK rs_status authz_group_exists(rs_db_conn *conn, struct rs_call *call,
                                          const char *org_id, const char *group_id,
                                          struct rs_error *err);

/*
 * SQL: the ids of the groups user $1 belongs to, directly or as a member
 * of a descendant group. A group's workspace membership and grants apply
 * to the members of the group and of its descendant groups.
 */
#define AUTHZ_USER_GROUPS_CTE                                                          \
    "WITH RECURSIVE ug (id) AS ("                                                      \
    "SELECT m.group_id FROM identity.user_group_members m WHERE m.user_id = $1 "       \
    "UNION SELECT g.parent_id FROM identity.user_groups g JOIN ug ON g.id = ug.id "    \
    "WHERE g.parent_id IS NOT NULL) "

/* --- workspaces.c --- */

/*
 * Requires workspace_id to be a workspace of org_id, locked FOR SHARE (or
 * FOR UPDATE with for_update); NOT_FOUND WORKSPACE_NOT_FOUND. *owner_id
 * (may be NULL) receives its owner, from the call's arena.
 */
RS_MUSTCHECK rs_status authz_workspace_lock(rs_db_conn *conn, struct rs_call *call,
                                            const char *org_id, const char *workspace_id,
                                            bool for_update, char **owner_id,
                                            struct rs_error *err);

/*
 * Sets *out when user_id manages workspace_id: an organisation
 * administrator, or a member holding 25 directly or through a group.
 */
RS_MUSTCHECK rs_status authz_is_workspace_admin(rs_db_conn *conn, struct rs_call *call,
                                                const struct authz_actor *actor,
                                                const char *workspace_id, bool *out,
                                                struct rs_error *err);

/* --- wsroles.c --- */

/*
 * Checks that every id of roles is a preset or a custom workspace role of
 * org_id (NOT_FOUND ROLE_NOT_FOUND). *allows_all receives the union of
 * their matrices (may be NULL).
 */
RS_MUSTCHECK rs_status authz_ws_roles_resolve(rs_db_conn *conn, struct rs_call *call,
                                              const char *org_id, const int64_t *roles,
                                              size_t n_roles, struct authz_ws_perms *union_out,
                                              struct rs_error *err);

/* The table of a kind of custom role, for authz_delete_custom_role. */
struct authz_custom_role_kind {
    const char *noun;        /* "organization role" */
    const char *holders;     /* what holds it, for ROLE_IN_USE: "user(s); revoke it first" */
    const char *lock_stmt;   /* locks role $1 of organisation $2, returns its holder count */
    const char *lock_sql;
    const char *delete_stmt; /* deletes role $1 of organisation $2 */
    const char *delete_sql;
};

/*
 * Deletes a custom role as an organisation administrator and bumps the
 * revision into *token: NOT_FOUND ROLE_NOT_FOUND, FAILED_PRECONDITION
 * ROLE_IN_USE while anyone holds it. REQUIRES: inside a transaction.
 */
RS_MUSTCHECK rs_status authz_delete_custom_role(rs_db_conn *conn, struct rs_call *call,
                                                const struct authz_custom_role_kind *kind,
                                                const char *org_id, int64_t role_id,
                                                char **token, struct rs_error *err);

/* Formats ids as a PostgreSQL array literal "{1,2}" in the call's arena. */
char *authz_int64_array(struct rs_call *call, const int64_t *ids, size_t n);

/* --- convert.c --- */

/* Microseconds since the epoch, exact for timestamptz. */
#define AUTHZ_US(col) "(extract(epoch from " col ") * 1000000)::bigint"

/* Parses a bigint column; 0 for NULL. */
int64_t authz_col_int64(const PGresult *res, int row, int col);

/* A copy of a text column from arena ("" for NULL); NULL when out of memory. */
char *authz_col_str(rs_arena *arena, const PGresult *res, int row, int col);

/* A Timestamp for us microseconds since the epoch, from arena; NULL when out of memory. */
Google__Protobuf__Timestamp *authz_timestamp(rs_arena *arena, int64_t us);

/* --- paged listings ordered by (created_at, id), on roster/page.h --- */

/* One page of a listing: SQL parameters and the position to continue after. */
struct authz_page {
    int size;
    uint64_t filter;
    struct rs_page_key after;
    char limit[16];          /* size + 1: the extra row shows that more remain */
    char after_us[24];
    const char *after_param; /* after_us, or NULL on the first page */
};

/*
 * SQL condition for rows after the page's position, given as microseconds
 * in $3 and an id in $4; $3 is NULL on the first page.
 */
#define AUTHZ_PAGE_AFTER(created_col, id_col)                                          \
    "($3::bigint IS NULL OR (" created_col ", " id_col ") > ('epoch'::timestamptz + "   \
    "$3::bigint * interval '1 microsecond', $4))"

/* Checks page_size and page_token (PAGE_SIZE_INVALID, PAGE_TOKEN_INVALID) into *page. */
RS_MUSTCHECK rs_status authz_page_start(int32_t page_size, const char *page_token,
                                        uint64_t filter, struct authz_page *page,
                                        struct rs_error *err);

/*
 * Runs rs_page_rows for page with the call's arena and message limit: the
 * page's rows of res become *items, and *next_token continues after the
 * last of them. id_col and created_col hold each row's id and created
 * microseconds.
 */
RS_MUSTCHECK rs_status authz_page_finish(struct rs_call *call, const struct authz_page *page,
                                         const PGresult *res, rs_page_row_fn convert,
                                         int id_col, int created_col, void ***items,
                                         size_t *n_items, char **next_token,
                                         struct rs_error *err);

/* Builds a WriteResponse carrying token. */
RS_MUSTCHECK rs_status authz_write_response(struct rs_call *call, const char *token,
                                            ProtobufCMessage **resp, struct rs_error *err);

/* --- handlers (one file per concept) --- */

#define AUTHZ_HANDLER(name)                                                             \
    rs_status name(struct rs_call *call, const ProtobufCMessage *req,                   \
                   ProtobufCMessage **resp, struct rs_error *err)

/* orgroles.c */
AUTHZ_HANDLER(authz_create_org_role);
AUTHZ_HANDLER(authz_update_org_role);
AUTHZ_HANDLER(authz_delete_org_role);
AUTHZ_HANDLER(authz_list_org_roles);

/* userroles.c */
AUTHZ_HANDLER(authz_assign_org_roles);
AUTHZ_HANDLER(authz_revoke_org_roles);
AUTHZ_HANDLER(authz_set_org_roles);
AUTHZ_HANDLER(authz_get_user_org_roles);

/* workspaces.c */
AUTHZ_HANDLER(authz_create_workspace);
AUTHZ_HANDLER(authz_get_workspace);
AUTHZ_HANDLER(authz_list_workspaces);
AUTHZ_HANDLER(authz_update_workspace);
AUTHZ_HANDLER(authz_delete_workspace);

/* wsroles.c */
AUTHZ_HANDLER(authz_create_workspace_role);
AUTHZ_HANDLER(authz_delete_workspace_role);
AUTHZ_HANDLER(authz_list_workspace_roles);

/* members.c */
AUTHZ_HANDLER(authz_set_workspace_member);
AUTHZ_HANDLER(authz_remove_workspace_member);
AUTHZ_HANDLER(authz_list_workspace_members);

/* resources.c */
AUTHZ_HANDLER(authz_register_resource);
AUTHZ_HANDLER(authz_unregister_resource);

/*
 * Validates a Resource of a work (RESOURCE_TYPE_INVALID, RESOURCE_ID_INVALID,
 * RESOURCE_REQUIRED); with need_workspace also its workspace id.
 */
RS_MUSTCHECK rs_status authz_validate_resource(const Roster__Authz__V1__Resource *r,
                                               bool need_workspace, struct rs_error *err);

/* grants.c */
AUTHZ_HANDLER(authz_grant);
AUTHZ_HANDLER(authz_revoke);
AUTHZ_HANDLER(authz_list_grants);

#endif /* AUTHZ_INT_H */
