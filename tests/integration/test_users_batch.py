"""CreateUsers: many users in one call, each with an optional external
identity and user groups. A refused entry creates nothing of its own and
reports its error in its result, and the other entries are created."""

import concurrent.futures
import os
import uuid

import grpc
import pytest

import rosterlib as rl
from roster.identity.v1 import identity_pb2 as pb

OK = grpc.StatusCode.OK
IA = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS
FP = grpc.StatusCode.FAILED_PRECONDITION
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
DENIED = grpc.StatusCode.PERMISSION_DENIED

DEV = pb.USER_TYPE_DEVELOPER
ANALYST = pb.USER_TYPE_ANALYST
VISITOR = pb.USER_TYPE_VISITOR
DING = pb.PLATFORM_DINGTALK
WECOM = pb.PLATFORM_WECOM
LARK = pb.PLATFORM_LARK


# --- helpers -----------------------------------------------------------------

def new_entry(nickname, user_type=ANALYST, key=None, groups=(), **fields):
    entry = pb.NewUser(nickname=nickname, user_type=user_type,
                       group_ids=list(groups), **fields)
    if key is not None:
        entry.external_identity.CopyFrom(key)
    return entry


def ext_key(corp_id, platform_user_id, union_id="", platform=DING):
    return pb.ExternalIdentityKey(platform=platform, corp_id=corp_id,
                                  platform_user_id=platform_user_id,
                                  union_id=union_id)


def create_users(ctx, org, actor, entries, token=None, timeout=30):
    """Sends one CreateUsers call and checks that it has one result per entry."""
    resp = ctx.call("CreateUsers", pb.CreateUsersRequest(
        organization_id=org.organization_id, users=entries),
        actor=actor, token=token, timeout=timeout)
    assert len(resp.results) == len(entries), \
        "expected %d results, got %d" % (len(entries), len(resp.results))
    return resp.results


def created(result, what):
    """Returns the user of a created entry; fails when the entry was refused."""
    assert not result.HasField("error"), "%s was refused: %s %s" % (
        what, result.error.reason, result.error.message)
    assert result.HasField("user"), "%s has neither user nor error" % what
    return result.user


def assert_refused(result, what, code, reason, **metadata):
    """Checks that an entry was refused with code, reason and metadata."""
    assert not result.HasField("user"), "%s was created: %r" % (what, result.user)
    assert result.HasField("error"), "%s has neither user nor error" % what
    error = result.error
    assert error.code == code.value[0], "%s: expected code %d (%s), got %d %s" % (
        what, code.value[0], code.name, error.code, error.reason)
    assert error.reason == reason, "%s: expected reason %s, got %s (%s)" % (
        what, reason, error.reason, error.message)
    assert error.message, "%s: the error has no message" % what
    for key, value in metadata.items():
        assert error.metadata.get(key) == value, \
            "%s: metadata %r: expected %r, got %r (all: %r)" % (
                what, key, value, error.metadata.get(key), dict(error.metadata))


def list_users(ctx, org, actor, keyword=""):
    """Returns every user of org whose nickname contains keyword, all pages.
    Pages of 300 fit the shared server's 64 KiB message limit."""
    users = []
    token = ""
    for _ in range(100):
        page = ctx.call("ListUsers", pb.ListUsersRequest(
            organization_id=org.organization_id, page_size=300, page_token=token,
            keyword=keyword), actor=actor)
        users.extend(page.users)
        token = page.next_page_token
        if not token:
            return users
    raise AssertionError("ListUsers paging did not end after 100 pages")


def group_members(ctx, org, actor, group_id):
    """Returns the user ids of a group's members, all pages."""
    ids = []
    token = ""
    for _ in range(100):
        page = ctx.call("ListUserGroupMembers", pb.ListUserGroupMembersRequest(
            organization_id=org.organization_id, group_id=group_id, page_size=300,
            page_token=token), actor=actor)
        ids.extend(u.user_id for u in page.users)
        token = page.next_page_token
        if not token:
            return sorted(ids)
    raise AssertionError("ListUserGroupMembers paging did not end after 100 pages")


def groups_of(ctx, org, actor, user_id):
    page = ctx.call("ListGroupsOfUser", pb.ListGroupsOfUserRequest(
        organization_id=org.organization_id, user_id=user_id, page_size=200),
        actor=actor)
    return sorted(g.group_id for g in page.groups)


def lookup_by_key(ctx, org, actor, key):
    return ctx.call("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=org.organization_id, platform=key.platform,
        corp_id=key.corp_id, platform_user_id=key.platform_user_id), actor=actor)


def lookup_by_union(ctx, org, actor, platform, union_id):
    return ctx.call("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=org.organization_id, platform=platform,
        union_id=union_id), actor=actor)


