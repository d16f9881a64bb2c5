"""Position-bound keccak256 Merkle trees over bytes32 leaves — the one rule shared with DisputeGame.

Rule (the Solidity library `MerkleProof.verify` in contracts/src/libraries must match it exactly):

* A sequence has ``n >= 1`` leaves, each exactly 32 bytes. Both parties and the contract know ``n``
  (it follows from the job's terms), so the root commits to the values and their positions only.
* ``depth = ceil(log2(n))`` (0 when ``n == 1``). Leaves are padded on the right with ``bytes32(0)``
  up to ``2**depth``.
* A leaf's node is the leaf value itself; an inner node is ``keccak256(left ‖ right)`` (64 bytes).
  A single-leaf tree's root is the leaf.
* A proof for index ``i`` is the list of ``depth`` sibling nodes, bottom-up.
* ``verify(root, n, i, leaf, proof)``: require ``i < n`` and ``len(proof) == depth``; ``h = leaf``;
  for level ``b`` in ``0..depth-1``: if bit ``b`` of ``i`` is 1 then ``h = keccak256(proof[b] ‖ h)``
  else ``h = keccak256(h ‖ proof[b])``; accept iff ``h == root``.
  Because the proof length is fixed by ``n``, an inner node can never pass as a leaf.
"""

from __future__ import annotations

from collections.abc import Sequence

from Crypto.Hash import keccak as _keccak

ZERO = b"\x00" * 32


def keccak256(data: bytes) -> bytes:
    return _keccak.new(digest_bits=256, data=data).digest()


def depth_for(n: int) -> int:
    if n < 1:
        raise ValueError(f"a Merkle tree needs at least one leaf, got {n}")
    return (n - 1).bit_length()


class MerkleTree:
    """All levels of one tree, so any number of proofs come without rehashing."""

    def __init__(self, leaves: Sequence[bytes]):
        for i, leaf in enumerate(leaves):
            if len(leaf) != 32:
                raise ValueError(f"leaf {i} is {len(leaf)} bytes, expected 32")
        self.n = len(leaves)
        self.depth = depth_for(self.n)
        level = list(leaves) + [ZERO] * ((1 << self.depth) - self.n)
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            level = [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
            self.levels.append(level)

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def leaf(self, index: int) -> bytes:
        return self.levels[0][index]

    def proof(self, index: int) -> list[bytes]:
        if not 0 <= index < self.n:
            raise IndexError(f"leaf index {index} outside 0..{self.n - 1}")
        out = []
        for b in range(self.depth):
            out.append(self.levels[b][(index >> b) ^ 1])
        return out


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    return MerkleTree(leaves).root


def verify(root: bytes, n: int, index: int, leaf: bytes, proof: Sequence[bytes]) -> bool:
    if not 0 <= index < n or len(proof) != depth_for(n):
        return False
    h = leaf
    for b, sibling in enumerate(proof):
        h = keccak256(sibling + h) if (index >> b) & 1 else keccak256(h + sibling)
    return h == root
