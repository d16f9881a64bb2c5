// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "../base/TestBase.sol";
import {DisputeGameWorld} from "../DisputeGameWorld.t.sol";
import {Game} from "../../src/libraries/Game.sol";
import {IJobMarket} from "../../src/interfaces/IJobMarket.sol";

/// @notice Plays whole games (random shape, liar, strategy) on one deployment, leaves some hanging, withdraws.
contract DisputeGameHandler is DisputeGameWorld {
    address[5] internal actors = [CLIENT, PROVIDER, CHALLENGER, TREASURY, REFEREE];
    uint256 public totalEther; // ghost: all ether the system and its actors hold, fixed at deployment
    uint256 public games;
    uint256 public honestLosses;
    uint256 internal hanging; // a game left open mid-play, 0 if none

    constructor() {
        S = 16;
        C = 4;
        N = 6;
        _deploy(4);
        vm.prank(PROVIDER);
        sm.stake{value: 40 ether}();
        totalEther = _held();
    }

    function _held() internal view returns (uint256 t) {
        t = address(sm).balance + address(market).balance + address(game).balance;
        for (uint256 i; i < actors.length; ++i) t += actors[i].balance;
    }

    function _setup(uint256 seed) internal {
        uint256 f = bound(seed, 1, S);
        uint256 j = bound(seed >> 8, 1, N);
        bool liarIsDefender = (seed >> 16) & 1 == 1;
        Party memory honest = _party(liarIsDefender ? CHALLENGER : PROVIDER, 0, 0, bytes32(0));
        Party memory liar = _party(liarIsDefender ? PROVIDER : CHALLENGER, f, j, keccak256(abi.encode(seed)));
        liar.strategy = uint8((seed >> 24) % STRATEGIES);
        liar.at = (seed >> 32) % 20;
        if (liar.strategy == FABRICATE) liar.fabFrom = uint8(liar.at % 2 + 1);
        if (liar.strategy == BAD_INIT) liar.badInit = true;
        pd = liarIsDefender ? liar : honest;
        pc = liarIsDefender ? honest : liar;
    }

    /// @dev Opens a game and plays it to the end; the honest side must win.
    function playGame(uint256 seed) external {
        if (hanging != 0 || sm.freeStakeOf(PROVIDER) < COLLATERAL) return;
        _setup(seed);
        (, uint256 id,) = _openGame();
        _play(id, seed & 1 == 1);
        Game.State memory g = game.game(id);
        bool liarIsDefender = pd.faultStep != 0;
        uint8 expected = liarIsDefender ? 2 : 1; // ChallengerWins : DefenderWins
        if (uint8(g.outcome) != expected) honestLosses++;
        games++;
    }

    /// @dev Opens a game and makes a few moves, leaving it hanging for `finishHanging`.
    function openHanging(uint256 seed) external {
        if (hanging != 0 || sm.freeStakeOf(PROVIDER) < COLLATERAL) return;
        _setup(seed);
        (, hanging,) = _openGame();
        uint256 steps = bound(seed >> 40, 0, 6);
        for (uint256 i; i < steps && game.game(hanging).phase != Game.Phase.Settled; ++i) {
            if (game.game(hanging).phase == Game.Phase.Referee) break;
            _act(hanging, pd);
            _act(hanging, pc);
        }
    }

    /// @dev Lets every clock of the hanging game run out (whoever was silent loses, or the referee voids).
    function finishHanging() external {
        if (hanging == 0) return;
        vm.warp(game.game(hanging).deadline + 1);
        game.timeout(hanging);
        hanging = 0;
    }

    function withdrawAll() external {
        for (uint256 i; i < actors.length; ++i) {
            if (market.creditOf(actors[i]) != 0 && actors[i] != TREASURY) {
                vm.prank(actors[i]);
                market.withdraw();
            }
            if (sm.creditOf(actors[i]) != 0) {
                vm.prank(actors[i]);
                sm.withdrawCredit();
            }
        }
    }

    function heldNow() external view returns (uint256) {
        return _held();
    }

    function stakeSum() external view returns (uint256 t) {
        (uint256 unbonding,) = sm.unbondingOf(PROVIDER);
        t = sm.freeStakeOf(PROVIDER) + sm.lockedStakeOf(PROVIDER) + unbonding;
        for (uint256 i; i < actors.length; ++i) t += sm.creditOf(actors[i]);
    }

    function gameAddress() external view returns (address) {
        return address(game);
    }

    function smAddress() external view returns (address) {
        return address(sm);
    }
}

/// @dev Whole games per call make each run heavy: fewer, shallower runs keep the file under a minute.
/// forge-config: default.invariant.runs = 64
/// forge-config: default.invariant.depth = 16
contract DisputeGameInvariantTest is TestBase {
    DisputeGameHandler internal h;

    function setUp() public {
        h = new DisputeGameHandler();
        targetContract(address(h));
    }

    function invariant_gameHoldsNoEther() public view {
        assertEq(h.gameAddress().balance, 0, "game balance");
    }

    function invariant_etherConserved() public view {
        assertEq(h.heldNow(), h.totalEther(), "stake + escrow + credits + wallets");
    }

    function invariant_stakeManagerBacked() public view {
        assertEq(h.smAddress().balance, h.stakeSum(), "stake manager balance == stakes + credits");
    }

    function invariant_honestNeverLoses() public view {
        assertEq(h.honestLosses(), 0, "honest losses");
    }
}
