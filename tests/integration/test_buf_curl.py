"""buf curl, an independent client that works through reflection."""

import base64
import json
import os
import subprocess

import pytest

import rosterlib as rl
from rsext.google.rpc import error_details_pb2

BUF = os.path.join(rl.REPO, ".tools", "node_modules", ".bin", "buf")


def buf(ctx, *args, token=None, actor=None, data=None, check=True):
    if not os.access(BUF, os.X_OK):
        pytest.fail("buf is missing: run scripts/bootstrap")
    cmd = [BUF, "curl", "--protocol", "grpc", "--http2-prior-knowledge"]
    if token:
        cmd += ["-H", "authorization: Bearer " + token]
    if actor:
        cmd += ["-H", "x-roster-actor: " + actor]
    if data is not None:
        cmd += ["-d", json.dumps(data, ensure_ascii=False)]
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, BUF_CACHE_DIR=ctx.tmpdir + "/buf-cache"))
    if check:
        assert p.returncode == 0, "buf curl failed (%d): %s" % (p.returncode, p.stderr)
    return p


def url(ctx, path=""):
    return "http://%s%s" % (ctx.server.target, path)


def test_list_methods(ctx):
    out = buf(ctx, "--list-methods", url(ctx)).stdout.split()
    assert "roster.identity.v1.IdentityService/CreateOrganization" in out
    assert "roster.identity.v1.IdentityService/LookupExternalIdentity" in out
    assert "grpc.health.v1.Health/Check" in out
    assert "grpc.health.v1.Health/Watch" in out
    services = buf(ctx, "--list-services", url(ctx)).stdout.split()
    assert "roster.identity.v1.IdentityService" in services
    assert "grpc.health.v1.Health" in services


def test_json_invoke_keeps_cjk(ctx):
    p = buf(ctx, url(ctx, "/roster.identity.v1.IdentityService/CreateOrganization"),
            token=ctx.admin_token, data={
                "name": "北京示例有限公司",
                "edition": "EDITION_PROFESSIONAL",
                "seatCaps": {"total": 5},
                "owner": {"nickname": "张伟", "userType": "USER_TYPE_DEVELOPER"}})
    resp = json.loads(p.stdout)
    assert resp["organization"]["name"] == "北京示例有限公司"
    owner = resp["owner"]
    assert owner["nickname"] == "张伟"
    assert "张伟" in p.stdout, "CJK escaped in buf output"

    p = buf(ctx, url(ctx, "/roster.identity.v1.IdentityService/GetUser"),
            token=ctx.admin_token, actor=owner["userId"],
            data={"organizationId": owner["organizationId"],
                  "userId": owner["userId"]})
    got = json.loads(p.stdout)
    assert got["nickname"] == "张伟"
    assert got["userType"] == "USER_TYPE_DEVELOPER"

    p = buf(ctx, url(ctx, "/roster.identity.v1.IdentityService/CreateUser"),
            token=ctx.admin_token, actor=owner["userId"],
            data={"organizationId": owner["organizationId"], "nickname": "张伟",
                  "userType": "USER_TYPE_ANALYST"}, check=False)
    assert p.returncode != 0
    err = json.loads(p.stderr)
    assert err["code"] == "already_exists", err
    # buf prints each detail's type and its bytes in unpadded base64.
    infos = [d["value"] for d in err.get("details", [])
             if d.get("type") == "google.rpc.ErrorInfo"]
    assert len(infos) == 1, err
    raw = base64.b64decode(infos[0] + "=" * (-len(infos[0]) % 4))
    info = error_details_pb2.ErrorInfo.FromString(raw)
    assert info.reason == "NICKNAME_TAKEN"
    assert info.domain == "roster"


def test_missing_token_via_buf(ctx):
    p = buf(ctx, url(ctx, "/roster.identity.v1.IdentityService/GetOrganization"),
            data={"organizationId": "x"}, check=False)
    assert p.returncode != 0
    err = json.loads(p.stderr)
    assert err["code"] == "unauthenticated", err
