"""Health follows the database: the schema version and reachability."""

import os
import shutil
import tempfile
import threading

import grpc
import pytest

import rosterlib as rl
from rsext.grpc.health.v1 import health_pb2

SERVICE = "roster.identity.v1.IdentityService"
SERVING = health_pb2.HealthCheckResponse.SERVING


def test_check_and_watch_serving(ctx):
    h = rl.health_stub(ctx.channel)
    for name in ("", SERVICE):
        r = h.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert r.status == SERVING, name
    try:
        h.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
    else:
        raise AssertionError("health answered for an unknown service")
    # Health is public: no token needed, none was sent above.
    stream = h.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    first = next(stream)
    assert first.status == SERVING
    stream.cancel()


@pytest.fixture
def own_server(base_env, workdir):
    """A factory for servers on a given database; stops them afterwards."""
    started = []

    def make(conninfo, name):
        tokens = os.path.join(workdir, name + ".tokens")
        rl.write_tokens(tokens, [("admin-tool", rl.new_token(), [])])
        srv = rl.Identity(base_env[1], rl.identity_env(conninfo, tokens),
                          os.path.join(workdir, name + ".log"))
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        rc = srv.stop()
        assert rc == 0, "exit %r:\n%s" % (rc, srv.read_log()[-3000:])


def test_schema_behind_then_migrated(base_env, own_server):
    base, binary = base_env
    conninfo = rl.create_database(base)
    srv = own_server(conninfo, "unmigrated")
    srv.wait_health("NOT_SERVING", timeout=15)
    rl.migrate(binary, conninfo)
    srv.wait_health("SERVING", timeout=10)


def test_database_down_then_back(base_env, own_server):
    _base, binary = base_env
    top = tempfile.mkdtemp(prefix="roster-pg-")
    pgdir = os.path.join(top, "data")
    port = rl.free_port()
    conninfo = rl.pg_tmp("start", pgdir, str(port))
    try:
        rl.migrate(binary, conninfo)
        srv = own_server(conninfo, "pgdown")
        srv.wait_health("SERVING", timeout=15)
        rl.pg_tmp("stop", pgdir)
        srv.wait_health("NOT_SERVING", timeout=15)
        rl.pg_tmp("start", pgdir, str(port))
        srv.wait_health("SERVING", timeout=20)
        srv.stop()
    finally:
        rl.pg_tmp("stop", pgdir)
        shutil.rmtree(top, ignore_errors=True)
