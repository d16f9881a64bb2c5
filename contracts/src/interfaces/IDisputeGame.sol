// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What JobMarket needs from the dispute game: open a game for a challenge, and its reward share.
interface IDisputeGame {
    /// @dev Called only by JobMarket.challenge, which holds the bond. The game learns the sequence lengths of
    /// every level from (numSteps, checkpointEvery, opsPerStep). `finalModelHash` is the submitted result's: in
    /// the first round the defender must prove its L[S] is keccak256(finalModelHash ‖ slotsHash) (PROTOCOL §7).
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
        uint96 bond
    ) external returns (uint256 gameId);

    /// @dev Share (basis points) of a slashed collateral that goes to the winning challenger.
    function challengerRewardBps() external view returns (uint16);
}
