"""A complete roster-sync stack for one test module.

    import synclib
    @pytest.fixture(scope="module")
    def st(tmp_path_factory):
        with synclib.Stack(str(tmp_path_factory.mktemp("sync")),
                           sims=[synclib.SMALL]) as s:
            yield s

API (st is a Stack):
  Stack(workdir, sims=[fixture path, ...], sim_args=[[arg, ...] per sim],
        sync_env={VAR: value}, replicas=1, extra_endpoints=[url],
        identity_env={VAR: value})
      fresh database; identity, authz and sync migrated; a tokens file with
      an admin token (st.admin_token) and a "sync"-scoped one
      (st.sync_token); roster-identity, roster-authz, one simulator per
      fixture and `replicas` roster-sync processes. identity_env overrides
      roster-identity's environment (e.g. ROSTER_MAX_MESSAGE_BYTES). Use as
      a context manager or call start() / stop().
  st.ident, st.authz, st.sync      stubs (rosterlib.Stub) of the three services,
                                   st.sync talks to replica 0
  st.sims[i]                       Sim: .endpoint, .doc (the fixture), .corp_id,
                                   .app_key, .app_secret, .port, .proc, .log_path
  st.replicas[i]                   rosterlib.Identity of each roster-sync process
  st.start_replica(**env) -> rosterlib.Identity, waits until SERVING
  st.restart_sync(**env)           stops every replica and starts one with env
  st.stub_for(replica)             SyncService stub on that replica
  st.call(method, req, actor, token=None, replica=None)   SyncService call
  st.refused(method, req, code, reason, actor, token=None)
  st.id_call(method, req, actor=None)                     IdentityService call
  st.new_org_with_owner(**seat caps) -> (organization, owner)
  st.new_user(org, owner, user_type=ANALYST) -> User
  st.create_source(sim, org, owner, **fields) -> Source
  st.wait_run(org_id, run_id, actor, timeout=60, replica=None) -> Run,
      polls GetRun until the run has finished (SUCCEEDED, PARTIAL, FAILED,
      ABANDONED); AssertionError with the replica logs on timeout
  st.sim_control(sim, op_dict) -> reply dict (POST /_sim/control)
  st.sql(text) -> psql output
  st.sync_logs() -> the text of every roster-sync log
  generate(workdir, users, seed, *extra) -> fixture path (sim generate)
  write_fixture(workdir, doc) -> fixture path
  SMALL: the simulator's 5-level example fixture
Every process the stack starts is stopped by pid at stop(); the logs of
every service are checked for the tokens and the app secrets.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid

import grpc
import pytest

import rosterlib as rl
from roster.authz.v1 import authz_pb2 as apb  # noqa: F401  (re-exported)
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

SMALL = os.path.join(rl.REPO, "tools", "dingtalk-sim", "fixtures", "small.json")
DINGTALK = pb.PLATFORM_DINGTALK
FINISHED = (spb.RUN_STATUS_SUCCEEDED, spb.RUN_STATUS_PARTIAL,
            spb.RUN_STATUS_FAILED, spb.RUN_STATUS_ABANDONED)
# Base64 of 32 bytes: the data key tests use unless they pass their own.
SECRET_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def binary(var):
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        pytest.fail("%s does not name an executable: %r" % (var, path))
    return path


def sync_stub(channel):
    return rl.Stub(channel, spb.DESCRIPTOR.services_by_name["SyncService"])


def generate(workdir, users, seed, *extra):
    """Writes a generated fixture (roster-dingtalk-sim generate)."""
    out = os.path.join(workdir, "gen-%d-%d-%s.json" % (users, seed, uuid.uuid4().hex[:6]))
    subprocess.run([binary("ROSTER_DINGTALK_SIM_BIN"), "generate", "--users", str(users),
                    "--seed", str(seed), "--out", out] + list(extra),
                   check=True, capture_output=True, timeout=120)
    return out


def write_fixture(workdir, doc):
    out = os.path.join(workdir, "fixture-%s.json" % uuid.uuid4().hex[:8])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)
    return out


class Sim:
    """One roster-dingtalk-sim serving a fixture on a loopback port."""

    def __init__(self, workdir, fixture, args=None, index=0):
        with open(fixture, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.fixture = fixture
        self.corp_id = self.doc["corp_id"]
        self.app_key = self.doc["app"]["key"]
        self.app_secret = self.doc["app"]["secret"]
        self.port = rl.free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.args = list(args or [])
        self.log_path = os.path.join(workdir, "sim%d.log" % index)
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binary("ROSTER_DINGTALK_SIM_BIN"), "serve", "--fixture", self.fixture,
             "--addr", "127.0.0.1:%d" % self.port] + self.args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("simulator exited with %d:\n%s"
                                     % (self.proc.returncode, self.read_log()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("simulator did not listen:\n" + self.read_log())

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def control(self, op):
        body = json.dumps(op, ensure_ascii=False).encode()
        req = urllib.request.Request(self.endpoint + "/_sim/control", data=body,
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def stats(self):
        with urllib.request.urlopen(self.endpoint + "/_sim/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            self.log.close()


class Stack:
    def __init__(self, workdir, sims=(), sim_args=None, sync_env=None, replicas=1,
                 extra_endpoints=(), identity_env=None):
        self.workdir = workdir
        self.fixtures = list(sims)
        self.sim_args = list(sim_args or [[] for _ in self.fixtures])
        self.sync_env = dict(sync_env or {})
        self.identity_env = dict(identity_env or {})
        self.n_replicas = replicas
        self.extra_endpoints = list(extra_endpoints)
        self.sims = []
        self.replicas = []
        self.identity_proc = None
        self.authz_proc = None
        self.channels = []
        self.n_started = 0

    # --- lifecycle ---------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop(check=False)
            raise
        return self

    def __exit__(self, exc_type, *exc):
        self.stop(check=exc_type is None)

    def start(self):
        base = os.environ.get("ROSTER_TEST_DATABASE_URL")
        if not base:
            pytest.skip("ROSTER_TEST_DATABASE_URL is not set")
        self.identity_bin = binary("ROSTER_IDENTITY_BIN")
        self.authz_bin = binary("ROSTER_AUTHZ_BIN")
        self.sync_bin = binary("ROSTER_SYNC_BIN")
        self.conninfo = rl.create_database(base)
        rl.migrate(self.identity_bin, self.conninfo)
        self.migrate_sync()
        self.admin_token = rl.new_token()
        self.sync_token = rl.new_token()
        self.tokens_file = os.path.join(self.workdir, "tokens")
        rl.write_tokens(self.tokens_file, [("admin-tool", self.admin_token, []),
                                           ("roster-sync", self.sync_token, ["sync"])])
        self.identity_proc = self._service(self.identity_bin, "identity",
                                           **self.identity_env)
        self.authz_proc = self._service(self.authz_bin, "authz")
        for i, fixture in enumerate(self.fixtures):
            sim = Sim(self.workdir, fixture, self.sim_args[i] if i < len(self.sim_args)
                      else [], index=i)
            self.sims.append(sim)
            sim.start()
        self.identity_proc.wait_health()
        self.authz_proc.wait_health()
        ich = self.identity_proc.channel()
        ach = self.authz_proc.channel()
        self.channels += [ich, ach]
        self.ident = rl.identity_stub(ich)
        self.authz = rl.authz_stub(ach)
        for _ in range(self.n_replicas):
            self.start_replica()
        self.sync = self.stub_for(self.replicas[0])

    def migrate_sync(self):
        env = dict(os.environ, ROSTER_DATABASE_URL=self.conninfo, ROSTER_LOG_LEVEL="info")
        # migrate needs no secret key: only serve reads it.
        env.pop("ROSTER_SYNC_SECRET_KEY", None)
        subprocess.run([self.sync_bin, "migrate"], env=env, check=True,
                       capture_output=True, text=True, timeout=120)

    def _service(self, binary_path, name, **extra):
        env = rl.identity_env(self.conninfo, self.tokens_file, **extra)
        proc = rl.Identity(binary_path, env, os.path.join(self.workdir, name + ".log"))
        proc.start()
        return proc

    def sync_environment(self, **env):
        endpoints = [s.endpoint for s in self.sims] + self.extra_endpoints
        out = {
            "ROSTER_SYNC_IDENTITY_ADDR": self.identity_proc.target,
            "ROSTER_SYNC_AUTHZ_ADDR": self.authz_proc.target,
            "ROSTER_SYNC_SERVICE_TOKEN": self.sync_token,
            "ROSTER_SYNC_SECRET_KEY": SECRET_KEY,
            "ROSTER_SYNC_DINGTALK_ENDPOINTS": ",".join(endpoints) or "http://127.0.0.1:1",
            "ROSTER_SYNC_LEASE_MS": "3000",
            "ROSTER_SYNC_POLL_MS": "200",
            "ROSTER_SYNC_WORKERS": "2",
            "ROSTER_SYNC_DINGTALK_TIMEOUT_MS": "5000",
            "ROSTER_SYNC_DINGTALK_BAN_PAUSE_MS": "500",
            "ROSTER_SYNC_DINGTALK_THROTTLE_PAUSE_MS": "100",
            "ROSTER_SYNC_RPC_TIMEOUT_MS": "10000",
        }
        out.update(self.sync_env)
        out.update(env)
        return out

    def start_replica(self, wait=True, **env):
        """Starts one more roster-sync on the same database; env overrides
        (a None value removes the variable)."""
        name = "sync%d" % self.n_started
        self.n_started += 1
        proc = self._service(self.sync_bin, name, **self.sync_environment(**env))
        self.replicas.append(proc)
        if wait:
            proc.wait_health()
        return proc

    def restart_sync(self, **env):
        for r in list(self.replicas):
            self.stop_replica(r)
        r = self.start_replica(**env)
        self.sync = self.stub_for(r)
        return r

    def stop_replica(self, replica):
        rc = replica.stop()
        self.replicas.remove(replica)
        self.check_log(replica.read_log(), replica.log_path)
        assert rc in (0, None, -signal.SIGKILL), \
            "roster-sync exited with %r:\n%s" % (rc, replica.read_log()[-4000:])
        return rc

    def kill_replica(self, replica):
        """kill -9, as a crashed host would."""
        replica.proc.kill()
        replica.proc.wait()
        replica.log.close()
        self.replicas.remove(replica)
        self.check_log(replica.read_log(), replica.log_path)

    def stub_for(self, replica):
        ch = replica.channel()
        self.channels.append(ch)
        return sync_stub(ch)

    def secrets_to_hide(self):
        return [self.admin_token, self.sync_token, SECRET_KEY] + \
            [s.app_secret for s in self.sims]

    def check_log(self, text, path):
        for s in self.secrets_to_hide():
            assert s not in text, "a secret appears in %s" % path

    def stop(self, check=True):
        failures = []
        for ch in self.channels:
            ch.close()
        self.channels = []
        for r in list(self.replicas):
            try:
                self.stop_replica(r)
            except AssertionError as e:
                failures.append(str(e))
        for s in self.sims:
            rc = s.stop()
            if rc not in (0, None):
                failures.append("simulator exited with %r" % rc)
        for proc in (self.authz_proc, self.identity_proc):
            if proc is None:
                continue
            try:
                rc = proc.stop()
                if rc not in (0, None):
                    failures.append("%s exited with %r" % (proc.log_path, rc))
                self.check_log(proc.read_log(), proc.log_path)
            except AssertionError as e:
                failures.append(str(e))
        if check and failures:
            raise AssertionError("; ".join(failures))

    # --- calls -------------------------------------------------------------

    def call(self, method, req, actor, token=None, replica=None, timeout=20):
        stub = self.sync if replica is None else self.stub_for(replica)
        return getattr(stub, method)(req, metadata=rl.md(token or self.admin_token, actor),
                                     timeout=timeout)

    def refused(self, method, req, code, reason, actor, token=None):
        return rl.refused(getattr(self.sync, method), req, code, reason,
                          metadata=rl.md(token or self.admin_token, actor), timeout=20)

    def id_call(self, method, req, actor=None):
        return getattr(self.ident, method)(req, metadata=rl.md(self.admin_token, actor),
                                           timeout=20)

    def new_org_with_owner(self, total=1000, **caps):
        req = pb.CreateOrganizationRequest(
            name="org-" + uuid.uuid4().hex[:8], edition=pb.EDITION_PROFESSIONAL,
            seat_caps=pb.SeatCaps(total=total, **caps),
            owner=pb.CreateUserRequest(nickname="owner-" + uuid.uuid4().hex[:6],
                                       user_type=pb.USER_TYPE_DEVELOPER,
                                       email="owner@example.com"))
        resp = self.id_call("CreateOrganization", req)
        return resp.organization, resp.owner

    def new_user(self, org, owner, user_type=pb.USER_TYPE_ANALYST, nickname=None):
        return self.id_call("CreateUser", pb.CreateUserRequest(
            organization_id=org.organization_id,
            nickname=nickname or "user-" + uuid.uuid4().hex[:8],
            user_type=user_type), actor=owner.user_id)

    def create_source(self, sim, org, owner, **fields):
        req = spb.CreateSourceRequest(
            organization_id=org.organization_id, platform=DINGTALK,
            corp_id=sim.corp_id, name="source " + uuid.uuid4().hex[:6],
            app_key=sim.app_key, app_secret=sim.app_secret, endpoint=sim.endpoint)
        for k, v in fields.items():
            setattr(req, k, v)
        return self.call("CreateSource", req, owner.user_id)

    def wait_run(self, org_id, run_id, actor, timeout=60, replica=None):
        deadline = time.monotonic() + timeout
        run = None
        while time.monotonic() < deadline:
            try:
                run = self.call("GetRun", spb.GetRunRequest(organization_id=org_id,
                                                            run_id=run_id),
                                actor, replica=replica)
                if run.status in FINISHED:
                    return run
            except grpc.RpcError as err:
                if err.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
            time.sleep(0.1)
        raise AssertionError("run %s not finished after %ss: %r\n%s" % (
            run_id, timeout, run, self.sync_logs()[-6000:]))

    def sim_control(self, sim, op):
        reply = sim.control(op)
        assert reply.get("ok"), "simulator refused %r: %r" % (op, reply)
        return reply

    def sql(self, text):
        return rl.psql(self.conninfo, text)

    def sync_logs(self):
        out = []
        for i in range(self.n_started):
            path = os.path.join(self.workdir, "sync%d.log" % i)
            try:
                with open(path, errors="replace") as f:
                    out.append("== %s\n%s" % (path, f.read()))
            except OSError:
                pass
        return "\n".join(out)
