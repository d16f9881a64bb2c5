"""The one transaction sender: nonces, EIP-1559 fees, gas estimation with decoded reverts, receipts.

Every write to the chain from Python goes through `Sender.transact` / `Sender.deploy`. Nonces are tracked
locally per (node, account) and shared by every Sender of that pair in the process, so two clients signing
with the same key never race each other; a "nonce too low" answer resyncs from the node. Retrying an
unanswered request is the transport's job (chain.rpc), not the sender's: one retry layer, one time budget.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from chain.errors import (
    ChainError,
    ContractRevert,
    NonceError,
    ReceiptTimeout,
    TransientChainError,
    decode_revert,
)
from chain.events import ChainEvent, EventDecoder
from chain.rpc import make_web3

__all__ = ["Sender", "SenderSettings", "TxReceipt", "make_web3", "reset_nonce_caches", "revert_data"]

T = TypeVar("T")

# Substrings of node answers meaning "this nonce is used or taken" (geth, anvil, reth, erigon wordings).
_NONCE_ERRORS = ("nonce too low", "already known", "replacement transaction underpriced", "nonce has already")
_TRANSIENT = (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError, TimeExhausted)


@dataclass(frozen=True)
class SenderSettings:
    """Fees and patience. Defaults suit a devnet; a public testnet usually wants confirmations ≥ 1."""

    confirmations: int = 0  # extra blocks on top of the inclusion block before a receipt counts
    receipt_timeout_s: float = 120.0
    poll_interval_s: float = 0.05
    priority_fee_wei: int | None = None  # None: ask eth_maxPriorityFeePerGas
    fallback_priority_fee_wei: int = 1_000_000_000  # when the node cannot answer eth_maxPriorityFeePerGas
    base_fee_multiplier: int = 2  # maxFee = multiplier * baseFee + tip: survives that many full blocks of growth
    max_fee_cap_wei: int | None = None  # refuse to pay more than this per gas (None: no cap)
    gas_limit_multiplier: float = 1.25  # head-room over eth_estimateGas
    # Skip estimation and send with this limit: tests of on-chain reverts, or a node whose estimate is untrusted.
    gas_limit: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> SenderSettings:
        """Reads AGORA_CONFIRMATIONS, AGORA_RECEIPT_TIMEOUT_S, AGORA_PRIORITY_FEE_WEI, AGORA_MAX_FEE_CAP_WEI,
        AGORA_BASE_FEE_MULTIPLIER, AGORA_GAS_LIMIT_MULTIPLIER (unset: the default)."""
        env = os.environ if environ is None else environ
        kinds = {
            "confirmations": ("AGORA_CONFIRMATIONS", int),
            "receipt_timeout_s": ("AGORA_RECEIPT_TIMEOUT_S", float),
            "priority_fee_wei": ("AGORA_PRIORITY_FEE_WEI", int),
            "max_fee_cap_wei": ("AGORA_MAX_FEE_CAP_WEI", int),
            "base_fee_multiplier": ("AGORA_BASE_FEE_MULTIPLIER", int),
            "gas_limit_multiplier": ("AGORA_GAS_LIMIT_MULTIPLIER", float),
        }
        values: dict[str, Any] = {}
        for name, (var, kind) in kinds.items():
            raw = env.get(var)
            if raw not in (None, ""):
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise ValueError(f"${var}={raw!r} is not a valid {kind.__name__}") from None
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class TxReceipt:
    """What a mined transaction left behind. `fee_wei` is what the sender paid."""

    tx_hash: str
    block_number: int
    block_hash: str
    gas_used: int
    effective_gas_price: int
    status: int
    events: list[ChainEvent] = field(default_factory=list)
    contract_address: str | None = None

    @property
    def fee_wei(self) -> int:
        return self.gas_used * self.effective_gas_price

    def events_named(self, name: str) -> list[ChainEvent]:
        return [e for e in self.events if e.name == name]

    def event(self, name: str) -> ChainEvent:
        """The first event of that name; KeyError when the transaction emitted none."""
        for e in self.events:
            if e.name == name:
                return e
        raise KeyError(f"transaction {self.tx_hash} emitted no {name}")


class _NonceTracker:
    """Next nonce of one account on one node. Guarded by `lock`, which senders hold from nonce to broadcast."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.next: int | None = None


_TRACKERS: dict[tuple[str, str], _NonceTracker] = {}
_TRACKERS_LOCK = threading.Lock()


def _tracker(node: str, address: str) -> _NonceTracker:
    with _TRACKERS_LOCK:
        return _TRACKERS.setdefault((node, address), _NonceTracker())


