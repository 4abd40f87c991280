"""PostgreSQL stopped and started again under load. roster-identity must
report NOT_SERVING while the database is down and SERVING again after it
is back. Callers must get UNAVAILABLE within a few seconds instead of
hanging, and every acknowledged user creation must be in the database
afterwards.

The test runs its own throw-away PostgreSQL (scripts/pg-tmp), so stopping
it disturbs no other test."""

import os
import threading
import time
import uuid

import grpc

import rosterlib as rl
from rsext.grpc.health.v1 import health_pb2
from roster.identity.v1 import identity_pb2 as pb

WORKERS = 3
CALL_TIMEOUT = 10       # seconds; a refusal must come well before this
FAST_REFUSAL = 3.0      # seconds within which a call must fail while the database is down
NOT_SERVING_WITHIN = 10  # seconds: the health probe runs every 2 s
SERVING_WITHIN = 30


def _pg_port():
    """A free port, preferably in 55380-55399 (kept for throw-away servers)."""
    try:
        return rl.free_port(55380, 55400)
    except AssertionError:
        return rl.free_port()


class Load:
    """Threads that create users in one organisation until stopped, keeping
    the ids of acknowledged creations and the code and duration of every
    failed call."""

    def __init__(self, server, token, org_id, owner_id):
        self.channel = server.channel()
        self.stub = rl.identity_stub(self.channel)
        self.meta = rl.md(token, owner_id)
        self.org_id = org_id
        self.acked = []
        self.failures = []  # (start time, code, seconds)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(WORKERS)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(CALL_TIMEOUT + 5)
        self.channel.close()

    def _run(self):
        while not self.stop_flag.is_set():
            req = pb.CreateUserRequest(organization_id=self.org_id,
                                       nickname="load-" + uuid.uuid4().hex[:12],
                                       user_type=pb.USER_TYPE_VISITOR)
            t0 = time.monotonic()
            try:
                user = self.stub.CreateUser(req, metadata=self.meta, timeout=CALL_TIMEOUT)
            except grpc.RpcError as err:
                with self.lock:
                    self.failures.append((t0, err.code(), time.monotonic() - t0))
                time.sleep(0.05)
                continue
            with self.lock:
                self.acked.append(user.user_id)

    def acked_count(self):
        with self.lock:
            return len(self.acked)


def _health(server):
    ch = server.channel()
    try:
        return rl.health_stub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2).status
    except grpc.RpcError as err:
        return err.code()
    finally:
        ch.close()


def _wait_health(server, want, within):
    want_v = health_pb2.HealthCheckResponse.ServingStatus.Value(want)
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if _health(server) == want_v:
            return time.monotonic() - t0
        time.sleep(0.2)
    raise AssertionError("health not %s within %ss\n%s" % (
        want, within, server.read_log()[-3000:]))


def _wait_for(cond, within, description):
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % description)


def test_pg_restart_under_load(base_env, workdir):
    _base, binary = base_env
    pg_dir = os.path.join(workdir, "pg-restart")
    port = _pg_port()
    base = rl.pg_tmp("start", pg_dir, str(port))
    server = None
    load = None
    try:
        conninfo = rl.create_database(base)
        rl.migrate(binary, conninfo)
        token = rl.new_token()
        tokens = os.path.join(workdir, "pg-restart-tokens")
        rl.write_tokens(tokens, [("admin-tool", token, [])])
        env = rl.identity_env(conninfo, tokens, ROSTER_WORKERS="4", ROSTER_LOG_LEVEL="info")
        server = rl.Identity(binary, env, os.path.join(workdir, "pg-restart.log"))
        server.start()
        server.wait_health()

        ch = server.channel()
        org = rl.identity_stub(ch).CreateOrganization(pb.CreateOrganizationRequest(
            name="pg-restart", edition=pb.EDITION_PROFESSIONAL,
            seat_caps=pb.SeatCaps(total=100000),
            owner=pb.CreateUserRequest(nickname="owner",
                                       user_type=pb.USER_TYPE_DEVELOPER)),
            metadata=rl.md(token), timeout=15)
        ch.close()
        org_id = org.organization.organization_id

        load = Load(server, token, org_id, org.owner.user_id)
        load.start()
        _wait_for(lambda: load.acked_count() >= 20, 30, "20 acknowledged writes")

        stopped_at = time.monotonic()
        rl.pg_tmp("stop", pg_dir)
        down_for = _wait_health(server, "NOT_SERVING", NOT_SERVING_WITHIN)
        # Let the load meet the dead database for a while.
        time.sleep(3)
        rl.pg_tmp("start", pg_dir, str(port))
        restarted_at = time.monotonic()
        up_after = _wait_health(server, "SERVING", SERVING_WITHIN)
        before = load.acked_count()
        _wait_for(lambda: load.acked_count() >= before + 20, 30,
                  "20 writes after the restart")
        load.stop()

        # Calls started while the database was down fail fast with UNAVAILABLE.
        with load.lock:
            during = [(c, d) for t0, c, d in load.failures
                      if stopped_at + 0.5 <= t0 <= restarted_at - 0.5]
            codes = {c for _t, c, _d in load.failures}
        assert during, "no call failed while the database was down"
        slow = [(c, round(d, 2)) for c, d in during if d > FAST_REFUSAL]
        assert not slow, "calls hung while the database was down: %s" % slow[:10]
        assert {c for c, _d in during} == {grpc.StatusCode.UNAVAILABLE}, \
            "codes while down: %s" % {c for c, _d in during}
        # Calls in flight at the moment of the stop may fail otherwise, but only
        # as UNAVAILABLE: never a success that was not stored.
        assert codes <= {grpc.StatusCode.UNAVAILABLE}, "codes seen: %s" % codes

        # No acknowledged write lost.
        stored = set(rl.psql(conninfo, "SELECT id FROM identity.users "
                                       "WHERE organization_id = '%s'" % org_id).split())
        missing = [u for u in load.acked if u not in stored]
        assert not missing, "%d acknowledged users missing after the restart: %s" % (
            len(missing), missing[:5])
        print("NOT_SERVING after %.1fs, SERVING %.1fs after restart, %d acknowledged, "
              "%d failed (max %.2fs)" % (down_for, up_after, len(load.acked),
                                         len(during), max(d for _c, d in during)))
    finally:
        if load is not None:
            load.stop_flag.set()
        if server is not None:
            rc = server.stop()
            assert rc == 0, "roster-identity exited with %r:\n%s" % (
                rc, server.read_log()[-3000:])
        rl.pg_tmp("stop", pg_dir)
