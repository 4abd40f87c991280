"""Directory names as people type them: spaces at the ends, tabs, zero-width
characters. roster-sync cleans names when it fetches them, so the stored
structure, its rename flags, groups and nicknames agree, and a department
whose group fails is named on the items of its members."""

import pytest

import syncdp as dp
from roster.sync.v1 import sync_pb2 as spb

DEPTS = [
    {"dept_id": 1, "name": "公司"},
    {"dept_id": 100, "name": "  研发中心 ", "parent_id": 1},
    {"dept_id": 107, "name": "研发中心", "parent_id": 1},
    {"dept_id": 103, "name": "销售\t一部", "parent_id": 1},
    {"dept_id": 104, "name": "市场\u200b部\u3000", "parent_id": 1},
    {"dept_id": 105, "name": "\u200b\u200e", "parent_id": 1},
    {"dept_id": 106, "name": "长" * 300, "parent_id": 1},
    {"dept_id": 108, "name": "测试部", "parent_id": 100},
    {"dept_id": 109, "name": "测试部", "parent_id": 107},
    # 152 cannot be created: its name and its alternative name are taken.
    {"dept_id": 150, "name": "丁", "parent_id": 1},
    {"dept_id": 151, "name": "丁 (152)", "parent_id": 1},
    {"dept_id": 152, "name": "丁", "parent_id": 1},
    # Later 130 is renamed to "乙", where "乙" and "乙 (130)" are taken.
    {"dept_id": 130, "name": "甲", "parent_id": 1},
    {"dept_id": 131, "name": "乙", "parent_id": 1},
    {"dept_id": 132, "name": "乙 (130)", "parent_id": 1},
    # Later 140 moves under 107, where "丙" and "丙 (140)" are taken.
    {"dept_id": 140, "name": "丙", "parent_id": 100},
    {"dept_id": 141, "name": "丙", "parent_id": 107},
    {"dept_id": 142, "name": "丙 (140)", "parent_id": 107},
]

USERS = [
    {"userid": "lei.li", "unionid": "uLeiLi", "name": "李雷 ", "dept_id_list": [103]},
    {"userid": "mei.han", "unionid": "uMeiHan", "name": "韩梅梅", "dept_id_list": [104, 152]},
    {"userid": "wei.zhang", "unionid": "uWeiZhang", "name": "张伟", "dept_id_list": [108]},
    {"userid": "ghost", "unionid": "uGhost", "name": "\u3164\u200d", "dept_id_list": [105]},
    {"userid": "jia.one", "unionid": "uJiaOne", "name": "甲一", "dept_id_list": [130]},
    {"userid": "bing.one", "unionid": "uBingOne", "name": "丙一", "dept_id_list": [140]},
]


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("sync_untidy"))
    fixture = dp.synclib.write_fixture(work, dp.org_doc("dinguntidy01", DEPTS, USERS))
    with dp.synclib.Stack(work, sims=[fixture]) as s:
        yield s


@pytest.fixture(scope="module")
def env(st):
    org, owner, src = dp.new_source(st, synced=False)
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src, department_ids=[1])
    assert run.status == spb.RUN_STATUS_PARTIAL, run
    return org, owner, src, run


def test_names_are_stored_clean(st, env):
    org, owner, src, _ = env
    names = {d: n.name for d, n in dp.departments(st, org, owner, src, parent=1).items()}
    assert names[100] == "研发中心"
    assert names[103] == "销售 一部"
    assert names[104] == "市场部"
    # Nothing is left of these names, so the node's id is used instead.
    assert names[105] == "105"
    assert names[106] == "长" * 200
    members = dp.members(st, org, owner, src)
    assert members["lei.li"].name == "李雷"
    assert members["ghost"].name == "ghost"


def test_groups_take_clean_names(st, env):
    org, owner, src, run = env
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    # The two "研发中心" are siblings now, so the later one takes its id.
    assert groups[100][1] == "研发中心"
    assert groups[107][1] == "研发中心 (107)"
    assert groups[103][1] == "销售 一部"
    assert groups[104][1] == "市场部"
    assert groups[105][1] == "105"
    assert groups[106][1] == "长" * 200
    users = dp.users_of(st, org.organization_id)
    assert users["李雷"][0] in dp.group_members(st, groups[103][0])
    assert users["ghost"][0] in dp.group_members(st, groups[105][0])


