"""identity serves GetUser and the read-only actor check from memory. These
tests show where the rows come from and what keeps them current: a write
on the same replica shows at once, a change made elsewhere (another
replica, or SQL) shows once its notification arrives, a lost notification
connection stops the cache from serving, and ROSTER_IDENTITY_CACHE_ROWS=0
turns it off."""

import os
import resource
import socket
import threading
import time
import uuid

import grpc
import pytest

import rosterlib as rl
from roster.identity.v1 import identity_pb2 as pb

# A change made elsewhere must show within this long (notifications
# arrive in milliseconds; the margin is for a loaded CI machine).
SHOW_WITHIN_S = 10


def get(ctx, org, user_id, actor, stub=None):
    fn = (stub or ctx.stub).GetUser
    return fn(pb.GetUserRequest(organization_id=org.organization_id, user_id=user_id),
              metadata=rl.md(ctx.admin_token, actor), timeout=15)


def wait_until(cond, description):
    deadline = time.monotonic() + SHOW_WITHIN_S
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("%s did not happen within %ss" % (description, SHOW_WITHIN_S))


def sql_nickname(ctx, user_id, nickname):
    rl.psql(ctx.conninfo, "UPDATE identity.users SET nickname = '%s' WHERE id = '%s'"
            % (nickname, user_id))


@pytest.fixture
def other(ctx):
    """A second roster-identity replica on the same database."""
    env = rl.identity_env(ctx.conninfo, ctx.tokens_file)
    server = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, "identity-2.log"))
    server.start()
    server.wait_health()
    ch = server.channel()
    yield server, rl.identity_stub(ch)
    ch.close()
    server.stop()


def test_own_write_shows_at_once(ctx):
    org, owner = ctx.new_org()
    u = ctx.new_user(org, owner, nickname="张伟")
    assert get(ctx, org, u.user_id, owner.user_id).nickname == "张伟"
    for i, name in enumerate(["王芳 🐼", "Zhang Wei 张伟", "李" * 50]):
        ctx.call("UpdateUser", pb.UpdateUserRequest(
            organization_id=org.organization_id, user_id=u.user_id, nickname=name,
            update_mask={"paths": ["nickname"]}), actor=owner.user_id)
        # No wait: the replica that wrote drops the row before it replies.
        assert get(ctx, org, u.user_id, owner.user_id).nickname == name, i


def test_disable_and_delete_show_at_once(ctx):
    org, owner = ctx.new_org()
    u = ctx.new_user(org, owner)
    assert get(ctx, org, u.user_id, u.user_id).enabled
    ctx.call("DisableUser", pb.SetUserEnabledRequest(
        organization_id=org.organization_id, user_id=u.user_id), actor=owner.user_id)
    rl.refused(ctx.stub.GetUser, pb.GetUserRequest(
        organization_id=org.organization_id, user_id=owner.user_id),
        grpc.StatusCode.PERMISSION_DENIED, "ACTOR_DISABLED",
        metadata=rl.md(ctx.admin_token, u.user_id), timeout=15)
    assert not get(ctx, org, u.user_id, owner.user_id).enabled
    ctx.call("DeleteUser", pb.DeleteUserRequest(
        organization_id=org.organization_id, user_id=u.user_id), actor=owner.user_id)
    rl.refused(ctx.stub.GetUser, pb.GetUserRequest(
        organization_id=org.organization_id, user_id=u.user_id),
        grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND",
        metadata=rl.md(ctx.admin_token, owner.user_id), timeout=15)


def test_rows_come_from_memory_until_notified(ctx):
    """With the notifying trigger off, a SQL change stays unseen: proof that
    the row is served from memory. Back on, the next change shows."""
    org, owner = ctx.new_org()
    u = ctx.new_user(org, owner, nickname="cached-before")
    # The create's own notification arrives after its reply and makes a row
    # cached before it stale, so the row is cached once it has arrived.
    time.sleep(1.0)
    assert get(ctx, org, u.user_id, owner.user_id).nickname == "cached-before"
    rl.psql(ctx.conninfo, "ALTER TABLE identity.users "
            "DISABLE TRIGGER identity_users_updated_notify")
    try:
        sql_nickname(ctx, u.user_id, "unseen-change")
        time.sleep(1.0)
        assert get(ctx, org, u.user_id, owner.user_id).nickname == "cached-before"
    finally:
        rl.psql(ctx.conninfo, "ALTER TABLE identity.users "
                "ENABLE TRIGGER identity_users_updated_notify")
    sql_nickname(ctx, u.user_id, "seen-change 变更")
    wait_until(lambda: get(ctx, org, u.user_id, owner.user_id).nickname == "seen-change 变更",
               "the notified SQL change")


