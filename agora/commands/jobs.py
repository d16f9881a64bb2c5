"""`agora jobs submit|list|show|watch|events|download`: a client's view of its training jobs (REST + escrow tx)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import click

from agora.output import (
    CliError,
    FriendlyGroup,
    ProgressBar,
    echo_json,
    ether,
    fields,
    parse_amount,
    parse_duration,
    short,
    table,
    when,
)

CLIENT_KEY_ENV = "AGORA_CLIENT_KEY"
TERMINAL = {"finalized", "failed", "cancelled", "expired"}

coordinator_option = click.option(
    "--coordinator", metavar="URL", help="coordinator URL (default: the running devnet's, else $AGORA_COORDINATOR_URL)"
)
json_option = click.option("--json", "as_json", is_flag=True, help="machine-readable output")
key_option = click.option(
    "--key-file", type=click.Path(path_type=Path), metavar="KEY",
    help=f"the client's key file (default: ${CLIENT_KEY_ENV}, else the running devnet's client key)",
)


def coordinator_url(given: str | None) -> str:
    from agora.devnet.state import endpoints

    url = endpoints(coordinator=given).coordinator
    if not url:
        raise CliError("no coordinator: run `agora devnet up`, pass --coordinator URL or set AGORA_COORDINATOR_URL")
    return url


def client_key(key_file: Path | None):  # type: ignore[no-untyped-def]
    from agora.devnet.state import DevnetState
    from agora.keys import load_key

    state = DevnetState.load()
    return load_key(key_file, CLIENT_KEY_ENV, fallback_file=state.key_file("client") if state else None,
                    role="client")


def _load_spec(path: Path) -> dict[str, Any]:
    from verde.spec import SpecError, canonical_json, parse_spec

    try:
        text = path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read spec {path} ({exc.strerror}): pass the path of a job spec JSON file") from None
    try:
        spec = parse_spec(text)
    except SpecError as exc:
        raise CliError(f"spec {path} is invalid: {exc}") from None
    return dict(json.loads(canonical_json(spec)))


@click.group(cls=FriendlyGroup)
def group() -> None:
    """Submit training jobs and follow them: progress, timeline, result, model, loss curve."""


@group.command()
@click.argument("spec_file", type=click.Path(path_type=Path), metavar="SPEC.json")
@click.option("--price", required=True, metavar="AMOUNT", help="payment escrowed on-chain, e.g. 0.01ether")
@click.option("--deadline", default="1h", show_default=True, metavar="DURATION",
              help="time the provider has to deliver, e.g. 30m, 1h, 2d")
@click.option("--collateral", metavar="AMOUNT", help="provider collateral (default: the coordinator's policy)")
@click.option("--watch", is_flag=True, help="then follow the job with a live progress bar until it ends")
@click.option("--idempotency-key", metavar="KEY", help="retry-safe submission: the same key never makes two jobs")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None,
              help="run only on a provider with this device (default: any; the result is the same bits)")
@click.option("--again", is_flag=True,
              help="post a second job even if you already have a live one with this spec and price")
@click.option("--rpc", metavar="URL", help="chain RPC to send the escrow through (default: the devnet's / $AGORA_RPC_URL)")
@click.option("--artifacts", "artifact_dirs", multiple=True, type=click.Path(path_type=Path, file_okay=False),
              metavar="DIR", help="also look here for the files the spec names by sha256 (default: the spec's folder)")
@key_option
@coordinator_option
@json_option
def submit(spec_file: Path, price: str, deadline: str, collateral: str | None, watch: bool,
           idempotency_key: str | None, device: str | None, again: bool, rpc: str | None, key_file: Path | None,
           coordinator: str | None, as_json: bool, artifact_dirs: tuple[Path, ...] = ()) -> None:
    """Create a job from SPEC.json over REST, sign and send its escrow transaction (the price goes into the
    JobMarket contract), and print the job id. Signs in with the client's key (--key-file or $AGORA_CLIENT_KEY).

    Safe to run again: with the same --idempotency-key, or without one while you have a live job with the same
    spec and price, it finds that job and waits for it instead of escrowing twice (--again posts another)."""
    from agora.devnet.state import endpoints
    from chain.sender import Sender, make_web3
    from verde.spec import parse_spec, spec_hash

    spec = _load_spec(spec_file)
    price_wei = parse_amount(price)
    deadline_s = parse_duration(deadline)
    collateral_wei = parse_amount(collateral) if collateral else None
    key = client_key(key_file)
    ep = endpoints(coordinator=coordinator, rpc=rpc)
    if not ep.rpc:
        raise CliError("no chain RPC: run `agora devnet up`, pass --rpc URL or set AGORA_RPC_URL")
    api = _client(ep.coordinator, key.private_key)
    sender = Sender(make_web3(ep.rpc), key.private_key)
    # Checked before anything is created: a submit that cannot pay leaves no job behind.
    balance = sender.w3.eth.get_balance(sender.address)
    if balance < price_wei:
        raise CliError(f"{key.address} holds {ether(balance)}, less than the price {ether(price_wei)}: "
                       f"fund the client account first (on a devnet: `agora devnet fund {key.address} 10ether`)")
    _upload_artifacts(api, spec, [spec_file.parent, *artifact_dirs], quiet=as_json)
    job = None
    if idempotency_key is None and not again:
        job = _live_twin(api, key.address, spec_hash(parse_spec(spec)), price_wei)
        if job is not None and not as_json:
            click.echo(f"you already have job {job['id']} ({job['status']}) with this spec and price: using it "
                       "(pass --again to post another)")
    if job is None:
        created = api.create_job(spec, price_wei, deadline_s, collateral_wei=collateral_wei,
                                 idempotency_key=idempotency_key or str(uuid.uuid4()), device=device)
        job = created["job"]
    receipt = _escrow(api, sender, ep, job, as_json)
    # The indexer turns awaiting_funding into open once it has seen JobPosted; wait briefly so `show` agrees.
    job = _wait_status(api, int(job["id"]), lambda s: s != "awaiting_funding", timeout_s=20) or api.job(job["id"])
    if as_json:
        echo_json({"job": job, "escrow_tx": receipt[0], "block": receipt[1], "escrowed_now": receipt[2]})
    elif receipt[2]:
        click.echo(f"job {job['id']} {job['status']}: escrowed {ether(price_wei)} in tx {receipt[0]} "
                   f"(block {receipt[1]})")
    else:
        click.echo(f"job {job['id']} {job['status']}: already escrowed"
                   + (f" in tx {receipt[0]} (block {receipt[1]})" if receipt[0] else "") + "; nothing paid again")
    if watch:
        _watch(api, int(job["id"]), timeout_s=None, quiet=as_json)


def _live_twin(api: Any, client: str, digest: str, price_wei: int) -> dict[str, Any] | None:
    """This client's newest job with the same spec and price that is live or finalized (not failed), if any."""
    for j in api.jobs(client=client):
        if j["spec_hash"].lower() == digest.lower() and int(j["price_wei"]) == price_wei \
                and j["status"] in ("awaiting_funding", "open", "assigned", "running", "submitted", "disputed",
                                    "finalized"):
            return dict(j)
    return None


