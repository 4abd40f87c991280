"""Replicas of roster-sync on one database: exactly one runs a given run; a
killed holder's run is taken over after its lease expires (attempts 2, a
higher fencing token) and finishes; past max_attempts it is ABANDONED; a
replica that stops gracefully hands its run back at once."""

import os
import time

import pytest

import syncdp as dp
import synclib
from roster.sync.v1 import sync_pb2 as spb

LEASE_MS = 3000


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    wd = str(tmp_path_factory.mktemp("sync-lease"))
    fixture = synclib.generate(wd, 400, 3)
    # Slow upstream: an Update Structure takes several lease periods.
    with synclib.Stack(wd, sims=[fixture], sim_args=[["--latency-ms", "120"]],
                       replicas=2,
                       sync_env={"ROSTER_SYNC_LEASE_MS": str(LEASE_MS),
                                 "ROSTER_SYNC_POLL_MS": "200"}) as s:
        yield s


def start(st, org, owner, src):
    r = st.call("UpdateStructure", spb.UpdateStructureRequest(
        organization_id=org.organization_id, source_id=src.source_id), owner.user_id)
    assert not r.already_running
    return r.run.run_id


def holder_of(st, run_id, timeout=30):
    """(replica, fencing token) once the run is RUNNING with a lease."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = st.sql("SELECT lease_holder, fencing_token FROM sync.runs WHERE id = '%s' "
                     "AND status = 2 AND lease_expires_at > clock_timestamp()" % run_id)
        if out:
            holder, token = out.split("|")
            pid = int(holder.split(":")[1])
            for r in st.replicas:
                if r.proc.pid == pid:
                    return r, int(token)
        time.sleep(0.05)
    raise AssertionError("run %s never got a holder\n%s" % (run_id, st.sync_logs()[-4000:]))


def started_lines(st, run_id):
    return [line for line in st.sync_logs().splitlines()
            if run_id in line and ('msg="run started"' in line or 'msg="run resumed"' in line)]


def test_one_replica_runs_a_run(st):
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run_id = start(st, org, owner, src)
    run = st.wait_run(org.organization_id, run_id, owner.user_id, timeout=180)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.attempts == 1
    assert len(started_lines(st, run_id)) == 1
    assert st.sql("SELECT count(*) FROM sync.runs WHERE source_id = '%s' AND status IN (1, 2)"
                  % src.source_id) == "0"


def test_start_sync_records_every_chunk(st):
    # Three or more chunks of 100 members: each is recorded on a thread while
    # the next one is applied.
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run = st.wait_run(org.organization_id, start(st, org, owner, src), owner.user_id,
                      timeout=180)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    stored = int(st.sql("SELECT count(*) FROM sync.members WHERE source_id = '%s'"
                        % src.source_id))
    assert stored >= 300

    run = dp.start_sync(st, org, owner, src, department_ids=[1], timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    rows = dp.check_counts(st, org, owner, run)
    assert sorted(it.seq for it in rows) == list(range(len(rows)))
    created = [it for it in rows if it.node_kind == spb.NODE_KIND_MEMBER
               and it.outcome == spb.ITEM_OUTCOME_CREATED]
    assert len(created) == stored
    assert run.done_items == run.total_items == len(rows)
    linked = st.sql("SELECT count(*) FROM sync.members WHERE source_id = '%s' "
                    "AND user_id IS NOT NULL" % src.source_id)
    assert int(linked) == stored


def two_replicas(st):
    while len(st.replicas) < 2:
        st.start_replica()


def test_kill_9_takes_over(st):
    two_replicas(st)
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run_id = start(st, org, owner, src)
    victim, token = holder_of(st, run_id)
    time.sleep(0.5)
    st.kill_replica(victim)
    killed_at = time.monotonic()
    survivor = st.replicas[0]
    st.sync = st.stub_for(survivor)
    run = st.wait_run(org.organization_id, run_id, owner.user_id, timeout=180)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.attempts == 2
    assert run.fencing_token > token
    # Not before the lease expired.
    assert time.monotonic() - killed_at >= (LEASE_MS / 1000.0) * 0.5


def test_graceful_stop_hands_back(st):
    two_replicas(st)
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run_id = start(st, org, owner, src)
    holder, token = holder_of(st, run_id)
    time.sleep(0.5)
    st.stop_replica(holder)
    # Handed back: PENDING again, or already resumed by the other replica.
    status = int(st.sql("SELECT status FROM sync.runs WHERE id = '%s'" % run_id))
    assert status in (1, 2, 3)
    st.sync = st.stub_for(st.replicas[0])
    run = st.wait_run(org.organization_id, run_id, owner.user_id, timeout=180)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.attempts == 2
    assert run.fencing_token > token
    assert 'msg="run handed back' in st.sync_logs()


def test_hand_back_wakes_other_replica(st):
    """A handed-back run resumes at once on another replica, not at its
    next poll, because the hand-back sends a notification."""
    for r in list(st.replicas):
        st.stop_replica(r)
    st.start_replica(ROSTER_SYNC_POLL_MS="30000")
    st.start_replica(ROSTER_SYNC_POLL_MS="30000")
    st.sync = st.stub_for(st.replicas[0])
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run_id = start(st, org, owner, src)
    holder, token = holder_of(st, run_id)
    time.sleep(0.5)
    st.stop_replica(holder)
    stopped = time.monotonic()

    resumed = None
    while time.monotonic() - stopped < 20:
        out = st.sql("SELECT fencing_token FROM sync.runs WHERE id = '%s' AND status IN (2, 3)"
                     % run_id)
        if out and int(out) > token:
            resumed = time.monotonic() - stopped
            break
        time.sleep(0.05)
    assert resumed is not None
    assert resumed < 5, resumed

    st.sync = st.stub_for(st.replicas[0])
    run = st.wait_run(org.organization_id, run_id, owner.user_id, timeout=180)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.attempts == 2


def test_abandoned_after_max_attempts(st):
    for r in list(st.replicas):
        st.stop_replica(r)
    st.start_replica(ROSTER_SYNC_MAX_ATTEMPTS="1")
    st.start_replica(ROSTER_SYNC_MAX_ATTEMPTS="1")
    st.sync = st.stub_for(st.replicas[0])
    org, owner = st.new_org_with_owner()
    src = st.create_source(st.sims[0], org, owner)
    run_id = start(st, org, owner, src)
    victim, token = holder_of(st, run_id)
    st.kill_replica(victim)
    st.sync = st.stub_for(st.replicas[0])
    run = st.wait_run(org.organization_id, run_id, owner.user_id, timeout=60)
    assert run.status == spb.RUN_STATUS_ABANDONED, run
    assert run.error_reason == "RUN_ABANDONED"
    assert "1 attempts" in run.error_message or "attempt" in run.error_message
    assert run.HasField("finish_time")
    # The source is free again.
    again = start(st, org, owner, src)
    run = st.wait_run(org.organization_id, again, owner.user_id, timeout=180)
    assert run.status == spb.RUN_STATUS_SUCCEEDED
