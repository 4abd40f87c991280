"""Update Structure against upstream changes scripted through the
simulator's control API. Renames flag NAME_CHANGED, and a later Start Sync
renames the group. Removals flag TO_BE_DELETED, and a node that comes back
loses the flag. A move updates memberships. Update Structure deletes
nothing."""

import pytest

import syncdp as dp
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    with dp.stack(tmp_path_factory, "sync_structure", "dingstructure01") as s:
        yield s


@pytest.fixture(scope="module")
def env(st):
    return dp.new_source(st)


def flagged(st, org, owner, src, flag):
    ms = dp.members(st, org, owner, src, flag=flag)
    ds = dp.departments(st, org, owner, src, flag=flag)
    return ms, ds


def test_renames_flag_name_changed(st, env):
    org, owner, src = env
    sim = st.sims[0]
    st.sim_control(sim, {"op": "user.upsert", "user": {"userid": "mei.han", "name": "韩梅"}})
    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 110, "name": "平台研发部",
                                                       "parent_id": 100}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert set(rows) == {"mei.han", "110"}
    for key in ("mei.han", "110"):
        assert rows[key].outcome == spb.ITEM_OUTCOME_FLAGGED
        assert rows[key].reason == "NAME_CHANGED"
    assert run.counts.flagged == 2
    ms, ds = flagged(st, org, owner, src, spb.NODE_FLAG_NAME_CHANGED)
    assert list(ms) == ["mei.han"]
    assert ms["mei.han"].previous_name == "韩梅梅"
    assert ms["mei.han"].name == "韩梅"
    assert list(ds) == [110]
    assert ds[110].previous_name == "平台部"
    # flagged departments in any depth below a parent
    assert list(dp.departments(st, org, owner, src, parent=1,
                               flag=spb.NODE_FLAG_NAME_CHANGED)) == [110]
    assert dp.departments(st, org, owner, src, parent=300,
                          flag=spb.NODE_FLAG_NAME_CHANGED) == {}
    # a rename alone breaks nothing: the group keeps its name until a sync
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert groups[110][1] == "平台部"

    # Start Sync renames the group and clears the department's flag
    run = dp.start_sync(st, org, owner, src, userids=["mei.han"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["110"].outcome == spb.ITEM_OUTCOME_UPDATED
    assert rows["110"].group_id == groups[110][0]
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert groups[110][1] == "平台研发部"
    ms, ds = flagged(st, org, owner, src, spb.NODE_FLAG_NAME_CHANGED)
    assert ds == {}
    assert list(ms) == ["mei.han"]


def test_removal_flags_to_be_deleted(st, env):
    org, owner, src = env
    sim = st.sims[0]
    users_before = dp.users_of(st, org.organization_id)
    st.sim_control(sim, {"op": "user.remove", "userid": "jie.zhou"})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert list(rows) == ["jie.zhou"]
    assert rows["jie.zhou"].outcome == spb.ITEM_OUTCOME_FLAGGED
    assert rows["jie.zhou"].reason == "TO_BE_DELETED"
    assert rows["jie.zhou"].user_id == users_before["周杰"][0]
    ms, _ = flagged(st, org, owner, src, spb.NODE_FLAG_TO_BE_DELETED)
    assert list(ms) == ["jie.zhou"]
    # nothing is deleted: the Roster user stays
    assert dp.users_of(st, org.organization_id) == users_before
    # a second run changes nothing more
    run = dp.update_structure(st, org, owner, src)
    assert dp.items(st, org, owner, run) == []

    # a department that disappears is flagged too
    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 400, "name": "临时部门",
                                                       "parent_id": 1}})
    run = dp.update_structure(st, org, owner, src)
    assert dp.by_ext(dp.items(st, org, owner, run))["400"].outcome == \
        spb.ITEM_OUTCOME_CREATED
    st.sim_control(sim, {"op": "dept.remove", "dept_id": 400})
    run = dp.update_structure(st, org, owner, src)
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["400"].reason == "TO_BE_DELETED"
    assert rows["400"].node_kind == spb.NODE_KIND_DEPARTMENT

    # the member comes back: the flag goes
    user = next(u for u in dp.BASE_USERS if u["userid"] == "jie.zhou")
    st.sim_control(sim, {"op": "user.upsert", "user": user})
    run = dp.update_structure(st, org, owner, src)
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["jie.zhou"].outcome == spb.ITEM_OUTCOME_UPDATED
    ms, _ = flagged(st, org, owner, src, spb.NODE_FLAG_TO_BE_DELETED)
    assert list(ms) == []


