"""`multiverse`: the command line, built on multiverse.client (and, for `up`, on the embedded stack).

Client commands reach the service at --grpc HOST:PORT or $MULTIVERSE_GRPC (default localhost:50051) with the
key from --key, $MULTIVERSE_KEY, or <data dir>/admin.key when neither is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from multiverse import errors

DEFAULT_GRPC = "localhost:50051"
STOP_GRACE_S = 3.0  # what calls in flight get to finish when `multiverse up` stops


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except errors.MultiverseError as exc:
        code = getattr(exc, "code", None)
        print(f"error: {exc.message}" + (f" [{code.name}]" if code else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _global_options(p: argparse.ArgumentParser, default: object = None) -> None:
    p.add_argument("--grpc", default=default, help=f"service address (default $MULTIVERSE_GRPC or {DEFAULT_GRPC})")
    p.add_argument("--key", default=default, help="API key (default $MULTIVERSE_KEY or <data dir>/admin.key)")
    p.add_argument("--data", default=default, type=Path, help="data directory (default $MULTIVERSE_DATA or ./data)")
    p.add_argument("--tls-ca", default=default, metavar="PEM",
                   help="connect over TLS trusting this CA (default $MULTIVERSE_TLS_CA; --tls: the system's roots)")
    p.add_argument("--tls", default=default, action="store_true", help="connect over TLS (the system's roots)")
    p.add_argument("--tls-client-cert", default=default, metavar="PEM",
                   help="client certificate for mutual TLS (default $MULTIVERSE_TLS_CLIENT_CERT)")
    p.add_argument("--tls-client-key", default=default, metavar="PEM",
                   help="its private key (default $MULTIVERSE_TLS_CLIENT_KEY)")


def _every_command(p: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every (sub)command below ``p`` that takes no further subcommand."""
    found: dict[int, argparse.ArgumentParser] = {}
    for action in p._actions:  # argparse has no public walk over subparsers
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                for leaf in _every_command(child) or [child]:
                    found[id(leaf)] = leaf
    return list(found.values())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="multiverse", description="Latent-state store and multiverse merge engine")
    _global_options(p)
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the embedded stack in the foreground")
    up.add_argument("--db", default=None, help="metadata URL (default: SQLite in the data dir)")
    up.add_argument("--blobs", default=None, help="blob store: a directory or s3://bucket/prefix?endpoint=host:port")
    up.add_argument("--no-demo", action="store_true", help="do not start the simulated game servers")
    up.add_argument("--tls-cert", default=None, metavar="PEM",
                    help="serve TLS with this certificate chain (default $MULTIVERSE_TLS_CERT; none: plaintext)")
    up.add_argument("--tls-key", default=None, metavar="PEM", help="its private key (default $MULTIVERSE_TLS_KEY)")
    up.add_argument("--tls-client-ca", default=None, metavar="PEM",
                    help="mutual TLS: require client certificates signed by this CA (default $MULTIVERSE_TLS_CLIENT_CA)")
    up.set_defaults(run=_up)

    space = sub.add_parser("space", help="latent spaces").add_subparsers(required=True, metavar="ACTION")
    reg = space.add_parser("register", help="register a latent space (admin)")
    reg.add_argument("name")
    reg.add_argument("--frame-shape", required=True, help="shape of one frame, e.g. 16,18,32")
    reg.add_argument("--dtype", required=True, help="float16 | bfloat16 | float32 | uint16 | int32 ...")
    reg.add_argument("--player-dim", required=True, type=int)
    reg.add_argument("--vocab-size", type=int, default=0)
    reg.add_argument("--max-players", type=int, default=0)
    reg.add_argument("--model", default="")
    reg.add_argument("--model-version", default="")
    reg.set_defaults(run=_space_register)
    get = space.add_parser("get", help="show a latent space")
    get.add_argument("name")
    get.set_defaults(run=lambda a: _print(_client(a).get_space(a.name)))

    from multiverse.cli_world import add_world_commands  # create, get, list, share (who may read a world)

    add_world_commands(sub, _client, _print)

    snap = sub.add_parser("snapshot", help="snapshots").add_subparsers(required=True, metavar="ACTION")
    synth = snap.add_parser("synth", help="write a valid synthetic snapshot file for a space")
    synth.add_argument("file", type=Path)
    synth.add_argument("--space", required=True)
    synth.add_argument("--frames", type=int, required=True)
    synth.add_argument("--players", type=int, default=2)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(run=_synth)
    save = snap.add_parser("save", help="save a snapshot file to a world; prints the snapshot id")
    save.add_argument("world")
    save.add_argument("file", type=Path)
    save.add_argument("--head", default="main")
    save.add_argument("--expected-parent", default=None, help="default: the current head")
    save.add_argument("--idempotency-key", default=None)
    save.set_defaults(run=_save)
    load = snap.add_parser("load", help="load a snapshot (id, world or world@head) into a file")
    load.add_argument("ref")
    load.add_argument("file", type=Path)
    load.set_defaults(run=_load)
    sget = snap.add_parser("get", help="show a snapshot's record")
    sget.add_argument("ref")
    sget.set_defaults(run=lambda a: _print(_client(a).get_snapshot(a.ref)))

    log = sub.add_parser("log", help="a world's (or snapshot's) history, newest first")
    log.add_argument("ref")
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(run=_log)
    heads = sub.add_parser("heads", help="a world's heads")
    heads.add_argument("world")
    heads.set_defaults(run=lambda a: print(json.dumps(_client(a).heads(a.world), indent=2)))

    cross = sub.add_parser("cross", help="spawn a new world by crossing two or more states (admin)")
    cross.add_argument("refs", nargs="+", metavar="REF", help="snapshot id, world or world@head (two or more)")
    cross.add_argument("--op", default="", help="operator (see `multiverse operators`)")
    cross.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="operator parameter (JSON value)")
    cross.add_argument("--pipeline", default="", help='a whole pipeline as JSON: {"steps": [{"op": ..., "params": {...}}]}')
    cross.add_argument("--seed", type=int, default=0)
    cross.add_argument("--name", required=True, help="the new world's name")
    cross.add_argument("--align", default="", help="last_n | truncate | resample, for different frame counts")
    cross.add_argument("--frames", type=int, default=0, help="frames after alignment (default: shortest/longest)")
    cross.add_argument("--player-policy", default="", help="prefer-first | prefer-second | max | union")
    cross.add_argument("--base", default="", help="explicit merge base (default: lowest common ancestor)")
    cross.add_argument("--owner", default="")
    cross.add_argument("--preview", action="store_true", help="compute and report, store nothing")
    cross.set_defaults(run=_cross)
    ops = sub.add_parser("operators", help="list the merge and crossover operators")
    ops.set_defaults(run=_operators)

    key = sub.add_parser("key", help="API keys").add_subparsers(required=True, metavar="ACTION")
    kc = key.add_parser("create", help="create a key for a game server (admin); prints the token once")
    kc.add_argument("principal")
    kc.add_argument("--role", default="server", choices=["server", "admin"])
    kc.set_defaults(run=lambda a: print(_client(a).create_api_key(a.principal, a.role).token))
    who = sub.add_parser("whoami", help="who the key speaks for")
    who.set_defaults(run=lambda a: _print(_client(a).whoami()))

    rare = sub.add_parser("rare", help="the rarest stored vectors, rarest first")
    rare.add_argument("--space", default="", help="latent space (default: the only one registered)")
    rare.add_argument("--tier", default="", choices=["", "common", "uncommon", "rare", "epic", "legendary"])
    rare.add_argument("--kind", default="frame", choices=["frame", "player"])
    rare.add_argument("--world", default="", help="only vectors with an id in this world")
    rare.add_argument("--limit", type=int, default=20, help="how many (1-1000)")
    rare.set_defaults(run=_rare)

    sim = sub.add_parser("sim", help="run a simulated game server (tileworld bots) against the service")
    sim.add_argument("--server", required=True, help="the server's name (its key's principal, or any with the admin key)")
    sim.add_argument("--ticks", type=int, default=64)
    sim.add_argument("--seed", type=int, default=0, help="map and bots (same seed, same game)")
    sim.add_argument("--players", type=int, default=4)
    sim.add_argument("--strange", type=int, default=1, help="bots that spin or teleport (sparse player vectors)")
    sim.add_argument("--save-every", type=int, default=8, help="ticks per saved state")
    sim.add_argument("--tick-seconds", type=float, default=0.0)
    sim.add_argument("--world", default="", help="world name (default: the server's name)")
    sim.set_defaults(run=_sim)

    from multiverse.cli_market import add_market_commands  # wallet, claim, tokens, list, buy, download, ...

    add_market_commands(sub, _client, _print)
    # the global options after the command too (`multiverse up --data D`); SUPPRESS keeps a value given before it
    for command in _every_command(p):
        _global_options(command, argparse.SUPPRESS)
    return p


