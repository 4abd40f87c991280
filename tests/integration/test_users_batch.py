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

INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED

DEVELOPER = pb.USER_TYPE_DEVELOPER
ANALYST = pb.USER_TYPE_ANALYST
VISITOR = pb.USER_TYPE_VISITOR
DINGTALK = pb.PLATFORM_DINGTALK
WECOM = pb.PLATFORM_WECOM
LARK = pb.PLATFORM_LARK


# --- helpers -----------------------------------------------------------------

def make_entry(nickname, user_type=ANALYST, key=None, groups=(), **fields):
    entry = pb.NewUser(nickname=nickname, user_type=user_type,
                       group_ids=list(groups), **fields)
    if key is not None:
        entry.external_identity.CopyFrom(key)
    return entry


def make_key(corp_id, platform_user_id, union_id="", platform=DINGTALK):
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


def expect_created(result, label):
    """Returns the user of a created entry, and fails if the entry was refused."""
    assert not result.HasField("error"), "%s was refused: %s %s" % (
        label, result.error.reason, result.error.message)
    assert result.HasField("user"), "%s has neither user nor error" % label
    return result.user


def assert_entry_rejected(result, label, code, reason, **metadata):
    """Checks that an entry was refused with code, reason and metadata."""
    assert not result.HasField("user"), "%s was created: %r" % (label, result.user)
    assert result.HasField("error"), "%s has neither user nor error" % label
    error = result.error
    assert error.code == code.value[0], "%s: expected code %d (%s), got %d %s" % (
        label, code.value[0], code.name, error.code, error.reason)
    assert error.reason == reason, "%s: expected reason %s, got %s (%s)" % (
        label, reason, error.reason, error.message)
    assert error.message, "%s: the error has no message" % label
    for key, value in metadata.items():
        assert error.metadata.get(key) == value, \
            "%s: metadata %r: expected %r, got %r (all: %r)" % (
                label, key, value, error.metadata.get(key), dict(error.metadata))


def list_users(ctx, org, actor, keyword=""):
    """Returns every user of org whose nickname contains keyword, all pages.
    Pages of 300 users fit the shared server's 64 KiB message limit."""
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


def list_group_members(ctx, org, actor, group_id):
    """Returns the sorted user ids of a group's members, all pages."""
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


def list_groups_of_user(ctx, org, actor, user_id):
    page = ctx.call("ListGroupsOfUser", pb.ListGroupsOfUserRequest(
        organization_id=org.organization_id, user_id=user_id, page_size=200),
        actor=actor)
    return sorted(group.group_id for group in page.groups)


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


def create_group(ctx, org, owner, name, parent="", sync_source=None):
    """Creates a user group. A group with a sync_source needs the sync token."""
    req = pb.CreateUserGroupRequest(organization_id=org.organization_id,
                                    parent_group_id=parent, name=name)
    token = None
    if sync_source is not None:
        req.sync_source.CopyFrom(sync_source)
        token = ctx.sync_token
    return ctx.call("CreateUserGroup", req, actor=owner.user_id, token=token)


def get_seat_usage(ctx, org, owner):
    """Returns (total, developers, analysts, visitors) seats in use."""
    got = ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=org.organization_id), actor=owner.user_id)
    usage = got.seat_usage
    return (usage.total, usage.developers, usage.analysts, usage.visitors)


