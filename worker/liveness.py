"""The on-chain sign of life of a Running job (JobMarket.heartbeat): while a worker trains, a background thread
beats every quarter of the market's liveness window, naming the latest checkpoint (step, leaf). A worker that dies
stops beating, and after one whole window anyone may `reclaimStalled` the job (the coordinator's matcher does):
the silent provider forfeits part of its collateral and the job is matched to someone else."""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Any, Self

log = logging.getLogger("agora.worker")
MIN_PERIOD_S = 1.0


class ChainHeartbeat:
    def __init__(self, market: Any, chain_job_id: int, window_s: int) -> None:
        self.market = market
        self.cid = chain_job_id
        self.period_s = max(MIN_PERIOD_S, window_s / 4)
        self._latest: tuple[int, bytes] = (0, b"\x00" * 32)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"chain-heartbeat-{chain_job_id}", daemon=True)
        self.sent = 0

    def checkpoint(self, step: int, leaf: bytes) -> None:
        """The newest checkpoint commitment, named by the next beat."""
        self._latest = (step, leaf)

    def beat(self) -> bool:
        step, leaf = self._latest
        try:
            self.market.heartbeat(self.cid, step, leaf)
        except Exception as exc:  # noqa: BLE001 - a missed beat is retried next period; the window is 4 of them
            log.warning("job (chain %s): heartbeat not sent: %s", self.cid, exc)
            return False
        self.sent += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.beat()

    def __enter__(self) -> Self:
        self.beat()  # at once: accept already counts as one, but a resumed run may come late in the window
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=self.period_s + 5)


def liveness_window(market: Any) -> int | None:
    """The market's liveness window in seconds, or None on a market without the rule (nothing to beat for)."""
    try:
        return int(market.params().liveness_window)
    except Exception:  # noqa: BLE001 - an older market, or the RPC is away: train without beating
        return None
