"""Who may read a world (issue 13, item 3): private to its owner and admins by default, shared with named
principals, or public. Every read RPC refuses another server's key with NOT_FOUND in the words used for a world or
snapshot that does not exist; the owner, an admin, a named reader and (for a public world) any key read it; the
SQL filter agrees with ``auth.can_read``; the migration makes existing worlds private on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import sqlalchemy as sa
import torch
from alembic import command
from alembic.script import ScriptDirectory

from multiverse import errors
from multiverse.app import App
from multiverse.cli import main as cli_main
from multiverse.client import Client
from multiverse.config import Limits, Settings
from multiverse.metadata import alembic_config, make_engine, open_metadata
from multiverse.records import VISIBILITIES, SnapshotRecord, SpaceRecord, WorldRecord
from multiverse.state.format import encode_state
from multiverse.state.synth import synth_state
from multiverse.store.auth import Principal, can_read, ensure_admin_key, reader_name
from services.server import build_server

SPACE = SpaceRecord("demo", (4, 3, 2), "float16", 8)
LIMITS = Limits(max_state_bytes=64 << 20, max_frames=4096)
ODD = 40.0  # a frame of this value lies far outside the synthetic (standard normal) frames: legendary
ONE = np.zeros((1, 24), np.float32)  # an ad hoc query vector of the space
ABSENT_WORLD, ABSENT_SNAP = "nowhere", "f" * 64
REVISION = "0006_world_visibility"


@dataclass
class Served:
    app: App
    address: str
    tokens: dict[str, str]  # principal -> API key
    clients: dict[str, Client]
    secret: list[str]  # alpha's snapshots in its private world "secret", oldest first

    def __getattr__(self, name: str) -> Client:
        return self.clients[name]


def save(served: Served, who: str, world: str, data: bytes) -> str:
    snap = served.clients[who].save_snapshot(world, data).snapshot.id
    assert served.app.rarity.wait_scored(snap, timeout=30)
    return snap


def odd_state(value: float = ODD, frames: int = 3) -> bytes:
    x = torch.full((frames, *SPACE.frame_shape), value, dtype=torch.float16)
    x[1:] = torch.randn((frames - 1, *SPACE.frame_shape), generator=torch.Generator().manual_seed(9)).half()
    return encode_state(x, torch.zeros((0, 8)), space="demo", players=[], timeline=[])


@pytest.fixture
def served(tmp_path):
    """An embedded stack with keys for admin, alpha, beta and gamma; alpha's world "secret" (private, as every new
    world is) holds three scored snapshots, beta's world "open" one."""
    settings = Settings(data_dir=tmp_path / "data", grpc_addr="127.0.0.1:0", limits=LIMITS, workers=8)
    app = App.open(settings)
    server, port = build_server(app, settings.grpc_addr)
    server.start()
    address = f"127.0.0.1:{port}"
    tokens = {"admin": ensure_admin_key(app.meta, settings.data_dir)}
    clients = {"admin": Client(address, tokens["admin"])}
    for name in ("alpha", "beta", "gamma"):
        tokens[name] = clients["admin"].create_api_key(name).token
        clients[name] = Client(address, tokens[name])
    clients["admin"].register_space("demo", SPACE.frame_shape, SPACE.dtype, SPACE.player_dim, max_players=8)
    s = Served(app, address, tokens, clients, [])
    assert clients["alpha"].create_world("secret", "demo").visibility == "private"
    s.secret = [save(s, "alpha", "secret", synth_state(SPACE, frames=20, players=2, seed=i)) for i in range(3)]
    clients["beta"].create_world("open", "demo")
    save(s, "beta", "open", synth_state(SPACE, frames=20, players=2, seed=10))
    yield s
    for client in clients.values():
        client.close()
    server.stop(grace=None).wait()
    app.close()


