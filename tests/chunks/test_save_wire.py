"""What goes on the wire for a chunked save: one message (SaveChunksAtOnce) for a few chunks, checked as the stream
is; a server from before it gets the stream, one from before chunked saves the whole file."""

from __future__ import annotations

import grpc
import pytest

from multiverse.chunks.cut import cut
from multiverse.v1 import store_pb2, store_pb2_grpc
from tests.chunks.conftest import offer, visible, window


def older_server(address: str, *, streamed: bool = False) -> tuple[grpc.Server, int]:
    """A server that knows the Store's methods from before chunked saves (``streamed``: from before
    SaveChunksAtOnce; grpc answers any other UNIMPLEMENTED): a byte-for-byte proxy of those to ``address``."""
    from concurrent import futures

    channel = grpc.insecure_channel(address)
    same = {"request_serializer": None, "response_deserializer": None}

    def forward(kind: str, name: str):
        call = getattr(channel, kind)(f"/multiverse.v1.Store/{name}", **same)
        return lambda request, context: call(request, metadata=context.invocation_metadata())

    handlers = {
        "Heads": grpc.unary_unary_rpc_method_handler(forward("unary_unary", "Heads")),
        "SaveSnapshot": grpc.stream_unary_rpc_method_handler(forward("stream_unary", "SaveSnapshot")),
        "LoadSnapshot": grpc.unary_stream_rpc_method_handler(forward("unary_stream", "LoadSnapshot")),
    }
    if streamed:
        handlers["FindMissingChunks"] = grpc.unary_unary_rpc_method_handler(forward("unary_unary", "FindMissingChunks"))
        handlers["SaveChunks"] = grpc.stream_unary_rpc_method_handler(forward("stream_unary", "SaveChunks"))
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("multiverse.v1.Store", handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def test_an_older_server_gets_the_whole_file(oasis):
    from multiverse.client import Client

    server, port = older_server(oasis.address)
    try:
        token = oasis.app.settings.data_dir.joinpath("admin.key").read_text().strip()
        with Client(f"127.0.0.1:{port}", token) as mv:
            data = window(0)
            reply = mv.save_snapshot("w", data)
            assert mv.last_save.mode == "whole" and mv.last_save.bytes_sent > len(data)
            assert reply.snapshot.state_sha256 == cut(data)[0].state_id  # the same id either way
            mv.save_snapshot("w", window(8))
            assert mv.last_save.mode == "whole"  # remembered: it does not try again
            assert mv.load_snapshot("w")[1] == window(8)
    finally:
        server.stop(grace=None).wait()


def test_a_server_without_saves_in_one_message_gets_the_stream(oasis):
    from multiverse.client import Client

    server, port = older_server(oasis.address, streamed=True)
    try:
        token = oasis.app.settings.data_dir.joinpath("admin.key").read_text().strip()
        with Client(f"127.0.0.1:{port}", token) as mv:
            mv.save_snapshot("w", window(0))
            for start in (8, 16):
                mv.save_snapshot("w", window(start))
                s = mv.last_save
                assert s.mode == "chunks" and s.chunks_sent == 9 and s.messages == 3  # header, manifest, one batch
            assert mv.load_snapshot("w")[1] == window(16)
    finally:
        server.stop(grace=None).wait()


def once(data: bytes, expected: str, send: list[int], *, tamper: int | None = None, header: bool = True,
         manifest: bool = True) -> store_pb2.SaveChunksAtOnceRequest:
    """``offer``'s save as one SaveChunksAtOnce message."""
    stream = offer(data, expected, send, tamper=tamper)
    out = store_pb2.SaveChunksAtOnceRequest(chunks=[m.chunk for m in stream[2:]])
    if header:
        out.header.CopyFrom(stream[0].header)
    if manifest:
        out.manifest.CopyFrom(stream[1].manifest)
    return out


def test_a_save_in_one_message_is_checked_as_a_streamed_one_and_a_refused_one_changes_nothing(oasis):
    first = oasis.server.save_snapshot("w", window(0)).snapshot.id
    mv = oasis.server
    mv.save_snapshot("w", window(8))
    assert mv.last_save.messages == 1 and mv.last_save.chunks_sent == 9  # the client's way for a few new frames
    head = oasis.admin.heads("w")["main"]
    stub = store_pb2_grpc.StoreStub(grpc.insecure_channel(oasis.address))
    token = oasis.app.settings.data_dir.joinpath("admin.key").read_text().strip()
    auth = (("authorization", f"Bearer {token}"),)
    data, before = window(16), visible(oasis)
    for request, code, named in [
        (once(data, head, [0, *range(57, 65)], header=False), grpc.StatusCode.INVALID_ARGUMENT, "header"),
        (once(data, head, [0, *range(57, 65)], manifest=False), grpc.StatusCode.INVALID_ARGUMENT, "manifest"),
        (once(data, head, [0, *range(57, 65)], tamper=60), grpc.StatusCode.INVALID_ARGUMENT, "chunks[60]"),
        (once(data, head, [0, *range(57, 64)]), grpc.StatusCode.FAILED_PRECONDITION, "chunks[64]"),
        (once(data, first, [0, *range(57, 65)]), grpc.StatusCode.FAILED_PRECONDITION, "head"),  # it moved on
    ]:
        with pytest.raises(grpc.RpcError) as e:
            stub.SaveChunksAtOnce(request, metadata=auth)
        assert e.value.code() == code and named in e.value.details(), (named, e.value.details())
        assert visible(oasis) == before
    with pytest.raises(grpc.RpcError) as e:  # authorization first
        stub.SaveChunksAtOnce(once(data, head, [0, *range(57, 65)]))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and visible(oasis) == before
    reply = stub.SaveChunksAtOnce(once(data, head, [0, *range(57, 65)]), metadata=auth)
    assert reply.created and reply.snapshot.state_sha256 == cut(data)[0].state_id
    assert oasis.admin.load_snapshot(reply.snapshot.id)[1] == data


def test_a_save_whose_message_would_be_too_big_is_streamed(oasis, monkeypatch):
    """ONE_MESSAGE bounds the whole message: chunks that fit beside a manifest that does not go by the stream."""
    import multiverse.client.chunked as client_side

    mv = oasis.server
    mv.save_snapshot("w", window(0))
    m = cut(window(8))[0]
    monkeypatch.setattr(client_side, "ONE_MESSAGE", m.lengths[0] + sum(m.lengths[57:65]) + 100)  # < with the manifest
    mv.save_snapshot("w", window(8))
    assert mv.last_save.chunks_sent == 9 and mv.last_save.messages == 3  # header, manifest, one batch
    monkeypatch.setattr(client_side, "ONE_MESSAGE", 3 << 20)
    mv.save_snapshot("w", window(16))
    assert mv.last_save.chunks_sent == 9 and mv.last_save.messages == 1
    assert oasis.admin.load_snapshot("w")[1] == window(16)
