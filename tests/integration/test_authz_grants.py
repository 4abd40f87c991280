"""authz work authorisations: levels and expiry, the caps per user type,
who may grant, grants to groups and their descendants, deleted groups, and
listings by resource and by subject."""

import time

import grpc

import authzlib as al
from roster.authz.v1 import authz_pb2 as apb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECOND = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED
USER = apb.SUBJECT_TYPE_USER
GROUP = apb.SUBJECT_TYPE_GROUP


def list_grants(w, resource=None, subject=None, page_size=0):
    out, token = [], ""
    while True:
        req = apb.ListGrantsRequest(organization_id=w.org_id, page_size=page_size,
                                    page_token=token)
        if resource is not None:
            req.resource.CopyFrom(resource)
        if subject is not None:
            req.subject.CopyFrom(subject)
        r = w.call("ListGrants", req)
        out.extend(r.grants)
        token = r.next_page_token
        if not token:
            return out


def test_levels_and_expiry(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    dev = w.user(al.DEV)
    w.member(ws, dev, 30)
    res = w.resource(ws)
    view = w.grant(res, dev, al.VIEW)
    assert view.revision and view.grant.level == al.VIEW
    assert view.grant.expire_time.seconds > time.time() + 24 * 3600
    export = w.grant(res, dev, al.EXPORT)
    assert export.grant.grant_id == view.grant.grant_id  # replaced, same id
    assert export.grant.level == al.EXPORT

    req = w.grant_req(res, USER, dev, al.VIEW, expire=False)
    w.refused("Grant", req, INVALID, "EXPIRY_REQUIRED")
    req.expire_time.CopyFrom(al.expiry(hours=1))
    w.refused("Grant", req, INVALID, "EXPIRY_TOO_SOON")

    req = w.grant_req(res, USER, dev, al.EDIT, expire=False)
    req.expire_time.CopyFrom(al.expiry(hours=1))  # ignored: edit is permanent
    edit = w.call("Grant", req).grant
    assert edit.level == al.EDIT
    assert not edit.HasField("expire_time")
    assert w.check(dev, "edit", res) == (True, "GRANTED_BY_GRANT")


def test_type_ceilings_and_membership(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    visitor = w.user(al.VISITOR)
    analyst = w.user(al.ANALYST)
    dev = w.user(al.DEV)
    dash = w.resource(ws, "dashboard")
    source = w.resource(ws, "datasource")
    w.refused("Grant", w.grant_req(dash, USER, visitor, al.EDIT), PRECOND,
              "LEVEL_ABOVE_TYPE_CEILING")
    w.grant(dash, visitor, al.EXPORT)
    w.refused("Grant", w.grant_req(source, USER, analyst, al.VIEW), PRECOND,
              "LEVEL_ABOVE_TYPE_CEILING")
    w.refused("Grant", w.grant_req(dash, USER, dev, al.EDIT), PRECOND,
              "EDIT_REQUIRES_MEMBERSHIP")
    # Membership through a group is enough.
    g = w.group()
    w.add_to_group(g, dev)
    w.member(ws, g, 27, group=True)
    w.grant(dash, dev, al.EDIT)


def test_who_may_grant(ctx, az):
    w = al.World(ctx, az)
    ws_owner = w.user(al.DEV)
    ws = w.workspace(owner=ws_owner)
    member = w.user(al.DEV)
    w.member(ws, member, 27)
    target = w.user(al.ANALYST)
    res = w.resource(ws)
    w.refused("Grant", w.grant_req(res, USER, target, al.VIEW), DENIED,
              "NOT_ALLOWED_TO_GRANT", actor=member)
    # Workspace admin, permission admin and the work's owner may.
    w.grant(res, target, al.VIEW, actor=ws_owner)
    padmin = w.user(al.ANALYST)
    w.assign(padmin, al.PERM_ADMIN)
    g = w.grant(res, target, al.EXPORT, actor=padmin).grant
    w.refused("Revoke", apb.RevokeRequest(organization_id=w.org_id, grant_id=g.grant_id),
              DENIED, "NOT_ALLOWED_TO_GRANT", actor=member)
    owned = w.resource(ws, "report")
    w.register(owned, owner=member)
    w.grant(owned, target, al.VIEW, actor=member)
    w.revoke(g.grant_id, actor=padmin)


def test_group_grants_reach_descendants_until_deleted(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    parent = w.group()
    child = w.group(parent=parent)
    leaf = w.group(parent=child)
    u = w.user(al.ANALYST)
    w.add_to_group(leaf, u)
    res = w.resource(ws)
    w.grant(res, parent, al.VIEW, subject_type=GROUP)
    assert w.check(u, "view", res) == (True, "GRANTED_BY_GRANT")
    assert w.check(u, "export", res)[0] is False

    res2 = w.resource(ws)
    g = w.grant(res2, leaf, al.EXPORT, subject_type=GROUP).grant
    assert w.check(u, "export", res2) == (True, "GRANTED_BY_GRANT")
    w.delete_group(leaf)
    assert w.check(u, "view", res2) == (False, "DENIED_NO_GRANT")
    listed = {x.grant_id: x for x in list_grants(w, resource=res2)}
    assert listed[g.grant_id].invalidated
    assert listed[g.grant_id].invalidated_reason == "GROUP_DELETED"
    # The user left the tree with the leaf: the parent's grant is gone too.
    assert w.check(u, "view", res)[0] is False


def test_list_by_resource_and_subject(ctx, az):
    w = al.World(ctx, az)
    ws = w.workspace()
    u = w.user(al.ANALYST)
    w.member(ws, u, 27)
    resources = [w.resource(ws) for _ in range(9)]
    ids = {w.grant(r, u, al.VIEW if i % 2 else al.EDIT).grant.grant_id
           for i, r in enumerate(resources)}
    others = {w.grant(resources[0], w.user(al.ANALYST), al.VIEW).grant.grant_id
              for _ in range(4)}
    subj = apb.Subject(type=USER, id=u)
    for size in (2, 0):
        got = [g.grant_id for g in list_grants(w, subject=subj, page_size=size)]
        assert len(got) == len(set(got))
    assert set(got) == ids
    by_res = [g.grant_id for g in list_grants(w, resource=resources[0], page_size=2)]
    assert len(by_res) == len(set(by_res)) == 5
    assert set(by_res) - others == ids & set(by_res)
    w.refused("ListGrants", apb.ListGrantsRequest(organization_id=w.org_id), INVALID,
              "LIST_FILTER_INVALID")
    w.refused("ListGrants", apb.ListGrantsRequest(organization_id=w.org_id,
                                                  resource=resources[0], subject=subj),
              INVALID, "LIST_FILTER_INVALID")
