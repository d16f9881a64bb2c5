// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Provider stake: free (withdrawable after unbonding), locked (job collateral), unbonding (still
/// slashable), plus pull credits: a provider's job payouts (JobMarket.finalize pays them here, next to the
/// stake, because that slot is already warm and non-zero) and whatever a slash or forfeit pays its recipient.
interface IStakeManager {
    // ------------------------------------------------------------------ errors

    /// @dev Only the admin (deployer) may set roles and parameters.
    error NotAdmin(address caller);
    /// @dev lock / unlock / release / forfeit / slash are JobMarket-only.
    error NotMarket(address caller);
    /// @dev An amount must be non-zero.
    error ZeroAmount();
    /// @dev A role address or credit recipient must be non-zero.
    error ZeroAddress();
    /// @dev The free stake does not cover the amount asked (unstake, lock).
    error InsufficientFreeStake(uint256 free, uint256 required);
    /// @dev The locked stake does not cover the amount asked (unlock, forfeit).
    error InsufficientLockedStake(uint256 locked, uint256 required);
    /// @dev withdrawUnstaked: nothing is unbonding.
    error NothingUnbonding(address provider);
    /// @dev withdrawUnstaked: the unbonding period has not passed.
    error StillUnbonding(uint256 releaseAt, uint256 timestamp);
    /// @dev withdrawCredit: the caller has no credit.
    error NothingToWithdraw(address account);
    /// @dev A stake bucket would exceed 2^88 - 1 wei (≈ 3.1e8 ETH).
    error StakeTooLarge(uint256 total);
    /// @dev An ETH transfer failed.
    error TransferFailed(address to, uint256 amount);
    /// @dev unbondingPeriod above MAX_UNBONDING_PERIOD.
    error UnbondingPeriodTooLong(uint256 period, uint256 max);

    // ------------------------------------------------------------------ events

    event Staked(address indexed provider, uint256 amount, uint256 free);
    event UnstakeRequested(address indexed provider, uint256 amount, uint256 unbonding, uint256 releaseAt);
    event UnstakeWithdrawn(address indexed provider, uint256 amount);
    event StakeLocked(address indexed provider, uint256 amount);
    event StakeUnlocked(address indexed provider, uint256 amount);
    /// @dev A finished job: `unlocked` collateral back to free, `credited` (msg.value) added to the provider's credit.
    event StakeReleased(address indexed provider, uint256 unlocked, uint256 credited);
    /// @dev `amount` is what was actually taken (capped at the provider's whole stake).
    event StakeSlashed(address indexed provider, uint256 amount, address indexed to);
    event StakeForfeited(address indexed provider, uint256 amount, address indexed to);
    event Credited(address indexed account, uint256 amount);
    event CreditWithdrawn(address indexed account, uint256 amount);
    event UnbondingPeriodSet(uint256 period);

    // ------------------------------------------------------------------ functions

    function stake() external payable;
    function requestUnstake(uint256 amount) external;
    function withdrawUnstaked() external;
    function withdrawCredit() external;

    /// @dev JobMarket only: moves `amount` of the provider's free stake to locked.
    function lock(address provider, uint256 amount) external;
    /// @dev JobMarket only: moves `amount` of locked stake back to free.
    function unlock(address provider, uint256 amount) external;
    /// @dev JobMarket only: unlocks `unlockAmount` and credits msg.value (the job payout) to the provider.
    function release(address provider, uint256 unlockAmount) external payable;
    /// @dev JobMarket only: takes `amount` of locked stake and credits it to `to` (missed deadline, stall, abandon).
    function forfeit(address provider, uint256 amount, address to) external;
    /// @dev JobMarket only (on a game's proof that the result was wrong): takes up to `amount` from the provider
    /// (locked first, then unbonding, then free), credits it to `to` (pulled later with withdrawCredit) and
    /// returns what it took.
    function slash(address provider, uint256 amount, address to) external returns (uint256 taken);

    function freeStakeOf(address provider) external view returns (uint256);
    function lockedStakeOf(address provider) external view returns (uint256);
    function unbondingOf(address provider) external view returns (uint256 amount, uint256 releaseAt);
    function creditOf(address account) external view returns (uint256);
    /// @dev What JobMarket.assign checks, in one slot read: free and locked stake.
    function stakeOf(address provider) external view returns (uint256 free, uint256 locked);
}
