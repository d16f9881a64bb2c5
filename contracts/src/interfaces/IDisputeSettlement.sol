// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice How a dispute game reports its end to JobMarket (implemented by JobMarket). The market holds every
/// wei of a dispute (bond, escrow) and does every slash, so a game only decides outcomes (PROTOCOL §6).
interface IDisputeSettlement {
    /// @dev 0 is reserved for "none".
    enum Outcome {
        None,
        DefenderWins, // challenger lied: its bond goes to the defender (minus treasury cut); the job stays Submitted
        ChallengerWins, // defender lied: collateral slashed once (reward share to the challenger), client refunded
        BothLose, // neither matched the referee: collateral and bond to treasury, client refunded
        Void, // referee missed its window: bonds back, nobody slashed, the result is discarded, job Open again
        Moot // the result this game judged was already decided by another game (or voided): bond back in full
    }

    /// @dev Only a game this market opened may call, exactly once per game (keyed by the caller and `gameId`).
    /// Returns the collateral slashed (0 unless the outcome proved the result wrong for the first time).
    function onDisputeSettled(uint256 gameId, Outcome outcome) external returns (uint256 slashed);

    /// @dev True while game `gameId` of `game` still judges the job's current submission (it may then not end Moot).
    function challengeLive(address game, uint256 gameId) external view returns (bool);

    /// @dev Where slashed collateral and lost bonds go (the game reads it, never keeps a copy).
    function treasury() external view returns (address);
}
