"""Update Structure and Start Sync when things go wrong upstream or in
Roster. A shrunk visibility scope trips the deletion guard, and a 50004
branch is skipped with a warning. 60011 fails the run naming the
permission, and seat caps fail single items. One person in two enterprises
is one user, and nickname clashes get the source's suffix."""

import re

import pytest

import syncdp as dp
import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

SHARED = {"userid": "shared.a", "unionid": "uSharedPerson01", "name": "共享者",
          "dept_id_list": [1], "email": "shared@corp-a.example", "mobile": "13900000001"}


def corp_b_doc():
    users = [dict(SHARED, userid="shared.b", email="shared@corp-b.example",
                  mobile="13900000002"),
             {"userid": "b.only", "unionid": "uBOnly01", "name": "乙方员工",
              "dept_id_list": [1]}]
    return dp.org_doc("dingrobustb01", depts=[{"dept_id": 1, "name": "乙公司"}], users=users)


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("sync_robustness"))
    a = synclib.write_fixture(work, dp.org_doc("dingrobusta01",
                                               users=dp.BASE_USERS + [SHARED]))
    b = synclib.write_fixture(work, corp_b_doc())
    with synclib.Stack(work, sims=[a, b]) as s:
        yield s


def fresh(st, sim=0, **caps):
    org, owner = st.new_org_with_owner(**caps)
    src = st.create_source(st.sims[sim], org, owner)
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    return org, owner, src


def stored_state(st, src):
    return st.sql("SELECT string_agg(userid || ':' || flag, ',' ORDER BY userid) "
                  "FROM sync.members WHERE source_id = '%s'" % src.source_id)


def test_scope_shrink_trips_guard(st):
    sim = st.sims[0]
    org, owner, src = fresh(st)
    run = dp.start_sync(st, org, owner, src, department_ids=[1])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    try:
        st.sim_control(sim, {"op": "scope.set", "dept_ids": [300], "user_ids": []})
        before = stored_state(st, src)
        marks = dp.row_writes(st)
        run = dp.update_structure(st, org, owner, src)
        assert run.status == spb.RUN_STATUS_FAILED, run
        assert run.error_reason == "DELETION_GUARD_TRIPPED"
        assert "force" in run.error_message
        # 7 of the 9 synced members would go: the numbers are in the message
        assert re.search(r"\b7 of 9\b", run.error_message), run.error_message
        assert not run.forced
        assert dp.items(st, org, owner, run) == []
        assert stored_state(st, src) == before
        assert dp.diff_writes(marks, st=st) == {}

        run = dp.update_structure(st, org, owner, src, force=True)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        assert run.forced
        rows = dp.check_counts(st, org, owner, run)
        gone = {it.external_id for it in rows if it.reason == "TO_BE_DELETED"}
        assert {"boss01", "mei.han", "jie.zhou", "ji.ouyang", "deep.one",
                "shared.a", "na.zhang", "1", "100", "110", "111", "1111", "11111", "111111",
                "200"} == gone
        # 300 became a scope root; its members stay
        assert dp.departments(st, org, owner, src)[300].flag == spb.NODE_FLAG_NONE
    finally:
        st.sim_control(sim, {"op": "scope.set", "dept_ids": [1], "user_ids": []})


def test_out_of_scope_branch_skipped(st):
    sim = st.sims[0]
    st.sim_control(sim, {"op": "scope.set", "dept_ids": [100, 200], "user_ids": []})
    try:
        org, owner, src = fresh(st)
        before = stored_state(st, src)
        # reading the second scope root returns 50004
        st.sim_control(sim, {"op": "fault.add", "api": "topapi/v2/department/get",
                             "kind": "error", "errcode": 50004, "at": 2, "count": 1})
        run = dp.update_structure(st, org, owner, src)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        assert len(run.warnings) == 1, run.warnings
        skipped = re.search(r"department (\d+) could not be read", run.warnings[0])
        assert skipped, run.warnings
        assert "50004" in run.warnings[0], run.warnings
        assert dp.items(st, org, owner, run) == []
        assert stored_state(st, src) == before
        assert dp.members(st, org, owner, src, flag=spb.NODE_FLAG_TO_BE_DELETED) == {}
        assert dp.departments(st, org, owner, src,
                              flag=spb.NODE_FLAG_TO_BE_DELETED) == {}
    finally:
        st.sim_control(sim, {"op": "fault.clear"})
        st.sim_control(sim, {"op": "scope.set", "dept_ids": [1], "user_ids": []})


