// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {IDisputeSettlement} from "./interfaces/IDisputeSettlement.sol";
import {Game} from "./libraries/Game.sol";

/// @notice Verde-style refereed k-ary bisection between a job's defender and one of its challengers (PROTOCOL §6).
/// @dev Thin contract: access, events, clocks' parameters. The rules live in libraries/Game.sol. Holds no ether
/// and moves none: bonds and escrow stay in JobMarket, collateral in StakeManager, and the market settles every
/// wei when the game reports its outcome (once). Many games may run on one job at once (one per challenge).
contract DisputeGame is IDisputeGame {
    using Game for Game.State;

    // ------------------------------------------------------------------ errors

    /// @dev open() from anyone but the market.
    error NotMarket(address caller);
    /// @dev rule() from anyone but the referee.
    error NotReferee(address caller);
    /// @dev No game with this id has been opened.
    error UnknownGame(uint256 gameId);
    /// @dev Constructor parameters out of range (k in [2, 64], clocks ≥ 1 s and < 2^32, reward ≤ 100 %).
    error BadParameters(uint256 k, uint256 clock, uint256 refereeTimeout, uint256 challengerRewardBps);
    /// @dev Constructor: market and referee must be non-zero.
    error ZeroAddress();
    /// @dev moot(): the market still counts this game's submission as undecided.
    error ChallengeStillLive(uint256 gameId);

    // ------------------------------------------------------------------ events

    event GameOpened(
        uint256 indexed gameId, uint256 indexed jobId, address defender, address challenger, uint256 segments, uint256 bond
    );
    /// @dev One party's elements for the round; the other party passes them back with its own reveal.
    event ElementsRevealed(
        uint256 indexed gameId, address indexed party, uint8 level, uint32 lo, uint32 hi, bytes32[] elements
    );
    /// @dev The defender's first-round proof that its L[S] is keccak256(finalModelHash ‖ slotsHash).
    event FinalBound(uint256 indexed gameId, bytes32 finalModelHash, bytes32 slotsHash);
    event RootCommitted(uint256 indexed gameId, address indexed party, uint8 level, bytes32 root);
    event OutputRevealed(uint256 indexed gameId, address indexed party, bytes32 outputHash);
    event RefereeRuled(uint256 indexed gameId, bytes32 outputHash);
    event GameTimedOut(uint256 indexed gameId, Game.Phase phase);
    /// @dev `slashed` is the collateral the market slashed on this outcome (0 unless it proved the result wrong).
    event GameSettled(
        uint256 indexed gameId, uint256 indexed jobId, IDisputeSettlement.Outcome outcome, uint256 slashed
    );

    // ------------------------------------------------------------------ storage

    IDisputeSettlement public immutable market;
    address public immutable referee;
    /// @dev Parts each interval is cut into per round (2 = plain bisection).
    uint256 public immutable k;
    /// @dev Each party's total time budget for a whole game, in seconds (a chess clock).
    uint32 public immutable clock;
    /// @dev The referee's window, from both claims in to its ruling.
    uint64 public immutable refereeTimeout;
    uint16 public immutable challengerRewardBps;

    uint256 public gameCount;
    mapping(uint256 gameId => Game.State) internal _games;

    constructor(
        IDisputeSettlement market_,
        address referee_,
        uint256 k_,
        uint32 clock_,
        uint64 refereeTimeout_,
        uint16 challengerRewardBps_
    ) {
        // INVARIANT: roles exist; every clock is at least a second; the reward is a share.
        if (address(market_) == address(0) || referee_ == address(0)) revert ZeroAddress();
        if (
            k_ < 2 || k_ > 64 || clock_ == 0 || refereeTimeout_ == 0 || refereeTimeout_ > type(uint32).max
                || challengerRewardBps_ > 10_000
        ) revert BadParameters(k_, clock_, refereeTimeout_, challengerRewardBps_);
        market = market_;
        referee = referee_;
        k = k_;
        clock = clock_;
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
            block.timestamp,
            clock
        );
        // The bond stays in JobMarket; the game only reports it.
        emit GameOpened(gameId, jobId, defender, challenger, g.hi, bond);
    }

    // ------------------------------------------------------------------ moves

    /// @notice Reveal this round's elements (`positions(gameId)`) with one multiproof (MerkleProof.verifyMulti);
    /// the second party of the round passes the first party's elements (from its ElementsRevealed event).
    /// The defender's first-round reveal must use `revealFirst`.
    function reveal(
        uint256 gameId,
        bytes32[] calldata elements,
        bytes32[] calldata proofs,
        bytes32[] calldata otherElements
    ) external {
        _reveal(gameId, elements, proofs, otherElements, false, 0);
    }

    /// @notice The first round's reveal with the caller's final slots hash: the defender proves its L[S] (the last
    /// element) is keccak256(finalModelHash ‖ slotsHash) — its final state holds the model it reported. The
    /// challenger may use it too (its slotsHash is ignored).
    function revealFirst(
        uint256 gameId,
        bytes32[] calldata elements,
        bytes32[] calldata proofs,
        bytes32[] calldata otherElements,
        bytes32 slotsHash
    ) external {
        _reveal(gameId, elements, proofs, otherElements, true, slotsHash);
    }

    /// @notice Commit the next level's root, proving leaf 0 = the agreed element and leaf n-1 = own element hi.
    function descend(uint256 gameId, bytes32 finerRoot, bytes32[] calldata firstProof, bytes32[] calldata lastProof)
        external
    {
        Game.State storage g = _live(gameId);
        emit RootCommitted(gameId, msg.sender, g.level + 1, finerRoot);
        g.descend(msg.sender, finerRoot, firstProof, lastProof, block.timestamp);
    }

    /// @notice At the op level: reveal H(out_j) for the disputed operator j, checked against own chain.
    function revealOutput(uint256 gameId, bytes32 outputHash) external {
        Game.State storage g = _live(gameId);
        emit OutputRevealed(gameId, msg.sender, outputHash);
        g.revealOutput(msg.sender, outputHash, block.timestamp, refereeTimeout);
    }

    /// @notice The referee posts the correct hash (H(out_j), or L[0] when the initial state is disputed).
    function rule(uint256 gameId, bytes32 correctHash) external {
        // INVARIANT: only the referee role decides the final hash.
        if (msg.sender != referee) revert NotReferee(msg.sender);
        Game.State storage g = _live(gameId);
        emit RefereeRuled(gameId, correctHash);
        _settle(gameId, g, g.rule(correctHash, block.timestamp));
    }

    /// @notice Anyone, once a clock has run out: the party whose clock ran out without moving loses; a silent
    /// referee voids the game.
    function timeout(uint256 gameId) external {
        Game.State storage g = _live(gameId);
        Game.Phase phase = g.phase;
        IDisputeSettlement.Outcome outcome = g.timeout(block.timestamp);
        emit GameTimedOut(gameId, phase);
        _settle(gameId, g, outcome);
    }

    /// @notice Anyone: ends a game whose submission another game already decided (or a Void discarded); the
    /// challenger's bond goes back in full and nobody is slashed again.
    function moot(uint256 gameId) external {
        Game.State storage g = _live(gameId);
        // INVARIANT: a game still judging the current submission plays on.
        if (market.challengeLive(address(this), gameId)) revert ChallengeStillLive(gameId);
        g.moot();
        _settle(gameId, g, IDisputeSettlement.Outcome.Moot);
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

    /// @notice Where slashed collateral goes: always the market's current treasury (no copy to drift).
    function treasury() external view returns (address) {
        return market.treasury();
    }

    // ------------------------------------------------------------------ internal

    function _reveal(
        uint256 gameId,
        bytes32[] calldata elements,
        bytes32[] calldata proofs,
        bytes32[] calldata otherElements,
        bool bound,
        bytes32 slotsHash
    ) private {
        Game.State storage g = _live(gameId);
        emit ElementsRevealed(gameId, msg.sender, g.level, g.lo, g.hi, elements);
        // A reveal that fails the binding reverts, taking this event with it.
        if (!g.endsKnown && msg.sender == g.defender) emit FinalBound(gameId, g.agreed, slotsHash);
        Game.Clock memory c = Game.Clock(k, block.timestamp, refereeTimeout, bound, slotsHash);
        (uint8 bit, bool closes) = g.reveal(c, msg.sender, elements, proofs);
        if (!closes) return;
        IDisputeSettlement.Outcome outcome = g.closeRound(c, bit, elements, otherElements);
        if (outcome != IDisputeSettlement.Outcome.None) _settle(gameId, g, outcome);
    }

    function _live(uint256 gameId) private view returns (Game.State storage g) {
        g = _games[gameId];
        // INVARIANT: moves address an opened game (settled games are refused by the phase guards).
        if (g.phase == Game.Phase.None) revert UnknownGame(gameId);
    }

    /// @dev Called once per game: the library has already moved the phase to Settled, so no reentrant call can
    /// settle again. The market moves every wei (slash, bonds, refunds) and returns what it slashed.
    function _settle(uint256 gameId, Game.State storage g, IDisputeSettlement.Outcome outcome) private {
        g.outcome = outcome;
        uint256 slashed = market.onDisputeSettled(gameId, outcome);
        emit GameSettled(gameId, g.jobId, outcome, slashed);
    }
}
