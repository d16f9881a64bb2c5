// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @notice The packed per-job state word and the job commitments.
/// @dev Word layout: bits 0..7 status code, 8..167 provider, 168..207 timer (acceptBy while Assigned,
/// challengeUntil while Submitted/Disputed, else 0), 208..255 collateral in gwei (so accept needs no terms).
/// An Open job is the all-zero word, so posting writes no word at all and re-opening a job clears it.
// The casts below pack fields into their bit ranges: truncation to the field width is the intent.
// forge-lint: disable-start(unsafe-typecast)
library JobWord {
    uint256 private constant PROVIDER_SHIFT = 8;
    uint256 private constant TIMER_SHIFT = 168;
    uint256 private constant COLLATERAL_SHIFT = 208;
    uint256 internal constant GWEI = 1e9;
    uint256 internal constant MAX_COLLATERAL_GWEI = type(uint48).max;

    /// @dev `collateral` is in wei and a whole number of gwei below 2^48 gwei (postJob checks it).
    function pack(IJobMarket.Status s, address who, uint256 until, uint256 coll) internal pure returns (uint256) {
        uint256 code = s == IJobMarket.Status.Open ? 0 : uint256(s);
        return code | (uint256(uint160(who)) << PROVIDER_SHIFT) | (uint256(uint40(until)) << TIMER_SHIFT)
            | ((coll / GWEI) << COLLATERAL_SHIFT);
    }

    /// @dev The same word in a new status with a new timer (provider and collateral kept). Never for Open,
    /// which is the cleared word.
    function next(uint256 word, IJobMarket.Status s, uint256 until) internal pure returns (uint256) {
        return (word & ((uint256(type(uint160).max) << PROVIDER_SHIFT) | (MAX_COLLATERAL_GWEI << COLLATERAL_SHIFT)))
            | uint256(s) | (uint256(uint40(until)) << TIMER_SHIFT);
    }

    function collateral(uint256 word) internal pure returns (uint256) {
        return (word >> COLLATERAL_SHIFT) * GWEI;
    }

    /// @dev Valid only for a job that exists (its commitment matched): the zero word means Open.
    function status(uint256 word) internal pure returns (IJobMarket.Status) {
        uint256 code = word & 0xff;
        return code == 0 ? IJobMarket.Status.Open : IJobMarket.Status(code);
    }

    function provider(uint256 word) internal pure returns (address) {
        return address(uint160(word >> PROVIDER_SHIFT));
    }

    function timer(uint256 word) internal pure returns (uint256) {
        return uint40(word >> TIMER_SHIFT);
    }

    /// @dev keccak256(abi.encode(terms)) straight from calldata (the struct is static: 8 words). Dirty high bits
    /// in a field change the hash, so such calldata fails the commitment check instead of slipping through.
    function termsHash(IJobMarket.JobTerms calldata terms) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            calldatacopy(p, terms, 0x100)
            h := keccak256(p, 0x100)
        }
    }

    /// @dev The commitment of a Submitted job: terms and the result it must be paid for.
    function resultCommitment(bytes32 tHash, bytes32 traceRoot, bytes32 finalModelHash)
        internal
        pure
        returns (bytes32 h)
    {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, tHash)
            mstore(add(p, 0x20), traceRoot)
            mstore(add(p, 0x40), finalModelHash)
            h := keccak256(p, 0x60)
        }
    }

    function bps(uint256 amount, uint256 basisPoints) internal pure returns (uint256) {
        return amount * basisPoints / 10_000;
    }
}
// forge-lint: disable-end(unsafe-typecast)
