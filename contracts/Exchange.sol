// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title Exchange: fixed-price ERC-721 sales for ETH from EIP-712 signed listings, without escrow.
/// @notice The seller approves this contract once (setApprovalForAll) and signs listings off-chain; a buyer fills
/// one with `buy`, which in one call moves the token straight from seller to buyer and pays the ERC-2981 royalty,
/// the optional fee and the seller from the buyer's ETH. The contract never holds tokens or ether.
///
/// Replay and staleness: the EIP-712 domain binds chainId and this contract's address. A listing's `salt` is its
/// nonce: filling or cancelling a listing marks (seller, salt) used, so a listing hash (which covers both) fills at
/// most once, and any other listing of that seller with that salt dies with it. The seller cancels one listing with
/// `cancel` or all listings signed so far with `incrementCounter`. State is keyed by what the seller signed, never
/// by the signature (ECDSA is checked for low s by OpenZeppelin; contract wallets sign via ERC-1271). The buyer
/// names the most they will pay.
///
/// Gas: a seller's counter and the used flags of salts 0..127 share one storage word, so a fill reads one cold slot
/// for both checks and a seller's later fills rewrite a non-zero word (2,900 gas instead of 22,100 for a fresh
/// slot). A counter bump clears those 128 flags with the counter (the listings they guard are stale by then), so
/// small salts are reused; salts from 128 up use a per-seller bitmap that is never cleared.
contract Exchange is EIP712, ReentrancyGuardTransient {
    /// @param seller the token owner and signer (an EOA, or a contract wallet validating via ERC-1271)
    /// @param token the ERC-721 contract
    /// @param price wei the buyer pays, all of it: royalty + fee + seller proceeds
    /// @param feeRecipient receives `fee` (ignored when fee is 0)
    /// @param counter the seller's counter when signing; bumping it cancels every listing signed before
    /// @param salt the listing's nonce: (seller, salt) fills or cancels once; below 128 it is cheapest (see above)
    /// @param expiry unix time (seconds) after which the listing cannot be filled
    struct Listing {
        address seller;
        address token;
        uint256 tokenId;
        uint256 price;
        address feeRecipient;
        uint256 fee;
        uint256 counter;
        uint256 salt;
        uint256 expiry;
    }

    bytes32 public constant LISTING_TYPEHASH =
        keccak256(
            "Listing(address seller,address token,uint256 tokenId,uint256 price,address feeRecipient,uint256 fee,"
            "uint256 counter,uint256 salt,uint256 expiry)"
        );

    uint256 private constant LOW_SALTS = 128;

    /// @dev counter << 128 | used flags of salts 0..127 (bit `salt`), one word per seller.
    mapping(address seller => uint256) private _sellers;
    /// @dev Used flags of salts >= 128: bit (salt & 255) of word (salt >> 8).
    mapping(address seller => mapping(uint256 word => uint256)) private _highSalts;

    /// @notice The seller is the `from` of the token's Transfer in the same transaction.
    event Sold(bytes32 indexed listingHash, address indexed token, uint256 indexed tokenId, address buyer, uint256 price);
    event Cancelled(bytes32 indexed listingHash, address indexed seller);
    event CounterIncremented(address indexed seller, uint256 counter);

    error PriceAboveMax(uint256 price, uint256 maxPrice);
    error WrongPayment(uint256 sent, uint256 price);
    error ListingExpired(uint256 expiry, uint256 now_);
    error StaleCounter(uint256 signed, uint256 current);
    error ListingUsed(bytes32 listingHash);
    error InvalidSignature(address seller, bytes32 listingHash);
    error PaymentsExceedPrice(uint256 royalty, uint256 fee, uint256 price);
    error FeeWithoutRecipient(uint256 fee);
    error PaymentFailed(address to, uint256 amount);
    error NotSeller(address caller, address seller);
    error CounterOverflow(uint256 counter);

    constructor() EIP712("Multiverse Exchange", "1") {}

    /// @notice Buy the listed token for exactly `listing.price` wei (sent as msg.value), refusing to pay more than
    /// `maxPrice`. The token goes to msg.sender.
    function buy(Listing calldata listing, bytes calldata signature, uint256 maxPrice) external payable nonReentrant {
        uint256 price = listing.price;
        if (price > maxPrice) revert PriceAboveMax(price, maxPrice);
        if (msg.value != price) revert WrongPayment(msg.value, price);
        if (block.timestamp > listing.expiry) revert ListingExpired(listing.expiry, block.timestamp);
        address seller = listing.seller;
        bytes32 listingHash = hashListing(listing);
        _consume(seller, listing.counter, listing.salt, listingHash); // undone below if the signature fails
        if (!SignatureChecker.isValidSignatureNowCalldata(seller, listingHash, signature)) {
            revert InvalidSignature(seller, listingHash);
        }

        uint256 fee = listing.fee;
        address feeRecipient = listing.feeRecipient;
        if (fee != 0 && feeRecipient == address(0)) revert FeeWithoutRecipient(fee);
        (address royaltyTo, uint256 royalty) = _royalty(listing.token, listing.tokenId, price);
        if (fee > price || royalty > price - fee) revert PaymentsExceedPrice(royalty, fee, price);
        if (royaltyTo == seller) royalty = 0; // the discoverer selling: one payment instead of two

        // Reverts unless `seller` owns the token and approved this contract.
        IERC721(listing.token).transferFrom(seller, msg.sender, listing.tokenId);
        emit Sold(listingHash, listing.token, listing.tokenId, msg.sender, price);

        _pay(royaltyTo, royalty);
        _pay(feeRecipient, fee);
        _pay(seller, price - royalty - fee);
    }

    /// @notice Cancel listings signed by msg.sender: each one's salt becomes used (see the contract notice).
    function cancel(Listing[] calldata listings) external {
        for (uint256 i; i < listings.length; ++i) {
            Listing calldata listing = listings[i];
            if (listing.seller != msg.sender) revert NotSeller(msg.sender, listing.seller);
            uint256 salt = listing.salt;
            if (salt < LOW_SALTS) _sellers[msg.sender] |= 1 << salt;
            else _highSalts[msg.sender][salt >> 8] |= 1 << (salt & 255);
            emit Cancelled(hashListing(listing), msg.sender);
        }
    }

    /// @notice Cancel every listing msg.sender signed so far. The counter jumps by a quasi-random amount (as in
    /// Seaport) so that listings signed in advance with a guessed future counter stay dead.
    /// The jump is below 2**64, so the 128-bit counter cannot overflow in any realistic number of bumps (and reverts
    /// if it ever would). The used flags of salts 0..127 are cleared with it.
    function incrementCounter() external returns (uint256 counter) {
        counter = (_sellers[msg.sender] >> 128) + 1 + (uint256(blockhash(block.number - 1)) >> 192);
        if (counter >> 128 != 0) revert CounterOverflow(counter);
        _sellers[msg.sender] = counter << 128;
        emit CounterIncremented(msg.sender, counter);
    }

    /// @notice Each seller's current counter; only listings signed with it can be filled.
    function counterOf(address seller) external view returns (uint256) {
        return _sellers[seller] >> 128;
    }

    /// @notice Whether `seller`'s salt was filled or cancelled (for salts below 128: since the last counter bump).
    function isUsed(address seller, uint256 salt) public view returns (bool) {
        if (salt < LOW_SALTS) return (_sellers[seller] >> salt) & 1 != 0;
        return (_highSalts[seller][salt >> 8] >> (salt & 255)) & 1 != 0;
    }

    /// @notice The EIP-712 digest the seller signs, which is also the key of the listing's state.
    /// The struct hash is keccak256(LISTING_TYPEHASH || the 9 words of `listing`) taken straight from calldata: the
    /// struct is static, so its ABI encoding is those words. Callers read (and so validate) its address fields.
    function hashListing(Listing calldata listing) public view returns (bytes32) {
        bytes32 structHash;
        bytes32 typeHash = LISTING_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), listing, 0x120)
            structHash := keccak256(ptr, 0x140)
        }
        return _hashTypedDataV4(structHash);
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev ERC-2981 royalty of `token` if it answers royaltyInfo with a clean (address, uint256); else none.
    /// Reads exactly 64 bytes of return data, so a hostile token cannot make us copy a huge answer.
    function _royalty(address token, uint256 tokenId, uint256 price) private view returns (address to, uint256 amount) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0x2a55205a)) // royaltyInfo(uint256,uint256)
            mstore(add(ptr, 0x04), tokenId)
            mstore(add(ptr, 0x24), price)
            // (Yul evaluates arguments right to left: the call must come first, or returndatasize is stale.)
            let ok := staticcall(gas(), token, ptr, 0x44, ptr, 0x40)
            if and(ok, gt(returndatasize(), 0x3f)) {
                to := mload(ptr)
                amount := mload(add(ptr, 0x20))
            }
            if or(iszero(to), gt(to, 0xffffffffffffffffffffffffffffffffffffffff)) {
                to := 0
                amount := 0
            }
        }
    }

    /// @dev Check the seller's counter and that (seller, salt) is unused, and mark it used.
    function _consume(address seller, uint256 counter, uint256 salt, bytes32 listingHash) private {
        uint256 state = _sellers[seller];
        if (counter != state >> 128) revert StaleCounter(counter, state >> 128);
        if (salt < LOW_SALTS) {
            if ((state >> salt) & 1 != 0) revert ListingUsed(listingHash);
            _sellers[seller] = state | (1 << salt);
        } else {
            uint256 word = _highSalts[seller][salt >> 8];
            if ((word >> (salt & 255)) & 1 != 0) revert ListingUsed(listingHash);
            _highSalts[seller][salt >> 8] = word | (1 << (salt & 255));
        }
    }

    /// @dev Send ETH with all gas left, without copying return data.
    function _pay(address to, uint256 amount) private {
        if (amount == 0) return;
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0)
        }
        if (!ok) revert PaymentFailed(to, amount);
    }
}
