"""The seed workflow of directory sync, end to end through a real gRPC client
against the DingTalk simulator. It authorises an enterprise, runs Update
Structure, reads the tree, and syncs a subtree and named people. Then it
repeats everything with no upstream change and checks that no row is
written."""

import pytest

import syncdp as dp
import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

PERMISSION_ADMIN = 111111112
REGULAR = 111111113


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    with dp.stack(tmp_path_factory, "sync_workflow", "dingworkflow01") as s:
        yield s


@pytest.fixture(scope="module")
def env(st):
    return dp.new_source(st, synced=False)


def test_update_structure_stores_the_tree(st, env):
    org, owner, src = env
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.kind == spb.RUN_KIND_UPDATE_STRUCTURE
    rows = dp.check_counts(st, org, owner, run)
    assert run.counts.created == len(dp.BASE_DEPTS) + len(dp.BASE_USERS)
    assert run.counts.unchanged == 0
    assert all(it.outcome == spb.ITEM_OUTCOME_CREATED for it in rows)
    # departments first (parents before children by id), then members
    kinds = [it.node_kind for it in sorted(rows, key=lambda it: it.seq)]
    assert kinds == sorted(kinds, reverse=True)

    roots = dp.departments(st, org, owner, src)
    assert list(roots) == [1]
    assert roots[1].child_count == 3
    assert roots[1].member_count == 1
    assert roots[1].parent_department_id == 0
    kids = dp.departments(st, org, owner, src, parent=1)
    assert sorted(kids) == [100, 200, 300]
    assert kids[300].name == "Data Platform"

    everyone = dp.members(st, org, owner, src)
    assert sorted(everyone) == sorted(u["userid"] for u in dp.BASE_USERS)
    assert list(everyone["lei.li"].department_ids) == [100, 300]
    assert everyone["lei.li"].title == "BI engineer"
    assert everyone["lei.li"].flag == spb.NODE_FLAG_NONE
    assert everyone["ji.ouyang"].name == "欧阳𠮷"
    direct = dp.members(st, org, owner, src, dept=110, recursive=False)
    assert sorted(direct) == ["mei.han"]
    sub = dp.members(st, org, owner, src, dept=110, recursive=True)
    assert sorted(sub) == ["ana.wang", "deep.one", "ji.ouyang", "jie.zhou", "mei.han"]

    found = st.call("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query="data"),
        owner.user_id)
    assert [d.department_id for d in found.departments] == [300]
    found = st.call("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query="🚀"),
        owner.user_id)
    assert [m.userid for m in found.members] == ["deep.one"]

    source = st.call("GetSource", spb.GetSourceRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id)
    assert source.HasField("structure_time")


def test_reads_by_any_user_and_refusals(st, env):
    org, owner, src = env
    reader = st.new_user(org, owner, user_type=pb.USER_TYPE_VISITOR)
    got = st.call("ListDepartments", spb.ListDepartmentsRequest(
        organization_id=org.organization_id, source_id=src.source_id), reader.user_id)
    assert [d.department_id for d in got.departments] == [1]
    code = dp.OK
    st.refused("ListMembers", spb.ListMembersRequest(
        organization_id=org.organization_id, source_id=src.source_id, department_id=999),
        code.NOT_FOUND, "DEPARTMENT_NOT_FOUND", owner.user_id)
    st.refused("ListDepartments", spb.ListDepartmentsRequest(
        organization_id=org.organization_id, source_id="0" * 32),
        code.NOT_FOUND, "SOURCE_NOT_FOUND", owner.user_id)
    st.refused("ListDepartments", spb.ListDepartmentsRequest(
        organization_id=org.organization_id, source_id="bad"),
        code.INVALID_ARGUMENT, "INVALID_ID", owner.user_id)
    st.refused("ListMembers", spb.ListMembersRequest(
        organization_id=org.organization_id, source_id=src.source_id, page_size=5000),
        code.INVALID_ARGUMENT, "PAGE_SIZE_INVALID", owner.user_id)
    st.refused("ListMembers", spb.ListMembersRequest(
        organization_id=org.organization_id, source_id=src.source_id, page_token="xyz"),
        code.INVALID_ARGUMENT, "PAGE_TOKEN_INVALID", owner.user_id)
    st.refused("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query=""),
        code.INVALID_ARGUMENT, "FIELD_INVALID", owner.user_id)
    st.refused("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query="x" * 51),
        code.INVALID_ARGUMENT, "FIELD_INVALID", owner.user_id)
    st.refused("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query="x",
        limit=101), code.INVALID_ARGUMENT, "FIELD_INVALID", owner.user_id)
    # a search for LIKE's wildcards matches them literally
    got = st.call("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query="%"),
        owner.user_id)
    assert not got.departments
    assert not got.members