def _sim(a: argparse.Namespace) -> None:
    from multiverse.sim import SimConfig, run_sim

    cfg = SimConfig(server=a.server, ticks=a.ticks, seed=a.seed, players=a.players, strange=a.strange,
                    save_every=a.save_every, tick_seconds=a.tick_seconds, world=a.world)
    with _client(a) as client:
        result = run_sim(client, cfg, log=lambda line: print(line, flush=True))
    print(f"{result.world}: {result.ticks} ticks, {len(result.snapshots)} snapshots, head {result.snapshots[-1]}")


def _rare(a: argparse.Namespace) -> None:
    page = _client(a).top_rare(a.space, kind=a.kind, tier=a.tier, world=a.world, limit=a.limit)
    if not page.items:
        print("no vectors scored yet" + (f" in tier {a.tier}" if a.tier else ""))
    for s in page.items:
        print(f"{s.tier:<10} {s.percentile:8.3f}%  score {s.score:8.4f}  {s.id.snapshot[:12]} {s.id.kind}[{s.id.index}]"
              f"  world {s.world}{'  uncharted' if s.uncharted else ''}  (N={s.n}, {s.index_version}, {s.calibration_version})")


# client commands -----------------------------------------------------------------------------------
def _data_dir(args: argparse.Namespace) -> Path:
    return args.data or Path(os.environ.get("MULTIVERSE_DATA", "data"))


