// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "solady/src/tokens/ERC721.sol";

/// @title The Solady baseline: an unmodified Solady ERC-721 with an open mint.
/// @notice Only bench/gas_bench.py deploys it, to show what RareVector adds to the ERC721 it is built on.
contract BaselineSoladyERC721 is ERC721 {
    function name() public pure override returns (string memory) {
        return "Baseline Solady";
    }

    function symbol() public pure override returns (string memory) {
        return "BASES";
    }

    function tokenURI(uint256) public pure override returns (string memory) {
        return "";
    }

    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
