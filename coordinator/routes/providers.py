"""/v1/providers: stake (from the chain) and liveness/capabilities (from signed heartbeats)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator import standing
from coordinator.chain_gateway import ChainGateway
from coordinator.dependencies import ChainDep, CurrentUser, ReadSessionDep, SessionDep, SettingsDep
from coordinator.errors import NotFound, Unprocessable, error_responses
from coordinator.models import Heartbeat, Provider, utcnow
from coordinator.pagination import decode_cursor, encode_cursor
from coordinator.schemas import ADDRESS_PATTERN, HeartbeatCreate, Page, ProviderPublic, ProviderRecord
from coordinator.settings import Settings

router = APIRouter(prefix="/v1/providers", tags=["providers"])


def _public(p: Provider, settings: Settings, now: dt.datetime) -> ProviderPublic:
    out = ProviderPublic.model_validate(p)
    out.alive = (
        p.last_heartbeat_at is not None
        and (now - p.last_heartbeat_at).total_seconds() <= settings.heartbeat_ttl_s
    )
    return out


def _with_record(p: Provider, session: Session, settings: Settings, chain: ChainGateway) -> ProviderPublic:
    out = _public(p, settings, utcnow())
    out.record = ProviderRecord(**standing.record(session, p, standing.min_stake(chain)).__dict__)
    return out


@router.get("", response_model=Page[ProviderPublic], responses=error_responses(422))
def list_providers(
    session: ReadSessionDep,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ProviderPublic]:
    """Known providers by address; `cursor` continues after the last address of the previous page."""
    q = select(Provider).order_by(Provider.address).limit(limit + 1)
    if cursor is not None:
        n = decode_cursor(cursor)
        q = q.where(Provider.address > f"0x{n:040x}")
    rows = list(session.execute(q).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    now = utcnow()
    return Page[ProviderPublic](
        items=[_public(p, settings, now) for p in rows],
        next_cursor=encode_cursor(int(rows[-1].address, 16)) if more and rows else None,
    )


@router.get("/{address}", response_model=ProviderPublic, responses=error_responses(404, 422))
def get_provider(address: str, session: ReadSessionDep, settings: SettingsDep, chain: ChainDep) -> ProviderPublic:
    """One provider: stake, liveness, capabilities and its record (jobs, disputes, slashes, suspension)."""
    if not re.match(ADDRESS_PATTERN, address):
        raise Unprocessable("not an address", details=[{"field": "path.address", "message": "0x + 40 hex"}])
    p = session.get(Provider, address.lower())
    if p is None:
        raise NotFound(f"no provider {address}")
    return _with_record(p, session, settings, chain)


@router.post("/heartbeat", response_model=ProviderPublic, responses=error_responses(400, 401, 422))
def heartbeat(
    body: HeartbeatCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
) -> ProviderPublic:
    """The signed-in provider reports capabilities, queue depth and RepOps version; it is alive for
    `heartbeat_ttl_s` seconds after."""
    now = utcnow()
    p = session.get(Provider, user)
    if p is None:
        p = Provider(
            address=user, free_stake_wei="0", locked_stake_wei="0", unbonding_wei="0", slashed_wei="0"
        )
        session.add(p)
        session.flush()  # the heartbeat row references it
    p.devices = list(body.capabilities.devices)
    p.max_params = body.capabilities.max_params
    p.max_step_bytes = body.capabilities.max_step_bytes
    p.queue_depth = body.queue_depth
    p.repops_version = body.repops_version
    p.last_heartbeat_at = now
    session.add(Heartbeat(provider=user, payload=body.model_dump(mode="json"), received_at=now))
    session.commit()
    return _public(p, settings, now)