def test_start_sync_subtree_as_analysts(st, env):
    org, owner, src = env
    run = dp.start_sync(st, org, owner, src, department_ids=[110],
                        user_type=pb.USER_TYPE_ANALYST)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.check_counts(st, org, owner, run)
    got = dp.by_ext(rows)
    # departments 1, 100, 110, 111, 1111 (levels 1-5); 11111 and 111111 map
    # to 1111's group; members of the subtree only
    assert {k for k, it in got.items() if it.node_kind == spb.NODE_KIND_DEPARTMENT} == \
        {"1", "100", "110", "111", "1111", "300"}
    assert {k for k, it in got.items() if it.node_kind == spb.NODE_KIND_MEMBER} == \
        {"mei.han", "jie.zhou", "ji.ouyang", "deep.one", "ana.wang"}
    assert all(it.outcome == spb.ITEM_OUTCOME_CREATED for it in rows)
    assert run.total_items == len(rows)
    assert run.done_items == len(rows)

    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert sorted(groups) == [1, 100, 110, 111, 300, 1111]
    assert groups[1][2] == ""
    assert groups[1][3] == 1
    assert groups[100][2] == groups[1][0]
    assert groups[1111][3] == 5
    assert groups[1111][2] == groups[111][0]
    assert groups[1111][1] == "实时计算小组"

    users = dp.users_of(st, org.organization_id)
    for nick in ("韩梅梅", "周杰", "欧阳𠮷", "深层 🚀 员工", "Ana Wang"):
        assert users[nick][1] == pb.USER_TYPE_ANALYST
    assert "李雷" not in users
    uid = {n: users[n][0] for n in users}
    assert dp.group_members(st, groups[1111][0]) == {uid["欧阳𠮷"], uid["深层 🚀 员工"],
                                                     uid["Ana Wang"]}
    assert dp.group_members(st, groups[300][0]) == {uid["Ana Wang"]}
    assert dp.group_members(st, groups[110][0]) == {uid["韩梅梅"]}
    assert dp.group_members(st, groups[1][0]) == set()

    binds = dp.bindings(st, org.organization_id)
    assert binds[(src.corp_id, "mei.han")] == (uid["韩梅梅"], "uMeiHan01")
    assert got["mei.han"].user_id == uid["韩梅梅"]
    assert dp.org_roles(st, uid["韩梅梅"]) == set()  # Regular User has no row

    m = dp.members(st, org, owner, src)
    assert m["mei.han"].roster_user_id == uid["韩梅梅"]
    assert m["lei.li"].roster_user_id == ""
    d = dp.departments(st, org, owner, src, parent=100)
    assert d[110].group_id == groups[110][0]


def test_start_sync_people_as_permission_admins(st, env):
    org, owner, src = env
    run = dp.start_sync(st, org, owner, src, userids=["lei.li", "boss01"],
                        user_type=pb.USER_TYPE_DEVELOPER, roles=[PERMISSION_ADMIN])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.check_counts(st, org, owner, run)
    got = dp.by_ext(rows)
    assert got["lei.li"].outcome == spb.ITEM_OUTCOME_CREATED
    assert got["boss01"].outcome == spb.ITEM_OUTCOME_CREATED
    users = dp.users_of(st, org.organization_id)
    lei = users["李雷"][0]
    assert users["李雷"][1] == pb.USER_TYPE_DEVELOPER
    assert dp.org_roles(st, lei) == {PERMISSION_ADMIN}
    roles = st.authz.GetUserOrgRoles(
        synclib.apb.GetUserOrgRolesRequest(organization_id=org.organization_id,
                                           user_id=lei),
        metadata=synclib.rl.md(st.admin_token, owner.user_id), timeout=20)
    assert list(roles.role_ids) == [PERMISSION_ADMIN]
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert lei in dp.group_members(st, groups[100][0])
    assert lei in dp.group_members(st, groups[300][0])
    assert users["王总"][0] in dp.group_members(st, groups[1][0])
    # the profile comes from the directory
    text = st.sql("SELECT email FROM identity.users WHERE id = '%s'" % lei)
    assert text == "lilei@example.org"


def test_no_upstream_change_writes_no_rows(st, env):
    org, owner, src = env
    before = dp.row_writes(st)
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert dp.items(st, org, owner, run) == []
    assert run.counts.unchanged == len(dp.BASE_DEPTS) + len(dp.BASE_USERS)
    sync1 = dp.start_sync(st, org, owner, src, department_ids=[110],
                          user_type=pb.USER_TYPE_ANALYST)
    sync2 = dp.start_sync(st, org, owner, src, userids=["lei.li", "boss01"],
                          user_type=pb.USER_TYPE_DEVELOPER, roles=[PERMISSION_ADMIN])
    for r in (sync1, sync2):
        assert r.status == spb.RUN_STATUS_SUCCEEDED, r
        assert dp.items(st, org, owner, r) == []
        assert r.counts.unchanged == r.total_items == r.done_items > 0
    assert dp.diff_writes(before, st=st) == {}


def test_start_sync_roles_for_visitors_fail_per_item(st, env):
    org, owner, src = env
    run = dp.start_sync(st, org, owner, src, userids=["na.zhang"],
                        user_type=pb.USER_TYPE_VISITOR, roles=[PERMISSION_ADMIN])
    assert run.status == spb.RUN_STATUS_PARTIAL, run
    rows = dp.check_counts(st, org, owner, run)
    item = dp.by_ext(rows)["na.zhang"]
    assert item.outcome == spb.ITEM_OUTCOME_FAILED
    assert item.reason
    assert item.message


def test_explicit_unknown_member_is_a_failed_item(st, env):
    org, owner, src = env
    try:
        run = dp.start_sync(st, org, owner, src, userids=["nobody.here"],
                            user_type=pb.USER_TYPE_ANALYST)
    except Exception as e:  # the run handler may refuse unknown userids itself
        synclib.rl.check_refusal(e, dp.OK.NOT_FOUND, "MEMBER_NOT_FOUND")
        return
    rows = dp.check_counts(st, org, owner, run)
    assert dp.by_ext(rows)["nobody.here"].reason == "MEMBER_NOT_FOUND"
