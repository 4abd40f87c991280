"""Who may call what on roster.sync.v1.SyncService, and where the app secret
goes. Every RPC, taken from the service descriptor, is called as each kind
of caller (as in test_security_matrix.py) and must end with the code and
reason RULES expects. Then every response, error and trailer of the run,
every service log and the stored source rows are searched for the app
secret, the data key and the service tokens."""

import uuid

import grpc
import pytest

import rosterlib as rl
import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb
from test_secrets_in_logs import Recorder

UNAUTH = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED
INVALID = grpc.StatusCode.INVALID_ARGUMENT

SYNC_SVC = spb.DESCRIPTOR.services_by_name["SyncService"]


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    with synclib.Stack(str(tmp_path_factory.mktemp("sync-security")),
                       sims=[synclib.SMALL]) as s:
        yield s


@pytest.fixture(scope="module")
def rec(st):
    """Every SyncService response of this module passes through rec."""
    r = Recorder()
    ch = grpc.intercept_channel(st.replicas[0].channel(), r)
    st.channels.append(ch)
    r.stub = synclib.sync_stub(ch)
    return r


class Scene:
    """One organisation: owner, regular member, disabled user, and on first
    use a source of the simulator's corp and a finished Update Structure."""

    def __init__(self, st):
        self.st = st
        self.sim = st.sims[0]
        self.org, owner = st.new_org_with_owner()
        self.org_id = self.org.organization_id
        self.owner = owner
        self.owner_id = owner.user_id
        self.member = st.new_user(self.org, owner, user_type=pb.USER_TYPE_DEVELOPER).user_id
        self.disabled = st.new_user(self.org, owner).user_id
        st.id_call("DisableUser", pb.SetUserEnabledRequest(
            organization_id=self.org_id, user_id=self.disabled), actor=self.owner_id)
        self._cache = {}

    def once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def source(self):
        return self.once("source", lambda: self.st.create_source(
            self.sim, self.org, self.owner).source_id)

    def structure_run(self):
        """The id of a finished Update Structure run of the source."""
        def make():
            run = self.st.call("UpdateStructure", spb.UpdateStructureRequest(
                organization_id=self.org_id, source_id=self.source()), self.owner_id).run
            done = self.st.wait_run(self.org_id, run.run_id, self.owner_id)
            assert done.status == spb.RUN_STATUS_SUCCEEDED, done
            return run.run_id
        return self.once("run", make)

    def create_req(self):
        sim = self.sim
        return spb.CreateSourceRequest(
            organization_id=self.org_id, platform=synclib.DINGTALK, corp_id=sim.corp_id,
            name="source " + uuid.uuid4().hex[:6], app_key=sim.app_key,
            app_secret=sim.app_secret, endpoint=sim.endpoint)


def _src(s, cls, **kw):
    return cls(organization_id=s.org_id, source_id=s.source(), **kw)


def _loaded(s, cls, **kw):
    s.structure_run()
    return _src(s, cls, **kw)


REQUESTS = {
    "CreateSource": lambda s: s.create_req(),
    "GetSource": lambda s: _src(s, spb.GetSourceRequest),
    "ListSources": lambda s: spb.ListSourcesRequest(organization_id=s.org_id),
    # A rotation of the secret to the same value keeps the source usable.
    "UpdateSource": lambda s: _src(s, spb.UpdateSourceRequest,
                                   name="renamed " + uuid.uuid4().hex[:6],
                                   app_secret=s.sim.app_secret),
    "DeleteSource": lambda s: _src(s, spb.DeleteSourceRequest),
    "TestConnection": lambda s: _src(s, spb.TestConnectionRequest),
    "UpdateStructure": lambda s: _src(s, spb.UpdateStructureRequest),
    "StartSync": lambda s: _loaded(s, spb.StartSyncRequest,
                                   userids=[s.sim.doc["users"][0]["userid"]],
                                   user_type=pb.USER_TYPE_VISITOR),
    "GetRun": lambda s: spb.GetRunRequest(organization_id=s.org_id,
                                          run_id=s.structure_run()),
    "ListRuns": lambda s: _loaded(s, spb.ListRunsRequest),
    "ListRunItems": lambda s: spb.ListRunItemsRequest(organization_id=s.org_id,
                                                      run_id=s.structure_run()),
    "ListDepartments": lambda s: _loaded(s, spb.ListDepartmentsRequest),
    "ListMembers": lambda s: _loaded(s, spb.ListMembersRequest, recursive=True),
    "SearchStructure": lambda s: _loaded(s, spb.SearchStructureRequest, query="部"),
    # Without confirmation_token both only preview, so they change nothing.
    "DeleteNode": lambda s: _loaded(s, spb.DeleteNodeRequest,
                                    node_kind=spb.NODE_KIND_MEMBER,
                                    external_id=s.sim.doc["users"][0]["userid"]),
    "ClearStructure": lambda s: _loaded(s, spb.ClearStructureRequest),
}

