"""Runs of roster-sync: UpdateStructure and StartSync return a PENDING run
at once, a second start returns the active run (already_running), StartSync
validation, GetRun, and ListRuns / ListRunItems paging."""

import time

import grpc
import pytest

import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("sync-runs"))
    fixture = synclib.generate(wd, 120, 7)
    # The second simulator is slow, so its runs stay active while tested.
    with synclib.Stack(wd, sims=[fixture, fixture],
                       sim_args=[[], ["--latency-ms", "150"]]) as s:
        yield s


@pytest.fixture(scope="module")
def loaded(st):
    """An organisation with a source whose structure is loaded: (org, owner, source, run)."""
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    r = st.call("UpdateStructure", spb.UpdateStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id)
    run = st.wait_run(org.organization_id, r.run.run_id, owner.user_id)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    return org, owner, src, run


def start_structure(st, org, owner, src):
    return st.call("UpdateStructure", spb.UpdateStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id)


def test_update_structure_pending_then_already_running(st):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[1], org, owner)
    first = start_structure(st, org, owner, src)
    assert first.run.status == spb.RUN_STATUS_PENDING
    assert not first.already_running
    assert first.run.kind == spb.RUN_KIND_UPDATE_STRUCTURE
    assert first.run.operator_user_id == owner.user_id
    assert first.run.trigger == spb.RUN_TRIGGER_MANUAL
    assert first.run.HasField("create_time")

    second = start_structure(st, org, owner, src)
    assert second.already_running
    assert second.run.run_id == first.run.run_id

    # A source with an active run cannot be deleted.
    st.refused("DeleteSource", spb.DeleteSourceRequest(organization_id=org.organization_id,
                                                       source_id=src.source_id),
               grpc.StatusCode.FAILED_PRECONDITION, "SYNC_RUNNING", owner.user_id)

    run = st.wait_run(org.organization_id, first.run.run_id, owner.user_id, timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.attempts == 1
    assert run.fencing_token >= 1
    assert run.HasField("start_time")
    assert run.HasField("finish_time")
    assert run.duration_ms >= 0

    got = st.call("GetSource", spb.GetSourceRequest(organization_id=org.organization_id,
                                                    source_id=src.source_id), owner.user_id)
    assert got.HasField("structure_time")
    assert got.member_count > 0
    assert got.department_count > 0

    # Finished: the next start is a new run.
    third = start_structure(st, org, owner, src)
    assert not third.already_running
    assert third.run.run_id != first.run.run_id
    st.wait_run(org.organization_id, third.run.run_id, owner.user_id, timeout=120)

    # The records outlive the source, as the users and groups its runs made do.
    st.call("DeleteSource", spb.DeleteSourceRequest(organization_id=org.organization_id,
                                                    source_id=src.source_id), owner.user_id)
    runs = st.call("ListRuns", spb.ListRunsRequest(organization_id=org.organization_id),
                   owner.user_id).runs
    assert {r.run_id for r in runs} == {first.run.run_id, third.run.run_id}
    old_run = st.call("GetRun", spb.GetRunRequest(organization_id=org.organization_id,
                                                  run_id=first.run.run_id), owner.user_id)
    assert old_run.status == spb.RUN_STATUS_SUCCEEDED


def test_items_and_counts(st, loaded):
    org, owner, src, run = loaded
    assert run.counts.created > 0
    items = list_items(st, org, owner, run.run_id, page_size=0)
    created = [i for i in items if i.outcome == spb.ITEM_OUTCOME_CREATED]
    assert len(created) == run.counts.created
    assert len(items) == (run.counts.created + run.counts.updated + run.counts.failed
                          + run.counts.flagged + run.counts.deleted)


def list_items(st, org, owner, run_id, page_size, outcome=0):
    out, token, pages = [], "", 0
    while True:
        r = st.call("ListRunItems", spb.ListRunItemsRequest(
            organization_id=org.organization_id, run_id=run_id, outcome=outcome,
            page_size=page_size, page_token=token), owner.user_id)
        pages += 1
        if page_size:
            assert len(r.items) <= page_size
        out += list(r.items)
        token = r.next_page_token
        if not token:
            return out


def test_run_items_paging(st, loaded):
    org, owner, src, run = loaded
    whole = list_items(st, org, owner, run.run_id, page_size=1000)
    paged = list_items(st, org, owner, run.run_id, page_size=7)
    assert [i.seq for i in paged] == [i.seq for i in whole]
    assert [i.seq for i in whole] == sorted(set(i.seq for i in whole))
    only = list_items(st, org, owner, run.run_id, page_size=5,
                      outcome=spb.ITEM_OUTCOME_CREATED)
    assert only and all(i.outcome == spb.ITEM_OUTCOME_CREATED for i in only)
    assert len(only) == run.counts.created
    # A token continues only the listing it came from.
    r = st.call("ListRunItems", spb.ListRunItemsRequest(
        organization_id=org.organization_id, run_id=run.run_id, page_size=2), owner.user_id)
    assert r.next_page_token
    st.refused("ListRunItems", spb.ListRunItemsRequest(
        organization_id=org.organization_id, run_id=run.run_id, page_size=2,
        outcome=spb.ITEM_OUTCOME_FLAGGED, page_token=r.next_page_token),
        INVALID, "PAGE_TOKEN_INVALID", owner.user_id)
    st.refused("ListRunItems", spb.ListRunItemsRequest(
        organization_id=org.organization_id, run_id=run.run_id, page_size=5000),
        INVALID, "PAGE_SIZE_INVALID", owner.user_id)


def test_list_runs_paging(st, loaded):
    org, owner, src, first = loaded
    ids = [first.run_id]
    for _ in range(4):
        r = start_structure(st, org, owner, src)
        st.wait_run(org.organization_id, r.run.run_id, owner.user_id)
        ids.append(r.run.run_id)
    seen, token = [], ""
    while True:
        r = st.call("ListRuns", spb.ListRunsRequest(organization_id=org.organization_id,
                                                    page_size=2, page_token=token),
                    owner.user_id)
        assert len(r.runs) <= 2
        seen += [x.run_id for x in r.runs]
        token = r.next_page_token
        if not token:
            break
    # Newest first; other sources of the organisation appear too.
    assert [x for x in seen if x in ids] == list(reversed(ids))
    only = st.call("ListRuns", spb.ListRunsRequest(organization_id=org.organization_id,
                                                   source_id=src.source_id, page_size=100),
                   owner.user_id)
    assert {x.source_id for x in only.runs} == {src.source_id}
    st.refused("ListRuns", spb.ListRunsRequest(organization_id=org.organization_id,
                                               page_token="garbage"),
               INVALID, "PAGE_TOKEN_INVALID", owner.user_id)
    # Any enabled user may read runs.
    user = st.new_user(org, owner)
    st.call("GetRun", spb.GetRunRequest(organization_id=org.organization_id,
                                        run_id=first.run_id), user.user_id)


def test_get_run_refusals(st, loaded):
    org, owner, src, run = loaded
    st.refused("GetRun", spb.GetRunRequest(organization_id=org.organization_id,
                                           run_id="0" * 32),
               grpc.StatusCode.NOT_FOUND, "RUN_NOT_FOUND", owner.user_id)
    st.refused("GetRun", spb.GetRunRequest(organization_id=org.organization_id,
                                           run_id="nope"), INVALID, "INVALID_ID", owner.user_id)
    other, other_owner = st.new_org_with_owner()
    st.refused("GetRun", spb.GetRunRequest(organization_id=other.organization_id,
                                           run_id=run.run_id),
               grpc.StatusCode.NOT_FOUND, "RUN_NOT_FOUND", other_owner.user_id)


def sync_req(org, src, **fields):
    r = spb.StartSyncRequest(organization_id=org.organization_id, source_id=src.source_id,
                             user_type=pb.USER_TYPE_ANALYST)
    for k, v in fields.items():
        if isinstance(v, list):
            getattr(r, k).extend(v)
        else:
            setattr(r, k, v)
    return r


def test_start_sync_validation(st, loaded):
    org, owner, src, run = loaded
    userid = st.sims[0].doc["users"][0]["userid"]
    dept = st.sims[0].doc["departments"][1]["dept_id"]
    cases = [
        (dict(user_type=pb.USER_TYPE_UNSPECIFIED, userids=[userid]), INVALID, "FIELD_INVALID"),
        (dict(userids=[userid], org_role_ids=[111111113, 111111112, 111111111, 5]), INVALID,
         "FIELD_INVALID"),
        (dict(userids=[userid], org_role_ids=[111111113, 111111113]), INVALID,
         "FIELD_INVALID"),
        (dict(userids=[userid], org_role_ids=[-1]), INVALID, "FIELD_INVALID"),
        (dict(), INVALID, "FIELD_INVALID"),
        (dict(userids=[""]), INVALID, "FIELD_INVALID"),
        (dict(department_ids=[0]), INVALID, "FIELD_INVALID"),
        (dict(userids=["no-such-user"]), grpc.StatusCode.NOT_FOUND, "MEMBER_NOT_FOUND"),
        (dict(department_ids=[987654321]), grpc.StatusCode.NOT_FOUND,
         "DEPARTMENT_NOT_FOUND"),
        (dict(userids=[userid], org_role_ids=[424242]), grpc.StatusCode.NOT_FOUND,
         "ROLE_NOT_FOUND"),
        (dict(userids=[userid], source_id="0" * 32), grpc.StatusCode.NOT_FOUND,
         "SOURCE_NOT_FOUND"),
    ]
    for fields, code, reason in cases:
        st.refused("StartSync", sync_req(org, src, **fields), code, reason, owner.user_id)
    user = st.new_user(org, owner)
    st.refused("StartSync", sync_req(org, src, department_ids=[dept]),
               grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", user.user_id)
    st.refused("UpdateStructure", spb.UpdateStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id),
        grpc.StatusCode.PERMISSION_DENIED, "NOT_ORGANIZATION_ADMIN", user.user_id)


def test_start_sync_before_structure(st):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    st.refused("StartSync", sync_req(org, src, userids=["anyone"]),
               grpc.StatusCode.FAILED_PRECONDITION, "STRUCTURE_NOT_LOADED", owner.user_id)


def test_start_sync_pending_then_already_running(st, loaded):
    org, owner, src, run = loaded
    dept = st.sims[0].doc["departments"][1]["dept_id"]
    first = st.call("StartSync", sync_req(org, src, department_ids=[dept]), owner.user_id)
    assert first.run.status == spb.RUN_STATUS_PENDING
    assert not first.already_running
    assert first.run.kind == spb.RUN_KIND_SYNC
    second = st.call("StartSync", sync_req(org, src, department_ids=[dept]), owner.user_id)
    if second.already_running:
        assert second.run.run_id == first.run.run_id
    else:
        # The first finished in between: it is no longer active.
        done = st.call("GetRun", spb.GetRunRequest(organization_id=org.organization_id,
                                                   run_id=first.run.run_id), owner.user_id)
        assert done.status in synclib.FINISHED
    # An UpdateStructure meanwhile returns the same active run.
    third = start_structure(st, org, owner, src)
    if third.already_running:
        assert third.run.kind == spb.RUN_KIND_SYNC
    for rid in {first.run.run_id, second.run.run_id, third.run.run_id}:
        st.wait_run(org.organization_id, rid, owner.user_id, timeout=120)
    stored = st.sql("SELECT request::text FROM sync.runs WHERE id = '%s'" % first.run.run_id)
    assert '"org_role_ids": [111111113]' in stored
    assert '"user_type": 3' in stored
