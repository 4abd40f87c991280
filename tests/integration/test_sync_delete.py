"""DeleteNode and ClearStructure. The preview lists the users and synced
groups that go, and the workspace memberships and grants that become
invalid. Only the token of an unchanged preview deletes, and only flagged
nodes can be deleted. Clear keeps users."""

import datetime
import signal
import time
import uuid

import grpc
import pytest

import syncdp as dp
import synclib
from roster.authz.v1 import authz_pb2 as apb
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

C = grpc.StatusCode


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    with dp.stack(tmp_path_factory, "sync_delete", "dingdelete01") as s:
        yield s


@pytest.fixture(scope="module")
def env(st):
    return dp.new_source(st)


def az(st, method, req, owner):
    return getattr(st.authz, method)(req, metadata=synclib.rl.md(st.admin_token,
                                                                 owner.user_id), timeout=20)


def expiry():
    ts = apb.GrantRequest().expire_time
    ts.FromDatetime(datetime.datetime.utcnow() + datetime.timedelta(days=30))
    return ts


def grant(st, org, owner, ws, subject_type, subject_id):
    req = apb.GrantRequest(
        organization_id=org.organization_id,
        resource=apb.Resource(type="dashboard", id="d-" + uuid.uuid4().hex[:8],
                              workspace_id=ws),
        subject=apb.Subject(type=subject_type, id=subject_id), level=apb.GRANT_LEVEL_VIEW)
    req.expire_time.CopyFrom(expiry())
    return az(st, "Grant", req, owner).grant


def delete_req(org, src, kind, ext, token=""):
    return spb.DeleteNodeRequest(organization_id=org.organization_id,
                                 source_id=src.source_id, node_kind=kind, external_id=ext,
                                 confirmation_token=token)


def n_runs(st, src):
    return int(st.sql("SELECT count(*) FROM sync.runs WHERE source_id = '%s'" % src.source_id))


def n_rows(st, table, src, userid=None):
    """Counts the rows of a structure table for src (and one member) with
    SQL, because these tables have no foreign key to remove them by cascade."""
    where = "source_id = '%s'" % src.source_id
    if userid is not None:
        where += " AND userid = '%s'" % userid
    return int(st.sql("SELECT count(*) FROM sync.%s WHERE %s" % (table, where)))


def test_refusals(st, env):
    org, owner, src = env
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "110"),
               C.FAILED_PRECONDITION, "NODE_NOT_FLAGGED", owner.user_id)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_MEMBER, "mei.han"),
               C.FAILED_PRECONDITION, "NODE_NOT_FLAGGED", owner.user_id)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_MEMBER, "nobody"),
               C.NOT_FOUND, "MEMBER_NOT_FOUND", owner.user_id)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "424242"),
               C.NOT_FOUND, "DEPARTMENT_NOT_FOUND", owner.user_id)
    for bad in ("abc", "+1", "01", "-5", "99999999999999999999999", "1 "):
        st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, bad),
                   C.INVALID_ARGUMENT, "FIELD_INVALID", owner.user_id)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_UNSPECIFIED, "1"),
               C.INVALID_ARGUMENT, "FIELD_INVALID", owner.user_id)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_MEMBER, ""),
               C.INVALID_ARGUMENT, "FIELD_INVALID", owner.user_id)
    plain = st.new_user(org, owner, user_type=pb.USER_TYPE_DEVELOPER)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_MEMBER, "mei.han"),
               C.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", plain.user_id)
    st.refused("ClearStructure", spb.ClearStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id),
        C.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", plain.user_id)
    st.refused("DeleteNode", spb.DeleteNodeRequest(
        organization_id=org.organization_id, source_id="f" * 32,
        node_kind=spb.NODE_KIND_MEMBER, external_id="mei.han"),
        C.NOT_FOUND, "SOURCE_NOT_FOUND", owner.user_id)


