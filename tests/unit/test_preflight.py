"""A worker declines, before accepting, a job it cannot run (worker/preflight.py): accepting locks collateral."""

import io

import numpy as np

from client.api import ApiError
from verde.spec import parse_spec
from worker.preflight import decline_if_unrunnable, unrunnable

SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [16, 8, 3], "activation": "relu"},
    "dataset": {"id": "sha256:" + "0" * 64, "batch_size": 8, "shuffle_seed": 1},
    "loss": "cross_entropy",
    "optimizer": {"kind": "sgd", "lr": 0.1},
    "steps": 4,
    "seed": 1,
    "checkpoint_every": 2,
}


def npz(features: int, labels) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros((len(labels), features), np.float32), y=np.asarray(labels, np.int64))
    return buf.getvalue()


def spec_for(data: bytes):
    import hashlib

    dataset = {"id": "sha256:" + hashlib.sha256(data).hexdigest(), "batch_size": 8, "shuffle_seed": 1}
    return parse_spec({**SPEC, "dataset": dataset})


class Api:
    def __init__(self) -> None:
        self.declined: list[tuple[int, str]] = []

    def decline(self, job_id: int, reason: str) -> dict:
        self.declined.append((job_id, reason))
        return {}


def test_a_job_that_fits_is_not_declined():
    data = npz(16, [0, 1, 2] * 10)
    assert unrunnable(spec_for(data), data, max_params=10**6, devices=["cpu"], wanted_device=None) is None
    api = Api()
    assert decline_if_unrunnable(api, 1, 7, spec_for(data), lambda s: data, max_params=10**6, devices=["cpu"],
                                 wanted_device=None) is None
    assert api.declined == []


def test_mismatched_data_too_big_a_model_or_a_missing_device_are_declined_with_a_reason():
    wide = npz(20, [0, 1, 2] * 10)
    assert "x must be (n, 16)" in unrunnable(spec_for(wide), wide, max_params=10**6, devices=["cpu"],
                                             wanted_device=None)
    labels = npz(16, [0, 1, 5] * 10)
    assert "labels must lie in 0..2" in unrunnable(spec_for(labels), labels, max_params=10**6, devices=["cpu"],
                                                   wanted_device=None)
    ok = npz(16, [0, 1, 2] * 10)
    assert "max_params 10" in unrunnable(spec_for(ok), ok, max_params=10, devices=["cpu"], wanted_device=None)
    assert "cuda" in unrunnable(spec_for(ok), ok, max_params=10**6, devices=["cpu"], wanted_device="cuda")
    api = Api()
    reason = decline_if_unrunnable(api, 3, 9, spec_for(wide), lambda s: wide, max_params=10**6, devices=["cpu"],
                                   wanted_device=None)
    assert reason and api.declined == [(3, reason)]


def test_inputs_that_cannot_be_fetched_are_declined():
    def gone(spec):
        raise ApiError(404, "not_found", "no artifact")

    api = Api()
    data = npz(16, [0, 1, 2] * 10)
    reason = decline_if_unrunnable(api, 4, 10, spec_for(data), gone, max_params=10**6, devices=["cpu"],
                                   wanted_device=None)
    assert reason == "the job's inputs cannot be fetched: no artifact" and api.declined == [(4, reason)]
