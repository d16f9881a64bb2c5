// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarketFixture, StubGame} from "./base/MarketFixture.sol";
import {JobMarket} from "../src/JobMarket.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {IJobMarket} from "../src/interfaces/IJobMarket.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";
import {IDisputeSettlement} from "../src/interfaces/IDisputeSettlement.sol";

/// @dev A client that refuses ETH: its refund withdrawal must revert and keep the credit.
contract RefusingClient {
    function post(JobMarket m, uint40 deadline) external payable returns (uint256) {
        return m.postJob{value: msg.value}(keccak256("spec"), 1000, 100, 40, 2 ether, deadline);
    }

    function cancel(JobMarket m, IJobMarket.JobTerms calldata t, uint256 jobId) external {
        m.cancel(jobId, t);
    }

    function withdraw(JobMarket m) external {
        m.withdraw();
    }
}

/// @dev A client whose receive() tries to withdraw again: it must be paid exactly once.
contract ReentrantClient {
    JobMarket internal m;
    uint256 public reentered;

    function post(JobMarket m_, uint40 deadline) external payable returns (uint256) {
        m = m_;
        return m_.postJob{value: msg.value}(keccak256("spec"), 1000, 100, 40, 2 ether, deadline);
    }

    function cancel(IJobMarket.JobTerms calldata t, uint256 jobId) external {
        m.cancel(jobId, t);
    }

    function withdraw() external {
        m.withdraw();
    }

    receive() external payable {
        reentered++;
        try m.withdraw() {} catch {}
    }
}

