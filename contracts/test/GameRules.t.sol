// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DisputeGameWorld} from "./DisputeGameWorld.t.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Game} from "../src/libraries/Game.sol";
import {IJobMarket} from "../src/interfaces/IJobMarket.sol";
import {IDisputeSettlement} from "../src/interfaces/IDisputeSettlement.sol";

/// @notice The game's soundness rules against the real JobMarket + StakeManager: the final hash bound in the first
/// round (hole 2), chess clocks (hole 6), parallel games on one result (hole 1), treasury from the market (hole 5).
contract GameRulesTest is DisputeGameWorld {
    function setUp() public {
        vm.warp(1_000_000);
        S = 16;
        C = 4;
        N = 6;
        _deploy(4);
    }

    function _honestPair() internal {
        pd = _party(PROVIDER, 0, 0, bytes32(0));
        pc = _party(CHALLENGER, 0, 0, bytes32(0));
    }

    // ------------------------------------------------------------------ final binding (hole 2)

    /// @dev Regression (hole 2): honest ends L[0], L[S], a tampered interior leaf and a fake finalModelHash. On the old
    /// contracts the first round saw L[S] equal and ended DefenderWins: the honest challenger lost its bond. Now the
    /// defender cannot prove the fake hash is in its L[S], cannot move, and loses on its clock.
    function test_revealFirst_fakeFinalHashWithHonestEnds_defenderLoses() public {
        _honestPair();
        pd.faultStep = 7; // tampered interior (segment 1) ...
        pd.faultOp = 3;
        pd.salt = keccak256("interior");
        pd.fakeFinal = true; // ... and a made-up model hash
        // keep the liar's L[S] honest: its fault does not reach the end (S = 16 > 7), so make the end honest by hand
        (uint256 jobId, uint256 id) = _openHonestEnds();
        assertEq(uint256(_play(id, false)), uint256(IDisputeSettlement.Outcome.ChallengerWins), "defender loses");
        assertEq(uint256(market.jobStatus(jobId)), uint256(IJobMarket.Status.Failed));
        assertEq(market.creditOf(CHALLENGER), BOND, "honest bond back");
    }

    /// @dev Opens a game where the defender's L[0] and L[S] equal the challenger's but an interior segment leaf
    /// differs (the defender's trace is tampered inside only).
    function _openHonestEnds() internal returns (uint256 jobId, uint256 id) {
        pd.endsHonest = true;
        (jobId, id,) = _openGame();
        Game.State memory g = game.game(id);
        assertTrue(g.rootDefender != g.rootChallenger, "the interiors differ");
    }

    /// @dev The mirror (hole 2): a defender whose model is right but whose interior is tampered wins against a
    /// challenger with the honest trace (L[S] equal and bound): the verifier must not challenge it.
    function test_revealFirst_rightModelTamperedInterior_defenderWins() public {
        _honestPair();
        pd.faultStep = 7;
        pd.faultOp = 3;
        pd.salt = keccak256("interior");
        (, uint256 id) = _openHonestEnds();
        assertEq(uint256(_play(id, false)), uint256(IDisputeSettlement.Outcome.DefenderWins));
    }

    function test_reveal_defenderFirstRoundWithoutSlots_reverts() public {
        _honestPair();
        (, uint256 id,) = _openGame();
        uint256[] memory pos = game.positions(id);
        bytes32[] memory leaves = _leaves(pd, 0, 0);
        bytes32[] memory el = new bytes32[](pos.length);
        for (uint256 i; i < pos.length; ++i) el[i] = leaves[pos[i]];
        bytes32[] memory proofs = _multiproof(leaves, pos);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(Game.FinalNotBound.selector, _model(pd)));
        game.reveal(id, el, proofs, new bytes32[](0));
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(Game.FinalNotInRoot.selector, _model(pd), bytes32(uint256(1))));
        game.revealFirst(id, el, proofs, new bytes32[](0), bytes32(uint256(1)));
        vm.prank(PROVIDER);
        game.revealFirst(id, el, proofs, new bytes32[](0), _slots(pd));
        assertEq(uint256(game.game(id).moved), 1, "bound reveal accepted");
    }

    /// @dev Equal roots need no special phase: the defender binds its final hash in round one and wins at once.
    function test_revealFirst_equalRoots_boundDefenderWins() public {
        _honestPair();
        (uint256 jobId, uint256 id,) = _openGame();
        assertEq(game.game(id).rootDefender, game.game(id).rootChallenger, "same root");
        assertEq(uint256(_play(id, true)), uint256(IDisputeSettlement.Outcome.DefenderWins));
        assertEq(uint256(market.jobStatus(jobId)), uint256(IJobMarket.Status.Submitted), "paid only after the window");
    }

    function test_revealFirst_equalRootsFakeFinal_defenderLoses() public {
        _honestPair();
        pd.fakeFinal = true;
        (, uint256 id,) = _openGame();
        assertEq(uint256(_play(id, true)), uint256(IDisputeSettlement.Outcome.ChallengerWins));
    }

    // ------------------------------------------------------------------ chess clocks (hole 6)

    /// @dev Regression (hole 6): every round used to give the answering party a fresh full moveTimeout, so a slow
    /// liar could stretch a game to 13 windows. Now its budget is spent across rounds: after using most of it in
    /// round one it has only what is left in round two, and loses on timeout.
    function test_clock_budgetSpansRounds() public {
        pd = _party(PROVIDER, 9, 2, keccak256("slow"));
        pc = _party(CHALLENGER, 0, 0, bytes32(0));
        (, uint256 id,) = _openGame();
        _act(id, pc); // the honest challenger moves at once
        vm.warp(block.timestamp + CLOCK - 10);
        _act(id, pd); // the liar answers at the last moment: round one closes
        Game.State memory g = game.game(id);
        assertEq(uint256(g.clockDefender), 10, "charged its own time");
        assertEq(uint256(g.clockChallenger), CLOCK, "the prompt party paid nothing");
        _act(id, pc); // round two, the honest party first again
        vm.warp(block.timestamp + 10);
        vm.expectPartialRevert(Game.DeadlinePassed.selector);
        this.actExternal(id, true);
        game.timeout(id);
        assertEq(uint256(game.game(id).outcome), uint256(IDisputeSettlement.Outcome.ChallengerWins));
    }

    function actExternal(uint256 id, bool defender) external {
        _act(id, defender ? pd : pc);
    }

    /// @dev A first mover who waits to the last second squeezes nobody: the other party could have moved first
    /// and is charged only its own time.
    function test_clock_lastSecondFirstMove_chargesOnlyTheMover() public {
        _honestPair();
        pd.faultStep = 5;
        pd.faultOp = 1;
        pd.salt = keccak256("late");
        (, uint256 id,) = _openGame();
        vm.warp(block.timestamp + CLOCK - 1);
        _act(id, pd); // defender, last second, first mover
        Game.State memory g = game.game(id);
        assertEq(uint256(g.deadline), uint256(g.roundStart) + CLOCK, "the challenger's own clock decides");
        _act(id, pc);
        assertEq(uint256(game.game(id).clockChallenger), 1, "the challenger waited too: it paid its own wait");
    }

    function test_timeout_beforeAnyClockRunsOut_reverts() public {
        _honestPair();
        (, uint256 id,) = _openGame();
        vm.warp(block.timestamp + CLOCK - 1);
        vm.expectPartialRevert(Game.DeadlineNotPassed.selector);
        game.timeout(id);
        vm.warp(block.timestamp + 1);
        game.timeout(id);
        assertEq(uint256(game.game(id).outcome), uint256(IDisputeSettlement.Outcome.BothLose), "both silent");
    }

    /// @dev The longest game: each party spends its whole budget (alternating who is slow), then the referee uses
    /// its whole window. Challenge to settlement is then < 2 clocks + the referee window, whatever S, N, k.
    function test_clock_worstCaseDuration_boundedByTwoClocksPlusReferee() public {
        pd = _party(PROVIDER, 13, 4, keccak256("slow"));
        pc = _party(CHALLENGER, 0, 0, bytes32(0));
        (, uint256 id,) = _openGame();
        uint256 opened = block.timestamp;
        bool defenderSlow = true;
        for (uint256 guard; guard < 100 && game.game(id).phase != Game.Phase.Referee; ++guard) {
            Game.State memory g = game.game(id);
            Party storage fast = defenderSlow ? pc : pd;
            Party storage slow = defenderSlow ? pd : pc;
            _act(id, fast);
            uint256 left = defenderSlow ? g.clockDefender : g.clockChallenger;
            if (left > 1) vm.warp(g.roundStart + left - 1); // spends all but one second of its budget
            _act(id, slow);
            defenderSlow = !defenderSlow;
        }
        vm.warp(game.game(id).deadline - 1);
        bytes32 h = _correctHash(game.game(id));
        vm.prank(REFEREE);
        game.rule(id, h);
        uint256 duration = block.timestamp - opened;
        assertEq(uint256(game.game(id).outcome), uint256(IDisputeSettlement.Outcome.ChallengerWins));
        assertLe(duration, 2 * uint256(CLOCK) + REFEREE_TIMEOUT, "bounded by the clocks");
        assertGt(duration, 2 * uint256(CLOCK) - 20, "and the test really spent both budgets");
    }

    // ------------------------------------------------------------------ parallel games (hole 1), moot

    /// @dev Regression (hole 1), against the real game: the provider's second key challenges first with the
    /// provider's own root and loses on purpose; the honest verifier still gets in (same block) and wins.
    function test_challenge_sybilFirstThenHonest_honestWinsAndSybilGameIsMoot() public {
        pd = _party(PROVIDER, 6, 2, keccak256("liar"));
        pc = _party(CHALLENGER, 0, 0, bytes32(0));
        (uint256 jobId, uint256 honestGame,) = _openGameWithSybilFirst();
        assertEq(market.disputeOf(jobId).openGames, 2);
        assertEq(uint256(_play(honestGame, false)), uint256(IDisputeSettlement.Outcome.ChallengerWins));
        assertEq(uint256(market.jobStatus(jobId)), uint256(IJobMarket.Status.Failed));
        // the sybil's game is moot: anyone ends it, its bond comes back, nobody is slashed twice
        uint256 sybilGame = honestGame - 1;
        assertFalse(market.challengeLive(address(game), sybilGame));
        uint256 stakeBefore = sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER);
        game.moot(sybilGame);
        assertEq(uint256(game.game(sybilGame).outcome), uint256(IDisputeSettlement.Outcome.Moot));
        assertEq(market.creditOf(SYBIL), BOND, "moot bond back in full");
        assertEq(sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER), stakeBefore, "no second slash");
        assertEq(sm.lockedStakeOf(PROVIDER), 0);
    }

    address internal constant SYBIL = address(0x5B1);

    function _openGameWithSybilFirst() internal returns (uint256 jobId, uint256 gameId, IJobMarket.JobTerms memory t) {
        uint40 deadline = uint40(block.timestamp + 1 days);
        vm.prank(CLIENT);
        jobId = market.postJob{value: PRICE}(keccak256("spec"), uint32(S), uint32(C), uint32(N), COLLATERAL, deadline);
        t = IJobMarket.JobTerms(CLIENT, PRICE, keccak256("spec"), uint32(S), uint32(C), uint32(N), COLLATERAL, deadline);
        vm.prank(MATCHER);
        market.assign(jobId, t, PROVIDER);
        vm.prank(PROVIDER);
        market.accept(jobId);
        bytes32 rootD = _root(_leaves(pd, 0, 0));
        vm.prank(PROVIDER);
        market.submitResult(jobId, t, rootD, _model(pd), uint32(S));
        vm.deal(SYBIL, 1 ether);
        vm.prank(SYBIL);
        market.challenge{value: BOND}(jobId, t, rootD, _model(pd), rootD);
        vm.prank(CHALLENGER);
        gameId = market.challenge{value: BOND}(jobId, t, rootD, _model(pd), _root(_leaves(pc, 0, 0)));
        jobTerms = t;
        submittedRoot = rootD;
    }

    function test_moot_liveGame_reverts() public {
        _honestPair();
        (, uint256 id,) = _openGame();
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.ChallengeStillLive.selector, id));
        game.moot(id);
    }

    // ------------------------------------------------------------------ roles (hole 5)

    function test_treasury_readFromTheMarket() public {
        assertEq(game.treasury(), TREASURY);
        market.setTreasury(address(0x7EA6));
        assertEq(game.treasury(), address(0x7EA6), "no copy to drift");
    }

    function test_constructor_rejectsZeroAddressesAndBadClocks() public {
        vm.expectRevert(DisputeGame.ZeroAddress.selector);
        new DisputeGame(IDisputeSettlement(address(0)), REFEREE, 4, CLOCK, REFEREE_TIMEOUT, 5000);
        vm.expectRevert(DisputeGame.ZeroAddress.selector);
        new DisputeGame(IDisputeSettlement(address(market)), address(0), 4, CLOCK, REFEREE_TIMEOUT, 5000);
        vm.expectRevert(abi.encodeWithSelector(DisputeGame.BadParameters.selector, 4, 0, REFEREE_TIMEOUT, 5000));
        new DisputeGame(IDisputeSettlement(address(market)), REFEREE, 4, 0, REFEREE_TIMEOUT, 5000);
    }

    /// @dev Regression (hole 5), end to end: a new game address does not strand a live game on the old one.
    function test_setGame_oldGameStillSlashes() public {
        pd = _party(PROVIDER, 6, 2, keccak256("liar"));
        pc = _party(CHALLENGER, 0, 0, bytes32(0));
        (uint256 jobId, uint256 id,) = _openGame();
        DisputeGame g2 = new DisputeGame(IDisputeSettlement(address(market)), REFEREE, 4, CLOCK, REFEREE_TIMEOUT, 5000);
        market.setGame(address(g2));
        assertEq(uint256(_play(id, false)), uint256(IDisputeSettlement.Outcome.ChallengerWins));
        assertEq(uint256(market.jobStatus(jobId)), uint256(IJobMarket.Status.Failed));
        assertEq(sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER), 10 ether - COLLATERAL, "slashed");
    }
}
