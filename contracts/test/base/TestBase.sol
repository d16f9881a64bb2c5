// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev What `lastCallGas` reports about the last call the test made.
struct Gas {
    uint64 gasLimit;
    uint64 gasTotalUsed;
    uint64 gasMemoryUsed;
    int64 gasRefunded;
    uint64 gasRemaining;
}

/// @notice The Foundry cheatcodes our tests use (forge-std is not available offline).
interface Vm {
    function deal(address who, uint256 newBalance) external;
    function prank(address sender) external;
    function prank(address sender, address origin) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 newTimestamp) external;
    function roll(uint256 newHeight) external;
    function expectRevert(bytes calldata revertData) external;
    /// @dev forge 1.x: matches revert data exactly equal to the 4 bytes (an error without arguments).
    function expectRevert(bytes4 revertSelector) external;
    /// @dev Matches any revert whose data starts with `revertSelector` (arguments ignored).
    function expectPartialRevert(bytes4 revertSelector) external;
    function expectRevert() external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
    function expectEmit() external;
    function assume(bool condition) external pure;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function label(address account, string calldata newLabel) external;
    function record() external;
    function accesses(address target) external returns (bytes32[] memory reads, bytes32[] memory writes);
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    function store(address target, bytes32 slot, bytes32 value) external;
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function getBlockTimestamp() external view returns (uint256);
    /// @dev Marks an account and its storage cold again (to measure a call as if it were its own transaction).
    function cool(address target) external;
    function lastCallGas() external view returns (Gas memory gas);
    function expectCall(address callee, bytes calldata data) external;
    function expectCall(address callee, uint256 msgValue, bytes calldata data) external;
    function toString(uint256 value) external pure returns (string memory);
    function toString(address value) external pure returns (string memory);
    function toString(bytes32 value) external pure returns (string memory);
}

/// @notice Minimal shared test base: cheatcodes, assertions, `bound`, invariant targets.
/// @dev Assertions revert with a message naming the values, which forge reports as the failure reason.
abstract contract TestBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev Forge looks for this flag to recognise a test contract.
    bool public IS_TEST = true;

    address[] private _targetContracts;

    // ---------------------------------------------------------------- invariant targets

    /// @dev Registers a contract whose functions the invariant fuzzer calls (the handler).
    function targetContract(address target) internal {
        _targetContracts.push(target);
    }

    /// @dev Forge reads this to restrict invariant calls to the registered targets.
    function targetContracts() public view returns (address[] memory) {
        return _targetContracts;
    }

    // ---------------------------------------------------------------- fuzz helpers

    /// @dev Maps any x into [min, max] without discarding runs (forge-std's rule, simplified).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + (x % (size + 1));
    }

    // ---------------------------------------------------------------- assertions

    function fail(string memory message) internal pure {
        revert(message);
    }

    function assertTrue(bool c) internal pure {
        if (!c) revert("assertTrue failed");
    }

    function assertTrue(bool c, string memory message) internal pure {
        if (!c) revert(string.concat("assertTrue failed: ", message));
    }

    function assertFalse(bool c) internal pure {
        if (c) revert("assertFalse failed");
    }

    function assertFalse(bool c, string memory message) internal pure {
        if (c) revert(string.concat("assertFalse failed: ", message));
    }

    function assertEq(uint256 a, uint256 b) internal pure {
        assertEq(a, b, "");
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) revert(string.concat("assertEq(uint) ", message, ": ", _u(a), " != ", _u(b)));
    }

    function assertEq(address a, address b) internal pure {
        assertEq(a, b, "");
    }

    function assertEq(address a, address b, string memory message) internal pure {
        if (a != b) revert(string.concat("assertEq(address) ", message, ": ", _u(uint160(a)), " != ", _u(uint160(b))));
    }

    function assertEq(bytes32 a, bytes32 b) internal pure {
        assertEq(a, b, "");
    }

    function assertEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) revert(string.concat("assertEq(bytes32) ", message, ": ", _u(uint256(a)), " != ", _u(uint256(b))));
    }

    function assertEq(bool a, bool b) internal pure {
        assertEq(a, b, "");
    }

    function assertEq(bool a, bool b, string memory message) internal pure {
        if (a != b) {
            revert(string.concat("assertEq(bool) ", message, ": ", a ? "true" : "false", " != ", b ? "true" : "false"));
        }
    }

    function assertEq(bytes memory a, bytes memory b) internal pure {
        assertEq(a, b, "");
    }

    function assertEq(bytes memory a, bytes memory b, string memory message) internal pure {
        if (keccak256(a) != keccak256(b)) revert(string.concat("assertEq(bytes) ", message));
    }

    function assertNotEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a == b) revert(string.concat("assertNotEq(uint) ", message, ": both ", _u(a)));
    }

    function assertNotEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a == b) revert(string.concat("assertNotEq(bytes32) ", message));
    }

    function assertGt(uint256 a, uint256 b) internal pure {
        assertGt(a, b, "");
    }

    function assertGt(uint256 a, uint256 b, string memory message) internal pure {
        if (a <= b) revert(string.concat("assertGt ", message, ": ", _u(a), " <= ", _u(b)));
    }

    function assertGe(uint256 a, uint256 b) internal pure {
        assertGe(a, b, "");
    }

    function assertGe(uint256 a, uint256 b, string memory message) internal pure {
        if (a < b) revert(string.concat("assertGe ", message, ": ", _u(a), " < ", _u(b)));
    }

    function assertLt(uint256 a, uint256 b) internal pure {
        assertLt(a, b, "");
    }

    function assertLt(uint256 a, uint256 b, string memory message) internal pure {
        if (a >= b) revert(string.concat("assertLt ", message, ": ", _u(a), " >= ", _u(b)));
    }

    function assertLe(uint256 a, uint256 b) internal pure {
        assertLe(a, b, "");
    }

    function assertLe(uint256 a, uint256 b, string memory message) internal pure {
        if (a > b) revert(string.concat("assertLe ", message, ": ", _u(a), " > ", _u(b)));
    }

    // ---------------------------------------------------------------- helpers

    /// @dev Decimal string of a uint (kept local so assertions stay `pure`).
    function _u(uint256 v) private pure returns (string memory) {
        if (v == 0) return "0";
        uint256 len;
        for (uint256 t = v; t != 0; t /= 10) {
            len++;
        }
        bytes memory b = new bytes(len);
        for (; v != 0; v /= 10) {
            b[--len] = bytes1(uint8(48 + v % 10));
        }
        return string(b);
    }
}
