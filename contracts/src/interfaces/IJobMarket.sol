// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDisputeSettlement} from "./IDisputeSettlement.sol";

/// @notice The job escrow's public surface: types, errors and events shared by JobMarket, its tests,
/// the dispute game and the Python client (chain/).
interface IJobMarket is IDisputeSettlement {
    // ------------------------------------------------------------------ types

    /// @dev A job's immutable terms. Emitted in full by JobPosted; storage keeps only keccak256(abi.encode(terms)).
    struct JobTerms {
        address client;
        uint96 price;
        bytes32 specHash;
        uint32 numSteps;
        uint32 checkpointEvery;
        uint32 opsPerStep;
        uint96 collateral;
        uint40 deadline;
    }

    /// @dev 0 is reserved for "none" (a job id never posted).
    enum Status {
        None,
        Open,
        Assigned,
        Running,
        Submitted,
        Disputed,
        Finalized,
        Failed,
        Cancelled,
        Expired
    }

    /// @dev Admin-settable parameters (all bounded, see JobMarket.MAX_*).
    struct Params {
        uint32 acceptTimeout; // seconds an assigned provider has to accept
        uint32 challengeWindow; // seconds after submitResult during which anyone may challenge
        uint16 protocolFeeBps; // cut of the price credited to the treasury on finalize
        uint16 forfeitBps; // share of collateral a provider loses when it accepted and missed the deadline
        uint16 disputeCutBps; // treasury's cut of a losing challenger's bond
        uint96 challengerBond; // the least bond a challenge carries (see bondBps)
        uint96 minStake; // wei a provider must have bonded (free + locked) to be assigned; a whole number of gwei
        uint16 bondBps; // bond = max(challengerBond, (price + collateral) * bondBps / 1e4): griefing costs what it locks
        uint96 minCollateral; // collateral floor per job (> 0, a whole number of gwei): cheating must risk something
        uint32 livenessWindow; // seconds a Running job may go without a heartbeat before anyone may reclaim it
        uint16 stallForfeitBps; // share of collateral a stalled (silent) provider forfeits to the client
        uint16 abandonForfeitBps; // share of collateral a provider forfeits to the client when it abandons a job
    }

    /// @dev A job's dispute state (one per job; settlement carries no terms). `epoch` counts the submissions that
    /// were discarded (failed or voided): a game opened under an older epoch is moot.
    struct Dispute {
        address client;
        uint96 price;
        bytes32 termsHash; // restores the commitment when a Void reopens the job
        uint32 openGames; // games on the current submission that have not settled
        uint32 epoch;
    }

    /// @dev One challenge = one game (keyed by the game contract and its game id).
    struct Challenge {
        address challenger;
        uint96 bond;
        uint64 jobId;
        uint32 epoch;
    }

    // ------------------------------------------------------------------ errors

    /// @dev Only the admin (deployer) may change parameters and role addresses.
    error NotAdmin(address caller);
    /// @dev Only the matcher may assign jobs.
    error NotMatcher(address caller);
    /// @dev Only the job's client may cancel it.
    error NotClient(address caller, address client);
    /// @dev Only the assigned provider may accept / submit.
    error NotProvider(address caller, address provider);
    /// @dev onDisputeSettled: the caller opened no such game through this market (or it has settled already).
    error UnknownChallenge(address game, uint256 gameId);
    /// @dev assign: the provider must be a non-zero address.
    error InvalidProvider(address provider);
    /// @dev The provider may not challenge its own result.
    error ProviderCannotChallenge(address provider);
    /// @dev The call is not allowed in the job's current status.
    error WrongStatus(uint256 jobId, Status status);
    /// @dev The terms passed do not hash to the job's stored commitment (or the job does not exist).
    error TermsMismatch(uint256 jobId, bytes32 given, bytes32 stored);
    /// @dev The (traceRoot, finalModelHash) passed are not the ones submitted.
    error ResultMismatch(uint256 jobId, bytes32 given, bytes32 stored);
    /// @dev postJob: price (msg.value) must be in (0, 2^96).
    error InvalidPrice(uint256 price);
    /// @dev postJob: numSteps ≥ 1, 1 ≤ checkpointEvery ≤ numSteps, opsPerStep ≥ 1, specHash ≠ 0.
    error InvalidJobShape(uint32 numSteps, uint32 checkpointEvery, uint32 opsPerStep);
    /// @dev postJob: collateral must be a whole number of gwei below 2^48 gwei (it is packed into the job word).
    error InvalidCollateral(uint256 collateral);
    /// @dev postJob: collateral below the floor (a job whose provider risks nothing invites cheating).
    error CollateralBelowFloor(uint256 collateral, uint256 minCollateral);
    /// @dev postJob: the deadline must lie in the future.
    error InvalidDeadline(uint40 deadline, uint256 timestamp);
    /// @dev assign: the provider's free stake does not cover the job's collateral.
    error InsufficientFreeStake(uint256 free, uint256 required);
    /// @dev assign: the provider's total stake (free + locked) is below the StakeManager minimum.
    error BelowMinStake(uint256 staked, uint256 minStake);
    /// @dev accept: the accept window has closed.
    error AcceptWindowClosed(uint256 acceptBy, uint256 timestamp);
    /// @dev assign/submitResult: the job deadline has passed.
    error DeadlinePassed(uint256 deadline, uint256 timestamp);
    /// @dev submitResult: the trace must cover exactly the job's numSteps.
    error StepsMismatch(uint32 given, uint32 expected);
    /// @dev finalize: the challenge window is still open.
    error ChallengeWindowOpen(uint256 challengeUntil, uint256 timestamp);
    /// @dev challenge: the challenge window has closed.
    error ChallengeWindowClosed(uint256 challengeUntil, uint256 timestamp);
    /// @dev challenge: msg.value must equal the job's bond (`bondFor(terms)`).
    error WrongBond(uint256 sent, uint256 required);
    /// @dev finalize: games on the result are still open; it is paid only once every one has settled.
    error GamesOpen(uint256 jobId, uint256 openGames);
    /// @dev reclaimStalled: the provider's last heartbeat is recent enough.
    error NotStalled(uint256 jobId, uint256 lastHeartbeat, uint256 livenessWindow, uint256 timestamp);
    /// @dev challenge: no dispute game is registered yet (or the registered address answered no game id).
    error GameNotSet();
    /// @dev expire: nothing has timed out yet for this job.
    error NotExpired(uint256 jobId, Status status, uint256 timestamp);
    /// @dev onDisputeSettled: Outcome.None is not a result.
    error InvalidOutcome(Outcome outcome);
    /// @dev withdraw: the caller has no credit.
    error NothingToWithdraw(address account);
    /// @dev withdraw: the ETH transfer failed (the credit is restored).
    error TransferFailed(address to, uint256 amount);
    /// @dev An admin parameter is outside its bounds (which: 1 acceptTimeout, 2 challengeWindow, 3 protocolFeeBps,
    /// 4 forfeitBps, 5 disputeCutBps, 6 challengerBond, 7 zero address, 8 minStake, 9 bondBps, 10 minCollateral,
    /// 11 livenessWindow, 12 stallForfeitBps, 13 abandonForfeitBps).
    error ParamOutOfBounds(uint8 which, uint256 value);

