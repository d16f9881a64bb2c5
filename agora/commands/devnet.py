"""`agora devnet up|down|status|demo`: a whole local marketplace (anvil, contracts, coordinator, workers,
verifier, referee) in background processes under .agora/devnet/ ($AGORA_DEVNET_DIR)."""

from __future__ import annotations

import click

from agora.output import CliError, FriendlyGroup, echo_json, fields, table


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Run a local Agora marketplace: `up` starts it in the background, `status` shows it, `down` stops it.

    Everything lives under .agora/devnet/ in the current folder (or $AGORA_DEVNET_DIR): state.json, pid files,
    logs, the SQLite database, the deployment file, artifacts and the dev accounts' key files. While a devnet
    is up, every other `agora` command talks to it by default.
    """


def _parse_clocks(values: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for v in values:
        name, _, secs = v.partition("=")
        if not secs.isdigit():
            raise CliError(f"bad --clock {v!r}: write NAME=SECONDS, e.g. challenge-window=30")
        out[name.strip()] = int(secs)
    return out


@group.command()
@click.option("--workers", "-n", type=click.IntRange(0, 32), default=2, show_default=True,
              help="provider workers to start, each with its own staked key")
@click.option("--faulty-worker", "faulty_workers", metavar="MODE", multiple=True,
              help="the first worker cheats (test behaviour): perturb-step=K, perturb-node=K:NODE, lazy, wrong-final or silent; "
                   "repeat for the second worker, and so on")
@click.option("--faulty-verifier", metavar="MODE", help="the verifier misbehaves (test behaviour): false-challenge")
@click.option("--db", "database", metavar="URL",
              help="database URL (default: SQLite under the devnet folder), e.g. postgresql+psycopg://…")
@click.option("--reset-db", is_flag=True,
              help="empty the --db database first (alembic downgrade base); a new devnet is a new chain, so rows "
                   "of an earlier one would be wrong")
@click.option("--broker", metavar="URL",
              help="Celery broker URL (default: a free database of the local Redis, else a folder broker)")
@click.option("--port-base", type=click.IntRange(1024, 65000), metavar="P",
              help="anvil on P, the coordinator on P+1 (default: free ports)")
@click.option("--fast-clocks", is_flag=True,
              help="even shorter contract clocks (challenge window 10s, move timeout 10s…) for tests")
@click.option("--clock", "clocks", multiple=True, metavar="NAME=SECONDS",
              help="override one clock: challenge-window, accept-timeout, move-timeout, referee-timeout, unbonding, liveness")
@click.option("--block-time", type=float, metavar="S", help="also mine an empty block every S seconds so the chain clock follows the wall clock (default 1)")
@click.option("--stake", "stake", default="1ether", show_default=True, help="stake of each provider")
@click.option("--verifier/--no-verifier", default=True, show_default=True, help="start the verifier")
@click.option("--referee/--no-referee", default=True, show_default=True, help="start the referee")
@click.option("--json", "as_json", is_flag=True, help="print the status as JSON when up")
def up(workers: int, faulty_workers: tuple[str, ...], faulty_verifier: str | None, database: str | None,
       reset_db: bool, broker: str | None, port_base: int | None, fast_clocks: bool, clocks: tuple[str, ...],
       block_time: float | None, stake: str, verifier: bool, referee: bool, as_json: bool) -> None:
    """Start anvil, deploy the contracts with short clocks, stake the providers, migrate the database, start
    the coordinator (API, indexer, matcher), the workers, a verifier and a referee; return once all answer."""
    from agora.devnet.network import Devnet, DevnetError, DevnetOptions
    from agora.output import parse_amount

    opts = DevnetOptions(
        workers=workers, faulty_workers=list(faulty_workers), faulty_verifier=faulty_verifier, database=database, reset_db=reset_db,
        broker=broker, port_base=port_base, fast_clocks=fast_clocks, clocks=_parse_clocks(clocks),
        block_time=block_time, stake_wei=parse_amount(stake), verifier=verifier, referee=referee,
    )
    net = Devnet()
    say = (lambda _m: None) if as_json else click.echo
    try:
        net.up(opts, report=say)
    except DevnetError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        echo_json(net.status())
    else:
        click.echo("")
        _show(net.status())
        click.echo("\nnext: agora jobs submit SPEC.json --price 0.01ether --watch   ·   agora devnet down")


@group.command()
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def status(as_json: bool) -> None:
    """Show the devnet's endpoints, accounts and each process's state (running / exited) and log file."""
    from agora.devnet.network import Devnet

    st = Devnet().status()
    if as_json:
        echo_json(st)
        return
    if st["coordinator"] is None and not st["processes"]:
        click.echo(f"no devnet in {st['root']}: start one with `agora devnet up`")
        return
    _show(st)


def _show(st: dict) -> None:
    fields([("coordinator", st["coordinator"]), ("rpc", st["rpc"]), ("chain id", st["chain_id"]),
            ("deployment", st["deployment"]), ("database", st.get("database")), ("broker", st.get("broker"))])
    click.echo("")
    if st.get("accounts"):
        table([(k, v["address"], v["key_file"]) for k, v in st["accounts"].items()], ["account", "address", "key file"])
        click.echo("")
    table([(n, p["pid"], p["state"], p["log"]) for n, p in st["processes"].items()], ["process", "pid", "state", "log"])


@group.command()
def down() -> None:
    """Stop every process `up` started (found by pid file; nothing else is touched). Safe to run twice."""
    from agora.devnet.network import Devnet

    stopped = Devnet().down()
    click.echo(f"stopped {', '.join(stopped)}" if stopped else "nothing to stop")


@group.command()
@click.argument("service")
def restart(service: str) -> None:
    """Restart one service of the running devnet (e.g. worker-1, coordinator-api) with its original command."""
    from agora.devnet.network import Devnet

    net = Devnet()
    if net.supervisor.record(service) is None:
        names = net.supervisor.names()
        if not names:
            raise CliError(f"no devnet is up in {net.root}: run `agora devnet up`")
        raise CliError(f"no service {service!r} in this devnet: use one of {', '.join(names)}")
    rec = net.supervisor.restart(service)
    click.echo(f"restarted {service} (pid {rec.pid}, log {rec.log})")


@group.command()
@click.option("--steps", type=click.IntRange(10, 2000), default=45, show_default=True, help="steps of each job")
@click.option("--fault-step", type=int, default=None, help="step the cheater perturbs (default: 2/3 of --steps)")
@click.option("--keep", is_flag=True, help="leave the devnet running afterwards")
def demo(steps: int, fault_step: int | None, keep: bool) -> None:
    """The whole story in one command: an honest job paid, a cheating provider caught at step K op J, slashed,
    and the client refunded — with every party's balance before and after."""
    from agora.devnet.demo import run_demo

    run_demo(steps=steps, fault_step=fault_step, keep=keep, say=click.echo)


