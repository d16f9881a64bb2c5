"""The loss-curve picture of a job (PNG), served at GET /v1/jobs/{id}/plot.png and saved by `agora jobs show --plot`."""

from __future__ import annotations

import io
from collections.abc import Sequence


def render_loss_png(steps: Sequence[int], losses: Sequence[float], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    from matplotlib.figure import Figure  # the OO API: no global pyplot state shared between requests

    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(list(steps), list(losses), marker="." if len(steps) < 50 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title if steps else f"{title}: no progress reported yet")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
