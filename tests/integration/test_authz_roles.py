"""authz organisation roles: presets, custom roles, assignment limits and
caps, administrator-only writes and concurrent identical assignments."""

import threading
import uuid

import grpc

import authzlib as al
from roster.authz.v1 import authz_pb2 as apb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED


def test_presets_listed(ctx, az):
    w = al.World(ctx, az)
    roles = w.call("ListOrgRoles", apb.ListOrgRolesRequest(organization_id=w.org_id)).roles
    by_id = {r.role_id: r for r in roles}
    for rid in (al.ORG_ADMIN, al.PERM_ADMIN, al.REGULAR):
        assert by_id[rid].is_preset, rid
    assert "grant.manage" in by_id[al.PERM_ADMIN].auth_keys
    assert sorted(by_id[al.REGULAR].auth_keys) == ["offline_download", "subscription"]
    assert w.roles_of(w.owner_id) == [al.ORG_ADMIN]


def test_custom_role_lifecycle(ctx, az):
    w = al.World(ctx, az)
    name = "auditors-" + uuid.uuid4().hex[:6]
    role = w.call("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name=name, auth_keys=["quick_monitor"]))
    assert role.revision
    rid = role.role.role_id
    assert not role.role.is_preset

    w.refused("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name="bad keys", auth_keys=["no_such_key"]),
        INVALID, "AUTH_KEY_INVALID")
    w.refused("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name=name, auth_keys=["subscription"]),
        grpc.StatusCode.ALREADY_EXISTS, "ROLE_NAME_TAKEN")
    w.refused("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name="Organization Administrator",
        auth_keys=["subscription"]),
        grpc.StatusCode.ALREADY_EXISTS, "ROLE_NAME_TAKEN")

    upd = w.call("UpdateOrgRole", apb.UpdateOrgRoleRequest(
        organization_id=w.org_id, role_id=rid, auth_keys=["subscription", "data_service"]))
    assert upd.role.name == name
    assert sorted(upd.role.auth_keys) == ["data_service", "subscription"]
    w.refused("UpdateOrgRole", apb.UpdateOrgRoleRequest(
        organization_id=w.org_id, role_id=rid, auth_keys=["bogus"]),
        INVALID, "AUTH_KEY_INVALID")
    for preset in (al.ORG_ADMIN, al.PERM_ADMIN, al.REGULAR):
        w.refused("UpdateOrgRole", apb.UpdateOrgRoleRequest(
            organization_id=w.org_id, role_id=preset, auth_keys=["subscription"]),
            PRECOND, "PRESET_ROLE_READ_ONLY")
        w.refused("DeleteOrgRole", apb.DeleteOrgRoleRequest(
            organization_id=w.org_id, role_id=preset), PRECOND, "PRESET_ROLE_READ_ONLY")

    u = w.user()
    w.assign(u, rid)
    w.refused("DeleteOrgRole", apb.DeleteOrgRoleRequest(organization_id=w.org_id,
                                                        role_id=rid),
              PRECOND, "ROLE_IN_USE")
    w.revoke_roles(u, rid)
    assert w.call("DeleteOrgRole", apb.DeleteOrgRoleRequest(
        organization_id=w.org_id, role_id=rid)).revision


def test_assign_revoke_set(ctx, az):
    w = al.World(ctx, az)
    roles = [w.call("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name="r%d-%s" % (i, uuid.uuid4().hex[:6]),
        auth_keys=["subscription"])).role.role_id for i in range(3)]
    u = w.user(al.DEV)
    assert w.roles_of(u) == [al.REGULAR]
    r = w.assign(u, al.PERM_ADMIN, roles[0])
    assert r.revision and sorted(r.role_ids) == sorted([al.PERM_ADMIN, roles[0]])
    w.assign(u, al.PERM_ADMIN)  # idempotent
    w.assign(u, roles[1])
    w.refused("AssignOrgRoles", w.roles_req(u, roles[2]), PRECOND, "ROLE_LIMIT_REACHED")
    w.revoke_roles(u, roles[0], roles[1])
    assert w.roles_of(u) == [al.PERM_ADMIN]
    w.call("SetOrgRoles", w.roles_req(u, *roles))
    assert w.roles_of(u) == sorted(roles)
    w.refused("SetOrgRoles", w.roles_req(u), INVALID, "ROLE_COUNT_INVALID")
    w.refused("SetOrgRoles", w.roles_req(u, al.REGULAR, *roles), INVALID,
              "ROLE_COUNT_INVALID")
    w.revoke_roles(u, *roles)
    assert w.roles_of(u) == [al.REGULAR]


def test_role_caps_by_user_type_and_owner(ctx, az):
    w = al.World(ctx, az)
    v = w.user(al.VISITOR)
    for role in (al.ORG_ADMIN, al.PERM_ADMIN):
        w.refused("AssignOrgRoles", w.roles_req(v, role), PRECOND,
                  "ROLE_NOT_ALLOWED_FOR_USER_TYPE")
        w.refused("SetOrgRoles", w.roles_req(v, role), PRECOND,
                  "ROLE_NOT_ALLOWED_FOR_USER_TYPE")
    w.assign(v, al.REGULAR)
    analyst = w.user(al.ANALYST)
    w.assign(analyst, al.ORG_ADMIN)
    w.refused("RevokeOrgRoles", w.roles_req(w.owner_id, al.ORG_ADMIN), PRECOND,
              "OWNER_KEEPS_ORG_ADMIN")
    w.refused("SetOrgRoles", w.roles_req(w.owner_id, al.PERM_ADMIN), PRECOND,
              "OWNER_KEEPS_ORG_ADMIN")


def test_regular_user_cannot_manage_roles(ctx, az):
    w = al.World(ctx, az)
    u = w.user(al.DEV)
    other = w.user(al.DEV)
    w.refused("AssignOrgRoles", w.roles_req(other, al.PERM_ADMIN), DENIED,
              "NOT_ORGANIZATION_ADMIN", actor=u)
    w.refused("CreateOrgRole", apb.CreateOrgRoleRequest(
        organization_id=w.org_id, name="mine", auth_keys=["subscription"]),
        DENIED, "NOT_ORGANIZATION_ADMIN", actor=u)
    w.refused("CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=w.org_id, name="mine", owner_user_id=u,
        mode=apb.WORKSPACE_MODE_PRIVATE), DENIED, "NOT_ORGANIZATION_ADMIN", actor=u)


def test_concurrent_identical_assign(ctx, az):
    w = al.World(ctx, az)
    u = w.user(al.DEV)
    errors = []

    def one():
        try:
            w.assign(u, al.PERM_ADMIN)
        except grpc.RpcError as err:
            errors.append("%s %s" % (err.code(), err.details()))

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert w.roles_of(u) == [al.PERM_ADMIN]
    assert al.sql_roles(ctx, u) == [al.PERM_ADMIN]
