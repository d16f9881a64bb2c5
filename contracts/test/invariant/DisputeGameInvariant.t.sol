// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../base/TestBase.sol";
import {DisputeGameWorld} from "../DisputeGameWorld.t.sol";
import {Game} from "../../src/libraries/Game.sol";
import {IJobMarket} from "../../src/interfaces/IJobMarket.sol";
import {IDisputeSettlement} from "../../src/interfaces/IDisputeSettlement.sol";

/// @notice Fuzzes the lying strategy of either side over every phase, one move per call, with parallel games on
/// one result: a job is run, its result challenged (by the honest verifier when the provider lies, by lying keys
/// when it does not — the provider's own second key included), and the fuzzer picks which game moves, who moves,
/// when time passes, whether the referee answers, when moot games are ended and when the result is finalized.
/// Honest parties are prompt (they answer before any time passes); liars pick any strategy of the world.
contract DisputeGameHandler is DisputeGameWorld {
    address internal constant SYBIL = address(0x5B1); // the provider's second key
    address internal constant LIAR2 = address(0x1A2); // another lying challenger
    address[7] internal actors = [CLIENT, PROVIDER, CHALLENGER, TREASURY, REFEREE, SYBIL, LIAR2];

    uint256 public totalEther; // ghost: all ether the system and its actors hold, fixed at deployment
    uint256 public stakeStart; // the provider's stake at deployment
    uint256 public slashedExpected; // collateral of every job that ended Failed (each slashes exactly once)
    uint256 public openBonds; // ghost: bonds of games the market has not settled
    mapping(address => uint256) public bondOf; // per challenger: its unsettled bonds
    mapping(address => uint256) public startWealth;
    bool public providerLies;
    bool public refereeSilent;
    uint256 public jobs;
    uint256 public finalized; // results paid (the client got the model it paid for)
    uint256 public settledGames;

    uint256 internal job; // the current job (0: none yet)
    uint256[] internal gameIds; // games of the current job
    mapping(uint256 gameId => Party) internal cp; // each game's challenger
    mapping(uint256 gameId => bool) internal counted; // its settlement already booked in the ghosts
    bytes32 internal root;
    bool internal failedBooked;
    uint256 public providerAtJobStart; // wealth of the provider and of its second key when the current job began
    uint256 public sybilAtJobStart;

    constructor() {
        S = 8;
        C = 2;
        N = 3;
        _deploy(2);
        vm.deal(PROVIDER, 100 ether);
        vm.prank(PROVIDER);
        sm.stake{value: 40 ether}();
        for (uint256 i; i < actors.length; ++i) vm.deal(actors[i], actors[i].balance + 50 ether);
        (uint256 u,) = sm.unbondingOf(PROVIDER);
        stakeStart = sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER) + u;
        totalEther = _held();
        for (uint256 i; i < actors.length; ++i) startWealth[actors[i]] = wealth(actors[i]);
        providerAtJobStart = wealth(PROVIDER);
        sybilAtJobStart = wealth(SYBIL);
    }

    // ------------------------------------------------------------------ ghosts

    function _held() internal view returns (uint256 t) {
        t = address(sm).balance + address(market).balance + address(game).balance;
        for (uint256 i; i < actors.length; ++i) t += actors[i].balance;
    }

    function heldNow() external view returns (uint256) {
        return _held();
    }

    /// @dev Everything `a` can call its own: wallet, credits, stake, unsettled bonds, and (client) live escrow.
    function wealth(address a) public view returns (uint256 w) {
        w = a.balance + market.creditOf(a) + sm.creditOf(a) + bondOf[a];
        (uint256 u,) = sm.unbondingOf(a);
        w += sm.freeStakeOf(a) + sm.lockedStakeOf(a) + u;
        if (a == CLIENT && job != 0) {
            IJobMarket.Status s = market.jobStatus(job);
            if (s != IJobMarket.Status.Failed && s != IJobMarket.Status.Finalized && s != IJobMarket.Status.Cancelled) {
                w += PRICE;
            }
        }
    }

    function providerStake() external view returns (uint256) {
        (uint256 u,) = sm.unbondingOf(PROVIDER);
        return sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER) + u;
    }

    function gameAddress() external view returns (address) {
        return address(game);
    }

    function marketAddress() external view returns (address) {
        return address(market);
    }

    function marketCredits() external view returns (uint256 t) {
        for (uint256 i; i < actors.length; ++i) t += market.creditOf(actors[i]);
    }

    function liveEscrow() external view returns (uint256) {
        if (job == 0) return 0;
        IJobMarket.Status s = market.jobStatus(job);
        if (s == IJobMarket.Status.Failed || s == IJobMarket.Status.Finalized || s == IJobMarket.Status.Cancelled) {
            return 0;
        }
        return PRICE;
    }

    function isHonest(address a) public view returns (bool) {
        if (a == PROVIDER) return !providerLies;
        // the honest verifier only ever challenges a wrong result, with the honest trace
        return a == CHALLENGER || a == CLIENT || a == TREASURY || a == REFEREE;
    }

    // ------------------------------------------------------------------ scenario

    function _jobOver() internal view returns (bool) {
        if (job == 0) return true;
        IJobMarket.Status s = market.jobStatus(job);
        if (s == IJobMarket.Status.Submitted || s == IJobMarket.Status.Disputed) return false;
        for (uint256 i; i < gameIds.length; ++i) {
            if (game.game(gameIds[i]).phase != Game.Phase.Settled) return false;
        }
        return true;
    }

    function _strategy(Party memory p, uint256 seed) internal pure returns (Party memory) {
        p.strategy = uint8(seed % STRATEGIES);
        p.at = (seed >> 8) % 12;
        if (p.strategy == FABRICATE) p.fabFrom = uint8(p.at % 2 + 1);
        if (p.strategy == BAD_INIT) p.badInit = true;
        return p;
    }

    /// @dev Runs a new job to Submitted and opens its first challenge.
    function newJob(uint256 seed) external {
        if (!_jobOver() || sm.freeStakeOf(PROVIDER) < COLLATERAL) return;
        // A voided job is Open again: its client takes the price back before the next job (so its wealth counts it).
        if (job != 0 && market.jobStatus(job) == IJobMarket.Status.Open) {
            vm.prank(CLIENT);
            market.cancel(job, jobTerms);
        }
        delete gameIds;
        failedBooked = false;
        providerLies = seed & 1 == 1;
        refereeSilent = (seed >> 1) % 8 == 0;
        uint256 f = bound(seed >> 16, 1, S);
        uint256 j = bound(seed >> 24, 1, N);
        if (providerLies) {
            pd = _strategy(_party(PROVIDER, f, j, keccak256(abi.encode("d", seed))), seed >> 32);
            if ((seed >> 48) % 5 == 0) pd.fakeFinal = true; // a model hash its final state does not hold
            if ((seed >> 52) % 5 == 0) {
                // honest ends, tampered interior, fake model hash (the right-model mirror is a unit test: there the
                // client gets what it paid for, and the honest verifier does not challenge)
                pd.endsHonest = true;
                pd.fakeFinal = true;
            }
        } else {
            pd = _party(PROVIDER, 0, 0, bytes32(0));
        }
        uint40 deadline = uint40(block.timestamp + 30 days);
        vm.prank(CLIENT);
        job = market.postJob{value: PRICE}(keccak256("spec"), uint32(S), uint32(C), uint32(N), COLLATERAL, deadline);
        jobTerms = IJobMarket.JobTerms(CLIENT, PRICE, keccak256("spec"), uint32(S), uint32(C), uint32(N), COLLATERAL, deadline);
        vm.prank(MATCHER);
        market.assign(job, jobTerms, PROVIDER);
        vm.prank(PROVIDER);
        market.accept(job);
        root = _root(_leaves(pd, 0, 0));
        submittedRoot = root;
        providerAtJobStart = wealth(PROVIDER);
        sybilAtJobStart = wealth(SYBIL);
        vm.prank(PROVIDER);
        market.submitResult(job, jobTerms, root, _reportedModel(), uint32(S));
        jobs++;
        // A result that is wrong (wrong trace or wrong model) is challenged by the honest verifier; an honest one only
        // by liars. The honest verifier does not challenge a right model (PROTOCOL §7): endsHonest with the right
        // model hash is such a result.
        if (providerLies) _challenge(_party(CHALLENGER, 0, 0, bytes32(0)));
        else _challenge(_strategy(_party(LIAR2, f, j, keccak256(abi.encode("c", seed))), seed >> 40));
    }

    function _challenge(Party memory p) internal {
        bytes32 cRoot = _rootOf(p);
        uint256 bond = market.bondFor(jobTerms);
        vm.prank(p.addr);
        try market.challenge{value: bond}(job, jobTerms, root, _reportedModel(), cRoot) returns (uint256 id) {
            cp[id] = p;
            gameIds.push(id);
            openBonds += bond;
            bondOf[p.addr] += bond;
        } catch {}
    }

    function _rootOf(Party memory p) internal returns (bytes32) {
        Party storage tmp = cp[0];
        cp[0] = p;
        return _root(_leaves(tmp, 0, 0));
    }

    /// @dev Another challenge of the current result: the provider's second key (with the provider's own root, then
    /// silent or playing) or another liar; in the window, in any order.
    function extraChallenge(uint256 seed) external {
        if (job == 0 || gameIds.length >= 4) return;
        IJobMarket.Status s = market.jobStatus(job);
        if (s != IJobMarket.Status.Submitted && s != IJobMarket.Status.Disputed) return;
        if (seed & 1 == 0) {
            Party memory sybil = pd;
            sybil.addr = SYBIL;
            sybil.strategy = (seed >> 1) & 1 == 0 ? SILENT : HONEST;
            sybil.at = 0;
            sybil.moves = 0;
            _challenge(sybil);
        } else if (!providerLies) {
            // another liar against an honest result (against a lying one a "liar" may rightly win: not a lie)
            _challenge(
                _strategy(
                    _party(LIAR2, bound(seed >> 8, 1, S), bound(seed >> 16, 1, N), keccak256(abi.encode(seed))),
                    seed >> 24
                )
            );
        }
    }

    // ------------------------------------------------------------------ moves

    function _open(uint256 seed) internal view returns (bool, uint256) {
        uint256 n = gameIds.length;
        for (uint256 k; k < n; ++k) {
            uint256 id = gameIds[(seed % n + k) % n];
            if (game.game(id).phase != Game.Phase.Settled) return (true, id);
        }
        return (false, 0);
    }

    /// @dev One party of one open game makes its move (if its strategy lets it).
    function move(uint256 seed) external {
        (bool ok, uint256 id) = _open(seed);
        if (!ok) return;
        Game.State memory g = game.game(id);
        if (g.phase == Game.Phase.Referee) return;
        if (!market.challengeLive(address(game), id)) return; // moot games are ended, not played
        Party storage p = (seed >> 8) & 1 == 0 ? pd : cp[id];
        uint256 left = p.addr == PROVIDER ? g.clockDefender : g.clockChallenger;
        if (block.timestamp >= uint256(g.roundStart) + left) return; // its clock ran out: only timeout now
        _act(id, p);
        _book(id);
    }

    /// @dev Honest parties never let time pass while they owe a move.
    function _honestCatchUp() internal {
        for (uint256 i; i < gameIds.length; ++i) {
            uint256 id = gameIds[i];
            for (uint256 r; r < 4; ++r) {
                Game.State memory g = game.game(id);
                if (g.phase == Game.Phase.Settled || g.phase == Game.Phase.Referee) break;
                if (!market.challengeLive(address(game), id)) break;
                bool moved;
                if (isHonest(PROVIDER) && g.moved & 1 == 0) moved = _act(id, pd);
                else if (isHonest(cp[id].addr) && g.moved & 2 == 0) moved = _act(id, cp[id]);
                _book(id);
                if (!moved) break;
            }
            Game.State memory h = game.game(id);
            if (h.phase == Game.Phase.Referee && !refereeSilent) {
                bytes32 c = _correctHash(h);
                vm.prank(REFEREE);
                game.rule(id, c);
                _book(id);
            }
        }
    }

    /// @dev Time passes (honest parties having answered first); then anyone times out what has run out.
    function warp(uint256 dt) external {
        _honestCatchUp();
        vm.warp(block.timestamp + bound(dt, 1, CLOCK));
        for (uint256 i; i < gameIds.length; ++i) {
            uint256 id = gameIds[i];
            Game.State memory g = game.game(id);
            if (g.phase != Game.Phase.Settled && block.timestamp >= g.deadline) {
                game.timeout(id);
                _book(id);
            }
        }
    }

    function referee(uint256) external {
        _honestCatchUp();
    }

    /// @dev Anyone ends the moot games.
    function moot(uint256) external {
        for (uint256 i; i < gameIds.length; ++i) {
            uint256 id = gameIds[i];
            if (game.game(id).phase != Game.Phase.Settled && !market.challengeLive(address(game), id)) {
                game.moot(id);
                _book(id);
            }
        }
    }

    function finalize(uint256) external {
        if (job == 0 || market.jobStatus(job) != IJobMarket.Status.Submitted) return;
        vm.warp(block.timestamp + 601);
        market.finalize(job, jobTerms, root, _reportedModel());
        finalized++;
    }

    function withdrawAll() external {
        for (uint256 i; i < actors.length; ++i) {
            if (market.creditOf(actors[i]) != 0) {
                vm.prank(actors[i]);
                market.withdraw();
            }
            if (sm.creditOf(actors[i]) != 0) {
                vm.prank(actors[i]);
                sm.withdrawCredit();
            }
        }
    }

    /// @dev Books a settled game in the ghosts once (its bond is no longer the challenger's open bond).
    function _book(uint256 id) internal {
        if (counted[id] || game.game(id).phase != Game.Phase.Settled) return;
        counted[id] = true;
        settledGames++;
        uint256 bond = market.bondFor(jobTerms);
        openBonds -= bond;
        bondOf[cp[id].addr] -= bond;
        if (!failedBooked && market.jobStatus(job) == IJobMarket.Status.Failed) {
            failedBooked = true;
            slashedExpected += COLLATERAL;
        }
    }
}