def _client(args: argparse.Namespace):
    from multiverse.client import Client

    key = args.key or os.environ.get("MULTIVERSE_KEY")
    admin_file = _data_dir(args) / "admin.key"
    if not key and admin_file.exists():
        key = admin_file.read_text().strip()
    return Client(args.grpc or os.environ.get("MULTIVERSE_GRPC", DEFAULT_GRPC), key, tls=_client_tls(args))


def _client_tls(args: argparse.Namespace):
    """The client's TLS material from --tls-ca / --tls / --tls-client-cert / --tls-client-key (or $MULTIVERSE_TLS_*);
    None: plaintext."""
    from multiverse.tlsconfig import ClientTls

    ca = args.tls_ca or os.environ.get("MULTIVERSE_TLS_CA")
    cert = args.tls_client_cert or os.environ.get("MULTIVERSE_TLS_CLIENT_CERT")
    key = args.tls_client_key or os.environ.get("MULTIVERSE_TLS_CLIENT_KEY")
    if not (ca or cert or key or args.tls):
        return None
    return ClientTls.from_files(ca=ca, cert=cert, key=key)


def _print(message) -> None:
    from google.protobuf.json_format import MessageToDict

    print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), indent=2))


def _space_register(a: argparse.Namespace) -> None:
    try:
        shape = tuple(int(d) for d in a.frame_shape.split(","))
    except ValueError:
        raise errors.InvalidArgument("--frame-shape", a.frame_shape, "use comma-separated sizes such as 16,18,32") from None
    space = _client(a).register_space(a.name, shape, a.dtype, a.player_dim, vocab_size=a.vocab_size,
                                      max_players=a.max_players, model=a.model, version=a.model_version)
    _print(space)


def _synth(a: argparse.Namespace) -> None:
    from multiverse.records import SpaceRecord
    from multiverse.synth import synth_state

    s = _client(a).get_space(a.space)
    space = SpaceRecord(s.name, tuple(s.frame_shape), s.dtype, s.player_dim, vocab_size=s.vocab_size)
    data = synth_state(space, frames=a.frames, players=a.players, seed=a.seed)
    a.file.write_bytes(data)
    print(f"wrote {a.file} ({len(data) / 1e6:.1f} MB, {a.frames} frames, {a.players} players)")


def _save(a: argparse.Namespace) -> None:
    from multiverse.client import AUTO

    expected = AUTO if a.expected_parent is None else a.expected_parent
    started = time.perf_counter()
    reply = _client(a).save_snapshot(a.world, a.file, expected_parent=expected, head=a.head,
                                     idempotency_key=a.idempotency_key, progress=_progress("saving", started))
    _done(reply.snapshot.state_size, started, "saved")
    print(reply.snapshot.id)


def _load(a: argparse.Namespace) -> None:
    started = time.perf_counter()
    snapshot, _ = _client(a).load_snapshot(a.ref, a.file, progress=_progress("loading", started))
    _done(snapshot.state_size, started, "loaded")
    print(snapshot.id)


