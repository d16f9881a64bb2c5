"""Typed client of DisputeGame (docs/PROTOCOL.md §6): game state, the parties' moves, the referee's ruling, timeouts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import BlockNotFound

from chain.contract import BoundContract
from chain.deploy import Deployment
from chain.errors import ChainError
from chain.events import ChainEvent
from chain.sender import Sender, SenderSettings, TxReceipt, make_web3

_ELEMENTS_REVEALED_TOPIC = "0x" + keccak(text="ElementsRevealed(uint256,address,uint8,uint32,uint32,bytes32[])").hex()
_GAME_OPENED_TOPIC = "0x" + keccak(text="GameOpened(uint256,uint256,address,address,uint256,uint256)").hex()


class GamePhase(IntEnum):
    """Game.Phase."""

    NONE = 0
    BISECT = 1
    DESCEND = 2
    REVEAL = 3
    REFEREE = 4
    SETTLED = 5
    # No longer entered: the defender binds L[S] to the final model hash in its first reveal (`reveal_first`,
    # PROTOCOL §7). Kept so old callers' comparisons stay valid.
    PROVE_FINAL = 6


class GameOutcome(IntEnum):
    """IDisputeSettlement.Outcome."""

    NONE = 0
    DEFENDER_WINS = 1
    CHALLENGER_WINS = 2
    BOTH_LOSE = 3
    VOID = 4
    MOOT = 5  # another game on the same result decided it (or a Void discarded it): bond back, nothing slashed


def outcome_name(value: object) -> str:
    """The outcome's wire name ("defender_wins", "moot", …) for a raw event value; an unknown one as it came."""
    try:
        return GameOutcome(int(str(value))).name.lower()
    except ValueError:
        return str(value)


class GameNotFound(ChainError):
    """No GameOpened event for this job on this game contract."""


@dataclass(frozen=True)
class GameState:
    """Game.State as one view call returns it."""

    defender: str
    phase: GamePhase
    level: int
    moved: int
    ends_known: bool
    lo: int
    hi: int
    challenger: str
    deadline: int  # from this time on timeout() settles (a party's clock ran out, or the referee's window)
    index: int
    num_steps: int
    checkpoint_every: int
    ops_per_step: int
    outcome: GameOutcome
    job_id: int
    clock_defender: int  # seconds left on each party's whole-game chess clock
    clock_challenger: int
    round_start: int  # when the current round began: both owed clocks run from here
    root_defender: bytes
    root_challenger: bytes
    agreed: bytes
    hi_defender: bytes
    hi_challenger: bytes
    pending: bytes

    @classmethod
    def from_view(cls, v: dict[str, Any]) -> GameState:
        return cls(
            defender=v["defender"], phase=GamePhase(v["phase"]), level=int(v["level"]), moved=int(v["moved"]),
            ends_known=bool(v["endsKnown"]), lo=int(v["lo"]), hi=int(v["hi"]), challenger=v["challenger"],
            deadline=int(v["deadline"]), index=int(v["index"]),
            num_steps=int(v["numSteps"]), checkpoint_every=int(v["checkpointEvery"]),
            ops_per_step=int(v["opsPerStep"]), outcome=GameOutcome(v["outcome"]), job_id=int(v["jobId"]),
            clock_defender=int(v["clockDefender"]), clock_challenger=int(v["clockChallenger"]),
            round_start=int(v["roundStart"]),
            root_defender=bytes(v["rootDefender"]), root_challenger=bytes(v["rootChallenger"]),
            agreed=bytes(v["agreed"]), hi_defender=bytes(v["hiDefender"]), hi_challenger=bytes(v["hiChallenger"]),
            pending=bytes(v["pending"]),
        )

    @property
    def final_model_hash(self) -> bytes:
        """Until the first round closes: the submitted final model hash the defender's L[S] must bind (`agreed`)."""
        return self.agreed

    @property
    def first_round(self) -> bool:
        """The game's first round (level 0, ends not yet revealed): the defender must use `reveal_first`."""
        return self.level == 0 and not self.ends_known

    def clock_of(self, account: str) -> int:
        """Seconds left on `account`'s chess clock (0 for a non-party)."""
        bit = self.role_bit(account)
        return self.clock_defender if bit == 1 else self.clock_challenger if bit == 2 else 0

    def move_deadline(self, account: str) -> int:
        """The first second at which `account`'s move of this round would be too late (its clock ran out)."""
        return self.round_start + self.clock_of(account)

    @property
    def claim_defender(self) -> bytes:
        """In the Referee phase: the hash the defender claims (its revealed H(out_j), or its L[0])."""
        return self.hi_defender

    @property
    def claim_challenger(self) -> bytes:
        return self.hi_challenger

    @property
    def settled(self) -> bool:
        return self.phase == GamePhase.SETTLED

    def role_bit(self, account: str) -> int:
        """1 for the defender, 2 for the challenger, 0 for anyone else."""
        a = to_checksum_address(account)
        return 1 if a == self.defender else 2 if a == self.challenger else 0


