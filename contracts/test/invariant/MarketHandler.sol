// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../base/TestBase.sol";
import {StubGame} from "../base/MarketFixture.sol";
import {JobMarket} from "../../src/JobMarket.sol";
import {StakeManager} from "../../src/StakeManager.sol";
import {IJobMarket} from "../../src/interfaces/IJobMarket.sol";
import {IDisputeSettlement} from "../../src/interfaces/IDisputeSettlement.sol";

/// @notice Drives JobMarket + StakeManager through random lifecycles and keeps an independent model:
/// each job's status, the escrow, open bonds and every provider's locked collateral, plus ghost sums of all
/// ETH in and out of each contract, and a flag that trips if a wrong-role call ever succeeds.
contract MarketHandler is TestBase {
    JobMarket public immutable market;
    StakeManager public immutable sm;
    StubGame public immutable game;
    address public immutable matcher;
    address public immutable treasury;

    address[3] internal providers = [address(0x1001), address(0x1002), address(0x1003)];
    address[2] internal clients = [address(0x2001), address(0x2002)];
    address[2] internal challengers = [address(0x3001), address(0x3002)];
    address internal constant STRANGER = address(0x4001);

    struct ModelJob {
        IJobMarket.JobTerms terms;
        IJobMarket.Status status;
        address provider;
        uint256 openGames; // games on the current submission
    }

    /// @dev Every game the handler opened and has not settled: job index, bond, and the submission it judges.
    struct ModelGame {
        uint256 job;
        uint256 bond;
        uint256 epoch;
        bool settled;
    }

    ModelJob[] internal _jobs;
    mapping(uint256 => uint256) internal _epoch; // per job index: discarded submissions
    mapping(uint256 => ModelGame) internal _games; // by gameId
    uint256 internal _gameCount;
    uint256 public slashings; // results proven wrong (each must slash exactly once)

    // ghost sums
    uint256 public escrow; // prices of jobs not yet paid out or refunded
    uint256 public bonds; // bonds of Disputed jobs
    mapping(address => uint256) public lockedOf; // collateral of the provider's Running/Submitted/Disputed jobs
    uint256 public marketIn;
    uint256 public marketOut;
    uint256 public smIn;
    uint256 public smOut;
    mapping(address => uint256) public stakedIn; // per provider: stake deposited
    mapping(address => uint256) public unstakedOut; // per provider: unbonded stake withdrawn
    bool public wrongRoleSucceeded;
    bool public overdrawSucceeded;
    uint256 public calls;
    /// @dev How far lifecycles got (to check the campaign reaches the deep states, not just Open).
    mapping(IJobMarket.Status => uint256) public reached;

    constructor(JobMarket market_, StubGame game_, address matcher_, address treasury_) {
        market = market_;
        sm = StakeManager(address(market_.stakeManager()));
        game = game_;
        matcher = matcher_;
        treasury = treasury_;
    }

    // ------------------------------------------------------------------ views for the invariants

    function actors() public view returns (address[] memory a) {
        a = new address[](9);
        for (uint256 i; i < 3; ++i) {
            a[i] = providers[i];
        }
        a[3] = clients[0];
        a[4] = clients[1];
        a[5] = challengers[0];
        a[6] = challengers[1];
        a[7] = treasury;
        a[8] = STRANGER;
    }

    function providerAt(uint256 i) external view returns (address) {
        return providers[i];
    }

    function jobCount() external view returns (uint256) {
        return _jobs.length;
    }

    function modelStatus(uint256 i) external view returns (IJobMarket.Status) {
        return _jobs[i].status;
    }

    // ------------------------------------------------------------------ helpers

    function _job(uint256 seed) internal view returns (bool, uint256) {
        if (_jobs.length == 0) return (false, 0);
        return (true, seed % _jobs.length);
    }

    /// @dev Mostly a job in `want` (so lifecycles get deep), sometimes any job (so wrong-state calls happen too).
    function _job(uint256 seed, IJobMarket.Status want) internal view returns (bool, uint256) {
        uint256 n = _jobs.length;
        if (n == 0) return (false, 0);
        if (seed % 4 != 0) {
            for (uint256 k; k < n; ++k) {
                uint256 i = (seed % n + k) % n;
                if (_jobs[i].status == want) return (true, i);
            }
        }
        return (true, seed % n);
    }

    function _id(uint256 i) internal pure returns (uint256) {
        return i + 1; // job ids start at 1 and the handler is the only poster
    }

    function _live(IJobMarket.Status s) internal pure returns (bool) {
        return s == IJobMarket.Status.Running || s == IJobMarket.Status.Submitted || s == IJobMarket.Status.Disputed;
    }

    // ------------------------------------------------------------------ staking

    function stake(uint256 p, uint256 amount) external {
        calls++;
        address who = providers[p % 3];
        amount = bound(amount, 1, 20 ether);
        vm.deal(who, who.balance + amount);
        vm.prank(who);
        sm.stake{value: amount}();
        smIn += amount;
        stakedIn[who] += amount;
    }

    function requestUnstake(uint256 p, uint256 amount) external {
        calls++;
        address who = providers[p % 3];
        uint256 free = sm.freeStakeOf(who);
        if (free == 0) return;
        amount = bound(amount, 1, free);
        vm.prank(who);
        sm.requestUnstake(amount);
    }

    /// @dev A provider asking for more than its free stake (e.g. its locked collateral) must always fail.
    function overdraw(uint256 p, uint256 extra) external {
        calls++;
        address who = providers[p % 3];
        uint256 ask = sm.freeStakeOf(who) + bound(extra, 1, 100 ether);
        vm.prank(who);
        try sm.requestUnstake(ask) {
            overdrawSucceeded = true;
        } catch {}
    }

    function withdrawUnstaked(uint256 p) external {
        calls++;
        address who = providers[p % 3];
        (uint256 u, uint256 r) = sm.unbondingOf(who);
        if (u == 0 || block.timestamp < r) return;
        vm.prank(who);
        sm.withdrawUnstaked();
        smOut += u;
        unstakedOut[who] += u;
    }

    function withdrawCredit(uint256 a) external {
        calls++;
        address who = actors()[a % 9];
        uint256 c = sm.creditOf(who);
        if (c == 0) return;
        vm.prank(who);
        sm.withdrawCredit();
        smOut += c;
    }

    function withdraw(uint256 a) external {
        calls++;
        address who = actors()[a % 9];
        uint256 c = market.creditOf(who);
        if (c == 0) return;
        vm.prank(who);
        market.withdraw();
        marketOut += c;
    }

    // ------------------------------------------------------------------ lifecycle

    function post(uint256 c, uint256 price, uint256 collGwei, uint256 life) external {
        calls++;
        address who = clients[c % 2];
        uint96 p = uint96(bound(price, 1, 10 ether));
        uint96 coll = uint96(bound(collGwei, 0.01 ether / 1e9, 8 ether / 1e9) * 1e9);
        uint40 deadline = uint40(block.timestamp + bound(life, 1, 400));
        vm.deal(who, who.balance + p);
        vm.prank(who);
        uint256 id = market.postJob{value: p}(keccak256("spec"), 10, 3, 4, coll, deadline);
        IJobMarket.JobTerms memory t = IJobMarket.JobTerms(who, p, keccak256("spec"), 10, 3, 4, coll, deadline);
        _jobs.push(ModelJob(t, IJobMarket.Status.Open, address(0), 0));
        assertEq(id, _jobs.length, "ids are sequential");
        marketIn += p;
        escrow += p;
    }

    function assign(uint256 j, uint256 p) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Open);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        address who = providers[p % 3];
        vm.prank(matcher);
        try market.assign(_id(i), m.terms, who) {
            assertTrue(m.status == IJobMarket.Status.Open, "assign only from Open");
            m.status = IJobMarket.Status.Assigned;
            m.provider = who;
        } catch {}
    }

    function accept(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Assigned);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        vm.prank(m.provider == address(0) ? STRANGER : m.provider);
        try market.accept(_id(i)) {
            assertTrue(m.status == IJobMarket.Status.Assigned, "accept only from Assigned");
            m.status = IJobMarket.Status.Running;
            lockedOf[m.provider] += m.terms.collateral;
        } catch {}
    }

    function submit(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Running);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        vm.prank(m.provider == address(0) ? STRANGER : m.provider);
        try market.submitResult(_id(i), m.terms, keccak256("trace"), keccak256("model"), 10) {
            assertTrue(m.status == IJobMarket.Status.Running, "submit only from Running");
            m.status = IJobMarket.Status.Submitted;
        } catch {}
    }

    function finalize(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Submitted);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        try market.finalize(_id(i), m.terms, keccak256("trace"), keccak256("model")) {
            assertTrue(m.status == IJobMarket.Status.Submitted, "finalize only from Submitted");
            m.status = IJobMarket.Status.Finalized;
            reached[IJobMarket.Status.Finalized]++;
            escrow -= m.terms.price;
            lockedOf[m.provider] -= m.terms.collateral;
            // the payout (price − fee) moved to StakeManager
            uint256 fee = uint256(m.terms.price) * market.params().protocolFeeBps / 10_000;
            marketOut += m.terms.price - fee;
            smIn += m.terms.price - fee;
        } catch {}
    }

    function cancel(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        vm.prank(m.terms.client);
        try market.cancel(_id(i), m.terms) {
            assertTrue(
                m.status == IJobMarket.Status.Open || m.status == IJobMarket.Status.Assigned, "cancel before accept"
            );
            m.status = IJobMarket.Status.Cancelled;
            escrow -= m.terms.price;
        } catch {}
    }

    function expire(uint256 j) external {
        calls++;
        IJobMarket.Status[3] memory wants =
            [IJobMarket.Status.Running, IJobMarket.Status.Assigned, IJobMarket.Status.Open];
        (bool ok, uint256 i) = _job(j, wants[(j >> 8) % 3]);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        try market.expire(_id(i), m.terms) {
            if (block.timestamp > m.terms.deadline) {
                if (m.status == IJobMarket.Status.Running) {
                    lockedOf[m.provider] -= m.terms.collateral;
                    reached[IJobMarket.Status.Expired]++;
                }
                assertTrue(m.status <= IJobMarket.Status.Running, "expire before submit only");
                m.status = IJobMarket.Status.Expired;
                escrow -= m.terms.price;
            } else {
                assertTrue(m.status == IJobMarket.Status.Assigned, "reopen only an assignment");
                m.status = IJobMarket.Status.Open;
                m.provider = address(0);
            }
        } catch {}
    }

    function challenge(uint256 j, uint256 x) external {
        calls++;
        if (x % 3 != 0) return; // most results go unchallenged, so finalize gets its turn
        IJobMarket.Status want = (x >> 8) % 2 == 0 ? IJobMarket.Status.Submitted : IJobMarket.Status.Disputed;
        (bool ok, uint256 i) = _job(j, want);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        address who = challengers[x % 2];
        uint256 bond = market.bondFor(m.terms);
        vm.deal(who, who.balance + bond);
        vm.prank(who);
        try market.challenge{value: bond}(
            _id(i), m.terms, keccak256("trace"), keccak256("model"), keccak256("x")
        ) returns (
            uint256 gameId
        ) {
            assertTrue(
                m.status == IJobMarket.Status.Submitted || m.status == IJobMarket.Status.Disputed,
                "challenge only a Submitted / Disputed job"
            );
            m.status = IJobMarket.Status.Disputed;
            m.openGames++;
            reached[IJobMarket.Status.Disputed]++;
            _games[gameId] = ModelGame(i, bond, _epoch[i], false);
            _gameCount = gameId;
            marketIn += bond;
            bonds += bond;
        } catch {}
    }

    function settle(uint256 g, uint256 o) external {
        calls++;
        if (_gameCount == 0) return;
        uint256 gameId = g % _gameCount + 1;
        ModelGame storage mg = _games[gameId];
        if (mg.settled) return;
        mg.settled = true;
        ModelJob storage m = _jobs[mg.job];
        IDisputeSettlement.Outcome outcome = IDisputeSettlement.Outcome(bound(o, 1, 4));
        bool live = mg.epoch == _epoch[mg.job] && m.status == IJobMarket.Status.Disputed;
        uint256 slashed = game.settle(gameId, outcome);
        bonds -= mg.bond;
        if (!live) {
            assertEq(slashed, 0, "a moot game never slashes");
            return; // bond credited back in full (a market credit)
        }
        if (outcome == IDisputeSettlement.Outcome.DefenderWins) {
            uint256 cut = mg.bond * market.disputeCutBps() / 10_000;
            marketOut += mg.bond - cut;
            smIn += mg.bond - cut;
            m.openGames--;
            if (m.openGames == 0) m.status = IJobMarket.Status.Submitted;
            assertEq(slashed, 0, "no slash for the defender");
            return;
        }
        _epoch[mg.job]++;
        m.openGames = 0;
        lockedOf[m.provider] -= m.terms.collateral; // unlocked (Void) or slashed (failed)
        if (outcome == IDisputeSettlement.Outcome.Void) {
            m.status = IJobMarket.Status.Open;
            m.provider = address(0);
            assertEq(slashed, 0, "a void slashes nobody");
        } else {
            reached[IJobMarket.Status.Failed]++;
            escrow -= m.terms.price;
            m.status = IJobMarket.Status.Failed;
            slashings++;
            assertEq(slashed, m.terms.collateral, "the collateral is slashed exactly once, in full");
        }
    }

    // ------------------------------------------------------------------ liveness

    function heartbeat(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Running);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        vm.prank(m.provider == address(0) ? STRANGER : m.provider);
        try market.heartbeat(_id(i), 1, keccak256("ckpt")) {
            assertTrue(m.status == IJobMarket.Status.Running, "heartbeat only while Running");
        } catch {}
    }

    function reclaimStalled(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Running);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        try market.reclaimStalled(_id(i), m.terms) {
            assertTrue(m.status == IJobMarket.Status.Running, "reclaim only a Running job");
            lockedOf[m.provider] -= m.terms.collateral; // forfeited part to the client, the rest unlocked
            m.status = IJobMarket.Status.Open;
            m.provider = address(0);
        } catch {}
    }

    function abandon(uint256 j) external {
        calls++;
        (bool ok, uint256 i) = _job(j, IJobMarket.Status.Running);
        if (!ok) return;
        ModelJob storage m = _jobs[i];
        vm.prank(m.provider == address(0) ? STRANGER : m.provider);
        try market.abandon(_id(i), m.terms, bytes32("bad-input")) {
            assertTrue(m.status == IJobMarket.Status.Running, "abandon only a Running job");
            lockedOf[m.provider] -= m.terms.collateral;
            m.status = IJobMarket.Status.Open;
            m.provider = address(0);
        } catch {}
    }

    function warp(uint256 dt) external {
        calls++;
        vm.warp(block.timestamp + bound(dt, 1, 200));
    }

    // ------------------------------------------------------------------ wrong roles: must never succeed

    function strangerAssigns(uint256 j, uint256 a) external {
        calls++;
        (bool ok, uint256 i) = _job(j);
        if (!ok) return;
        address who = actors()[a % 9];
        if (who == matcher) return;
        vm.prank(who);
        try market.assign(_id(i), _jobs[i].terms, providers[0]) {
            wrongRoleSucceeded = true;
        } catch {}
    }

    function strangerMovesStake(uint256 a, uint256 p, uint256 amount, uint256 which) external {
        calls++;
        address who = actors()[a % 9];
        address prov = providers[p % 3];
        amount = bound(amount, 0, 10 ether);
        vm.startPrank(who);
        which = which % 4;
        if (which == 0) {
            try sm.lock(prov, amount) {
                wrongRoleSucceeded = true;
            } catch {}
        } else if (which == 1) {
            try sm.unlock(prov, amount) {
                wrongRoleSucceeded = true;
            } catch {}
        } else if (which == 2) {
            try sm.slash(prov, amount, who) {
                wrongRoleSucceeded = true;
            } catch {}
        } else {
            try sm.forfeit(prov, amount, who) {
                wrongRoleSucceeded = true;
            } catch {}
        }
        vm.stopPrank();
    }

    function strangerSettles(uint256 j, uint256 a, uint256 o) external {
        calls++;
        (bool ok, uint256 i) = _job(j);
        if (!ok) return;
        address who = actors()[a % 9];
        vm.prank(who);
        try market.onDisputeSettled(i + 1, IDisputeSettlement.Outcome(bound(o, 1, 5))) {
            wrongRoleSucceeded = true;
        } catch {}
    }
}
