// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DisputeGameWorld} from "./DisputeGameWorld.t.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Game} from "../src/libraries/Game.sol";
import {IJobMarket} from "../src/interfaces/IJobMarket.sol";
import {IDisputeSettlement} from "../src/interfaces/IDisputeSettlement.sol";

/// @notice DisputeGame against the real StakeManager + JobMarket: honest parties win, clocks, settle-once, money.
contract DisputeGameTest is DisputeGameWorld {
    uint256[5] internal KS = [uint256(2), 3, 4, 8, 16];

    function _shape(uint256 s, uint256 c, uint256 n) internal {
        S = s;
        C = c;
        N = n;
    }

    /// @dev Honest outcome, to the wei, on both contracts.
    function _assertHonestWon(bool liarIsDefender, IDisputeSettlement.Outcome o) internal {
        assertEq(address(game).balance, 0, "game holds no ether");
        if (!liarIsDefender && o == IDisputeSettlement.Outcome.DefenderWins) _finalizeAfterWindow(1);
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "collateral released or slashed");
        if (liarIsDefender) {
            assertEq(uint256(o), uint256(IDisputeSettlement.Outcome.ChallengerWins), "outcome");
            uint256 reward = (uint256(COLLATERAL) * REWARD_BPS) / 10_000;
            assertEq(sm.creditOf(CHALLENGER), reward, "challenger reward");
            assertEq(sm.creditOf(TREASURY), COLLATERAL - reward, "treasury share");
            assertEq(sm.freeStakeOf(PROVIDER), 10 ether - COLLATERAL, "defender slashed");
            assertEq(market.creditOf(CLIENT), PRICE, "client refunded");
            assertEq(market.creditOf(CHALLENGER), BOND, "bond back");
            assertEq(uint256(market.jobStatus(1)), uint256(IJobMarket.Status.Failed), "job failed");
        } else {
            assertEq(uint256(o), uint256(IDisputeSettlement.Outcome.DefenderWins), "outcome");
            assertEq(sm.freeStakeOf(PROVIDER), 10 ether, "defender whole");
            assertEq(sm.creditOf(CHALLENGER), 0, "no reward");
            uint256 fee = (uint256(PRICE) * 250) / 10_000;
            uint256 cut = (uint256(BOND) * 1000) / 10_000;
            // The payout may be credited by either contract (JobMarket may route it through StakeManager.release).
            assertEq(market.creditOf(PROVIDER) + sm.creditOf(PROVIDER), PRICE - fee + BOND - cut, "provider paid + bond");
            assertEq(market.creditOf(CHALLENGER), 0, "bond lost");
            assertEq(uint256(market.jobStatus(1)), uint256(IJobMarket.Status.Finalized), "job finalized");
        }
    }

    function _setParties(bool liarIsDefender, uint256 f, uint256 j, uint8 strategy, uint256 at) internal {
        Party memory honest = _party(liarIsDefender ? CHALLENGER : PROVIDER, 0, 0, bytes32(0));
        Party memory liar = _party(liarIsDefender ? PROVIDER : CHALLENGER, f, j, keccak256(abi.encode(f, j, at)));
        liar.strategy = strategy;
        liar.at = at;
        if (strategy == FABRICATE) liar.fabFrom = uint8(at % 2 + 1);
        if (strategy == BAD_INIT) liar.badInit = true;
        if (liarIsDefender) {
            pd = liar;
            pc = honest;
        } else {
            pd = honest;
            pc = liar;
        }
    }

    // ------------------------------------------------------------------ the honest party wins

    function testFuzz_play_honestWins(
        uint256 s,
        uint256 c,
        uint256 n,
        uint256 kIdx,
        uint256 f,
        uint256 j,
        bool liarIsDefender,
        uint8 strategy,
        uint256 at,
        bool challengerFirst
    ) public {
        s = bound(s, 1, 48);
        _shape(s, bound(c, 1, s), bound(n, 1, 12));
        _deploy(KS[kIdx % KS.length]);
        _setParties(liarIsDefender, bound(f, 1, S), bound(j, 1, N), strategy % STRATEGIES, bound(at, 0, 30));
        (, uint256 id,) = _openGame();
        IDisputeSettlement.Outcome o = _play(id, challengerFirst);
        _assertHonestWon(liarIsDefender, o);
    }

    /// @dev The issue's divergence positions, at the sizes the contract sees in production (small N).
    function test_play_findsInjectedStepAndOp() public {
        _shape(40, 8, 10);
        _deploy(2);
        _setParties(true, 27, 6, HONEST, 0);
        (, uint256 id,) = _openGame();
        // Play until the referee is asked, then check the game pinned exactly (step 27, op 6).
        for (uint256 guard; guard < 200 && _st(id).phase != Game.Phase.Referee; ++guard) {
            _act(id, pd);
            _act(id, pc);
        }
        Game.State memory g = _st(id);
        assertEq(uint256(g.level), 2, "op level");
        assertEq(uint256(g.index), 27, "step");
        assertEq(uint256(g.hi), 6, "op");
        assertEq(g.hiChallenger, keccak256(abi.encode("good", uint256(27), uint256(6))), "honest claim");
        assertEq(uint256(_play(id, false)), uint256(IDisputeSettlement.Outcome.ChallengerWins));
    }

    function test_play_faultInLastOp_comparesStateHash() public {
        _shape(10, 3, 5);
        _deploy(4);
        _setParties(false, 10, 5, HONEST, 0);
        (, uint256 id,) = _openGame();
        _assertHonestWon(false, _play(id, true));
    }

    function test_play_bothLie_bothLose() public {
        _shape(16, 4, 6);
        _deploy(2);
        pd = _party(PROVIDER, 5, 3, keccak256("d"));
        pc = _party(CHALLENGER, 5, 3, keccak256("c"));
        (, uint256 id,) = _openGame();
        assertEq(uint256(_play(id, false)), uint256(IDisputeSettlement.Outcome.BothLose));
        assertEq(sm.creditOf(TREASURY), COLLATERAL, "all collateral to treasury");
        assertEq(market.creditOf(CLIENT), PRICE, "client refunded");
        assertEq(address(game).balance, 0);
    }

    // ------------------------------------------------------------------ clocks

    function test_timeout_silentDefenderLoses() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 3, 2, SILENT, 3);
        (, uint256 id,) = _openGame();
        _assertHonestWon(true, _play(id, false));
    }

    function test_timeout_honestSilentLoses() public {
        // A party that stops answering loses, even with the true trace.
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 3, 2, HONEST, 0);
        pc.strategy = SILENT;
        pc.at = 2;
        (, uint256 id,) = _openGame();
        assertEq(uint256(_play(id, false)), uint256(IDisputeSettlement.Outcome.DefenderWins));
    }

    function test_timeout_bothSilent_bothLose() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 3, 2, HONEST, 0);
        (, uint256 id,) = _openGame();
        vm.warp(block.timestamp + CLOCK);
        game.timeout(id);
        assertEq(uint256(_st(id).outcome), uint256(IDisputeSettlement.Outcome.BothLose));
    }

    function test_timeout_beforeDeadline_reverts() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 3, 2, HONEST, 0);
        (, uint256 id,) = _openGame();
        vm.expectPartialRevert(Game.DeadlineNotPassed.selector);
        game.timeout(id);
    }

    function test_move_afterDeadline_reverts() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 3, 2, HONEST, 0);
        (, uint256 id,) = _openGame();
        vm.warp(block.timestamp + CLOCK);
        vm.expectPartialRevert(Game.DeadlinePassed.selector);
        this.actExternal(id, true);
    }

    function actExternal(uint256 id, bool defender) external {
        _act(id, defender ? pd : pc);
    }

    function _toReferee(uint256 id) internal {
        for (uint256 guard; guard < 200 && _st(id).phase != Game.Phase.Referee; ++guard) {
            _act(id, pd);
            _act(id, pc);
        }
        assertEq(uint256(_st(id).phase), uint256(Game.Phase.Referee), "reached referee");
    }

    function test_timeout_refereeMiss_voids() public {
        _shape(16, 4, 6);
        _deploy(4);
        _setParties(true, 7, 4, HONEST, 0);
        (uint256 jobId, uint256 id,) = _openGame();
        _toReferee(id);
        vm.warp(_st(id).deadline);
        game.timeout(id);
        assertEq(uint256(_st(id).outcome), uint256(IDisputeSettlement.Outcome.Void));
        assertEq(sm.freeStakeOf(PROVIDER), 10 ether, "nothing slashed");
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "collateral unlocked");
        assertEq(market.creditOf(CHALLENGER), BOND, "bond back");
        assertEq(uint256(market.jobStatus(jobId)), uint256(IJobMarket.Status.Open), "job reopened");
    }

    // ------------------------------------------------------------------ roles, once

    function test_rule_onlyReferee() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 7, 4, HONEST, 0);
        (, uint256 id,) = _openGame();
        _toReferee(id);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotReferee.selector, CHALLENGER));
        vm.prank(CHALLENGER);
        game.rule(id, keccak256(abi.encode("good", uint256(7), uint256(4))));
    }

    function test_rule_beforeReveals_reverts() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 7, 4, HONEST, 0);
        (, uint256 id,) = _openGame();
        vm.expectPartialRevert(Game.WrongPhase.selector);
        vm.prank(REFEREE);
        game.rule(id, bytes32(0));
    }

    function test_settle_onlyOnce() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 7, 4, HONEST, 0);
        (, uint256 id,) = _openGame();
        _play(id, false);
        vm.expectPartialRevert(Game.WrongPhase.selector);
        vm.prank(REFEREE);
        game.rule(id, bytes32(0));
        vm.warp(block.timestamp + 1 days);
        vm.expectPartialRevert(Game.WrongPhase.selector);
        game.timeout(id);
        vm.expectPartialRevert(Game.WrongPhase.selector);
        vm.prank(PROVIDER);
        game.revealOutput(id, bytes32(0));
    }

    function test_open_onlyMarket() public {
        _shape(16, 4, 6);
        _deploy(2);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.NotMarket.selector, address(this)));
        game.open(1, PROVIDER, CHALLENGER, bytes32(uint256(1)), bytes32(uint256(2)), bytes32(0), 16, 4, 6, 1);
    }

    function test_move_byOutsider_reverts() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 7, 4, HONEST, 0);
        (, uint256 id,) = _openGame();
        bytes32[] memory none = new bytes32[](0);
        vm.expectRevert(abi.encodeWithSelector(Game.NotParty.selector, REFEREE));
        vm.prank(REFEREE);
        game.reveal(id, none, none, none);
    }

    function test_moves_k2_withinBound() public {
        // S = 64, C = 8, N = 16 at k = 2: moves per party <= ceil(log2 S) + ceil(log2 N) + 4.
        _shape(64, 8, 16);
        _deploy(2);
        _setParties(true, 37, 11, HONEST, 0);
        (, uint256 id,) = _openGame();
        _play(id, false);
        assertLe(pd.moves, 6 + 4 + 4, "defender moves");
        assertLe(pc.moves, 6 + 4 + 4, "challenger moves");
    }

    // ------------------------------------------------------------------ multicall

    function test_multicall_closesRoundAndOpensNext() public {
        _shape(64, 8, 16);
        _deploy(4);
        _setParties(true, 37, 11, HONEST, 0);
        (, uint256 id,) = _openGame();
        _act(id, pd); // the defender opens round 1
        bytes memory close = _revealCall(id, pc);
        // Learn the next round's reveal by closing once on a snapshot, then batch both for real.
        uint256 snap = vm.snapshotState();
        vm.prank(CHALLENGER);
        (bool ok,) = address(game).call(close);
        assertTrue(ok, "close");
        Game.State memory closed = _st(id);
        bytes memory open = _revealCall(id, pc);
        vm.revertToState(snap);
        bytes[] memory calls = new bytes[](2);
        calls[0] = close;
        calls[1] = open;
        vm.prank(CHALLENGER);
        game.multicall(calls);
        Game.State memory g = _st(id);
        assertEq(uint256(g.lo), uint256(closed.lo), "narrowed like a single close");
        assertEq(uint256(g.hi), uint256(closed.hi));
        assertEq(uint256(g.moved), 2, "challenger already opened the next round");
        assertTrue(g.hi - g.lo < 8, "interval shrank");
    }

    function test_multicall_keepsSender() public {
        _shape(16, 4, 6);
        _deploy(2);
        _setParties(true, 7, 4, HONEST, 0);
        (, uint256 id,) = _openGame();
        bytes[] memory calls = new bytes[](1);
        calls[0] = _revealCall(id, pc);
        vm.expectRevert(abi.encodeWithSelector(Game.NotParty.selector, REFEREE));
        vm.prank(REFEREE);
        game.multicall(calls);
    }
}
