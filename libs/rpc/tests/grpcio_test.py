#!/usr/bin/python3
"""Checks the rpc test server with python3-grpcio, a client independent of
our own: health Check and Watch, bearer tokens, error trailers, request ids,
unknown methods, reflection, and shutdown on SIGTERM with an open stream.

Usage: grpcio_test.py PATH_TO_rpc_test_server
Messages are built by hand (protobuf wire format) so that no generated
Python stubs are needed.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

try:
    import grpc
except ImportError:
    print("python3-grpcio is not installed", file=sys.stderr)
    sys.exit(77)

TOKEN = "test-token-0123456789"
ACTOR = "0123456789abcdef0123456789abcdef"
SERVING = b"\x08\x01"
NOT_SERVING = b"\x08\x02"


def string_field(number, text):
    data = text.encode()
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def health_request(service):
    return string_field(1, service) if service else b""


def unary(channel, path):
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def metadata_value(pairs, key):
    for k, v in pairs or ():
        if k == key:
            return v
    return None


def main():
    server_bin = sys.argv[1]
    probe_dir = tempfile.mkdtemp(prefix="rs-rpc-grpcio-")
    probe_file = os.path.join(probe_dir, "ready")
    open(probe_file, "w").close()
    proc = subprocess.Popen([server_bin, "--probe-file", probe_file],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.split()[0].split("=")[1])
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        check = unary(channel, "/grpc.health.v1.Health/Check")
        echo = unary(channel, "/roster.test.v1.Echo/Echo")

        deadline = time.monotonic() + 3
        while check(b"", timeout=5) != SERVING:
            assert time.monotonic() < deadline, "server never became SERVING"
            time.sleep(0.05)
        assert check(health_request("roster.test.v1.Echo"), timeout=5) == SERVING

        try:
            check(health_request("no.such.Service"), timeout=5)
            raise AssertionError("unknown service answered")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e.code()

        # Tokens: missing, wrong, right; the request id is echoed.
        try:
            echo(health_request("x"), timeout=5)
            raise AssertionError("call without token succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e.code()
            trailers = e.trailing_metadata()
            assert metadata_value(trailers, "x-roster-reason") == "TOKEN_MISSING"
            details = metadata_value(trailers, "grpc-status-details-bin")
            assert details is not None and b"TOKEN_MISSING" in details
            assert b"type.googleapis.com/google.rpc.ErrorInfo" in details
        try:
            echo(health_request("x"), timeout=5,
                 metadata=[("authorization", "Bearer nope")])
            raise AssertionError("call with a wrong token succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAUTHENTICATED
            assert metadata_value(e.trailing_metadata(), "x-roster-reason") == "TOKEN_INVALID"
        # Credentials sent twice are ambiguous, whichever comes first.
        for pair in (["Bearer " + TOKEN, "Bearer nope"], ["Bearer nope", "Bearer " + TOKEN]):
            try:
                echo(health_request("x"), timeout=5,
                     metadata=[("authorization", pair[0]), ("authorization", pair[1])])
                raise AssertionError("call with two tokens succeeded")
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e.code()
                assert metadata_value(e.trailing_metadata(), "x-roster-reason") == "TOKEN_INVALID"
        actor_call = unary(channel, "/roster.test.v1.Echo/Actor")
        try:
            actor_call(health_request("actor"), timeout=5,
                       metadata=[("authorization", "Bearer " + TOKEN),
                                 ("x-roster-actor", ACTOR), ("x-roster-actor", "0" * 32)])
            raise AssertionError("call with two actors succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e.code()
            assert metadata_value(e.trailing_metadata(), "x-roster-reason") == "ACTOR_INVALID"
        assert actor_call(health_request("actor"), timeout=5,
                          metadata=[("authorization", "Bearer " + TOKEN),
                                    ("x-roster-actor", ACTOR)]) == SERVING

        resp, call = echo.with_call(
            health_request("x"), timeout=5,
            metadata=[("authorization", "Bearer " + TOKEN), ("x-request-id", "py-1")])
        assert resp == SERVING
        assert metadata_value(call.initial_metadata(), "x-request-id") == "py-1"

        try:
            unary(channel, "/roster.test.v1.Echo/Missing")(b"", timeout=5)
            raise AssertionError("unknown method answered")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNIMPLEMENTED

        # Reflection: list_services (field 7) over a bidi stream.
        info = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        replies = list(info(iter([bytes([7 << 3 | 2, 0])]), timeout=5))
        assert len(replies) == 1
        assert b"roster.test.v1.Echo" in replies[0]

        # Watch follows the probe, then shutdown ends it promptly.
        watch = channel.unary_stream("/grpc.health.v1.Health/Watch")
        stream = watch(b"")
        assert next(stream) == SERVING
        os.unlink(probe_file)
        assert next(stream) == NOT_SERVING
        open(probe_file, "w").close()
        assert next(stream) == SERVING
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert next(stream) == NOT_SERVING
        try:
            next(stream)
            raise AssertionError("stream continued after shutdown")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNAVAILABLE, e.code()
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - start < 3, "shutdown took too long"
        channel.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if os.path.exists(probe_file):
            os.unlink(probe_file)
        os.rmdir(probe_dir)
    print("grpcio checks passed")


if __name__ == "__main__":
    main()
