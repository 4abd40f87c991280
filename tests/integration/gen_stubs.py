"""Generate the Python protobuf modules the integration tests import.

Usage: gen_stubs.py PROTO_DIR OUT_DIR

Only message modules are generated, with the system protoc, which matches
the installed protobuf runtime (Debian's grpc_tools bundles an older protoc
that rejects proto3 "optional"). rosterlib.Stub builds the call stubs from
the service descriptors, so no *_pb2_grpc modules are needed.

Roster's own contracts keep their names (roster.identity.v1.identity_pb2).
gRPC's health and reflection contracts and google.rpc's status and error
details are copied under the top-level name "rsext" first: generated as
grpc/health/v1/health_pb2.py they would shadow the grpc package itself. The
proto package names inside the files stay the same, so service paths and
message names on the wire do not change.
"""

import os
import shutil
import subprocess
import sys
import tempfile

GRPC_PROTO_ROOT = "/usr/share/grpc-proto"
GOOGLEAPIS_ROOT = "/usr/share/gocode/src/github.com/gogo/googleapis"
WKT_ROOT = "/usr/include"

EXTERNAL = [
    (GRPC_PROTO_ROOT, "grpc/health/v1/health.proto"),
    (GRPC_PROTO_ROOT, "grpc/reflection/v1/reflection.proto"),
    (GRPC_PROTO_ROOT, "grpc/reflection/v1alpha/reflection.proto"),
    (GOOGLEAPIS_ROOT, "google/rpc/status.proto"),
    (GOOGLEAPIS_ROOT, "google/rpc/error_details.proto"),
]

ROSTER = ["roster/identity/v1/identity.proto", "roster/authz/v1/authz.proto",
          "roster/sync/v1/sync.proto"]


def run_protoc(include, out_dir, proto):
    cmd = ["protoc", "-I" + include, "-I" + WKT_ROOT,
           "--python_out=" + out_dir, proto]
    if subprocess.call(cmd) != 0:
        sys.exit("protoc failed: %s" % " ".join(cmd))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_stubs.py PROTO_DIR OUT_DIR")
    proto_dir, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        for root, rel in EXTERNAL:
            dst = os.path.join(tmp, "rsext", rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(os.path.join(root, rel), dst)
            run_protoc(tmp, out_dir, dst)

    for rel in ROSTER:
        run_protoc(proto_dir, out_dir, os.path.join(proto_dir, rel))

    # Explicit __init__.py files keep a stray "roster" or "rsext" elsewhere
    # on sys.path from merging in as a namespace package.
    for top in ("roster", "rsext"):
        for dirpath, _dirs, _files in os.walk(os.path.join(out_dir, top)):
            init = os.path.join(dirpath, "__init__.py")
            if not os.path.exists(init):
                open(init, "w").close()


if __name__ == "__main__":
    main()
