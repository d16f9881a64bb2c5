// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStakeManager} from "../interfaces/IStakeManager.sol";

/// @notice One provider's stake and the rules that move it between free, locked, unbonding and credit.
/// @dev StakeManager wires storage, roles and events; every balance rule lives here so tests can drive it.
// Every narrowing cast in this library is of a value bounded by the bucket it came from (checked just above
// it) or by toBucket.
// forge-lint: disable-start(unsafe-typecast)
library StakeAccount {
    /// @dev Hot slot: lock, unlock and a job payout touch only {free, locked, credit}. 88 bits hold more than the
    /// whole ETH supply; a credit that would pass 80 bits (≈ 1.2e6 ETH) spills into StakeManager's cold map.
    struct Account {
        uint88 free;
        uint88 locked;
        uint80 credit;
        uint96 unbonding;
        uint64 releaseAt;
    }

    uint256 internal constant MAX_BUCKET = type(uint88).max;

    function toBucket(uint256 x) internal pure returns (uint88) {
        // INVARIANT: every stake bucket fits 88 bits, so the packed slot never truncates.
        if (x > MAX_BUCKET) revert IStakeManager.StakeTooLarge(x);
        return uint88(x);
    }

    function deposit(Account storage a, uint256 amount) internal returns (uint256 free) {
        // INVARIANT: a stake moves value; zero-value calls would only spam events.
        if (amount == 0) revert IStakeManager.ZeroAmount();
        free = uint256(a.free) + amount;
        // free + locked must fit 88 bits too: lock/unlock move between them unchecked.
        toBucket(free + a.locked);
        a.free = uint88(free);
    }

    function requestUnstake(Account storage a, uint256 amount, uint256 releaseAt) internal returns (uint256 unbonding) {
        // INVARIANT: only free stake can start unbonding; locked collateral never leaves through here.
        if (amount == 0) revert IStakeManager.ZeroAmount();
        uint256 free = a.free;
        if (amount > free) revert IStakeManager.InsufficientFreeStake(free, amount);
        unbonding = uint256(a.unbonding) + amount; // ≤ total ever staked < 2^96
        a.free = uint88(free - amount);
        a.unbonding = uint96(unbonding);
        a.releaseAt = uint64(releaseAt);
    }

    function takeUnbonded(Account storage a, address provider, uint256 timestamp) internal returns (uint256 amount) {
        amount = a.unbonding;
        // INVARIANT: something must be unbonding, and its period must have passed.
        if (amount == 0) revert IStakeManager.NothingUnbonding(provider);
        if (timestamp < a.releaseAt) revert IStakeManager.StillUnbonding(a.releaseAt, timestamp);
        a.unbonding = 0;
        a.releaseAt = 0;
    }

    function lock(Account storage a, uint256 amount) internal {
        uint256 free = a.free;
        // INVARIANT: collateral is locked only out of free stake.
        if (amount > free) revert IStakeManager.InsufficientFreeStake(free, amount);
        unchecked {
            a.free = uint88(free - amount);
            a.locked = uint88(uint256(a.locked) + amount); // free + locked is unchanged and fits (see deposit)
        }
    }

    function unlock(Account storage a, uint256 amount) internal {
        uint256 locked = a.locked;
        // INVARIANT: only what is locked can be released.
        if (amount > locked) revert IStakeManager.InsufficientLockedStake(locked, amount);
        unchecked {
            a.locked = uint88(locked - amount);
            a.free = uint88(uint256(a.free) + amount);
        }
    }

    function takeLocked(Account storage a, uint256 amount) internal {
        uint256 locked = a.locked;
        // INVARIANT: a forfeit takes only locked collateral.
        if (amount > locked) revert IStakeManager.InsufficientLockedStake(locked, amount);
        unchecked {
            a.locked = uint88(locked - amount);
        }
    }

    /// @dev Adds to the packed credit; returns false (and changes nothing) when it would not fit.
    function tryCredit(Account storage a, uint256 amount) internal returns (bool) {
        uint256 c = uint256(a.credit) + amount;
        if (c > type(uint80).max) return false;
        a.credit = uint80(c);
        return true;
    }

    /// @dev Takes up to `amount`: locked first, then unbonding, then free. Returns what was taken.
    function slash(Account storage a, uint256 amount) internal returns (uint256 taken) {
        uint256 locked = a.locked;
        uint256 unbonding = a.unbonding;
        uint256 free = a.free;
        uint256 rest = amount;
        uint256 x = rest < locked ? rest : locked;
        locked -= x;
        rest -= x;
        x = rest < unbonding ? rest : unbonding;
        unbonding -= x;
        rest -= x;
        x = rest < free ? rest : free;
        free -= x;
        rest -= x;
        a.locked = uint88(locked);
        a.unbonding = uint96(unbonding);
        a.free = uint88(free);
        taken = amount - rest;
    }
}
// forge-lint: disable-end(unsafe-typecast)
