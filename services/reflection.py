"""Server reflection under both of its names: ``grpc.reflection.v1`` (what grpcurl, Postman and current
clients ask first) and ``grpc.reflection.v1alpha`` (older clients).

grpcio-reflection 1.85 ships only v1alpha. The two protocols are the same messages under another package (the
v1 proto was the v1alpha one renamed, field for field), so v1 here is the v1alpha servicer answering on the v1
method with v1alpha's (identical) wire encoding; the v1 descriptor, v1alpha's renamed, joins the default pool so
that v1 lists and describes itself like any other service.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

V1_PACKAGE = "grpc.reflection.v1"
V1_FILE = "grpc/reflection/v1/reflection.proto"
V1_SERVICE = f"{V1_PACKAGE}.ServerReflection"
V1ALPHA_SERVICE = reflection.SERVICE_NAME


def v1_descriptor() -> descriptor_pool.DescriptorPool:
    """The default pool, holding the v1 reflection protocol (added once, from v1alpha's descriptor renamed)."""
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(V1_FILE)
    except KeyError:
        proto = descriptor_pb2.FileDescriptorProto()
        reflection_pb2.DESCRIPTOR.CopyToProto(proto)
        old = f".{proto.package}."
        proto.name, proto.package = V1_FILE, V1_PACKAGE
        for message in proto.message_type:
            for field in message.field:
                if field.type_name:  # assigning "" would mark a scalar field as typed
                        field.type_name = field.type_name.replace(old, f".{V1_PACKAGE}.")
        for method in proto.service[0].method:
            method.input_type = method.input_type.replace(old, f".{V1_PACKAGE}.")
            method.output_type = method.output_type.replace(old, f".{V1_PACKAGE}.")
        pool.AddSerializedFile(proto.SerializeToString())
    return pool


def enable_reflection(service_names: Sequence[str], server: grpc.Server) -> None:
    """Serve reflection v1 and v1alpha on ``server``, listing ``service_names`` and both reflection services."""
    v1_descriptor()
    names = [*service_names, V1_SERVICE, V1ALPHA_SERVICE]
    servicer = reflection.ReflectionServicer(names)
    reflection.enable_server_reflection(names, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(V1_SERVICE, {"ServerReflectionInfo": handler}),))