def unique_name(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


# --- happy path --------------------------------------------------------------

def test_batch_creates_all_entries(ctx, org):
    organization, owner = org
    actor = owner.user_id
    g1 = create_group(ctx, organization, owner, "研发中心")
    g2 = create_group(ctx, organization, owner, "数据平台", parent=g1.group_id)
    g3 = create_group(ctx, organization, owner, "Sales 销售 🚀")
    corp = unique_name("dingcorp")
    account = unique_name("acct")
    entries = [
        make_entry("张伟", DEVELOPER, email="zhang.wei@example.com",
                   phone="+86 138-0013-8000", account_id=account,
                   key=make_key(corp, "0001", union_id="union-zw-" + corp),
                   groups=[g1.group_id]),
        make_entry("熊猫 🐼 Panda", ANALYST, email="panda@example.cn",
                   key=make_key(corp, "0002"), groups=[g1.group_id, g2.group_id]),
        make_entry("Zhang Wei 张伟 Ωμέγα", VISITOR, phone="12345",
                   key=make_key("ww" + corp, "zhangwei", union_id="wx-union-" + corp,
                                platform=WECOM),
                   groups=[g1.group_id, g2.group_id, g3.group_id]),
        # 50 code points is the maximum, and 4-byte emoji make it 200 bytes.
        make_entry("😀" * 50, DEVELOPER,
                   key=make_key("lark-" + corp, "ou_123", union_id="on_abc-" + corp,
                                platform=LARK),
                   groups=[g3.group_id]),
        make_entry("李" * 50, ANALYST,
                   key=make_key(corp, "0005", union_id="union-li-" + corp)),
        make_entry("plain-no-key", VISITOR),
        # Characters that need quoting in a PostgreSQL array literal, and a
        # group named twice, which the user joins once.
        make_entry('O\'Brien "Bob" \\ {x}, NULL', ANALYST,
                   key=make_key(corp, 'id,"q"\\{}', union_id='union "q" ' + corp),
                   groups=[g1.group_id, g1.group_id]),
    ]
    results = create_users(ctx, organization, actor, entries)

    users = [expect_created(r, "entry %d" % i) for i, r in enumerate(results)]
    for i, (entry, user) in enumerate(zip(entries, users)):
        assert user.nickname == entry.nickname, "entry %d out of order" % i
        assert user.user_type == entry.user_type, i
        assert user.email == entry.email, i
        assert user.phone == entry.phone, i
        assert user.account_id == entry.account_id, i
        assert user.organization_id == organization.organization_id, i
        assert user.enabled, i
        assert not user.is_owner, i
        assert len(user.user_id) == 32, i
        assert user.create_time.seconds > 0, i
    ids = [u.user_id for u in users]
    assert len(set(ids)) == len(ids), "two entries share a user id"

    # The read cache must not hide users created a moment ago.
    for i, user in enumerate(users):
        got = ctx.call("GetUser", pb.GetUserRequest(
            organization_id=organization.organization_id, user_id=user.user_id),
            actor=actor)
        assert got == user, "GetUser differs for entry %d" % i

    # A new user may act at once, although the actor check reads the cache.
    got = ctx.call("GetUser", pb.GetUserRequest(
        organization_id=organization.organization_id, user_id=owner.user_id),
        actor=ids[5])
    assert got.user_id == owner.user_id

    for i, (entry, user) in enumerate(zip(entries, users)):
        if not entry.HasField("external_identity"):
            continue
        key = entry.external_identity
        assert lookup_by_key(ctx, organization, actor, key).user_id == user.user_id, i
        if key.union_id:
            by_union = lookup_by_union(ctx, organization, actor, key.platform,
                                       key.union_id)
            assert by_union.user_id == user.user_id, i
        bound = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
            organization_id=organization.organization_id, user_id=user.user_id),
            actor=actor)
        assert len(bound.identities) == 1, i
        identity = bound.identities[0]
        assert (identity.platform, identity.corp_id, identity.platform_user_id,
                identity.union_id) == (key.platform, key.corp_id,
                                       key.platform_user_id, key.union_id), i
    unbound = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
        organization_id=organization.organization_id, user_id=ids[5]), actor=actor)
    assert list(unbound.identities) == []

    assert list_group_members(ctx, organization, actor, g1.group_id) == \
        sorted(ids[0:3] + [ids[6]])
    assert list_group_members(ctx, organization, actor, g2.group_id) == \
        sorted(ids[1:3])
    assert list_group_members(ctx, organization, actor, g3.group_id) == \
        sorted([ids[2], ids[3]])
    for group, count in ((g1, 4), (g2, 2), (g3, 2)):
        got = ctx.call("GetUserGroup", pb.GetUserGroupRequest(
            organization_id=organization.organization_id, group_id=group.group_id),
            actor=actor)
        assert got.member_count == count, group.name
    assert list_groups_of_user(ctx, organization, actor, ids[2]) == sorted(
        [g1.group_id, g2.group_id, g3.group_id])
    assert list_groups_of_user(ctx, organization, actor, ids[4]) == []
    assert list_groups_of_user(ctx, organization, actor, ids[5]) == []

    everyone = list_users(ctx, organization, actor)
    assert sorted(u.user_id for u in everyone) == sorted(ids + [owner.user_id])
    # Owner (developer) plus 2 developers, 3 analysts and 2 visitors.
    assert get_seat_usage(ctx, organization, owner) == (8, 3, 3, 2)


def test_batch_with_sync_scope_joins_synced_group(ctx, org):
    organization, owner = org
    synced = create_group(ctx, organization, owner, "钉钉部门", sync_source=pb.SyncSource(
        platform=DINGTALK, corp_id=unique_name("corp"), department_id="42"))
    results = create_users(ctx, organization, owner.user_id,
                           [make_entry("同步用户", groups=[synced.group_id])],
                           token=ctx.sync_token)
    user = expect_created(results[0], "entry for the synced group")
    assert list_group_members(ctx, organization, owner.user_id, synced.group_id) == \
        [user.user_id]


# --- refusals that need the database -----------------------------------------

