"""Shared rendering of the `agora` command: JSON or tables, amounts and durations, progress bars, and the
one-line errors every command group turns known failures into (never a traceback).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import click

ETHER = 10**18
_UNITS = {"ether": 10**18, "eth": 10**18, "gwei": 10**9, "wei": 1}
_AMOUNT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]+)\s*$")
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class CliError(click.ClickException):
    """A failure the user can act on: printed as one line `error: …` on stderr, exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


# ---------------------------------------------------------------------- parsing


def parse_amount(text: str) -> int:
    """'0.01ether', '5 gwei', '1000wei' → wei. A bare number is refused: the unit is never guessed."""
    m = _AMOUNT.match(text or "")
    if not m or m.group(2).lower() not in _UNITS:
        raise CliError(f"bad amount {text!r}: write it with a unit, e.g. 0.01ether, 20gwei or 1000wei")
    try:
        wei = Decimal(m.group(1)) * _UNITS[m.group(2).lower()]
    except InvalidOperation:
        raise CliError(f"bad amount {text!r}: write it like 0.01ether") from None
    if wei != wei.to_integral_value():
        raise CliError(f"amount {text!r} is not a whole number of wei: use fewer decimals")
    return int(wei)


def parse_duration(text: str) -> int:
    """'90s', '15m', '1h', '2d', '3600' → seconds."""
    m = _DURATION.match(text or "")
    if not m:
        raise CliError(f"bad duration {text!r}: write it like 90s, 15m, 1h or 2d")
    return int(Decimal(m.group(1)) * _SECONDS[m.group(2)])


# ---------------------------------------------------------------------- rendering


def ether(wei: int | str | None) -> str:
    """Wei as a short ETH figure ('0.0095 ETH'); exact to the wei in `--json`, rounded here for people."""
    if wei is None:
        return "-"
    w = int(wei)
    if w == 0:
        return "0 ETH"
    text = f"{Decimal(w) / ETHER:.9f}".rstrip("0").rstrip(".")
    return f"{text} ETH"


def signed_ether(wei: int) -> str:
    return ("+" if wei > 0 else "") + ether(wei) if wei else "±0 ETH"


def short(address: str | None, n: int = 6) -> str:
    if not address:
        return "-"
    return address if len(address) <= 2 + 2 * n else f"{address[:2 + n]}…{address[-4:]}"


