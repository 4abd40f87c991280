"""User groups: tree rules, synced groups and membership batches."""

import grpc

import rosterlib as rl

from roster.identity.v1 import identity_pb2 as pb

FP = grpc.StatusCode.FAILED_PRECONDITION


def mkgroup(ctx, o, owner, name, parent="", token=None, sync_source=None):
    req = pb.CreateUserGroupRequest(organization_id=o.organization_id,
                                    parent_group_id=parent, name=name)
    if sync_source is not None:
        req.sync_source.CopyFrom(sync_source)
    return ctx.call("CreateUserGroup", req, actor=owner.user_id, token=token)


def test_tree_depth_and_paths(ctx, org):
    o, owner = org
    names = ["总部", "研发中心", "平台组", "存储", "第五层"]
    parent = ""
    chain = []
    for depth, name in enumerate(names, 1):
        g = mkgroup(ctx, o, owner, name, parent)
        assert g.depth == depth
        assert g.name == name
        assert g.path == "/".join(names[:depth])
        assert g.parent_group_id == parent
        assert g.creator_user_id == owner.user_id
        chain.append(g)
        parent = g.group_id
    ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
        organization_id=o.organization_id, parent_group_id=parent, name="第六层"),
        FP, "GROUP_DEPTH_EXCEEDED", actor=owner.user_id)

    roots = ctx.call("ListUserGroups", pb.ListUserGroupsRequest(
        organization_id=o.organization_id), actor=owner.user_id)
    assert [g.group_id for g in roots.groups] == [chain[0].group_id]
    kids = ctx.call("ListUserGroups", pb.ListUserGroupsRequest(
        organization_id=o.organization_id, parent_group_id=chain[0].group_id),
        actor=owner.user_id)
    assert [g.name for g in kids.groups] == ["研发中心"]

    # Moving a 2-level subtree under level 4 would make it 6 deep.
    side = mkgroup(ctx, o, owner, "侧枝")
    mkgroup(ctx, o, owner, "侧枝子", side.group_id)
    ctx.refused("MoveUserGroup", pb.MoveUserGroupRequest(
        organization_id=o.organization_id, group_id=side.group_id,
        new_parent_group_id=chain[3].group_id),
        FP, "GROUP_DEPTH_EXCEEDED", actor=owner.user_id)
    moved = ctx.call("MoveUserGroup", pb.MoveUserGroupRequest(
        organization_id=o.organization_id, group_id=side.group_id,
        new_parent_group_id=chain[2].group_id), actor=owner.user_id)
    assert moved.depth == 4
    assert moved.path == "总部/研发中心/平台组/侧枝"


def test_move_cycle(ctx, org):
    o, owner = org
    a = mkgroup(ctx, o, owner, "A")
    b = mkgroup(ctx, o, owner, "B", a.group_id)
    c = mkgroup(ctx, o, owner, "C", b.group_id)
    for target in (c.group_id, b.group_id, a.group_id):
        ctx.refused("MoveUserGroup", pb.MoveUserGroupRequest(
            organization_id=o.organization_id, group_id=a.group_id,
            new_parent_group_id=target), FP, "GROUP_CYCLE", actor=owner.user_id)
    root = ctx.call("MoveUserGroup", pb.MoveUserGroupRequest(
        organization_id=o.organization_id, group_id=c.group_id),
        actor=owner.user_id)
    assert root.depth == 1
    assert root.parent_group_id == ""


def test_delete_leaf_only(ctx, org):
    o, owner = org
    p = mkgroup(ctx, o, owner, "parent")
    leaf = mkgroup(ctx, o, owner, "leaf", p.group_id)
    ctx.refused("DeleteUserGroup", pb.DeleteUserGroupRequest(
        organization_id=o.organization_id, group_id=p.group_id),
        FP, "GROUP_HAS_CHILDREN", actor=owner.user_id)
    r = ctx.call("DeleteUserGroup", pb.DeleteUserGroupRequest(
        organization_id=o.organization_id, group_id=leaf.group_id),
        actor=owner.user_id)
    assert r.group_id == leaf.group_id
    ctx.call("DeleteUserGroup", pb.DeleteUserGroupRequest(
        organization_id=o.organization_id, group_id=p.group_id),
        actor=owner.user_id)
    ctx.refused("GetUserGroup", pb.GetUserGroupRequest(
        organization_id=o.organization_id, group_id=p.group_id),
        grpc.StatusCode.NOT_FOUND, "GROUP_NOT_FOUND", actor=owner.user_id)


