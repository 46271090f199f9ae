"""Merge quality seen through the tileworld decoder: plausible terrain and latent-norm z-score per operator.

    .venv/bin/python bench/quality_bench.py [--pairs 64] [--picture docs/merge_family.png] [--markdown]

Parents are latent frames of the reference model (``multiverse.tileworld``). Two scenarios:

- *unrelated*: frame i of parent A and of parent B encode maps of two different seeds (two servers' worlds);
  every operator that needs no merge base runs on them (mutate_gaussian on parent A alone);
- *siblings*: a base map and two copies edited by different players (a world that forked); the three-way
  task-vector operators (task arithmetic, TIES, DARE, breadcrumbs) run with the base's latents as base.

For each child: ``plausible`` is the share of decoded tiles whose 3x3 neighbourhood is made of 2x2 tile
patterns seen in generated maps (``tileworld/plausibility.py``: generated maps ~0.99, random tiles < 0.01);
``norm_z`` is the mean z-score of the child frames' L2 norm against the space's reference statistics (mean
and std of the norm of encoded generated maps; 0 = typical, negative = shrunk towards the origin). The
anchor measured in the same run is the parents' own score; ``vs_parents`` is the child's plausibility over it.
Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import merge_kernels
from multiverse.tileworld import (
    decode_latents,
    default_model,
    encode_maps,
    generate_maps,
    plausibility,
    render_png,
)
from multiverse.tileworld.motion import edit_map

SEED0 = 970_000_000  # fresh maps: neither the training pool nor the card's evaluation seeds
TWO_WAY = (
    ("linear", {}),
    ("slerp", {"t": 0.5}),
    ("multislerp", {}),
    ("blend", {}),
    ("sbx", {}),
    ("crossover_kpoint", {}),
    ("crossover_uniform", {"p": 0.5, "unit": "cell"}),
    ("crossover_mask", {"region": [[-1, 0.5, 1.0]]}),
    ("mutate_gaussian", {"sigma": 0.3}),
)
THREE_WAY = (
    ("task_arithmetic", {}),
    ("ties", {"density": 0.5}),
    ("dare_linear", {"density": 0.5}),
    ("breadcrumbs", {"density": 0.9, "gamma": 0.01}),
)


def scores(latents: torch.Tensor, ref: dict) -> dict[str, float]:
    """Plausibility of the decoded frames and the norm z-score of latents (N, C, h, w)."""
    norms = latents.flatten(1).norm(dim=1)
    z = (norms - ref["frame_norm_mean"]) / ref["frame_norm_std"]
    return {"plausible": round(plausibility(decode_latents(latents)), 4), "norm_z": round(float(z.mean()), 3)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--picture", type=Path, default=None, help="write parent | parent | linear | slerp as PNG")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    ref = default_model().card["reference"]
    n = args.pairs

    maps_a = generate_maps(range(SEED0, SEED0 + n))
    maps_b = generate_maps(range(SEED0 + n, SEED0 + 2 * n))
    a, b = encode_maps(maps_a), encode_maps(maps_b)  # (n, C, h, w) each
    rng = np.random.default_rng(7)
    edit = lambda m: edit_map(m, rng, players=6, ticks=96)
    base_maps = generate_maps(range(SEED0 + 2 * n, SEED0 + 3 * n))
    base = encode_maps(base_maps)
    s1 = encode_maps(np.stack([edit(m) for m in base_maps]))
    s2 = encode_maps(np.stack([edit(m) for m in base_maps]))

    rows = [{"operator": "parents (anchor)", "scenario": "unrelated", **scores(torch.cat([a, b]), ref)},
            {"operator": "parents (anchor)", "scenario": "siblings", **scores(torch.cat([s1, s2]), ref)}]
    children = {}
    for op, params in TWO_WAY:
        parents = [a] if merge_kernels.get_operator(op).describe()["max_parents"] == 1 else [a, b]
        children[op] = merge_kernels.apply(op, parents, params=params, seed=1)
        rows.append({"operator": op, "scenario": "unrelated", **scores(children[op], ref)})
    for op, params in THREE_WAY:
        child = merge_kernels.apply(op, [s1, s2], base=base, params=params, seed=1)
        rows.append({"operator": op, "scenario": "siblings", **scores(child, ref)})
    anchors = {r["scenario"]: r["plausible"] for r in rows[:2]}
    for r in rows:
        r["vs_parents"] = round(r["plausible"] / max(anchors[r["scenario"]], 1e-9), 3)

    if args.picture:
        i = 0  # the first pair, not a chosen one
        strip = np.stack([maps_a[i], maps_b[i], decode_latents(children["linear"][i : i + 1])[0],
                          decode_latents(children["slerp"][i : i + 1])[0]])
        args.picture.parent.mkdir(parents=True, exist_ok=True)
        render_png(strip, args.picture, scale=4)
    if args.markdown:
        print("| operator | scenario | plausible terrain | vs parents | latent norm z |")
        print("|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['operator']} | {r['scenario']} | {r['plausible']:.3f} | {r['vs_parents']:.3f} | {r['norm_z']:+.2f} |")
    by_op = {r["operator"]: r for r in rows}
    report = {
        "bench": "tileworld_merge_quality",
        "pairs": n,
        "seconds": round(time.perf_counter() - started, 1),
        "anchor_parents": anchors,
        "linear_vs_slerp": {op: {k: by_op[op][k] for k in ("plausible", "norm_z")} for op in ("linear", "slerp")},
        "rows": rows,
    }
    print(json.dumps(report, separators=(",", ":")))
    return report


if __name__ == "__main__":
    main()
