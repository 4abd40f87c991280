/*
 * services/authz/src/check.c
 *    Evaluation of one question against a snapshot: organisation keys,
 *    workspace permissions and work levels, with the contributing facts
 *    for Explain. Nothing here allocates unless an explanation is asked for.
 */
#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MEMBERS_MANAGE "members.manage"

static void
contribute(struct authz_explain *ex, const char *kind, const char *id, const char *via,
           const char *allows, const char *detail)
{
    struct authz_contribution *c;

    if (ex == NULL)
        return;
    if (ex->n == ex->cap) {
        size_t ncap = ex->cap ? ex->cap * 2 : 8;
        struct authz_contribution *items = rs_arena_alloc(ex->arena, ncap * sizeof(*items));

        if (items == NULL)
            return; /* an explanation short of memory loses lines, not the decision */
        if (ex->n > 0)
            memcpy(items, ex->items, ex->n * sizeof(*items));
        ex->items = items;
        ex->cap = ncap;
    }
    c = &ex->items[ex->n++];
    c->kind = kind;
    c->id = id ? id : "";
    c->via_group_id = via ? via : "";
    c->allows = allows ? allows : "";
    c->detail = detail ? detail : "";
}

static const char *
explain_printf(struct authz_explain *ex, const char *fmt, int64_t value)
{
    if (ex == NULL)
        return "";
    return rs_arena_printf(ex->arena, fmt, value);
}

static const char *
level_name(int level)
{
    const char *name = authz_level_name(level);

    return name ? name : "none";
}

/* --- workspace membership --- */

struct ws_access {
    bool member;          /* counts as a workspace member */
    bool manages;         /* members.manage after type caps */
    uint32_t mask;        /* permissions after type caps */
    uint32_t raw_mask;    /* permissions before type caps */
    bool raw_manages;
};

static uint32_t
preset_mask(int64_t id)
{
    const struct authz_ws_preset *p = authz_ws_preset_find(id);
    uint32_t mask = 0;
    int m;

    for (m = 0; p != NULL && m < AUTHZ_N_MODULES; m++)
        mask |= SNAP_PERM_BIT(m, p->perms.actions[m] & AUTHZ_ACT_ALL);
    return mask;
}

static void
explain_member(const struct authz_snapshot *s, const struct snap_member *m,
               struct authz_explain *ex)
{
    const char *via = m->principal_type == SNAP_PRINCIPAL_GROUP ? s->groups[m->principal].id : "";
    uint16_t k;

    for (k = 0; k < m->n_roles; k++)
        contribute(ex, "WORKSPACE_ROLE",
                   explain_printf(ex, "%" PRId64, s->member_roles[m->roles_off + k]), via,
                   "", rs_arena_printf(ex->arena, "member of workspace %s",
                                       s->workspaces[m->workspace].id));
}

/*
 * Collects what user may do in workspace ws: the direct membership, the
 * memberships of every group in the user's closure, and ownership of the
 * workspace (the owner keeps Workspace Admin). Visitors are never members.
 */
static void
workspace_access(const struct authz_snapshot *s, uint32_t user, uint32_t ws,
                 struct ws_access *out, struct authz_explain *ex)
{
    const struct snap_user *u = &s->users[user];
    uint32_t i, mi;

    memset(out, 0, sizeof(*out));
    mi = snap_find_member(s, ws, SNAP_PRINCIPAL_USER, user);
    if (mi != SNAP_NONE) {
        out->member = true;
        out->raw_mask |= s->members[mi].mask;
        out->raw_manages |= s->members[mi].manages_members;
        if (ex != NULL)
            explain_member(s, &s->members[mi], ex);
    }
    for (i = 0; i < u->closure_len; i++) {
        mi = snap_find_member(s, ws, SNAP_PRINCIPAL_GROUP, s->closure[u->closure_off + i]);
        if (mi == SNAP_NONE)
            continue;
        out->member = true;
        out->raw_mask |= s->members[mi].mask;
        out->raw_manages |= s->members[mi].manages_members;
        if (ex != NULL)
            explain_member(s, &s->members[mi], ex);
    }
    if (s->workspaces[ws].owner == user) {
        out->member = true;
        out->raw_mask |= preset_mask(AUTHZ_WS_ADMIN);
        out->raw_manages = true;
        contribute(ex, "OWNER", s->workspaces[ws].id, NULL, "25", "owner of the workspace");
    }
    switch (u->type) {
    case AUTHZ_USER_DEVELOPER:
        out->mask = out->raw_mask;
        out->manages = out->raw_manages;
        break;
    case AUTHZ_USER_ANALYST:
        out->mask = out->raw_mask & preset_mask(AUTHZ_WS_ANALYST);
        out->manages = false;
        break;
    default:
        out->member = false;
        break;
    }
}

