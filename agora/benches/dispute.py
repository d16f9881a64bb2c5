"""`agora bench dispute`: whole dispute games on a fresh anvil, per trace size and k: moves, total gas, gas per move,
and the longest a game can last under the chess clocks.

Each game goes through the real JobMarket + StakeManager (challenge opens it, the referee's ruling settles it);
the parties are two `arena.responder.Responder`s over synthetic traces (`BoundSyntheticTrace`: the final state
binds a model hash, as PROTOCOL §1 requires, and the defender faulty at one op of one step), the referee a key
that posts the honest hash. `total_gas` sums every game transaction's gasUsed (21k base included) of both parties
and the referee; `challenge_gas` (the tx that opens the game, paid by the challenger) is reported apart.

`worst_case_duration_in_clocks`: one game played as slowly as the rules allow — the slow party waits until its own
clock has `SLOW_MARGIN_S` left (alternating who is slow, so both budgets are spent; the margin pays for the blocks
the remaining moves take, one second each on anvil), then
the referee rules one second before its window closes (set to one clock here) — measured from the challenge
block to the settlement block and divided by one party's clock. The rules bound it by 2 clocks + the referee
window = 3, whatever S, N and k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.responder import Action, Responder
from chain.anvil import AnvilProcess, DevAccount
from chain.contract import deploy_contract
from chain.deploy import Deployment, DeployParams, deploy
from chain.dispute_game import DisputeGame, GameOutcome, GamePhase, GameState
from chain.job_market import JobMarket
from chain.stake_manager import StakeManager
from verde.bisection import Shape, SyntheticTrace
from verde.merkle import keccak256
from verifier.referee import Referee

ETHER = 10**18
SIZES = ((1_024, 64), (1_024, 1_024), (65_536, 64), (65_536, 1_024))  # (S, N)
CHECKPOINT_EVERY = 64
KS = (2, 4, 8, 16)
TARGET_GAS = 2_500_000
BENCH_CLOCK = 3_600  # each party's clock in the duration game; the referee window is set to the same
DURATION_SIZE = (1_024, 64, 8)  # (S, N, k) of the duration game: the bound does not depend on them
SLOW_MARGIN_S = 30


@dataclass
class BoundSyntheticTrace(SyntheticTrace):
    """A SyntheticTrace whose final state is keccak256(modelHash ‖ slotsHash), like a real one (PROTOCOL §1)."""

    def _faulty_end(self) -> bool:
        return self.fault is not None

    def model_hash(self) -> bytes:
        return keccak256(b"model" + (self.salt if self._faulty_end() else b""))

    def final_slots_hash(self) -> bytes:
        return keccak256(b"slots" + (self.salt if self._faulty_end() else b""))

    def output_hash(self, step: int, op: int) -> bytes:
        if (step, op) == (self.shape.steps, self.shape.ops_per_step):
            return keccak256(self.model_hash() + self.final_slots_hash())
        return super().output_hash(step, op)


@dataclass
class SyntheticOracle:
    """The referee's answer from the honest synthetic trace."""

    honest: SyntheticTrace

    def correct_hash(self, state: GameState) -> bytes | None:
        if state.level == 0:
            return self.honest.state(0)
        return self.honest.output_hash(state.index, state.hi)


