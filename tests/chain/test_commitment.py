"""The mint's rarity commitment on chain (issue 16, item 5): the Provenance event carries it, the port reads it back
from the log and the indexer's events, a mint without one reads as "", and a token deployed before the event had
it is refused at attach. The mint record's canonical bytes are fixed: a hash published on chain must never drift."""

from __future__ import annotations

import hashlib

import pytest
from web3 import Web3

from multiverse.chain import Provenance, token_id_for
from multiverse.chain.base import PROVENANCE_EVENT
from multiverse.chain.provenance import MintRecord, ppm, require_commitment
from multiverse.errors import FailedPrecondition

RECORD = MintRecord("demo", "5e" * 32, "player", 1, 2.5, 999_500, "player.b0.r3", "ab" * 32, "cd" * 32)


def test_the_mint_record_hashes_to_a_fixed_commitment():
    assert RECORD.canonical() == (
        b'{"calibration_hash":"' + b"cd" * 32 + b'","format":"multiverse.mint.v1","index":1,"index_digest":"'
        + b"ab" * 32 + b'","index_version":"player.b0.r3","kind":"player","percentile_ppm":999500,"score":2.5,'
        b'"snapshot":"' + b"5e" * 32 + b'","space":"demo"}'
    )
    assert RECORD.commitment() == hashlib.sha256(RECORD.canonical()).hexdigest()
    assert MintRecord(*[*RECORD.__dict__.values()][:4], 2.5000000000000004, *[*RECORD.__dict__.values()][5:]) \
        .commitment() != RECORD.commitment()  # one ulp of score is another commitment
    assert (ppm(99.95), ppm(-1), ppm(101)) == (999_500, 0, 1_000_000)


def test_mint_commits_and_the_port_reads_it_back(net):
    chain = net.chain
    start = chain.block_number()
    committed = Provenance("demo", "5e" * 32, 1, 999_500, RECORD.commitment())
    content = token_id_for(b"a committed vector")
    chain.mint(net.alice.address, content, committed)
    assert chain.token_info(content).provenance == committed
    provenance = [e for e in chain.get_logs(start + 1) if e.name == "Provenance"][0]
    assert provenance.args["commitment"] == "0x" + RECORD.commitment()

    plain = token_id_for(b"an uncommitted vector")  # commits to nothing: zero on chain, "" through the port
    chain.mint(net.alice.address, plain, Provenance("demo", "5e" * 32, 2, 10))
    assert chain.token_info(plain).provenance.commitment == ""


def test_a_token_without_the_commitment_is_refused():
    topic = bytes(Web3.keccak(text=PROVENANCE_EVENT))
    require_commitment(b"\x60\x80" + topic + b"\x00", "0x" + "11" * 20)
    old = bytes(Web3.keccak(text="Provenance(uint256,bytes32,bytes32,uint64)"))
    with pytest.raises(FailedPrecondition, match="deploy new contracts"):
        require_commitment(b"\x60\x80" + old + b"\x00", "0x" + "11" * 20)
