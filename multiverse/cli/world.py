"""World commands of the `multiverse` CLI: create, get, list, and share (who may read a world).

A world is private to its owner and admins unless it is created or shared otherwise:
`multiverse world share NAME --visibility shared --reader beta --reader gamma` (the owner's key or an admin's;
the readers replace the share list), `--visibility public` for any key, `--visibility private` to close it again.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

VISIBILITIES = ("private", "shared", "public")


def add_world_commands(sub: Any, client: Callable[[argparse.Namespace], Any], show: Callable[[Any], None]) -> None:
    """Register `world create|get|list|share` on ``sub`` (the CLI's subparsers); ``client(args)`` makes a Client and
    ``show(message)`` prints a protobuf message as JSON."""
    world = sub.add_parser("world", help="worlds").add_subparsers(required=True, metavar="ACTION")
    create = world.add_parser("create", help="create a world (private to its owner and admins by default)")
    create.add_argument("name")
    create.add_argument("--space", required=True)
    create.add_argument("--owner", default="", help="the game server that may write it (admin only)")
    create.add_argument("--description", default="")
    _visibility_options(create, default="private")
    create.set_defaults(run=lambda a: show(client(a).create_world(
        a.name, a.space, owner=a.owner, description=a.description, visibility=a.visibility, readers=a.reader)))
    get = world.add_parser("get", help="show a world and its heads")
    get.add_argument("name")
    get.set_defaults(run=lambda a: show(client(a).get_world(a.name)))
    listed = world.add_parser("list", help="the worlds this key may read")
    listed.add_argument("--space", default="")
    listed.add_argument("--owner", default="")
    listed.set_defaults(run=lambda a: [show(w) for w in client(a).list_worlds(space=a.space, owner=a.owner)])
    share = world.add_parser("share", help="set who may read a world besides its owner and admins (owner or admin)")
    share.add_argument("name")
    _visibility_options(share, default=None)
    share.set_defaults(run=lambda a: show(client(a).set_world_visibility(a.name, a.visibility, a.reader)))


def _visibility_options(p: argparse.ArgumentParser, default: str | None) -> None:
    p.add_argument("--visibility", choices=VISIBILITIES, default=default, required=default is None,
                   help="private: its owner and admins; shared: also each --reader; public: any key"
                   + (f" (default {default})" if default else ""))
    p.add_argument("--reader", action="append", default=[], metavar="PRINCIPAL",
                   help="with --visibility shared: a principal that may read it (repeat for more; replaces the list)")