def test_sibling_names_unique(ctx, org):
    o, owner = org
    mkgroup(ctx, o, owner, "同名")
    ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
        organization_id=o.organization_id, name="同名"),
        grpc.StatusCode.ALREADY_EXISTS, "GROUP_NAME_TAKEN", actor=owner.user_id)


def test_group_names_stored_in_nfc(ctx, org):
    o, owner = org
    parent = mkgroup(ctx, o, owner, "Caf\u00e9")
    child = mkgroup(ctx, o, owner, "Re\u0301sume\u0301", parent=parent.group_id)
    assert child.name == "R\u00e9sum\u00e9"
    assert child.path == "Caf\u00e9/R\u00e9sum\u00e9"

    for name in ("Cafe\u0301", "Caf\u00e9"):
        ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
            organization_id=o.organization_id, name=name),
            grpc.StatusCode.ALREADY_EXISTS, "GROUP_NAME_TAKEN", actor=owner.user_id)
    ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
        organization_id=o.organization_id, parent_group_id=parent.group_id,
        name="R\u00e9sum\u00e9"),
        grpc.StatusCode.ALREADY_EXISTS, "GROUP_NAME_TAKEN", actor=owner.user_id)

    other = mkgroup(ctx, o, owner, "Cafe\u0301 2")
    assert other.name == "Caf\u00e9 2"
    renamed = ctx.call("RenameUserGroup", pb.RenameUserGroupRequest(
        organization_id=o.organization_id, group_id=other.group_id,
        name="Na\u0308ive"), actor=owner.user_id)
    assert renamed.name == "N\u00e4ive"
    ctx.refused("RenameUserGroup", pb.RenameUserGroupRequest(
        organization_id=o.organization_id, group_id=other.group_id, name="Cafe\u0301"),
        grpc.StatusCode.ALREADY_EXISTS, "GROUP_NAME_TAKEN", actor=owner.user_id)

    batch = ctx.call("CreateUserGroups", pb.CreateUserGroupsRequest(
        organization_id=o.organization_id, groups=[
            pb.CreateUserGroupRequest(name="Cafe\u0301"),
            pb.CreateUserGroupRequest(name="Cre\u0300me"),
            pb.CreateUserGroupRequest(name="Cr\u00e8me")]), actor=owner.user_id)
    assert batch.results[0].error.reason == "GROUP_NAME_TAKEN"
    assert batch.results[1].group.name == "Cr\u00e8me"
    assert batch.results[2].error.reason == "GROUP_NAME_TAKEN"


def test_group_names_without_hidden_differences(ctx, org):
    o, owner = org
    g = mkgroup(ctx, o, owner, "研发中心")
    for bad in (" 研发中心", "研发中心\u3000", "研发\u200b中心", "\u202e研发中心",
                "研发中心\u200d", "\u200d研发中心", "研发中心\u034f", "\u3164", "\ufe0f研发中心"):
        ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
            organization_id=o.organization_id, name=bad),
            grpc.StatusCode.INVALID_ARGUMENT, "GROUP_NAME_INVALID", actor=owner.user_id)
        ctx.refused("RenameUserGroup", pb.RenameUserGroupRequest(
            organization_id=o.organization_id, group_id=g.group_id, name=bad),
            grpc.StatusCode.INVALID_ARGUMENT, "GROUP_NAME_INVALID", actor=owner.user_id)
    # Spaces and joiners inside a name stay allowed.
    mkgroup(ctx, o, owner, "研发 中心 👩\u200d💻")


