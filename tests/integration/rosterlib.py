"""Helpers shared by the integration tests: stubs built from descriptors,
refusal checks, throw-away databases and roster-identity processes."""

import hashlib
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid

import grpc
from google.protobuf import descriptor_pb2

from rsext.google.rpc import error_details_pb2, status_pb2
from rsext.grpc.health.v1 import health_pb2
from roster.identity.v1 import identity_pb2 as pb
from roster.authz.v1 import authz_pb2 as apb

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IDENTITY = "roster.identity.v1.IdentityService"
HEALTH = "grpc.health.v1.Health"


# --- stubs -------------------------------------------------------------------

class Stub:
    """Callables for every method of a service, built from its descriptor:
    stub.GetUser(req, metadata=..., timeout=...). Streaming kinds come from
    the FileDescriptorProto because the Python descriptor does not expose
    them."""

    def __init__(self, channel, service_desc):
        fdp = descriptor_pb2.FileDescriptorProto.FromString(
            service_desc.file.serialized_pb)
        kinds = {}
        for s in fdp.service:
            if s.name == service_desc.name:
                for m in s.method:
                    kinds[m.name] = (m.client_streaming, m.server_streaming)
        for m in service_desc.methods:
            path = "/%s/%s" % (service_desc.full_name, m.name)
            ser = m.input_type._concrete_class.SerializeToString
            de = m.output_type._concrete_class.FromString
            cs, ss = kinds[m.name]
            if cs and ss:
                fn = channel.stream_stream(path, ser, de)
            elif ss:
                fn = channel.unary_stream(path, ser, de)
            elif cs:
                fn = channel.stream_unary(path, ser, de)
            else:
                fn = channel.unary_unary(path, ser, de)
            setattr(self, m.name, fn)


def identity_stub(channel):
    return Stub(channel, pb.DESCRIPTOR.services_by_name["IdentityService"])


def authz_stub(channel):
    return Stub(channel, apb.DESCRIPTOR.services_by_name["AuthzService"])


def health_stub(channel):
    return Stub(channel, health_pb2.DESCRIPTOR.services_by_name["Health"])


def md(token=None, actor=None):
    """Request metadata: bearer token and acting user."""
    out = []
    if token is not None:
        out.append(("authorization", "Bearer " + token))
    if actor is not None:
        out.append(("x-roster-actor", actor))
    return out


# --- refusals ----------------------------------------------------------------

def error_info(err):
    """(reason from x-roster-reason, ErrorInfo or None, Status or None)."""
    trailer_reason = None
    info = None
    status = None
    for key, value in err.trailing_metadata() or ():
        if key == "x-roster-reason":
            trailer_reason = value
        elif key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for any_msg in status.details:
                candidate = error_details_pb2.ErrorInfo()
                if any_msg.Unpack(candidate):
                    info = candidate
    return trailer_reason, info, status


def check_refusal(err, code, reason):
    """Asserts err carries gRPC code and, when reason is given, that reason in
    both the trailer and the ErrorInfo detail (domain "roster")."""
    assert err.code() == code, "expected %s/%s, got %s: %s" % (
        code, reason, err.code(), err.details())
    if reason is None:
        return
    trailer_reason, info, status = error_info(err)
    assert trailer_reason == reason, \
        "x-roster-reason: expected %r, got %r (%s)" % (
            reason, trailer_reason, err.details())
    assert status is not None, "no grpc-status-details-bin trailer"
    assert status.code == code.value[0], \
        "Status.code %d differs from %s" % (status.code, code)
    assert info is not None, "no ErrorInfo in grpc-status-details-bin"
    assert info.reason == reason, "ErrorInfo.reason: expected %r, got %r" % (
        reason, info.reason)
    assert info.domain == "roster", "ErrorInfo.domain %r" % info.domain


def refused(fn, req, code, reason, **kw):
    """Calls fn(req, **kw), which must fail with code and reason; returns the
    error for further checks."""
    try:
        resp = fn(req, **kw)
    except grpc.RpcError as err:
        check_refusal(err, code, reason)
        return err
    raise AssertionError("expected %s/%s, call succeeded: %r" % (
        code, reason, resp))


# --- processes and databases -------------------------------------------------

