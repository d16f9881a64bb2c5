"""Which on-chain escrow funds an awaiting job (agora/escrow.py): the indexer binds oldest first, so must the CLI."""

from agora.escrow import PostedEscrow, escrow_already_sent


def job(i: int, status: str = "awaiting_funding", chain: int | None = None, spec: str = "0xaa") -> dict:
    return {"id": i, "status": status, "chain_job_id": chain, "spec_hash": spec, "price_wei": "10",
            "num_steps": 5, "checkpoint_every": 5}


def esc(n: int) -> PostedEscrow:
    return PostedEscrow(n, f"0x{n:02x}", n)


def test_no_escrow_on_chain_means_pay():
    assert escrow_already_sent(job(2), [job(2)], []) is None


def test_an_escrow_bound_to_another_job_is_not_ours():
    assert escrow_already_sent(job(2), [job(1, "open", 7), job(2)], [esc(7)]) is None


def test_an_unbound_escrow_is_ours_when_no_older_twin_waits():
    assert escrow_already_sent(job(2), [job(1, "open", 7), job(2)], [esc(7), esc(8)]) == esc(8)


def test_an_older_twin_awaiting_funding_takes_the_first_unbound_escrow():
    mine = [job(1), job(2)]
    assert escrow_already_sent(job(2), mine, [esc(8)]) is None
    assert escrow_already_sent(job(2), mine, [esc(8), esc(9)]) == esc(9)
    # A job with other terms does not compete for the escrow.
    assert escrow_already_sent(job(2), [job(1, spec="0xbb"), job(2)], [esc(8)]) == esc(8)
