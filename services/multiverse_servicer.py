"""The Multiverse gRPC service (crossing worlds): decode, call the domain, encode. Nothing else."""

from __future__ import annotations

import json
import queue
import threading

from multiverse import jsonsafe
from multiverse.crossing import Crossed, Crossing, CrossSpec, list_operators, pipeline_from
from multiverse.errors import InvalidArgument
from multiverse.store.store import require_admin
from multiverse.v1 import multiverse_pb2, multiverse_pb2_grpc
from services.auth import caller
from services.convert import snapshot_to_pb, world_to_pb


class MultiverseServicer(multiverse_pb2_grpc.MultiverseServicer):
    def __init__(self, crossing: Crossing) -> None:
        self.crossing = crossing

    def CrossWorlds(self, request, context):
        who = caller()
        require_admin(who, "cross worlds")  # before the request's JSON is parsed
        spec = _spec(request)
        events: queue.Queue = queue.Queue()
        outcome: dict = {}

        def work() -> None:
            try:
                outcome["crossed"] = self.crossing.cross(
                    who, spec, progress=lambda stage, f: events.put((stage, f)),
                    cancelled=lambda: _gone(context), time_left=context.time_remaining)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
                outcome["error"] = exc
            events.put(None)

        threading.Thread(target=work, name="cross", daemon=True).start()
        while (event := events.get()) is not None:
            yield multiverse_pb2.CrossEvent(progress=multiverse_pb2.CrossProgress(stage=event[0], fraction=event[1]))
        if "error" in outcome:
            raise outcome["error"]
        yield multiverse_pb2.CrossEvent(result=_result(outcome["crossed"]))

    def PreviewCross(self, request, context):
        who = caller()
        require_admin(who, "preview crosses")  # before the request's JSON is parsed
        spec = _spec(request)
        plan, child = self.crossing.preview(who, spec, cancelled=lambda: _gone(context))
        return multiverse_pb2.CrossPreview(stats=_stats(child.stats), state_sha256=child.digest,
                                           frame_count=child.frame_count, player_count=child.player_count,
                                           base=plan.base.id if plan.base else "", recipe_sha256=plan.recipe_sha256)

    def ListOperators(self, request, context):
        return multiverse_pb2.ListOperatorsResponse(operators=[_operator(o) for o in list_operators()])


MAX_PARAMS_JSON = 1 << 20  # a pipeline of a few steps is a few hundred bytes


def _gone(context) -> bool:
    """The caller cancelled, or its deadline passed."""
    remaining = context.time_remaining()
    return not context.is_active() or (remaining is not None and remaining <= 0)


def _spec(r: multiverse_pb2.CrossRequest) -> CrossSpec:
    pipeline = _json("pipeline_json", r.pipeline_json) if r.pipeline_json else None
    params = _json("params_json", r.params_json) if r.params_json else {}
    return CrossSpec(parents=tuple(r.parents), pipeline=pipeline_from(r.op, params, pipeline), name=r.name,
                     seed=r.seed, align=r.align, frames=r.frames, player_policy=r.player_policy or "prefer-first",
                     base=r.base, owner=r.owner, description=r.description)


def _json(field: str, text: str) -> dict:
    value = jsonsafe.loads(text, field=field, max_bytes=MAX_PARAMS_JSON)
    if not isinstance(value, dict):
        raise InvalidArgument(field, text[:80], "use a JSON object")
    return value


def _stats(s: dict) -> multiverse_pb2.CrossStats:
    return multiverse_pb2.CrossStats(
        norm_z=s.get("norm_z", 0.0), norm_ratio=s.get("norm_ratio", 0.0),
        channel_mean_divergence=s.get("channel_mean_divergence", 0.0),
        channel_std_divergence=s.get("channel_std_divergence", 0.0), parent_share=s.get("parent_share", []),
        json=json.dumps(s, sort_keys=True))


def _result(c: Crossed) -> multiverse_pb2.CrossResult:
    return multiverse_pb2.CrossResult(world=world_to_pb(c.world), snapshot=snapshot_to_pb(c.snapshot),
                                      stats=_stats(c.stats), created=c.created, recipe_sha256=c.recipe_sha256)


def _operator(o: dict) -> multiverse_pb2.OperatorInfo:
    params = [multiverse_pb2.OperatorParam(name=p["name"], type=p["type"], default_json=json.dumps(p["default"]),
                                           allowed=p["allowed"], choices=[str(c) for c in p["choices"]], doc=p["doc"])
              for p in o["params"]]
    return multiverse_pb2.OperatorInfo(name=o["name"], family=o["family"], summary=o["summary"], formula=o["formula"],
                                       min_parents=o["min_parents"] or 0, max_parents=o["max_parents"] or 0,
                                       base=o["base"], selection=o["selection"], random=o["random"], params=params)
