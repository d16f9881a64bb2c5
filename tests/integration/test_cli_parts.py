"""The pieces under the `agora` command, without a devnet: amounts and durations, key loading, the process
supervisor (real child processes), the dispute narration and the ledger's arithmetic."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from agora.devnet.supervisor import Supervisor
from agora.keys import KeyLoadError, load_key, read_key_file
from agora.output import CliError, ether, parse_amount, parse_duration

DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_ADDR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize(("text", "wei"), [
    ("0.01ether", 10**16), ("1 ETH", 10**18), ("20gwei", 20 * 10**9), ("1000wei", 1000), ("1.5ether", 15 * 10**17),
])
def test_amounts_need_a_unit_and_are_exact(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize("text", ["0.01", "ether", "1.5wei", "-1ether", "1 dollar"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(CliError):
        parse_amount(text)


def test_durations_and_ether_rendering() -> None:
    assert [parse_duration(t) for t in ("90s", "15m", "1h", "2d", "3600")] == [90, 900, 3600, 172800, 3600]
    with pytest.raises(CliError):
        parse_duration("soon")
    assert ether(9_750_000_000_000_000) == "0.00975 ETH" and ether(0) == "0 ETH"


def test_keys_come_from_a_file_or_the_environment_never_argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "k"
    f.write_text(DEV_KEY.removeprefix("0x") + "\n# comment\n")
    assert read_key_file(f).address == DEV_ADDR
    monkeypatch.delenv("AGORA_TEST_KEY", raising=False)
    monkeypatch.delenv("AGORA_TEST_KEY_FILE", raising=False)
    with pytest.raises(KeyLoadError, match="--key-file"):
        load_key(None, "AGORA_TEST_KEY")
    monkeypatch.setenv("AGORA_TEST_KEY", DEV_KEY)
    assert load_key(None, "AGORA_TEST_KEY").address == DEV_ADDR
    monkeypatch.delenv("AGORA_TEST_KEY")
    monkeypatch.setenv("AGORA_TEST_KEY_FILE", str(f))
    assert load_key(None, "AGORA_TEST_KEY").source.startswith("key file")
    (tmp_path / "zero").write_text("0x" + "00" * 32)
    with pytest.raises(KeyLoadError, match="invalid"):
        read_key_file(tmp_path / "zero")
    with pytest.raises(KeyLoadError, match="not found"):
        read_key_file(tmp_path / "missing")


def test_supervisor_starts_stops_kills_and_restarts_only_its_own(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    cmd = [sys.executable, "-c", "import time, sys; print('up', flush=True); time.sleep(60)"]
    rec = sup.start("sleeper", cmd, env=dict(os.environ))
    assert sup.state("sleeper") == "running"
    with pytest.raises(RuntimeError, match="already running"):
        sup.start("sleeper", cmd)
    deadline = time.monotonic() + 10
    while "up" not in sup.log_file("sleeper").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "up" in sup.log_file("sleeper").read_text()
    assert sup.kill("sleeper") and sup.state("sleeper") == "exited"
    again = sup.restart("sleeper")
    assert again.pid != rec.pid and sup.state("sleeper") == "running"
    # A pid file whose process is gone, or whose pid now belongs to another process, is never signalled.
    stale = sup.record("sleeper")
    assert stale is not None
    stale_file = sup.pid_file("imposter")
    stale_file.write_text(sup.pid_file("sleeper").read_text().replace(str(stale.start_time), "1"))
    assert sup.state("imposter") == "exited" and not sup.stop("imposter")
    assert sup.state("sleeper") == "running"
    assert sup.stop("sleeper") and sup.state("sleeper") == "stopped"
    assert not sup.stop("sleeper")  # idempotent


# A service that, told to stop, finishes only once its peer has been told too (as workers finishing their tasks):
# stopped one after the other, the first would wait for a signal that comes only after it has been killed.
_PEER = """
import pathlib, signal, sys, time
me, peer = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def term(*_):
    me.with_suffix(".term").touch()
    while not peer.with_suffix(".term").exists():
        time.sleep(0.02)
    me.with_suffix(".graceful").touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
print(f"{me.name}:ready", flush=True)
while True:
    time.sleep(1)
"""


def test_supervisor_stops_services_side_by_side(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    for name, me, peer in (("worker-a", a, b), ("worker-b", b, a)):
        sup.start(name, [sys.executable, "-c", _PEER, str(me), str(peer)], env=dict(os.environ))
    deadline = time.monotonic() + 60
    while not all(f"{n}:ready" in sup.log_file(f"worker-{n}").read_text() for n in "ab") \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(sup.stop_all(["worker-a", "worker-b"], timeout_s=60)) == ["worker-a", "worker-b"]
    # Both were told at once, so both finished on their own: neither needed SIGKILL.
    assert a.with_suffix(".graceful").exists() and b.with_suffix(".graceful").exists()
    assert sup.state("worker-a") == sup.state("worker-b") == "stopped"


def test_narration_draws_each_round_and_the_outcome() -> None:
    from agora.commands.disputes import narrowing

    d, c = "0x" + "aa" * 20, "0x" + "bb" * 20
    moves = [
        {"kind": "GameOpened", "mover": None, "tx_hash": "0x01", "block_number": 1, "args": {"segments": 4}},
        {"kind": "ElementsRevealed", "mover": d, "tx_hash": "0x02", "block_number": 2,
         "args": {"level": 0, "lo": 0, "hi": 4, "elements": ["0x"] * 3}},
        {"kind": "ElementsRevealed", "mover": c, "tx_hash": "0x03", "block_number": 3,
         "args": {"level": 0, "lo": 0, "hi": 4, "elements": ["0x"] * 3}},
        {"kind": "ElementsRevealed", "mover": c, "tx_hash": "0x04", "block_number": 4,
         "args": {"level": 0, "lo": 2, "hi": 4, "elements": ["0x"]}},
        {"kind": "RefereeRuled", "mover": None, "tx_hash": "0x05", "block_number": 5, "args": {"outputHash": "0x"}},
        {"kind": "GameSettled", "mover": None, "tx_hash": "0x05", "block_number": 5,
         "args": {"outcome": 2, "slashed": str(10**16)}},
    ]
    lines = narrowing(moves, d, c)
    text = "\n".join(lines)
    assert "level 0: segments" in text and "round 1" in text and "round 2" in text
    assert "[0, 4] defender revealed 3" in text and "[2, 4] challenger revealed 1" in text
    assert "challenger_wins" in text and "slashed 0.01 ETH" in text
    bars = next(ln for ln in lines if "round 2" in ln)
    assert "|....................====================|" in bars  # the right half: [2, 4] of 4