def assert_key_unbound(ctx, org, actor, key):
    ctx.refused("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=org.organization_id, platform=key.platform,
        corp_id=key.corp_id, platform_user_id=key.platform_user_id),
        NOT_FOUND, "EXTERNAL_IDENTITY_NOT_FOUND", actor=actor)


def assert_union_unbound(ctx, org, actor, platform, union_id):
    ctx.refused("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=org.organization_id, platform=platform, union_id=union_id),
        NOT_FOUND, "EXTERNAL_IDENTITY_NOT_FOUND", actor=actor)


def assert_no_user_named(ctx, org, actor, nickname):
    found = [u.nickname for u in list_users(ctx, org, actor, keyword=nickname)
             if u.nickname == nickname]
    assert found == [], "a user named %r exists" % nickname


def mkgroup(ctx, org, owner, name, parent="", sync_source=None):
    req = pb.CreateUserGroupRequest(organization_id=org.organization_id,
                                    parent_group_id=parent, name=name)
    token = None
    if sync_source is not None:
        req.sync_source.CopyFrom(sync_source)
        token = ctx.sync_token
    return ctx.call("CreateUserGroup", req, actor=owner.user_id, token=token)


def seat_usage(ctx, org, owner):
    got = ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=org.organization_id), actor=owner.user_id)
    usage = got.seat_usage
    return (usage.total, usage.developers, usage.analysts, usage.visitors)


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


# --- happy path --------------------------------------------------------------

def test_batch_creates_all_entries(ctx, org):
    o, owner = org
    actor = owner.user_id
    g1 = mkgroup(ctx, o, owner, "研发中心")
    g2 = mkgroup(ctx, o, owner, "数据平台", parent=g1.group_id)
    g3 = mkgroup(ctx, o, owner, "Sales 销售 🚀")
    corp = unique("dingcorp")
    acct = unique("acct")
    entries = [
        new_entry("张伟", DEV, email="zhang.wei@example.com",
                  phone="+86 138-0013-8000", account_id=acct,
                  key=ext_key(corp, "0001", union_id="union-zw-" + corp),
                  groups=[g1.group_id]),
        new_entry("熊猫 🐼 Panda", ANALYST, email="panda@example.cn",
                  key=ext_key(corp, "0002"), groups=[g1.group_id, g2.group_id]),
        new_entry("Zhang Wei 张伟 Ωμέγα", VISITOR, phone="12345",
                  key=ext_key("ww" + corp, "zhangwei", union_id="wx-union-" + corp,
                              platform=WECOM),
                  groups=[g1.group_id, g2.group_id, g3.group_id]),
        # 50 code points is the maximum; 4-byte emoji make it 200 bytes.
        new_entry("😀" * 50, DEV,
                  key=ext_key("lark-" + corp, "ou_123", union_id="on_abc-" + corp,
                              platform=LARK),
                  groups=[g3.group_id]),
        new_entry("李" * 50, ANALYST, key=ext_key(corp, "0005", union_id="union-li-" + corp)),
        new_entry("plain-no-key", VISITOR),
        # Characters that need quoting in a PostgreSQL array literal, and a
        # group named twice, which joins once.
        new_entry('O\'Brien "Bob" \\ {x}, NULL', ANALYST,
                  key=ext_key(corp, 'id,"q"\\{}', union_id='union "q" ' + corp),
                  groups=[g1.group_id, g1.group_id]),
    ]
    results = create_users(ctx, o, actor, entries)

    users = [created(r, "entry %d" % i) for i, r in enumerate(results)]
    for i, (entry, user) in enumerate(zip(entries, users)):
        assert user.nickname == entry.nickname, "entry %d out of order" % i
        assert user.user_type == entry.user_type, i
        assert user.email == entry.email, i
        assert user.phone == entry.phone, i
        assert user.account_id == entry.account_id, i
        assert user.organization_id == o.organization_id, i
        assert user.enabled, i
        assert not user.is_owner, i
        assert len(user.user_id) == 32, i
        assert user.create_time.seconds > 0, i
    ids = [u.user_id for u in users]
    assert len(set(ids)) == len(ids), "two entries share a user id"

    # The read cache must not hide users made a moment ago.
    for i, user in enumerate(users):
        got = ctx.call("GetUser", pb.GetUserRequest(
            organization_id=o.organization_id, user_id=user.user_id), actor=actor)
        assert got == user, "GetUser differs for entry %d" % i

    # A new user may act at once: the actor check uses the cache as well.
    got = ctx.call("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=owner.user_id), actor=ids[5])
    assert got.user_id == owner.user_id

    for i, (entry, user) in enumerate(zip(entries, users)):
        if not entry.HasField("external_identity"):
            continue
        key = entry.external_identity
        assert lookup_by_key(ctx, o, actor, key).user_id == user.user_id, i
        if key.union_id:
            by_union = lookup_by_union(ctx, o, actor, key.platform, key.union_id)
            assert by_union.user_id == user.user_id, i
        bound = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
            organization_id=o.organization_id, user_id=user.user_id), actor=actor)
        assert len(bound.identities) == 1, i
        identity = bound.identities[0]
        assert (identity.platform, identity.corp_id, identity.platform_user_id,
                identity.union_id) == (key.platform, key.corp_id,
                                       key.platform_user_id, key.union_id), i
    none = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
        organization_id=o.organization_id, user_id=ids[5]), actor=actor)
    assert list(none.identities) == []

    assert group_members(ctx, o, actor, g1.group_id) == sorted(ids[0:3] + [ids[6]])
    assert group_members(ctx, o, actor, g2.group_id) == sorted(ids[1:3])
    assert group_members(ctx, o, actor, g3.group_id) == sorted([ids[2], ids[3]])
    for group, count in ((g1, 4), (g2, 2), (g3, 2)):
        got = ctx.call("GetUserGroup", pb.GetUserGroupRequest(
            organization_id=o.organization_id, group_id=group.group_id), actor=actor)
        assert got.member_count == count, group.name
    assert groups_of(ctx, o, actor, ids[2]) == sorted(
        [g1.group_id, g2.group_id, g3.group_id])
    assert groups_of(ctx, o, actor, ids[4]) == []
    assert groups_of(ctx, o, actor, ids[5]) == []

    everyone = list_users(ctx, o, actor)
    assert sorted(u.user_id for u in everyone) == sorted(ids + [owner.user_id])
    # Owner (developer) plus 2 developers, 3 analysts and 2 visitors.
    assert seat_usage(ctx, o, owner) == (8, 3, 3, 2)


