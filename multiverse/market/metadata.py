"""ERC-721 token metadata: what wallets and marketplaces show for a token (pure: a TokenRow in, JSON out).

The token's ``tokenURI(id)`` is the base URI followed by ``0x`` and the id as 64 hex digits (RareVector.sol);
the gateway sets the base URI to its own ``/token/`` (``multiverse up``), so the URI answers this JSON:

    {"name", "description", "image", "external_url", "attributes": [{"trait_type", "value"}, ...]}

with the attributes Tier, Percentile at mint, Space, World, Snapshot, Index, Kind and Discoverer. A token is
public on the chain, but the world its vector came from may not be: for a world the public cannot read, the
metadata names no world and links no picture or page (both would answer 404), and says so.
"""

from __future__ import annotations

from typing import Any

from multiverse.market.rows import TokenRow
from multiverse.pictures.paths import picture_path

TOKEN_PREFIX = "/token/"  # the gateway path a token's metadata is served under: tokenURI = base URL + this + 0x<id>


def token_uri_base(base_url: str) -> str:
    """The token's base URI for a gateway reached at ``base_url`` (no trailing slash)."""
    return base_url.rstrip("/") + TOKEN_PREFIX


def vector_page(snapshot: str, kind: str, index: int) -> str:
    """The gallery path of a vector's page."""
    return f"/v/{snapshot}/{kind}/{int(index)}"


def token_metadata(token: TokenRow, *, world: str | None, base_url: str) -> dict[str, Any]:
    """The ERC-721 metadata JSON of ``token``; ``world``: the name of the world its snapshot is in when the public
    may read it, else None; ``base_url``: where the gateway is reached (absolute URLs for image and page)."""
    base = base_url.rstrip("/")
    tier = token.tier.capitalize()
    where = f"world {world!r}" if world is not None else "a private world"
    body: dict[str, Any] = {
        "name": f"{tier} {token.kind} {token.vector_index} of {token.space}",
        "description": (
            f"A {token.tier} {token.kind} vector of latent space {token.space}, found in {where} (snapshot "
            f"{token.snapshot}, row {token.vector_index}); at mint it was rarer than {token.percentile:.2f}% of its "
            "space's vectors. The token id is the sha256 of the vector's canonical bytes; its owner alone may "
            "download them."
        ),
    }
    if world is not None:
        body["image"] = base + picture_path(token.snapshot, token.kind, token.vector_index)
        body["external_url"] = base + vector_page(token.snapshot, token.kind, token.vector_index)
    traits: list[dict[str, Any]] = [
        {"trait_type": "Tier", "value": tier},
        {"trait_type": "Percentile at mint", "value": round(float(token.percentile), 4), "display_type": "number",
         "max_value": 100},
        {"trait_type": "Space", "value": token.space},
        *([{"trait_type": "World", "value": world}] if world is not None else []),
        {"trait_type": "Snapshot", "value": token.snapshot},
        {"trait_type": "Index", "value": token.vector_index},
        {"trait_type": "Kind", "value": token.kind},
        {"trait_type": "Discoverer", "value": token.discoverer},
    ]
    body["attributes"] = traits
    return body
