// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "solady/src/tokens/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC2981} from "@openzeppelin/contracts/interfaces/IERC2981.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @title RareVector: one ERC-721 token per rare latent vector of a Multiverse world.
/// @notice tokenId = uint256(sha256(canonical bytes of the vector)). The minter computes the hash off-chain (a
/// frame latent is kilobytes, far too big for calldata) and passes it in; ERC-721 ownership is the record, so
/// the same vector can never be minted twice (there is no burn). Each mint emits {Provenance}.
///
/// Built on Solady's ERC721, which keeps 96 spare bits beside each token's owner in the same storage word (the
/// OpenZeppelin build, contracts/baseline/RareVectorOZ.sol, measured against this one by bench/gas_bench.py, needs
/// a word of its own for them). Those bits hold the token's nonce: how many times it moved since its mint. Every
/// transfer bumps it in the word the transfer writes anyway (about 200 gas), and the Exchange binds each listing
/// to the nonce at signing, so a listing dies as soon as its token moves, even if the token comes back.
///
/// Royalty (ERC-2981): `royaltyBps` of every sale goes to the token's discoverer, the address it was minted to.
/// While the token has never moved (nonce 0) its owner is the discoverer; the first transfer away records the
/// sender (one storage write, once per token lifetime), and later transfers see from the nonce that it is there.
///
/// Roles: the admin (DEFAULT_ADMIN_ROLE) grants and revokes minters and sets the URIs; the minter only mints. The
/// constructor refuses one address for both, so the minter key, which signs on a server, cannot also re-point the
/// metadata or appoint minters.
contract RareVector is ERC721, AccessControl, IERC2981 {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Rarity at mint is a percentile in parts per million (999_000 = the rarest 0.1%).
    uint32 public constant RARITY_SCALE = 1_000_000;
    uint256 private constant BPS = 10_000;

    /// @notice Basis points of each sale price owed to the discoverer, fixed at deployment.
    uint256 public immutable royaltyBps;

    mapping(uint256 tokenId => address) private _discoverers; // set on a token's first transfer
    string private _base;
    string private _contractURI;

    /// @notice Where a minted vector came from: latent space (UTF-8 name, right-padded with zeros), snapshot id
    /// (sha256), and `indexRarity` = index << 32 | rarityPpm: the index of the vector in that snapshot (uint32) and
    /// its rarity percentile in ppm at mint (uint32), packed in one word (one log word and one calldata word less per
    /// mint than two fields: about 400 gas). `commitment` is the sha256 of the canonical JSON of the rarity the token
    /// was minted with (space, snapshot, kind, index, score, percentile in ppm, index version, the digest of the index
    /// pinned in the blob store and the hash of the calibration it was placed against; multiverse/chain/provenance.py):
    /// anyone holding those can recompute the score and check it against this word. One calldata word and one log
    /// word (about 800 gas); zero for a mint that commits to nothing.
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
    ) {
        if (royaltyBps_ > BPS) revert RoyaltyTooHigh(royaltyBps_);
        if (admin == minter) revert AdminIsMinter(admin);
        royaltyBps = royaltyBps_;
        _base = baseURI_;
        _contractURI = contractURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, minter);
    }

    function name() public pure override returns (string memory) {
        return "Multiverse Rare Vector";
    }

    function symbol() public pure override returns (string memory) {
        return "RARE";
    }

    /// @notice Mint the vector whose canonical bytes hash to `contentHash` to its discoverer `to`; `indexRarity` is
    /// index << 32 | rarityPpm, `commitment` the hash of the rarity at mint (see {Provenance}).
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
        // A vector minted before: _mint reverts with TokenAlreadyExists() (the port reports it as AlreadyExists).
        _mint(to, tokenId);
        emit Provenance(tokenId, space, snapshot, indexRarity, commitment);
    }

    /// @notice How many times the token moved since its mint (0 for a token that does not exist). A listing on the
    /// Exchange names the nonce it was signed at and cannot be filled once the token has moved again.
    function tokenNonce(uint256 tokenId) external view returns (uint256) {
        return _getExtraData(tokenId);
    }

    /// @notice The address the token was minted to (reverts for a token that does not exist).
    function discoverer(uint256 tokenId) public view returns (address) {
        return _getExtraData(tokenId) == 0 ? ownerOf(tokenId) : _discoverers[tokenId];
    }

    /// @inheritdoc IERC2981
    /// @dev A token that does not exist has no royalty: (address(0), 0).
    function royaltyInfo(uint256 tokenId, uint256 salePrice) external view returns (address receiver, uint256 amount) {
        receiver = _getExtraData(tokenId) == 0 ? _ownerOf(tokenId) : _discoverers[tokenId];
        if (receiver != address(0)) amount = (salePrice * royaltyBps) / BPS;
    }

    /// @notice `baseURI` followed by the token id as 0x-prefixed 64-digit hex (the content hash).
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        ownerOf(tokenId); // reverts with TokenDoesNotExist()
        return bytes(_base).length == 0 ? "" : string.concat(_base, Strings.toHexString(tokenId, 32));
    }

    /// @notice ERC-7572 collection metadata.
    function contractURI() external view returns (string memory) {
        return _contractURI;
    }

    /// @notice Point every token's metadata at `baseURI_` (admin only): tokenURI(id) = baseURI_ + hex(id).
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
            ERC721.supportsInterface(interfaceId) ||
            AccessControl.supportsInterface(interfaceId);
    }

    /// @dev Bumps the token's nonce on every move (not on mint) and records the discoverer on the first one.
    function _afterTokenTransfer(address from, address, uint256 tokenId) internal override {
        if (from == address(0)) return;
        uint96 moves = _getExtraData(tokenId);
        if (moves == 0) _discoverers[tokenId] = from;
        _setExtraData(tokenId, moves + 1);
    }
}
