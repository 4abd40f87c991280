"""authz workspaces and their members: who creates them, the owner's role,
the caps per user type, custom roles and paged member listings."""

import uuid

import grpc

import authzlib as al
from roster.authz.v1 import authz_pb2 as apb

PRECOND = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED


def members_of(w, ws, page_size=0):
    out, token = [], ""
    while True:
        r = w.call("ListWorkspaceMembers", apb.ListWorkspaceMembersRequest(
            organization_id=w.org_id, workspace_id=ws, page_size=page_size,
            page_token=token))
        out.extend(r.members)
        token = r.next_page_token
        if not token:
            return out


def ws_role(w, name, **modules):
    perms = [apb.ModulePermission(module=m, edit="e" in a, use="u" in a, list="l" in a)
             for m, a in modules.items()]
    return w.call("CreateWorkspaceRole", apb.CreateWorkspaceRoleRequest(
        organization_id=w.org_id, name=name + "-" + uuid.uuid4().hex[:6],
        permissions=perms)).role


def test_create_by_org_admin_owner_developer(ctx, az):
    w = al.World(ctx, az)
    dev = w.user(al.DEV)
    analyst = w.user(al.ANALYST)
    w.refused("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name="by dev", owner_user_id=dev,
        mode=apb.WORKSPACE_MODE_PRIVATE), DENIED, "NOT_ORGANIZATION_ADMIN", actor=dev)
    w.refused("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name="analyst owned", owner_user_id=analyst,
        mode=apb.WORKSPACE_MODE_PRIVATE), PRECOND, "WORKSPACE_OWNER_TYPE_NOT_ALLOWED")

    # An Org Admin by role (not the owner) may create one.
    admin = w.user(al.ANALYST)
    w.assign(admin, al.ORG_ADMIN)
    resp = w.call("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name="team space", owner_user_id=dev,
        mode=apb.WORKSPACE_MODE_COLLABORATIVE), actor=admin)
    assert resp.revision
    ws = resp.workspace
    assert ws.owner_user_id == dev
    assert ws.flags.allow_publish
    assert ws.flags.allow_share
    assert ws.flags.use_comment
    members = members_of(w, ws.workspace_id)
    assert [(m.principal_id, list(m.role_ids)) for m in members] == [(dev, [25])]

    w.refused("SetWorkspaceMember", w.member_req(ws.workspace_id, dev, 26), PRECOND,
              "OWNER_KEEPS_WORKSPACE_ADMIN")
    w.refused("RemoveWorkspaceMember", apb.RemoveWorkspaceMemberRequest(
        organization_id=w.org_id, workspace_id=ws.workspace_id,
        principal_type=apb.PRINCIPAL_TYPE_USER, principal_id=dev), PRECOND,
        "OWNER_KEEPS_WORKSPACE_ADMIN")
    # The owner, as workspace admin, manages members.
    w.member(ws.workspace_id, w.user(al.DEV), 26, actor=dev)