def _escrow(api: Any, sender: Any, ep: Any, job: dict[str, Any], quiet: bool) -> tuple[str | None, int | None, bool]:
    """Sends the job's postJob unless its price is already on-chain; (tx hash, block, sent now)."""
    from agora.escrow import FUNDED, escrow_already_sent, posted_escrows

    if job["status"] in FUNDED:
        return job.get("posted_tx"), None, False
    if job["status"] != "awaiting_funding":
        raise CliError(f"job {job['id']} is {job['status']}: submit with a new --idempotency-key to post it again"
                       f" (or `agora jobs repost {job['id']}`)")
    created = api.funding(int(job["id"]))
    tx = created["transaction"]
    if sender.chain_id != int(tx["chainId"]):
        raise CliError(f"wrong network: the RPC {ep.rpc} is chain {sender.chain_id} but the coordinator's market is on "
                       f"chain {tx['chainId']}: pass the matching --rpc")
    from_block = 0
    if ep.deployment is not None and ep.deployment.exists():
        from_block = int(json.loads(ep.deployment.read_text()).get("deployBlock", 0))
    escrows = posted_escrows(sender.w3, tx["to"], sender.address, job, from_block)
    if escrows:
        mine = list(api.jobs(client=sender.address))
        found = escrow_already_sent(job, mine, escrows)
        if found is not None:
            return found.tx_hash, found.block_number, False
    receipt = sender.transact(tx["to"], bytes.fromhex(tx["data"].removeprefix("0x")), int(tx["value"]))
    return receipt.tx_hash, receipt.block_number, True