# Every read of one world or one of its snapshots: (client, world, snapshot id) -> what it returned.
READS = {
    "LoadSnapshot": lambda c, w, s: c.load_snapshot(s)[1],
    "LoadSnapshot world@head": lambda c, w, s: c.load_snapshot(f"{w}@main")[1],
    "GetSnapshot": lambda c, w, s: c.get_snapshot(s).id,
    "GetSnapshot by prefix": lambda c, w, s: c.get_snapshot(s[:12]).id,
    "GetSnapshot by world": lambda c, w, s: c.get_snapshot(w).id,
    "Log": lambda c, w, s: [r.id for r in c.log(w)],
    "Log by id": lambda c, w, s: [r.id for r in c.log(s)],
    "Heads": lambda c, w, s: c.heads(w),
    "GetWorld": lambda c, w, s: c.get_world(w).heads,
    "RarityOf": lambda c, w, s: c.rarity_of(s, "frame", 1).id.snapshot,
    "Neighbors by id": lambda c, w, s: [n.id.snapshot for n in c.neighbors(s, "frame", 1, k=3)],
    "Neighbors in a world": lambda c, w, s: [n.id.snapshot for n in c.neighbors(vector=ONE, space="demo", k=3, world=w)],
    "TopRare of a world": lambda c, w, s: [i.id.snapshot for i in c.top_rare("demo", world=w).items],
}


def refused(client: Client, read: str, world: str, snap: str) -> str:
    """The message of the NotFound that ``read`` gets, with the world and snapshot named by placeholders."""
    with pytest.raises(errors.NotFound) as err:
        READS[read](client, world, snap)
    return err.value.message.replace(snap, "S").replace(snap[:12], "S").replace(world, "W")


def readable(served: Served, who: str) -> None:
    """``who`` reads "secret" by every read, and sees what its owner sees (neighbours by id: from every world
    ``who`` may read, so only some)."""
    for read, call in READS.items():
        got = call(served.clients[who], "secret", served.secret[0])
        assert got and (read == "Neighbors by id" or got == call(served.alpha, "secret", served.secret[0])), read


@pytest.mark.parametrize("read", READS)
def test_another_servers_key_is_told_a_private_world_does_not_exist(served, read):
    hidden = refused(served.beta, read, "secret", served.secret[0])
    assert hidden == refused(served.beta, read, ABSENT_WORLD, ABSENT_SNAP)  # the same words as for nothing at all
    assert "alpha" not in hidden and "secret" not in hidden
    assert READS[read](served.alpha, "secret", served.secret[0])  # its owner reads it


def test_lists_searches_and_rankings_leave_out_worlds_the_caller_may_not_read(served):
    assert [w.name for w in served.beta.list_worlds()] == ["open"]
    assert [w.name for w in served.admin.list_worlds()] == ["open", "secret"]
    assert [w.name for w in served.alpha.list_worlds()] == ["secret"]
    assert [w.name for w in served.gamma.list_worlds()] == []
    for kind in ("frame", "player"):
        seen = {i.world for i in served.beta.top_rare("demo", kind=kind, limit=1000).items}
        assert seen == {"open"}, kind
        assert {i.world for i in served.admin.top_rare("demo", kind=kind, limit=1000).items} == {"open", "secret"}
        assert served.gamma.top_rare("demo", kind=kind, limit=1000).items == []
    near = served.beta.neighbors(vector=ONE, space="demo", k=30)
    assert len(near) == 20 and not {n.id.snapshot for n in near} & set(served.secret)  # k capped by what it may read
    assert served.gamma.neighbors(vector=ONE, space="demo", k=5) == []


def test_shared_readers_and_public_worlds_and_the_way_back(served):
    readable(served, "admin")
    served.alpha.set_world_visibility("secret", "shared", ["beta"])
    readable(served, "beta")
    assert refused(served.gamma, "GetWorld", "secret", served.secret[0])
    assert [w.name for w in served.beta.list_worlds()] == ["open", "secret"]
    served.admin.set_world_visibility("secret", "public")  # an admin may, too
    readable(served, "gamma")
    assert [w.name for w in served.gamma.list_worlds()] == ["secret"]  # beta's "open" is private
    served.alpha.set_world_visibility("secret", "private")
    for who in ("beta", "gamma"):
        for read in READS:
            refused(served.clients[who], read, "secret", served.secret[0])
    readable(served, "admin")


