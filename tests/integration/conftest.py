"""Session fixtures: a fresh database with both schemas migrated (identity,
then authz), one running roster-identity (plaintext, three service tokens)
shared by the tests, and on request one or two roster-authz replicas on the
same database and tokens file."""

import os
import shutil
import sys
import tempfile
import uuid

import pytest

STUBS = os.environ.get("ROSTER_PYSTUBS")
if STUBS:
    sys.path.insert(0, STUBS)
sys.path.insert(0, os.path.dirname(__file__))

import rosterlib as rl  # noqa: E402
from roster.identity.v1 import identity_pb2 as pb  # noqa: E402


class Ctx:
    """What a test needs to talk to the shared server."""

    def __init__(self, server, binary, base_url, conninfo, admin_token,
                 sync_token, tmpdir, check_token=None, tokens_file=None):
        self.server = server
        self.binary = binary
        self.base_url = base_url
        self.conninfo = conninfo
        self.admin_token = admin_token
        self.sync_token = sync_token
        self.check_token = check_token
        self.tokens_file = tokens_file
        self.tmpdir = tmpdir
        self.channel = server.channel()
        self.stub = rl.identity_stub(self.channel)

    def call(self, method, req, actor=None, token=None, timeout=15):
        """Unary call with the admin-tool token unless another is given."""
        fn = getattr(self.stub, method)
        return fn(req, metadata=rl.md(token or self.admin_token, actor),
                  timeout=timeout)

    def refused(self, method, req, code, reason, actor=None, token=None):
        return rl.refused(getattr(self.stub, method), req, code, reason,
                          metadata=rl.md(token or self.admin_token, actor),
                          timeout=15)

    def new_org(self, total=1000, developers=None, analysts=None,
                visitors=None, edition=pb.EDITION_PROFESSIONAL,
                owner_nickname=None, name=None):
        """Creates an organisation; returns (organization, owner user)."""
        caps = pb.SeatCaps(total=total)
        if developers is not None:
            caps.developers = developers
        if analysts is not None:
            caps.analysts = analysts
        if visitors is not None:
            caps.visitors = visitors
        req = pb.CreateOrganizationRequest(
            name=name or "org-" + uuid.uuid4().hex[:8],
            edition=edition, seat_caps=caps,
            owner=pb.CreateUserRequest(
                nickname=owner_nickname or "owner-" + uuid.uuid4().hex[:6],
                user_type=pb.USER_TYPE_DEVELOPER,
                email="owner@example.com"))
        resp = self.call("CreateOrganization", req)
        return resp.organization, resp.owner

    def new_user(self, org, owner, nickname=None, user_type=pb.USER_TYPE_ANALYST,
                 **fields):
        req = pb.CreateUserRequest(
            organization_id=org.organization_id,
            nickname=nickname or "user-" + uuid.uuid4().hex[:8],
            user_type=user_type, **fields)
        return self.call("CreateUser", req, actor=owner.user_id)


def _require_env():
    base = os.environ.get("ROSTER_TEST_DATABASE_URL")
    binary = os.environ.get("ROSTER_IDENTITY_BIN")
    if not base:
        pytest.skip("ROSTER_TEST_DATABASE_URL is not set")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail("ROSTER_IDENTITY_BIN does not name an executable: %r" % binary)
    # identity is SERVING only once authz's schema exists too.
    if rl.authz_binary() is None:
        pytest.fail("ROSTER_AUTHZ_BIN does not name an executable: %r"
                    % os.environ.get("ROSTER_AUTHZ_BIN"))
    return base, binary


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="roster-it-")
    yield d
    if os.environ.get("ROSTER_TEST_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def ctx(workdir):
    base, binary = _require_env()
    conninfo = rl.create_database(base)
    rl.migrate(binary, conninfo)
    admin_token = rl.new_token()
    sync_token = rl.new_token()
    check_token = rl.new_token()
    tokens = os.path.join(workdir, "tokens")
    rl.write_tokens(tokens, [("admin-tool", admin_token, []),
                             ("syncer", sync_token, ["sync"]),
                             ("bi-backend", check_token, ["check"])])
    env = rl.identity_env(conninfo, tokens)
    server = rl.Identity(binary, env, os.path.join(workdir, "identity.log"))
    server.start()
    try:
        server.wait_health()
        c = Ctx(server, binary, base, conninfo, admin_token, sync_token, workdir,
                check_token=check_token, tokens_file=tokens)
        yield c
        c.channel.close()
    finally:
        rc = server.stop()
        log = server.read_log()
        # A token in the log is a leak whatever else happened.
        assert admin_token not in log, "the admin token appears in the server log"
        assert sync_token not in log, "the sync token appears in the server log"
        assert check_token not in log, "the check token appears in the server log"
        assert rc == 0, "roster-identity exited with %r:\n%s" % (rc, log[-4000:])


class Authz:
    """One running roster-authz replica on the shared database."""

    def __init__(self, ctx, server):
        self.ctx = ctx
        self.server = server
        self.channel = server.channel()
        self.stub = rl.authz_stub(self.channel)

    def call(self, method, req, actor=None, token=None, timeout=15):
        fn = getattr(self.stub, method)
        return fn(req, metadata=rl.md(token or self.ctx.admin_token, actor),
                  timeout=timeout)

    def refused(self, method, req, code, reason, actor=None, token=None):
        return rl.refused(getattr(self.stub, method), req, code, reason,
                          metadata=rl.md(token or self.ctx.admin_token, actor),
                          timeout=15)


def _start_authz(ctx, name, **extra_env):
    binary = rl.authz_binary()
    env = rl.identity_env(ctx.conninfo, ctx.tokens_file, **extra_env)
    server = rl.Identity(binary, env, os.path.join(ctx.tmpdir, name + ".log"))
    server.start()
    server.wait_health()
    return Authz(ctx, server)


def _stop_authz(ctx, az):
    az.channel.close()
    rc = az.server.stop()
    log = az.server.read_log()
    for token in (ctx.admin_token, ctx.sync_token, ctx.check_token):
        assert token not in log, "a token appears in the roster-authz log"
    assert rc == 0, "roster-authz exited with %r:\n%s" % (rc, log[-4000:])


@pytest.fixture(scope="session")
def az(ctx):
    """roster-authz on the shared database (same tokens file as identity)."""
    a = _start_authz(ctx, "authz")
    try:
        yield a
    finally:
        _stop_authz(ctx, a)


@pytest.fixture(scope="session")
def az2(ctx, az):
    """A second roster-authz replica on the same database."""
    a = _start_authz(ctx, "authz2")
    try:
        yield a
    finally:
        _stop_authz(ctx, a)


@pytest.fixture
def az_small_messages(ctx, az):
    """A roster-authz replica whose ROSTER_MAX_MESSAGE_BYTES is 4096."""
    a = _start_authz(ctx, "authz-small", ROSTER_MAX_MESSAGE_BYTES="4096")
    try:
        yield a
    finally:
        _stop_authz(ctx, a)


@pytest.fixture(scope="session")
def base_env():
    """(database base conninfo, binary) for tests that run their own server."""
    return _require_env()


@pytest.fixture
def org(ctx):
    """A fresh organisation with 1000 seats: (organization, owner)."""
    return ctx.new_org()