def test_synced_groups(ctx, org):
    o, owner = org
    src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="ding-corp-1",
                        department_id="42")
    ctx.refused("CreateUserGroup", pb.CreateUserGroupRequest(
        organization_id=o.organization_id, name="钉钉部门", sync_source=src),
        grpc.StatusCode.PERMISSION_DENIED, "SYNC_SCOPE_REQUIRED",
        actor=owner.user_id)
    g = mkgroup(ctx, o, owner, "钉钉部门", token=ctx.sync_token, sync_source=src)
    assert g.sync_source.platform == pb.PLATFORM_DINGTALK
    assert g.sync_source.department_id == "42"
    u = ctx.new_user(o, owner)

    refusals = [
        ("RenameUserGroup", pb.RenameUserGroupRequest(
            organization_id=o.organization_id, group_id=g.group_id, name="x")),
        ("MoveUserGroup", pb.MoveUserGroupRequest(
            organization_id=o.organization_id, group_id=g.group_id)),
        ("AddUserGroupMembers", pb.UserGroupMembersRequest(
            organization_id=o.organization_id, group_id=g.group_id,
            user_ids=[u.user_id])),
        ("CreateUserGroup", pb.CreateUserGroupRequest(
            organization_id=o.organization_id, parent_group_id=g.group_id,
            name="manual child")),
        ("DeleteUserGroup", pb.DeleteUserGroupRequest(
            organization_id=o.organization_id, group_id=g.group_id)),
    ]
    for method, req in refusals:
        ctx.refused(method, req, FP, "GROUP_SYNCHRONIZED", actor=owner.user_id)

    # The sync service may change it.
    r = ctx.call("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=g.group_id,
        user_ids=[u.user_id]), actor=owner.user_id, token=ctx.sync_token)
    assert r.changed == 1
    assert r.member_count == 1
    r = ctx.call("RenameUserGroup", pb.RenameUserGroupRequest(
        organization_id=o.organization_id, group_id=g.group_id, name="钉钉部门二"),
        actor=owner.user_id, token=ctx.sync_token)
    assert r.name == "钉钉部门二"


def test_members(ctx):
    o, owner = ctx.new_org(total=1100)
    g = mkgroup(ctx, o, owner, "大组")
    other = mkgroup(ctx, o, owner, "小组")
    users = [ctx.new_user(o, owner, nickname="m%04d" % i,
                          user_type=pb.USER_TYPE_VISITOR).user_id
             for i in range(1000)]

    r = ctx.call("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=g.group_id, user_ids=users),
        actor=owner.user_id, timeout=60)
    assert r.changed == 1000
    assert r.member_count == 1000
    # Adding again changes nothing.
    r = ctx.call("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=g.group_id,
        user_ids=users[:10]), actor=owner.user_id)
    assert r.changed == 0
    assert r.member_count == 1000

    ctx.refused("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=other.group_id,
        user_ids=users + [owner.user_id]),
        grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE_INVALID", actor=owner.user_id)
    ctx.refused("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=other.group_id),
        grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE_INVALID", actor=owner.user_id)
    ctx.refused("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=other.group_id,
        user_ids=["00000000000000000000000000000000"]),
        grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND", actor=owner.user_id)

    ctx.call("AddUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=other.group_id,
        user_ids=users[:3]), actor=owner.user_id)
    mine = ctx.call("ListGroupsOfUser", pb.ListGroupsOfUserRequest(
        organization_id=o.organization_id, user_id=users[0]), actor=owner.user_id)
    assert sorted(x.name for x in mine.groups) == ["大组", "小组"]

    seen = []
    token = ""
    while True:
        page = ctx.call("ListUserGroupMembers", pb.ListUserGroupMembersRequest(
            organization_id=o.organization_id, group_id=g.group_id,
            page_size=300, page_token=token), actor=owner.user_id)
        seen.extend(u.user_id for u in page.users)
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(users)

    r = ctx.call("RemoveUserGroupMembers", pb.UserGroupMembersRequest(
        organization_id=o.organization_id, group_id=g.group_id,
        user_ids=users[:500]), actor=owner.user_id)
    assert r.changed == 500
    assert r.member_count == 500
    got = ctx.call("GetUserGroup", pb.GetUserGroupRequest(
        organization_id=o.organization_id, group_id=g.group_id),
        actor=owner.user_id)
    assert got.member_count == 500


def batch_groups(ctx, o, owner, entries, token=None):
    resp = ctx.call("CreateUserGroups", pb.CreateUserGroupsRequest(
        organization_id=o.organization_id, groups=entries), actor=owner.user_id, token=token)
    assert len(resp.results) == len(entries)
    return resp.results


def group_names_under(ctx, o, owner, parent=""):
    resp = ctx.call("ListUserGroups", pb.ListUserGroupsRequest(
        organization_id=o.organization_id, parent_group_id=parent, page_size=1000),
        actor=owner.user_id)
    return sorted(g.name for g in resp.groups)


