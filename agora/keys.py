"""Private keys for the `agora` command: read from a key file or an environment variable, never from argv."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


class KeyLoadError(ValueError):
    """A key could not be loaded; the message says what to do instead."""


@dataclass(frozen=True)
class Key:
    """A loaded key and where it came from (for messages; the key itself is never printed)."""

    private_key: str
    address: str
    source: str


def parse_key(text: str, source: str) -> Key:
    """The first non-blank line of `text` as a 32-byte hex private key."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines or not _HEX_KEY.match(lines[0]):
        raise KeyLoadError(f"{source} does not hold a private key: put 64 hex digits (0x…) on its first line")
    raw = lines[0] if lines[0].startswith("0x") else "0x" + lines[0]
    try:
        account = Account.from_key(raw)
    except (ValueError, TypeError):
        raise KeyLoadError(f"{source} holds an invalid private key (out of range): generate a new one") from None
    return Key(private_key=raw, address=account.address, source=source)


def read_key_file(path: Path) -> Key:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise KeyLoadError(f"key file {path} not found: pass --key-file with the path of an existing key file") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise KeyLoadError(f"cannot read key file {path} ({type(exc).__name__}): check the path and permissions") from None
    return parse_key(text, f"key file {path}")


def load_key(
    key_file: Path | None, env_var: str, *, fallback_file: Path | None = None, role: str = "account"
) -> Key:
    """--key-file first, then $env_var (a key, or `$env_var_FILE` a path), then `fallback_file` (the devnet's)."""
    if key_file is not None:
        return read_key_file(key_file)
    if os.environ.get(env_var):
        return parse_key(os.environ[env_var], f"${env_var}")
    if os.environ.get(f"{env_var}_FILE"):
        return read_key_file(Path(os.environ[f"{env_var}_FILE"]))
    if fallback_file is not None and fallback_file.exists():
        return read_key_file(fallback_file)
    raise KeyLoadError(f"no {role} key: pass --key-file KEY or set ${env_var} (or run `agora devnet up` first)")


def write_key_file(path: Path, private_key: str) -> Path:
    """Writes a key file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(private_key + "\n")
    return path