def test_batch_with_sync_scope_joins_synced_group(ctx, org):
    o, owner = org
    synced = mkgroup(ctx, o, owner, "钉钉部门", sync_source=pb.SyncSource(
        platform=DING, corp_id=unique("corp"), department_id="42"))
    results = create_users(ctx, o, owner.user_id,
                           [new_entry("同步用户", groups=[synced.group_id])],
                           token=ctx.sync_token)
    user = created(results[0], "entry for the synced group")
    assert group_members(ctx, o, owner.user_id, synced.group_id) == [user.user_id]


# --- refusals that need the database -------------------------------------------

def test_partial_failure_refuses_only_bad_entries(ctx, org):
    o, owner = org
    actor = owner.user_id
    corp = unique("corp")
    taken_acct = unique("acct-taken")
    batch_acct = unique("acct-batch")
    holder = ctx.new_user(o, owner, nickname="taken-nick", account_id=taken_acct)
    bound_owner = ctx.new_user(o, owner, nickname="key-holder")
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=bound_owner.user_id,
        platform=DING, corp_id=corp, platform_user_id="bound-1",
        union_id="union-bound-" + corp), actor=actor)
    group = mkgroup(ctx, o, owner, "普通组")
    synced = mkgroup(ctx, o, owner, "同步组", sync_source=pb.SyncSource(
        platform=DING, corp_id=corp, department_id="7"))
    other_org, other_owner = ctx.new_org(total=5)
    foreign = mkgroup(ctx, other_org, other_owner, "其他组织的组")
    missing_group = uuid.uuid4().hex

    entries = [
        new_entry("good-0", DEV, key=ext_key(corp, "fresh-0"), groups=[group.group_id]),
        new_entry("taken-nick", key=ext_key(corp, "fresh-1"), groups=[group.group_id]),
        new_entry("dup-in-batch", key=ext_key(corp, "fresh-2")),
        new_entry("dup-in-batch", VISITOR, key=ext_key(corp, "fresh-3"),
                  groups=[group.group_id]),
        new_entry("acct-clash", account_id=taken_acct, key=ext_key(corp, "fresh-4")),
        new_entry("key-bound", key=ext_key(corp, "bound-1"), groups=[group.group_id]),
        new_entry("union-bound", key=ext_key(corp, "fresh-6",
                                             union_id="union-bound-" + corp)),
        new_entry("key-first", key=ext_key(corp, "twice")),
        new_entry("key-second", key=ext_key(corp, "twice"), groups=[group.group_id]),
        new_entry("missing-group", key=ext_key(corp, "fresh-9"),
                  groups=[group.group_id, missing_group]),
        new_entry("synced-group", key=ext_key(corp, "fresh-10"),
                  groups=[synced.group_id]),
        new_entry("foreign-group", groups=[foreign.group_id]),
        new_entry("acct-batch-a", account_id=batch_acct),
        new_entry("acct-batch-b", account_id=batch_acct, key=ext_key(corp, "fresh-13")),
        new_entry("union-first", key=ext_key(corp, "u14", union_id="union-batch-" + corp)),
        new_entry("union-second", key=ext_key("other-" + corp, "u15",
                                              union_id="union-batch-" + corp)),
        new_entry("good-16", VISITOR, groups=[group.group_id]),
    ]
    results = create_users(ctx, o, actor, entries)

    good = {i: created(results[i], entries[i].nickname)
            for i in (0, 2, 7, 12, 14, 16)}
    for i, user in good.items():
        assert user.nickname == entries[i].nickname, "result %d out of order" % i

    assert_refused(results[1], "taken nickname", EXISTS, "NICKNAME_TAKEN",
                   nickname="taken-nick")
    assert_refused(results[3], "second dup-in-batch", EXISTS, "NICKNAME_TAKEN",
                   nickname="dup-in-batch")
    assert_refused(results[4], "taken account id", EXISTS, "ACCOUNT_ID_TAKEN",
                   account_id=taken_acct)
    assert_refused(results[5], "bound key", EXISTS, "EXTERNAL_IDENTITY_BOUND",
                   user_id=bound_owner.user_id)
    assert_refused(results[6], "bound union id", EXISTS, "UNION_ID_BOUND",
                   user_id=bound_owner.user_id)
    assert_refused(results[8], "key twice in the batch", EXISTS,
                   "EXTERNAL_IDENTITY_BOUND", user_id=good[7].user_id)
    assert_refused(results[9], "missing group", NOT_FOUND, "GROUP_NOT_FOUND",
                   group_id=missing_group)
    assert_refused(results[10], "synced group", FP, "GROUP_SYNCHRONIZED",
                   group_id=synced.group_id)
    assert_refused(results[11], "group of another organisation", NOT_FOUND,
                   "GROUP_NOT_FOUND", group_id=foreign.group_id)
    assert_refused(results[13], "account id twice in the batch", EXISTS,
                   "ACCOUNT_ID_TAKEN", account_id=batch_acct)
    assert_refused(results[15], "union id twice in the batch", EXISTS,
                   "UNION_ID_BOUND", user_id=good[14].user_id)

    # Users: owner, the two made before, the good entries and nothing else.
    everyone = list_users(ctx, o, actor)
    assert sorted(u.user_id for u in everyone) == sorted(
        [owner.user_id, holder.user_id, bound_owner.user_id]
        + [u.user_id for u in good.values()])
    for nickname in ("acct-clash", "key-bound", "union-bound", "key-second",
                     "missing-group", "synced-group", "foreign-group", "acct-batch-b",
                     "union-second"):
        assert_no_user_named(ctx, o, actor, nickname)
    same = [u for u in list_users(ctx, o, actor, keyword="dup-in-batch")]
    assert [u.user_id for u in same] == [good[2].user_id], "the first entry must win"
    assert [u.user_id for u in list_users(ctx, o, actor, keyword="taken-nick")] == \
        [holder.user_id]

    # Keys: the good entries' keys are bound, the refused entries' are not.
    for i in (0, 2, 7, 14):
        key = entries[i].external_identity
        assert lookup_by_key(ctx, o, actor, key).user_id == good[i].user_id, i
    for i in (1, 3, 4, 6, 9, 10, 13, 15):
        assert_key_unbound(ctx, o, actor, entries[i].external_identity)
    assert lookup_by_key(ctx, o, actor, entries[5].external_identity).user_id == \
        bound_owner.user_id
    assert lookup_by_union(ctx, o, actor, DING, "union-bound-" + corp).user_id == \
        bound_owner.user_id
    assert lookup_by_union(ctx, o, actor, DING, "union-batch-" + corp).user_id == \
        good[14].user_id
    held = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
        organization_id=o.organization_id, user_id=bound_owner.user_id), actor=actor)
    assert len(held.identities) == 1

    # Groups: only good entries joined.
    assert group_members(ctx, o, actor, group.group_id) == sorted(
        [good[0].user_id, good[16].user_id])
    assert group_members(ctx, o, actor, synced.group_id) == []
    assert group_members(ctx, other_org, other_owner.user_id, foreign.group_id) == []
    assert seat_usage(ctx, o, owner)[0] == 3 + len(good)


