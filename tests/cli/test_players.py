"""The CLI as a player uses it (issue 15 part 6), against the embedded App behind a real gRPC server
(tests/market/stack.py): a wallet key file instead of an API key reads rarity (public worlds only), `rare` prints
the full ids that `claim` takes, prices print and parse in ether, and empty results say what to do next."""

from __future__ import annotations

import json
import re

import pytest

from multiverse import errors
from multiverse.cli.main import main
from multiverse.cli.market import _wei, ether
from multiverse.records import PRIVATE, PUBLIC, ROLE_ADMIN
from multiverse.store.auth import mint_key
from tests.chain.harness import key_for
from tests.market.stack import serve
from tests.market.world import OUTLIER_PLAYER

ETHER = 10**18


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("cli-players")) as s:
        yield s


@pytest.fixture
def cli(served, tmp_path, capsys):
    """run(*args) -> (exit status, stdout, stderr), with no API key anywhere unless --key is given."""
    keys = {}
    for name in ("alice", "bob", "dave"):
        keys[name] = tmp_path / f"{name}.key"
        keys[name].write_text(key_for(name) + "\n")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["--grpc", served.address, "--data", str(tmp_path / "no-admin-key"), *args])
        out, err = capsys.readouterr()
        return status, out, err

    run.keys = keys
    return run


def test_a_wallet_reads_rarity_of_public_worlds_with_full_ids(served, cli):
    served.app.meta.set_world_visibility("w", PRIVATE)
    status, _, err = cli("rare", "--kind", "player")
    assert status == 1 and "UNAUTHENTICATED" in err  # no key at all
    status, out, err = cli("rare", "--kind", "player", "--wallet-key", str(cli.keys["bob"]))
    assert status == 0, err
    assert out.startswith("no player vectors scored yet")  # world "w" is private: a wallet reads public worlds only
    served.app.meta.set_world_visibility("w", PUBLIC)
    status, out, err = cli("rare", "--kind", "player", "--wallet-key", str(cli.keys["bob"]))
    assert status == 0, err
    assert f"{served.snapshot} player[{OUTLIER_PLAYER}]" in out  # the full 64-character id
    assert re.search(r"\b[0-9a-f]{64} player\[\d+\]", out)


def test_claim_takes_the_id_rare_prints_and_a_prefix_with_an_api_key(served, cli):
    served.app.meta.set_world_visibility("w", PUBLIC)
    _, out, _ = cli("rare", "--kind", "player", "--wallet-key", str(cli.keys["bob"]))
    line = next(x for x in out.splitlines() if f"player[{OUTLIER_PLAYER}]" in x)
    snapshot = re.search(r"\b([0-9a-f]{64}) player", line).group(1)
    status, out, err = cli("claim", snapshot, "--kind", "player", "--index", str(OUTLIER_PLAYER),
                           "--wallet-key", str(cli.keys["bob"]))
    assert status == 0, err
    assert json.loads(out)["owner"] == served.wallets["bob"].address

    status, _, err = cli("claim", snapshot[:12], "--kind", "player", "--index", "0", "--wallet-key", str(cli.keys["alice"]))
    assert status == 1 and "full 64-character id" in err
    _, admin = mint_key(served.app.meta, "cli-players-admin", ROLE_ADMIN)
    status, out, err = cli("--key", admin, "claim", snapshot[:12], "--kind", "player", "--index", "0",
                           "--wallet-key", str(cli.keys["alice"]))
    assert status == 0, err
    assert json.loads(out)["snapshot"] == snapshot


def test_prices_print_in_ether_and_empty_results_say_what_to_do(served, cli):
    dave = str(cli.keys["dave"])
    status, out, err = cli("tokens", "--owner", "me", "--wallet-key", dave)
    assert status == 0 and out.startswith("no tokens of yours yet") and "multiverse claim" in out, err
    status, out, _ = cli("listings", "--seller", served.wallets["dave"].address, "--wallet-key", dave)
    assert status == 0 and out.startswith("no active listings") and "multiverse list" in out

    served.app.meta.set_world_visibility("w", PUBLIC)
    cli("claim", served.snapshot, "--kind", "player", "--index", str(OUTLIER_PLAYER), "--wallet-key", str(cli.keys["bob"]))
    token = served.app.market.market.list_tokens(owner=served.wallets["bob"].address)[0].token_id
    status, out, err = cli("list", token, "--price", "0.5", "--wallet-key", str(cli.keys["bob"]))
    assert status == 0, err
    listed = json.loads(out)
    assert listed["price"] == str(ETHER // 2) and listed["price_ether"] == "0.5"
    _, out, _ = cli("listings", "--token", token, "--wallet-key", dave)
    assert "price 0.5 ether" in out and token in out
    _, out, _ = cli("tokens", "--owner", "me", "--wallet-key", str(cli.keys["bob"]))
    assert f"{token}" in out and served.snapshot in out  # full ids


@pytest.mark.parametrize(("text", "wei"), [
    ("0.5", ETHER // 2), ("0.5ether", ETHER // 2), ("0.5 eth", ETHER // 2), ("1.0", ETHER), ("2ether", 2 * ETHER),
    ("1000", 1000), ("1000wei", 1000), ("3gwei", 3 * 10**9), ("1_000", 1000), ("0", 0),
])
def test_amounts_parse_as_ether_with_a_point_or_suffix_else_as_whole_wei(text, wei):
    assert _wei("--price", text) == wei
    assert _wei("--price", ether(wei) + "ether") == wei  # what prints reads back


@pytest.mark.parametrize("text", ["lots", "-1", "nan", "inf", "1.5wei", "1e400ether", "", "0x10", "1" * 200])
def test_a_bad_amount_names_the_flag_and_the_fix(text):
    with pytest.raises(errors.InvalidArgument) as info:
        _wei("--price", text)
    assert info.value.field == "--price" and "0.5" in info.value.fix


def test_ether_prints_exact_decimals():
    assert ether(25 * 10**16) == "0.25"
    assert ether(1) == "0.000000000000000001"
    assert ether(2**256 - 1).startswith("115792089237316195423570985008687907853269984665640564039457")
