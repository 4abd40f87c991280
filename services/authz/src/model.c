/*
 * services/authz/src/model.c
 *    The one definition of the preset roles, keys, modules, work types and
 *    ceilings described in model.h and docs/authz.md.
 */
#include "model.h"

#include <stdio.h>
#include <string.h>

#define E AUTHZ_ACT_EDIT
#define U AUTHZ_ACT_USE
#define L AUTHZ_ACT_LIST

const char *const authz_function_keys[] = {
    "quick_monitor",     "subscription",     "offline_download",
    "resource_package",  "organization_ask", "developer_openapi",
    "data_service",      "admin_authorize3rd", "component_manage",
    "template_open",     "custom_driver",    "open_platform_custom_plugin",
    "enterprise_safety",
};
const size_t authz_n_function_keys = sizeof(authz_function_keys) / sizeof(authz_function_keys[0]);

static const char *const org_admin_keys[] = {
    "quick_monitor",     "subscription",     "offline_download",
    "resource_package",  "organization_ask", "developer_openapi",
    "data_service",      "admin_authorize3rd", "component_manage",
    "template_open",     "custom_driver",    "open_platform_custom_plugin",
    "enterprise_safety", AUTHZ_KEY_WORKSPACE_CREATE, AUTHZ_KEY_GRANT_MANAGE,
    AUTHZ_KEY_ROLE_MANAGE, NULL,
};
static const char *const permission_admin_keys[] = {
    AUTHZ_KEY_GRANT_MANAGE, "subscription", "offline_download", NULL,
};
static const char *const regular_user_keys[] = {
    "subscription", "offline_download", NULL,
};

const struct authz_org_preset authz_org_presets[] = {
    { AUTHZ_ORG_ADMIN, "Organization Administrator", org_admin_keys },
    { AUTHZ_PERMISSION_ADMIN, "Permission Administrator", permission_admin_keys },
    { AUTHZ_REGULAR_USER, "Regular User", regular_user_keys },
};
const size_t authz_n_org_presets = sizeof(authz_org_presets) / sizeof(authz_org_presets[0]);

bool
authz_function_key_valid(const char *key)
{
    size_t i;

    for (i = 0; i < authz_n_function_keys; i++) {
        if (strcmp(authz_function_keys[i], key) == 0)
            return true;
    }
    return false;
}

const struct authz_org_preset *
authz_org_preset_find(int64_t role_id)
{
    size_t i;

    for (i = 0; i < authz_n_org_presets; i++) {
        if (authz_org_presets[i].role_id == role_id)
            return &authz_org_presets[i];
    }
    return NULL;
}

bool
authz_org_preset_has_key(const struct authz_org_preset *preset, const char *key)
{
    const char *const *k;

    for (k = preset->keys; *k != NULL; k++) {
        if (strcmp(*k, key) == 0)
            return true;
    }
    return false;
}

const char *const authz_module_names[AUTHZ_N_MODULES] = {
    "portal_create", "dashboard_create", "report_create", "screen_create", "analysis",
    "offline_download", "data_form", "quick_etl", "cube", "datasource",
};

/* Module order: portal dashboard report screen analysis download form etl cube source. */
const struct authz_ws_preset authz_ws_presets[] = {
    { AUTHZ_WS_ADMIN, "Workspace Admin",
      { { E | U | L, E | U | L, E | U | L, E | U | L, E | U | L, E | U | L, E | U | L,
          E | U | L, E | U | L, E | U | L },
        true } },
    { AUTHZ_WS_DEVELOPER, "Workspace Developer",
      { { E | U | L, E | U | L, E | U | L, E | U | L, E | U | L, E | U | L, E | U | L,
          E | U | L, E | U | L, E | U | L },
        false } },
    { AUTHZ_WS_ANALYST, "Workspace Analyst",
      { { E | L, E | L, E | L, E | L, E | L, E | L, L, E | L, U | L, L }, false } },
    { AUTHZ_WS_VIEWER, "Workspace Viewer", { { L, L, L, L, L, L, L, L, L, L }, false } },
};
const size_t authz_n_ws_presets = sizeof(authz_ws_presets) / sizeof(authz_ws_presets[0]);

int
authz_module_find(const char *name)
{
    int i;

    for (i = 0; i < AUTHZ_N_MODULES; i++) {
        if (strcmp(authz_module_names[i], name) == 0)
            return i;
    }
    return -1;
}

unsigned
authz_action_find(const char *name)
{
    if (strcmp(name, "edit") == 0)
        return AUTHZ_ACT_EDIT;
    if (strcmp(name, "use") == 0)
        return AUTHZ_ACT_USE;
    if (strcmp(name, "list") == 0)
        return AUTHZ_ACT_LIST;
    return 0;
}

const struct authz_ws_preset *
authz_ws_preset_find(int64_t role_id)
{
    size_t i;

    for (i = 0; i < authz_n_ws_presets; i++) {
        if (authz_ws_presets[i].role_id == role_id)
            return &authz_ws_presets[i];
    }
    return NULL;
}

bool
authz_ws_role_allows(const struct authz_ws_perms *perms, enum authz_module module,
                     unsigned actions)
{
    if ((int)module < 0 || module >= AUTHZ_N_MODULES || actions == 0)
        return false;
    return (perms->actions[module] & actions) == actions;
}

bool
authz_ws_within_analyst_ceiling(const struct authz_ws_perms *perms)
{
    const struct authz_ws_perms *ceiling = &authz_ws_preset_find(AUTHZ_WS_ANALYST)->perms;
    int m;

    if (perms->manages_members)
        return false;
    for (m = 0; m < AUTHZ_N_MODULES; m++) {
        if ((perms->actions[m] & ~ceiling->actions[m]) != 0)
            return false;
    }
    return true;
}

