"""Who may call what: every RPC of IdentityService and AuthzService, taken
from the service descriptors, is called as each kind of caller, and each
call must end with the code and reason the table below expects.

Callers: no token, an unknown token, a valid token without x-roster-actor,
a malformed actor, a user of another organisation, a disabled user, a
regular member (no roles) and the organisation's owner (an administrator).
A method added to a contract without a row in RULES fails test_rule_table,
so it cannot go unchecked."""

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2

import authzlib as al
import rosterlib as rl
from roster.authz.v1 import authz_pb2 as apb
from roster.identity.v1 import identity_pb2 as pb

UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT

IDENTITY_SVC = pb.DESCRIPTOR.services_by_name["IdentityService"]
AUTHZ_SVC = apb.DESCRIPTOR.services_by_name["AuthzService"]

ORG_ADMIN_ONLY = "NOT_ORGANIZATION_ADMIN"


def _name():
    return "m" + uuid.uuid4().hex[:10]


class Scene:
    """One organisation for one method: its owner, a regular Developer
    member, a disabled user, a target user the calls act on, and objects
    made on first use (group, workspace, work, roles, external account)."""

    def __init__(self, ctx, az):
        self.w = al.World(ctx, az)
        self.ctx = ctx
        self.az = az
        self.org_id = self.w.org_id
        self.owner_id = self.w.owner_id
        self.member = self.w.user(al.DEV)
        self.target = self.w.user(al.DEV)
        self.disabled = self.w.user(al.DEV)
        ctx.call("DisableUser", pb.SetUserEnabledRequest(
            organization_id=self.org_id, user_id=self.disabled), actor=self.owner_id)
        self._cache = {}

    def once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def group(self):
        return self.once("group", self.w.group)

    def workspace(self):
        return self.once("ws", self.w.workspace)

    def work(self):
        def make():
            res = self.w.resource(self.workspace())
            self.w.register(res)
            return res
        return self.once("work", make)

    def org_role(self):
        return self.once("org_role", self.new_org_role)

    def new_org_role(self):
        return self.w.call("CreateOrgRole", apb.CreateOrgRoleRequest(
            organization_id=self.org_id, name=_name(),
            auth_keys=["subscription"])).role.role_id

    def new_ws_role(self):
        return self.w.call("CreateWorkspaceRole", apb.CreateWorkspaceRoleRequest(
            organization_id=self.org_id, name=_name(),
            permissions=[apb.ModulePermission(module="dashboard_create",
                                              list=True)])).role.role_id

    def bind_req(self, user_id):
        return pb.BindExternalIdentityRequest(
            organization_id=self.org_id, user_id=user_id,
            platform=pb.PLATFORM_DINGTALK, corp_id="corp" + self.org_id[:8],
            platform_user_id=_name(), union_id=_name())

    def external(self):
        def make():
            req = self.bind_req(self.target)
            self.ctx.call("BindExternalIdentity", req, actor=self.owner_id)
            return req
        return self.once("external", make)

    def check_req(self):
        return self.w.check_req(self.target, "view", self.work())


# --- request builders: a valid request that the owner may make --------------
# Each is called once per caller, so writes that consume their target (a
# delete, an unbind) get a fresh one every time.

def _ident(s, cls, **kw):
    return cls(organization_id=s.org_id, **kw)


