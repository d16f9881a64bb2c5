"""A real local anvil node for tests, benches and the devnet: started on a free port, killed on exit."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from eth_account import Account

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL_SHIM = REPO_ROOT / "node_modules" / ".bin" / "anvil"

# anvil's default mnemonic ("test test ... junk") derives these; they are public dev keys, never real funds.
DEV_PRIVATE_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
DEFAULT_BALANCE_ETH = 10_000


@dataclass(frozen=True)
class DevAccount:
    """One funded dev account of the node."""

    address: str
    private_key: str


def anvil_binary() -> Path:
    """The anvil to run: $AGORA_ANVIL, else the native binary inside the npm platform package, else the npm shim.

    The native binary is preferred because the shim is a node process that forwards signals to a child; going
    direct halves start-up time and leaves no orphan when the parent is killed hard.
    """
    if os.environ.get("AGORA_ANVIL"):
        return Path(os.environ["AGORA_ANVIL"])
    for native in sorted((REPO_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if os.access(native, os.X_OK):
            return native
    return ANVIL_SHIM


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rpc(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


class AnvilProcess:
    """An anvil child process on 127.0.0.1:<free port>; use as a context manager or call stop().

    `block_time` None means automine (one block per transaction); a number mines on an interval instead.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        chain_id: int = 31337,
        block_time: float | None = None,
        accounts: int = 10,
        balance_eth: int = DEFAULT_BALANCE_ETH,
        extra_args: list[str] | None = None,
        startup_timeout_s: float = 30.0,
        binary: Path | str | None = None,
    ) -> None:
        if not 1 <= accounts <= len(DEV_PRIVATE_KEYS):
            raise ValueError(f"accounts must be in 1..{len(DEV_PRIVATE_KEYS)}")
        self.port = port or free_port()
        self.chain_id = chain_id
        self.rpc_url = f"http://127.0.0.1:{self.port}"
        self.accounts = [
            DevAccount(address=Account.from_key(k).address, private_key=k) for k in DEV_PRIVATE_KEYS[:accounts]
        ]
        cmd = [
            str(binary or anvil_binary()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(chain_id),
            "--accounts", str(accounts),
            "--balance", str(balance_eth),
            "--silent",
        ]
        if block_time is not None:
            cmd += ["--block-time", str(block_time)]
        cmd += list(extra_args or [])
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            # Own process group: the npm shim (node) spawns the real binary; stopping must reach both.
            start_new_session=True,
        )
        atexit.register(self.stop)
        try:
            self._wait_ready(startup_timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"anvil exited with {self._proc.returncode}: {err.strip()[-2000:]}")
            try:
                got = int(str(_rpc(self.rpc_url, "eth_chainId")), 16)
            except (OSError, urllib.error.URLError, ValueError, RuntimeError):
                got = None
            if got is not None:
                if got != self.chain_id:
                    raise RuntimeError(f"anvil on {self.rpc_url} answers chain id {got}, expected {self.chain_id}")
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"anvil did not answer on {self.rpc_url} within {timeout_s}s")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def rpc(self, method: str, params: list | None = None) -> object:
        """A raw JSON-RPC call (anvil_*, evm_* cheat methods included)."""
        return _rpc(self.rpc_url, method, params, timeout=30.0)

    def snapshot(self) -> str:
        """evm_snapshot: an id to revert to (each id can be reverted to once)."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        """evm_revert to a snapshot; raises when the id is unknown (so a broken isolation is loud)."""
        if self.rpc("evm_revert", [snapshot_id]) is not True:
            raise RuntimeError(f"evm_revert({snapshot_id}) failed")

    def increase_time(self, seconds: int, *, mine: bool = True) -> None:
        """Move the chain clock forward; by default mines a block so views see the new timestamp."""
        self.rpc("evm_increaseTime", [int(seconds)])
        if mine:
            self.mine()

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", [hex(blocks)])

    def timestamp(self) -> int:
        """Timestamp of the latest block."""
        block = self.rpc("eth_getBlockByNumber", ["latest", False])
        assert isinstance(block, dict)
        return int(block["timestamp"], 16)

    def stop(self) -> None:
        """Kill the node (whole process group) and wait for it; safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        atexit.unregister(self.stop)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        # Last resort only; tests and benches stop explicitly.
        # Interpreter shutdown may have torn down the modules stop() needs.
        with contextlib.suppress(Exception):
            self.stop()
