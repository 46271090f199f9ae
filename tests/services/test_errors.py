"""Every domain error maps to one gRPC status, with the facts in the rich details."""

from __future__ import annotations

import inspect

import grpc
from google.rpc import error_details_pb2, status_pb2

from multiverse import errors
from services.errors import CODES, code_for, to_status


def test_every_error_class_has_a_status_code():
    classes = {c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.MultiverseError)}
    assert classes == set(CODES)
    assert len({CODES[c] for c in classes - {errors.HeadMoved}}) == len(classes) - 1  # one code per idea


def test_invalid_argument_carries_field_value_and_fix():
    exc = errors.InvalidArgument("state.frames.shape", (12, 4), "latent space demo expects (T, 4, 3, 2)")
    status = to_status(exc)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "state.frames.shape" in status.details and "(T, 4, 3, 2)" in status.details
    rich = status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])
    bad, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
    assert any(d.Unpack(bad) for d in rich.details if d.Is(bad.DESCRIPTOR))
    assert any(d.Unpack(info) for d in rich.details if d.Is(info.DESCRIPTOR))
    assert bad.field_violations[0].field == "state.frames.shape"
    assert info.reason == "InvalidArgument" and info.metadata["value"] == "(12, 4)"


def test_head_moved_carries_the_current_head():
    exc = errors.HeadMoved("w1", "main", "a" * 64, "b" * 64)
    assert code_for(exc) == grpc.StatusCode.FAILED_PRECONDITION
    rich = status_pb2.Status.FromString(dict(to_status(exc).trailing_metadata)["grpc-status-details-bin"])
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in rich.details if d.Is(info.DESCRIPTOR))
    assert info.metadata["current_head"] == "b" * 64 and info.reason == "HeadMoved"


def test_retriable_errors_say_so():
    rich = status_pb2.Status.FromString(dict(to_status(errors.Unavailable("db down")).trailing_metadata)["grpc-status-details-bin"])
    assert any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in rich.details)
