"""Train the tileworld VAE on the CPU, seeded, and write ``weights.safetensors`` + ``weights.json``.

    python -m multiverse.tileworld.train --seed 0 --steps 2000 --out multiverse/tileworld/weights.safetensors

Data: a pool of large generated regions; each batch is random 32x32 crops (a crop of a region is
distributed exactly like a generated map), each turned by a random symmetry of the square, half of them
with simulated player edits. Evaluation uses maps from seeds the pool never touches (``EVAL_SEED0 + i``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from .latents import MODEL_NAME, MODEL_VERSION, SPACE_NAME, WEIGHTS_PATH
from .model import TileVAE, VAEConfig, vae_loss
from .motion import edit_map
from .plausibility import collect_patterns, plausibility
from .terrain import generate_maps, generate_region
from .tiles import NUM_TILES

EVAL_SEED0 = 900_000_000  # held-out maps: seeds EVAL_SEED0 .. EVAL_SEED0 + eval_maps - 1
_POOL_SEED_RANGE = 100_000_000  # pool regions draw their seeds below this


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 0
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    beta: float = 0.05  # weight of the KL term (nats per tile)
    regions: int = 48  # pool of generated regions ...
    region_size: int = 96  # ... of region_size x region_size tiles
    edit_prob: float = 0.5  # share of training maps with player edits
    eval_maps: int = 256
    hidden: int = 32
    latent_channels: int = 8
    map_size: int = 32
    threads: int = 1  # the machines are shared: one thread


def make_pool(cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Generated regions for training: uint8 (R, S, S)."""
    seeds = rng.integers(0, _POOL_SEED_RANGE, cfg.regions)
    return np.stack([generate_region(int(s), cfg.region_size, cfg.region_size) for s in seeds])


def sample_batch(pool: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    """Random crops of the pool, turned and flipped, some edited by players: uint8 (B, H, W)."""
    n, side = cfg.batch_size, cfg.map_size
    r = rng.integers(0, len(pool), n)
    y = rng.integers(0, pool.shape[1] - side + 1, n)
    x = rng.integers(0, pool.shape[2] - side + 1, n)
    out = []
    for i in range(n):
        crop = np.rot90(pool[r[i], y[i] : y[i] + side, x[i] : x[i] + side], k=int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if rng.random() < cfg.edit_prob:
            crop = edit_map(crop, rng, players=int(rng.integers(1, 6)), ticks=int(rng.integers(4, 48)))
        out.append(np.ascontiguousarray(crop))
    return np.stack(out)


@torch.inference_mode()
def accuracy(vae: TileVAE, maps: np.ndarray) -> float:
    """Share of tiles that survive encode (posterior mean) -> decode -> argmax; maps (N, H, W)."""
    tiles = torch.as_tensor(maps).long()
    pred = vae.decode(vae.encode(tiles)[0]).argmax(dim=1)
    return float((pred == tiles).float().mean())


def latent_stats(latents: torch.Tensor) -> dict[str, Any]:
    """Reference statistics of latent frames (N, C, h, w): per-channel mean/std, frame L2 norm mean/std."""
    per_channel = latents.transpose(0, 1).reshape(latents.shape[1], -1)  # (C, N*h*w)
    norms = latents.flatten(1).norm(dim=1)  # (N,)
    return {
        "channel_mean": [round(float(v), 6) for v in per_channel.mean(dim=1)],
        "channel_std": [round(float(v), 6) for v in per_channel.std(dim=1)],
        "frame_norm_mean": round(float(norms.mean()), 6),
        "frame_norm_std": round(float(norms.std()), 6),
        "frames": int(latents.shape[0]),
    }


def _lr(cfg: TrainConfig, step: int) -> float:
    warm = min(1.0, (step + 1) / 50)
    return cfg.lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, cfg.steps))))


