// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title A test-only ERC-1271 contract wallet: signatures by `owner` are the wallet's signatures.
/// @notice tests/chain deploys it to list tokens from a contract wallet, to refuse ether (a payout that fails),
/// and to re-enter the exchange from its receive hook (the reentrancy guard must stop it). `answer`, when set,
/// replaces the whole 32-byte word it returns for a valid signature (a wallet answering a wrong magic value).
contract WalletMock is IERC1271 {
    address public immutable owner;
    bool public refuseEther;
    address public reenterTarget;
    bytes public reenterCall;
    bytes public reenterResult; // revert data of the re-entrant call, or "ok" if it succeeded
    bytes32 public answer;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer, ECDSA.RecoverError err, ) = ECDSA.tryRecoverCalldata(hash, signature);
        bool valid = err == ECDSA.RecoverError.NoError && signer == owner;
        bytes32 word = answer;
        if (valid && word != bytes32(0)) {
            assembly ("memory-safe") {
                mstore(0x00, word)
                return(0x00, 0x20)
            }
        }
        return valid ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    function setAnswer(bytes32 answer_) external {
        require(msg.sender == owner, "WalletMock: not owner");
        answer = answer_;
    }

    /// @notice Call anything as the wallet (owner only): approvals, cancels, counter bumps.
    function execute(address target, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == owner, "WalletMock: not owner");
        (bool ok, bytes memory result) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
        return result;
    }

    function configure(bool refuseEther_, address reenterTarget_, bytes calldata reenterCall_) external {
        require(msg.sender == owner, "WalletMock: not owner");
        refuseEther = refuseEther_;
        reenterTarget = reenterTarget_;
        reenterCall = reenterCall_;
    }

    receive() external payable {
        require(!refuseEther, "WalletMock: refusing ether");
        if (reenterTarget != address(0)) {
            address target = reenterTarget;
            reenterTarget = address(0);
            (bool ok, bytes memory result) = target.call(reenterCall);
            reenterResult = ok ? bytes("ok") : result;
        }
    }
}
