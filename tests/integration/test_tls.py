"""TLS and mutual TLS, with certificates made by the openssl CLI."""

import os
import subprocess

import grpc
import pytest

import rosterlib as rl
from rsext.grpc.health.v1 import health_pb2


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(workdir):
    d = os.path.join(workdir, "pki")
    os.makedirs(d)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=Roster Test CA", "-keyout", "ca.key", "-out", "ca.pem",
            cwd=d)
    for name, cn, ext in (
            ("server", "localhost",
             "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
             # clientAuth too: with mutual TLS, "healthcheck" presents the
             # server's own certificate.
             "extendedKeyUsage=serverAuth,clientAuth\n"),
            ("client", "admin-tool", "extendedKeyUsage=clientAuth\n")):
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write(ext)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + cn,
                "-keyout", name + ".key", "-out", name + ".csr", cwd=d)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
    return d


def read(d, name):
    with open(os.path.join(d, name), "rb") as f:
        return f.read()


def serve_tls(ctx, pki, name, client_ca):
    tokens = os.path.join(ctx.tmpdir, name + ".tokens")
    rl.write_tokens(tokens, [("admin-tool", ctx.admin_token, [])])
    env = rl.identity_env(ctx.conninfo, tokens,
                          ROSTER_TLS_CERT=os.path.join(pki, "server.pem"),
                          ROSTER_TLS_KEY=os.path.join(pki, "server.key"),
                          ROSTER_TLS_CLIENT_CA=(os.path.join(pki, "ca.pem")
                                                if client_ca else None))
    srv = rl.Identity(ctx.binary, env, os.path.join(ctx.tmpdir, name + ".log"))
    srv.start()
    return srv


def check(channel):
    return rl.health_stub(channel).Check(health_pb2.HealthCheckRequest(),
                                         timeout=5).status


def healthcheck(ctx, srv, **tls):
    env = dict(srv.env)
    for key, value in tls.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([ctx.binary, "healthcheck"], env=env,
                          capture_output=True, text=True, timeout=30)


def test_tls(ctx, pki):
    srv = serve_tls(ctx, pki, "tls", client_ca=False)
    try:
        creds = grpc.ssl_channel_credentials(root_certificates=read(pki, "ca.pem"))
        ch = srv.channel(creds)
        srv.wait_health(channel=ch)
        assert check(ch) == health_pb2.HealthCheckResponse.SERVING
        o, owner = ctx.new_org(total=3)
        from roster.identity.v1 import identity_pb2 as pb
        got = rl.identity_stub(ch).GetUser(
            pb.GetUserRequest(organization_id=o.organization_id,
                              user_id=owner.user_id),
            metadata=rl.md(ctx.admin_token, owner.user_id), timeout=5)
        assert got.user_id == owner.user_id
        ch.close()

        plain = srv.channel()
        with pytest.raises(grpc.RpcError) as ei:
            check(plain)
        assert ei.value.code() == grpc.StatusCode.UNAVAILABLE
        plain.close()

        p = healthcheck(ctx, srv, ROSTER_TLS_CA=os.path.join(pki, "ca.pem"))
        assert p.returncode == 0, p.stdout + p.stderr
        # Without a CA the probe cannot verify the server, so it fails and names the variable.
        p = healthcheck(ctx, srv, ROSTER_TLS_CA=None)
        assert p.returncode != 0
        assert "ROSTER_TLS_CA" in p.stderr
    finally:
        assert srv.stop() == 0, srv.read_log()[-3000:]


def test_mtls(ctx, pki):
    srv = serve_tls(ctx, pki, "mtls", client_ca=True)
    try:
        with_cert = grpc.ssl_channel_credentials(
            root_certificates=read(pki, "ca.pem"),
            private_key=read(pki, "client.key"),
            certificate_chain=read(pki, "client.pem"))
        ch = srv.channel(with_cert)
        srv.wait_health(channel=ch)
        assert check(ch) == health_pb2.HealthCheckResponse.SERVING
        ch.close()

        no_cert = grpc.ssl_channel_credentials(root_certificates=read(pki, "ca.pem"))
        ch = srv.channel(no_cert)
        with pytest.raises(grpc.RpcError) as ei:
            check(ch)
        assert ei.value.code() == grpc.StatusCode.UNAVAILABLE
        ch.close()

        # A self-signed client certificate is not signed by the CA.
        d = os.path.join(pki, "rogue")
        os.makedirs(d, exist_ok=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=rogue", "-keyout", "rogue.key", "-out", "rogue.pem",
                cwd=d)
        rogue = grpc.ssl_channel_credentials(
            root_certificates=read(pki, "ca.pem"),
            private_key=read(d, "rogue.key"),
            certificate_chain=read(d, "rogue.pem"))
        ch = srv.channel(rogue)
        with pytest.raises(grpc.RpcError):
            check(ch)
        ch.close()

        # The server's own environment: its certificate, its client CA.
        p = healthcheck(ctx, srv)
        assert p.returncode == 0, p.stdout + p.stderr
        p = healthcheck(ctx, srv, ROSTER_TLS_CA=os.path.join(pki, "ca.pem"),
                        ROSTER_TLS_CERT=os.path.join(pki, "client.pem"),
                        ROSTER_TLS_KEY=os.path.join(pki, "client.key"))
        assert p.returncode == 0, p.stdout + p.stderr
    finally:
        assert srv.stop() == 0, srv.read_log()[-3000:]
