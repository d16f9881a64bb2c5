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

    /// @dev True iff `proof` shows `leaves` at the strictly ascending `indices` of an n-leaf sequence with root
    /// `root`. The multiproof is the siblings the bottom-up walk needs, in the order it needs them: at each level,
    /// left to right, a node whose sibling is not itself known takes the next proof word. Every word must be
    /// used, and the walk has exactly depth(n) levels, so positions stay bound as in `verify`.
    function verifyMulti(
        bytes32 root,
        uint256 n,
        uint256[] memory indices,
        bytes32[] calldata leaves,
        bytes32[] calldata proof
    ) internal pure returns (bool) {
        uint256 count = indices.length;
        if (n == 0 || count == 0 || count != leaves.length) return false;
        uint256[] memory idx = new uint256[](count);
        bytes32[] memory hs = new bytes32[](count);
        for (uint256 r; r < count; ++r) {
            uint256 i = indices[r];
            if (i >= n || (r != 0 && i <= indices[r - 1])) return false;
            idx[r] = i;
            hs[r] = leaves[r];
        }
        uint256 p;
        uint256 d = depth(n);
        for (uint256 b; b < d; ++b) {
            uint256 w;
            for (uint256 r; r < count;) {
                uint256 i = idx[r];
                bytes32 h = hs[r];
                bytes32 parent;
                if (i & 1 == 0 && r + 1 < count && idx[r + 1] == i + 1) {
                    parent = _hashPair(h, hs[r + 1]);
                    r += 2;
                } else {
                    if (p == proof.length) return false;
                    bytes32 sibling = proof[p++];
                    parent = i & 1 == 0 ? _hashPair(h, sibling) : _hashPair(sibling, h);
                    r += 1;
                }
                idx[w] = i >> 1;
                hs[w] = parent;
                ++w;
            }
            count = w;
        }
        return p == proof.length && count == 1 && hs[0] == root;
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
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
