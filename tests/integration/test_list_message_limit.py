"""List pages under a small ROSTER_MAX_MESSAGE_BYTES: roster-sync serves
with a 16 KiB limit, and a second roster-identity on the same database
with the same limit. A Start Sync of 1,200 members with 46-character CJK
names records run items of about 184 bytes each, so a page of 1,000
items (183,838 bytes when this test was written) cannot fit. Every listing must end its pages early,
with a token that continues after the last item returned, so that every
row arrives exactly once."""

import grpc
import pytest

import rosterlib as rl
import syncdp as dp
import synclib
from roster.identity.v1 import identity_pb2 as pb
from roster.sync.v1 import sync_pb2 as spb

LIMIT = 16384
N_MEMBERS = 1200
PAGE_SIZE = 1000
USERIDS = ["m%04d" % i for i in range(N_MEMBERS)]


def member_name(i):
    return "成员%04d" % i + "华" * 40


@pytest.fixture(scope="module")
def st(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("list_message_limit"))
    users = [{"userid": userid, "unionid": "u-" + userid, "name": member_name(i),
              "dept_id_list": [1]} for i, userid in enumerate(USERIDS)]
    fixture = synclib.write_fixture(work, dp.org_doc(
        "dinglistlimit01", depts=[{"dept_id": 1, "name": "总部"}], users=users))
    with synclib.Stack(work, sims=[fixture],
                       sim_args=[["--rate-limit", "0", "--ip-limit", "0"]],
                       sync_env={"ROSTER_SYNC_DINGTALK_RATE": "1000",
                                 "ROSTER_MAX_MESSAGE_BYTES": str(LIMIT)}) as s:
        yield s


@pytest.fixture(scope="module")
def synced(st):
    org, owner = st.new_org_with_owner(total=N_MEMBERS + 10)
    src = st.create_source(st.sims[0], org, owner)
    run = dp.update_structure(st, org, owner, src, timeout=120)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    run = dp.start_sync(st, org, owner, src, department_ids=[1], timeout=300)
    assert run.status == spb.RUN_STATUS_SUCCEEDED, run
    assert run.counts.created == N_MEMBERS + 1, run.counts
    return org, owner, src, run


def all_pages(call, req, field):
    """Follows next_page_token from the first page; returns the list of
    pages, each the list of its items, and checks every reply's size."""
    pages = []
    req.page_size = PAGE_SIZE
    req.page_token = ""
    while True:
        resp = call(req)
        assert resp.ByteSize() <= LIMIT, (len(pages), resp.ByteSize())
        items = list(getattr(resp, field))
        assert items, "page %d is empty" % len(pages)
        pages.append(items)
        if not resp.next_page_token:
            return pages
        req.page_token = resp.next_page_token


def check_short_pages(pages, n_rows):
    assert sum(len(p) for p in pages) == n_rows
    assert len(pages) > 2, [len(p) for p in pages]
    for p in pages:
        assert len(p) < PAGE_SIZE, [len(p) for p in pages]


def sync_call(st, owner, method):
    return lambda req: st.call(method, req, owner.user_id)


def test_run_items_pages_fit_limit(st, synced):
    org, owner, _, run = synced
    pages = all_pages(sync_call(st, owner, "ListRunItems"),
                      spb.ListRunItemsRequest(organization_id=org.organization_id,
                                              run_id=run.run_id), "items")
    items = [it for p in pages for it in p]
    stored = int(st.sql("SELECT count(*) FROM sync.run_items WHERE run_id = '%s'"
                        % run.run_id))
    check_short_pages(pages, stored)
    seqs = [it.seq for it in items]
    assert seqs == sorted(set(seqs)), "items repeated or out of order"
    members = [it for it in items if it.node_kind == spb.NODE_KIND_MEMBER]
    assert sorted(it.external_id for it in members) == USERIDS
    for it in members:
        assert it.name == member_name(int(it.external_id[1:])), it


def test_run_items_outcome_filter_pages(st, synced):
    org, owner, _, run = synced
    pages = all_pages(sync_call(st, owner, "ListRunItems"),
                      spb.ListRunItemsRequest(organization_id=org.organization_id,
                                              run_id=run.run_id,
                                              outcome=spb.ITEM_OUTCOME_CREATED), "items")
    check_short_pages(pages, N_MEMBERS + 1)
    seqs = [it.seq for p in pages for it in p]
    assert seqs == sorted(set(seqs))


def test_members_pages_fit_limit(st, synced):
    org, owner, src, _ = synced
    pages = all_pages(sync_call(st, owner, "ListMembers"),
                      spb.ListMembersRequest(organization_id=org.organization_id,
                                             source_id=src.source_id), "members")
    check_short_pages(pages, N_MEMBERS)
    userids = [m.userid for p in pages for m in p]
    assert sorted(userids) == USERIDS


def test_identity_list_users_pages_fit_limit(st, synced):
    org, owner, _, _ = synced
    small = st._service(st.identity_bin, "identity-small",
                        ROSTER_MAX_MESSAGE_BYTES=str(LIMIT))
    channel = None
    try:
        small.wait_health()
        channel = small.channel()
        stub = rl.identity_stub(channel)
        pages = all_pages(
            lambda req: stub.ListUsers(req, metadata=rl.md(st.admin_token, owner.user_id),
                                       timeout=20),
            pb.ListUsersRequest(organization_id=org.organization_id), "users")
    finally:
        if channel is not None:
            channel.close()
        rc = small.stop()
        st.check_log(small.read_log(), small.log_path)
    assert rc in (0, None), rc
    check_short_pages(pages, N_MEMBERS + 1)
    ids = [u.user_id for p in pages for u in p]
    assert len(set(ids)) == len(ids)
    assert owner.user_id in ids


def test_item_larger_than_limit_refused(st, synced):
    # An item that alone exceeds the limit ends the page before it, and the
    # page that would start with it is refused with a reason. The item is
    # restored afterwards, so the order of the tests above does not matter.
    org, owner, _, run = synced
    seq = int(st.sql("SELECT seq FROM sync.run_items WHERE run_id = '%s' "
                     "AND external_id = 'm0500'" % run.run_id))
    before = int(st.sql("SELECT max(seq) FROM sync.run_items WHERE run_id = '%s' "
                        "AND seq < %d" % (run.run_id, seq)))
    st.sql("UPDATE sync.run_items SET message = repeat('错', 6000) "
           "WHERE run_id = '%s' AND seq = %d" % (run.run_id, seq))
    try:
        req = spb.ListRunItemsRequest(organization_id=org.organization_id,
                                      run_id=run.run_id, page_size=PAGE_SIZE)
        last = 0
        while True:
            try:
                resp = st.call("ListRunItems", req, owner.user_id)
            except grpc.RpcError as err:
                rl.check_refusal(err, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                 "RESPONSE_TOO_LARGE")
                assert "ROSTER_MAX_MESSAGE_BYTES" in err.details(), err.details()
                assert str(LIMIT) in err.details(), err.details()
                break
            assert resp.next_page_token, "paged past the large item at seq %d" % seq
            last = resp.items[-1].seq
            assert last < seq
            req.page_token = resp.next_page_token
        assert last == before
    finally:
        st.sql("UPDATE sync.run_items SET message = '' "
               "WHERE run_id = '%s' AND seq = %d" % (run.run_id, seq))
