"""Organisations and users: create, read, list, update, disable, delete and
seat caps."""

import concurrent.futures
import uuid

import grpc
from google.protobuf import field_mask_pb2

import rosterlib as rl

from roster.identity.v1 import identity_pb2 as pb

IA = grpc.StatusCode.INVALID_ARGUMENT


def test_organization_create_get(ctx):
    org, owner = ctx.new_org(total=10, developers=3, owner_nickname="张伟",
                             name="示例科技")
    assert org.organization_id
    assert org.name == "示例科技"
    assert org.edition == pb.EDITION_PROFESSIONAL
    assert org.owner_user_id == owner.user_id
    assert owner.nickname == "张伟"
    assert owner.is_owner
    assert owner.enabled
    assert owner.organization_id == org.organization_id

    got = ctx.call("GetOrganization",
                   pb.GetOrganizationRequest(organization_id=org.organization_id),
                   actor=owner.user_id)
    assert got.name == "示例科技"
    assert got.seat_caps.total == 10
    assert got.seat_caps.HasField("developers")
    assert got.seat_caps.developers == 3
    assert not got.seat_caps.HasField("analysts")
    assert got.seat_usage.total == 1
    assert got.seat_usage.developers == 1
    assert got.create_time.seconds > 0


def test_organization_owner_type(ctx):
    req = pb.CreateOrganizationRequest(
        name="visitor-owned", edition=pb.EDITION_ADVANCED,
        seat_caps=pb.SeatCaps(total=5),
        owner=pb.CreateUserRequest(nickname="v", user_type=pb.USER_TYPE_VISITOR))
    ctx.refused("CreateOrganization", req, IA, "OWNER_TYPE_NOT_ALLOWED")


def test_user_crud(ctx, org):
    o, owner = org
    u = ctx.new_user(o, owner, nickname="李娜", user_type=pb.USER_TYPE_DEVELOPER,
                     email="li.na@example.com", phone="+86 138 0000 0000",
                     account_id="acct-" + uuid.uuid4().hex[:8])
    assert len(u.user_id) > 0
    assert u.nickname == "李娜"
    assert u.user_type == pb.USER_TYPE_DEVELOPER
    assert u.enabled
    assert not u.is_owner

    got = ctx.call("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert got == u

    ctx.refused("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=uuid.uuid4().hex),
        grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND", actor=owner.user_id)

    deleted = ctx.call("DeleteUser", pb.DeleteUserRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert deleted.user_id == u.user_id
    ctx.refused("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=u.user_id),
        grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND", actor=owner.user_id)


def test_user_type_unspecified_refused(ctx, org):
    o, owner = org
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="no-type"),
        IA, "USER_TYPE_INVALID", actor=owner.user_id)


def test_account_id_unique(ctx, org):
    o, owner = org
    acct = "acct-" + uuid.uuid4().hex
    ctx.new_user(o, owner, account_id=acct)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="second-holder",
        user_type=pb.USER_TYPE_ANALYST, account_id=acct),
        grpc.StatusCode.ALREADY_EXISTS, "ACCOUNT_ID_TAKEN", actor=owner.user_id)


def list_all(ctx, org_id, actor, page_size, **filters):
    seen = []
    token = ""
    pages = 0
    while True:
        resp = ctx.call("ListUsers", pb.ListUsersRequest(
            organization_id=org_id, page_size=page_size, page_token=token,
            **filters), actor=actor)
        assert len(resp.users) <= page_size
        seen.extend(resp.users)
        pages += 1
        assert pages < 100, "paging does not end"
        if not resp.next_page_token:
            return seen, pages
        token = resp.next_page_token


def test_list_paging_and_filters(ctx):
    o, owner = ctx.new_org(total=200)
    created = {}
    for i in range(120):
        t = (pb.USER_TYPE_DEVELOPER, pb.USER_TYPE_ANALYST, pb.USER_TYPE_VISITOR)[i % 3]
        nick = ("Alice-%03d" % i) if i % 10 == 0 else ("user-%03d" % i)
        u = ctx.new_user(o, owner, nickname=nick, user_type=t)
        created[u.user_id] = u

    users, pages = list_all(ctx, o.organization_id, owner.user_id, 50)
    ids = [u.user_id for u in users]
    assert pages == 3
    assert len(ids) == len(set(ids)), "duplicates across pages"
    assert set(ids) == set(created) | {owner.user_id}, "users missing from pages"

    visitors, _ = list_all(ctx, o.organization_id, owner.user_id, 50,
                           user_type=pb.USER_TYPE_VISITOR)
    assert len(visitors) == 40
    assert all(u.user_type == pb.USER_TYPE_VISITOR for u in visitors)

    alice, _ = list_all(ctx, o.organization_id, owner.user_id, 50, keyword="aLiCe")
    assert sorted(u.nickname for u in alice) == ["Alice-%03d" % i
                                                 for i in range(0, 120, 10)]

    some = list(created)[:7]
    for uid in some:
        ctx.call("DisableUser", pb.SetUserEnabledRequest(
            organization_id=o.organization_id, user_id=uid), actor=owner.user_id)
    disabled, _ = list_all(ctx, o.organization_id, owner.user_id, 50, enabled=False)
    assert sorted(u.user_id for u in disabled) == sorted(some)
    enabled, _ = list_all(ctx, o.organization_id, owner.user_id, 50, enabled=True)
    assert len(enabled) == 121 - 7

    first = ctx.call("ListUsers", pb.ListUsersRequest(
        organization_id=o.organization_id, page_size=50), actor=owner.user_id)
    tok = first.next_page_token
    assert tok
    flipped = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
    for bad in (flipped, tok + "x", "not-a-token"):
        ctx.refused("ListUsers", pb.ListUsersRequest(
            organization_id=o.organization_id, page_size=50, page_token=bad),
            IA, "PAGE_TOKEN_INVALID", actor=owner.user_id)
    ctx.refused("ListUsers", pb.ListUsersRequest(
        organization_id=o.organization_id, page_size=1001),
        IA, "PAGE_SIZE_INVALID", actor=owner.user_id)


