"""Which submitted results a verifier re-runs: a pure, deterministic function (no I/O, no clock, no RNG state).

Every job whose spec asks for ``verification.replicas ≥ 2`` is re-run; of the others, a ``spot_check`` share,
chosen by a hash of (verifier address, job id, spec hash) — so each verifier's picks are fixed and
reproducible, different verifiers pick different jobs, and a provider cannot tell in advance which of its
jobs will be checked by whom. ``always`` (a verifier setting) re-runs everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from verde.merkle import keccak256
from verde.spec import JobSpec

_SCALE = 2**64


@dataclass(frozen=True)
class Decision:
    verify: bool
    reason: str  # "replicas", "spot-check", "always", "skipped"
    draw: float  # the pseudo-random draw in [0, 1) compared with spot_check


def spot_draw(verifier: str, chain_job_id: int, spec_hash: str | bytes) -> float:
    """A uniform-looking number in [0, 1) fixed by its inputs."""
    sh = spec_hash if isinstance(spec_hash, bytes) else bytes.fromhex(spec_hash.removeprefix("0x"))
    seed = b"agora.spot-check.v1" + bytes.fromhex(verifier.lower().removeprefix("0x")) + chain_job_id.to_bytes(32, "big") + sh
    return int.from_bytes(keccak256(seed)[:8], "big") / _SCALE


def decide(spec: JobSpec, verifier: str, chain_job_id: int, spec_hash: str | bytes, *, always: bool = False) -> Decision:
    draw = spot_draw(verifier, chain_job_id, spec_hash)
    if always:
        return Decision(True, "always", draw)
    if spec.verification.replicas >= 2:
        return Decision(True, "replicas", draw)
    if draw < spec.verification.spot_check:
        return Decision(True, "spot-check", draw)
    return Decision(False, "skipped", draw)


def challenge_decision(my_root: bytes, my_model_hash: bytes, submitted_root: bytes,
                       submitted_model_hash: bytes) -> tuple[str, str]:
    """What a verifier that re-ran a job does with the submitted result: ("agrees" | "not_challenged" |
    "challenge", why). It challenges exactly what it can win: a final model hash other than its own (whatever the
    roots — the defender must prove L[S] binds the hash it reported). A right model with another root is left
    alone: the client got the model it paid for, and a game over the tampered interior ends in the first round
    (equal L[S], bound to that model) with the challenger's bond lost."""
    if my_model_hash == submitted_model_hash:
        if my_root == submitted_root:
            return "agrees", "same trace root and final model hash"
        return "not_challenged", "model matches, root differs: not challenged"
    return "challenge", "final model hash differs" if my_root == submitted_root else "roots differ"
