"""The client's money flows through the real `agora` command on a devnet without workers (issue 11): a retried
submit escrows once, a submit that cannot pay creates nothing, a too-large price is a balance error, and a job
can be cancelled, its refund seen as owed and withdrawn."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from eth_account import Account
from test_cli import SPEC, ok, one_line_error, run  # tests/integration is on sys.path (no __init__)
from web3 import Web3

pytestmark = pytest.mark.integration
ETHER = 10**18


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("lifecycle-devnet")
    up = run(root, "devnet", "up", "--workers", "0", "--no-verifier", "--no-referee")
    assert up.returncode == 0, up.stdout + up.stderr
    yield root
    assert run(root, "devnet", "down").returncode == 0


@pytest.fixture(scope="module")
def chain(devnet: Path) -> dict:
    st = json.loads(ok(devnet, "devnet", "status", "--json"))
    w3 = Web3(Web3.HTTPProvider(st["rpc"]))
    dep = json.loads(Path(st["deployment"]).read_text())
    key = Path(st["accounts"]["client"]["key_file"]).read_text().strip()
    return {"w3": w3, "market": dep["contracts"]["JobMarket"], "client": Account.from_key(key).address,
            "client_key": key, "status": st}


def _spec(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"spec-{seed}.json"
    path.write_text(json.dumps({**SPEC, "seed": seed}))
    return path


def _posted_by(chain: dict, address: str) -> int:
    from chain.events import EventDecoder

    topic = EventDecoder().topic("JobMarket", "JobPosted")
    logs = chain["w3"].eth.get_logs({"address": chain["market"], "fromBlock": 0, "toBlock": "latest",
                                     "topics": [topic, None, "0x" + address.lower()[2:].rjust(64, "0")]})
    return len(logs)


def test_the_same_submit_three_times_escrows_once(devnet: Path, chain: dict, tmp_path: Path) -> None:
    spec = _spec(tmp_path, 501)
    w3, client = chain["w3"], chain["client"]
    before, posted = w3.eth.get_balance(client), _posted_by(chain, client)
    key = "retry-" + secrets.token_hex(4)
    first = json.loads(ok(devnet, "jobs", "submit", str(spec), "--price", "1ether", "--idempotency-key", key, "--json"))
    second = json.loads(ok(devnet, "jobs", "submit", str(spec), "--price", "1ether", "--idempotency-key", key,
                           "--json"))
    # No key at all: the live job with the same spec and price is found too.
    third = ok(devnet, "jobs", "submit", str(spec), "--price", "1ether")
    assert first["escrowed_now"] is True and second["escrowed_now"] is False
    assert first["job"]["id"] == second["job"]["id"] and f"job {first['job']['id']}" in third
    assert "nothing paid again" in third
    paid = before - w3.eth.get_balance(client)
    assert ETHER <= paid < ETHER + ETHER // 100  # one price plus gas, not two
    assert _posted_by(chain, client) == posted + 1
    # --again is the deliberate second job.
    again = json.loads(ok(devnet, "jobs", "submit", str(spec), "--price", "1ether", "--again", "--json"))
    assert again["escrowed_now"] is True and again["job"]["id"] != first["job"]["id"]


def test_a_crash_between_create_and_escrow_is_finished_by_the_retry(devnet: Path, chain: dict, tmp_path: Path) -> None:
    from client.api import CoordinatorClient

    st = chain["status"]
    spec = json.loads(_spec(tmp_path, 502).read_text())
    key = "crash-" + secrets.token_hex(4)
    with CoordinatorClient(st["coordinator"], chain["client_key"]) as api:
        created = api.create_job(spec, ETHER // 10, 3600, idempotency_key=key)  # ... and the CLI dies here
    posted = _posted_by(chain, chain["client"])
    out = json.loads(ok(devnet, "jobs", "submit", str(_spec(tmp_path, 502)), "--price", "0.1ether",
                        "--idempotency-key", key, "--json"))
    assert out["job"]["id"] == created["job"]["id"] and out["job"]["status"] == "open" and out["escrowed_now"]
    assert _posted_by(chain, chain["client"]) == posted + 1


def test_a_submit_that_cannot_pay_creates_nothing(devnet: Path, chain: dict, tmp_path: Path) -> None:
    poor = tmp_path / "poor.key"
    acct = Account.create()
    poor.write_text(acct.key.hex() + "\n")
    line = one_line_error(run(devnet, "jobs", "submit", str(_spec(tmp_path, 503)), "--price", "0.01ether",
                              "--key-file", str(poor)), "less than the price")
    assert "agora devnet fund" in line
    assert json.loads(ok(devnet, "jobs", "list", "--client", acct.address, "--json")) == []
    # A price beyond any wallet is a balance error, not a collateral one.
    line = one_line_error(run(devnet, "jobs", "submit", str(_spec(tmp_path, 503)), "--price", "1000000ether"),
                          "less than the price")
    assert "collateral" not in line


def test_cancel_shows_what_is_owed_and_wallet_withdraws_it(devnet: Path, chain: dict, tmp_path: Path) -> None:
    w3, client = chain["w3"], chain["client"]
    sub = json.loads(ok(devnet, "jobs", "submit", str(_spec(tmp_path, 504)), "--price", "0.5ether", "--json"))
    job_id = sub["job"]["id"]
    shown = ok(devnet, "jobs", "show", str(job_id))
    assert f"agora jobs cancel {job_id}" in shown and "unverified" in shown
    out = json.loads(ok(devnet, "jobs", "cancel", str(job_id), "--json"))
    assert out["job"]["status"] == "cancelled" and out["owed"]["how"] == "agora wallet withdraw"
    assert "refunded to your JobMarket credit" in ok(devnet, "jobs", "show", str(job_id))
    status = json.loads(ok(devnet, "wallet", "status", "--json"))
    assert int(status["market_credit_wei"]) >= ETHER // 2
    assert job_id in [j["id"] for j in status["refunded_jobs"]]
    before = w3.eth.get_balance(client)
    paid = json.loads(ok(devnet, "wallet", "withdraw", "--json"))
    assert int(paid["paid_wei"]) == int(status["market_credit_wei"])
    assert w3.eth.get_balance(client) > before + ETHER // 2 - ETHER // 100  # the credit, less gas
    one_line_error(run(devnet, "wallet", "withdraw"), "nothing to withdraw")
    one_line_error(run(devnet, "jobs", "cancel", str(job_id)), "cannot be cancelled")
    # A cancelled job is reposted with one command; running it twice is still one new job.
    first = json.loads(ok(devnet, "jobs", "repost", str(job_id), "--json"))
    second = json.loads(ok(devnet, "jobs", "repost", str(job_id), "--json"))
    assert first["job"]["id"] == second["job"]["id"] != job_id and first["escrowed_now"] and not second["escrowed_now"]
    assert first["job"]["spec_hash"] == sub["job"]["spec_hash"] and first["job"]["status"] == "open"


def test_worker_start_uses_the_devnet_and_the_matcher_honours_its_options(
    devnet: Path, chain: dict, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import time

    from test_cli import AGORA, REPO

    from client.api import CoordinatorClient

    key = tmp_path / "provider.key"
    acct = Account.create()
    key.write_text(acct.key.hex() + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    env.update(AGORA_DEVNET_DIR=str(devnet), AGORA_WORKER_DIR=str(tmp_path / "ws"), AGORA_HEARTBEAT_S="1")
    # No --coordinator/--rpc/--broker: the running devnet's, like every other command.
    proc = subprocess.Popen([AGORA, "worker", "start", "--key-file", str(key), "--max-params", "1000"], env=env,
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        api = CoordinatorClient(chain["status"]["coordinator"])
        seen: dict = {}
        for _ in range(120):
            try:
                seen = api.provider(acct.address)
            except Exception:  # noqa: BLE001 - not heard of yet
                seen = {}
            if seen.get("alive"):
                break
            time.sleep(0.5)
        assert seen.get("alive") and seen["max_params"] == 1000 and seen["devices"] == ["cpu"], seen
        cuda = json.loads(ok(devnet, "jobs", "submit", str(_spec(tmp_path, 505)), "--price", "0.01ether",
                             "--device", "cuda", "--json"))["job"]
        big = json.loads(ok(devnet, "jobs", "submit", str(_spec(tmp_path, 506)), "--price", "0.01ether",
                            "--json"))["job"]
        assert cuda["device"] == "cuda"
        reasons: dict[int, str] = {}
        for _ in range(60):
            reasons = {j: api.job(j).get("wait_reason") or "" for j in (cuda["id"], big["id"])}
            if all(reasons.values()):
                break
            time.sleep(0.5)
        assert "no live provider offers a cuda device" in reasons[cuda["id"]], reasons
        assert "can hold" in reasons[big["id"]] and "largest: 1000" in reasons[big["id"]], reasons
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_devnet_fund_is_a_faucet_for_a_new_key(devnet: Path, chain: dict, tmp_path: Path) -> None:
    acct = Account.create()
    key = tmp_path / "new.key"
    key.write_text(acct.key.hex() + "\n")
    one_line_error(run(devnet, "jobs", "submit", str(_spec(tmp_path, 507)), "--price", "0.01ether",
                       "--key-file", str(key)), f"agora devnet fund {acct.address}")
    out = json.loads(ok(devnet, "devnet", "fund", acct.address, "2ether", "--json"))
    assert out["balance_wei"] == str(2 * ETHER) == str(chain["w3"].eth.get_balance(acct.address))
    ok(devnet, "devnet", "fund", acct.address, "1ether")
    assert chain["w3"].eth.get_balance(acct.address) == 3 * ETHER
    sub = json.loads(ok(devnet, "jobs", "submit", str(_spec(tmp_path, 507)), "--price", "0.01ether",
                        "--key-file", str(key), "--json"))
    assert sub["job"]["status"] == "open" and sub["job"]["client"] == acct.address.lower()
    one_line_error(run(devnet, "devnet", "fund", "0x1234", "1ether"), "not an address")


def test_stake_below_the_minimum_warns_and_unstaking_below_it_refuses(devnet: Path, tmp_path: Path) -> None:
    acct = Account.create()
    key = tmp_path / "small-provider.key"
    key.write_text(acct.key.hex() + "\n")
    ok(devnet, "devnet", "fund", acct.address, "1ether")
    k = ["--key-file", str(key)]
    small = run(devnet, "provider", "stake", "0.05ether", *k)  # the devnet's minimum stake is 0.1 ether
    assert small.returncode == 0 and "below the market's minimum stake 0.1" in small.stderr, small.stderr
    assert json.loads(ok(devnet, "provider", "stake", "0.1ether", *k, "--json")).get("warning") is None
    one_line_error(run(devnet, "provider", "unstake", "0.1ether", *k), "below the market's minimum stake",
                   "unstake at most 0.05")
    ok(devnet, "provider", "unstake", "0.15ether", *k)  # everything: leaving is allowed
    shown = ok(devnet, "provider", "status", *k)
    assert "payouts" in shown and "earnings" not in shown
