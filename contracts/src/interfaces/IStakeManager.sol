// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

interface IStakeManager {
    /// @dev JobMarket only: moves `amount` of the provider's free stake to locked.
    function lock(address provider, uint256 amount) external;
    /// @dev JobMarket only: moves `amount` of locked stake back to free.
    function unlock(address provider, uint256 amount) external;
    /// @dev DisputeGame only: takes `amount` from the provider (locked first, then unbonding, then free)
    /// and credits it to `to` (pulled later with withdrawCredit).
    function slash(address provider, uint256 amount, address to) external;
    function freeStakeOf(address provider) external view returns (uint256);
    function lockedStakeOf(address provider) external view returns (uint256);
}
