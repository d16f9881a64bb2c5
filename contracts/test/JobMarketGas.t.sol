// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./base/TestBase.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {JobMarket} from "../src/JobMarket.sol";
import {IJobMarket} from "../src/interfaces/IJobMarket.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

contract JobMarketGasTest is TestBase {
    event Log(string name, uint256 gas);
    function test_gas() public {
        address client = address(0xC1);
        address provider = address(0xB0B);
        address matcher = address(0xA11);
        StakeManager sm = new StakeManager(1 ether, 60);
        JobMarket m = new JobMarket(IStakeManager(address(sm)), IJobMarket.Params(30, 60, 250, 5000, 1000, 0.1 ether), matcher, address(0x7EA));
        sm.setMarket(address(m));
        vm.deal(client, 10 ether); vm.deal(provider, 10 ether);
        vm.prank(provider); sm.stake{value: 5 ether}();
        uint256 g;
        vm.prank(client); g = gasleft();
        uint256 id = m.postJob{value: 1 ether}(keccak256("spec"), 1000, 100, 40, 2 ether, uint40(block.timestamp + 3600));
        emit Log("postJob", g - gasleft());
    }
}
