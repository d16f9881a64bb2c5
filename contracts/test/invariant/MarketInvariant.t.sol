// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarketFixture} from "../base/MarketFixture.sol";
import {MarketHandler} from "./MarketHandler.sol";
import {IJobMarket} from "../../src/interfaces/IJobMarket.sol";

/// @notice Conservation and role invariants of JobMarket + StakeManager under random lifecycles.
contract MarketInvariantTest is MarketFixture {
    MarketHandler internal handler;

    function setUp() public {
        vm.warp(1_000_000);
        _deployMarket();
        handler = new MarketHandler(market, game, MATCHER, TREASURY);
        // Every provider starts bonded, so matching can succeed from the first call.
        for (uint256 i; i < 3; ++i) {
            handler.stake(i, 20 ether);
        }
        targetContract(address(handler));
    }

    /// @dev One campaign checks every property after each call (forge runs each invariant_ function as its own
    /// 256 × 64 campaign, so five separate ones would cost five times the time for the same coverage).
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_market() public view {
        _marketBalanceIsEscrowPlusBondsPlusCredits();
        _stakeBalanceIsStakesPlusCredits();
        _lockedEqualsLiveCollateral();
        _statusMatchesModel();
        _rolesAndFreeStakeHold();
    }

    /// @dev JobMarket holds exactly the live escrow, the open bonds and everyone's credit (fees included).
    function _marketBalanceIsEscrowPlusBondsPlusCredits() internal view {
        address[] memory a = handler.actors();
        uint256 credits;
        for (uint256 i; i < a.length; ++i) {
            credits += market.creditOf(a[i]);
        }
        assertEq(address(market).balance, handler.escrow() + handler.bonds() + credits, "market conservation");
        assertEq(address(market).balance, handler.marketIn() - handler.marketOut(), "market in - out");
    }

    /// @dev StakeManager holds exactly Σ free + locked + unbonding + credits.
    function _stakeBalanceIsStakesPlusCredits() internal view {
        address[] memory a = handler.actors();
        uint256 sum;
        for (uint256 i; i < a.length; ++i) {
            (uint256 u,) = sm.unbondingOf(a[i]);
            sum += sm.freeStakeOf(a[i]) + sm.lockedStakeOf(a[i]) + u + sm.creditOf(a[i]);
        }
        assertEq(address(sm).balance, sum, "stake conservation");
        assertEq(address(sm).balance, handler.smIn() - handler.smOut(), "stake in - out");
    }

    /// @dev Locked stake is exactly the collateral of the provider's accepted, unfinished jobs.
    function _lockedEqualsLiveCollateral() internal view {
        for (uint256 i; i < 3; ++i) {
            address p = handler.providerAt(i);
            assertEq(sm.lockedStakeOf(p), handler.lockedOf(p), "locked == collateral of live jobs");
            // and no provider took out more stake than it put in
            assertLe(handler.unstakedOut(p), handler.stakedIn(p), "withdrawn <= staked");
        }
    }

    /// @dev The chain's status of every job is the model's.
    function _statusMatchesModel() internal view {
        uint256 n = handler.jobCount();
        for (uint256 i; i < n; ++i) {
            assertEq(uint256(market.jobStatus(i + 1)), uint256(handler.modelStatus(i)), "status");
        }
        assertEq(market.nextJobId(), n + 1, "counter");
    }

    /// @dev Only the matcher assigns, only JobMarket locks/unlocks/forfeits, only the game slashes or settles,
    /// and nobody unstakes more than its free stake.
    function _rolesAndFreeStakeHold() internal view {
        assertFalse(handler.wrongRoleSucceeded(), "a wrong-role call succeeded");
        assertFalse(handler.overdrawSucceeded(), "unstaked more than free");
    }
}