def test_other_replica_write_shows(ctx, other):
    _, stub2 = other
    org, owner = ctx.new_org()
    u = ctx.new_user(org, owner, nickname="before")
    # Both replicas hold the row.
    assert get(ctx, org, u.user_id, owner.user_id).nickname == "before"
    assert get(ctx, org, u.user_id, owner.user_id, stub2).nickname == "before"
    stub2.UpdateUser(pb.UpdateUserRequest(
        organization_id=org.organization_id, user_id=u.user_id, nickname="after 后",
        update_mask={"paths": ["nickname"]}),
        metadata=rl.md(ctx.admin_token, owner.user_id), timeout=15)
    assert get(ctx, org, u.user_id, owner.user_id, stub2).nickname == "after 后"
    wait_until(lambda: get(ctx, org, u.user_id, owner.user_id).nickname == "after 后",
               "the other replica's write")
    # The actor check follows too: disabled on replica 2, refused on replica 1.
    stub2.DisableUser(pb.SetUserEnabledRequest(
        organization_id=org.organization_id, user_id=u.user_id),
        metadata=rl.md(ctx.admin_token, owner.user_id), timeout=15)

    def first_replica_rejects_actor():
        try:
            get(ctx, org, owner.user_id, u.user_id)
            return False
        except grpc.RpcError as err:
            return rl.error_info(err)[1].reason == "ACTOR_DISABLED"
    wait_until(first_replica_rejects_actor, "the actor disabled on the other replica")


def test_ownership_transfer_shows_in_is_owner(ctx):
    org, owner = ctx.new_org()
    dev = ctx.new_user(org, owner, user_type=pb.USER_TYPE_DEVELOPER)
    assert not get(ctx, org, dev.user_id, owner.user_id).is_owner
    rl.psql(ctx.conninfo, "UPDATE identity.organizations SET owner_user_id = '%s' "
            "WHERE id = '%s'" % (dev.user_id, org.organization_id))
    wait_until(lambda: get(ctx, org, owner.user_id, owner.user_id).is_owner is False,
               "the old owner losing is_owner")
    assert get(ctx, org, dev.user_id, owner.user_id).is_owner


def test_moved_user_leaves_old_org(ctx):
    """An UPDATE of organization_id notifies the old organisation too, so
    neither GetUser nor the actor check finds the user there any more."""
    org, owner = ctx.new_org()
    org2, _ = ctx.new_org()
    u = ctx.new_user(org, owner, nickname="mover")
    assert get(ctx, org, u.user_id, owner.user_id).nickname == "mover"
    assert get(ctx, org, owner.user_id, u.user_id).user_id == owner.user_id
    rl.psql(ctx.conninfo, "UPDATE identity.users SET organization_id = '%s' WHERE id = '%s'"
            % (org2.organization_id, u.user_id))

    def reason(user_id, actor):
        try:
            get(ctx, org, user_id, actor)
            return None
        except grpc.RpcError as err:
            return rl.error_info(err)[1].reason

    wait_until(lambda: reason(u.user_id, owner.user_id) == "USER_NOT_FOUND",
               "the moved user leaving GetUser of the old organization")
    assert reason(owner.user_id, u.user_id) == "ACTOR_NOT_IN_ORGANIZATION"


