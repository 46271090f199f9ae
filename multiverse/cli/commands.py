"""The CLI's store, crossing and rarity commands (and ``sim``), each a function of its parsed arguments."""

from __future__ import annotations

import argparse
import json
import sys
import time

from multiverse import errors
from multiverse.cli.connect import client as _client
from multiverse.cli.connect import show as _print


def sim(a: argparse.Namespace) -> None:
    """Run a simulated game server against the service."""
    from multiverse.demo.sim import SimConfig, run_sim

    cfg = SimConfig(server=a.server, ticks=a.ticks, seed=a.seed, players=a.players, strange=a.strange,
                    save_every=a.save_every, tick_seconds=a.tick_seconds, world=a.world)
    with _client(a) as client:
        result = run_sim(client, cfg, log=lambda line: print(line, flush=True))
    print(f"{result.world}: {result.ticks} ticks, {len(result.snapshots)} snapshots, head {result.snapshots[-1]}")


def rare(a: argparse.Namespace, client=None) -> None:
    """Print the rarest scored vectors, each with its snapshot's full id (what `claim` takes). ``client``: one made
    already (signed in as a wallet: `rare --wallet-key`), else one for the command's key."""
    page = (client or _client(a)).top_rare(a.space, kind=a.kind, tier=a.tier, world=a.world, limit=a.limit)
    if not page.items:
        where = "".join(f" {w}" for w in (f"in tier {a.tier}" if a.tier else "", f"in world {a.world}" if a.world else ""))
        print(f"no {a.kind} vectors scored yet{where}: games save states (`multiverse sim`), and rarity scores them "
              "within seconds")
    for s in page.items:
        print(f"{rank(s)}  score {s.score:8.4f}  {s.id.snapshot} {s.id.kind}[{s.id.index}]"
              f"  world {s.world}{'  uncharted' if s.uncharted else ''}  (N={s.n}, {s.index_version}, {s.calibration_version})")


def rank(s) -> str:
    """A score's tier and percentile with its interval: ``rare? 98.900% [98.1, 99.4]``; the ``?`` when the interval
    straddles a tier boundary (the tier may change as the population grows or the index is rebuilt)."""
    tier = s.tier + ("?" if s.tier_uncertain else "")
    return f"{tier:<10} {s.percentile:8.3f}% [{s.percentile_low:.1f}, {s.percentile_high:.1f}]"


def rarity_of(a: argparse.Namespace) -> None:
    """Print one stored vector's score, its interval and its explanation: the nearest stored vectors, the values
    that differ most from them and, for a frame, a heat map of its spatial cells."""
    s = _client(a).rarity_of(a.snapshot, a.kind, a.index)
    print(f"{rank(s)}  score {s.score:.4f}  {s.id.snapshot} {s.id.kind}[{s.id.index}]  world {s.world}"
          f"{'  uncharted' if s.uncharted else ''}  (N={s.n}, {s.index_version}, {s.calibration_version})")
    e = s.explanation
    if not e.neighbors:
        print("no neighbours yet: nothing to compare it with")
        return
    print(f"nearest {len(e.neighbors)}:")
    for i, n in enumerate(e.neighbors, 1):
        copies = f"  ({n.copies} copies)" if n.copies > 1 else ""
        print(f"  {i:>2}. {n.id.snapshot} {n.id.kind}[{n.id.index}]  distance {n.distance:.4f}{copies}")
    what = "z against the neighbours" if e.basis == "raw" else "share of neighbours holding another token"
    print(f"differs most ({what}):")
    for d in e.dimensions:
        where = ",".join(str(p) for p in d.position)
        if e.basis == "raw":
            print(f"  [{where}]  value {d.value:.4g}  neighbours {d.mean:.4g} +- {d.std:.3g}  z {d.z:+.2f}")
        else:
            print(f"  [{where}]  token {d.value:.0f}  neighbours mostly {d.mean:.0f}  share {d.z:.2f}")
    if e.HasField("cells"):
        c = e.cells
        hot = max(range(len(c.values)), key=c.values.__getitem__)
        print(f"cells ({c.rows}x{c.cols} of the frame, root mean square; hottest row {hot // c.cols}, column "
              f"{hot % c.cols}):")
        for r in range(c.rows):
            print("  " + " ".join(f"{v:5.1f}" for v in c.values[r * c.cols:(r + 1) * c.cols]))


def space_register(a: argparse.Namespace) -> None:
    """Register a latent space."""
    try:
        shape = tuple(int(d) for d in a.frame_shape.split(","))
    except ValueError:
        raise errors.InvalidArgument("--frame-shape", a.frame_shape, "use comma-separated sizes such as 16,18,32") from None
    space = _client(a).register_space(a.name, shape, a.dtype, a.player_dim, vocab_size=a.vocab_size,
                                      max_players=a.max_players, model=a.model, version=a.model_version)
    _print(space)