IDENTITY_REQUESTS = {
    "CreateOrganization": lambda s: pb.CreateOrganizationRequest(
        name=_name(), edition=pb.EDITION_PROFESSIONAL, seat_caps=pb.SeatCaps(total=5),
        owner=pb.CreateUserRequest(nickname=_name(), user_type=pb.USER_TYPE_DEVELOPER)),
    "GetOrganization": lambda s: _ident(s, pb.GetOrganizationRequest),
    "UpdateOrganization": lambda s: _ident(
        s, pb.UpdateOrganizationRequest, name=_name(),
        update_mask=field_mask_pb2.FieldMask(paths=["name"])),
    "CreateUser": lambda s: _ident(s, pb.CreateUserRequest, nickname=_name(),
                                   user_type=pb.USER_TYPE_ANALYST),
    "GetUser": lambda s: _ident(s, pb.GetUserRequest, user_id=s.target),
    "ListUsers": lambda s: _ident(s, pb.ListUsersRequest),
    "UpdateUser": lambda s: _ident(
        s, pb.UpdateUserRequest, user_id=s.target, nickname=_name(),
        update_mask=field_mask_pb2.FieldMask(paths=["nickname"])),
    "DisableUser": lambda s: _ident(s, pb.SetUserEnabledRequest, user_id=s.w.user()),
    "EnableUser": lambda s: _ident(s, pb.SetUserEnabledRequest, user_id=s.w.user()),
    "DeleteUser": lambda s: _ident(s, pb.DeleteUserRequest, user_id=s.w.user()),
    "CreateUsers": lambda s: _ident(s, pb.CreateUsersRequest, users=[
        pb.NewUser(nickname=_name(), user_type=pb.USER_TYPE_ANALYST)]),
    "CreateUserGroup": lambda s: _ident(s, pb.CreateUserGroupRequest, name=_name()),
    "CreateUserGroups": lambda s: _ident(s, pb.CreateUserGroupsRequest, groups=[
        pb.CreateUserGroupRequest(name=_name())]),
    "GetUserGroup": lambda s: _ident(s, pb.GetUserGroupRequest, group_id=s.group()),
    "ListUserGroups": lambda s: _ident(s, pb.ListUserGroupsRequest),
    "RenameUserGroup": lambda s: _ident(s, pb.RenameUserGroupRequest,
                                        group_id=s.group(), name=_name()),
    "MoveUserGroup": lambda s: _ident(s, pb.MoveUserGroupRequest, group_id=s.w.group(),
                                      new_parent_group_id=s.group()),
    "DeleteUserGroup": lambda s: _ident(s, pb.DeleteUserGroupRequest,
                                        group_id=s.w.group()),
    "AddUserGroupMembers": lambda s: _ident(s, pb.UserGroupMembersRequest,
                                            group_id=s.group(), user_ids=[s.target]),
    "RemoveUserGroupMembers": lambda s: _ident(s, pb.UserGroupMembersRequest,
                                               group_id=s.group(), user_ids=[s.target]),
    "ListUserGroupMembers": lambda s: _ident(s, pb.ListUserGroupMembersRequest,
                                             group_id=s.group()),
    "ListGroupsOfUser": lambda s: _ident(s, pb.ListGroupsOfUserRequest, user_id=s.target),
    "BindExternalIdentity": lambda s: s.bind_req(s.w.user()),
    "UnbindExternalIdentity": lambda s: _unbind_req(s),
    "ListExternalIdentities": lambda s: _ident(s, pb.ListExternalIdentitiesRequest,
                                               user_id=s.target),
    "LookupExternalIdentity": lambda s: _ident(
        s, pb.LookupExternalIdentityRequest, platform=s.external().platform,
        corp_id=s.external().corp_id, platform_user_id=s.external().platform_user_id),
}


def _unbind_req(s):
    bound = s.bind_req(s.w.user())
    s.ctx.call("BindExternalIdentity", bound, actor=s.owner_id)
    return _ident(s, pb.UnbindExternalIdentityRequest, platform=bound.platform,
                  corp_id=bound.corp_id, platform_user_id=bound.platform_user_id)


def _az(s, cls, **kw):
    return cls(organization_id=s.org_id, **kw)


def _member_to_remove(s):
    user = s.w.user(al.DEV)
    s.w.member(s.workspace(), user, 30)
    return _az(s, apb.RemoveWorkspaceMemberRequest, workspace_id=s.workspace(),
               principal_type=apb.PRINCIPAL_TYPE_USER, principal_id=user)


def _work_to_unregister(s):
    res = s.w.resource(s.workspace())
    s.w.register(res)
    return _az(s, apb.UnregisterResourceRequest, resource=res)


def _grant_to_revoke(s):
    grant = s.w.grant(s.work(), s.w.user(al.DEV), al.VIEW)
    return _az(s, apb.RevokeRequest, grant_id=grant.grant.grant_id)


