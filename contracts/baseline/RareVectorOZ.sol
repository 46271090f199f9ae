// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @title RareVectorOZ: contracts/RareVector.sol on OpenZeppelin's ERC721 instead of Solady's, with the same
/// interface and behaviour. Only bench/gas_bench.py deploys it, to measure the two against each other in one run.
/// OpenZeppelin keeps a token's owner in a word of its own, so the nonce shares a second word with the
/// discoverer: discoverer (160 bits) | nonce << 160, written on every transfer (2,900 gas after the first).
/// @notice tokenId = uint256(sha256(canonical bytes of the vector)). The minter computes the hash off-chain (a
/// frame latent is kilobytes, far too big for calldata) and passes it in; ERC-721 ownership is the record, so
/// the same vector can never be minted twice (there is no burn). Each mint emits {Provenance}.
///
/// Royalty (ERC-2981): `royaltyBps` of every sale goes to the token's discoverer, the address it was minted to.
/// To keep mint at the cost of a plain OpenZeppelin mint, the discoverer is not written at mint: while the token
/// has never moved, its owner is the discoverer; the first transfer away records the sender (one storage
/// write, once per token lifetime, paid by that first transfer).
contract RareVectorOZ is ERC721, AccessControl, IERC2981 {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Rarity at mint is a percentile in parts per million (999_000 = the rarest 0.1%).
    uint32 public constant RARITY_SCALE = 1_000_000;
    uint256 private constant BPS = 10_000;

    /// @notice Basis points of each sale price owed to the discoverer, fixed at deployment.
    uint256 public immutable royaltyBps;

    /// @dev discoverer (set on the token's first transfer) | nonce << 160 (transfers since mint)
    mapping(uint256 tokenId => uint256) private _tokenData;
    string private _base;
    string private _contractURI;

    /// @notice Where a minted vector came from: latent space (UTF-8 name, right-padded with zeros), snapshot id
    /// (sha256), and `indexRarity` = index << 32 | rarityPpm: the index of the vector in that snapshot (uint32) and
    /// its rarity percentile in ppm at mint (uint32), packed in one word (one log word and one calldata word less per
    /// mint than two fields: about 400 gas); `commitment`: the hash of the rarity at mint, as in RareVector.sol.
    event Provenance(uint256 indexed tokenId, bytes32 space, bytes32 snapshot, uint64 indexRarity, bytes32 commitment);
    /// @notice ERC-7572: contractURI() changed.
    event ContractURIUpdated();
    /// @notice ERC-4906: every token's metadata may have changed (the base URI moved).
    event BatchMetadataUpdate(uint256 fromTokenId, uint256 toTokenId);

    error RarityOutOfRange(uint32 rarityPpm);
    error RoyaltyTooHigh(uint256 royaltyBps);
    error AdminIsMinter(address account);

    constructor(
        address admin,
        address minter,
        uint256 royaltyBps_,
        string memory baseURI_,
        string memory contractURI_
    ) ERC721("Multiverse Rare Vector", "RARE") {
        if (royaltyBps_ > BPS) revert RoyaltyTooHigh(royaltyBps_);
        if (admin == minter) revert AdminIsMinter(admin);
        royaltyBps = royaltyBps_;
        _base = baseURI_;
        _contractURI = contractURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, minter);
    }

    /// @notice Mint the vector whose canonical bytes hash to `contentHash` to its discoverer `to`; `indexRarity` is
    /// index << 32 | rarityPpm (see {Provenance}).
    /// @return tokenId uint256(contentHash)
    function mint(
        address to,
        bytes32 contentHash,
        bytes32 space,
        bytes32 snapshot,
        uint64 indexRarity,
        bytes32 commitment
    ) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        if (uint32(indexRarity) > RARITY_SCALE) revert RarityOutOfRange(uint32(indexRarity));
        tokenId = uint256(contentHash);
        // A vector minted before: _mint reverts with ERC721InvalidSender(address(0)) (the port reports it as
        // AlreadyExists). No check of our own: it would read the owner slot a second time.
        _mint(to, tokenId);
        emit Provenance(tokenId, space, snapshot, indexRarity, commitment);
    }

    /// @notice How many times the token moved since its mint (0 for a token that does not exist).
    function tokenNonce(uint256 tokenId) external view returns (uint256) {
        return _tokenData[tokenId] >> 160;
    }

    /// @notice The address the token was minted to (reverts for a token that does not exist).
    function discoverer(uint256 tokenId) public view returns (address) {
        address recorded = address(uint160(_tokenData[tokenId]));
        return recorded != address(0) ? recorded : _requireOwned(tokenId);
    }

    /// @inheritdoc IERC2981
    /// @dev A token that does not exist has no royalty: (address(0), 0).
    function royaltyInfo(uint256 tokenId, uint256 salePrice) external view returns (address receiver, uint256 amount) {
        receiver = address(uint160(_tokenData[tokenId]));
        if (receiver == address(0)) receiver = _ownerOf(tokenId);
        if (receiver != address(0)) amount = (salePrice * royaltyBps) / BPS;
    }

    /// @notice `baseURI` followed by the token id as 0x-prefixed 64-digit hex (the content hash).
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return bytes(_base).length == 0 ? "" : string.concat(_base, Strings.toHexString(tokenId, 32));
    }

    /// @notice ERC-7572 collection metadata.
    function contractURI() external view returns (string memory) {
        return _contractURI;
    }

    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _base = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    function setContractURI(string calldata contractURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _contractURI = contractURI_;
        emit ContractURIUpdated();
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl, IERC165) returns (bool) {
        return
            interfaceId == type(IERC2981).interfaceId ||
            interfaceId == bytes4(0x49064906) || // ERC-4906
            super.supportsInterface(interfaceId);
    }

    /// @dev Bumps the nonce on every move (not on mint) and records the discoverer on the first one.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        if (from == address(0)) return from;
        uint256 data = _tokenData[tokenId];
        if (data == 0) data = uint160(from);
        _tokenData[tokenId] = data + (1 << 160);
    }
}
