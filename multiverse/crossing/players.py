"""The child's players when worlds cross: the union of the parents' players by uuid.

Vectors: players present in every parent (and in the base, when the pipeline needs one) are merged by the
same pipeline as the frames, stacked as [P, D] (one row per player); when the pipeline's parameters are tied
to the frame layout (an explicit mask, cut points past P) or a player is missing somewhere, the player policy
picks one parent's vector instead (prefer-second: the second parent holding the player; otherwise the first).
Stats: a three-way merge against the base's record of the player (multiverse.crossing.player_merge).
"""

from __future__ import annotations

from typing import Any

import torch

import merge_kernels as mk
from multiverse.crossing.plan import CrossSpec, Plan
from multiverse.crossing.player_merge import merge_player, union_players


def merge_players(plan: Plan, spec: CrossSpec, states: list, base_state: Any, uses_base: bool
                  ) -> tuple[list[dict[str, Any]], torch.Tensor, str]:
    """Returns (players, vectors [P, D], a note on how the shared players' vectors were merged)."""
    records = [info.players for _, info in states]
    vectors = [t["players"] for t, _ in states]
    index = [{p["uuid"]: i for i, p in enumerate(players)} for players in records]
    base_index = {p["uuid"]: i for i, p in enumerate(base_state[1].players)} if base_state else {}
    union = union_players(records)
    k = len(states)
    merged_by_pipeline = [u for u, ks in union if len(ks) == k and (not uses_base or u in base_index)]
    dtype = vectors[0].dtype if len({v.dtype for v in vectors}) == 1 else torch.float32
    rows: dict[str, torch.Tensor] = {}
    note = "no player is in every parent"
    if merged_by_pipeline:
        stacked = [torch.stack([vectors[j][index[j][u]] for u in merged_by_pipeline]).to(dtype) for j in range(k)]
        base = None
        if uses_base:
            base = torch.stack([base_state[0]["players"][base_index[u]] for u in merged_by_pipeline]).to(dtype)
        try:
            out = plan.pipeline.run(stacked, base=base, seed=spec.seed)
            rows.update({u: out[i] for i, u in enumerate(merged_by_pipeline)})
            note = f"{len(merged_by_pipeline)} shared players merged by the pipeline"
        except mk.ParameterError as exc:
            note = f"shared players picked by {spec.player_policy}: the pipeline does not apply to player vectors ({exc})"
    players, out_rows = [], []
    for uuid, ks in union:
        base_record = base_state[1].players[base_index[uuid]] if uuid in base_index else None
        players.append(merge_player([records[j][index[j][uuid]] for j in ks], base_record, spec.player_policy))
        if uuid not in rows:
            j = ks[1] if spec.player_policy == "prefer-second" and len(ks) > 1 else ks[0]
            rows[uuid] = vectors[j][index[j][uuid]].to(dtype)
        out_rows.append(rows[uuid])
    dim = vectors[0].shape[1]
    return players, torch.stack(out_rows) if out_rows else torch.zeros((0, dim), dtype=dtype), note
