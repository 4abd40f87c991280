"""Writes the seed corpora under fuzz/corpus/ (run once; the files are
committed). Request seeds are every method's request with each field set,
so the fuzzer starts from inputs that decode and pass the wire check.

    python3 fuzz/make_seeds.py BUILD_DIR/pystubs
"""

import base64
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FNV_OFFSET = 0xcbf29ce484222325
ID = "0123456789abcdef0123456789abcdef"


def fnv1a(h, data):
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def filter_hash(kind, parts):
    h = fnv1a(FNV_OFFSET, kind.encode() + b"\0")
    for p in parts:
        h = fnv1a(h, b"\x01\0" if p is None else p.encode() + b"\0")
    return h


def page_token(filt, created_us, id_):
    text = "1:%016x:%d:%s:" % (filt, created_us, id_)
    text += "%016x" % fnv1a(FNV_OFFSET, text.encode())
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


STRINGS = {"nickname": "张伟", "email": "a@example.com", "phone": "+86 138-0000-0000",
           "name": "销售 分析", "permission": "view", "type": "dashboard",
           "resource_type": "dashboard", "module": "cube", "min_revision": "r12",
           "page_token": page_token(filter_hash("users", []), 1700000000000000, ID),
           "auth_keys": "subscription", "account_id": "zhangwei", "corp_id": "ding123"}


def fill(msg, depth=0):
    """Sets every field of msg to a plausible value."""
    from google.protobuf import descriptor as d
    for f in msg.DESCRIPTOR.fields:
        repeated = f.label == d.FieldDescriptor.LABEL_REPEATED
        if f.type == d.FieldDescriptor.TYPE_MESSAGE:
            if depth > 3:
                continue
            sub = getattr(msg, f.name).add() if repeated else getattr(msg, f.name)
            if f.message_type.full_name == "google.protobuf.FieldMask":
                sub.paths.append("name")
            elif f.message_type.full_name == "google.protobuf.Timestamp":
                sub.seconds = 1900000000
            else:
                fill(sub, depth + 1)
            continue
        if f.type == d.FieldDescriptor.TYPE_STRING:
            value = STRINGS.get(f.name, ID if f.name.endswith(("_id", "_ids")) else "x")
        elif f.type == d.FieldDescriptor.TYPE_ENUM:
            value = f.enum_type.values[-1].number
        elif f.type == d.FieldDescriptor.TYPE_BOOL:
            value = True
        else:
            value = 25 if "role" in f.name else 10
        if repeated:
            getattr(msg, f.name).append(value)
        elif f.containing_oneof is None or not msg.WhichOneof(f.containing_oneof.name):
            setattr(msg, f.name, value)


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def request_seeds(target, svc):
    for i, m in enumerate(svc.methods):
        cls = m.input_type._concrete_class
        write(target, "%02d-%s-empty" % (i, m.name), bytes([i]))
        msg = cls()
        fill(msg)
        write(target, "%02d-%s" % (i, m.name), bytes([i]) + msg.SerializeToString())


def main():
    sys.path.insert(0, sys.argv[1])
    from roster.authz.v1 import authz_pb2 as apb
    from roster.identity.v1 import identity_pb2 as pb
    request_seeds("fuzz_identity_request", pb.DESCRIPTOR.services_by_name["IdentityService"])
    request_seeds("fuzz_authz_request", apb.DESCRIPTOR.services_by_name["AuthzService"])
    write("fuzz_authz_request", "perms-json",
          bytes([13]) + apb.CreateWorkspaceRoleRequest(
              name='{"cube": ["use", "list"], "datasource": ["edit"]}').SerializeToString())

    t = "fuzz_page_token"
    for kind in ("users", "groups", "members", "workspaces"):
        filt = filter_hash(kind, [ID, None])
        write(t, kind, page_token(filt, 1700000000123456, ID).encode())
    write(t, "negative-time", page_token(filter_hash("users", [ID, None]), -1, ID).encode())
    write(t, "garbage", b"garbage")
    write(t, "key-bytes", bytes(range(24)))

    t = "fuzz_dingtalk_parse"
    bodies = {
        "ok-token": b'{"errcode":0,"errmsg":"ok","access_token":"abc","expires_in":7200}',
        "ok-dept": b'{"errcode":0,"errmsg":"ok","result":[{"dept_id":"71003001",'
                   b'"name":"\xe9\x94\x80\xe5\x94\xae","parent_id":1,"auto_add_user":true}]}',
        "ok-users": b'{"errcode":0,"result":{"has_more":true,"next_cursor":100,"list":'
                    b'[{"userid":"u1","unionid":"x","name":"n","dept_id_list":[1,2],'
                    b'"active":"true","admin":1,"mobile":"138"}]}}',
        "scopes": b'{"auth_user_field":[],"condition_field":[],"auth_org_scopes":'
                  b'{"authed_dept":[1,2],"authed_user":["u"]}}',
        "throttle": b'{"errcode":90018,"errmsg":"rate limited"}',
        "gateway-88": b'{"errcode":88,"errmsg":"gateway","sub_code":"60011",'
                      b'"sub_msg":"\xe6\x97\xa0\xe6\x9d\x83\xe9\x99\x90"}',
        "busy": b'{"errcode":-1,"errmsg":"system busy"}',
        "ban-json": b'{"status":1111,"punish":"deny","wait":10}',
        "ban-html": b'<html><head><title>403</title></head><body>denied</body></html>',
        "truncated": b'{"errcode":0,"result":{"list":[{"userid":"u1"',
        "big-number": b'{"errcode":0,"n":1e300,"m":-9223372036854775808,"s":"99999999999999999999"}',
        "empty": b"",
    }
    for name, body in bodies.items():
        status = 7 if name == "truncated" else 0  # 7 picks HTTP 500
        write(t, name, bytes([status]) + body)

    t = "fuzz_sync_secret"
    write(t, "short", b"\x01abc")
    write(t, "secret", b"\x03" + b"s3cr3t-app-secret-0123456789abcdef")
    write(t, "bytea", b"\\x00ff10abcdef")
    write(t, "long", b"\x05" + bytes(range(256)) * 2)


if __name__ == "__main__":
    main()
