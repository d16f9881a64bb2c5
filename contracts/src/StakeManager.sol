// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {StakeAccount} from "./libraries/StakeAccount.sol";

/// @title StakeManager — provider stake for the Agora market
/// @notice For the Python client:
/// - providers `stake()` ETH, `requestUnstake(amount)` moves free → unbonding (and restarts the clock),
///   `withdrawUnstaked()` pays out all unbonding stake once `unbondingPeriod` seconds have passed;
/// - JobMarket `lock`s collateral out of free stake on accept, `unlock`s it on finalize, `forfeit`s part of it
///   when an accepted job misses its deadline, stalls or is abandoned, and `slash`es (locked, then unbonding,
///   then free) when a dispute game proves a result wrong. Only the market (immutable) moves stake, so no admin
///   action (a new game address) can strand a live game's slash;
/// - JobMarket pays a finished job's payout here with `release{value: payout}` (collateral unlocked, payout
///   credited next to the stake, in the slot the unlock writes anyway); whatever a slash or forfeit takes is
///   credited to its recipient; everyone pulls credit with `withdrawCredit()`;
/// - JobMarket deploys it (market is immutable: saves a cold storage read on every lock and release);
///   the admin (JobMarket's deployer) sets the unbonding period and can never move stake or credits. The minimum provider stake is a JobMarket parameter (checked in assign).
/// Conservation: address(this).balance == Σ free + Σ locked + Σ unbonding + Σ credits.
contract StakeManager is IStakeManager {
    using StakeAccount for StakeAccount.Account;

    // ------------------------------------------------------------------ storage

    /// @dev Upper bound on the unbonding period the admin may set.
    uint256 public constant MAX_UNBONDING_PERIOD = 90 days;

    address public immutable admin;
    address public immutable market;

    uint32 public unbondingPeriod;

    mapping(address => StakeAccount.Account) internal _accounts;
    mapping(address => uint256) internal _credits;

    constructor(address admin_, address market_, uint32 unbondingPeriod_) {
        // INVARIANT: both roles exist from the start (market is immutable).
        if (admin_ == address(0) || market_ == address(0)) revert ZeroAddress();
        admin = admin_;
        market = market_;
        _setUnbondingPeriod(unbondingPeriod_);
    }

    // ------------------------------------------------------------------ internal

    function _onlyAdmin() internal view {
        // INVARIANT: only the deployer configures roles and parameters.
        if (msg.sender != admin) revert NotAdmin(msg.sender);
    }

    function _onlyMarket() internal view {
        // INVARIANT: only JobMarket moves stake between free and locked.
        if (msg.sender != market) revert NotMarket(msg.sender);
    }

    function _setUnbondingPeriod(uint32 v) internal {
        // INVARIANT: the admin cannot trap stake behind an unbounded unbonding period.
        if (v > MAX_UNBONDING_PERIOD) revert UnbondingPeriodTooLong(v, MAX_UNBONDING_PERIOD);
        unbondingPeriod = v;
        emit UnbondingPeriodSet(v);
    }

    function _credit(address to, uint256 amount) internal {
        // INVARIANT: a credit needs a recipient that can pull it.
        if (to == address(0)) revert ZeroAddress();
        _addCredit(to, amount);
        emit Credited(to, amount);
    }

    function _addCredit(address to, uint256 amount) internal {
        if (!_accounts[to].tryCredit(amount)) _credits[to] += amount;
    }

    function _send(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    // ------------------------------------------------------------------ external write: admin

    function setUnbondingPeriod(uint32 period) external {
        _onlyAdmin();
        _setUnbondingPeriod(period);
    }

    // ------------------------------------------------------------------ external write: providers

    function stake() external payable {
        uint256 free = _accounts[msg.sender].deposit(msg.value);
        emit Staked(msg.sender, msg.value, free);
    }

    function requestUnstake(uint256 amount) external {
        uint256 releaseAt = block.timestamp + unbondingPeriod;
        uint256 unbonding = _accounts[msg.sender].requestUnstake(amount, releaseAt);
        emit UnstakeRequested(msg.sender, amount, unbonding, releaseAt);
    }

    function withdrawUnstaked() external {
        uint256 amount = _accounts[msg.sender].takeUnbonded(msg.sender, block.timestamp);
        emit UnstakeWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    function withdrawCredit() external {
        StakeAccount.Account storage a = _accounts[msg.sender];
        uint256 amount = uint256(a.credit) + _credits[msg.sender];
        // INVARIANT: only an existing credit can be pulled, and it is zeroed before the transfer.
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        a.credit = 0;
        _credits[msg.sender] = 0;
        emit CreditWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ external write: roles

    function lock(address provider, uint256 amount) external {
        _onlyMarket();
        _accounts[provider].lock(amount);
        emit StakeLocked(provider, amount);
    }

    function unlock(address provider, uint256 amount) external {
        _onlyMarket();
        _accounts[provider].unlock(amount);
        emit StakeUnlocked(provider, amount);
    }

    function release(address provider, uint256 unlockAmount) external payable {
        _onlyMarket();
        StakeAccount.Account storage a = _accounts[provider];
        a.unlock(unlockAmount);
        _addCredit(provider, msg.value);
        emit StakeReleased(provider, unlockAmount, msg.value);
    }

    function forfeit(address provider, uint256 amount, address to) external {
        _onlyMarket();
        _accounts[provider].takeLocked(amount);
        _credit(to, amount);
        emit StakeForfeited(provider, amount, to);
    }

    function slash(address provider, uint256 amount, address to) external returns (uint256 taken) {
        // INVARIANT: only the market slashes, and only when a game it opened proved the provider's result wrong.
        _onlyMarket();
        taken = _accounts[provider].slash(amount);
        _credit(to, taken);
        emit StakeSlashed(provider, taken, to);
    }

    // ------------------------------------------------------------------ external read

    function freeStakeOf(address provider) external view returns (uint256) {
        return _accounts[provider].free;
    }

    function lockedStakeOf(address provider) external view returns (uint256) {
        return _accounts[provider].locked;
    }

    function unbondingOf(address provider) external view returns (uint256 amount, uint256 releaseAt) {
        StakeAccount.Account storage a = _accounts[provider];
        return (a.unbonding, a.releaseAt);
    }

    function creditOf(address account) external view returns (uint256) {
        return uint256(_accounts[account].credit) + _credits[account];
    }

    function stakeOf(address provider) external view returns (uint256 free, uint256 locked) {
        StakeAccount.Account storage a = _accounts[provider];
        return (a.free, a.locked);
    }
}