static bool
user_in_workspace(const struct authz_snapshot *s, uint32_t user, uint32_t ws)
{
    const struct snap_user *u = &s->users[user];
    uint32_t i;

    if (u->type == AUTHZ_USER_VISITOR)
        return false;
    if (s->workspaces[ws].owner == user ||
        snap_find_member(s, ws, SNAP_PRINCIPAL_USER, user) != SNAP_NONE)
        return true;
    for (i = 0; i < u->closure_len; i++)
        if (snap_find_member(s, ws, SNAP_PRINCIPAL_GROUP, s->closure[u->closure_off + i]) !=
            SNAP_NONE)
            return true;
    return false;
}

/* --- organisation --- */

static bool
org_role_has_key(const struct authz_snapshot *s, int64_t role, const char *key)
{
    const struct authz_org_preset *preset = authz_org_preset_find(role);
    uint32_t lo = 0, hi = s->n_org_roles, k;

    if (preset != NULL)
        return authz_org_preset_has_key(preset, key);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (s->org_roles[mid].id < role)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == s->n_org_roles || s->org_roles[lo].id != role)
        return false;
    for (k = 0; k < s->org_roles[lo].n_keys; k++)
        if (strcmp(s->org_role_keys[s->org_roles[lo].keys_off + k], key) == 0)
            return true;
    return false;
}

static bool
org_key_valid(const char *key)
{
    return authz_function_key_valid(key) || strcmp(key, AUTHZ_KEY_WORKSPACE_CREATE) == 0 ||
           strcmp(key, AUTHZ_KEY_GRANT_MANAGE) == 0 || strcmp(key, AUTHZ_KEY_ROLE_MANAGE) == 0;
}

static void
evaluate_org(const struct authz_snapshot *s, uint32_t user, const char *key,
             struct authz_answer *out, struct authz_explain *ex)
{
    const struct snap_user *u = &s->users[user];
    bool allowed = false, has;
    uint8_t i;

    if (s->owner == user) {
        allowed = org_role_has_key(s, AUTHZ_ORG_ADMIN, key);
        contribute(ex, "OWNER", s->org_id, NULL, allowed ? key : "",
                   "the organization owner holds 111111111");
    }
    if (u->n_roles == 0) {
        has = org_role_has_key(s, AUTHZ_REGULAR_USER, key);
        allowed |= has;
        contribute(ex, "ORG_ROLE", "111111113", NULL, has ? key : "",
                   "no role assigned: Regular User");
    }
    for (i = 0; i < u->n_roles; i++) {
        int64_t role = s->user_roles[u->roles_off + i];

        has = org_role_has_key(s, role, key);
        allowed |= has;
        contribute(ex, "ORG_ROLE", explain_printf(ex, "%" PRId64, role), NULL, has ? key : "",
                   "");
    }
    out->allowed = allowed;
    out->reason = allowed ? "GRANTED_BY_ORG_ROLE" : "DENIED_NO_ORG_ROLE";
}

/* --- workspace --- */

static rs_status
parse_ws_permission(const char *perm, uint32_t *bit, bool *manage, struct rs_error *err)
{
    const char *dot = strchr(perm, '.');
    char module[32];
    int m;
    unsigned act;

    *bit = 0;
    *manage = strcmp(perm, MEMBERS_MANAGE) == 0;
    if (*manage)
        return RS_OK;
    if (dot == NULL || (size_t)(dot - perm) >= sizeof(module))
        goto invalid;
    memcpy(module, perm, (size_t)(dot - perm));
    module[dot - perm] = '\0';
    m = authz_module_find(module);
    act = authz_action_find(dot + 1);
    if (m < 0 || act == 0)
        goto invalid;
    *bit = SNAP_PERM_BIT(m, act);
    return RS_OK;
invalid:
    return rs_error_set(err, RS_EINVAL, "PERMISSION_INVALID",
                        "invalid workspace permission \"%s\": expected \"<module>.<edit|use|list>\" "
                        "or \"members.manage\"", perm);
}

static void
evaluate_workspace(const struct authz_snapshot *s, uint32_t user, uint32_t ws, uint32_t bit,
                   bool manage, struct authz_answer *out, struct authz_explain *ex)
{
    const struct snap_user *u = &s->users[user];
    struct ws_access acc;

    workspace_access(s, user, ws, &acc, ex);
    if (u->org_admin) {
        contribute(ex, s->owner == user ? "OWNER" : "ORG_ROLE",
                   s->owner == user ? s->org_id : "111111111", NULL, "all",
                   "organization administrators may do everything in every workspace");
        out->allowed = true;
        out->reason = "GRANTED_BY_ORG_ADMIN";
        return;
    }
    out->allowed = manage ? acc.manages : (acc.mask & bit) != 0;
    if (out->allowed) {
        out->reason = "GRANTED_BY_WORKSPACE_ROLE";
        return;
    }
    if (u->type == AUTHZ_USER_VISITOR || (manage ? acc.raw_manages : (acc.raw_mask & bit) != 0)) {
        contribute(ex, "TYPE_CEILING", explain_printf(ex, "user type %" PRId64, u->type), NULL,
                   "", u->type == AUTHZ_USER_VISITOR ? "visitors hold no workspace role"
                                                     : "beyond Workspace Analyst (27)");
        out->reason = "DENIED_TYPE_CEILING";
        return;
    }
    out->reason = "DENIED_NO_WORKSPACE_ROLE";
}

