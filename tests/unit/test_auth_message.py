"""EIP-4361 messages: build → text → parse round-trips; malformed text is rejected; signatures recover."""

from __future__ import annotations

import datetime as dt

import pytest
from eth_account import Account

from coordinator.signin import SiweError, SiweMessage, recover_signer, sign

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDR = Account.from_key(KEY).address
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)


def message(**kw: object) -> SiweMessage:
    base: dict[str, object] = {
        "domain": "localhost",
        "address": ADDR,
        "uri": "http://localhost",
        "chain_id": 31337,
        "nonce": "abcdef123456",
        "issued_at": T0,
        "statement": "Sign in.",
    }
    base.update(kw)
    return SiweMessage(**base)  # type: ignore[arg-type]


def test_text_follows_eip4361_layout() -> None:
    text = message(expiration_time=T0 + dt.timedelta(minutes=5)).text()
    assert text.splitlines() == [
        "localhost wants you to sign in with your Ethereum account:",
        ADDR,
        "",
        "Sign in.",
        "",
        "URI: http://localhost",
        "Version: 1",
        "Chain ID: 31337",
        "Nonce: abcdef123456",
        "Issued At: 2026-01-02T03:04:05.678Z",
        "Expiration Time: 2026-01-02T03:09:05.678Z",
    ]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"statement": None},
        {
            "expiration_time": T0 + dt.timedelta(hours=1),
            "not_before": T0,
            "request_id": "r-1",
            "resources": ("ipfs://x", "https://example.com/a"),
        },
    ],
)
def test_parse_round_trips(kw: dict) -> None:
    m = message(**kw)
    assert SiweMessage.parse(m.text()) == m


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace("wants you to sign in", "wants you to log in"),
        lambda t: t.replace(ADDR, ADDR.lower()),  # not checksummed
        lambda t: t.replace("Chain ID: 31337", "Chain ID: x"),
        lambda t: t.replace("Nonce: abcdef123456", "Nonce: short"),
        lambda t: t.replace("Version: 1", "Version: 2"),
        lambda t: t.replace("Issued At: 2026-01-02T03:04:05.678Z", "Issued At: yesterday"),
        lambda t: t + "\nExtra: line",
        lambda t: "\n".join(l for l in t.split("\n") if not l.startswith("URI")),
    ],
)
def test_malformed_messages_are_rejected(mangle) -> None:
    with pytest.raises(SiweError):
        SiweMessage.parse(mangle(message().text()))


def test_signature_recovers_the_signer_and_detects_tampering() -> None:
    text = message().text()
    sig = sign(text, KEY)
    assert recover_signer(text, sig) == ADDR
    assert recover_signer(text.replace("31337", "1"), sig) != ADDR
    with pytest.raises(SiweError):
        recover_signer(text, "0x1234")
