"""User-type caps apply on every path at once: identity type changes and
authz role assignments race, and a Visitor never has role 111111111 or
111111112."""

import threading
import time

import grpc

import authzlib as al
import rosterlib as rl

VIOLATIONS_SQL = (
    "SELECT count(*) FROM authz.user_org_roles r JOIN identity.users u ON u.id = r.user_id "
    "WHERE u.id = '%s' AND u.user_type = 2 AND r.role_id IN (111111111, 111111112)")


def test_type_changes_race_role_assignments(ctx, az):
    w = al.World(ctx, az)
    u = w.user(al.ANALYST)
    stop = time.monotonic() + 40
    steps = {"type": 0, "role": 0}
    unexpected = []
    violations = []
    lock = threading.Lock()

    def audit(where):
        if rl.psql(ctx.conninfo, VIOLATIONS_SQL % u) != "0":
            violations.append(where)

    def types():
        for i in range(100):
            if time.monotonic() > stop:
                break
            target = al.VISITOR if i % 2 == 0 else al.ANALYST
            try:
                w.set_type(u, target)
            except grpc.RpcError as err:
                _, info, _ = rl.error_info(err)
                reason = info.reason if info else None
                if not (target == al.VISITOR and reason == "TYPE_CHANGE_CONFLICT"):
                    unexpected.append(("type", err.code(), err.details()))
            with lock:
                steps["type"] += 1
            audit("after type step %d" % i)

    def roles():
        for i in range(100):
            if time.monotonic() > stop:
                break
            try:
                if i % 2 == 0:
                    w.assign(u, al.PERM_ADMIN)
                else:
                    w.revoke_roles(u, al.PERM_ADMIN)
            except grpc.RpcError as err:
                _, info, _ = rl.error_info(err)
                reason = info.reason if info else None
                if reason != "ROLE_NOT_ALLOWED_FOR_USER_TYPE":
                    unexpected.append(("role", err.code(), err.details()))
            with lock:
                steps["role"] += 1
            audit("after role step %d" % i)

    threads = [threading.Thread(target=types), threading.Thread(target=roles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert unexpected == []
    assert violations == []
    assert steps["type"] + steps["role"] >= 50, steps
    user = ctx.call("GetUser", al.pb.GetUserRequest(organization_id=w.org_id, user_id=u),
                    actor=w.owner_id)
    roles_now = w.roles_of(u)
    if user.user_type == al.VISITOR:
        assert al.PERM_ADMIN not in roles_now, roles_now
        assert al.ORG_ADMIN not in roles_now, roles_now