def test_partial_failure_refuses_only_bad_entries(ctx, org):
    organization, owner = org
    actor = owner.user_id
    corp = unique_name("corp")
    taken_account = unique_name("acct-taken")
    batch_account = unique_name("acct-batch")
    holder = ctx.new_user(organization, owner, nickname="taken-nick",
                          account_id=taken_account)
    key_owner = ctx.new_user(organization, owner, nickname="key-owner")
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=organization.organization_id, user_id=key_owner.user_id,
        platform=DINGTALK, corp_id=corp, platform_user_id="bound-1",
        union_id="union-bound-" + corp), actor=actor)
    group = create_group(ctx, organization, owner, "普通组")
    synced = create_group(ctx, organization, owner, "同步组", sync_source=pb.SyncSource(
        platform=DINGTALK, corp_id=corp, department_id="7"))
    other_org, other_owner = ctx.new_org(total=5)
    foreign = create_group(ctx, other_org, other_owner, "其他组织的组")
    missing_group = uuid.uuid4().hex

    entries = [
        make_entry("good-0", DEVELOPER, key=make_key(corp, "fresh-0"),
                   groups=[group.group_id]),
        make_entry("taken-nick", key=make_key(corp, "fresh-1"), groups=[group.group_id]),
        make_entry("dup-in-batch", key=make_key(corp, "fresh-2")),
        make_entry("dup-in-batch", VISITOR, key=make_key(corp, "fresh-3"),
                   groups=[group.group_id]),
        make_entry("acct-clash", account_id=taken_account, key=make_key(corp, "fresh-4")),
        make_entry("key-bound", key=make_key(corp, "bound-1"), groups=[group.group_id]),
        make_entry("union-bound",
                   key=make_key(corp, "fresh-6", union_id="union-bound-" + corp)),
        make_entry("key-first", key=make_key(corp, "twice")),
        make_entry("key-second", key=make_key(corp, "twice"), groups=[group.group_id]),
        make_entry("missing-group", key=make_key(corp, "fresh-9"),
                   groups=[group.group_id, missing_group]),
        make_entry("synced-group", key=make_key(corp, "fresh-10"),
                   groups=[synced.group_id]),
        make_entry("foreign-group", groups=[foreign.group_id]),
        make_entry("acct-batch-a", account_id=batch_account),
        make_entry("acct-batch-b", account_id=batch_account,
                   key=make_key(corp, "fresh-13")),
        make_entry("union-first",
                   key=make_key(corp, "u14", union_id="union-batch-" + corp)),
        make_entry("union-second",
                   key=make_key("other-" + corp, "u15", union_id="union-batch-" + corp)),
        make_entry("good-16", VISITOR, groups=[group.group_id]),
    ]
    results = create_users(ctx, organization, actor, entries)

    good = {i: expect_created(results[i], entries[i].nickname)
            for i in (0, 2, 7, 12, 14, 16)}
    for i, user in good.items():
        assert user.nickname == entries[i].nickname, "result %d out of order" % i

    assert_entry_rejected(results[1], "taken nickname", ALREADY_EXISTS, "NICKNAME_TAKEN",
                         nickname="taken-nick")
    assert_entry_rejected(results[3], "second dup-in-batch", ALREADY_EXISTS,
                         "NICKNAME_TAKEN", nickname="dup-in-batch")
    assert_entry_rejected(results[4], "taken account id", ALREADY_EXISTS,
                         "ACCOUNT_ID_TAKEN", account_id=taken_account)
    assert_entry_rejected(results[5], "bound key", ALREADY_EXISTS,
                         "EXTERNAL_IDENTITY_BOUND", user_id=key_owner.user_id)
    assert_entry_rejected(results[6], "bound union id", ALREADY_EXISTS, "UNION_ID_BOUND",
                         user_id=key_owner.user_id)
    assert_entry_rejected(results[8], "key twice in the batch", ALREADY_EXISTS,
                         "EXTERNAL_IDENTITY_BOUND", user_id=good[7].user_id)
    assert_entry_rejected(results[9], "missing group", NOT_FOUND, "GROUP_NOT_FOUND",
                         group_id=missing_group)
    assert_entry_rejected(results[10], "synced group", FAILED_PRECONDITION,
                         "GROUP_SYNCHRONIZED", group_id=synced.group_id)
    assert_entry_rejected(results[11], "group of another organisation", NOT_FOUND,
                         "GROUP_NOT_FOUND", group_id=foreign.group_id)
    assert_entry_rejected(results[13], "account id twice in the batch", ALREADY_EXISTS,
                         "ACCOUNT_ID_TAKEN", account_id=batch_account)
    assert_entry_rejected(results[15], "union id twice in the batch", ALREADY_EXISTS,
                         "UNION_ID_BOUND", user_id=good[14].user_id)

    # Users: the owner, the two created before, the good entries and no other.
    everyone = list_users(ctx, organization, actor)
    assert sorted(u.user_id for u in everyone) == sorted(
        [owner.user_id, holder.user_id, key_owner.user_id]
        + [u.user_id for u in good.values()])
    for nickname in ("acct-clash", "key-bound", "union-bound", "key-second",
                     "missing-group", "synced-group", "foreign-group", "acct-batch-b",
                     "union-second"):
        assert_no_user_named(ctx, organization, actor, nickname)
    same_name = list_users(ctx, organization, actor, keyword="dup-in-batch")
    assert [u.user_id for u in same_name] == [good[2].user_id], "the first entry must win"
    taken_name = list_users(ctx, organization, actor, keyword="taken-nick")
    assert [u.user_id for u in taken_name] == [holder.user_id]

    # Keys: the good entries' keys are bound, and the refused entries' are not.
    for i in (0, 2, 7, 14):
        key = entries[i].external_identity
        assert lookup_by_key(ctx, organization, actor, key).user_id == good[i].user_id, i
    for i in (1, 3, 4, 6, 9, 10, 13, 15):
        assert_key_unbound(ctx, organization, actor, entries[i].external_identity)
    bound_key = lookup_by_key(ctx, organization, actor, entries[5].external_identity)
    assert bound_key.user_id == key_owner.user_id
    bound_union = lookup_by_union(ctx, organization, actor, DINGTALK, "union-bound-" + corp)
    assert bound_union.user_id == key_owner.user_id
    batch_union = lookup_by_union(ctx, organization, actor, DINGTALK, "union-batch-" + corp)
    assert batch_union.user_id == good[14].user_id
    owner_keys = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
        organization_id=organization.organization_id, user_id=key_owner.user_id),
        actor=actor)
    assert len(owner_keys.identities) == 1

    # Groups: only good entries joined.
    assert list_group_members(ctx, organization, actor, group.group_id) == sorted(
        [good[0].user_id, good[16].user_id])
    assert list_group_members(ctx, organization, actor, synced.group_id) == []
    assert list_group_members(ctx, other_org, other_owner.user_id, foreign.group_id) == []
    assert get_seat_usage(ctx, organization, owner)[0] == 3 + len(good)


