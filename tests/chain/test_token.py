"""RareVector on the in-process EVM and on anvil: mint, duplicates, roles, royalty, provenance, metadata."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from multiverse.chain import Provenance, token_id_for
from multiverse.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.chain.harness import BASE_URI, CONTRACT_URI, ETHER, PROVENANCE, ROYALTY_BPS, ZERO

MINTER_ROLE = keccak(text="MINTER_ROLE")


def test_mint_records_owner_provenance_and_logs(net):
    start = net.chain.block_number()
    content = token_id_for(b"a rare frame")
    minted = net.chain.mint(net.alice.address, content, PROVENANCE)

    assert minted.token_id == content
    assert minted.owner == net.alice.address
    assert minted.block_number == start + 1
    assert net.chain.owner_of(content) == net.alice.address
    info = net.chain.token_info(content)
    assert info.owner == info.discoverer == net.alice.address
    assert info.royalty_bps == ROYALTY_BPS
    assert info.token_uri == BASE_URI + "0x" + content
    assert info.provenance == PROVENANCE

    events = net.chain.get_logs(start + 1)
    assert [(e.contract, e.name) for e in events] == [("RareVector", "Transfer"), ("RareVector", "Provenance")]
    transfer, provenance = events
    assert transfer.args == {"from": ZERO, "to": net.alice.address, "tokenId": content}
    assert provenance.args["tokenId"] == content
    assert provenance.args["space"] == "0x" + b"tileworld-v1".ljust(32, b"\0").hex()
    assert (provenance.args["index"], provenance.args["rarityPpm"]) == (7, 999_000)
    assert transfer.tx_hash == minted.tx_hash and transfer.block_hash == net.chain.block_hash(minted.block_number)


def test_the_same_vector_cannot_be_minted_twice(net):
    content = token_id_for(b"once")
    net.chain.mint(net.alice.address, content, PROVENANCE)
    with pytest.raises(AlreadyExists, match=rf"mint {content}: this vector was minted before") as refused:
        net.chain.mint(net.bob.address, content, PROVENANCE)
    assert refused.value.details["contract_error"] == "TokenAlreadyExists"
    assert net.chain.owner_of(content) == net.alice.address


def test_only_minters_mint_and_the_admin_manages_minters(net):
    token = net.token.functions
    call = token.mint(net.bob.address, bytes.fromhex(token_id_for(b"x")), b"s".ljust(32, b"\0"), b"\1" * 32, 0, bytes(32))
    with pytest.raises(PermissionDenied, match="AccessControlUnauthorizedAccount"):
        net.bob.transact("mint as bob", call)

    net.admin.transact("grant", token.grantRole(MINTER_ROLE, net.bob.address))
    net.bob.transact("mint as bob", call)
    assert net.chain.owner_of(token_id_for(b"x")) == net.bob.address

    net.admin.transact("revoke", token.revokeRole(MINTER_ROLE, net.bob.address))
    again = token.mint(net.bob.address, bytes.fromhex(token_id_for(b"y")), b"s".ljust(32, b"\0"), b"\1" * 32, 0, bytes(32))
    with pytest.raises(PermissionDenied):
        net.bob.transact("mint as bob", again)
    with pytest.raises(PermissionDenied):  # only the admin grants
        net.bob.transact("grant", token.grantRole(MINTER_ROLE, net.bob.address))


def test_royalty_goes_to_the_discoverer_for_life(net):
    token_id = net.mint(net.alice, "royalty")
    info = net.token.functions.royaltyInfo
    assert info(token_id, 10 * ETHER).call() == [net.alice.address, 10 * ETHER * ROYALTY_BPS // 10_000]

    net.alice.transact("give", net.token.functions.transferFrom(net.alice.address, net.bob.address, token_id))
    net.bob.transact("give", net.token.functions.transferFrom(net.bob.address, net.carol.address, token_id))
    assert info(token_id, 10_000).call() == [net.alice.address, ROYALTY_BPS]
    assert net.chain.token_info(f"{token_id:064x}").discoverer == net.alice.address
    assert net.chain.owner_of(f"{token_id:064x}") == net.carol.address
    assert info(token_id + 1, 10_000).call() == [ZERO, 0]  # no such token: no royalty


def test_metadata_interfaces_and_admin_only_uris(net):
    f = net.token.functions
    assert f.contractURI().call() == CONTRACT_URI
    for interface in ("80ac58cd", "5b5e139f", "2a55205a", "7965db0b", "49064906", "01ffc9a7"):
        assert f.supportsInterface(bytes.fromhex(interface)).call(), interface
    assert not f.supportsInterface(bytes.fromhex("ffffffff")).call()

    start = net.chain.block_number()
    net.admin.transact("set base", f.setBaseURI("ipfs://new/"))
    net.admin.transact("set contract", f.setContractURI("ipfs://c.json"))
    assert [e.name for e in net.chain.get_logs(start + 1)] == ["BatchMetadataUpdate", "ContractURIUpdated"]
    token_id = net.mint(net.alice, "uri")
    assert f.tokenURI(token_id).call() == f"ipfs://new/0x{token_id:064x}"
    assert f.contractURI().call() == "ipfs://c.json"
    with pytest.raises(PermissionDenied):
        net.bob.transact("set base", f.setBaseURI("https://evil/"))
    with pytest.raises(NotFound, match="TokenDoesNotExist"):
        net.chain.token_info(f"{token_id + 1:064x}")


def test_contract_checks_rarity_range(net):
    token = net.token.functions
    net.admin.transact("grant", token.grantRole(MINTER_ROLE, net.bob.address))
    call = token.mint(net.bob.address, b"\7" * 32, b"s".ljust(32, b"\0"), b"\1" * 32, 5 << 32 | 1_000_001, bytes(32))
    with pytest.raises(FailedPrecondition, match=r"RarityOutOfRange\(rarityPpm=1000001\)"):
        net.bob.transact("mint", call)


@pytest.mark.parametrize(
    ("to", "content", "provenance", "field"),
    [
        ("0x123", token_id_for(b"a"), PROVENANCE, "to"),
        (None, "abc", PROVENANCE, "content_hash"),
        (None, token_id_for(b"a"), Provenance("x" * 33, "5e" * 32, 0, 0), "provenance.space"),
        (None, token_id_for(b"a"), Provenance("", "5e" * 32, 0, 0), "provenance.space"),
        (None, token_id_for(b"a"), Provenance("s", "zz", 0, 0), "provenance.snapshot"),
        (None, token_id_for(b"a"), Provenance("s", "5e" * 32, -1, 0), "provenance.index"),
        (None, token_id_for(b"a"), Provenance("s", "5e" * 32, 2**32, 0), "provenance.index"),
        (None, token_id_for(b"a"), Provenance("s", "5e" * 32, 0, 1_000_001), "provenance.rarity_ppm"),
        (None, token_id_for(b"a"), Provenance("s", "5e" * 32, 0, 0, "5e" * 31), "provenance.commitment"),
    ],
)
def test_mint_validates_input_before_sending(memory_chain, to, content, provenance, field):
    chain = memory_chain.chain
    head = chain.block_number()
    with pytest.raises(InvalidArgument) as caught:
        chain.mint(to or memory_chain.alice.address, content, provenance)
    assert caught.value.field == field
    assert chain.block_number() == head
