// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DisputeGameWorld} from "./DisputeGameWorld.t.sol";
import {Game} from "../src/libraries/Game.sol";
import {IJobMarket} from "../src/interfaces/IJobMarket.sol";
import {IDisputeSettlement} from "../src/interfaces/IDisputeSettlement.sol";

/// @notice PROTOCOL §7: a challenger with the defender's own root disputes the reported final model hash; the
/// defender must prove L[S] = keccak256(finalModelHash ‖ slotsHash) against its root or lose by timeout.
contract ProveFinalTest is DisputeGameWorld {
    bytes32 internal constant MODEL = keccak256("true model");
    bytes32 internal constant SLOTS = keccak256("slots");

    /// @dev Honest segment leaves of S = 16, C = 4 whose last leaf binds MODEL (5 leaves).
    function _segments() internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](5);
        for (uint256 i; i < 4; ++i) leaves[i] = keccak256(abi.encode("state", i));
        leaves[4] = keccak256(abi.encodePacked(MODEL, SLOTS));
    }

    /// @dev Deploys, runs a job to Submitted with `reported` as final model hash and challenges with the same root.
    function _openSameRoot(bytes32 reported) internal returns (uint256 gameId, bytes32[] memory leaves) {
        S = 16;
        C = 4;
        N = 6;
        _deploy(2);
        leaves = _segments();
        bytes32 root = _root(leaves);
        uint40 deadline = uint40(block.timestamp + 1 days);
        vm.prank(CLIENT);
        uint256 jobId = market.postJob{value: PRICE}(keccak256("spec"), 16, 4, 6, COLLATERAL, deadline);
        IJobMarket.JobTerms memory terms =
            IJobMarket.JobTerms(CLIENT, PRICE, keccak256("spec"), 16, 4, 6, COLLATERAL, deadline);
        vm.prank(MATCHER);
        market.assign(jobId, terms, PROVIDER);
        vm.prank(PROVIDER);
        market.accept(jobId);
        vm.prank(PROVIDER);
        market.submitResult(jobId, terms, root, reported, 16);
        vm.prank(CHALLENGER);
        gameId = market.challenge{value: BOND}(jobId, terms, root, reported, root);
        Game.State memory g = _st(gameId);
        assertEq(uint256(g.phase), uint256(Game.Phase.ProveFinal), "opens in ProveFinal");
        assertEq(g.agreed, reported, "keeps the reported final model hash");
    }

    function test_proveFinal_honestDefenderBeatsSameRootChallenger() public {
        (uint256 id, bytes32[] memory leaves) = _openSameRoot(MODEL);
        vm.prank(PROVIDER);
        game.proveFinal(id, SLOTS, _proof(leaves, 4));
        Game.State memory g = _st(id);
        assertEq(uint256(g.phase), uint256(Game.Phase.Settled), "settled");
        assertEq(uint256(g.outcome), uint256(IDisputeSettlement.Outcome.DefenderWins), "defender wins");
        assertEq(sm.freeStakeOf(PROVIDER), 10 ether, "defender whole");
        uint256 fee = (uint256(PRICE) * 250) / 10_000;
        uint256 cut = (uint256(BOND) * 1000) / 10_000;
        assertEq(market.creditOf(PROVIDER) + sm.creditOf(PROVIDER), PRICE - fee + BOND - cut, "paid + bond");
        assertEq(market.creditOf(CHALLENGER), 0, "bond lost");
        assertEq(uint256(market.jobStatus(1)), uint256(IJobMarket.Status.Finalized), "job finalized");
    }

    function test_proveFinal_randomFinalHash_cannotProve_losesByTimeout() public {
        bytes32 fake = keccak256("random final hash");
        (uint256 id, bytes32[] memory leaves) = _openSameRoot(fake);
        bytes32[] memory proof = _proof(leaves, 4);
        // The honest slots hash with the true last leaf's proof does not bind the fake model hash.
        vm.expectRevert(abi.encodeWithSelector(Game.FinalNotInRoot.selector, fake, SLOTS));
        vm.prank(PROVIDER);
        game.proveFinal(id, SLOTS, proof);
        // Nor does proving some other leaf as if it were the last one.
        vm.expectRevert(abi.encodeWithSelector(Game.FinalNotInRoot.selector, fake, leaves[3]));
        vm.prank(PROVIDER);
        game.proveFinal(id, leaves[3], _proof(leaves, 3));
        Game.State memory g = _st(id);
        vm.expectPartialRevert(Game.DeadlineNotPassed.selector);
        game.timeout(id);
        vm.warp(uint256(g.deadline) + 1);
        vm.expectPartialRevert(Game.DeadlinePassed.selector);
        vm.prank(PROVIDER);
        game.proveFinal(id, SLOTS, proof);
        game.timeout(id);
        g = _st(id);
        assertEq(uint256(g.outcome), uint256(IDisputeSettlement.Outcome.ChallengerWins), "challenger wins");
        uint256 reward = (uint256(COLLATERAL) * REWARD_BPS) / 10_000;
        assertEq(sm.creditOf(CHALLENGER), reward, "challenger reward");
        assertEq(sm.creditOf(TREASURY), COLLATERAL - reward, "treasury share");
        assertEq(sm.freeStakeOf(PROVIDER), 10 ether - COLLATERAL, "defender slashed");
        assertEq(market.creditOf(CLIENT), PRICE, "client refunded");
        assertEq(market.creditOf(CHALLENGER), BOND, "bond back");
        assertEq(uint256(market.jobStatus(1)), uint256(IJobMarket.Status.Failed), "job failed");
    }

    function test_proveFinal_onlyDefender() public {
        (uint256 id, bytes32[] memory leaves) = _openSameRoot(MODEL);
        bytes32[] memory proof = _proof(leaves, 4);
        vm.expectRevert(abi.encodeWithSelector(Game.NotDefender.selector, CHALLENGER));
        vm.prank(CHALLENGER);
        game.proveFinal(id, SLOTS, proof);
        vm.expectRevert(abi.encodeWithSelector(Game.NotParty.selector, REFEREE));
        vm.prank(REFEREE);
        game.proveFinal(id, SLOTS, proof);
        // The bisection moves do not belong to this phase.
        bytes32[] memory none = new bytes32[](0);
        vm.expectPartialRevert(Game.WrongPhase.selector);
        vm.prank(CHALLENGER);
        game.reveal(id, none, none, none);
        assertEq(uint256(_st(id).phase), uint256(Game.Phase.ProveFinal), "still open");
    }

    function test_proveFinal_onlyInItsPhase() public {
        // A game with different roots bisects: proveFinal is refused.
        S = 16;
        C = 4;
        N = 6;
        _deploy(2);
        pd = _party(PROVIDER, 7, 4, keccak256("liar"));
        pc = _party(CHALLENGER, 0, 0, bytes32(0));
        (, uint256 id,) = _openGame();
        assertEq(uint256(_st(id).phase), uint256(Game.Phase.Bisect), "bisects");
        bytes32[] memory proof = _proof(_leaves(pd, 0, 0), 4);
        vm.expectPartialRevert(Game.WrongPhase.selector);
        vm.prank(PROVIDER);
        game.proveFinal(id, SLOTS, proof);
    }

    function test_proveFinal_afterSettlement_reverts() public {
        (uint256 id, bytes32[] memory leaves) = _openSameRoot(MODEL);
        bytes32[] memory proof = _proof(leaves, 4);
        vm.prank(PROVIDER);
        game.proveFinal(id, SLOTS, proof);
        vm.expectPartialRevert(Game.WrongPhase.selector);
        vm.prank(PROVIDER);
        game.proveFinal(id, SLOTS, proof);
    }
}