def test_bound_key_twice_names_real_owner(ctx, org):
    """Two entries with a key or union id that an existing user holds are
    both refused, and both name that user, not the other refused entry."""
    o, owner = org
    actor = owner.user_id
    corp = unique("corp")
    holder = ctx.new_user(o, owner, nickname="holder")
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=holder.user_id, platform=DING,
        corp_id=corp, platform_user_id="held", union_id="union-held"), actor=actor)
    entries = [
        new_entry("key-a", key=ext_key(corp, "held")),
        new_entry("key-b", key=ext_key(corp, "held")),
        new_entry("union-a", key=ext_key(corp, "fresh-a", union_id="union-held")),
        new_entry("union-b", key=ext_key(corp, "fresh-b", union_id="union-held")),
    ]
    results = create_users(ctx, o, actor, entries)

    for i in (0, 1):
        assert_refused(results[i], entries[i].nickname, EXISTS,
                       "EXTERNAL_IDENTITY_BOUND", user_id=holder.user_id)
    for i in (2, 3):
        assert_refused(results[i], entries[i].nickname, EXISTS, "UNION_ID_BOUND",
                       user_id=holder.user_id)
    assert len(list_users(ctx, o, actor)) == 2


# Each case: how the first entry is refused (after the database checks of
# the second entry's nickname, account id or key have run, or before), and
# the later entry that shares its nickname, account id, key or union id.
RESERVE_CASES = {
    "nickname_after_missing_group": (
        dict(nickname="name", groups=["MISSING"]), NOT_FOUND, "GROUP_NOT_FOUND",
        dict(nickname="name")),
    "nickname_after_seat_limit": (
        dict(nickname="name", user_type=DEV), EXHAUSTED, "SEAT_LIMIT_REACHED",
        dict(nickname="name")),
    "nickname_after_bound_key": (
        dict(nickname="name", key="BOUND"), EXISTS, "EXTERNAL_IDENTITY_BOUND",
        dict(nickname="name")),
    "account_id_after_missing_group": (
        dict(nickname="first", account_id="ACCT", groups=["MISSING"]), NOT_FOUND,
        "GROUP_NOT_FOUND", dict(nickname="second", account_id="ACCT")),
    "key_after_missing_group": (
        dict(nickname="first", key="k1", groups=["MISSING"]), NOT_FOUND,
        "GROUP_NOT_FOUND", dict(nickname="second", key="k1")),
    "key_after_seat_limit": (
        dict(nickname="first", key="k1", user_type=DEV), EXHAUSTED,
        "SEAT_LIMIT_REACHED", dict(nickname="second", key="k1")),
    "union_id_after_missing_group": (
        dict(nickname="first", key="k1", union="UNION", groups=["MISSING"]), NOT_FOUND,
        "GROUP_NOT_FOUND", dict(nickname="second", key="k2", union="UNION")),
    "nickname_after_invalid_email": (
        dict(nickname="name", email="no-at-sign"), IA, "EMAIL_INVALID",
        dict(nickname="name")),
    "key_after_invalid_email": (
        dict(nickname="first", key="k1", email="no-at-sign"), IA, "EMAIL_INVALID",
        dict(nickname="second", key="k1")),
}


