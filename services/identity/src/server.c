/*
 * services/identity/src/server.c
 *    The method table of roster.identity.v1.IdentityService. libs/rpc has
 *    already rejected request strings that are not UTF-8 or hold a NUL.
 */
#include "identity_int.h"

#define IDENTITY_PATH(m) "/" IDENTITY_SERVICE_NAME "/" m

#define M(name, in, out, fn, flags)                                                   \
    { IDENTITY_PATH(name), &roster__identity__v1__##in##__descriptor,                 \
      &roster__identity__v1__##out##__descriptor, fn, flags }

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
    M("CreateUsers", create_users_request, create_users_response, identity_create_users, ACTOR),
    M("GetUser", get_user_request, user, identity_get_user, ACTOR),
    M("ListUsers", list_users_request, list_users_response, identity_list_users, ACTOR),
    M("UpdateUser", update_user_request, user, identity_update_user, ACTOR),
    M("DisableUser", set_user_enabled_request, user, identity_disable_user, ACTOR),
    M("EnableUser", set_user_enabled_request, user, identity_enable_user, ACTOR),
    M("DeleteUser", delete_user_request, delete_user_response, identity_delete_user, ACTOR),
    M("CreateUserGroup", create_user_group_request, user_group, identity_create_user_group,
      ACTOR),
    M("CreateUserGroups", create_user_groups_request, create_user_groups_response,
      identity_create_user_groups, ACTOR),
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
