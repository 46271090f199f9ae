"""The error mapping, both ways, for every class of both error trees (the way httpx tests its own): a tiny
servicer behind the real ErrorInterceptor raises each error; the client's ``from_rpc_error`` must give back an
instance of the same class (merge_kernels' classes: the domain's InvalidArgument) with the same fields."""

from __future__ import annotations

from concurrent import futures

import grpc
import pytest

import merge_kernels.errors as mk_errors
from multiverse import errors
from multiverse.client import from_rpc_error
from services.auth import ACCESS, ANYONE, access_of
from services.errors import CODES, ErrorInterceptor
from services.reflection import V1_SERVICE, v1_descriptor

METHOD = "/test.Raise/Raise"


def _domain_classes() -> list[type[errors.MultiverseError]]:
    return [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.MultiverseError)]


def _kernel_classes() -> list[type[mk_errors.ParameterError]]:
    return [getattr(mk_errors, name) for name in mk_errors.__all__]


def _example(cls: type[Exception]) -> Exception:
    if issubclass(cls, mk_errors.ParameterError):
        return cls("density", 1.5, "(0, 1]", "pass a fraction of entries to keep, such as 0.2")
    if issubclass(cls, errors.HeadMoved):
        return cls("w1", "main", "a" * 64, "b" * 64)
    if issubclass(cls, errors.InvalidArgument):
        return cls("spec.frames", -3, "give a positive number of frames")
    return cls(f"a {cls.__name__} for the test: do the right thing", world="w1", limit=7)


@pytest.fixture(scope="module")
def raiser():
    """A server whose one method raises the error named by the request (the class name, as bytes)."""
    examples = {c.__name__: _example(c) for c in [*_domain_classes(), *_kernel_classes()]}

    def raise_it(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise examples[request.decode()]

    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Raise", {"Raise": grpc.unary_unary_rpc_method_handler(raise_it)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary(METHOD)

    def received(name: str) -> errors.MultiverseError:
        with pytest.raises(grpc.RpcError) as info:
            call(name.encode(), timeout=10)
        return from_rpc_error(info.value)

    yield received
    channel.close()
    server.stop(None).wait()


def test_the_trees_are_what_the_mapping_covers():
    """A class added to either tree is tested here without editing this file; the tables cover it."""
    assert len(_domain_classes()) >= 12 and len(_kernel_classes()) == 6
    assert set(_domain_classes()) <= set(CODES)


@pytest.mark.parametrize("cls", _domain_classes(), ids=lambda c: c.__name__)
def test_every_domain_error_comes_back_as_itself(raiser, cls):
    sent = _example(cls)
    got = raiser(cls.__name__)
    assert type(got) is cls
    assert got.message == sent.message and got.details == sent.details
    assert got.code == CODES[cls] and got.retriable == sent.retriable
    if isinstance(sent, errors.InvalidArgument):
        assert (got.field, got.value, got.fix, got.reason) == ("spec.frames", "-3", sent.fix, None)
    if isinstance(sent, errors.HeadMoved):
        assert got.current == "b" * 64


@pytest.mark.parametrize("cls", _kernel_classes(), ids=lambda c: c.__name__)
def test_every_kernel_error_comes_back_as_the_domain_invalid_argument(raiser, cls):
    got = raiser(cls.__name__)
    assert type(got) is errors.InvalidArgument and got.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (got.field, got.value, got.fix) == ("density", "1.5", "pass a fraction of entries to keep, such as 0.2")
    assert got.message == "density=1.5 is outside (0, 1]: pass a fraction of entries to keep, such as 0.2"


def test_anything_else_is_internal_and_echoes_nothing():
    def boom(request: bytes, context: grpc.ServicerContext) -> bytes:
        raise KeyError("secret-internal-detail")

    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "test.Raise", {"Raise": grpc.unary_unary_rpc_method_handler(boom)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as info:
            channel.unary_unary(METHOD)(b"", timeout=10)
        got = from_rpc_error(info.value)
        assert got.code == grpc.StatusCode.INTERNAL and type(got) is errors.MultiverseError
        assert "secret" not in got.message
    finally:
        server.stop(None).wait()


def test_the_real_server_returns_invalid_argument_with_field_value_and_fix(stack):
    with pytest.raises(errors.InvalidArgument) as info:
        stack.admin.register_space("Bad Name!", (4, 3, 2), "float16", 8)
    got = info.value
    assert got.field and got.fix and got.message.endswith(got.fix) and got.value


def test_the_real_server_authenticates_by_the_table(stack):
    with stack.client("mvk_nope_nope") as stranger, pytest.raises(errors.Unauthenticated):
        stranger.list_operators()  # the Multiverse service: an API key
    with stack.client(None) as anonymous, pytest.raises(errors.Unauthenticated):
        anonymous.whoami()
    assert stack.server.whoami().principal == "alpha"


def test_every_served_method_is_declared(stack):
    """A method missing from ACCESS would be refused to everyone; every method of every service is declared,
    and only health, reflection, chain info and sign-in are open to anyone."""
    from multiverse.v1 import market_pb2, multiverse_pb2, rarity_pb2, store_pb2

    opened = set()
    for module in (store_pb2, multiverse_pb2, rarity_pb2, market_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                name = f"/{service.full_name}/{method.name}"
                assert access_of(name) is not None, name
                if access_of(name) == ANYONE:
                    opened.add(name)
    assert opened == {"/multiverse.v1.Market/GetChainInfo", "/multiverse.v1.Market/SignInNonce",
                      "/multiverse.v1.Market/SignIn"}
    assert access_of("/multiverse.v1.Store/NoSuchMethod") == ACCESS["/multiverse.v1.Store/"]
    assert access_of("/other.Service/Method") is None


def test_reflection_v1_lists_the_services(stack):
    from google.protobuf import descriptor_pb2, message_factory

    pool = v1_descriptor()
    request_type, response_type = (message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.reflection.v1.{name}"))
                                   for name in ("ServerReflectionRequest", "ServerReflectionResponse"))
    with grpc.insecure_channel(stack.address) as channel:
        call = channel.stream_stream(f"/{V1_SERVICE}/ServerReflectionInfo", request_serializer=request_type.SerializeToString,
                                     response_deserializer=response_type.FromString)
        answers = list(call(iter([request_type(list_services=""),
                                  request_type(file_containing_symbol="multiverse.v1.Store")]), timeout=10))
    names = {s.name for s in answers[0].list_services_response.service}
    assert {"multiverse.v1.Store", "grpc.health.v1.Health", V1_SERVICE, "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in answers[1].file_descriptor_response.file_descriptor_proto]
    assert any(f.package == "multiverse.v1" and any(s.name == "Store" for s in f.service) for f in files)