def test_batch_creates_groups_in_order(ctx, org):
    o, owner = org
    root = mkgroup(ctx, o, owner, "集团")
    src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="dingbatch",
                        department_id="42")
    synced = pb.CreateUserGroupRequest(name="钉钉部门 🚀", sync_source=src)
    results = batch_groups(ctx, o, owner, [
        pb.CreateUserGroupRequest(name="研发 R&D", parent_group_id=root.group_id),
        pb.CreateUserGroupRequest(organization_id=o.organization_id, name="市场部",
                                  description="华东"),
        synced,
    ], token=ctx.sync_token)
    assert [r.HasField("group") for r in results] == [True, True, True]
    assert results[0].group.path == "集团/研发 R&D"
    assert results[0].group.depth == 2
    assert results[1].group.description == "华东"
    assert results[2].group.sync_source.department_id == "42"
    got = ctx.call("GetUserGroup", pb.GetUserGroupRequest(
        organization_id=o.organization_id, group_id=results[0].group.group_id),
        actor=owner.user_id)
    assert got.name == "研发 R&D"


def test_batch_rejects_entries_alone(ctx, org):
    o, owner = org
    root = mkgroup(ctx, o, owner, "总部")
    chain = root
    for name in ("二", "三", "四", "五"):
        chain = mkgroup(ctx, o, owner, name, chain.group_id)
    src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="dingx", department_id="7")
    other_org, other_owner = ctx.new_org()
    elsewhere = mkgroup(ctx, other_org, other_owner, "别处")

    entries = [
        pb.CreateUserGroupRequest(name="总部"),                                   # taken
        pb.CreateUserGroupRequest(name="新部门"),                                 # created
        pb.CreateUserGroupRequest(name="新部门"),                                 # taken above
        pb.CreateUserGroupRequest(name="深", parent_group_id=chain.group_id),     # depth 6
        pb.CreateUserGroupRequest(name="孤", parent_group_id="0" * 32),           # no parent
        pb.CreateUserGroupRequest(name="外", parent_group_id=elsewhere.group_id),  # other org
        pb.CreateUserGroupRequest(name="坏\x01名"),                              # invalid
        pb.CreateUserGroupRequest(name="同步", sync_source=src),                  # no scope
        pb.CreateUserGroupRequest(organization_id=other_org.organization_id,
                                  name="错组织"),                                 # org mismatch
        pb.CreateUserGroupRequest(name="子部门", parent_group_id=root.group_id),   # created
    ]
    results = batch_groups(ctx, o, owner, entries)

    expected = [(6, "GROUP_NAME_TAKEN"), None, (6, "GROUP_NAME_TAKEN"),
                (9, "GROUP_DEPTH_EXCEEDED"), (5, "GROUP_NOT_FOUND"), (5, "GROUP_NOT_FOUND"),
                (3, "GROUP_NAME_INVALID"), (7, "SYNC_SCOPE_REQUIRED"), (3, "FIELD_INVALID"),
                None]
    for i, (r, want) in enumerate(zip(results, expected)):
        if want is None:
            assert r.HasField("group"), (i, r.error.reason)
        else:
            assert not r.HasField("group"), i
            assert (r.error.code, r.error.reason) == want, i
    assert results[4].error.metadata["group_id"] == "0" * 32

    # Nothing of a rejected entry was created.
    assert group_names_under(ctx, o, owner) == ["总部", "新部门"]
    assert group_names_under(ctx, o, owner, root.group_id) == ["二", "子部门"]
    assert group_names_under(ctx, o, owner, chain.group_id) == []
    assert group_names_under(ctx, other_org, other_owner) == ["别处"]