def _upload_artifacts(api: Any, spec: dict[str, Any], folders: list[Path], *, quiet: bool) -> None:
    """Upload the graph, weights and dataset the spec names (found beside it by content) that the coordinator
    lacks, before the job exists: a missing one stops the submit with nothing created."""
    from agora.spec_artifacts import ArtifactNotFound, upload_missing

    try:
        done = upload_missing(api, spec, folders)
    except ArtifactNotFound as exc:
        raise CliError(str(exc)) from None
    if not quiet:
        for artifact, how in done:
            click.echo(f"{artifact.field} {artifact.id[:19]}…: {how}")


def _client(url: str | None, key: str | None = None):  # type: ignore[no-untyped-def]
    from client.api import CoordinatorClient

    if not url:
        raise CliError("no coordinator: run `agora devnet up`, pass --coordinator URL or set AGORA_COORDINATOR_URL")
    return CoordinatorClient(url, key, retries=2, timeout_s=30.0)


def _wait_status(api: Any, job_id: int, ok: Any, timeout_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout_s
    while True:
        job = api.job(job_id)
        if ok(job["status"]):
            return dict(job)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.3)


@group.command(name="list")
@click.option("--status", metavar="STATUS", help="only jobs in this status (open, running, submitted, finalized…)")
@click.option("--client", "client_addr", metavar="ADDRESS", help="only this client's jobs")
@click.option("--provider", metavar="ADDRESS", help="only jobs of this provider")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@coordinator_option
@json_option
def list_(status: str | None, client_addr: str | None, provider: str | None, limit: int, coordinator: str | None,
          as_json: bool) -> None:
    """List jobs, newest first."""
    api = _client(coordinator_url(coordinator))
    items = []
    for job in api.jobs(status=status, client=client_addr, provider=provider):
        items.append(job)
        if len(items) >= limit:
            break
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("no jobs")
        return
    table([(j["id"], j["status"], ether(j["price_wei"]), f"{j['num_steps']}", short(j["client"]),
            short(j["provider"]), when(j["created_at"])) for j in items],
          ["id", "status", "price", "steps", "client", "provider", "created"])


@group.command()
@click.argument("job_id", type=int)
@click.option("--plot", type=click.Path(path_type=Path), metavar="OUT.png",
              help="also save the loss curve as a PNG (the coordinator's GET /v1/jobs/{id}/plot.png)")
@coordinator_option
@json_option
def show(job_id: int, plot: Path | None, coordinator: str | None, as_json: bool) -> None:
    """Show one job: status, terms, provider, progress and result."""
    api = _client(coordinator_url(coordinator))
    job = api.job(job_id)
    progress = api.progress(job_id)
    result = _maybe(lambda: api.result(job_id))
    if plot is not None:
        _plot(api.loss_plot_png(job_id), plot)
    if as_json:
        echo_json({"job": job, "progress": {k: v for k, v in progress.items() if k != "points"}, "result": result,
                   "owed": owed(job), **({"plot": str(plot)} if plot else {})})
        return
    fields([
        ("job", f"{job['id']} (on-chain {job['chain_job_id'] if job['chain_job_id'] is not None else '-'})"),
        ("status", job["status"] + (f" — {job['wait_reason']}" if job.get("wait_reason") else "")),
        ("client", job["client"]), ("provider", job["provider"]),
        ("price", ether(job["price_wei"])), ("collateral", ether(job["collateral_wei"])),
        ("deadline", when(job["deadline_at"])),
        ("steps", f"{progress.get('latest_step') or 0}/{job['num_steps']} (checkpoint every {job['checkpoint_every']})"),
        ("loss", f"{progress['latest_loss']:.4f}" if progress.get("latest_loss") is not None else None),
        ("verification", _verification_text(job)),
        ("spec hash", job["spec_hash"]), ("trace root", job["trace_root"]),
        ("final model", job["final_model_hash"]),
        ("model artifact", (result or {}).get("model_artifact")),
        ("held-out", _evaluation_text((result or {}).get("evaluation"))),
        ("owed to you", owed_text(job)),
    ])
    if plot is not None:
        click.echo(f"loss curve written to {plot}")