def test_lost_listener_stops_serving_from_memory(ctx):
    """Notifications sent while no connection listens are lost, so nothing
    cached before the gap may be served after it."""
    org, owner = ctx.new_org()
    u = ctx.new_user(org, owner, nickname="before-gap")
    assert get(ctx, org, u.user_id, owner.user_id).nickname == "before-gap"
    rl.psql(ctx.conninfo, "ALTER TABLE identity.users "
            "DISABLE TRIGGER identity_users_updated_notify")
    try:
        sql_nickname(ctx, u.user_id, "during-gap")
        killed = rl.psql(ctx.conninfo, "SELECT count(pg_terminate_backend(pid)) "
                         "FROM pg_stat_activity "
                         "WHERE application_name = 'roster-identity-listen' "
                         "AND datname = current_database()")
        assert int(killed) >= 1
        wait_until(lambda: get(ctx, org, u.user_id, owner.user_id).nickname == "during-gap",
                   "a read from the database after the listener was cut")
    finally:
        rl.psql(ctx.conninfo, "ALTER TABLE identity.users "
                "ENABLE TRIGGER identity_users_updated_notify")
    # The listener is back, and notified changes show again.
    wait_until(lambda: rl.psql(ctx.conninfo, "SELECT count(*) FROM pg_stat_activity "
                               "WHERE application_name = 'roster-identity-listen' "
                         "AND datname = current_database()") != "0",
               "the listener reconnecting")
    sql_nickname(ctx, u.user_id, "after-gap")
    wait_until(lambda: get(ctx, org, u.user_id, owner.user_id).nickname == "after-gap",
               "a notified change after the reconnection")