bool
authz_ws_perms_from_json(const char *json, struct authz_ws_perms *out)
{
    const char *p = json;
    int module = -1;

    memset(out, 0, sizeof(*out));
    /*
     * Module keys and action names are disjoint words, so each quoted word
     * is either a module (opening its list) or an action of the last module.
     */
    while ((p = strchr(p, '"')) != NULL) {
        const char *end = strchr(p + 1, '"');
        char word[64];
        size_t len;
        unsigned act;
        int m;

        if (end == NULL)
            return false;
        len = (size_t)(end - p - 1);
        if (len >= sizeof(word))
            return false;
        memcpy(word, p + 1, len);
        word[len] = '\0';
        p = end + 1;
        if ((m = authz_module_find(word)) >= 0) {
            module = m;
            continue;
        }
        act = authz_action_find(word);
        if (act == 0 || module < 0)
            return false;
        out->actions[module] |= (uint8_t)act;
    }
    return true;
}

bool
authz_ws_perms_to_json(const struct authz_ws_perms *perms, char *out, size_t out_size)
{
    static const char *const act_names[3] = { "edit", "use", "list" };
    size_t used = 0;
    bool first = true;
    int m;
    int a;
    int n;

#define APPEND(...)                                                                   \
    do {                                                                              \
        n = snprintf(out + used, out_size - used, __VA_ARGS__);                       \
        if (n < 0 || (size_t)n >= out_size - used)                                    \
            return false;                                                             \
        used += (size_t)n;                                                            \
    } while (0)

    if (out_size == 0)
        return false;
    APPEND("{");
    for (m = 0; m < AUTHZ_N_MODULES; m++) {
        bool first_act = true;

        if (perms->actions[m] == 0)
            continue;
        APPEND("%s\"%s\": [", first ? "" : ", ", authz_module_names[m]);
        first = false;
        for (a = 0; a < 3; a++) {
            if (perms->actions[m] & (1u << a)) {
                APPEND("%s\"%s\"", first_act ? "" : ", ", act_names[a]);
                first_act = false;
            }
        }
        APPEND("]");
    }
    APPEND("}");
#undef APPEND
    return true;
}

const char *const authz_resource_types[] = {
    "dashboard", "report", "dashboardOfflineQuery", "cube",
    "datasource", "screen", "ANALYSIS", "dataForm",
};
const size_t authz_n_resource_types =
    sizeof(authz_resource_types) / sizeof(authz_resource_types[0]);

/* Indexed like authz_resource_types. */
static const int resource_modules[] = {
    AUTHZ_MOD_DASHBOARD_CREATE, AUTHZ_MOD_REPORT_CREATE, AUTHZ_MOD_OFFLINE_DOWNLOAD,
    AUTHZ_MOD_CUBE, AUTHZ_MOD_DATASOURCE, AUTHZ_MOD_SCREEN_CREATE, AUTHZ_MOD_ANALYSIS,
    AUTHZ_MOD_DATA_FORM,
};

static int
resource_index(const char *type)
{
    size_t i;

    for (i = 0; i < authz_n_resource_types; i++) {
        if (strcmp(authz_resource_types[i], type) == 0)
            return (int)i;
    }
    return -1;
}

bool
authz_resource_type_valid(const char *type)
{
    return resource_index(type) >= 0;
}

int
authz_resource_module(const char *type)
{
    int i = resource_index(type);

    return i < 0 ? -1 : resource_modules[i];
}

bool
authz_level_valid(int level)
{
    return level == AUTHZ_LEVEL_VIEW || level == AUTHZ_LEVEL_EXPORT ||
           level == AUTHZ_LEVEL_EDIT;
}

const char *
authz_level_name(int level)
{
    switch (level) {
    case AUTHZ_LEVEL_VIEW:
        return "view";
    case AUTHZ_LEVEL_EXPORT:
        return "export";
    case AUTHZ_LEVEL_EDIT:
        return "edit";
    default:
        return NULL;
    }
}

int
authz_level_from_name(const char *name)
{
    if (strcmp(name, "view") == 0)
        return AUTHZ_LEVEL_VIEW;
    if (strcmp(name, "export") == 0)
        return AUTHZ_LEVEL_EXPORT;
    if (strcmp(name, "edit") == 0)
        return AUTHZ_LEVEL_EDIT;
    return 0;
}

int
authz_type_ceiling(int user_type, const char *type)
{
    bool work;

    if (resource_index(type) < 0)
        return 0;
    if (user_type == AUTHZ_USER_DEVELOPER)
        return AUTHZ_LEVEL_EDIT;
    if (user_type != AUTHZ_USER_ANALYST && user_type != AUTHZ_USER_VISITOR)
        return 0;
    work = strcmp(type, "dashboard") == 0 || strcmp(type, "report") == 0 ||
           strcmp(type, "dashboardOfflineQuery") == 0 || strcmp(type, "screen") == 0 ||
           strcmp(type, "ANALYSIS") == 0;
    if (work)
        return user_type == AUTHZ_USER_ANALYST ? AUTHZ_LEVEL_EDIT : AUTHZ_LEVEL_EXPORT;
    if (strcmp(type, "dataForm") == 0)
        return user_type == AUTHZ_USER_ANALYST ? AUTHZ_LEVEL_EDIT : AUTHZ_LEVEL_VIEW;
    if (strcmp(type, "cube") == 0)
        return user_type == AUTHZ_USER_ANALYST ? AUTHZ_LEVEL_VIEW : 0;
    return 0;
}