VERIFICATION_TEXT = {
    "unverified": "unverified — nobody re-ran it (the spot-check draw skipped it, or no verifier ran)",
    "spot-checked": "spot-checked — a verifier re-ran it by random draw and agrees",
    "replicated": "replicated — a verifier re-ran it as the spec asked and agrees",
    "disputed": "disputed — a verifier challenged the result (`agora disputes list --job ID`)",
}


def _verification_text(job: dict[str, Any]) -> str:
    v = str(job.get("verification") or "unverified")
    return VERIFICATION_TEXT.get(v, v).replace("--job ID", f"--job {job['id']}")


def owed(job: dict[str, Any]) -> dict[str, Any]:
    """What the client is owed for `job` and how to get it (the price is refunded as a JobMarket credit)."""
    status, price = job["status"], job["price_wei"]
    if status in ("cancelled", "expired", "failed") and job.get("chain_job_id") is not None:
        return {"wei": price, "as": "market credit", "how": "agora wallet withdraw"}
    if status in ("open", "assigned"):
        return {"wei": price, "as": "escrow, refundable", "how": f"agora jobs cancel {job['id']}"}
    if status == "awaiting_funding":
        return {"wei": "0", "as": "nothing escrowed", "how": f"agora jobs cancel {job['id']}"}
    return {"wei": "0", "as": None, "how": None}


def owed_text(job: dict[str, Any]) -> str | None:
    o = owed(job)
    if o["as"] == "market credit":
        return f"{ether(o['wei'])} refunded to your JobMarket credit: collect it with `{o['how']}`"
    if o["as"] == "escrow, refundable":
        return f"nothing yet; `{o['how']}` refunds the {ether(o['wei'])} escrow while nobody has accepted the job"
    return None


def _evaluation_text(ev: dict[str, Any] | None) -> str | None:
    """The final model's held-out figures (computed by the job's own program; a verifier reproduces them)."""
    if not ev:
        return None
    parts = [f"loss {ev['loss']:.4f}" if ev.get("loss") is not None else None,
             f"accuracy {ev['accuracy']:.3f}" if ev.get("accuracy") is not None else None]
    return ", ".join(p for p in parts if p) + f" after step {ev['step']}"


def _maybe(fn: Any) -> Any:
    from client.api import ApiError

    try:
        return fn()
    except ApiError as exc:
        if exc.status in (404, 409):
            return None
        raise


def _plot(png: bytes, out: Path) -> None:
    try:
        out.write_bytes(png)
    except OSError as exc:
        raise CliError(f"cannot write {out} ({exc.strerror}): pick a writable path") from None


@group.command()
@click.argument("job_id", type=int)
@click.option("--rpc", metavar="URL", help="chain RPC to send the cancel through (default: the devnet's / $AGORA_RPC_URL)")
@key_option
@coordinator_option
@json_option
def cancel(job_id: int, rpc: str | None, key_file: Path | None, coordinator: str | None, as_json: bool) -> None:
    """Cancel your job while nobody has accepted it: the escrowed price comes back as your JobMarket credit
    (`agora wallet withdraw` collects it). An unfunded job is just dropped."""
    from agora.devnet.state import endpoints
    from chain.errors import ContractRevert
    from chain.sender import Sender, make_web3
    from client.api import ApiError

    key = client_key(key_file)
    ep = endpoints(coordinator=coordinator, rpc=rpc)
    api = _client(coordinator_url(coordinator), key.private_key)
    try:
        reply = api.cancel(job_id)
    except ApiError as exc:
        if exc.code == "wrong_status":
            raise CliError(f"job {job_id} cannot be cancelled: {exc.message} (only open or assigned jobs can; "
                           "`agora jobs show` says what you are owed)") from None
        raise
    tx, receipt = reply.get("transaction"), None
    if tx is not None:
        if not ep.rpc:
            raise CliError("no chain RPC: run `agora devnet up`, pass --rpc URL or set AGORA_RPC_URL")
        sender = Sender(make_web3(ep.rpc), key.private_key)
        try:
            receipt = sender.transact(tx["to"], bytes.fromhex(tx["data"].removeprefix("0x")), int(tx["value"]))
        except ContractRevert as exc:
            raise CliError(f"job {job_id} could not be cancelled on-chain: {exc} (a provider may have accepted it "
                           "just now)") from None
    job = _wait_status(api, job_id, lambda s: s == "cancelled", timeout_s=20) or api.job(job_id)
    if as_json:
        echo_json({"job": job, "tx": receipt.tx_hash if receipt else None, "owed": owed(job)})
        return
    click.echo(f"job {job_id} {job['status']}" + (f" (tx {receipt.tx_hash})" if receipt else " (nothing was escrowed)"))
    if owed_text(job):
        click.echo(owed_text(job))


