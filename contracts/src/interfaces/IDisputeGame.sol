// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What JobMarket needs from the dispute game: open a game for a challenged job.
interface IDisputeGame {
    /// @dev Called only by JobMarket.challenge, after it has moved the job to Disputed and holds the bond.
    /// The game learns the sequence lengths of every level from (numSteps, checkpointEvery, opsPerStep).
    /// `finalModelHash` is the submitted result's; when the roots agree the game opens in ProveFinal
    /// (PROTOCOL §7) and the defender must prove its last segment leaf is keccak256(finalModelHash ‖ slotsHash).
    function open(
        uint256 jobId,
        address defender,
        address challenger,
        bytes32 defenderRoot,
        bytes32 challengerRoot,
        bytes32 finalModelHash,
        uint32 numSteps,
        uint32 checkpointEvery,
        uint32 opsPerStep,
        uint96 collateral,
        uint96 bond
    ) external returns (uint256 gameId);
}
