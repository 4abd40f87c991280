"""What the RPC layer does with bad input, missing credentials, unknown
methods and deadlines."""

import threading
import time

import grpc

import rosterlib as rl
from roster.identity.v1 import identity_pb2 as pb

CREATE_USER = "/roster.identity.v1.IdentityService/CreateUser"
GET_ORG = "/roster.identity.v1.IdentityService/GetOrganization"


def raw_unary(ctx, path, payload, actor=None, token=None, timeout=10):
    """Sends payload bytes as they are; returns the raw response bytes."""
    fn = ctx.channel.unary_unary(path)  # no serializers: bytes in, bytes out
    return fn(payload, metadata=rl.md(token or ctx.admin_token, actor),
              timeout=timeout)


def expect_raw(ctx, path, payload, code, reason, actor=None):
    try:
        raw_unary(ctx, path, payload, actor=actor)
    except grpc.RpcError as err:
        rl.check_refusal(err, code, reason)
        return err
    raise AssertionError("expected %s/%s" % (code, reason))


def test_invalid_utf8_in_string_field(ctx, org):
    o, owner = org
    good = pb.CreateUserRequest(organization_id=o.organization_id,
                                nickname="XXXX", user_type=pb.USER_TYPE_ANALYST)
    wire = good.SerializeToString()
    assert wire.count(b"XXXX") == 1
    for junk in (b"\xc3\x28\xff\xfe",   # bad continuation, bytes never in UTF-8
                 b"\xed\xa0\x80A",        # encoded surrogate U+D800
                 b"\xc0\xafAB"):           # overlong "/"
        bad = wire.replace(b"XXXX", junk)  # same length, so the framing stays valid
        expect_raw(ctx, CREATE_USER, bad, grpc.StatusCode.INVALID_ARGUMENT,
                   "INVALID_UTF8", actor=owner.user_id)
    email = pb.CreateUserRequest(organization_id=o.organization_id,
                                 nickname="utf8-email", email="YYYY@example.com",
                                 user_type=pb.USER_TYPE_ANALYST).SerializeToString()
    expect_raw(ctx, CREATE_USER, email.replace(b"YYYY", b"\xff\xfe\xfd\xfc"),
               grpc.StatusCode.INVALID_ARGUMENT, "INVALID_UTF8", actor=owner.user_id)
    # The same bytes as valid UTF-8 are accepted.
    ok = pb.User.FromString(raw_unary(ctx, CREATE_USER, wire, actor=owner.user_id))
    assert ok.nickname == "XXXX"


def test_empty_message_is_valid(ctx, org):
    # A zero-length message is every field at its default: decoded fine and
    # refused by the handler for its content, not as malformed.
    o, owner = org
    err = expect_raw(ctx, GET_ORG, b"", grpc.StatusCode.INVALID_ARGUMENT,
                     None, actor=owner.user_id)
    trailer, _info, _status = rl.error_info(err)
    assert trailer not in ("MALFORMED_MESSAGE", "MISSING_PAYLOAD")


def test_missing_payload(ctx, org):
    # A client-streaming call that half-closes without a message reaches the
    # unary handler with no payload at all.
    o, owner = org
    fn = ctx.channel.stream_unary(GET_ORG)
    try:
        fn(iter(()), metadata=rl.md(ctx.admin_token, owner.user_id), timeout=10)
    except grpc.RpcError as err:
        rl.check_refusal(err, grpc.StatusCode.INVALID_ARGUMENT, "MISSING_PAYLOAD")
    else:
        raise AssertionError("a call without a message succeeded")


def test_reset_before_message_logged_cancelled(ctx, org):
    # A client that resets the stream before sending its message is logged
    # as a cancelled call, not as a request without a message.
    o, owner = org
    gate = threading.Event()

    def never():
        gate.wait(10)
        return
        yield  # a generator that sends nothing

    fn = ctx.channel.stream_unary(GET_ORG)
    before = len(ctx.server.read_log())
    fut = fn.future(never(), metadata=rl.md(ctx.admin_token, owner.user_id), timeout=10)
    time.sleep(0.5)
    fut.cancel()
    gate.set()
    deadline = time.monotonic() + 10
    lines = []
    while time.monotonic() < deadline:
        lines = [ln for ln in ctx.server.read_log()[before:].splitlines()
                 if 'msg="call finished"' in ln and "GetOrganization" in ln]
        if lines:
            break
        time.sleep(0.05)
    assert len(lines) == 1, lines
    assert "code=CANCELLED" in lines[0], lines[0]
    assert "cancelled=true" in lines[0], lines[0]
    assert "MISSING_PAYLOAD" not in lines[0], lines[0]