def test_batch_whole_call_errors(ctx, org):
    o, owner = org
    ctx.refused("CreateUserGroups", pb.CreateUserGroupsRequest(
        organization_id=o.organization_id), grpc.StatusCode.INVALID_ARGUMENT,
        "BATCH_SIZE_INVALID", actor=owner.user_id)
    ctx.refused("CreateUserGroups", pb.CreateUserGroupsRequest(
        organization_id=o.organization_id,
        groups=[pb.CreateUserGroupRequest(name="g%d" % i) for i in range(1001)]),
        grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE_INVALID", actor=owner.user_id)
    visitor = ctx.call("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="访客甲",
        user_type=pb.USER_TYPE_VISITOR), actor=owner.user_id)
    ctx.refused("CreateUserGroups", pb.CreateUserGroupsRequest(
        organization_id=o.organization_id, groups=[pb.CreateUserGroupRequest(name="x")]),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", actor=visitor.user_id)
    assert group_names_under(ctx, o, owner) == []


def single_rejection(ctx, o, owner, entry, code, reason, token=None):
    """Returns the code, reason, message and metadata with which CreateUserGroup
    rejects entry."""
    req = pb.CreateUserGroupRequest()
    req.CopyFrom(entry)
    req.organization_id = o.organization_id
    err = ctx.refused("CreateUserGroup", req, code, reason, actor=owner.user_id, token=token)
    _, info, _ = rl.error_info(err)
    return err.code().value[0], info.reason, err.details(), dict(info.metadata)


def entry_rejection(result):
    assert not result.HasField("group"), result.group.name
    e = result.error
    return e.code, e.reason, e.message, dict(e.metadata)


def test_batch_many_entries_mixed_parents(ctx, org):
    o, owner = org
    top = mkgroup(ctx, o, owner, "总")
    mid = mkgroup(ctx, o, owner, "研", top.group_id)
    low = mkgroup(ctx, o, owner, "平", mid.group_id)
    parents = [None, top, mid, low]
    entries = []
    for i in range(300):
        p = parents[i % 4]
        entries.append(pb.CreateUserGroupRequest(
            name="组%03d🚀" % i, parent_group_id=p.group_id if p else ""))

    results = batch_groups(ctx, o, owner, entries)

    for i, r in enumerate(results):
        assert r.HasField("group"), (i, r.error.reason, r.error.message)
        g = r.group
        p = parents[i % 4]
        assert g.name == entries[i].name, i
        assert g.parent_group_id == (p.group_id if p else ""), i
        assert g.depth == (p.depth + 1 if p else 1), i
        assert g.path == (p.path + "/" if p else "") + entries[i].name, i
        assert g.creator_user_id == owner.user_id, i
        assert g.organization_id == o.organization_id, i
        assert not g.HasField("sync_source"), i
        assert g.member_count == 0, i
    assert len({r.group.group_id for r in results}) == 300

    want = {None: ["总"], top.group_id: ["研"], mid.group_id: ["平"], low.group_id: []}
    for i, e in enumerate(entries):
        want[parents[i % 4].group_id if parents[i % 4] else None].append(e.name)
    assert group_names_under(ctx, o, owner) == sorted(want[None])
    for p in parents[1:]:
        assert group_names_under(ctx, o, owner, p.group_id) == sorted(want[p.group_id])
    got = ctx.call("GetUserGroup", pb.GetUserGroupRequest(
        organization_id=o.organization_id, group_id=results[299].group.group_id),
        actor=owner.user_id)
    assert got.path == "总/研/平/组299🚀"
    assert got.depth == 4


def test_batch_parent_checks_match_single(ctx, org):
    o, owner = org
    chain = [mkgroup(ctx, o, owner, "一")]
    for name in ("二", "三", "四", "五"):
        chain.append(mkgroup(ctx, o, owner, name, chain[-1].group_id))
    src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="dingparent",
                        department_id="9")
    synced = mkgroup(ctx, o, owner, "同步部门", token=ctx.sync_token, sync_source=src)
    missing = "f" * 32
    entries = [
        pb.CreateUserGroupRequest(name="好", parent_group_id=chain[0].group_id),
        pb.CreateUserGroupRequest(name="孤", parent_group_id=missing),
        pb.CreateUserGroupRequest(name="深", parent_group_id=chain[4].group_id),
        pb.CreateUserGroupRequest(name="第五层", parent_group_id=chain[3].group_id),
        pb.CreateUserGroupRequest(name="手工", parent_group_id=synced.group_id),
        pb.CreateUserGroupRequest(name="根"),
        pb.CreateUserGroupRequest(name="又孤", parent_group_id=missing),
    ]

    results = batch_groups(ctx, o, owner, entries)

    assert results[0].group.depth == 2
    assert results[0].group.path == "一/好"
    assert results[3].group.depth == 5
    assert results[3].group.path == "一/二/三/四/第五层"
    assert results[5].group.depth == 1
    rejections = [(1, grpc.StatusCode.NOT_FOUND, "GROUP_NOT_FOUND"),
                (2, FP, "GROUP_DEPTH_EXCEEDED"),
                (4, FP, "GROUP_SYNCHRONIZED"),
                (6, grpc.StatusCode.NOT_FOUND, "GROUP_NOT_FOUND")]
    for i, code, reason in rejections:
        assert entry_rejection(results[i]) == \
            single_rejection(ctx, o, owner, entries[i], code, reason), i
    assert results[1].error.metadata["group_id"] == missing
    assert results[2].error.message == \
        "user groups nest at most 5 levels; this change needs 6"
    assert results[4].error.metadata["group_id"] == synced.group_id

    assert group_names_under(ctx, o, owner, chain[4].group_id) == []
    assert group_names_under(ctx, o, owner, synced.group_id) == []
    assert group_names_under(ctx, o, owner) == ["一", "同步部门", "根"]


