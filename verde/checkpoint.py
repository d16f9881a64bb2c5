"""Checkpoints: a training state (ordered tensors) plus its step, as bytes, and back — safe to load from strangers.

Format: ``torch.save`` of a plain dict ``{"format": "agora.checkpoint.v1", "step": int, "names": [...],
"tensors": {name: tensor}}``, loaded with ``weights_only=True`` (no pickled code runs). The tensor order
is ``names``, which is program order, so ``state_hash`` of the loaded state equals the trace leaf ``L[step]``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch

from verde.tensorhash import state_hash

FORMAT = "agora.checkpoint.v1"

State = dict[str, torch.Tensor]


class CheckpointError(ValueError):
    """Bytes that are not a well-formed checkpoint."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    state: State

    @property
    def hash(self) -> bytes:
        """``H(state)`` — equals the trace leaf ``L[step]``."""
        return state_hash(self.state)


def standalone(t: torch.Tensor) -> torch.Tensor:
    """t on the CPU, contiguous, in a storage of its own: a state tensor may be a view into a buffer it shares
    (verde.opruns), which torch.save would write out whole for every such tensor."""
    t = t.detach().cpu().contiguous()
    if t.untyped_storage().nbytes() != t.numel() * t.element_size():
        t = t.clone()
    return t


def dump_state(state: State, step: int) -> bytes:
    """Serialise ``state`` (kept in order) taken after ``step`` steps."""
    buf = io.BytesIO()
    payload = {
        "format": FORMAT,
        "step": int(step),
        "names": list(state),
        "tensors": {k: standalone(v) for k, v in state.items()},
    }
    torch.save(payload, buf)
    return buf.getvalue()


def load_state(data: bytes) -> Checkpoint:
    """Deserialise bytes written by ``dump_state``; raise ``CheckpointError`` on anything else."""
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt or unsafe input
        raise CheckpointError(f"not a loadable checkpoint: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"not an {FORMAT} checkpoint")
    names, tensors, step = payload.get("names"), payload.get("tensors"), payload.get("step")
    if not isinstance(names, list) or not isinstance(tensors, dict) or not isinstance(step, int) or step < 0:
        raise CheckpointError("checkpoint is missing names, tensors or step")
    if set(names) != set(tensors) or len(names) != len(tensors):
        raise CheckpointError("checkpoint names and tensors disagree")
    state: State = {}
    for name in names:
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"checkpoint entry {name!r} is not a tensor")
        state[name] = t
    return Checkpoint(step=step, state=state)
