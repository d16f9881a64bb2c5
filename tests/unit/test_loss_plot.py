"""The loss-curve PNG: evaluation points and accuracy drawn, a log-scale step axis for long jobs."""

from __future__ import annotations

import io

import numpy as np

from coordinator import loss_plot


def _pixels(png: bytes) -> np.ndarray:
    from matplotlib.image import imread

    return imread(io.BytesIO(png), format="png")


def test_long_jobs_get_a_log_step_axis(monkeypatch):
    axes: list[str] = []
    from matplotlib.axes import Axes

    real = Axes.set_xscale
    monkeypatch.setattr(Axes, "set_xscale", lambda self, v, **kw: (axes.append(v), real(self, v, **kw))[1])
    steps = list(range(1, 5001))
    loss_plot.render_loss_png(steps, [1 / s for s in steps], "job 1", num_steps=5000)
    assert axes == ["log"]
    axes.clear()
    loss_plot.render_loss_png([1, 2, 3], [3.0, 2.0, 1.0], "job 2", num_steps=200)
    assert axes == []


def test_evaluations_are_drawn_on_the_curve():
    steps = list(range(1, 101))
    plain = loss_plot.render_loss_png(steps, [2 - s / 100 for s in steps], "job 1", num_steps=100)
    with_evals = loss_plot.render_loss_png(steps, [2 - s / 100 for s in steps], "job 1", num_steps=100,
                                           evals=[(50, 1.6, 0.5), (100, 1.2, 0.8)])
    a, b = _pixels(plain), _pixels(with_evals)
    assert a.shape == b.shape
    orange = np.array([1.0, 0.498, 0.055])  # tab:orange, the held-out loss markers
    near = lambda img: (np.abs(img[..., :3] - orange).sum(axis=-1) < 0.1).sum()
    assert near(a) == 0 and near(b) > 20