/* --- works --- */

enum source { SRC_ORG_ADMIN, SRC_OWNER, SRC_WS_ROLE, SRC_GRANT, SRC_COUNT };

static const char *const source_reasons[SRC_COUNT] = {
    "GRANTED_BY_ORG_ADMIN", "GRANTED_BY_OWNER", "GRANTED_BY_WORKSPACE_ROLE", "GRANTED_BY_GRANT",
};

static void
consider_grant(const struct authz_snapshot *s, uint32_t gi, const char *via, int64_t now_us,
               int *best, struct authz_explain *ex)
{
    const struct snap_grant *g = &s->grants[gi];
    bool live = g->expires_us == 0 || g->expires_us > now_us;

    if (live && g->level > *best)
        *best = g->level;
    if (ex != NULL) {
        char *id = rs_arena_alloc(ex->arena, 33);
        const char *detail = "expired: no longer counts";

        if (id != NULL)
            snap_grant_id_hex(g, id);
        if (live)
            detail = g->expires_us != 0 ? "expires" : "permanent";
        contribute(ex, "GRANT", id, via, live ? level_name(g->level) : "", detail);
    }
}

static void
evaluate_work(const struct authz_snapshot *s, uint32_t user, int type, uint32_t res,
              uint32_t ws, int want, int64_t now_us, struct authz_answer *out,
              struct authz_explain *ex)
{
    const struct snap_user *u = &s->users[user];
    int level[SRC_COUNT] = { 0 };
    int ceiling = s->ceilings[u->type][type];
    int module = authz_resource_module(authz_resource_types[type]);
    int best = 0, cap, effective, i;
    struct ws_access acc;
    uint32_t k, gi;

    workspace_access(s, user, ws, &acc, ex);
    if (u->org_admin) {
        level[SRC_ORG_ADMIN] = AUTHZ_LEVEL_EDIT;
        contribute(ex, s->owner == user ? "OWNER" : "ORG_ROLE",
                   s->owner == user ? s->org_id : "111111111", NULL, "edit",
                   "organization administrator");
    }
    if (acc.manages)
        level[SRC_WS_ROLE] = AUTHZ_LEVEL_EDIT;
    else if (s->workspaces[ws].mode == SNAP_MODE_COLLABORATIVE && module >= 0 &&
             (acc.mask & SNAP_PERM_BIT(module, AUTHZ_ACT_LIST)) != 0)
        level[SRC_WS_ROLE] = AUTHZ_LEVEL_VIEW;
    if (level[SRC_WS_ROLE] > 0)
        contribute(ex, "WORKSPACE_ROLE", s->workspaces[ws].id, NULL,
                   level_name(level[SRC_WS_ROLE]),
                   acc.manages ? "manages the workspace's members and works"
                               : "collaborative workspace: members see every work");
    if (res != SNAP_NONE) {
        const struct snap_resource *r = &s->resources[res];

        if (r->owner == user) {
            level[SRC_OWNER] = AUTHZ_LEVEL_EDIT;
            contribute(ex, "OWNER", u->id, NULL, "edit", "owner of the work");
        }
        gi = snap_find_grant(s, res, SNAP_SUBJECT_USER, user);
        if (gi != SNAP_NONE)
            consider_grant(s, gi, NULL, now_us, &level[SRC_GRANT], ex);
        for (k = 0; k < u->closure_len; k++) {
            uint32_t g = s->closure[u->closure_off + k];

            gi = snap_find_grant(s, res, SNAP_SUBJECT_GROUP, g);
            if (gi != SNAP_NONE)
                consider_grant(s, gi, s->groups[g].id, now_us, &level[SRC_GRANT], ex);
        }
        for (k = 0; k < r->n_others; k++) {
            const struct snap_grant *g;

            gi = s->other_grants[r->others_off + k];
            g = &s->grants[gi];
            if (g->subject_type == SNAP_SUBJECT_WORKSPACE && !user_in_workspace(s, user, g->subject))
                continue;
            consider_grant(s, gi, NULL, now_us, &level[SRC_GRANT], ex);
        }
    }
    for (i = 0; i < SRC_COUNT; i++)
        if (level[i] > best)
            best = level[i];
    cap = (acc.member || u->org_admin) ? AUTHZ_LEVEL_EDIT : AUTHZ_LEVEL_EXPORT;
    effective = best;
    if (effective > ceiling)
        effective = ceiling;
    if (effective > cap)
        effective = cap;
    contribute(ex, "TYPE_CEILING", authz_resource_types[type], NULL, level_name(ceiling),
               explain_printf(ex, "highest level for user type %" PRId64, u->type));
    contribute(ex, "MEMBERSHIP", s->workspaces[ws].id, NULL, level_name(cap),
               acc.member ? "workspace member"
               : u->org_admin ? "organization administrator"
                              : "not a workspace member: at most view and export");
    if (ex != NULL)
        ex->effective_level = effective > 0 ? level_name(effective) : "";

