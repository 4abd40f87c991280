/*
 * services/authz/src/server.c
 *    The method table of roster.authz.v1.AuthzService. Every method acts
 *    for the user named by x-roster-actor.
 */
#include "authz_int.h"

#define AUTHZ_PATH(m) "/" AUTHZ_SERVICE_NAME "/" m

#define M(name, in, out, fn)                                                          \
    { AUTHZ_PATH(name), &roster__authz__v1__##in##__descriptor,                       \
      &roster__authz__v1__##out##__descriptor, fn, RS_RPC_NEED_ACTOR }

static const struct rs_rpc_method methods[] = {
    M("CreateOrgRole", create_org_role_request, org_role_response, authz_create_org_role),
    M("UpdateOrgRole", update_org_role_request, org_role_response, authz_update_org_role),
    M("DeleteOrgRole", delete_org_role_request, write_response, authz_delete_org_role),
    M("ListOrgRoles", list_org_roles_request, list_org_roles_response, authz_list_org_roles),
    M("AssignOrgRoles", user_org_roles_request, user_org_roles_response,
      authz_assign_org_roles),
    M("RevokeOrgRoles", user_org_roles_request, user_org_roles_response,
      authz_revoke_org_roles),
    M("SetOrgRoles", user_org_roles_request, user_org_roles_response, authz_set_org_roles),
    M("GetUserOrgRoles", get_user_org_roles_request, user_org_roles_response,
      authz_get_user_org_roles),
    M("CreateWorkspace", create_workspace_request, workspace_response,
      authz_create_workspace),
    M("GetWorkspace", get_workspace_request, workspace_response, authz_get_workspace),
    M("ListWorkspaces", list_workspaces_request, list_workspaces_response,
      authz_list_workspaces),
    M("UpdateWorkspace", update_workspace_request, workspace_response,
      authz_update_workspace),
    M("DeleteWorkspace", delete_workspace_request, write_response, authz_delete_workspace),
    M("CreateWorkspaceRole", create_workspace_role_request, workspace_role_response,
      authz_create_workspace_role),
    M("DeleteWorkspaceRole", delete_workspace_role_request, write_response,
      authz_delete_workspace_role),
    M("ListWorkspaceRoles", list_workspace_roles_request, list_workspace_roles_response,
      authz_list_workspace_roles),
    M("SetWorkspaceMember", set_workspace_member_request, workspace_member_response,
      authz_set_workspace_member),
    M("RemoveWorkspaceMember", remove_workspace_member_request, write_response,
      authz_remove_workspace_member),
    M("ListWorkspaceMembers", list_workspace_members_request,
      list_workspace_members_response, authz_list_workspace_members),
    M("RegisterResource", register_resource_request, write_response,
      authz_register_resource),
    M("UnregisterResource", unregister_resource_request, write_response,
      authz_unregister_resource),
    M("Grant", grant_request, grant_response, authz_grant),
    M("Revoke", revoke_request, write_response, authz_revoke),
    M("ListGrants", list_grants_request, list_grants_response, authz_list_grants),
    M("Check", check_request, check_response, authz_check),
    M("BatchCheck", batch_check_request, batch_check_response, authz_batch_check),
    M("Explain", check_request, explain_response, authz_explain),
    M("ListAllowedResources", list_allowed_resources_request,
      list_allowed_resources_response, authz_list_allowed_resources),
};

const struct rs_rpc_service authz_rpc_service = {
    AUTHZ_SERVICE_NAME,
    methods,
    sizeof(methods) / sizeof(methods[0]),
};
