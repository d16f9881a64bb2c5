"""Decodes contract logs (receipts or raw eth_getLogs output) into typed `ChainEvent` records.

Several contracts declare events with the same signature (Credited, GameSet…), so a decoder built with the
deployment's address → contract map decodes by emitter; without one it decodes by topic alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from chain import artifacts
from chain.abi_types import abi_type, to_python


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log. `contract` is the artifact name ("" when the emitter is unknown and the topic ambiguous)."""

    contract: str
    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    tx_index: int = 0
    removed: bool = False

    def __getitem__(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class _EventSpec:
    contract: str
    name: str
    inputs: tuple[dict[str, Any], ...]
    anonymous: bool = False


def _topic0(entry: dict[str, Any]) -> bytes:
    return keccak(text=f"{entry['name']}({','.join(abi_type(i) for i in entry.get('inputs', []))})")


def _hex(v: Any) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    s = str(v)
    return s if s.startswith("0x") else "0x" + s


def _bytes(v: Any) -> bytes:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    return bytes(HexBytes(v))


def _int(v: Any) -> int:
    if isinstance(v, int):
        return v
    return int(str(v), 16)


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, dict[bytes, _EventSpec]], dict[bytes, list[_EventSpec]]]:
    """Every artifact's events by contract and by topic0 (built once; artifacts do not change at run time)."""
    by_contract: dict[str, dict[bytes, _EventSpec]] = {}
    by_topic: dict[bytes, list[_EventSpec]] = {}
    for art in artifacts.load_all().values():
        table = by_contract.setdefault(art.name, {})
        for entry in art.events():
            if entry.get("anonymous"):
                continue
            spec = _EventSpec(art.name, entry["name"], tuple(entry.get("inputs", [])))
            t0 = _topic0(entry)
            table[t0] = spec
            by_topic.setdefault(t0, []).append(spec)
    return by_contract, by_topic


@dataclass
class EventDecoder:
    """Knows every event of every artifact; `addresses` (address → contract name) pins ambiguous topics."""

    addresses: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_contract, self._by_topic = _tables()
        self._addresses = {to_checksum_address(a): n for a, n in self.addresses.items()}

    def topic(self, contract: str, event: str) -> str:
        """topic0 of `contract`'s event named `event` (from the ABI, so signature changes follow the artifacts)."""
        for t0, spec in self._by_contract.get(contract, {}).items():
            if spec.name == event:
                return _hex(t0)
        raise KeyError(f"{contract} declares no event {event}")

    def topics_of(self, contract: str) -> list[str]:
        """topic0 of every event `contract` declares (for eth_getLogs filters)."""
        return [_hex(t) for t in self._by_contract.get(contract, {})]

    def decode(self, log: Mapping[str, Any]) -> ChainEvent | None:
        """A decoded event, or None for a log no artifact knows (another contract's, an anonymous event)."""
        topics = [_bytes(t) for t in log.get("topics", [])]
        if not topics:
            return None
        address = to_checksum_address(log["address"])
        known = self._addresses.get(address)
        spec: _EventSpec | None = None
        if known is not None:
            spec = self._by_contract.get(known, {}).get(topics[0])
            if spec is None:
                return None
        else:
            candidates = self._by_topic.get(topics[0], [])
            if not candidates:
                return None
            spec = candidates[0]
        indexed = [i for i in spec.inputs if i.get("indexed")]
        plain = [i for i in spec.inputs if not i.get("indexed")]
        if len(topics) - 1 != len(indexed):
            return None  # same signature, different indexing: not this event
        values: dict[str, Any] = {}
        for param, topic in zip(indexed, topics[1:], strict=True):
            t = abi_type(param)
            # Dynamic/struct values are stored in topics as their keccak hash: keep the 32 bytes.
            if t in ("string", "bytes") or t.startswith("(") or t.endswith("]"):
                values[param["name"]] = topic
            else:
                values[param["name"]] = to_python(param, abi_decode([t], topic)[0])
        decoded = abi_decode([abi_type(p) for p in plain], _bytes(log.get("data", b"")))
        for param, v in zip(plain, decoded, strict=True):
            values[param["name"]] = to_python(param, v)
        ordered = {p["name"]: values[p["name"]] for p in spec.inputs}
        contract = known or (spec.contract if len({c.contract for c in self._by_topic[topics[0]]}) == 1 else "")
        return ChainEvent(
            contract=contract,
            name=spec.name,
            args=ordered,
            address=address,
            block_number=_int(log["blockNumber"]),
            block_hash=_hex(log["blockHash"]),
            tx_hash=_hex(log["transactionHash"]),
            log_index=_int(log["logIndex"]),
            tx_index=_int(log.get("transactionIndex", 0)),
            removed=bool(log.get("removed", False)),
        )

    def decode_all(self, logs: Iterable[Mapping[str, Any]]) -> list[ChainEvent]:
        """Decodes what it knows, in the order given (eth_getLogs and receipts are already in chain order)."""
        out = []
        for log in logs:
            ev = self.decode(log)
            if ev is not None:
                out.append(ev)
        return out


def iter_events(
    w3: Any,
    decoder: EventDecoder,
    from_block: int,
    to_block: int,
    batch_blocks: int = 2000,
    addresses: Iterable[str] | None = None,
) -> Iterator[tuple[int, list[ChainEvent]]]:
    """eth_getLogs in windows of `batch_blocks` (nodes cap the range a query may cover); yields
    (last block of the window, its events) so an indexer can checkpoint after each window."""
    if batch_blocks < 1:
        raise ValueError("batch_blocks must be ≥ 1")
    start = from_block
    while start <= to_block:
        end = min(start + batch_blocks - 1, to_block)
        yield end, get_events(w3, decoder, start, end, addresses)
        start = end + 1


def get_events(
    w3: Any,
    decoder: EventDecoder,
    from_block: int,
    to_block: int | str,
    addresses: Iterable[str] | None = None,
) -> list[ChainEvent]:
    """eth_getLogs over [from_block, to_block] for `addresses` (default: the decoder's), decoded in chain order."""
    addrs = [to_checksum_address(a) for a in (addresses if addresses is not None else decoder.addresses)]
    params: dict[str, Any] = {"fromBlock": from_block, "toBlock": to_block}
    if addrs:
        params["address"] = addrs
    return decoder.decode_all(w3.eth.get_logs(params))