def test_bound_key_twice_names_real_owner(ctx, org):
    """Two entries with a key or union id bound to an existing user are both
    refused, and both name that user, not the other refused entry."""
    organization, owner = org
    actor = owner.user_id
    corp = unique_name("corp")
    key_owner = ctx.new_user(organization, owner, nickname="key-owner")
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=organization.organization_id, user_id=key_owner.user_id,
        platform=DINGTALK, corp_id=corp, platform_user_id="held",
        union_id="union-held"), actor=actor)
    entries = [
        make_entry("key-a", key=make_key(corp, "held")),
        make_entry("key-b", key=make_key(corp, "held")),
        make_entry("union-a", key=make_key(corp, "fresh-a", union_id="union-held")),
        make_entry("union-b", key=make_key(corp, "fresh-b", union_id="union-held")),
    ]
    results = create_users(ctx, organization, actor, entries)

    for i in (0, 1):
        assert_entry_rejected(results[i], entries[i].nickname, ALREADY_EXISTS,
                             "EXTERNAL_IDENTITY_BOUND", user_id=key_owner.user_id)
    for i in (2, 3):
        assert_entry_rejected(results[i], entries[i].nickname, ALREADY_EXISTS,
                             "UNION_ID_BOUND", user_id=key_owner.user_id)
    assert len(list_users(ctx, organization, actor)) == 2


# Each case is (first entry, its expected code and reason, second entry). The
# second entry shares a nickname, account id, key or union id with the first.
# missing_group adds a random group id, "ACCT" is one account id per test,
# "BOUND" is a key that an existing user has, and a union id gets the corp id
# appended.
RESERVE_CASES = {
    "nickname_after_missing_group": (
        dict(nickname="name", missing_group=True), NOT_FOUND, "GROUP_NOT_FOUND",
        dict(nickname="name")),
    "nickname_after_seat_limit": (
        dict(nickname="name", user_type=DEVELOPER), RESOURCE_EXHAUSTED,
        "SEAT_LIMIT_REACHED", dict(nickname="name")),
    "nickname_after_bound_key": (
        dict(nickname="name", key="BOUND"), ALREADY_EXISTS, "EXTERNAL_IDENTITY_BOUND",
        dict(nickname="name")),
    "account_id_after_missing_group": (
        dict(nickname="first", account_id="ACCT", missing_group=True), NOT_FOUND,
        "GROUP_NOT_FOUND", dict(nickname="second", account_id="ACCT")),
    "key_after_missing_group": (
        dict(nickname="first", key="k1", missing_group=True), NOT_FOUND,
        "GROUP_NOT_FOUND", dict(nickname="second", key="k1")),
    "key_after_seat_limit": (
        dict(nickname="first", key="k1", user_type=DEVELOPER), RESOURCE_EXHAUSTED,
        "SEAT_LIMIT_REACHED", dict(nickname="second", key="k1")),
    "union_id_after_missing_group": (
        dict(nickname="first", key="k1", union="UNION", missing_group=True), NOT_FOUND,
        "GROUP_NOT_FOUND", dict(nickname="second", key="k2", union="UNION")),
    "nickname_after_invalid_email": (
        dict(nickname="name", email="no-at-sign"), INVALID_ARGUMENT, "EMAIL_INVALID",
        dict(nickname="name")),
    "key_after_invalid_email": (
        dict(nickname="first", key="k1", email="no-at-sign"), INVALID_ARGUMENT,
        "EMAIL_INVALID", dict(nickname="second", key="k1")),
}


