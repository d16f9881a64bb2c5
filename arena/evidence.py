"""What a party hands the referee (DESIGN §5): serialised, stored, announced, and found again — unhideably.

When a game reaches its last step (level 2, ``hi = lo + 1 = j``), each party uploads ``Trace.op_inputs(s, j)``
(the tensors op ``j`` of step ``s`` consumed plus the hashes that let them be checked) and the state after step
``s - 1`` to the coordinator's content-addressed artifact store over REST, and announces each artifact id on
the board (Redis). The referee reads *every* announcement, downloads each, checks its bytes against its
content id and its contents against the hashes both parties agreed on-chain, and skips whatever does not check
out. What is judged never comes from the bytes: the step and op are the game's (``state.index``,
``state.hi``), the Op is rebuilt from the spec.

Why a party cannot hide the other's evidence: each party announces under its own list, signing every
announcement (EIP-191, ``announcement_text``) with its key; the referee reads the two parties' lists (the
addresses come from the game on-chain), keeps only entries signed by that list's party, and tries the two lists
in turn (round robin), so junk from one key neither displaces nor delays the other party's first hand-over.
Unsigned announcements go to an open list, read after the parties' own. Even a board wiped clean only delays
a ruling: the referee then replays from the nearest state both parties agree on (verifier/replay.py).

Bytes: ``torch.save`` of a plain dict of tensors, ints and hex strings, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import redis
import torch
from eth_account import Account
from eth_account.messages import encode_defunct

from client.api import ApiError, CoordinatorClient
from verde.checkpoint import dump_state, standalone
from verde.interpreter import State
from verde.program import build_program
from verde.spec import JobSpec
from verde.trace import OpInputs

log = logging.getLogger("agora.evidence")

FORMAT = "agora.op-inputs.v1"
OP_INPUTS, STATE = "op-inputs", "state"  # the two kinds of hand-over
OPEN = "open"  # the list of unsigned announcements


class EvidenceError(ValueError):
    """Bytes that are not a well-formed hand-over for the step and op being judged."""


def dump_op_inputs(given: OpInputs) -> bytes:
    payload = {
        "format": FORMAT,
        "step": int(given.step),
        "op_index": int(given.op_index),
        "tensors": {k: _portable(v) for k, v in given.tensors.items()},
        "prior_hashes": [h.hex() for h in given.prior_hashes],
        "state_hashes": [h.hex() for h in given.state_hashes],
        "prev_leaf": given.prev_leaf.hex(),
        "chain": given.chain.hex(),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def _portable(v: torch.Tensor | tuple) -> torch.Tensor | tuple:
    # a graph node that returns several tensors (convolution_backward, split) hands its getitem a tuple
    if isinstance(v, (tuple, list)):
        return tuple(None if t is None else standalone(t) for t in v)
    return standalone(v)


def _is_value(v: object) -> bool:
    if isinstance(v, tuple):
        return all(t is None or isinstance(t, torch.Tensor) for t in v)
    return isinstance(v, torch.Tensor)


def load_op_inputs(data: bytes, spec: JobSpec, step: int | None = None, op: int | None = None) -> OpInputs:
    """Parses a hand-over. With ``step``/``op`` (the game's), one claiming another step or op is refused, and the
    result is bound to the game's step and op whatever the bytes say."""
    try:
        p = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt or unsafe input
        raise EvidenceError(f"not loadable: {exc}") from None
    if not isinstance(p, dict) or p.get("format") != FORMAT:
        raise EvidenceError(f"not an {FORMAT} hand-over")
    try:
        claimed_step, claimed_op = int(p["step"]), int(p["op_index"])
        if (step is not None and claimed_step != step) or (op is not None and claimed_op != op):
            raise EvidenceError(f"hand-over is for step {claimed_step} op {claimed_op}, the game judges step "
                                f"{step} op {op}")
        s = claimed_step if step is None else step
        j = claimed_op if op is None else op
        tensors = {str(k): v for k, v in p["tensors"].items() if _is_value(v)}
        return OpInputs(
            step=s,
            op_index=j,
            op=build_program(spec).op(j),
            tensors=tensors,
            prior_hashes=[bytes.fromhex(h) for h in p["prior_hashes"]],
            state_hashes=[bytes.fromhex(h) for h in p["state_hashes"]],
            prev_leaf=bytes.fromhex(p["prev_leaf"]),
            chain=bytes.fromhex(p["chain"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        if isinstance(exc, EvidenceError):
            raise
        raise EvidenceError(f"malformed hand-over: {exc}") from None


def bind(given: OpInputs, spec: JobSpec, step: int, op: int) -> OpInputs:
    """``given`` re-labelled with the step and op the game judges (never trust the hand-over's own labels)."""
    return replace(given, step=step, op_index=op, op=build_program(spec).op(op))


def announcement_text(game_address: str, game_id: int, kind: str, step: int, op: int, artifact: str) -> str:
    """What a party signs to announce a hand-over: it names the game, the kind, the step/op and the content id."""
    return f"agora.evidence.v1|{game_address.lower()}|{game_id}|{kind}|{step}|{op}|{artifact.removeprefix('sha256:')}"


def _key(game_address: str, game_id: int, kind: str, owner: str) -> str:
    return f"agora:evidence:{game_address.lower()}:{game_id}:{kind}:{owner.lower()}"


@dataclass(frozen=True)
class Announcement:
    artifact: str
    step: int
    op: int
    signer: str | None  # None: unsigned (open list)


class EvidenceBoard:
    """Where parties announce their hand-overs and the referee finds them (Redis lists of signed artifact ids)."""

    def __init__(self, api: CoordinatorClient, redis_url: str | None, ttl_s: int = 7 * 24 * 3600,
                 signer_key: str | None = None) -> None:
        self.api = api
        self.redis = redis.Redis.from_url(redis_url) if redis_url and redis_url.startswith("redis") else None
        self.ttl_s = ttl_s
        self._signer = Account.from_key(signer_key) if signer_key else None

    # ------------------------------------------------------------------ a party's side

    def post(self, game_address: str, game_id: int, given: OpInputs) -> str | None:
        """Uploads and announces op inputs; returns the artifact id (None when there is nowhere to announce it)."""
        artifact = self.api.upload_artifact(dump_op_inputs(given), kind="blob")
        return self._announce(game_address, game_id, OP_INPUTS, given.step, given.op_index, artifact)

    def post_state(self, game_address: str, game_id: int, step: int, state: State) -> str | None:
        """Uploads and announces the training state after ``step`` (the referee's replay starts from it)."""
        artifact = self.api.upload_artifact(dump_state({k: v.detach().cpu() for k, v in state.items()}, step),
                                            kind="checkpoint")
        return self._announce(game_address, game_id, STATE, step, 0, artifact)

    def _announce(self, game_address: str, game_id: int, kind: str, step: int, op: int, artifact: str) -> str | None:
        if self.redis is None:
            return None
        entry: dict[str, object] = {"artifact": artifact, "step": step, "op": op}
        if self._signer is not None:
            text = announcement_text(game_address, game_id, kind, step, op, artifact)
            entry["sig"] = self._signer.sign_message(encode_defunct(text=text)).signature.hex()
            owner = self._signer.address
        else:
            owner = OPEN
        key = _key(game_address, game_id, kind, owner)
        raw = json.dumps(entry, sort_keys=True)
        try:
            if raw.encode() not in self.redis.lrange(key, 0, -1):
                self.redis.rpush(key, raw)
            self.redis.expire(key, self.ttl_s)
        except redis.RedisError as exc:
            log.warning("game %s: could not announce %s: %s", game_id, kind, exc)
            return None
        return artifact

    # ------------------------------------------------------------------ the referee's side

    def announcements(self, game_address: str, game_id: int, kind: str, parties: Sequence[str]) -> list[Announcement]:
        """Every valid announcement of ``kind``: the parties' own (signed by them), taken in turn, then the open
        list; each artifact once."""
        if self.redis is None:
            return []
        lists = [self._read(game_address, game_id, kind, p) for p in parties]
        lists.append(self._read(game_address, game_id, kind, OPEN))
        out: list[Announcement] = []
        seen: set[str] = set()
        for a in _round_robin(lists[:-1]) + lists[-1]:
            if a.artifact not in seen:
                seen.add(a.artifact)
                out.append(a)
        return out

    def _read(self, game_address: str, game_id: int, kind: str, owner: str) -> list[Announcement]:
        assert self.redis is not None
        try:
            raw = self.redis.lrange(_key(game_address, game_id, kind, owner), 0, -1)
        except redis.RedisError as exc:
            log.warning("game %s: could not read the %s board: %s", game_id, kind, exc)
            return []
        out = []
        for item in raw:
            a = _parse(item, game_address, game_id, kind, owner)
            if a is not None:
                out.append(a)
        return out

    def fetch(self, artifact: str) -> bytes:
        """The artifact's bytes, checked against its content id (a store that substitutes bytes is caught here)."""
        ident = artifact.removeprefix("sha256:")
        try:
            data = self.api.artifact(ident)
        except ApiError as exc:
            raise LookupError(f"hand-over {ident[:12]}… not downloadable: {exc}") from None
        if hashlib.sha256(data).hexdigest() != ident:
            raise LookupError(f"hand-over {ident[:12]}… came back with other bytes")
        return data

    def providers(self, game_address: str, game_id: int, spec: JobSpec,
                  parties: Sequence[str] = ()) -> list[Callable[[int, int], OpInputs]]:
        """One inputs provider per announced op-inputs hand-over (for `verifier.referee.VerdeOracle`)."""
        out: list[Callable[[int, int], OpInputs]] = []
        for a in self.announcements(game_address, game_id, OP_INPUTS, parties):

            def provide(s: int, j: int, a: Announcement = a) -> OpInputs:
                if (a.step, a.op) != (s, j):
                    raise LookupError(f"hand-over {a.artifact[:12]}… is announced for step {a.step} op {a.op}")
                try:
                    return load_op_inputs(self.fetch(a.artifact), spec, s, j)
                except EvidenceError as exc:
                    raise ValueError(str(exc)) from None

            out.append(provide)
        return out


def _parse(item: bytes | str, game_address: str, game_id: int, kind: str, owner: str) -> Announcement | None:
    """One announcement, or None for junk (not JSON, wrong shape, or — on a party's list — not signed by it)."""
    try:
        entry = json.loads(item)
        artifact, step, op = str(entry["artifact"]), int(entry["step"]), int(entry["op"])
    except (ValueError, TypeError, KeyError):
        return None
    ident = artifact.removeprefix("sha256:")
    if len(ident) != 64 or any(c not in "0123456789abcdef" for c in ident):
        return None
    if owner == OPEN:
        return Announcement(ident, step, op, None)
    try:
        text = announcement_text(game_address, game_id, kind, step, op, ident)
        signer = Account.recover_message(encode_defunct(text=text), signature=bytes.fromhex(
            str(entry["sig"]).removeprefix("0x")))
    except Exception:  # noqa: BLE001 - any malformed signature is junk, whatever eth_account raises
        return None
    if signer.lower() != owner.lower():
        return None
    return Announcement(ident, step, op, signer)


def _round_robin(lists: list[list[Announcement]]) -> list[Announcement]:
    out: list[Announcement] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out
