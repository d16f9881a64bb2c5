"""Where a process's private key comes from: a key file or an environment variable, never a command-line argument."""

from __future__ import annotations

import os
from pathlib import Path

from eth_account import Account


class KeyUnavailable(ValueError):
    """No usable key was given (missing file, empty file, not a 32-byte hex key)."""


def read_key_file(path: Path | str) -> str:
    """The first non-empty line of a key file, as a 0x-prefixed hex private key."""
    p = Path(path).expanduser()
    try:
        lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise KeyUnavailable(f"cannot read key file {p}: {exc.strerror}") from None
    if not lines:
        raise KeyUnavailable(f"key file {p} is empty")
    return _checked(lines[0], str(p))


def load_private_key(key_file: Path | str | None, env_var: str, env_file_var: str | None = None) -> str:
    """The key from `key_file`, else $`env_file_var` (a path), else $`env_var` (the key itself)."""
    if key_file:
        return read_key_file(key_file)
    if env_file_var and os.environ.get(env_file_var):
        return read_key_file(os.environ[env_file_var])
    raw = os.environ.get(env_var, "").strip()
    if raw:
        return _checked(raw, f"${env_var}")
    hint = f"--key-file FILE, ${env_file_var} or ${env_var}" if env_file_var else f"--key-file FILE or ${env_var}"
    raise KeyUnavailable(f"no private key: pass {hint}")


def _checked(raw: str, where: str) -> str:
    key = raw if raw.startswith("0x") else "0x" + raw
    try:
        Account.from_key(key)
    except (ValueError, TypeError):
        raise KeyUnavailable(f"{where} does not hold a 32-byte hex private key") from None
    return key
