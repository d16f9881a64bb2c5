"""The adversarial suite's table: a real anvil with the real contracts deployed once per k, honest and lying
players (arena.player / arena.responder) ticked in-process, the real referee oracle, and the ledger that checks
every wei (agora.devnet.ledger): the honest side never loses one, the liar never gains one, the contracts hold
exactly what they owe once every game has ended.

Each test runs inside an evm_snapshot (reverted after it), so liars never see each other's leftovers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from agora.devnet.ledger import Ledger, Snapshot
from arena.player import GamePlayer
from chain.anvil import AnvilProcess, DevAccount
from chain.deploy import Deployment, DeployParams, deploy
from chain.dispute_game import DisputeGame, GameOutcome
from chain.job_market import JobMarket, JobStatus
from chain.stake_manager import StakeManager
from verde.runner import RunResult, run_spec
from verde.spec import canonical_json, parse_spec, spec_hash
from verifier.referee import Referee, VerdeOracle

ETHER = 10**18
PRICE, COLLATERAL, STAKE = ETHER // 10, ETHER // 20, ETHER
KS = (2, 3, 8)  # parts per bisection round: plain bisection, an odd one, the production default

# Small enough that a whole game (3 levels) takes a second: 12 steps, checkpoints every 4, ~20 ops per step.
SPEC = {
    "version": 1,
    "model": {"kind": "mlp", "layers": [64, 12, 10], "activation": "relu"},
    "dataset": {"id": "builtin:digits", "batch_size": 8, "shuffle_seed": 4},
    "loss": "cross_entropy",
    "optimizer": {"kind": "adam", "lr": 0.01},
    "steps": 12,
    "seed": 21,
    "checkpoint_every": 4,
}
SPEC_BYTES = canonical_json(parse_spec(SPEC))
SPEC_HASH = bytes.fromhex(spec_hash(parse_spec(SPEC)).removeprefix("0x"))


@dataclass(frozen=True)
class Cast:
    """Who is who: the honest provider and verifier, a liar of each kind, the client, the referee, the treasury."""

    client: DevAccount
    provider: DevAccount
    verifier: DevAccount
    sock: DevAccount  # a second key (e.g. the provider's own) that challenges first
    liar_verifier: DevAccount
    referee: DevAccount
    matcher: DevAccount
    treasury: DevAccount


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    with AnvilProcess(chain_id=31337) as node:
        yield node


@pytest.fixture(scope="session")
def cast(anvil: AnvilProcess) -> Cast:
    a = anvil.accounts
    return Cast(client=a[2], provider=a[3], verifier=a[4], sock=a[6], liar_verifier=a[7], referee=a[0],
                matcher=a[1], treasury=a[5])


@pytest.fixture(scope="session")
def deployments(anvil: AnvilProcess, cast: Cast, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Deployment]:
    """One full deployment (JobMarket, StakeManager, DisputeGame) per k, made before any test's snapshot."""
    out = {}
    for k in KS:
        params = DeployParams.devnet(matcher=cast.matcher.address, treasury=cast.treasury.address,
                                     referee=cast.referee.address, k=k)
        out[k] = deploy(anvil.rpc_url, cast.referee.private_key, params, out_dir=tmp_path_factory.mktemp(f"k{k}"))
    return out


@pytest.fixture(autouse=True)
def isolated(anvil: AnvilProcess) -> Iterator[None]:
    from chain.job_market import clear_terms_cache
    from chain.sender import reset_nonce_caches

    snap = anvil.snapshot()
    try:
        yield
    finally:
        anvil.revert(snap)
        reset_nonce_caches()
        clear_terms_cache()


@pytest.fixture(scope="session")
def honest() -> RunResult:
    return run_spec(SPEC)


