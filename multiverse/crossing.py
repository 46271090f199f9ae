"""Crossing worlds: two or more states of one latent space -> a new world, by a merge/crossover pipeline.

The child's state depends only on the parents' states, the base's state, the pipeline, the seed, the
alignment, the player policy and the code version: together they are the *recipe*, and the recipe's sha256
names it. Crossing the same recipe into two worlds gives two snapshot records over one identical state; a
world made by a recipe answers a repeat of that recipe with itself and nothing new is stored.

Order of work: plan (resolve, check, find the merge base: cheap, before anything heavy) -> compute (load,
align, merge frames and players, carry guidance texts, encode) -> store the blob -> one metadata
transaction creates the world, the snapshot and its head. Cancellation is checked between stages; a cross
that stops early leaves nothing but, at most, an unreferenced blob.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import merge_kernels as mk
import torch

from multiverse import __version__
from multiverse.auth import Principal
from multiverse.codec import decode_state, encode_state
from multiverse.crossplayers import merge_players
from multiverse.crossstats import cross_stats
from multiverse.errors import AlreadyExists, Cancelled, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from multiverse.playermerge import POLICIES
from multiverse.records import DEFAULT_HEAD, SnapshotRecord, SpaceRecord, WorldRecord, canonical_json, snapshot_id
from multiverse.spaces import check_name
from multiverse.store import Store

CODE_VERSION = f"multiverse {__version__}; torch {torch.__version__}"
ALIGN = ("", *mk.ALIGN_POLICIES)
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class CrossLimits:
    max_parents: int = 8
    max_input_bytes: int = 4 << 30  # the parents' states together


@dataclass(frozen=True)
class CrossSpec:
    parents: tuple[str, ...]
    pipeline: dict[str, Any]
    name: str = ""
    seed: int = 0
    align: str = ""
    frames: int = 0
    player_policy: str = "prefer-first"
    base: str = ""
    owner: str = ""
    description: str = ""


@dataclass(frozen=True)
class Plan:
    space: SpaceRecord
    parents: tuple[SnapshotRecord, ...]
    base: SnapshotRecord | None
    pipeline: mk.Pipeline
    recipe: dict[str, Any]
    recipe_sha256: str


@dataclass(frozen=True)
class Child:
    state: bytes
    digest: str
    frame_count: int
    player_count: int
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Crossed:
    world: WorldRecord
    snapshot: SnapshotRecord
    stats: dict[str, Any]
    created: bool
    recipe_sha256: str


def pipeline_from(op: str, params: dict[str, Any] | None, pipeline: dict[str, Any] | None) -> dict[str, Any]:
    """The pipeline as data: an explicit one, or one step ``op`` with ``params``."""
    if pipeline and op:
        raise InvalidArgument("op", op, "give either a pipeline or one operator, not both")
    if pipeline:
        return pipeline
    if not op:
        raise InvalidArgument("op", op, f"name an operator, one of {', '.join(mk.operator_names())}")
    return {"steps": [{"op": op, "params": params or {}}]}


class Crossing:
    def __init__(self, store: Store, limits: CrossLimits = CrossLimits()) -> None:
        self.store, self.limits = store, limits

    # planning: cheap, before any heavy work ---------------------------------------------------------
    def plan(self, who: Principal, spec: CrossSpec) -> Plan:
        if not who.admin:
            raise PermissionDenied(f"only an admin key may cross worlds; {who.name!r} holds a {who.role} key")
        if not 2 <= len(spec.parents) <= self.limits.max_parents:
            raise InvalidArgument("parents", list(spec.parents), f"cross 2 to {self.limits.max_parents} states")
        if spec.align not in ALIGN:
            raise InvalidArgument("align", spec.align, f"use one of {', '.join(a or '(empty: equal lengths)' for a in ALIGN)}")
        if spec.player_policy not in POLICIES:
            raise InvalidArgument("player_policy", spec.player_policy, f"use one of {', '.join(POLICIES)}")
        if not 0 <= spec.seed < 2**63:
            raise InvalidArgument("seed", spec.seed, "use an integer from 0 to 2**63 - 1")
        parents = tuple(self.store.resolve(ref) for ref in spec.parents)
        worlds = [self.store.meta.get_world(p.world) for p in parents]
        if len({w.space for w in worlds}) > 1:
            a, b = next((x, y) for x in worlds for y in worlds if x.space != y.space)
            raise FailedPrecondition(f"world {a.name!r} lives in latent space {a.space!r} and {b.name!r} in {b.space!r}: "
                                     "only states of one latent space can be crossed", spaces=f"{a.space},{b.space}")
        total = sum(p.state_size for p in parents)
        if total > self.limits.max_input_bytes:
            raise InvalidArgument("parents", f"{total} bytes", f"the parents may hold at most {self.limits.max_input_bytes} bytes together")
        if not spec.align and len({p.frame_count for p in parents}) > 1:
            counts = [p.frame_count for p in parents]
            raise InvalidArgument("align", "", f"the parents have {counts} frames: name an alignment policy "
                                  f"({', '.join(mk.ALIGN_POLICIES)})")
        pipeline = _kernel_call(lambda: mk.Pipeline.from_dict(spec.pipeline).resolve(len(parents)))
        needs_base = any(mk.get_operator(s.op).needs_base or (s.base and mk.get_operator(s.op).uses_base)
                         for s in pipeline.steps)
        base = self._base(spec, parents, required=needs_base)
        space = self.store.meta.get_space(worlds[0].space)
        recipe = {
            "parent_states": [p.state for p in parents],
            "base_state": base.state if base else None,
            "pipeline": pipeline.to_dict(),
            "seed": spec.seed,
            "align": spec.align,
            "frames": spec.frames,
            "player_policy": spec.player_policy,
            "code_version": CODE_VERSION,
        }
        return Plan(space, parents, base, pipeline, recipe, hashlib.sha256(canonical_json(recipe)).hexdigest())

    def _base(self, spec: CrossSpec, parents: tuple[SnapshotRecord, ...], *, required: bool) -> SnapshotRecord | None:
        if spec.base:
            return self.store.resolve(spec.base)
        common = self.store.meta.lowest_common_ancestors(parents[0].id, parents[1].id)
        for p in parents[2:]:
            if not common:
                break
            found = {c for a in common for c in self.store.meta.lowest_common_ancestors(a, p.id)}
            common = sorted(found)
        if common:
            best = max((self.store.meta.get_snapshot(c) for c in common), key=lambda r: (r.generation, r.id))
            return best
        if required:
            raise FailedPrecondition(
                f"the parents {', '.join(p.id[:12] for p in parents)} share no ancestor, and the pipeline has a three-way "
                "operator that needs a merge base: pass an explicit base, or use a two-way operator (linear, slerp, "
                "multislerp, a crossover)")
        return None

    # computing: pure given the plan -----------------------------------------------------------------
    def compute(self, plan: Plan, spec: CrossSpec, progress: Progress = lambda stage, f: None,
                cancelled: Callable[[], bool] = lambda: False) -> Child:
        progress("load", 0.05)
        states = [decode_state(self.store.blobs.read(p.state)) for p in plan.parents]
        base_state = decode_state(self.store.blobs.read(plan.base.state)) if plan.base else None
        _check(cancelled)
        frames = [t["frames"] for t, _ in states]
        lengths = [f.shape[0] for f in frames]
        length = spec.frames or None
        if spec.align:
            frames = _kernel_call(lambda: mk.align(frames, spec.align, length))
        base_frames = _align_base(base_state[0]["frames"], frames[0].shape[0], spec.align) if base_state else None
        progress("merge", 0.3)
        uses_base = any(mk.get_operator(s.op).needs_base or (s.base and mk.get_operator(s.op).uses_base)
                        for s in plan.pipeline.steps)
        kstats: dict[str, Any] = {}
        child = _kernel_call(lambda: plan.pipeline.run(frames, base=base_frames if uses_base else None,
                                                       seed=spec.seed, stats=kstats))
        _check(cancelled)
        progress("players", 0.7)
        players, vectors, player_note = merge_players(plan, spec, states, base_state, uses_base)
        timeline = _timeline(plan, spec, states, lengths, child.shape[0])
        share = _share(kstats)
        stats = cross_stats(child, frames, plan.space.reference, share) | {"players": player_note}
        state = encode_state(child, vectors, space=plan.space.name, players=players, timeline=timeline)
        _check(cancelled)
        return Child(state, hashlib.sha256(state).hexdigest(), child.shape[0], len(players), stats)

    # the whole cross --------------------------------------------------------------------------------
    def cross(self, who: Principal, spec: CrossSpec, progress: Progress = lambda stage, f: None,
              cancelled: Callable[[], bool] = lambda: False) -> Crossed:
        check_name("name", spec.name)
        check_name("owner", spec.owner or who.name)
        if len(spec.description) > 1024:
            raise InvalidArgument("description", spec.description[:40], "use at most 1024 characters")
        progress("resolve", 0.0)
        plan = self.plan(who, spec)
        origin = {"recipe_sha256": plan.recipe_sha256}
        existing = _find_world(self.store, spec.name)
        if existing is not None:
            if existing.origin.get("recipe_sha256") != plan.recipe_sha256:
                raise AlreadyExists(f"world {spec.name!r} exists and was not made by this recipe: choose another name")
            first = self.store.meta.get_snapshot(existing.origin["snapshot"])
            return Crossed(existing, first, first.provenance.get("stats", {}), False, plan.recipe_sha256)
        child = self.compute(plan, spec, progress, cancelled)
        progress("store", 0.85)
        self.store.blobs.put_bytes(child.state)
        _check(cancelled)
        now = self.store.clock()
        provenance = {
            "kind": "cross", "by": who.name, "recipe": plan.recipe, "recipe_sha256": plan.recipe_sha256,
            "parents": [p.id for p in plan.parents], "base": plan.base.id if plan.base else None, "stats": child.stats,
        }
        body = SnapshotRecord("", spec.name, tuple(p.id for p in plan.parents), child.digest, len(child.state),
                              child.frame_count, child.player_count, 1 + max(p.generation for p in plan.parents),
                              now, provenance).body()
        record = SnapshotRecord(id=snapshot_id(body), **{**body, "parents": tuple(body["parents"])})
        world = WorldRecord(spec.name, plan.space.name, spec.owner or who.name, now, spec.description,
                            origin={**origin, "snapshot": record.id})
        progress("commit", 0.95)
        world, record, created = self.store.meta.spawn_world(world, record, head=DEFAULT_HEAD)
        progress("done", 1.0)
        return Crossed(world, record, record.provenance.get("stats", {}), created, plan.recipe_sha256)


def _align_base(base: torch.Tensor, length: int, policy: str) -> torch.Tensor:
    """The base follows the parents' policy where it can (it is long enough to cut), else it is resampled."""
    if base.shape[0] == length:
        return base
    if policy in ("last_n", "truncate") and base.shape[0] > length:
        return _kernel_call(lambda: mk.align([base], policy, length)[0])
    return _kernel_call(lambda: mk.resample(base, length))