def test_failed_group_named_on_member(st, env):
    org, owner, src, run = env
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert rows["152"].outcome == spb.ITEM_OUTCOME_FAILED
    assert rows["152"].reason == "GROUP_NAME_TAKEN"
    item = rows["mei.han"]
    assert item.outcome == spb.ITEM_OUTCOME_FAILED
    assert item.reason == "DEPARTMENT_GROUP_MISSING"
    assert "152" in item.message
    # The user exists and is in the group that could be synced.
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert item.user_id in dp.group_members(st, groups[104][0])
    assert dp.users_of(st, org.organization_id)["韩梅梅"][0] == item.user_id
    assert rows["lei.li"].outcome == spb.ITEM_OUTCOME_CREATED


def test_space_only_rename_flags_nothing(st, env):
    org, owner, src, _ = env
    sim = st.sims[0]
    st.sim_control(sim, {"op": "user.upsert", "user": {"userid": "mei.han",
                                                       "name": "\u3000韩梅梅 "}})
    st.sim_control(sim, {"op": "dept.upsert", "dept": {"dept_id": 104, "parent_id": 1,
                                                       "name": "市场部 "}})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.by_ext(dp.check_counts(st, org, owner, run))
    assert "mei.han" not in rows
    assert "104" not in rows
    assert dp.members(st, org, owner, src, flag=spb.NODE_FLAG_NAME_CHANGED) == {}


def change_and_sync(st, env, dept, department_ids):
    """Changes one department in the simulator, runs Update Structure and
    Start Sync of department_ids, and returns the run's items by id."""
    org, owner, src, _ = env
    st.sim_control(st.sims[0], {"op": "dept.upsert", "dept": dept})
    run = dp.update_structure(st, org, owner, src)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src, department_ids=department_ids)
    return dp.by_ext(dp.check_counts(st, org, owner, run))


def test_move_next_to_same_name_takes_alternative(st, env):
    org, _, src, _ = env
    # 108 "测试部" moves next to 109 "测试部", under 107.
    rows = change_and_sync(st, env, {"dept_id": 108, "parent_id": 107, "name": "测试部"}, [107])
    assert rows["108"].outcome == spb.ITEM_OUTCOME_UPDATED, rows["108"]
    groups = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert groups[108][2] == groups[107][0]
    assert groups[108][1] == "测试部 (108)"
    assert groups[109][1] == "测试部"
    users = dp.users_of(st, org.organization_id)
    assert users["张伟"][0] in dp.group_members(st, groups[108][0])


def test_failed_rename_keeps_group_and_members(st, env):
    org, owner, src, _ = env
    before = dp.synced_groups(st, org.organization_id, src.corp_id)
    rows = change_and_sync(st, env, {"dept_id": 130, "parent_id": 1, "name": "乙"}, [130])
    assert rows["130"].outcome == spb.ITEM_OUTCOME_FAILED
    assert rows["130"].reason == "GROUP_NAME_TAKEN"
    assert rows["130"].group_id == before[130][0]
    # The group is still there, so its member stays in it.
    assert "jia.one" not in rows
    after = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert after[130] == before[130]
    # Still flagged: the group has not taken the new name yet.
    flagged = dp.departments(st, org, owner, src, flag=spb.NODE_FLAG_NAME_CHANGED)
    assert list(flagged) == [130]
    assert flagged[130].previous_name == "甲"
    user = dp.users_of(st, org.organization_id)["甲一"][0]
    assert user in dp.group_members(st, before[130][0])


def test_blocked_move_keeps_name_and_place(st, env):
    org, _, src, _ = env
    before = dp.synced_groups(st, org.organization_id, src.corp_id)
    rows = change_and_sync(st, env, {"dept_id": 140, "parent_id": 107, "name": "丙"}, [140])
    assert rows["140"].outcome == spb.ITEM_OUTCOME_FAILED
    assert rows["140"].reason == "GROUP_NAME_TAKEN"
    # Renamed for the move, then back when the move failed.
    after = dp.synced_groups(st, org.organization_id, src.corp_id)
    assert after[140] == before[140]
    user = dp.users_of(st, org.organization_id)["丙一"][0]
    assert user in dp.group_members(st, before[140][0])