@dataclass
class Table:
    """One deployment (one k) seen by every party; helpers to open games and play them to the end."""

    anvil: AnvilProcess
    deployment: Deployment
    cast: Cast
    k: int
    ledger: Ledger = field(init=False)
    before: Snapshot = field(init=False)

    def __post_init__(self) -> None:
        c = self.cast
        self.ledger = Ledger(self.anvil.rpc_url, self.deployment, {
            "client": c.client.address, "provider": c.provider.address, "verifier": c.verifier.address,
            "sock": c.sock.address, "liar_verifier": c.liar_verifier.address, "referee": c.referee.address,
            "treasury": c.treasury.address,
        })
        self.before = self.ledger.snapshot()

    def market(self, who: DevAccount) -> JobMarket:
        return JobMarket.connect(self.deployment, self.anvil.rpc_url, who.private_key)

    def stake(self, who: DevAccount) -> StakeManager:
        return StakeManager.connect(self.deployment, self.anvil.rpc_url, who.private_key)

    def game(self, who: DevAccount) -> DisputeGame:
        return DisputeGame.connect(self.deployment, self.anvil.rpc_url, who.private_key)

    def submitted_job(self, root: bytes, final_model_hash: bytes, n_ops: int,
                      provider: DevAccount | None = None) -> int:
        """Stake, post (the real spec's hash), assign, accept and submit (`root`, `final_model_hash`)."""
        provider = provider or self.cast.provider
        self.stake(provider).stake(STAKE)
        cid = self.market(self.cast.client).post_job(
            spec_hash=SPEC_HASH, num_steps=SPEC["steps"], checkpoint_every=SPEC["checkpoint_every"],
            ops_per_step=n_ops, collateral=COLLATERAL, deadline=self.anvil.timestamp() + 3600, price=PRICE,
        ).job_id
        self.market(self.cast.matcher).assign(cid, provider.address)
        self.market(provider).accept(cid)
        self.market(provider).submit_result(cid, root, final_model_hash)
        return cid

    def challenge(self, cid: int, root: bytes, who: DevAccount | None = None) -> int:
        r = self.market(who or self.cast.verifier).challenge(cid, root)
        return int(r.event("JobChallenged").args["gameId"])

    def referee(self, *providers: Callable) -> Referee:
        return Referee(self.game(self.cast.referee), VerdeOracle(SPEC, list(providers)))

    def play(self, gid: int, players: list, referee: Referee | None, *, stall_after: int | None = None,
             max_ticks: int = 400) -> GameOutcome:
        """Ticks every player (and the referee) until the game settles. After `stall_after` quiet ticks the chain
        clock jumps past every deadline, so a silent party (or referee) loses by the clock."""
        quiet = 0
        g = self.game(self.cast.client)
        for _ in range(max_ticks):
            moved = False
            for p in players:
                moved |= p.tick().value in ("moved", "timed_out")
            if referee is not None:
                moved |= referee.step(gid)
            st = g.state(gid)
            if st.settled:
                return st.outcome
            quiet = 0 if moved else quiet + 1
            if stall_after is not None and quiet >= stall_after:
                cfg = g.config()
                self.anvil.increase_time(max(cfg.move_timeout, cfg.referee_timeout) + 1)
                quiet = 0
        raise AssertionError(f"game {gid} did not settle: {g.state(gid)}")

    def finish(self, cid: int) -> None:
        """Lets the job's challenge window pass and finalizes it if it still waits to be paid."""
        m = self.market(self.cast.client)
        if m.status(cid) == JobStatus.SUBMITTED:
            self.anvil.increase_time(m.params().challenge_window + 1)
            m.finalize(cid)

    def net(self) -> dict[str, int]:
        """Each party's change in wei since the table was set (gas added back)."""
        return self.ledger.net_changes(self.before, self.ledger.snapshot())

    def assert_conserved(self) -> None:
        after = self.ledger.snapshot()
        assert self.ledger.unaccounted(self.before, after) == 0, "wei entered or left the contracts unexplained"
        assert self.ledger.liabilities_gap(after) == 0, "the contracts hold wei nobody can claim (or owe more)"

    def assert_honest_whole(self, *honest: str, liars: tuple[str, ...] = ()) -> dict[str, int]:
        net = self.net()
        for name in honest:
            assert net[name] >= 0, f"honest {name} lost {-net[name]} wei: {net}"
        for name in liars:
            assert net[name] <= 0, f"liar {name} gained {net[name]} wei: {net}"
        return net


@pytest.fixture(params=KS, ids=lambda k: f"k{k}")
def table(request, anvil: AnvilProcess, deployments: dict[int, Deployment], cast: Cast) -> Table:
    return Table(anvil, deployments[request.param], cast, request.param)


@pytest.fixture(params=(2, 8), ids=lambda k: f"k{k}")
def table_ends(request, anvil: AnvilProcess, deployments: dict[int, Deployment], cast: Cast) -> Table:
    """The two ends of k only: plain bisection (most rounds) and the production default."""
    return Table(anvil, deployments[request.param], cast, request.param)


@pytest.fixture()
def table8(anvil: AnvilProcess, deployments: dict[int, Deployment], cast: Cast) -> Table:
    """The production k only (for liars whose strategy does not depend on k)."""
    return Table(anvil, deployments[8], cast, 8)


def player(table: Table, who: DevAccount, gid: int, trace, board=None, label: str = "party") -> GamePlayer:
    return GamePlayer(table.game(who), gid, trace, board, label=label)


def draws(seed: int, n: int, steps: int, n_ops: int) -> list[tuple[int, int]]:
    """`n` seeded (step, op) fault positions, reproducible run to run."""
    rng = random.Random(seed)
    return [(rng.randint(1, steps), rng.randint(1, n_ops)) for _ in range(n)]
