// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./base/TestBase.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {JobMarket} from "../src/JobMarket.sol";
import {DisputeGame} from "../src/DisputeGame.sol";
import {Game} from "../src/libraries/Game.sol";
import {IJobMarket} from "../src/interfaces/IJobMarket.sol";
import {IDisputeSettlement} from "../src/interfaces/IDisputeSettlement.sol";

/// @notice Synthetic traces with the shape of PROTOCOL §2–3, and Merkle trees by verde/merkle.py's rule.
/// @dev A trace is honest (faultStep 0) or faulty from (faultStep, faultOp) on: that op's output and every later
/// one differ. `badInit` lies about L[0]. Fabrication: from level `fabFrom` on, a liar commits made-up finer
/// sequences whose ends are exactly what the descent proofs require.
abstract contract DisputeGameWorld is TestBase {
    uint8 internal constant HONEST = 0;
    uint8 internal constant SILENT = 1; // stops after `at` moves
    uint8 internal constant BAD_PROOF = 2; // tries a tampered move at move `at`, then goes on honestly-to-its-trace
    uint8 internal constant EQUIVOCATE = 3; // tries a second, different move / wrong pass-back at move `at`
    uint8 internal constant FABRICATE = 4; // commits made-up finer levels from level `at % 2 + 1`
    uint8 internal constant BAD_INIT = 5; // lies about L[0]
    uint8 internal constant STRATEGIES = 6;

    struct Party {
        address addr;
        uint256 faultStep; // 0: honest trace
        uint256 faultOp;
        bytes32 salt;
        uint8 strategy;
        uint256 at;
        uint256 moves;
        uint8 fabFrom; // 0: never
        uint8 fabLevel;
        bytes32 fabFirst;
        bytes32 fabLast;
        bool badInit;
        bool fakeFinal; // (defender) submits a finalModelHash its final state does not hold
        bool noSlots; // (defender) reveals the first round without its slots hash
        bool endsHonest; // L[0] and L[S] are the honest ones whatever the interior fault
    }

    uint256 internal S;
    uint256 internal C;
    uint256 internal N;

    StakeManager internal sm;
    JobMarket internal market;
    DisputeGame internal game;

    address internal constant CLIENT = address(0xC11E);
    address internal constant PROVIDER = address(0xB0B);
    address internal constant CHALLENGER = address(0xCA11);
    address internal constant MATCHER = address(0xA11);
    address internal constant TREASURY = address(0x7EA5);
    address internal constant REFEREE = address(0x5EF);
    uint96 internal constant PRICE = 1 ether;
    uint96 internal constant COLLATERAL = 2 ether;
    uint96 internal constant BOND = 0.1 ether;
    uint16 internal constant REWARD_BPS = 5000;
    /// @dev Each party's chess clock for a whole game.
    uint32 internal constant CLOCK = 600;
    uint64 internal constant REFEREE_TIMEOUT = 120;

    IJobMarket.JobTerms internal jobTerms; // the last job _openGame ran
    bytes32 internal submittedRoot;
    Party internal pd; // defender
    Party internal pc; // challenger
    /// @dev Per game: the round's first mover's reveal, passed back by the second (games may run in parallel).
    mapping(uint256 gameId => bytes32[]) internal firstElementsOf;

    // ------------------------------------------------------------------ deployment

    function _deploy(uint256 k) internal {
        // JobMarket deploys its StakeManager (admin: this test, market: the JobMarket).
        market = new JobMarket(_marketParams(), MATCHER, TREASURY, 60);
        sm = StakeManager(address(market.stakeManager()));
        game = new DisputeGame(IDisputeSettlement(address(market)), REFEREE, k, CLOCK, REFEREE_TIMEOUT, REWARD_BPS);
        market.setGame(address(game));
        vm.deal(CLIENT, 100 ether);
        vm.deal(PROVIDER, 100 ether);
        vm.deal(CHALLENGER, 100 ether);
        vm.prank(PROVIDER);
        sm.stake{value: 10 ether}();
    }

    /// @dev A flat bond (bondBps 0) so the world's accounting stays simple; the scaled bond has its own tests.
    function _marketParams() internal pure returns (IJobMarket.Params memory) {
        return IJobMarket.Params(30, 600, 250, 5000, 1000, BOND, 1 ether, 0, 0.01 ether, 3600, 2000, 100);
    }

    /// @dev Runs a job to Submitted with the defender's root and challenges it with the challenger's.
    function _openGame() internal returns (uint256 jobId, uint256 gameId, IJobMarket.JobTerms memory terms) {
        uint40 deadline = uint40(block.timestamp + 1 days);
        vm.prank(CLIENT);
        jobId = market.postJob{value: PRICE}(
            keccak256("spec"), uint32(S), uint32(C), uint32(N), COLLATERAL, deadline
        );
        terms = IJobMarket.JobTerms(
            CLIENT, PRICE, keccak256("spec"), uint32(S), uint32(C), uint32(N), COLLATERAL, deadline
        );
        vm.prank(MATCHER);
        market.assign(jobId, terms, PROVIDER);
        vm.prank(PROVIDER);
        market.accept(jobId);
        bytes32 rootD = _root(_leaves(pd, 0, 0));
        bytes32 rootC = _root(_leaves(pc, 0, 0));
        bytes32 reported = _reportedModel();
        jobTerms = terms;
        submittedRoot = rootD;
        vm.prank(PROVIDER);
        market.submitResult(jobId, terms, rootD, reported, uint32(S));
        vm.prank(CHALLENGER);
        gameId = market.challenge{value: BOND}(jobId, terms, rootD, reported, rootC);
    }

    /// @dev After a DefenderWins the result is paid once the challenge window has passed (anyone may finalize).
    function _finalizeAfterWindow(uint256 jobId) internal {
        vm.warp(block.timestamp + 601);
        market.finalize(jobId, jobTerms, submittedRoot, _reportedModel());
    }

    /// @dev The finalModelHash the defender submits: its own final model unless it fakes one.
    function _reportedModel() internal view returns (bytes32) {
        return pd.fakeFinal ? keccak256(abi.encode("fake-model", pd.salt)) : _model(pd);
    }

    function _party(address who, uint256 faultStep, uint256 faultOp, bytes32 salt)
        internal
        pure
        returns (Party memory p)
    {
        p.addr = who;
        p.faultStep = faultStep;
        p.faultOp = faultOp;
        p.salt = salt;
    }

    // ------------------------------------------------------------------ trace model

    function _bad(Party storage p, uint256 s, uint256 j) internal view returns (bool) {
        return p.faultStep != 0 && (s > p.faultStep || (s == p.faultStep && j >= p.faultOp));
    }

    /// @dev The final state's two parts (PROTOCOL §1): L[S] = keccak256(modelHash ‖ slotsHash).
    function _model(Party storage p) internal view returns (bytes32) {
        if (p.endsHonest) return keccak256("model-good");
        return _bad(p, S, N) ? keccak256(abi.encode("model-bad", p.salt)) : keccak256("model-good");
    }

    function _slots(Party storage p) internal view returns (bytes32) {
        if (p.endsHonest) return keccak256("slots-good");
        return _bad(p, S, N) ? keccak256(abi.encode("slots-bad", p.salt)) : keccak256("slots-good");
    }

    function _out(Party storage p, uint256 s, uint256 j) internal view returns (bytes32) {
        if (s == S && j == N) {
            if (p.endsHonest) return keccak256(abi.encodePacked(keccak256("model-good"), keccak256("slots-good")));
            return keccak256(abi.encodePacked(_model(p), _slots(p)));
        }
        if (_bad(p, s, j)) return keccak256(abi.encode("bad", p.salt, s, j));
        return keccak256(abi.encode("good", s, j));
    }

    function _state(Party storage p, uint256 s) internal view returns (bytes32) {
        if (s == 0) return p.badInit ? keccak256(abi.encode("init-bad", p.salt)) : keccak256("init");
        return _out(p, s, N);
    }

    function _fabOut(Party storage p, uint256 j) internal view returns (bytes32) {
        return j == N ? p.fabLast : keccak256(abi.encode("fab", p.salt, j));
    }

    /// @dev The party's sequence at `level` (PROTOCOL §3); `index` = segment (level 1) or step s (level 2).
    function _leaves(Party storage p, uint8 level, uint256 index) internal view returns (bytes32[] memory out) {
        if (level == 0) {
            uint256 segs = (S + C - 1) / C;
            out = new bytes32[](segs + 1);
            for (uint256 i; i <= segs; ++i) out[i] = _state(p, i * C < S ? i * C : S);
        } else if (level == 1) {
            uint256 end = (index + 1) * C < S ? (index + 1) * C : S;
            out = new bytes32[](end - index * C + 1);
            for (uint256 i; i < out.length; ++i) {
                out[i] = _state(p, index * C + i);
                if (p.fabLevel == 1 && i != 0 && i != out.length - 1) {
                    out[i] = keccak256(abi.encode("fab-step", p.salt, index, i));
                }
            }
            if (p.fabLevel == 1) {
                out[0] = p.fabFirst;
                out[out.length - 1] = p.fabLast;
            }
        } else {
            out = new bytes32[](N + 1);
            bool fab = p.fabLevel == 2;
            out[0] = fab ? p.fabFirst : _state(p, index - 1);
            for (uint256 j = 1; j <= N; ++j) {
                bytes32 h = fab ? _fabOut(p, j) : _out(p, index, j);
                out[j] = j < N ? keccak256(abi.encodePacked(out[j - 1], h)) : h;
            }
        }
    }

    function _outputHash(Party storage p, uint256 s, uint256 j) internal view returns (bytes32) {
        return p.fabLevel == 2 ? _fabOut(p, j) : _out(p, s, j);
    }

    // ------------------------------------------------------------------ merkle (verde/merkle.py's rule)

    function _depth(uint256 n) internal pure returns (uint256 d) {
        for (uint256 m = n - 1; m != 0; m >>= 1) d++;
    }

    function _padded(bytes32[] memory leaves) internal pure returns (bytes32[] memory level) {
        level = new bytes32[](1 << _depth(leaves.length));
        for (uint256 i; i < leaves.length; ++i) level[i] = leaves[i];
    }

    function _root(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory level = _padded(leaves);
        for (uint256 w = level.length; w > 1; w >>= 1) {
            for (uint256 i; i < w / 2; ++i) level[i] = keccak256(abi.encodePacked(level[2 * i], level[2 * i + 1]));
        }
        return level[0];
    }

    function _proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory proof) {
        bytes32[] memory level = _padded(leaves);
        proof = new bytes32[](_depth(leaves.length));
        for (uint256 b; b < proof.length; ++b) {
            proof[b] = level[index ^ 1];
            uint256 w = level.length >> b;
            for (uint256 i; i < w / 2; ++i) level[i] = keccak256(abi.encodePacked(level[2 * i], level[2 * i + 1]));
            index >>= 1;
        }
    }

    /// @dev Every level of the padded tree, leaves first.
    function _levels(bytes32[] memory leaves) internal pure returns (bytes32[][] memory lv) {
        uint256 d = _depth(leaves.length);
        lv = new bytes32[][](d + 1);
        lv[0] = _padded(leaves);
        for (uint256 b = 1; b <= d; ++b) {
            lv[b] = new bytes32[](lv[b - 1].length / 2);
            for (uint256 i; i < lv[b].length; ++i) {
                lv[b][i] = keccak256(abi.encodePacked(lv[b - 1][2 * i], lv[b - 1][2 * i + 1]));
            }
        }
    }

    /// @dev MerkleProof.verifyMulti's proof for ascending `pos` (verde/bisection.py's `multiproof`).
    function _multiproof(bytes32[] memory leaves, uint256[] memory pos) internal pure returns (bytes32[] memory out) {
        bytes32[][] memory lv = _levels(leaves);
        uint256[] memory known = new uint256[](pos.length);
        for (uint256 i; i < pos.length; ++i) known[i] = pos[i];
        uint256 count = pos.length;
        bytes32[] memory buf = new bytes32[](pos.length * lv.length);
        uint256 p;
        for (uint256 b; b + 1 < lv.length; ++b) {
            uint256 w;
            for (uint256 r; r < count;) {
                uint256 i = known[r];
                if (i % 2 == 0 && r + 1 < count && known[r + 1] == i + 1) {
                    r += 2;
                } else {
                    buf[p++] = lv[b][i ^ 1];
                    r += 1;
                }
                known[w++] = i >> 1;
            }
            count = w;
        }
        out = new bytes32[](p);
        for (uint256 i; i < p; ++i) out[i] = buf[i];
    }

    // ------------------------------------------------------------------ players

    function _st(uint256 id) internal view returns (Game.State memory) {
        return game.game(id);
    }

    function _bit(Party storage p) internal view returns (uint8) {
        return p.addr == PROVIDER ? 1 : 2;
    }

    /// @dev One move of `p` if the phase wants one from it; false when it stays silent.
    function _act(uint256 id, Party storage p) internal returns (bool) {
        Game.State memory g = _st(id);
        if (g.moved & _bit(p) != 0) return true;
        if (p.strategy == SILENT && p.moves >= p.at) return false;
        bool special = p.moves == p.at;
        p.moves++;
        if (g.phase == Game.Phase.Bisect) _reveal(id, p, g, special);
        else if (g.phase == Game.Phase.Descend) _descend(id, p, g, special);
        else if (g.phase == Game.Phase.Reveal) _revealOutput(id, p, g, special);
        return true;
    }

    /// @dev The calldata of `p`'s honest-to-its-trace reveal now (for multicall batches).
    function _revealCall(uint256 id, Party storage p) internal view returns (bytes memory) {
        Game.State memory g = _st(id);
        uint256[] memory pos = game.positions(id);
        bytes32[] memory leaves = _leaves(p, g.level, g.index);
        bytes32[] memory el = new bytes32[](pos.length);
        for (uint256 i; i < pos.length; ++i) el[i] = leaves[pos[i]];
        bytes32[] memory other = g.moved == 0 ? new bytes32[](0) : firstElementsOf[id];
        if (!g.endsKnown) return abi.encodeCall(DisputeGame.revealFirst, (id, el, _multiproof(leaves, pos), other, _slots(p)));
        return abi.encodeCall(DisputeGame.reveal, (id, el, _multiproof(leaves, pos), other));
    }

    function _reveal(uint256 id, Party storage p, Game.State memory g, bool special) internal {
        uint256[] memory pos = game.positions(id);
        bytes32[] memory leaves = _leaves(p, g.level, g.index);
        bytes32[] memory el = new bytes32[](pos.length);
        for (uint256 i; i < pos.length; ++i) el[i] = leaves[pos[i]];
        bytes32[] memory proofs = _multiproof(leaves, pos);
        bool first = g.moved == 0;
        bytes32[] memory other = first ? new bytes32[](0) : firstElementsOf[id];
        bool defFirstRound = !g.endsKnown && _bit(p) == 1;
        if (defFirstRound && (p.fakeFinal || p.noSlots)) {
            // A defender whose final state does not hold the reported model cannot make its first move.
            if (p.noSlots) vm.expectPartialRevert(Game.FinalNotBound.selector);
            else vm.expectPartialRevert(Game.FinalNotInRoot.selector);
            _send(id, p, g, el, proofs, other);
            p.strategy = SILENT; // nothing else it can do: its clock decides
            p.at = 0;
            return;
        }
        if (special && p.strategy == BAD_PROOF) {
            // A flipped proof word, or (no words to flip) a flipped element.
            bytes32[] memory bad = new bytes32[](proofs.length);
            for (uint256 i; i < proofs.length; ++i) bad[i] = proofs[i];
            bytes32[] memory badEl = new bytes32[](el.length);
            for (uint256 i; i < el.length; ++i) badEl[i] = el[i];
            if (bad.length != 0) bad[uint256(p.salt) % bad.length] ^= bytes32(uint256(1));
            else badEl[0] ^= bytes32(uint256(1));
            vm.expectPartialRevert(Game.BadProof.selector);
            _send(id, p, g, badEl, bad, other);
        }
        if (special && p.strategy == EQUIVOCATE && !first) {
            bytes32[] memory wrong = new bytes32[](other.length);
            for (uint256 i; i < other.length; ++i) wrong[i] = other[i];
            wrong[0] ^= bytes32(uint256(1));
            vm.expectPartialRevert(Game.OtherElementsMismatch.selector);
            _send(id, p, g, el, proofs, wrong);
        }
        _send(id, p, g, el, proofs, other);
        if (first) firstElementsOf[id] = el;
        if (special && p.strategy == EQUIVOCATE && first) {
            el[0] ^= bytes32(uint256(1));
            vm.expectPartialRevert(Game.AlreadyMoved.selector);
            _send(id, p, g, el, proofs, other);
        }
    }

    /// @dev `p`'s reveal: revealFirst with its slots hash in the game's first round (plain reveal when it has none).
    function _send(
        uint256 id,
        Party storage p,
        Game.State memory g,
        bytes32[] memory el,
        bytes32[] memory proofs,
        bytes32[] memory other
    ) internal {
        vm.prank(p.addr);
        if (!g.endsKnown && !p.noSlots) game.revealFirst(id, el, proofs, other, _slots(p));
        else game.reveal(id, el, proofs, other);
    }

    function _descend(uint256 id, Party storage p, Game.State memory g, bool special) internal {
        uint8 finer = g.level + 1;
        uint256 index = g.level == 0 ? g.lo : g.index * C + g.lo + 1;
        if (p.fabFrom != 0 && finer >= p.fabFrom) {
            p.fabLevel = finer;
            p.fabFirst = g.agreed;
            p.fabLast = _bit(p) == 1 ? g.hiDefender : g.hiChallenger;
        }
        bytes32[] memory leaves = _leaves(p, finer, index);
        bytes32 root = _root(leaves);
        bytes32[] memory firstProof = _proof(leaves, 0);
        bytes32[] memory lastProof = _proof(leaves, leaves.length - 1);
        if (special && p.strategy == BAD_PROOF) {
            // A root whose first leaf is not the agreed element.
            bytes32[] memory bad = new bytes32[](leaves.length);
            for (uint256 i; i < bad.length; ++i) bad[i] = leaves[i];
            bad[0] = keccak256("not agreed");
            bytes32[] memory badFirst = _proof(bad, 0);
            bytes32[] memory badLast = _proof(bad, bad.length - 1);
            bytes32 badRoot = _root(bad);
            vm.expectPartialRevert(Game.FirstLeafNotAgreed.selector);
            vm.prank(p.addr);
            game.descend(id, badRoot, badFirst, badLast);
        }
        vm.prank(p.addr);
        game.descend(id, root, firstProof, lastProof);
        if (special && p.strategy == EQUIVOCATE && _st(id).moved & _bit(p) != 0) {
            vm.expectPartialRevert(Game.AlreadyMoved.selector);
            vm.prank(p.addr);
            game.descend(id, root, firstProof, lastProof);
        }
    }

    function _revealOutput(uint256 id, Party storage p, Game.State memory g, bool special) internal {
        bytes32 h = _outputHash(p, g.index, g.hi);
        if (special && (p.strategy == BAD_PROOF || p.strategy == EQUIVOCATE)) {
            vm.expectPartialRevert(Game.OutputNotInChain.selector);
            vm.prank(p.addr);
            game.revealOutput(id, h ^ bytes32(uint256(1)));
        }
        vm.prank(p.addr);
        game.revealOutput(id, h);
    }

    /// @dev The referee recomputes with the honest trace: H(out_j) of step index, or L[0].
    function _correctHash(Game.State memory g) internal view returns (bytes32) {
        if (g.level == 0) return keccak256("init");
        if (g.index == S && g.hi == N) return keccak256(abi.encodePacked(keccak256("model-good"), keccak256("slots-good")));
        return keccak256(abi.encode("good", uint256(g.index), uint256(g.hi)));
    }

    /// @dev Plays until settled; a silent party is timed out. Returns the outcome and moves per party.
    function _play(uint256 id, bool challengerFirst) internal returns (IDisputeSettlement.Outcome) {
        for (uint256 guard; guard < 400; ++guard) {
            Game.State memory g = _st(id);
            if (g.phase == Game.Phase.Settled) return g.outcome;
            if (g.phase == Game.Phase.Referee) {
                bytes32 h = _correctHash(g);
                vm.prank(REFEREE);
                game.rule(id, h);
                continue;
            }
            bool a;
            bool b;
            if (challengerFirst) {
                a = _act(id, pc);
                if (_st(id).phase == Game.Phase.Settled) continue;
                b = _act(id, pd);
            } else {
                a = _act(id, pd);
                if (_st(id).phase == Game.Phase.Settled) continue;
                b = _act(id, pc);
            }
            if (!a || !b) {
                g = _st(id);
                if (g.phase == Game.Phase.Settled) continue;
                vm.warp(g.deadline);
                game.timeout(id);
            }
        }
        revert("game did not end");
    }
}
