// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./TestBase.sol";
import {JobMarket} from "../../src/JobMarket.sol";
import {StakeManager} from "../../src/StakeManager.sol";
import {IJobMarket} from "../../src/interfaces/IJobMarket.sol";
import {IDisputeGame} from "../../src/interfaces/IDisputeGame.sol";
import {IDisputeSettlement} from "../../src/interfaces/IDisputeSettlement.sol";

/// @notice A stand-in dispute game: records what JobMarket opened and reports outcomes on command (the market
/// does every slash and payment itself).
contract StubGame is IDisputeGame {
    JobMarket public immutable market;
    uint256 public games;
    uint16 public challengerRewardBps = 5000;

    struct Opened {
        uint256 jobId;
        address defender;
        address challenger;
        bytes32 defenderRoot;
        bytes32 challengerRoot;
        uint32 numSteps;
        uint32 checkpointEvery;
        uint32 opsPerStep;
        uint96 bond;
    }

    mapping(uint256 => Opened) public opened; // by gameId
    mapping(uint256 => bytes32) public finalModelHashOf; // by gameId: what JobMarket passed to open

    constructor(JobMarket market_) {
        market = market_;
    }

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
        require(msg.sender == address(market), "StubGame: not market");
        gameId = ++games;
        finalModelHashOf[gameId] = finalModelHash;
        opened[gameId] = Opened(
            jobId, defender, challenger, defenderRoot, challengerRoot, numSteps, checkpointEvery, opsPerStep, bond
        );
    }

    /// @dev Reports game `gameId`'s outcome to the market; returns what the market slashed.
    function settle(uint256 gameId, IDisputeSettlement.Outcome outcome) external returns (uint256) {
        return market.onDisputeSettled(gameId, outcome);
    }
}

/// @notice Shared deployment and job helpers for the JobMarket unit and invariant tests.
abstract contract MarketFixture is TestBase {
    JobMarket internal market;
    StakeManager internal sm;
    StubGame internal game;

    address internal constant ADMIN = address(0xAD);
    address internal constant CLIENT = address(0xC11E);
    address internal constant PROVIDER = address(0xB0B);
    address internal constant PROVIDER2 = address(0xB0C);
    address internal constant CHALLENGER = address(0xCA11);
    address internal constant MATCHER = address(0xA11);
    address internal constant TREASURY = address(0x7EA5);

    uint32 internal constant ACCEPT_TIMEOUT = 30;
    uint32 internal constant CHALLENGE_WINDOW = 60;
    uint16 internal constant FEE_BPS = 250;
    uint16 internal constant FORFEIT_BPS = 5000;
    uint16 internal constant CUT_BPS = 1000;
    uint96 internal constant BOND = 0.1 ether;
    uint96 internal constant MIN_STAKE = 1 ether;
    uint32 internal constant UNBONDING = 60;
    uint16 internal constant BOND_BPS = 0; // flat bond in most unit tests; the scaled bond has its own tests
    uint96 internal constant MIN_COLLATERAL = 0.01 ether;
    uint32 internal constant LIVENESS = 120;
    uint16 internal constant STALL_BPS = 2000;
    uint16 internal constant ABANDON_BPS = 100;
    uint16 internal constant REWARD_BPS = 5000;

    uint96 internal constant PRICE = 1 ether;
    uint96 internal constant COLLATERAL = 2 ether;
    bytes32 internal constant SPEC = keccak256("spec");
    bytes32 internal constant TRACE = keccak256("trace");
    bytes32 internal constant MODEL = keccak256("model");
    bytes32 internal constant OTHER_ROOT = keccak256("challenger trace");

    function _params() internal pure returns (IJobMarket.Params memory) {
        return IJobMarket.Params(
            ACCEPT_TIMEOUT,
            CHALLENGE_WINDOW,
            FEE_BPS,
            FORFEIT_BPS,
            CUT_BPS,
            BOND,
            MIN_STAKE,
            BOND_BPS,
            MIN_COLLATERAL,
            LIVENESS,
            STALL_BPS,
            ABANDON_BPS
        );
    }

    function _deployMarket() internal {
        vm.prank(ADMIN);
        market = new JobMarket(_params(), MATCHER, TREASURY, UNBONDING);
        sm = StakeManager(address(market.stakeManager()));
        game = new StubGame(market);
        vm.prank(ADMIN);
        market.setGame(address(game));
    }

    function _stake(address provider, uint256 amount) internal {
        vm.deal(provider, provider.balance + amount);
        vm.prank(provider);
        sm.stake{value: amount}();
    }

    function _terms(address client, uint96 price, uint96 collateral, uint40 deadline)
        internal
        pure
        returns (IJobMarket.JobTerms memory)
    {
        return IJobMarket.JobTerms(client, price, SPEC, 1000, 100, 40, collateral, deadline);
    }

    function _post(address client, uint96 price, uint96 collateral, uint40 deadline)
        internal
        returns (uint256 jobId, IJobMarket.JobTerms memory t)
    {
        t = _terms(client, price, collateral, deadline);
        vm.deal(client, client.balance + price);
        vm.prank(client);
        jobId = market.postJob{value: price}(SPEC, 1000, 100, 40, collateral, deadline);
    }

    function _postDefault() internal returns (uint256 jobId, IJobMarket.JobTerms memory t) {
        return _post(CLIENT, PRICE, COLLATERAL, uint40(block.timestamp + 1 days));
    }

    function _assign(uint256 jobId, IJobMarket.JobTerms memory t, address provider) internal {
        vm.prank(MATCHER);
        market.assign(jobId, t, provider);
    }

    function _accept(uint256 jobId, address provider) internal {
        vm.prank(provider);
        market.accept(jobId);
    }

    function _submit(uint256 jobId, IJobMarket.JobTerms memory t, address provider) internal {
        vm.prank(provider);
        market.submitResult(jobId, t, TRACE, MODEL, t.numSteps);
    }

    function _challenge(uint256 jobId, IJobMarket.JobTerms memory t, address challenger)
        internal
        returns (uint256 gameId)
    {
        uint256 bond = market.bondFor(t);
        vm.deal(challenger, challenger.balance + bond);
        vm.prank(challenger);
        gameId = market.challenge{value: bond}(jobId, t, TRACE, MODEL, OTHER_ROOT);
    }

    /// @dev Posts a job and runs it to Submitted with PROVIDER (who must have stake).
    function _toSubmitted() internal returns (uint256 jobId, IJobMarket.JobTerms memory t) {
        (jobId, t) = _postDefault();
        _assign(jobId, t, PROVIDER);
        _accept(jobId, PROVIDER);
        _submit(jobId, t, PROVIDER);
    }

    function _status(uint256 jobId) internal view returns (uint256) {
        return uint256(market.jobStatus(jobId));
    }
}