@pytest.mark.parametrize("case", sorted(RESERVE_CASES))
def test_refused_entry_reserves_nothing(ctx, case):
    """A refused entry creates nothing, so it must not take a nickname,
    account id, key or union id from a later entry of the same batch."""
    first, code, reason, second = RESERVE_CASES[case]
    # The owner has the only developer seat.
    organization, owner = ctx.new_org(total=10, developers=1)
    actor = owner.user_id
    corp = unique_name("corp")
    account = unique_name("acct")
    key_owner = ctx.new_user(organization, owner, nickname="key-owner")
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=organization.organization_id, user_id=key_owner.user_id,
        platform=DINGTALK, corp_id=corp, platform_user_id="BOUND"), actor=actor)

    def build(spec):
        key = None
        if "key" in spec:
            union_id = spec["union"] + corp if "union" in spec else ""
            key = make_key(corp, spec["key"], union_id=union_id)
        groups = [uuid.uuid4().hex] if spec.get("missing_group") else []
        return make_entry(spec["nickname"], spec.get("user_type", ANALYST), key=key,
                          groups=groups, email=spec.get("email", ""),
                          account_id=account if spec.get("account_id") == "ACCT" else "")

    entries = [build(first), build(second)]
    results = create_users(ctx, organization, actor, entries)

    assert_entry_rejected(results[0], "first entry", code, reason)
    user = expect_created(results[1], "second entry, after the refused first")
    assert user.nickname == entries[1].nickname
    assert user.account_id == entries[1].account_id
    if entries[1].HasField("external_identity"):
        key = entries[1].external_identity
        assert lookup_by_key(ctx, organization, actor, key).user_id == user.user_id
        if key.union_id:
            by_union = lookup_by_union(ctx, organization, actor, DINGTALK, key.union_id)
            assert by_union.user_id == user.user_id
    assert len(list_users(ctx, organization, actor)) == 3


# --- invalid entries ---------------------------------------------------------

