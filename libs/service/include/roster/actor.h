/*
 * libs/service/include/roster/actor.h
 *    The id, organisation and acting-user errors shared by identity, authz
 *    and sync. Each service runs its own lookup query and passes what it found.
 */
#ifndef RS_ACTOR_H
#define RS_ACTOR_H

#include <stdbool.h>

#include "roster/status.h"

/*
 * Checks that actor (the x-roster-actor value, may be NULL) is 32 lower-case hex digits.
 * Otherwise returns RS_EINVAL ACTOR_INVALID (metadata field) in err.
 */
rs_status rs_actor_validate(const char *actor, struct rs_error *err);

/*
 * Checks that the request field named field contains an id (32 lower-case hex
 * digits). Otherwise returns RS_EINVAL INVALID_ID (metadata field) in err.
 * value may be NULL (missing); field is borrowed and copied into err.
 */
RS_MUSTCHECK rs_status rs_validate_id(const char *field, const char *value,
                                      struct rs_error *err);

/*
 * Sets NOT_FOUND ORGANIZATION_NOT_FOUND (metadata organization_id) in err
 * and returns RS_ENOTFOUND. org_id is borrowed, and err keeps a copy.
 */
rs_status rs_org_not_found(const char *org_id, struct rs_error *err);

/*
 * Checks an organisation and actor lookup: RS_ENOTFOUND ORGANIZATION_NOT_FOUND unless
 * org_found, then RS_EPERM ACTOR_NOT_IN_ORGANIZATION unless actor_found, then RS_EPERM
 * ACTOR_DISABLED unless enabled. Strings are borrowed and copied into err, which stays
 * untouched when RS_OK is returned.
 */
rs_status rs_actor_check(const char *org_id, const char *actor, bool org_found,
                         bool actor_found, bool enabled, struct rs_error *err);

#endif
