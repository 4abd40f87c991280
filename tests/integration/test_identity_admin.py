"""identity calls authz to decide who administers an organisation: a holder of Org
Admin (111111111) given through authz may manage users, and a revoked role
stops counting on the next identity call. Also the authz rules identity
applies to type changes and deletions."""

import os
import subprocess

import grpc

import authzlib as al
from roster.authz.v1 import authz_pb2 as apb
from roster.identity.v1 import identity_pb2 as pb


def test_org_admin_role_lets_user_create_users(ctx, az):
    w = al.World(ctx, az)
    admin = w.user(al.ANALYST)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=w.org_id, nickname="before-role", user_type=al.VISITOR),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", actor=admin)

    w.assign(admin, al.ORG_ADMIN)
    created = ctx.call("CreateUser", pb.CreateUserRequest(
        organization_id=w.org_id, nickname="made-by-admin", user_type=al.VISITOR),
        actor=admin)
    assert created.nickname == "made-by-admin"

    # Revoked in authz: the very next identity call refuses.
    w.revoke_roles(admin, al.ORG_ADMIN)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=w.org_id, nickname="after-revoke", user_type=al.VISITOR),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", actor=admin)


def test_permission_admin_is_no_org_admin(ctx, az):
    w = al.World(ctx, az)
    padmin = w.user(al.DEV)
    w.assign(padmin, al.PERM_ADMIN)
    ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
        organization_id=w.org_id, name="by-perm-admin"),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", actor=padmin)


def test_type_change_conflict_names_role(ctx, az):
    w = al.World(ctx, az)
    u = w.user(al.ANALYST)
    w.assign(u, al.PERM_ADMIN)
    err = ctx.refused("UpdateUser", pb.UpdateUserRequest(
        organization_id=w.org_id, user_id=u, user_type=al.VISITOR,
        update_mask={"paths": ["user_type"]}),
        grpc.StatusCode.FAILED_PRECONDITION, "TYPE_CHANGE_CONFLICT", actor=w.owner_id)
    assert "111111112" in err.details(), err.details()
    _, info, _ = al.rl.error_info(err)
    assert info.metadata["conflicts"] == "1"
    assert info.metadata["first_kind"] == "ORG_ROLE"
    assert info.metadata["first_id"] == "111111112"
    assert ctx.call("GetUser", pb.GetUserRequest(
        organization_id=w.org_id, user_id=u), actor=w.owner_id).user_type == al.ANALYST
    assert w.roles_of(u) == [al.PERM_ADMIN]

    changed = w.set_type(u, al.VISITOR, demote=True)
    assert changed.user_type == al.VISITOR
    assert w.roles_of(u) == [al.REGULAR]
    assert al.sql_roles(ctx, u) == []


def test_type_change_conflict_counts_memberships_and_grants(ctx, az):
    w = al.World(ctx, az)
    dev = w.user(al.DEV)
    ws = w.workspace()
    w.member(ws, dev, 26)
    res = w.resource(ws, "datasource")
    g = w.grant(res, dev, al.EDIT).grant
    err = ctx.refused("UpdateUser", pb.UpdateUserRequest(
        organization_id=w.org_id, user_id=dev, user_type=al.ANALYST,
        update_mask={"paths": ["user_type"]}),
        grpc.StatusCode.FAILED_PRECONDITION, "TYPE_CHANGE_CONFLICT", actor=w.owner_id)
    _, info, _ = al.rl.error_info(err)
    assert info.metadata["conflicts"] == "2", err.details()
    assert res.id in err.details(), err.details()

    w.set_type(dev, al.ANALYST, demote=True)
    grants = w.call("ListGrants", apb.ListGrantsRequest(
        organization_id=w.org_id, subject=apb.Subject(type=apb.SUBJECT_TYPE_USER, id=dev)))
    assert g.grant_id not in [x.grant_id for x in grants.grants]
    members = w.call("ListWorkspaceMembers", apb.ListWorkspaceMembersRequest(
        organization_id=w.org_id, workspace_id=ws))
    assert dev not in [m.principal_id for m in members.members]