def test_invalid_entries_refused_per_entry(ctx, org):
    organization, owner = org
    actor = owner.user_id
    corp = unique_name("corp")
    group = create_group(ctx, organization, owner, "有效组")
    many_groups = [create_group(ctx, organization, owner, "g%03d" % i).group_id
                   for i in range(100)]
    # (entry, expected reason, expected "field" metadata)
    invalid = [
        (make_entry(""), "NICKNAME_INVALID", "nickname"),
        (make_entry(" leading-space"), "NICKNAME_INVALID", "nickname"),
        (make_entry("trailing-space "), "NICKNAME_INVALID", "nickname"),
        (make_entry("   "), "NICKNAME_INVALID", "nickname"),
        (make_entry("tab\there"), "NICKNAME_INVALID", "nickname"),
        (make_entry("zero\u200bwidth"), "NICKNAME_INVALID", "nickname"),
        (make_entry("长" * 51), "NICKNAME_TOO_LONG", "nickname"),
        (make_entry("no-type", pb.USER_TYPE_UNSPECIFIED), "USER_TYPE_INVALID",
         "user_type"),
        (make_entry("type-nine", 9), "USER_TYPE_INVALID", "user_type"),
        (make_entry("bad-email", email="not-an-email"), "EMAIL_INVALID", "email"),
        (make_entry("bad-email-2", email="a@b"), "EMAIL_INVALID", "email"),
        (make_entry("bad-phone", phone="12"), "PHONE_INVALID", "phone"),
        (make_entry("bad-account", account_id="has space"), "ACCOUNT_ID_INVALID",
         "account_id"),
        (make_entry("no-platform",
                    key=make_key(corp, "p0", platform=pb.PLATFORM_UNSPECIFIED)),
         "PLATFORM_INVALID", "platform"),
        (make_entry("platform-nine", key=make_key(corp, "p9", platform=9)),
         "PLATFORM_INVALID", "platform"),
        (make_entry("empty-corp", key=make_key("", "p1")), "EXTERNAL_ID_INVALID",
         "corp_id"),
        (make_entry("empty-userid", key=make_key(corp, "")), "EXTERNAL_ID_INVALID",
         "platform_user_id"),
        (make_entry("long-corp", key=make_key("c" * 65, "p2")), "EXTERNAL_ID_INVALID",
         "corp_id"),
        (make_entry("long-union", key=make_key(corp, "p3", union_id="u" * 65)),
         "EXTERNAL_ID_INVALID", "union_id"),
        (make_entry("bad-group-id", groups=[group.group_id, "not-a-group-id"]),
         "INVALID_ID", "group_ids"),
        (make_entry("upper-group-id", groups=[group.group_id.upper()]),
         "INVALID_ID", "group_ids"),
        (make_entry("too-many-groups", groups=many_groups + [group.group_id]),
         "BATCH_SIZE_INVALID", "group_ids"),
    ]
    valid = [
        make_entry("valid-first", DEVELOPER, email="first@example.com"),
        make_entry("max-groups", key=make_key(corp, "max"), groups=many_groups),
        # An invalid entry leaves its nickname and key free for a later entry.
        make_entry("bad-email", key=make_key(corp, "p0", platform=DINGTALK)),
        make_entry("valid-last", VISITOR, phone="+1 555 0100", groups=[group.group_id]),
    ]
    entries = ([valid[0]] + [entry for entry, _, _ in invalid[:11]] + [valid[1]]
               + [entry for entry, _, _ in invalid[11:]] + [valid[2], valid[3]])
    results = create_users(ctx, organization, actor, entries)

    created_users = []
    for entry, result in zip(entries, results):
        expected = [(reason, field) for bad, reason, field in invalid if bad is entry]
        if expected:
            reason, field = expected[0]
            assert_entry_rejected(result, "entry %r" % entry.nickname[:20],
                                 INVALID_ARGUMENT, reason, field=field)
        else:
            user = expect_created(result, "valid entry %r" % entry.nickname)
            assert user.nickname == entry.nickname
            created_users.append(user)
    assert [u.nickname for u in created_users] == [v.nickname for v in valid]

    everyone = list_users(ctx, organization, actor)
    assert sorted(u.user_id for u in everyone) == sorted(
        [owner.user_id] + [u.user_id for u in created_users])
    assert list_groups_of_user(ctx, organization, actor, created_users[1].user_id) == \
        sorted(many_groups)
    assert list_group_members(ctx, organization, actor, group.group_id) == \
        [created_users[3].user_id]
    p0 = lookup_by_key(ctx, organization, actor, make_key(corp, "p0"))
    assert p0.user_id == created_users[2].user_id
    for key in (make_key(corp, "p1"), make_key(corp, "p2"), make_key(corp, "p3"),
                make_key(corp, "p9")):
        assert_key_unbound(ctx, organization, actor, key)


# --- seats -------------------------------------------------------------------

def test_seats_taken_in_entry_order(ctx):
    organization, owner = ctx.new_org(total=6, developers=2, visitors=1)
    actor = owner.user_id
    corp = unique_name("corp")
    ctx.new_user(organization, owner, nickname="existing", user_type=ANALYST)
    # Used before the batch: the owner (developer) and one analyst, so 4
    # seats are free, 1 of them a developer's and 1 a visitor's.
    entries = [
        make_entry("dev-a", DEVELOPER),
        make_entry("dev-b", DEVELOPER,
                   key=make_key(corp, "dev-b", union_id="union-dev-b-" + corp)),
        make_entry("existing", VISITOR),
        make_entry("vis-a", VISITOR),
        make_entry("vis-b", VISITOR),
        make_entry("ana-bad-email", email="x@", user_type=ANALYST),
        make_entry("ana-a", ANALYST),
        make_entry("ana-no-group", ANALYST, groups=[uuid.uuid4().hex]),
        make_entry("ana-b", ANALYST),
        make_entry("ana-c", ANALYST, key=make_key(corp, "ana-c")),
        make_entry("dev-c", DEVELOPER),
        make_entry("vis-c", VISITOR),
    ]
    results = create_users(ctx, organization, actor, entries)

    for i in (0, 3, 6, 8):
        user = expect_created(results[i], entries[i].nickname)
        assert user.nickname == entries[i].nickname
    assert_entry_rejected(results[1], "dev-b", RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
                         user_type="DEVELOPER", limit="2")
    assert_entry_rejected(results[2], "existing", ALREADY_EXISTS, "NICKNAME_TAKEN")
    assert_entry_rejected(results[4], "vis-b", RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
                         user_type="VISITOR", limit="1")
    assert_entry_rejected(results[5], "ana-bad-email", INVALID_ARGUMENT, "EMAIL_INVALID")
    assert_entry_rejected(results[7], "ana-no-group", NOT_FOUND, "GROUP_NOT_FOUND")
    assert_entry_rejected(results[9], "ana-c", RESOURCE_EXHAUSTED,
                         "TOTAL_SEAT_LIMIT_REACHED", limit="6")
    # A per-type cap is checked before the total.
    assert_entry_rejected(results[10], "dev-c", RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
                         user_type="DEVELOPER", limit="2")
    assert_entry_rejected(results[11], "vis-c", RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
                         user_type="VISITOR", limit="1")

    assert get_seat_usage(ctx, organization, owner) == (6, 2, 3, 1)
    assert len(list_users(ctx, organization, actor)) == 6
    assert_key_unbound(ctx, organization, actor, make_key(corp, "dev-b"))
    assert_union_unbound(ctx, organization, actor, DINGTALK, "union-dev-b-" + corp)
    assert_key_unbound(ctx, organization, actor, make_key(corp, "ana-c"))

    # Every seat is taken, so a further batch creates nothing.
    results = create_users(ctx, organization, actor, [make_entry("late", VISITOR),
                                                      make_entry("later", ANALYST)])
    assert_entry_rejected(results[0], "late", RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
                         user_type="VISITOR")
    assert_entry_rejected(results[1], "later", RESOURCE_EXHAUSTED,
                         "TOTAL_SEAT_LIMIT_REACHED")
    assert get_seat_usage(ctx, organization, owner) == (6, 2, 3, 1)


