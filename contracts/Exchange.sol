// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title Exchange: fixed-price ERC-721 sales for ETH from EIP-712 signed listings, without escrow.
/// @notice The seller approves this contract once (setApprovalForAll) and signs listings off-chain; a buyer fills
/// one with `buy`, which in one call moves the token straight from seller to buyer and pays the ERC-2981 royalty,
/// the optional fee and the seller from the buyer's ETH. The contract never holds tokens.
///
/// No payee can block a sale: each payment forwards at most PAYMENT_GAS, and one that fails (a receiver that
/// refuses ether, reverts or runs out of gas) is credited to the payee instead, who takes it later with
/// `withdraw` (pull payment). The contract holds exactly the ether credited and not yet withdrawn.
///
/// A listing names the token's nonce when it was signed (`tokenNonce`, for tokens that keep one, such as
/// RareVector: how often the token moved since its mint); it fills only while the token's nonce is still that, so
/// a listing dies when its token leaves the seller, even if the token comes back. A token without `tokenNonce`
/// counts as nonce 0, and its listings keep the older promise only: the seller must own the token.
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
    /// @param tokenNonce the token's nonce when signing (see the contract notice); 0 for tokens without one
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
        uint256 tokenNonce;
    }

    bytes32 public constant LISTING_TYPEHASH =
        keccak256(
            "Listing(address seller,address token,uint256 tokenId,uint256 price,address feeRecipient,uint256 fee,"
            "uint256 counter,uint256 salt,uint256 expiry,uint256 tokenNonce)"
        );

    uint256 private constant LOW_SALTS = 128;
    /// @notice Gas a payment forwards: a contract wallet's receive hook fits (a Safe takes under 10,000), and a
    /// payee that burns gas costs the buyer at most this much before its payment is credited instead.
    uint256 public constant PAYMENT_GAS = 100_000;

    /// @dev counter << 128 | used flags of salts 0..127 (bit `salt`), one word per seller.
    mapping(address seller => uint256) private _sellers;
    /// @dev Used flags of salts >= 128: bit (salt & 255) of word (salt >> 8).
    mapping(address seller => mapping(uint256 word => uint256)) private _highSalts;
    /// @dev Wei owed to payees whose payment failed, until they withdraw it.
    mapping(address payee => uint256) private _credits;

    /// @notice The seller is the `from` of the token's Transfer in the same transaction.
    event Sold(bytes32 indexed listingHash, address indexed token, uint256 indexed tokenId, address buyer, uint256 price);
    event Cancelled(bytes32 indexed listingHash, address indexed seller);
    event CounterIncremented(address indexed seller, uint256 counter);
    /// @notice A payment of a sale failed and was credited to `payee` (see `withdraw`).
    event Credited(address indexed payee, uint256 amount);
    event Withdrawn(address indexed payee, address to, uint256 amount);

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
    error TokenMoved(uint256 signed, uint256 current);
    error NothingToWithdraw(address payee);

    constructor() EIP712("Multiverse Exchange", "2") {}

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
        uint256 nonce = _tokenNonce(listing.token, listing.tokenId);
        if (nonce != listing.tokenNonce) revert TokenMoved(listing.tokenNonce, nonce);

        // Reverts unless `seller` owns the token and approved this contract.
        IERC721(listing.token).transferFrom(seller, msg.sender, listing.tokenId);
        emit Sold(listingHash, listing.token, listing.tokenId, msg.sender, price);

        // Last, after every state change (checks-effects-interactions; the guard stops re-entry as well).
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

    /// @notice Send msg.sender's credited wei (payments of sales that failed) to msg.sender.
    function withdraw() external returns (uint256 amount) {
        return withdrawTo(msg.sender);
    }

    /// @notice Send msg.sender's credited wei to `to` (for a payee contract that cannot receive ether itself).
    function withdrawTo(address to) public nonReentrant returns (uint256 amount) {
        amount = _credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        _credits[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), to, amount, 0, 0, 0, 0) // the payee's own call: all gas, no return data copied
        }
        if (!ok) revert PaymentFailed(to, amount);
    }

    /// @notice Wei credited to `payee` and not yet withdrawn.
    function creditOf(address payee) external view returns (uint256) {
        return _credits[payee];
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
    /// The struct hash is keccak256(LISTING_TYPEHASH || the 10 words of `listing`) taken straight from calldata: the
    /// struct is static, so its ABI encoding is those words. Callers read (and so validate) its address fields.
    function hashListing(Listing calldata listing) public view returns (bytes32) {
        bytes32 structHash;
        bytes32 typeHash = LISTING_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), listing, 0x140)
            structHash := keccak256(ptr, 0x160)
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

    /// @dev `token`'s tokenNonce(tokenId) if it answers with a word; else 0 (a token that keeps no nonce).
    function _tokenNonce(address token, uint256 tokenId) private view returns (uint256 nonce) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, shl(224, 0x4cad0f67)) // tokenNonce(uint256)
            mstore(add(ptr, 0x04), tokenId)
            let ok := staticcall(gas(), token, ptr, 0x24, ptr, 0x20)
            if and(ok, gt(returndatasize(), 0x1f)) {
                nonce := mload(ptr)
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

    /// @dev Send ETH with at most PAYMENT_GAS, without copying return data; credit it to `to` if that fails.
    function _pay(address to, uint256 amount) private {
        if (amount == 0) return;
        bool ok;
        assembly ("memory-safe") {
            ok := call(PAYMENT_GAS, to, amount, 0, 0, 0, 0)
        }
        if (!ok) {
            _credits[to] += amount;
            emit Credited(to, amount);
        }
    }
}
