"""The market's own thresholds, read from JobMarket (the admin may change them) and cached for a minute: the
minimum bonded stake a provider needs to be assigned, and the floor under a job's collateral."""

from __future__ import annotations

import threading
import time

from coordinator.chain_gateway import ChainGateway

TTL_S = 60.0
# Reads need a client object, not a signer: this key signs nothing (it is public on purpose).
_READER_KEY = "0x" + "11" * 32
_cache: dict[str, tuple[float, int, int]] = {}
_lock = threading.Lock()


def _read(chain: ChainGateway) -> tuple[int, int]:
    """(min stake, min collateral) in wei; (0, 0) when nothing is deployed or the chain cannot be read."""
    try:
        market = chain.address("JobMarket")
    except Exception:  # noqa: BLE001 - no deployment: no thresholds
        return 0, 0
    now = time.monotonic()
    with _lock:
        hit = _cache.get(market)
    if hit is not None and now - hit[0] < TTL_S:
        return hit[1], hit[2]
    try:
        p = chain.market(_READER_KEY).params()
        value = (int(p.min_stake), int(getattr(p, "min_collateral", 0)))
    except Exception:  # noqa: BLE001 - RPC away: the last known values (or none)
        return (hit[1], hit[2]) if hit is not None else (0, 0)
    with _lock:
        _cache[market] = (now, *value)
    return value


def min_stake(chain: ChainGateway) -> int:
    return _read(chain)[0]


def min_collateral(chain: ChainGateway) -> int:
    return _read(chain)[1]