/// @notice JobMarket unit and fuzz tests: every function, every revert (named error, nothing changed).
contract JobMarketTest is MarketFixture {
    event JobPosted(uint256 indexed jobId, address indexed client, IJobMarket.JobTerms terms);
    event JobAssigned(uint256 indexed jobId, address indexed provider, uint40 acceptBy);
    event JobAccepted(uint256 indexed jobId, address indexed provider);
    event ResultSubmitted(uint256 indexed jobId, bytes32 traceRoot, bytes32 finalModelHash, uint40 challengeUntil);
    event JobFinalized(uint256 indexed jobId, address indexed provider, uint256 payout, uint256 fee);
    event AssignmentExpired(uint256 indexed jobId, address indexed provider);
    event JobExpired(uint256 indexed jobId, address indexed provider, uint256 refund, uint256 forfeited);
    event JobChallenged(uint256 indexed jobId, address indexed challenger, uint256 gameId);
    event DisputeSettled(uint256 indexed jobId, IDisputeSettlement.Outcome outcome);
    event JobReopened(uint256 indexed jobId);

    function setUp() public {
        vm.warp(1_000_000);
        _deployMarket();
        _stake(PROVIDER, 5 ether);
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Everything either contract holds that a call could change, hashed.
    function _world(uint256 jobId) internal view returns (bytes32) {
        return keccak256(abi.encode(_jobBytes(jobId), _accountBytes(), _totalsBytes(jobId)));
    }

    function _jobBytes(uint256 jobId) internal view returns (bytes memory) {
        (IJobMarket.Status s, address p, uint256 timer, bytes32 c) = market.jobOf(jobId);
        return abi.encode(s, p, timer, c);
    }

    function _accountBytes() internal view returns (bytes memory acc) {
        address[5] memory who = [CLIENT, PROVIDER, CHALLENGER, TREASURY, PROVIDER2];
        for (uint256 i; i < who.length; ++i) {
            acc = abi.encode(
                acc, market.creditOf(who[i]), sm.creditOf(who[i]), sm.freeStakeOf(who[i]), sm.lockedStakeOf(who[i])
            );
        }
    }

    function _totalsBytes(uint256 jobId) internal view returns (bytes memory) {
        return abi.encode(
            address(market).balance,
            address(sm).balance,
            market.protocolFees(),
            market.nextJobId(),
            market.disputeOf(jobId)
        );
    }

    function _copy(IJobMarket.JobTerms memory t) internal pure returns (IJobMarket.JobTerms memory) {
        return abi.decode(abi.encode(t), (IJobMarket.JobTerms));
    }

    function _hash(IJobMarket.JobTerms memory t) internal pure returns (bytes32) {
        return keccak256(abi.encode(t));
    }

    function _resultHash(IJobMarket.JobTerms memory t) internal pure returns (bytes32) {
        return keccak256(abi.encode(_hash(t), TRACE, MODEL));
    }

    function _expectWrongStatus(uint256 jobId, IJobMarket.Status s) internal {
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.WrongStatus.selector, jobId, s));
    }

    // ------------------------------------------------------------------ constructor / admin

    function test_constructor_wiresEverything() public view {
        assertEq(market.admin(), ADMIN);
        assertEq(market.matcher(), MATCHER);
        assertEq(market.treasury(), TREASURY);
        assertEq(market.game(), address(game));
        assertEq(market.nextJobId(), 1, "counter starts at 1");
        assertEq(sm.market(), address(market), "stake manager bound to this market");
        assertEq(sm.admin(), ADMIN, "stake manager admin is the deployer");
        assertEq(sm.unbondingPeriod(), UNBONDING);
        IJobMarket.Params memory p = market.params();
        assertEq(abi.encode(p), abi.encode(_params()), "params");
        assertEq(market.minStake(), MIN_STAKE);
        assertEq(market.challengerBond(), BOND);
    }

    function test_constructor_revertsOnBadParams() public {
        IJobMarket.Params memory p = _params();
        p.acceptTimeout = 0;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 1, 0));
        new JobMarket(p, MATCHER, TREASURY, UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 7, 0));
        new JobMarket(_params(), address(0), TREASURY, UNBONDING);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 7, 0));
        new JobMarket(_params(), MATCHER, address(0), UNBONDING);
    }

    function test_setParams_boundsEachField() public {
        IJobMarket.Params memory p;
        bytes32 before = _world(0);
        vm.startPrank(ADMIN);
        p = _params();
        p.acceptTimeout = 30 days + 1;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 1, 30 days + 1));
        market.setParams(p);
        p = _params();
        p.challengeWindow = 0;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 2, 0));
        market.setParams(p);
        p = _params();
        p.protocolFeeBps = 1001;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 3, 1001));
        market.setParams(p);
        p = _params();
        p.forfeitBps = 10_001;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 4, 10_001));
        market.setParams(p);
        p = _params();
        p.disputeCutBps = 5001;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 5, 5001));
        market.setParams(p);
        p = _params();
        p.challengerBond = 0;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 6, 0));
        market.setParams(p);
        p = _params();
        p.minStake = 1 ether + 1;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 8, 1 ether + 1));
        market.setParams(p);
        p.minStake = uint96((uint256(type(uint48).max) + 1) * 1e9);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 8, p.minStake));
        market.setParams(p);
        vm.stopPrank();
        assertEq(_world(0), before, "unchanged");
        assertEq(abi.encode(market.params()), abi.encode(_params()), "params unchanged");

        p = IJobMarket.Params(1, 1, 1000, 10_000, 5000, 1 wei, 0, 50_000, 1 gwei, 1, 10_000, 10_000);
        vm.prank(ADMIN);
        market.setParams(p);
        assertEq(abi.encode(market.params()), abi.encode(p), "set at the bounds");
        assertEq(market.nextJobId(), 1, "counter kept");
    }

    function test_adminSetters_adminOnly() public {
        vm.startPrank(MATCHER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotAdmin.selector, MATCHER));
        market.setParams(_params());
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotAdmin.selector, MATCHER));
        market.setMatcher(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotAdmin.selector, MATCHER));
        market.setTreasury(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotAdmin.selector, MATCHER));
        market.setGame(PROVIDER);
        vm.stopPrank();
        vm.startPrank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 7, 0));
        market.setGame(address(0));
        market.setMatcher(PROVIDER2);
        market.setTreasury(CHALLENGER);
        market.setGame(address(0x6A));
        vm.stopPrank();
        assertEq(market.matcher(), PROVIDER2);
        assertEq(market.treasury(), CHALLENGER);
        assertEq(market.game(), address(0x6A));
    }

    function test_admin_cannotTouchEscrow() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        vm.startPrank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotClient.selector, ADMIN, CLIENT));
        market.cancel(id, t);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NothingToWithdraw.selector, ADMIN));
        market.withdraw();
        vm.stopPrank();
        assertEq(address(market).balance, PRICE);
    }

    // ------------------------------------------------------------------ postJob

    function test_postJob_escrowsAndCommits() public {
        IJobMarket.JobTerms memory t = _terms(CLIENT, PRICE, COLLATERAL, uint40(block.timestamp + 1 days));
        vm.deal(CLIENT, PRICE);
        vm.expectEmit(true, true, false, true);
        emit JobPosted(1, CLIENT, t);
        vm.prank(CLIENT);
        uint256 id = market.postJob{value: PRICE}(SPEC, 1000, 100, 40, COLLATERAL, t.deadline);
        assertEq(id, 1);
        assertEq(market.nextJobId(), 2);
        assertEq(address(market).balance, PRICE, "escrowed");
        (IJobMarket.Status s, address p, uint256 timer, bytes32 c) = market.jobOf(id);
        assertEq(uint256(s), uint256(IJobMarket.Status.Open));
        assertEq(p, address(0));
        assertEq(timer, 0);
        assertEq(c, _hash(t), "commitment = keccak(abi.encode(terms))");
        assertEq(market.termsHash(t), c, "termsHash view agrees");
        (uint256 id2,) = _postDefault();
        assertEq(id2, 2);
    }

    function test_postJob_revertsOnBadInput() public {
        bytes32 before = _world(1);
        uint40 dl = uint40(block.timestamp + 1 days);
        vm.deal(CLIENT, 10 ether);
        vm.startPrank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidPrice.selector, 0));
        market.postJob(SPEC, 1000, 100, 40, COLLATERAL, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidJobShape.selector, 1000, 100, 40));
        market.postJob{value: 1}(bytes32(0), 1000, 100, 40, COLLATERAL, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidJobShape.selector, 0, 1, 40));
        market.postJob{value: 1}(SPEC, 0, 1, 40, COLLATERAL, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidJobShape.selector, 1000, 0, 40));
        market.postJob{value: 1}(SPEC, 1000, 0, 40, COLLATERAL, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidJobShape.selector, 10, 11, 40));
        market.postJob{value: 1}(SPEC, 10, 11, 40, COLLATERAL, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidJobShape.selector, 1000, 100, 0));
        market.postJob{value: 1}(SPEC, 1000, 100, 0, COLLATERAL, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidCollateral.selector, 1 ether + 1));
        market.postJob{value: 1}(SPEC, 1000, 100, 40, 1 ether + 1, dl);
        uint96 tooBig = uint96((uint256(type(uint48).max) + 1) * 1e9);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidCollateral.selector, tooBig));
        market.postJob{value: 1}(SPEC, 1000, 100, 40, tooBig, dl);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidDeadline.selector, block.timestamp, block.timestamp));
        market.postJob{value: 1}(SPEC, 1000, 100, 40, COLLATERAL, uint40(block.timestamp));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.CollateralBelowFloor.selector, 0, MIN_COLLATERAL));
        market.postJob{value: 1}(SPEC, 1000, 100, 40, 0, dl);
        vm.stopPrank();
        assertEq(_world(1), before, "unchanged");
        assertEq(_status(1), uint256(IJobMarket.Status.None));
    }

    function test_postJob_revertsOnPriceAbove96Bits() public {
        uint256 big = uint256(type(uint96).max) + 1;
        vm.deal(CLIENT, big);
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidPrice.selector, big));
        market.postJob{value: big}(SPEC, 1000, 100, 40, COLLATERAL, uint40(block.timestamp + 1));
    }

    // ------------------------------------------------------------------ assign

    function test_assign_setsProviderAndAcceptBy() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        vm.expectEmit(true, true, false, true);
        emit JobAssigned(id, PROVIDER, uint40(block.timestamp + ACCEPT_TIMEOUT));
        _assign(id, t, PROVIDER);
        (IJobMarket.Status s, address p, uint256 timer,) = market.jobOf(id);
        assertEq(uint256(s), uint256(IJobMarket.Status.Assigned));
        assertEq(p, PROVIDER);
        assertEq(timer, block.timestamp + ACCEPT_TIMEOUT);
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "nothing locked before accept");
    }

    function test_assign_capsAcceptByAtDeadline() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _post(CLIENT, PRICE, COLLATERAL, uint40(block.timestamp + 10));
        _assign(id, t, PROVIDER);
        (,, uint256 timer,) = market.jobOf(id);
        assertEq(timer, t.deadline);
    }

    function test_assign_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        bytes32 before = _world(id);
        // wrong role
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotMatcher.selector, PROVIDER));
        market.assign(id, t, PROVIDER);
        vm.startPrank(MATCHER);
        // wrong terms
        IJobMarket.JobTerms memory bad = _copy(t);
        bad.price = PRICE + 1;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.TermsMismatch.selector, id, _hash(bad), _hash(t)));
        market.assign(id, bad, PROVIDER);
        // unknown job
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.TermsMismatch.selector, 7, _hash(t), bytes32(0)));
        market.assign(7, t, PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidProvider.selector, address(0)));
        market.assign(id, t, address(0));
        // PROVIDER2 has no stake at all
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.BelowMinStake.selector, 0, MIN_STAKE));
        market.assign(id, t, PROVIDER2);
        vm.stopPrank();
        _stake(PROVIDER2, 1.5 ether);
        before = _world(id);
        vm.prank(MATCHER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InsufficientFreeStake.selector, 1.5 ether, COLLATERAL));
        market.assign(id, t, PROVIDER2);
        vm.warp(t.deadline + 1);
        vm.prank(MATCHER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.DeadlinePassed.selector, t.deadline, t.deadline + 1));
        market.assign(id, t, PROVIDER);
        assertEq(_world(id), before, "unchanged");
    }

    function test_assign_revertsWhenNotOpen() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        bytes32 before = _world(id);
        vm.prank(MATCHER);
        _expectWrongStatus(id, IJobMarket.Status.Assigned);
        market.assign(id, t, PROVIDER);
        assertEq(_world(id), before, "unchanged");
    }

    function test_assign_minStakeCountsLockedStake() public {
        // PROVIDER: 5 ether staked, 2 locked by a first job; still ≥ minStake overall.
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        (uint256 id2, IJobMarket.JobTerms memory t2) = _postDefault();
        _assign(id2, t2, PROVIDER);
        assertEq(_status(id2), uint256(IJobMarket.Status.Assigned));
    }

    // ------------------------------------------------------------------ accept

    function test_accept_locksCollateral() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        vm.expectEmit(true, true, false, false);
        emit JobAccepted(id, PROVIDER);
        _accept(id, PROVIDER);
        assertEq(_status(id), uint256(IJobMarket.Status.Running));
        assertEq(sm.lockedStakeOf(PROVIDER), COLLATERAL);
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether - COLLATERAL);
    }

    function test_accept_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        bytes32 before = _world(id);
        vm.prank(PROVIDER);
        _expectWrongStatus(id, IJobMarket.Status.Open);
        market.accept(id);
        vm.prank(PROVIDER);
        _expectWrongStatus(99, IJobMarket.Status.None);
        market.accept(99);
        _assign(id, t, PROVIDER);
        before = _world(id);
        vm.prank(PROVIDER2);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotProvider.selector, PROVIDER2, PROVIDER));
        market.accept(id);
        uint256 acceptBy = block.timestamp + ACCEPT_TIMEOUT;
        vm.warp(acceptBy + 1);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.AcceptWindowClosed.selector, acceptBy, acceptBy + 1));
        market.accept(id);
        assertEq(_world(id), before, "unchanged");
    }

    function test_accept_revertsWhenProviderUnstakedMeanwhile() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        vm.prank(PROVIDER);
        sm.requestUnstake(4 ether);
        bytes32 before = _world(id);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientFreeStake.selector, 1 ether, COLLATERAL));
        market.accept(id);
        assertEq(_world(id), before, "unchanged");
    }

    function test_accept_twiceReverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        vm.prank(PROVIDER);
        _expectWrongStatus(id, IJobMarket.Status.Running);
        market.accept(id);
        assertEq(sm.lockedStakeOf(PROVIDER), COLLATERAL, "locked once");
    }

    // ------------------------------------------------------------------ submitResult

    function test_submitResult_commitsResultAndOpensWindow() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        vm.expectEmit(true, false, false, true);
        emit ResultSubmitted(id, TRACE, MODEL, uint40(block.timestamp + CHALLENGE_WINDOW));
        _submit(id, t, PROVIDER);
        (IJobMarket.Status s, address p, uint256 timer, bytes32 c) = market.jobOf(id);
        assertEq(uint256(s), uint256(IJobMarket.Status.Submitted));
        assertEq(p, PROVIDER);
        assertEq(timer, block.timestamp + CHALLENGE_WINDOW);
        assertEq(c, _resultHash(t));
    }

    function test_submitResult_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        bytes32 before = _world(id);
        vm.prank(PROVIDER);
        _expectWrongStatus(id, IJobMarket.Status.Assigned);
        market.submitResult(id, t, TRACE, MODEL, 1000);
        _accept(id, PROVIDER);
        before = _world(id);
        vm.prank(PROVIDER2);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotProvider.selector, PROVIDER2, PROVIDER));
        market.submitResult(id, t, TRACE, MODEL, 1000);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.StepsMismatch.selector, 999, 1000));
        market.submitResult(id, t, TRACE, MODEL, 999);
        IJobMarket.JobTerms memory bad = _copy(t);
        bad.collateral = 0;
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.TermsMismatch.selector, id, _hash(bad), _hash(t)));
        market.submitResult(id, bad, TRACE, MODEL, 1000);
        vm.warp(t.deadline + 1);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.DeadlinePassed.selector, t.deadline, t.deadline + 1));
        market.submitResult(id, t, TRACE, MODEL, 1000);
        assertEq(_world(id), before, "unchanged");
    }

    // ------------------------------------------------------------------ finalize

    function test_finalize_paysProviderFeeAndUnlocks() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        uint256 fee = uint256(PRICE) * FEE_BPS / 10_000;
        vm.expectEmit(true, true, false, true);
        emit JobFinalized(id, PROVIDER, PRICE - fee, fee);
        vm.prank(CHALLENGER); // anyone may finalize
        market.finalize(id, t, TRACE, MODEL);
        assertEq(_status(id), uint256(IJobMarket.Status.Finalized));
        assertEq(sm.creditOf(PROVIDER), PRICE - fee, "provider payout credited in StakeManager");
        assertEq(market.creditOf(TREASURY), fee, "fee to treasury");
        assertEq(market.protocolFees(), fee);
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "collateral unlocked");
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether);
        assertEq(address(market).balance, fee, "market keeps only the fee");

        uint256 bal = PROVIDER.balance;
        vm.prank(PROVIDER);
        sm.withdrawCredit();
        assertEq(PROVIDER.balance, bal + PRICE - fee, "provider withdrew to the wei");
        bal = TREASURY.balance;
        vm.prank(TREASURY);
        market.withdraw();
        assertEq(TREASURY.balance, bal + fee, "treasury withdrew the fee");
        assertEq(address(market).balance, 0);
        assertEq(address(sm).balance, 5 ether);
    }

    function test_finalize_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        bytes32 before = _world(id);
        _expectWrongStatus(id, IJobMarket.Status.Running);
        market.finalize(id, t, TRACE, MODEL);
        _submit(id, t, PROVIDER);
        before = _world(id);
        uint256 until = block.timestamp + CHALLENGE_WINDOW;
        vm.warp(until);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ChallengeWindowOpen.selector, until, until));
        market.finalize(id, t, TRACE, MODEL);
        vm.warp(until + 1);
        bytes32 given = keccak256(abi.encode(_hash(t), OTHER_ROOT, MODEL));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ResultMismatch.selector, id, given, _resultHash(t)));
        market.finalize(id, t, OTHER_ROOT, MODEL);
        IJobMarket.JobTerms memory bad = _copy(t);
        bad.price = 1;
        given = keccak256(abi.encode(_hash(bad), TRACE, MODEL));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ResultMismatch.selector, id, given, _resultHash(t)));
        market.finalize(id, bad, TRACE, MODEL);
        assertEq(_world(id), before, "unchanged");
    }

    function test_finalize_twiceReverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        market.finalize(id, t, TRACE, MODEL);
        bytes32 before = _world(id);
        _expectWrongStatus(id, IJobMarket.Status.Finalized);
        market.finalize(id, t, TRACE, MODEL);
        // every terms-taking call on a finished job names its status too
        vm.prank(CLIENT);
        _expectWrongStatus(id, IJobMarket.Status.Finalized);
        market.cancel(id, t);
        _expectWrongStatus(id, IJobMarket.Status.Finalized);
        market.expire(id, t);
        assertEq(_world(id), before, "unchanged");
    }

    // ------------------------------------------------------------------ cancel

    function test_cancel_openAndAssignedRefund() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        vm.prank(CLIENT);
        market.cancel(id, t);
        assertEq(_status(id), uint256(IJobMarket.Status.Cancelled));
        assertEq(market.creditOf(CLIENT), PRICE);
        (uint256 id2, IJobMarket.JobTerms memory t2) = _postDefault();
        _assign(id2, t2, PROVIDER);
        vm.prank(CLIENT);
        market.cancel(id2, t2);
        assertEq(_status(id2), uint256(IJobMarket.Status.Cancelled));
        assertEq(market.creditOf(CLIENT), 2 * PRICE);
        uint256 bal = CLIENT.balance;
        vm.prank(CLIENT);
        market.withdraw();
        assertEq(CLIENT.balance, bal + 2 * PRICE);
        assertEq(address(market).balance, 0);
    }

    function test_cancel_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        bytes32 before = _world(id);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotClient.selector, PROVIDER, CLIENT));
        market.cancel(id, t);
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        before = _world(id);
        vm.prank(CLIENT);
        _expectWrongStatus(id, IJobMarket.Status.Running);
        market.cancel(id, t);
        assertEq(_world(id), before, "unchanged");
    }

    // ------------------------------------------------------------------ expire

    function test_expire_missedAcceptReopens() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        vm.warp(block.timestamp + ACCEPT_TIMEOUT + 1);
        vm.expectEmit(true, true, false, false);
        emit AssignmentExpired(id, PROVIDER);
        market.expire(id, t);
        assertEq(_status(id), uint256(IJobMarket.Status.Open));
        _stake(PROVIDER2, 3 ether);
        _assign(id, t, PROVIDER2); // re-matched
        _accept(id, PROVIDER2);
        assertEq(sm.lockedStakeOf(PROVIDER2), COLLATERAL);
    }

    function test_expire_openOrAssignedPastDeadlineRefunds() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        (uint256 id2, IJobMarket.JobTerms memory t2) = _postDefault();
        _assign(id2, t2, PROVIDER);
        vm.warp(t.deadline + 1);
        vm.expectEmit(true, true, false, true);
        emit JobExpired(id, address(0), PRICE, 0);
        market.expire(id, t);
        market.expire(id2, t2);
        assertEq(_status(id), uint256(IJobMarket.Status.Expired));
        assertEq(_status(id2), uint256(IJobMarket.Status.Expired));
        assertEq(market.creditOf(CLIENT), 2 * PRICE);
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether, "nothing forfeited before accept");
    }

    function test_expire_runningPastDeadlineForfeits() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        vm.warp(t.deadline + 1);
        uint256 lost = uint256(COLLATERAL) * FORFEIT_BPS / 10_000;
        vm.expectEmit(true, true, false, true);
        emit JobExpired(id, PROVIDER, PRICE, lost);
        market.expire(id, t);
        assertEq(_status(id), uint256(IJobMarket.Status.Expired));
        assertEq(market.creditOf(CLIENT), PRICE, "price refunded");
        assertEq(sm.creditOf(CLIENT), lost, "forfeit to the client");
        assertEq(sm.lockedStakeOf(PROVIDER), 0);
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether - lost);
    }

    function test_expire_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        bytes32 before = _world(id);
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.NotExpired.selector, id, IJobMarket.Status.Open, block.timestamp)
        );
        market.expire(id, t);
        _assign(id, t, PROVIDER);
        before = _world(id);
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.NotExpired.selector, id, IJobMarket.Status.Assigned, block.timestamp)
        );
        market.expire(id, t);
        _accept(id, PROVIDER);
        before = _world(id);
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.NotExpired.selector, id, IJobMarket.Status.Running, block.timestamp)
        );
        market.expire(id, t);
        _submit(id, t, PROVIDER);
        vm.warp(t.deadline + 1); // a submitted job never expires, even past the deadline
        before = _world(id);
        _expectWrongStatus(id, IJobMarket.Status.Submitted);
        market.expire(id, t);
        assertEq(_world(id), before, "unchanged");
    }

    // ------------------------------------------------------------------ challenge

    function test_challenge_locksJobAndOpensGame() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        vm.expectEmit(true, true, false, true);
        emit JobChallenged(id, CHALLENGER, 1);
        uint256 gameId = _challenge(id, t, CHALLENGER);
        assertEq(gameId, 1);
        assertEq(_status(id), uint256(IJobMarket.Status.Disputed));
        IJobMarket.Dispute memory d = market.disputeOf(id);
        assertEq(d.client, CLIENT);
        assertEq(d.price, PRICE);
        assertEq(d.termsHash, _hash(t));
        assertEq(d.openGames, 1, "one game open");
        IJobMarket.Challenge memory c = market.challengeOf(address(game), gameId);
        assertEq(c.challenger, CHALLENGER);
        assertEq(c.bond, BOND);
        assertEq(c.jobId, id);
        assertTrue(market.challengeLive(address(game), gameId), "live");
        _assertOpened(gameId, id);
        assertEq(game.finalModelHashOf(gameId), MODEL, "the game learns the reported model hash");
        assertEq(address(market).balance, PRICE + BOND, "price and bond escrowed");
        // a job with an open game cannot be finalized, even after the window
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.GamesOpen.selector, id, 1));
        market.finalize(id, t, TRACE, MODEL);
    }

    function _assertOpened(uint256 gameId, uint256 id) internal view {
        (uint256 jobId, address defender, address challenger, bytes32 dRoot, bytes32 cRoot,,,,) = game.opened(gameId);
        assertEq(jobId, id);
        assertEq(defender, PROVIDER);
        assertEq(challenger, CHALLENGER);
        assertEq(dRoot, TRACE);
        assertEq(cRoot, OTHER_ROOT);
        (,,,,, uint32 s, uint32 cp, uint32 n, uint96 bond) = game.opened(gameId);
        assertEq(abi.encode(s, cp, n, bond), abi.encode(uint32(1000), uint32(100), uint32(40), BOND));
    }

    function test_challenge_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        bytes32 before = _world(id);
        vm.deal(CHALLENGER, 1 ether);
        vm.deal(PROVIDER, PROVIDER.balance + 1 ether);
        vm.prank(PROVIDER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ProviderCannotChallenge.selector, PROVIDER));
        market.challenge{value: BOND}(id, t, TRACE, MODEL, OTHER_ROOT);
        vm.startPrank(CHALLENGER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.WrongBond.selector, BOND - 1, BOND));
        market.challenge{value: BOND - 1}(id, t, TRACE, MODEL, OTHER_ROOT);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.WrongBond.selector, 0, BOND));
        market.challenge(id, t, TRACE, MODEL, OTHER_ROOT);
        bytes32 given = keccak256(abi.encode(_hash(t), TRACE, OTHER_ROOT));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ResultMismatch.selector, id, given, _resultHash(t)));
        market.challenge{value: BOND}(id, t, TRACE, OTHER_ROOT, OTHER_ROOT);
        uint256 until = block.timestamp + CHALLENGE_WINDOW;
        vm.warp(until + 1);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ChallengeWindowClosed.selector, until, until + 1));
        market.challenge{value: BOND}(id, t, TRACE, MODEL, OTHER_ROOT);
        vm.stopPrank();
        assertEq(_world(id), before, "unchanged");
    }

    function test_challenge_revertsWithoutGame() public {
        vm.prank(ADMIN);
        market = new JobMarket(_params(), MATCHER, TREASURY, UNBONDING);
        sm = StakeManager(address(market.stakeManager()));
        _stake(PROVIDER, 5 ether);
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        vm.deal(CHALLENGER, 1 ether);
        vm.prank(CHALLENGER);
        vm.expectRevert(IJobMarket.GameNotSet.selector);
        market.challenge{value: BOND}(id, t, TRACE, MODEL, OTHER_ROOT);
        assertEq(_status(id), uint256(IJobMarket.Status.Submitted));
        // a registered address without code cannot swallow the bond either
        vm.prank(ADMIN);
        market.setGame(address(0x6A));
        vm.prank(CHALLENGER);
        vm.expectRevert(IJobMarket.GameNotSet.selector);
        market.challenge{value: BOND}(id, t, TRACE, MODEL, OTHER_ROOT);
        assertEq(_status(id), uint256(IJobMarket.Status.Submitted));
        assertEq(address(market).balance, PRICE, "no bond taken");
    }

    // ------------------------------------------------------------------ settlement

    function test_settle_defenderWins() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 g = _challenge(id, t, CHALLENGER);
        uint256 fee = uint256(PRICE) * FEE_BPS / 10_000;
        uint256 cut = uint256(BOND) * CUT_BPS / 10_000;
        game.settle(g, IDisputeSettlement.Outcome.DefenderWins);
        // The bond is the provider's at once; the result itself waits for the window (no early pay).
        assertEq(_status(id), uint256(IJobMarket.Status.Submitted), "back to Submitted, not paid");
        assertEq(sm.creditOf(PROVIDER), BOND - cut, "bond less cut");
        assertEq(market.creditOf(TREASURY), cut);
        assertEq(market.creditOf(CHALLENGER), 0, "bond lost");
        assertEq(sm.lockedStakeOf(PROVIDER), COLLATERAL, "collateral still locked");
        assertEq(market.disputeOf(id).openGames, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.ChallengeWindowOpen.selector, block.timestamp + CHALLENGE_WINDOW, block.timestamp)
        );
        market.finalize(id, t, TRACE, MODEL);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.expectEmit(true, true, false, true);
        emit JobFinalized(id, PROVIDER, PRICE - fee, fee);
        market.finalize(id, t, TRACE, MODEL);
        assertEq(sm.creditOf(PROVIDER), PRICE - fee + BOND - cut, "price less fee, bond less cut");
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "collateral unlocked");
        assertEq(address(market).balance, fee + cut);
    }

    function test_settle_challengerWins() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 g = _challenge(id, t, CHALLENGER);
        vm.expectEmit(true, false, false, true);
        emit DisputeSettled(id, IDisputeSettlement.Outcome.ChallengerWins);
        uint256 slashed = game.settle(g, IDisputeSettlement.Outcome.ChallengerWins);
        uint256 reward = uint256(COLLATERAL) * REWARD_BPS / 10_000;
        assertEq(slashed, COLLATERAL, "slashed once, all of it");
        assertEq(_status(id), uint256(IJobMarket.Status.Failed));
        assertEq(market.creditOf(CLIENT), PRICE, "client refunded");
        assertEq(market.creditOf(CHALLENGER), BOND, "bond back");
        assertEq(sm.creditOf(CHALLENGER), reward, "reward share");
        assertEq(sm.creditOf(TREASURY), COLLATERAL - reward, "the rest to treasury");
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "collateral gone, not unlocked");
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether - COLLATERAL);
        assertEq(address(market).balance, PRICE + BOND);
    }

    function test_settle_bothLose() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 g = _challenge(id, t, CHALLENGER);
        game.settle(g, IDisputeSettlement.Outcome.BothLose);
        assertEq(_status(id), uint256(IJobMarket.Status.Failed));
        assertEq(market.creditOf(CLIENT), PRICE, "client refunded");
        assertEq(market.creditOf(CHALLENGER), 0, "bond lost");
        assertEq(market.creditOf(TREASURY), BOND, "bond to treasury");
        assertEq(sm.creditOf(TREASURY), COLLATERAL, "collateral to treasury");
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether - COLLATERAL);
    }

    function test_settle_voidReopens() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 g = _challenge(id, t, CHALLENGER);
        vm.expectEmit(true, false, false, false);
        emit JobReopened(id);
        game.settle(g, IDisputeSettlement.Outcome.Void);
        assertEq(_status(id), uint256(IJobMarket.Status.Open));
        assertEq(market.creditOf(CHALLENGER), BOND, "bond back");
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "collateral unlocked");
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether);
        assertEq(sm.creditOf(PROVIDER), 0, "the voided result is not paid");
        assertEq(market.creditOf(CLIENT), 0, "price stays escrowed");
        (IJobMarket.Status s,,, bytes32 c) = market.jobOf(id);
        assertEq(uint256(s), uint256(IJobMarket.Status.Open));
        assertEq(c, _hash(t), "reopened under the same terms");
        // the matcher can run it again; the re-submission gets a fresh window and can be challenged again
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        _submit(id, t, PROVIDER);
        uint256 g2 = _challenge(id, t, CHALLENGER);
        assertTrue(market.challengeLive(address(game), g2), "the new submission is judged again");
        game.settle(g2, IDisputeSettlement.Outcome.DefenderWins);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        market.finalize(id, t, TRACE, MODEL);
        assertEq(_status(id), uint256(IJobMarket.Status.Finalized));
    }

    function test_onDisputeSettled_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        // no such game
        vm.prank(address(game));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.UnknownChallenge.selector, address(game), 1));
        market.onDisputeSettled(1, IDisputeSettlement.Outcome.DefenderWins);
        uint256 g = _challenge(id, t, CHALLENGER);
        bytes32 before = _world(id);
        vm.prank(CHALLENGER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.UnknownChallenge.selector, CHALLENGER, g));
        market.onDisputeSettled(g, IDisputeSettlement.Outcome.ChallengerWins);
        vm.prank(address(game));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidOutcome.selector, IDisputeSettlement.Outcome.None));
        market.onDisputeSettled(g, IDisputeSettlement.Outcome.None);
        vm.prank(address(game));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.InvalidOutcome.selector, IDisputeSettlement.Outcome.Moot));
        market.onDisputeSettled(g, IDisputeSettlement.Outcome.Moot);
        assertEq(_world(id), before, "unchanged");
        // exactly once
        game.settle(g, IDisputeSettlement.Outcome.Void);
        before = _world(id);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.UnknownChallenge.selector, address(game), g));
        game.settle(g, IDisputeSettlement.Outcome.DefenderWins);
        assertEq(_world(id), before, "unchanged");
    }

    /// @dev Regression (hole 5): on the old contracts a game address change made StakeManager.slash revert for
    /// every game still open on the old address, so a liar losing there could never be slashed.
    function test_setGame_liveGamesOnTheOldGameStillSettle() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 g = _challenge(id, t, CHALLENGER);
        StubGame g2 = new StubGame(market);
        vm.prank(ADMIN);
        market.setGame(address(g2));
        // the new game cannot settle the old one's game ...
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.UnknownChallenge.selector, address(g2), g));
        g2.settle(g, IDisputeSettlement.Outcome.Void);
        // ... and the old one still slashes
        assertEq(game.settle(g, IDisputeSettlement.Outcome.ChallengerWins), COLLATERAL, "slashed");
        assertEq(_status(id), uint256(IJobMarket.Status.Failed));
    }

    // ------------------------------------------------------------------ many challengers (hole 1)

    /// @dev Regression (hole 1): on the old contracts the second challenge of a result reverted WrongStatus, and a
    /// DefenderWins paid the provider at once: a provider's own second key could challenge first, lose on purpose
    /// and be paid in the submit block. Now anyone may challenge until the window closes and nothing is paid early.
    function test_challenge_secondChallengerStillGetsIn() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 sybil = _challenge(id, t, PROVIDER2); // the provider's second key, same block
        uint256 honest = _challenge(id, t, CHALLENGER); // same block too
        assertEq(market.disputeOf(id).openGames, 2);
        game.settle(sybil, IDisputeSettlement.Outcome.DefenderWins); // loses on purpose
        assertEq(_status(id), uint256(IJobMarket.Status.Disputed), "still disputed: the honest game is open");
        assertEq(sm.creditOf(PROVIDER), BOND - uint256(BOND) * CUT_BPS / 10_000, "only the sybil's bond so far");
        // still challengeable by a third party inside the window
        uint256 third = _challenge(id, t, address(0x7777));
        game.settle(honest, IDisputeSettlement.Outcome.ChallengerWins);
        assertEq(_status(id), uint256(IJobMarket.Status.Failed), "the honest challenger proved it wrong");
        assertEq(market.creditOf(CLIENT), PRICE, "client refunded, the price never paid out");
        assertFalse(market.challengeLive(address(game), third), "the third game is moot");
        // the moot game returns its bond in full and slashes nothing more
        uint256 smBefore = address(sm).balance;
        assertEq(game.settle(third, IDisputeSettlement.Outcome.ChallengerWins), 0, "no second slash");
        assertEq(market.creditOf(address(0x7777)), BOND, "moot bond back in full");
        assertEq(address(sm).balance, smBefore, "no stake moved");
    }

    function test_challenge_revertsAfterWindowEvenWithGamesOpen() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        _challenge(id, t, CHALLENGER);
        uint256 until = block.timestamp + CHALLENGE_WINDOW;
        vm.warp(until + 1);
        vm.deal(PROVIDER2, BOND);
        vm.prank(PROVIDER2);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ChallengeWindowClosed.selector, until, until + 1));
        market.challenge{value: BOND}(id, t, TRACE, MODEL, OTHER_ROOT);
    }

    function test_finalize_revertsWhileAnyGameOpen() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 a = _challenge(id, t, CHALLENGER);
        uint256 b = _challenge(id, t, PROVIDER2);
        game.settle(a, IDisputeSettlement.Outcome.DefenderWins);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.GamesOpen.selector, id, 1));
        market.finalize(id, t, TRACE, MODEL);
        game.settle(b, IDisputeSettlement.Outcome.DefenderWins);
        market.finalize(id, t, TRACE, MODEL);
        uint256 fee = uint256(PRICE) * FEE_BPS / 10_000;
        uint256 cut = uint256(BOND) * CUT_BPS / 10_000;
        assertEq(sm.creditOf(PROVIDER), PRICE - fee + 2 * (BOND - cut), "price and both lost bonds");
    }

    function test_settle_voidMootsTheOtherGames() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        uint256 a = _challenge(id, t, CHALLENGER);
        uint256 b = _challenge(id, t, PROVIDER2);
        game.settle(a, IDisputeSettlement.Outcome.Void);
        assertEq(_status(id), uint256(IJobMarket.Status.Open), "result discarded");
        assertFalse(market.challengeLive(address(game), b));
        // the job is re-run and challenged again: the old game stays moot under the new submission
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        _submit(id, t, PROVIDER);
        uint256 c = _challenge(id, t, CHALLENGER);
        assertFalse(market.challengeLive(address(game), b), "an old-epoch game is moot");
        assertEq(game.settle(b, IDisputeSettlement.Outcome.ChallengerWins), 0, "moot: nothing slashed");
        assertEq(market.creditOf(PROVIDER2), BOND);
        assertEq(_status(id), uint256(IJobMarket.Status.Disputed), "the new game still judges");
        game.settle(c, IDisputeSettlement.Outcome.ChallengerWins);
        assertEq(_status(id), uint256(IJobMarket.Status.Failed));
    }

    /// @dev Regression (hole 6): the old bond was flat (0.01 ETH locked a job of any size for days). Now it is
    /// max(floor, (price + collateral) * bondBps / 1e4).
    function test_bondFor_scalesWithWhatTheChallengeLocks() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        assertEq(market.bondFor(t), BOND, "bondBps 0: the floor");
        IJobMarket.Params memory p = _params();
        p.bondBps = 1000; // 10 %
        vm.prank(ADMIN);
        market.setParams(p);
        uint256 expected = (uint256(PRICE) + COLLATERAL) * 1000 / 10_000;
        assertEq(market.bondFor(t), expected, "10 % of price + collateral");
        vm.deal(CHALLENGER, 10 ether);
        vm.prank(CHALLENGER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.WrongBond.selector, BOND, expected));
        market.challenge{value: BOND}(id, t, TRACE, MODEL, OTHER_ROOT);
        vm.prank(CHALLENGER);
        market.challenge{value: expected}(id, t, TRACE, MODEL, OTHER_ROOT);
    }

    // ------------------------------------------------------------------ collateral floor (hole 7)

    /// @dev Regression (hole 7): the old market accepted collateral 0, so cheating risked nothing.
    function test_postJob_collateralBelowFloor_reverts() public {
        vm.deal(CLIENT, 1 ether);
        vm.prank(CLIENT);
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.CollateralBelowFloor.selector, MIN_COLLATERAL - 1 gwei, MIN_COLLATERAL)
        );
        market.postJob{value: 1}(SPEC, 1000, 100, 40, MIN_COLLATERAL - 1 gwei, uint40(block.timestamp + 1 days));
    }

    function test_setParams_boundsNewFields() public {
        vm.startPrank(ADMIN);
        IJobMarket.Params memory p = _params();
        p.bondBps = 50_001;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 9, 50_001));
        market.setParams(p);
        p = _params();
        p.minCollateral = 0;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 10, 0));
        market.setParams(p);
        p.minCollateral = 1 gwei + 1;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 10, 1 gwei + 1));
        market.setParams(p);
        p = _params();
        p.livenessWindow = 0;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 11, 0));
        market.setParams(p);
        p = _params();
        p.stallForfeitBps = 10_001;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 12, 10_001));
        market.setParams(p);
        p = _params();
        p.abandonForfeitBps = 10_001;
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.ParamOutOfBounds.selector, 13, 10_001));
        market.setParams(p);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ liveness (issue 11)

    event Heartbeat(uint256 indexed jobId, address indexed provider, uint32 step, bytes32 stateHash);
    event JobStalled(uint256 indexed jobId, address indexed provider, uint256 forfeited);
    event JobAbandoned(uint256 indexed jobId, address indexed provider, bytes32 reason, uint256 forfeited);

    function _running() internal returns (uint256 id, IJobMarket.JobTerms memory t) {
        (id, t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
    }

    function test_heartbeat_refreshesTheLivenessTimer() public {
        (uint256 id,) = _running();
        vm.warp(block.timestamp + LIVENESS);
        vm.expectEmit(true, true, false, true);
        emit Heartbeat(id, PROVIDER, 40, keccak256("L40"));
        vm.prank(PROVIDER);
        market.heartbeat(id, 40, keccak256("L40"));
        (,, uint256 timer,) = market.jobOf(id);
        assertEq(timer, block.timestamp, "last sign of life");
    }

    function test_heartbeat_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        vm.prank(PROVIDER);
        _expectWrongStatus(id, IJobMarket.Status.Open);
        market.heartbeat(id, 0, 0);
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        vm.prank(PROVIDER2);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotProvider.selector, PROVIDER2, PROVIDER));
        market.heartbeat(id, 0, 0);
    }

    /// @dev Regression (issue 11 item 2): a silent provider used to keep its job Running until the deadline.
    function test_reclaimStalled_silentProviderForfeitsAndJobReopens() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _running();
        uint256 accepted = block.timestamp;
        vm.warp(accepted + LIVENESS);
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.NotStalled.selector, id, accepted, LIVENESS, accepted + LIVENESS)
        );
        market.reclaimStalled(id, t);
        vm.warp(accepted + LIVENESS + 1);
        uint256 forfeited = uint256(COLLATERAL) * STALL_BPS / 10_000;
        vm.expectEmit(true, true, false, true);
        emit JobStalled(id, PROVIDER, forfeited);
        vm.prank(STRANGER_KEY);
        market.reclaimStalled(id, t);
        assertEq(_status(id), uint256(IJobMarket.Status.Open), "back to the matcher");
        assertEq(sm.creditOf(CLIENT), forfeited, "the client is compensated");
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "the rest unlocked");
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether - forfeited);
        // another provider takes it over and is paid once
        _stake(PROVIDER2, 5 ether);
        _assign(id, t, PROVIDER2);
        _accept(id, PROVIDER2);
        _submit(id, t, PROVIDER2);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        market.finalize(id, t, TRACE, MODEL);
        assertEq(sm.creditOf(PROVIDER2), PRICE - uint256(PRICE) * FEE_BPS / 10_000);
    }

    address internal constant STRANGER_KEY = address(0x5757);

    function test_reclaimStalled_heartbeatKeepsTheJob() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _running();
        vm.warp(block.timestamp + LIVENESS);
        vm.prank(PROVIDER);
        market.heartbeat(id, 10, keccak256("L10"));
        vm.warp(block.timestamp + LIVENESS);
        vm.expectPartialRevert(IJobMarket.NotStalled.selector);
        market.reclaimStalled(id, t);
    }

    function test_reclaimStalled_pastDeadline_isExpireNotStall() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _running();
        vm.warp(t.deadline + 1);
        vm.expectPartialRevert(IJobMarket.NotStalled.selector);
        market.reclaimStalled(id, t);
        market.expire(id, t);
        assertEq(_status(id), uint256(IJobMarket.Status.Expired));
    }

    function test_reclaimStalled_notRunning_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _toSubmitted();
        vm.warp(block.timestamp + LIVENESS + 1);
        _expectWrongStatus(id, IJobMarket.Status.Submitted);
        market.reclaimStalled(id, t);
    }

    /// @dev Issue 11 item 3: a provider that finds a job impossible after accepting gives it back for the small
    /// documented forfeit, far below the stall and deadline forfeits.
    function test_abandon_returnsJobForSmallForfeit() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _running();
        uint256 forfeited = uint256(COLLATERAL) * ABANDON_BPS / 10_000;
        vm.expectEmit(true, true, false, true);
        emit JobAbandoned(id, PROVIDER, bytes32("shape-mismatch"), forfeited);
        vm.prank(PROVIDER);
        market.abandon(id, t, bytes32("shape-mismatch"));
        assertEq(_status(id), uint256(IJobMarket.Status.Open));
        assertEq(sm.creditOf(CLIENT), forfeited);
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether - forfeited);
        assertLt(ABANDON_BPS, STALL_BPS, "abandoning costs less than going silent");
        // the client may now cancel and get its whole price back
        vm.prank(CLIENT);
        market.cancel(id, t);
        assertEq(market.creditOf(CLIENT), PRICE);
    }

    function test_abandon_reverts() public {
        (uint256 id, IJobMarket.JobTerms memory t) = _running();
        vm.prank(PROVIDER2);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NotProvider.selector, PROVIDER2, PROVIDER));
        market.abandon(id, t, 0);
        _submit(id, t, PROVIDER);
        vm.prank(PROVIDER);
        _expectWrongStatus(id, IJobMarket.Status.Submitted);
        market.abandon(id, t, 0);
    }

    /// @dev Issue 11 item 1: a job posted straight to the contract (no coordinator) is fully described by its
    /// event and refundable by its client.
    function test_postJob_rawPostIsVisibleAndRefundable() public {
        IJobMarket.JobTerms memory t = _terms(CLIENT, PRICE, COLLATERAL, uint40(block.timestamp + 1 days));
        vm.deal(CLIENT, PRICE);
        vm.expectEmit(true, true, false, true);
        emit JobPosted(1, CLIENT, t); // every term in the event: an indexer can rebuild the job
        vm.prank(CLIENT);
        uint256 id = market.postJob{value: PRICE}(SPEC, 1000, 100, 40, COLLATERAL, t.deadline);
        vm.prank(CLIENT);
        market.cancel(id, t);
        vm.prank(CLIENT);
        market.withdraw();
        assertEq(CLIENT.balance, PRICE, "the whole price back");
    }

    // ------------------------------------------------------------------ withdraw / views

    function test_withdraw_revertsWhenNothingOrRefused() public {
        vm.prank(CLIENT);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.NothingToWithdraw.selector, CLIENT));
        market.withdraw();
        RefusingClient rc = new RefusingClient();
        vm.deal(address(this), 1 ether);
        uint40 dl = uint40(block.timestamp + 100);
        uint256 id = rc.post{value: 1 ether}(market, dl);
        IJobMarket.JobTerms memory t =
            IJobMarket.JobTerms(address(rc), 1 ether, keccak256("spec"), 1000, 100, 40, 2 ether, dl);
        rc.cancel(market, t, id);
        bytes32 before = _world(id);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.TransferFailed.selector, address(rc), 1 ether));
        rc.withdraw(market);
        assertEq(market.creditOf(address(rc)), 1 ether, "credit kept");
        assertEq(_world(id), before, "unchanged");
    }

    function test_withdraw_reentryPaysOnce() public {
        ReentrantClient rc = new ReentrantClient();
        vm.deal(address(this), 1 ether);
        uint40 dl = uint40(block.timestamp + 100);
        uint256 id = rc.post{value: 1 ether}(market, dl);
        rc.cancel(IJobMarket.JobTerms(address(rc), 1 ether, keccak256("spec"), 1000, 100, 40, 2 ether, dl), id);
        (uint256 id2,) = _postDefault(); // other escrow the attacker would like to drain
        rc.withdraw();
        assertEq(address(rc).balance, 1 ether, "paid once");
        assertEq(rc.reentered(), 1, "the reentry happened and found nothing");
        assertEq(address(market).balance, PRICE, "the other job's escrow is intact");
        assertEq(_status(id2), uint256(IJobMarket.Status.Open));
    }

    function test_jobStatus_noneOutsideRange() public {
        assertEq(_status(0), uint256(IJobMarket.Status.None));
        assertEq(_status(1), uint256(IJobMarket.Status.None));
        _postDefault();
        assertEq(_status(1), uint256(IJobMarket.Status.Open));
        assertEq(_status(2), uint256(IJobMarket.Status.None));
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Happy path for any price, fee and collateral: money is conserved to the wei.
    function testFuzz_happyPath_conservesValue(uint96 price, uint16 feeBps, uint48 collGwei, uint32 wait) public {
        price = uint96(bound(price, 1, 1_000_000 ether));
        feeBps = uint16(bound(feeBps, 0, 1000));
        uint256 coll = bound(collGwei, MIN_COLLATERAL / 1e9, 4 ether / 1e9) * 1e9;
        IJobMarket.Params memory p = _params();
        p.protocolFeeBps = feeBps;
        vm.prank(ADMIN);
        market.setParams(p);
        (uint256 id, IJobMarket.JobTerms memory t) =
            _post(CLIENT, price, uint96(coll), uint40(block.timestamp + 1 days));
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        _submit(id, t, PROVIDER);
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1 + bound(wait, 0, 365 days));
        market.finalize(id, t, TRACE, MODEL);
        uint256 fee = uint256(price) * feeBps / 10_000;
        assertEq(sm.creditOf(PROVIDER) + market.creditOf(TREASURY), price, "price split exactly");
        assertEq(market.creditOf(TREASURY), fee);
        assertEq(address(market).balance, fee);
        assertEq(address(sm).balance, 5 ether + price - fee);
        assertEq(sm.freeStakeOf(PROVIDER), 5 ether);
    }

    /// @dev Every settlement outcome, any fee / cut / bond: both contracts end up holding exactly what they owe.
    function testFuzz_settle_conservesValue(uint8 o, uint96 price, uint16 feeBps, uint16 cutBps, uint96 bond) public {
        IJobMarket.Params memory p = _params();
        p.protocolFeeBps = uint16(bound(feeBps, 0, 1000));
        p.disputeCutBps = uint16(bound(cutBps, 0, 5000));
        p.challengerBond = uint96(bound(bond, 1, 100 ether));
        vm.prank(ADMIN);
        market.setParams(p);
        price = uint96(bound(price, 1, 1_000_000 ether));
        (uint256 id, IJobMarket.JobTerms memory t) = _post(CLIENT, price, COLLATERAL, uint40(block.timestamp + 1 days));
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        _submit(id, t, PROVIDER);
        vm.deal(CHALLENGER, p.challengerBond);
        vm.prank(CHALLENGER);
        uint256 g = market.challenge{value: p.challengerBond}(id, t, TRACE, MODEL, OTHER_ROOT);
        IDisputeSettlement.Outcome outcome = IDisputeSettlement.Outcome(bound(o, 1, 4));
        game.settle(g, outcome);
        if (outcome == IDisputeSettlement.Outcome.DefenderWins) {
            vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
            market.finalize(id, t, TRACE, MODEL);
        }

        uint256 mCredits = market.creditOf(CLIENT) + market.creditOf(CHALLENGER) + market.creditOf(TREASURY);
        uint256 escrow = outcome == IDisputeSettlement.Outcome.Void ? price : 0;
        assertEq(address(market).balance, mCredits + escrow, "market holds credits (+ escrow if reopened)");
        uint256 sCredits = sm.creditOf(PROVIDER) + sm.creditOf(CHALLENGER) + sm.creditOf(TREASURY);
        assertEq(
            address(sm).balance, sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER) + sCredits, "stake conservation"
        );
        assertEq(sm.lockedStakeOf(PROVIDER), 0, "nothing stays locked");
        assertEq(address(market).balance + address(sm).balance, 5 ether + price + p.challengerBond, "no wei lost");
    }

    /// @dev Whatever the timing, a running job either takes its result or expires — never both, never neither.
    function testFuzz_deadline_submitXorExpire(uint32 dt) public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        _assign(id, t, PROVIDER);
        _accept(id, PROVIDER);
        vm.warp(block.timestamp + bound(dt, 0, 2 days));
        bool late = block.timestamp > t.deadline;
        if (late) {
            vm.prank(PROVIDER);
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.DeadlinePassed.selector, t.deadline, block.timestamp));
            market.submitResult(id, t, TRACE, MODEL, 1000);
            market.expire(id, t);
            assertEq(_status(id), uint256(IJobMarket.Status.Expired));
        } else {
            vm.expectRevert(
                abi.encodeWithSelector(IJobMarket.NotExpired.selector, id, IJobMarket.Status.Running, block.timestamp)
            );
            market.expire(id, t);
            _submit(id, t, PROVIDER);
            assertEq(_status(id), uint256(IJobMarket.Status.Submitted));
        }
    }

    /// @dev Any change to any field of the terms is caught by the commitment.
    function testFuzz_terms_anyFieldChangeRejected(uint8 field, uint256 delta) public {
        (uint256 id, IJobMarket.JobTerms memory t) = _postDefault();
        IJobMarket.JobTerms memory bad = _copy(t);
        field = uint8(bound(field, 0, 7));
        delta = bound(delta, 1, type(uint32).max);
        if (field == 0) bad.client = address(uint160(bad.client) ^ uint160(delta));
        if (field == 1) bad.price = uint96(bad.price ^ delta);
        if (field == 2) bad.specHash = bytes32(uint256(bad.specHash) ^ delta);
        if (field == 3) bad.numSteps = uint32(bad.numSteps ^ delta);
        if (field == 4) bad.checkpointEvery = uint32(bad.checkpointEvery ^ delta);
        if (field == 5) bad.opsPerStep = uint32(bad.opsPerStep ^ delta);
        if (field == 6) bad.collateral = uint96(bad.collateral ^ delta);
        if (field == 7) bad.deadline = uint40(bad.deadline ^ delta);
        vm.prank(MATCHER);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.TermsMismatch.selector, id, _hash(bad), _hash(t)));
        market.assign(id, bad, PROVIDER);
    }
}