@dataclass(frozen=True)
class GameConfig:
    """The contract's parameters. `clock` is each party's whole-game time budget (`move_timeout` is the same
    number, for old callers); the treasury is the market's (read live, never copied)."""

    k: int
    clock: int
    referee_timeout: int
    referee: str
    treasury: str
    challenger_reward_bps: int

    @property
    def move_timeout(self) -> int:
        return self.clock


class DisputeGame:
    """DisputeGame at `address`, signing as `sender`'s account."""

    def __init__(self, address: str, sender: Sender, from_block: int = 0) -> None:
        self.contract = BoundContract("DisputeGame", address, sender)
        self.sender = sender
        self.from_block = from_block
        self._config: GameConfig | None = None
        # (topic0, gameId) -> (number, hash) of the block of the first such event seen: while that block is
        # still canonical later events cannot be older, so each move's scan starts there, not at the deploy block
        self._scan_from: dict[tuple[str, int], tuple[int, str]] = {}

    @classmethod
    def connect(
        cls, deployment: Deployment, w3: Web3 | str, private_key: str, settings: SenderSettings | None = None
    ) -> DisputeGame:
        web3 = make_web3(w3) if isinstance(w3, str) else w3
        sender = Sender(web3, private_key, settings, deployment.decoder())
        return cls(deployment.address("DisputeGame"), sender, from_block=deployment.deploy_block)

    @property
    def address(self) -> str:
        return self.contract.address

    @property
    def account(self) -> str:
        return self.sender.address

    # ------------------------------------------------------------------ reads

    def config(self) -> GameConfig:
        if self._config is None:
            c = self.contract.call
            self._config = GameConfig(
                k=int(c("k")), clock=int(c("clock")), referee_timeout=int(c("refereeTimeout")),
                referee=c("referee"), treasury=c("treasury"), challenger_reward_bps=int(c("challengerRewardBps")),
            )
        return self._config

    def state(self, game_id: int) -> GameState:
        return GameState.from_view(self.contract.call("game", game_id))

    def positions(self, game_id: int) -> list[int]:
        return [int(p) for p in self.contract.call("positions", game_id)]

    def level_length(self, game_id: int) -> int:
        return int(self.contract.call("levelLength", game_id))

    def game_count(self) -> int:
        return int(self.contract.call("gameCount"))

    def _logs(self, topic0: str, game_id: int) -> list[ChainEvent]:
        key = (topic0, game_id)
        start = self.from_block
        if key in self._scan_from:
            number, block_hash = self._scan_from[key]
            try:
                canonical = "0x" + bytes(self.sender.w3.eth.get_block(number)["hash"]).hex().removeprefix("0x")
            except BlockNotFound:  # the chain was rewound below it
                canonical = ""
            if canonical == block_hash:
                start = number
            else:  # reorged or reverted: scan everything again
                del self._scan_from[key]
        raw = self.sender.w3.eth.get_logs({
            "address": to_checksum_address(self.address),
            "fromBlock": start,
            "toBlock": "latest",
            "topics": [topic0, "0x" + game_id.to_bytes(32, "big").hex()],  # type: ignore[list-item]
        })
        events = [e for e in self.sender.decoder.decode_all(raw) if not e.removed]
        if events and key not in self._scan_from:
            self._scan_from[key] = (events[0].block_number, "0x" + events[0].block_hash.removeprefix("0x"))
        return events

    def revealed_elements(self, game_id: int, party: str, state: GameState) -> list[bytes]:
        """`party`'s reveal in the current round (from its ElementsRevealed event); [] when it has not revealed."""
        party = to_checksum_address(party)
        for ev in reversed(self._logs(_ELEMENTS_REVEALED_TOPIC, game_id)):
            a = ev.args
            if (to_checksum_address(a["party"]), int(a["level"]), int(a["lo"]), int(a["hi"])) == (
                party, state.level, state.lo, state.hi
            ):
                return [bytes(e) for e in a["elements"]]
        return []

    def games_of_job(self, job_id: int) -> list[int]:
        """Every game opened on `job_id` on this contract, oldest first (several may run at once)."""
        raw = self.sender.w3.eth.get_logs({
            "address": to_checksum_address(self.address),
            "fromBlock": self.from_block,
            "toBlock": "latest",
            "topics": [_GAME_OPENED_TOPIC, None, "0x" + job_id.to_bytes(32, "big").hex()],  # type: ignore[list-item]
        })
        events = [e for e in self.sender.decoder.decode_all(raw) if not e.removed]
        return [int(e.args["gameId"]) for e in events]

    def game_of_job(self, job_id: int, challenger: str | None = None) -> int:
        """The latest game opened on `job_id` (by `challenger`, when given)."""
        ids = self.games_of_job(job_id)
        if challenger is not None:
            who = to_checksum_address(challenger)
            ids = [g for g in ids if to_checksum_address(self.state(g).challenger) == who]
        if not ids:
            raise GameNotFound(f"no game opened for job {job_id} on {self.address}")
        return ids[-1]

    # ------------------------------------------------------------------ moves

    def reveal(
        self,
        game_id: int,
        elements: Sequence[bytes],
        proofs: Sequence[bytes],
        other_elements: Sequence[bytes],
        slots_hash: bytes | None = None,
    ) -> TxReceipt:
        """A round's reveal. With `slots_hash` it goes through `revealFirst`: the defender's first-round reveal must,
        proving its L[S] is keccak256(finalModelHash ‖ slotsHash) (PROTOCOL §7); a plain reveal there reverts
        FinalNotBound."""
        if slots_hash is not None:
            return self.reveal_first(game_id, elements, proofs, other_elements, slots_hash)
        return self.contract.transact("reveal", game_id, list(elements), list(proofs), list(other_elements))

    def reveal_first(
        self,
        game_id: int,
        elements: Sequence[bytes],
        proofs: Sequence[bytes],
        other_elements: Sequence[bytes],
        slots_hash: bytes,
    ) -> TxReceipt:
        """The first round's reveal with the caller's final slots hash (the challenger's is ignored)."""
        return self.contract.transact(
            "revealFirst", game_id, list(elements), list(proofs), list(other_elements), slots_hash
        )

    def descend(
        self, game_id: int, finer_root: bytes, first_proof: Sequence[bytes], last_proof: Sequence[bytes]
    ) -> TxReceipt:
        return self.contract.transact("descend", game_id, finer_root, list(first_proof), list(last_proof))

    def reveal_output(self, game_id: int, output_hash: bytes) -> TxReceipt:
        return self.contract.transact("revealOutput", game_id, output_hash)


    def multicall(self, calls: Sequence[bytes]) -> TxReceipt:
        """Several of the caller's moves in one transaction (calldata from `contract.calldata(fn, *args)`)."""
        return self.contract.transact("multicall", list(calls))

    def rule(self, game_id: int, correct_hash: bytes) -> TxReceipt:
        """Referee only."""
        return self.contract.transact("rule", game_id, correct_hash)

    def timeout(self, game_id: int) -> TxReceipt:
        return self.contract.transact("timeout", game_id)

    def moot(self, game_id: int) -> TxReceipt:
        """Anyone: ends a game whose result another game already decided (bond back in full, no second slash)."""
        return self.contract.transact("moot", game_id)

    def is_moot(self, game_id: int, market: str) -> bool:
        """True when `market` no longer counts the game's submission as undecided and the game is still open."""
        if self.state(game_id).settled:
            return False
        m = BoundContract("JobMarket", market, self.sender)
        return not bool(m.call("challengeLive", self.address, game_id))

    def market(self) -> str:
        return str(self.contract.call("market"))