def when(ts: str | dt.datetime | None) -> str:
    if ts is None:
        return "-"
    if isinstance(ts, str):
        try:
            parsed = dt.datetime.fromisoformat(ts)
        except ValueError:
            return ts
        ts = parsed
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> None:
    """A plain aligned table (no colours, so it reads the same in a log or a pipe)."""
    rows = [[("-" if c is None else str(c)) for c in r] for r in rows]
    widths = [len(h) for h in headers]
    for r in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, r, strict=False)]
    click.echo("  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for r in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip())


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """`key  value` lines, keys aligned."""
    pairs = list(pairs)
    width = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        click.echo(f"{k.ljust(width)}  {'-' if v is None else v}")


class ProgressBar:
    """A one-line live bar for long work: `[#####.....] 50/100 step · loss 0.41 · ETA 12s · running`.
    Redrawn in place on a terminal; on a pipe only changed states are printed, one line each."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total = max(1, total)
        self.width = width
        self.tty = sys.stdout.isatty()
        self._last = ""

    def update(self, done: int, *, loss: float | None = None, eta_s: float | None = None, note: str = "") -> None:
        frac = min(1.0, max(0.0, done / self.total))
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        parts = [f"[{bar}] {done}/{self.total} steps"]
        if loss is not None:
            parts.append(f"loss {loss:.4f}")
        if eta_s is not None and done < self.total:
            parts.append(f"ETA {eta_s:.0f}s")
        if note:
            parts.append(note)
        line = " · ".join(parts)
        if line == self._last:
            return
        self._last = line
        if self.tty:
            click.echo("\r" + line.ljust(100), nl=False)
        else:
            click.echo(line)

    def close(self) -> None:
        if self.tty and self._last:
            click.echo("")


# ---------------------------------------------------------------------- errors


def _known_error(exc: BaseException) -> str | None:
    """The one-line message for an exception a user can act on; None for a genuine bug."""
    from agora.keys import KeyLoadError

    if isinstance(exc, KeyLoadError):
        return str(exc)
    from client.api import ApiError
    from client.identity import KeyUnavailable

    if isinstance(exc, KeyUnavailable):
        return f"{exc}"
    if isinstance(exc, ApiError):
        return _api_message(exc)
    try:
        from chain import errors as chain_errors
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, chain_errors.ContractRevert):
        return _revert_message(exc)
    if isinstance(exc, chain_errors.DeploymentNotFound):
        return f"{exc}"
    if isinstance(exc, chain_errors.TransientChainError):
        return f"the chain RPC did not answer ({exc}): check --rpc / AGORA_RPC_URL or run `agora devnet up`"
    if isinstance(exc, chain_errors.ChainError):
        return f"chain error: {exc}"
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return "cannot reach the chain RPC: check --rpc / AGORA_RPC_URL or run `agora devnet up`"
    import httpx

    if isinstance(exc, httpx.TransportError):
        return "cannot reach the coordinator: check --coordinator / AGORA_COORDINATOR_URL or run `agora devnet up`"
    return None


def _api_message(exc: Any) -> str:
    code, status, msg = exc.code, exc.status, exc.message
    if status == 0:
        return f"cannot reach the coordinator ({msg}): check --coordinator / AGORA_COORDINATOR_URL or run " \
               "`agora devnet up`"
    if status == 404:
        return f"{msg} (not found): check the id with `agora jobs list` / `agora disputes list`"
    if status == 401:
        return f"sign-in refused ({code}: {msg}): check the key and that the coordinator is on this chain"
    if status == 403:
        return f"not allowed ({msg}): use the key of the job's client"
    if status == 422:
        details = exc.details if isinstance(exc.details, list) else []
        where = "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict))
        return f"rejected: {where or msg} — fix the input and retry"
    return f"coordinator answered {status} {code}: {msg}"


_REVERT_HINTS = {
    "InsufficientFreeStake": "insufficient free stake: stake more with `agora provider stake AMOUNT` or wait for "
                             "running jobs to unlock it",
    "InsufficientStake": "insufficient stake: stake more with `agora provider stake AMOUNT`",
    "NothingToWithdraw": "nothing to withdraw yet: unstake first and wait for the unbonding period to end",
    "StillUnbonding": "the unbonding period has not ended: run `agora provider status` to see when it does",
    "BelowMinStake": "that would leave less than the minimum stake: unstake everything or less",
}


def _revert_message(exc: Any) -> str:
    name = exc.error_name
    hint = _REVERT_HINTS.get(name)
    if hint is None:
        for key, text in _REVERT_HINTS.items():
            if key.lower() in name.lower():
                hint = text
                break
    values = ", ".join(f"{k}={ether(v) if isinstance(v, int) and v > 10**12 else v}" for k, v in exc.values.items())
    detail = f" ({name}{': ' + values if values else ''})"
    return (hint + detail) if hint else f"the contract refused the transaction: {name}{': ' + values if values else ''}"


def run_friendly(fn: Callable[[], Any]) -> Any:
    """Runs a command body, turning known failures into CliError; AGORA_DEBUG=1 shows the traceback instead."""
    try:
        return fn()
    except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
        raise
    except BrokenPipeError:
        # The reader (`| head`) left: stop quietly, and keep Python from complaining while flushing stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise click.exceptions.Exit(0) from None
    except Exception as exc:
        if os.environ.get("AGORA_DEBUG"):
            raise
        msg = _known_error(exc)
        if msg is None:
            msg = f"unexpected {type(exc).__name__}: {exc} (rerun with AGORA_DEBUG=1 for the traceback)"
        raise CliError(msg.splitlines()[0] if msg else type(exc).__name__) from None


class FriendlyGroup(click.Group):
    """A command group whose commands fail with one line (see run_friendly), never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        return run_friendly(lambda: super(FriendlyGroup, self).invoke(ctx))