def _log(a: argparse.Namespace) -> None:
    for i, s in enumerate(_client(a).log(a.ref)):
        if i >= a.limit:
            break
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.created_at))
        parents = ",".join(p[:12] for p in s.parents) or "-"
        print(f"{s.id[:12]}  {when}  {s.world:<20} gen {s.generation:<5} frames {s.frame_count:<6} parents {parents}")


def _cross(a: argparse.Namespace) -> None:
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


def _operators(a: argparse.Namespace) -> None:
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


# the embedded stack --------------------------------------------------------------------------------
def _up(a: argparse.Namespace) -> None:
    from multiverse.app import App
    from multiverse.auth import ensure_admin_key
    from multiverse.config import Settings, server_tls
    from services.server import build_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl" is no news to a newcomer
    tls = server_tls(a.tls_cert, a.tls_key, a.tls_client_ca) if (a.tls_cert or a.tls_key or a.tls_client_ca) else None
    settings = Settings.from_env(data_dir=a.data, grpc_addr=a.grpc, db_url=a.db, blob_url=a.blobs, tls=tls)
    app = App.open(settings)  # seconds, whatever the rarity backlog: the rarity worker scores it after start
    server = None
    try:
        admin = ensure_admin_key(app.meta, settings.data_dir)
        server, port = build_server(app, settings.grpc_addr)
        server.start()
        host = settings.grpc_addr.rsplit(":", 1)[0]
        print(_banner(settings, f"{host}:{port}", app, admin), flush=True)
        if not a.no_demo:
            from multiverse.demo import start_demo

            start_demo(f"{host}:{port}", admin, settings.data_dir,
                       min_tier=settings.market.market.min_tier if settings.market is not None else None,
                       tls=_demo_tls(a, settings))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        print("stopping", flush=True)
    finally:
        # Seconds too: new calls are refused at once and calls in flight get STOP_GRACE_S; the rarity worker
        # finishes the snapshot in hand and saves what it scored (what is still queued is queued again at the
        # next start, as metadata holds it).
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the save short
        started = time.monotonic()
        if server is not None:
            server.stop(grace=STOP_GRACE_S).wait()
        app.close()
        print(f"stopped in {time.monotonic() - started:.1f} s", flush=True)


def _demo_tls(a: argparse.Namespace, settings):
    """How the demo's clients reach a TLS port: trusting --tls-ca ($MULTIVERSE_TLS_CA) when given, else the
    server's own certificate (right for a self-signed one); presenting --tls-client-cert for mutual TLS."""
    from multiverse.tlsconfig import ClientTls

    if settings.tls is None:
        return None
    given = _client_tls(a)
    if given is not None and given.ca:
        return given
    return ClientTls(ca=settings.tls.cert, cert=given.cert if given else b"", key=given.key if given else b"")


def _banner(settings, address: str, app, admin: str | None) -> str:
    key_line = (f"admin key  {admin}\n           (shown once; also in {settings.data_dir / 'admin.key'}, mode 0600)"
                if admin else f"admin key  in {settings.data_dir / 'admin.key'}")
    tls = settings.tls
    security = ("plaintext" if tls is None else
                f"TLS{', mutual: client certificates required' if tls.mutual else ''}")
    connect = address if tls is None else f"{address} --tls-ca CA.pem"
    return "\n".join([
        "Multiverse is serving",
        f"gRPC       {address}  ({security}; health checking and reflection on)",
        f"metadata   {_redact(settings.database_url)}",
        f"blobs      {app.blobs.describe()}",
        *([f"chain      {app.market.chain.describe()}"
           + (f"\n           wallets connect to JSON-RPC {app.market.rpc_url}" if app.market.rpc_url else "")]
          if getattr(app, "market", None) is not None else []),
        key_line,
        "try, from another terminal:",
        f"  .venv/bin/multiverse --grpc {connect} space register demo --frame-shape 16,18,32 --dtype float16 --player-dim 64",
        f"  .venv/bin/multiverse --grpc {connect} world create w1 --space demo",
        f"  .venv/bin/multiverse --grpc {connect} snapshot synth --space demo --frames 64 --players 2 --seed 1 s.safetensors",
        f"  .venv/bin/multiverse --grpc {connect} snapshot save w1 s.safetensors",
        f"  .venv/bin/multiverse --grpc {connect} log w1",
    ])


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


if __name__ == "__main__":
    sys.exit(main())
