"""`agora bench dispute`: whole dispute games on a fresh anvil, per trace size and k: moves, total gas, gas per move.

Each game goes through the real JobMarket + StakeManager (challenge opens it, the referee's ruling settles it);
the parties are two `arena.responder.Responder`s over synthetic traces (`verde.bisection.SyntheticTrace`,
the defender faulty at one op of one step), the referee a key that posts the honest hash. `total_gas` sums every
game transaction's gasUsed (21k base included) of both parties and the referee; `challenge_gas` (the tx that
opens the game, paid by the challenger) is reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arena.responder import Action, Responder
from chain.anvil import AnvilProcess, DevAccount
from chain.contract import deploy_contract
from chain.deploy import Deployment, DeployParams, deploy
from chain.dispute_game import DisputeGame, GameOutcome, GameState
from chain.job_market import JobMarket
from chain.stake_manager import StakeManager
from verde.bisection import Shape, SyntheticTrace
from verifier.referee import Referee

ETHER = 10**18
SIZES = ((1_024, 64), (1_024, 1_024), (65_536, 64), (65_536, 1_024))  # (S, N)
CHECKPOINT_EVERY = 64
KS = (2, 4, 8, 16)
TARGET_GAS = 2_500_000


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
        self.admin_stake = StakeManager.connect(self.d, node.rpc_url, self.deployer.private_key)
        StakeManager.connect(self.d, node.rpc_url, self.provider.private_key).stake(100 * ETHER)
        self.games: dict[int, str] = {}

    def game_for(self, k: int) -> str:
        """A DisputeGame with this k, wired as the market's and stake manager's game."""
        if k not in self.games:
            p = self.params.with_roles(self.deployer.address)
            addr, _ = deploy_contract(
                "DisputeGame", self.admin_market.sender, self.d.address("JobMarket"), self.d.address("StakeManager"),
                p.treasury, p.referee, k, p.move_timeout_s, p.referee_timeout_s, p.challenger_reward_bps,
            )
            self.games[k] = addr
        addr = self.games[k]
        if self.admin_market.game() != addr:
            self.admin_market.set_game(addr)
            self.admin_stake.set_game(addr)
        return addr

    def _game(self, addr: str, who: DevAccount) -> DisputeGame:
        c = Deployment(self.d.chain_id, {**self.d.contracts, "DisputeGame": addr}, self.d.deploy_block,
                       self.d.params, self.d.deployer)
        return DisputeGame.connect(c, self.node.rpc_url, who.private_key)

    def play(self, steps: int, ops: int, k: int) -> dict[str, Any]:
        shape = Shape(steps, CHECKPOINT_EVERY, ops)
        fault = (steps * 2 // 3 + 1, ops // 2 + 1)
        honest, liar = SyntheticTrace(shape), SyntheticTrace(shape, fault=fault)
        addr = self.game_for(k)
        url = self.node.rpc_url
        as_client = JobMarket.connect(self.d, url, self.client.private_key)
        posted = as_client.post_job(
            spec_hash=b"\x11" * 32, num_steps=steps, checkpoint_every=CHECKPOINT_EVERY, ops_per_step=ops,
            collateral=ETHER, deadline=self.node.timestamp() + 24 * 3600, price=ETHER,
        )
        job = posted.job_id
        JobMarket.connect(self.d, url, self.matcher.private_key).assign(job, self.provider.address)
        as_provider = JobMarket.connect(self.d, url, self.provider.private_key)
        as_provider.accept(job)
        d_game, c_game = self._game(addr, self.provider), self._game(addr, self.challenger)
        defender = Responder(d_game, 0, liar)
        challenger = Responder(c_game, 0, honest)
        model = b"\x33" * 32
        as_provider.submit_result(job, defender.trees.root(), model)
        challenge = JobMarket.connect(self.d, url, self.challenger.private_key).challenge(
            job, challenger.trees.root(), trace_root=defender.trees.root(), final_model_hash=model
        )
        game_id = d_game.game_of_job(job)
        defender.game_id = challenger.game_id = game_id
        referee = Referee(self._game(addr, self.deployer), SyntheticOracle(honest))
        for _ in range(1_000):
            if defender.step() == Action.SETTLED or challenger.step() == Action.SETTLED:
                break
            referee.step(game_id)
        state = d_game.state(game_id)
        if state.outcome != GameOutcome.CHALLENGER_WINS:
            raise RuntimeError(f"game {steps}x{ops} k={k} ended {state.outcome.name}, expected CHALLENGER_WINS")
        if (state.index, state.hi) != fault:
            raise RuntimeError(f"game pinned (step {state.index}, op {state.hi}), the fault is at {fault}")
        receipts = defender.receipts + challenger.receipts + referee.receipts
        total = sum(r.gas_used for r in receipts)
        moves = max(defender.moves(), challenger.moves())
        return {
            "steps": steps, "ops": ops, "k": k, "moves_per_party": moves, "total_gas": total,
            "gas_per_move": round(total / len(receipts)), "transactions": len(receipts),
            "challenge_gas": challenge.gas_used,
        }


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
    }
