"""TEST BEHAVIOUR ONLY — the deliberately faulty providers of DESIGN §11, selected by --fault / $AGORA_FAULT.

An honest provider never sets a fault. Each mode makes the provider lie in a way the protocol must catch:

* ``perturb-step=K`` — nudges one parameter at step K (verde's fault hook) and defends the resulting wrong
  trace with consistent, honest-looking moves; the referee's one-op check at step K convicts it.
* ``perturb-node=K:NODE`` — a graph job's cheater: nudges the output of graph node NODE (its 1-based index, or
  its name, e.g. ``convolution_backward``) at step K and defends the wrong trace; the bisection narrows to that
  node and the referee's recomputation of it convicts the cheater.
* ``lazy`` / ``lazy=K`` — stops real work after step K (default: half way): from K on the state stops
  changing, so every later leaf is garbage; convicted at step K.
* ``wrong-final`` — trains honestly and commits the honest trace, but reports a random final model hash.
  A verifier reproduces the same trace root and challenges with it; the game opens in ProveFinal
  (PROTOCOL §7), where this liar cannot prove ``L[S] = keccak256(finalModelHash ‖ slotsHash)`` and loses by
  timeout.
* ``silent`` / ``silent=K`` — cheats like ``perturb-step=K`` (default: half way) and then never answers in
  the dispute; it loses by timeout.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Literal

from verde.interpreter import Fault
from verde.merkle import keccak256
from verde.spec import JobSpec

Mode = Literal["perturb-step", "perturb-node", "lazy", "wrong-final", "silent"]
MODES: tuple[str, ...] = ("perturb-step", "perturb-node", "lazy", "wrong-final", "silent")
FAULT_ENV = "AGORA_FAULT"


class FaultSyntaxError(ValueError):
    """A --fault value that names no known mode."""


@dataclass(frozen=True)
class WorkerFault:
    """One faulty behaviour; ``step`` None means "half way through the job"."""

    mode: Mode
    step: int | None = None
    node: str | None = None  # perturb-node: a node index ("113") or name ("convolution_backward")

    def __str__(self) -> str:
        if self.node is not None:
            return f"{self.mode}={self.step}:{self.node}"
        return self.mode if self.step is None else f"{self.mode}={self.step}"

    @property
    def answers_disputes(self) -> bool:
        return self.mode != "silent"

    def step_for(self, spec: JobSpec) -> int:
        """The step the fault strikes at, clamped into 1..S."""
        k = self.step if self.step is not None else max(1, spec.steps // 2)
        return min(max(1, k), spec.steps)

    def verde_fault(self, spec: JobSpec) -> Fault | None:
        """What verde's interpreter runs with (None: an honest computation)."""
        if self.mode in ("perturb-step", "silent"):
            return Fault(step=self.step_for(spec), kind="perturb")
        if self.mode == "perturb-node":
            return Fault(step=self.step_for(spec), op_index=self.node_index(spec), kind="perturb")
        if self.mode == "lazy":
            return Fault(step=self.step_for(spec), kind="lazy")
        return None

    def node_index(self, spec: JobSpec) -> int:
        """The op index of the node to perturb (a graph program's op j <= its node count is node j)."""
        from verde.program import build_program

        program = build_program(spec)
        graph = program.graph
        if graph is None:
            raise FaultSyntaxError("perturb-node is for graph jobs (spec version 2); use perturb-step=K")
        assert self.node is not None
        if self.node.isdigit():
            index = int(self.node)
            if not 1 <= index <= graph.n_nodes:
                raise FaultSyntaxError(f"perturb-node: node {index} outside 1..{graph.n_nodes}")
            return index
        for node in graph.nodes:
            if node.name == self.node:
                return int(node.index)
        raise FaultSyntaxError(f"perturb-node: the graph has no node named {self.node!r}")

    def fake_final_hash(self, seed: bytes) -> bytes:
        """wrong-final: a final model hash unrelated to the model (random, fixed per job by `seed`)."""
        return keccak256(b"agora.fault.wrong-final.model" + seed)


def parse_worker_fault(text: str | None) -> WorkerFault | None:
    """``None``/``""``/``none`` → honest; else ``perturb-step=K``, ``perturb-node=K:NODE``, ``lazy[=K]``,
    ``wrong-final``, ``silent[=K]``."""
    if text is None or text.strip().lower() in ("", "none", "honest"):
        return None
    name, _, arg = text.strip().lower().partition("=")
    if name not in MODES:
        raise FaultSyntaxError(
            f"unknown fault {text!r}; known: perturb-step=K, perturb-node=K:NODE, lazy[=K], wrong-final, silent[=K]")
    node: str | None = None
    if name == "perturb-node":
        arg, sep, node = arg.partition(":")
        if not sep or not arg or not node or not (node.isdigit() or node.replace("_", "").isalnum()):
            raise FaultSyntaxError("perturb-node needs a step and a node: perturb-node=K:NODE (index or name)")
    step: int | None = None
    if arg:
        if name == "wrong-final":
            raise FaultSyntaxError("wrong-final takes no step")
        try:
            step = int(arg)
        except ValueError:
            raise FaultSyntaxError(f"fault step must be an integer, got {arg!r}") from None
        if step < 1:
            raise FaultSyntaxError(f"fault step must be ≥ 1, got {step}")
    elif name == "perturb-step":
        raise FaultSyntaxError("perturb-step needs a step: perturb-step=K")
    return WorkerFault(mode=name, step=step, node=node)  # type: ignore[arg-type]


def worker_fault_from_env() -> WorkerFault | None:
    return parse_worker_fault(os.environ.get(FAULT_ENV))


def random_seed() -> bytes:
    return secrets.token_bytes(32)