/// @notice The issue's gas budget, measured the way receipts count it: forge's isolate mode runs each call
/// below as its own transaction (21k base, calldata, cold state, refunds), and `lastCallGas` reports its total.
/// Addresses are full 20-byte keys, so calldata costs what a real client's does. `agora bench gas` measures
/// the same path from anvil receipts.
contract JobMarketGasTest is MarketFixture {
    event GasUsed(string call, uint256 gas);

    uint256 internal constant HAPPY_PATH_BUDGET = 250_000;

    /// forge-config: default.isolate = true
    function test_gas_happyPathOfFirstJobUnderBudget() public {
        vm.warp(1_000_000);
        address client = vm.addr(0xC11E47);
        address provider = vm.addr(0xB0B0B0);
        address matcher = vm.addr(0xA11A11);
        vm.prank(ADMIN);
        market = new JobMarket(_params(), matcher, vm.addr(0x7EA5), UNBONDING);
        sm = StakeManager(address(market.stakeManager()));
        vm.deal(provider, 10 ether);
        vm.prank(provider);
        sm.stake{value: 5 ether}();
        vm.deal(client, 10 ether);

        uint40 deadline = uint40(block.timestamp + 1 days);
        IJobMarket.JobTerms memory t = _terms(client, PRICE, COLLATERAL, deadline);
        uint256[5] memory g;
        vm.prank(client);
        uint256 id = market.postJob{value: PRICE}(SPEC, 1000, 100, 40, COLLATERAL, deadline);
        g[0] = vm.lastCallGas().gasTotalUsed;
        vm.prank(matcher);
        market.assign(id, t, provider);
        g[1] = vm.lastCallGas().gasTotalUsed;
        vm.prank(provider);
        market.accept(id);
        g[2] = vm.lastCallGas().gasTotalUsed;
        vm.prank(provider);
        market.submitResult(id, t, TRACE, MODEL, t.numSteps);
        g[3] = vm.lastCallGas().gasTotalUsed;
        vm.warp(block.timestamp + CHALLENGE_WINDOW + 1);
        vm.prank(matcher);
        market.finalize(id, t, TRACE, MODEL);
        g[4] = vm.lastCallGas().gasTotalUsed;

        assertEq(_status(id), uint256(IJobMarket.Status.Finalized), "the path completed");
        assertGt(market.protocolFees(), 0, "with a non-zero protocol fee");
        emit GasUsed("postJob", g[0]);
        emit GasUsed("assign", g[1]);
        emit GasUsed("accept", g[2]);
        emit GasUsed("submitResult", g[3]);
        emit GasUsed("finalize", g[4]);
        uint256 total = g[0] + g[1] + g[2] + g[3] + g[4];
        emit GasUsed("happyPathTotal", total);
        // isolate mode must really have charged each call as a transaction (21k base each)
        for (uint256 i; i < 5; ++i) {
            assertGt(g[i], 21_000, "per-call total includes the base cost");
        }
        assertLe(total, HAPPY_PATH_BUDGET, "post+assign+accept+submit+finalize gas");
    }
}
