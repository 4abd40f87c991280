/*
 * libs/service/src/actor.c
 *    The organisation and acting-user errors the services share.
 */
#include "roster/actor.h"

#include "roster/str.h"

rs_status
rs_actor_validate(const char *actor, struct rs_error *err)
{
    if (actor != NULL && rs_id_valid(actor))
        return RS_OK;
    rs_error_set(err, RS_EINVAL, "ACTOR_INVALID",
                 "invalid x-roster-actor: expected 32 lower-case hexadecimal digits");
    rs_error_meta(err, "field", "x-roster-actor");
    return RS_EINVAL;
}

rs_status
rs_org_not_found(const char *org_id, struct rs_error *err)
{
    rs_error_set(err, RS_ENOTFOUND, "ORGANIZATION_NOT_FOUND", "organization \"%s\" not found",
                 org_id);
    rs_error_meta(err, "organization_id", org_id);
    return RS_ENOTFOUND;
}

rs_status
rs_actor_check(const char *org_id, const char *actor, bool org_found, bool actor_found,
               bool enabled, struct rs_error *err)
{
    if (!org_found)
        return rs_org_not_found(org_id, err);
    if (!actor_found) {
        rs_error_set(err, RS_EPERM, "ACTOR_NOT_IN_ORGANIZATION",
                     "acting user \"%s\" is not a user of organization \"%s\"", actor, org_id);
        rs_error_meta(err, "actor", actor);
        return RS_EPERM;
    }
    if (!enabled) {
        rs_error_set(err, RS_EPERM, "ACTOR_DISABLED", "acting user \"%s\" is disabled", actor);
        rs_error_meta(err, "actor", actor);
        return RS_EPERM;
    }
    return RS_OK;
}

rs_status
rs_validate_id(const char *field, const char *value, struct rs_error *err)
{
    if (value != NULL && rs_id_valid(value))
        return RS_OK;
    if (value == NULL || value[0] == '\0')
        rs_error_set(err, RS_EINVAL, "INVALID_ID", "missing required id \"%s\"", field);
    else
        rs_error_set(err, RS_EINVAL, "INVALID_ID",
                     "invalid %s: expected 32 lower-case hexadecimal digits", field);
    rs_error_meta(err, "field", field);
    return RS_EINVAL;
}