class SilentProxy:
    """A TCP proxy to PostgreSQL that can go silent on the listener's
    connection, as when a firewall drops an idle connection. Nothing more
    passes either way, and the client side stays open."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.silent = threading.Event()
        self.listener_port = None  # client_port of the listener's backend
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.server.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            state = {"listener": False, "port": upstream.getsockname()[1]}
            threading.Thread(target=self._pump, args=(client, upstream, state, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False),
                             daemon=True).start()

    def _pump(self, src, dst, state, from_client):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if from_client and b"roster-identity-listen" in data:
                state["listener"] = True
                self.listener_port = state["port"]
            dropped = state["listener"] and self.silent.is_set()
            if not data:
                if not dropped:
                    dst.close()
                return
            if dropped:
                continue
            try:
                dst.sendall(data)
            except OSError:
                return


def test_silently_dropped_listener_reconnects(ctx):
    """When the listener's connection dies silently, its ping gets no reply,
    so it reconnects and the cache drops its rows."""
    if ctx.conninfo.startswith(("postgres://", "postgresql://")):
        pytest.skip("the proxy needs a key=value conninfo")
    addr = rl.psql(ctx.conninfo, "SELECT host(inet_server_addr()) || ' ' || inet_server_port()")
    if not addr:
        pytest.skip("the database is reached over a Unix socket")
    host, port = addr.split()
    proxy = SilentProxy((host, int(port)))
    conninfo = "%s host=127.0.0.1 port=%d" % (ctx.conninfo, proxy.port)
    env = rl.identity_env(conninfo, ctx.tokens_file)
    server = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, "identity-silent.log"))
    ch = None
    try:
        server.start()
        server.wait_health()
        ch = server.channel()
        stub = rl.identity_stub(ch)
        listener = ("FROM pg_stat_activity WHERE application_name = 'roster-identity-listen' "
                    "AND client_port = %d")

        # Rows are stored only once the listener listens.
        wait_until(lambda: proxy.listener_port is not None and rl.psql(
            ctx.conninfo, "SELECT count(*) " + listener % proxy.listener_port
            + " AND query <> ''") == "1", "the listener listening")
        org, owner = ctx.new_org()
        u = ctx.new_user(org, owner, nickname="before-drop")
        assert get(ctx, org, u.user_id, owner.user_id, stub).nickname == "before-drop"
        proxy.silent.set()
        # The database side of the connection ends; the replica's side receives nothing.
        killed = rl.psql(ctx.conninfo, "SELECT count(pg_terminate_backend(pid)) "
                         + listener % proxy.listener_port)
        assert killed == "1"
        sql_nickname(ctx, u.user_id, "after-drop")
        # The ping is sent 5 s after the previous reply and times out after 5 s.
        deadline = time.monotonic() + 10 + SHOW_WITHIN_S
        seen = None
        while time.monotonic() < deadline and seen != "after-drop":
            seen = get(ctx, org, u.user_id, owner.user_id, stub).nickname
            time.sleep(0.2)
        assert seen == "after-drop"
    finally:
        if ch is not None:
            ch.close()
        code = server.stop()
        proxy.close()
    assert code == 0, server.read_log()[-4000:]
    assert "change-notification connection timed out" in server.read_log()


def test_cache_off(ctx):
    env = rl.identity_env(ctx.conninfo, ctx.tokens_file, ROSTER_IDENTITY_CACHE_ROWS="0")
    server = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, "identity-nocache.log"))
    server.start()
    try:
        server.wait_health()
        ch = server.channel()
        stub = rl.identity_stub(ch)
        org, owner = ctx.new_org()
        u = ctx.new_user(org, owner, nickname="plain")
        assert get(ctx, org, u.user_id, owner.user_id, stub).nickname == "plain"
        rl.psql(ctx.conninfo, "ALTER TABLE identity.users "
                "DISABLE TRIGGER identity_users_updated_notify")
        try:
            sql_nickname(ctx, u.user_id, "read-through")
            # Without a cache every read goes to the database.
            assert get(ctx, org, u.user_id, owner.user_id, stub).nickname == "read-through"
        finally:
            rl.psql(ctx.conninfo, "ALTER TABLE identity.users "
                    "ENABLE TRIGGER identity_users_updated_notify")
        ch.close()
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["-1", "x", "10000001"])
def test_cache_rows_refused(ctx, value):
    env = rl.identity_env(ctx.conninfo, ctx.tokens_file, ROSTER_IDENTITY_CACHE_ROWS=value)
    server = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, "identity-bad.log"))
    server.start()
    code = server.proc.wait(30)
    server.log.close()
    assert code != 0
    assert "ROSTER_IDENTITY_CACHE_ROWS" in server.read_log()


def test_listener_socket_above_fd_setsize(ctx):
    """The listener's socket can get a descriptor above FD_SETSIZE (1024) on
    a server with many client connections. Its role cannot log in while
    raw TCP connections take every lower descriptor, so the listener
    reconnects above them, and must still deliver notifications."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1400
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            pytest.skip("RLIMIT_NOFILE hard limit %d is below %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    role = "rs_fd_" + uuid.uuid4().hex[:8]
    try:
        rl.psql(ctx.conninfo, "CREATE ROLE %s SUPERUSER LOGIN" % role)
    except Exception as err:  # noqa: BLE001 - any refusal means no such test here
        pytest.skip("could not create a login role: %s" % err)
    env = rl.identity_env(ctx.conninfo + " user=" + role, ctx.tokens_file)
    server = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, "identity-fds.log"))
    socks = []
    ch = None
    try:
        server.start()
        server.wait_health()
        ch = server.channel()
        stub = rl.identity_stub(ch)
        org, owner = ctx.new_org()
        u = ctx.new_user(org, owner, nickname="low-descriptor")
        assert get(ctx, org, u.user_id, owner.user_id, stub).nickname == "low-descriptor"
        rl.psql(ctx.conninfo, "ALTER ROLE %s NOLOGIN" % role)
        rl.psql(ctx.conninfo, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'roster-identity-listen' "
                "AND usename = '%s'" % role)
        for _ in range(1100):
            socks.append(socket.create_connection(("127.0.0.1", server.port)))
        wait_until(lambda: len(os.listdir("/proc/%d/fd" % server.proc.pid)) > 1100,
                   "the server accepting the connections")
        rl.psql(ctx.conninfo, "ALTER ROLE %s LOGIN" % role)

        def listening():
            assert server.proc.poll() is None, server.read_log()[-4000:]
            return rl.psql(ctx.conninfo, "SELECT count(*) FROM pg_stat_activity "
                           "WHERE application_name = 'roster-identity-listen' "
                           "AND usename = '%s'" % role) != "0"

        wait_until(listening, "the listener reconnecting")
        time.sleep(0.5)
        assert server.proc.poll() is None, server.read_log()[-4000:]
        sql_nickname(ctx, u.user_id, "high-descriptor")
        wait_until(lambda: get(ctx, org, u.user_id, owner.user_id,
                               stub).nickname == "high-descriptor",
                   "a notified change after the reconnection")
    finally:
        for sock in socks:
            sock.close()
        if ch is not None:
            ch.close()
        code = server.stop()
        rl.psql(ctx.conninfo, "DROP ROLE %s" % role)
    log = server.read_log()
    assert code == 0, log[-4000:]
    assert "runtime error" not in log, log[-4000:]
    assert "AddressSanitizer" not in log, log[-4000:]
