"""authz refusals not covered by the area files: actors, workspace names,
custom workspace role modules, registering works, and paging tokens."""

import uuid

import grpc

import authzlib as al
from roster.authz.v1 import authz_pb2 as apb
from roster.identity.v1 import identity_pb2 as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED


def test_actor_refusals(ctx, az):
    w = al.World(ctx, az)
    other = al.World(ctx, az)
    req = apb.ListOrgRolesRequest(organization_id=w.org_id)
    w.refused("ListOrgRoles", req, DENIED, "ACTOR_NOT_IN_ORGANIZATION",
              actor=other.owner_id)
    u = w.user(al.DEV)
    ctx.call("DisableUser", pb.SetUserEnabledRequest(organization_id=w.org_id, user_id=u),
             actor=w.owner_id)
    w.refused("ListOrgRoles", req, DENIED, "ACTOR_DISABLED", actor=u)


def test_workspace_names(ctx, az):
    w = al.World(ctx, az)
    name = "销售 分析 (2024) " + uuid.uuid4().hex[:6]
    assert w.workspace(name=name)
    for bad in ("bad*name", " leading", "trailing ", "x" * 51, "", "emoji 📊"):
        w.refused("CreateWorkspace", apb.CreateWorkspaceRequest(
            organization_id=w.org_id, name=bad, owner_user_id=w.owner_id,
            mode=apb.WORKSPACE_MODE_PRIVATE), INVALID, "WORKSPACE_NAME_INVALID")
    w.refused("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name=name, owner_user_id=w.owner_id,
        mode=apb.WORKSPACE_MODE_PRIVATE), grpc.StatusCode.ALREADY_EXISTS,
        "WORKSPACE_NAME_TAKEN")


def test_workspace_role_module_invalid(ctx, az):
    w = al.World(ctx, az)
    w.refused("CreateWorkspaceRole", apb.CreateWorkspaceRoleRequest(
        organization_id=w.org_id, name="bad module",
        permissions=[apb.ModulePermission(module="members", edit=True)]),
        INVALID, "MODULE_INVALID")


def test_register_rules(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    ws2 = w.workspace()
    viewer = w.user(al.DEV)
    analyst = w.user(al.ANALYST)
    w.member(ws, viewer, 30)
    w.member(ws, analyst, 27)
    dash = w.resource(ws, "dashboard")
    w.refused("RegisterResource", apb.RegisterResourceRequest(
        organization_id=w.org_id, resource=dash), DENIED, "NOT_ALLOWED_TO_REGISTER",
        actor=viewer)
    w.refused("RegisterResource", apb.RegisterResourceRequest(
        organization_id=w.org_id, resource=w.resource(ws, "datasource")), DENIED,
        "NOT_ALLOWED_TO_REGISTER", actor=analyst)
    assert w.register(dash, owner=analyst, actor=analyst).revision
    moved = apb.Resource(type=dash.type, id=dash.id, workspace_id=ws2)
    w.refused("RegisterResource", apb.RegisterResourceRequest(
        organization_id=w.org_id, resource=moved), PRECOND, "RESOURCE_IN_OTHER_WORKSPACE")
    # A grant naming another workspace for a registered work is refused the same way.
    w.refused("Grant", w.grant_req(moved, apb.SUBJECT_TYPE_USER, viewer, al.VIEW),
              PRECOND, "RESOURCE_IN_OTHER_WORKSPACE")
    unknown = apb.Resource(type="report", id="never-registered")
    w.refused("Grant", w.grant_req(unknown, apb.SUBJECT_TYPE_USER, viewer, al.VIEW),
              grpc.StatusCode.NOT_FOUND, "RESOURCE_NOT_FOUND")
    # The work's owner may unregister it; a viewer may not.
    w.refused("UnregisterResource", apb.UnregisterResourceRequest(
        organization_id=w.org_id, resource=dash), DENIED, "NOT_ALLOWED_TO_REGISTER",
        actor=viewer)
    assert w.call("UnregisterResource", apb.UnregisterResourceRequest(
        organization_id=w.org_id, resource=dash), actor=analyst).revision
    w.refused("Revoke", apb.RevokeRequest(organization_id=w.org_id, grant_id="0" * 32),
              grpc.StatusCode.NOT_FOUND, "GRANT_NOT_FOUND")


def test_page_token_invalid(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    for i in range(3):
        w.member(ws, w.user(al.DEV), 30)
    first = w.call("ListWorkspaceMembers", apb.ListWorkspaceMembersRequest(
        organization_id=w.org_id, workspace_id=ws, page_size=2))
    assert first.next_page_token
    w.refused("ListWorkspaceMembers", apb.ListWorkspaceMembersRequest(
        organization_id=w.org_id, workspace_id=ws, page_size=2, page_token="garbage"),
        INVALID, "PAGE_TOKEN_INVALID")
    # A token continues only the listing it came from.
    w.refused("ListWorkspaces", apb.ListWorkspacesRequest(
        organization_id=w.org_id, page_size=2, page_token=first.next_page_token),
        INVALID, "PAGE_TOKEN_INVALID")


def test_group_admin_role_capped_by_type(ctx, az):
    """Role 25 reached through a group makes only Developers workspace admins."""
    w = al.World(ctx, az)
    ws = w.workspace()
    visitor = w.user(al.VISITOR)
    analyst = w.user(al.ANALYST)
    developer = w.user(al.DEV)
    target = w.user(al.DEV)
    g = w.group()
    w.add_to_group(g, visitor, analyst, developer)
    w.member(ws, g, 25, group=True)
    for actor in (visitor, analyst):
        w.refused("SetWorkspaceMember", w.member_req(ws, target, 25), DENIED,
                  "NOT_WORKSPACE_ADMIN", actor=actor)
        w.refused("UpdateWorkspace", apb.UpdateWorkspaceRequest(
            organization_id=w.org_id, workspace_id=ws, name="taken over"), DENIED,
            "NOT_WORKSPACE_ADMIN", actor=actor)
    assert w.member(ws, target, 26, actor=developer).revision


def test_reregister_cannot_take_ownership(ctx, az):
    """A member with edit on the module cannot make itself a work's owner."""
    w = al.World(ctx, az)
    ws = w.workspace()
    creator = w.user(al.DEV)
    dev = w.user(al.DEV)
    visitor = w.user(al.VISITOR)
    w.member(ws, creator, 26)
    w.member(ws, dev, 26)
    dash = w.resource(ws, "dashboard")
    assert w.register(dash, owner=creator, actor=creator).revision
    for owner in (dev, ""):
        w.refused("RegisterResource", apb.RegisterResourceRequest(
            organization_id=w.org_id, resource=dash, owner_user_id=owner), DENIED,
            "NOT_ALLOWED_TO_CHANGE_OWNER", actor=dev)
    w.refused("RegisterResource", apb.RegisterResourceRequest(
        organization_id=w.org_id, resource=dash, owner_user_id=visitor), PRECOND,
        "RESOURCE_OWNER_NOT_ALLOWED", actor=creator)
    # The current owner and the organisation's administrator may hand it on.
    assert w.register(dash, owner=dev, actor=creator).revision
    assert w.register(dash, owner=creator).revision
