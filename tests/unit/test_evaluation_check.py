"""The verifier says whether its replay reproduced the worker's reported held-out evaluation."""

from client.api import ApiError
from verifier.evaluation_check import evaluation_note


class Api:
    def __init__(self, evaluation):
        self.evaluation = evaluation

    def result(self, job_id):
        if self.evaluation == "down":
            raise ApiError(503, "unavailable", "down")
        return {"evaluation": self.evaluation}


def test_same_bits_are_reproduced_and_a_difference_is_named():
    ev = {"step": 30, "loss": 0.5, "accuracy": 0.875}
    assert evaluation_note(Api(ev), 1, 30, 0.5, 0.875) == "; held-out evaluation reproduced"
    note = evaluation_note(Api(ev), 1, 30, 0.5000001, 0.875)
    assert "differs" in note and "loss reported 0.5, re-run 0.5000001" in note


def test_nothing_to_compare_says_nothing():
    assert evaluation_note(Api(None), 1, 30, 0.5, None) == ""
    assert evaluation_note(Api({"step": 10, "loss": 0.5, "accuracy": None}), 1, 30, 0.5, None) == ""
    assert evaluation_note(Api("down"), 1, 30, 0.5, None) == ""
