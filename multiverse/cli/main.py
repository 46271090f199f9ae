"""`multiverse`: the command line, built on multiverse.client (and, for `up`, on the embedded stack).

Client commands reach the service at --grpc HOST:PORT or $MULTIVERSE_GRPC (default localhost:50051) with the
key from --key, $MULTIVERSE_KEY, or <data dir>/admin.key when neither is given (--grpc may list replicas,
comma-separated: the client balances over them); ``up`` and ``serve`` listen on --listen or $MULTIVERSE_LISTEN.
Every flag and variable is a row of ``multiverse.options``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from multiverse import errors
from multiverse.cli import commands as c
from multiverse.cli.admin import add_admin_commands
from multiverse.cli.connect import client as _client
from multiverse.cli.connect import show as _print
from multiverse.cli.market import add_market_commands
from multiverse.cli.serve import serve as _serve
from multiverse.cli.up import up as _up
from multiverse.cli.world import add_world_commands
from multiverse.config import add_flags


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (errors are printed as one line, not raised)."""
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
    add_flags(p, "global", default)  # --data, --grpc, --key, --tls-ca, --tls-client-cert, --tls-client-key
    p.add_argument("--tls", default=default, action="store_true", help="connect over TLS (the system's roots)")


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
    add_flags(up, "up")  # --listen, --db, --blobs, --tls-cert, --tls-key, --tls-client-ca
    up.add_argument("--no-demo", action="store_true", help="do not start the simulated game servers")
    up.set_defaults(run=_up)

    serve = sub.add_parser("serve", help="serve some of the services in the foreground (one process of a split "
                           "topology); prints 'serving SERVICES on HOST:PORT'")
    add_flags(serve, "up")  # --listen, --db, --blobs, --http, TLS: as for up
    add_flags(serve, "serve")  # --services
    serve.set_defaults(run=_serve)

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
    reg.set_defaults(run=c.space_register)
    get = space.add_parser("get", help="show a latent space")
    get.add_argument("name")
    get.set_defaults(run=lambda a: _print(_client(a).get_space(a.name)))

    add_world_commands(sub, _client, _print)  # create, get, list, share (who may read a world)

    snap = sub.add_parser("snapshot", help="snapshots").add_subparsers(required=True, metavar="ACTION")
    synth = snap.add_parser("synth", help="write a valid synthetic snapshot file for a space")
    synth.add_argument("file", type=Path)
    synth.add_argument("--space", required=True)
    synth.add_argument("--frames", type=int, required=True)
    synth.add_argument("--players", type=int, default=2)
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(run=c.synth)
    save = snap.add_parser("save", help="save a snapshot file to a world; prints the snapshot id")
    save.add_argument("world")
    save.add_argument("file", type=Path)
    save.add_argument("--head", default="main")
    save.add_argument("--expected-parent", default=None, help="default: the current head")
    save.add_argument("--idempotency-key", default=None)
    save.set_defaults(run=c.save)
    load = snap.add_parser("load", help="load a snapshot (id, world or world@head) into a file")
    load.add_argument("ref")
    load.add_argument("file", type=Path)
    load.set_defaults(run=c.load)
    sget = snap.add_parser("get", help="show a snapshot's record")
    sget.add_argument("ref")
    sget.set_defaults(run=lambda a: _print(_client(a).get_snapshot(a.ref)))

    log = sub.add_parser("log", help="a world's (or snapshot's) history, newest first")
    log.add_argument("ref")
    log.add_argument("--limit", type=int, default=50)
    log.set_defaults(run=c.log)
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
    cross.set_defaults(run=c.cross)
    ops = sub.add_parser("operators", help="list the merge and crossover operators")
    ops.set_defaults(run=c.operators)

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
    rare.set_defaults(run=c.rare)
    why = sub.add_parser("rarity-of", help="one stored vector's score, interval, neighbours and what makes it rare")
    why.add_argument("snapshot", help="the snapshot's full id")
    why.add_argument("--kind", default="frame", choices=["frame", "player"])
    why.add_argument("--index", type=int, default=0, help="the frame's or player's index in the snapshot")
    why.set_defaults(run=c.rarity_of)

    sim = sub.add_parser("sim", help="run a simulated game server (tileworld bots) against the service")
    sim.add_argument("--server", required=True, help="the server's name (its key's principal, or any with the admin key)")
    sim.add_argument("--ticks", type=int, default=64)
    sim.add_argument("--seed", type=int, default=0, help="map and bots (same seed, same game)")
    sim.add_argument("--players", type=int, default=4)
    sim.add_argument("--strange", type=int, default=1, help="bots that spin or teleport (sparse player vectors)")
    sim.add_argument("--save-every", type=int, default=8, help="ticks per saved state")
    sim.add_argument("--tick-seconds", type=float, default=0.0)
    sim.add_argument("--world", default="", help="world name (default: the server's name)")
    sim.set_defaults(run=c.sim)

    add_admin_commands(sub, _client)  # gc, world delete, snapshot prune
    add_market_commands(sub, _client, _print)  # wallet, claim, tokens, list, buy, download, ...
    # the global options after the command too (`multiverse up --data D`); SUPPRESS keeps a value given before it
    for command in _every_command(p):
        _global_options(command, argparse.SUPPRESS)
    return p