AUTHZ_REQUESTS = {
    "CreateOrgRole": lambda s: _az(s, apb.CreateOrgRoleRequest, name=_name(),
                                   auth_keys=["subscription"]),
    "UpdateOrgRole": lambda s: _az(s, apb.UpdateOrgRoleRequest, role_id=s.org_role(),
                                   name=_name(), auth_keys=["offline_download"]),
    "DeleteOrgRole": lambda s: _az(s, apb.DeleteOrgRoleRequest, role_id=s.new_org_role()),
    "ListOrgRoles": lambda s: _az(s, apb.ListOrgRolesRequest),
    "AssignOrgRoles": lambda s: s.w.roles_req(s.target, al.PERM_ADMIN),
    "RevokeOrgRoles": lambda s: s.w.roles_req(s.target, al.PERM_ADMIN),
    "SetOrgRoles": lambda s: s.w.roles_req(s.target, al.REGULAR),
    "GetUserOrgRoles": lambda s: _az(s, apb.GetUserOrgRolesRequest, user_id=s.target),
    "CreateWorkspace": lambda s: _az(s, apb.CreateWorkspaceRequest, name=_name(),
                                     owner_user_id=s.owner_id,
                                     mode=apb.WORKSPACE_MODE_PRIVATE),
    "GetWorkspace": lambda s: _az(s, apb.GetWorkspaceRequest, workspace_id=s.workspace()),
    "ListWorkspaces": lambda s: _az(s, apb.ListWorkspacesRequest),
    "UpdateWorkspace": lambda s: _az(s, apb.UpdateWorkspaceRequest,
                                     workspace_id=s.workspace(), name=_name()),
    "DeleteWorkspace": lambda s: _az(s, apb.DeleteWorkspaceRequest,
                                     workspace_id=s.w.workspace()),
    "CreateWorkspaceRole": lambda s: _az(
        s, apb.CreateWorkspaceRoleRequest, name=_name(),
        permissions=[apb.ModulePermission(module="dashboard_create", list=True)]),
    "DeleteWorkspaceRole": lambda s: _az(s, apb.DeleteWorkspaceRoleRequest,
                                         role_id=s.new_ws_role()),
    "ListWorkspaceRoles": lambda s: _az(s, apb.ListWorkspaceRolesRequest),
    "SetWorkspaceMember": lambda s: s.w.member_req(s.workspace(), s.target, 30),
    "RemoveWorkspaceMember": _member_to_remove,
    "ListWorkspaceMembers": lambda s: _az(s, apb.ListWorkspaceMembersRequest,
                                          workspace_id=s.workspace()),
    "RegisterResource": lambda s: _az(s, apb.RegisterResourceRequest,
                                      resource=s.w.resource(s.workspace())),
    "UnregisterResource": _work_to_unregister,
    "Grant": lambda s: s.w.grant_req(s.work(), apb.SUBJECT_TYPE_USER, s.target, al.VIEW),
    "Revoke": _grant_to_revoke,
    "ListGrants": lambda s: _az(s, apb.ListGrantsRequest, resource=s.work()),
    "Check": lambda s: s.check_req(),
    "BatchCheck": lambda s: apb.BatchCheckRequest(items=[s.check_req()]),
    "Explain": lambda s: s.check_req(),
    "ListAllowedResources": lambda s: _az(
        s, apb.ListAllowedResourcesRequest, user_id=s.target, resource_type="dashboard",
        permission="view", consistency=al.FRESH),
}


class Rule:
    """The caller requirements of one method.

    actor:   whether x-roster-actor is required
    member:  None when every enabled user of the organisation may call it,
             else the PERMISSION_DENIED reason a regular member gets
    in_item: the refusal comes back inside the response (BatchCheck reports
             per-item refusals as denials) instead of failing the call"""

    def __init__(self, actor=True, member=None, in_item=False):
        self.actor = actor
        self.member = member
        self.in_item = in_item


ANYONE = Rule()
ADMIN = Rule(member=ORG_ADMIN_ONLY)
WS_ADMIN = Rule(member="NOT_WORKSPACE_ADMIN")
# A regular member may check only itself, and these requests check another user.
ASK_OTHERS = Rule(member="NOT_ALLOWED_TO_CHECK_OTHERS")