def _find_world(store: Store, name: str) -> WorldRecord | None:
    try:
        return store.meta.get_world(name)
    except NotFound:
        return None


def _check(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise Cancelled("the cross was cancelled; nothing was stored")


def _kernel_call(fn: Callable[[], Any]) -> Any:
    """Run a merge_kernels call, translating its errors into the domain's InvalidArgument once."""
    try:
        return fn()
    except mk.ParameterError as exc:
        raise InvalidArgument(f"pipeline.{exc.param}", exc.value, exc.fix or f"use {exc.allowed}",
                              reason=str(exc).split(":")[0]) from None


def _share(kstats: dict[str, Any]) -> list[float] | None:
    """The share of elements from each parent, from the first selection step that reports one."""
    for st in kstats.get("steps", []):
        if st and "share" in st:
            return [float(x) for x in st["share"]]
    return None


def _timeline(plan: Plan, spec: CrossSpec, states: list, lengths: list[int], length: int) -> list[dict[str, Any]]:
    """Parents' guidance texts with frame indices remapped by the alignment, then an event for the cross."""
    texts: dict[tuple[int, str], int] = {}
    for k, ((_, info), n) in enumerate(zip(states, lengths)):
        for entry in info.timeline:
            frame = _remap(entry["frame"], n, length, spec.align)
            if frame is not None:
                texts.setdefault((frame, entry["text"]), k)
    ops = "+".join(s.op for s in plan.pipeline.steps)
    event = {"frame": 0, "text": f"[cross] {len(plan.parents)} states crossed with {ops} (seed {spec.seed}, recipe {plan.recipe_sha256[:12]})"}
    ordered = sorted(texts, key=lambda ft: (ft[0], texts[ft], ft[1]))
    return [event] + [{"frame": f, "text": t} for f, t in ordered][: 100_000 - 1]


def _remap(frame: int, n: int, length: int, policy: str) -> int | None:
    if policy in ("", "truncate"):
        return frame if frame < length else None
    if policy == "last_n":
        j = frame - (n - length)
        return j if j >= 0 else None
    return round(frame * (length - 1) / (n - 1)) if n > 1 else 0
