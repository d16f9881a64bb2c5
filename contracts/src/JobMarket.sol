// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {StakeManager} from "./StakeManager.sol";
import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {JobWord} from "./libraries/JobWord.sol";

/// @title JobMarket — job escrow, lifecycle and dispute settlement for the Agora market
/// @notice For the Python client:
/// - `postJob(...)` escrows msg.value as the price and emits `JobPosted(jobId, client, terms)` with every term
///   (a job posted without the coordinator is as visible, cancellable and refundable as any); the terms are not
///   stored, only keccak256(abi.encode(terms)). Every later call passes the same `JobTerms` struct (read it from
///   the event); calls on a Submitted job also pass the submitted (traceRoot, finalModelHash).
/// - Lifecycle: Open → assign (matcher) → Assigned → accept (provider, locks collateral) → Running (the provider
///   posts `heartbeat` at least every livenessWindow; silence lets anyone `reclaimStalled`; `abandon` gives the
///   job back) → submitResult → Submitted → finalize (anyone, after the challenge window, once no game is open)
///   → Finalized. Anyone but the provider may `challenge` a Submitted/Disputed job until the window closes, any
///   number of times: each challenge opens its own game (Disputed while any is open). A game that proves the
///   result wrong fails the job (slash once, client refunded; every other game on it is then Moot); a Void
///   discards the result (job Open again); a DefenderWins pays that bond to the provider. cancel (client,
///   Open/Assigned) → Cancelled. expire (anyone): Assigned past acceptBy → Open; Open/Assigned/Running past the
///   deadline → Expired (a Running provider forfeits forfeitBps of its collateral to the client).
/// - A provider's payout (price − fee, and the bonds of challengers it beat, less the treasury cut) is credited
///   in StakeManager next to its stake: `StakeManager.withdrawCredit()` pulls it.
/// - Money moves only by pull: `creditOf(account)` and `withdraw()` here for refunds, returned bonds and the
///   treasury (its credit includes the accrued protocol fees); slashes and forfeits are credited in StakeManager.
/// - Deployment is one transaction: the constructor deploys the StakeManager (`stakeManager()`), whose market is
///   this contract (immutable) and whose admin is this contract's deployer.
/// - The admin (deployer) sets matcher, game, treasury and bounded parameters; it can never move escrow. A game
///   settles through the record this market kept when it opened it, so `setGame` never strands a live game.
/// Conservation: address(this).balance == Σ escrowed prices of live jobs + Σ open bonds + Σ credits + fees.
contract JobMarket is IJobMarket {
    using JobWord for uint256;

    // ------------------------------------------------------------------ storage

    uint256 public constant MAX_TIMEOUT = 30 days;
    uint256 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint256 public constant MAX_DISPUTE_CUT_BPS = 5_000;
    uint256 public constant MAX_BOND_BPS = 50_000;
    uint256 public constant BPS = 10_000;

    address public immutable admin;
    IStakeManager public immutable stakeManager;

    /// @dev postJob and finalize share this slot. nextJobId starts at 1 so postJob never pays a fresh write for
    /// it, protocol fees accrue here instead of in a fresh treasury credit slot, and postJob finds the
    /// collateral floor in the slot it writes anyway.
    struct Hot {
        uint64 nextJobId;
        uint16 protocolFeeBps;
        uint128 protocolFees;
        uint48 minCollateralGwei;
    }

    /// @dev assign reads matcher, acceptTimeout and minStake in one slot; submitResult reads challengeWindow.
    struct Matching {
        address matcher;
        uint24 acceptTimeout;
        uint24 challengeWindow;
        uint48 minStakeGwei;
    }

    /// @dev Rates read off the happy path (expire, disputes, liveness), one slot.
    struct Rates {
        uint16 forfeitBps;
        uint16 disputeCutBps;
        uint16 bondBps;
        uint16 stallForfeitBps;
        uint16 abandonForfeitBps;
        uint32 livenessWindow;
    }

    /// @dev A Finalized job has both words cleared (two storage refunds): with a job id below nextJobId,
    /// word == 0 && commitment == 0 reads as Finalized, word == 0 && commitment != 0 as Open.
    struct Job {
        uint256 word; // JobWord: status | provider | timer | collateral (gwei)
        bytes32 commitment; // termsHash; keccak(termsHash, traceRoot, finalModelHash) once Submitted
    }

    Hot internal _hot;
    Matching internal _matching;
    Rates internal _rates;
    address public game;
    uint96 public challengerBond;
    address public treasury;

    mapping(uint256 => Job) internal _jobs;
    mapping(uint256 => Dispute) internal _disputes;
    mapping(address game => mapping(uint256 gameId => Challenge)) internal _challenges;
    mapping(address => uint256) internal _credits;

    constructor(Params memory params_, address matcher_, address treasury_, uint32 unbondingPeriod_) {
        admin = msg.sender;
        stakeManager = IStakeManager(address(new StakeManager(msg.sender, address(this), unbondingPeriod_)));
        _hot.nextJobId = 1;
        _setParams(params_);
        _setMatcher(matcher_);
        _setTreasury(treasury_);
    }

    // ------------------------------------------------------------------ internal

    function _onlyAdmin() internal view {
        // INVARIANT: only the deployer configures roles and parameters.
        if (msg.sender != admin) revert NotAdmin(msg.sender);
    }

    function _setParams(Params memory p) internal {
        // INVARIANT: clocks are ≥ 1 s and ≤ MAX_TIMEOUT; fees and shares stay within their caps.
        if (p.acceptTimeout == 0 || p.acceptTimeout > MAX_TIMEOUT) revert ParamOutOfBounds(1, p.acceptTimeout);
        if (p.challengeWindow == 0 || p.challengeWindow > MAX_TIMEOUT) revert ParamOutOfBounds(2, p.challengeWindow);
        if (p.protocolFeeBps > MAX_PROTOCOL_FEE_BPS) revert ParamOutOfBounds(3, p.protocolFeeBps);
        if (p.forfeitBps > BPS) revert ParamOutOfBounds(4, p.forfeitBps);
        if (p.disputeCutBps > MAX_DISPUTE_CUT_BPS) revert ParamOutOfBounds(5, p.disputeCutBps);
        if (p.challengerBond == 0) revert ParamOutOfBounds(6, 0);
        if (p.minStake % JobWord.GWEI != 0 || p.minStake / JobWord.GWEI > type(uint48).max) {
            revert ParamOutOfBounds(8, p.minStake);
        }
        if (p.bondBps > MAX_BOND_BPS) revert ParamOutOfBounds(9, p.bondBps);
        // INVARIANT: every job's provider risks a non-zero collateral.
        if (p.minCollateral == 0 || p.minCollateral % JobWord.GWEI != 0) revert ParamOutOfBounds(10, p.minCollateral);
        if (p.livenessWindow == 0 || p.livenessWindow > MAX_TIMEOUT) revert ParamOutOfBounds(11, p.livenessWindow);
        if (p.stallForfeitBps > BPS) revert ParamOutOfBounds(12, p.stallForfeitBps);
        if (p.abandonForfeitBps > BPS) revert ParamOutOfBounds(13, p.abandonForfeitBps);
        _matching.acceptTimeout = uint24(p.acceptTimeout); // ≤ MAX_TIMEOUT < 2^24
        _matching.challengeWindow = uint24(p.challengeWindow);
        _matching.minStakeGwei = uint48(p.minStake / JobWord.GWEI);
        _hot.protocolFeeBps = p.protocolFeeBps;
        // minCollateral is a uint96 of whole gwei: below 2^67 gwei, but the job word holds 48 bits of it.
        if (p.minCollateral / JobWord.GWEI > JobWord.MAX_COLLATERAL_GWEI) revert ParamOutOfBounds(10, p.minCollateral);
        _hot.minCollateralGwei = uint48(p.minCollateral / JobWord.GWEI);
        _rates = Rates(
            p.forfeitBps, p.disputeCutBps, p.bondBps, p.stallForfeitBps, p.abandonForfeitBps, p.livenessWindow
        );
        challengerBond = p.challengerBond;
        emit ParamsSet(p);
    }

    function _setMatcher(address m) internal {
        // INVARIANT: role addresses are never zero.
        if (m == address(0)) revert ParamOutOfBounds(7, 0);
        _matching.matcher = m;
        emit MatcherSet(m);
    }

    function _setTreasury(address t) internal {
        // INVARIANT: the treasury can always pull its fees.
        if (t == address(0)) revert ParamOutOfBounds(7, 0);
        treasury = t;
        emit TreasurySet(t);
    }

    /// @dev Loads the job word after checking `terms` against the stored commitment.
    function _load(uint256 jobId, JobTerms calldata terms) internal view returns (uint256 word, bytes32 tHash) {
        Job storage j = _jobs[jobId];
        tHash = JobWord.termsHash(terms);
        bytes32 stored = j.commitment;
        word = j.word;
        if (tHash != stored) {
            // A Submitted job commits to its result too and a Finalized one keeps no commitment: name the status
            // (no terms-only call is valid in either) rather than blame the terms.
            Status s = _statusOf(jobId, word, stored);
            if (s == Status.Submitted || s == Status.Disputed || s == Status.Finalized || s == Status.Failed) {
                revert WrongStatus(jobId, s);
            }
            // INVARIANT: a job is only ever acted on under the exact terms it was posted with.
            revert TermsMismatch(jobId, tHash, stored);
        }
    }

    /// @dev As _load, for a Submitted job: the commitment also binds the submitted result.
    function _loadSubmitted(uint256 jobId, JobTerms calldata terms, bytes32 traceRoot, bytes32 finalModelHash)
        internal
        view
        returns (uint256 word, bytes32 tHash)
    {
        Job storage j = _jobs[jobId];
        word = j.word;
        // INVARIANT: result-bound calls happen only in Submitted / Disputed (the commitment holds the result then).
        Status s = word.status();
        if (s != Status.Submitted && s != Status.Disputed) revert WrongStatus(jobId, _statusOf(jobId, word, j.commitment));
        tHash = JobWord.termsHash(terms);
        bytes32 given = JobWord.resultCommitment(tHash, traceRoot, finalModelHash);
        bytes32 stored = j.commitment;
        // INVARIANT: finalize/challenge name the terms and the exact result that was submitted.
        if (given != stored) revert ResultMismatch(jobId, given, stored);
    }

    function _expectStatus(uint256 jobId, uint256 word, Status expected) internal pure {
        Status s = word.status();
        if (s != expected) revert WrongStatus(jobId, s);
    }

    function _statusOf(uint256 jobId, uint256 word, bytes32 commitment) internal view returns (Status) {
        if (jobId == 0 || jobId >= _hot.nextJobId) return Status.None;
        if (word == 0 && commitment == 0) return Status.Finalized;
        return word.status();
    }

    function _credit(address to, uint256 amount) internal {
        _credits[to] += amount;
        emit Credited(to, amount);
    }

    /// @dev Pays a finished job: clears its words (refunds), accrues the fee, and hands the payout to
    /// StakeManager together with the collateral unlock — one call, one slot write there.
    function _payProvider(uint256 jobId, address provider, uint256 price, uint256 collateral)
        internal
        returns (uint256 payout, uint256 fee)
    {
        Job storage j = _jobs[jobId];
        j.word = 0;
        j.commitment = 0;
        Hot storage h = _hot;
        fee = JobWord.bps(price, h.protocolFeeBps);
        payout = price - fee;
        h.protocolFees += uint128(fee);
        stakeManager.release{value: payout}(provider, collateral);
        emit JobFinalized(jobId, provider, payout, fee);
    }

    /// @dev The bond a challenge of `terms` must carry: griefing a job costs in proportion to what it locks.
    function _bondFor(JobTerms calldata terms) internal view returns (uint256 bond) {
        bond = JobWord.bps(uint256(terms.price) + terms.collateral, _rates.bondBps);
        uint256 floor = challengerBond;
        if (bond < floor) bond = floor;
    }

    /// @dev Gives a Running job back to Open: `forfeited` of the collateral to the client, the rest unlocked.
    function _reopenRunning(uint256 jobId, address provider, JobTerms calldata terms, uint256 forfeitBps_)
        internal
        returns (uint256 forfeited)
    {
        delete _jobs[jobId].word;
        forfeited = JobWord.bps(terms.collateral, forfeitBps_);
        if (forfeited != 0) stakeManager.forfeit(provider, forfeited, terms.client);
        if (terms.collateral != forfeited) stakeManager.unlock(provider, terms.collateral - forfeited);
    }

    /// @dev Split out of challenge() to keep the stack shallow; the bond is the one just stored.
    function _openGame(
        address g,
        uint256 jobId,
        JobTerms calldata terms,
        address provider,
        bytes32 traceRoot,
        bytes32 challengerRoot,
        bytes32 finalModelHash,
        uint256 bond
    ) internal returns (uint256) {
        // Static arguments only, so encoding them in two halves equals encoding them at once.
        bytes memory data = bytes.concat(
            abi.encodeWithSelector(IDisputeGame.open.selector, jobId, provider, msg.sender, traceRoot, challengerRoot),
            abi.encode(finalModelHash, terms.numSteps, terms.checkpointEvery, terms.opsPerStep, bond)
        );
        (bool ok, bytes memory ret) = g.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        // INVARIANT: the registered game is a contract that answered with a game id.
        if (ret.length < 32) revert GameNotSet();
        return abi.decode(ret, (uint256));
    }

    function _send(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }

    // ------------------------------------------------------------------ external write: admin

    function setParams(Params calldata p) external {
        _onlyAdmin();
        _setParams(p);
    }

    function setMatcher(address m) external {
        _onlyAdmin();
        _setMatcher(m);
    }

    function setTreasury(address t) external {
        _onlyAdmin();
        _setTreasury(t);
    }

    /// @dev Disputes already open stay bound to the game that opened them.
    function setGame(address g) external {
        _onlyAdmin();
        // INVARIANT: role addresses are never zero.
        if (g == address(0)) revert ParamOutOfBounds(7, 0);
        game = g;
        emit GameSet(g);
    }

    // ------------------------------------------------------------------ external write: lifecycle

    function postJob(
        bytes32 specHash,
        uint32 numSteps,
        uint32 checkpointEvery,
        uint32 opsPerStep,
        uint96 collateral,
        uint40 deadline
    ) external payable returns (uint256 jobId) {
        // INVARIANT: the escrowed price is non-zero and fits the terms' 96 bits.
        if (msg.value == 0 || msg.value > type(uint96).max) revert InvalidPrice(msg.value);
        // INVARIANT: a job names a spec and has a shape the dispute game can bisect.
        if (specHash == 0 || numSteps == 0 || checkpointEvery == 0 || checkpointEvery > numSteps || opsPerStep == 0) {
            revert InvalidJobShape(numSteps, checkpointEvery, opsPerStep);
        }
        // INVARIANT: collateral packs losslessly into the job word.
        if (collateral % JobWord.GWEI != 0 || collateral / JobWord.GWEI > JobWord.MAX_COLLATERAL_GWEI) {
            revert InvalidCollateral(collateral);
        }
        Hot storage h = _hot;
        // INVARIANT: the provider of every job risks at least the collateral floor.
        uint256 floor = uint256(h.minCollateralGwei) * JobWord.GWEI;
        if (collateral < floor) revert CollateralBelowFloor(collateral, floor);
        // INVARIANT: the deadline lies in the future.
        if (deadline <= block.timestamp) revert InvalidDeadline(deadline, block.timestamp);
        JobTerms memory terms = JobTerms(
            msg.sender, uint96(msg.value), specHash, numSteps, checkpointEvery, opsPerStep, collateral, deadline
        );
        jobId = h.nextJobId;
        h.nextJobId = uint64(jobId + 1);
        _jobs[jobId].commitment = keccak256(abi.encode(terms));
        emit JobPosted(jobId, msg.sender, terms);
    }

    function assign(uint256 jobId, JobTerms calldata terms, address provider) external {
        Matching memory mt = _matching;
        // INVARIANT: only the matcher assigns.
        if (msg.sender != mt.matcher) revert NotMatcher(msg.sender);
        (uint256 word,) = _load(jobId, terms);
        // INVARIANT: only an Open job can be assigned, to a real provider, before its deadline.
        _expectStatus(jobId, word, Status.Open);
        if (provider == address(0)) revert InvalidProvider(provider);
        uint256 deadline = terms.deadline;
        if (block.timestamp > deadline) revert DeadlinePassed(deadline, block.timestamp);
        (uint256 free, uint256 locked) = stakeManager.stakeOf(provider);
        uint256 minimum = uint256(mt.minStakeGwei) * JobWord.GWEI;
        // INVARIANT: the provider is bonded at least minStake and can cover this job's collateral.
        if (free + locked < minimum) revert BelowMinStake(free + locked, minimum);
        if (free < terms.collateral) revert InsufficientFreeStake(free, terms.collateral);
        // acceptBy never passes the deadline, so accept need not see the terms.
        uint256 acceptBy = block.timestamp + mt.acceptTimeout;
        if (acceptBy > deadline) acceptBy = deadline;
        _jobs[jobId].word = JobWord.pack(Status.Assigned, provider, acceptBy, terms.collateral);
        emit JobAssigned(jobId, provider, uint40(acceptBy));
    }

    function accept(uint256 jobId) external {
        Job storage j = _jobs[jobId];
        uint256 word = j.word;
        // INVARIANT: only an Assigned job can be accepted, only by its provider, only until acceptBy (≤ deadline).
        if (word.status() != Status.Assigned) revert WrongStatus(jobId, _statusOf(jobId, word, j.commitment));
        address provider = word.provider();
        if (msg.sender != provider) revert NotProvider(msg.sender, provider);
        uint256 acceptBy = word.timer();
        if (block.timestamp > acceptBy) revert AcceptWindowClosed(acceptBy, block.timestamp);
        // The timer of a Running job is its last sign of life (accept counts as the first).
        j.word = word.next(Status.Running, block.timestamp);
        stakeManager.lock(provider, word.collateral());
        emit JobAccepted(jobId, provider);
    }

    function submitResult(
        uint256 jobId,
        JobTerms calldata terms,
        bytes32 traceRoot,
        bytes32 finalModelHash,
        uint32 numSteps
    ) external {
        (uint256 word, bytes32 tHash) = _load(jobId, terms);
        // INVARIANT: only a Running job takes a result, only from its provider, only before the deadline.
        _expectStatus(jobId, word, Status.Running);
        address provider = word.provider();
        if (msg.sender != provider) revert NotProvider(msg.sender, provider);
        if (block.timestamp > terms.deadline) revert DeadlinePassed(terms.deadline, block.timestamp);
        // INVARIANT: the trace covers exactly the steps the client paid for.
        if (numSteps != terms.numSteps) revert StepsMismatch(numSteps, terms.numSteps);
        uint256 challengeUntil = block.timestamp + _matching.challengeWindow;
        Job storage j = _jobs[jobId];
        j.word = word.next(Status.Submitted, challengeUntil);
        j.commitment = JobWord.resultCommitment(tHash, traceRoot, finalModelHash);
        emit ResultSubmitted(jobId, traceRoot, finalModelHash, uint40(challengeUntil));
    }

    function finalize(uint256 jobId, JobTerms calldata terms, bytes32 traceRoot, bytes32 finalModelHash) external {
        (uint256 word,) = _loadSubmitted(jobId, terms, traceRoot, finalModelHash);
        uint256 challengeUntil = word.timer();
        // INVARIANT: a result is paid only once its challenge window has closed...
        if (block.timestamp <= challengeUntil) revert ChallengeWindowOpen(challengeUntil, block.timestamp);
        // INVARIANT: ...and every game on it has settled for the defender (Disputed ⇔ a game is open).
        if (word.status() == Status.Disputed) revert GamesOpen(jobId, _disputes[jobId].openGames);
        _payProvider(jobId, word.provider(), terms.price, terms.collateral);
    }

    function cancel(uint256 jobId, JobTerms calldata terms) external {
        (uint256 word,) = _load(jobId, terms);
        // INVARIANT: only the client cancels, and only before the provider accepted.
        if (msg.sender != terms.client) revert NotClient(msg.sender, terms.client);
        Status s = word.status();
        if (s != Status.Open && s != Status.Assigned) revert WrongStatus(jobId, s);
        _jobs[jobId].word = word.next(Status.Cancelled, 0);
        _credit(terms.client, terms.price);
        emit JobCancelled(jobId, terms.price);
    }

    function expire(uint256 jobId, JobTerms calldata terms) external {
        (uint256 word,) = _load(jobId, terms);
        Status s = word.status();
        address provider = word.provider();
        bool pastDeadline = block.timestamp > terms.deadline;
        if (pastDeadline && (s == Status.Open || s == Status.Assigned || s == Status.Running)) {
            uint256 forfeited;
            _jobs[jobId].word = word.next(Status.Expired, 0);
            _credit(terms.client, terms.price);
            if (s == Status.Running) {
                forfeited = JobWord.bps(terms.collateral, _rates.forfeitBps);
                if (forfeited != 0) stakeManager.forfeit(provider, forfeited, terms.client);
                if (terms.collateral != forfeited) stakeManager.unlock(provider, terms.collateral - forfeited);
            }
            emit JobExpired(jobId, provider, terms.price, forfeited);
        } else if (s == Status.Assigned && block.timestamp > word.timer()) {
            // The provider never accepted: back to Open for the matcher (clearing the word refunds gas).
            delete _jobs[jobId].word;
            emit AssignmentExpired(jobId, provider);
        } else {
            // INVARIANT: expire only acts on a missed accept window or a missed deadline.
            revert NotExpired(jobId, s, block.timestamp);
        }
    }

    function challenge(
        uint256 jobId,
        JobTerms calldata terms,
        bytes32 traceRoot,
        bytes32 finalModelHash,
        bytes32 challengerRoot
    ) external payable returns (uint256 gameId) {
        uint256 bond = _bondFor(terms);
        address g = game;
        (address provider, uint32 epoch) = _admitChallenge(jobId, terms, traceRoot, finalModelHash, bond, g);
        gameId = _openGame(g, jobId, terms, provider, traceRoot, challengerRoot, finalModelHash, bond);
        // INVARIANT: the record, not the current `game`, authorises this game's settlement (setGame strands nothing).
        _challenges[g][gameId] = Challenge(msg.sender, uint96(bond), uint64(jobId), epoch);
        emit JobChallenged(jobId, msg.sender, gameId);
    }

    /// @dev challenge's checks and the job's dispute bookkeeping (split out to keep the stack shallow).
    function _admitChallenge(
        uint256 jobId,
        JobTerms calldata terms,
        bytes32 traceRoot,
        bytes32 finalModelHash,
        uint256 bond,
        address g
    ) internal returns (address provider, uint32 epoch) {
        (uint256 word, bytes32 tHash) = _loadSubmitted(jobId, terms, traceRoot, finalModelHash);
        provider = word.provider();
        uint256 challengeUntil = word.timer();
        // INVARIANT: anyone but the provider may challenge, any number of times, until the window closes (open
        // games never close the door on the next challenger), with exactly the bond, once a game is registered.
        if (block.timestamp > challengeUntil) revert ChallengeWindowClosed(challengeUntil, block.timestamp);
        if (msg.sender == provider) revert ProviderCannotChallenge(provider);
        if (msg.value != bond) revert WrongBond(msg.value, bond);
        if (g == address(0)) revert GameNotSet();
        Dispute storage d = _disputes[jobId];
        uint32 open = d.openGames;
        if (open == 0) {
            _jobs[jobId].word = word.next(Status.Disputed, challengeUntil);
            d.client = terms.client;
            d.price = terms.price;
            d.termsHash = tHash;
        }
        d.openGames = open + 1;
        epoch = d.epoch;
    }

    function onDisputeSettled(uint256 gameId, Outcome outcome) external returns (uint256 slashed) {
        Challenge memory c = _challenges[msg.sender][gameId];
        // INVARIANT: only a game this market opened settles, once (the record is deleted here).
        if (c.challenger == address(0)) revert UnknownChallenge(msg.sender, gameId);
        if (outcome == Outcome.None) revert InvalidOutcome(outcome);
        delete _challenges[msg.sender][gameId];
        uint256 jobId = c.jobId;
        Dispute storage d = _disputes[jobId];
        Job storage j = _jobs[jobId];
        uint256 word = j.word;
        bool live = c.epoch == d.epoch && word.status() == Status.Disputed;
        if (!live) {
            // INVARIANT: a game on a result already decided (or discarded) moves nothing but its own bond, in full.
            _credit(c.challenger, c.bond);
            emit ChallengeSettled(jobId, gameId, c.challenger, Outcome.Moot, 0);
            return 0;
        }
        // INVARIANT: a live game cannot call itself moot.
        if (outcome == Outcome.Moot) revert InvalidOutcome(outcome);
        address provider = word.provider();
        if (outcome == Outcome.DefenderWins) {
            uint256 cut = JobWord.bps(c.bond, _rates.disputeCutBps);
            _hot.protocolFees += uint128(cut);
            stakeManager.release{value: c.bond - cut}(provider, 0);
            uint32 open = d.openGames - 1;
            d.openGames = open;
            // The last open game settled: the result waits for the window again (finalize, or more challenges).
            if (open == 0) j.word = word.next(Status.Submitted, word.timer());
        } else {
            // The submission is decided (or discarded): every other game on it is now moot.
            d.openGames = 0;
            d.epoch = c.epoch + 1;
            if (outcome == Outcome.Void) {
                // Nobody lied provably: bond back, collateral back, the result unpaid, job Open under its terms.
                delete j.word;
                j.commitment = d.termsHash;
                _credit(c.challenger, c.bond);
                stakeManager.unlock(provider, word.collateral());
                emit JobReopened(jobId);
            } else {
                slashed = _failJob(j, word, d, c, outcome);
            }
            emit DisputeSettled(jobId, outcome);
        }
        emit ChallengeSettled(jobId, gameId, c.challenger, outcome, slashed);
    }

    /// @dev ChallengerWins / BothLose: the result is proven wrong. The collateral is slashed exactly once here
    /// (ChallengerWins: the game's reward share to the challenger, the rest to the treasury; BothLose: all to the
    /// treasury, and the bond too), the client refunded.
    function _failJob(
        Job storage j,
        uint256 word,
        Dispute storage d,
        Challenge memory c,
        Outcome outcome
    ) internal returns (uint256 slashed) {
        address provider = word.provider();
        uint256 collateral = word.collateral();
        j.word = word.next(Status.Failed, 0);
        _credit(d.client, d.price);
        address t = treasury;
        if (outcome == Outcome.ChallengerWins) {
            uint256 reward = JobWord.bps(collateral, IDisputeGame(msg.sender).challengerRewardBps());
            if (reward != 0) slashed = stakeManager.slash(provider, reward, c.challenger);
            if (collateral != reward) slashed += stakeManager.slash(provider, collateral - reward, t);
            _credit(c.challenger, c.bond);
        } else {
            slashed = stakeManager.slash(provider, collateral, t);
            _hot.protocolFees += uint128(c.bond);
        }
    }

    // ------------------------------------------------------------------ external write: liveness

    function heartbeat(uint256 jobId, uint32 step, bytes32 stateHash) external {
        Job storage j = _jobs[jobId];
        uint256 word = j.word;
        // INVARIANT: only the provider of a Running job signs it alive.
        if (word.status() != Status.Running) revert WrongStatus(jobId, _statusOf(jobId, word, j.commitment));
        address provider = word.provider();
        if (msg.sender != provider) revert NotProvider(msg.sender, provider);
        j.word = word.next(Status.Running, block.timestamp);
        emit Heartbeat(jobId, provider, step, stateHash);
    }

    function reclaimStalled(uint256 jobId, JobTerms calldata terms) external {
        (uint256 word,) = _load(jobId, terms);
        _expectStatus(jobId, word, Status.Running);
        Rates memory r = _rates;
        uint256 last = word.timer();
        // INVARIANT: a provider loses a job for silence only after a full liveness window without a heartbeat,
        // and only before the deadline (after it, expire's larger forfeit applies).
        if (block.timestamp <= last + r.livenessWindow || block.timestamp > terms.deadline) {
            revert NotStalled(jobId, last, r.livenessWindow, block.timestamp);
        }
        address provider = word.provider();
        uint256 forfeited = _reopenRunning(jobId, provider, terms, r.stallForfeitBps);
        emit JobStalled(jobId, provider, forfeited);
    }

    function abandon(uint256 jobId, JobTerms calldata terms, bytes32 reason) external {
        (uint256 word,) = _load(jobId, terms);
        // INVARIANT: only the provider of a Running job gives it back, and pays only the small abandon forfeit.
        _expectStatus(jobId, word, Status.Running);
        address provider = word.provider();
        if (msg.sender != provider) revert NotProvider(msg.sender, provider);
        uint256 forfeited = _reopenRunning(jobId, provider, terms, _rates.abandonForfeitBps);
        emit JobAbandoned(jobId, provider, reason, forfeited);
    }

    function withdraw() external {
        uint256 amount = _credits[msg.sender];
        _credits[msg.sender] = 0;
        if (msg.sender == treasury) {
            amount += _hot.protocolFees;
            _hot.protocolFees = 0;
        }
        // INVARIANT: only an existing credit is paid, zeroed before the transfer.
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ external read

    function jobStatus(uint256 jobId) external view returns (Status) {
        Job storage j = _jobs[jobId];
        return _statusOf(jobId, j.word, j.commitment);
    }

    /// @dev Raw job state: status, provider, timer (acceptBy / deadline / challengeUntil) and the commitment.
    function jobOf(uint256 jobId)
        external
        view
        returns (Status status, address provider, uint256 timer, bytes32 commitment)
    {
        Job storage j = _jobs[jobId];
        uint256 word = j.word;
        return (_statusOf(jobId, word, j.commitment), word.provider(), word.timer(), j.commitment);
    }

    function disputeOf(uint256 jobId) external view returns (Dispute memory) {
        return _disputes[jobId];
    }

    function challengeOf(address game_, uint256 gameId) external view returns (Challenge memory) {
        return _challenges[game_][gameId];
    }

    /// @notice True while the game still judges the job's current submission (it may then not end Moot).
    function challengeLive(address game_, uint256 gameId) external view returns (bool) {
        Challenge storage c = _challenges[game_][gameId];
        if (c.challenger == address(0)) return false;
        uint256 jobId = c.jobId;
        return c.epoch == _disputes[jobId].epoch && _jobs[jobId].word.status() == Status.Disputed;
    }

    /// @notice The exact bond a challenge of the job with these terms must carry.
    function bondFor(JobTerms calldata terms) external view returns (uint256) {
        return _bondFor(terms);
    }

    function creditOf(address account) external view returns (uint256) {
        return _credits[account] + (account == treasury ? _hot.protocolFees : 0);
    }

    function protocolFees() external view returns (uint256) {
        return _hot.protocolFees;
    }

    function nextJobId() external view returns (uint256) {
        return _hot.nextJobId;
    }

    function params() external view returns (Params memory) {
        Matching memory mt = _matching;
        Rates memory r = _rates;
        return Params(
            mt.acceptTimeout,
            mt.challengeWindow,
            _hot.protocolFeeBps,
            r.forfeitBps,
            r.disputeCutBps,
            challengerBond,
            uint96(uint256(mt.minStakeGwei) * JobWord.GWEI),
            r.bondBps,
            uint96(uint256(_hot.minCollateralGwei) * JobWord.GWEI),
            r.livenessWindow,
            r.stallForfeitBps,
            r.abandonForfeitBps
        );
    }

    function forfeitBps() external view returns (uint16) {
        return _rates.forfeitBps;
    }

    function disputeCutBps() external view returns (uint16) {
        return _rates.disputeCutBps;
    }

    function minStake() external view returns (uint256) {
        return uint256(_matching.minStakeGwei) * JobWord.GWEI;
    }

    function matcher() external view returns (address) {
        return _matching.matcher;
    }

    /// @dev The commitment postJob stores for `terms` (for clients that want to check a JobPosted event).
    function termsHash(JobTerms calldata terms) external pure returns (bytes32) {
        return JobWord.termsHash(terms);
    }
}
