"""The `make run` demo, headless with a fixed seed and short durations: every step it reports happened."""

import json

import pytest
from PIL import Image

from multiverse import errors
from multiverse.client import Client
from multiverse.demo import DemoConfig, run_demo, start_demo
from multiverse.state.format import decode_state
from multiverse.tileworld.bots import wallet_address, wallet_key


def test_demo_steps_all_happened_in_the_store(market_stack):
    stack = market_stack
    lines = []
    cfg = DemoConfig(seed=1, ticks=16, save_every=8)
    report = run_demo(stack.address, stack.admin_key, stack.data, cfg, log=lines.append)
    admin = stack.admin

    # Two servers played and saved: two snapshots each, in order, owned by each server.
    assert set(report.saved) == {"aurora", "bramble"}
    for world, ids in report.saved.items():
        assert [s.id for s in admin.log(world)] == ids[::-1] and len(ids) == 2
        assert admin.get_world(world).owner == world

    # Two crossed worlds, each with the servers' newest snapshots as its two parents.
    newest = sorted(ids[-1] for ids in report.saved.values())
    assert {info["op"] for info in report.crossed.values()} == {"slerp", "crossover_mask"}
    for child, info in report.crossed.items():
        snapshot = admin.get_snapshot(child)
        assert snapshot.id == info["snapshot"] and sorted(snapshot.parents) == newest
        assert snapshot.frame_count == 8 and snapshot.generation == 3

    # Pictures of parents and children, readable PNGs under <data dir>/previews/.
    assert len(report.previews) == 2 + 2 * 2
    for path in report.previews:
        assert path.parent == stack.data / "previews"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 32 * 8
    assert any(str(stack.data / "previews") in line for line in lines)

    # Parts built by other issues: done and checked against the service, or skipped with a line that says so.
    if report.rarest:
        score = admin.rarity_of(report.rarest["snapshot"], "player", report.rarest["index"])
        assert score.tier == report.rarest["tier"] and score.tier in ("rare", "epic", "legendary")
        assert report.rarest["name"] in report.strange  # a spinning or teleporting bot is the rarest
        assert any(line.startswith("rarity scored: rarest player vector is") for line in lines)
    else:
        assert any(line.startswith("skipped: rarity") for line in lines)
    if "claim and buy" in report.skipped:
        assert any(line.startswith("skipped: claim and buy") for line in lines)
    assert len(lines) == len(report.lines) and any(line.startswith("demo done") for line in lines)
    check_claim_and_buy(stack, cfg, report, lines)


def check_claim_and_buy(stack, cfg, report, lines):
    """The rarest vector's discoverer claimed it as a token and sold it to a second wallet, which owns it now."""
    admin, sold = stack.admin, report.token
    assert "claim and buy" not in report.skipped and report.rarest, lines
    assert (sold["kind"], sold["snapshot"], sold["index"]) == ("player", report.rarest["snapshot"], report.rarest["index"])
    _, data = admin.load_snapshot(sold["snapshot"])
    player = decode_state(data)[1].players[sold["index"]]
    server = cfg.servers.index(admin.get_snapshot(sold["snapshot"]).world)  # the sim seed is the demo's + its index
    seller_key, buyer_key = wallet_key(cfg.seed + server, player["name"]), wallet_key(cfg.seed, "buyer")
    assert player["wallet"] == sold["seller"] == wallet_address(seller_key)  # the wallet the simulated server wrote
    assert sold["buyer"] == wallet_address(buyer_key) != sold["seller"]

    token = admin.get_token(sold["token_id"])  # as indexed from the chain
    assert token.owner == sold["buyer"] and token.discoverer == sold["seller"]
    assert token.tier == report.rarest["tier"] and stack.app.market.chain.owner_of(token.token_id) == sold["buyer"]
    sales = [e for e in admin.history(token.token_id) if e.name == "Sold"]
    assert len(sales) == 1 and sales[0].tx_hash == sold["tx"]
    assert json.loads(sales[0].args_json)["buyer"].lower() == sold["buyer"].lower()
    assert [x.listing_hash for x in admin.listings(token_id=token.token_id, status="sold")] == [sold["listing"]]
    with Client(stack.address) as buyer, Client(stack.address) as seller:
        buyer.sign_in_with_key(buyer_key)
        assert buyer.download_vector(token.token_id)[0].owner == sold["buyer"]
        seller.sign_in_with_key(seller_key)
        with pytest.raises(errors.PermissionDenied):
            seller.download_vector(token.token_id)

    steps = ("market on chain", f"{player['name']} signed in with wallet {sold['seller']} (EIP-4361)",
             f"{player['name']} claimed it: token", "funded from the dev chain's account",
             f"{player['name']} listed token", f"buyer {sold['buyer']} bought token", "token ")
    at = [next(i for i, line in enumerate(lines) if line.startswith(step)) for step in steps]
    assert at == sorted(at) and "now belongs to " + sold["buyer"] in lines[at[-1]], lines
    for key in (seller_key, buyer_key):
        assert not any(key[2:] in line for line in lines)  # private keys are never printed


def test_demo_runs_again_on_the_same_data(stack):
    cfg = DemoConfig(seed=2, ticks=8, save_every=8)
    first = run_demo(stack.address, stack.admin_key, stack.data, cfg, log=lambda _: None)
    second = run_demo(stack.address, stack.admin_key, stack.data, cfg, log=lambda _: None)
    assert second.saved["aurora"][0] != first.saved["aurora"][0]
    assert stack.admin.get_snapshot(second.saved["aurora"][0]).parents == [first.saved["aurora"][0]]
    assert set(first.crossed).isdisjoint(second.crossed)


def test_up_starts_the_demo_beside_the_stack_with_the_key_file(stack):
    lines = []
    port = stack.address.rsplit(":", 1)[1]
    thread = start_demo(f"0.0.0.0:{port}", None, stack.data, DemoConfig(seed=3, ticks=8, save_every=8), log=lines.append,
                        gallery="http://127.0.0.1:8080")
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert lines[0].startswith("two simulated game servers (aurora, bramble) play tileworld-v1")
    assert not any(line.startswith("failed") for line in lines), lines
    assert "skipped: claim and buy (market off)" in lines  # this stack runs without a market
    assert any(line.startswith("demo done") for line in lines)
    assert "open the gallery in a browser: http://127.0.0.1:8080/  (the rarest vectors as pictures)" in lines