@pytest.mark.parametrize("case", sorted(RESERVE_CASES))
def test_refused_entry_reserves_nothing(ctx, case):
    """A refused entry creates nothing, so it must not take a nickname,
    account id, key or union id from a later entry of the same batch."""
    first, code, reason, second = RESERVE_CASES[case]
    # The owner holds the only developer seat.
    o, owner = ctx.new_org(total=10, developers=1)
    actor = owner.user_id
    corp = unique("corp")
    acct = unique("acct")
    holder = ctx.new_user(o, owner, nickname="key-holder")
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=holder.user_id, platform=DING,
        corp_id=corp, platform_user_id="BOUND"), actor=actor)

    def build(spec):
        key = None
        if "key" in spec:
            key = ext_key(corp, spec["key"], union_id=spec.get("union", "") and
                          spec["union"] + corp)
        groups = [uuid.uuid4().hex if g == "MISSING" else g
                  for g in spec.get("groups", [])]
        return new_entry(spec["nickname"], spec.get("user_type", ANALYST), key=key,
                         groups=groups, email=spec.get("email", ""),
                         account_id=acct if spec.get("account_id") else "")

    entries = [build(first), build(second)]
    results = create_users(ctx, o, actor, entries)

    assert_refused(results[0], "first entry", code, reason)
    user = created(results[1], "second entry, after the refused first")
    assert user.nickname == entries[1].nickname
    assert user.account_id == entries[1].account_id
    if entries[1].HasField("external_identity"):
        key = entries[1].external_identity
        assert lookup_by_key(ctx, o, actor, key).user_id == user.user_id
        if key.union_id:
            assert lookup_by_union(ctx, o, actor, DING, key.union_id).user_id == \
                user.user_id
    assert len(list_users(ctx, o, actor)) == 3


# --- invalid entries ------------------------------------------------------------

