// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MerkleProof} from "../libraries/MerkleProof.sol";

/// @notice Exposes MerkleProof to off-chain fuzzing (tests/integration/test_merkle_fuzz.py); holds nothing.
contract MerkleProofHarness {
    function verify(bytes32 root, uint256 n, uint256 index, bytes32 leaf, bytes32[] calldata proof)
        external
        pure
        returns (bool)
    {
        return MerkleProof.verify(root, n, index, leaf, proof);
    }

    function verifyMulti(
        bytes32 root,
        uint256 n,
        uint256[] calldata indices,
        bytes32[] calldata leaves,
        bytes32[] calldata proof
    ) external pure returns (bool) {
        return MerkleProof.verifyMulti(root, n, indices, leaves, proof);
    }

    function depth(uint256 n) external pure returns (uint256) {
        return MerkleProof.depth(n);
    }
}