def test_concurrent_batches_share_seats(ctx):
    # The owner has 1 of 11 seats, and four batches of 5 race for the other 10.
    organization, owner = ctx.new_org(total=11)

    def send(n):
        entries = [make_entry("racer-%d-%d" % (n, i), VISITOR) for i in range(5)]
        return create_users(ctx, organization, owner.user_id, entries)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(send, range(4)))
    outcomes = [r.error.reason if r.HasField("error") else "created"
                for results in batches for r in results]
    assert outcomes.count("created") == 10, outcomes
    assert outcomes.count("TOTAL_SEAT_LIMIT_REACHED") == 10, outcomes
    assert get_seat_usage(ctx, organization, owner)[0] == 11


# --- whole-call errors -------------------------------------------------------

def test_whole_call_errors(ctx):
    organization, owner = ctx.new_org(total=20)
    org_id = organization.organization_id
    actor = owner.user_id
    analyst = ctx.new_user(organization, owner, nickname="plain-analyst",
                           user_type=ANALYST)
    visitor = ctx.new_user(organization, owner, nickname="plain-visitor",
                           user_type=VISITOR)
    disabled = ctx.new_user(organization, owner, nickname="disabled-user",
                            user_type=ANALYST)
    ctx.call("DisableUser", pb.SetUserEnabledRequest(
        organization_id=org_id, user_id=disabled.user_id), actor=actor)
    other_org, other_owner = ctx.new_org(total=5)
    corp = unique_name("corp")
    single_entry = [make_entry("should-not-exist",
                               key=make_key(corp, "nobody", union_id="union-" + corp))]

    def request(users, organization_id=org_id):
        return pb.CreateUsersRequest(organization_id=organization_id, users=users)

    err = ctx.refused("CreateUsers", request([]), INVALID_ARGUMENT, "BATCH_SIZE_INVALID",
                      actor=actor)
    _, info, _ = rl.error_info(err)
    assert info.metadata["field"] == "users"
    too_many = [make_entry("n%04d" % i, VISITOR) for i in range(1001)]
    err = ctx.refused("CreateUsers", request(too_many), INVALID_ARGUMENT,
                      "BATCH_SIZE_INVALID", actor=actor)
    assert "1001" in err.details(), err.details()

    for bad_id in ("", "not-an-id", org_id.upper(), org_id + "0"):
        ctx.refused("CreateUsers", request(single_entry, organization_id=bad_id),
                    INVALID_ARGUMENT, "INVALID_ID", actor=actor)
    ctx.refused("CreateUsers", request(single_entry, organization_id=uuid.uuid4().hex),
                NOT_FOUND, "ORGANIZATION_NOT_FOUND", actor=actor)

    for non_admin in (analyst, visitor):
        err = ctx.refused("CreateUsers", request(single_entry), PERMISSION_DENIED,
                          "NOT_ORGANIZATION_ADMIN", actor=non_admin.user_id)
        _, info, _ = rl.error_info(err)
        assert info.metadata["actor"] == non_admin.user_id
    ctx.refused("CreateUsers", request(single_entry), PERMISSION_DENIED,
                "ACTOR_DISABLED", actor=disabled.user_id)
    ctx.refused("CreateUsers", request(single_entry), PERMISSION_DENIED,
                "ACTOR_NOT_IN_ORGANIZATION", actor=other_owner.user_id)
    ctx.refused("CreateUsers", request(single_entry), UNAUTHENTICATED, "ACTOR_REQUIRED")
    rl.refused(ctx.stub.CreateUsers, request(single_entry), UNAUTHENTICATED,
               "TOKEN_MISSING", metadata=rl.md(None, actor), timeout=15)

    # None of the calls above created a user or bound a key.
    names = sorted(u.nickname for u in list_users(ctx, organization, actor))
    assert names == sorted([owner.nickname, "plain-analyst", "plain-visitor",
                            "disabled-user"])
    assert_key_unbound(ctx, organization, actor, make_key(corp, "nobody"))
    assert_union_unbound(ctx, organization, actor, DINGTALK, "union-" + corp)
    other_users = list_users(ctx, other_org, other_owner.user_id)
    assert [u.user_id for u in other_users] == [other_owner.user_id]


