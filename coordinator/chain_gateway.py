"""The coordinator's one door to the chain: deployment addresses, escrow/cancel calldata, logs, matcher calls.

Calldata is encoded from chain/'s checked-in ABIs, logs are decoded by chain/events.py; nothing here keeps state.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from chain import artifacts
from chain.abi_types import abi_type, to_python
from chain.deploy import Deployment
from chain.dispute_game import GameState
from chain.events import ChainEvent, EventDecoder
from chain.job_market import JobMarket, JobTerms
from chain.sender import make_web3

ROOT = Path(__file__).resolve().parents[1]
CONTRACTS = ("JobMarket", "StakeManager", "DisputeGame")


class ChainUnavailable(RuntimeError):
    """No deployment or no RPC: the caller can retry later."""


def jsonable(value: Any) -> Any:
    """Decoded event args as JSON: bytes → 0x hex, integers beyond 2^53 → decimal strings."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


class ChainGateway:
    """Stateless access to one deployment; `deployment` None means "not deployed yet" (calls then raise)."""

    def __init__(self, rpc_url: str, chain_id: int, deployment: Deployment | None) -> None:
        self.rpc_url = rpc_url
        self.chain_id = chain_id
        self.deployment = deployment
        self.addresses = dict(deployment.contracts) if deployment else {}
        self.deploy_block = deployment.deploy_block if deployment else 0
        self._markets: dict[str, JobMarket] = {}
        self._abi_cache: dict[tuple[str, str], tuple[bytes, list[str]]] = {}

    @classmethod
    def from_settings(cls, rpc_url: str, chain_id: int, deployment_file: Path | None) -> ChainGateway:
        path = deployment_file or ROOT / "deployments" / f"{chain_id}.json"
        return cls(rpc_url, chain_id, Deployment.from_file(path) if path.exists() else None)

    @cached_property
    def w3(self) -> Web3:
        return make_web3(self.rpc_url, timeout_s=10.0)

    def address(self, name: str) -> str:
        try:
            return self.addresses[name]
        except KeyError:
            raise ChainUnavailable(
                f"no {name} address: deploy the contracts (deployments/<chainId>.json)"
            ) from None

    def _selector_and_types(self, name: str, fn: str) -> tuple[bytes, list[str]]:
        key = (name, fn)
        hit = self._abi_cache.get(key)
        if hit is None:
            entry = next(
                e for e in artifacts.load(name).abi if e.get("type") == "function" and e["name"] == fn
            )
            types = [abi_type(i) for i in entry["inputs"]]
            hit = self._abi_cache[key] = (keccak(text=f"{fn}({','.join(types)})")[:4], types)
        return hit

    def _calldata(self, name: str, fn: str, args: list[Any]) -> str:
        # eth_abi directly: building a web3 contract object per request costs tens of milliseconds.
        selector, types = self._selector_and_types(name, fn)
        return "0x" + (selector + abi_encode(types, args)).hex()

    @cached_property
    def decoder(self) -> EventDecoder:
        return EventDecoder({a: n for n, a in self.addresses.items()})

    # ------------------------------------------------------------ transactions for clients to sign

    def post_job_tx(self, terms: JobTerms) -> dict[str, Any]:
        data = self._calldata(
            "JobMarket",
            "postJob",
            [
                terms.spec_hash,
                terms.num_steps,
                terms.checkpoint_every,
                terms.ops_per_step,
                terms.collateral,
                terms.deadline,
            ],
        )
        return {
            "to": self.address("JobMarket"),
            "data": data,
            "value": str(terms.price),
            "chainId": self.chain_id,
        }

    def cancel_tx(self, chain_job_id: int, terms: JobTerms) -> dict[str, Any]:
        data = self._calldata("JobMarket", "cancel", [chain_job_id, terms.as_tuple()])
        return {"to": self.address("JobMarket"), "data": data, "value": "0", "chainId": self.chain_id}

    # ------------------------------------------------------------ reading

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        info = self.block_info(number)
        return None if info is None else info[0]

    def block_info(self, number: int) -> tuple[str, int] | None:
        """(hash, timestamp) of block `number`, or None past the head."""
        try:
            block = self.w3.eth.get_block(number)
        except Exception:  # noqa: BLE001 - web3 raises BlockNotFound (and RPC errors) past the head
            return None
        return "0x" + bytes(block["hash"]).hex(), int(block["timestamp"])

    def game_state(self, game_id: int, block: int | str) -> GameState:
        """DisputeGame.game(id) as of `block`: phase, who has moved, each party's chess clock, the deadline."""
        raw = self.w3.eth.call(
            {"to": to_checksum_address(self.address("DisputeGame")), "data": self._calldata("DisputeGame", "game", [game_id])},  # type: ignore[typeddict-item]
            block,  # type: ignore[arg-type]
        )
        out = self._game_output
        return GameState.from_view(to_python(out, abi_decode([abi_type(out)], bytes(raw))[0]))

    @cached_property
    def _game_output(self) -> dict[str, Any]:
        """The ABI of DisputeGame.game's one output (the Game.State struct), looked up once."""
        entry = next(
            e for e in artifacts.load("DisputeGame").abi if e.get("type") == "function" and e["name"] == "game"
        )
        return dict(entry["outputs"][0])

    def logs(self, from_block: int, to_block: int) -> list[ChainEvent]:
        if not self.addresses:
            return []
        params: dict[str, Any] = {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": list(self.addresses.values()),
        }
        return self.decoder.decode_all(self.w3.eth.get_logs(params))  # type: ignore[arg-type]

    def ping(self) -> bool:
        try:
            return int(self.w3.eth.chain_id) == self.chain_id
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            return False

    # ------------------------------------------------------------ matcher calls (MATCHER key)

    def market(self, private_key: str) -> JobMarket:
        """chain/'s JobMarket client signing with `private_key` (one per key: it caches nonces and terms)."""
        if self.deployment is None:
            raise ChainUnavailable("no deployment: run `agora contracts deploy`")
        m = self._markets.get(private_key)
        if m is None:
            m = self._markets[private_key] = JobMarket.connect(self.deployment, self.w3, private_key)
        return m

    def assign(self, private_key: str, chain_job_id: int, provider: str) -> str:
        """JobMarket.assign as the MATCHER; waits for the receipt, returns the tx hash (ChainError on revert)."""
        return self.market(private_key).assign(chain_job_id, to_checksum_address(provider)).tx_hash

    def expire(self, private_key: str, chain_job_id: int) -> str:
        return self.market(private_key).expire(chain_job_id).tx_hash
