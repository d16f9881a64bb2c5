"""What needs no sign-in is bounded: nonces per client IP are rate-limited (429 + Retry-After), an address
keeps at most `max_live_nonces` outstanding nonces, and expired nonces, tokens and idempotency keys are swept.
Before: every POST /v1/auth/nonce added a row, without limit, and idempotency keys were kept forever."""

from __future__ import annotations

import datetime as dt

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from coordinator.app import create_app
from coordinator.auth import sweep_expired
from coordinator.limits import RateLimiter
from coordinator.models import AuthNonce, AuthToken, IdempotencyKey, utcnow

pytestmark = pytest.mark.integration


@pytest.fixture()
def limited(settings, clean_db):
    app = create_app(settings.model_copy(update={"signin_burst": 5, "signin_per_s": 0.001, "max_live_nonces": 3}))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.dispose()


def _nonce(c: TestClient, address: str):
    return c.post("/v1/auth/nonce", json={"address": address})


def test_unauthenticated_nonces_are_rate_limited_per_ip(limited, sessions):
    addresses = [Account.create().address for _ in range(8)]  # fresh addresses: the IP is what is limited
    answers = [_nonce(limited, a) for a in addresses]
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 3
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuthNonce)) == 5
    r = limited.post("/v1/auth/login", json={"message": "x", "signature": "0x00"})
    assert r.status_code == 429  # login shares the bucket: it recovers a signature per call


def test_an_address_keeps_few_outstanding_nonces(limited, sessions, roles):
    for _ in range(5):
        assert _nonce(limited, roles.client.address).status_code == 200
    with sessions() as s:
        live = s.scalars(select(AuthNonce).where(AuthNonce.address == roles.client.address.lower())).all()
    assert len(live) == 3  # the oldest gave way


def test_sweep_drops_expired_nonces_tokens_and_idempotency_keys(client, login, settings, sessions, roles, spec):
    h = login(roles.client)
    body = {"spec": spec, "price_wei": "1000", "deadline_s": 3600}
    first = client.post("/v1/jobs", json=body, headers={**h, "Idempotency-Key": "k-old"})
    assert first.status_code == 201, first.text
    now = utcnow()
    old = now - dt.timedelta(seconds=settings.idempotency_ttl_s + 1)
    addr = roles.client.address.lower()
    with sessions() as s:
        s.execute(update(IdempotencyKey).values(created_at=old))
        s.add_all([
            AuthNonce(nonce="expired0", address=addr, issued_at=old, expires_at=now - dt.timedelta(seconds=1)),
            AuthNonce(nonce="live0000", address=addr, issued_at=now, expires_at=now + dt.timedelta(seconds=60)),
            AuthToken(token_hash="a" * 64, address=addr, expires_at=now - dt.timedelta(seconds=1), created_at=old),
        ])
        s.commit()
        sweep_expired(s, settings, now)
        s.commit()
        assert "expired0" not in s.scalars(select(AuthNonce.nonce)).all()
        assert "live0000" in s.scalars(select(AuthNonce.nonce)).all()
        assert "a" * 64 not in s.scalars(select(AuthToken.token_hash)).all()
        assert s.scalars(select(IdempotencyKey.key)).all() == []
    again = client.post("/v1/jobs", json=body, headers={**h, "Idempotency-Key": "k-old"})
    assert again.status_code == 201 and again.json()["job"]["id"] != first.json()["job"]["id"]  # expired: new


def test_rate_limiter_refills_and_forgets():
    t = [0.0]
    rl = RateLimiter(burst=2, per_s=1.0, clock=lambda: t[0], max_keys=10)
    assert rl.take("a") == 0 and rl.take("a") == 0
    assert rl.take("a") == pytest.approx(1.0)
    assert rl.take("b") == 0  # another client has its own bucket
    t[0] = 1.0
    assert rl.take("a") == 0
    for i in range(50):
        rl.take(f"k{i}")
    assert len(rl._buckets) <= 11


def test_the_optional_scheme_must_be_the_coordinators(client, roles):
    from coordinator.signin import SiweMessage, sign

    msg = client.post("/v1/auth/nonce", json={"address": roles.client.address}).json()["message"]
    m = SiweMessage.parse(msg)
    for scheme, status in (("https", 401), ("http", 200)):  # settings.siwe_uri is http://localhost
        text = SiweMessage(**{**m.__dict__, "scheme": scheme}).text()
        r = client.post("/v1/auth/login", json={"message": text, "signature": sign(text, roles.client.private_key)})
        assert r.status_code == status, r.text


def test_database_away_is_503_not_500(tmp_path):
    from coordinator.settings import Settings

    app = create_app(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/none",
                              artifact_dir=tmp_path / "a"), chain=object())  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/auth/nonce", json={"address": Account.create().address})
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable" and r.headers["Retry-After"]