def test_delete_department_with_preview_and_token(st, env):
    org, owner, src = env
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    g111, g1111 = groups[111][0], groups[1111][0]
    ws = az(st, "CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=org.organization_id, name="ws" + uuid.uuid4().hex[:6],
        owner_user_id=owner.user_id, mode=apb.WORKSPACE_MODE_PRIVATE),
        owner).workspace.workspace_id
    az(st, "SetWorkspaceMember", apb.SetWorkspaceMemberRequest(
        organization_id=org.organization_id, workspace_id=ws,
        principal_type=apb.PRINCIPAL_TYPE_GROUP, principal_id=g111, role_ids=[27]), owner)
    g = grant(st, org, owner, ws, apb.SUBJECT_TYPE_GROUP, g111)

    st.sim_control(st.sims[0], {"op": "dept.upsert",
                                "dept": {"dept_id": 111, "name": "数据与智能组"}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run

    runs = n_runs(st, src)
    resp = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "111"),
                   owner.user_id)
    p = resp.preview
    assert not resp.HasField("run")
    assert list(p.group_ids) == [g1111, g111]  # leaves first
    assert list(p.user_ids) == []
    assert p.department_count == 4
    assert p.member_count == 0
    inv = {(x.kind, x.principal_id, x.resource_id) for x in p.invalidated}
    assert inv == {("workspace_member", g111, ""), ("grant", g111, g.resource.id)}
    detail = {x.kind: x.detail for x in p.invalidated}
    assert detail == {"workspace_member": "27", "grant": "1"}
    assert all(x.workspace_id == ws for x in p.invalidated)
    assert p.confirmation_token
    # the preview is stable
    again = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "111"),
                    owner.user_id)
    assert again.preview.confirmation_token == p.confirmation_token

    # a wrong token and a stale token are refused without a record
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "111", "x" * 43),
               C.FAILED_PRECONDITION, "PREVIEW_CHANGED", owner.user_id)
    g2 = grant(st, org, owner, ws, apb.SUBJECT_TYPE_GROUP, g1111)
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "111",
                                        p.confirmation_token),
               C.FAILED_PRECONDITION, "PREVIEW_CHANGED", owner.user_id)
    assert n_runs(st, src) == runs
    # a token of another node is refused too
    st.refused("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "1111",
                                        p.confirmation_token),
               C.FAILED_PRECONDITION, "NODE_NOT_FLAGGED", owner.user_id)

    p = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "111"),
                owner.user_id).preview
    assert ("grant", g1111, g2.resource.id) in {
        (x.kind, x.principal_id, x.resource_id) for x in p.invalidated}
    resp = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "111",
                                            p.confirmation_token), owner.user_id)
    run = resp.run
    assert run.kind == spb.RUN_KIND_DELETE_NODE
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.operator_user_id == owner.user_id
    rows = dp.check_counts(st, org, owner, run)
    assert {it.external_id for it in rows} == {"111", "1111", "11111", "111111"}
    assert all(it.outcome == spb.ITEM_OUTCOME_DELETED for it in rows)
    assert dp.by_ext(rows)["111"].group_id == g111
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert 111 not in groups
    assert 1111 not in groups
    assert 110 in groups
    assert dp.departments(st, org, owner, src, parent=110) == {}
    # the members stay, without the removed departments
    m = dp.members(st, org, owner, src)
    assert list(m["jie.zhou"].department_ids) == []
    assert m["jie.zhou"].roster_user_id
    assert list(m["ana.wang"].department_ids) == [300]
    # the group's workspace membership no longer counts
    listed = az(st, "ListWorkspaceMembers", apb.ListWorkspaceMembersRequest(
        organization_id=org.organization_id, workspace_id=ws), owner).members
    member = [m for m in listed if m.principal_id == g111]
    assert len(member) == 1, listed
    assert member[0].invalidated, listed


def test_delete_member(st, env):
    org, owner, src = env
    st.sim_control(st.sims[0], {"op": "user.remove", "userid": "na.zhang"})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    uid = dp.members(st, org, owner, src)["na.zhang"].roster_user_id
    assert uid
    ws = az(st, "CreateWorkspace", apb.CreateWorkspaceRequest(
        organization_id=org.organization_id, name="ws" + uuid.uuid4().hex[:6],
        owner_user_id=owner.user_id, mode=apb.WORKSPACE_MODE_PRIVATE),
        owner).workspace.workspace_id
    az(st, "SetWorkspaceMember", apb.SetWorkspaceMemberRequest(
        organization_id=org.organization_id, workspace_id=ws,
        principal_type=apb.PRINCIPAL_TYPE_USER, principal_id=uid, role_ids=[27]), owner)
    g = grant(st, org, owner, ws, apb.SUBJECT_TYPE_USER, uid)

    assert n_rows(st, "member_departments", src, "na.zhang") > 0
    p = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_MEMBER, "na.zhang"),
                owner.user_id).preview
    assert list(p.user_ids) == [uid]
    assert list(p.group_ids) == []
    assert p.member_count == 1
    assert p.department_count == 0
    assert {(x.kind, x.principal_id, x.resource_id) for x in p.invalidated} == {
        ("workspace_member", uid, ""), ("grant", uid, g.resource.id)}
    run = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_MEMBER, "na.zhang",
                                           p.confirmation_token), owner.user_id).run
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.check_counts(st, org, owner, run)
    assert [(it.external_id, it.outcome, it.user_id) for it in rows] == [
        ("na.zhang", spb.ITEM_OUTCOME_DELETED, uid)]
    assert uid not in {u for u, _ in dp.users_of(st, org.organization_id).values()}
    assert "na.zhang" not in dp.members(st, org, owner, src)
    assert n_rows(st, "members", src, "na.zhang") == 0
    assert n_rows(st, "member_departments", src, "na.zhang") == 0


