// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice How a dispute game reports its end to JobMarket (implemented by JobMarket).
interface IDisputeSettlement {
    /// @dev 0 is reserved for "none".
    enum Outcome {
        None,
        DefenderWins, // challenger lied: its bond goes to the defender (minus treasury cut), the job finalizes
        ChallengerWins, // defender lied: the game has already slashed its collateral; client refunded, bond back
        BothLose, // neither matched the referee: defender slashed to treasury, bond to treasury, client refunded
        Void // referee missed its deadline: bond back, collateral unlocked, job reopened for matching
    }

    /// @dev Only the registered DisputeGame may call; exactly once per challenge.
    function onDisputeSettled(uint256 jobId, Outcome outcome) external;
}
