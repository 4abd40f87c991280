"""Process life: start-up errors, concurrent migrations, graceful shutdown
and what reaches the log."""

import os
import signal
import subprocess
import threading
import time

import grpc

import rosterlib as rl
from roster.identity.v1 import identity_pb2 as pb
from rsext.grpc.health.v1 import health_pb2


def test_concurrent_migrate(base_env):
    base, binary = base_env
    conninfo = rl.create_database(base)
    env = dict(os.environ, ROSTER_DATABASE_URL=conninfo, ROSTER_LOG_LEVEL="info")
    procs = [subprocess.Popen([binary, "migrate"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out
    table = rl.psql(conninfo, "SELECT table_schema || '.' || table_name "
                    "FROM information_schema.tables "
                    "WHERE table_name LIKE '%migration%' ORDER BY 1 LIMIT 1")
    assert table, "no migrations table"
    dup = rl.psql(conninfo, "SELECT version FROM %s GROUP BY version "
                  "HAVING count(*) > 1" % table)
    assert dup == "", "versions applied twice: %s" % dup
    assert int(rl.psql(conninfo, "SELECT count(*) FROM %s" % table)) >= 1
    # A third run is a no-op.
    assert rl.migrate(binary, conninfo).returncode == 0


def start_failure(binary, env, variable, names):
    """Returns None if serve refuses env with one line naming variable (or
    one of names, such as the path of a bad file), otherwise what went
    wrong."""
    try:
        p = subprocess.run([binary, "serve"], env=env, capture_output=True,
                           text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "%s: serve started anyway" % variable
    out = (p.stdout + p.stderr).strip()
    if p.returncode == 0:
        return "%s: serve exited 0" % variable
    naming = [line for line in out.splitlines()
              if any(n in line for n in [variable] + names)]
    if len(naming) != 1:
        return "%s: want one line naming it, got:\n%s" % (variable, out)
    return None


def test_startup_config_errors(ctx, base_env):
    _base, binary = base_env
    tokens = os.path.join(ctx.tmpdir, "cfg.tokens")
    rl.write_tokens(tokens, [("admin-tool", rl.new_token(), [])])
    bad_tokens = os.path.join(ctx.tmpdir, "bad.tokens")
    with open(bad_tokens, "w") as f:
        f.write("admin-tool md5:abc\n")
    ok = rl.identity_env(ctx.conninfo, tokens)
    cases = [
        ("ROSTER_GRPC_ADDR", "not an address"),
        ("ROSTER_GRPC_ADDR", "127.0.0.1:99999"),
        ("ROSTER_LOG_LEVEL", "chatty"),
        ("ROSTER_AUTH_TOKENS_FILE", ctx.tmpdir + "/absent"),
        ("ROSTER_AUTH_TOKENS_FILE", bad_tokens),
        ("ROSTER_WORKERS", "many"),
        ("ROSTER_DB_POOL_SIZE", "0"),
        ("ROSTER_MAX_MESSAGE_BYTES", "-5"),
        ("ROSTER_SHUTDOWN_GRACE_MS", "soon"),
        ("ROSTER_TLS_CERT", ctx.tmpdir + "/absent.pem"),
    ]
    # A malformed tokens file may be named by its path, which is what an
    # operator has to open.
    problems = [start_failure(binary, dict(ok, **{name: value}), name,
                              [bad_tokens] if value == bad_tokens else [])
                for name, value in cases]
    problems = [p for p in problems if p is not None]
    assert not problems, "\n\n".join(problems)


def test_graceful_shutdown(ctx, base_env):
    _base, binary = base_env
    token = rl.new_token()
    tokens = os.path.join(ctx.tmpdir, "grace.tokens")
    rl.write_tokens(tokens, [("admin-tool", token, [])])
    srv = rl.Identity(binary, rl.identity_env(ctx.conninfo, tokens),
                      os.path.join(ctx.tmpdir, "grace.log"))
    srv.start()
    srv.wait_health()

    watch_ch = srv.channel()
    idle_ch = srv.channel()
    h = rl.health_stub(watch_ch)
    stream = h.Watch(health_pb2.HealthCheckRequest())
    assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
    ended = threading.Event()

    def drain():
        try:
            for _ in stream:
                pass
        except grpc.RpcError:
            pass
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    # The idle client made one call and keeps its connection open.
    rl.health_stub(idle_ch).Check(health_pb2.HealthCheckRequest(), timeout=5)

    t0 = time.monotonic()
    rc = srv.stop(timeout=10)
    took = time.monotonic() - t0
    log = srv.read_log()
    assert rc == 0, "exit %r:\n%s" % (rc, log[-3000:])
    assert took < 2.0 + 3.0, "shutdown took %.1fs with a 2s grace" % took
    assert ended.wait(5), "the Watch stream was not ended"
    # The server counts accepted calls and warns about any still live once
    # it has shut down.
    assert "calls still live" not in log, log[-3000:]
    assert "server stopped" in log, log[-3000:]
    watch_ch.close()
    idle_ch.close()


def test_log_has_no_token(ctx, org):
    o, owner = org
    ctx.call("GetUser", pb.GetUserRequest(organization_id=o.organization_id,
                                          user_id=owner.user_id),
             actor=owner.user_id)
    try:
        ctx.call("GetUser", pb.GetUserRequest(organization_id=o.organization_id,
                                              user_id=owner.user_id),
                 actor=owner.user_id, token="wrong-" + ctx.admin_token)
    except grpc.RpcError:
        pass
    log = ctx.server.read_log()
    assert log, "the server wrote no log"
    assert ctx.admin_token not in log
    assert ctx.sync_token not in log
    assert rl.hash_token(ctx.admin_token)[7:] not in log, "a token hash was logged"


def test_hash_token_matches_tokens_file(base_env):
    _base, binary = base_env
    token = rl.new_token()
    for stdin in (token, token + "\n"):
        p = subprocess.run([binary, "hash-token"], input=stdin, capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == rl.hash_token(token)
    p = subprocess.run([binary, "hash-token"], input="", capture_output=True,
                       text=True, timeout=10)
    assert p.returncode != 0


def test_shutdown_with_blocked_handler(ctx, base_env):
    """SIGTERM while a handler waits on a row lock past the grace period: the
    handler finishes after the server has cancelled its call, and the
    process must still exit 0."""
    _base, binary = base_env
    o, owner = ctx.new_org(total=10)
    token = rl.new_token()
    tokens = os.path.join(ctx.tmpdir, "blocked.tokens")
    rl.write_tokens(tokens, [("admin-tool", token, [])])
    srv = rl.Identity(binary, rl.identity_env(ctx.conninfo, tokens),
                      os.path.join(ctx.tmpdir, "blocked.log"))
    srv.start()
    srv.wait_health()

    # CreateUser locks the organisation row, so holding that lock parks
    # the handler inside its transaction.
    locker = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                               "-d", ctx.conninfo],
                              stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True)
    locker.stdin.write("BEGIN;\nSELECT 1 FROM identity.organizations "
                       "WHERE id = '%s' FOR UPDATE;\n" % o.organization_id)
    locker.stdin.flush()
    time.sleep(0.5)

    ch = srv.channel()
    stub = rl.identity_stub(ch)
    outcome = {}

    def create():
        try:
            stub.CreateUser(pb.CreateUserRequest(
                organization_id=o.organization_id, nickname="blocked",
                user_type=pb.USER_TYPE_ANALYST),
                metadata=rl.md(token, owner.user_id), timeout=4)
            outcome["code"] = grpc.StatusCode.OK
        except grpc.RpcError as err:
            outcome["code"] = err.code()

    t = threading.Thread(target=create)
    t.start()
    time.sleep(0.5)
    srv.proc.send_signal(signal.SIGTERM)
    try:
        # Past the 2 s grace period the call is cancelled; release the lock
        # after that so the handler returns into a stopped server.
        time.sleep(3.0)
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        locker.wait(10)
        rc = srv.proc.wait(15)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        if locker.poll() is None:
            locker.kill()
        srv.log.close()
    t.join(10)
    ch.close()
    log = srv.read_log()
    assert rc == 0, "exit %r:\n%s" % (rc, log[-3000:])
    assert outcome.get("code") in (grpc.StatusCode.CANCELLED,
                                   grpc.StatusCode.UNAVAILABLE,
                                   grpc.StatusCode.DEADLINE_EXCEEDED), outcome
    assert "calls still live" not in log, log[-3000:]