@group.command()
@click.argument("job_id", type=int)
@click.option("--price", metavar="AMOUNT", help="a new price (default: the failed job's)")
@click.option("--deadline", metavar="DURATION", help="a new deadline (default: the failed job's)")
@click.option("--rpc", metavar="URL", help="chain RPC to send the escrow through (default: the devnet's / $AGORA_RPC_URL)")
@key_option
@coordinator_option
@json_option
def repost(job_id: int, price: str | None, deadline: str | None, rpc: str | None, key_file: Path | None,
           coordinator: str | None, as_json: bool) -> None:
    """Post a failed, expired or cancelled job of yours again: same spec, same price and deadline unless given.
    Safe to run twice: the repost of one job is one job."""
    from agora.devnet.state import endpoints
    from chain.sender import Sender, make_web3

    key = client_key(key_file)
    ep = endpoints(coordinator=coordinator, rpc=rpc)
    if not ep.rpc:
        raise CliError("no chain RPC: run `agora devnet up`, pass --rpc URL or set AGORA_RPC_URL")
    api = _client(coordinator_url(coordinator), key.private_key)
    old = api.job(job_id)
    if old["client"].lower() != key.address.lower():
        raise CliError(f"job {job_id} belongs to {old['client']}, not to {key.address}: repost your own jobs")
    if old["status"] not in ("failed", "expired", "cancelled"):
        raise CliError(f"job {job_id} is {old['status']}: only a failed, expired or cancelled job is reposted")
    spec = json.loads(api.spec_bytes(job_id))
    price_wei = parse_amount(price) if price else int(old["price_wei"])
    deadline_s = parse_duration(deadline) if deadline else _deadline_of(old)
    sender = Sender(make_web3(ep.rpc), key.private_key)
    balance = sender.w3.eth.get_balance(sender.address)
    if balance < price_wei:
        raise CliError(f"{key.address} holds {ether(balance)}, less than the price {ether(price_wei)}: "
                       "`agora wallet withdraw` collects refunds, or fund the account")
    created = api.create_job(spec, price_wei, deadline_s, idempotency_key=f"repost-of-{job_id}-{price_wei}-{deadline_s}")
    new = created["job"]
    tx_hash, _, sent = _escrow(api, sender, ep, new, as_json)
    new = _wait_status(api, int(new["id"]), lambda s: s != "awaiting_funding", timeout_s=20) or api.job(new["id"])
    if as_json:
        echo_json({"job": new, "reposted_from": job_id, "escrow_tx": tx_hash, "escrowed_now": sent})
        return
    click.echo(f"job {job_id} reposted as job {new['id']} ({new['status']})"
               + (f": escrowed {ether(price_wei)} in tx {tx_hash}" if sent else ": already escrowed"))


def _deadline_of(job: dict[str, Any]) -> int:
    """The time the client gave the job (deadline minus creation), at least the API's one minute."""
    import datetime as dt

    if not job.get("deadline_at"):
        return 3600
    took = dt.datetime.fromisoformat(job["deadline_at"]) - dt.datetime.fromisoformat(job["created_at"])
    return max(60, round(took.total_seconds()))


@group.command()
@click.argument("job_id", type=int)
@click.option("--timeout", "timeout_s", type=float, metavar="SECONDS", help="give up after this long")
@coordinator_option
def watch(job_id: int, timeout_s: float | None, coordinator: str | None) -> None:
    """Follow a job live (step, loss, ETA) until it is finalized, disputed, failed, cancelled or expired."""
    _watch(_client(coordinator_url(coordinator)), job_id, timeout_s=timeout_s)