ADMIN = "NOT_ORGANIZATION_ADMIN"
# None: every enabled user of the organisation may call it.
RULES = {
    "CreateSource": ADMIN,
    "GetSource": None,
    "ListSources": None,
    "UpdateSource": ADMIN,
    "DeleteSource": ADMIN,
    "TestConnection": ADMIN,
    "UpdateStructure": ADMIN,
    "StartSync": ADMIN,
    "GetRun": None,
    "ListRuns": None,
    "ListRunItems": None,
    "ListDepartments": None,
    "ListMembers": None,
    "SearchStructure": None,
    "DeleteNode": ADMIN,
    "ClearStructure": ADMIN,
}

# Owner calls that pass authorisation and then stop for a reason of their
# own; the reason shows the actor check let the call through.
OWNER_REFUSALS = {
    # A member still in DingTalk is not flagged, so it cannot be deleted.
    "DeleteNode": (grpc.StatusCode.FAILED_PRECONDITION, "NODE_NOT_FLAGGED"),
}

METHODS = [m.name for m in SYNC_SVC.methods]


def test_sync_rule_table():
    names = set(METHODS)
    assert names - set(RULES) == set(), "RPCs without a rule: %s" % sorted(names - set(RULES))
    assert names - set(REQUESTS) == set(), \
        "RPCs without a request builder: %s" % sorted(names - set(REQUESTS))
    assert set(RULES) - names == set(), "stale rules: %s" % sorted(set(RULES) - names)


@pytest.fixture(scope="module")
def stranger(st):
    _org, owner = st.new_org_with_owner(total=5)
    return owner.user_id


def _expect(fn, req, meta, code, reason):
    if code is None:
        return fn(req, metadata=meta, timeout=30)
    return rl.refused(fn, req, code, reason, metadata=meta, timeout=30)


@pytest.mark.parametrize("method", METHODS)
def test_sync_matrix(st, rec, stranger, method):
    assert method in RULES, "SyncService/%s has no row in RULES" % method
    assert method in REQUESTS, "SyncService/%s has no request builder" % method
    fn = getattr(rec.stub, method)
    build = REQUESTS[method]
    s = Scene(st)
    token = st.admin_token

    _expect(fn, build(s), rl.md(None, s.owner_id), UNAUTH, "TOKEN_MISSING")
    _expect(fn, build(s), rl.md("x" + token, s.owner_id), UNAUTH, "TOKEN_INVALID")
    _expect(fn, build(s), [("authorization", "Basic " + token),
                           ("x-roster-actor", s.owner_id)], UNAUTH, "TOKEN_INVALID")
    _expect(fn, build(s), rl.md(token), UNAUTH, "ACTOR_REQUIRED")
    _expect(fn, build(s), rl.md(token, s.owner_id.upper()), INVALID, "ACTOR_INVALID")
    _expect(fn, build(s), rl.md(token, stranger), DENIED, "ACTOR_NOT_IN_ORGANIZATION")
    _expect(fn, build(s), rl.md(token, s.disabled), DENIED, "ACTOR_DISABLED")
    if RULES[method] is None:
        _expect(fn, build(s), rl.md(token, s.member), None, None)
    else:
        _expect(fn, build(s), rl.md(token, s.member), DENIED, RULES[method])
    # The sync-scoped token of roster-sync itself is no administrator either.
    if RULES[method] is not None:
        _expect(fn, build(s), rl.md(st.sync_token, s.member), DENIED, RULES[method])
    code, reason = OWNER_REFUSALS.get(method, (None, None))
    _expect(fn, build(s), rl.md(token, s.owner_id), code, reason)


def test_app_secret_never_returned_or_logged(st, rec):
    """Runs after the matrix: its responses, the logs and the stored rows
    contain neither the app secret nor the data key nor a token."""
    s = Scene(st)
    rec.stub.TestConnection(_src(s, spb.TestConnectionRequest),
                            metadata=rl.md(st.admin_token, s.owner_id), timeout=30)
    got = rec.stub.GetSource(_src(s, spb.GetSourceRequest),
                             metadata=rl.md(st.admin_token, s.owner_id), timeout=30)
    assert got.source_id == s.source()
    assert len(rec.seen) > 100, "too few responses recorded: %d" % len(rec.seen)
    for secret in st.secrets_to_hide():
        assert not any(secret.encode() in blob for blob in rec.seen), \
            "a secret appears in a SyncService response"
    logs = st.sync_logs() + st.identity_proc.read_log() + st.authz_proc.read_log()
    for secret in st.secrets_to_hide():
        assert secret not in logs, "a secret appears in a service log"
    rows = st.sql("SELECT encode(secret_sealed, 'escape') FROM sync.sources")
    assert s.sim.app_secret not in rows, "the app secret is stored in plain text"
    assert rows, "no source rows to check"