def test_clear_structure_keeps_users(st, env):
    org, owner, src = env
    users = dp.users_of(st, org.organization_id)
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    st.refused("ClearStructure", spb.ClearStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id,
        confirmation_token="nope"), C.FAILED_PRECONDITION, "PREVIEW_CHANGED", owner.user_id)
    p = st.call("ClearStructure", spb.ClearStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id).preview
    assert set(p.group_ids) == {gid for gid, _, _, _ in groups.values()}
    assert list(p.user_ids) == []
    n_members = len(dp.members(st, org, owner, src))
    assert p.member_count == n_members
    resp = st.call("ClearStructure", spb.ClearStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id,
        confirmation_token=p.confirmation_token), owner.user_id)
    run = resp.run
    assert run.kind == spb.RUN_KIND_CLEAR_STRUCTURE
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.check_counts(st, org, owner, run)
    assert run.counts.deleted == p.department_count + p.member_count == len(rows)
    assert dp.synced_groups(st, org.organization_id, src.corp_id) == {}
    assert dp.departments(st, org, owner, src) == {}
    assert dp.members(st, org, owner, src) == {}
    assert n_rows(st, "members", src) == 0
    assert n_rows(st, "member_departments", src) == 0
    assert dp.users_of(st, org.organization_id) == users
    st.refused("StartSync", spb.StartSyncRequest(
        organization_id=org.organization_id, source_id=src.source_id, department_ids=[1],
        user_type=pb.USER_TYPE_ANALYST), C.FAILED_PRECONDITION, "STRUCTURE_NOT_LOADED",
        owner.user_id)

    # a new Update Structure and sync find the same users again
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src, department_ids=[100])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.check_counts(st, org, owner, run)
    assert not [it for it in rows if it.node_kind == spb.NODE_KIND_MEMBER and
                it.outcome == spb.ITEM_OUTCOME_CREATED]
    assert dp.users_of(st, org.organization_id) == users


def test_delete_by_another_administrator(st, env):
    org, owner, src = env
    admin = st.new_user(org, owner, user_type=pb.USER_TYPE_DEVELOPER)
    az(st, "AssignOrgRoles", apb.UserOrgRolesRequest(
        organization_id=org.organization_id, user_id=admin.user_id, role_ids=[111111111]),
        owner)
    st.sim_control(st.sims[0], {"op": "dept.upsert",
                                "dept": {"dept_id": 110, "name": "平台二部"}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    p = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "110"),
                admin.user_id).preview
    assert groups[110][0] in p.group_ids
    # the groups were created by the owner's sync: identity lets the owner
    # delete them on the administrator's behalf
    run = st.call("DeleteNode", delete_req(org, src, spb.NODE_KIND_DEPARTMENT, "110",
                                           p.confirmation_token), admin.user_id).run
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.operator_user_id == admin.user_id
    assert 110 not in dp.synced_groups(st, org.organization_id, src.corp_id)


def test_inline_run_lost_lease_frees_job(st):
    """A handler whose deletion run was taken from it fails with LEASE_LOST,
    writes nothing more to the run, and still frees its job and heartbeat.
    The run is closed here as a take-over would close it, while identity is
    paused."""
    org, owner, src = dp.new_source(st)
    p = st.call("ClearStructure", spb.ClearStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id).preview
    assert p.group_ids

    identity = st.identity_proc.proc
    identity.send_signal(signal.SIGSTOP)
    try:
        call = st.sync.ClearStructure.future(
            spb.ClearStructureRequest(organization_id=org.organization_id,
                                      source_id=src.source_id,
                                      confirmation_token=p.confirmation_token),
            metadata=synclib.rl.md(st.admin_token, owner.user_id), timeout=30)
        run_id = ""
        deadline = time.monotonic() + 10
        while not run_id and time.monotonic() < deadline:
            run_id = st.sql("SELECT id FROM sync.runs WHERE source_id = '%s' AND kind = 4 "
                            "AND status = 2" % src.source_id)
            time.sleep(0.05)
        assert run_id
        st.sql("UPDATE sync.runs SET fencing_token = fencing_token + 1, status = 6, "
               "finished_at = now(), error_reason = 'RUN_ABANDONED', "
               "lease_expires_at = NULL WHERE id = '%s'" % run_id)
    finally:
        identity.send_signal(signal.SIGCONT)

    with pytest.raises(grpc.RpcError) as e:
        call.result()
    assert e.value.code() == C.ABORTED, e.value
    assert "lost its lease" in e.value.details()

    run = st.sql("SELECT status, error_reason, n_deleted, n_failed, "
                 "(SELECT count(*) FROM sync.run_items WHERE run_id = r.id) "
                 "FROM sync.runs r WHERE id = '%s'" % run_id)
    assert run == "6|RUN_ABANDONED|0|0|0"

    # stop_replica asserts a clean exit. In a sanitizer build, LeakSanitizer
    # makes the exit code non-zero when the job leaked.
    st.restart_sync()


def test_delete_source_removes_structure(st):
    org, owner, src = dp.new_source(st, synced=False)
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    for table in ("departments", "members", "member_departments"):
        assert n_rows(st, table, src) > 0, table

    d = st.call("DeleteSource", spb.DeleteSourceRequest(organization_id=org.organization_id,
                                                        source_id=src.source_id),
                owner.user_id)
    assert d.source_id == src.source_id
    for table in ("departments", "members", "member_departments"):
        assert n_rows(st, table, src) == 0, table
    assert n_runs(st, src) == 1