def free_port(low=20000, high=32000):
    """Returns a random port in [low, high) that was free on 127.0.0.1 a
    moment ago. The default range is below Linux's default ephemeral range
    (32768-60999), so an outgoing connection of a parallel test cannot take
    the port as its source port before the server binds it."""
    for _ in range(200):
        port = low + secrets.randbelow(high - low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in %d-%d" % (low, high - 1))


def db_conninfo(base, dbname):
    """base with its database replaced by dbname (URI or key=value form)."""
    if base.startswith(("postgres://", "postgresql://")):
        head, _, query = base.partition("?")
        scheme, _, rest = head.partition("://")
        hostpart = rest.split("/", 1)[0]
        out = "%s://%s/%s" % (scheme, hostpart, dbname)
        return out + ("?" + query if query else "")
    return base + " dbname=" + dbname


def psql(conninfo, sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                          "-d", conninfo, "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def create_database(base):
    name = "rs_test_" + uuid.uuid4().hex[:12]
    psql(base, "CREATE DATABASE %s" % name)
    return db_conninfo(base, name)


def hash_token(token):
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def write_tokens(path, entries):
    """entries: [(name, token, [scopes])]; format NAME sha256:HEX [scope,...]."""
    with open(path, "w") as f:
        f.write("# name hash scopes\n")
        for name, token, scopes in entries:
            line = "%s %s" % (name, hash_token(token))
            if scopes:
                line += " " + ",".join(scopes)
            f.write(line + "\n")


def new_token():
    return secrets.token_hex(24)


class Identity:
    """One service process (roster-identity or roster-authz serve) with its
    log file."""

    def __init__(self, binary, env, log_path):
        self.binary = binary
        self.env = env
        self.log_path = log_path
        self.port = int(env["ROSTER_GRPC_ADDR"].rsplit(":", 1)[1])
        self.target = "127.0.0.1:%d" % self.port
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "ab")
        # ROSTER_TEST_WRAPPER runs the server under a tool, for example
        # "valgrind --log-file=/tmp/vg.%p" (scripts/valgrind-integration).
        wrapper = shlex.split(os.environ.get("ROSTER_TEST_WRAPPER", ""))
        self.proc = subprocess.Popen(wrapper + [self.binary, "serve"], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def channel(self, credentials=None, options=None):
        # A probe made before the server listens would otherwise back off
        # for seconds before the next connection attempt.
        opts = [("grpc.use_local_subchannel_pool", 1),
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 500)] + list(options or [])
        if credentials is None:
            return grpc.insecure_channel(self.target, options=opts)
        return grpc.secure_channel(self.target, credentials, options=opts)

    def wait_health(self, want="SERVING", timeout=30, channel=None):
        """Polls Health.Check until the overall status is want."""
        want_v = health_pb2.HealthCheckResponse.ServingStatus.Value(want)
        deadline = time.monotonic() + timeout
        ch = channel or self.channel()
        last = None
        try:
            h = health_stub(ch)
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError("%s exited with %d:\n%s"
                                         % (os.path.basename(self.binary),
                                            self.proc.returncode, self.read_log()))
                try:
                    r = h.Check(health_pb2.HealthCheckRequest(), timeout=2)
                    last = r.status
                    if r.status == want_v:
                        return
                except grpc.RpcError as err:
                    last = err.code()
                time.sleep(0.1)
        finally:
            if channel is None:
                ch.close()
        raise AssertionError("health not %s after %ss (last %r)\n%s" % (
            want, timeout, last, self.read_log()[-4000:]))

    def read_log(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s ignored SIGTERM for %ss"
                                 % (os.path.basename(self.binary), timeout))
        finally:
            self.log.close()


def identity_env(conninfo, tokens_file, port=None, **extra):
    env = dict(os.environ)
    env.update({
        "ROSTER_DATABASE_URL": conninfo,
        "ROSTER_GRPC_ADDR": "127.0.0.1:%d" % (port or free_port()),
        "ROSTER_AUTH_TOKENS_FILE": tokens_file,
        "ROSTER_LOG_LEVEL": "debug",
        "ROSTER_WORKERS": "2",
        "ROSTER_DB_POOL_SIZE": "8",
        "ROSTER_MAX_MESSAGE_BYTES": "65536",
        "ROSTER_SHUTDOWN_GRACE_MS": "2000",
    })
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def authz_binary():
    """The roster-authz binary from ROSTER_AUTHZ_BIN, or None."""
    binary = os.environ.get("ROSTER_AUTHZ_BIN")
    if binary and os.access(binary, os.X_OK):
        return binary
    return None


def migrate(binary, conninfo, check=True, with_authz=True):
    """Runs binary migrate, then roster-authz migrate unless with_authz is
    false. identity calls authz's SQL functions and is SERVING only with
    both schemas, and authz migrates second. Returns the first failure,
    else binary's result."""
    env = dict(os.environ, ROSTER_DATABASE_URL=conninfo, ROSTER_LOG_LEVEL="info")
    res = subprocess.run([binary, "migrate"], env=env, check=check,
                         capture_output=True, text=True, timeout=120)
    authz = authz_binary()
    if (with_authz and res.returncode == 0 and authz is not None
            and os.path.realpath(authz) != os.path.realpath(binary)):
        res2 = subprocess.run([authz, "migrate"], env=env, check=check,
                              capture_output=True, text=True, timeout=120)
        if res2.returncode != 0:
            return res2
    return res


def pg_tmp(*args):
    out = subprocess.run([os.path.join(REPO, "scripts", "pg-tmp")] + list(args),
                         check=True, capture_output=True, text=True, timeout=120)
    return out.stdout.strip()
