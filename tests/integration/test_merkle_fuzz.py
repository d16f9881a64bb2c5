"""verde/merkle.py and contracts/src/libraries/MerkleProof.sol agree bit for bit: random trees, indices and
proofs — valid and tampered — checked by the Solidity library on anvil (through MerkleProofHarness)."""

from __future__ import annotations

import random

import pytest

from chain.contract import BoundContract, deploy_contract
from chain.sender import Sender
from verde.bisection import multiproof, verify_multiproof
from verde.merkle import MerkleTree, depth_for, verify

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness(anvil, roles):
    sender = Sender(anvil.rpc_url, roles.stranger.private_key)
    addr, _ = deploy_contract("MerkleProofHarness", sender)
    return BoundContract("MerkleProofHarness", addr, sender)


def _tamper(rng: random.Random, tree: MerkleTree, n: int, index: int, leaf: bytes, proof: list[bytes]):
    """One of the ways a proof can be wrong (or, by luck, still right): returns (n, index, leaf, proof)."""
    kind = rng.randrange(7)
    if kind == 0 and proof:
        i = rng.randrange(len(proof))
        proof = proof[:i] + [bytes(b ^ (1 << rng.randrange(8)) if j == 0 else b
                                   for j, b in enumerate(proof[i]))] + proof[i + 1:]
    elif kind == 1:
        leaf = rng.randbytes(32)
    elif kind == 2:
        index = rng.randrange(max(n, 1) * 2 + 2)  # any index, inside or outside the tree
    elif kind == 3:
        proof = proof[:-1]  # too short
    elif kind == 4:
        proof = proof + [rng.randbytes(32)]  # too long
    elif kind == 5:
        n = rng.randrange(1, 2 * n + 2)  # another length changes the depth the proof must have
    elif kind == 6 and tree.depth >= 1:
        # An inner node posing as a leaf, with the upper part of a real proof.
        inner_index = index >> 1
        leaf = tree.levels[1][inner_index]
        proof = proof[1:]
    return n, index, leaf, proof


def test_solidity_and_python_agree_on_random_proofs(harness):
    rng = random.Random(20261127)
    checked = valid = 0
    for _ in range(120):
        n = rng.choice([1, 2, 3, 5, 8, 17, 64, 65, 100, 1025, rng.randrange(1, 300)])
        leaves = [rng.randbytes(32) for _ in range(n)]
        tree = MerkleTree(leaves)
        index = rng.randrange(n)
        case = (n, index, tree.leaf(index), tree.proof(index))
        if rng.random() < 0.6:
            case = _tamper(rng, tree, *case)
        cn, ci, cleaf, cproof = case
        expected = verify(tree.root, cn, ci, cleaf, cproof)
        assert harness.call("verify", tree.root, cn, ci, cleaf, cproof) is expected, case
        assert harness.call("depth", cn) == depth_for(cn)
        checked += 1
        valid += expected
    # Both kinds really occurred.
    assert 30 < valid < checked


def test_valid_proof_of_every_leaf_of_an_odd_tree(harness):
    leaves = [bytes([i]) * 32 for i in range(13)]
    tree = MerkleTree(leaves)
    for i in range(13):
        assert harness.call("verify", tree.root, 13, i, leaves[i], tree.proof(i)) is True
        assert harness.call("verify", tree.root, 13, i, leaves[(i + 1) % 13], tree.proof(i)) is False


def test_zero_length_is_refused(harness):
    assert harness.call("verify", b"\x00" * 32, 0, 0, b"\x00" * 32, []) is False


def test_solidity_and_python_agree_on_random_multiproofs(harness):
    rng = random.Random(7)
    valid = 0
    for trial in range(80):
        n = rng.choice([1, 2, 5, 17, 65, 1025, rng.randrange(1, 400)])
        leaves = [rng.randbytes(32) for _ in range(n)]
        tree = MerkleTree(leaves)
        idx = sorted(rng.sample(range(n), rng.randint(1, min(n, 16))))
        vals = [leaves[i] for i in idx]
        proof = multiproof(tree, idx)
        if trial % 3:
            kind = rng.randrange(5)
            if kind == 0 and proof:
                proof = [p if j != rng.randrange(len(proof)) else rng.randbytes(32) for j, p in enumerate(proof)]
            elif kind == 1:
                vals = [rng.randbytes(32)] + vals[1:]
            elif kind == 2:
                proof = proof + [rng.randbytes(32)]
            elif kind == 3 and len(idx) > 1:
                idx = list(reversed(idx))  # not ascending
            else:
                idx = [i + 1 for i in idx]  # shifted positions (the last may leave the tree)
        expected = verify_multiproof(tree.root, n, idx, vals, proof)
        assert harness.call("verifyMulti", tree.root, n, idx, vals, proof) is expected, (n, idx)
        valid += expected
    assert 20 < valid < 80