def test_workspace_owner_type_conflict(ctx, az):
    w = al.World(ctx, az)
    dev = w.user(al.DEV)
    ws = w.workspace(owner=dev)
    for demote in (False, True):
        err = ctx.refused("UpdateUser", pb.UpdateUserRequest(
            organization_id=w.org_id, user_id=dev, user_type=al.ANALYST,
            update_mask={"paths": ["user_type"]}, demote_conflicts=demote),
            grpc.StatusCode.FAILED_PRECONDITION, "WORKSPACE_OWNER_TYPE_CONFLICT", actor=w.owner_id)
        _, info, _ = al.rl.error_info(err)
        assert info.metadata["workspace_id"] == ws


def test_delete_workspace_owner_refused(ctx, az):
    w = al.World(ctx, az)
    dev = w.user(al.DEV)
    ws = w.workspace(owner=dev)
    err = ctx.refused("DeleteUser", pb.DeleteUserRequest(
        organization_id=w.org_id, user_id=dev),
        grpc.StatusCode.FAILED_PRECONDITION, "CANNOT_DELETE_WORKSPACE_OWNER",
        actor=w.owner_id)
    _, info, _ = al.rl.error_info(err)
    assert info.metadata["workspace_id"] == ws

    # Another user's roles, memberships and grants go with the user.
    other = w.user(al.DEV)
    w.assign(other, al.PERM_ADMIN)
    w.member(ws, other, 26)
    w.grant(w.resource(ws), other, al.EDIT)
    ctx.call("DeleteUser", pb.DeleteUserRequest(organization_id=w.org_id, user_id=other),
             actor=w.owner_id)
    for table, col in (("user_org_roles", "user_id"),
                       ("workspace_members", "principal_id"),
                       ("grants", "subject_id")):
        n = al.rl.psql(ctx.conninfo, "SELECT count(*) FROM authz.%s WHERE %s = '%s'"
                       % (table, col, other))
        assert n == "0", table


def test_role_admin_meets_owner_rules(ctx, az):
    """With administrators other than the owner, the owner's protections and
    the group creator rule become reachable."""
    w = al.World(ctx, az)
    admin = w.user(al.DEV)
    w.assign(admin, al.ORG_ADMIN)
    ctx.refused("DeleteUser", pb.DeleteUserRequest(
        organization_id=w.org_id, user_id=w.owner_id),
        grpc.StatusCode.FAILED_PRECONDITION, "CANNOT_DELETE_OWNER", actor=admin)
    ctx.refused("DisableUser", pb.SetUserEnabledRequest(
        organization_id=w.org_id, user_id=w.owner_id),
        grpc.StatusCode.FAILED_PRECONDITION, "OWNER_CANNOT_BE_DISABLED", actor=admin)

    owners_group = w.group()
    ctx.refused("DeleteUserGroup", pb.DeleteUserGroupRequest(
        organization_id=w.org_id, group_id=owners_group),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_GROUP_CREATOR", actor=admin)
    own = ctx.call("CreateUserGroup", pb.CreateUserGroupRequest(
        organization_id=w.org_id, name="admin's group"), actor=admin).group_id
    ctx.call("DeleteUserGroup", pb.DeleteUserGroupRequest(
        organization_id=w.org_id, group_id=own), actor=admin)
    # The owner may delete any group.
    w.delete_group(owners_group)


def test_identity_ready_only_with_authz_schema(base_env, workdir):
    """identity calls authz's functions, so it is SERVING only once
    roster-authz migrate has run after roster-identity migrate."""
    base, binary = base_env
    conninfo = al.rl.create_database(base)
    assert al.rl.migrate(binary, conninfo, with_authz=False).returncode == 0
    tokens = os.path.join(workdir, "ready.tokens")
    al.rl.write_tokens(tokens, [("admin-tool", al.rl.new_token(), [])])
    srv = al.rl.Identity(binary, al.rl.identity_env(conninfo, tokens),
                         os.path.join(workdir, "ready.log"))
    srv.start()
    try:
        srv.wait_health("NOT_SERVING", timeout=15)
        res = subprocess.run([al.rl.authz_binary(), "migrate"], capture_output=True,
                             text=True, timeout=120,
                             env=dict(os.environ, ROSTER_DATABASE_URL=conninfo))
        assert res.returncode == 0, res.stderr
        srv.wait_health("SERVING", timeout=10)
    finally:
        rc = srv.stop()
    assert rc == 0, srv.read_log()[-3000:]