def test_garbage_bytes(ctx, org):
    o, owner = org
    for junk in (b"\xff\xff\xff\xff\xff", b"\x0a\x64abc", b"\x08" + b"\xff" * 11):
        expect_raw(ctx, GET_ORG, junk, grpc.StatusCode.INVALID_ARGUMENT,
                   "MALFORMED_MESSAGE", actor=owner.user_id)


def test_oversize_message(ctx, org):
    o, owner = org
    req = pb.CreateUserRequest(organization_id=o.organization_id,
                               nickname="n" * 70000, user_type=pb.USER_TYPE_ANALYST)
    try:
        ctx.call("CreateUser", req, actor=owner.user_id)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    else:
        raise AssertionError("a 70 KB message passed a 64 KiB limit")
    # The connection is still usable.
    ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=o.organization_id), actor=owner.user_id)


def test_tokens(ctx, org):
    o, owner = org
    req = pb.GetOrganizationRequest(organization_id=o.organization_id)
    stub = ctx.stub
    rl.refused(stub.GetOrganization, req, grpc.StatusCode.UNAUTHENTICATED,
               "TOKEN_MISSING", metadata=rl.md(None, owner.user_id), timeout=10)
    rl.refused(stub.GetOrganization, req, grpc.StatusCode.UNAUTHENTICATED,
               "TOKEN_INVALID", metadata=rl.md("wrong-" + ctx.admin_token,
                                                owner.user_id), timeout=10)
    rl.refused(stub.GetOrganization, req, grpc.StatusCode.UNAUTHENTICATED,
               "TOKEN_INVALID", metadata=[("authorization", "Basic " + ctx.admin_token),
                                          ("x-roster-actor", owner.user_id)],
               timeout=10)
    # A prefix of a valid token is not valid.
    rl.refused(stub.GetOrganization, req, grpc.StatusCode.UNAUTHENTICATED,
               "TOKEN_INVALID", metadata=rl.md(ctx.admin_token[:-1], owner.user_id),
               timeout=10)


def test_actor(ctx, org):
    o, owner = org
    ctx.refused("GetOrganization", pb.GetOrganizationRequest(
        organization_id=o.organization_id), grpc.StatusCode.UNAUTHENTICATED,
        "ACTOR_REQUIRED")
    regular = ctx.new_user(o, owner)
    # Reading is open to members; writing needs an administrator.
    ctx.call("GetUser", pb.GetUserRequest(organization_id=o.organization_id,
                                          user_id=owner.user_id),
             actor=regular.user_id)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="by-regular",
        user_type=pb.USER_TYPE_ANALYST), grpc.StatusCode.PERMISSION_DENIED,
        "NOT_ORGANIZATION_ADMIN", actor=regular.user_id)
    # An actor from another organisation is a stranger here.
    o2, owner2 = ctx.new_org(total=5)
    ctx.refused("CreateUser", pb.CreateUserRequest(
        organization_id=o.organization_id, nickname="by-stranger",
        user_type=pb.USER_TYPE_ANALYST), grpc.StatusCode.PERMISSION_DENIED,
        "ACTOR_NOT_IN_ORGANIZATION", actor=owner2.user_id)


def test_unknown_method_fast(ctx):
    fn = ctx.channel.unary_unary("/roster.identity.v1.IdentityService/NoSuchMethod")
    t0 = time.monotonic()
    try:
        fn(b"", metadata=rl.md(ctx.admin_token), timeout=30)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err
    else:
        raise AssertionError("unknown method succeeded")
    assert time.monotonic() - t0 < 2.0, "UNIMPLEMENTED took too long"
    fn = ctx.channel.unary_unary("/no.such.Service/Method")
    try:
        fn(b"", timeout=30)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err


def test_deadline_exceeded(ctx, org):
    o, owner = org
    req = pb.ListUsersRequest(organization_id=o.organization_id, page_size=1000)
    seen = set()
    for _ in range(5):
        try:
            ctx.call("ListUsers", req, actor=owner.user_id, timeout=0.0005)
            seen.add(grpc.StatusCode.OK)
        except grpc.RpcError as err:
            seen.add(err.code())
    assert grpc.StatusCode.DEADLINE_EXCEEDED in seen, seen
    ctx.server.wait_health(timeout=5)
    ctx.call("GetOrganization", pb.GetOrganizationRequest(
        organization_id=o.organization_id), actor=owner.user_id)
