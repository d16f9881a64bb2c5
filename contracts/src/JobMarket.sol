// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {StakeManager} from "./StakeManager.sol";
import {IDisputeGame} from "./interfaces/IDisputeGame.sol";
import {JobWord} from "./libraries/JobWord.sol";

/// @title JobMarket — job escrow and lifecycle for the Agora market
/// @notice For the Python client:
/// - `postJob(...)` escrows msg.value as the price and emits `JobPosted(jobId, client, terms)`; the terms are not
///   stored, only keccak256(abi.encode(terms)). Every later call passes the same `JobTerms` struct (read it from
///   the event); calls on a Submitted job also pass the submitted (traceRoot, finalModelHash).
/// - Lifecycle: Open → assign (matcher) → Assigned → accept (provider, locks collateral) → Running →
///   submitResult (provider) → Submitted → finalize (anyone, after the challenge window) → Finalized;
///   Submitted → challenge (anyone but the provider, with the bond) → Disputed → the game's onDisputeSettled →
///   Finalized | Failed | Open (void). cancel (client, Open/Assigned) → Cancelled. expire (anyone): Assigned
///   past acceptBy → Open; Open/Assigned/Running past the deadline → Expired (a Running provider forfeits
///   forfeitBps of its collateral to the client, credited in StakeManager).
/// - A provider's payout (price − fee; after a won dispute also the challenger's bond less the treasury cut) is
///   credited in StakeManager next to its stake: `StakeManager.withdrawCredit()` pulls it.
/// - Money moves only by pull: `creditOf(account)` and `withdraw()` here for refunds, returned bonds and the
///   treasury (its credit includes the accrued protocol fees); provider payouts are pulled from StakeManager.
/// - Deployment is one transaction: the constructor deploys the StakeManager (`stakeManager()`), whose market is
///   this contract (immutable) and whose admin is this contract's deployer.
/// - The admin (deployer) sets matcher, game, treasury and bounded parameters; it can never move escrow.
/// Conservation: address(this).balance == Σ escrowed prices of live jobs + Σ open bonds + Σ credits + fees.
contract JobMarket is IJobMarket {
    using JobWord for uint256;

    // ------------------------------------------------------------------ storage

    uint256 public constant MAX_TIMEOUT = 30 days;
    uint256 public constant MAX_PROTOCOL_FEE_BPS = 1_000;
    uint256 public constant MAX_DISPUTE_CUT_BPS = 5_000;
    uint256 public constant BPS = 10_000;

    address public immutable admin;
    IStakeManager public immutable stakeManager;

    /// @dev postJob and finalize share this slot. nextJobId starts at 1 so postJob never pays a fresh write for
    /// it, and protocol fees accrue here instead of in a fresh treasury credit slot.
    struct Hot {
        uint64 nextJobId;
        uint16 protocolFeeBps;
        uint176 protocolFees;
    }

    /// @dev assign reads matcher, acceptTimeout and minStake in one slot; submitResult reads challengeWindow.
    struct Matching {
        address matcher;
        uint24 acceptTimeout;
        uint24 challengeWindow;
        uint48 minStakeGwei;
    }

    /// @dev A Finalized job has both words cleared (two storage refunds): with a job id below nextJobId,
    /// word == 0 && commitment == 0 reads as Finalized, word == 0 && commitment != 0 as Open.
    struct Job {
        uint256 word; // JobWord: status | provider | timer | collateral (gwei)
        bytes32 commitment; // termsHash; keccak(termsHash, traceRoot, finalModelHash) once Submitted
    }

    Hot internal _hot;
    Matching internal _matching;
    uint16 public forfeitBps;
    uint16 public disputeCutBps;
    address public game;
    uint96 public challengerBond;
    address public treasury;

    mapping(uint256 => Job) internal _jobs;
    mapping(uint256 => Dispute) internal _disputes;
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
        _matching.acceptTimeout = uint24(p.acceptTimeout); // ≤ MAX_TIMEOUT < 2^24
        _matching.challengeWindow = uint24(p.challengeWindow);
        _matching.minStakeGwei = uint48(p.minStake / JobWord.GWEI);
        _hot.protocolFeeBps = p.protocolFeeBps;
        forfeitBps = p.forfeitBps;
        disputeCutBps = p.disputeCutBps;
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
            if (s == Status.Submitted || s == Status.Finalized) revert WrongStatus(jobId, s);
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
        // INVARIANT: result-bound calls happen only in Submitted (the commitment has the result in it only then).
        if (word.status() != Status.Submitted) revert WrongStatus(jobId, _statusOf(jobId, word, j.commitment));
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
    function _payProvider(
        uint256 jobId,
        address provider,
        uint256 price,
        uint256 collateral,
        uint256 extraFee,
        uint256 extraPayout
    ) internal returns (uint256 payout, uint256 fee) {
        Job storage j = _jobs[jobId];
        j.word = 0;
        j.commitment = 0;
        Hot storage h = _hot;
        fee = JobWord.bps(price, h.protocolFeeBps);
        payout = price - fee + extraPayout;
        h.protocolFees += uint176(fee + extraFee);
        stakeManager.release{value: payout}(provider, collateral);
        emit JobFinalized(jobId, provider, payout, fee + extraFee);
    }

    /// @dev Split out of challenge() to keep the stack shallow; the bond is the one just stored.
    function _openGame(
        address g,
        uint256 jobId,
        JobTerms calldata terms,
        address provider,
        bytes32 traceRoot,
        bytes32 challengerRoot,
        bytes32 finalModelHash
    ) internal returns (uint256) {
        // Static arguments only, so encoding them in two halves equals encoding them at once.
        bytes memory data = bytes.concat(
            abi.encodeWithSelector(IDisputeGame.open.selector, jobId, provider, msg.sender, traceRoot, challengerRoot),
            abi.encode(finalModelHash, terms.numSteps, terms.checkpointEvery, terms.opsPerStep, terms.collateral, _disputes[jobId].bond)
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
        // INVARIANT: the deadline lies in the future.
        if (deadline <= block.timestamp) revert InvalidDeadline(deadline, block.timestamp);
        JobTerms memory terms = JobTerms(
            msg.sender, uint96(msg.value), specHash, numSteps, checkpointEvery, opsPerStep, collateral, deadline
        );
        Hot storage h = _hot;
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
        j.word = word.next(Status.Running, 0);
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
        // INVARIANT: a result is paid only once its challenge window has closed without a challenge.
        if (block.timestamp <= challengeUntil) revert ChallengeWindowOpen(challengeUntil, block.timestamp);
        _payProvider(jobId, word.provider(), terms.price, terms.collateral, 0, 0);
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
                forfeited = JobWord.bps(terms.collateral, forfeitBps);
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
        (uint256 word, bytes32 tHash) = _loadSubmitted(jobId, terms, traceRoot, finalModelHash);
        address provider = word.provider();
        address g = game;
        {
            uint256 challengeUntil = word.timer();
            // INVARIANT: a challenge comes inside the window, from someone else, with exactly the bond, and only
            // once a game is registered. A challenger with the same root disputes the final model hash instead:
            // the game opens in ProveFinal (PROTOCOL §7).
            if (block.timestamp > challengeUntil) revert ChallengeWindowClosed(challengeUntil, block.timestamp);
            if (msg.sender == provider) revert ProviderCannotChallenge(provider);
            uint256 bond = challengerBond;
            if (msg.value != bond) revert WrongBond(msg.value, bond);
            if (g == address(0)) revert GameNotSet();

            Job storage j = _jobs[jobId];
            j.word = word.next(Status.Disputed, challengeUntil);
            j.commitment = tHash; // a voided dispute reopens the job under its terms
            _disputes[jobId] = Dispute({
                challenger: msg.sender,
                bond: uint96(bond),
                client: terms.client,
                price: terms.price,
                game: g,
                collateral: terms.collateral
            });
        }
        gameId = _openGame(g, jobId, terms, provider, traceRoot, challengerRoot, finalModelHash);
        emit JobChallenged(jobId, msg.sender, gameId);
    }

    function onDisputeSettled(uint256 jobId, Outcome outcome) external {
        Job storage j = _jobs[jobId];
        uint256 word = j.word;
        // INVARIANT: settlement happens once, for a Disputed job, from the game that was opened for it.
        if (word.status() != Status.Disputed) revert WrongStatus(jobId, _statusOf(jobId, word, j.commitment));
        Dispute memory d = _disputes[jobId];
        if (msg.sender != d.game) revert NotGame(msg.sender, d.game);
        if (outcome == Outcome.None) revert InvalidOutcome(outcome);
        delete _disputes[jobId];
        address provider = word.provider();

        if (outcome == Outcome.DefenderWins) {
            uint256 cut = JobWord.bps(d.bond, disputeCutBps);
            _payProvider(jobId, provider, d.price, d.collateral, cut, d.bond - cut);
        } else if (outcome == Outcome.ChallengerWins) {
            // The game has slashed the collateral already; it stays gone.
            j.word = word.next(Status.Failed, 0);
            _credit(d.client, d.price);
            _credit(d.challenger, d.bond);
        } else if (outcome == Outcome.BothLose) {
            j.word = word.next(Status.Failed, 0);
            _credit(d.client, d.price);
            _hot.protocolFees += uint176(d.bond);
        } else {
            // Void: nobody lied provably; bond back, collateral back, job Open again under the same terms.
            delete j.word;
            _credit(d.challenger, d.bond);
            stakeManager.unlock(provider, d.collateral);
            emit JobReopened(jobId);
        }
        emit DisputeSettled(jobId, outcome);
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
        return Params(
            mt.acceptTimeout,
            mt.challengeWindow,
            _hot.protocolFeeBps,
            forfeitBps,
            disputeCutBps,
            challengerBond,
            uint96(uint256(mt.minStakeGwei) * JobWord.GWEI)
        );
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