    out->allowed = effective >= want;
    if (out->allowed) {
        for (i = 0; i < SRC_COUNT && level[i] < want; i++)
            ;
        out->reason = source_reasons[i < SRC_COUNT ? i : SRC_GRANT];
    } else if (best >= want) {
        out->reason = ceiling < want ? "DENIED_TYPE_CEILING" : "DENIED_NOT_MEMBER";
    } else {
        out->reason = "DENIED_NO_GRANT";
    }
}

/* --- entry points --- */

bool
authz_user_may_check_others(const struct authz_snapshot *s, uint32_t user)
{
    return s->users[user].org_admin || s->users[user].perm_admin;
}

rs_status
authz_evaluate(const struct authz_snapshot *s, const struct authz_question *q,
               struct authz_answer *out, struct authz_explain *ex, struct rs_error *err)
{
    uint32_t user, ws, res = SNAP_NONE, bit;
    bool manage;
    int type, want;
    rs_status rc;

    out->allowed = false;
    out->reason = "";
    user = snap_find_user(s, q->user_id);
    if (user == SNAP_NONE)
        return rs_error_set(err, RS_ENOTFOUND, "USER_NOT_FOUND",
                            "user \"%s\" not found in the organization", q->user_id);

    if (strcmp(q->resource_type, "organization") == 0) {
        if (q->resource_id[0] != '\0' && strcmp(q->resource_id, s->org_id) != 0)
            return rs_error_set(err, RS_EINVAL, "ORGANIZATION_MISMATCH",
                                "resource id \"%s\" is not the request's organization",
                                q->resource_id);
        if (!org_key_valid(q->permission))
            return rs_error_set(err, RS_EINVAL, "PERMISSION_INVALID",
                                "invalid organization permission \"%s\"", q->permission);
        if (!s->users[user].enabled)
            goto disabled;
        evaluate_org(s, user, q->permission, out, ex);
        return RS_OK;
    }

    if (strcmp(q->resource_type, "workspace") == 0) {
        ws = snap_find_workspace(s, q->resource_id);
        if (ws == SNAP_NONE)
            return rs_error_set(err, RS_ENOTFOUND, "WORKSPACE_NOT_FOUND",
                                "workspace \"%s\" not found", q->resource_id);
        rc = parse_ws_permission(q->permission, &bit, &manage, err);
        if (rc != RS_OK)
            return rc;
        if (!s->users[user].enabled)
            goto disabled;
        evaluate_workspace(s, user, ws, bit, manage, out, ex);
        return RS_OK;
    }

    type = snap_resource_type(q->resource_type);
    if (type < 0)
        return rs_error_set(err, RS_EINVAL, "RESOURCE_TYPE_INVALID",
                            "invalid resource type \"%s\"", q->resource_type);
    want = authz_level_from_name(q->permission);
    if (want == 0)
        return rs_error_set(err, RS_EINVAL, "PERMISSION_INVALID",
                            "invalid permission \"%s\" on a work: expected view, export or edit",
                            q->permission);
    res = snap_find_resource(s, type, q->resource_id);
    if (res != SNAP_NONE) {
        ws = s->resources[res].workspace;
    } else if (q->workspace_id[0] == '\0') {
        return rs_error_set(err, RS_EINVAL, "WORKSPACE_ID_REQUIRED",
                            "%s \"%s\" is not registered: give its workspace_id",
                            q->resource_type, q->resource_id);
    } else {
        ws = snap_find_workspace(s, q->workspace_id);
        if (ws == SNAP_NONE)
            return rs_error_set(err, RS_ENOTFOUND, "WORKSPACE_NOT_FOUND",
                                "workspace \"%s\" not found", q->workspace_id);
    }
    if (!s->users[user].enabled)
        goto disabled;
    evaluate_work(s, user, type, res, ws, want, q->now_us, out, ex);
    return RS_OK;

disabled:
    out->allowed = false;
    out->reason = "DENIED_USER_DISABLED";
    if (ex != NULL)
        ex->effective_level = "";
    return RS_OK;
}
