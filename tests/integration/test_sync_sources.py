"""Sources of roster-sync: create, read, list, update and delete, field
validation with reasons, the per-platform limit, the endpoint allow-list,
TestConnection against the simulator, and the app secret that never leaves
the service."""

import os
import subprocess

import grpc
import pytest

import rosterlib as rl
import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("sync-sources"))
    with synclib.Stack(wd, sims=[synclib.SMALL, synclib.SMALL],
                       sim_args=[[], ["--deny-api", "topapi/v2/user/list"]],
                       extra_endpoints=["https://oapi.dingtalk.com"]) as s:
        yield s


@pytest.fixture
def org(st):
    return st.new_org_with_owner()


def req(st, org, sim=None, **fields):
    sim = sim or st.sims[0]
    r = spb.CreateSourceRequest(
        organization_id=org[0].organization_id, platform=synclib.DINGTALK,
        corp_id=sim.corp_id, name="钉钉 source", app_key=sim.app_key,
        app_secret=sim.app_secret, endpoint=sim.endpoint)
    for k, v in fields.items():
        setattr(r, k, v)
    return r


def test_crud(st, org):
    o, owner = org
    sim = st.sims[0]
    src = st.call("CreateSource", req(st, org, nickname_suffix=spb.NICKNAME_SUFFIX_JOB_NUMBER),
                  owner.user_id)
    assert len(src.source_id) == 32
    assert src.corp_id == sim.corp_id
    assert src.app_key == sim.app_key
    assert src.endpoint == sim.endpoint
    assert src.nickname_suffix == spb.NICKNAME_SUFFIX_JOB_NUMBER
    assert src.created_by == owner.user_id
    assert not src.HasField("structure_time")
    assert sim.app_secret.encode() not in src.SerializeToString()

    got = st.call("GetSource", spb.GetSourceRequest(organization_id=o.organization_id,
                                                    source_id=src.source_id), owner.user_id)
    assert got == src
    # Any enabled user may read.
    user = st.new_user(o, owner)
    lst = st.call("ListSources", spb.ListSourcesRequest(organization_id=o.organization_id),
                  user.user_id)
    assert [s.source_id for s in lst.sources] == [src.source_id]
    assert sim.app_secret.encode() not in lst.SerializeToString()

    upd = st.call("UpdateSource", spb.UpdateSourceRequest(
        organization_id=o.organization_id, source_id=src.source_id, name="renamed",
        app_secret="rotated-secret-1"), owner.user_id)
    assert upd.name == "renamed"
    assert upd.app_key == sim.app_key
    assert upd.update_time.ToMicroseconds() >= src.update_time.ToMicroseconds()
    sealed = st.sql("SELECT encode(secret_sealed, 'escape') FROM sync.sources "
                    "WHERE id = '%s'" % src.source_id)
    assert "rotated-secret-1" not in sealed

    st.refused("CreateSource", req(st, org), grpc.StatusCode.ALREADY_EXISTS, "SOURCE_EXISTS",
               owner.user_id)
    d = st.call("DeleteSource", spb.DeleteSourceRequest(organization_id=o.organization_id,
                                                        source_id=src.source_id),
                owner.user_id)
    assert d.source_id == src.source_id
    st.refused("GetSource", spb.GetSourceRequest(organization_id=o.organization_id,
                                                 source_id=src.source_id),
               grpc.StatusCode.NOT_FOUND, "SOURCE_NOT_FOUND", owner.user_id)


def test_empty_endpoint_takes_the_first_allowed(st, org):
    src = st.call("CreateSource", req(st, org, endpoint=""), org[1].user_id)
    assert src.endpoint == st.sims[0].endpoint


@pytest.mark.parametrize("fields,code,reason", [
    ({"organization_id": ""}, INVALID, "INVALID_ID"),
    ({"platform": pb.PLATFORM_UNSPECIFIED}, INVALID, "FIELD_INVALID"),
    ({"platform": pb.PLATFORM_WECOM}, INVALID, "PLATFORM_UNSUPPORTED"),
    ({"platform": pb.PLATFORM_LARK}, INVALID, "PLATFORM_UNSUPPORTED"),
    ({"corp_id": ""}, INVALID, "FIELD_INVALID"),
    ({"corp_id": "x" * 65}, INVALID, "FIELD_INVALID"),
    ({"corp_id": "has space"}, INVALID, "FIELD_INVALID"),
    ({"name": ""}, INVALID, "FIELD_INVALID"),
    ({"name": "   "}, INVALID, "FIELD_INVALID"),
    ({"name": "n" * 101}, INVALID, "FIELD_INVALID"),
    ({"name": "a\x07b"}, INVALID, "FIELD_INVALID"),
    ({"name": "\u3000\u3000"}, INVALID, "FIELD_INVALID"),          # ideographic spaces only
    ({"name": "钉钉\u200b通讯录"}, INVALID, "FIELD_INVALID"),      # zero-width space
    ({"name": "\u202e钉钉通讯录"}, INVALID, "FIELD_INVALID"),      # right-to-left override
    ({"app_key": ""}, INVALID, "FIELD_INVALID"),
    ({"app_secret": ""}, INVALID, "FIELD_INVALID"),
    ({"app_secret": "bad secret\x01"}, INVALID, "FIELD_INVALID"),
    ({"nickname_suffix": 9}, INVALID, "FIELD_INVALID"),
    ({"endpoint": "http://203.0.113.9:80"}, INVALID, "ENDPOINT_NOT_ALLOWED"),
    ({"endpoint": "http://127.0.0.1:1/../x"}, INVALID, "ENDPOINT_NOT_ALLOWED"),
])
def test_validation(st, org, fields, code, reason):
    err = st.refused("CreateSource", req(st, org, **fields), code, reason, org[1].user_id)
    assert "bad secret" not in err.details()


