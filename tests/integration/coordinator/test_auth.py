"""Sign-in over the API: nonces are single-use and expire; wrong signer, domain or chain are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from coordinator.models import AuthNonce
from coordinator.signin import SiweMessage, sign

pytestmark = pytest.mark.integration


def nonce(client, account) -> str:
    r = client.post("/v1/auth/nonce", json={"address": account.address})
    assert r.status_code == 200
    return r.json()["message"]


def login(client, msg: str, key: str):
    return client.post("/v1/auth/login", json={"message": msg, "signature": sign(msg, key)})


def code(r) -> str:
    return r.json()["error"]["code"]


def test_login_issues_a_token_that_authenticates(client, roles):
    r = login(client, nonce(client, roles.client), roles.client.private_key)
    assert r.status_code == 200
    token = r.json()["token"]
    assert r.json()["address"] == roles.client.address.lower()
    hb = client.post(
        "/v1/providers/heartbeat",
        headers={"Authorization": f"Bearer {token}"},
        json={"capabilities": {"devices": ["cpu"], "max_params": 1}, "queue_depth": 0, "repops_version": "1"},
    )
    assert hb.status_code == 200 and hb.json()["address"] == roles.client.address.lower()


def test_replayed_nonce_is_refused(client, roles):
    msg = nonce(client, roles.client)
    assert login(client, msg, roles.client.private_key).status_code == 200
    r = login(client, msg, roles.client.private_key)
    assert r.status_code == 401 and code(r) == "nonce_used"


def test_expired_nonce_is_refused(client, roles, sessions):
    msg = nonce(client, roles.client)
    parsed = SiweMessage.parse(msg)
    with sessions() as s:
        s.execute(
            update(AuthNonce)
            .where(AuthNonce.nonce == parsed.nonce)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
        s.commit()
    r = login(client, msg, roles.client.private_key)
    assert r.status_code == 401 and code(r) == "nonce_expired"


def test_wrong_signer_is_refused_and_nonce_survives(client, roles):
    msg = nonce(client, roles.client)
    r = login(client, msg, roles.stranger.private_key)
    assert r.status_code == 401 and code(r) == "invalid_signature"
    # a bad attempt does not burn the nonce of the real owner
    assert login(client, msg, roles.client.private_key).status_code == 200


def test_wrong_domain_chain_or_foreign_nonce_is_refused(client, roles):
    msg = nonce(client, roles.client)
    m = SiweMessage.parse(msg)
    cases = {
        "wrong_domain": SiweMessage(**{**m.__dict__, "domain": "evil.example"}),
        "wrong_chain": SiweMessage(**{**m.__dict__, "chain_id": 1}),
        "unknown_nonce": SiweMessage(**{**m.__dict__, "nonce": "deadbeefdeadbeef"}),
    }
    for expected, forged in cases.items():
        r = login(client, forged.text(), roles.client.private_key)
        assert r.status_code == 401 and code(r) == expected, r.text
    # another account cannot use this account's nonce, even signing its own address into the message
    theirs = SiweMessage(**{**m.__dict__, "address": roles.stranger.address})
    r = login(client, theirs.text(), roles.stranger.private_key)
    assert r.status_code == 401 and code(r) == "unknown_nonce"
    r = client.post("/v1/auth/login", json={"message": "hello", "signature": "0x" + "00" * 65})
    assert r.status_code == 401 and code(r) == "invalid_message"
    r = client.post("/v1/auth/login", json={"message": msg, "signature": "0x1234"})
    assert r.status_code == 422


def test_concurrent_logins_with_one_nonce_issue_one_token(client, roles, sessions):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import func, select

    from coordinator.models import AuthToken

    msg = nonce(client, roles.client)
    barrier = threading.Barrier(4)

    def attempt(_):
        barrier.wait()
        return login(client, msg, roles.client.private_key).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(attempt, range(4)))
    assert codes == [200, 401, 401, 401]
    with sessions() as s:
        assert s.execute(select(func.count()).select_from(AuthToken)).scalar_one() == 1
