// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IDisputeSettlement} from "./interfaces/IDisputeSettlement.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {Game} from "./libraries/Game.sol";

/// @notice Verde-style refereed k-ary bisection between a job's defender and its challenger (PROTOCOL §6).
/// @dev Thin contract: access, events, settlement. The rules live in libraries/Game.sol. Holds no ether:
/// bonds stay in JobMarket, collateral in StakeManager; settlement slashes first, then reports once.
contract DisputeGame is IDisputeGame {
    using Game for Game.State;

    // ------------------------------------------------------------------ errors

    /// @dev open() from anyone but the market.
    error NotMarket(address caller);
    /// @dev rule() from anyone but the referee.
    error NotReferee(address caller);
    /// @dev No game with this id has been opened.
    error UnknownGame(uint256 gameId);
    /// @dev Constructor parameters out of range.
    error BadParameters(uint256 k, uint256 challengerRewardBps);

    // ------------------------------------------------------------------ events

    event GameOpened(
        uint256 indexed gameId, uint256 indexed jobId, address defender, address challenger, uint256 segments, uint256 bond
    );
    /// @dev One party's elements for the round; the other party passes them back with its own reveal.
    event ElementsRevealed(
        uint256 indexed gameId, address indexed party, uint8 level, uint32 lo, uint32 hi, bytes32[] elements
    );
    event RootCommitted(uint256 indexed gameId, address indexed party, uint8 level, bytes32 root);
    event OutputRevealed(uint256 indexed gameId, address indexed party, bytes32 outputHash);
    event RefereeRuled(uint256 indexed gameId, bytes32 outputHash);
    event GameTimedOut(uint256 indexed gameId, Game.Phase phase);
    event GameSettled(
        uint256 indexed gameId, uint256 indexed jobId, IDisputeSettlement.Outcome outcome, uint256 slashed
    );

    // ------------------------------------------------------------------ storage

    IDisputeSettlement public immutable market;
    IStakeManager public immutable stakeManager;
    address public immutable treasury;
    address public immutable referee;
    /// @dev Parts each interval is cut into per round (2 = plain bisection).
    uint256 public immutable k;
    uint64 public immutable moveTimeout;
    uint64 public immutable refereeTimeout;
    uint16 public immutable challengerRewardBps;

    uint256 public gameCount;
    mapping(uint256 gameId => Game.State) internal _games;

    constructor(
        IDisputeSettlement market_,
        IStakeManager stakeManager_,
        address treasury_,
        address referee_,
        uint256 k_,
        uint64 moveTimeout_,
        uint64 refereeTimeout_,
        uint16 challengerRewardBps_
    ) {
        if (k_ < 2 || k_ > 64 || challengerRewardBps_ > 10_000) revert BadParameters(k_, challengerRewardBps_);
        market = market_;
        stakeManager = stakeManager_;
        treasury = treasury_;
        referee = referee_;
        k = k_;
        moveTimeout = moveTimeout_;
        refereeTimeout = refereeTimeout_;
        challengerRewardBps = challengerRewardBps_;
    }

    // ------------------------------------------------------------------ opening

    /// @inheritdoc IDisputeGame
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
    ) external returns (uint256 gameId) {
        // INVARIANT: games exist only for challenges the market accepted (it holds the bond).
        if (msg.sender != address(market)) revert NotMarket(msg.sender);
        gameId = ++gameCount;
        Game.State storage g = _games[gameId];
        g.open(
            jobId,
            defender,
            challenger,
            defenderRoot,
            challengerRoot,
            finalModelHash,
            numSteps,
            checkpointEvery,
            opsPerStep,
            collateral,
            uint64(block.timestamp) + moveTimeout
        );
        // The bond stays in JobMarket; the game only reports it.
        emit GameOpened(gameId, jobId, defender, challenger, g.hi, bond);
    }

    // ------------------------------------------------------------------ moves

    /// @notice Reveal this round's elements (`positions(gameId)`) with one multiproof (MerkleProof.verifyMulti);
    /// the second party of the round passes the first party's elements (from its ElementsRevealed event).
    function reveal(
        uint256 gameId,
        bytes32[] calldata elements,
        bytes32[] calldata proofs,
        bytes32[] calldata otherElements
    ) external {
        Game.State storage g = _live(gameId);
        emit ElementsRevealed(gameId, msg.sender, g.level, g.lo, g.hi, elements);
        Game.Clock memory c = _clock();
        (uint8 bit, bool closes) = g.reveal(c, msg.sender, elements, proofs);
        if (!closes) return;
        IDisputeSettlement.Outcome outcome = g.closeRound(c, bit, elements, otherElements);
        if (outcome != IDisputeSettlement.Outcome.None) _settle(gameId, g, outcome);
    }

    /// @notice Commit the next level's root, proving leaf 0 = the agreed element and leaf n-1 = own element hi.
    function descend(uint256 gameId, bytes32 finerRoot, bytes32[] calldata firstProof, bytes32[] calldata lastProof)
        external
    {
        Game.State storage g = _live(gameId);
        emit RootCommitted(gameId, msg.sender, g.level + 1, finerRoot);
        g.descend(msg.sender, finerRoot, firstProof, lastProof, block.timestamp, moveTimeout);
    }

    /// @notice At the op level: reveal H(out_j) for the disputed operator j, checked against own chain.
    function revealOutput(uint256 gameId, bytes32 outputHash) external {
        Game.State storage g = _live(gameId);
        emit OutputRevealed(gameId, msg.sender, outputHash);
        g.revealOutput(msg.sender, outputHash, block.timestamp, moveTimeout, refereeTimeout);
    }

    /// @notice The referee posts the correct hash (H(out_j), or L[0] when the initial state is disputed).
    function rule(uint256 gameId, bytes32 correctHash) external {
        // INVARIANT: only the referee role decides the final hash.
        if (msg.sender != referee) revert NotReferee(msg.sender);
        Game.State storage g = _live(gameId);
        emit RefereeRuled(gameId, correctHash);
        _settle(gameId, g, g.rule(correctHash, block.timestamp));
    }

    /// @notice Phase ProveFinal (the challenger committed to the defender's own root, PROTOCOL §7): the defender
    /// proves that the last segment leaf of its root is keccak256(finalModelHash ‖ slotsHash) and wins.
    function proveFinal(uint256 gameId, bytes32 slotsHash, bytes32[] calldata proof) external {
        Game.State storage g = _live(gameId);
        _settle(gameId, g, g.proveFinal(msg.sender, slotsHash, proof, block.timestamp));
    }

    /// @notice Anyone, after a deadline: the silent party loses (in ProveFinal the defender); a silent referee
    /// voids the game.
    function timeout(uint256 gameId) external {
        Game.State storage g = _live(gameId);
        Game.Phase phase = g.phase;
        IDisputeSettlement.Outcome outcome = g.timeout(block.timestamp);
        emit GameTimedOut(gameId, phase);
        _settle(gameId, g, outcome);
    }

    /// @notice Several moves of the caller in one transaction, in order (each a call of this contract, with
    /// msg.sender kept). A round's second mover closes the round and, knowing the new interval, opens the next
    /// one (or descends, or reveals its output) in the same transaction: one transaction per round, not two.
    function multicall(bytes[] calldata calls) external {
        for (uint256 i; i < calls.length; ++i) {
            (bool ok, bytes memory ret) = address(this).delegatecall(calls[i]);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(ret, 0x20), mload(ret))
                }
            }
        }
    }

    // ------------------------------------------------------------------ reads

    function game(uint256 gameId) external view returns (Game.State memory) {
        return _games[gameId];
    }

    /// @notice The positions the next reveal must cover, ascending.
    function positions(uint256 gameId) external view returns (uint256[] memory) {
        return _games[gameId].positions(k);
    }

    /// @notice Leaves at the game's current level.
    function levelLength(uint256 gameId) external view returns (uint256) {
        return _games[gameId].levelLength();
    }

    // ------------------------------------------------------------------ internal

    function _clock() private view returns (Game.Clock memory) {
        return Game.Clock(k, block.timestamp, moveTimeout, refereeTimeout);
    }

    function _live(uint256 gameId) private view returns (Game.State storage g) {
        g = _games[gameId];
        // INVARIANT: moves address an opened game (settled games are refused by the phase guards).
        if (g.phase == Game.Phase.None) revert UnknownGame(gameId);
    }

    /// @dev Called once per game: the library has already moved the phase to Settled, so no reentrant
    /// call can settle again. Slashing precedes the market's callback (PROTOCOL §4).
    function _settle(uint256 gameId, Game.State storage g, IDisputeSettlement.Outcome outcome) private {
        g.outcome = outcome;
        uint256 collateral = g.collateral;
        address defender = g.defender;
        uint256 slashed;
        if (outcome == IDisputeSettlement.Outcome.ChallengerWins) {
            uint256 reward = (collateral * challengerRewardBps) / 10_000;
            if (reward != 0) stakeManager.slash(defender, reward, g.challenger);
            if (collateral - reward != 0) stakeManager.slash(defender, collateral - reward, treasury);
            slashed = collateral;
        } else if (outcome == IDisputeSettlement.Outcome.BothLose) {
            if (collateral != 0) stakeManager.slash(defender, collateral, treasury);
            slashed = collateral;
        }
        emit GameSettled(gameId, g.jobId, outcome, slashed);
        market.onDisputeSettled(g.jobId, outcome);
    }
}
