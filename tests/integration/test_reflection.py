"""Server reflection, v1 and v1alpha, as grpcurl and buf curl use it."""

import grpc
import pytest
from google.protobuf import descriptor_pb2

import rosterlib as rl
from rsext.grpc.reflection.v1 import reflection_pb2 as v1
from rsext.grpc.reflection.v1alpha import reflection_pb2 as v1alpha

VERSIONS = [v1, v1alpha]


def ask(ctx, mod, **kw):
    stub = rl.Stub(ctx.channel, mod.DESCRIPTOR.services_by_name["ServerReflection"])
    responses = list(stub.ServerReflectionInfo(
        iter([mod.ServerReflectionRequest(**kw)]), timeout=10))
    assert len(responses) == 1
    return responses[0]


def files_of(resp):
    out = {}
    for raw in resp.file_descriptor_response.file_descriptor_proto:
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        out[fd.name] = fd
    return out


@pytest.mark.parametrize("mod", VERSIONS, ids=["v1", "v1alpha"])
def test_list_services(ctx, mod):
    r = ask(ctx, mod, list_services="")
    names = {s.name for s in r.list_services_response.service}
    assert "roster.identity.v1.IdentityService" in names
    assert "grpc.health.v1.Health" in names
    assert "grpc.reflection.v1.ServerReflection" in names or \
        "grpc.reflection.v1alpha.ServerReflection" in names


@pytest.mark.parametrize("mod", VERSIONS, ids=["v1", "v1alpha"])
def test_describe_user(ctx, mod):
    r = ask(ctx, mod, file_containing_symbol="roster.identity.v1.User")
    assert r.WhichOneof("message_response") == "file_descriptor_response", r
    files = files_of(r)
    fd = files["roster/identity/v1/identity.proto"]
    assert fd.package == "roster.identity.v1"
    user = [m for m in fd.message_type if m.name == "User"][0]
    fields = {f.name: f.number for f in user.field}
    assert fields["user_id"] == 1
    assert fields["nickname"] == 3
    assert fields["create_time"] == 10
    svc = [s for s in fd.service if s.name == "IdentityService"][0]
    assert "CreateOrganization" in {m.name for m in svc.method}

    r = ask(ctx, mod, file_containing_symbol="roster.identity.v1.IdentityService")
    assert "roster/identity/v1/identity.proto" in files_of(r)
    r = ask(ctx, mod, file_by_filename="google/protobuf/timestamp.proto")
    assert "google/protobuf/timestamp.proto" in files_of(r)


@pytest.mark.parametrize("mod", VERSIONS, ids=["v1", "v1alpha"])
def test_extensions_and_unknown_symbol(ctx, mod):
    r = ask(ctx, mod, all_extension_numbers_of_type="roster.identity.v1.User")
    assert r.WhichOneof("message_response") == "all_extension_numbers_response", r
    assert r.all_extension_numbers_response.base_type_name == "roster.identity.v1.User"
    assert list(r.all_extension_numbers_response.extension_number) == []

    r = ask(ctx, mod, file_containing_symbol="no.such.Symbol")
    assert r.WhichOneof("message_response") == "error_response"
    assert r.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