def test_invalid_entries_refused_per_entry(ctx, org):
    o, owner = org
    actor = owner.user_id
    corp = unique("corp")
    group = mkgroup(ctx, o, owner, "有效组")
    many_groups = [mkgroup(ctx, o, owner, "g%03d" % i).group_id for i in range(100)]
    invalid = [
        (new_entry(""), "NICKNAME_INVALID", "nickname"),
        (new_entry(" leading-space"), "NICKNAME_INVALID", "nickname"),
        (new_entry("trailing-space "), "NICKNAME_INVALID", "nickname"),
        (new_entry("   "), "NICKNAME_INVALID", "nickname"),
        (new_entry("tab\there"), "NICKNAME_INVALID", "nickname"),
        (new_entry("zero\u200bwidth"), "NICKNAME_INVALID", "nickname"),
        (new_entry("长" * 51), "NICKNAME_TOO_LONG", "nickname"),
        (new_entry("no-type", pb.USER_TYPE_UNSPECIFIED), "USER_TYPE_INVALID", "user_type"),
        (new_entry("type-nine", 9), "USER_TYPE_INVALID", "user_type"),
        (new_entry("bad-email", email="not-an-email"), "EMAIL_INVALID", "email"),
        (new_entry("bad-email-2", email="a@b"), "EMAIL_INVALID", "email"),
        (new_entry("bad-phone", phone="12"), "PHONE_INVALID", "phone"),
        (new_entry("bad-account", account_id="has space"), "ACCOUNT_ID_INVALID",
         "account_id"),
        (new_entry("no-platform", key=ext_key(corp, "p0",
                                              platform=pb.PLATFORM_UNSPECIFIED)),
         "PLATFORM_INVALID", "platform"),
        (new_entry("platform-nine", key=ext_key(corp, "p9", platform=9)),
         "PLATFORM_INVALID", "platform"),
        (new_entry("empty-corp", key=ext_key("", "p1")), "EXTERNAL_ID_INVALID", "corp_id"),
        (new_entry("empty-userid", key=ext_key(corp, "")), "EXTERNAL_ID_INVALID",
         "platform_user_id"),
        (new_entry("long-corp", key=ext_key("c" * 65, "p2")), "EXTERNAL_ID_INVALID",
         "corp_id"),
        (new_entry("long-union", key=ext_key(corp, "p3", union_id="u" * 65)),
         "EXTERNAL_ID_INVALID", "union_id"),
        (new_entry("bad-group-id", groups=[group.group_id, "not-a-group-id"]),
         "INVALID_ID", "group_ids"),
        (new_entry("upper-group-id", groups=[group.group_id.upper()]),
         "INVALID_ID", "group_ids"),
        (new_entry("too-many-groups", groups=many_groups + [group.group_id]),
         "BATCH_SIZE_INVALID", "group_ids"),
    ]
    valid = [
        new_entry("valid-first", DEV, email="first@example.com"),
        new_entry("max-groups", key=ext_key(corp, "max"), groups=many_groups),
        # An invalid entry does not hold its nickname or key.
        new_entry("bad-email", key=ext_key(corp, "p0", platform=DING)),
        new_entry("valid-last", VISITOR, phone="+1 555 0100", groups=[group.group_id]),
    ]
    entries = [valid[0]] + [e for e, _, _ in invalid[:11]] + [valid[1]] + \
        [e for e, _, _ in invalid[11:]] + [valid[2], valid[3]]
    results = create_users(ctx, o, actor, entries)

    by_entry = list(zip(entries, results))
    made = []
    for entry, result in by_entry:
        match = [(r, f) for e, r, f in invalid if e is entry]
        if match:
            reason, field = match[0]
            assert_refused(result, "entry %r" % entry.nickname[:20], IA, reason,
                           field=field)
        else:
            user = created(result, "valid entry %r" % entry.nickname)
            assert user.nickname == entry.nickname
            made.append(user)
    assert [u.nickname for u in made] == [v.nickname for v in valid]

    everyone = list_users(ctx, o, actor)
    assert sorted(u.user_id for u in everyone) == sorted(
        [owner.user_id] + [u.user_id for u in made])
    assert groups_of(ctx, o, actor, made[1].user_id) == sorted(many_groups)
    assert group_members(ctx, o, actor, group.group_id) == [made[3].user_id]
    assert lookup_by_key(ctx, o, actor, ext_key(corp, "p0")).user_id == made[2].user_id
    for key in (ext_key(corp, "p1"), ext_key(corp, "p2"), ext_key(corp, "p3"),
                ext_key(corp, "p9")):
        assert_key_unbound(ctx, o, actor, key)


# --- seats -----------------------------------------------------------------------

