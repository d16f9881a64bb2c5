// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Position-bound keccak256 Merkle proofs — the rule of verde/merkle.py, bit for bit.
/// @dev A sequence of n >= 1 leaves is padded with bytes32(0) to 2**depth, depth = ceil(log2 n).
/// Inner node = keccak256(left ‖ right); a proof is the `depth` siblings bottom-up; bit b of the
/// index says whether the running hash is the right (1) or left (0) child at level b. Because the
/// proof length is fixed by n, an inner node never passes as a leaf.
library MerkleProof {
    /// @dev ceil(log2 n) for n >= 1 (0 for n == 1).
    function depth(uint256 n) internal pure returns (uint256 d) {
        unchecked {
            for (uint256 m = n - 1; m != 0; m >>= 1) d++;
        }
    }

    /// @dev True iff `proof` shows `leaf` at `index` of an n-leaf sequence with Merkle root `root`.
    function verify(bytes32 root, uint256 n, uint256 index, bytes32 leaf, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        if (n == 0 || index >= n || proof.length != depth(n)) return false;
        return processProof(index, leaf, proof) == root;
    }

    /// @dev The root that `proof` implies for `leaf` at `index` (no length check: callers check depth).
    function processProof(uint256 index, bytes32 leaf, bytes32[] calldata proof) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := leaf
            let p := proof.offset
            for { let end := add(p, shl(5, proof.length)) } lt(p, end) { p := add(p, 0x20) } {
                // Scratch space (0x00..0x3f) holds the pair: no memory allocation per level.
                switch and(index, 1)
                case 0 {
                    mstore(0x00, h)
                    mstore(0x20, calldataload(p))
                }
                default {
                    mstore(0x00, calldataload(p))
                    mstore(0x20, h)
                }
                h := keccak256(0x00, 0x40)
                index := shr(1, index)
            }
        }
    }
}