def test_move_updates_memberships(st, env):
    org, owner, src = env
    sim = st.sims[0]
    st.sim_control(sim, {"op": "user.upsert",
                         "user": {"userid": "ana.wang", "dept_id_list": [200],
                                  "title": "Analyst"}})
    run = dp.update_structure(st, org, owner, src)
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["ana.wang"].outcome == spb.ITEM_OUTCOME_UPDATED
    m = dp.members(st, org, owner, src)["ana.wang"]
    assert list(m.department_ids) == [200]
    assert m.title == "Analyst"

    run = dp.start_sync(st, org, owner, src, userids=["ana.wang"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["ana.wang"].outcome == spb.ITEM_OUTCOME_UPDATED
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    uid = m.roster_user_id
    assert uid in dp.group_members(st, groups[200][0])
    assert uid not in dp.group_members(st, groups[300][0])
    assert uid not in dp.group_members(st, groups[1111][0])


def test_department_move_moves_its_group(st, env):
    org, owner, src = env
    sim = st.sims[0]
    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 300, "parent_id": 100}})
    run = dp.update_structure(st, org, owner, src)
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["300"].outcome == spb.ITEM_OUTCOME_UPDATED
    assert dp.departments(st, org, owner, src, parent=100)[300].parent_department_id == 100
    run = dp.start_sync(st, org, owner, src, department_ids=[300])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert groups[300][2] == groups[100][0]
    assert groups[300][3] == 3


def test_unicode_and_long_names(st, env):
    org, owner, src = env
    sim = st.sims[0]
    long_name = "长" * 60
    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 500, "parent_id": 1,
                                                       "name": "表情部门 🎉👩‍💻"}})
    st.sim_control(sim, {"op": "user.upsert", "user": {
        "userid": "long.name", "unionid": "uLongName01", "name": long_name,
        "dept_id_list": [500]}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    found = st.call("SearchStructure", spb.SearchStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id, query="👩‍💻"),
        owner.user_id)
    assert [d.name for d in found.departments] == ["表情部门 🎉👩‍💻"]
    run = dp.start_sync(st, org, owner, src, department_ids=[500],
                        user_type=pb.USER_TYPE_VISITOR)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    users = dp.users_of(st, org.organization_id)
    assert "长" * 50 in users
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert groups[500][1] == "表情部门 🎉👩‍💻"


def test_names_synced_in_nfc(st, env):
    """DingTalk may send "é" decomposed one day and composed the next."""
    org, owner, src = env
    sim = st.sims[0]
    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 600, "parent_id": 1,
                                                       "name": "Cafe\u0301 部"}})
    st.sim_control(sim, {"op": "user.upsert", "user": {
        "userid": "nfc.user", "unionid": "uNfcUser01", "name": "Zoe\u0308",
        "dept_id_list": [600]}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert dp.members(st, org, owner, src, dept=600)["nfc.user"].name == "Zo\u00eb"
    assert dp.departments(st, org, owner, src, parent=1)[600].name == "Caf\u00e9 部"

    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 600, "parent_id": 1,
                                                       "name": "Caf\u00e9 部"}})
    st.sim_control(sim, {"op": "user.upsert", "user": {"userid": "nfc.user",
                                                       "name": "Zo\u00eb"}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert "nfc.user" not in rows
    assert "600" not in rows
    ms, ds = flagged(st, org, owner, src, spb.NODE_FLAG_NAME_CHANGED)
    assert "nfc.user" not in ms
    assert 600 not in ds

    run = dp.start_sync(st, org, owner, src, department_ids=[600])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert "Zo\u00eb" in dp.users_of(st, org.organization_id)
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert groups[600][1] == "Caf\u00e9 部"


def test_rerun_writes_only_the_run(st):
    """A second Update Structure and Start Sync with no upstream change write
    no row outside sync.runs: the lease lives in the run's row, and the
    source's structure_time is read from its runs."""
    org, owner, src = dp.new_source(st)
    before = dp.row_writes(st)
    assert "sync.sources" in before
    assert "identity.users" in before
    assert "sync.runs" not in before

    structure = dp.update_structure(st, org, owner, src)
    assert structure.status == spb.RUN_STATUS_SUCCEEDED, structure
    assert structure.attempts == 1
    assert structure.fencing_token == 1
    assert dp.items(st, org, owner, structure) == []
    assert structure.counts.unchanged == structure.total_items > 0
    sync = dp.start_sync(st, org, owner, src, department_ids=[1])
    assert sync.status == spb.RUN_STATUS_SUCCEEDED, sync
    assert dp.items(st, org, owner, sync) == []
    assert sync.counts.unchanged == sync.total_items > 0
    assert dp.diff_writes(before, st=st) == {}

    # structure_time is the finish time of the latest successful Update Structure
    source = st.call("GetSource", spb.GetSourceRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id)
    assert source.structure_time == structure.finish_time

    # a failed Update Structure leaves it as it was
    st.sim_control(st.sims[0], {"op": "config", "denied_apis": ["topapi/v2/user/list"]})
    try:
        failed = dp.update_structure(st, org, owner, src)
    finally:
        st.sim_control(st.sims[0], {"op": "config", "denied_apis": []})
    assert failed.status == spb.RUN_STATUS_FAILED, failed
    source = st.call("GetSource", spb.GetSourceRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id)
    assert source.structure_time == structure.finish_time

    # diff_writes reports an UPDATE that changes no value
    before = dp.row_writes(st)
    st.sql("UPDATE sync.sources SET name = name WHERE id = '%s'" % src.source_id)
    assert dp.diff_writes(before, st=st) == {
        "sync.sources": {"rows_before": len(before["sync.sources"]),
                         "rows_after": len(before["sync.sources"]), "written": 1,
                         "removed": 1}}
