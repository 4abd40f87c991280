"""Start Sync of members: wide memberships, long names and nickname suffixes."""

import os

import pytest

import syncdp as dp
import synclib
from roster.sync.v1 import sync_pb2 as spb

DEPTS = [{"dept_id": 1, "name": "总部"}] + \
    [{"dept_id": 1000 + i, "name": "部门%03d" % i, "parent_id": 1} for i in range(160)]


def member(userid, name, depts, **fields):
    doc = {"userid": userid, "unionid": "u-" + userid, "name": name, "dept_id_list": depts}
    doc.update(fields)
    return doc


USERS = [
    member("many.depts", "多部门", [1000 + i for i in range(150)]),
    member("long.cut", "长" * 49 + " " + "尾", [1]),
    member("emoji60", "😀" * 60, [1]),
    member("emoji50", "😀" * 50, [1]),
    member("ext50", "𠮷" * 50, [1]),
    member("mixed", "Zhang 张 😀 Ω", [1]),
    # Names as people type them: identity rejects these characters in a
    # nickname, so Start Sync cleans them instead of failing the member.
    member("untidy.ends", " 李雷\u3000", [1]),
    member("untidy.zw", "韩\u200b梅梅\ufeff", [1]),
    member("untidy.tab", "Ana\tWang\n", [1]),
    member("untidy.cut", "长" * 49 + "\u3000尾", [1]),
]
USERS += [member("zw%02d" % i, "张伟", [1000 + i % 5]) for i in range(30)]
USERS += [member("wide%03d" % i, "宽%03d" % i, [1000 + (i + k) % 160 for k in range(25)])
          for i in range(100)]


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("sync_members"))
    fixture = synclib.write_fixture(work, dp.org_doc("dingmembers01", depts=DEPTS, users=USERS))
    with synclib.Stack(work, sims=[fixture], sim_args=[["--rate-limit", "0", "--ip-limit", "0"]],
                       sync_env={"ROSTER_SYNC_DINGTALK_RATE": "1000"}) as s:
        yield s


def synced(st, userids):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run = dp.update_structure(st, org, owner, src, timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src, userids=userids, timeout=180)
    rows = dp.by_ext([it for it in dp.check_counts(st, org, owner, run)
                      if it.node_kind == spb.NODE_KIND_MEMBER])
    return org, src, run, rows


def groups_of(st, user_id):
    text = st.sql("SELECT count(*) FROM identity.user_group_members WHERE user_id = '%s'"
                  % user_id)
    return int(text)


def test_member_in_150_departments(st):
    # identity takes 100 groups with the create; the rest are added after it.
    _, _, run, rows = synced(st, ["many.depts"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    item = rows["many.depts"]
    assert item.outcome == spb.ITEM_OUTCOME_CREATED, item
    assert groups_of(st, item.user_id) == 150


def test_wide_chunk_split_by_size(st):
    # 100 new members in 25 groups each take more than the 64 KiB message
    # limit of the test servers in one CreateUsers call.
    userids = ["wide%03d" % i for i in range(100)]
    _, _, run, rows = synced(st, userids)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    for userid in userids:
        assert rows[userid].outcome == spb.ITEM_OUTCOME_CREATED, rows[userid]
        assert groups_of(st, rows[userid].user_id) == 25, userid


def test_long_names_cut_to_limit(st):
    org, _, run, rows = synced(st, ["long.cut", "emoji60", "emoji50", "ext50", "mixed"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    users = dp.users_of(st, org.organization_id)
    by_id = {uid: nick for nick, (uid, _) in users.items()}
    nick = {}
    for userid in rows:
        assert rows[userid].outcome == spb.ITEM_OUTCOME_CREATED, rows[userid]
        nick[userid] = by_id[rows[userid].user_id]
    # A cut that would end in a space drops it.
    assert nick["long.cut"] == "长" * 49
    assert nick["ext50"] == "𠮷" * 50
    assert nick["mixed"] == "Zhang 张 😀 Ω"
    # Both emoji names cut to the same 50 code points, so the member later in
    # plan order gets a random suffix within the same limit.
    assert nick["emoji50"] == "😀" * 50
    assert nick["emoji60"].startswith("😀" * 45 + "-"), nick["emoji60"]
    assert len(nick["emoji60"]) == 50, nick["emoji60"]


def test_untidy_names_are_cleaned(st):
    org, _, run, rows = synced(st, ["untidy.ends", "untidy.zw", "untidy.tab", "untidy.cut"])
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    by_id = {uid: nick for nick, (uid, _) in dp.users_of(st, org.organization_id).items()}
    nick = {}
    for userid in rows:
        assert rows[userid].outcome == spb.ITEM_OUTCOME_CREATED, rows[userid]
        nick[userid] = by_id[rows[userid].user_id]
    assert nick["untidy.ends"] == "李雷"
    assert nick["untidy.zw"] == "韩梅梅"
    assert nick["untidy.tab"] == "Ana Wang"
    assert nick["untidy.cut"] == "长" * 49


def test_same_names_take_suffixes(st):
    userids = ["zw%02d" % i for i in range(30)]
    org, src, run, rows = synced(st, userids)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    users = dp.users_of(st, org.organization_id)
    nicks = [n for n in users if n.startswith("张伟")]
    assert len(nicks) == 30
    assert "张伟" in nicks
    binds = dp.bindings(st, org.organization_id)
    for userid in userids:
        assert rows[userid].outcome == spb.ITEM_OUTCOME_CREATED, rows[userid]
        assert binds[(src.corp_id, userid)][0] == rows[userid].user_id


def test_long_department_names_split_group_batches(tmp_path):
    # 100 new groups with 80-character names and paths take more than the
    # 64 KiB message limit of the test servers in one CreateUserGroups
    # reply, so identity refuses the reply before commit and Start Sync
    # sends the batch again in halves.
    depts = [{"dept_id": 1, "name": "总部"}] + \
        [{"dept_id": 2000 + i, "name": "长名部门%03d" % i + "研" * 73, "parent_id": 1}
         for i in range(100)]
    users = [member("lm%03d" % i, "成员%03d" % i, [2000 + i]) for i in range(100)]
    work = str(tmp_path)
    fixture = synclib.write_fixture(work, dp.org_doc("dinglongnames", depts=depts,
                                                     users=users))
    with synclib.Stack(work, sims=[fixture]) as st:
        org, owner = st.new_org_with_owner()
        src = st.create_source(st.sims[0], org, owner)
        run = dp.update_structure(st, org, owner, src, timeout=120)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        run = dp.start_sync(st, org, owner, src, department_ids=[1], timeout=180)
        assert run.status == spb.RUN_STATUS_SUCCEEDED, run
        assert run.counts.created == 101 + 100
        groups = dp.synced_groups(st, org.organization_id, src.corp_id)
        assert len(groups) == 101
        assert len(dp.group_members(st, groups[2099][0])) == 1
        with open(os.path.join(work, "identity.log"), errors="replace") as f:
            assert "RESPONSE_TOO_LARGE" in f.read()
