// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title The gas baseline: an unmodified OpenZeppelin ERC-721 with an open mint.
/// @notice Only bench/gas_bench.py deploys it, to measure RareVector and Exchange against plain OZ in the same run.
contract BaselineERC721 is ERC721 {
    constructor() ERC721("Baseline", "BASE") {}

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
