// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MerkleProof} from "./MerkleProof.sol";
import {IDisputeSettlement} from "../interfaces/IDisputeSettlement.sol";

/// @notice The rules of the refereed k-ary bisection game over one storage struct (docs/PROTOCOL.md §6).
/// @dev Levels (PROTOCOL §3): 0 = checkpoint segments, 1 = steps of one segment, 2 = op chain of one step.
/// At every level the interval [lo, hi] holds: both parties agree on element lo (`agreed`) and disagree
/// on element hi (`hiDefender` != `hiChallenger`). A round: each party reveals its elements at the split
/// points with Merkle proofs against its own root; the second reveal narrows the interval to the first
/// sub-interval where agreement turns into disagreement. At hi = lo + 1 both descend (commit the finer
/// root, prove first leaf = agreed, last leaf = own hi) or, at the op level, reveal H(out_hi) for the
/// referee. In the first round the defender's L[S] must come with the slotsHash that binds it to the submitted
/// finalModelHash (PROTOCOL §7). Time is a chess clock: each party has one budget for the whole game, charged
/// from the start of each round until its own move (PROTOCOL §6 "Clocks"). The contract wires access, events
/// and settlement; every rule lives here.
library Game {
    using MerkleProof for bytes32;

    uint8 internal constant SEGMENTS = 0;
    uint8 internal constant STEPS = 1;
    uint8 internal constant OPS = 2;

    uint8 internal constant DEFENDER_BIT = 1;
    uint8 internal constant CHALLENGER_BIT = 2;

    enum Phase {
        None,
        Bisect, // both reveal split-point elements
        Descend, // hi = lo + 1 below the op level: both commit the finer level's root
        Reveal, // hi = lo + 1 at the op level: both reveal H(out_hi)
        Referee, // the referee posts the correct hash
        Settled
    }

    /// @dev Packed so that a move touches few words: slot 0 is the round, slot 1 the deadline, slot 2 the terms
    /// and the clocks.
    struct State {
        // slot 0
        address defender;
        Phase phase;
        uint8 level;
        uint8 moved; // DEFENDER_BIT | CHALLENGER_BIT: who has moved in the current round/phase
        bool endsKnown; // false until the first round at level 0 has revealed L[0] and L[S]
        uint32 lo;
        uint32 hi;
        // slot 1
        address challenger;
        uint40 deadline; // from this time on timeout() settles (a party's clock ran out, or the referee's window)
        uint32 index; // segment index at level 1, step number s (1-based) at level 2
        IDisputeSettlement.Outcome outcome; // None until settled
        // slot 2
        uint32 numSteps;
        uint32 checkpointEvery;
        uint32 opsPerStep;
        uint64 jobId;
        uint32 clockDefender; // seconds left on each party's chess clock
        uint32 clockChallenger;
        uint32 roundStart; // when the current round / phase began (both owed clocks run from here)
        // slots 3..
        bytes32 rootDefender; // each party's root for the current level
        bytes32 rootChallenger;
        // element lo, equal for both; until the first round closes, the submitted finalModelHash
        bytes32 agreed;
        // Each party's element hi; once the party has revealed its output (or, on an initial-state dispute, from
        // the first round on) the hash it claims the referee must find — the same word, so no fresh slot.
        bytes32 hiDefender;
        bytes32 hiChallenger;
        bytes32 pending; // keccak256 of the first mover's elements in the current round
    }

    // ------------------------------------------------------------------ errors

    /// @dev The caller is neither the defender nor the challenger of this game.
    error NotParty(address caller);
    /// @dev The move does not belong to the game's current phase.
    error WrongPhase(Phase current, Phase expected);
    /// @dev The party has already moved in this round or phase.
    error AlreadyMoved(address party);
    /// @dev The move came when the party's clock (or the referee's window) had run out; only timeout() may follow.
    error DeadlinePassed(uint64 deadline, uint256 nowTs);
    /// @dev timeout() before any clock has run out.
    error DeadlineNotPassed(uint64 deadline, uint256 nowTs);
    /// @dev The reveal does not hold one element per required position.
    error WrongElementCount(uint256 given, uint256 expected);
    /// @dev The multiproof of the `count` elements from `firstPosition` on fails against the party's root.
    error BadProof(uint256 firstPosition, uint256 count);
    /// @dev The other party's elements passed along do not hash to what it revealed.
    error OtherElementsMismatch(bytes32 given, bytes32 committed);
    /// @dev Descending: the finer root's first leaf is not the agreed element.
    error FirstLeafNotAgreed(bytes32 agreed);
    /// @dev Descending: the finer root's last leaf is not the party's own element hi.
    error LastLeafNotOwn(bytes32 own);
    /// @dev The revealed output hash does not chain into the party's element hi.
    error OutputNotInChain(bytes32 outputHash, bytes32 own);
    /// @dev The job terms make an empty level.
    error BadTerms(uint32 numSteps, uint32 checkpointEvery, uint32 opsPerStep);
    /// @dev The defender's first-round reveal came without its final slots hash (use revealFirst).
    error FinalNotBound(bytes32 finalModelHash);
    /// @dev revealFirst: the defender's L[S] is not keccak256(finalModelHash ‖ slotsHash).
    error FinalNotInRoot(bytes32 finalModelHash, bytes32 slotsHash);
    /// @dev The job id does not fit the 64 bits the game stores (JobMarket's ids are uint64).
    error JobIdTooLarge(uint256 jobId);

    // ------------------------------------------------------------------ opening

    function open(
        State storage g,
        uint256 jobId,
        address defender,
        address challenger,
        bytes32 defenderRoot,
        bytes32 challengerRoot,
        bytes32 finalModelHash,
        uint32 numSteps,
        uint32 checkpointEvery,
        uint32 opsPerStep,
        uint256 nowTs,
        uint32 clock
    ) internal {
        // INVARIANT: every level has at least two leaves, so the interval [0, n-1] is never empty.
        if (numSteps == 0 || checkpointEvery == 0 || opsPerStep == 0) {
            revert BadTerms(numSteps, checkpointEvery, opsPerStep);
        }
        // INVARIANT: the job id fits the word the game keeps it in, so settlement reports the right job.
        if (jobId > type(uint64).max) revert JobIdTooLarge(jobId);
        g.defender = defender;
        g.challenger = challenger;
        g.phase = Phase.Bisect;
        g.hi = uint32(segmentCount(numSteps, checkpointEvery));
        g.numSteps = numSteps;
        g.checkpointEvery = checkpointEvery;
        g.opsPerStep = opsPerStep;
        g.jobId = uint64(jobId);
        g.clockDefender = clock;
        g.clockChallenger = clock;
        g.roundStart = uint32(nowTs);
        g.deadline = uint40(nowTs + clock);
        g.rootDefender = defenderRoot;
        g.rootChallenger = challengerRoot;
        // Until the first round closes `agreed` holds what the defender's L[S] must bind (PROTOCOL §7). Equal
        // roots need no special case: the defender proves the binding in its first reveal or loses on its clock.
        g.agreed = finalModelHash;
    }

    // ------------------------------------------------------------------ moves

    /// @notice A party reveals its elements for this round (see `positions`) with one multiproof. In the game's
    /// first round the defender must pass `c.bound` with the `c.slotsHash` of its final state.
    /// @return bit the caller's party bit; `closes` true when the caller is the round's second mover, who must
    /// then call `closeRound` in the same transaction.
    function reveal(
        State storage g,
        Clock memory c,
        address sender,
        bytes32[] calldata elements,
        bytes32[] calldata proofs
    ) internal returns (uint8 bit, bool closes) {
        bit = _enter(g, sender, Phase.Bisect, c.nowTs);
        Round memory r = _round(g, c.k);
        _verifyElements(r, bit == DEFENDER_BIT ? g.rootDefender : g.rootChallenger, elements, proofs);
        if (r.ends && bit == DEFENDER_BIT) {
            bytes32 fmh = g.agreed;
            // INVARIANT: the defender's committed final state holds the model it reported, or it cannot move.
            if (!c.bound) revert FinalNotBound(fmh);
            if (_hashPair(fmh, c.slotsHash) != elements[elements.length - 1]) revert FinalNotInRoot(fmh, c.slotsHash);
        }
        _charge(g, bit, c.nowTs);
        if (g.moved == 0) {
            g.pending = keccak256(abi.encodePacked(elements));
            _firstMove(g, bit);
            return (bit, false);
        }
        return (bit, true);
    }

    /// @notice The second mover's reveal, with the first mover's elements passed back: narrow the interval.
    /// @return None while the game goes on, else the settled outcome.
    function closeRound(
        State storage g,
        Clock memory c,
        uint8 bit,
        bytes32[] calldata elements,
        bytes32[] calldata otherElements
    ) internal returns (IDisputeSettlement.Outcome) {
        bytes32 given = keccak256(abi.encodePacked(otherElements));
        // INVARIANT: the interval moves only on what both parties proved, never on what one claims of the other.
        if (given != g.pending) revert OtherElementsMismatch(given, g.pending);
        Round memory r = _round(g, c.k);
        if (bit == DEFENDER_BIT) return _narrowRound(g, r, c, elements, otherElements);
        return _narrowRound(g, r, c, otherElements, elements);
    }

    /// @notice At hi = lo + 1 below the op level: commit the finer level's root, proving its first leaf is
    /// the agreed element and its last leaf is the party's own element hi.
    function descend(
        State storage g,
        address sender,
        bytes32 finerRoot,
        bytes32[] calldata firstProof,
        bytes32[] calldata lastProof,
        uint256 nowTs
    ) internal {
        uint8 bit = _enter(g, sender, Phase.Descend, nowTs);
        (uint256 n, uint32 index) = finerLevel(g);
        // INVARIANT: the finer sequence starts where both agree...
        if (!MerkleProof.verify(finerRoot, n, 0, g.agreed, firstProof)) revert FirstLeafNotAgreed(g.agreed);
        bytes32 own = bit == DEFENDER_BIT ? g.hiDefender : g.hiChallenger;
        // INVARIANT: ...and ends at the party's own disputed element, so the disagreement carries down.
        if (!MerkleProof.verify(finerRoot, n, n - 1, own, lastProof)) revert LastLeafNotOwn(own);
        if (bit == DEFENDER_BIT) g.rootDefender = finerRoot;
        else g.rootChallenger = finerRoot;
        _charge(g, bit, nowTs);
        if (g.moved == 0) {
            _firstMove(g, bit);
            return;
        }
        g.level += 1;
        g.index = index;
        _narrow(g, 0, n - 1, nowTs);
    }

    /// @notice At the op level with hi = lo + 1 = j: reveal H(out_j), checked against the party's chain
    /// (PROTOCOL §2: keccak256(c[j-1] ‖ h) == c[j] for j < N, h == c[N] for j == N).
    function revealOutput(State storage g, address sender, bytes32 outputHash, uint256 nowTs, uint64 refereeTimeout)
        internal
    {
        uint8 bit = _enter(g, sender, Phase.Reveal, nowTs);
        bytes32 own = bit == DEFENDER_BIT ? g.hiDefender : g.hiChallenger;
        bytes32 chained = g.hi < g.opsPerStep ? _hashPair(g.agreed, outputHash) : outputHash;
        // INVARIANT: a party can only claim the output its own committed chain binds.
        if (chained != own) revert OutputNotInChain(outputHash, own);
        if (bit == DEFENDER_BIT) g.hiDefender = outputHash;
        else g.hiChallenger = outputHash;
        _charge(g, bit, nowTs);
        if (g.moved == 0) {
            _firstMove(g, bit);
            return;
        }
        _toReferee(g, nowTs, refereeTimeout);
    }

    /// @notice The referee's hash decides: the matching party wins, neither matching means both lose.
    function rule(State storage g, bytes32 correct, uint256 nowTs) internal returns (IDisputeSettlement.Outcome) {
        Phase p = g.phase;
        // INVARIANT: the referee rules once, only after both claims are in.
        if (p != Phase.Referee) revert WrongPhase(p, Phase.Referee);
        // INVARIANT: a late ruling is void; the game can then only time out.
        if (nowTs >= g.deadline) revert DeadlinePassed(g.deadline, nowTs);
        g.phase = Phase.Settled;
        if (correct == g.hiDefender) return IDisputeSettlement.Outcome.DefenderWins;
        if (correct == g.hiChallenger) return IDisputeSettlement.Outcome.ChallengerWins;
        return IDisputeSettlement.Outcome.BothLose;
    }

    /// @notice Once a clock has run out: the party whose clock ran out without moving loses (both: both lose);
    /// a silent referee voids the game.
    function timeout(State storage g, uint256 nowTs) internal returns (IDisputeSettlement.Outcome) {
        Phase p = g.phase;
        // INVARIANT: only a live game can time out, and so it settles at most once.
        if (p == Phase.None || p == Phase.Settled) revert WrongPhase(p, Phase.Bisect);
        // INVARIANT: nobody loses before its own clock (or the referee's window) has run out.
        if (nowTs < g.deadline) revert DeadlineNotPassed(g.deadline, nowTs);
        g.phase = Phase.Settled;
        if (p == Phase.Referee) return IDisputeSettlement.Outcome.Void;
        uint256 elapsed = nowTs - g.roundStart;
        uint8 moved = g.moved;
        bool outD = moved & DEFENDER_BIT == 0 && elapsed >= g.clockDefender;
        bool outC = moved & CHALLENGER_BIT == 0 && elapsed >= g.clockChallenger;
        if (outD && outC) return IDisputeSettlement.Outcome.BothLose;
        if (outD) return IDisputeSettlement.Outcome.ChallengerWins;
        return IDisputeSettlement.Outcome.DefenderWins;
    }

    /// @notice Ends a game whose result another game already decided (the market says it is no longer live).
    function moot(State storage g) internal {
        Phase p = g.phase;
        // INVARIANT: only a live game becomes moot, once.
        if (p == Phase.None || p == Phase.Settled) revert WrongPhase(p, Phase.Bisect);
        g.phase = Phase.Settled;
    }

    // ------------------------------------------------------------------ views

    /// @dev Number of leaves at the current level (PROTOCOL §3).
    function levelLength(State storage g) internal view returns (uint256) {
        uint8 level = g.level;
        if (level == SEGMENTS) return segmentCount(g.numSteps, g.checkpointEvery) + 1;
        if (level == STEPS) return stepsInSegment(g.numSteps, g.checkpointEvery, g.index) + 1;
        return uint256(g.opsPerStep) + 1;
    }

    /// @dev Length and index (segment, or 1-based step) of the level below the current interval [lo, lo+1].
    function finerLevel(State storage g) internal view returns (uint256 n, uint32 index) {
        if (g.level == SEGMENTS) {
            index = g.lo;
            n = stepsInSegment(g.numSteps, g.checkpointEvery, index) + 1;
        } else {
            index = g.index * g.checkpointEvery + g.lo + 1;
            n = uint256(g.opsPerStep) + 1;
        }
    }

    /// @dev ceil(S / C): the number of checkpoint segments.
    function segmentCount(uint256 numSteps, uint256 checkpointEvery) internal pure returns (uint256) {
        return (numSteps + checkpointEvery - 1) / checkpointEvery;
    }

    /// @dev Steps in segment `seg`: min((seg+1)C, S) - seg*C.
    function stepsInSegment(uint256 numSteps, uint256 checkpointEvery, uint256 seg) internal pure returns (uint256) {
        uint256 end = (seg + 1) * checkpointEvery;
        if (end > numSteps) end = numSteps;
        return end - seg * checkpointEvery;
    }

    /// @dev Positions a reveal must cover now, ascending (with lo and hi on the game's first round).
    function positions(State storage g, uint256 k) internal view returns (uint256[] memory out) {
        uint256 lo = g.lo;
        uint256 hi = g.hi;
        uint256 m = _parts(lo, hi, k);
        bool ends = !g.endsKnown;
        out = new uint256[](ends ? m + 1 : m - 1);
        uint256 o;
        if (ends) out[o++] = lo;
        for (uint256 i = 1; i < m; ++i) out[o++] = lo + (i * (hi - lo)) / m;
        if (ends) out[o] = hi;
    }

    // ------------------------------------------------------------------ internal

    /// @dev The game contract's parameters and the time of the call, passed as one word of stack.
    struct Clock {
        uint256 k;
        uint256 nowTs;
        uint64 refereeTimeout;
        bool bound; // the reveal came through revealFirst, with the caller's final slots hash
        bytes32 slotsHash;
    }

    /// @dev One round's geometry, in memory to keep the stack shallow.
    struct Round {
        uint256 lo;
        uint256 hi;
        uint256 n; // leaves at this level
        uint256 m; // parts: split points are p_t = lo + t(hi-lo)/m
        uint256 count; // elements a reveal holds
        bool ends; // the first round at level 0 also covers p_0 = lo and p_m = hi
    }

    function _round(State storage g, uint256 k) private view returns (Round memory r) {
        r.lo = g.lo;
        r.hi = g.hi;
        r.n = levelLength(g);
        r.m = _parts(r.lo, r.hi, k);
        r.ends = !g.endsKnown;
        r.count = r.ends ? r.m + 1 : r.m - 1;
    }

    function _verifyElements(Round memory r, bytes32 root, bytes32[] calldata elements, bytes32[] calldata proof)
        private
        pure
    {
        uint256 count = r.count;
        // INVARIANT: a reveal covers exactly the round's positions, in ascending order.
        if (elements.length != count) revert WrongElementCount(elements.length, count);
        uint256[] memory pos = new uint256[](count);
        uint256 shift = r.ends ? 0 : 1;
        for (uint256 i; i < count; ++i) {
            pos[i] = r.lo + ((i + shift) * (r.hi - r.lo)) / r.m;
        }
        // INVARIANT: the revealed elements are the party's committed leaves at those positions (one multiproof).
        if (!MerkleProof.verifyMulti(root, r.n, pos, elements, proof)) revert BadProof(pos[0], count);
    }

    /// @dev Both parties' elements are in: keep the first sub-interval where agreement turns into disagreement.
    function _narrowRound(
        State storage g,
        Round memory r,
        Clock memory c,
        bytes32[] calldata eD,
        bytes32[] calldata eC
    ) private returns (IDisputeSettlement.Outcome) {
        uint256 off;
        if (r.ends) {
            uint256 last = r.count - 1;
            if (eD[0] != eC[0]) {
                // They disagree on the initial state itself: the referee rules on L[0].
                g.hiDefender = eD[0];
                g.hiChallenger = eC[0];
                _toReferee(g, c.nowTs, c.refereeTimeout);
                return IDisputeSettlement.Outcome.None;
            }
            if (eD[last] == eC[last]) {
                // Same final state, and the defender proved it holds the reported model: nothing is disputed.
                g.phase = Phase.Settled;
                return IDisputeSettlement.Outcome.DefenderWins;
            }
            g.agreed = eD[0];
            g.hiDefender = eD[last];
            g.hiChallenger = eC[last];
            g.endsKnown = true;
            off = 1;
        }
        uint256 m = r.m;
        // First split point where agreement turns into disagreement (m when all split points agree).
        uint256 j = 1;
        while (j < m && eD[off + j - 1] == eC[off + j - 1]) ++j;
        if (j > 1) g.agreed = eD[off + j - 2];
        if (j < m) {
            g.hiDefender = eD[off + j - 1];
            g.hiChallenger = eC[off + j - 1];
        }
        uint256 w = r.hi - r.lo;
        _narrow(g, r.lo + ((j - 1) * w) / m, r.lo + (j * w) / m, c.nowTs);
        return IDisputeSettlement.Outcome.None;
    }

    /// @dev Common guards of a party's move; returns the caller's bit.
    function _enter(State storage g, address sender, Phase expected, uint256 nowTs) private view returns (uint8 bit) {
        Phase p = g.phase;
        // INVARIANT: each move belongs to exactly one phase.
        if (p != expected) revert WrongPhase(p, expected);
        if (sender == g.defender) bit = DEFENDER_BIT;
        else if (sender == g.challenger) bit = CHALLENGER_BIT;
        // INVARIANT: only the two committed parties move.
        else revert NotParty(sender);
        // INVARIANT: a party moves at most once per round, so it cannot equivocate within a round.
        if (g.moved & bit != 0) revert AlreadyMoved(sender);
        // INVARIANT: a party moves only while its own clock runs (time since the round began < its budget).
        uint256 left = bit == DEFENDER_BIT ? g.clockDefender : g.clockChallenger;
        uint256 start = g.roundStart;
        if (nowTs >= start + left) revert DeadlinePassed(uint64(start + left), nowTs);
    }

    /// @dev Charges the mover the time since the round began (a same-transaction follow-up move costs nothing).
    /// Both owed clocks run from the round's start, so a round lasts at most as long as its slower mover spent,
    /// and a whole game at most the sum of both budgets.
    function _charge(State storage g, uint8 bit, uint256 nowTs) private {
        uint256 elapsed = nowTs - g.roundStart;
        if (elapsed == 0) return;
        // _enter checked elapsed < the mover's clock, so the clock stays ≥ 1.
        if (bit == DEFENDER_BIT) g.clockDefender -= uint32(elapsed);
        else g.clockChallenger -= uint32(elapsed);
    }

    /// @dev The round's first move: the other party's clock alone now decides when timeout() may settle. A first
    /// mover cannot squeeze the other by moving late: the other could have moved first, and is charged only its own
    /// time.
    function _firstMove(State storage g, uint8 bit) private {
        g.moved = bit;
        uint256 other = bit == DEFENDER_BIT ? g.clockChallenger : g.clockDefender;
        g.deadline = uint40(uint256(g.roundStart) + other);
    }

    /// @dev Both claims are in: the referee's window (not a party's clock) starts now.
    function _toReferee(State storage g, uint256 nowTs, uint64 refereeTimeout) private {
        g.moved = 0;
        g.phase = Phase.Referee;
        g.roundStart = uint32(nowTs);
        g.deadline = uint40(nowTs + refereeTimeout);
    }

    /// @dev Sets the new interval and the phase it implies; starts a new round (both clocks run again).
    function _narrow(State storage g, uint256 lo, uint256 hi, uint256 nowTs) private {
        g.lo = uint32(lo);
        g.hi = uint32(hi);
        g.moved = 0;
        g.roundStart = uint32(nowTs);
        uint256 dl = g.clockDefender;
        uint256 cl = g.clockChallenger;
        g.deadline = uint40(nowTs + (dl < cl ? dl : cl));
        if (hi == lo + 1) g.phase = g.level == OPS ? Phase.Reveal : Phase.Descend;
        else g.phase = Phase.Bisect;
    }

    /// @dev Parts the interval is cut into this round: k, or fewer when it is shorter.
    function _parts(uint256 lo, uint256 hi, uint256 k) private pure returns (uint256) {
        uint256 w = hi - lo;
        return w < k ? w : k;
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }
}