RULES = {
    IDENTITY_SVC.full_name: {
        "CreateOrganization": Rule(actor=False),
        "GetOrganization": ANYONE,
        "UpdateOrganization": ADMIN,
        "CreateUser": ADMIN,
        "CreateUsers": ADMIN,
        "GetUser": ANYONE,
        "ListUsers": ANYONE,
        "UpdateUser": ADMIN,
        "DisableUser": ADMIN,
        "EnableUser": ADMIN,
        "DeleteUser": ADMIN,
        "CreateUserGroup": ADMIN,
        "CreateUserGroups": ADMIN,
        "GetUserGroup": ANYONE,
        "ListUserGroups": ANYONE,
        "RenameUserGroup": ADMIN,
        "MoveUserGroup": ADMIN,
        "DeleteUserGroup": ADMIN,
        "AddUserGroupMembers": ADMIN,
        "RemoveUserGroupMembers": ADMIN,
        "ListUserGroupMembers": ANYONE,
        "ListGroupsOfUser": ANYONE,
        "BindExternalIdentity": ADMIN,
        "UnbindExternalIdentity": ADMIN,
        "ListExternalIdentities": ANYONE,
        "LookupExternalIdentity": ANYONE,
    },
    AUTHZ_SVC.full_name: {
        "CreateOrgRole": ADMIN,
        "UpdateOrgRole": ADMIN,
        "DeleteOrgRole": ADMIN,
        "ListOrgRoles": ANYONE,
        "AssignOrgRoles": ADMIN,
        "RevokeOrgRoles": ADMIN,
        "SetOrgRoles": ADMIN,
        "GetUserOrgRoles": ANYONE,
        "CreateWorkspace": ADMIN,
        "GetWorkspace": ANYONE,
        "ListWorkspaces": ANYONE,
        "UpdateWorkspace": WS_ADMIN,
        "DeleteWorkspace": ADMIN,
        "CreateWorkspaceRole": ADMIN,
        "DeleteWorkspaceRole": ADMIN,
        "ListWorkspaceRoles": ANYONE,
        "SetWorkspaceMember": WS_ADMIN,
        "RemoveWorkspaceMember": WS_ADMIN,
        "ListWorkspaceMembers": ANYONE,
        "RegisterResource": Rule(member="NOT_ALLOWED_TO_REGISTER"),
        "UnregisterResource": Rule(member="NOT_ALLOWED_TO_REGISTER"),
        "Grant": Rule(member="NOT_ALLOWED_TO_GRANT"),
        "Revoke": Rule(member="NOT_ALLOWED_TO_GRANT"),
        "ListGrants": ANYONE,
        "Check": ASK_OTHERS,
        "BatchCheck": Rule(member="NOT_ALLOWED_TO_CHECK_OTHERS", in_item=True),
        "Explain": ASK_OTHERS,
        "ListAllowedResources": ASK_OTHERS,
    },
}

REQUESTS = {IDENTITY_SVC.full_name: IDENTITY_REQUESTS, AUTHZ_SVC.full_name: AUTHZ_REQUESTS}
METHODS = [(svc, m.name) for svc in (IDENTITY_SVC, AUTHZ_SVC) for m in svc.methods]


def test_rule_table():
    """Every RPC of both contracts has a rule and a request builder, and the
    table names no RPC the contracts lack."""
    for svc in (IDENTITY_SVC, AUTHZ_SVC):
        names = {m.name for m in svc.methods}
        rules = RULES[svc.full_name]
        reqs = REQUESTS[svc.full_name]
        assert names - set(rules) == set(), \
            "%s: RPCs without a rule in RULES: %s" % (svc.full_name, sorted(names - set(rules)))
        assert names - set(reqs) == set(), \
            "%s: RPCs without a request builder: %s" % (svc.full_name,
                                                        sorted(names - set(reqs)))
        assert set(rules) - names == set(), "stale rules: %s" % sorted(set(rules) - names)
        assert set(reqs) - names == set(), "stale builders: %s" % sorted(set(reqs) - names)


@pytest.fixture(scope="module")
def stranger(ctx):
    """The owner of another organisation."""
    _org, owner = ctx.new_org(total=5)
    return owner.user_id


def _expect(fn, req, meta, code, reason):
    if code is None:
        return fn(req, metadata=meta, timeout=15)
    return rl.refused(fn, req, code, reason, metadata=meta, timeout=15)


