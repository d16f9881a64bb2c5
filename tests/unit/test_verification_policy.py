"""The verifier's policy (verifier/policy.py): replicas ≥ 2 always, a deterministic spot_check share otherwise."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from verde.spec import parse_spec
from verifier.policy import decide, spot_draw

BASE = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 8, 10]},
    "dataset": {"id": "builtin:digits", "batch_size": 8},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 10,
    "seed": 1,
    "checkpoint_every": 5,
}
V1 = "0x" + "ab" * 20
V2 = "0x" + "cd" * 20
SPEC_HASH = "0x" + "11" * 32


def spec(replicas: int, spot: float):
    return parse_spec({**BASE, "verification": {"replicas": replicas, "spot_check": spot}})


def test_replicas_two_or_more_always_verified():
    for cid in range(50):
        d = decide(spec(2, 0.0), V1, cid, SPEC_HASH)
        assert d.verify and d.reason == "replicas"


def test_spot_check_zero_and_one():
    assert not any(decide(spec(1, 0.0), V1, cid, SPEC_HASH).verify for cid in range(200))
    assert all(decide(spec(1, 1.0), V1, cid, SPEC_HASH).reason == "spot-check" for cid in range(200))


def test_always_overrides():
    d = decide(spec(1, 0.0), V1, 3, SPEC_HASH, always=True)
    assert d.verify and d.reason == "always"


def test_share_is_close_to_spot_check():
    picked = sum(decide(spec(1, 0.25), V1, cid, SPEC_HASH).verify for cid in range(4000))
    assert 0.22 * 4000 < picked < 0.28 * 4000


def test_deterministic_and_verifier_specific():
    assert [spot_draw(V1, c, SPEC_HASH) for c in range(20)] == [spot_draw(V1.upper().replace("0X", "0x"), c, SPEC_HASH)
                                                             for c in range(20)]
    assert [spot_draw(V1, c, SPEC_HASH) for c in range(20)] != [spot_draw(V2, c, SPEC_HASH) for c in range(20)]
    assert spot_draw(V1, 1, SPEC_HASH) != spot_draw(V1, 1, "0x" + "12" * 32)


@given(st.integers(min_value=0, max_value=2**64), st.floats(min_value=0, max_value=1))
def test_draw_in_unit_interval_and_monotone_in_share(cid, share):
    draw = spot_draw(V1, cid, SPEC_HASH)
    assert 0.0 <= draw < 1.0
    assert decide(spec(1, share), V1, cid, SPEC_HASH).verify == (draw < share)


def test_the_verifier_challenges_exactly_what_it_can_win():
    from verifier.policy import challenge_decision

    root, other_root, model, other_model = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, b"\x04" * 32
    assert challenge_decision(root, model, root, model)[0] == "agrees"
    # A right model under another root: the game would end at round one with the challenger's bond lost.
    assert challenge_decision(root, model, other_root, model) == (
        "not_challenged", "model matches, root differs: not challenged")
    assert challenge_decision(root, model, root, other_model) == ("challenge", "final model hash differs")
    assert challenge_decision(root, model, other_root, other_model) == ("challenge", "roots differ")