def test_seats_taken_in_entry_order(ctx):
    o, owner = ctx.new_org(total=6, developers=2, visitors=1)
    actor = owner.user_id
    corp = unique("corp")
    ctx.new_user(o, owner, nickname="existing", user_type=ANALYST)
    # Used before the batch: owner (developer) and one analyst, so 4 seats
    # are free, 1 of them a developer's and 1 a visitor's.
    entries = [
        new_entry("dev-a", DEV),
        new_entry("dev-b", DEV, key=ext_key(corp, "dev-b")),
        new_entry("existing", VISITOR),
        new_entry("vis-a", VISITOR),
        new_entry("vis-b", VISITOR),
        new_entry("ana-bad-email", email="x@", user_type=ANALYST),
        new_entry("ana-a", ANALYST),
        new_entry("ana-no-group", ANALYST, groups=[uuid.uuid4().hex]),
        new_entry("ana-b", ANALYST),
        new_entry("ana-c", ANALYST, key=ext_key(corp, "ana-c")),
        new_entry("dev-c", DEV),
        new_entry("vis-c", VISITOR),
    ]
    results = create_users(ctx, o, actor, entries)

    for i in (0, 3, 6, 8):
        assert created(results[i], entries[i].nickname).nickname == entries[i].nickname
    assert_refused(results[1], "dev-b", EXHAUSTED, "SEAT_LIMIT_REACHED",
                   user_type="DEVELOPER", limit="2")
    assert_refused(results[2], "existing", EXISTS, "NICKNAME_TAKEN")
    assert_refused(results[4], "vis-b", EXHAUSTED, "SEAT_LIMIT_REACHED",
                   user_type="VISITOR", limit="1")
    assert_refused(results[5], "ana-bad-email", IA, "EMAIL_INVALID")
    assert_refused(results[7], "ana-no-group", NOT_FOUND, "GROUP_NOT_FOUND")
    assert_refused(results[9], "ana-c", EXHAUSTED, "TOTAL_SEAT_LIMIT_REACHED",
                   limit="6")
    # A per-type cap is checked before the total.
    assert_refused(results[10], "dev-c", EXHAUSTED, "SEAT_LIMIT_REACHED",
                   user_type="DEVELOPER", limit="2")
    assert_refused(results[11], "vis-c", EXHAUSTED, "SEAT_LIMIT_REACHED",
                   user_type="VISITOR", limit="1")

    assert seat_usage(ctx, o, owner) == (6, 2, 3, 1)
    assert len(list_users(ctx, o, actor)) == 6
    assert_key_unbound(ctx, o, actor, ext_key(corp, "dev-b"))
    assert_key_unbound(ctx, o, actor, ext_key(corp, "ana-c"))

    # Full: a further batch creates nothing.
    results = create_users(ctx, o, actor, [new_entry("late", VISITOR),
                                            new_entry("later", ANALYST)])
    assert_refused(results[0], "late", EXHAUSTED, "SEAT_LIMIT_REACHED",
                   user_type="VISITOR")
    assert_refused(results[1], "later", EXHAUSTED, "TOTAL_SEAT_LIMIT_REACHED")
    assert seat_usage(ctx, o, owner) == (6, 2, 3, 1)


def test_concurrent_batches_share_seats(ctx):
    # The owner plus 10 free seats; four batches of 5 race for them.
    o, owner = ctx.new_org(total=11)

    def send(n):
        entries = [new_entry("racer-%d-%d" % (n, i), VISITOR) for i in range(5)]
        return create_users(ctx, o, owner.user_id, entries)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(send, range(4)))
    outcomes = [r.error.reason if r.HasField("error") else "created"
                for results in batches for r in results]
    assert outcomes.count("created") == 10, outcomes
    assert outcomes.count("TOTAL_SEAT_LIMIT_REACHED") == 10, outcomes
    assert seat_usage(ctx, o, owner)[0] == 11


# --- whole-call errors -------------------------------------------------------------

