"""Typed dependency aliases the routes declare (SessionDep, CurrentUser, …); the objects come from app.state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from coordinator.artifact_store import ArtifactStore
from coordinator.auth import address_for_token
from coordinator.chain_gateway import ChainGateway
from coordinator.errors import TooManyRequests, Unauthorized
from coordinator.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="token from POST /v1/auth/login")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[Session]:
    # An async generator so FastAPI resolves it on the event loop instead of two thread-pool hops per
    # request; opening a Session does no I/O, and the route itself still runs in the thread pool.
    session: Session = request.app.state.session_factory()
    try:
        yield session
    finally:
        session.close()


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A Session in autocommit mode for read-only routes: one round trip per query, no BEGIN/ROLLBACK."""
    session: Session = request.app.state.read_session_factory()
    try:
        yield session
    finally:
        session.close()


def get_store(request: Request) -> ArtifactStore:
    return request.app.state.store  # type: ignore[no-any-return]


def get_chain(request: Request) -> ChainGateway:
    return request.app.state.chain  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
ChainDep = Annotated[ChainGateway, Depends(get_chain)]


def current_user(
    session: SessionDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The signed-in address (lowercase 0x hex)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "sign in first: POST /v1/auth/nonce, then /v1/auth/login; send Authorization: Bearer <token>"
        )
    return address_for_token(session, credentials.credentials)


CurrentUser = Annotated[str, Depends(current_user)]


def limit_unauthenticated(request: Request) -> None:
    """Spends one token of the client IP's bucket (app.state.signin_limiter); 429 with Retry-After when empty.
    Behind a reverse proxy run uvicorn with --proxy-headers so request.client is the real client."""
    limiter = request.app.state.signin_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.take(client)
    if wait > 0:
        raise TooManyRequests(f"too many sign-in requests from {client}; retry in {wait:.1f}s", retry_after_s=wait)


UnauthenticatedLimit = Depends(limit_unauthenticated)