def test_not_found_branch_skipped(st):
    """One 60003 from a department's member list (a glitch, or deleted
    mid-walk) skips the branch with a warning; its members are not read as
    departures."""
    sim = st.sims[0]
    org, owner, src = fresh(st)
    dp.start_sync(st, org, owner, src, department_ids=[1])
    before = stored_state(st, src)
    st.sim_control(sim, {"op": "fault.add", "api": "topapi/v2/user/list",
                         "kind": "error", "errcode": 60003, "at": 2, "count": 1})
    try:
        run = dp.update_structure(st, org, owner, src)
    finally:
        st.sim_control(sim, {"op": "fault.clear"})
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert len(run.warnings) == 1, run.warnings
    assert "60003" in run.warnings[0], run.warnings
    assert stored_state(st, src) == before
    assert dp.members(st, org, owner, src, flag=spb.NODE_FLAG_TO_BE_DELETED) == {}


@pytest.mark.parametrize("field", ["name", "unionid", "userid"])
def test_hidden_field_fails_run(st, field):
    """A member field DingTalk leaves out (no field permission) fails the
    run: it is never read as a rename, a new person or a departure."""
    sim = st.sims[0]
    org, owner, src = fresh(st)
    before = stored_state(st, src)
    names = st.sql("SELECT string_agg(name || unionid, ',' ORDER BY userid) "
                   "FROM sync.members WHERE source_id = '%s'" % src.source_id)
    st.sim_control(sim, {"op": "config", "hidden_fields": [field]})
    try:
        run = dp.update_structure(st, org, owner, src)
    finally:
        st.sim_control(sim, {"op": "config", "hidden_fields": []})
    assert run.status == spb.RUN_STATUS_FAILED, run
    assert run.error_reason == "DINGTALK_FIELD_MISSING"
    assert '"%s"' % field in run.error_message, run.error_message
    assert stored_state(st, src) == before
    assert st.sql("SELECT string_agg(name || unionid, ',' ORDER BY userid) "
                  "FROM sync.members WHERE source_id = '%s'" % src.source_id) == names


def test_missing_permission_fails_run(st):
    sim = st.sims[0]
    org, owner, src = fresh(st)
    before = stored_state(st, src)
    st.sim_control(sim, {"op": "config", "denied_apis": ["topapi/v2/user/list"]})
    try:
        run = dp.update_structure(st, org, owner, src)
    finally:
        st.sim_control(sim, {"op": "config", "denied_apis": []})
    assert run.status == spb.RUN_STATUS_FAILED, run
    assert run.error_reason == "DINGTALK_PERMISSION_DENIED"
    assert "user/list" in run.error_message or "qyapi" in run.error_message, run
    assert run.counts.created == run.counts.flagged == 0
    assert stored_state(st, src) == before


def test_seat_cap_fails_items(st):
    org, owner, src = fresh(st, total=100, analysts=2)
    run = dp.start_sync(st, org, owner, src, department_ids=[110],
                        user_type=pb.USER_TYPE_ANALYST)
    assert run.status == spb.RUN_STATUS_PARTIAL, run
    rows = dp.check_counts(st, org, owner, run)
    members = [it for it in rows if it.node_kind == spb.NODE_KIND_MEMBER]
    created = [it for it in members if it.outcome == spb.ITEM_OUTCOME_CREATED]
    failed = [it for it in members if it.outcome == spb.ITEM_OUTCOME_FAILED]
    assert len(created) == 2, members
    assert len(failed) == 3, members
    assert {it.reason for it in failed} == {"SEAT_LIMIT_REACHED"}
    assert all(it.message for it in failed)
    # the members after the cap are still tried: the run did not stop
    assert max(it.seq for it in failed) > max(it.seq for it in created) or \
        min(it.seq for it in failed) > min(it.seq for it in created)
    # the total cap is reported by its own reason
    org, owner, src = fresh(st, total=2)
    run = dp.start_sync(st, org, owner, src, userids=["lei.li", "mei.han"],
                        user_type=pb.USER_TYPE_DEVELOPER)
    assert run.status == spb.RUN_STATUS_PARTIAL, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["lei.li"].outcome == spb.ITEM_OUTCOME_CREATED
    assert rows["mei.han"].reason == "TOTAL_SEAT_LIMIT_REACHED"


