"""Typed client of JobMarket. Callers name a job id; the client rebuilds the `JobTerms` struct the contract wants
from the job's `JobPosted` event (docs/PROTOCOL.md §5) and the submitted result from `ResultSubmitted`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address
from web3 import Web3

from chain.contract import BoundContract
from chain.deploy import Deployment
from chain.errors import (
    ChainError,
    TermsMismatch,  # type: ignore[attr-defined]  # generated from the ABI
)
from chain.events import ChainEvent
from chain.sender import Sender, SenderSettings, TxReceipt, make_web3

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


class JobStatus(IntEnum):
    """IJobMarket.Status."""

    NONE = 0
    OPEN = 1
    ASSIGNED = 2
    RUNNING = 3
    SUBMITTED = 4
    DISPUTED = 5
    FINALIZED = 6
    FAILED = 7
    CANCELLED = 8
    EXPIRED = 9


class Outcome(IntEnum):
    """IDisputeSettlement.Outcome."""

    NONE = 0
    DEFENDER_WINS = 1
    CHALLENGER_WINS = 2
    BOTH_LOSE = 3
    VOID = 4
    MOOT = 5  # another game on the same result decided it first (or a Void discarded it): bond back in full


class JobNotFound(ChainError):
    """No JobPosted event for this job id on this market."""


class ResultNotFound(ChainError):
    """The job has no ResultSubmitted event (it was never submitted)."""


@dataclass(frozen=True)
class JobTerms:
    """IJobMarket.JobTerms: a job's immutable terms, as posted."""

    client: str
    price: int
    spec_hash: bytes
    num_steps: int
    checkpoint_every: int
    ops_per_step: int
    collateral: int
    deadline: int

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.client, self.price, self.spec_hash, self.num_steps,
            self.checkpoint_every, self.ops_per_step, self.collateral, self.deadline,
        )

    @classmethod
    def from_event(cls, terms: dict[str, Any]) -> JobTerms:
        return cls(
            client=to_checksum_address(terms["client"]),
            price=int(terms["price"]),
            spec_hash=bytes(terms["specHash"]),
            num_steps=int(terms["numSteps"]),
            checkpoint_every=int(terms["checkpointEvery"]),
            ops_per_step=int(terms["opsPerStep"]),
            collateral=int(terms["collateral"]),
            deadline=int(terms["deadline"]),
        )


@dataclass(frozen=True)
class MarketParams:
    """IJobMarket.Params. `challenger_bond` is the bond's floor: a challenge carries
    max(challenger_bond, (price + collateral) * bond_bps / 1e4) (`JobMarket.bond_for`)."""

    accept_timeout: int
    challenge_window: int
    protocol_fee_bps: int
    forfeit_bps: int
    dispute_cut_bps: int
    challenger_bond: int
    min_stake: int
    bond_bps: int = 0
    min_collateral: int = 10**9
    liveness_window: int = 3600
    stall_forfeit_bps: int = 2_000
    abandon_forfeit_bps: int = 100

    def as_tuple(self) -> tuple[int, ...]:
        return (
            self.accept_timeout, self.challenge_window, self.protocol_fee_bps,
            self.forfeit_bps, self.dispute_cut_bps, self.challenger_bond, self.min_stake,
            self.bond_bps, self.min_collateral, self.liveness_window, self.stall_forfeit_bps,
            self.abandon_forfeit_bps,
        )


@dataclass(frozen=True)
class SubmittedResult:
    trace_root: bytes
    final_model_hash: bytes
    challenge_until: int


@dataclass(frozen=True)
class JobView:
    """A job as the chain sees it now. `timer` means acceptBy (Assigned), the last heartbeat (Running: accept
    counts as the first; `reclaim_stalled` works once `timer + liveness_window` has passed) or challengeUntil
    (Submitted/Disputed); `provider` is None while nobody is assigned.
    """

    job_id: int
    status: JobStatus
    provider: str | None
    timer: int
    commitment: bytes
    terms: JobTerms


@dataclass(frozen=True)
class PostedJob:
    job_id: int
    terms: JobTerms
    receipt: TxReceipt


@dataclass(frozen=True)
class DisputeView:
    """IJobMarket.Dispute: a job's dispute state. `open_games` counts the games on the current submission that
    have not settled (the job is Disputed while it is > 0); `epoch` counts discarded submissions."""

    client: str
    price: int
    terms_hash: bytes
    open_games: int
    epoch: int


@dataclass(frozen=True)
class ChallengeView:
    """IJobMarket.Challenge: one game's challenger, bond, job and the submission epoch it judges (zero once settled)."""

    challenger: str
    bond: int
    job_id: int
    epoch: int