@group.command()
@click.argument("address")
@click.argument("amount")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def fund(address: str, amount: str, as_json: bool) -> None:
    """The devnet's faucet: give ADDRESS another AMOUNT (e.g. 10ether) of devnet ETH, to pay for jobs or stake."""
    from eth_utils import is_address, to_checksum_address
    from web3 import Web3
    from web3.types import RPCEndpoint

    from agora.devnet.state import DevnetState
    from agora.output import ether, parse_amount

    if not is_address(address):
        raise CliError(f"{address!r} is not an address: pass 0x followed by 40 hex digits")
    wei = parse_amount(amount)
    state = DevnetState.load()
    if state is None:
        raise CliError("no devnet is up: the faucet only exists on a devnet (`agora devnet up`)")
    w3 = Web3(Web3.HTTPProvider(state.rpc, request_kwargs={"timeout": 10}))
    who = to_checksum_address(address)
    try:
        before = int(w3.eth.get_balance(who))
        # anvil mints devnet ETH by setting the balance; no dev account's funds (the e2e ledger) are touched.
        reply = w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [who, hex(before + wei)])
    except Exception as exc:  # noqa: BLE001 - any failure to reach anvil
        raise CliError(f"cannot reach the devnet's anvil at {state.rpc} ({exc}): is it up? `agora devnet status`") \
            from None
    if reply.get("error"):
        raise CliError(f"anvil refused to fund {who}: {reply['error'].get('message', reply['error'])}")
    after = int(w3.eth.get_balance(who))
    if as_json:
        echo_json({"address": who, "funded_wei": str(wei), "balance_wei": str(after)})
        return
    click.echo(f"funded {who} with {ether(wei)}: balance {ether(after)}")
