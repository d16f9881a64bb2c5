"""The loss-curve picture of a job (PNG), served at GET /v1/jobs/{id}/plot.png and saved by `agora jobs show --plot`.

The training loss of every reported step, the held-out evaluations as points on the same axes (their accuracy,
when there is one, on a second axis), and a log-scale step axis for long jobs, where the first hundred steps —
where most of the learning happens — would otherwise be a sliver at the left edge.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

LOG_AXIS_FROM_STEPS = 1000  # a job this long gets a log-scale step axis


def render_loss_png(steps: Sequence[int], losses: Sequence[float], title: str, *,
                    evals: Sequence[tuple[int, float | None, float | None]] = (),
                    num_steps: int | None = None) -> bytes:
    """``evals`` are ``(step, held-out loss, held-out accuracy)``; ``num_steps`` picks the axis scale."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    from matplotlib.figure import Figure  # the OO API: no global pyplot state shared between requests

    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot()
    ax.plot(list(steps), list(losses), marker="." if len(steps) < 50 else None, label="training loss")
    eval_loss = [(s, v) for s, v, _ in evals if v is not None]
    if eval_loss:
        ax.plot([s for s, _ in eval_loss], [v for _, v in eval_loss], "o", color="tab:orange",
                label="held-out loss")
    eval_acc = [(s, a) for s, _, a in evals if a is not None]
    if eval_acc:
        acc = ax.twinx()
        acc.plot([s for s, _ in eval_acc], [a for _, a in eval_acc], "s", color="tab:green",
                 label="held-out accuracy")
        acc.set_ylim(0, 1)
        acc.set_ylabel("accuracy")
        acc.legend(loc="upper center", fontsize="small")
    longest = max([num_steps or 0, *steps, *(s for s, _, _ in evals)], default=0)
    if longest >= LOG_AXIS_FROM_STEPS and (steps or evals):
        ax.set_xscale("log")
        ax.set_xlabel("step (log scale)")
    else:
        ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title if steps else f"{title}: no progress reported yet")
    ax.grid(True, alpha=0.3)
    if eval_loss or eval_acc:
        ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