def synth(a: argparse.Namespace) -> None:
    """Write a valid synthetic state for a space."""
    from multiverse.records import SpaceRecord
    from multiverse.state.synth import synth_state

    s = _client(a).get_space(a.space)
    space = SpaceRecord(s.name, tuple(s.frame_shape), s.dtype, s.player_dim, vocab_size=s.vocab_size)
    data = synth_state(space, frames=a.frames, players=a.players, seed=a.seed)
    a.file.write_bytes(data)
    print(f"wrote {a.file} ({len(data) / 1e6:.1f} MB, {a.frames} frames, {a.players} players)")


def save(a: argparse.Namespace) -> None:
    """Save a state file; print the snapshot id."""
    from multiverse.client import AUTO

    expected = AUTO if a.expected_parent is None else a.expected_parent
    started = time.perf_counter()
    reply = _client(a).save_snapshot(a.world, a.file, expected_parent=expected, head=a.head,
                                     idempotency_key=a.idempotency_key, progress=_progress("saving", started))
    _done(reply.snapshot.state_size, started, "saved")
    print(reply.snapshot.id)


def load(a: argparse.Namespace) -> None:
    """Load a snapshot into a file; print its id."""
    started = time.perf_counter()
    snapshot, _ = _client(a).load_snapshot(a.ref, a.file, progress=_progress("loading", started))
    _done(snapshot.state_size, started, "loaded")
    print(snapshot.id)


def log(a: argparse.Namespace) -> None:
    """Print a world's history, newest first."""
    for i, s in enumerate(_client(a).log(a.ref)):
        if i >= a.limit:
            break
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created_at))
        parents = ",".join(p[:12] for p in s.parents) or "-"
        print(f"{s.id[:12]}  {when}  {s.world:<20} gen {s.generation:<5} frames {s.frame_count:<6} parents {parents}")


def cross(a: argparse.Namespace) -> None:
    """Cross states into a new world (or preview it)."""
    params = {}
    for item in a.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise errors.InvalidArgument("--param", item, "write KEY=VALUE, e.g. --param density=0.3")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
    pipeline = None
    if a.pipeline:
        try:
            pipeline = json.loads(a.pipeline)
        except json.JSONDecodeError as exc:
            raise errors.InvalidArgument("--pipeline", a.pipeline[:60], f"use JSON ({exc})") from None
    kw = {"name": a.name, "op": a.op, "params": params, "pipeline": pipeline, "seed": a.seed, "align": a.align,
          "frames": a.frames, "player_policy": a.player_policy, "base": a.base}
    client = _client(a)
    if a.preview:
        p = client.preview_cross(a.refs, **kw)
        print(f"preview {a.name}\nstate {p.state_sha256}\nbase {p.base or '-'}\nframes {p.frame_count} players {p.player_count}")
        print(f"stats {p.stats.json}")
        return
    shown = _progress_line("crossing")
    r = client.cross(a.refs, owner=a.owner, progress=shown, **kw)
    print(f"world {r.world.name} (space {r.world.space}){'' if r.created else ' (existing: same recipe)'}")
    print(f"snapshot {r.snapshot.id}")
    print(f"state {r.snapshot.state_sha256}")
    print(f"recipe {r.recipe_sha256}")
    print(f"stats {r.stats.json}")


def operators(a: argparse.Namespace) -> None:
    """Print the merge and crossover operators."""
    for o in _client(a).list_operators():
        params = ", ".join(f"{p.name}{'=' + p.default_json if p.default_json != 'null' else ''} {p.allowed}" for p in o.params)
        print(f"{o.name:<18} {o.family:<12} base {o.base:<8} {o.summary}")
        if params:
            print(f"{'':<18} params: {params}")


def _progress_line(verb: str):
    def show(stage: str, fraction: float) -> None:
        if sys.stderr.isatty():
            print(f"\r{verb}: {stage:<8} {100 * fraction:5.1f}%", end="", file=sys.stderr, flush=True)

    return show


def _progress(verb: str, started: float):
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.perf_counter()
        if sys.stderr.isatty() and (now - last[0] > 0.2 or done == total):
            last[0] = now
            rate = done / max(now - started, 1e-9) / 1e6
            print(f"\r{verb} {done / 1e6:8.1f} / {total / 1e6:.1f} MB  {rate:7.1f} MB/s", end="", file=sys.stderr, flush=True)

    return show


def _done(size: int, started: float, verb: str) -> None:
    seconds = time.perf_counter() - started
    end = "\n" if sys.stderr.isatty() else ""
    print(f"{end}{verb} {size / 1e6:.1f} MB in {seconds:.2f} s ({size / 1e6 / max(seconds, 1e-9):.0f} MB/s)", file=sys.stderr)