    // ------------------------------------------------------------------ events

    event JobPosted(uint256 indexed jobId, address indexed client, JobTerms terms);
    event JobAssigned(uint256 indexed jobId, address indexed provider, uint40 acceptBy);
    event JobAccepted(uint256 indexed jobId, address indexed provider);
    event ResultSubmitted(uint256 indexed jobId, bytes32 traceRoot, bytes32 finalModelHash, uint40 challengeUntil);
    event JobFinalized(uint256 indexed jobId, address indexed provider, uint256 payout, uint256 fee);
    event JobCancelled(uint256 indexed jobId, uint256 refund);
    /// @dev Assigned provider missed acceptBy: the job is Open again for re-matching.
    event AssignmentExpired(uint256 indexed jobId, address indexed provider);
    /// @dev The job deadline passed: the client is credited `refund`; `forfeited` is the collateral the provider
    /// lost to the client (Running only; it is credited in StakeManager).
    event JobExpired(uint256 indexed jobId, address indexed provider, uint256 refund, uint256 forfeited);
    event JobChallenged(uint256 indexed jobId, address indexed challenger, uint256 gameId);
    /// @dev One game on the job settled (every outcome, Moot included); `slashed` is the collateral it took.
    event ChallengeSettled(
        uint256 indexed jobId, uint256 indexed gameId, address indexed challenger, Outcome outcome, uint256 slashed
    );
    /// @dev The job's submission was decided by a game: ChallengerWins / BothLose (job Failed) or Void (job Open
    /// again). Not emitted for DefenderWins (the job stays Submitted until finalize) nor Moot.
    event DisputeSettled(uint256 indexed jobId, Outcome outcome);
    /// @dev A dispute was voided: bonds back, collateral unlocked, job Open again.
    event JobReopened(uint256 indexed jobId);
    /// @dev The Running job's provider is alive; `step` / `stateHash` is its latest checkpoint (0 / 0: none yet).
    event Heartbeat(uint256 indexed jobId, address indexed provider, uint32 step, bytes32 stateHash);
    /// @dev The provider was silent longer than the liveness window: it forfeited `forfeited` to the client and
    /// the job is Open again for matching.
    event JobStalled(uint256 indexed jobId, address indexed provider, uint256 forfeited);
    /// @dev The provider gave the job back (`reason`: a code or evidence hash); the job is Open again.
    event JobAbandoned(uint256 indexed jobId, address indexed provider, bytes32 reason, uint256 forfeited);
    event Credited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event ParamsSet(Params params);
    event MatcherSet(address matcher);
    event GameSet(address game);
    event TreasurySet(address treasury);

    // ------------------------------------------------------------------ functions

    function postJob(
        bytes32 specHash,
        uint32 numSteps,
        uint32 checkpointEvery,
        uint32 opsPerStep,
        uint96 collateral,
        uint40 deadline
    ) external payable returns (uint256 jobId);
    function assign(uint256 jobId, JobTerms calldata terms, address provider) external;
    /// @dev Needs no terms: assign packed the collateral into the job word and capped acceptBy at the deadline.
    function accept(uint256 jobId) external;
    function submitResult(
        uint256 jobId,
        JobTerms calldata terms,
        bytes32 traceRoot,
        bytes32 finalModelHash,
        uint32 numSteps
    ) external;
    function finalize(uint256 jobId, JobTerms calldata terms, bytes32 traceRoot, bytes32 finalModelHash) external;
    function cancel(uint256 jobId, JobTerms calldata terms) external;
    function expire(uint256 jobId, JobTerms calldata terms) external;
    function challenge(
        uint256 jobId,
        JobTerms calldata terms,
        bytes32 traceRoot,
        bytes32 finalModelHash,
        bytes32 challengerRoot
    ) external payable returns (uint256 gameId);
    function heartbeat(uint256 jobId, uint32 step, bytes32 stateHash) external;
    function reclaimStalled(uint256 jobId, JobTerms calldata terms) external;
    function abandon(uint256 jobId, JobTerms calldata terms, bytes32 reason) external;
    function withdraw() external;

    function jobStatus(uint256 jobId) external view returns (Status);
    function creditOf(address account) external view returns (uint256);
}
