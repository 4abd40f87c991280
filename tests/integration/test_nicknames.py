"""Nicknames are stored and compared in Unicode NFC, whatever the script."""

import grpc
import pytest

import rosterlib as rl
from roster.identity.v1 import identity_pb2 as pb

NAMES = [
    "张伟",
    "研发中心-李四",
    "🦊 Fox",
    "👩‍💻 工程师",                       # ZWJ sequence
    "Ünïcödé Ñame",
    "Straße",
    "O'Brien",
    "'; DROP TABLE identity.users; --",
    "100% _under_score_ \\back\\slash",
    "Ab",                                  # case differs from "ab" below
    "ab",
    "\u00e9",
    "🙂" * 50,                             # 50 code points, 200 bytes
    "界" * 50,
]


def test_nicknames_round_trip_exactly(ctx):
    o, owner = ctx.new_org(total=100)
    user_ids = {}
    for n in NAMES:
        u = ctx.new_user(o, owner, nickname=n)
        assert u.nickname == n
        user_ids[n] = u.user_id
    for n, uid in user_ids.items():
        got = ctx.call("GetUser", pb.GetUserRequest(
            organization_id=o.organization_id, user_id=uid), actor=owner.user_id)
        assert got.nickname == n
    # The table survived the SQL metacharacters above.
    resp = ctx.call("ListUsers", pb.ListUsersRequest(
        organization_id=o.organization_id, page_size=1000), actor=owner.user_id)
    assert len(resp.users) == len(NAMES) + 1
    # Keyword search treats LIKE wildcards literally.
    resp = ctx.call("ListUsers", pb.ListUsersRequest(
        organization_id=o.organization_id, keyword="%"), actor=owner.user_id)
    assert [u.nickname for u in resp.users] == ["100% _under_score_ \\back\\slash"]
    resp = ctx.call("ListUsers", pb.ListUsersRequest(
        organization_id=o.organization_id, keyword="研发"), actor=owner.user_id)
    assert [u.nickname for u in resp.users] == ["研发中心-李四"]


@pytest.mark.parametrize("nick", ["张伟", "🦊 Fox", "'; DROP TABLE identity.users; --"])
def test_duplicate_nickname_refused(ctx, nick):
    o, owner = ctx.new_org(total=10)
    ctx.new_user(o, owner, nickname=nick)
    err = ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname=nick,
        user_type=pb.USER_TYPE_ANALYST),
        grpc.StatusCode.ALREADY_EXISTS, "NICKNAME_TAKEN", actor=owner.user_id)
    assert nick in err.details() or "nickname" in err.details()


def test_nickname_stored_in_nfc(ctx, org):
    o, owner = org
    u = ctx.new_user(o, owner, nickname="Cafe\u0301")
    assert u.nickname == "Caf\u00e9"
    got = ctx.call("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert got.nickname == "Caf\u00e9"
    # Hangul jamo compose into the syllable 각.
    jamo = ctx.new_user(o, owner, nickname="\u1100\u1161\u11a8")
    assert jamo.nickname == "\uac01"
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="Caf\u00e9",
        user_type=pb.USER_TYPE_ANALYST),
        grpc.StatusCode.ALREADY_EXISTS, "NICKNAME_TAKEN", actor=owner.user_id)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="\uac01",
        user_type=pb.USER_TYPE_ANALYST),
        grpc.StatusCode.ALREADY_EXISTS, "NICKNAME_TAKEN", actor=owner.user_id)


def test_update_nickname_stored_in_nfc(ctx, org):
    o, owner = org
    ctx.new_user(o, owner, nickname="Zo\u00eb")
    u = ctx.new_user(o, owner, nickname="zoe-" + o.organization_id[:6])
    req = pb.UpdateUserRequest(organization_id=o.organization_id, user_id=u.user_id,
                               nickname="Zoe\u0308")
    req.update_mask.paths.append("nickname")
    ctx.refused("UpdateUser", req, grpc.StatusCode.ALREADY_EXISTS, "NICKNAME_TAKEN",
                actor=owner.user_id)
    req.nickname = "Ame\u0301lie"
    got = ctx.call("UpdateUser", req, actor=owner.user_id)
    assert got.nickname == "Am\u00e9lie"


def test_nickname_length_counted_after_nfc(ctx, org):
    o, owner = org
    # 100 code points sent, 50 stored: within the limit.
    u = ctx.new_user(o, owner, nickname="e\u0301" * 50)
    assert u.nickname == "\u00e9" * 50
    # U+0958 stays two code points in NFC, so 26 of them are 52.
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="\u0958" * 26,
        user_type=pb.USER_TYPE_ANALYST),
        grpc.StatusCode.INVALID_ARGUMENT, "NICKNAME_TOO_LONG", actor=owner.user_id)


def test_owner_nickname_stored_in_nfc(ctx):
    _o, owner = ctx.new_org(total=10, owner_nickname="Jose\u0301")
    assert owner.nickname == "Jos\u00e9"


def test_nickname_lengths(ctx, org):
    o, owner = org
    ctx.new_user(o, owner, nickname="名" * 50)
    cases = [("名" * 51, "NICKNAME_TOO_LONG"),
             ("🙂" * 51, "NICKNAME_TOO_LONG"),
             ("x" * 10240, "NICKNAME_TOO_LONG"),
             ("", "NICKNAME_INVALID"),
             ("   ", "NICKNAME_INVALID"),
             ("tab\there", "NICKNAME_INVALID"),
             ("\u200b", "NICKNAME_INVALID"),            # zero-width space only
             ("\u202eevil\u202c", "NICKNAME_INVALID"),   # bidirectional override
             ("\ufeffbom", "NICKNAME_INVALID"),          # byte-order mark
             ("\uffff", "NICKNAME_INVALID"),             # noncharacter
             (" lead", "NICKNAME_INVALID"),
             ("joiner\u200d", "NICKNAME_INVALID"),
             ("\u200cjoiner", "NICKNAME_INVALID"),
             ("\u3164", "NICKNAME_INVALID"),             # Hangul filler
             ("a\u034fb", "NICKNAME_INVALID"),           # grapheme joiner
             ("trail\u3000", "NICKNAME_INVALID")]
    for bad, reason in cases:
        ctx.refused("CreateUser", pb.CreateUserRequest(
            organization_id=o.organization_id, nickname=bad,
            user_type=pb.USER_TYPE_ANALYST),
            grpc.StatusCode.INVALID_ARGUMENT, reason, actor=owner.user_id)


def test_nul_in_string_refused(ctx, org):
    # U+0000 is valid UTF-8 and legal in a proto3 string, but a C string
    # ends there: storing "nul" for "nul\0byte" would change the value.
    o, owner = org
    for field in ("nickname", "email"):
        req = pb.CreateUserRequest(organization_id=o.organization_id,
                                   nickname="nul-in-" + field,
                                   user_type=pb.USER_TYPE_ANALYST)
        value = "nul\x00byte" + ("@example.com" if field == "email" else "")
        setattr(req, field, value)
        err = ctx.refused("CreateUser", req, grpc.StatusCode.INVALID_ARGUMENT,
                          "INVALID_STRING", actor=owner.user_id)
        _reason, info, _status = rl.error_info(err)
        assert info.metadata["field"] == field
