"""`agora devnet demo`: the story in one command, with a user's own PyTorch model (examples/digits-cnn, a small CNN
exported to Agora's graph format): an honest job paid, a cheating provider — it nudges one node deep in the
backward pass, a ``convolution_backward`` — caught at that step and node, slashed, and the client refunded,
narrated with every party's balance before and after."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agora.devnet.network import Devnet, DevnetError, DevnetOptions
from agora.output import CliError, ether, signed_ether

PRICE = 10**16  # 0.01 ether
PARTIES = ("client", "worker-1", "worker-2", "verifier", "referee", "treasury")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits-cnn"
# The cheater's node: the convolution backward of the CNN's second layer (the gradient that flows into the first).
CHEAT_NODE = "convolution_backward"


def demo_spec(steps: int, seed: int) -> dict[str, Any]:
    """The example CNN's spec (its graph and initial weights, exported from examples/digits-cnn/model.py), shorter."""
    spec = json.loads((EXAMPLE / "spec.json").read_text())
    spec["steps"] = steps
    spec["checkpoint_every"] = max(1, steps // 6)
    spec["dataset"] = {**spec["dataset"], "shuffle_seed": seed}
    # Every result is re-run by the verifier, so a cheat is always caught in the demo.
    spec["verification"] = {"replicas": 1, "spot_check": 1.0}
    return dict(spec)


def _upload_model(api: Any) -> None:
    for kind, name in (("graph", "graph.json"), ("weights", "weights.safetensors")):
        api.upload_artifact((EXAMPLE / name).read_bytes(), kind=kind)


def run_demo(*, steps: int, fault_step: int | None, keep: bool, say: Callable[[str], None],
             timeout_s: float = 600) -> dict[str, Any]:
    """Runs the demo; returns what it observed (for tests). Tears down the devnet it started unless `keep`."""
    k = fault_step or max(1, steps * 2 // 3)
    if not 1 <= k <= steps:
        raise CliError(f"--fault-step must be between 1 and --steps ({steps})")
    net = Devnet()
    started = False
    if net.is_up():
        st = net.state()
        assert st is not None
        faults = st.params.get("faulty_workers") or {}
        if not any(str(f).startswith("perturb-") for f in faults.values()) or st.params.get("workers", 0) < 2:
            raise CliError("a devnet without a cheating worker is up: run `agora devnet down` first (the demo starts "
                           f"its own), or `agora devnet up --workers 2 --faulty-worker perturb-node=K:{CHEAT_NODE}`")
        say(f"using the devnet already up at {st.coordinator}")
    else:
        say("== bringing up a devnet: anvil, contracts, coordinator, 2 workers (one cheats), verifier, referee")
        try:
            net.up(DevnetOptions(workers=2, faulty_workers=[f"perturb-node={k}:{CHEAT_NODE}"]),
                   report=lambda m: say("   " + m))
        except DevnetError as exc:
            raise CliError(str(exc)) from None
        started = True
    try:
        return _story(net, steps, say, timeout_s)
    finally:
        if started and not keep:
            say("== tearing down the devnet")
            net.down()
        elif started:
            say("the devnet keeps running: `agora devnet status`, `agora devnet down`")


def _story(net: Devnet, steps: int, say: Callable[[str], None], timeout_s: float) -> dict[str, Any]:
    from eth_account import Account

    from agora.devnet.ledger import Ledger
    from chain.dispute_game import DisputeGame
    from chain.sender import Sender, make_web3
    from client.api import CoordinatorClient

    st = net.state()
    assert st is not None
    faults = st.params.get("faulty_workers") or {}
    ledger = Ledger.for_devnet(st)
    client_key = Path(st.accounts["client"].key_file).read_text().strip()
    api = CoordinatorClient(st.coordinator, client_key)
    sender = Sender(make_web3(st.rpc), client_key)
    before = ledger.snapshot()

    def label(address: str | None) -> str:
        for name, acct in st.accounts.items():
            if address and acct.address.lower() == address.lower():
                if name in faults:
                    return f"{name} (CHEATS: {faults[name]})"
                return f"{name} (honest)" if name.startswith("worker") else name
        return address or "-"

    say(f"\n== the client {st.accounts['client'].address} exports its PyTorch CNN (examples/digits-cnn/model.py) and "
        f"posts two jobs of {steps} steps on builtin:digits, {ether(PRICE)} each, escrowed on-chain")
    _upload_model(api)
    jobs: list[int] = []
    for seed in (1, 2):
        created = api.create_job(demo_spec(steps, seed), PRICE, 3600)
        tx = created["transaction"]
        receipt = sender.transact(tx["to"], bytes.fromhex(tx["data"].removeprefix("0x")), int(tx["value"]))
        jobs.append(int(created["job"]["id"]))
        say(f"   job {created['job']['id']}: escrow tx {receipt.tx_hash}")

    seen: dict[int, str] = {}
    shown_step: dict[int, int] = {}
    outcome: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout_s
    while len(outcome) < len(jobs):
        if time.monotonic() > deadline:
            raise CliError(f"the demo jobs did not finish within {timeout_s:.0f}s: see `agora devnet status` logs")
        for job_id in jobs:
            if job_id in outcome:
                continue
            job = api.job(job_id)
            status = job["status"]
            if seen.get(job_id) != status:
                seen[job_id] = status
                say(_status_line(job, label))
            if status == "running":
                step = int(api.progress(job_id).get("latest_step") or 0)
                if step >= shown_step.get(job_id, 0) + max(1, steps // 4):
                    shown_step[job_id] = step
                    p = api.progress(job_id)
                    say(f"   job {job_id}: step {step}/{steps}, loss {p.get('latest_loss') or 0:.4f}")
            if status in ("finalized", "failed", "cancelled", "expired"):
                outcome[job_id] = job
                if status == "finalized":
                    ev = (api.result(job_id) or {}).get("evaluation") or {}
                    if ev.get("accuracy") is not None:
                        say(f"   job {job_id}: held-out accuracy {ev['accuracy']:.3f}, loss {ev.get('loss') or 0:.4f}")
                if status == "failed" or any(d.get("outcome") for d in api.disputes(job_id=job_id)):
                    _narrate_dispute(api, ledger, job, say, DisputeGame, Account)
        time.sleep(0.5)

    after = ledger.snapshot()
    net_change = ledger.net_changes(before, after)
    say("\n== balances (wallet + stake + credits), before → after, and each party's gain or loss (gas left out)")
    for name in PARTIES:
        if name not in after.holdings:
            continue
        b, a = before.holdings[name].total, after.holdings[name].total
        say(f"   {label(after.addresses[name]):<38} {ether(b):>24} → {ether(a):>24}   {signed_ether(net_change[name])}")
    honest = [j for j in outcome.values() if j["status"] == "finalized"]
    cheated = [j for j in outcome.values() if j["status"] == "failed"]
    say("")
    for j in honest:
        say(f"the honest provider was paid: {label(j['provider'])} {signed_ether(net_change[_name(st, j['provider'])])}")
    for j in cheated:
        say(f"the cheater was slashed: {label(j['provider'])} {signed_ether(net_change[_name(st, j['provider'])])}; "
            f"the client was refunded its {ether(PRICE)} for job {j['id']}")
    say(f"client paid {signed_ether(net_change['client'])} in all: one job's price, nothing for the cheated one")
    return {"jobs": {j: o["status"] for j, o in outcome.items()}, "net": net_change}


def _op_name(job: dict[str, Any], j: int) -> str:
    """``node 61 aten.convolution_backward.default`` for a graph job's op j (its graph node j), else ``op j``."""
    from verde.graph import store
    from verde.program import build_program
    from verde.spec import parse_spec

    spec = demo_spec(int(job["num_steps"]), 0)
    store.add_directory(EXAMPLE)
    program = build_program(parse_spec(spec))
    if program.graph is not None and 1 <= j <= program.graph.n_nodes:
        return f"node {j} {program.op(j).kind}"
    return f"op {j}"


def _name(st: Any, address: str) -> str:
    for name, acct in st.accounts.items():
        if acct.address.lower() == address.lower():
            return name
    return address


def _status_line(job: dict[str, Any], label: Callable[[str | None], str]) -> str:
    j, s = job["id"], job["status"]
    text = {
        "awaiting_funding": "created; waiting for its escrow transaction to be indexed",
        "open": "escrow seen on-chain; open for matching",
        "assigned": f"assigned to {label(job['provider'])}",
        "running": "accepted: collateral locked, training",
        "submitted": f"result submitted (trace root {str(job['trace_root'])[:12]}…); challenge window open",
        "disputed": "CHALLENGED: the verifier's re-run disagrees; the bisection game starts",
        "finalized": "finalized: the provider is paid",
        "failed": "failed: the provider lost the dispute",
    }.get(s, s)
    return f"   job {j}: {text}"


def _narrate_dispute(api: Any, ledger: Any, job: dict[str, Any], say: Callable[[str], None], game_cls: Any,
                     account_cls: Any) -> None:
    from agora.commands.disputes import narrowing

    items = api.disputes(job_id=job["id"])
    if not items:
        return
    d = api.dispute(items[0]["id"])
    say(f"\n== dispute {d['id']} over job {job['id']}: defender {d['defender']} vs challenger {d['challenger']}")
    for line in narrowing(d.get("moves") or [], d.get("defender"), d.get("challenger")):
        say("  " + line)
    game = game_cls.connect(ledger.deployment, ledger.w3, account_cls.create().key.hex())
    state = game.state(int(d["id"]))
    if state.level == 2:
        say(f"   => the cheater was caught at step {state.index}, {_op_name(job, state.hi)} "
            f"(of {state.ops_per_step} ops per step); the referee recomputed that one node; outcome: {d['outcome']}")
    else:
        say(f"   => outcome: {d['outcome']} (level {state.level})")
    say("")
