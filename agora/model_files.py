"""The final model as a client uses it: safetensors under the module's own parameter names.

Workers upload the final parameters as a verde checkpoint (state names in program order, which is what
``finalModelHash`` hashes); a graph program's state names are the module's ``state_dict`` names with ``/`` for
``.`` (``conv1/weight``). This turns them back so that ``model.load_state_dict(safetensors.torch.load_file(p))``
just works. The hash is always checked on the checkpoint as downloaded, before anything is converted.
"""

from __future__ import annotations

import torch
from safetensors.torch import save


def checkpoint_to_safetensors(data: bytes) -> bytes:
    """A verde model checkpoint's parameters as safetensors, named as the client's module names them."""
    from verde.checkpoint import load_state

    state = load_state(data).state
    # state names never contain '.' for parameters ('.' marks optimizer slots), so '/' -> '.' is exact
    return save({name.replace("/", "."): t.detach().to("cpu", torch.float32).contiguous() for name, t in state.items()})
