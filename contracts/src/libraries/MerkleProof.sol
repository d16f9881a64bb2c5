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
    ) internal pure returns (bool ok) {
        uint256 count = indices.length;
        if (n == 0 || count == 0 || count != leaves.length) return false;
        unchecked {
            for (uint256 r; r < count; ++r) {
                uint256 i = indices[r];
                if (i >= n || (r != 0 && i <= indices[r - 1])) return false;
            }
        }
        uint256 d = depth(n);
        assembly ("memory-safe") {
            // Work area: `count` (index, hash) pairs, rewritten in place level by level (a level never has more
            // nodes than the one below, and the write position never passes the read position).
            let buf := mload(0x40)
            mstore(0x40, add(buf, add(shl(6, count), 0x40)))
            for { let r := 0 } lt(r, count) { r := add(r, 1) } {
                let at := add(buf, shl(6, r))
                mstore(at, mload(add(add(indices, 0x20), shl(5, r))))
                mstore(add(at, 0x20), calldataload(add(leaves.offset, shl(5, r))))
            }
            // A sentinel index after the last node, so the "is my sibling next?" test needs no bounds check.
            mstore(add(buf, shl(6, count)), not(0))
            let p := proof.offset
            let pEnd := add(p, shl(5, proof.length))
            for { let b := 0 } lt(b, d) { b := add(b, 1) } {
                let w := buf
                let end := add(buf, shl(6, count))
                for { let at := buf } lt(at, end) {} {
                    let i := mload(at)
                    switch and(iszero(and(i, 1)), eq(mload(add(at, 0x40)), add(i, 1)))
                    case 1 {
                        mstore(0x00, mload(add(at, 0x20)))
                        mstore(0x20, mload(add(at, 0x60)))
                        at := add(at, 0x80)
                    }
                    default {
                        // Past the end of the proof this reads other calldata; the final p == pEnd check fails then.
                        switch and(i, 1)
                        case 0 {
                            mstore(0x00, mload(add(at, 0x20)))
                            mstore(0x20, calldataload(p))
                        }
                        default {
                            mstore(0x00, calldataload(p))
                            mstore(0x20, mload(add(at, 0x20)))
                        }
                        p := add(p, 0x20)
                        at := add(at, 0x40)
                    }
                    mstore(w, shr(1, i))
                    mstore(add(w, 0x20), keccak256(0x00, 0x40))
                    w := add(w, 0x40)
                }
                mstore(w, not(0))
                count := shr(6, sub(w, buf))
            }
            ok := and(and(eq(p, pEnd), eq(count, 1)), eq(mload(add(buf, 0x20)), root))
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