# Terms never change once posted, so they are shared by every client of the same market in the process.
# Keyed by market address; a TermsMismatch (reorg, evm_revert) drops the entry and re-reads the event.
_TERMS: dict[tuple[str, int], JobTerms] = {}
_TERMS_LOCK = threading.Lock()


def clear_terms_cache() -> None:
    """Forget cached job terms (after evm_revert in tests)."""
    with _TERMS_LOCK:
        _TERMS.clear()


def _b32(v: bytes | str) -> bytes:
    b = bytes.fromhex(v.removeprefix("0x")) if isinstance(v, str) else bytes(v)
    if len(b) != 32:
        raise ValueError(f"expected 32 bytes, got {len(b)}")
    return b


class JobMarket:
    """JobMarket at `address`, signing as `sender`'s account. Amounts are wei, times unix seconds."""

    def __init__(self, address: str, sender: Sender, from_block: int = 0) -> None:
        self.contract = BoundContract("JobMarket", address, sender)
        self.sender = sender
        self.from_block = from_block  # where event look-ups start (the deploy block)

    @classmethod
    def connect(
        cls,
        deployment: Deployment,
        w3: Web3 | str,
        private_key: str,
        settings: SenderSettings | None = None,
    ) -> JobMarket:
        web3 = make_web3(w3) if isinstance(w3, str) else w3
        sender = Sender(web3, private_key, settings, deployment.decoder())
        return cls(deployment.address("JobMarket"), sender, from_block=deployment.deploy_block)

    @property
    def address(self) -> ChecksumAddress:
        return self.contract.address

    @property
    def account(self) -> str:
        return self.sender.address

    # ------------------------------------------------------------------ terms and results from events

    def _logs(self, event: str, job_id: int) -> list[ChainEvent]:
        """This market's `event` logs for one job (jobId is the first indexed argument of every job event)."""
        topic0 = self.sender.decoder.topic("JobMarket", event)
        raw = self.sender.w3.eth.get_logs({
            "address": self.address,
            "fromBlock": self.from_block,
            "toBlock": "latest",
            "topics": [topic0, "0x" + job_id.to_bytes(32, "big").hex()],  # type: ignore[list-item]
        })
        return [e for e in self.sender.decoder.decode_all(raw) if e.name == event]

    def terms(self, job_id: int, *, refresh: bool = False) -> JobTerms:
        """The job's terms from its JobPosted event (cached)."""
        key = (self.address, job_id)
        if not refresh:
            with _TERMS_LOCK:
                cached = _TERMS.get(key)
            if cached is not None:
                return cached
        events = [e for e in self._logs("JobPosted", job_id) if not e.removed]
        if not events:
            raise JobNotFound(f"job {job_id} was never posted on market {self.address}")
        terms = JobTerms.from_event(events[-1].args["terms"])
        with _TERMS_LOCK:
            _TERMS[key] = terms
        return terms

    def result(self, job_id: int) -> SubmittedResult:
        """The job's latest submitted (traceRoot, finalModelHash) from ResultSubmitted."""
        events = [e for e in self._logs("ResultSubmitted", job_id) if not e.removed]
        if not events:
            raise ResultNotFound(f"job {job_id} has no submitted result")
        a = events[-1].args
        return SubmittedResult(bytes(a["traceRoot"]), bytes(a["finalModelHash"]), int(a["challengeUntil"]))

    def _job_args(self, fn: str, job_id: int, terms: JobTerms, rest: tuple[Any, ...]) -> list[Any]:
        """fn's arguments in ABI order: `jobId` and the `terms` struct filled in, the rest taken in order.

        Driven by the ABI so a function that stops (or starts) taking the terms needs no client change.
        """
        args: list[Any] = []
        pending = list(rest)
        for param in self.contract._fn(fn)["inputs"]:
            if param["name"] == "jobId":
                args.append(job_id)
            elif param["type"] == "tuple" and param["name"] == "terms":
                args.append(terms)
            else:
                if not pending:
                    raise TypeError(f"JobMarket.{fn}: missing argument {param['name']}")
                args.append(pending.pop(0))
        if pending:
            raise TypeError(f"JobMarket.{fn}: {len(pending)} argument(s) too many")
        return args

    def _job_call(self, fn: str, job_id: int, *rest: Any, value: int = 0) -> TxReceipt:
        """Sends fn for a job; on TermsMismatch re-reads the event once (stale cache) and retries."""
        terms = self.terms(job_id)
        try:
            return self.contract.transact(fn, *self._job_args(fn, job_id, terms, rest), value=value)
        except TermsMismatch:
            fresh = self.terms(job_id, refresh=True)
            if fresh == terms:
                raise
            return self.contract.transact(fn, *self._job_args(fn, job_id, fresh, rest), value=value)

    # ------------------------------------------------------------------ lifecycle writes

    def post_job(
        self,
        *,
        spec_hash: bytes | str,
        num_steps: int,
        checkpoint_every: int,
        ops_per_step: int,
        collateral: int,
        deadline: int,
        price: int,
    ) -> PostedJob:
        """Escrows `price` wei; returns the new job id and its terms (already cached)."""
        receipt = self.contract.transact(
            "postJob", _b32(spec_hash), num_steps, checkpoint_every, ops_per_step, collateral, deadline, value=price
        )
        ev = receipt.event("JobPosted")
        job_id = int(ev.args["jobId"])
        terms = JobTerms.from_event(ev.args["terms"])
        with _TERMS_LOCK:
            _TERMS[(self.address, job_id)] = terms
        return PostedJob(job_id, terms, receipt)

    def assign(self, job_id: int, provider: str) -> TxReceipt:
        return self._job_call("assign", job_id, provider)

    def accept(self, job_id: int) -> TxReceipt:
        return self._job_call("accept", job_id)

    def submit_result(
        self, job_id: int, trace_root: bytes | str, final_model_hash: bytes | str, num_steps: int | None = None
    ) -> TxReceipt:
        """`num_steps` defaults to the job's own (the contract rejects any other)."""
        steps = self.terms(job_id).num_steps if num_steps is None else num_steps
        return self._job_call("submitResult", job_id, _b32(trace_root), _b32(final_model_hash), steps)

    def finalize(
        self, job_id: int, trace_root: bytes | str | None = None, final_model_hash: bytes | str | None = None
    ) -> TxReceipt:
        """Pays the provider once the window closed; the result defaults to the submitted one."""
        trace_root, final_model_hash = self._result_args(job_id, trace_root, final_model_hash)
        return self._job_call("finalize", job_id, trace_root, final_model_hash)

    def cancel(self, job_id: int) -> TxReceipt:
        return self._job_call("cancel", job_id)

    def expire(self, job_id: int) -> TxReceipt:
        return self._job_call("expire", job_id)

    def challenge(
        self,
        job_id: int,
        challenger_root: bytes | str,
        *,
        bond: int | None = None,
        trace_root: bytes | str | None = None,
        final_model_hash: bytes | str | None = None,
    ) -> TxReceipt:
        """Opens a game on the job's result (anyone but the provider, any number of times until the window closes);
        `bond` defaults to the job's exact bond (`bond_for`)."""
        trace_root, final_model_hash = self._result_args(job_id, trace_root, final_model_hash)
        value = self.bond_for(job_id) if bond is None else bond
        return self._job_call(
            "challenge", job_id, trace_root, final_model_hash, _b32(challenger_root), value=value
        )

    def withdraw(self) -> TxReceipt:
        return self.contract.transact("withdraw")

    def heartbeat(self, job_id: int, step: int = 0, state_hash: bytes | str = b"\x00" * 32) -> TxReceipt:
        """Provider of a Running job: a sign of life (optionally its latest checkpoint's step and state hash).
        Must come at least every `liveness_window` seconds, or anyone may `reclaim_stalled` the job."""
        return self.contract.transact("heartbeat", job_id, step, _b32(state_hash))

    def reclaim_stalled(self, job_id: int) -> TxReceipt:
        """Anyone: a Running job whose provider was silent longer than the liveness window goes back to Open;
        the provider forfeits `stall_forfeit_bps` of its collateral to the client."""
        return self._job_call("reclaimStalled", job_id)

    def abandon(self, job_id: int, reason: bytes | str = b"\x00" * 32) -> TxReceipt:
        """Provider of a Running job that cannot run it: the job goes back to Open for `abandon_forfeit_bps`
        of the collateral (to the client). `reason` is a 32-byte code or evidence hash (text is right-padded)."""
        if isinstance(reason, str) and not reason.startswith("0x"):
            raw = reason.encode()
            if len(raw) > 32:
                raise ValueError("abandon reason: at most 32 bytes of text")
            reason = raw.ljust(32, b"\x00")
        return self._job_call("abandon", job_id, _b32(reason))

    def on_dispute_settled(self, game_id: int, outcome: Outcome | int) -> TxReceipt:
        """Game-only on-chain (the caller must be a game this market opened `game_id` on); for role-check tests."""
        return self.contract.transact("onDisputeSettled", game_id, int(outcome))

    def _result_args(
        self, job_id: int, trace_root: bytes | str | None, final_model_hash: bytes | str | None
    ) -> tuple[bytes, bytes]:
        if trace_root is None or final_model_hash is None:
            r = self.result(job_id)
            trace_root = r.trace_root if trace_root is None else trace_root
            final_model_hash = r.final_model_hash if final_model_hash is None else final_model_hash
        return _b32(trace_root), _b32(final_model_hash)

    # ------------------------------------------------------------------ admin writes

    def set_params(self, params: MarketParams) -> TxReceipt:
        return self.contract.transact("setParams", params)

    def set_matcher(self, matcher: str) -> TxReceipt:
        return self.contract.transact("setMatcher", matcher)

    def set_treasury(self, treasury: str) -> TxReceipt:
        return self.contract.transact("setTreasury", treasury)

    def set_game(self, game: str) -> TxReceipt:
        return self.contract.transact("setGame", game)

    # ------------------------------------------------------------------ reads

    def job(self, job_id: int) -> JobView:
        """Status, provider, timer and commitment from storage plus the terms from the event."""
        status, provider, timer, commitment = self.contract.call("jobOf", job_id)
        status = JobStatus(int(status))
        if status == JobStatus.NONE:
            raise JobNotFound(f"job {job_id} does not exist on market {self.address}")
        return JobView(
            job_id=job_id,
            status=status,
            provider=None if provider == ZERO_ADDRESS else to_checksum_address(provider),
            timer=int(timer),
            commitment=bytes(commitment),
            terms=self.terms(job_id),
        )

    def status(self, job_id: int) -> JobStatus:
        return JobStatus(int(self.contract.call("jobStatus", job_id)))

    def credit_of(self, account: str) -> int:
        """Withdrawable wei (the treasury's includes accrued protocol fees)."""
        return int(self.contract.call("creditOf", account))

    def protocol_fees(self) -> int:
        return int(self.contract.call("protocolFees"))

    def next_job_id(self) -> int:
        return int(self.contract.call("nextJobId"))

    def params(self) -> MarketParams:
        p = self.contract.call("params")
        return MarketParams(
            accept_timeout=int(p["acceptTimeout"]),
            challenge_window=int(p["challengeWindow"]),
            protocol_fee_bps=int(p["protocolFeeBps"]),
            forfeit_bps=int(p["forfeitBps"]),
            dispute_cut_bps=int(p["disputeCutBps"]),
            challenger_bond=int(p["challengerBond"]),
            min_stake=int(p["minStake"]),
            bond_bps=int(p["bondBps"]),
            min_collateral=int(p["minCollateral"]),
            liveness_window=int(p["livenessWindow"]),
            stall_forfeit_bps=int(p["stallForfeitBps"]),
            abandon_forfeit_bps=int(p["abandonForfeitBps"]),
        )

    def challenger_bond(self) -> int:
        """The bond's floor; a given job's exact bond is `bond_for(job_id)`."""
        return int(self.contract.call("challengerBond"))

    def bond_for(self, job_id: int) -> int:
        """The exact msg.value a challenge of this job must carry: max(floor, (price + collateral) * bondBps / 1e4)."""
        return int(self.contract.call("bondFor", self.terms(job_id)))

    def dispute_of(self, job_id: int) -> DisputeView:
        d = self.contract.call("disputeOf", job_id)
        return DisputeView(
            client=d["client"], price=int(d["price"]), terms_hash=bytes(d["termsHash"]),
            open_games=int(d["openGames"]), epoch=int(d["epoch"]),
        )

    def challenge_of(self, game: str, game_id: int) -> ChallengeView:
        c = self.contract.call("challengeOf", game, game_id)
        return ChallengeView(
            challenger=c["challenger"], bond=int(c["bond"]), job_id=int(c["jobId"]), epoch=int(c["epoch"])
        )

    def challenge_live(self, game: str, game_id: int) -> bool:
        """True while the game still judges the job's current submission (false: settled or moot)."""
        return bool(self.contract.call("challengeLive", game, game_id))

    def terms_hash(self, terms: JobTerms) -> bytes:
        return bytes(self.contract.call("termsHash", terms))

    def matcher(self) -> str:
        return str(self.contract.call("matcher"))

    def treasury(self) -> str:
        return str(self.contract.call("treasury"))

    def game(self) -> str:
        return str(self.contract.call("game"))

    def admin(self) -> str:
        return str(self.contract.call("admin"))

    def stake_manager(self) -> str:
        return str(self.contract.call("stakeManager"))
