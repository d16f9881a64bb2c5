"""Everything checkable before escrow is checked before escrow (issue 11, item 2): a dataset that does not fit the
model, labels beyond its classes, a price whose default collateral is beyond the market → 422, nothing created."""

from __future__ import annotations

import io

import numpy as np
import pytest

pytestmark = pytest.mark.integration
OCTET = {"Content-Type": "application/octet-stream"}


def _npz(features: int, labels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.random.default_rng(1).normal(size=(len(labels), features)).astype(np.float32), y=labels)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("features", "labels", "needle"),
    [
        (20, np.arange(64) % 10, "x must be (n, 64)"),  # the model has 64 inputs
        (64, np.arange(64) % 13, "labels must lie in 0..9"),  # and 10 classes
        (64, np.arange(16) % 10, "exceeds the 13 training samples"),  # batch 32 > what is left after the split
    ],
)
def test_a_dataset_that_cannot_serve_the_spec_is_refused_before_escrow(
    client, login, roles, spec, row_counts, features, labels, needle
):
    h = login(roles.client)
    up = client.post("/v1/datasets", content=_npz(features, labels), headers={**h, **OCTET})
    assert up.status_code == 201, up.text
    spec["dataset"]["id"] = up.json()["id"]
    before = row_counts()
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": "1000", "deadline_s": 3600}, headers=h)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "dataset_mismatch" and needle in err["message"], err
    assert row_counts() == before


def test_a_price_too_large_for_the_default_collateral_says_price(client, login, roles, spec, row_counts):
    h = login(roles.client)
    before = row_counts()
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": str(10**24), "deadline_s": 3600}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["message"].startswith("price ") and "lower the price" in r.json()["error"]["message"]
    assert row_counts() == before


def test_collateral_meets_the_market_floor_before_escrow(client, login, roles, spec, deployed, row_counts):
    floor = int(deployed.params["min_collateral_wei"])
    h = login(roles.client)
    before = row_counts()
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10, "deadline_s": 3600, "collateral_wei": 0},
                    headers=h)
    assert r.status_code == 422 and "below the market's floor" in r.json()["error"]["message"]
    assert row_counts() == before
    # A price whose default share is below the floor gets the floor, so its escrow cannot revert on it.
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": 10, "deadline_s": 3600}, headers=h)
    assert r.status_code == 201 and int(r.json()["job"]["collateral_wei"]) == floor > 0


@pytest.mark.parametrize(
    ("path", "value", "needle"),
    [(("optimizer", "lr"), float("nan"), "finite number"), (("steps",), "200", "valid integer")],
)
def test_a_spec_in_another_spelling_is_refused(client, login, roles, spec, row_counts, path, value, needle):
    import json

    node = spec
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    h = login(roles.client)
    before = row_counts()
    body = json.dumps({"spec": spec, "price_wei": "1000", "deadline_s": 3600})  # NaN travels as the literal NaN
    r = client.post("/v1/jobs", content=body, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 422 and needle in r.json()["error"]["message"], r.text
    assert all(p in r.json()["error"]["message"] for p in path)  # the field is named
    assert row_counts() == before


def test_an_npz_with_its_own_test_split_is_accepted(client, login, roles, spec):
    h = login(roles.client)
    buf = io.BytesIO()
    rng = np.random.default_rng(2)
    np.savez(buf, x=rng.normal(size=(80, 64)).astype(np.float32), y=np.arange(80) % 10,
             x_test=rng.normal(size=(20, 64)).astype(np.float32), y_test=np.arange(20) % 10)
    up = client.post("/v1/datasets", content=buf.getvalue(), headers={**h, **OCTET})
    assert up.status_code == 201, up.text
    spec["dataset"]["id"] = up.json()["id"]
    r = client.post("/v1/jobs", json={"spec": spec, "price_wei": "1000", "deadline_s": 3600}, headers=h)
    assert r.status_code == 201, r.text