def test_the_share_list_is_set_by_the_owner_or_an_admin_and_shown_to_them_only(served):
    with pytest.raises(errors.NotFound):  # beta cannot read it, so it does not exist for beta
        served.beta.set_world_visibility("secret", "public")
    served.alpha.set_world_visibility("secret", "shared", ["gamma", "beta", "gamma"])
    with pytest.raises(errors.PermissionDenied) as err:  # a reader is not an owner
        served.beta.set_world_visibility("secret", "public")
    assert "alpha" in err.value.message and "beta" in err.value.message
    assert list(served.alpha.get_world("secret").readers) == ["beta", "gamma"]  # sorted, each once
    assert list(served.admin.get_world("secret").readers) == ["beta", "gamma"]
    mine = served.beta.get_world("secret")
    assert mine.visibility == "shared" and list(mine.readers) == []  # who else reads it is the owner's business
    assert [list(w.readers) for w in served.beta.list_worlds() if w.name == "secret"] == [[]]


def test_a_world_is_written_by_its_owner_only_and_a_hidden_one_is_not_there(served):
    data, head = synth_state(SPACE, frames=4, players=1, seed=99), served.secret[-1]
    with pytest.raises(errors.NotFound) as err:  # the header goes straight to the save (no heads lookup first)
        served.beta.save_snapshot("secret", data, expected_parent=head)
    assert "alpha" not in err.value.message
    served.alpha.set_world_visibility("secret", "public")
    with pytest.raises(errors.PermissionDenied):  # readable now, still alpha's to write
        served.beta.save_snapshot("secret", data, expected_parent=head)
    assert served.alpha.heads("secret") == {"main": head}


@pytest.mark.parametrize(("visibility", "readers", "field"), [
    ("secret", [], "visibility"),
    ("", [], "visibility"),
    ("public", ["beta"], "readers"),
    ("private", ["beta"], "readers"),
    ("shared", [], "readers"),
    ("shared", ["Beta!"], "readers[0]"),
    ("shared", [f"p{i}" for i in range(257)], "readers"),
])
def test_bad_settings_name_the_field_and_change_nothing(served, visibility, readers, field):
    served.alpha.set_world_visibility("secret", "shared", ["gamma"])
    before = served.admin.get_world("secret")
    with pytest.raises(errors.InvalidArgument) as err:
        served.alpha.set_world_visibility("secret", visibility, readers)
    assert err.value.details["field"] == field
    assert served.admin.get_world("secret") == before
    with pytest.raises(errors.InvalidArgument) as err:
        served.alpha.create_world("other", "demo", visibility=visibility or "nope", readers=readers)
    assert err.value.details["field"] == "world." + (field if visibility else "visibility")
    with pytest.raises(errors.NotFound):
        served.admin.get_world("other")


def test_worlds_are_created_private_shared_or_public(served):
    assert served.admin.create_world("mine", "demo", owner="gamma").visibility == "private"
    w = served.gamma.create_world("ours", "demo", visibility="shared", readers=["beta"])
    assert (w.owner, w.visibility, list(w.readers)) == ("gamma", "shared", ["beta"])
    served.gamma.create_world("all", "demo", visibility="public")
    assert [x.name for x in served.beta.list_worlds()] == ["all", "open", "ours"]
    assert [x.name for x in served.alpha.list_worlds()] == ["all", "secret"]
    with pytest.raises(errors.AlreadyExists):  # the same name with other settings is another world
        served.gamma.create_world("all", "demo", visibility="private")
    assert served.gamma.create_world("all", "demo", visibility="public").visibility == "public"  # a repeat
    with pytest.raises(errors.AlreadyExists) as err:  # a hidden world's name is taken, and that is all it says
        served.beta.create_world("secret", "demo", description="mine now")
    assert "taken" in err.value.message and "alpha" not in err.value.message


def test_a_crossed_world_is_private_to_its_owner_and_its_log_shows_only_readable_ancestors(served):
    served.beta.set_world_visibility("open", "public")
    crossed = served.admin.cross(["secret", "open"], name="child", op="slerp", params={"t": 0.3})
    assert crossed.world.owner == "admin" and crossed.world.visibility == "private"
    for who in ("alpha", "beta"):  # the owners of its parents included
        refused(served.clients[who], "GetWorld", "child", crossed.snapshot.id)
    served.admin.set_world_visibility("child", "public")
    everything = [r.id for r in served.admin.log("child")]
    open_log = [r.id for r in served.gamma.log("open")]
    assert set(everything) == {crossed.snapshot.id, *served.secret, *open_log}
    for page_size in (1, 2, 100):  # pages fill up past the hidden ancestors
        shown = [r.id for r in served.gamma.log("child", page_size=page_size)]
        assert shown == [i for i in everything if i not in served.secret], page_size
    assert [r.id for r in served.alpha.log("child")] == everything  # alpha reads its own ancestors and "open"


