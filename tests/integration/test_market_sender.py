"""The transaction sender on a real anvil: nonces under threads and after outside use, EIP-1559 fees,
receipt timeouts and confirmations, transient-error retries, and event decoding over a block range."""

from __future__ import annotations

import threading
import time

import pytest

from chain.errors import ReceiptTimeout, TransientChainError
from chain.events import get_events
from chain.rpc import RpcPolicy
from chain.sender import Sender, SenderSettings, make_web3

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("chain_snapshot")]


def test_concurrent_sends_from_one_key_get_distinct_nonces(anvil, roles, w3):
    sender = Sender(anvil.rpc_url, roles.stranger.private_key)
    start = w3.eth.get_transaction_count(roles.stranger.address)
    receipts, errors = [], []

    def send(i: int) -> None:
        try:
            receipts.append(sender.transact(roles.treasury.address, b"", value=i + 1))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.tx_hash for r in receipts}) == 8
    nonces = sorted(w3.eth.get_transaction(r.tx_hash)["nonce"] for r in receipts)
    assert nonces == list(range(start, start + 8))


def test_nonce_resyncs_after_another_process_used_the_key(anvil, roles, w3):
    sender = Sender(anvil.rpc_url, roles.stranger.private_key)
    sender.transact(roles.treasury.address, b"", value=1)  # caches the next nonce
    # Someone else (anvil's unlocked dev account) sends with the same account: the cache is now too low.
    outside = anvil.rpc("eth_sendTransaction",
                        [{"from": roles.stranger.address, "to": roles.treasury.address, "value": "0x1"}])
    # anvil answers before it mines under load: the outside send counts once it has a receipt.
    w3.eth.wait_for_transaction_receipt(outside, timeout=60)
    before = w3.eth.get_transaction_count(roles.stranger.address)
    r = sender.transact(roles.treasury.address, b"", value=1)
    assert w3.eth.get_transaction(r.tx_hash)["nonce"] == before


def test_fees_follow_base_fee_and_settings(anvil, roles, w3):
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    tip = int(w3.eth.max_priority_fee)
    fees = Sender(anvil.rpc_url, roles.stranger.private_key).fees()
    assert fees == {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}
    fixed = Sender(anvil.rpc_url, roles.stranger.private_key,
                   SenderSettings(priority_fee_wei=7, base_fee_multiplier=3)).fees()
    assert fixed == {"maxFeePerGas": 3 * base + 7, "maxPriorityFeePerGas": 7}
    capped = Sender(anvil.rpc_url, roles.stranger.private_key,
                    SenderSettings(priority_fee_wei=10**12, max_fee_cap_wei=base + 5)).fees()
    assert capped == {"maxFeePerGas": base + 5, "maxPriorityFeePerGas": base + 5}


def test_receipt_wait_times_out_when_nothing_is_mined(anvil, roles):
    sender = Sender(anvil.rpc_url, roles.stranger.private_key, SenderSettings(receipt_timeout_s=0.3))
    anvil.rpc("evm_setAutomine", [False])
    try:
        with pytest.raises(ReceiptTimeout) as info:
            sender.transact(roles.treasury.address, b"", value=1, gas=21_000)
        assert info.value.tx_hash.startswith("0x")
    finally:
        # The transaction still sits in the pool: drop it, or the next block would carry it into other tests.
        anvil.rpc("anvil_dropAllTransactions")
        anvil.rpc("evm_setAutomine", [True])


def test_confirmations_wait_for_blocks_on_top(anvil, roles):
    sender = Sender(anvil.rpc_url, roles.stranger.private_key, SenderSettings(confirmations=2))
    out = {}
    t = threading.Thread(target=lambda: out.update(r=sender.transact(roles.treasury.address, b"", value=1)))
    t.start()
    time.sleep(0.5)
    assert "r" not in out  # mined, but not yet buried under two blocks
    anvil.mine(2)
    t.join(timeout=10)
    assert out["r"].status == 1
    assert int(str(anvil.rpc("eth_blockNumber")), 16) >= out["r"].block_number + 2


def test_unreachable_node_is_retried_then_reported():
    sender = Sender(make_web3("http://127.0.0.1:9", policy=RpcPolicy(timeout_s=0.5, max_attempts=3,
                                                                       backoff_s=0.01)), "0x" + "11" * 32)
    t0 = time.monotonic()
    with pytest.raises(TransientChainError, match=r"127\.0\.0\.1:9 did not answer .*3 tries"):
        sender.fees()
    assert time.monotonic() - t0 < 60  # refused at once: bounded by attempts, not by a stack of retry layers


def test_events_decode_from_raw_logs_over_a_block_range(anvil, deployed, roles, market_as, stake_as, w3):
    stake_as(roles.provider).stake(10**18)
    posted = market_as(roles.client).post_job(spec_hash=b"\x01" * 32, num_steps=2, checkpoint_every=1,
                                              ops_per_step=1, collateral=10**9, deadline=anvil.timestamp() + 99,
                                              price=5)
    events = get_events(w3, deployed.decoder(), deployed.deploy_block, "latest")
    names = [(e.contract, e.name) for e in events]
    assert ("StakeManager", "Staked") in names
    posted_ev = [e for e in events if e.name == "JobPosted"][-1]
    assert posted_ev.contract == "JobMarket"
    assert posted_ev.address == deployed.address("JobMarket")
    assert posted_ev.args["jobId"] == posted.job_id
    assert posted_ev.args["terms"]["price"] == 5
    assert posted_ev.tx_hash == posted.receipt.tx_hash
    assert posted_ev.block_number == posted.receipt.block_number
    # Chain order: strictly increasing (block, log index).
    keys = [(e.block_number, e.log_index) for e in events]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)


def test_events_in_windows_equal_one_query(anvil, deployed, roles, market_as, w3):
    from chain.events import iter_events

    for _ in range(3):
        market_as(roles.client).post_job(spec_hash=b"\x02" * 32, num_steps=1, checkpoint_every=1, ops_per_step=1,
                                         collateral=10**9, deadline=anvil.timestamp() + 99, price=1)
    head = w3.eth.block_number
    whole = get_events(w3, deployed.decoder(), deployed.deploy_block, head)
    windows = list(iter_events(w3, deployed.decoder(), deployed.deploy_block, head, batch_blocks=2))
    assert [end for end, _ in windows][-1] == head
    assert [e for _, evs in windows for e in evs] == whole


def test_anvil_process_mines_on_an_interval_and_dies_on_exit():
    import socket

    from chain.anvil import AnvilProcess

    with AnvilProcess(block_time=0.2, extra_args=["--gas-limit", "31000000"]) as node:
        first = int(str(node.rpc("eth_blockNumber")), 16)
        time.sleep(0.7)
        assert int(str(node.rpc("eth_blockNumber")), 16) > first
        block = node.rpc("eth_getBlockByNumber", ["latest", False])
        assert isinstance(block, dict) and int(block["gasLimit"], 16) == 31_000_000
        port = node.port
    assert not node.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