def test_member_caps(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    visitor = w.user(al.VISITOR)
    analyst = w.user(al.ANALYST)
    dev = w.user(al.DEV)
    w.refused("SetWorkspaceMember", w.member_req(ws, visitor, 30), PRECOND,
              "VISITOR_CANNOT_BE_MEMBER")
    for role in (25, 26):
        w.refused("SetWorkspaceMember", w.member_req(ws, analyst, role), PRECOND,
                  "ROLE_ABOVE_ANALYST_CEILING")
    above = ws_role(w, "etl", datasource="eul")
    within = ws_role(w, "viewer-plus", dashboard_create="el", cube="ul")
    assert not above.within_analyst_ceiling
    assert within.within_analyst_ceiling
    w.refused("SetWorkspaceMember", w.member_req(ws, analyst, above.role_id), PRECOND,
              "ROLE_ABOVE_ANALYST_CEILING")
    assert list(w.member(ws, analyst, 27).member.role_ids) == [27]
    w.member(ws, analyst, within.role_id, 30)
    w.member(ws, dev, 26, above.role_id)

    # Not a workspace admin: a plain member, then a 26 developer.
    w.refused("SetWorkspaceMember", w.member_req(ws, w.user(al.DEV), 30), DENIED,
              "NOT_WORKSPACE_ADMIN", actor=dev)
    # A workspace admin through a group may.
    admin = w.user(al.DEV)
    g = w.group()
    w.add_to_group(g, admin)
    w.member(ws, g, 25, group=True)
    w.member(ws, w.user(al.DEV), 30, actor=admin)


def test_group_members_no_type_caps(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    g = w.group()
    w.add_to_group(g, w.user(al.VISITOR))
    m = w.member(ws, g, 26, group=True).member
    assert m.principal_type == apb.PRINCIPAL_TYPE_GROUP
    assert list(m.role_ids) == [26]


def test_list_members_paged(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    expected = {w.owner_id}
    for i in range(70):
        u = w.user(al.DEV if i % 2 else al.ANALYST)
        w.member(ws, u, 27)
        expected.add(u)
    for i in range(50):
        g = w.group()
        w.member(ws, g, 30, group=True)
        expected.add(g)
    assert len(expected) == 121
    for size in (2, 7, 0, 1000):
        got = [m.principal_id for m in members_of(w, ws, size)]
        assert len(got) == len(set(got)), "duplicates with page_size %d" % size
        assert set(got) == expected, "page_size %d" % size
    w.refused("ListWorkspaceMembers", apb.ListWorkspaceMembersRequest(
        organization_id=w.org_id, workspace_id=ws, page_size=1001),
        grpc.StatusCode.INVALID_ARGUMENT, "PAGE_SIZE_INVALID")


def test_names_stored_in_nfc(ctx, az):
    # "Cafe" plus U+0301 and "Café" with U+00E9 look the same, so authz
    # stores the composed form and treats the two as one name.
    decomposed, composed = "Cafe\u0301 看板", "Caf\u00e9 看板"
    w = al.World(ctx, az)
    ws = w.call("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name=decomposed, owner_user_id=w.owner_id,
        mode=apb.WORKSPACE_MODE_PRIVATE)).workspace
    assert ws.name == composed
    w.refused("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name=composed, owner_user_id=w.owner_id,
        mode=apb.WORKSPACE_MODE_PRIVATE), grpc.StatusCode.ALREADY_EXISTS,
        "WORKSPACE_NAME_TAKEN")
    other = w.workspace()
    w.refused("UpdateWorkspace", apb.UpdateWorkspaceRequest(
        organization_id=w.org_id, workspace_id=other, name=decomposed),
        grpc.StatusCode.ALREADY_EXISTS, "WORKSPACE_NAME_TAKEN")

    role = w.call("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name="角色 Cafe\u0301", auth_keys=["quick_monitor"])).role
    assert role.name == "角色 Caf\u00e9"
    w.refused("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name="角色 Caf\u00e9", auth_keys=["quick_monitor"]),
        grpc.StatusCode.ALREADY_EXISTS, "ROLE_NAME_TAKEN")
    renamed = w.call("UpdateOrgRole", apb.UpdateOrgRoleRequest(
        organization_id=w.org_id, role_id=role.role_id, name="Ame\u0301lie",
        auth_keys=["quick_monitor"])).role
    assert renamed.name == "Am\u00e9lie"

    ws_role = w.call("CreateWorkspaceRole", apb.CreateWorkspaceRoleRequest(
        organization_id=w.org_id, name="编辑 Cafe\u0301")).role
    assert ws_role.name == "编辑 Caf\u00e9"
    w.refused("CreateWorkspaceRole", apb.CreateWorkspaceRoleRequest(
        organization_id=w.org_id, name="编辑 Caf\u00e9"),
        grpc.StatusCode.ALREADY_EXISTS, "ROLE_NAME_TAKEN")