def train(cfg: TrainConfig, log: Callable[[str], None] = print) -> tuple[TileVAE, dict[str, Any]]:
    """Train a VAE from scratch; returns the model (eval mode) and its card, without ``weights_sha256``."""
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng([0x7EA1, cfg.seed])
    noise = torch.Generator().manual_seed(cfg.seed)
    started = time.perf_counter()
    pool = make_pool(cfg, rng)
    log(f"pool: {cfg.regions} regions of {cfg.region_size}^2 in {time.perf_counter() - started:.1f}s")
    vae = TileVAE(VAEConfig(NUM_TILES, cfg.latent_channels, cfg.hidden, cfg.map_size))
    opt = torch.optim.AdamW(vae.parameters(), lr=cfg.lr, weight_decay=1e-4)
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)
        tiles = torch.as_tensor(sample_batch(pool, cfg, rng)).long()  # (B, H, W)
        logits, mu, logvar = vae(tiles, generator=noise)
        loss, parts = vae_loss(logits, tiles, mu, logvar, cfg.beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 250 == 0 or step == cfg.steps - 1:
            log(f"step {step}: loss {float(loss.detach()):.4f} ce {parts['ce']:.4f} kl/tile {parts['kl_per_tile']:.3f}")
    vae.eval()
    train_seconds = time.perf_counter() - started
    card = evaluate(vae, cfg, pool, rng)
    card.update(train_seconds=round(train_seconds, 1), train_config=asdict(cfg))
    log(f"accuracy {card['accuracy']:.4f} (edited {card['accuracy_edited']:.4f}) in {train_seconds:.0f}s")
    return vae, card


@torch.inference_mode()
def evaluate(vae: TileVAE, cfg: TrainConfig, pool: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """The card: accuracy on held-out maps, latent reference statistics, 2x2 patterns and plausibility."""
    maps = generate_maps(range(EVAL_SEED0, EVAL_SEED0 + cfg.eval_maps), cfg.map_size)  # (N, H, W)
    edited = np.stack([edit_map(m, rng, players=3, ticks=24) for m in maps])
    side = pool.shape[1]
    busy = [edit_map(r, rng, players=max(1, side * side // 256), ticks=4 * side) for r in pool]
    patterns = collect_patterns(np.concatenate([pool, np.stack(busy)]))
    latents = vae.encode(torch.as_tensor(maps).long())[0]  # (N, C, h, w)
    half = len(latents) // 2
    mid = 0.5 * (latents[:half] + latents[half : 2 * half])  # lerp midpoints of pairs of worlds
    decode = lambda z: vae.decode(z).argmax(dim=1).numpy()
    random_tiles = np.random.default_rng(cfg.seed).integers(0, NUM_TILES, maps.shape)
    return {
        "name": SPACE_NAME,
        "model": MODEL_NAME,
        "version": MODEL_VERSION,
        "config": VAEConfig(NUM_TILES, cfg.latent_channels, cfg.hidden, cfg.map_size).to_dict(),
        "seed": cfg.seed,
        "steps": cfg.steps,
        "accuracy": round(accuracy(vae, maps), 5),
        "accuracy_edited": round(accuracy(vae, edited), 5),
        "eval_seeds": [EVAL_SEED0, cfg.eval_maps],
        "reference": latent_stats(latents),
        "plausibility": {
            "generated": round(plausibility(maps, patterns), 5),
            "decoded": round(plausibility(decode(latents), patterns), 5),
            "lerp_midpoint": round(plausibility(decode(mid), patterns), 5) if half else None,
            "random_tiles": round(plausibility(random_tiles, patterns), 5),
        },
        "patterns_2x2": [int(p) for p in patterns],
    }


def save(vae: TileVAE, card: dict[str, Any], out: str | Path) -> dict[str, Any]:
    """Write ``out`` (safetensors) and the card beside it (``.json``); returns the card with the sha256."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous() for k, v in vae.state_dict().items()}
    # One metadata key: safetensors writes a map's keys in no fixed order, and the sha256 must be stable.
    meta = json.dumps({"name": SPACE_NAME, "config": card["config"]}, sort_keys=True)
    save_file(tensors, str(out), metadata={"tileworld": meta})
    card = {**card, "weights_sha256": hashlib.sha256(out.read_bytes()).hexdigest(), "weights_bytes": out.stat().st_size}
    patterns = card.pop("patterns_2x2")
    text = json.dumps(card, indent=1, sort_keys=True)
    # Patterns last and on one line, so the card stays readable.
    out.with_suffix(".json").write_text(text[:-2] + f',\n "patterns_2x2": {json.dumps(patterns)}\n}}\n')
    return {**card, "patterns_2x2": patterns}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--beta", type=float, default=TrainConfig.beta)
    parser.add_argument("--out", default=str(WEIGHTS_PATH))
    args = parser.parse_args(argv)
    vae, card = train(TrainConfig(seed=args.seed, steps=args.steps, beta=args.beta))
    card = save(vae, card, args.out)
    print(json.dumps({k: card[k] for k in ("accuracy", "accuracy_edited", "plausibility", "weights_bytes")}))


if __name__ == "__main__":
    main()