def test_batch_same_name_first_wins(ctx, org):
    o, owner = org
    p = mkgroup(ctx, o, owner, "父")
    mkgroup(ctx, o, owner, "已有", p.group_id)
    src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="dingname",
                        department_id="3")
    under_p = p.group_id
    entries = [
        pb.CreateUserGroupRequest(name="同名😀", parent_group_id=under_p),   # 0 created
        pb.CreateUserGroupRequest(name="同名😀", parent_group_id=under_p),   # 1 taken by 0
        pb.CreateUserGroupRequest(name="同名😀"),                           # 2 other parent
        pb.CreateUserGroupRequest(name="已有", parent_group_id=under_p),     # 3 taken in DB
        pb.CreateUserGroupRequest(name="已有"),                             # 4 other parent
        pb.CreateUserGroupRequest(name="先拒", parent_group_id=under_p,
                                  sync_source=src),                        # 5 no sync scope
        pb.CreateUserGroupRequest(name="先拒", parent_group_id=under_p),     # 6 created
        pb.CreateUserGroupRequest(name="先拒", parent_group_id=under_p),     # 7 taken by 6
        pb.CreateUserGroupRequest(name="同名😀", parent_group_id=under_p),   # 8 taken by 0
        pb.CreateUserGroupRequest(name="已有", parent_group_id=under_p),     # 9 taken in DB
        pb.CreateUserGroupRequest(name="Ab"),                               # 10 created
        pb.CreateUserGroupRequest(name="ab"),                               # 11 created
    ]

    results = batch_groups(ctx, o, owner, entries)

    created = [i for i, r in enumerate(results) if r.HasField("group")]
    assert created == [0, 2, 4, 6, 10, 11]
    assert results[5].error.reason == "SYNC_SCOPE_REQUIRED"
    for i in (1, 3, 7, 8, 9):
        assert entry_rejection(results[i]) == single_rejection(
            ctx, o, owner, entries[i], grpc.StatusCode.ALREADY_EXISTS, "GROUP_NAME_TAKEN"), i
    assert results[1].error.metadata["name"] == "同名😀"
    assert results[1].error.message == \
        'a user group named "同名😀" already exists under the same parent'
    assert results[0].group.path == "父/同名😀"
    assert results[2].group.path == "同名😀"

    assert group_names_under(ctx, o, owner, p.group_id) == sorted(["同名😀", "已有", "先拒"])
    assert group_names_under(ctx, o, owner) == sorted(["父", "同名😀", "已有", "Ab", "ab"])


def test_batch_mixes_synced_and_plain(ctx, org):
    o, owner = org
    src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="dingmix",
                        department_id="1")
    synced = mkgroup(ctx, o, owner, "钉钉根", token=ctx.sync_token, sync_source=src)
    child_src = pb.SyncSource(platform=pb.PLATFORM_DINGTALK, corp_id="dingmix",
                              department_id="2")
    entries = [
        pb.CreateUserGroupRequest(name="钉钉子", parent_group_id=synced.group_id,
                                  sync_source=child_src),
        pb.CreateUserGroupRequest(name="手工子", parent_group_id=synced.group_id,
                                  description="同步服务建"),
        pb.CreateUserGroupRequest(name="手工根"),
    ]

    results = batch_groups(ctx, o, owner, entries, token=ctx.sync_token)

    assert [r.HasField("group") for r in results] == [True, True, True]
    for r in results:
        got = ctx.call("GetUserGroup", pb.GetUserGroupRequest(
            organization_id=o.organization_id, group_id=r.group.group_id),
            actor=owner.user_id)
        assert got == r.group
    assert results[0].group.sync_source.platform == pb.PLATFORM_DINGTALK
    assert results[0].group.sync_source.corp_id == "dingmix"
    assert results[0].group.sync_source.department_id == "2"
    assert results[0].group.depth == 2
    assert not results[1].group.HasField("sync_source")
    assert results[1].group.description == "同步服务建"
    assert results[1].group.path == "钉钉根/手工子"
    assert not results[2].group.HasField("sync_source")
    assert results[2].group.parent_group_id == ""
    assert results[2].group.depth == 1