def test_a_copy_in_a_hidden_world_neither_shows_nor_hides_a_readable_one(served):
    first = served.alpha.load_snapshot(served.secret[0])[1]  # beta got these bytes some other way
    copy = save(served, "beta", "open", first)
    items = served.beta.top_rare("demo", kind="frame", limit=1000).items
    named = {(i.id.snapshot, i.id.index) for i in items}
    assert {(copy, i) for i in range(20)} <= named and not {i.id.snapshot for i in items} & set(served.secret)
    assert {i.world for i in items} == {"open"}
    near = served.beta.neighbors(copy, "frame", 0, k=5)
    assert near and not {n.id.snapshot for n in near} & set(served.secret)
    admins = {(i.id.snapshot, i.id.index) for i in served.admin.top_rare("demo", kind="frame", limit=1000).items}
    assert (served.secret[0], 0) in admins and (copy, 0) not in admins  # for an admin the discoverer is alpha's


def test_watch_rare_streams_only_worlds_the_caller_may_read(served):
    seen: list = []
    stream = served.beta.watch_rare("demo", kind="frame", tier="epic")
    reader = threading.Thread(target=lambda: seen.extend(itertools.islice(stream, 1)))
    reader.start()
    time.sleep(0.5)  # let the stream subscribe
    hidden = save(served, "alpha", "secret", odd_state(ODD))
    mine = save(served, "beta", "open", odd_state(-ODD))
    reader.join(timeout=30)
    stream.close()
    assert seen and seen[0].id.snapshot == mine and seen[0].world == "open" and hidden != mine


def test_cli_creates_and_shares_worlds(served, capsys):
    def cli(who: str, *args: str) -> dict:
        assert cli_main(["--grpc", served.address, "--key", served.tokens[who], *args]) == 0
        return json.loads(capsys.readouterr().out)

    made = cli("gamma", "world", "create", "g1", "--space", "demo", "--visibility", "shared", "--reader", "beta")
    assert (made["owner"], made["visibility"], made["readers"]) == ("gamma", "shared", ["beta"])
    assert cli("beta", "world", "get", "g1")["name"] == "g1"
    assert cli("gamma", "world", "share", "g1", "--visibility", "private")["visibility"] == "private"
    assert cli_main(["--grpc", served.address, "--key", served.tokens["beta"], "world", "get", "g1"]) == 1
    assert "does not exist or is not shared with 'beta'" in capsys.readouterr().err
    assert cli("gamma", "world", "create", "g2", "--space", "demo")["visibility"] == "private"


# -- the metadata on both databases ----------------------------------------------------------------------

BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'multiverse.db'}"
    from tests.support.postgres import create_schema

    return create_schema(request.getfixturevalue("postgres_url"))


def _snap(world: str, t: float) -> SnapshotRecord:
    body = {"world": world, "parents": [], "state": "5e" * 32, "state_size": 1, "frame_count": 1, "player_count": 0,
            "generation": 1, "created_at": t, "provenance": {}}
    return SnapshotRecord(id="", parents=(), **{k: v for k, v in body.items() if k != "parents"}).sealed()