def test_update_with_field_mask(ctx, org):
    o, owner = org
    u = ctx.new_user(o, owner, nickname="王芳", email="old@example.com",
                     phone="+8613800000000")
    upd = ctx.call("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=u.user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["email"]),
        nickname="ignored", email="new@example.com", phone=""),
        actor=owner.user_id)
    assert upd.email == "new@example.com"
    assert upd.nickname == "王芳"
    assert upd.phone == "+8613800000000"

    upd = ctx.call("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=u.user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["nickname", "user_type"]),
        nickname="王芳芳", user_type=pb.USER_TYPE_VISITOR), actor=owner.user_id)
    assert upd.nickname == "王芳芳"
    assert upd.user_type == pb.USER_TYPE_VISITOR
    assert upd.email == "new@example.com"

    ctx.refused("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=u.user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["is_owner"])),
        IA, "UPDATE_MASK_INVALID", actor=owner.user_id)
    ctx.refused("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=u.user_id),
        IA, "UPDATE_MASK_INVALID", actor=owner.user_id)


def test_disable_enable(ctx, org):
    o, owner = org
    u = ctx.new_user(o, owner)
    d = ctx.call("DisableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert not d.enabled
    got = ctx.call("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert not got.enabled
    e = ctx.call("EnableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert e.enabled
    ctx.refused("DisableUser", pb.SetUserEnabledRequest(
        organization_id=o.organization_id, user_id=owner.user_id),
        grpc.StatusCode.FAILED_PRECONDITION, "OWNER_CANNOT_BE_DISABLED", actor=owner.user_id)


def test_delete_rules(ctx, org):
    o, owner = org
    ctx.refused("DeleteUser", pb.DeleteUserRequest(
        organization_id=o.organization_id, user_id=owner.user_id),
        grpc.StatusCode.FAILED_PRECONDITION, "CANNOT_DELETE_SELF",
        actor=owner.user_id)
    # The owner is protected even from someone else; only the owner is an
    # administrator here, so a non-admin attempt fails on permission first.
    other = ctx.new_user(o, owner)
    ctx.refused("DeleteUser", pb.DeleteUserRequest(
        organization_id=o.organization_id, user_id=owner.user_id),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN",
        actor=other.user_id)


def test_seat_caps(ctx):
    o, owner = ctx.new_org(total=4, developers=1, visitors=1)
    err = ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="dev2",
        user_type=pb.USER_TYPE_DEVELOPER),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
        actor=owner.user_id)
    _reason, info, _status = rl.error_info(err)
    assert info.metadata["user_type"] == "DEVELOPER"
    assert info.metadata["limit"] == "1"
    v = ctx.new_user(o, owner, nickname="viewer1", user_type=pb.USER_TYPE_VISITOR)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="viewer2",
        user_type=pb.USER_TYPE_VISITOR),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
        actor=owner.user_id)
    ctx.new_user(o, owner, nickname="analyst1", user_type=pb.USER_TYPE_ANALYST)
    ctx.new_user(o, owner, nickname="analyst2", user_type=pb.USER_TYPE_ANALYST)
    err = ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="analyst3",
        user_type=pb.USER_TYPE_ANALYST),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "TOTAL_SEAT_LIMIT_REACHED",
        actor=owner.user_id)
    _reason, info, _status = rl.error_info(err)
    assert info.metadata["limit"] == "4"
    # A type change is a seat change too.
    ctx.refused("UpdateUser", pb.UpdateUserRequest(
        organization_id=o.organization_id, user_id=v.user_id,
        update_mask=field_mask_pb2.FieldMask(paths=["user_type"]),
        user_type=pb.USER_TYPE_DEVELOPER),
        grpc.StatusCode.RESOURCE_EXHAUSTED, "SEAT_LIMIT_REACHED",
        actor=owner.user_id)
    got = ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=o.organization_id), actor=owner.user_id)
    assert (got.seat_usage.total, got.seat_usage.developers,
            got.seat_usage.analysts, got.seat_usage.visitors) == (4, 1, 2, 1)


def test_seat_cap_concurrent(ctx):
    # Owner plus 5 free seats; 20 creates race for them.
    o, owner = ctx.new_org(total=6)

    def create(i):
        try:
            ctx.new_user(o, owner, nickname="racer-%02d" % i)
            return "ok"
        except grpc.RpcError as err:
            rl.check_refusal(err, grpc.StatusCode.RESOURCE_EXHAUSTED,
                             "TOTAL_SEAT_LIMIT_REACHED")
            return "refused"

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(create, range(20)))
    assert results.count("ok") == 5, results
    assert results.count("refused") == 15
    got = ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=o.organization_id), actor=owner.user_id)
    assert got.seat_usage.total == 6
