"""`agora disputes list|show`: dispute games as the coordinator indexed them, the bisection drawn round by round."""

from __future__ import annotations

import time
from typing import Any

import click

from agora.commands.jobs import coordinator_option, coordinator_url, json_option
from agora.output import FriendlyGroup, echo_json, fields, short, table, when
from chain.dispute_game import outcome_name

LEVELS = {0: "segments", 1: "steps", 2: "ops"}
BAR = 40


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Follow dispute games: who challenged whom, how the bisection narrowed, who won."""


def _client(url: str | None):  # type: ignore[no-untyped-def]
    from client.api import CoordinatorClient

    return CoordinatorClient(coordinator_url(url), retries=2, timeout_s=30.0)


@group.command(name="list")
@click.option("--job", "job_id", type=int, metavar="ID", help="only disputes over this job (coordinator job id)")
@coordinator_option
@json_option
def list_(job_id: int | None, coordinator: str | None, as_json: bool) -> None:
    """List disputes, newest first."""
    items = _client(coordinator).disputes(job_id=job_id)
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("no disputes")
        return
    table([(d["id"], d.get("job_id"), d["phase"], LEVELS.get(d["level"], d["level"]), _interval(d),
            short(d["defender"]), short(d["challenger"]), d["outcome"] or "-", when(d["deadline_at"]))
           for d in items],
          ["id", "job", "phase", "level", "interval", "defender", "challenger", "outcome", "deadline"])


def _interval(d: dict[str, Any]) -> str:
    return "-" if d.get("lo") is None else f"[{d['lo']}, {d['hi']}]"


@group.command()
@click.argument("dispute_id", type=int)
@coordinator_option
@json_option
def show(dispute_id: int, coordinator: str | None, as_json: bool) -> None:
    """One dispute: the parties, each move with its transaction, the interval narrowing level by level
    (segments → steps → ops), the deadline of the current move and the outcome."""
    d = _client(coordinator).dispute(dispute_id)
    if as_json:
        echo_json(d)
        return
    chain = _chain_view(int(d["id"]), [int(m["block_number"]) for m in d.get("moves") or []])
    pairs = [
        ("dispute", f"{d['id']} over job {d.get('job_id')} (on-chain job {d['chain_job_id']})"),
        ("defender", d["defender"]), ("challenger", d["challenger"]),
        ("phase", d["phase"]), ("level", f"{d['level']} ({LEVELS.get(d['level'], '?')}) interval {_interval(d)}"),
        ("deadline", when(d["deadline_at"]) if not d["outcome"] else "-"),
        ("waiting on", d.get("waiting_on") or "-"),
        ("outcome", d["outcome"] or "pending"),
    ]
    if chain is not None:
        state, config, _times = chain
        clocks = (f"each party {config.clock}s for the whole game (defender {state.clock_defender}s left, "
                  f"challenger {state.clock_challenger}s left), the referee {config.referee_timeout}s; "
                  f"{config.k}-way split per round")
        pairs.append(("clocks", clocks))
        if state.level == 2 and state.hi == state.lo + 1:
            # The op level's final interval [j-1, j]: op j of step `index` is where the two traces part.
            pairs.append(("verdict", f"diverged at step {state.index}, op {state.hi} of {state.ops_per_step}"))
    fields(pairs)
    click.echo("")
    times = chain[2] if chain is not None else {}
    for line in narrowing(d.get("moves") or [], d.get("defender"), d.get("challenger"), times):
        click.echo(line)


def _chain_view(game_id: int, blocks: list[int]) -> tuple[Any, Any, dict[int, int]] | None:
    """The game's on-chain state, clocks and the moves' block times, when a chain is known (else None)."""
    from agora.devnet.state import endpoints

    ep = endpoints()
    if not ep.rpc:
        return None
    try:
        from eth_account import Account

        from chain.deploy import Deployment
        from chain.dispute_game import DisputeGame
        from chain.sender import make_web3

        w3 = make_web3(ep.rpc, timeout_s=5)
        dep = Deployment.from_file(ep.deployment) if ep.deployment else Deployment.load(int(w3.eth.chain_id))
        game = DisputeGame.connect(dep, w3, Account.create().key.hex())
        times = {b: int(w3.eth.get_block(b)["timestamp"]) for b in sorted(set(blocks))}
        return game.state(game_id), game.config(), times
    except Exception:  # noqa: BLE001 - the chain view is a bonus; the coordinator's record stands alone
        return None


def _who(mover: str | None, defender: str | None, challenger: str | None) -> str:
    if mover and defender and mover.lower() == defender.lower():
        return "defender"
    if mover and challenger and mover.lower() == challenger.lower():
        return "challenger"
    return short(mover) if mover else "anyone"


def narrowing(moves: list[dict[str, Any]], defender: str | None, challenger: str | None,
              times: dict[int, int] | None = None) -> list[str]:
    """The moves as text: each reveal draws its level's interval as a bar scaled to the level's first interval."""
    lines: list[str] = []
    span: dict[int, int] = {}
    last_level = None
    rnd = 0
    last_interval: tuple[int, int, int] | None = None
    for m in moves:
        a = m.get("args") or {}
        kind = m.get("kind", "?")
        who = _who(m.get("mover") or a.get("party"), defender, challenger)
        level = a.get("level")
        if level is not None and level != last_level:
            lines.append(f"— level {level}: {LEVELS.get(int(level), '?')} —")
            last_level, rnd = level, 0
        t = (times or {}).get(int(m.get("block_number") or 0))
        at = time.strftime(" %H:%M:%S", time.gmtime(t)) if t else ""
        tx = f"tx {short(m.get('tx_hash'), 4)} @ block {m.get('block_number')}{at}"
        if "lo" in a and "hi" in a and a["lo"] is not None:
            lo, hi = int(a["lo"]), int(a["hi"])
            lv = int(level or 0)
            span.setdefault(lv, max(1, hi))
            n = span[lv]
            start, end = int(BAR * lo / n), max(int(BAR * lo / n) + 1, int(BAR * hi / n))
            bar = "." * start + "=" * (end - start) + "." * max(0, BAR - end)
            # Both parties reveal against the same interval in one round; a new interval starts the next round.
            if (lv, lo, hi) != last_interval:
                rnd += 1
                last_interval = (lv, lo, hi)
            count = len(a.get("elements") or [])
            lines.append(f"  round {rnd:<2} |{bar}| [{lo}, {hi}] {who} revealed {count} element(s)  ({tx})")
        elif kind.endswith("RootCommitted") or kind == "RootCommitted":
            lines.append(f"  descend   {who} committed its finer root {short(str(a.get('root')), 4)}  ({tx})")
        elif "OutputRevealed" in kind:
            lines.append(f"  reveal    {who} revealed the op output hash {short(str(a.get('outputHash')), 4)}  ({tx})")
        elif "RefereeRuled" in kind:
            lines.append(f"  referee   ruled: correct hash {short(str(a.get('outputHash')), 4)}  ({tx})")
        elif "TimedOut" in kind:
            lines.append(f"  timeout   the silent party lost (phase {a.get('phase')})  ({tx})")
        elif "Settled" in kind:
            slashed = a.get("slashed")
            extra = f", slashed {int(slashed) / 1e18:g} ETH" if slashed not in (None, "0", 0) else ""
            name = outcome_name(a.get("outcome"))
            lines.append(f"  settled   outcome {name}{extra}  ({tx})")
        elif "Opened" in kind:
            lines.append(f"  opened    {a.get('segments', '?')} segments, defender {short(defender)} vs challenger "
                         f"{short(challenger)}  ({tx})")
        else:
            lines.append(f"  {kind:<9} {who}  ({tx})")
    if not lines:
        lines.append("no moves yet")
    return lines
