"""CreateUsers nickname fallbacks: an entry whose nickname is taken gets its
first fallback that no user and no earlier accepted entry has."""

import grpc

from roster.identity.v1 import identity_pb2 as pb

ANALYST = pb.USER_TYPE_ANALYST


def entry(nickname, fallbacks=(), **fields):
    return pb.NewUser(nickname=nickname, user_type=ANALYST,
                      nickname_fallbacks=list(fallbacks), **fields)


def create(ctx, org, owner, entries):
    resp = ctx.call("CreateUsers", pb.CreateUsersRequest(
        organization_id=org.organization_id, users=entries), actor=owner.user_id)
    assert len(resp.results) == len(entries)
    return resp.results


def nicknames(ctx, org, owner):
    resp = ctx.call("ListUsers", pb.ListUsersRequest(
        organization_id=org.organization_id, page_size=1000), actor=owner.user_id)
    return sorted(u.nickname for u in resp.users if u.user_id != owner.user_id)


def test_taken_nickname_takes_first_free_fallback(ctx, org):
    o, owner = org
    ctx.new_user(o, owner, nickname="张伟")
    ctx.new_user(o, owner, nickname="张伟-E01")
    results = create(ctx, o, owner, [
        entry("张伟", ["张伟-E01", "张伟-0042", "张伟-7777"]),
        # The same candidates again: the first two are taken by then.
        entry("张伟", ["张伟-E01", "张伟-0042", "张伟-7777"]),
        entry("李娜", ["李娜-1"]),
    ])
    assert [r.user.nickname for r in results] == ["张伟-0042", "张伟-7777", "李娜"]
    assert nicknames(ctx, o, owner) == sorted(
        ["张伟", "张伟-E01", "张伟-0042", "张伟-7777", "李娜"])


def test_every_candidate_taken_names_nickname(ctx, org):
    o, owner = org
    ctx.new_user(o, owner, nickname="王芳")
    ctx.new_user(o, owner, nickname="王芳-1")
    results = create(ctx, o, owner, [entry("王芳", ["王芳-1"]), entry("王芳-2", ["王芳"])])
    assert results[0].error.reason == "NICKNAME_TAKEN"
    assert results[0].error.code == grpc.StatusCode.ALREADY_EXISTS.value[0]
    assert results[0].error.metadata["nickname"] == "王芳"
    assert results[1].user.nickname == "王芳-2"
    assert nicknames(ctx, o, owner) == ["王芳", "王芳-1", "王芳-2"]


def test_rejected_entry_keeps_no_fallback(ctx, org):
    # An entry rejected for another reason leaves its candidates free.
    o, owner = org
    ctx.new_user(o, owner, nickname="刘洋", account_id="liuyang")
    results = create(ctx, o, owner, [
        entry("刘洋", ["刘洋-🐉"], account_id="liuyang"),
        entry("刘洋", ["刘洋-🐉"]),
    ])
    assert results[0].error.reason == "ACCOUNT_ID_TAKEN"
    assert results[1].user.nickname == "刘洋-🐉"


def test_invalid_fallbacks_reject_the_entry(ctx, org):
    o, owner = org
    results = create(ctx, o, owner, [
        entry("ok-before"),
        entry("陈静", ["陈静-1", "trailing "]),
        entry("陈静", ["x%d" % i for i in range(9)]),
        entry("陈静", ["长" * 51]),
        entry("ok-after", ["陈静"]),
    ])
    assert results[0].user.nickname == "ok-before"
    assert results[1].error.reason == "NICKNAME_INVALID"
    assert results[1].error.metadata["field"] == "nickname_fallbacks"
    assert results[1].error.metadata["index"] == "1"
    assert "nickname_fallbacks[1]" in results[1].error.message
    assert results[2].error.reason == "BATCH_SIZE_INVALID"
    assert results[2].error.metadata["field"] == "nickname_fallbacks"
    assert results[3].error.reason == "NICKNAME_TOO_LONG"
    assert results[3].error.metadata["field"] == "nickname_fallbacks"
    assert results[3].error.metadata["index"] == "0"
    # The rejected entries claimed nothing, so the fallback is not needed.
    assert results[4].user.nickname == "ok-after"
    assert nicknames(ctx, o, owner) == ["ok-after", "ok-before"]


def test_fallbacks_ignored_when_nickname_is_free(ctx, org):
    o, owner = org
    results = create(ctx, o, owner, [entry("赵磊", ["赵磊-1"]), entry("赵磊-1")])
    assert results[0].user.nickname == "赵磊"
    assert results[1].user.nickname == "赵磊-1"
    got = ctx.call("GetUser", pb.GetUserRequest(
        organization_id=o.organization_id, user_id=results[0].user.user_id),
        actor=owner.user_id)
    assert got.nickname == "赵磊"


def test_fallbacks_compared_in_nfc(ctx, org):
    o, owner = org
    ctx.new_user(o, owner, nickname="Ren\u00e9")
    ctx.new_user(o, owner, nickname="Ren\u00e9-1")
    results = create(ctx, o, owner, [
        entry("Rene\u0301", ["Rene\u0301-1", "Rene\u0301-2"]),
        # The NFC spelling of the fallback the entry above took.
        entry("Ren\u00e9-2", []),
    ])
    assert results[0].user.nickname == "Ren\u00e9-2"
    assert results[1].error.reason == "NICKNAME_TAKEN"
