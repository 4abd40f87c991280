/*
 * services/authz/src/model.h
 *    The fixed parts of the authorisation model, defined once and shared
 *    by the write handlers and the decision engine: preset organisation
 *    roles and their keys, function-permission keys, workspace modules and
 *    the preset workspace roles' matrices, the analyst ceiling, work types,
 *    grant levels and the per-user-type grant ceilings.
 */
#ifndef AUTHZ_MODEL_H
#define AUTHZ_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Preset organisation roles (Quick BI ids). */
#define AUTHZ_ORG_ADMIN INT64_C(111111111)
#define AUTHZ_PERMISSION_ADMIN INT64_C(111111112)
#define AUTHZ_REGULAR_USER INT64_C(111111113)

/* Preset workspace roles. */
#define AUTHZ_WS_ADMIN 25
#define AUTHZ_WS_DEVELOPER 26
#define AUTHZ_WS_ANALYST 27
#define AUTHZ_WS_VIEWER 30

/* User types (identity.users.user_type). */
#define AUTHZ_USER_DEVELOPER 1
#define AUTHZ_USER_VISITOR 2
#define AUTHZ_USER_ANALYST 3

/* Grant levels (Quick BI AuthPoints); each contains the ones below it. */
#define AUTHZ_LEVEL_VIEW 1
#define AUTHZ_LEVEL_EXPORT 3
#define AUTHZ_LEVEL_EDIT 11

/* Resource ids: 1 to 128 code points, so at most 512 bytes of UTF-8. */
#define AUTHZ_RESOURCE_ID_MAX 128
#define AUTHZ_RESOURCE_ID_MAX_BYTES (4 * AUTHZ_RESOURCE_ID_MAX)

/* Organisation-level keys that are not function-permission keys. */
#define AUTHZ_KEY_WORKSPACE_CREATE "workspace.create"
#define AUTHZ_KEY_GRANT_MANAGE "grant.manage"
#define AUTHZ_KEY_ROLE_MANAGE "role.manage"

/* --- organisation roles --- */

/* The 13 function-permission keys custom organisation roles are built from. */
extern const char *const authz_function_keys[];
extern const size_t authz_n_function_keys;

/* Returns true if key is one of authz_function_keys. */
bool authz_function_key_valid(const char *key);

struct authz_org_preset {
    int64_t role_id;
    const char *name;
    const char *const *keys; /* every key the role grants, NULL-terminated */
};

/* The three presets in id order. */
extern const struct authz_org_preset authz_org_presets[];
extern const size_t authz_n_org_presets;

/* The preset with role_id, or NULL for any other id. */
const struct authz_org_preset *authz_org_preset_find(int64_t role_id);

/* Returns true if the preset grants key (function key or organisation key). */
bool authz_org_preset_has_key(const struct authz_org_preset *preset, const char *key);

/* --- workspace modules and roles --- */

enum authz_module {
    AUTHZ_MOD_PORTAL_CREATE,
    AUTHZ_MOD_DASHBOARD_CREATE,
    AUTHZ_MOD_REPORT_CREATE,
    AUTHZ_MOD_SCREEN_CREATE,
    AUTHZ_MOD_ANALYSIS,
    AUTHZ_MOD_OFFLINE_DOWNLOAD,
    AUTHZ_MOD_DATA_FORM,
    AUTHZ_MOD_QUICK_ETL,
    AUTHZ_MOD_CUBE,
    AUTHZ_MOD_DATASOURCE,
    AUTHZ_N_MODULES
};

/* Actions on a module, as bits. */
#define AUTHZ_ACT_EDIT 0x1u
#define AUTHZ_ACT_USE 0x2u
#define AUTHZ_ACT_LIST 0x4u
#define AUTHZ_ACT_ALL (AUTHZ_ACT_EDIT | AUTHZ_ACT_USE | AUTHZ_ACT_LIST)

/* Module keys indexed by enum authz_module ("portal_create", ...). */
extern const char *const authz_module_names[AUTHZ_N_MODULES];

/* The module named name, or -1. */
int authz_module_find(const char *name);

/* The action bit named "edit", "use" or "list", or 0. */
unsigned authz_action_find(const char *name);

/* Permissions of a workspace role: action bits per module. */
struct authz_ws_perms {
    uint8_t actions[AUTHZ_N_MODULES];
    bool manages_members; /* members.manage and others' works: preset 25 only */
};

struct authz_ws_preset {
    int64_t role_id;
    const char *name;
    struct authz_ws_perms perms;
};

/* The four presets 25, 26, 27, 30 in id order. */
extern const struct authz_ws_preset authz_ws_presets[];
extern const size_t authz_n_ws_presets;

/* The preset with role_id, or NULL for any other id (custom roles). */
const struct authz_ws_preset *authz_ws_preset_find(int64_t role_id);

/* Returns true if perms allows every bit of actions on module. */
bool authz_ws_role_allows(const struct authz_ws_perms *perms, enum authz_module module,
                          unsigned actions);

/*
 * Returns true if perms stays within preset 27 (Workspace Analyst): no
 * action on any module beyond 27's, and no member management. An Analyst
 * may hold a custom role only when this holds.
 */
bool authz_ws_within_analyst_ceiling(const struct authz_ws_perms *perms);

/*
 * Parses the permissions column of authz.workspace_roles as PostgreSQL
 * prints jsonb, e.g. {"cube": ["use", "list"]}, into *out (manages_members
 * false). Returns false on an unknown module or action.
 */
bool authz_ws_perms_from_json(const char *json, struct authz_ws_perms *out);

/*
 * Writes perms as that JSON into out (NUL-terminated); modules without
 * actions are left out. Returns false if out_size is too small (512
 * bytes always suffice).
 */
bool authz_ws_perms_to_json(const struct authz_ws_perms *perms, char *out, size_t out_size);

/* --- works, levels, ceilings --- */

/* The 8 work types in Quick BI's spelling ("dashboard", ..., "dataForm"). */
extern const char *const authz_resource_types[];
extern const size_t authz_n_resource_types;

/* Returns true if type is one of authz_resource_types. */
bool authz_resource_type_valid(const char *type);

/* The workspace module a work type is created in (edit right), or -1. */
int authz_resource_module(const char *type);

/* Returns true for 1, 3 and 11. */
bool authz_level_valid(int level);

/* "view", "export" or "edit" for 1, 3, 11; NULL otherwise. */
const char *authz_level_name(int level);

/* The level a permission "view", "export" or "edit" needs, or 0. */
int authz_level_from_name(const char *name);

/*
 * The highest level a user of user_type may be granted on a work of type
 * (0: none). The same table as authz.type_ceilings in
 * migrations/0001_init.sql, which the SQL checks use: Quick BI's highest
 * permission per user type, pinned by tests/test_model.c.
 */
int authz_type_ceiling(int user_type, const char *type);

#endif /* AUTHZ_MODEL_H */
