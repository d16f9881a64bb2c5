"""The op inputs a party hands the referee (DESIGN §5): serialised, stored, and found again.

When a game reaches its last step (level 2, ``hi = lo + 1 = j``), each party uploads ``Trace.op_inputs(s, j)``
— the tensors op ``j`` of step ``s`` consumed plus the hashes that let them be checked — to the coordinator's
artifact store over REST, and announces the artifact id under a Redis key named after the game and the op.
The referee reads every announced id, downloads, deserialises and checks each against the agreed hashes
(``verde.trace.verify_op_inputs``) before recomputing the op; a bad or missing hand-over is simply skipped.
The Op itself is never taken from the bytes: it is rebuilt from the spec.

Bytes: ``torch.save`` of a plain dict of tensors, ints and hex strings, loaded with ``weights_only=True``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import redis
import torch

from client.api import ApiError, CoordinatorClient
from verde.program import build_program
from verde.spec import JobSpec
from verde.trace import OpInputs

log = logging.getLogger("agora.evidence")

FORMAT = "agora.op-inputs.v1"


class EvidenceError(ValueError):
    """Bytes that are not a well-formed op-inputs hand-over."""


def dump_op_inputs(given: OpInputs) -> bytes:
    payload = {
        "format": FORMAT,
        "step": int(given.step),
        "op_index": int(given.op_index),
        "tensors": {k: v.detach().cpu().contiguous() for k, v in given.tensors.items()},
        "prior_hashes": [h.hex() for h in given.prior_hashes],
        "state_hashes": [h.hex() for h in given.state_hashes],
        "prev_leaf": given.prev_leaf.hex(),
        "chain": given.chain.hex(),
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def load_op_inputs(data: bytes, spec: JobSpec) -> OpInputs:
    try:
        p = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for corrupt or unsafe input
        raise EvidenceError(f"not loadable: {exc}") from None
    if not isinstance(p, dict) or p.get("format") != FORMAT:
        raise EvidenceError(f"not an {FORMAT} hand-over")
    try:
        step, j = int(p["step"]), int(p["op_index"])
        tensors = {str(k): v for k, v in p["tensors"].items() if isinstance(v, torch.Tensor)}
        return OpInputs(
            step=step,
            op_index=j,
            op=build_program(spec).op(j),
            tensors=tensors,
            prior_hashes=[bytes.fromhex(h) for h in p["prior_hashes"]],
            state_hashes=[bytes.fromhex(h) for h in p["state_hashes"]],
            prev_leaf=bytes.fromhex(p["prev_leaf"]),
            chain=bytes.fromhex(p["chain"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise EvidenceError(f"malformed hand-over: {exc}") from None


def evidence_key(game_address: str, game_id: int, step: int, op: int) -> str:
    return f"agora:op-inputs:{game_address.lower()}:{game_id}:{step}:{op}"


class EvidenceBoard:
    """Where parties announce their hand-overs and the referee finds them (Redis list of artifact ids)."""

    def __init__(self, api: CoordinatorClient, redis_url: str | None, ttl_s: int = 7 * 24 * 3600) -> None:
        self.api = api
        self.redis = redis.Redis.from_url(redis_url) if redis_url and redis_url.startswith("redis") else None
        self.ttl_s = ttl_s

    def post(self, game_address: str, game_id: int, given: OpInputs) -> str | None:
        """Uploads and announces; returns the artifact id (None when there is nowhere to announce it)."""
        artifact = self.api.upload_artifact(dump_op_inputs(given), kind="blob")
        if self.redis is None:
            return None
        key = evidence_key(game_address, game_id, given.step, given.op_index)
        try:
            if artifact.encode() not in self.redis.lrange(key, 0, -1):
                self.redis.rpush(key, artifact)
            self.redis.expire(key, self.ttl_s)
        except redis.RedisError as exc:
            log.warning("game %s: could not announce op inputs: %s", game_id, exc)
            return None
        return artifact

    def providers(self, game_address: str, game_id: int, spec: JobSpec) -> list[Callable[[int, int], OpInputs]]:
        """One inputs provider per announced hand-over for the game (read when called, so late posts count)."""
        if self.redis is None:
            return []
        out: list[Callable[[int, int], OpInputs]] = []
        for slot in range(8):  # each announced hand-over in order, read lazily

            def provide(s: int, j: int, slot: int = slot) -> OpInputs:
                assert self.redis is not None
                ids = self.redis.lrange(evidence_key(game_address, game_id, s, j), 0, -1)
                if slot >= len(ids):
                    raise LookupError(f"no hand-over #{slot} for step {s} op {j}")
                ident = ids[slot]
                try:
                    data = self.api.artifact(ident.decode() if isinstance(ident, bytes) else str(ident))
                except ApiError as exc:
                    raise LookupError(f"hand-over {ids[slot]!r} not downloadable: {exc}") from None
                try:
                    return load_op_inputs(data, spec)
                except EvidenceError as exc:
                    raise ValueError(str(exc)) from None

            out.append(provide)
        return out