def test_whole_call_errors(ctx):
    o, owner = ctx.new_org(total=20)
    actor = owner.user_id
    analyst = ctx.new_user(o, owner, nickname="plain-analyst", user_type=ANALYST)
    visitor = ctx.new_user(o, owner, nickname="plain-visitor", user_type=VISITOR)
    disabled = ctx.new_user(o, owner, nickname="disabled-user", user_type=ANALYST)
    ctx.call("DisableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=disabled.user_id), actor=actor)
    other_org, other_owner = ctx.new_org(total=5)
    corp = unique("corp")
    one = [new_entry("should-not-exist", key=ext_key(corp, "nobody"))]

    def request(users, org_id=o.organization_id):
        return pb.CreateUsersRequest(organization_id=org_id, users=users)

    err = ctx.refused("CreateUsers", request([]), IA, "BATCH_SIZE_INVALID", actor=actor)
    _, info, _ = rl.error_info(err)
    assert info.metadata["field"] == "users"
    too_many = [new_entry("n%04d" % i, VISITOR) for i in range(1001)]
    err = ctx.refused("CreateUsers", request(too_many), IA, "BATCH_SIZE_INVALID",
                      actor=actor)
    assert "1001" in err.details(), err.details()

    for bad_id in ("", "not-an-id", o.organization_id.upper(), o.organization_id + "0"):
        ctx.refused("CreateUsers", request(one, org_id=bad_id), IA, "INVALID_ID",
                    actor=actor)
    ctx.refused("CreateUsers", request(one, org_id=uuid.uuid4().hex), NOT_FOUND,
                "ORGANIZATION_NOT_FOUND", actor=actor)

    for who in (analyst, visitor):
        err = ctx.refused("CreateUsers", request(one), DENIED, "NOT_ORGANIZATION_ADMIN",
                          actor=who.user_id)
        _, info, _ = rl.error_info(err)
        assert info.metadata["actor"] == who.user_id
    ctx.refused("CreateUsers", request(one), DENIED, "ACTOR_DISABLED",
                actor=disabled.user_id)
    ctx.refused("CreateUsers", request(one), DENIED, "ACTOR_NOT_IN_ORGANIZATION",
                actor=other_owner.user_id)
    ctx.refused("CreateUsers", request(one), grpc.StatusCode.UNAUTHENTICATED,
                "ACTOR_REQUIRED")
    rl.refused(ctx.stub.CreateUsers, request(one), grpc.StatusCode.UNAUTHENTICATED,
               "TOKEN_MISSING", metadata=rl.md(None, actor), timeout=15)

    # None of the calls above created a user or bound a key.
    names = sorted(u.nickname for u in list_users(ctx, o, actor))
    assert names == sorted([owner.nickname, "plain-analyst", "plain-visitor",
                            "disabled-user"])
    assert_key_unbound(ctx, o, actor, ext_key(corp, "nobody"))
    assert [u.user_id for u in list_users(ctx, other_org, other_owner.user_id)] == \
        [other_owner.user_id]


# --- large batch -------------------------------------------------------------------

@pytest.fixture
def roomy(ctx):
    """A second roster-identity on the same database with the default 4 MiB
    message limit; the shared server's 64 KiB is too small for 1000 results."""
    env = rl.identity_env(ctx.conninfo, ctx.tokens_file, ROSTER_MAX_MESSAGE_BYTES=None)
    server = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, "identity-roomy.log"))
    server.start()
    channel = None
    try:
        server.wait_health()
        channel = server.channel()
        yield rl.identity_stub(channel)
    finally:
        if channel is not None:
            channel.close()
        rc = server.stop()
        assert rc == 0, "roster-identity exited with %r" % rc


def test_batch_of_1000(ctx, roomy):
    o, owner = ctx.new_org(total=1001)
    actor = owner.user_id
    group = mkgroup(ctx, o, owner, "千人组")
    corp = unique("corp")
    types = (DEV, ANALYST, VISITOR)
    entries = [new_entry("批量用户-%04d" % i, types[i % 3],
                         key=ext_key(corp, "u%04d" % i, union_id="un%04d" % i),
                         groups=[group.group_id])
               for i in range(1000)]
    resp = roomy.CreateUsers(pb.CreateUsersRequest(
        organization_id=o.organization_id, users=entries),
        metadata=rl.md(ctx.admin_token, actor), timeout=60)

    assert len(resp.results) == 1000
    users = [created(r, "entry %d" % i) for i, r in enumerate(resp.results)]
    assert [u.nickname for u in users] == [e.nickname for e in entries]
    assert [u.user_type for u in users] == [e.user_type for e in entries]

    everyone = list_users(ctx, o, actor)
    assert len(everyone) == 1001
    assert sorted(u.user_id for u in everyone) == sorted(
        [u.user_id for u in users] + [owner.user_id])
    assert seat_usage(ctx, o, owner) == (1001, 335, 333, 333)
    assert group_members(ctx, o, actor, group.group_id) == sorted(u.user_id for u in users)
    for i in (0, 499, 999):
        assert lookup_by_key(ctx, o, actor, entries[i].external_identity).user_id == \
            users[i].user_id
        assert lookup_by_union(ctx, o, actor, DING, "un%04d" % i).user_id == \
            users[i].user_id

    # The organisation is full now: one more entry is refused, not the call.
    results = create_users(ctx, o, actor, [new_entry("one-too-many", VISITOR)])
    assert_refused(results[0], "entry 1001", EXHAUSTED, "TOTAL_SEAT_LIMIT_REACHED",
                   limit="1001")
