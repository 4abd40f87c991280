/*
 * services/identity/src/server.c
 *    The method table of roster.identity.v1.IdentityService. Every handler
 *    first checks that all request strings are valid UTF-8, because
 *    protobuf-c accepts any bytes in a string field.
 */
#include "identity_int.h"

#include "validate.h"

#define IDENTITY_PATH(m) "/" IDENTITY_SERVICE_NAME "/" m

/* Defines checked_<fn>: the UTF-8 check, then fn. */
#define IDENTITY_CHECKED(fn)                                                          \
    static rs_status checked_##fn(struct rs_call *call, const ProtobufCMessage *req,   \
                                  ProtobufCMessage **resp, struct rs_error *err)      \
    {                                                                                 \
        rs_status rc = identity_validate_strings(req, err);                           \
        if (rc != RS_OK)                                                              \
            return rc;                                                                \
        return fn(call, req, resp, err);                                              \
    }

IDENTITY_CHECKED(identity_create_organization)
IDENTITY_CHECKED(identity_get_organization)
IDENTITY_CHECKED(identity_update_organization)
IDENTITY_CHECKED(identity_create_user)
IDENTITY_CHECKED(identity_get_user)
IDENTITY_CHECKED(identity_list_users)
IDENTITY_CHECKED(identity_update_user)
IDENTITY_CHECKED(identity_disable_user)
IDENTITY_CHECKED(identity_enable_user)
IDENTITY_CHECKED(identity_delete_user)
IDENTITY_CHECKED(identity_create_user_group)
IDENTITY_CHECKED(identity_get_user_group)
IDENTITY_CHECKED(identity_list_user_groups)
IDENTITY_CHECKED(identity_rename_user_group)
IDENTITY_CHECKED(identity_move_user_group)
IDENTITY_CHECKED(identity_delete_user_group)
IDENTITY_CHECKED(identity_add_user_group_members)
IDENTITY_CHECKED(identity_remove_user_group_members)
IDENTITY_CHECKED(identity_list_user_group_members)
IDENTITY_CHECKED(identity_list_groups_of_user)
IDENTITY_CHECKED(identity_bind_external_identity)
IDENTITY_CHECKED(identity_unbind_external_identity)
IDENTITY_CHECKED(identity_list_external_identities)
IDENTITY_CHECKED(identity_lookup_external_identity)

#define M(name, in, out, fn, flags)                                                   \
    { IDENTITY_PATH(name), &roster__identity__v1__##in##__descriptor,                 \
      &roster__identity__v1__##out##__descriptor, checked_##fn, flags }

#define ACTOR RS_RPC_NEED_ACTOR

static const struct rs_rpc_method methods[] = {
    /* The organisation does not exist yet, so there is no actor to name. */
    M("CreateOrganization", create_organization_request, create_organization_response,
      identity_create_organization, 0),
    M("GetOrganization", get_organization_request, organization, identity_get_organization,
      ACTOR),
    M("UpdateOrganization", update_organization_request, organization,
      identity_update_organization, ACTOR),
    M("CreateUser", create_user_request, user, identity_create_user, ACTOR),
    M("GetUser", get_user_request, user, identity_get_user, ACTOR),
    M("ListUsers", list_users_request, list_users_response, identity_list_users, ACTOR),
    M("UpdateUser", update_user_request, user, identity_update_user, ACTOR),
    M("DisableUser", set_user_enabled_request, user, identity_disable_user, ACTOR),
    M("EnableUser", set_user_enabled_request, user, identity_enable_user, ACTOR),
    M("DeleteUser", delete_user_request, delete_user_response, identity_delete_user, ACTOR),
    M("CreateUserGroup", create_user_group_request, user_group, identity_create_user_group,
      ACTOR),
    M("GetUserGroup", get_user_group_request, user_group, identity_get_user_group, ACTOR),
    M("ListUserGroups", list_user_groups_request, list_user_groups_response,
      identity_list_user_groups, ACTOR),
    M("RenameUserGroup", rename_user_group_request, user_group, identity_rename_user_group,
      ACTOR),
    M("MoveUserGroup", move_user_group_request, user_group, identity_move_user_group, ACTOR),
    M("DeleteUserGroup", delete_user_group_request, delete_user_group_response,
      identity_delete_user_group, ACTOR),
    M("AddUserGroupMembers", user_group_members_request, user_group_members_response,
      identity_add_user_group_members, ACTOR),
    M("RemoveUserGroupMembers", user_group_members_request, user_group_members_response,
      identity_remove_user_group_members, ACTOR),
    M("ListUserGroupMembers", list_user_group_members_request, list_users_response,
      identity_list_user_group_members, ACTOR),
    M("ListGroupsOfUser", list_groups_of_user_request, list_user_groups_response,
      identity_list_groups_of_user, ACTOR),
    M("BindExternalIdentity", bind_external_identity_request, external_identity,
      identity_bind_external_identity, ACTOR),
    M("UnbindExternalIdentity", unbind_external_identity_request,
      unbind_external_identity_response, identity_unbind_external_identity, ACTOR),
    M("ListExternalIdentities", list_external_identities_request,
      list_external_identities_response, identity_list_external_identities, ACTOR),
    M("LookupExternalIdentity", lookup_external_identity_request, user,
      identity_lookup_external_identity, ACTOR),
};

const struct rs_rpc_service identity_rpc_service = {
    IDENTITY_SERVICE_NAME,
    methods,
    sizeof(methods) / sizeof(methods[0]),
};