def test_two_enterprises_one_user(st):
    org, owner = st.new_org_with_owner()
    src_a = st.create_source(st.sims[0], org, owner)
    src_b = st.create_source(st.sims[1], org, owner)
    for src in (src_a, src_b):
        run = dp.update_structure(st, org, owner, src)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src_a, userids=["shared.a"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    uid = dp.by_ext(dp.items(st, org, owner, run))["shared.a"].user_id
    run = dp.start_sync(st, org, owner, src_b, userids=["shared.b", "b.only"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["shared.b"].outcome == spb.ITEM_OUTCOME_UPDATED
    assert rows["shared.b"].user_id == uid
    assert rows["b.only"].outcome == spb.ITEM_OUTCOME_CREATED
    users = dp.users_of(st, org.organization_id)
    assert [n for n in users if n.startswith("共享者")] == ["共享者"]
    binds = dp.bindings(st, org.organization_id)
    assert binds[(src_a.corp_id, "shared.a")] == (uid, "uSharedPerson01")
    assert binds[(src_b.corp_id, "shared.b")] == (uid, "uSharedPerson01")
    # the profile comes from the last sync
    text = st.sql("SELECT email || ' ' || phone FROM identity.users WHERE id = '%s'" % uid)
    assert text == "shared@corp-b.example 13900000002"
    # it is in the groups of both enterprises
    ga = dp.synced_groups(st, org.organization_id, src_a.corp_id)
    gb = dp.synced_groups(st, org.organization_id, src_b.corp_id)
    assert uid in dp.group_members(st, ga[1][0])
    assert uid in dp.group_members(st, gb[1][0])
    # a sync of one enterprise leaves the other's groups alone
    run = dp.start_sync(st, org, owner, src_b, userids=["shared.b"])
    assert uid in dp.group_members(st, ga[1][0])


def test_nickname_clash_suffix(st):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner,
                           nickname_suffix=spb.NICKNAME_SUFFIX_JOB_NUMBER)
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    st.new_user(org, owner, nickname="李雷")
    st.new_user(org, owner, nickname="周杰")
    run = dp.start_sync(st, org, owner, src, userids=["lei.li", "jie.zhou"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    users = dp.users_of(st, org.organization_id)
    assert "李雷-E0001" in users  # the job number
    # no job number: a random four-digit suffix
    assert [n for n in users if re.fullmatch(r"周杰-\d{4}", n)], sorted(users)
    # a repeated sync finds the users by their binding, not by nickname
    run = dp.start_sync(st, org, owner, src, userids=["lei.li", "jie.zhou"])
    assert dp.items(st, org, owner, run) == []


def test_type_change_conflict_fails_item(st):
    org, owner, src = fresh(st)
    run = dp.start_sync(st, org, owner, src, userids=["lei.li"],
                        user_type=pb.USER_TYPE_DEVELOPER, roles=[111111112])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src, userids=["lei.li"],
                        user_type=pb.USER_TYPE_VISITOR)
    assert run.status == spb.RUN_STATUS_PARTIAL, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["lei.li"].reason == "TYPE_CHANGE_CONFLICT"


def test_large_organisation_structure(tmp_path):
    work = str(tmp_path)
    fixture = synclib.generate(work, 20000, 11)
    with synclib.Stack(work, sims=[fixture],
                       sim_args=[["--rate-limit", "0", "--ip-limit", "0"]],
                       sync_env={"ROSTER_SYNC_DINGTALK_RATE": "1000"}) as st:
        org, owner = st.new_org_with_owner()
        src = st.create_source(st.sims[0], org, owner)
        n_nodes = len(st.sims[0].doc["departments"]) + len(st.sims[0].doc["users"])
        run = dp.update_structure(st, org, owner, src, timeout=120)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        assert run.counts.created + run.counts.flagged <= n_nodes
        assert run.counts.created == run.total_items > 20000
        assert run.duration_ms < 60000, run.duration_ms
        marks = dp.row_writes(st)
        run = dp.update_structure(st, org, owner, src, timeout=120)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        assert run.counts.unchanged == run.total_items > 20000
        assert dp.items(st, org, owner, run) == []
        assert dp.diff_writes(marks, st=st) == {}


def holder_pid(st, src):
    text = st.sql("SELECT lease_holder FROM sync.runs WHERE source_id = '%s' "
                  "ORDER BY created_at DESC LIMIT 1" % src.source_id)
    return int(text.split(":")[1]) if text else None


def test_killed_worker_run_resumes(tmp_path):
    # Enough members that the run is still going when the poll below finds
    # its first chunk recorded, because members are created 100 to a call.
    users = [{"userid": "u%04d" % i, "unionid": "uU%04d" % i, "name": "成员%04d" % i,
              "dept_id_list": [10 if i % 2 else 20]} for i in range(3000)]
    depts = [{"dept_id": 1, "name": "总公司"},
             {"dept_id": 10, "name": "单数部", "parent_id": 1},
             {"dept_id": 20, "name": "双数部", "parent_id": 1}]
    work = str(tmp_path)
    fixture = synclib.write_fixture(work, dp.org_doc("dingresume01", depts=depts,
                                                     users=users))
    with synclib.Stack(work, sims=[fixture], replicas=2) as st:
        org, owner = st.new_org_with_owner(total=5000)
        src = st.create_source(st.sims[0], org, owner)
        run = dp.update_structure(st, org, owner, src)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        resp = st.call("StartSync", spb.StartSyncRequest(
            organization_id=org.organization_id, source_id=src.source_id,
            department_ids=[1], user_type=pb.USER_TYPE_ANALYST), owner.user_id)
        run_id = resp.run.run_id
        deadline = synclib.time.monotonic() + 60
        while synclib.time.monotonic() < deadline:
            done = int(st.sql("SELECT done_items FROM sync.runs WHERE id = '%s'" % run_id))
            if done >= 30:
                break
            synclib.time.sleep(0.02)
        pid = holder_pid(st, src)
        victim = next(r for r in st.replicas if r.proc.pid == pid)
        st.kill_replica(victim)
        # Chunks are recorded whole and in plan order, so the checkpoint is
        # past the 3 departments and at least one chunk of 100 members. The
        # survivor then passes that chunk with nothing left to apply.
        checkpoint = int(st.sql("SELECT checkpoint FROM sync.runs WHERE id = '%s'" % run_id))
        assert checkpoint >= 103, checkpoint
        survivor = st.replicas[0]
        run = st.wait_run(org.organization_id, run_id, owner.user_id, timeout=90,
                          replica=survivor)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        assert run.attempts == 2, run
        st.sync = st.stub_for(survivor)
        rows = dp.check_counts(st, org, owner, run)
        c = run.counts
        assert c.created + c.updated + c.unchanged == run.total_items == 3003
        assert run.done_items == run.total_items
        assert len({it.seq for it in rows}) == len(rows)
        # one user and one binding per member, whichever holder made it
        binds = dp.bindings(st, org.organization_id)
        assert len(binds) == 3000
        assert len({uid for uid, _ in binds.values()}) == 3000
        assert len(dp.users_of(st, org.organization_id)) == 3001
        groups = dp.synced_groups(st, org.organization_id, src.corp_id)
        assert len(dp.group_members(st, groups[10][0])) == 1500
        assert len(dp.group_members(st, groups[20][0])) == 1500
        # and a repeated sync finds nothing to do
        run = dp.start_sync(st, org, owner, src, department_ids=[1])
        assert dp.items(st, org, owner, run) == []
