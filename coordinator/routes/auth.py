"""POST /v1/auth/nonce and /v1/auth/login: Sign-In with Ethereum (EIP-4361) → bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from coordinator import auth
from coordinator.dependencies import SessionDep, SettingsDep, UnauthenticatedLimit
from coordinator.errors import error_responses
from coordinator.schemas import LoginRequest, NoncePublic, NonceRequest, TokenPublic

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/nonce", response_model=NoncePublic, responses=error_responses(400, 422, 429),
             dependencies=[UnauthenticatedLimit])
def nonce(body: NonceRequest, session: SessionDep, settings: SettingsDep) -> NoncePublic:
    """A single-use nonce and the exact EIP-4361 message to sign; both expire after `nonce_ttl_s`."""
    message = auth.issue_nonce(session, settings, body.address)
    session.commit()
    assert message.expiration_time is not None
    return NoncePublic(nonce=message.nonce, message=message.text(), expires_at=message.expiration_time)


@router.post("/login", response_model=TokenPublic, responses=error_responses(400, 401, 422, 429),
             dependencies=[UnauthenticatedLimit])
def login(body: LoginRequest, session: SessionDep, settings: SettingsDep) -> TokenPublic:
    """Exchange a signed sign-in message for a bearer token (the nonce is consumed)."""
    token, row = auth.login(session, settings, body.message, body.signature)
    session.commit()
    return TokenPublic(token=token, address=row.address, expires_at=row.expires_at)