def reset_nonce_caches() -> None:
    """Forget every cached nonce (after evm_revert, or when another process used the same key)."""
    with _TRACKERS_LOCK:
        trackers = list(_TRACKERS.values())
    for t in trackers:
        with t.lock:
            t.next = None


def revert_data(exc: BaseException) -> bytes | None:
    """The revert data inside a web3/RPC exception, or None when it is not a revert."""
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return bytes.fromhex(data[2:])
        if isinstance(data, (bytes, bytearray)):
            return bytes(data)
        return b""
    if isinstance(exc, Web3RPCError):
        rpc = exc.rpc_response or {}
        err = rpc.get("error") if isinstance(rpc, dict) else None
        if isinstance(err, dict) and "revert" in str(err.get("message", "")).lower():
            data = err.get("data")
            return bytes(HexBytes(data)) if isinstance(data, str) else b""
    return None


class Sender:
    """Signs with one private key and sends through one node. Thread-safe."""

    def __init__(
        self,
        w3: Web3 | str,
        private_key: str,
        settings: SenderSettings | None = None,
        decoder: EventDecoder | None = None,
    ) -> None:
        self.w3 = make_web3(w3) if isinstance(w3, str) else w3
        self.account: LocalAccount = Account.from_key(private_key)
        self.settings = settings or SenderSettings()
        self.decoder = decoder or EventDecoder()
        node = str(getattr(self.w3.provider, "endpoint_uri", id(self.w3.provider)))
        self._nonces = _tracker(node, self.account.address)
        self._chain_id: int | None = None

    @property
    def address(self) -> ChecksumAddress:
        return self.account.address

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self._retry(lambda: self.w3.eth.chain_id))
        return self._chain_id

    # ------------------------------------------------------------------ retries

    def _retry(self, fn: Callable[[], T]) -> T:
        """Runs fn once. A Web3 from make_web3 has already retried inside its budget and raises RpcUnavailable;
        a foreign Web3's raw connection error is reported the same way, without a second retry layer."""
        try:
            return fn()
        except TransientChainError:
            raise
        except _TRANSIENT as exc:
            node = getattr(self.w3.provider, "endpoint_uri", "the node")
            raise TransientChainError(f"RPC endpoint {node} did not answer: {exc}") from exc

    # ------------------------------------------------------------------ reads

    def call(self, to: str, data: bytes, block: int | str = "latest", value: int = 0) -> bytes:
        """eth_call from this account; a revert raises its ContractRevert subclass."""
        tx = {"from": self.address, "to": to_checksum_address(to), "data": HexBytes(data), "value": value}
        try:
            return bytes(self._retry(lambda: self.w3.eth.call(tx, block)))  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as exc:
            raise self._as_revert(exc) from None

    def _as_revert(self, exc: BaseException, tx_hash: str | None = None) -> ChainError:
        data = revert_data(exc)
        if data is None:
            return ChainError(str(exc))
        return decode_revert(data, tx_hash=tx_hash)

    # ------------------------------------------------------------------ fees

    def fees(self) -> dict[str, int]:
        """EIP-1559 fee fields: tip from settings or the node (fallback on failure), maxFee = k·baseFee + tip."""
        s = self.settings
        block = self._retry(lambda: self.w3.eth.get_block("latest"))
        base = block.get("baseFeePerGas")
        tip = s.priority_fee_wei
        if tip is None:
            try:
                tip = int(self._retry(lambda: self.w3.eth.max_priority_fee))
            except (ValueError, Web3Exception, TransientChainError):
                # Not every node implements eth_maxPriorityFeePerGas (and some answer it badly).
                tip = s.fallback_priority_fee_wei
        if base is None:  # pre-London chain: legacy pricing
            price = int(self._retry(lambda: self.w3.eth.gas_price))
            return {"gasPrice": price}
        max_fee = s.base_fee_multiplier * int(base) + tip
        if s.max_fee_cap_wei is not None:
            if s.max_fee_cap_wei < int(base):
                raise ChainError(f"base fee {base} wei is above the configured cap {s.max_fee_cap_wei} wei")
            max_fee = min(max_fee, s.max_fee_cap_wei)
            tip = min(tip, max_fee)
        return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}

    # ------------------------------------------------------------------ writes

    def estimate_gas(self, tx: dict[str, Any]) -> int:
        """eth_estimateGas; a revert is decoded and raised here, before anything is signed or sent."""
        try:
            return int(self._retry(lambda: self.w3.eth.estimate_gas(tx)))  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as exc:
            raise self._as_revert(exc) from None

    def transact(self, to: str | None, data: bytes, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Sends one transaction (to=None deploys) and waits for its receipt; raises on revert."""
        tx: dict[str, Any] = {"from": self.address, "data": HexBytes(data), "value": int(value)}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if gas is None:
            gas = self.settings.gas_limit
        if gas is None:
            gas = int(self.estimate_gas(tx) * self.settings.gas_limit_multiplier)
        tx.update(self.fees())
        tx["gas"] = gas
        tx["chainId"] = self.chain_id
        tx_hash = self._sign_and_send(tx)
        return self.wait(tx_hash, replay=tx)

    def deploy(self, bytecode: bytes, value: int = 0, gas: int | None = None) -> TxReceipt:
        """Deploys init code (constructor arguments already appended)."""
        receipt = self.transact(None, bytecode, value=value, gas=gas)
        if not receipt.contract_address:
            raise ChainError(f"deployment {receipt.tx_hash} created no contract")
        return receipt

    def _sign_and_send(self, tx: dict[str, Any]) -> str:
        # The nonce lock is held until the node has the transaction: a nonce handed out and then dropped
        # would leave a gap that stalls every later transaction of this account.
        with self._nonces.lock:
            for attempt in range(3):
                if self._nonces.next is None:
                    self._nonces.next = int(
                        self._retry(lambda: self.w3.eth.get_transaction_count(self.address, "pending"))
                    )
                tx["nonce"] = self._nonces.next
                signed = self.account.sign_transaction(tx)
                tx_hash = "0x" + bytes(signed.hash).hex()
                try:
                    self._retry(functools.partial(self.w3.eth.send_raw_transaction, signed.raw_transaction))
                except Web3RPCError as exc:
                    msg = str(exc).lower()
                    if any(m in msg for m in _NONCE_ERRORS):
                        if self._known(tx_hash):
                            # An earlier try that timed out did reach the node.
                            self._nonces.next = tx["nonce"] + 1
                            return tx_hash
                        self._nonces.next = None  # resync and try again with a fresh nonce
                        continue
                    self._nonces.next = None
                    raise ChainError(f"node refused transaction: {exc}") from None
                except BaseException:
                    self._nonces.next = None
                    raise
                self._nonces.next = tx["nonce"] + 1
                return tx_hash
        raise NonceError(f"could not find a free nonce for {self.address} after {attempt + 1} resyncs")

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
            return True
        except (TransactionNotFound, Web3RPCError):
            return False

    def wait(self, tx_hash: str, replay: dict[str, Any] | None = None) -> TxReceipt:
        """Waits for inclusion plus `confirmations` blocks; a failed transaction raises its decoded revert."""
        s = self.settings
        deadline = time.monotonic() + s.receipt_timeout_s
        raw = None
        while True:
            try:
                raw = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
                if s.confirmations <= 0 or self.w3.eth.block_number >= raw["blockNumber"] + s.confirmations:
                    break
            except TransactionNotFound:
                pass
            except (TransientChainError, *_TRANSIENT):
                pass  # the deadline below bounds how long a flaky node is tolerated
            if time.monotonic() > deadline:
                raise ReceiptTimeout(tx_hash, s.receipt_timeout_s)
            time.sleep(s.poll_interval_s)
        if raw["status"] != 1:
            raise self._failed(tx_hash, raw, replay)
        events = self.decoder.decode_all(raw["logs"])
        return TxReceipt(
            tx_hash=tx_hash,
            block_number=int(raw["blockNumber"]),
            block_hash="0x" + bytes(raw["blockHash"]).hex(),
            gas_used=int(raw["gasUsed"]),
            effective_gas_price=int(raw["effectiveGasPrice"]),
            status=int(raw["status"]),
            events=events,
            contract_address=raw.get("contractAddress"),
        )

    def _failed(self, tx_hash: str, raw: Any, replay: dict[str, Any] | None) -> ChainError:
        """Replays a mined-but-failed transaction as eth_call on its parent block to recover the reason."""
        if replay is not None:
            call = {k: v for k, v in replay.items() if k in ("from", "to", "data", "value", "gas")}
            try:
                self.w3.eth.call(call, int(raw["blockNumber"]) - 1)  # type: ignore[arg-type]
            except (ContractLogicError, Web3RPCError) as exc:
                err = self._as_revert(exc, tx_hash)
                if isinstance(err, ContractRevert):
                    return err
        return decode_revert(b"", tx_hash=tx_hash)
