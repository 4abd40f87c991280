"""Helpers for the authz integration tests: an organisation with users of
each type, workspaces, groups, grants and questions, over the shared
roster-identity (ctx) and roster-authz (az) fixtures."""

import time
import uuid

from google.protobuf import field_mask_pb2, timestamp_pb2

import rosterlib as rl
from roster.authz.v1 import authz_pb2 as apb
from roster.identity.v1 import identity_pb2 as pb

DEV = pb.USER_TYPE_DEVELOPER
ANALYST = pb.USER_TYPE_ANALYST
VISITOR = pb.USER_TYPE_VISITOR

ORG_ADMIN = 111111111
PERM_ADMIN = 111111112
REGULAR = 111111113

VIEW = apb.GRANT_LEVEL_VIEW
EXPORT = apb.GRANT_LEVEL_VIEW_EXPORT
EDIT = apb.GRANT_LEVEL_EDIT

FRESH = apb.CONSISTENCY_FULLY_CONSISTENT
AT_LEAST = apb.CONSISTENCY_AT_LEAST_AS_FRESH
LATENCY = apb.CONSISTENCY_MINIMIZE_LATENCY


def expiry(hours=48):
    """A Timestamp hours from now."""
    return timestamp_pb2.Timestamp(seconds=int(time.time() + hours * 3600))


class World:
    """One organisation: its owner (a Developer, Org Admin) and helpers that
    act as the owner unless another actor is given."""

    def __init__(self, ctx, az):
        self.ctx = ctx
        self.az = az
        self.org, self.owner = ctx.new_org()
        self.org_id = self.org.organization_id
        self.owner_id = self.owner.user_id

    # identity
    def user(self, user_type=ANALYST, nickname=None):
        return self.ctx.new_user(self.org, self.owner, nickname=nickname,
                                 user_type=user_type).user_id

    def set_type(self, user_id, user_type, demote=False, actor=None):
        req = pb.UpdateUserRequest(
            organization_id=self.org_id, user_id=user_id, user_type=user_type,
            update_mask=field_mask_pb2.FieldMask(paths=["user_type"]),
            demote_conflicts=demote)
        return self.ctx.call("UpdateUser", req, actor=actor or self.owner_id)

    def group(self, parent="", name=None):
        req = pb.CreateUserGroupRequest(organization_id=self.org_id,
                                        parent_group_id=parent,
                                        name=name or "g-" + uuid.uuid4().hex[:8])
        return self.ctx.call("CreateUserGroup", req, actor=self.owner_id).group_id

    def add_to_group(self, group_id, *user_ids):
        req = pb.UserGroupMembersRequest(organization_id=self.org_id,
                                         group_id=group_id, user_ids=list(user_ids))
        return self.ctx.call("AddUserGroupMembers", req, actor=self.owner_id)

    def delete_group(self, group_id):
        return self.ctx.call("DeleteUserGroup", pb.DeleteUserGroupRequest(
            organization_id=self.org_id, group_id=group_id), actor=self.owner_id)

    # authz
    def call(self, method, req, actor=None, token=None, az=None):
        return (az or self.az).call(method, req, actor=actor or self.owner_id,
                                    token=token)

    def refused(self, method, req, code, reason, actor=None, token=None):
        return self.az.refused(method, req, code, reason,
                               actor=actor or self.owner_id, token=token)

    def roles_req(self, user_id, *role_ids):
        return apb.UserOrgRolesRequest(organization_id=self.org_id,
                                       user_id=user_id, role_ids=list(role_ids))

    def assign(self, user_id, *role_ids, actor=None):
        return self.call("AssignOrgRoles", self.roles_req(user_id, *role_ids),
                         actor=actor)

    def revoke_roles(self, user_id, *role_ids, actor=None):
        return self.call("RevokeOrgRoles", self.roles_req(user_id, *role_ids),
                         actor=actor)

    def roles_of(self, user_id):
        return sorted(self.call("GetUserOrgRoles", apb.GetUserOrgRolesRequest(
            organization_id=self.org_id, user_id=user_id)).role_ids)

    def workspace(self, owner=None, mode=apb.WORKSPACE_MODE_PRIVATE, name=None,
                  actor=None):
        req = apb.CreateWorkspaceRequest(
            organization_id=self.org_id, name=name or "ws " + uuid.uuid4().hex[:8],
            owner_user_id=owner or self.owner_id, mode=mode)
        return self.call("CreateWorkspace", req, actor=actor).workspace.workspace_id

    def member_req(self, ws, principal, *roles, group=False):
        return apb.SetWorkspaceMemberRequest(
            organization_id=self.org_id, workspace_id=ws,
            principal_type=apb.PRINCIPAL_TYPE_GROUP if group else apb.PRINCIPAL_TYPE_USER,
            principal_id=principal, role_ids=list(roles))

    def member(self, ws, principal, *roles, group=False, actor=None):
        return self.call("SetWorkspaceMember",
                         self.member_req(ws, principal, *roles, group=group), actor=actor)

    def resource(self, ws, rtype="dashboard", rid=None):
        return apb.Resource(type=rtype, id=rid or "r-" + uuid.uuid4().hex[:10],
                            workspace_id=ws)

    def register(self, res, owner="", actor=None):
        return self.call("RegisterResource", apb.RegisterResourceRequest(
            organization_id=self.org_id, resource=res, owner_user_id=owner),
            actor=actor)

    def grant_req(self, res, subject_type, subject_id, level, expire=True):
        req = apb.GrantRequest(organization_id=self.org_id, resource=res,
                               subject=apb.Subject(type=subject_type, id=subject_id),
                               level=level)
        if expire and level != EDIT:
            req.expire_time.CopyFrom(expiry())
        return req

    def grant(self, res, subject_id, level, subject_type=apb.SUBJECT_TYPE_USER,
              actor=None, az=None):
        return self.call("Grant", self.grant_req(res, subject_type, subject_id, level),
                         actor=actor, az=az)

    def revoke(self, grant_id, actor=None, az=None):
        return self.call("Revoke", apb.RevokeRequest(organization_id=self.org_id,
                                                     grant_id=grant_id),
                         actor=actor, az=az)

    def check_req(self, user_id, permission, res, consistency=FRESH, revision="",
                  correlation_id=""):
        return apb.CheckRequest(organization_id=self.org_id, user_id=user_id,
                                permission=permission, resource=res,
                                consistency=consistency, min_revision=revision,
                                correlation_id=correlation_id)

    def check(self, user_id, permission, res, consistency=FRESH, revision="",
              actor=None, token=None, az=None):
        """(allowed, reason) of a Check asked by the owner unless actor is given."""
        r = self.call("Check", self.check_req(user_id, permission, res, consistency,
                                              revision),
                      actor=actor, token=token, az=az)
        return r.allowed, r.reason


def sql_roles(ctx, user_id):
    """The user's authz.user_org_roles rows, read with psql."""
    out = rl.psql(ctx.conninfo, "SELECT role_id FROM authz.user_org_roles "
                                "WHERE user_id = '%s' ORDER BY role_id" % user_id)
    return [int(x) for x in out.split()] if out else []