# --- large batch -------------------------------------------------------------

@pytest.fixture
def large_message_stub(ctx):
    """Stub of a second roster-identity on the same database with the default
    4 MiB message limit. The 1000 results of test_batch_of_1000 measured about
    115 KB, more than the shared server's 64 KiB limit."""
    env = rl.identity_env(ctx.conninfo, ctx.tokens_file, ROSTER_MAX_MESSAGE_BYTES=None)
    server = rl.Identity(ctx.binary, env,
                         os.path.join(ctx.tmpdir, "identity-large-messages.log"))
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


def test_batch_of_1000(ctx, large_message_stub):
    organization, owner = ctx.new_org(total=1001)
    actor = owner.user_id
    group = create_group(ctx, organization, owner, "千人组")
    corp = unique_name("corp")
    types = (DEVELOPER, ANALYST, VISITOR)
    entries = [make_entry("批量用户-%04d" % i, types[i % 3],
                          key=make_key(corp, "u%04d" % i, union_id="un%04d" % i),
                          groups=[group.group_id])
               for i in range(1000)]
    resp = large_message_stub.CreateUsers(pb.CreateUsersRequest(
        organization_id=organization.organization_id, users=entries),
        metadata=rl.md(ctx.admin_token, actor), timeout=60)

    assert len(resp.results) == 1000
    users = [expect_created(r, "entry %d" % i) for i, r in enumerate(resp.results)]
    assert [u.nickname for u in users] == [e.nickname for e in entries]
    assert [u.user_type for u in users] == [e.user_type for e in entries]

    everyone = list_users(ctx, organization, actor)
    assert len(everyone) == 1001
    assert sorted(u.user_id for u in everyone) == sorted(
        [u.user_id for u in users] + [owner.user_id])
    assert get_seat_usage(ctx, organization, owner) == (1001, 335, 333, 333)
    assert list_group_members(ctx, organization, actor, group.group_id) == \
        sorted(u.user_id for u in users)
    for i in (0, 499, 999):
        by_key = lookup_by_key(ctx, organization, actor, entries[i].external_identity)
        assert by_key.user_id == users[i].user_id, i
        by_union = lookup_by_union(ctx, organization, actor, DINGTALK, "un%04d" % i)
        assert by_union.user_id == users[i].user_id, i

    # The organisation is full now: one more entry is refused, not the call.
    results = create_users(ctx, organization, actor, [make_entry("one-too-many", VISITOR)])
    assert_entry_rejected(results[0], "entry 1001", RESOURCE_EXHAUSTED,
                         "TOTAL_SEAT_LIMIT_REACHED", limit="1001")


def test_reply_above_message_limit_creates_nothing(ctx):
    # The shared server's limit is 64 KiB, and 1000 results take about
    # 115 KB, so the call must fail before commit.
    organization, owner = ctx.new_org(total=1001)
    actor = owner.user_id
    corp = unique_name("corp")
    entries = [make_entry("超限用户-%04d" % i, VISITOR, key=make_key(corp, "u%04d" % i))
               for i in range(1000)]
    ctx.refused("CreateUsers", pb.CreateUsersRequest(
        organization_id=organization.organization_id, users=entries),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "RESPONSE_TOO_LARGE", actor=actor)

    assert [u.user_id for u in list_users(ctx, organization, actor)] == [owner.user_id]
    assert_key_unbound(ctx, organization, actor, entries[0].external_identity)
    assert_key_unbound(ctx, organization, actor, entries[999].external_identity)
    # A smaller batch of the same entries then goes through.
    results = create_users(ctx, organization, actor, entries[:100])
    assert len([r for r in results if r.HasField("user")]) == 100
