"""Pulling what a key is owed: its JobMarket credit (payouts, refunds, returned bonds) and its StakeManager credit
(forfeits and slash shares). Clients (`agora wallet withdraw`) and providers (`agora provider withdraw`) share it."""

from __future__ import annotations

from typing import Any

from agora.output import CliError


def withdraw_credits(chain: Any, address: str) -> tuple[dict[str, int], list[Any]]:
    """Withdraws every non-zero credit of `address`; returns what was paid by label and the receipts, in order."""
    from chain.errors import ContractRevert

    paid: dict[str, int] = {}
    receipts: list[Any] = []
    for label, contract in (("slash credit", chain.stake), ("payouts", chain.market)):
        credit = contract.credit_of(address)
        if not credit:
            continue
        try:
            receipts.append(chain.stake.withdraw_credit() if contract is chain.stake else chain.market.withdraw())
        except ContractRevert as exc:
            raise CliError(f"withdrawing {label} failed: {exc}") from None
        paid[label] = credit
    return paid, receipts
