/*
 * services/identity/src/admin.c
 *    Decides whether an actor is an organisation administrator, in one place.
 *
 * Organisation roles (Org Admin, Permission Admin, custom roles) belong to
 * the authz service. Until identity asks authz, the owner is the only
 * administrator: the owner always holds the Org Admin role, so this rule
 * never grants too much, but it refuses other administrators.
 */
#include "identity_int.h"

#include <string.h>

rs_status
identity_actor_is_org_admin(rs_db_conn *conn, const struct identity_actor *actor,
                            struct rs_error *err)
{
    RS_UNUSED(conn);
    if (strcmp(actor->user_id, actor->owner_id) == 0)
        return RS_OK;
    rs_error_set(err, RS_EPERM, "NOT_ORGANIZATION_ADMIN",
                 "acting user \"%s\" is not an administrator of organization \"%s\"",
                 actor->user_id, actor->org_id);
    rs_error_meta(err, "actor", actor->user_id);
    return RS_EPERM;
}
