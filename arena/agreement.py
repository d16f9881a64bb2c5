"""The trace leaves both parties of a game revealed alike, read back from the chain (ElementsRevealed events).

Bisection keeps the invariant "both agree on element lo": every element left of the final disagreement was
revealed by both parties in some round, with a Merkle proof against each one's own root. So the step leaves
``L[t]`` on which the two sides agree are public, on-chain facts, and a state that hashes to one of them is
the state both parties computed — the referee may replay from it instead of from step 0, whoever supplied it.
In particular ``L[s - 1]`` of the disputed step is always among them (it is the agreed ``lo`` of level 1, or
of level 0 when it falls on a segment boundary, or ``L[0]`` from the first round).
"""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address

from chain.dispute_game import DisputeGame, GameState
from verde.bisection import positions

ELEMENTS_REVEALED = "0x" + keccak(text="ElementsRevealed(uint256,address,uint8,uint32,uint32,bytes32[])").hex()


def revealed_rounds(game: DisputeGame, game_id: int) -> dict[tuple[int, int, int], dict[str, list[bytes]]]:
    """(level, lo, hi) -> {party: elements} for every reveal of the game so far."""
    raw = game.sender.w3.eth.get_logs({
        "address": to_checksum_address(game.address),
        "fromBlock": game.from_block,
        "toBlock": "latest",
        "topics": [ELEMENTS_REVEALED, "0x" + game_id.to_bytes(32, "big").hex()],  # type: ignore[list-item]
    })
    rounds: dict[tuple[int, int, int], dict[str, list[bytes]]] = {}
    for ev in game.sender.decoder.decode_all(raw):
        if ev.removed:
            continue
        a = ev.args
        key = (int(a["level"]), int(a["lo"]), int(a["hi"]))
        rounds.setdefault(key, {})[to_checksum_address(a["party"])] = [bytes(e) for e in a["elements"]]
    return rounds


def agreed_leaves(game: DisputeGame, game_id: int, state: GameState, k: int) -> dict[int, bytes]:
    """step t -> L[t] for every step leaf both parties revealed with the same value (levels 0 and 1)."""
    c, steps = state.checkpoint_every, state.num_steps
    # The segment the game descended into: at level 1 `index` is it; at level 2 `index` is the step s.
    segment = state.index if state.level == 1 else (state.index - 1) // c if state.level == 2 else None
    out: dict[int, bytes] = {}
    for (level, lo, hi), by_party in revealed_rounds(game, game_id).items():
        if level > 1 or len(by_party) < 2:
            continue
        d = by_party.get(to_checksum_address(state.defender))
        ch = by_party.get(to_checksum_address(state.challenger))
        if d is None or ch is None or len(d) != len(ch):
            continue
        pos = next((p for p in (positions(lo, hi, k, True), positions(lo, hi, k, False)) if len(p) == len(d)), None)
        if pos is None:
            continue
        for p, x, y in zip(pos, d, ch, strict=True):
            if x != y:
                continue
            if level == 0:
                out[min(p * c, steps)] = x
            elif segment is not None:
                out[segment * c + p] = x
    return out
