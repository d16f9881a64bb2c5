"""TEST BEHAVIOUR ONLY — the faulty verifier of DESIGN §11, selected by --fault / $AGORA_FAULT.

``false-challenge``: challenges honest results with a made-up trace root and plays on. Its made-up root is
the root of a run nudged at one step (``false-challenge=K``, default half way), so its moves stay consistent
and it plays the game to the end — where the referee's one-op check at step K convicts it and its bond goes
to the provider.
"""

from __future__ import annotations

from dataclasses import dataclass

from verde.interpreter import Fault
from verde.spec import JobSpec


class FaultSyntaxError(ValueError):
    """A --fault value that names no known verifier mode."""


@dataclass(frozen=True)
class VerifierFault:
    mode: str = "false-challenge"
    step: int | None = None

    def __str__(self) -> str:
        return self.mode if self.step is None else f"{self.mode}={self.step}"

    def verde_fault(self, spec: JobSpec) -> Fault:
        k = self.step if self.step is not None else max(1, spec.steps // 2)
        return Fault(step=min(max(1, k), spec.steps), kind="perturb")


def parse_verifier_fault(text: str | None) -> VerifierFault | None:
    if text is None or text.strip().lower() in ("", "none", "honest"):
        return None
    name, _, arg = text.strip().lower().partition("=")
    if name != "false-challenge":
        raise FaultSyntaxError(f"unknown verifier fault {text!r}; known: false-challenge[=K]")
    if not arg:
        return VerifierFault()
    try:
        step = int(arg)
    except ValueError:
        raise FaultSyntaxError(f"fault step must be an integer, got {arg!r}") from None
    if step < 1:
        raise FaultSyntaxError(f"fault step must be ≥ 1, got {step}")
    return VerifierFault(step=step)