@pytest.mark.parametrize("svc,method", METHODS,
                         ids=["%s.%s" % (s.name, m) for s, m in METHODS])
def test_matrix(ctx, az, stranger, svc, method):
    rule = RULES[svc.full_name].get(method)
    build = REQUESTS[svc.full_name].get(method)
    assert rule is not None, "%s/%s has no row in RULES" % (svc.full_name, method)
    assert build is not None, "%s/%s has no request builder" % (svc.full_name, method)
    stub = ctx.stub if svc is IDENTITY_SVC else az.stub
    fn = getattr(stub, method)
    s = Scene(ctx, az)
    token = ctx.admin_token
    owner = s.owner_id if rule.actor else None

    # Credentials are checked before anything else, actor or not.
    _expect(fn, build(s), rl.md(None, owner), UNAUTH, "TOKEN_MISSING")
    _expect(fn, build(s), rl.md("x" + token, owner), UNAUTH, "TOKEN_INVALID")
    _expect(fn, build(s), rl.md(token[:-1], owner), UNAUTH, "TOKEN_INVALID")
    _expect(fn, build(s), [("authorization", "Basic " + token)] +
            ([("x-roster-actor", owner)] if owner else []), UNAUTH, "TOKEN_INVALID")

    if rule.actor:
        _expect(fn, build(s), rl.md(token), UNAUTH, "ACTOR_REQUIRED")
        _expect(fn, build(s), rl.md(token, s.owner_id.upper()), INVALID, "ACTOR_INVALID")
        _expect(fn, build(s), rl.md(token, stranger), DENIED, "ACTOR_NOT_IN_ORGANIZATION")
        _expect(fn, build(s), rl.md(token, s.disabled), DENIED, "ACTOR_DISABLED")
        if rule.member is None:
            _expect(fn, build(s), rl.md(token, s.member), None, None)
        elif rule.in_item:
            resp = _expect(fn, build(s), rl.md(token, s.member), None, None)
            assert [(r.allowed, r.reason) for r in resp.results] == \
                [(False, rule.member)], resp
        else:
            _expect(fn, build(s), rl.md(token, s.member), DENIED, rule.member)

    resp = _expect(fn, build(s), rl.md(token, owner), None, None)
    if rule.in_item:
        assert all(r.reason != rule.member for r in resp.results), resp


def test_org_admin_role_suffices(ctx, az):
    """A holder of Organization Administrator (not the owner) passes every
    identity write the owner passes, except deleting a group someone else
    created: only its creator and the owner may (NOT_GROUP_CREATOR)."""
    s = Scene(ctx, az)
    admin = s.w.user(al.DEV)
    s.w.assign(admin, al.ORG_ADMIN)
    meta = rl.md(ctx.admin_token, admin)
    for method, rule in RULES[IDENTITY_SVC.full_name].items():
        if rule.member != ORG_ADMIN_ONLY:
            continue
        fn = getattr(ctx.stub, method)
        if method == "DeleteUserGroup":
            _expect(fn, IDENTITY_REQUESTS[method](s), meta, DENIED, "NOT_GROUP_CREATOR")
            own = ctx.call("CreateUserGroup", pb.CreateUserGroupRequest(
                organization_id=s.org_id, name=_name()), actor=admin).group_id
            fn(pb.DeleteUserGroupRequest(organization_id=s.org_id, group_id=own),
               metadata=meta, timeout=15)
        else:
            fn(IDENTITY_REQUESTS[method](s), metadata=meta, timeout=15)


def test_check_scope_allows_others(ctx, az):
    """A token with the "check" scope lets a regular member's call ask about
    another user; the same call with the admin-tool token is rejected."""
    s = Scene(ctx, az)
    for method in ("Check", "Explain", "ListAllowedResources"):
        fn = getattr(az.stub, method)
        fn(AUTHZ_REQUESTS[method](s), metadata=rl.md(ctx.check_token, s.member), timeout=15)
        _expect(fn, AUTHZ_REQUESTS[method](s), rl.md(ctx.admin_token, s.member), DENIED,
                "NOT_ALLOWED_TO_CHECK_OTHERS")
