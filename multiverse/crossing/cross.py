"""Crossing worlds: two or more states of one latent space -> a new world, by a merge/crossover pipeline.

The child's state depends only on the parents' states, the base's state, the pipeline, the seed, the
alignment, the player policy and the code version: together they are the *recipe*, and the recipe's sha256
names it. Crossing the same recipe into two worlds gives two snapshot records over one identical state; a
world made by a recipe answers a repeat of that recipe with itself and nothing new is stored.

Order of work: plan (resolve, check, find the merge base: cheap, before anything heavy) -> compute (load,
align, merge frames and players, carry guidance texts, encode) -> store the state (as chunks where the blob
store keeps them, so frames taken whole from a parent cost nothing new: crossing/stored.py) -> one metadata
transaction creates the world, the snapshot and its head. Cancellation is checked between stages; a cross
that stops early leaves nothing but, at most, unreferenced chunks or a blob (the collector's). The commit is the last step, and it is
only begun while the caller's deadline leaves ``commit_reserve_s`` for it and the reply: a cross that reports
failure (its deadline passed, say) has committed nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import merge_kernels as mk
from multiverse.crossing.child import (
    align_base,
    align_call,
    check_child,
    check_finite,
    check_header,
    kernel_call,
    share,
    timeline,
)
from multiverse.crossing.plan import ALIGN, CODE_VERSION, CrossLimits, CrossSpec, Plan, Progress
from multiverse.crossing.player_merge import POLICIES
from multiverse.crossing.players import merge_players
from multiverse.crossing.stats import cross_stats
from multiverse.crossing.stored import state_id, store_state
from multiverse.errors import (
    AlreadyExists,
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from multiverse.blobs.base import BlobStore
from multiverse.metadata.base import Metadata
from multiverse.records import DEFAULT_HEAD, SnapshotRecord, WorldRecord, canonical_json
from multiverse.state.format import StateInfo, encode_state_parts
from multiverse.state.limits import Limits
from multiverse.state.read import read_info, read_state
from multiverse.state.spaces import DTYPES, check_name
from multiverse.state.vectors import start as vector_hashes
from multiverse.store.auth import Principal

if TYPE_CHECKING:
    from multiverse.store.store import Store

Resolve = Callable[[str], SnapshotRecord]  # a snapshot by id, world or world@head (Store.resolve, unscoped)
Loaded = tuple[dict[str, Any], StateInfo]  # one state read: its tensors and its header


@dataclass(frozen=True)
class Child:
    """A computed state, not stored: its file as pieces (``multiverse.state.format.encode_state_parts``) and what it holds."""

    parts: tuple[memoryview, ...]
    digest: str
    frame_count: int
    player_count: int
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def state(self) -> bytes:
        return b"".join(self.parts)


@dataclass(frozen=True)
class Crossed:
    world: WorldRecord
    snapshot: SnapshotRecord
    stats: dict[str, Any]
    created: bool
    recipe_sha256: str


@dataclass(frozen=True)
class Inputs:
    """What ``Crossing.load`` read for a plan: the parents' states, and the base's (tensors only where the
    pipeline uses the base's frames; its header always, for the players' three-way merge)."""

    states: list[Loaded]
    base: Loaded | None
    uses_base: bool


class Crossing:
    """Crossing worlds over the ports it uses: the metadata (reads, and the one transaction that spawns the
    child's world), the blob store (parents in, child out), ``resolve`` for references, the state limits the
    child must meet and the clock that stamps it."""

    def __init__(self, meta: Metadata, blobs: BlobStore, resolve: Resolve, state_limits: Limits,
                 clock: Callable[[], float] = time.time, limits: CrossLimits = CrossLimits()) -> None:
        self.meta, self.blobs, self.resolve, self.state_limits, self.clock = meta, blobs, resolve, state_limits, clock
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_running)

    @classmethod
    def over(cls, store: Store, limits: CrossLimits = CrossLimits()) -> Crossing:
        """Crossing over the store's ports (its metadata, blobs, unscoped resolve, limits and clock)."""
        return cls(store.meta, store.blobs, store.resolve, store.limits, store.clock, limits)

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
        parents = tuple(self.resolve(ref) for ref in spec.parents)
        if len({p.id for p in parents}) != len(parents):  # refused here, before anything is computed or stored
            twice = next(p.id for i, p in enumerate(parents) if p.id in {q.id for q in parents[:i]})
            raise InvalidArgument("parents", list(spec.parents),
                                  f"name each parent once (snapshot {twice} is named twice); to weight one state "
                                  "more, give the operator weights")
        worlds = [self.meta.get_world(p.world, deleted=True) for p in parents]  # kept inputs outlive their worlds
        if len({w.space for w in worlds}) > 1:
            a, b = next((x, y) for x in worlds for y in worlds if x.space != y.space)
            raise FailedPrecondition(f"world {a.name!r} lives in latent space {a.space!r} and {b.name!r} in {b.space!r}: "
                                     "only states of one latent space can be crossed", spaces=f"{a.space},{b.space}")
        total = sum(p.state_size for p in parents)
        if total > self.limits.max_input_bytes:
            raise InvalidArgument("parents", f"{total} bytes", f"the parents may hold at most {self.limits.max_input_bytes} bytes together")
        length = self._length(spec, [p.frame_count for p in parents])
        pipeline = kernel_call(lambda: mk.Pipeline.from_dict(spec.pipeline).resolve(len(parents)))
        needs_base = any(mk.get_operator(s.op).needs_base or (s.base and mk.get_operator(s.op).uses_base)
                         for s in pipeline.steps)
        base = self._base(spec, parents, required=needs_base)
        space = self.meta.get_space(worlds[0].space)
        child_bytes = length * math.prod(space.frame_shape) * DTYPES[space.dtype].itemsize
        if child_bytes > self.state_limits.max_state_bytes:
            raise InvalidArgument("frames", length, f"the child would hold {child_bytes} bytes of frames, over the "
                                  f"server's cap of {self.state_limits.max_state_bytes}: ask for fewer frames")
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

    def _length(self, spec: CrossSpec, counts: list[int]) -> int:
        """The child's frame count under the alignment, checked before any work."""
        if not spec.align:
            if spec.frames:
                raise InvalidArgument("frames", spec.frames, "set align (last_n, truncate or resample) to choose a "
                                      "frame count, or leave frames 0")
            if len(set(counts)) > 1:
                raise InvalidArgument("align", "", f"the parents have {counts} frames: name an alignment policy "
                                      f"({', '.join(mk.ALIGN_POLICIES)})")
            return counts[0]
        if not 0 <= spec.frames <= self.state_limits.max_frames:
            raise InvalidArgument("frames", spec.frames, f"use 0 (the default) to {self.state_limits.max_frames}")
        if spec.align != "resample" and spec.frames > min(counts):
            raise InvalidArgument("frames", spec.frames, f"{spec.align} cuts the parents ({counts} frames) to at most "
                                  f"{min(counts)}: ask for fewer, or use align=resample to stretch")
        return spec.frames or (max(counts) if spec.align == "resample" else min(counts))

    def _base(self, spec: CrossSpec, parents: tuple[SnapshotRecord, ...], *, required: bool) -> SnapshotRecord | None:
        if spec.base:
            base = self.resolve(spec.base)
            space, theirs = self.meta.get_world(base.world, deleted=True).space, self.meta.get_world(parents[0].world, deleted=True).space
            if space != theirs:
                raise FailedPrecondition(f"the base {base.id[:12]} (world {base.world!r}) lives in latent space {space!r}, "
                                         f"the parents in {theirs!r}: name a base of the parents' space", spaces=f"{theirs},{space}")
            return base
        common = self.meta.lowest_common_ancestors(parents[0].id, parents[1].id)
        for p in parents[2:]:
            if not common:
                break
            found = {c for a in common for c in self.meta.lowest_common_ancestors(a, p.id)}
            common = sorted(found)
        if common:
            best = max((self.meta.get_snapshot(c) for c in common), key=lambda r: (r.generation, r.id))
            return best
        if required:
            raise FailedPrecondition(
                f"the parents {', '.join(p.id[:12] for p in parents)} share no ancestor, and the pipeline has a three-way "
                "operator that needs a merge base: pass an explicit base, or use a two-way operator (linear, slerp, "
                "multislerp, a crossover)")
        return None

    # computing: a load step (I/O), then a pure step -------------------------------------------------
    def compute(self, plan: Plan, spec: CrossSpec, progress: Progress = lambda stage, f: None,
                cancelled: Callable[[], bool] = lambda: False) -> Child:
        """Load, then align, merge frames and players, carry the guidance texts, encode. Stores nothing.
        The child's ``digest`` is left empty: storing it hashes it (``Crossing.cross``), ``preview`` hashes it."""
        progress("load", 0.05)
        inputs = self.load(plan)
        _check(cancelled)
        return make_child(plan, spec, inputs, self.state_limits, progress, cancelled)

    def load(self, plan: Plan) -> Inputs:
        """Read the plan's parents (and its base as far as the pipeline needs it) from the blob store."""
        uses_base = any(mk.get_operator(s.op).needs_base or (s.base and mk.get_operator(s.op).uses_base)
                        for s in plan.pipeline.steps)
        # Reads overlap (file reads and hashing release the GIL). The base's frames only where the pipeline uses
        # them; its players always (the three-way merge of players' stats).
        full = [*plan.parents, *([plan.base] if plan.base is not None and uses_base else [])]
        with ThreadPoolExecutor(max_workers=min(4, len(full)), thread_name_prefix="cross-load") as pool:
            loaded = list(pool.map(lambda r: read_state(self.blobs, r.state, r.state_size), full))
        base = None
        if plan.base is not None:
            base = loaded[-1] if uses_base else ({}, read_info(self.blobs, plan.base.state))
        return Inputs(loaded[:len(plan.parents)], base, uses_base)

    def preview(self, who: Principal, spec: CrossSpec, cancelled: Callable[[], bool] = lambda: False
                ) -> tuple[Plan, Child]:
        """The same computation as ``cross``, nothing stored: the plan and the child (with its digest)."""
        plan = self.plan(who, spec)
        with self._slot(cancelled):
            child = self.compute(plan, spec, cancelled=cancelled)
        digest = state_id(self.blobs, child.parts)  # the id ``cross`` would store it under
        return plan, Child(child.parts, digest, child.frame_count, child.player_count, child.stats)

    # the whole cross --------------------------------------------------------------------------------
    def cross(self, who: Principal, spec: CrossSpec, progress: Progress = lambda stage, f: None,
              cancelled: Callable[[], bool] = lambda: False,
              time_left: Callable[[], float | None] = lambda: None) -> Crossed:
        """Plan, compute, store the state blob, then create the world with its first snapshot in one
        metadata transaction. A repeat of the recipe under the same name returns the world (created=False).

        ``time_left`` gives the seconds left before the caller's deadline (None: no deadline); the commit is
        not begun with less than ``limits.commit_reserve_s`` left (Cancelled, nothing created)."""
        check_name("name", spec.name)
        check_name("owner", spec.owner or who.name)
        if len(spec.description) > 1024:
            raise InvalidArgument("description", spec.description[:40], "use at most 1024 characters")
        progress("resolve", 0.0)
        plan = self.plan(who, spec)
        if (done := self._existing(spec.name, plan)) is not None:
            return done
        with self._slot(cancelled):
            child = self.compute(plan, spec, progress, cancelled)
            progress("store", 0.85)
            held = vector_hashes(child.parts)  # each vector's sha256, for its discovery; beside the put
            # as chunks cut from the tensors' views: the frames taken whole from a parent are stored already
            digest, _ = store_state(self.blobs, child.parts, plan.space.vocab_size)
        now = self.clock()
        provenance = {
            "kind": "cross", "by": who.name, "recipe": plan.recipe, "recipe_sha256": plan.recipe_sha256,
            "parents": [p.id for p in plan.parents], "base": plan.base.id if plan.base else None, "stats": child.stats,
        }
        record = SnapshotRecord("", spec.name, tuple(p.id for p in plan.parents), digest, child.size,
                                child.frame_count, child.player_count, 1 + max(p.generation for p in plan.parents),
                                now, provenance).sealed()
        world = WorldRecord(spec.name, plan.space.name, spec.owner or who.name, now, spec.description,
                            origin={"recipe_sha256": plan.recipe_sha256, "snapshot": record.id})
        vectors = held()  # before the deadline check: nothing that may take time runs between it and the commit
        _check(cancelled)  # the last moment a cancellation can still leave nothing but an unreferenced blob
        left = time_left()
        if left is not None and left < self.limits.commit_reserve_s:
            raise Cancelled(f"the call's deadline leaves {max(left, 0.0):.2f} s, less than the "
                            f"{self.limits.commit_reserve_s:g} s a commit and its reply need: no world or snapshot "
                            "was created; call again with a longer deadline (the recipe makes a repeat cheap to check)")
        progress("commit", 0.95)
        try:
            world, record, created = self.meta.spawn_world(world, record, head=DEFAULT_HEAD, vectors=vectors)
        except AlreadyExists:
            if (done := self._existing(spec.name, plan)) is not None:  # a concurrent repeat of the recipe won
                return done
            raise
        progress("done", 1.0)
        return Crossed(world, record, record.provenance.get("stats", {}), created, plan.recipe_sha256)

    @contextlib.contextmanager
    def _slot(self, cancelled: Callable[[], bool]) -> Iterator[None]:
        """One of ``max_running`` compute slots; waiting for it stays cancellable."""
        while not self._slots.acquire(timeout=0.1):
            _check(cancelled)
        try:
            yield
        finally:
            self._slots.release()

    def _existing(self, name: str, plan: Plan) -> Crossed | None:
        """The world ``name`` if this recipe made it; None if there is none; AlreadyExists if another is there."""
        try:
            world = self.meta.get_world(name)
        except NotFound:
            return None
        if world.origin.get("recipe_sha256") != plan.recipe_sha256:
            made = f"by recipe {world.origin['recipe_sha256'][:12]}" if world.origin else "by a game server"
            raise AlreadyExists(f"world {name!r} exists, made {made}, not by this recipe ({plan.recipe_sha256[:12]}): "
                                "choose another name", world=name)
        first = self.meta.get_snapshot(world.origin["snapshot"])
        return Crossed(world, first, first.provenance.get("stats", {}), False, plan.recipe_sha256)


def _check(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise Cancelled("the cross was cancelled (by the caller or its deadline): no world or snapshot was created")


def make_child(plan: Plan, spec: CrossSpec, inputs: Inputs, limits: Limits,
               progress: Progress = lambda stage, f: None, cancelled: Callable[[], bool] = lambda: False) -> Child:
    """The pure step: tensors in, child out (align, merge frames and players, carry the texts, encode, check
    against ``limits``). No I/O; the same inputs give the same child."""
    states, base_state, uses_base = inputs.states, inputs.base, inputs.uses_base
    frames = [t["frames"] for t, _ in states]
    lengths = [f.shape[0] for f in frames]
    if spec.align:
        frames = align_call(lambda: mk.align(frames, spec.align, spec.frames or None))
    base_frames = align_base(base_state[0]["frames"], frames[0].shape[0], spec.align) if uses_base else None
    progress("merge", 0.3)
    kstats: dict[str, Any] = {}
    child = kernel_call(lambda: plan.pipeline.run(frames, base=base_frames, seed=spec.seed, stats=kstats))
    check_finite(child, "frames")
    _check(cancelled)
    progress("players", 0.7)
    players, vectors, player_note = merge_players(plan, spec, states, base_state, uses_base)
    check_finite(vectors, "player vectors")
    texts = timeline(plan, spec, states, lengths, child.shape[0], limits.max_timeline)
    check_child(plan.space, limits, players, texts, child.shape[0])
    stats = cross_stats(child, frames, plan.space.reference, share(kstats)) | {"players": player_note}
    progress("encode", 0.8)
    parts = encode_state_parts(child, vectors, space=plan.space.name, players=players, timeline=texts)
    check_header(plan.space, limits, parts[0])
    _check(cancelled)
    return Child(tuple(parts), "", child.shape[0], len(players), stats)
