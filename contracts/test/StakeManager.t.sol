// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./base/TestBase.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

/// @dev Refuses ETH, to test that a failed payout reverts and keeps the credit.
contract Refuser {
    function stakeInto(StakeManager sm) external payable {
        sm.stake{value: msg.value}();
    }

    function unstake(StakeManager sm, uint256 amount) external {
        sm.requestUnstake(amount);
    }

    function withdrawUnstaked(StakeManager sm) external {
        sm.withdrawUnstaked();
    }
}

/// @notice StakeManager unit and fuzz tests; this test contract plays JobMarket (the immutable market).
contract StakeManagerTest is TestBase {
    StakeManager internal sm;

    address internal constant ADMIN = address(0xAD);
    address internal constant GAME = address(0x6A);
    address internal constant P = address(0xB0B);
    address internal constant Q = address(0xB0C);
    address internal constant TREASURY = address(0x7EA5);
    uint32 internal constant UNBONDING = 60;

    event Staked(address indexed provider, uint256 amount, uint256 free);
    event UnstakeRequested(address indexed provider, uint256 amount, uint256 unbonding, uint256 releaseAt);
    event StakeLocked(address indexed provider, uint256 amount);
    event StakeReleased(address indexed provider, uint256 unlocked, uint256 credited);
    event StakeSlashed(address indexed provider, uint256 amount, address indexed to);

    function setUp() public {
        sm = new StakeManager(ADMIN, address(this), UNBONDING);
        vm.deal(P, 100 ether);
        vm.deal(Q, 100 ether);
        vm.deal(address(this), 100 ether);
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Everything StakeManager holds for `a`, hashed: equal before and after means nothing changed.
    function _state(address a) internal view returns (bytes32) {
        (uint256 u, uint256 r) = sm.unbondingOf(a);
        return keccak256(
            abi.encode(sm.freeStakeOf(a), sm.lockedStakeOf(a), u, r, sm.creditOf(a), address(sm).balance)
        );
    }

    function _stake(address who, uint256 amount) internal {
        if (who.balance < amount) vm.deal(who, amount);
        vm.prank(who);
        sm.stake{value: amount}();
    }

    function _conserved(address[3] memory as_) internal view {
        uint256 sum;
        for (uint256 i; i < 3; ++i) {
            (uint256 u,) = sm.unbondingOf(as_[i]);
            sum += sm.freeStakeOf(as_[i]) + sm.lockedStakeOf(as_[i]) + u + sm.creditOf(as_[i]);
        }
        assertEq(address(sm).balance, sum, "balance == free + locked + unbonding + credits");
    }

    // ------------------------------------------------------------------ constructor / admin

    function test_constructor_setsRolesAndPeriod() public view {
        assertEq(sm.admin(), ADMIN);
        assertEq(sm.market(), address(this));
        assertEq(sm.unbondingPeriod(), UNBONDING);
    }

    function test_constructor_revertsOnZeroAddressOrLongPeriod() public {
        vm.expectRevert(IStakeManager.ZeroAddress.selector);
        new StakeManager(address(0), address(this), 1);
        vm.expectRevert(IStakeManager.ZeroAddress.selector);
        new StakeManager(ADMIN, address(0), 1);
        uint256 tooLong = sm.MAX_UNBONDING_PERIOD() + 1;
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.UnbondingPeriodTooLong.selector, tooLong, tooLong - 1));
        new StakeManager(ADMIN, address(this), uint32(tooLong));
    }

    function test_setUnbondingPeriod_adminOnlyAndBounded() public {
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotAdmin.selector, P));
        sm.setUnbondingPeriod(1);
        uint256 max = sm.MAX_UNBONDING_PERIOD();
        vm.prank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.UnbondingPeriodTooLong.selector, 91 days, max));
        sm.setUnbondingPeriod(91 days);
        assertEq(sm.unbondingPeriod(), UNBONDING, "unchanged");
        vm.prank(ADMIN);
        sm.setUnbondingPeriod(1);
        assertEq(sm.unbondingPeriod(), 1);
    }

    function test_admin_cannotMoveStake() public {
        _stake(P, 3 ether);
        vm.startPrank(ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, ADMIN));
        sm.lock(P, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, ADMIN));
        sm.forfeit(P, 1 ether, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, ADMIN));
        sm.slash(P, 1 ether, ADMIN);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NothingToWithdraw.selector, ADMIN));
        sm.withdrawCredit();
        vm.stopPrank();
        assertEq(sm.freeStakeOf(P), 3 ether);
    }

    // ------------------------------------------------------------------ stake / unstake

    function test_stake_addsToFree() public {
        vm.expectEmit(true, false, false, true);
        emit Staked(P, 2 ether, 2 ether);
        _stake(P, 2 ether);
        _stake(P, 1 ether);
        assertEq(sm.freeStakeOf(P), 3 ether);
        assertEq(address(sm).balance, 3 ether);
    }

    function test_stake_revertsOnZero() public {
        bytes32 before = _state(P);
        vm.prank(P);
        vm.expectRevert(IStakeManager.ZeroAmount.selector);
        sm.stake();
        assertEq(_state(P), before, "unchanged");
    }

    function test_stake_revertsAbove88Bits() public {
        uint256 big = uint256(type(uint88).max) + 1;
        vm.deal(P, big);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.StakeTooLarge.selector, big));
        sm.stake{value: big}();
        assertEq(sm.freeStakeOf(P), 0);
    }

    function test_requestUnstake_movesFreeToUnbondingAndRestartsClock() public {
        _stake(P, 5 ether);
        vm.warp(1000);
        vm.expectEmit(true, false, false, true);
        emit UnstakeRequested(P, 2 ether, 2 ether, 1000 + UNBONDING);
        vm.prank(P);
        sm.requestUnstake(2 ether);
        vm.warp(1030);
        vm.prank(P);
        sm.requestUnstake(1 ether);
        (uint256 u, uint256 r) = sm.unbondingOf(P);
        assertEq(u, 3 ether, "unbonding");
        assertEq(r, 1030 + UNBONDING, "clock restarted");
        assertEq(sm.freeStakeOf(P), 2 ether, "free");
    }

    function test_requestUnstake_revertsOnZeroOrMoreThanFree() public {
        _stake(P, 1 ether);
        sm.lock(P, 0.5 ether);
        bytes32 before = _state(P);
        vm.startPrank(P);
        vm.expectRevert(IStakeManager.ZeroAmount.selector);
        sm.requestUnstake(0);
        // Locked stake cannot be unstaked: only 0.5 ether is free.
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientFreeStake.selector, 0.5 ether, 1 ether));
        sm.requestUnstake(1 ether);
        vm.stopPrank();
        assertEq(_state(P), before, "unchanged");
    }

    function test_withdrawUnstaked_paysAfterPeriod() public {
        _stake(P, 2 ether);
        vm.warp(100);
        vm.prank(P);
        sm.requestUnstake(2 ether);
        vm.warp(100 + UNBONDING);
        uint256 bal = P.balance;
        vm.prank(P);
        sm.withdrawUnstaked();
        assertEq(P.balance, bal + 2 ether, "paid");
        (uint256 u, uint256 r) = sm.unbondingOf(P);
        assertEq(u + r, 0, "cleared");
        assertEq(address(sm).balance, 0);
    }

    function test_withdrawUnstaked_revertsWhenNothingOrTooEarly() public {
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NothingUnbonding.selector, P));
        sm.withdrawUnstaked();
        _stake(P, 2 ether);
        vm.warp(100);
        vm.prank(P);
        sm.requestUnstake(1 ether);
        vm.warp(100 + UNBONDING - 1);
        bytes32 before = _state(P);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.StillUnbonding.selector, 100 + UNBONDING, 99 + UNBONDING));
        sm.withdrawUnstaked();
        assertEq(_state(P), before, "unchanged");
    }

    function test_withdrawUnstaked_revertsWhenRecipientRefuses() public {
        Refuser r = new Refuser();
        r.stakeInto{value: 1 ether}(sm);
        r.unstake(sm, 1 ether);
        vm.warp(block.timestamp + UNBONDING);
        bytes32 before = _state(address(r));
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.TransferFailed.selector, address(r), 1 ether));
        r.withdrawUnstaked(sm);
        assertEq(_state(address(r)), before, "unbonding kept");
    }

    // ------------------------------------------------------------------ lock / unlock / release / forfeit

    function test_lock_movesFreeToLocked() public {
        _stake(P, 3 ether);
        vm.expectEmit(true, false, false, true);
        emit StakeLocked(P, 2 ether);
        sm.lock(P, 2 ether);
        assertEq(sm.freeStakeOf(P), 1 ether);
        assertEq(sm.lockedStakeOf(P), 2 ether);
        (uint256 free, uint256 locked) = sm.stakeOf(P);
        assertEq(free + locked, 3 ether);
    }

    function test_lock_revertsForNonMarketOrShortStake() public {
        _stake(P, 1 ether);
        bytes32 before = _state(P);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, P));
        sm.lock(P, 1 ether);
        vm.prank(GAME);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, GAME));
        sm.lock(P, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientFreeStake.selector, 1 ether, 2 ether));
        sm.lock(P, 2 ether);
        assertEq(_state(P), before, "unchanged");
    }

    function test_unlock_movesLockedToFree() public {
        _stake(P, 3 ether);
        sm.lock(P, 2 ether);
        sm.unlock(P, 1.5 ether);
        assertEq(sm.freeStakeOf(P), 2.5 ether);
        assertEq(sm.lockedStakeOf(P), 0.5 ether);
    }

    function test_unlock_revertsForNonMarketOrTooMuch() public {
        _stake(P, 3 ether);
        sm.lock(P, 1 ether);
        bytes32 before = _state(P);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, P));
        sm.unlock(P, 1 ether);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientLockedStake.selector, 1 ether, 2 ether));
        sm.unlock(P, 2 ether);
        assertEq(_state(P), before, "unchanged");
    }

    function test_release_unlocksAndCreditsPayout() public {
        _stake(P, 3 ether);
        sm.lock(P, 2 ether);
        vm.expectEmit(true, false, false, true);
        emit StakeReleased(P, 2 ether, 0.9 ether);
        sm.release{value: 0.9 ether}(P, 2 ether);
        assertEq(sm.freeStakeOf(P), 3 ether);
        assertEq(sm.lockedStakeOf(P), 0);
        assertEq(sm.creditOf(P), 0.9 ether);
        _conserved([P, Q, TREASURY]);
        uint256 bal = P.balance;
        vm.prank(P);
        sm.withdrawCredit();
        assertEq(P.balance, bal + 0.9 ether);
        assertEq(sm.creditOf(P), 0);
        assertEq(sm.freeStakeOf(P), 3 ether, "stake untouched by credit withdrawal");
    }

    function test_release_creditSpillsPast80Bits() public {
        _stake(P, 1 ether);
        uint256 big = uint256(type(uint80).max);
        vm.deal(address(this), 2 * big + 2);
        sm.release{value: big}(P, 0);
        sm.release{value: 2}(P, 0); // does not fit the packed credit: goes to the overflow map
        assertEq(sm.creditOf(P), big + 2);
        _conserved([P, Q, TREASURY]);
        uint256 bal = P.balance;
        vm.prank(P);
        sm.withdrawCredit();
        assertEq(P.balance, bal + big + 2);
    }

    function test_release_revertsForNonMarket() public {
        _stake(P, 1 ether);
        sm.lock(P, 1 ether);
        bytes32 before = _state(P);
        vm.deal(P, 1 ether);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, P));
        sm.release{value: 1 ether}(P, 1 ether);
        assertEq(_state(P), before, "unchanged");
    }

    function test_forfeit_takesLockedToRecipient() public {
        _stake(P, 3 ether);
        sm.lock(P, 2 ether);
        sm.forfeit(P, 1 ether, Q);
        assertEq(sm.lockedStakeOf(P), 1 ether);
        assertEq(sm.freeStakeOf(P), 1 ether);
        assertEq(sm.creditOf(Q), 1 ether);
        _conserved([P, Q, TREASURY]);
    }

    function test_forfeit_revertsForNonMarketTooMuchOrZeroRecipient() public {
        _stake(P, 3 ether);
        sm.lock(P, 1 ether);
        bytes32 before = _state(P);
        vm.prank(GAME);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, GAME));
        sm.forfeit(P, 1 ether, Q);
        // Free stake is not forfeitable: only locked collateral.
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientLockedStake.selector, 1 ether, 2 ether));
        sm.forfeit(P, 2 ether, Q);
        vm.expectRevert(IStakeManager.ZeroAddress.selector);
        sm.forfeit(P, 1 ether, address(0));
        assertEq(_state(P), before, "unchanged");
    }

    // ------------------------------------------------------------------ slash

    function test_slash_takesLockedThenUnbondingThenFree() public {
        _stake(P, 10 ether);
        sm.lock(P, 2 ether);
        vm.prank(P);
        sm.requestUnstake(3 ether); // free 5, locked 2, unbonding 3
        sm.slash(P, 4 ether, TREASURY);
        (uint256 u,) = sm.unbondingOf(P);
        assertEq(sm.lockedStakeOf(P), 0, "locked first");
        assertEq(u, 1 ether, "then unbonding");
        assertEq(sm.freeStakeOf(P), 5 ether, "free untouched");
        sm.slash(P, 3 ether, TREASURY);
        (u,) = sm.unbondingOf(P);
        assertEq(u, 0);
        assertEq(sm.freeStakeOf(P), 3 ether, "then free");
        assertEq(sm.creditOf(TREASURY), 7 ether);
        _conserved([P, Q, TREASURY]);
    }

    function test_slash_capsAtWholeStake() public {
        _stake(P, 1 ether);
        vm.expectEmit(true, true, false, true);
        emit StakeSlashed(P, 1 ether, Q);
        sm.slash(P, 5 ether, Q);
        assertEq(sm.creditOf(Q), 1 ether);
        assertEq(sm.freeStakeOf(P), 0);
        _conserved([P, Q, TREASURY]);
    }

    function test_slash_unbondingStaysSlashable() public {
        _stake(P, 2 ether);
        vm.prank(P);
        sm.requestUnstake(2 ether);
        sm.slash(P, 2 ether, Q);
        vm.warp(block.timestamp + UNBONDING);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NothingUnbonding.selector, P));
        sm.withdrawUnstaked();
    }

    /// @dev Regression (hole 5): slashing was the current game's right, so `setGame` stranded every live game on
    /// the old address. Now only the (immutable) market slashes, for any game it opened.
    function test_slash_revertsForNonMarket() public {
        _stake(P, 2 ether);
        bytes32 before = _state(P);
        vm.prank(GAME);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, GAME));
        sm.slash(P, 1 ether, Q); // a game may not slash directly
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NotMarket.selector, P));
        sm.slash(P, 1 ether, Q);
        vm.expectRevert(IStakeManager.ZeroAddress.selector);
        sm.slash(P, 1 ether, address(0));
        assertEq(_state(P), before, "unchanged");
    }

    function test_withdrawCredit_revertsWhenNone() public {
        vm.prank(Q);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.NothingToWithdraw.selector, Q));
        sm.withdrawCredit();
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_stakeLockUnstake_conserves(uint96 s, uint96 l, uint96 u, uint96 x) public {
        uint256 st = bound(s, 1, 1000 ether);
        uint256 lk = bound(l, 0, st);
        uint256 un = bound(u, 0, st - lk);
        _stake(P, st);
        sm.lock(P, lk);
        if (un != 0) {
            vm.prank(P);
            sm.requestUnstake(un);
        }
        _conserved([P, Q, TREASURY]);
        // Never more than free can be unstaked, whatever is asked.
        uint256 ask = bound(x, st - lk - un + 1, type(uint96).max);
        vm.prank(P);
        vm.expectRevert(abi.encodeWithSelector(IStakeManager.InsufficientFreeStake.selector, st - lk - un, ask));
        sm.requestUnstake(ask);
        assertEq(sm.lockedStakeOf(P), lk, "locked untouched");
    }

    function testFuzz_slash_takesExactlyMinOfAmountAndStake(uint96 s, uint96 l, uint96 a) public {
        uint256 st = bound(s, 1, 1000 ether);
        uint256 lk = bound(l, 0, st);
        _stake(P, st);
        sm.lock(P, lk);
        uint256 amount = bound(a, 0, 2000 ether);
        sm.slash(P, amount, Q);
        uint256 taken = amount < st ? amount : st;
        assertEq(sm.creditOf(Q), taken, "credited what was taken");
        assertEq(sm.freeStakeOf(P) + sm.lockedStakeOf(P), st - taken, "stake reduced");
        assertEq(sm.lockedStakeOf(P), lk > taken ? lk - taken : 0, "locked goes first");
        _conserved([P, Q, TREASURY]);
    }

    function testFuzz_lockUnlock_roundTrip(uint96 s, uint96 l) public {
        uint256 st = bound(s, 1, 1000 ether);
        uint256 lk = bound(l, 0, st);
        _stake(P, st);
        sm.lock(P, lk);
        sm.unlock(P, lk);
        assertEq(sm.freeStakeOf(P), st);
        assertEq(sm.lockedStakeOf(P), 0);
    }

    receive() external payable {}
}