/// @dev The issue's depth: 256 runs × 64 calls, every call one move or one step of time.
/// forge-config: default.invariant.runs = 256
/// forge-config: default.invariant.depth = 64
/// forge-config: default.invariant.fail-on-revert = true
contract DisputeGameInvariantTest is TestBase {
    DisputeGameHandler internal h;

    function setUp() public {
        h = new DisputeGameHandler();
        targetContract(address(h));
    }

    /// @dev One campaign checks every property after each call (each invariant_ function is its own campaign).
    function invariant_game() public view {
        // the honest parties' wealth never goes down
        // (the client paid the price of each model it received, nothing else)
        assertGe(h.wealth(CLIENT_) + h.finalized() * 1 ether, h.startWealth(CLIENT_), "the client lost wei");
        assertGe(h.wealth(VERIFIER), h.startWealth(VERIFIER), "the honest verifier lost wei");
        assertGe(h.wealth(REFEREE_), h.startWealth(REFEREE_), "the referee lost wei");
        if (h.providerLies()) {
            // a liar never ends with more than it started: the lying provider and its second key together
            assertLe(
                h.wealth(PROVIDER_) + h.wealth(SYBIL_), h.providerAtJobStart() + h.sybilAtJobStart(), "the liar gained"
            );
        } else {
            assertGe(h.wealth(PROVIDER_), h.providerAtJobStart(), "the honest provider lost wei");
            assertLe(h.wealth(SYBIL_), h.sybilAtJobStart(), "a key challenging an honest result gained");
        }
        assertLe(h.wealth(LIAR2_), h.startWealth(LIAR2_), "a lying challenger gained");
        // ether: nothing created or lost; the game holds none; the market holds exactly what it owes
        assertEq(h.heldNow(), h.totalEther(), "ether conserved");
        assertEq(h.gameAddress().balance, 0, "game holds no ether");
        assertEq(
            h.marketAddress().balance, h.liveEscrow() + h.openBonds() + h.marketCredits(), "market holds what it owes"
        );
        // no double slashing: the provider lost exactly the collateral of its failed jobs, once each
        assertEq(h.stakeStart() - h.providerStake(), h.slashedExpected(), "slashed once per failed job");
    }

    address internal constant CLIENT_ = address(0xC11E);
    address internal constant PROVIDER_ = address(0xB0B);
    address internal constant VERIFIER = address(0xCA11);
    address internal constant REFEREE_ = address(0x5EF);
    address internal constant SYBIL_ = address(0x5B1);
    address internal constant LIAR2_ = address(0x1A2);
}
