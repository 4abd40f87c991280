"""Start Sync against a roster-identity whose ROSTER_MAX_MESSAGE_BYTES is
3 KiB. At that limit every batch call of Start Sync has to be split. For
CreateUserGroups both the request and the reply are too large. A
CreateUsers member entry takes about 1 KB, and 100 user ids of
AddUserGroupMembers or RemoveUserGroupMembers take 3.5 KB. One ordinary
entry still fits. A member in 100 departments does not, because its
CreateUsers entry carries 100 group ids (4.3 KB)."""

import os

import pytest

import syncdp as dp
import synclib
from roster.sync.v1 import sync_pb2 as spb

LIMIT = 3072
OLD = 3998  # every ordinary member's department at first
NEW = 3999  # replaces OLD in test_moved_members_split_batches
N_MEMBERS = 150

DEPTS = [{"dept_id": 1, "name": "总部"}] + \
    [{"dept_id": 3000 + i, "name": "部门%03d" % i + "研" * 57, "parent_id": 1}
     for i in range(100)] + \
    [{"dept_id": OLD, "name": "旧项目组" + "研" * 56, "parent_id": 1},
     {"dept_id": NEW, "name": "新项目组" + "研" * 56, "parent_id": 1}]


def member(userid, name, depts):
    return {"userid": userid, "unionid": "u-" + userid, "name": name, "dept_id_list": depts}


def ordinary_depts(i):
    # Four distinct long-named departments per member, spread over all 100.
    return [3000 + (i * 7 + k * 31) % 100 for k in range(4)]


def users(extra_dept):
    out = [member("m%03d" % i, "成员%03d" % i + "华" * 40, ordinary_depts(i) + [extra_dept])
           for i in range(N_MEMBERS)]
    out.append(member("giant", "巨" * 50, [3000 + i for i in range(100)]))
    return out


ORDINARY = ["m%03d" % i for i in range(N_MEMBERS)]


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("sync_message_limit"))
    fixture = synclib.write_fixture(work, dp.org_doc("dingmsglimit01", depts=DEPTS,
                                                     users=users(OLD)))
    with synclib.Stack(work, sims=[fixture],
                       sim_args=[["--rate-limit", "0", "--ip-limit", "0"]],
                       sync_env={"ROSTER_SYNC_DINGTALK_RATE": "1000"},
                       identity_env={"ROSTER_MAX_MESSAGE_BYTES": str(LIMIT)}) as s:
        yield s


def sync_members(st, org, owner, src, userids):
    run = dp.start_sync(st, org, owner, src, userids=userids, timeout=300)
    rows = dp.check_counts(st, org, owner, run)
    members = dp.by_ext([it for it in rows if it.node_kind == spb.NODE_KIND_MEMBER])
    depts = dp.by_ext([it for it in rows if it.node_kind == spb.NODE_KIND_DEPARTMENT])
    return run, members, depts


def groups_of_user(st, user_id):
    text = st.sql("SELECT group_id FROM identity.user_group_members WHERE user_id = '%s'"
                  % user_id)
    return set(text.split()) if text else set()


@pytest.fixture(scope="module")
def synced(st):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run = dp.update_structure(st, org, owner, src, timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run, members, depts = sync_members(st, org, owner, src, ORDINARY)
    return org, owner, src, run, members, depts


def test_small_limit_no_failed_items(st, synced):
    org, _, src, run, members, depts = synced
    failed = [(it.external_id, it.reason, it.message) for it in
              list(members.values()) + list(depts.values())
              if it.outcome == spb.ITEM_OUTCOME_FAILED]
    assert failed == []
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.counts.failed == 0, run.counts
    # The root, the 100 long-named departments and OLD.
    assert run.counts.created == 102 + N_MEMBERS, run.counts
    for dept_id in [1, OLD] + [3000 + i for i in range(100)]:
        assert depts[str(dept_id)].outcome == spb.ITEM_OUTCOME_CREATED, depts[str(dept_id)]


def test_small_limit_members_get_groups(st, synced):
    org, _, src, _, members, _ = synced
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    for i, userid in enumerate(ORDINARY):
        item = members[userid]
        assert item.outcome == spb.ITEM_OUTCOME_CREATED, item
        want = {groups[d][0] for d in ordinary_depts(i) + [OLD]}
        assert groups_of_user(st, item.user_id) == want, userid
    binds = dp.bindings(st, org.organization_id)
    for userid in ORDINARY:
        assert binds[(src.corp_id, userid)][0] == members[userid].user_id


def test_small_limit_splits_were_needed(st, synced):
    # The sync logs the first request identity rejected in a run, and
    # identity logs the replies it would not send.
    assert "identity rejected a request as too large" in st.sync_logs()
    with open(os.path.join(st.workdir, "identity.log"), errors="replace") as f:
        assert "RESPONSE_TOO_LARGE" in f.read()


def test_moved_members_split_batches(st, synced):
    # Moving every member from OLD to NEW adds 150 existing users to one
    # group and removes them from another, in batches of up to 100 ids.
    org, owner, src, _, first, _ = synced
    doc = dp.org_doc("dingmsglimit01", depts=DEPTS, users=users(NEW))
    st.sim_control(st.sims[0], {"op": "fixture.replace", "fixture": doc})
    run = dp.update_structure(st, org, owner, src, timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run, members, _ = sync_members(st, org, owner, src, ORDINARY)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.counts.failed == 0, run.counts
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    user_ids = {first[userid].user_id for userid in ORDINARY}
    assert dp.group_members(st, groups[NEW][0]) == user_ids
    assert dp.group_members(st, groups[OLD][0]) == set()
    for userid in ORDINARY:
        assert members[userid].outcome == spb.ITEM_OUTCOME_UPDATED, members[userid]
        assert members[userid].user_id == first[userid].user_id


def test_entry_too_large_alone_fails(st):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run = dp.update_structure(st, org, owner, src, timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run, members, depts = sync_members(st, org, owner, src, ["giant"] + ORDINARY[:20])
    assert run.status == spb.RUN_STATUS_PARTIAL, run
    assert run.counts.failed == 1, run.counts
    giant = members["giant"]
    assert giant.outcome == spb.ITEM_OUTCOME_FAILED, giant
    assert giant.reason == "REQUEST_TOO_LARGE", giant
    assert "CreateUsers" in giant.message, giant.message
    assert "ROSTER_MAX_MESSAGE_BYTES" in giant.message, giant.message
    assert giant.user_id == ""
    assert ("dingmsglimit01", "giant") not in dp.bindings(st, org.organization_id)
    for userid in ORDINARY[:20]:
        assert members[userid].outcome == spb.ITEM_OUTCOME_CREATED, members[userid]
    for item in depts.values():
        assert item.outcome == spb.ITEM_OUTCOME_CREATED, item
