"""Records <-> wire messages. Pure translation, no rules."""

from __future__ import annotations

import json

from multiverse import jsonsafe
from multiverse.errors import InvalidArgument
from multiverse.records import SnapshotRecord, SpaceRecord, WorldRecord
from multiverse.v1 import common_pb2


def space_to_pb(s: SpaceRecord) -> common_pb2.LatentSpace:
    return common_pb2.LatentSpace(
        name=s.name, frame_shape=list(s.frame_shape), dtype=s.dtype, player_dim=s.player_dim, model=s.model,
        version=s.version, vocab_size=s.vocab_size, max_players=s.max_players,
        reference_json=json.dumps(s.reference, sort_keys=True) if s.reference else "", decoder=s.decoder,
        created_at=s.created_at,
    )


MAX_REFERENCE_JSON = 1 << 20  # a space's reference statistics: per-channel means and deviations, a few KB


def space_from_pb(m: common_pb2.LatentSpace, *, default_max_players: int) -> SpaceRecord:
    reference = (jsonsafe.loads(m.reference_json, field="space.reference_json", max_bytes=MAX_REFERENCE_JSON)
                 if m.reference_json else {})
    if not isinstance(reference, dict):
        raise InvalidArgument("space.reference_json", m.reference_json[:80], "use a JSON object")
    return SpaceRecord(
        name=m.name, frame_shape=tuple(m.frame_shape), dtype=m.dtype, player_dim=m.player_dim, model=m.model,
        version=m.version, vocab_size=m.vocab_size, max_players=m.max_players or default_max_players,
        reference=reference, decoder=m.decoder,
    )


def world_to_pb(w: WorldRecord, heads: dict[str, str] | None = None) -> common_pb2.World:
    return common_pb2.World(name=w.name, space=w.space, owner=w.owner, description=w.description,
                            created_at=w.created_at, heads=heads or {}, visibility=w.visibility,
                            readers=list(w.readers))


def snapshot_to_pb(r: SnapshotRecord) -> common_pb2.Snapshot:
    return common_pb2.Snapshot(
        id=r.id, world=r.world, parents=list(r.parents), state_sha256=r.state, state_size=r.state_size,
        frame_count=r.frame_count, player_count=r.player_count, generation=r.generation, created_at=r.created_at,
        provenance_json=json.dumps(r.provenance, sort_keys=True),
    )
