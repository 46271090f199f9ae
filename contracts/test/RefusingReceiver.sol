// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title A test-only payee that refuses ether: a royalty receiver (or seller, or fee recipient) that tries to
/// block sales. tests/security deploys it as a token's discoverer.
/// @notice `mode`: 0 accepts ether, 1 reverts in receive, 2 burns all the gas it is given. The owner moves its
/// tokens and takes its credit from the exchange through `execute`.
contract RefusingReceiver {
    address public immutable owner;
    uint8 public mode;

    constructor(address owner_, uint8 mode_) {
        owner = owner_;
        mode = mode_;
    }

    function setMode(uint8 mode_) external {
        require(msg.sender == owner, "RefusingReceiver: not owner");
        mode = mode_;
    }

    /// @notice Call anything as this contract (owner only): token transfers, approvals, withdrawals.
    function execute(address target, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == owner, "RefusingReceiver: not owner");
        (bool ok, bytes memory result) = target.call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
        return result;
    }

    receive() external payable {
        uint8 m = mode;
        if (m == 1) revert("RefusingReceiver: no ether");
        if (m == 2) {
            while (true) {} // burns every unit of gas forwarded
        }
    }
}
