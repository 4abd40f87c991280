"""External identities (DingTalk, WeCom, Lark accounts) bound to users."""

import grpc

from roster.identity.v1 import identity_pb2 as pb


def test_bind_lookup_unbind(ctx, org):
    o, owner = org
    u = ctx.new_user(o, owner, nickname="钉钉用户")
    v = ctx.new_user(o, owner)
    b = ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=u.user_id,
        platform=pb.PLATFORM_DINGTALK, corp_id="dingcorp", platform_user_id="0001",
        union_id="union-abc"), actor=owner.user_id)
    assert b.user_id == u.user_id
    assert b.union_id == "union-abc"

    by_union = ctx.call("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=o.organization_id, platform=pb.PLATFORM_DINGTALK,
        union_id="union-abc"), actor=owner.user_id)
    assert by_union.user_id == u.user_id
    assert by_union.nickname == "钉钉用户"
    by_id = ctx.call("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=o.organization_id, platform=pb.PLATFORM_DINGTALK,
        corp_id="dingcorp", platform_user_id="0001"), actor=owner.user_id)
    assert by_id.user_id == u.user_id

    # The same person in a second DingTalk enterprise is the same user.
    ctx.call("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=u.user_id,
        platform=pb.PLATFORM_DINGTALK, corp_id="dingcorp2", platform_user_id="77",
        union_id="union-abc"), actor=owner.user_id)
    lst = ctx.call("ListExternalIdentities", pb.ListExternalIdentitiesRequest(
        organization_id=o.organization_id, user_id=u.user_id), actor=owner.user_id)
    assert sorted(i.corp_id for i in lst.identities) == ["dingcorp", "dingcorp2"]

    # A union id belongs to one user.
    ctx.refused("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=v.user_id,
        platform=pb.PLATFORM_DINGTALK, corp_id="dingcorp3", platform_user_id="9",
        union_id="union-abc"), grpc.StatusCode.ALREADY_EXISTS, "UNION_ID_BOUND",
        actor=owner.user_id)
    # So does an enterprise account.
    ctx.refused("BindExternalIdentity", pb.BindExternalIdentityRequest(
        organization_id=o.organization_id, user_id=v.user_id,
        platform=pb.PLATFORM_DINGTALK, corp_id="dingcorp", platform_user_id="0001"),
        grpc.StatusCode.ALREADY_EXISTS, "EXTERNAL_IDENTITY_BOUND",
        actor=owner.user_id)
    # Exactly one lookup key.
    ctx.refused("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=o.organization_id, platform=pb.PLATFORM_DINGTALK,
        corp_id="dingcorp", platform_user_id="0001", union_id="union-abc"),
        grpc.StatusCode.INVALID_ARGUMENT, "LOOKUP_KEY_INVALID", actor=owner.user_id)

    ctx.call("UnbindExternalIdentity", pb.UnbindExternalIdentityRequest(
        organization_id=o.organization_id, platform=pb.PLATFORM_DINGTALK,
        corp_id="dingcorp", platform_user_id="0001"), actor=owner.user_id)
    ctx.refused("LookupExternalIdentity", pb.LookupExternalIdentityRequest(
        organization_id=o.organization_id, platform=pb.PLATFORM_DINGTALK,
        corp_id="dingcorp", platform_user_id="0001"),
        grpc.StatusCode.NOT_FOUND, "EXTERNAL_IDENTITY_NOT_FOUND", actor=owner.user_id)
