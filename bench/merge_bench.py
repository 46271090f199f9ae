"""Benchmark of merge_kernels against the machine's memory bandwidth and a mergekit-style reference.

Runs every operator on 2 and on 4 float32 parents of --mb MiB each ([T, 16, 32, 32] latents,
64 KiB per frame), and in the same run measures:
  * STREAM-style add: torch.add(a, b, out=c) on tensors of the same size (12 bytes per element);
  * a reference written the way mergekit does it: TIES with a full argsort top-k per task and
    stacked [K, ...] temporaries; DARE with masks from torch.bernoulli on the global RNG.
Each operator writes into a preallocated output (as STREAM's c). Effective GB/s = (bytes that
must be read + written) / best time: e.g. (K + 1) * size for linear, (K + 2) * size for the
task-vector merges (parents, base, output), 2 * size for k-point and region crossover (each output
element reads one parent). The reference runs on the first --ref-fraction of the frames and its
time is scaled up linearly (argsort is n log n, so this understates the reference: the speed-up
is conservative).

The last line is JSON: per parent count and operator, seconds, gbps, ratio_stream and (TIES,
DARE) speedup_vs_ref, plus the targets and whether each is met.

    python bench/merge_bench.py            # 256 MiB per parent (needs ~2.5 GB RAM, a few minutes)
    python bench/merge_bench.py --quick    # 8 MiB per parent, one repeat: a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import merge_kernels as mk
from merge_kernels import fused

FRAME = (16, 32, 32)

# operator name in the report -> (operator, params, parents it takes (None: all), bytes per element / 4)
CASES = {
    "linear": ("linear", {}, None, lambda k: k + 1),
    "slerp": ("slerp", {"t": 0.3}, 2, lambda k: 3),
    "multislerp": ("multislerp", {}, None, lambda k: k + 1),
    "task_arithmetic": ("task_arithmetic", {}, None, lambda k: k + 2),
    "ties": ("ties", {"density": 0.2}, None, lambda k: k + 2),
    "dare_linear": ("dare_linear", {"density": 0.5}, None, lambda k: k + 2),
    "dare_ties": ("dare_ties", {"density": 0.5}, None, lambda k: k + 2),
    "breadcrumbs": ("breadcrumbs", {"density": 0.8, "gamma": 0.01}, None, lambda k: k + 2),
    "crossover_kpoint": ("crossover_kpoint", {"k": 3}, None, lambda k: 2),
    "crossover_uniform_element": ("crossover_uniform", {"unit": "element"}, None, lambda k: k + 1),
    "crossover_uniform_cell": ("crossover_uniform", {"unit": "cell", "channel_axis": 1}, None, lambda k: k + 1),
    "crossover_mask_region": ("crossover_mask", {"region": [[-1, 0.5, 1.0]]}, 2, lambda k: 2),
    "blend": ("blend", {"alpha": 0.5}, 2, lambda k: 3),
    "sbx": ("sbx", {"eta": 15.0}, 2, lambda k: 3),
    "mutate_gaussian": ("mutate_gaussian", {"sigma": 0.01, "p": 0.5}, 1, lambda k: 2),
}

TARGETS = {
    "stream_ratio_0.7": ["linear", "slerp", "crossover_kpoint", "crossover_uniform_element",
                         "crossover_uniform_cell", "crossover_mask_region"],
    "stream_ratio_0.25_and_speedup_10x": ["ties", "dare_linear", "dare_ties"],
}


def best_time(fn, repeats: int, warm: bool = True) -> float:
    """Best wall time of ``repeats`` runs, after one untimed warm-up run (``warm``: CUDA context and
    kernels, numba's compiled loops loaded from its cache); on CUDA each run is synchronised."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    if warm:
        fn()
        if cuda:
            torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


# -- mergekit-style reference (argsort top-k, stacked temporaries, global RNG) --------------------

def ref_magnitude(tensor: torch.Tensor, density: float) -> torch.Tensor:
    k = int(density * tensor.numel())
    mask = torch.zeros_like(tensor)
    w = tensor.abs().view(-1)
    topk = torch.argsort(w, descending=True)[:k]
    mask.view(-1)[topk] = 1
    return tensor * mask


def ref_bernoulli(tensor: torch.Tensor, density: float) -> torch.Tensor:
    mask = torch.bernoulli(torch.full_like(input=tensor, fill_value=density))
    return tensor * mask / density


def ref_gta(xs, base, sparsify, density, consensus: bool, normalize: bool) -> torch.Tensor:
    deltas = torch.stack([sparsify(x - base, density) for x in xs], dim=0)
    weights = torch.ones(len(xs), dtype=deltas.dtype, device=deltas.device).view((-1,) + (1,) * base.dim())
    weighted = deltas * weights
    if consensus:
        sign = weighted.sign()
        majority = (weighted.sum(dim=0) >= 0).to(base.dtype) * 2 - 1
        mask = sign == majority
        mixed = (weighted * mask).sum(dim=0)
        divisor = (weights * mask).sum(dim=0)
        divisor[divisor == 0] = 1
    else:
        mixed = weighted.sum(dim=0)
        divisor = weights.sum(dim=0)
    if normalize:
        mixed /= divisor
    return base + mixed


REFERENCES = {
    "ties": lambda xs, b: ref_gta(xs, b, ref_magnitude, 0.2, True, True),
    "dare_linear": lambda xs, b: ref_gta(xs, b, ref_bernoulli, 0.5, False, False),
    "dare_ties": lambda xs, b: ref_gta(xs, b, ref_bernoulli, 0.5, True, False),
}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=256, help="MiB per parent (default 256)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 8 MiB per parent, 1 repeat")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per case; the best counts")
    ap.add_argument("--ref-fraction", type=float, default=0.25, help="share of frames the reference runs on")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--ops", default="", help="comma-separated subset of cases")
    ap.add_argument("--parents", default="2,4", help="parent counts to run")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where the tensors live (and so where they merge)")
    args = ap.parse_args(argv)
    if args.quick:
        args.mb, args.repeats = min(args.mb, 8), 1
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [c for c in CASES if not args.ops or c in args.ops.split(",")]
    counts = [int(k) for k in args.parents.split(",")]
    T = max(2, args.mb * 1024 * 1024 // (4 * FRAME[0] * FRAME[1] * FRAME[2]))
    shape = (T,) + FRAME
    nbytes = 4 * T * FRAME[0] * FRAME[1] * FRAME[2]
    g = torch.Generator().manual_seed(0)
    base = torch.randn(shape, generator=g).to(args.device)
    parents = [base + 0.5 * torch.randn(shape, generator=g).to(args.device) for _ in range(max(counts))]
    out = torch.empty(shape, device=args.device)
    device = torch.cuda.get_device_name() if base.is_cuda else "cpu"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"merge_bench: {len(parents)} parents of {nbytes / 2**20:.0f} MiB {tuple(shape)} float32, "
          f"on {device}, torch threads {torch.get_num_threads()}, load average {load}", flush=True)

    stream_s = best_time(lambda: torch.add(parents[0], parents[1], out=out), max(args.repeats, 2))
    stream_gbps = 3 * nbytes / stream_s / 1e9
    print(f"STREAM add: {stream_gbps:.2f} GB/s ({stream_s * 1e3:.1f} ms)", flush=True)

    results: dict = {}
    for k in counts:
        row = results.setdefault(str(k), {})
        for name in cases:
            op, params, takes, bytes_per = CASES[name]
            ins = parents[:takes] if takes else parents[:k]
            if takes and k != counts[0] and takes < k:
                continue  # two-parent (or one-input) operators are measured once
            spec = mk.get_operator(op)
            b = base if spec.needs_base else None

            def run(op=op, ins=ins, b=b, params=params):
                mk.apply(op, ins, base=b, params=params, seed=1, out=out)

            s = best_time(run, args.repeats)
            moved = bytes_per(len(ins)) * nbytes
            entry = {"parents": len(ins), "seconds": round(s, 4), "gbps": round(moved / s / 1e9, 2),
                     "ratio_stream": round(moved / s / 1e9 / stream_gbps, 3)}
            if name in REFERENCES:
                tf = max(1, int(T * args.ref_fraction))
                sub = [x[:tf] for x in ins]
                rs = best_time(lambda name=name, sub=sub, tf=tf: REFERENCES[name](sub, base[:tf]), 1, warm=False) * (T / tf)
                entry["ref_seconds_scaled"] = round(rs, 3)
                entry["speedup_vs_ref"] = round(rs / s, 1)
            row[name] = entry
            print(f"  K={len(ins)} {name:27s} {s * 1e3:9.1f} ms {entry['gbps']:7.2f} GB/s "
                  f"x{entry['ratio_stream']:.2f} STREAM" +
                  (f"  {entry['speedup_vs_ref']}x vs mergekit-style ref" if "speedup_vs_ref" in entry else ""),
                  flush=True)

    met = {}
    for k, row in results.items():
        for name in TARGETS["stream_ratio_0.7"]:
            if name in row:
                met[f"{name}@{k}"] = row[name]["ratio_stream"] >= 0.7
        for name in TARGETS["stream_ratio_0.25_and_speedup_10x"]:
            if name in row:
                met[f"{name}@{k}"] = row[name]["ratio_stream"] >= 0.25 and row[name].get("speedup_vs_ref", 0) >= 10
    report = {
        "bench": "merge_kernels",
        "mb_per_parent": round(nbytes / 2 ** 20, 1),
        "shape": list(shape),
        "device": device,
        "threads": torch.get_num_threads(),
        "fused_cpu_loops": f"numba {fused.numba.__version__}" if fused.numba is not None and device == "cpu" else None,
        "load_average": load,
        "stream_add_gbps": round(stream_gbps, 2),
        "ref_fraction": args.ref_fraction,
        "results": results,
        "targets": {"linear/slerp/crossover": ">= 0.7 x STREAM add",
                    "ties/dare": ">= 0.25 x STREAM add and >= 10x mergekit-style reference"},
        "targets_met": met,
        "all_targets_met": all(met.values()) if met else None,
    }
    print(json.dumps(report, separators=(",", ":")))
    return report


if __name__ == "__main__":
    main()