class _Bench:
    def __init__(self, node: AnvilProcess) -> None:
        self.node = node
        a = node.accounts
        self.deployer, self.matcher, self.client, self.provider, self.challenger, self.treasury = a[:6]
        params = DeployParams.devnet(matcher=self.matcher.address, treasury=self.treasury.address)
        self.params = params
        self.d: Deployment = deploy(node.rpc_url, self.deployer.private_key, params, out_dir=None)
        self.admin_market = JobMarket.connect(self.d, node.rpc_url, self.deployer.private_key)
        StakeManager.connect(self.d, node.rpc_url, self.provider.private_key).stake(100 * ETHER)
        self.games: dict[tuple[int, int, int], str] = {}

    def game_for(self, k: int, clock: int | None = None, referee_timeout: int | None = None) -> str:
        """A DisputeGame with this k (and clocks), wired as the market's game."""
        p = self.params.with_roles(self.deployer.address)
        clock = p.move_timeout_s if clock is None else clock
        referee_timeout = p.referee_timeout_s if referee_timeout is None else referee_timeout
        key = (k, clock, referee_timeout)
        if key not in self.games:
            addr, _ = deploy_contract(
                "DisputeGame", self.admin_market.sender, self.d.address("JobMarket"), p.referee, k, clock,
                referee_timeout, p.challenger_reward_bps,
            )
            self.games[key] = addr
        addr = self.games[key]
        if self.admin_market.game() != addr:
            self.admin_market.set_game(addr)
        return addr

    def _game(self, addr: str, who: DevAccount) -> DisputeGame:
        c = Deployment(self.d.chain_id, {**self.d.contracts, "DisputeGame": addr}, self.d.deploy_block,
                       self.d.params, self.d.deployer)
        return DisputeGame.connect(c, self.node.rpc_url, who.private_key)

    def _open(self, steps: int, ops: int, addr: str) -> tuple[Responder, Responder, Referee, Any, SyntheticTrace]:
        """Posts, runs and challenges one job; returns the two players, the referee and the challenge receipt."""
        shape = Shape(steps, CHECKPOINT_EVERY, ops)
        fault = (steps * 2 // 3 + 1, ops // 2 + 1)
        honest, liar = BoundSyntheticTrace(shape), BoundSyntheticTrace(shape, fault=fault)
        url = self.node.rpc_url
        as_client = JobMarket.connect(self.d, url, self.client.private_key)
        posted = as_client.post_job(
            spec_hash=b"\x11" * 32, num_steps=steps, checkpoint_every=CHECKPOINT_EVERY, ops_per_step=ops,
            collateral=ETHER, deadline=self.node.timestamp() + 30 * 24 * 3600, price=ETHER,
        )
        job = posted.job_id
        JobMarket.connect(self.d, url, self.matcher.private_key).assign(job, self.provider.address)
        as_provider = JobMarket.connect(self.d, url, self.provider.private_key)
        as_provider.accept(job)
        d_game, c_game = self._game(addr, self.provider), self._game(addr, self.challenger)
        defender = Responder(d_game, 0, liar)
        challenger = Responder(c_game, 0, honest)
        model = liar.model_hash()  # the liar reports the model its (wrong) final state holds
        as_provider.submit_result(job, defender.trees.root(), model)
        challenge = JobMarket.connect(self.d, url, self.challenger.private_key).challenge(
            job, challenger.trees.root(), trace_root=defender.trees.root(), final_model_hash=model
        )
        game_id = int(challenge.event("JobChallenged").args["gameId"])
        defender.game_id = challenger.game_id = game_id
        referee = Referee(self._game(addr, self.deployer), SyntheticOracle(honest))
        return defender, challenger, referee, challenge, liar

    def play(self, steps: int, ops: int, k: int) -> dict[str, Any]:
        addr = self.game_for(k)
        defender, challenger, referee, challenge, liar = self._open(steps, ops, addr)
        game_id = defender.game_id
        for _ in range(1_000):
            if defender.step() == Action.SETTLED or challenger.step() == Action.SETTLED:
                break
            referee.step(game_id)
        state = defender.game.state(game_id)
        if state.outcome != GameOutcome.CHALLENGER_WINS:
            raise RuntimeError(f"game {steps}x{ops} k={k} ended {state.outcome.name}, expected CHALLENGER_WINS")
        if (state.index, state.hi) != liar.fault:
            raise RuntimeError(f"game pinned (step {state.index}, op {state.hi}), the fault is at {liar.fault}")
        receipts = defender.receipts + challenger.receipts + referee.receipts
        total = sum(r.gas_used for r in receipts)
        moves = max(defender.moves(), challenger.moves())
        return {
            "steps": steps, "ops": ops, "k": k, "moves_per_party": moves, "total_gas": total,
            "gas_per_move": round(total / len(receipts)), "transactions": len(receipts),
            "challenge_gas": challenge.gas_used,
        }

    def slowest_game(self, steps: int, ops: int, k: int, clock: int) -> dict[str, Any]:
        """Plays a game as slowly as the clocks allow (see the module doc); returns its duration in clocks."""
        addr = self.game_for(k, clock=clock, referee_timeout=clock)
        defender, challenger, referee, challenge, _ = self._open(steps, ops, addr)
        game = defender.game
        gid = defender.game_id
        opened = game.sender.w3.eth.get_block(challenge.block_number)["timestamp"]
        defender_slow = True
        for _ in range(1_000):
            state = game.state(gid)
            if state.settled:
                break
            if state.phase == GamePhase.REFEREE:
                self._wait_until(state.deadline - 1)
                referee.step(gid)
                continue
            fast, slow = (challenger, defender) if defender_slow else (defender, challenger)
            fast.step()
            state = game.state(gid)
            if state.settled or state.phase == GamePhase.REFEREE:
                continue
            slow_account = defender.game.account if slow is defender else challenger.game.account
            self._wait_until(state.move_deadline(slow_account) - SLOW_MARGIN_S)
            slow.step()
            defender_slow = not defender_slow
        state = game.state(gid)
        if state.outcome != GameOutcome.CHALLENGER_WINS:
            raise RuntimeError(f"the slow game ended {state.outcome.name}, expected CHALLENGER_WINS")
        settled = int(game.sender.w3.eth.get_block("latest")["timestamp"])
        return {"duration_s": settled - int(opened), "clock_s": clock, "referee_window_s": clock,
                "steps": steps, "ops": ops, "k": k}

    def _wait_until(self, ts: int) -> None:
        """The next block is mined at `ts` (if it lies ahead)."""
        now = self.node.timestamp()
        if ts > now + 1:
            self.node.rpc("evm_setNextBlockTimestamp", [int(ts)])


def run(ks: tuple[int, ...] = KS, sizes: tuple[tuple[int, int], ...] = SIZES) -> dict[str, Any]:
    runs = []
    with AnvilProcess() as node:
        bench = _Bench(node)
        for steps, ops in sizes:
            for k in ks:
                r = bench.play(steps, ops, k)
                runs.append(r)
                print(
                    f"S={steps:>6} C={CHECKPOINT_EVERY} N={ops:>5} k={k:>2}: {r['moves_per_party']:>3} moves/party, "
                    f"{r['transactions']:>3} txs, total {r['total_gas']:>9,} gas, {r['gas_per_move']:>7,} gas/move "
                    f"(+ challenge {r['challenge_gas']:,})"
                )
        s, n, k = DURATION_SIZE
        slow = bench.slowest_game(s, n, k, BENCH_CLOCK)
    clocks = round(slow["duration_s"] / slow["clock_s"], 4)
    print(
        f"slowest game (S={s} N={n} k={k}, clock {BENCH_CLOCK}s, referee window 1 clock): "
        f"{slow['duration_s']}s = {clocks} clocks (bound: 2 clocks + referee window = 3)"
    )
    big = [r for r in runs if (r["steps"], r["ops"]) == (65_536, 1_024)]
    best = min(big, key=lambda r: r["total_gas"]) if big else None
    if best is not None:
        verdict = "within" if best["total_gas"] <= TARGET_GAS else "OVER"
        print(f"best for 65,536 x 1,024: k={best['k']} at {best['total_gas']:,} gas ({verdict} {TARGET_GAS:,})")
    return {
        "bench": "dispute",
        "runs": runs,
        "best_total_gas_65536x1024": best["total_gas"] if best else None,
        "best_k_65536x1024": best["k"] if best else None,
        "slowest_game": slow,
        "worst_case_duration_in_clocks": clocks,
    }