def test_the_sql_filter_agrees_with_can_read(db_url):
    rng = random.Random(7)
    names = ["p0", "p1", "p2", "p3"]
    callers = [Principal(n, "server") for n in names] + [Principal("admin", "admin"), Principal("p1", "wallet")]
    with open_metadata(db_url) as meta:
        meta.put_space(SPACE)
        worlds, snaps = [], {}
        for i in range(24):
            visibility = VISIBILITIES[i % 3]
            readers = tuple(rng.sample(names, rng.randint(1, 3))) if visibility == "shared" else ()
            w = meta.create_world(WorldRecord(f"w{i:02d}", SPACE.name, rng.choice(names[:3]), float(i),
                                              visibility=visibility, readers=readers))
            assert w.readers == tuple(sorted(readers)) and meta.get_world(w.name) == w
            worlds.append(w)
            snaps[w.name] = _snap(w.name, float(i))
            meta.commit_snapshot(snaps[w.name], head="main", expected=None)
        for who in callers:
            want = [w.name for w in worlds if can_read(who, w)]
            reader = reader_name(who)
            assert [w.name for w in meta.list_worlds(reader=reader, limit=1000)] == want, who
            assert meta.readable_worlds(reader) == frozenset(want), who
            paged, after = [], ""
            while page := meta.list_worlds(reader=reader, after=after, limit=5):
                paged, after = paged + [w.name for w in page], page[-1].name
            assert paged == want
            for w in worlds:
                sid = snaps[w.name].id
                if w.name in want:
                    assert meta.get_snapshot(sid[:10], reader=reader).id == sid
                else:
                    with pytest.raises(errors.NotFound):
                        meta.get_snapshot(sid, reader=reader)
        changed = meta.set_world_visibility("w00", "shared", ["p3", "p2", "p3"])
        assert changed.readers == ("p2", "p3") and meta.get_world("w00") == changed
        assert meta.set_world_visibility("w00", "public").readers == ()
        assert meta.get_world("w00").readers == () and "w00" in meta.readable_worlds("p3")
        with pytest.raises(errors.InvalidArgument):
            meta.set_world_visibility("w00", "public", ["p1"])
        with pytest.raises(errors.NotFound):
            meta.set_world_visibility("nope", "public")


def test_an_ambiguous_prefix_names_no_snapshot_of_a_hidden_world(db_url):
    by_prefix: dict[str, SnapshotRecord] = {}
    for t in itertools.count():  # two records whose ids share 8 hex digits (about 2^16 tries)
        rec = _snap("mine" if len(by_prefix) % 2 else "theirs", float(t))
        if (twin := by_prefix.get(rec.id[:8])) is not None and twin.world != rec.world:
            break
        by_prefix.setdefault(rec.id[:8], rec)
    prefix = rec.id[:8]
    with open_metadata(db_url) as meta:
        meta.put_space(SPACE)
        meta.create_world(WorldRecord("mine", SPACE.name, "me"))
        meta.create_world(WorldRecord("theirs", SPACE.name, "them"))
        for r in sorted((rec, twin), key=lambda r: r.created_at):
            meta.commit_snapshot(r, head=f"h{r.created_at:.0f}", expected=None)
        with pytest.raises(errors.InvalidArgument):  # an admin is told the prefix is ambiguous
            meta.get_snapshot(prefix)
        ours = rec if rec.world == "mine" else twin
        assert meta.get_snapshot(prefix, reader="me") == ours


def test_the_migration_makes_existing_worlds_private(db_url):
    """A database at the revision before this one, with worlds in it, upgraded: each world is private, so its
    owner (and admins) read it and no one else; the downgrade keeps the worlds."""
    before = ScriptDirectory.from_config(alembic_config()).get_revision(REVISION).down_revision
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, before)
            conn.execute(sa.text("INSERT INTO spaces VALUES ('demo', '[4,3,2]', 'float16', 8, '', '', 0, 8, '{}', '', 0)"))
            for name, owner in (("old-a", "alpha"), ("old-b", "beta")):
                conn.execute(sa.text("INSERT INTO worlds (name, space, owner, created_at, description, origin) "
                                     "VALUES (:n, 'demo', :o, 1.0, '', '{}')"), {"n": name, "o": owner})
    finally:
        engine.dispose()
    with open_metadata(db_url) as meta:  # migrates to head
        old = [meta.get_world(n) for n in ("old-a", "old-b")]
        assert [(w.visibility, w.readers) for w in old] == [("private", ())] * 2
        assert [w.name for w in meta.list_worlds(reader="alpha")] == ["old-a"]
        assert [w.name for w in meta.list_worlds(reader="gamma")] == []
        assert not can_read(Principal("beta", "server"), old[0]) and can_read(Principal("alpha", "server"), old[0])
        meta.set_world_visibility("old-a", "shared", ["gamma"])
        with meta.engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, before)
        names = set(sa.inspect(meta.engine).get_table_names())
        columns = {c["name"] for c in sa.inspect(meta.engine).get_columns("worlds")}
        assert "world_readers" not in names and "visibility" not in columns
        with meta.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM worlds ORDER BY name")).scalars().all() == ["old-a", "old-b"]