def _watch(api: Any, job_id: int, *, timeout_s: float | None, quiet: bool = False) -> dict[str, Any]:
    job = api.job(job_id)
    bar = None if quiet else ProgressBar(int(job["num_steps"]))
    t_end = None if timeout_s is None else time.monotonic() + timeout_s
    first: tuple[float, int] | None = None
    try:
        while True:
            job = api.job(job_id)
            prog = api.progress(job_id, since_step=None)
            step = int(prog.get("latest_step") or 0)
            now = time.monotonic()
            if first is None and step > 0:
                first = (now, step)
            eta = None
            if first is not None and step > first[1]:
                rate = (step - first[1]) / max(1e-6, now - first[0])
                eta = (int(job["num_steps"]) - step) / rate
            if job["status"] in ("submitted", "finalized", "disputed", "failed") and step == 0:
                step = int(job["num_steps"])
            if bar is not None:
                bar.update(step, loss=prog.get("latest_loss"), eta_s=eta, note=job["status"])
            if job["status"] in TERMINAL or job["status"] == "disputed":
                break
            if t_end is not None and now > t_end:
                if bar is not None:
                    bar.close()
                raise CliError(f"job {job_id} is still {job['status']} after {timeout_s:g}s: "
                               f"run `agora jobs watch {job_id}` again")
            time.sleep(0.5)
    finally:
        if bar is not None:
            bar.close()
    if not quiet:
        if job["status"] == "disputed":
            click.echo(f"job {job_id} is disputed: follow it with `agora disputes list --job {job_id}`")
        else:
            click.echo(f"job {job_id} {job['status']}")
    return dict(job)


@group.command()
@click.argument("job_id", type=int)
@coordinator_option
@json_option
def events(job_id: int, coordinator: str | None, as_json: bool) -> None:
    """The job's timeline: chain events, matcher notes, worker progress, verification and dispute moves."""
    items = _client(coordinator_url(coordinator)).events(job_id)
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo(f"job {job_id} has no events yet")
        return
    table([(when(e["created_at"]), e["source"], e["kind"], e["message"]) for e in items],
          ["time", "source", "kind", "message"])


@group.command()
@click.argument("job_id", type=int)
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), required=True, metavar="FILE",
              help="where to write the model: FILE.safetensors under your module's own parameter names, "
                   "anything else a verde checkpoint")
@key_option
@coordinator_option
def download(job_id: int, out: Path, key_file: Path | None, coordinator: str | None) -> None:
    """Download the final model of your job (client only) and check it against the on-chain finalModelHash."""
    api = _client(coordinator_url(coordinator), client_key(key_file).private_key)
    job = api.job(job_id)
    data = api.model_bytes(job_id)
    digest = model_hash(data)
    expected = job.get("final_model_hash")
    if expected and digest and digest.lower() != expected.lower():  # checked before anything is written
        raise CliError(f"model hash {digest} differs from the on-chain finalModelHash {expected}: do not trust it")
    if out.suffix == ".safetensors":
        from agora.model_files import checkpoint_to_safetensors

        data = checkpoint_to_safetensors(data)  # the module's own parameter names: load_state_dict just works
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise CliError(f"cannot write {out} ({exc.strerror}): pick a writable path") from None
    check = "matches the on-chain finalModelHash" if expected and digest else "not checked (no on-chain hash yet)"
    click.echo(f"wrote {len(data)} bytes to {out}; hash {digest or '-'} {check}")


def model_hash(data: bytes) -> str | None:
    """The finalModelHash of model bytes: keccak256 of the parameters' tensor hashes (None if unreadable)."""
    from verde.checkpoint import CheckpointError, load_state
    from verde.tensorhash import params_hash

    try:
        return "0x" + params_hash(load_state(data).state).hex()
    except (CheckpointError, ValueError, RuntimeError, EOFError):
        return None


def _register_estimate() -> None:
    from agora.commands.job_estimate import estimate  # its own module; it uses this one's helpers

    group.add_command(estimate)


_register_estimate()