def test_name_with_joiners_and_emoji_accepted(st, org):
    # Zero-width joiners build emoji sequences, so they stay allowed.
    name = "杭州 👩\u200d💻 Team"
    src = st.call("CreateSource", req(st, org, name=name), org[1].user_id)
    assert src.name == name


def test_field_named_in_error(st, org):
    err = st.refused("CreateSource", req(st, org, name=""), INVALID, "FIELD_INVALID",
                     org[1].user_id)
    _, info, _ = rl.error_info(err)
    assert info.metadata["field"] == "name"
    assert "name" in err.details()


def test_non_admin_refused(st, org):
    o, owner = org
    user = st.new_user(o, owner)
    st.refused("CreateSource", req(st, org), grpc.StatusCode.PERMISSION_DENIED,
               "NOT_ORGANIZATION_ADMIN", user.user_id)
    src = st.create_source(st.sims[0], o, owner)
    for method, r in [
            ("UpdateSource", spb.UpdateSourceRequest(organization_id=o.organization_id,
                                                     source_id=src.source_id, name="x")),
            ("DeleteSource", spb.DeleteSourceRequest(organization_id=o.organization_id,
                                                     source_id=src.source_id)),
            ("TestConnection", spb.TestConnectionRequest(organization_id=o.organization_id,
                                                         source_id=src.source_id))]:
        st.refused(method, r, grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN",
                   user.user_id)
    other_org, _ = st.new_org_with_owner()
    st.refused("GetSource", spb.GetSourceRequest(organization_id=other_org.organization_id,
                                                 source_id=src.source_id),
               grpc.StatusCode.PERMISSION_DENIED, "ACTOR_NOT_IN_ORGANIZATION", owner.user_id)


def test_sixth_source_refused(st, org):
    for i in range(5):
        st.call("CreateSource", req(st, org, corp_id="corp%d" % i), org[1].user_id)
    st.refused("CreateSource", req(st, org, corp_id="corp5"),
               grpc.StatusCode.RESOURCE_EXHAUSTED, "SOURCE_LIMIT_REACHED", org[1].user_id)
    lst = st.call("ListSources", spb.ListSourcesRequest(
        organization_id=org[0].organization_id), org[1].user_id)
    assert len(lst.sources) == 5


def test_connection(st, org):
    o, owner = org
    good = st.create_source(st.sims[0], o, owner)
    r = st.call("TestConnection", spb.TestConnectionRequest(
        organization_id=o.organization_id, source_id=good.source_id), owner.user_id)
    assert len(r.scope_department_ids) >= 1
    assert r.sample_member_count >= 0

    wrong = st.create_source(st.sims[0], o, owner, corp_id="wrongcorp",
                             app_secret="not-the-secret")
    st.refused("TestConnection", spb.TestConnectionRequest(
        organization_id=o.organization_id, source_id=wrong.source_id),
        grpc.StatusCode.FAILED_PRECONDITION, "DINGTALK_CREDENTIALS_INVALID", owner.user_id)

    denied = st.create_source(st.sims[1], o, owner, corp_id="deniedcorp")
    err = st.refused("TestConnection", spb.TestConnectionRequest(
        organization_id=o.organization_id, source_id=denied.source_id),
        grpc.StatusCode.PERMISSION_DENIED, "DINGTALK_PERMISSION_DENIED", owner.user_id)
    assert st.sims[1].app_secret not in err.details()


def test_secret_never_logged(st):
    logs = st.sync_logs()
    for sim in st.sims:
        assert sim.app_secret not in logs
    assert "rotated-secret-1" not in logs
    assert "not-the-secret" not in logs


def test_serve_without_key_exits_2(st):
    env = rl.identity_env(st.conninfo, st.tokens_file, **st.sync_environment())
    env.pop("ROSTER_SYNC_SECRET_KEY")
    res = subprocess.run([st.sync_bin, "serve"], env=env, capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "ROSTER_SYNC_SECRET_KEY" in lines[0], res.stderr
    # migrate works without it.
    res = subprocess.run([st.sync_bin, "migrate"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr


def test_key_rotation_reseals(st, org):
    o, owner = org
    src = st.create_source(st.sims[0], o, owner, corp_id="rotcorp")
    old_id = st.sql("SELECT secret_key_id FROM sync.sources WHERE id = '%s'" % src.source_id)
    new_key = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    # A new key alone cannot open the old secret.
    st.restart_sync(ROSTER_SYNC_SECRET_KEY=new_key)
    st.refused("TestConnection", spb.TestConnectionRequest(
        organization_id=o.organization_id, source_id=src.source_id),
        grpc.StatusCode.FAILED_PRECONDITION, "SECRET_UNREADABLE", owner.user_id)
    # With the previous key given, start-up re-seals under the new one.
    st.restart_sync(ROSTER_SYNC_SECRET_KEY=new_key,
                    ROSTER_SYNC_SECRET_KEY_PREVIOUS=synclib.SECRET_KEY)
    new_id = st.sql("SELECT secret_key_id FROM sync.sources WHERE id = '%s'" % src.source_id)
    assert new_id != old_id
    assert st.sql("SELECT count(*) FROM sync.sources WHERE secret_key_id = '%s'"
                  % old_id) == "0"
    # The new key alone now opens it.
    st.restart_sync(ROSTER_SYNC_SECRET_KEY=new_key)
    st.call("TestConnection", spb.TestConnectionRequest(
        organization_id=o.organization_id, source_id=src.source_id), owner.user_id)
    st.restart_sync(ROSTER_SYNC_SECRET_KEY=synclib.SECRET_KEY,
                    ROSTER_SYNC_SECRET_KEY_PREVIOUS=new_key)
